package http

import (
	"bytes"
	"errors"
	"io"
	"mime/multipart"
	"net/textproto"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"
)

// TestLimitReader: a body of exactly the limit is fine; one byte more is
// over it, and says so.
func TestLimitReader(t *testing.T) {
	for _, tc := range []struct {
		size, limit int64
		over        bool
	}{
		{0, 10, false}, {9, 10, false}, {10, 10, false}, {11, 10, true}, {1000, 10, true},
	} {
		lr := &limitReader{r: bytes.NewReader(make([]byte, tc.size)), n: tc.limit}
		n, err := io.Copy(io.Discard, lr)
		var le *limitError
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
