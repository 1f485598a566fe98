package resize

import (
	"encoding/binary"
	"image"
	"testing"
)

// TestPhotoCrops: the crops are taken upright (Exif orientation 6: a
// stored 64x48 red|blue photo shown 48x64, red on top), at the photo's
// own resolution, spread from the top-left corner to the bottom-right.
func TestPhotoCrops(t *testing.T) {
	jpg := withSegments(encodeAs(t, "jpeg", halves(64, 48)), exifSegment(binary.BigEndian, 6))
	crops, err := PhotoCrops(jpg, 48, 16, 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(crops) != 3 {
		t.Fatalf("%d crops, want 3", len(crops))
	}
	for i, c := range crops {
		if c.Rect != image.Rect(0, 0, 48, 16) {
			t.Fatalf("crop %d is %v, want 48x16", i, c.Rect)
		}
	}
	// Shown upright the photo is red above y=32 and blue below: the first
	// crop (y 0..16) red, the last (y 48..64) blue, the middle (24..40)
	// red over blue.
	red := func(m *image.NRGBA, y int) bool { p := m.NRGBAAt(24, y); return p.R > 200 && p.B < 60 }
	if !red(crops[0], 8) || red(crops[2], 8) || !red(crops[1], 2) || red(crops[1], 14) {
		t.Errorf("crops not upright or not spread: %v %v %v", crops[0].NRGBAAt(24, 8), crops[1].NRGBAAt(24, 2), crops[2].NRGBAAt(24, 8))
	}
	if _, err := PhotoCrops(jpg, 64, 48, 1); err == nil {
		t.Error("a 64x48 crop of a photo shown 48x64: no error")
	}
}
