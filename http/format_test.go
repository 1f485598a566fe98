package http

import (
	"bytes"
	"context"
	"encoding/json"
	"image"
	"image/jpeg"
	"mime/multipart"
	"net"
	nethttp "net/http"
	"strings"
	"testing"

	"github.com/backlot/backlot/actors/resize"
	"github.com/backlot/backlot/persistence"
	"github.com/backlot/backlot/persistence/blob"
)

// TestUnavailableFormat: an upload asking for an output format this build
// cannot write (WebP and AVIF in the pure-Go build, which make test runs
// this test in too) gets a 400 naming the parameter and the format, over
// real HTTP, and nothing is stored; one this build writes is accepted.
func TestUnavailableFormat(t *testing.T) {
	st, bs := stores(t)
	s := New(Config{}, st, nil, bs, nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(ln)
	defer s.Shutdown(context.Background())
	var src bytes.Buffer
	if err := jpeg.Encode(&src, image.NewGray(image.Rect(0, 0, 32, 24)), nil); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		format persistence.Format
		field  string
		value  string
	}{
		{persistence.FormatWebP, "format", "webp"},
		{persistence.FormatAVIF, "format", "avif"},
		{persistence.FormatWebP, "variants", `[{"name":"thumb","width":64,"height":64,"format":"webp"}]`},
		{persistence.FormatJPEG, "format", "jpeg"},
	} {
		var body bytes.Buffer
		w := multipart.NewWriter(&body)
		w.WriteField(tc.field, tc.value)
		fw, _ := w.CreateFormFile("images", "a.jpg")
		fw.Write(src.Bytes())
		w.Close()
		resp, err := nethttp.Post("http://"+ln.Addr().String()+"/api/images", w.FormDataContentType(), &body)
		if err != nil {
			t.Fatal(err)
		}
		var reply struct {
			Code  string `json:"code"`
			Error string `json:"error"`
			Param string `json:"param"`
		}
		json.NewDecoder(resp.Body).Decode(&reply)
		resp.Body.Close()
		can := resize.CanEncode(tc.format) == nil
		switch {
		case can && resp.StatusCode != nethttp.StatusAccepted:
			t.Errorf("%s=%s in a build that writes it: %d %+v", tc.field, tc.value, resp.StatusCode, reply)
		case !can && (resp.StatusCode != nethttp.StatusBadRequest || reply.Code != "invalid_parameter" ||
			reply.Param != tc.field || !strings.Contains(reply.Error, string(tc.format))):
			t.Errorf("%s=%s in a build that cannot write it: %d %+v, want 400 naming %q and %s", tc.field, tc.value, resp.StatusCode, reply, tc.field, tc.format)
		}
	}
	var kept []string
	bs.List(context.Background(), blob.BatchesPrefix, func(i blob.Info) error { kept = append(kept, i.Key); return nil })
	want := 1 // the JPEG upload's source
	for _, f := range []persistence.Format{persistence.FormatWebP, persistence.FormatAVIF} {
		if resize.CanEncode(f) == nil {
			want++
		}
	}
	if resize.CanEncode(persistence.FormatWebP) == nil {
		want++ // the variants upload
	}
	if len(kept) != want {
		t.Errorf("objects kept %v, want %d (refused uploads leave nothing)", kept, want)
	}
}
