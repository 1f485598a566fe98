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
	FormatWebP Format = "webp"
	FormatAVIF Format = "avif"
)

// ContentType is the MIME type of the format.
func (f Format) ContentType() string {
	switch f {
	case FormatPNG, FormatWebP, FormatAVIF:
		return "image/" + string(f)
	}
	return "image/jpeg"
}

// Ext is the format's file extension, without the dot: the last part of
// a result's blob key (blob.OutputKey).
func (f Format) Ext() string {
	switch f {
	case FormatPNG, FormatWebP, FormatAVIF:
		return string(f)
	}
	return "jpg"
}

// DefaultQuality is the quality of f when none is given: 85, AVIF's 60
// (API.md: AVIF at 60 looks about as JPEG at 85, at about half the bytes).
func (f Format) DefaultQuality() int {
	if f == FormatAVIF {
		return 60
	}
	return 85
}

// parseFormat reads a format name as API.md spells it, in any case.
func parseFormat(s string) (Format, bool) {
	switch f := Format(strings.ToLower(s)); f {
	case FormatJPEG, FormatPNG, FormatWebP, FormatAVIF:
		return f, true
	case "jpg":
		return FormatJPEG, true
	}
	return "", false
}

// parseFit reads a fit name, in any case.
func parseFit(s string) (Fit, bool) {
	switch f := Fit(strings.ToLower(s)); f {
	case FitCover, FitContain, FitFill:
		return f, true
	}
	return "", false
}

// Options are a batch's resize options (API.md, "Upload a batch"): one
// output from Width … Quality, or, when Variants is set, its variants
// (and the single-output fields zero).
type Options struct {
	Width   int    `json:"width,omitempty"`
	Height  int    `json:"height,omitempty"`
	Fit     Fit    `json:"fit,omitempty"`
	Format  Format `json:"format,omitempty"`
	Quality int    `json:"quality,omitempty"`
	// Variants, normalised (defaults filled in), in the client's order.
	Variants []Variant `json:"variants,omitempty"`
}

// Outputs are the outputs each image of a batch with o gets: its
// variants, or the one variant named DefaultVariant made from the
// single-output fields.
func (o Options) Outputs() []Variant {
	if len(o.Variants) > 0 {
		return o.Variants
	}
	return []Variant{{Name: DefaultVariant, Width: o.Width, Height: o.Height, Fit: o.Fit, Format: o.Format, Quality: o.Quality}}
}

// Output returns the output named name, if o has it.
func (o Options) Output(name string) (Variant, bool) {
	for _, v := range o.Outputs() {
		if v.Name == name {
			return v, true
		}
	}
	return Variant{}, false
}

// Single returns the options of one output v.
func Single(v Variant) Options {
	return Options{Width: v.Width, Height: v.Height, Fit: v.Fit, Format: v.Format, Quality: v.Quality}
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

// singleFields are the form fields of a single output, which variants
// replaces.
var singleFields = []string{"width", "height", "fit", "format", "quality"}

// OptionError names the parameter that is out of bounds or unknown.
type OptionError struct {
	Param string
	Value string
	Want  string
	// Reason, when set, is the whole explanation (variants' errors).
	Reason string
}

func (e *OptionError) Error() string {
	if e.Reason != "" {
		return fmt.Sprintf("parameter %q %s", e.Param, e.Reason)
	}
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
	if vs := get("variants"); vs != "" {
		for _, f := range singleFields {
			if get(f) != "" {
				return Options{}, &OptionError{Param: f, Value: get(f), Want: `allowed together with "variants" (each variant has its own)`}
			}
		}
		variants, err := ParseVariants(vs)
		if err != nil {
			return Options{}, err
		}
		return Options{Variants: variants}, nil
	}
	o := DefaultOptions()
	o.Quality = 0 // its default depends on the format
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
		f, ok := parseFit(s)
		if !ok {
			return o, &OptionError{Param: "fit", Value: s, Want: "one of cover, contain, fill"}
		}
		o.Fit = f
	}
	if s := strings.TrimSpace(get("format")); s != "" {
		f, ok := parseFormat(s)
		if !ok {
			return o, &OptionError{Param: "format", Value: s, Want: "one of jpeg, png, webp, avif"}
		}
		o.Format = f
	}
	if o.Quality == 0 {
		o.Quality = o.Format.DefaultQuality()
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
