package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// The browser tests drive the real page (http/web) in a real headless
// Chromium against an in-process node: real uploads, a real EventSource,
// real reconnects. Nothing is mocked.

const chromiumPath = "/usr/bin/chromium"

// browser is one headless Chromium with one tab.
type browser struct {
	ctx context.Context // the tab, bounded by the test's deadline

	mu         sync.Mutex
	exceptions []string // uncaught JavaScript exceptions of the page
}

// newBrowser starts Chromium for one test. A missing Chromium skips the test,
// except under CI=true where it fails it.
func newBrowser(t *testing.T) *browser {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is missing (make deps installs it): %v", chromiumPath, err)
		}
		t.Skipf("%s is missing; install the chromium package to run the browser tests", chromiumPath)
	}
	// The sandbox cannot start as root, and this machine has no network:
	// the flags keep Chromium from reaching out on its own.
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		// /dev/shm is small in containers; Chromium crashes when it fills.
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	)
	b := &browser{}
	tabCtx, cancelTab := chromedp.NewContext(allocCtx, chromedp.WithListener(func(ev any) {
		if e, ok := ev.(*runtime.EventExceptionThrown); ok && e.ExceptionDetails != nil {
			d := e.ExceptionDetails
			msg := d.Text
			if d.Exception != nil && d.Exception.Description != "" {
				msg += " " + d.Exception.Description
			}
			b.mu.Lock()
			b.exceptions = append(b.exceptions, fmt.Sprintf("%s:%d: %s", d.URL, d.LineNumber+1, msg))
			b.mu.Unlock()
		}
	}))
	t.Cleanup(cancelAlloc) // runs last: waits for the process to exit
	t.Cleanup(cancelTab)
	// The first Do starts the browser, which lives as long as tabCtx: it
	// must not carry the deadline (chromedp.Run's doc).
	if err := chromedp.Do(tabCtx); err != nil {
		t.Fatalf("start %s: %v", chromiumPath, err)
	}
	ctx, cancel := context.WithTimeout(tabCtx, 60*time.Second)
	t.Cleanup(cancel)
	b.ctx = ctx
	return b
}

func (b *browser) do(t *testing.T, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(b.ctx, steps...); err != nil {
		t.Fatalf("%s: %v%s", what, err, b.dump())
	}
}

// waitFor polls a JavaScript predicate until it holds, within 45 s (inside
// the test's 60 s, so the page can still be dumped on failure).
func (b *browser) waitFor(t *testing.T, what, predicate string) {
	t.Helper()
	_, err := chromedp.Run(b.ctx, chromedp.Poll[chromedp.Void](predicate,
		chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(45*time.Second)))
	if err != nil {
		t.Fatalf("waiting for %s: %v%s", what, err, b.dump())
	}
}

