package persistence

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sync"
)

// memoMax bounds the batches a BatchMemo holds: past it, it starts again
// empty (the unfinished batches of a busy node fit many times over).
const memoMax = 4096

// BatchMemo keeps the last decoded form of each unfinished batch beside
// the exact bytes it was decoded from, for a backend whose append reads,
// decodes and rewrites the whole batch: decoding grew with the batch's
// size on every event, so a batch of n images cost O(n²). An entry is used
// only when the bytes stored now equal its own, so it is never stale: a
// rolled-back transaction, a failed write or another node's write leaves
// bytes that differ, and those are decoded afresh. Safe for concurrent
// use; the zero value is ready.
type BatchMemo struct {
	mu sync.Mutex
	m  map[string]memoEntry
}

type memoEntry struct {
	raw []byte // never modified: the JSON as stored
	b   *Batch // never handed out: callers get clones
}

// Decode returns raw, id's stored JSON, decoded: a batch of the caller's
// own. raw is copied if kept, so it may be a buffer that is reused.
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
	if !b.Done {
		m.Remember(id, bytes.Clone(raw), b.Clone())
	}
	return &b, nil
}

// Remember records b as the decoding of raw, id's JSON as about to be
// stored; neither may change afterwards. A done batch is forgotten
// instead: nothing is appended to it again.
func (m *BatchMemo) Remember(id string, raw []byte, b *Batch) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if b.Done {
		delete(m.m, id)
		return
	}
	if m.m == nil || len(m.m) >= memoMax {
		m.m = make(map[string]memoEntry)
	}
	m.m[id] = memoEntry{raw: raw, b: b}
}

// Len is how many batches are held.
func (m *BatchMemo) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.m)
}
