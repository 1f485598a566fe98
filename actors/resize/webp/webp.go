// Package webp encodes WebP through libwebp (Debian libwebp-dev), with
// cgo. A build without cgo has no encoder: Available is false and Encode
// returns ErrUnavailable (the resize package then refuses the format).
//
// The encoder was picked by measurement against github.com/gen2brain/webp
// (libwebp compiled to WebAssembly, run by wazero): see bench_test.go and
// the README's Performance section.
package webp

import "errors"

// Available reports whether this build has the encoder.
const Available = available

// ErrUnavailable is Encode's error in a build without libwebp.
var ErrUnavailable = errors.New("webp: this build has no WebP encoder (built without cgo)")

// Method is libwebp's effort, 0 (fastest) to 6; 4 is its default and
// sharp's (effort 4).
const Method = 4
