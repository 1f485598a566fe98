//go:build !cgo || noavif

package avif

import (
	"image"
	"io"
)

const available = false

// Encode returns ErrUnavailable in a build without libavif.
func Encode(io.Writer, *image.NRGBA, int, int) error { return ErrUnavailable }

// Codec is "" in a build without libavif.
func Codec() string { return "" }
