// Package avif encodes AVIF through libavif (Debian libavif-dev, whose
// AV1 encoder is libaom), with cgo. A build without cgo, or with the
// noavif tag (a static build: Debian ships no static libavif), has no
// encoder: Available is false and Encode returns ErrUnavailable (the
// resize package then refuses the format).
//
// The encoder was picked by measurement against github.com/gen2brain/avif
// (libavif and libaom compiled to WebAssembly, run by wazero): see
// bench_test.go and the README's Performance section.
package avif

import "errors"

// Available reports whether this build has the encoder.
const Available = available

// ErrUnavailable is Encode's error in a build without libavif.
var ErrUnavailable = errors.New("avif: this build has no AVIF encoder (built without cgo or with noavif)")

// Speed is libavif's speed, 0 (slowest, smallest) to 10 (fastest).
const Speed = 8

// quantizer maps a quality of 1…100 onto AV1's quantizer, 63…0, as
// libavif 1.0's quality setting does (0.11, Debian's, has only the
// quantizers).
func quantizer(quality int) int {
	q := min(max(quality, 0), 100)
	return ((100-q)*63 + 50) / 100
}
