package blob

import (
	"strings"
	"unicode/utf8"
)

// BatchesPrefix is the prefix every batch's objects share. The layout,
// relative to a store's root, is the data directory's since before this
// package, so existing data directories stay valid:
//
//	batches/<batchId>/<imageId>.src          the upload, as received
//	batches/<batchId>/<imageId>.out.<ext>    the result
const BatchesPrefix = "batches/"

// BatchPrefix is the prefix of one batch's objects: DeletePrefix of it
// removes the batch, and it cannot match another batch's (the trailing
// '/' keeps "batches/ab/" from matching "batches/abc/...").
func BatchPrefix(batchID string) string { return BatchesPrefix + batchID + "/" }

// SourceKey is the key of an image's upload.
func SourceKey(batchID, imageID string) string { return BatchPrefix(batchID) + imageID + ".src" }

// OutputKey is the key of an image's result; ext is the format's file
// extension without the dot ("jpg", "png").
func OutputKey(batchID, imageID, ext string) string {
	return BatchPrefix(batchID) + imageID + ".out." + ext
}

// VariantKey is the key of one named variant of an image's results, in a
// batch with variants; name is 1–32 of [a-z0-9_-] (the API's rule), so
// no two variants' keys meet, nor meet OutputKey's.
func VariantKey(batchID, imageID, name, ext string) string {
	return BatchPrefix(batchID) + imageID + ".v." + name + "." + ext
}

// BatchOf is the batch id of a key under BatchesPrefix, as the orphan
// sweep needs it from List: "batches/<b>/..." gives b.
func BatchOf(key string) (string, bool) {
	rest, ok := strings.CutPrefix(key, BatchesPrefix)
	if !ok {
		return "", false
	}
	id, _, ok := strings.Cut(rest, "/")
	if !ok || id == "" {
		return "", false
	}
	return id, true
}

// Bounds on keys: S3 takes keys up to 1024 bytes; a file system takes
// names up to 255 bytes, and fsblob's temp names add 19 bytes to the
// last segment.
const (
	maxKeyLen     = 1024
	maxSegmentLen = 200
)

// ValidKey reports whether key may name an object: valid UTF-8, at most
// 1024 bytes, '/'-separated segments each non-empty, at most 200 bytes,
// not starting with '.' (which rules out "." and "..", and leaves the
// dot names to a store's own bookkeeping: fsblob's temp files), with no
// backslash and no control character (NUL among them). So a key is never
// absolute, never climbs out of the store and is spelt the same on every
// backend.
func ValidKey(key string) bool {
	if key == "" || len(key) > maxKeyLen || !utf8.ValidString(key) {
		return false
	}
	for seg := range strings.SplitSeq(key, "/") {
		if !validSegment(seg) {
			return false
		}
	}
	return true
}

// ValidPrefix reports whether prefix may be given to List: "" (every
// key), or the start of a valid key, which may end with '/' or part way
// through a segment ("batches/ab" matches "batches/ab/..." and
// "batches/abc/...", as on S3).
func ValidPrefix(prefix string) bool {
	if prefix == "" {
		return true
	}
	return ValidKey(strings.TrimSuffix(prefix, "/"))
}

// ValidDeletePrefix reports whether prefix may be given to DeletePrefix:
// a valid prefix ending in '/'. Whole segments only, so that a batch's
// prefix never takes a sibling whose id starts alike, and never ""
// (everything).
func ValidDeletePrefix(prefix string) bool {
	return strings.HasSuffix(prefix, "/") && ValidPrefix(prefix)
}

func validSegment(s string) bool {
	if s == "" || len(s) > maxSegmentLen || s[0] == '.' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f || c == '\\' {
			return false
		}
	}
	return true
}
