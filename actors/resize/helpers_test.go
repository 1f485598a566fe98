package resize

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/image/bmp"
	"golang.org/x/image/tiff"
)

// Minimal valid 1x1 WebP files (there is no Go WebP encoder): the lossless
// and lossy probes that Google's WebP FAQ gives for feature detection.
var (
	webpLossless = mustBase64("UklGRhoAAABXRUJQVlA4TA0AAAAvAAAAEAcQERGIiP4HAA==")
	webpLossy    = mustBase64("UklGRiIAAABXRUJQVlA4IBYAAAAwAQCdASoBAAEADsD+JaQAA3AAAAAA")
)

func mustBase64(s string) []byte {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

// writeFile writes data to a new file in dir and returns its path.
func writeFile(t testing.TB, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// encodeAs encodes img in one of the six input formats.
func encodeAs(t testing.TB, format string, img image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	var err error
	switch format {
	case "jpeg":
		err = jpeg.Encode(&b, img, &jpeg.Options{Quality: 90})
	case "png":
		err = png.Encode(&b, img)
	case "gif":
		err = gif.Encode(&b, img, nil)
	case "bmp":
		err = bmp.Encode(&b, img)
	case "tiff":
		err = tiff.Encode(&b, img, nil)
	case "webp":
		return webpLossless
	default:
		t.Fatalf("no encoder for %q", format)
	}
	if err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// halves is a w×h image whose left half is red and right half blue.
func halves(w, h int) *image.RGBA {
	m := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			c := color.RGBA{255, 0, 0, 255}
			if x >= w/2 {
				c = color.RGBA{0, 0, 255, 255}
			}
			m.SetRGBA(x, y, c)
		}
	}
	return m
}

type byteOrder interface {
	binary.ByteOrder
	binary.AppendByteOrder
}

// exifSegment is an APP1 Exif segment whose IFD0 holds the orientation o,
// after another tag, in the given byte order.
func exifSegment(order byteOrder, o uint16) []byte {
	var t []byte
	if order == binary.LittleEndian {
		t = append(t, "II*\x00"...)
	} else {
		t = append(t, "MM\x00*"...)
	}
	t = order.AppendUint32(t, 8) // IFD0 right after the header
	t = order.AppendUint16(t, 2) // two entries
	// ImageWidth (0x0100), LONG, 1: a tag before the one we want.
	t = order.AppendUint16(t, 0x0100)
	t = order.AppendUint16(t, 4)
	t = order.AppendUint32(t, 1)
	t = order.AppendUint32(t, 640)
	// Orientation (0x0112), SHORT, 1, value left-justified.
	t = order.AppendUint16(t, 0x0112)
	t = order.AppendUint16(t, 3)
	t = order.AppendUint32(t, 1)
	t = order.AppendUint16(t, o)
	t = order.AppendUint16(t, 0)
	t = order.AppendUint32(t, 0) // no next IFD
	payload := append([]byte("Exif\x00\x00"), t...)
	seg := []byte{0xff, 0xe1}
	seg = binary.BigEndian.AppendUint16(seg, uint16(2+len(payload)))
	return append(seg, payload...)
}

// withSegments inserts segments right after a JPEG's SOI marker.
func withSegments(jpg []byte, segs ...[]byte) []byte {
	out := append([]byte{}, jpg[:2]...)
	for _, s := range segs {
		out = append(out, s...)
	}
	return append(out, jpg[2:]...)
}

// jfifSegment is an APP0 JFIF segment, which usually precedes Exif.
func jfifSegment() []byte {
	return []byte{0xff, 0xe0, 0, 16, 'J', 'F', 'I', 'F', 0, 1, 1, 0, 0, 1, 0, 1, 0, 0}
}

// decodeFile decodes an output file with the stdlib registry.
func decodeFile(t testing.TB, path string) (image.Image, string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, format, err := image.Decode(f)
	if err != nil {
		t.Fatalf("decode %s: %v", path, err)
	}
	return img, format
}

// listDir returns the names in dir.
func listDir(t testing.TB, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}
