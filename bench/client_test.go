package bench

import (
	"bytes"
	"io"
	"mime"
	"mime/multipart"
	"testing"
)

// parts reads an upload body back with mime/multipart: the file parts'
// bytes in order.
func parts(t *testing.T, ctype string, body []byte) [][]byte {
	t.Helper()
	_, params, err := mime.ParseMediaType(ctype)
	if err != nil {
		t.Fatal(err)
	}
	r := multipart.NewReader(bytes.NewReader(body), params["boundary"])
	var out [][]byte
	for {
		p, err := r.NextPart()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		if p.FormName() != "images" {
			continue
		}
		b, err := io.ReadAll(p)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
}

// TestBodyCache: a file set's body is built once and then shared; another
// set gets its own; past the bound, or without a set name, each call
// builds afresh; every body carries exactly its files.
func TestBodyCache(t *testing.T) {
	a := File{Name: "a.jpg", ContentType: "image/jpeg", Data: bytes.Repeat([]byte{1}, 1000)}
	b := File{Name: "b.jpg", ContentType: "image/jpeg", Data: bytes.Repeat([]byte{2}, 1000)}
	c := &client{fields: [][2]string{{"width", "100"}}}
	check := func(ctype string, body []byte, want ...File) {
		t.Helper()
		got := parts(t, ctype, body)
		if len(got) != len(want) {
			t.Fatalf("%d file parts, want %d", len(got), len(want))
		}
		for i := range want {
			if !bytes.Equal(got[i], want[i].Data) {
				t.Fatalf("part %d is not %s", i, want[i].Name)
			}
		}
	}
	ct1, b1, err := c.body("0+2", []File{a, b})
	if err != nil {
		t.Fatal(err)
	}
	ct2, b2, _ := c.body("0+2", []File{a, b})
	if ct1 != ct2 || &b1[0] != &b2[0] {
		t.Fatal("the same set was built twice")
	}
	check(ct1, b1, a, b)
	ct3, b3, _ := c.body("1+2", []File{b, a})
	if &b3[0] == &b1[0] {
		t.Fatal("another set got the first set's body")
	}
	check(ct3, b3, b, a)
	_, b4, _ := c.body("", []File{a, b})
	_, b5, _ := c.body("", []File{a, b})
	if &b4[0] == &b5[0] || &b4[0] == &b1[0] {
		t.Fatal("an unnamed set was cached")
	}

	c.bodies.bytes = bodyCacheMax // full
	_, b6, _ := c.body("2+1", []File{a})
	_, b7, _ := c.body("2+1", []File{a})
	if &b6[0] == &b7[0] {
		t.Fatal("cached past the bound")
	}
	check("multipart/form-data; boundary="+boundaryOf(t, b6), b6, a)
}

// boundaryOf is the boundary a body starts with ("--" + boundary).
func boundaryOf(t *testing.T, body []byte) string {
	t.Helper()
	line, _, ok := bytes.Cut(body, []byte("\r\n"))
	if !ok || !bytes.HasPrefix(line, []byte("--")) {
		t.Fatalf("body does not start with a boundary: %.40q", body)
	}
	return string(line[2:])
}
