package persistence

import (
	"encoding/json"
	"testing"
	"time"
)

// TestBatchMemo: a decoding is reused only for the very bytes a write
// remembered, every caller gets a batch of its own, reads add nothing,
// and done or forgotten batches are not kept.
func TestBatchMemo(t *testing.T) {
	b, _, err := NewBatch("b1", time.Now(), DefaultOptions(), []Image{{ID: "i1", Name: "a.png"}, {ID: "i2", Name: "b.png"}})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	var m BatchMemo
	m.Remember(b.ID, raw, b.Clone())
	got, err := m.Decode(b.ID, raw)
	if err != nil || got.ID != "b1" || len(got.Images) != 2 {
		t.Fatalf("Decode of remembered bytes = %+v, %v", got, err)
	}
	got.Images[0].State = ImageCompleted // the caller's own: the memo's stays
	if again, _ := m.Decode(b.ID, raw); again.Images[0].State != ImageQueued {
		t.Fatalf("a caller's change reached the memo: image 0 is %s", again.Images[0].State)
	}

	// Other bytes under the same id (another writer's) decode as they say,
	// and a read does not keep them.
	other := b.Clone()
	other.Images[1].State, other.Completed = ImageCompleted, 1
	oraw, err := json.Marshal(other)
	if err != nil {
		t.Fatal(err)
	}
	got, err = m.Decode(b.ID, oraw)
	if err != nil || got.Completed != 1 || got.Images[1].State != ImageCompleted {
		t.Fatalf("Decode of rewritten bytes = completed %d image 1 %s, %v; want 1, completed", got.Completed, got.Images[1].State, err)
	}
	if again, _ := m.Decode(b.ID, raw); again.Completed != 0 {
		t.Fatalf("a read replaced the remembered batch: completed %d", again.Completed)
	}
	if n := m.Len(); n != 1 {
		t.Fatalf("%d batches held after reads of one, want 1", n)
	}
	if _, err := m.Decode("bad", []byte("{")); err == nil {
		t.Fatal("Decode of broken JSON: no error")
	}

	// A done batch read from the store (another node finished it) goes.
	done := b.Clone()
	done.Done = true
	draw, err := json.Marshal(done)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := m.Decode(b.ID, draw); err != nil || !got.Done {
		t.Fatalf("Decode of the done batch = %+v, %v", got, err)
	}
	if n := m.Len(); n != 0 {
		t.Fatalf("%d batches held after reading the only one done, want 0", n)
	}
	// So does one remembered done, or forgotten.
	m.Remember(b.ID, raw, b.Clone())
	m.Remember(b.ID, draw, done)
	m.Remember("b2", raw, b.Clone())
	m.Forget("b2")
	if n := m.Len(); n != 0 {
		t.Fatalf("%d batches held after done and Forget, want 0", n)
	}
}

// TestBatchMemoBounded: the memo starts again empty rather than hold more
// than its bound.
func TestBatchMemoBounded(t *testing.T) {
	b, _, err := NewBatch("b", time.Now(), DefaultOptions(), []Image{{ID: "i1", Name: "a.png"}})
	if err != nil {
		t.Fatal(err)
	}
	raw := make([]byte, 1<<20) // an entry of 3 MiB by the memo's count
	var m BatchMemo
	most := 0
	for i := range 100 {
		m.Remember(string(rune('a'+i%26))+string(rune('0'+i/26)), raw, b)
		most = max(most, m.Len())
	}
	if limit := memoMaxBytes / (3 << 20); most > limit {
		t.Fatalf("held %d entries of 3 MiB at once, want at most %d", most, limit)
	}
	if m.Len() == 0 {
		t.Fatal("empty after the last Remember")
	}
}

// TestMemoCurrent: Current and Holds tell the entry a writer remembered,
// without bytes to compare; a done batch, or one forgotten, has none.
func TestMemoCurrent(t *testing.T) {
	var m BatchMemo
	b := &Batch{ID: "x", LastSeq: 3}
	m.Remember("x", []byte(`{"id":"x"}`), b)
	got, ok := m.Current("x")
	if !ok || !m.Holds("x") || got.LastSeq != 3 || got == b {
		t.Fatalf("Current = %+v, %v (Holds %v), want a copy of the remembered batch", got, ok, m.Holds("x"))
	}
	got.LastSeq = 9
	if again, _ := m.Current("x"); again.LastSeq != 3 {
		t.Fatal("Current handed out the memo's own batch")
	}
	if own, ok := m.Shared("x"); !ok || own != b {
		t.Fatalf("Shared = %p, %v, want the remembered batch itself %p", own, ok, b)
	}
	m.Remember("x", []byte(`{"id":"x","done":true}`), &Batch{ID: "x", Done: true})
	if _, ok := m.Current("x"); ok || m.Holds("x") {
		t.Fatal("a done batch is still held")
	}
	if _, ok := m.Current("y"); ok {
		t.Fatal("an unknown id is held")
	}
}
