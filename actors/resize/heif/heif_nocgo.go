//go:build !cgo || noheif

package heif

import "image"

const available = false

// Size returns ErrUnavailable in a build without libheif.
func Size([]byte) (int, int, bool, error) { return 0, 0, false, ErrUnavailable }

// Decode returns ErrUnavailable in a build without libheif.
func Decode([]byte, int, int, []byte) (*image.NRGBA, error) { return nil, ErrUnavailable }

// Profile returns ErrUnavailable in a build without libheif.
func Profile([]byte) ([]byte, int, error) { return nil, 0, ErrUnavailable }
