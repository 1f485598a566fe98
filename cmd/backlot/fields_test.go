package main

import (
	"bytes"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"strings"
	"testing"
	"time"
)

// fieldErr is an error reply that names a parameter.
type fieldErr struct {
	Error string `json:"error"`
	Code  string `json:"code"`
	Param string `json:"param"`
	File  string `json:"file"`
}

// TestFormFields: API.md 1.1's stricter form fields. Each of width,
// height, fit, format and quality may be given once (400 duplicate_field,
// naming it, also for the same value twice, an empty one, or one after the
// files); numbers are plain decimal digits (400 invalid_parameter for a
// sign, a space, an exponent, hex, a fraction, other digits). Each is
// refused with its JSON error, and nothing is stored or kept on disk.
func TestFormFields(t *testing.T) {
	dir := t.TempDir()
	n := startNode(t, dir, nil)
	img := filePart("a.jpg", jpegBytes(t, 64, 48, 1))
	twice := func(name, a, b string) []part { return []part{img, fieldPart(name, a), fieldPart(name, b)} }
	number := func(name, v string) []part { return []part{img, fieldPart(name, v)} }
	tests := []struct {
		name  string
		parts []part
		code  string
		param string
	}{
		{"width twice", twice("width", "100", "200"), "duplicate_field", "width"},
		{"height twice, same value", twice("height", "100", "100"), "duplicate_field", "height"},
		{"fit twice", twice("fit", "cover", "contain"), "duplicate_field", "fit"},
		{"format twice", twice("format", "png", "jpeg"), "duplicate_field", "format"},
		{"quality twice", twice("quality", "80", "90"), "duplicate_field", "quality"},
		{"width empty then set", twice("width", "", "100"), "duplicate_field", "width"},
		{"quality twice, invalid both", twice("quality", "x", "y"), "duplicate_field", "quality"},
		{"field twice around the files", []part{fieldPart("width", "50"), img, img, fieldPart("width", "50")}, "duplicate_field", "width"},

		{"plus sign", number("width", "+50"), "invalid_parameter", "width"},
		{"leading space", number("width", " 100"), "invalid_parameter", "width"},
		{"trailing space", number("height", "100 "), "invalid_parameter", "height"},
		{"trailing newline", number("quality", "80\r\n"), "invalid_parameter", "quality"},
		{"tab", number("quality", "\t80"), "invalid_parameter", "quality"},
		{"only a space", number("width", " "), "invalid_parameter", "width"},
		{"exponent", number("width", "1e2"), "invalid_parameter", "width"},
		{"hex", number("height", "0x10"), "invalid_parameter", "height"},
		{"minus", number("width", "-1"), "invalid_parameter", "width"},
		{"fraction", number("width", "100.0"), "invalid_parameter", "width"},
		{"digit groups", number("width", "1_000"), "invalid_parameter", "width"},
		{"fullwidth digits", number("width", "１００"), "invalid_parameter", "width"},
		{"leading zeros past the bound", number("width", "04097"), "invalid_parameter", "width"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ct, body := multipartBody(t, tt.parts...)
			resp := post(t, n.url+"/api/images", ct, body)
			var e fieldErr
			decodeJSON(t, resp, &e)
			if resp.StatusCode != http.StatusBadRequest || e.Code != tt.code || e.Param != tt.param || e.Error == "" {
				t.Fatalf("got %d %+v, want 400 %s param %s", resp.StatusCode, e, tt.code, tt.param)
			}
			if got := resp.Header.Get("Content-Type"); got != "application/json" {
				t.Fatalf("content type %q", got)
			}
			if d := batchDirs(t, dir); len(d) != 0 {
				t.Fatalf("rejected upload left %v on disk", d)
			}
		})
	}
	requireNoBatch(t, n, dir)
}

