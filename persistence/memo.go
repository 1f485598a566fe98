package persistence

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sync"
)

// memoMaxBytes bounds what a BatchMemo holds, counting each entry's
// stored JSON three times (the bytes and the decoded batch): past it, it
// starts again empty. The unfinished batches of a busy node fit many
// times over; an entry stranded by a hand-over (another node wrote the
// batch's done) is dropped that way at the latest.
const memoMaxBytes = 64 << 20

// BatchMemo keeps the last decoded form of each unfinished batch a backend
// wrote, beside the exact bytes it wrote, for a backend whose append
// reads, decodes and rewrites the whole batch: decoding grew with the
// batch's size on every event, so a batch of n images cost O(n²). An
// entry is used only when the bytes stored now equal its own, so it is
// never stale: a rolled-back transaction, a failed write or another
// node's write leaves bytes that differ, and those are decoded afresh.
// Only writes add entries (Remember); reads use them. Safe for concurrent
// use; the zero value is ready.
type BatchMemo struct {
	mu    sync.Mutex
	m     map[string]memoEntry
	bytes int // 3 × the raw bytes held
}

type memoEntry struct {
	raw []byte // never modified: the JSON as stored
	b   *Batch // never handed out: callers get clones
}

// Decode returns raw, id's stored JSON, decoded: a batch of the caller's
// own, from the memo when it holds these very bytes. raw is not kept. A
// done batch's entry goes (nothing is appended to it again).
func (m *BatchMemo) Decode(id string, raw []byte) (*Batch, error) {
	m.mu.Lock()
	e, ok := m.m[id]
	m.mu.Unlock()
	if ok && bytes.Equal(e.raw, raw) {
		return e.b.Clone(), nil
	}
	var b Batch
	if err := json.Unmarshal(raw, &b); err != nil {
		return nil, fmt.Errorf("decode batch: %w", err)
	}
	if b.Done && ok {
		m.Forget(id)
	}
	return &b, nil
}

// Remember records b as the decoding of raw, id's JSON as the caller is
// about to store it; neither may change afterwards. A done batch is
// forgotten instead.
func (m *BatchMemo) Remember(id string, raw []byte, b *Batch) {
	if b.Done {
		m.Forget(id)
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if old, ok := m.m[id]; ok {
		m.bytes -= 3 * len(old.raw)
	}
	if m.m == nil || m.bytes+3*len(raw) > memoMaxBytes {
		m.m, m.bytes = make(map[string]memoEntry), 0
	}
	m.m[id] = memoEntry{raw: raw, b: b}
	m.bytes += 3 * len(raw)
}

// Current returns a copy of id's entry without looking at the stored
// bytes, for a backend that is the only writer of its data (it holds a
// lock on it) and Remembers every batch it commits, after the commit and
// before any other write of the batch: there an entry is the stored
// batch. Others use Decode.
func (m *BatchMemo) Current(id string) (*Batch, bool) {
	if b, ok := m.Shared(id); ok {
		return b.Clone(), true
	}
	return nil, false
}

// Shared is Current without the copy: the memo's own batch, which the
// caller only reads and never hands out (Batch.Decide copies before it
// changes anything).
func (m *BatchMemo) Shared(id string) (*Batch, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.m[id]
	return e.b, ok
}

// Holds reports whether id has an entry: for such a backend, that the
// batch exists, unfinished.
func (m *BatchMemo) Holds(id string) bool {
	_, ok := m.Shared(id)
	return ok
}

// Forget drops id's entry (a done or deleted batch).
func (m *BatchMemo) Forget(id string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if old, ok := m.m[id]; ok {
		m.bytes -= 3 * len(old.raw)
		delete(m.m, id)
	}
}

// Len is how many batches are held.
func (m *BatchMemo) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.m)
}
