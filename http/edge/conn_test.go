package edge

import (
	"io"
	"net"
	"strings"
	"testing"
)

// TestCloseFromAnotherGoroutine: a shutdown closes connections from its
// own goroutine while their goroutines read requests. Close once read the
// reader's state to decide on a linger, a data race the race detector
// caught during a cmd/backlot test's shutdown (fasthttp closeIdleConns
// against Conn.Read); it now reads an atomic copy. This runs the same
// path on purpose, under make test's -race: Close mid-pipeline, the
// reader ending with an error, a second Close refused.
func TestCloseFromAnotherGoroutine(t *testing.T) {
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := Listen(raw, Config{})
	defer ln.Close()
	accepted := make(chan *Conn, 1)
	served := make(chan int, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			close(accepted)
			return
		}
		conn := c.(*Conn)
		accepted <- conn
		// the server's goroutine: read requests until the connection ends
		n, buf := 0, make([]byte, 64)
		for {
			k, err := conn.Read(buf)
			n += k
			if err != nil {
				served <- n
				return
			}
		}
	}()
	client, err := net.Dial("tcp", raw.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	conn := <-accepted // before any request: it orders nothing read later
	if conn == nil {
		t.Fatal("accept failed")
	}
	// Pipelined requests keep the reader changing state while it is closed.
	if _, err := io.WriteString(client, strings.Repeat("GET / HTTP/1.1\r\nHost: x\r\n\r\n", 2000)); err != nil {
		t.Fatal(err)
	}
	if err := conn.Close(); err != nil { // as fasthttp's closeIdleConns does
		t.Fatal(err)
	}
	if err := conn.Close(); err == nil {
		t.Error("a second Close succeeded")
	}
	<-served
}