func evalJS[T any](t *testing.T, b *browser, expr string) T {
	t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// dump is the page's visible text and its exceptions, for failure messages.
func (b *browser) dump() string {
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	text, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('main').innerText`))
	if err != nil {
		return ""
	}
	return "\npage text:\n" + text + "\nexceptions: " + strings.Join(b.errors(), "\n")
}

func (b *browser) errors() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.exceptions...)
}

// noExceptions fails the test if the page threw.
func (b *browser) noExceptions(t *testing.T) {
	t.Helper()
	if errs := b.errors(); len(errs) > 0 {
		t.Errorf("the page threw:\n%s", strings.Join(errs, "\n"))
	}
}

// batchView is a batch section as the page shows it.
type batchView struct {
	ID         string     `json:"id"`
	State      string     `json:"state"`
	Progress   float64    `json:"progress"`
	Pct        string     `json:"pct"`
	Status     string     `json:"status"`
	Events     int        `json:"events"`
	LastID     int        `json:"lastId"`
	Reconnects int        `json:"reconnects"`
	Duplicates int        `json:"duplicates"` // events received again and ignored
	Cards      []cardView `json:"cards"`
}

type cardView struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	State  string `json:"state"`
	Badge  string `json:"badge"`
	Detail string `json:"detail"`
	Src    string `json:"src"`
	W      int    `json:"w"`
	H      int    `json:"h"`
}

// pageBatches reads every batch section, newest first.
func pageBatches(t *testing.T, b *browser) []batchView {
	return evalJS[[]batchView](t, b, `[...document.querySelectorAll('[data-batch]')].map(s => ({
		id: s.dataset.batch,
		state: s.dataset.state,
		progress: s.querySelector('[data-progress]').value,
		pct: s.querySelector('[data-pct]').textContent,
		status: s.querySelector('[data-status]').textContent,
		events: Number(s.dataset.events || 0),
		lastId: Number(s.dataset.lastEventId || 0),
		reconnects: Number(s.dataset.reconnects || 0),
		duplicates: Number(s.dataset.duplicates || 0),
		cards: [...s.querySelectorAll('[data-image]')].map(c => {
			const img = c.querySelector('img[data-result]');
			return {
				id: c.dataset.image, name: c.querySelector('[data-name]').textContent,
				state: c.dataset.state, badge: c.querySelector('[data-badge]').textContent,
				detail: c.querySelector('[data-detail]').textContent,
				src: img ? img.getAttribute('src') : '', w: img ? img.naturalWidth : 0, h: img ? img.naturalHeight : 0,
			};
		}),
	}))`)
}

// newestBatchDone holds when the newest batch is done and shows n completed
// cards, each with its result loaded.
func newestBatchDone(n int) string {
	return fmt.Sprintf(`(() => {
		const b = document.querySelector('[data-batch]');
		if (!b || b.dataset.state !== 'done') return false;
		const cards = [...b.querySelectorAll('[data-image]')];
		return cards.length === %d && cards.every(c => {
			const img = c.querySelector('img[data-result]');
			return c.dataset.state === 'completed' && img && img.complete && img.naturalWidth > 0;
		});
	})()`, n)
}

// writeImageFiles writes n generated images to a temp dir: JPEGs, every third
// a PNG.
func writeImageFiles(t *testing.T, n, w, h int) []string {
	t.Helper()
	dir := t.TempDir()
	var paths []string
	for i := range n {
		name, data := fmt.Sprintf("photo-%d.jpg", i+1), []byte(nil)
		if i%3 == 2 {
			name, data = fmt.Sprintf("graphic-%d.png", i+1), pngBytes(t, w, h, uint64(i))
		} else {
			data = jpegBytes(t, w, h, uint64(i))
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	return paths
}

// uploadFiles sets the files and the box, as a user would, and clicks Upload.
func (b *browser) uploadFiles(t *testing.T, paths []string, width, height string) {
	t.Helper()
	b.do(t, "upload",
		chromedp.SetUploadFiles(chromedp.CSS("#files"), paths),
		chromedp.SetValue(chromedp.CSS("#width"), width),
		chromedp.SetValue(chromedp.CSS("#height"), height),
		chromedp.WaitEnabled(chromedp.CSS("#upload")),
		chromedp.Click(chromedp.CSS("#upload")),
	)
}

// artifactsDir is where screenshots go: $BACKLOT_ARTIFACTS, else a directory
// under the system temp dir (never the repository).
func artifactsDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("BACKLOT_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "backlot-artifacts")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// screenshot saves a full-page PNG. Motion is turned off first (the page
// honours prefers-reduced-motion) so no transition is caught half-way.
func (b *browser) screenshot(t *testing.T, path string) {
	t.Helper()
	if _, err := chromedp.Call(b.ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
		Features: []*emulation.MediaFeature{{Name: "prefers-reduced-motion", Value: "reduce"}},
	}); err != nil {
		t.Fatalf("reduce motion: %v", err)
	}
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	abs, _ := filepath.Abs(path)
	t.Logf("screenshot: %s", abs)
}

func TestBrowserUploadCompletes(t *testing.T) {
	n := startNode(t, t.TempDir(), nil)
	b := newBrowser(t)
	b.do(t, "open the page", chromedp.Navigate(n.url+"/"), chromedp.WaitVisible(chromedp.CSS("#files + label")))

	b.uploadFiles(t, writeImageFiles(t, 3, 640, 480), "200", "150")
	b.waitFor(t, "three completed cards in a done batch", newestBatchDone(3))

	got := pageBatches(t, b)
	if len(got) != 1 {
		t.Fatalf("%d batch sections, want 1", len(got))
	}
	bv := got[0]
	if bv.Progress != 100 || bv.Pct != "100%" || !strings.Contains(bv.Status, "3 of 3 completed") {
		t.Errorf("batch: progress %v %q, status %q", bv.Progress, bv.Pct, bv.Status)
	}
	appliedEach(t, n, bv)
	for i, c := range bv.Cards {
		if c.W != 200 || c.H != 150 {
			t.Errorf("card %d %s: result %dx%d, want 200x150 (cover)", i, c.Name, c.W, c.H)
		}
		if !strings.HasPrefix(c.Src, "/api/images/") || c.ID == "" {
			t.Errorf("card %d: id %q src %q", i, c.ID, c.Src)
		}
	}
	if names := []string{bv.Cards[0].Name, bv.Cards[1].Name, bv.Cards[2].Name}; strings.Join(names, ",") != "photo-1.jpg,photo-2.jpg,graphic-3.png" {
		t.Errorf("cards in order %v", names)
	}

	// A second batch goes on top; the first stays as it was.
	b.do(t, "choose PNG, contain", chromedp.SetValue(chromedp.CSS("#fit"), "contain"), chromedp.SetValue(chromedp.CSS("#format"), "png"))
	b.uploadFiles(t, writeImageFiles(t, 2, 800, 400), "240", "240")
	b.waitFor(t, "the second batch done", `document.querySelectorAll('[data-batch]').length === 2 && (`+newestBatchDone(2)+`)`)
	got = pageBatches(t, b)
	if got[0].Cards[0].W != 240 || got[0].Cards[0].H != 120 || got[1].State != "done" || len(got[1].Cards) != 3 {
		t.Errorf("after a second batch: newest %+v, first %s with %d cards", got[0].Cards[0], got[1].State, len(got[1].Cards))
	}

	dir := artifactsDir(t)
	b.do(t, "desktop viewport", chromedp.EmulateViewport(1280, 900))
	b.screenshot(t, filepath.Join(dir, "desktop.png"))
	if os.Getenv("BACKLOT_UPDATE_SCREENSHOT") == "1" {
		b.screenshot(t, filepath.Join("..", "..", "http", "web", "screenshot.png"))
	}
	for _, w := range []int64{360, 390} {
		b.do(t, "phone viewport", chromedp.EmulateViewport(w, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile))
		if over := evalJS[int](t, b, `document.documentElement.scrollWidth - document.documentElement.clientWidth`); over > 0 {
			t.Errorf("at %d px wide the page scrolls sideways by %d px", w, over)
		}
	}
	b.screenshot(t, filepath.Join(dir, "phone.png"))
	b.noExceptions(t)
}

// queuedBatchOnDrainedNode starts a node that claims no work (drained), opens
// the page on it and uploads three images, which stay queued. It returns the
// node and the page once the page shows the queued event.
func queuedBatchOnDrainedNode(t *testing.T, dir string) (*node, *browser) {
	t.Helper()
	n := startNode(t, dir, nil)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := n.System().Drain(ctx); err != nil {
		t.Fatal(err)
	}
	b := newBrowser(t)
	b.do(t, "open the page", chromedp.Navigate(n.url+"/"), chromedp.WaitVisible(chromedp.CSS("#files + label")))
	b.uploadFiles(t, writeImageFiles(t, 3, 320, 240), "100", "100")
	b.waitFor(t, "the batch streaming with its queued event applied", `(() => {
		const b = document.querySelector('[data-batch]');
		return b && b.dataset.state === 'streaming' && b.dataset.lastEventId === '1' &&
			[...b.querySelectorAll('[data-image]')].every(c => c.dataset.state === 'queued');
	})()`)
	return n, b
}

// restartNodeInPlace stops n and starts a node on the same data dir and the same
// address, so the page's EventSource finds it again.
func restartNodeInPlace(t *testing.T, n *node, dir string, mutate func(*Config)) *node {
	t.Helper()
	addr := n.Addr()
	n.stop()
	n2 := startNode(t, dir, func(c *Config) {
		c.Listen = addr
		if mutate != nil {
			mutate(c)
		}
	})
	if n2.url != n.url {
		t.Fatalf("restarted on %s, want %s", n2.url, n.url)
	}
	return n2
}

func TestBrowserReconnectsAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	n1, b := queuedBatchOnDrainedNode(t, dir)
	// The node goes down with the batch queued: the page's EventSource
	// reconnects by itself, with Last-Event-ID, to the restarted node.
	n2 := restartNodeInPlace(t, n1, dir, nil)
	b.waitFor(t, "the batch done after the restart", newestBatchDone(3))

	got := pageBatches(t, b)
	if len(got) != 1 || len(got[0].Cards) != 3 {
		t.Fatalf("after the restart: %d batches, cards %+v", len(got), got)
	}
	bv := got[0]
	ids := map[string]bool{}
	for _, c := range bv.Cards {
		if ids[c.ID] {
			t.Errorf("card %s shown twice", c.ID)
		}
		ids[c.ID] = true
	}
	if bv.Reconnects < 1 {
		t.Errorf("the page never showed it was reconnecting")
	}
	appliedEach(t, n2, bv)
	if bv.Progress != 100 {
		t.Errorf("progress %v", bv.Progress)
	}
	b.noExceptions(t)
}

// appliedEach checks that the page applied every event of the batch once:
// as many as the server's full sequence holds, ids 1…N, none received twice.
func appliedEach(t *testing.T, n *node, bv batchView) {
	t.Helper()
	url := n.url + "/api/images/" + bv.ID + "/events"
	if n.Config.Token != "" {
		url += "?token=" + n.Config.Token
	}
	all := openSSE(t, t.Context(), url, "").collect(t, 10*time.Second)
	if len(all) == 0 || bv.Events != len(all) || bv.LastID != len(all) || bv.Duplicates != 0 {
		t.Errorf("the page applied %d events up to id %d (%d received twice); the server has %d: %s",
			bv.Events, bv.LastID, bv.Duplicates, len(all), names(all))
	}
}

func TestBrowserAsksForToken(t *testing.T) {
	const token = "s3cret-token"
	n := startNode(t, t.TempDir(), func(c *Config) { c.Token = token })
	b := newBrowser(t)
	b.do(t, "open the page", chromedp.Navigate(n.url+"/"), chromedp.WaitVisible(chromedp.CSS("#files + label")))
	b.uploadFiles(t, writeImageFiles(t, 2, 320, 240), "100", "100")

	b.do(t, "enter the token after the 401",
		chromedp.WaitVisible(chromedp.CSS("#token")),
		chromedp.SendKeys(chromedp.CSS("#token"), token),
		chromedp.Click(chromedp.CSS("#token-save")),
	)
	b.waitFor(t, "the batch done with the token", newestBatchDone(2))

	if got := evalJS[string](t, b, `sessionStorage.getItem('backlot.token')`); got != token {
		t.Errorf("sessionStorage token %q", got)
	}
	for _, c := range pageBatches(t, b)[0].Cards {
		if !strings.Contains(c.Src, "token="+token) {
			t.Errorf("result URL %q lacks the token", c.Src)
		}
	}
	if hidden := evalJS[bool](t, b, `document.querySelector('#token-form').hidden && document.querySelector('#error').hidden`); !hidden {
		t.Errorf("the token form or the error stays shown after the upload")
	}
	b.noExceptions(t)
}

// A stream refused with 401 (here: the node came back with a token) makes
// the page ask for the token and resume where it was.
func TestBrowserStreamAsksForToken(t *testing.T) {
	const token = "s3cret-token"
	dir := t.TempDir()
	n1, b := queuedBatchOnDrainedNode(t, dir)
	n2 := restartNodeInPlace(t, n1, dir, func(c *Config) { c.Token = token })
	b.do(t, "enter the token after the stream's 401",
		chromedp.WaitVisible(chromedp.CSS("#token")),
		chromedp.SendKeys(chromedp.CSS("#token"), token),
		chromedp.Click(chromedp.CSS("#token-save")),
	)
	b.waitFor(t, "the batch done with the token", newestBatchDone(3))
	appliedEach(t, n2, pageBatches(t, b)[0])
	b.noExceptions(t)
}

func TestBrowserShowsUploadError(t *testing.T) {
	dir := t.TempDir()
	n := startNode(t, dir, nil)
	b := newBrowser(t)
	b.do(t, "open the page", chromedp.Navigate(n.url+"/"), chromedp.WaitVisible(chromedp.CSS("#files + label")))

	paths := writeImageFiles(t, 1, 320, 240)
	bad := filepath.Join(filepath.Dir(paths[0]), "x.jpg")
	if err := os.WriteFile(bad, []byte("this is a text file, not a JPEG\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	b.uploadFiles(t, append(paths, bad), "100", "100")
	b.do(t, "the error shows", chromedp.WaitVisible(chromedp.CSS("#error")))

	msg := evalJS[string](t, b, `document.querySelector('#error').textContent`)
	if !strings.Contains(msg, "x.jpg") || !strings.Contains(msg, "not a supported image") {
		t.Errorf("#error says %q; want the file name and the reason", msg)
	}
	if got := pageBatches(t, b); len(got) != 0 {
		t.Errorf("a refused upload left %d batch sections", len(got))
	}
	if d := batchDirs(t, dir); len(d) != 0 {
		t.Errorf("a refused upload left batch dirs %v", d)
	}
	b.noExceptions(t)
}

// TestBrowserVariants: the page's preset of variants, in WebP. Each
// completed card shows its first variant and links to every variant,
// each of which the server serves as WebP at the size the link says.
func TestBrowserVariants(t *testing.T) {
	n := startNode(t, t.TempDir(), nil)
	b := newBrowser(t)
	b.do(t, "open the page", chromedp.Navigate(n.url+"/"), chromedp.WaitVisible(chromedp.CSS("#files + label")))
	b.do(t, "choose the web preset in WebP",
		chromedp.SetValue(chromedp.CSS("#preset"), "web"), chromedp.SetValue(chromedp.CSS("#format"), "webp"))
	// SetValue fires no change event: the page's listeners need one.
	evalJS[bool](t, b, `['#preset', '#format'].every(s => document.querySelector(s).dispatchEvent(new Event('change')))`)
	if !evalJS[bool](t, b, `document.querySelector('#width').disabled && !document.querySelector('#preset-help').hidden`) {
		t.Fatal("the preset did not replace the box")
	}
	b.uploadFiles(t, writeImageFiles(t, 3, 1200, 800), "200", "200")
	b.waitFor(t, "three completed cards in a done batch", newestBatchDone(3))

	type link struct {
		Name, Href, Text string
		Status           int
		Type             string
		W, H             int
	}
	// Each link fetched and decoded by the browser itself.
	cards, err := chromedp.Run(b.ctx, chromedp.Evaluate[[][]link](`Promise.all([...document.querySelector('[data-batch]').querySelectorAll('[data-image]')].map(c =>
		Promise.all([...c.querySelectorAll('a[data-variant]')].map(async a => {
			const r = await fetch(a.href);
			const blob = await r.blob();
			let w = 0, h = 0;
			try { const bm = await createImageBitmap(blob); w = bm.width; h = bm.height; } catch {}
			return {name: a.dataset.variant, href: a.getAttribute('href'), text: a.parentElement.textContent,
				status: r.status, type: r.headers.get('Content-Type'), w, h};
		}))))`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("fetch the variant links: %v", err)
	}
	want := []struct {
		name string
		w, h int
	}{{"thumb", 160, 160}, {"card", 480, 480}, {"large", 1600, 1067}}
	got := pageBatches(t, b)[0]
	if len(cards) != 3 {
		t.Fatalf("%d cards", len(cards))
	}
	for i, links := range cards {
		if len(links) != len(want) {
			t.Fatalf("card %d: %d variant links, want %d", i, len(links), len(want))
		}
		c := got.Cards[i]
		if c.W != 160 || c.H != 160 || !strings.HasSuffix(c.Src, "/thumb") {
			t.Errorf("card %d shows %s at %dx%d, want the thumb", i, c.Src, c.W, c.H)
		}
		for j, l := range links {
			w := want[j]
			if l.Name != w.name || !strings.HasSuffix(l.Href, "/"+c.ID+"/"+w.name) || l.Status != 200 || l.Type != "image/webp" ||
				l.W != w.w || l.H != w.h || !strings.Contains(l.Text, fmt.Sprintf("%d×%d", w.w, w.h)) {
				t.Errorf("card %d link %d: %+v, want %s %dx%d WebP", i, j, l, w.name, w.w, w.h)
			}
		}
	}
	b.screenshot(t, filepath.Join(artifactsDir(t), "variants.png"))
	b.noExceptions(t)
}
