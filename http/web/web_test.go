package web

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"
)

func TestAssets(t *testing.T) {
	app := fiber.New()
	Register(app)
	for _, tc := range []struct {
		path, ctype, body string
	}{
		{"/", "text/html", `<input id="files"`},
		{"/static/app.js", "javascript", "import { Batch }"},
		{"/static/batch.js", "javascript", "new EventSource("},
		{"/static/style.css", "text/css", ":root"},
		{"/static/favicon.svg", "image/svg+xml", "<svg"},
	} {
		resp, err := app.Test(httptest.NewRequest("GET", tc.path, nil))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("Content-Type"), tc.ctype) ||
			resp.Header.Get("Cache-Control") != "no-cache" || !strings.Contains(string(body), tc.body) {
			t.Errorf("GET %s: %d %q %q", tc.path, resp.StatusCode, resp.Header.Get("Content-Type"), resp.Header.Get("Cache-Control"))
		}
		if tc.path == "/" && !strings.Contains(resp.Header.Get("Content-Security-Policy"), "default-src 'self'") {
			t.Errorf("GET /: no CSP")
		}

		req := httptest.NewRequest("GET", tc.path, nil)
		req.Header.Set("If-None-Match", resp.Header.Get("ETag"))
		resp, err = app.Test(req)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != 304 {
			t.Errorf("GET %s with its ETag: %d, want 304", tc.path, resp.StatusCode)
		}
	}
	for _, p := range []string{"/static/nope.js", "/static/", "/static/../web.go"} {
		resp, err := app.Test(httptest.NewRequest("GET", p, nil))
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != 404 {
			t.Errorf("GET %s: %d, want 404", p, resp.StatusCode)
		}
	}
}