// TestFormNumbers: what plain decimal digits accept. Leading zeros are
// allowed and read in decimal (never octal): "0100" is 100, "010" is 10,
// "007" is 7. An empty field (an HTML form's blank input) takes the
// default; a field the API does not know may repeat (it is skipped).
func TestFormNumbers(t *testing.T) {
	n := startNode(t, t.TempDir(), nil)
	r := upload(t, n.url, filePart("a.jpg", jpegBytes(t, 320, 240, 1)),
		fieldPart("width", "0100"), fieldPart("height", "010"), fieldPart("quality", "007"),
		fieldPart("fit", "fill"), fieldPart("format", ""), fieldPart("note", "x"), fieldPart("note", "y"))
	evs := openSSE(t, t.Context(), n.url+r.Events, "").collect(t, 30*time.Second)
	if o := checkSequence(t, r.BatchID, evs); o.completed != 1 {
		t.Fatalf("%d of 1 completed: %s", o.completed, names(evs))
	}
	var st struct {
		Options struct {
			Width, Height, Quality int
			Fit, Format            string
		}
		Images []struct{ Width, Height int }
	}
	decodeJSON(t, mustGet(t, n.url+r.Status), &st)
	if o := st.Options; o.Width != 100 || o.Height != 10 || o.Quality != 7 || o.Fit != "fill" || o.Format != "jpeg" {
		t.Fatalf("options %+v, want 100x10 fill jpeg at quality 7", o)
	}
	if len(st.Images) != 1 || st.Images[0].Width != 100 || st.Images[0].Height != 10 {
		t.Fatalf("images %+v", st.Images)
	}
}

// rawFile is a file part with a Content-Disposition of the test's own,
// for filenames multipart.Writer would not write.
type rawFile struct {
	disposition string
	data        []byte
}

