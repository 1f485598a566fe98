package bench

import (
	"errors"
	"flag"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseFlags(t *testing.T) {
	defaults := Config{
		Size: Size{1920, 1080}, Seeds: 4, PerBatch: 2, InFlight: 8, Total: 200,
		Drain: time.Minute, Timeout: 5 * time.Minute, Width: 100, Height: 100, Progress: "auto", Calibrate: true,
	}
	for _, tc := range []struct {
		name string
		args []string
		want func(*Config)
	}{
		{"defaults", nil, func(c *Config) {}},
		{"urls repeated and comma-separated", []string{"--url", "http://127.0.0.1:1/,http://localhost:2", "--url=https://h:3"},
			func(c *Config) { c.URLs = []string{"http://127.0.0.1:1", "http://localhost:2", "https://h:3"} }},
		{"files instead of size", []string{"--files", "a.jpg,b.png", "--files", "c.gif"},
			func(c *Config) { c.Size, c.Files = Size{}, []string{"a.jpg", "b.png", "c.gif"} }},
		{"duration alone has no total", []string{"--duration", "1m"},
			func(c *Config) { c.Total, c.Duration = 0, time.Minute }},
		{"both bounds", []string{"--duration", "1m", "--total", "10"},
			func(c *Config) { c.Total, c.Duration = 10, time.Minute }},
		{"the rest", []string{"--size", "640X480", "--per-batch", "3", "--in-flight", "1", "--warmup", "5", "--width", "64",
			"--height", "32", "--fit", "contain", "--format", "png", "--quality", "70", "--token", "t", "--json", "r.json",
			"--label", "x", "--allow-errors", "--serve-arg", "--workers=4", "--serve-arg", "--max-files", "--serve-arg", "7",
			"--pid", "12,13", "--progress", "lines", "--drain", "5s", "--batch-timeout", "9s", "--seeds", "2",
			"--rate", "12.5", "--calibrate=false"},
			func(c *Config) {
				c.Size, c.PerBatch, c.InFlight, c.Warmup, c.Width, c.Height = Size{640, 480}, 3, 1, 5, 64, 32
				c.Fit, c.Format, c.Quality, c.Token, c.JSON, c.Label, c.AllowErrors = "contain", "png", 70, "t", "r.json", "x", true
				c.ServeArgs, c.PIDs, c.Progress = []string{"--workers=4", "--max-files", "7"}, []int{12, 13}, "lines"
				c.Drain, c.Timeout, c.Seeds = 5*time.Second, 9*time.Second, 2
				c.Rate, c.Calibrate = 12.5, false
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseFlags(tc.args, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			want := defaults
			tc.want(&want)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got  %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestParseFlagsErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--size", "big"}, "not a size"},
		{[]string{"--size", "0x10"}, "not a size"},
		{[]string{"--size", "10x10", "--files", "a.jpg"}, "exclude each other"},
		{[]string{"--per-batch", "0"}, "--per-batch"},
		{[]string{"--in-flight", "0"}, "--in-flight"},
		{[]string{"--rate", "-2"}, "--rate"},
		{[]string{"--total", "-1"}, "--total"},
		{[]string{"--url", "127.0.0.1:8080"}, "not a base URL"},
		{[]string{"--url", "ftp://h/"}, "not a base URL"},
		{[]string{"--pid", "x"}, "not a process id"},
		{[]string{"--progress", "loud"}, "--progress"},
		{[]string{"--width", "0"}, "--width"},
		{[]string{"extra"}, "unexpected arguments"},
		{[]string{"--nope"}, "not defined"},
	} {
		_, err := ParseFlags(tc.args, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want one saying %q", tc.args, err, tc.want)
		}
	}
}

func TestParseFlagsHelp(t *testing.T) {
	var b strings.Builder
	_, err := ParseFlags([]string{"-h"}, &b)
	if !errors.Is(err, flag.ErrHelp) || !strings.HasPrefix(b.String(), Usage) || !strings.Contains(b.String(), "-in-flight") {
		t.Errorf("err %v, usage:\n%s", err, b.String())
	}
}

func TestEventsURL(t *testing.T) {
	for _, tc := range []struct {
		base string
		r    uploadReply
		want string
	}{
		{"http://h:1", uploadReply{BatchID: "b1", Events: "/api/images/b1/events"}, "http://h:1/api/images/b1/events"},
		{"http://h:1", uploadReply{BatchID: "b1"}, "http://h:1/api/images/b1/events"},
		{"http://h:1/prefix", uploadReply{BatchID: "b/1"}, "http://h:1/api/images/b%2F1/events"},
		{"http://h:1", uploadReply{BatchID: "b1", Events: "http://other:2/e"}, "http://other:2/e"},
	} {
		got, err := eventsURL(tc.base, tc.r)
		if err != nil || got != tc.want {
			t.Errorf("eventsURL(%q, %+v) = %q, %v; want %q", tc.base, tc.r, got, err, tc.want)
		}
	}
}

func TestHTTPFailure(t *testing.T) {
	for _, tc := range []struct {
		status       int
		raw          string
		kind, detail string
	}{
		{503, `{"error":"full","code":"queue_full"}`, "upload: http 503 queue_full", "full"},
		{400, `{"error":"no files"}`, "upload: http 400", "no files"},
		{502, `<html>bad gateway</html>`, "upload: http 502", "<html>bad gateway</html>"},
	} {
		kind, detail := httpFailure("upload", tc.status, []byte(tc.raw))
		if kind != tc.kind || detail != tc.detail {
			t.Errorf("%d %s: %q %q", tc.status, tc.raw, kind, detail)
		}
	}
}
