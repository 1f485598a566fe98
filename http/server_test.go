package http

import (
	"io"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/backlot/backlot/persistence/blob/fsblob"
	"github.com/backlot/backlot/persistence/pebble"
)

// TestReadyzRevealsNothing: with a token, readiness stays open but names
// the cluster's members (node ids, addresses) only to a holder of it.
func TestReadyzRevealsNothing(t *testing.T) {
	st, bs := stores(t)
	s := New(Config{Token: "s3cret", Members: func() []Member {
		return []Member{{ID: "node-a"}}
	}}, st, nil, bs, nil)
	for _, tc := range []struct {
		auth        string
		wantMembers bool
	}{{"", false}, {"Bearer wrong", false}, {"bearer s3cret", true}} {
		req := httptest.NewRequest("GET", "/readyz", nil)
		if tc.auth != "" {
			req.Header.Set("Authorization", tc.auth)
		}
		resp, err := s.App().Test(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || strings.Contains(string(body), "node-a") != tc.wantMembers {
			t.Errorf("auth %q: %d %s (members wanted: %v)", tc.auth, resp.StatusCode, body, tc.wantMembers)
		}
	}
}

// stores opens the embedded store and a blob store on a temp dir, closed
// when the test ends.
func stores(t *testing.T) (*pebble.Store, *fsblob.Store) {
	t.Helper()
	dir := t.TempDir()
	st, err := pebble.Open(filepath.Join(dir, "store"), pebble.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	bs, err := fsblob.New(dir, fsblob.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return st, bs
}