// rawMultipart builds a multipart/form-data body of raw file parts.
func rawMultipart(t *testing.T, files ...rawFile) (string, []byte) {
	t.Helper()
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	for _, f := range files {
		h := textproto.MIMEHeader{}
		h.Set("Content-Disposition", f.disposition)
		h.Set("Content-Type", "application/octet-stream")
		pw, err := w.CreatePart(h)
		if err != nil {
			t.Fatal(err)
		}
		pw.Write(f.data)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return w.FormDataContentType(), b.Bytes()
}

// TestFilenamesAreClean: a filename keeps no control character (C0, DEL,
// C1) and no bidi control (U+061C, U+200E, U+200F, U+202A–U+202E,
// U+2066–U+2069) in what is stored and shown: the 202, the status, the
// queued event, and the "file" of an error; the letters of right-to-left
// scripts stay.
func TestFilenamesAreClean(t *testing.T) {
	dir := t.TempDir()
	n := startNode(t, dir, nil)
	jpg := jpegBytes(t, 64, 48, 1)
	files := []rawFile{
		// "cat", RIGHT-TO-LEFT OVERRIDE, "gnp.exe": shown as catexe.png.
		{`form-data; name="images"; filename="cat` + "\u202e" + `gnp.exe"`, jpg},
		// RLM, ALM, an isolate pair, C0 and C1 controls, DEL, percent-encoded.
		{`form-data; name="images"; filename*=UTF-8''%E2%80%8F%D8%9Cx%E2%81%A6y%E2%81%A9%01%1B%C2%9B%7F.jpg`, jpg},
		// Hebrew with a left-to-right mark and an embedding.
		{`form-data; name="images"; filename="` + "\u202b\u05e9\u05dc\u05d5\u05dd\u200e\u202c" + `.jpg"`, jpg},
	}
	want := []string{"catgnp.exe", "xy.jpg", "\u05e9\u05dc\u05d5\u05dd.jpg"}

	ct, body := rawMultipart(t, files...)
	resp := post(t, n.url+"/api/images", ct, body)
	var r uploadReply
	decodeJSON(t, resp, &r)
	if resp.StatusCode != http.StatusAccepted || len(r.Images) != len(want) {
		t.Fatalf("upload: %d %+v", resp.StatusCode, r)
	}
	for i, im := range r.Images {
		if im.Name != want[i] {
			t.Errorf("202 image %d name %q, want %q", i, im.Name, want[i])
		}
	}
	evs := openSSE(t, t.Context(), n.url+r.Events, "").collect(t, 30*time.Second)
	checkSequence(t, r.BatchID, evs)
	for i, im := range parseData(t, evs[0]).Images {
		if im.Name != want[i] {
			t.Errorf("queued image %d name %q, want %q", i, im.Name, want[i])
		}
	}
	var st struct{ Images []struct{ Name string } }
	decodeJSON(t, mustGet(t, n.url+r.Status), &st)
	for i, im := range st.Images {
		if im.Name != want[i] {
			t.Errorf("status image %d name %q, want %q", i, im.Name, want[i])
		}
	}

	// The "file" of an error is the clean name too.
	ct, body = rawMultipart(t, rawFile{`form-data; name="images"; filename="notes` + "\u2066\u202e" + `.jpg"`, []byte("hello, this is text")})
	resp = post(t, n.url+"/api/images", ct, body)
	var e fieldErr
	decodeJSON(t, resp, &e)
	if resp.StatusCode != http.StatusUnsupportedMediaType || e.Code != "unsupported_image" || e.File != "notes.jpg" {
		t.Fatalf("got %d %+v, want 415 unsupported_image file notes.jpg", resp.StatusCode, e)
	}
	if d := batchDirs(t, dir); len(d) != 1 || d[0] != r.BatchID {
		t.Fatalf("batch dirs %v, want the accepted one only", d)
	}
}

// TestIDsMatchAnyCase: batch and image ids are matched case-insensitively
// on every route (status, events, result), and the replies name them in
// lower case; a malformed id is still 404.
func TestIDsMatchAnyCase(t *testing.T) {
	n := startNode(t, t.TempDir(), nil)
	r := upload(t, n.url, filePart("a.jpg", jpegBytes(t, 320, 240, 1)))
	evs := openSSE(t, t.Context(), n.url+r.Events, "").collect(t, 30*time.Second)
	checkSequence(t, r.BatchID, evs)
	batch, image := r.BatchID, r.Images[0].ID
	want := get(t, n.url+"/api/images/"+batch+"/"+image, 200)

	for _, form := range []struct {
		name   string
		recase func(string) string
	}{
		{"upper", strings.ToUpper},
		{"mixed", func(s string) string {
			b := []byte(s)
			for i := 0; i < len(b); i += 2 {
				b[i] = bytes.ToUpper(b[i : i+1])[0]
			}
			return string(b)
		}},
	} {
		t.Run(form.name, func(t *testing.T) {
			B, I := form.recase(batch), form.recase(image)
			if B == batch || I == image {
				t.Fatalf("%s did not change the case of %s / %s", form.name, batch, image)
			}
			var st struct {
				BatchID string
				Events  string
				Images  []struct{ ID, URL string }
			}
			decodeJSON(t, mustGet(t, n.url+"/api/images/"+B), &st)
			if st.BatchID != batch || len(st.Images) != 1 || st.Images[0].ID != image || st.Images[0].URL != "/api/images/"+batch+"/"+image {
				t.Fatalf("status by %s: %+v", B, st)
			}
			s := openSSE(t, t.Context(), n.url+"/api/images/"+B+"/events", "")
			if s.resp.StatusCode != 200 {
				t.Fatalf("events by %s: %d", B, s.resp.StatusCode)
			}
			if o := checkSequence(t, batch, s.collect(t, 30*time.Second)); o.completed != 1 {
				t.Fatalf("events by %s: %+v", B, o)
			}
			for _, path := range []string{B + "/" + I, batch + "/" + I, B + "/" + image} {
				if got := get(t, n.url+"/api/images/"+path, 200); !bytes.Equal(got, want) {
					t.Fatalf("result by %s: %d bytes, not the %d of the result", path, len(got), len(want))
				}
			}
		})
	}

	// Still 404: an unknown image of this batch in upper case, an id with a
	// non-hex letter, and one whose Kelvin sign lowers to k.
	unknown := strings.ToUpper("0123abcd-0123-4567-89ab-0123456789ab")
	notHex := strings.ToUpper(batch[:35]) + "G"
	kelvin := batch[:35] + "%E2%84%AA"
	for _, path := range []string{strings.ToUpper(batch) + "/" + unknown, notHex, notHex + "/events", notHex + "/" + image, kelvin, batch + "/" + image[:35] + "%E2%84%AA"} {
		resp := mustGet(t, n.url+"/api/images/"+path)
		var e fieldErr
		decodeJSON(t, resp, &e)
		if resp.StatusCode != http.StatusNotFound || e.Code != "not_found" {
			t.Fatalf("%s: %d %+v, want 404 not_found", path, resp.StatusCode, e)
		}
	}
}
