package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image"
	_ "image/jpeg"
	_ "image/png"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	_ "golang.org/x/image/webp"

	"github.com/backlot/backlot/persistence/blob"
)

// variantsJSON asks for one of each output format.
const variantsJSON = `[{"name":"thumb","width":100,"height":100,"fit":"cover","format":"webp"},
 {"name":"card","width":320,"height":320,"format":"jpeg","quality":80},
 {"name":"large","width":800,"height":800,"fit":"contain","format":"avif","quality":55},
 {"name":"flat","width":64,"height":32,"fit":"fill","format":"png"},
 {"name":"small-avif","width":50,"height":50,"format":"avif"}]`

// TestVariants: API.md 1.1's variants end to end on a real node. One
// upload asks for five outputs in four formats; each image completes
// once with every variant in its completed event and its status, each
// variant is served at its own URL with its format's type and the bytes
// and size recorded, the image's own URL serves the first variant, an
// unknown variant is 404, and a lost variant is rebuilt byte for byte.
func TestVariants(t *testing.T) {
	dir := t.TempDir()
	n := startNode(t, dir, nil)
	r := upload(t, n.url, filePart("cat.jpg", jpegBytes(t, 1200, 900, 3)), filePart("dog.png", pngBytes(t, 300, 500, 4)),
		fieldPart("variants", variantsJSON))
	evs := openSSE(t, t.Context(), n.url+r.Events, "").collect(t, 60*time.Second)
	if o := checkSequence(t, r.BatchID, evs); o.completed != 2 {
		t.Fatalf("outcome %+v", o)
	}
	type variant struct {
		Name          string
		URL           string
		Width, Height int
		Bytes         int64
	}
	want := map[string][]variant{ // per image: name, size
		r.Images[0].ID: {{Name: "thumb", Width: 100, Height: 100}, {Name: "card", Width: 320, Height: 320},
			{Name: "large", Width: 800, Height: 600}, {Name: "flat", Width: 64, Height: 32}, {Name: "small-avif", Width: 50, Height: 50}},
		r.Images[1].ID: {{Name: "thumb", Width: 100, Height: 100}, {Name: "card", Width: 320, Height: 320},
			{Name: "large", Width: 480, Height: 800}, {Name: "flat", Width: 64, Height: 32}, {Name: "small-avif", Width: 50, Height: 50}},
	}
	check := func(where, imageID, url string, width, height int, got []variant) {
		t.Helper()
		w := want[imageID]
		if len(got) != len(w) {
			t.Fatalf("%s: %d variants, want %d", where, len(got), len(w))
		}
		base := "/api/images/" + r.BatchID + "/" + imageID
		if url != base+"/thumb" || width != 100 || height != 100 {
			t.Errorf("%s: url %q %dx%d, want the first variant's", where, url, width, height)
		}
		for i, v := range got {
			if v.Name != w[i].Name || v.URL != base+"/"+w[i].Name || v.Width != w[i].Width || v.Height != w[i].Height || v.Bytes <= 0 {
				t.Errorf("%s: variant %d is %+v, want %s %dx%d", where, i, v, w[i].Name, w[i].Width, w[i].Height)
			}
		}
	}
	completed := 0
	for _, e := range evs {
		if e.Name != "completed" {
			continue
		}
		completed++
		var c struct {
			ImageID, URL  string
			Width, Height int
			Bytes         int64
			Variants      []variant
		}
		if err := json.Unmarshal([]byte(e.Data), &c); err != nil {
			t.Fatal(err)
		}
		check("completed event", c.ImageID, c.URL, c.Width, c.Height, c.Variants)
		if c.Bytes != c.Variants[0].Bytes {
			t.Errorf("completed event: bytes %d, first variant's %d", c.Bytes, c.Variants[0].Bytes)
		}
	}
	if completed != 2 {
		t.Fatalf("%d completed events", completed)
	}

	raw := get(t, n.url+"/api/images/"+r.BatchID, http.StatusOK)
	var st struct {
		Options json.RawMessage
		Images  []struct {
			ID, URL       string
			Width, Height int
			Variants      []variant
		}
	}
	if err := json.Unmarshal(raw, &st); err != nil {
		t.Fatal(err)
	}
	const normalised = `{"variants":[{"name":"thumb","width":100,"height":100,"fit":"cover","format":"webp","quality":85},` +
		`{"name":"card","width":320,"height":320,"fit":"cover","format":"jpeg","quality":80},` +
		`{"name":"large","width":800,"height":800,"fit":"contain","format":"avif","quality":55},` +
		`{"name":"flat","width":64,"height":32,"fit":"fill","format":"png","quality":85},` +
		`{"name":"small-avif","width":50,"height":50,"fit":"cover","format":"avif","quality":60}]}`
	if string(st.Options) != normalised {
		t.Errorf("options %s", st.Options)
	}
	types := map[string]string{"thumb": "image/webp", "card": "image/jpeg", "large": "image/avif", "flat": "image/png", "small-avif": "image/avif"}
	for i, im := range st.Images {
		check(fmt.Sprintf("status of image %d", i), im.ID, im.URL, im.Width, im.Height, im.Variants)
		for _, v := range im.Variants {
			resp, err := http.Get(n.url + v.URL)
			if err != nil {
				t.Fatal(err)
			}
			var body bytes.Buffer
			body.ReadFrom(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != types[v.Name] || int64(body.Len()) != v.Bytes || resp.Header.Get("ETag") == "" {
				t.Fatalf("%s: %d %q, %d bytes (recorded %d), ETag %q", v.URL, resp.StatusCode, resp.Header.Get("Content-Type"), body.Len(), v.Bytes, resp.Header.Get("ETag"))
			}
			if types[v.Name] == "image/avif" {
				if b := body.Bytes(); len(b) < 12 || string(b[4:12]) != "ftypavif" {
					t.Errorf("%s: not an AVIF file: % x", v.URL, b[:min(len(b), 16)])
				}
			} else if cfg, _, err := image.DecodeConfig(&body); err != nil || cfg.Width != v.Width || cfg.Height != v.Height {
				t.Errorf("%s: decodes to %dx%d (%v), recorded %dx%d", v.URL, cfg.Width, cfg.Height, err, v.Width, v.Height)
			}
		}
		first := get(t, n.url+im.Variants[0].URL, http.StatusOK)
		if plain := get(t, n.url+"/api/images/"+r.BatchID+"/"+im.ID, http.StatusOK); !bytes.Equal(plain, first) {
			t.Errorf("image %d: its own URL does not serve its first variant", i)
		}
		for _, bad := range []string{"nope", "default", "THUMB", "thumb.webp"} {
			resp, err := http.Get(n.url + "/api/images/" + r.BatchID + "/" + im.ID + "/" + bad)
			if err != nil {
				t.Fatal(err)
			}
			var e fieldErr
			decodeJSON(t, resp, &e)
			if resp.StatusCode != http.StatusNotFound || e.Code != "not_found" {
				t.Errorf("variant %q: %d %+v, want 404 not_found", bad, resp.StatusCode, e)
			}
		}
	}

	// A variant a power cut took is rebuilt, byte for byte: from the
	// same decode as the others were made (resize.Rebuild).
	im := r.Images[0].ID
	for _, name := range []string{"card", "thumb"} {
		ext := map[string]string{"card": "jpg", "thumb": "webp"}[name]
		path := blobPath(dir, blob.VariantKey(r.BatchID, im, name, ext))
		good, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Remove(path); err != nil {
			t.Fatal(err)
		}
		if got := get(t, n.url+"/api/images/"+r.BatchID+"/"+im+"/"+name, http.StatusOK); !bytes.Equal(got, good) {
			t.Errorf("%s rebuilt as %d bytes, not the %d it was", name, len(got), len(good))
		}
	}
}

// TestDefaultVariant: a batch without variants is as before (its status
// says nothing of variants, its result is where it was), and its one
// output is also the variant "default".
func TestDefaultVariant(t *testing.T) {
	dir := t.TempDir()
	n := startNode(t, dir, nil)
	r := upload(t, n.url, filePart("cat.jpg", jpegBytes(t, 640, 480, 3)), fieldPart("format", "webp"))
	if o := checkSequence(t, r.BatchID, openSSE(t, t.Context(), n.url+r.Events, "").collect(t, 30*time.Second)); o.completed != 1 {
		t.Fatalf("outcome %+v", o)
	}
	raw := get(t, n.url+"/api/images/"+r.BatchID, http.StatusOK)
	if bytes.Contains(raw, []byte("variants")) || !bytes.Contains(raw, []byte(`"options":{"width":100,"height":100,"fit":"cover","format":"webp","quality":85}`)) {
		t.Errorf("status %s", raw)
	}
	url := n.url + "/api/images/" + r.BatchID + "/" + r.Images[0].ID
	plain := get(t, url, http.StatusOK)
	if !bytes.Equal(get(t, url+"/default", http.StatusOK), plain) {
		t.Error("/default is not the result")
	}
	onDisk, err := os.ReadFile(blobPath(dir, blob.OutputKey(r.BatchID, r.Images[0].ID, "webp")))
	if err != nil || !bytes.Equal(onDisk, plain) {
		t.Fatalf("result not at its key (%v)", err)
	}
	if cfg, format, err := image.DecodeConfig(bytes.NewReader(plain)); err != nil || format != "webp" || cfg.Width != 100 {
		t.Errorf("result: %s %dx%d (%v)", format, cfg.Width, cfg.Height, err)
	}
}

// TestVariantsRefused: bad variants are 400 invalid_parameter (or
// duplicate_field) naming the parameter, with nothing stored.
func TestVariantsRefused(t *testing.T) {
	dir := t.TempDir()
	n := startNode(t, dir, nil)
	img := filePart("a.jpg", jpegBytes(t, 64, 48, 1))
	nine := `[` + strings.TrimSuffix(strings.Repeat(`{"name":"a"},`, 9), ",") + `]`
	for i := range 9 {
		nine = strings.Replace(nine, `"a"}`, fmt.Sprintf(`"v%d"}`, i), 1)
	}
	tests := []struct {
		name  string
		parts []part
		code  string
		param string
		says  string
	}{
		{"unknown key", []part{img, fieldPart("variants", `[{"name":"a","widht":10}]`)}, "invalid_parameter", "variants", `unknown key \"widht\"`},
		{"duplicate name", []part{img, fieldPart("variants", `[{"name":"a"},{"name":"a"}]`)}, "invalid_parameter", "variants", "used twice"},
		{"nine entries", []part{img, fieldPart("variants", nine)}, "invalid_parameter", "variants", "has 9 entries"},
		{"bad name", []part{img, fieldPart("variants", `[{"name":"../x"}]`)}, "invalid_parameter", "variants", `\"name\" must be`},
		{"not JSON", []part{img, fieldPart("variants", `thumb`)}, "invalid_parameter", "variants", "JSON"},
		{"width out of bounds", []part{img, fieldPart("variants", `[{"name":"a","width":5000}]`)}, "invalid_parameter", "variants", "4096"},
		{"format unknown", []part{img, fieldPart("variants", `[{"name":"a","format":"heic"}]`)}, "invalid_parameter", "variants", "format"},
		{"with width", []part{img, fieldPart("width", "50"), fieldPart("variants", `[{"name":"a"}]`)}, "invalid_parameter", "width", "variants"},
		{"with format, after", []part{img, fieldPart("variants", `[{"name":"a"}]`), fieldPart("format", "png")}, "invalid_parameter", "format", "variants"},
		{"twice", []part{img, fieldPart("variants", `[{"name":"a"}]`), fieldPart("variants", `[{"name":"b"}]`)}, "duplicate_field", "variants", "more than once"},
		{"too long", []part{img, fieldPart("variants", `[{"name":"a"}]`+strings.Repeat(" ", 9000))}, "invalid_parameter", "", "too long"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ct, body := multipartBody(t, tt.parts...)
			resp := post(t, n.url+"/api/images", ct, body)
			var raw json.RawMessage
			decodeJSON(t, resp, &raw)
			var e fieldErr
			json.Unmarshal(raw, &e)
			if resp.StatusCode != http.StatusBadRequest || e.Code != tt.code || (tt.param != "" && e.Param != tt.param) || !strings.Contains(string(raw), tt.says) {
				t.Fatalf("got %d %s, want 400 %s param %s saying %s", resp.StatusCode, raw, tt.code, tt.param, tt.says)
			}
			if d := batchDirs(t, dir); len(d) != 0 {
				t.Fatalf("rejected upload left %v on disk", d)
			}
		})
	}
	requireNoBatch(t, n, dir)
}

