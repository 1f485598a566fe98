// Package web serves Backlot's browser page (GET /) and its assets
// (GET /static/*). They are embedded in the binary and plain files: no
// build step, no framework, nothing loaded from another origin.
package web

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"mime"
	"path"

	"github.com/gofiber/fiber/v2"
)

//go:embed static
var static embed.FS

// csp allows only this origin, plus blob: for the local previews of the
// chosen files.
const csp = "default-src 'self'; img-src 'self' blob:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

type asset struct {
	body        []byte
	ctype, etag string
}

// Register mounts the page and its assets on app: GET / and GET /static/*.
func Register(app *fiber.App) {
	assets := load()
	serve := func(c *fiber.Ctx, name string) error {
		a, ok := assets[name]
		if !ok {
			return fiber.ErrNotFound
		}
		c.Set(fiber.HeaderContentType, a.ctype)
		// The names carry no version, so browsers revalidate each time;
		// the ETag makes that a 304.
		c.Set(fiber.HeaderCacheControl, "no-cache")
		c.Set(fiber.HeaderETag, a.etag)
		c.Set(fiber.HeaderXContentTypeOptions, "nosniff")
		if name == "index.html" {
			c.Set(fiber.HeaderContentSecurityPolicy, csp)
		}
		if c.Get(fiber.HeaderIfNoneMatch) == a.etag {
			return c.SendStatus(fiber.StatusNotModified)
		}
		return c.Send(a.body)
	}
	app.Get("/", func(c *fiber.Ctx) error { return serve(c, "index.html") })
	app.Get("/static/*", func(c *fiber.Ctx) error { return serve(c, c.Params("*")) })
}

// load reads every embedded file once; a failure is a broken build.
func load() map[string]asset {
	m := map[string]asset{}
	err := fs.WalkDir(static, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := static.ReadFile(p)
		if err != nil {
			return err
		}
		ctype := mime.TypeByExtension(path.Ext(p))
		if ctype == "" {
			ctype = "application/octet-stream"
		}
		sum := sha256.Sum256(b)
		m[p[len("static/"):]] = asset{b, ctype, `"` + hex.EncodeToString(sum[:8]) + `"`}
		return nil
	})
	if err != nil {
		panic("web: reading embedded assets: " + err.Error())
	}
	return m
}
