package bolt

import (
	"bytes"
	"sync"

	"github.com/backlot/backlot/persistence"
)

// memoMax bounds the batches the memo holds: past it, it starts again
// empty (the unfinished batches of a busy node fit many times over).
const memoMax = 4096

// memo keeps the last decoded form of each unfinished batch beside the
// exact bytes it was decoded from, so that an append, which rewrites the
// whole batch, does not decode it again: decoding grew with the batch's
// size on every event, so a batch of n images cost O(n²) (a fifth of a
// node's CPU at 100 images a batch). An entry is used only when the bytes
// stored now equal its own, so it can never be stale: a rolled-back
// transaction, a write that failed or another path leaves bytes that
// differ, and those are decoded as before.
type memo struct {
	mu sync.Mutex
	m  map[string]memoEntry
}

type memoEntry struct {
	raw []byte             // never modified: JSON as stored
	b   *persistence.Batch // never handed out: callers get clones
}

// get returns a batch of its own to the caller when raw is the entry's.
func (m *memo) get(id string, raw []byte) (*persistence.Batch, bool) {
	m.mu.Lock()
	e, ok := m.m[id]
	m.mu.Unlock()
	if !ok || !bytes.Equal(e.raw, raw) {
		return nil, false
	}
	return e.b.Clone(), true
}

// put remembers b as the decoding of raw; neither may change afterwards.
func (m *memo) put(id string, raw []byte, b *persistence.Batch) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.m == nil || len(m.m) >= memoMax {
		m.m = make(map[string]memoEntry)
	}
	m.m[id] = memoEntry{raw: raw, b: b}
}

// forget drops id (a done batch is not appended to again).
func (m *memo) forget(id string) {
	m.mu.Lock()
	delete(m.m, id)
	m.mu.Unlock()
}
