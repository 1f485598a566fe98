package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/backlot/backlot/http/sse"
)

// client drives one batch at a time through the public API. It is shared
// by the workers; its only mutable part is the cache of upload bodies.
type client struct {
	trace  bool // keep each batch's events (Config.Trace)
	http   *http.Client
	token  string
	fields [][2]string
	bodies bodyCache
}

// bodyCacheMax bounds the upload bodies a run keeps built: the batches of a
// run cycle through the same few file sets (at most one per file), so the
// bodies are built once instead of once per batch, which had cost the
// client a copy and an allocation of every upload (about 10 % of its CPU
// at 1920x1080). Past the bound each body is built for its batch.
const bodyCacheMax = 256 << 20

// bodyCache holds built multipart bodies by file set: which of the run's
// files, from where and how many (see runPhase).
type bodyCache struct {
	mu    sync.Mutex
	m     map[string]cachedBody
	bytes int
}

type cachedBody struct {
	ctype string
	body  []byte
}

// body is multipartBody(fields, files), built once per file set (k names
// it; "" means do not cache) while the cache has room. The bytes are
// shared: callers only read them.
func (c *client) body(k string, files []File) (string, []byte, error) {
	if k == "" {
		return multipartBody(c.fields, files)
	}
	c.bodies.mu.Lock()
	b, ok := c.bodies.m[k]
	c.bodies.mu.Unlock()
	if ok {
		return b.ctype, b.body, nil
	}
	ctype, body, err := multipartBody(c.fields, files)
	if err != nil {
		return "", nil, err
	}
	c.bodies.mu.Lock()
	defer c.bodies.mu.Unlock()
	if _, ok := c.bodies.m[k]; !ok && c.bodies.bytes+len(body) <= bodyCacheMax {
		if c.bodies.m == nil {
			c.bodies.m = make(map[string]cachedBody)
		}
		c.bodies.m[k] = cachedBody{ctype, body}
		c.bodies.bytes += len(body)
	}
	return ctype, body, nil
}

