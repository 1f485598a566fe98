package resize

import (
	"encoding/binary"
	"testing"
)

// tinyJPEG is a real JPEG to put segments into.
func tinyJPEG(t testing.TB) []byte {
	t.Helper()
	return encodeAs(t, "jpeg", Synthetic(8, 8, 3))
}

func app(marker byte, payload []byte) []byte {
	seg := []byte{0xff, marker}
	seg = binary.BigEndian.AppendUint16(seg, uint16(2+len(payload)))
	return append(seg, payload...)
}

func exifCases(t testing.TB) []struct {
	name string
	b    []byte
	want int
} {
	j := tinyJPEG(t)
	type c = struct {
		name string
		b    []byte
		want int
	}
	cases := []c{
		{"no exif", j, 1},
		{"not a jpeg", []byte("\x89PNG\r\n\x1a\n"), 1},
		{"empty", nil, 1},
		{"soi only", j[:2], 1},
		{"orientation 0 is invalid", withSegments(j, exifSegment(binary.BigEndian, 0)), 1},
		{"orientation 9 is invalid", withSegments(j, exifSegment(binary.BigEndian, 9)), 1},
		{"after JFIF", withSegments(j, jfifSegment(), exifSegment(binary.LittleEndian, 6)), 6},
		{"after XMP APP1", withSegments(j, app(0xe1, []byte("http://ns.adobe.com/xap/1.0/\x00<x/>")), exifSegment(binary.BigEndian, 8)), 8},
		{"fill bytes before marker", withSegments(j, []byte{0xff, 0xff}, exifSegment(binary.BigEndian, 3)), 3},
		{"after scan is ignored", append(append([]byte{}, j[:len(j)-2]...), exifSegment(binary.BigEndian, 6)...), 1},
	}
	for o := uint16(1); o <= 8; o++ {
		cases = append(cases,
			c{"big-endian " + string(rune('0'+o)), withSegments(j, exifSegment(binary.BigEndian, o)), int(o)},
			c{"little-endian " + string(rune('0'+o)), withSegments(j, exifSegment(binary.LittleEndian, o)), int(o)})
	}
	seg := exifSegment(binary.BigEndian, 6)
	// Damage: the TIFF part starts at byte 10 of the segment.
	badOffset := append([]byte{}, seg...)
	binary.BigEndian.PutUint32(badOffset[14:], 0xfffffff0)
	badType := append([]byte{}, seg...)
	binary.BigEndian.PutUint16(badType[10+8+2+12+2:], 4) // orientation as LONG
	badCount := append([]byte{}, seg...)
	binary.BigEndian.PutUint16(badCount[10+8:], 0xffff) // more entries than bytes
	badLen := append([]byte{}, seg...)
	binary.BigEndian.PutUint16(badLen[2:], 0xfff0) // segment longer than the file
	cases = append(cases,
		c{"ifd offset past the end", withSegments(j, badOffset), 1},
		c{"orientation of type LONG", withSegments(j, badType), 1},
		// The tag is the second entry and both entries are there: a count
		// past the end only stops the walk where the bytes end.
		c{"entry count past the end", withSegments(j, badCount), 6},
		c{"segment length past the end", withSegments(j, badLen), 6},
		c{"segment length 1", withSegments(j, []byte{0xff, 0xe1, 0, 1}), 1},
		c{"truncated inside the segment", withSegments(j, seg)[:20], 1},
	)
	return cases
}

func TestExifOrientation(t *testing.T) {
	for _, c := range exifCases(t) {
		t.Run(c.name, func(t *testing.T) {
			if got := exifOrientation(c.b); got != c.want {
				t.Errorf("exifOrientation = %d, want %d", got, c.want)
			}
		})
	}
}

func FuzzExifOrientation(f *testing.F) {
	for _, c := range exifCases(f) {
		f.Add(c.b)
	}
	j := tinyJPEG(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		if o := exifOrientation(b); o < 1 || o > 8 {
			t.Fatalf("exifOrientation = %d, out of 1..8", o)
		}
		// Any well-formed segment before the Exif one, whatever its bytes,
		// must not hide or change the orientation.
		if len(b) > 0xfff0 {
			return
		}
		want := 1 + len(b)%8
		jpg := withSegments(j, app(0xe2, b), exifSegment(binary.BigEndian, uint16(want)))
		if got := exifOrientation(jpg); got != want {
			t.Fatalf("after an APP2 of %d bytes: orientation %d, want %d", len(b), got, want)
		}
	})
}
