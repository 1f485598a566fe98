package persistence

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// Variant is one output of every image of a batch (API.md, "variants").
type Variant struct {
	Name    string `json:"name"`
	Width   int    `json:"width"`
	Height  int    `json:"height"`
	Fit     Fit    `json:"fit"`
	Format  Format `json:"format"`
	Quality int    `json:"quality"`
}

// Output is one variant as made: its name, size and, like Image's,
// the bytes and CRC-32C of its result.
type Output struct {
	Name   string `json:"name"`
	Width  int    `json:"width"`
	Height int    `json:"height"`
	Bytes  int64  `json:"bytes"`
	Sum    uint32 `json:"sum,omitempty"`
}

// DefaultVariant names the one output of a batch without variants.
const DefaultVariant = "default"

// Bounds of variants, from API.md.
const (
	MaxVariants    = 8
	MaxVariantName = 32
)

// ValidVariantName reports whether s is 1–32 of [a-z0-9_-].
func ValidVariantName(s string) bool {
	if s == "" || len(s) > MaxVariantName {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// ParseVariants reads the "variants" field: a JSON array of 1 to
// MaxVariants objects, each with a unique valid "name" and any of width,
// height, fit, format and quality, read with the bounds and defaults of
// the single-output fields (numbers as JSON integers in plain digits:
// 1e2, 1.0 and -1 are refused). An unknown key, a key given twice, a
// wrong type or anything after the array is an *OptionError for
// "variants" saying which entry and why.
func ParseVariants(s string) ([]Variant, error) {
	bad := func(format string, a ...any) error {
		return &OptionError{Param: "variants", Reason: fmt.Sprintf(format, a...)}
	}
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var raw []json.RawMessage
	if err := dec.Decode(&raw); err != nil {
		return nil, bad("not a JSON array of objects (%v)", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, bad("has data after its JSON array")
	}
	if raw == nil {
		return nil, bad("must be a JSON array, not null")
	}
	if len(raw) == 0 || len(raw) > MaxVariants {
		return nil, bad("has %d entries; from 1 to %d are allowed", len(raw), MaxVariants)
	}
	out := make([]Variant, 0, len(raw))
	seen := make(map[string]bool, len(raw))
	for i, r := range raw {
		v, err := parseVariant(r)
		if err != nil {
			return nil, bad("entry %d: %s", i+1, err)
		}
		if seen[v.Name] {
			return nil, bad("entry %d: the name %q is used twice", i+1, v.Name)
		}
		seen[v.Name] = true
		out = append(out, v)
	}
	return out, nil
}

// parseVariant reads one entry, key by key, so that a key given twice is
// refused rather than silently taking the last value.
func parseVariant(r json.RawMessage) (Variant, error) {
	v := Variant{Width: 100, Height: 100, Fit: FitCover, Format: FormatJPEG}
	dec := json.NewDecoder(bytes.NewReader(r))
	dec.UseNumber()
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return v, fmt.Errorf("is not a JSON object")
	}
	seen := map[string]bool{}
	named := false
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return v, fmt.Errorf("is not valid JSON")
		}
		key := t.(string) // object keys are strings
		if seen[key] {
			return v, fmt.Errorf("the key %q is given twice", key)
		}
		seen[key] = true
		var val any
		if err := dec.Decode(&val); err != nil {
			return v, fmt.Errorf("is not valid JSON")
		}
		str, isStr := val.(string)
		num, isNum := val.(json.Number)
		switch key {
		case "name":
			if !isStr || !ValidVariantName(str) {
				return v, fmt.Errorf(`"name" must be 1 to %d characters of a-z, 0-9, _ and -`, MaxVariantName)
			}
			v.Name, named = str, true
		case "width", "height", "quality":
			lo, hi := 1, MaxDimension
			if key == "quality" {
				lo, hi = MinQuality, MaxQuality
			}
			n, ok := 0, false
			if isNum {
				n, ok = ParseDigits(num.String(), hi)
			}
			if !ok || n < lo || n > hi {
				return v, fmt.Errorf("%q must be an integer from %d to %d", key, lo, hi)
			}
			switch key {
			case "width":
				v.Width = n
			case "height":
				v.Height = n
			default:
				v.Quality = n
			}
		case "fit":
			f, ok := parseFit(strings.TrimSpace(str))
			if !isStr || !ok {
				return v, fmt.Errorf(`"fit" must be one of cover, contain, fill`)
			}
			v.Fit = f
		case "format":
			f, ok := parseFormat(strings.TrimSpace(str))
			if !isStr || !ok {
				return v, fmt.Errorf(`"format" must be one of jpeg, png, webp, avif`)
			}
			v.Format = f
		default:
			return v, fmt.Errorf("unknown key %q (known: name, width, height, fit, format, quality)", truncate(key, 40))
		}
	}
	if !named {
		return v, fmt.Errorf(`has no "name"`)
	}
	if v.Quality == 0 {
		v.Quality = v.Format.DefaultQuality()
	}
	return v, nil
}

// truncate keeps an echoed key short.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
