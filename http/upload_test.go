package http

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	nethttp "net/http"
	"net/textproto"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/gofiber/fiber/v2"

	"github.com/backlot/backlot/persistence/blob"
)

// TestBodyLimit: a body of exactly the limit is fine; one byte more is
// over it, and says so.
func TestBodyLimit(t *testing.T) {
	for _, tc := range []struct {
		size, limit int64
		over        bool
	}{
		{0, 10, false}, {9, 10, false}, {10, 10, false}, {11, 10, true}, {1000, 10, true},
	} {
		lr := newBody(bytes.NewReader(make([]byte, tc.size)), tc.limit)
		n, err := io.Copy(io.Discard, lr)
		var le *nethttp.MaxBytesError
		if tc.over != errors.As(err, &le) || tc.over != lr.over {
			t.Errorf("size %d limit %d: read %d, err %v, over %v", tc.size, tc.limit, n, err, lr.over)
		}
		if !tc.over && (err != nil || n != tc.size) {
			t.Errorf("size %d limit %d: read %d, err %v", tc.size, tc.limit, n, err)
		}
	}
}

func TestClientName(t *testing.T) {
	for _, tc := range []struct{ disposition, want string }{
		{`form-data; name="images"; filename="cat.jpg"`, "cat.jpg"},
		{`form-data; name="images"; filename="../../x.jpg"`, "../../x.jpg"},
		{`form-data; name="images"; filename="a` + "\t" + `b.png"`, "ab.png"},
		{`form-data; name="images"; filename="` + strings.Repeat("é", 300) + `"`, strings.Repeat("é", 255)},
		{`form-data; name="images"`, ""},
		// Bidi controls and C1 controls go too: what is stored and shown
		// reads as what it is.
		{`form-data; name="images"; filename="cat` + "\u202e" + `gnp.exe"`, "catgnp.exe"},
		{`form-data; name="images"; filename="` + "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069" + `x.png"`, "x.png"},
		{`form-data; name="images"; filename*=UTF-8''a%C2%85%C2%9B%7F%00b.png`, "ab.png"},
		{`form-data; name="images"; filename*=UTF-8''%E2%80%AEevil%E2%80%AC.png`, "evil.png"},
		// Letters of right-to-left scripts, and joiners, are kept.
		{`form-data; name="images"; filename="` + "\u05e9\u05dc\u05d5\u05dd \u0645\u0631\u062d\u0628\u0627\u200d" + `.png"`, "\u05e9\u05dc\u05d5\u05dd \u0645\u0631\u062d\u0628\u0627\u200d.png"},
	} {
		var buf bytes.Buffer
		w := multipart.NewWriter(&buf)
		h := textproto.MIMEHeader{}
		h.Set("Content-Disposition", tc.disposition)
		pw, _ := w.CreatePart(h)
		pw.Write([]byte("x"))
		w.Close()
		p, err := multipart.NewReader(&buf, w.Boundary()).NextPart()
		if err != nil {
			t.Fatal(err)
		}
		if got := clientName(p); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.disposition, got, tc.want)
		}
	}
}

// TestCodeOf: what the metrics count is what the client is answered.
func TestCodeOf(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{apiError(400, "no_images", "x"), "no_images"},
		{fiber.ErrRequestEntityTooLarge, "body_too_large"},
		{fiber.ErrNotFound, "not_found"},
		{errors.New("disk on fire"), "internal"},
	} {
		if got := codeOf(tc.err); got != tc.want {
			t.Errorf("codeOf(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}

// TestShownRune: exactly the control characters and the bidi controls
// listed in API.md's issue are dropped from filenames.
func TestShownRune(t *testing.T) {
	dropped := []rune{0x00, 0x09, 0x0a, 0x1f, 0x7f, 0x80, 0x85, 0x9f, 0x061c, 0x200e, 0x200f,
		0x202a, 0x202b, 0x202c, 0x202d, 0x202e, 0x2066, 0x2067, 0x2068, 0x2069}
	kept := []rune{' ', 'a', '.', '/', 0xa0, 0x061b, 0x061d, 0x200d, 0x2065, 0x206a, 0x202f, 0x05d0, 0xfffd, 0x1f600}
	for _, r := range dropped {
		if shownRune(r) {
			t.Errorf("U+%04X kept", r)
		}
	}
	for _, r := range kept {
		if !shownRune(r) {
			t.Errorf("U+%04X dropped", r)
		}
	}
}

// TestStorageErrors: the blob store out of room (blob.ErrInsufficientStorage)
// and a full disk under the store's commit (ENOSPC, EDQUOT), however
// wrapped, are API.md 1.1's 507 insufficient_storage with Retry-After; the
// blob store unreachable (blob.ErrUnavailable) is 503 store_unavailable
// with Retry-After; other errors are internal.
func TestStorageErrors(t *testing.T) {
	for _, tc := range []struct {
		err    error
		status int
		code   string
	}{
		{syscall.ENOSPC, fiber.StatusInsufficientStorage, "insufficient_storage"},
		{syscall.EDQUOT, fiber.StatusInsufficientStorage, "insufficient_storage"},
		{fmt.Errorf("commit batch: %w", &os.PathError{Op: "write", Path: "x", Err: syscall.ENOSPC}), fiber.StatusInsufficientStorage, "insufficient_storage"},
		{fmt.Errorf("write upload file: %w", blob.ErrInsufficientStorage), fiber.StatusInsufficientStorage, "insufficient_storage"},
		{fmt.Errorf("open result: %w", blob.ErrUnavailable), fiber.StatusServiceUnavailable, "store_unavailable"},
	} {
		e := asAPIError(tc.err)
		if e == nil || e.Status != tc.status || e.Code != tc.code || e.RetryAfter <= 0 || codeOf(tc.err) != tc.code {
			t.Errorf("asAPIError(%v) = %#v", tc.err, e)
		}
	}
	other := errors.New("disk on fire")
	if asAPIError(other) != nil || codeOf(other) != "internal" {
		t.Error("another error is not internal")
	}
}

// TestPrefixSource: the kept first bytes of a file read as the file does
// within them, and say so past them (the probe then reads the object).
func TestPrefixSource(t *testing.T) {
	var p prefix
	p.reset([]byte("abc"))
	p.Write([]byte("defgh"))
	whole, cut := p.source(8), p.source(100)
	for _, tc := range []struct {
		src     *prefixSource
		off     int64
		n       int
		want    string
		wantErr error
	}{
		{whole, 0, 4, "abcd", nil},
		{whole, 6, 4, "gh", io.EOF},
		{whole, 8, 1, "", io.EOF},
		{cut, 2, 3, "cde", nil},
		{cut, 6, 4, "gh", errBeyondPrefix},
		{cut, 50, 4, "", errBeyondPrefix},
		{cut, 100, 1, "", io.EOF},
	} {
		buf := make([]byte, tc.n)
		n, err := tc.src.ReadAt(buf, tc.off)
		if string(buf[:n]) != tc.want || !errors.Is(err, tc.wantErr) && err != tc.wantErr {
			t.Errorf("ReadAt(%d, %d) of a %d-byte file = %q, %v; want %q, %v", tc.n, tc.off, tc.src.size, buf[:n], err, tc.want, tc.wantErr)
		}
	}
	if whole.beyond || !cut.beyond {
		t.Errorf("beyond: whole %v, cut %v; want false, true", whole.beyond, cut.beyond)
	}
	p.reset(make([]byte, 10))
	p.Write(make([]byte, 2*prefixLen))
	if len(p.b) != prefixLen {
		t.Errorf("kept %d bytes, want %d", len(p.b), prefixLen)
	}
}
