package persistence

import "regexp"

var idPattern = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

// ValidID reports whether s has the shape of the ids Backlot makes (a
// lower-case random UUIDv4). Anything else is refused before it reaches a
// store or a path.
func ValidID(s string) bool { return idPattern.MatchString(s) }

// CanonicalID is the id a client's s names, ids being matched
// case-insensitively (API.md): s with its ASCII letters lowered, and
// whether that is a valid id. Only ASCII is lowered, so no other
// character can turn into a hex digit.
func CanonicalID(s string) (string, bool) {
	if len(s) != 36 {
		return "", false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; 'A' <= c && c <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if 'A' <= b[j] && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			s = string(b)
			break
		}
	}
	if !ValidID(s) {
		return "", false
	}
	return s, true
}