func newClient(c Config) *client {
	tr := &http.Transport{
		Proxy:       nil, // the servers are local; never route through an env proxy
		DialContext: (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		// An upload and an event stream per batch in flight, per node.
		MaxIdleConnsPerHost: 2*c.InFlight + 2,
		// Under Node's 5 s keep-alive: the client closes an idle connection
		// before the server can, so a POST never lands on a connection the
		// server is closing (Go does not retry a POST on one).
		IdleConnTimeout:    4 * time.Second,
		DisableCompression: true,
	}
	return &client{http: &http.Client{Transport: tr}, token: c.Token, fields: c.fields(), trace: c.Trace != nil}
}

func (c *client) close() { c.http.CloseIdleConnections() }

// failure is one counted error: a kind of bounded cardinality for the
// report's table and one example detail.
type failure struct{ kind, detail string }

// Trace is one batch as the client saw it (Config.Trace).
type Trace struct {
	URL      string        // the server it was uploaded to
	BatchID  string        // from the 202; "" when the upload was not accepted
	Status   int           // the upload's HTTP status; 0 when no reply was read
	Images   int           // sent in the upload
	Start    time.Time     // the upload's start
	Upload   time.Duration // upload start to 202 read
	Events   []sse.Event   // every event read from the batch's stream, in order, across reconnects
	Done     bool          // its done event was read
	Failures []string      // the errors counted for it, "kind: detail"
}

// outcome is what one batch did.
type outcome struct {
	base         string      // the server
	batchID      string      // from the 202
	status       int         // the upload's HTTP status
	events       []sse.Event // what the stream showed, when traced
	images       int         // sent in the upload
	start        time.Time
	scheduled    time.Time     // open loop: when it should have started (zero: closed loop)
	uploaded     bool          // got its 202
	serverTiming []timing      // the 202's Server-Timing metrics
	firstWork    time.Time     // the first processing event read
	lastTerm     time.Time     // the last completed or failed event read
	upload       time.Duration // upload start to 202 read
	done         bool          // saw its done event
	end          time.Time     // when done arrived
	completion   time.Duration // upload start to done
	completed    int           // from done
	failed       int           // from done
	retries      int           // retrying events seen
	interrupted  bool          // the run was cancelled under it
	failures     []failure
}

func (o *outcome) fail(kind, format string, a ...any) {
	o.failures = append(o.failures, failure{kind, fmt.Sprintf(format, a...)})
}

// trace is the outcome as Config.Trace gets it.
func (o *outcome) trace() Trace {
	t := Trace{URL: o.base, BatchID: o.batchID, Status: o.status, Images: o.images, Start: o.start,
		Upload: o.upload, Events: o.events, Done: o.done}
	for _, f := range o.failures {
		t.Failures = append(t.Failures, f.kind+": "+f.detail)
	}
	return t
}

// uploadReply is the subset of the 202 body every server of this API gives
// (the Node peer has no "events").
type uploadReply struct {
	BatchID string `json:"batchId"`
	Total   int    `json:"total"`
	Events  string `json:"events"`
}

// apiError is the JSON error body of API.md.
type apiError struct {
	Error string `json:"error"`
	Code  string `json:"code"`
}

// batch uploads files to base and follows the batch's events until done.
// run is the whole run's context: its end means interrupted, while ctx's
// own deadline means a timeout. set names the file set for the body cache
// ("": build the body for this batch alone); scheduled, in open loop, is
// when it should have started.
func (c *client) batch(run, ctx context.Context, base, set string, files []File, scheduled time.Time) outcome {
	o := outcome{base: base, images: len(files), scheduled: scheduled}
	ctype, body, err := c.body(set, files)
	if err != nil {
		o.fail("client: building the upload", "%v", err)
		return o
	}
	o.start = time.Now()
	reply, ok := c.upload(run, ctx, base, ctype, body, &o)
	if !ok {
		return o
	}
	o.uploaded = true
	o.upload = time.Since(o.start)
	o.batchID = reply.BatchID
	if reply.Total != len(files) {
		o.fail("upload: reply total differs", "sent %d images, reply says total %d", len(files), reply.Total)
	}
	events, err := eventsURL(base, reply)
	if err != nil {
		o.fail("upload: bad reply", "%v", err)
		return o
	}
	c.follow(run, ctx, events, &o)
	return o
}

func (c *client) upload(run, ctx context.Context, base, ctype string, body []byte, o *outcome) (uploadReply, bool) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/api/images", bytes.NewReader(body))
	if err != nil {
		o.fail("client: building the upload", "%v", err)
		return uploadReply{}, false
	}
	req.Header.Set("Content-Type", ctype)
	req.Header.Set("Accept", "application/json")
	c.auth(req)
	resp, err := c.http.Do(req)
	if err != nil {
		c.transport(run, ctx, "upload", err, o)
		return uploadReply{}, false
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		c.transport(run, ctx, "upload", err, o)
		return uploadReply{}, false
	}
	o.status = resp.StatusCode
	if resp.StatusCode != http.StatusAccepted {
		kind, detail := httpFailure("upload", resp.StatusCode, raw)
		o.fail(kind, "%s", detail)
		return uploadReply{}, false
	}
	var r uploadReply
	if err := json.Unmarshal(raw, &r); err != nil || r.BatchID == "" {
		o.fail("upload: bad reply", "202 without a batchId: %.200q", raw)
		return uploadReply{}, false
	}
	o.serverTiming = parseServerTiming(resp.Header.Values("Server-Timing"))
	return r, true
}

// timing is one metric of a Server-Timing header.
type timing struct {
	name string
	dur  time.Duration
}

