package persistence

import (
	"encoding/json"
	"testing"
	"time"
)

// TestBatchMemo: a decoding is reused only for the very bytes it came
// from, every caller gets a batch of its own, and done batches are not
// kept.
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

	// Other bytes under the same id (another writer's) decode as they say.
	other := b.Clone()
	other.Images = append([]Image(nil), b.Images...)
	other.Images[1].State, other.Completed = ImageCompleted, 1
	oraw, err := json.Marshal(other)
	if err != nil {
		t.Fatal(err)
	}
	got, err = m.Decode(b.ID, oraw)
	if err != nil || got.Completed != 1 || got.Images[1].State != ImageCompleted {
		t.Fatalf("Decode of rewritten bytes = completed %d image 1 %s, %v; want 1, completed", got.Completed, got.Images[1].State, err)
	}
	// and are kept as a copy: the caller may reuse its buffer.
	clear(oraw)
	if got, err = m.Decode(b.ID, oraw); err == nil {
		t.Fatalf("Decode of zeroed bytes = %+v, want an error", got)
	}

	if _, err := m.Decode("bad", []byte("{")); err == nil {
		t.Fatal("Decode of broken JSON: no error")
	}
	done := b.Clone()
	done.Done = true
	m.Remember(b.ID, []byte("x"), done)
	if n := m.Len(); n != 0 {
		t.Fatalf("%d batches kept after the only one was done, want 0", n)
	}
}
