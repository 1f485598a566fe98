package resize

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"
)

// Sentinel errors; callers test them with errors.Is. Every error of this
// package that carries one of them wraps it with what was being done.
var (
	// ErrUnsupported: the bytes are not one of the six formats, or their
	// header does not decode. Permanent. HTTP maps it to 415.
	ErrUnsupported = errors.New("unsupported image")
	// ErrNoDecoder: a format this build cannot read (HEIC, HEIF and AVIF
	// without libheif). It wraps ErrUnsupported: 415, naming the format.
	ErrNoDecoder = fmt.Errorf("%w: no decoder in this build", ErrUnsupported)
	// ErrTooManyPixels: the header declares more pixels than the limit
	// (decompression-bomb guard). Permanent. HTTP maps it to 413.
	ErrTooManyPixels = errors.New("too many pixels")
	// ErrTimeout: an attempt ran longer than Limits.Timeout. Transient: a
	// less loaded node may finish it.
	ErrTimeout = errors.New("resize timed out")
)

// PanicError is a panic recovered inside decode, resize or encode. Its text
// is safe to show a user; Stack is for the operator's log.
type PanicError struct {
	Value any
	Stack []byte
}

func (e *PanicError) Error() string { return fmt.Sprintf("image processing panicked: %v", e.Value) }

// permanentError marks a failure that lies in the image's bytes (or in
// options no retry can change). Its text is the wrapped error's, so a user
// reads "decode jpeg: unexpected EOF" and not our plumbing.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

func permanent(err error) error { return &permanentError{err: err} }

// Permanent reports whether retrying err cannot help: the image is
// unsupported, undecodable or too large, or its processing panicked.
// I/O errors and ErrTimeout are transient (false), as is nil.
func Permanent(err error) bool {
	if err == nil || errors.Is(err, ErrTimeout) {
		return false
	}
	var pe *permanentError
	var pa *PanicError
	return errors.Is(err, ErrUnsupported) || errors.Is(err, ErrTooManyPixels) ||
		errors.As(err, &pe) || errors.As(err, &pa)
}

// Message is err's text for a client: what failed and why, with the
// server's file paths (from *fs.PathError) replaced by "file".
func Message(err error) string {
	msg := err.Error()
	for e := err; e != nil; e = errors.Unwrap(e) {
		var pe *fs.PathError
		if errors.As(e, &pe) && pe.Path != "" {
			msg = strings.ReplaceAll(msg, pe.Path, "file")
			e = pe.Err
			if e == nil {
				break
			}
		}
	}
	return msg
}
