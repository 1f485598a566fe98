// Package testkit holds the helpers the tests of every layer share: a
// bounded wait on a condition or a channel, a free port on 127.0.0.1 and
// photo-like images. It imports nothing of Backlot, so any test may use
// it; no production code does.
package testkit

import (
	"bytes"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math/rand/v2"
	"net"
	"testing"
	"time"
)

// Eventually polls cond every 10 ms until it holds, and fails the test if
// it does not within the bound: a deadlock guard, not a speed assertion,
// for waits that have no event to wait on.
func Eventually(tb testing.TB, within time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(within)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out after %v waiting for %s", within, what)
		}
		<-tick.C
	}
}

// Recv waits for one value on ch, failing the test after within.
func Recv[T any](tb testing.TB, ch <-chan T, within time.Duration, what string) T {
	tb.Helper()
	t := time.NewTimer(within)
	defer t.Stop()
	select {
	case v := <-ch:
		return v
	case <-t.C:
		tb.Fatalf("%s: nothing after %s", what, within)
		var zero T
		return zero
	}
}

// FreeAddr is a port on 127.0.0.1 the kernel just handed out; another
// process may take it before the caller listens on it, which callers
// that start servers retry.
func FreeAddr(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// Photo is a photo-like image: gradients, noise and an edge, the same for
// the same seed.
func Photo(w, h int, seed uint64) *image.RGBA {
	r := rand.New(rand.NewPCG(seed, 7))
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			n := uint8(r.IntN(24))
			c := color.RGBA{uint8(x * 255 / w), uint8(y * 255 / h), uint8((x + y) % 256), 255}
			if x > w/2 {
				c.B = 255 - c.B
			}
			img.SetRGBA(x, y, color.RGBA{c.R/2 + n, c.G/2 + n, c.B/2 + n, 255})
		}
	}
	return img
}

// JPEG is Photo(w, h, seed) as a JPEG of quality 90.
func JPEG(tb testing.TB, w, h int, seed uint64) []byte {
	tb.Helper()
	var b bytes.Buffer
	if err := jpeg.Encode(&b, Photo(w, h, seed), &jpeg.Options{Quality: 90}); err != nil {
		tb.Fatal(err)
	}
	return b.Bytes()
}

// PNG is Photo(w, h, seed) as a PNG.
func PNG(tb testing.TB, w, h int, seed uint64) []byte {
	tb.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, Photo(w, h, seed)); err != nil {
		tb.Fatal(err)
	}
	return b.Bytes()
}