// parseServerTiming reads the metrics of Server-Timing headers that have
// a duration ("read;dur=1.5, commit;dur=2"); others are skipped.
func parseServerTiming(headers []string) []timing {
	var out []timing
	for _, h := range headers {
		for _, metric := range strings.Split(h, ",") {
			params := strings.Split(strings.TrimSpace(metric), ";")
			for _, p := range params[1:] {
				k, v, ok := strings.Cut(strings.TrimSpace(p), "=")
				if !ok || !strings.EqualFold(k, "dur") {
					continue
				}
				if ms, err := strconv.ParseFloat(strings.Trim(v, `"`), 64); err == nil && ms >= 0 && params[0] != "" {
					out = append(out, timing{params[0], time.Duration(ms * float64(time.Millisecond))})
				}
			}
		}
	}
	return out
}

// eventsURL is the reply's "events" resolved against base, or the
// documented /api/images/{batchId}/events when the reply lacks it.
func eventsURL(base string, r uploadReply) (string, error) {
	b, err := url.Parse(base + "/")
	if err != nil {
		return "", err
	}
	ref := r.Events
	if ref == "" {
		ref = "/api/images/" + url.PathEscape(r.BatchID) + "/events"
	}
	u, err := url.Parse(ref)
	if err != nil {
		return "", fmt.Errorf("events %q: %w", ref, err)
	}
	return b.ResolveReference(u).String(), nil
}

func (c *client) auth(req *http.Request) {
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
}

// transport counts a failed request or read: interrupted when the run was
// cancelled, a timeout when the batch's deadline passed, else by cause.
func (c *client) transport(run, ctx context.Context, stage string, err error, o *outcome) {
	if run.Err() != nil || ctx.Err() != nil {
		what := "the upload's 202"
		if stage == "sse" {
			what = "waiting for done"
		}
		c.timeout(run, ctx, what, o)
		return
	}
	o.fail(stage+": transport "+transportKind(err), "%v", err)
}

func (c *client) timeout(run, ctx context.Context, what string, o *outcome) {
	if run.Err() != nil {
		o.interrupted = true
		return
	}
	o.fail("timeout: "+what, "%v", context.Cause(ctx))
}

// transportKind names a network error's cause in a few words.
func transportKind(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset"
	case errors.Is(err, syscall.EPIPE):
		return "broken pipe"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "unexpected EOF"
	case errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	}
	return "other"
}

// httpFailure turns a non-success reply into a kind ("upload: http 503
// queue_full") and a detail (its error sentence).
func httpFailure(stage string, status int, raw []byte) (kind, detail string) {
	var e apiError
	kind = fmt.Sprintf("%s: http %d", stage, status)
	if json.Unmarshal(raw, &e) == nil && (e.Code != "" || e.Error != "") {
		if e.Code != "" {
			kind += " " + e.Code
		}
		return kind, truncate(e.Error, 200)
	}
	return kind, truncate(string(raw), 200)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// quoteEscaper is mime/multipart's, for a file name in a quoted string.
var quoteEscaper = strings.NewReplacer("\\", "\\\\", `"`, "\\\"")

// multipartBody is one upload: the option fields first (a streaming server
// knows them before the files), then each file as an "images" part.
func multipartBody(fields [][2]string, files []File) (string, []byte, error) {
	size := 1024
	for _, f := range files {
		size += len(f.Data) + 256
	}
	b := bytes.NewBuffer(make([]byte, 0, size))
	w := multipart.NewWriter(b)
	for _, f := range fields {
		if err := w.WriteField(f[0], f[1]); err != nil {
			return "", nil, err
		}
	}
	for _, f := range files {
		h := make(textproto.MIMEHeader)
		h.Set("Content-Disposition", fmt.Sprintf(`form-data; name="images"; filename="%s"`, quoteEscaper.Replace(f.Name)))
		h.Set("Content-Type", f.ContentType)
		pw, err := w.CreatePart(h)
		if err != nil {
			return "", nil, err
		}
		if _, err := pw.Write(f.Data); err != nil {
			return "", nil, err
		}
	}
	if err := w.Close(); err != nil {
		return "", nil, err
	}
	return w.FormDataContentType(), b.Bytes(), nil
}
