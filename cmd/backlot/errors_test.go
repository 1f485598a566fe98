package main

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"net/http"
	"strings"
	"testing"
	"time"
)

// pngBomb is a valid PNG signature and IHDR declaring width×height, with a
// correct CRC: the header decodes, the pixels were never sent.
func pngBomb(width, height uint32) []byte {
	var b bytes.Buffer
	b.Write([]byte("\x89PNG\r\n\x1a\n"))
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], width)
	binary.BigEndian.PutUint32(ihdr[4:], height)
	ihdr[8], ihdr[9] = 8, 2 // 8-bit RGB
	chunk := append([]byte("IHDR"), ihdr...)
	binary.Write(&b, binary.BigEndian, uint32(13))
	b.Write(chunk)
	binary.Write(&b, binary.BigEndian, crc32.ChecksumIEEE(chunk))
	return b.Bytes()
}

// TestUploadErrors: every rejection of API.md answers its status with the
// JSON error shape, and leaves nothing on disk or in the store.
func TestUploadErrors(t *testing.T) {
	dir := t.TempDir()
	n := startNode(t, dir, func(c *Config) {
		c.MaxFiles = 3
		c.MaxFileSize = 200 << 10
		c.MaxBody = 1 << 20
		c.MaxPixels = 4_000_000
	})
	jpg := jpegBytes(t, 64, 48, 1)
	big := bytes.Repeat([]byte{0xFF, 0xD8, 0xFF, 0xE0}, 60<<10) // 240 KiB starting like a JPEG
	tests := []struct {
		name   string
		ctype  string // "" → multipart of parts
		body   []byte
		parts  []part
		hdr    []string
		status int
		code   string
		file   string
		cut    int // bytes cut off the end of the multipart body: a truncated upload
	}{
		{name: "not multipart", ctype: "application/json", body: []byte(`{}`), status: 400, code: "not_multipart"},
		{name: "multipart without boundary", ctype: "multipart/form-data", body: []byte("x"), status: 400, code: "not_multipart"},
		{name: "garbage multipart", ctype: "multipart/form-data; boundary=zz", body: []byte("not a multipart body"), status: 400, code: "bad_multipart"},
		{name: "no images part", parts: []part{fieldPart("width", "10")}, status: 400, code: "no_images"},
		{name: "files under another name", parts: []part{{"photos", "a.jpg", jpg}}, status: 400, code: "no_images"},
		{name: "width zero", parts: []part{filePart("a.jpg", jpg), fieldPart("width", "0")}, status: 400, code: "invalid_parameter"},
		{name: "width too big", parts: []part{filePart("a.jpg", jpg), fieldPart("width", "4097")}, status: 400, code: "invalid_parameter"},
		{name: "height not a number", parts: []part{fieldPart("height", "abc"), filePart("a.jpg", jpg)}, status: 400, code: "invalid_parameter"},
		{name: "unknown fit", parts: []part{filePart("a.jpg", jpg), fieldPart("fit", "crop")}, status: 400, code: "invalid_parameter"},
		{name: "unknown format", parts: []part{filePart("a.jpg", jpg), fieldPart("format", "gif")}, status: 400, code: "invalid_parameter"},
		{name: "quality out of bounds", parts: []part{filePart("a.jpg", jpg), fieldPart("quality", "101")}, status: 400, code: "invalid_parameter"},
		{name: "number with a sign", parts: []part{filePart("a.jpg", jpg), fieldPart("width", "+50")}, status: 400, code: "invalid_parameter"},
		{name: "field given twice", parts: []part{fieldPart("width", "50"), filePart("a.jpg", jpg), fieldPart("width", "60")}, status: 400, code: "duplicate_field"},
		{name: "too many files", parts: []part{filePart("1.jpg", jpg), filePart("2.jpg", jpg), filePart("3.jpg", jpg), filePart("4.jpg", jpg)}, status: 413, code: "too_many_files"},
		{name: "file too large", parts: []part{filePart("a.jpg", jpg), filePart("big.jpg", big)}, status: 413, code: "file_too_large", file: "big.jpg"},
		{name: "body too large", parts: []part{filePart("a.jpg", bytes.Repeat(jpg, 3)), filePart("b.jpg", big[:190<<10]), filePart("c.jpg", big[:190<<10]), fieldPart("pad", strings.Repeat("x", 800<<10))}, status: 413, code: "body_too_large"},
		{name: "pixel bomb", parts: []part{filePart("a.jpg", jpg), filePart("bomb.png", pngBomb(100000, 100000))}, status: 413, code: "too_many_pixels", file: "bomb.png"},
		{name: "text file", parts: []part{filePart("a.jpg", jpg), filePart("notes.jpg", []byte("hello, this is text"))}, status: 415, code: "unsupported_image", file: "notes.jpg"},
		{name: "empty file", parts: []part{filePart("empty.png", nil)}, status: 415, code: "unsupported_image", file: "empty.png"},
		{name: "truncated in a file", parts: []part{filePart("a.jpg", jpg), filePart("b.jpg", jpg)}, cut: len(jpg) / 2, status: 400, code: "bad_multipart"},
		{name: "magic but no header", parts: []part{filePart("fake.png", []byte("\x89PNG\r\n\x1a\nthis is not an IHDR"))}, status: 415, code: "unsupported_image", file: "fake.png"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ct, body := tt.ctype, tt.body
			if ct == "" {
				ct, body = multipartBody(t, tt.parts...)
			}
			body = body[:len(body)-tt.cut]
			resp := post(t, n.url+"/api/images", ct, body, tt.hdr...)
			var e apiErr
			decodeJSON(t, resp, &e)
			if resp.StatusCode != tt.status || e.Code != tt.code || e.Error == "" || e.File != tt.file {
				t.Fatalf("got %d %+v, want %d %s file %q", resp.StatusCode, e, tt.status, tt.code, tt.file)
			}
			if ctj := resp.Header.Get("Content-Type"); ctj != "application/json" {
				t.Fatalf("content type %q", ctj)
			}
			if d := batchDirs(t, dir); len(d) != 0 {
				t.Fatalf("rejected upload left %v on disk", d)
			}
		})
	}
	ids, err := n.store.Unfinished(t.Context())
	if err != nil || len(ids) != 0 {
		t.Fatalf("store holds %v after rejections (%v)", ids, err)
	}
	// The node still works after all that.
	r := upload(t, n.url, filePart("ok.jpg", jpg))
	checkSequence(t, r.BatchID, openSSE(t, t.Context(), n.url+r.Events, "").collect(t, 30*time.Second))
}

