//go:build !cgo

package webp

import (
	"image"
	"io"
)

const available = false

// Encode returns ErrUnavailable in a build without libwebp.
func Encode(io.Writer, *image.NRGBA, int) error { return ErrUnavailable }

// EncodeYCbCr returns ErrUnavailable in a build without libwebp.
func EncodeYCbCr(io.Writer, *image.YCbCr, int) error { return ErrUnavailable }

// EncodeVideoYCbCr returns ErrUnavailable in a build without libwebp.
func EncodeVideoYCbCr(io.Writer, *image.YCbCr, int) error { return ErrUnavailable }