// TestHEIFUpload: an iPhone-style HEIC and an AVIF upload, judged by
// their ftyp brands and probed from their boxes, resize like any image
// (this build has libheif); a file that only claims to be one is 415.
func TestHEIFUpload(t *testing.T) {
	dir := t.TempDir()
	n := startNode(t, dir, nil)
	read := func(name string) []byte {
		b, err := os.ReadFile("../../actors/resize/testdata/heif/" + name)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	heic, avif := read("halves.heic"), read("halves.avif")
	r := upload(t, n.url, filePart("IMG_0001.HEIC", heic), filePart("pic.avif", avif), fieldPart("width", "32"), fieldPart("height", "24"))
	if o := checkSequence(t, r.BatchID, openSSE(t, t.Context(), n.url+r.Events, "").collect(t, 30*time.Second)); o.completed != 2 {
		t.Fatalf("outcome %+v", o)
	}
	for _, im := range r.Images {
		b := get(t, n.url+"/api/images/"+r.BatchID+"/"+im.ID, http.StatusOK)
		if cfg, format, err := image.DecodeConfig(bytes.NewReader(b)); err != nil || format != "jpeg" || cfg.Width != 32 || cfg.Height != 24 {
			t.Errorf("%s: %s %dx%d (%v)", im.Name, format, cfg.Width, cfg.Height, err)
		}
	}
	fake := append(append([]byte(nil), heic[:48]...), bytes.Repeat([]byte{0x55}, 500)...)
	ct, body := multipartBody(t, filePart("fake.heic", fake))
	resp := post(t, n.url+"/api/images", ct, body)
	var e fieldErr
	decodeJSON(t, resp, &e)
	if resp.StatusCode != http.StatusUnsupportedMediaType || e.Code != "unsupported_image" || e.File != "fake.heic" {
		t.Errorf("fake HEIC: %d %+v", resp.StatusCode, e)
	}
}