func TestTokenAuth(t *testing.T) {
	n := startNode(t, t.TempDir(), func(c *Config) { c.Token = "s3cret" })
	ct, body := multipartBody(t, filePart("a.jpg", jpegBytes(t, 32, 32, 1)))
	for _, hdr := range [][]string{nil, {"Authorization", "Bearer wrong"}, {"Authorization", "s3cret"}} {
		resp := post(t, n.url+"/api/images", ct, body, hdr...)
		var e apiErr
		decodeJSON(t, resp, &e)
		if resp.StatusCode != 401 || e.Code != "unauthorized" {
			t.Fatalf("%v: %d %+v", hdr, resp.StatusCode, e)
		}
	}
	resp := post(t, n.url+"/api/images", ct, body, "Authorization", "Bearer s3cret")
	var r uploadReply
	decodeJSON(t, resp, &r)
	if resp.StatusCode != 202 {
		t.Fatalf("with token: %d", resp.StatusCode)
	}
	for _, q := range []string{"", "?token=nope"} {
		resp, err := http.Get(n.url + r.Events + q)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 401 {
			t.Fatalf("events%s: %d", q, resp.StatusCode)
		}
	}
	evs := openSSE(t, t.Context(), n.url+r.Events+"?token=s3cret", "").collect(t, 30*time.Second)
	checkSequence(t, r.BatchID, evs)
	resp, err := http.Get(n.url + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("healthz needs no token: %v %v", resp, err)
	}
	resp.Body.Close()
}
