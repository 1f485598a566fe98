package resize

import (
	"bytes"
	"testing"
)

var sniffCases = []struct {
	name string
	head []byte
	want string // "" for not ok
}{
	{"jpeg", []byte("\xff\xd8\xff\xe0\x00\x10JFIF\x00"), "jpeg"},
	{"png", []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"), "png"},
	{"gif87a", []byte("GIF87a\x01\x00\x01\x00"), "gif"},
	{"gif89a", []byte("GIF89a\x01\x00\x01\x00"), "gif"},
	{"webp", []byte("RIFF\x1a\x00\x00\x00WEBPVP8L"), "webp"},
	{"bmp", []byte("BM\x3a\x00\x00\x00\x00\x00\x00\x00\x36\x00"), "bmp"},
	{"tiff little-endian", []byte("II*\x00\x08\x00\x00\x00"), "tiff"},
	{"tiff big-endian", []byte("MM\x00*\x00\x00\x00\x08"), "tiff"},
	{"riff but not webp", []byte("RIFF\x1a\x00\x00\x00WAVEfmt "), ""},
	{"bigtiff", []byte("II+\x00\x08\x00\x00\x00"), ""},
	{"text", []byte("hello, world, this is text"), ""},
	{"html", []byte("<!doctype html><html>"), ""},
	{"empty", nil, ""},
	{"short jpeg", []byte("\xff\xd8"), ""},
	{"short png", []byte("\x89PNG\r\n"), ""},
	{"short webp", []byte("RIFF\x1a\x00\x00\x00WEB"), ""},
	{"short gif", []byte("GIF8"), ""},
	{"one byte", []byte("B"), ""},
}

func TestSniff(t *testing.T) {
	for _, c := range sniffCases {
		t.Run(c.name, func(t *testing.T) {
			got, ok := Sniff(c.head)
			if ok != (c.want != "") || got != c.want {
				t.Errorf("Sniff(%q) = %q, %v; want %q", c.head, got, ok, c.want)
			}
		})
	}
}

// TestSniffRealFiles sniffs what real encoders write, not hand-made heads.
func TestSniffRealFiles(t *testing.T) {
	img := Synthetic(16, 16, 1)
	for _, f := range []string{"jpeg", "png", "gif", "bmp", "tiff", "webp"} {
		b := encodeAs(t, f, img)
		if got, ok := Sniff(b[:min(len(b), sniffLen)]); !ok || got != f {
			t.Errorf("Sniff(%s file) = %q, %v", f, got, ok)
		}
	}
	if got, ok := Sniff(webpLossy); !ok || got != "webp" {
		t.Errorf("Sniff(lossy webp) = %q, %v", got, ok)
	}
}

func FuzzSniff(f *testing.F) {
	for _, c := range sniffCases {
		f.Add(c.head)
	}
	f.Fuzz(func(t *testing.T, head []byte) {
		format, ok := Sniff(head)
		if ok != (format != "") {
			t.Fatalf("Sniff(%q) = %q, %v: ok must mean a name", head, format, ok)
		}
		// Only the first sniffLen bytes may matter.
		if len(head) > sniffLen {
			if f2, ok2 := Sniff(head[:sniffLen]); f2 != format || ok2 != ok {
				t.Fatalf("Sniff looked past %d bytes: %q vs %q", sniffLen, format, f2)
			}
		}
		// More bytes never change a verdict already reached.
		if ok {
			if f2, _ := Sniff(append(bytes.Clone(head), 0, 1, 2)); f2 != format {
				t.Fatalf("appending bytes changed %q to %q", format, f2)
			}
		}
	})
}
