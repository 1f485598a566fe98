// Package lcms converts pixels from an embedded ICC profile (RGB or CMYK)
// to sRGB through Little CMS 2 (Debian liblcms2-dev), with cgo. A build
// without cgo, or with the nolcms tag, converts nothing: Available is
// false and ToSRGB and CMYKToSRGB return ErrUnavailable (images keep
// their numbers, as before).
package lcms

import "errors"

// Available reports whether this build converts colours.
const Available = available

// ErrUnavailable is ToSRGB's error in a build without Little CMS.
var ErrUnavailable = errors.New("lcms: this build has no colour management (built without cgo or with nolcms)")

// ErrNotRGB is ToSRGB's error for a profile that is not an RGB one
// (gray, CMYK, Lab…): its pixels are left as they are.
var ErrNotRGB = errors.New("lcms: not an RGB profile")

// ErrNotCMYK is CMYKToSRGB's error for a profile that is not a CMYK one.
var ErrNotCMYK = errors.New("lcms: not a CMYK profile")
