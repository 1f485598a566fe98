// Package web serves Backlot's browser page (GET /), embedded in the binary.
package web

import (
	"embed"
	"io/fs"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/filesystem"
)

//go:embed static
var static embed.FS

// Register mounts the page and its assets on app: GET / and GET /static/*.
func Register(app *fiber.App) {
	sub, _ := fs.Sub(static, "static")
	app.Get("/", func(c *fiber.Ctx) error {
		b, err := fs.ReadFile(sub, "index.html")
		if err != nil {
			return err
		}
		c.Type("html", "utf-8")
		return c.Send(b)
	})
	app.Use("/static", filesystem.New(filesystem.Config{Root: httpFS(sub)}))
}
