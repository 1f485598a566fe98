package persistence_test

import (
	"strings"
	"testing"

	"github.com/backlot/backlot/persistence"
)

func TestCanonicalID(t *testing.T) {
	const id = "3f30a1b2-c3d4-4e5f-8a9b-0c1d2e3f4a5b"
	for _, tc := range []struct {
		in   string
		want string // "": not an id
	}{
		{id, id},
		{strings.ToUpper(id), id},
		{"3F30a1B2-c3D4-4E5F-8A9b-0C1D2E3F4A5B", id},
		{"", ""},
		{id[:35], ""},
		{id + "0", ""},
		{" " + id[1:], ""},
		{strings.Replace(id, "-", "_", 1), ""},
		{strings.Replace(id, "3f30", "3g30", 1), ""},         // not hex
		{strings.Replace(id, "-4e5f-", "-1e5f-", 1), ""},     // not version 4
		{strings.Replace(id, "3f30", "3\uff26", 1)[:36], ""}, // fullwidth F is not F
		{strings.Replace(id, "a5b", "a5\u212a", 1), ""},      // Kelvin sign, whose lower case is k
		{strings.Replace(strings.ToUpper(id), "3F30", "3F3\x00", 1), ""},
	} {
		got, ok := persistence.CanonicalID(tc.in)
		if ok != (tc.want != "") || got != tc.want {
			t.Errorf("CanonicalID(%q) = %q, %v; want %q", tc.in, got, ok, tc.want)
		}
	}
}
