package persistence

import (
	"fmt"
	"strings"
)

// Fit says how an image is put into the output box.
type Fit string

// The fits of API.md.
const (
	FitCover   Fit = "cover"   // fill the box, centre crop
	FitContain Fit = "contain" // fit inside the box, keep aspect
	FitFill    Fit = "fill"    // stretch to the box
)

// Format is an output encoding.
type Format string

// The output formats of API.md.
const (
	FormatJPEG Format = "jpeg"
	FormatPNG  Format = "png"
)

// ContentType is the MIME type of the format.
func (f Format) ContentType() string {
	if f == FormatPNG {
		return "image/png"
	}
	return "image/jpeg"
}

// Ext is the format's file extension, without the dot: the last part of
// a result's blob key (blob.OutputKey).
func (f Format) Ext() string {
	if f == FormatPNG {
		return "png"
	}
	return "jpg"
}

// Options are a batch's resize options (API.md, "Upload a batch").
type Options struct {
	Width   int    `json:"width"`
	Height  int    `json:"height"`
	Fit     Fit    `json:"fit"`
	Format  Format `json:"format"`
	Quality int    `json:"quality"`
}

// Bounds of the options, from API.md.
const (
	MaxDimension = 4096
	MinQuality   = 1
	MaxQuality   = 100
)

// DefaultOptions are the options of a batch that sets none.
func DefaultOptions() Options {
	return Options{Width: 100, Height: 100, Fit: FitCover, Format: FormatJPEG, Quality: 85}
}

// OptionError names the parameter that is out of bounds or unknown.
type OptionError struct {
	Param string
	Value string
	Want  string
}

func (e *OptionError) Error() string {
	return fmt.Sprintf("parameter %q: %q is not %s", e.Param, e.Value, e.Want)
}

// ParseOptions reads options from form values; get returns "" for an absent
// parameter (or one sent empty, as an HTML form sends a blank input), which
// takes its default. A number is plain decimal digits and nothing else
// (API.md 1.1: no sign, no spaces, no exponent, no 0x; leading zeros are
// allowed and read in decimal, "007" being 7); fit and format are trimmed of
// surrounding spaces and matched case-insensitively. Anything that is not
// exactly valid is an *OptionError.
func ParseOptions(get func(name string) string) (Options, error) {
	o := DefaultOptions()
	intParam := func(name string, dst *int, lo, hi int) error {
		s := get(name)
		if s == "" {
			return nil
		}
		n, ok := ParseDigits(s, hi)
		if !ok || n < lo || n > hi {
			return &OptionError{Param: name, Value: s, Want: fmt.Sprintf("an integer from %d to %d in plain decimal digits", lo, hi)}
		}
		*dst = n
		return nil
	}
	if err := intParam("width", &o.Width, 1, MaxDimension); err != nil {
		return o, err
	}
	if err := intParam("height", &o.Height, 1, MaxDimension); err != nil {
		return o, err
	}
	if err := intParam("quality", &o.Quality, MinQuality, MaxQuality); err != nil {
		return o, err
	}
	if s := strings.TrimSpace(get("fit")); s != "" {
		switch f := Fit(strings.ToLower(s)); f {
		case FitCover, FitContain, FitFill:
			o.Fit = f
		default:
			return o, &OptionError{Param: "fit", Value: s, Want: "one of cover, contain, fill"}
		}
	}
	if s := strings.TrimSpace(get("format")); s != "" {
		switch f := Format(strings.ToLower(s)); f {
		case FormatJPEG, FormatPNG:
			o.Format = f
		case "jpg":
			o.Format = FormatJPEG
		default:
			return o, &OptionError{Param: "format", Value: s, Want: "one of jpeg, png"}
		}
	}
	return o, nil
}

// ParseDigits reads s as a non-negative decimal number written in ASCII
// digits only ("0042" is 42); ok is false for anything else: an empty
// string, a sign, a space, a decimal point, an exponent, a hex prefix or
// another script's digits. A value over limit (0 <= limit < MaxInt) is
// returned as limit+1, however long s is, so a caller's bound check fails
// and nothing overflows.
func ParseDigits(s string, limit int) (n int, ok bool) {
	if s == "" {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		d := int(c - '0')
		switch {
		case n > limit: // already over: read on, only to check the digits
		case n > (limit-d)/10:
			n = limit + 1
		default:
			n = n*10 + d
		}
	}
	return min(n, limit+1), true
}
