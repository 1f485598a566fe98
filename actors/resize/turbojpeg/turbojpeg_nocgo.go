//go:build !cgo || noturbojpeg

package turbojpeg

import "image"

const available = false

// Factors lists the scaling factors the library decodes at: none here.
// The slice is shared: read only.
func Factors() []Factor { return nil }

// ReadHeader returns ErrUnavailable in a build without libjpeg-turbo.
func ReadHeader([]byte) (Header, error) { return Header{}, ErrUnavailable }

// Decode returns ErrUnavailable in a build without libjpeg-turbo.
func Decode([]byte, Factor, []byte) (image.Image, error) { return nil, ErrUnavailable }

// DecodePixels returns ErrUnavailable in a build without libjpeg-turbo.
func DecodePixels([]byte, Factor, []byte) (image.Image, error) { return nil, ErrUnavailable }

// EncodeBound is 0 in a build without libjpeg-turbo.
func EncodeBound(int, int, bool) int { return 0 }

// Encode returns ErrUnavailable in a build without libjpeg-turbo.
func Encode(image.Image, int, []byte) ([]byte, error) { return nil, ErrUnavailable }
