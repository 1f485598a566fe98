package persistence_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/backlot/backlot/persistence"
)

func TestParseVariants(t *testing.T) {
	thumb := persistence.Variant{Name: "thumb", Width: 100, Height: 100, Fit: persistence.FitCover, Format: persistence.FormatJPEG, Quality: 85}
	ok := []struct {
		name, in string
		want     []persistence.Variant
	}{
		{"defaults filled in", `[{"name":"thumb"}]`, []persistence.Variant{thumb}},
		{"API.md's example", `[{"name": "thumb", "width": 100, "height": 100, "fit": "cover", "format": "webp"},
			{"name": "large", "width": 1600, "height": 1600, "fit": "contain", "format": "avif", "quality": 55}]`,
			[]persistence.Variant{
				{Name: "thumb", Width: 100, Height: 100, Fit: persistence.FitCover, Format: persistence.FormatWebP, Quality: 85},
				{Name: "large", Width: 1600, Height: 1600, Fit: persistence.FitContain, Format: persistence.FormatAVIF, Quality: 55},
			}},
		{"avif quality defaults to 60", `[{"name":"a","format":"AVIF"}]`,
			[]persistence.Variant{{Name: "a", Width: 100, Height: 100, Fit: persistence.FitCover, Format: persistence.FormatAVIF, Quality: 60}}},
		{"eight", `[{"name":"a"},{"name":"b"},{"name":"c"},{"name":"d"},{"name":"e"},{"name":"f"},{"name":"g"},{"name":"h"}]`, nil},
		{"name of 32", `[{"name":"` + strings.Repeat("a", 32) + `"}]`, nil},
		{"name charset", `[{"name":"a-b_c9"}]`, nil},
		{"spaces around", " [{\"name\":\"thumb\"}] \n", []persistence.Variant{thumb}},
	}
	for _, tc := range ok {
		t.Run(tc.name, func(t *testing.T) {
			got, err := persistence.ParseVariants(tc.in)
			if err != nil {
				t.Fatalf("ParseVariants: %v", err)
			}
			if tc.want != nil && !reflect.DeepEqual(got, tc.want) {
				t.Errorf("ParseVariants = %+v, want %+v", got, tc.want)
			}
		})
	}
	bad := []struct{ name, in, says string }{
		{"unknown key", `[{"name":"a","widht":10}]`, `unknown key "widht"`},
		{"duplicate name", `[{"name":"a"},{"name":"a"}]`, `entry 2: the name "a" is used twice`},
		{"nine", `[{"name":"a"},{"name":"b"},{"name":"c"},{"name":"d"},{"name":"e"},{"name":"f"},{"name":"g"},{"name":"h"},{"name":"i"}]`, "has 9 entries"},
		{"empty", `[]`, "has 0 entries"},
		{"null", `null`, "not null"},
		{"object", `{"name":"a"}`, "not a JSON array"},
		{"no name", `[{"width":10}]`, `has no "name"`},
		{"upper-case name", `[{"name":"Thumb"}]`, `"name" must be`},
		{"name of 33", `[{"name":"` + strings.Repeat("a", 33) + `"}]`, `"name" must be`},
		{"name with a slash", `[{"name":"../x"}]`, `"name" must be`},
		{"empty name", `[{"name":""}]`, `"name" must be`},
		{"name a number", `[{"name":5}]`, `"name" must be`},
		{"key twice", `[{"name":"a","width":10,"width":20}]`, `the key "width" is given twice`},
		{"width zero", `[{"name":"a","width":0}]`, `"width" must be an integer from 1 to 4096`},
		{"width too big", `[{"name":"a","width":4097}]`, `"width"`},
		{"width fraction", `[{"name":"a","width":1.5}]`, `"width"`},
		{"width exponent", `[{"name":"a","width":1e2}]`, `"width"`},
		{"width negative", `[{"name":"a","width":-1}]`, `"width"`},
		{"width a string", `[{"name":"a","width":"100"}]`, `"width"`},
		{"quality 101", `[{"name":"a","quality":101}]`, `"quality"`},
		{"fit unknown", `[{"name":"a","fit":"stretch"}]`, `"fit"`},
		{"format unknown", `[{"name":"a","format":"gif"}]`, `"format"`},
		{"entry not an object", `[1]`, "entry 1: is not a JSON object"},
		{"trailing data", `[{"name":"a"}] x`, "after its JSON array"},
		{"two arrays", `[{"name":"a"}][]`, "after its JSON array"},
		{"not JSON", `thumb`, "not a JSON array"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			_, err := persistence.ParseVariants(tc.in)
			var oe *persistence.OptionError
			if !errors.As(err, &oe) || oe.Param != "variants" {
				t.Fatalf("ParseVariants(%s) = %v, want an *OptionError for variants", tc.in, err)
			}
			if !strings.Contains(err.Error(), tc.says) {
				t.Errorf("error %q does not say %q", err, tc.says)
			}
		})
	}
}

func TestVariantsExcludeSingleFields(t *testing.T) {
	for _, f := range []string{"width", "height", "fit", "format", "quality"} {
		_, err := persistence.ParseOptions(form(map[string]string{"variants": `[{"name":"a"}]`, f: "1"}))
		var oe *persistence.OptionError
		if !errors.As(err, &oe) || oe.Param != f || !strings.Contains(err.Error(), "variants") {
			t.Errorf("variants with %s: %v, want an *OptionError for %s", f, err, f)
		}
	}
	o, err := persistence.ParseOptions(form(map[string]string{"variants": `[{"name":"a"},{"name":"b","format":"png"}]`}))
	if err != nil {
		t.Fatal(err)
	}
	if o.Width != 0 || len(o.Outputs()) != 2 || o.Outputs()[1].Format != persistence.FormatPNG {
		t.Errorf("options %+v", o)
	}
	if def := persistence.DefaultOptions().Outputs(); len(def) != 1 || def[0].Name != persistence.DefaultVariant || def[0].Width != 100 {
		t.Errorf("default outputs %+v", def)
	}
}

func FuzzParseVariants(f *testing.F) {
	f.Add(`[{"name":"a","width":10,"height":20,"fit":"contain","format":"webp","quality":5}]`)
	f.Add(`[{"name":"a"},{"name":"a"}]`)
	f.Add(`[{"name":"a","name":"b"}]`)
	f.Add(`[{"name":"a","width":1e2}]`)
	f.Fuzz(func(t *testing.T, s string) {
		vs, err := persistence.ParseVariants(s)
		if err != nil {
			var oe *persistence.OptionError
			if !errors.As(err, &oe) || oe.Param != "variants" {
				t.Fatalf("error %v is not an *OptionError for variants", err)
			}
			return
		}
		if len(vs) < 1 || len(vs) > persistence.MaxVariants {
			t.Fatalf("%d variants", len(vs))
		}
		seen := map[string]bool{}
		for _, v := range vs {
			if !persistence.ValidVariantName(v.Name) || seen[v.Name] {
				t.Errorf("name %q", v.Name)
			}
			seen[v.Name] = true
			if v.Width < 1 || v.Width > persistence.MaxDimension || v.Height < 1 || v.Height > persistence.MaxDimension ||
				v.Quality < 1 || v.Quality > 100 || v.Fit == "" || v.Format == "" {
				t.Errorf("variant %+v out of bounds", v)
			}
		}
	})
}
