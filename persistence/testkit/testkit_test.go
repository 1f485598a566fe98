package testkit

import (
	"bytes"
	"image/jpeg"
	"image/png"
	"net"
	"testing"
	"time"
)

func TestEventually(t *testing.T) {
	n := 0
	Eventually(t, 5*time.Second, "three polls", func() bool { n++; return n == 3 })
	if n != 3 {
		t.Fatalf("polled %d times, want 3", n)
	}
}

func TestRecv(t *testing.T) {
	ch := make(chan int, 1)
	ch <- 7
	if v := Recv(t, ch, time.Second, "a value"); v != 7 {
		t.Fatalf("Recv = %d", v)
	}
}

func TestFreeAddr(t *testing.T) {
	ln, err := net.Listen("tcp", FreeAddr(t))
	if err != nil {
		t.Fatalf("listen on the free address: %v", err)
	}
	ln.Close()
}

func TestImages(t *testing.T) {
	if !bytes.Equal(JPEG(t, 32, 24, 1), JPEG(t, 32, 24, 1)) || bytes.Equal(JPEG(t, 32, 24, 1), JPEG(t, 32, 24, 2)) {
		t.Fatal("JPEG is not a function of its seed")
	}
	if c, err := jpeg.DecodeConfig(bytes.NewReader(JPEG(t, 32, 24, 1))); err != nil || c.Width != 32 || c.Height != 24 {
		t.Fatalf("JPEG: %+v, %v", c, err)
	}
	if c, err := png.DecodeConfig(bytes.NewReader(PNG(t, 20, 10, 1))); err != nil || c.Width != 20 || c.Height != 10 {
		t.Fatalf("PNG: %+v, %v", c, err)
	}
}
