package resize

import (
	"bytes"
	"encoding/binary"
)

// exifHeadLen is how much of a JPEG exifOrientation is shown. The Exif
// APP1 segment comes right after SOI or after a JFIF APP0, and a segment is
// at most 64 KiB, so two segments' worth finds it in practice; an
// orientation hidden deeper is ignored (the image stays as stored).
const exifHeadLen = 2*(64<<10) + 4

// exifOrientation returns the Exif orientation (1..8) of the JPEG whose
// first bytes are b, or 1 when there is none or it cannot be read. b is
// untrusted: every offset is bounds-checked against b, never trusted to be
// within it, and the walk only moves forward.
func exifOrientation(b []byte) int {
	if len(b) < 4 || b[0] != 0xff || b[1] != 0xd8 {
		return 1
	}
	for i := 2; i+4 <= len(b); {
		if b[i] != 0xff {
			return 1
		}
		marker := b[i+1]
		switch {
		case marker == 0xff: // fill byte before a marker
			i++
			continue
		case marker == 0xd8 || marker == 0x01 || marker >= 0xd0 && marker <= 0xd7:
			i += 2 // standalone markers carry no length
			continue
		case marker == 0xda || marker == 0xd9: // start of scan, end of image: no metadata after
			return 1
		}
		n := int(binary.BigEndian.Uint16(b[i+2:]))
		if n < 2 {
			return 1
		}
		end := i + 2 + n
		if marker == 0xe1 {
			seg := b[i+4 : min(end, len(b))]
			if tiff, ok := bytes.CutPrefix(seg, []byte("Exif\x00\x00")); ok {
				if o := tiffOrientation(tiff); o != 0 {
					return o
				}
			}
		}
		i = end
	}
	return 1
}

// tiffOrientation reads tag 0x0112 from IFD0 of an Exif TIFF structure; 0
// when absent or invalid.
func tiffOrientation(t []byte) int {
	if len(t) < 8 {
		return 0
	}
	var order binary.ByteOrder
	switch string(t[:4]) {
	case "II*\x00":
		order = binary.LittleEndian
	case "MM\x00*":
		order = binary.BigEndian
	default:
		return 0
	}
	// uint64 arithmetic: a 32-bit offset near 4 GiB must not wrap on 32-bit ints.
	off := uint64(order.Uint32(t[4:]))
	if off+2 > uint64(len(t)) {
		return 0
	}
	count := uint64(order.Uint16(t[off:]))
	for k := uint64(0); k < count; k++ {
		e := off + 2 + 12*k
		if e+12 > uint64(len(t)) {
			return 0
		}
		if order.Uint16(t[e:]) != 0x0112 {
			continue
		}
		// SHORT (type 3), count 1: the value sits left-justified in the
		// 4-byte field in either byte order.
		if order.Uint16(t[e+2:]) != 3 || order.Uint32(t[e+4:]) != 1 {
			return 0
		}
		if o := int(order.Uint16(t[e+8:])); o >= 1 && o <= 8 {
			return o
		}
		return 0
	}
	return 0
}
