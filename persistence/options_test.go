package persistence_test

import (
	"errors"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/backlot/backlot/persistence"
)

// form returns a get function over fixed values.
func form(kv map[string]string) func(string) string {
	return func(name string) string { return kv[name] }
}

func TestParseOptions(t *testing.T) {
	def := persistence.DefaultOptions()
	with := func(f func(*persistence.Options)) persistence.Options {
		o := def
		f(&o)
		return o
	}
	tests := []struct {
		name      string
		in        map[string]string
		want      persistence.Options
		wantParam string // non-empty: an *OptionError for this parameter
	}{
		{"defaults", nil, persistence.Options{Width: 100, Height: 100, Fit: persistence.FitCover, Format: persistence.FormatJPEG, Quality: 85}, ""},
		{"empty is default", map[string]string{"width": "", "quality": "", "fit": "", "format": ""}, def, ""},
		{"all set", map[string]string{"width": "640", "height": "480", "fit": "contain", "format": "png", "quality": "70"},
			persistence.Options{Width: 640, Height: 480, Fit: persistence.FitContain, Format: persistence.FormatPNG, Quality: 70}, ""},
		{"fit trimmed", map[string]string{"width": "200", "fit": "\tfill\n"}, with(func(o *persistence.Options) { o.Width, o.Fit = 200, persistence.FitFill }), ""},
		{"leading zeros are decimal", map[string]string{"width": "0100", "height": "010", "quality": "007"}, with(func(o *persistence.Options) { o.Width, o.Height, o.Quality = 100, 10, 7 }), ""},
		{"many leading zeros", map[string]string{"width": strings.Repeat("0", 1000) + "4096"}, with(func(o *persistence.Options) { o.Width = 4096 }), ""},
		{"width min", map[string]string{"width": "1"}, with(func(o *persistence.Options) { o.Width = 1 }), ""},
		{"width max", map[string]string{"width": "4096"}, with(func(o *persistence.Options) { o.Width = 4096 }), ""},
		{"height max", map[string]string{"height": "4096"}, with(func(o *persistence.Options) { o.Height = 4096 }), ""},
		{"quality min", map[string]string{"quality": "1"}, with(func(o *persistence.Options) { o.Quality = 1 }), ""},
		{"quality max", map[string]string{"quality": "100"}, with(func(o *persistence.Options) { o.Quality = 100 }), ""},
		{"fit any case", map[string]string{"fit": "COVER"}, def, ""},
		{"jpg means jpeg", map[string]string{"format": "jpg"}, def, ""},
		{"png any case", map[string]string{"format": "PNG"}, with(func(o *persistence.Options) { o.Format = persistence.FormatPNG }), ""},

		{"width zero", map[string]string{"width": "0"}, def, "width"},
		{"width too big", map[string]string{"width": "4097"}, def, "width"},
		{"width negative", map[string]string{"width": "-5"}, def, "width"},
		{"width fraction", map[string]string{"width": "1.5"}, def, "width"},
		{"width words", map[string]string{"width": "wide"}, def, "width"},
		{"width overflow", map[string]string{"width": "99999999999999999999"}, def, "width"},
		{"height zero", map[string]string{"height": "0"}, def, "height"},
		{"height too big", map[string]string{"height": "5000"}, def, "height"},
		{"quality zero", map[string]string{"quality": "0"}, def, "quality"},
		{"quality too big", map[string]string{"quality": "101"}, def, "quality"},
		{"fit unknown", map[string]string{"fit": "stretch"}, def, "fit"},
		{"format unknown", map[string]string{"format": "gif"}, def, "format"},
		{"webp", map[string]string{"format": "WebP"}, with(func(o *persistence.Options) { o.Format = persistence.FormatWebP }), ""},
		{"avif quality defaults to 60", map[string]string{"format": "avif"}, with(func(o *persistence.Options) { o.Format, o.Quality = persistence.FormatAVIF, 60 }), ""},
		{"avif quality given", map[string]string{"format": "avif", "quality": "40"}, with(func(o *persistence.Options) { o.Format, o.Quality = persistence.FormatAVIF, 40 }), ""},
		{"format with a dot", map[string]string{"format": ".png"}, def, "format"},
		{"garbage bytes", map[string]string{"width": "\x00\xff"}, def, "width"},
		// API.md 1.1: numbers are plain decimal digits, nothing around them.
		{"plus sign", map[string]string{"width": "+50"}, def, "width"},
		{"leading space", map[string]string{"width": " 100"}, def, "width"},
		{"trailing space", map[string]string{"height": "100 "}, def, "height"},
		{"trailing newline", map[string]string{"quality": "80\r\n"}, def, "quality"},
		{"only spaces", map[string]string{"width": "  "}, def, "width"},
		{"exponent", map[string]string{"width": "1e2"}, def, "width"},
		{"hex", map[string]string{"width": "0x10"}, def, "width"},
		{"underscore", map[string]string{"width": "1_000"}, def, "width"},
		{"minus zero", map[string]string{"quality": "-0"}, def, "quality"},
		{"fullwidth digits", map[string]string{"width": "１００"}, def, "width"},
		{"arabic-indic digits", map[string]string{"height": "١٠٠"}, def, "height"},
		{"many zeros then too big", map[string]string{"width": strings.Repeat("0", 1000) + "4097"}, def, "width"},
		{"huge", map[string]string{"quality": strings.Repeat("9", 1000)}, def, "quality"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := persistence.ParseOptions(form(tc.in))
			if tc.wantParam != "" {
				var oe *persistence.OptionError
				if !errors.As(err, &oe) || oe.Param != tc.wantParam {
					t.Fatalf("ParseOptions = %v, want an *OptionError for %q", err, tc.wantParam)
				}
				if oe.Error() == "" {
					t.Error("empty error message")
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseOptions: %v", err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("ParseOptions = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func FuzzParseOptions(f *testing.F) {
	f.Add("", "", "", "", "")
	f.Add("640", "480", "contain", "png", "70")
	f.Add(" 1 ", "4096", "FILL", "jpg", "100")
	f.Add("0", "4097", "stretch", "gif", "101")
	f.Add("-1", "1.5", "\x00", "\xff", "99999999999999999999")
	f.Add("+5", "0x10", "cover ", "JPEG", "1e2")
	f.Fuzz(func(t *testing.T, width, height, fit, format, quality string) {
		in := map[string]string{"width": width, "height": height, "fit": fit, "format": format, "quality": quality}
		o, err := persistence.ParseOptions(form(in))
		if err != nil {
			var oe *persistence.OptionError
			if !errors.As(err, &oe) || !slices.Contains([]string{"width", "height", "fit", "format", "quality"}, oe.Param) {
				t.Fatalf("error %v is not an *OptionError naming a parameter", err)
			}
			return
		}
		if o.Width < 1 || o.Width > persistence.MaxDimension || o.Height < 1 || o.Height > persistence.MaxDimension {
			t.Errorf("box %dx%d out of bounds", o.Width, o.Height)
		}
		if o.Quality < persistence.MinQuality || o.Quality > persistence.MaxQuality {
			t.Errorf("quality %d out of bounds", o.Quality)
		}
		if !slices.Contains([]persistence.Fit{persistence.FitCover, persistence.FitContain, persistence.FitFill}, o.Fit) {
			t.Errorf("fit %q unknown", o.Fit)
		}
		if !slices.Contains([]persistence.Format{persistence.FormatJPEG, persistence.FormatPNG, persistence.FormatWebP, persistence.FormatAVIF}, o.Format) {
			t.Errorf("format %q unknown", o.Format)
		}
	})
}

func TestParseDigits(t *testing.T) {
	for _, tc := range []struct {
		s     string
		limit int
		n     int
		ok    bool
	}{
		{"0", 10, 0, true},
		{"7", 10, 7, true},
		{"10", 10, 10, true},
		{"11", 10, 11, true},
		{"12", 10, 11, true}, // over the limit: limit+1
		{"0010", 10, 10, true},
		{"99999999999999999999999999", 4096, 4097, true},
		{"9", 0, 1, true},
		{"", 10, 0, false},
		{"+1", 10, 0, false},
		{"-1", 10, 0, false},
		{" 1", 10, 0, false},
		{"1 ", 10, 0, false},
		{"1.0", 10, 0, false},
		{"1e1", 10, 0, false},
		{"0x1", 10, 0, false},
		{"٣", 10, 0, false},
	} {
		n, ok := persistence.ParseDigits(tc.s, tc.limit)
		if n != tc.n || ok != tc.ok {
			t.Errorf("ParseDigits(%q, %d) = %d, %v; want %d, %v", tc.s, tc.limit, n, ok, tc.n, tc.ok)
		}
	}
}

// FuzzParseDigits: whatever ParseDigits accepts is what strconv reads from
// the same digits, clamped; whatever it refuses holds a non-digit.
func FuzzParseDigits(f *testing.F) {
	for _, s := range []string{"0", "4096", "4097", "007", "+5", " 1", "1e2", "0x10", "", "99999999999999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		const limit = 4096
		n, ok := persistence.ParseDigits(s, limit)
		allDigits := s != "" && strings.Trim(s, "0123456789") == ""
		if ok != allDigits {
			t.Fatalf("ParseDigits(%q) ok = %v", s, ok)
		}
		if !ok {
			return
		}
		want, err := strconv.ParseUint(s, 10, 64)
		if err != nil || want > limit {
			want = limit + 1
		}
		if uint64(n) != want {
			t.Fatalf("ParseDigits(%q) = %d, want %d", s, n, want)
		}
	})
}

// TestFormatExt: a result's extension in its blob key, as the node has
// always named its result files (.out.jpg, .out.png).
func TestFormatExt(t *testing.T) {
	if persistence.FormatJPEG.Ext() != "jpg" || persistence.FormatPNG.Ext() != "png" {
		t.Fatalf("Ext: jpeg %q, png %q", persistence.FormatJPEG.Ext(), persistence.FormatPNG.Ext())
	}
}
