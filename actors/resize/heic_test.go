package resize

import (
	"errors"
	"image/color"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/backlot/backlot/actors/resize/heif"
	"github.com/backlot/backlot/persistence"
)

// testdata/heif holds a 64x48 image (top half red, bottom half blue, a
// green square at the top left) as heif-enc 1.15 wrote it: halves.heic
// (HEVC, x265) and halves.avif (AV1, libaom).

func TestSniffHEIF(t *testing.T) {
	box := func(major string, compat ...string) []byte {
		b := []byte{0, 0, 0, byte(16 + 4*len(compat))}
		b = append(b, "ftyp"+major+"\x00\x00\x00\x00"...)
		for _, c := range compat {
			b = append(b, c...)
		}
		return append(b, "\x00\x00\x00\x08meta"...)
	}
	for _, c := range []struct {
		head []byte
		want string
	}{
		{box("heic", "mif1", "heic"), "heic"},
		{box("heix", "mif1"), "heic"},
		{box("avif", "mif1", "miaf"), "avif"},
		{box("mif1", "avif"), "avif"},
		{box("mif1", "miaf", "heic"), "heic"},
		{box("mif1", "miaf"), "heif"},
		{box("msf1", "hevc"), "heic"},
		{box("isom", "iso2", "mp41"), ""}, // an MP4 video
		{box("qt  "), ""},
		{[]byte("\x00\x00\x00\x0cftypheic"), ""}, // too short a box
		{[]byte("\x00\x00\x00\x13ftypheic\x00\x00\x00\x00mif"), ""},
	} {
		got, ok := Sniff(c.head)
		if ok != (c.want != "") || got != c.want {
			t.Errorf("Sniff(%q) = %q, %v; want %q", c.head, got, ok, c.want)
		}
	}
	for name, want := range map[string]string{"halves.heic": "heic", "halves.avif": "avif"} {
		b, err := os.ReadFile(filepath.Join("testdata", "heif", name))
		if err != nil {
			t.Fatal(err)
		}
		if got, ok := Sniff(b[:sniffLen]); !ok || got != want {
			t.Errorf("Sniff(%s) = %q, %v", name, got, ok)
		}
	}
}

// TestHEIFInput: with libheif, HEIC and AVIF uploads probe from their
// boxes (size, pixel limit) and resize like any other image; without,
// the probe refuses them with ErrNoDecoder, naming the format.
func TestHEIFInput(t *testing.T) {
	for _, name := range []string{"halves.heic", "halves.avif"} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join("testdata", "heif", name)
			f, err := openFile(path)
			if err != nil {
				t.Fatal(err)
			}
			info, err := Probe(f, 0)
			f.Close()
			format := strings.TrimPrefix(filepath.Ext(name), ".")
			if !heif.Available {
				if !errors.Is(err, ErrNoDecoder) || !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), strings.ToUpper(format)) {
					t.Fatalf("Probe without libheif: %v, want ErrNoDecoder naming %s", err, strings.ToUpper(format))
				}
				return
			}
			if err != nil || info != (Info{Format: format, Width: 64, Height: 48}) {
				t.Fatalf("Probe = %+v, %v", info, err)
			}
			f, _ = openFile(path)
			if _, err := Probe(f, 64*48-1); !errors.Is(err, ErrTooManyPixels) {
				t.Errorf("Probe over the pixel limit: %v", err)
			}
			f.Close()
			out, res := processOK(t, path, options(32, 24, persistence.FitFill, persistence.FormatPNG), Limits{})
			if res.Width != 32 || res.Height != 24 {
				t.Fatalf("result %dx%d", res.Width, res.Height)
			}
			for _, p := range []struct {
				x, y int
				want string
			}{{2, 2, "green"}, {20, 4, "red"}, {16, 20, "blue"}} {
				if got := hue(out.At(p.x, p.y)); got != p.want {
					t.Errorf("(%d,%d) is %v, want %s", p.x, p.y, out.At(p.x, p.y), p.want)
				}
			}
		})
	}
}

// TestHEIFHostile: truncated and corrupted HEIF files fail as
// unsupported at the probe or permanently at the decode, never crash.
func TestHEIFHostile(t *testing.T) {
	if !heif.Available {
		t.Skip("no libheif in this build")
	}
	good, err := os.ReadFile(filepath.Join("testdata", "heif", "halves.heic"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cases := map[string][]byte{
		"header only": good[:48],
		"cut in half": good[:len(good)/2],
		"mdat zeroed": append(append([]byte(nil), good[:len(good)-64]...), make([]byte, 64)...),
	}
	for name, data := range cases {
		t.Run(name, func(t *testing.T) {
			path := writeFile(t, dir, strings.ReplaceAll(name, " ", "-"), data)
			f, _ := openFile(path)
			_, err := Probe(f, 0)
			f.Close()
			if err != nil {
				if !errors.Is(err, ErrUnsupported) {
					t.Fatalf("Probe: %v, want ErrUnsupported", err)
				}
				return
			}
			_, err = processFile(path, filepath.Join(dir, "out"), persistence.DefaultOptions(), Limits{})
			if err != nil && !Permanent(err) {
				t.Errorf("Process: %v, want a permanent error or success", err)
			}
		})
	}
}

// TestHEIFOrientation: a HEIC whose container rotates it for display
// (irot, 90° clockwise) comes out rotated once, as a phone shows it: its
// EXIF orientation 6 says the same thing again and is not applied on top
// (testdata/heif/rot90.c wrote the file).
func TestHEIFOrientation(t *testing.T) {
	if !heif.Available {
		t.Skip("no libheif in this build: HEIF input is refused (TestHEIFInput)")
	}
	path := filepath.Join("testdata", "heif", "rot90.heic")
	f, err := openFile(path)
	if err != nil {
		t.Fatal(err)
	}
	info, err := Probe(f, 0)
	f.Close()
	if err != nil || info.Width != 48 || info.Height != 64 {
		t.Fatalf("Probe = %+v, %v; want 48x64, as displayed", info, err)
	}
	out, res := processOK(t, path, options(24, 32, persistence.FitFill, persistence.FormatPNG), Limits{})
	if res.Width != 24 || res.Height != 32 {
		t.Fatalf("result %dx%d, want 24x32", res.Width, res.Height)
	}
	// Stored: green top left, red top right, blue below. Turned 90°
	// clockwise: green top right, red bottom right, blue on the left.
	for _, p := range []struct {
		x, y int
		want string
	}{{20, 4, "green"}, {20, 28, "red"}, {4, 16, "blue"}} {
		if got := hue(out.At(p.x, p.y)); got != p.want {
			t.Errorf("(%d,%d) is %v, want %s", p.x, p.y, out.At(p.x, p.y), p.want)
		}
	}
}

// hue names the primary that dominates c ("red", "green", "blue"), or "".
func hue(c color.Color) string {
	r, g, b, _ := c.RGBA()
	switch {
	case r > 2*g && r > 2*b:
		return "red"
	case g > 2*r && g > 2*b:
		return "green"
	case b > 2*r && b > 2*g:
		return "blue"
	}
	return ""
}
