package resize

import (
	"bytes"
	"encoding/binary"
)

// sniffLen is how many bytes Sniff may look at; an ISO BMFF ftyp box
// (HEIF, AVIF) needs the most: its major brand and the first compatible
// brands.
const sniffLen = 48

// SniffLen is how many first bytes of a file Sniff wants.
const SniffLen = sniffLen

// Sniff judges the format from the first bytes only (magic numbers): one of
// "jpeg", "png", "gif", "webp", "bmp", "tiff", or by the brands of an ISO
// BMFF ftyp box "heic" (HEVC), "avif" (AV1) or "heif" (another HEIF);
// ok is false otherwise. It
// never trusts a filename or Content-Type, which clients get wrong. BMP's
// magic is only "BM", so a sniff is a first filter: Probe's header decode
// is the real test.
func Sniff(head []byte) (format string, ok bool) {
	switch {
	case bytes.HasPrefix(head, []byte("\xff\xd8\xff")):
		return "jpeg", true
	case bytes.HasPrefix(head, []byte("\x89PNG\r\n\x1a\n")):
		return "png", true
	case bytes.HasPrefix(head, []byte("GIF87a")), bytes.HasPrefix(head, []byte("GIF89a")):
		return "gif", true
	case len(head) >= 12 && bytes.HasPrefix(head, []byte("RIFF")) && string(head[8:12]) == "WEBP":
		return "webp", true
	case bytes.HasPrefix(head, []byte("BM")):
		return "bmp", true
	// BigTIFF ("II+\x00") is left out: x/image/tiff cannot read it.
	case bytes.HasPrefix(head, []byte("II*\x00")), bytes.HasPrefix(head, []byte("MM\x00*")):
		return "tiff", true
	}
	return ftypFormat(head)
}

// HEIFFormats are the names Sniff gives HEIF files, which only a build
// with libheif reads.
var HEIFFormats = []string{"heic", "heif", "avif"}

// ftypFormat names a HEIF or AVIF file by its ftyp box: the major brand
// decides, then the compatible brands Sniff sees, AV1's and HEVC's
// before the generic image brands (mif1, msf1).
func ftypFormat(head []byte) (string, bool) {
	if len(head) < 16 || string(head[4:8]) != "ftyp" {
		return "", false
	}
	size := int(binary.BigEndian.Uint32(head))
	if size < 16 || size%4 != 0 {
		return "", false
	}
	brands := []string{string(head[8:12])} // then the minor version, then compatible brands
	for i := 16; i+4 <= min(size, len(head)); i += 4 {
		brands = append(brands, string(head[i:i+4]))
	}
	name := func(b string) string {
		switch b {
		case "avif", "avis":
			return "avif"
		case "heic", "heix", "heim", "heis", "hevc", "hevx", "hevm", "hevs":
			return "heic"
		case "mif1", "msf1":
			return "heif"
		}
		return ""
	}
	if n := name(brands[0]); n != "" && n != "heif" {
		return n, true
	}
	generic := name(brands[0]) == "heif"
	for _, b := range brands[1:] {
		switch n := name(b); n {
		case "avif", "heic":
			return n, true
		case "heif":
			generic = true
		}
	}
	if generic {
		return "heif", true
	}
	return "", false
}
