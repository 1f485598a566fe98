package turbojpeg_test

import (
	"errors"
	"runtime/debug"
	"slices"
	"strings"
	"testing"

	"github.com/backlot/backlot/actors/resize/turbojpeg"
)

// libjpeg-turbo 2.1's scaling factors, largest first.
var wantFactors = []turbojpeg.Factor{
	frac(2, 1), frac(15, 8), frac(7, 4), frac(13, 8), frac(3, 2), frac(11, 8), frac(5, 4), frac(9, 8),
	frac(1, 1), frac(7, 8), frac(3, 4), frac(5, 8), frac(1, 2), frac(3, 8), frac(1, 4), frac(1, 8),
}

// linked reports, from the test binary's own build settings rather than
// from the package under test, whether this build should link the library.
func linked(t testing.TB) bool {
	t.Helper()
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		t.Fatal("no build info")
	}
	cgo, tagged := false, false
	for _, s := range bi.Settings {
		switch s.Key {
		case "CGO_ENABLED":
			cgo = s.Value == "1"
		case "-tags":
			tagged = slices.Contains(strings.Split(s.Value, ","), "noturbojpeg")
		}
	}
	return cgo && !tagged
}

func TestAvailable(t *testing.T) {
	if turbojpeg.Available != linked(t) {
		t.Fatalf("Available = %v in a build where cgo linking is %v", turbojpeg.Available, linked(t))
	}
	if !turbojpeg.Available {
		if _, err := turbojpeg.ReadHeader([]byte("\xff\xd8")); !errors.Is(err, turbojpeg.ErrUnavailable) {
			t.Errorf("ReadHeader: %v, want ErrUnavailable", err)
		}
		if _, err := turbojpeg.Decode([]byte("\xff\xd8"), frac(1, 1), make([]byte, 1)); !errors.Is(err, turbojpeg.ErrUnavailable) {
			t.Errorf("Decode: %v, want ErrUnavailable", err)
		}
		if _, err := turbojpeg.DecodePixels([]byte("\xff\xd8"), frac(1, 1), make([]byte, 1)); !errors.Is(err, turbojpeg.ErrUnavailable) {
			t.Errorf("DecodePixels: %v, want ErrUnavailable", err)
		}
		return
	}
	if got := turbojpeg.Factors(); !slices.Equal(got, wantFactors) {
		t.Errorf("Factors() = %v, want %v", got, wantFactors)
	}
}

func frac(num, denom int) turbojpeg.Factor { return turbojpeg.Factor{Num: num, Denom: denom} }
