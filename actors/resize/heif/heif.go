// Package heif decodes HEIC/HEIF and AVIF images through libheif (Debian
// libheif-dev: libde265 for HEVC, dav1d or libaom for AV1), with cgo. A
// build without cgo, or with the noheif tag, has no decoder: Available is
// false and every call returns ErrUnavailable (the resize package then
// refuses such uploads with 415, naming the format).
//
// libheif applies the container's transformations (irot, imir, clap) as
// it decodes, which is where HEIF keeps an image's orientation: a phone's
// EXIF orientation is mirrored there, and the HEIF specification has the
// container win.
package heif

import "errors"

// Available reports whether this build has the decoder.
const Available = available

// ErrUnavailable is the error of every call in a build without libheif.
var ErrUnavailable = errors.New("heif: this build has no HEIF/AVIF decoder (built without cgo or with noheif)")
