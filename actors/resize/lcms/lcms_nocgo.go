//go:build !cgo || nolcms

package lcms

import "image"

const available = false

// Transform converts nothing in a build without Little CMS.
type Transform struct{}

// ToSRGB returns ErrUnavailable in a build without Little CMS.
func ToSRGB([]byte) (*Transform, error) { return nil, ErrUnavailable }

// Apply does nothing in a build without Little CMS.
func (*Transform) Apply(*image.NRGBA) {}

// DisplayP3 is nil in a build without Little CMS.
func DisplayP3() []byte { return nil }

// CMYKToSRGB returns ErrUnavailable in a build without Little CMS.
func CMYKToSRGB([]byte) (*Transform, error) { return nil, ErrUnavailable }

// ApplyCMYK does nothing in a build without Little CMS.
func (*Transform) ApplyCMYK([]byte) {}

// TintedCMYK is nil in a build without Little CMS.
func TintedCMYK() []byte { return nil }
