package resize

import "bytes"

// sniffLen is how many bytes Sniff may look at; WebP needs the most (12).
const sniffLen = 16

// Sniff judges the format from the first bytes only (magic numbers): one of
// "jpeg", "png", "gif", "webp", "bmp", "tiff"; ok is false otherwise. It
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
	return "", false
}
