package blobtest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"slices"
	"testing"

	"github.com/backlot/backlot/persistence/blob"
)

// testOpenKeepsVersion: an open object replaced or deleted meanwhile
// reads the version it opened or fails; never another version's bytes.
func testOpenKeepsVersion(t *testing.T, s blob.Store) {
	v1 := data(30, 200_000)
	put(t, s, "v/k", v1, blob.CreateOptions{})
	o := open(t, s, "v/k")
	put(t, s, "v/k", data(31, 200_000), blob.CreateOptions{})
	p := make([]byte, 1000)
	if n, err := o.ReadAt(p, 150_000); err == nil && !bytes.Equal(p[:n], v1[150_000:150_000+n]) {
		t.Fatal("ReadAt on an object opened before its key was replaced reads the new version")
	}
	if got, err := io.ReadAll(o); err == nil && !bytes.Equal(got, v1) {
		t.Fatalf("Read on an object opened before its key was replaced: %d bytes (%s), not the version opened", len(got), head(got))
	}

	put(t, s, "v/gone", v1, blob.CreateOptions{})
	o = open(t, s, "v/gone")
	if err := s.Delete(t.Context(), "v/gone"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if got, err := io.ReadAll(o); err == nil && !bytes.Equal(got, v1) {
		t.Fatalf("Read on an object opened before its key was deleted: %d bytes (%s), not the version opened", len(got), head(got))
	}
	absent(t, s, "v/gone")
}

// testMissing: Open and Stat of a key never written, or naming only a
// prefix of other keys, fail with ErrNotFound; Delete of one succeeds
// and leaves the keys under it.
func testMissing(t *testing.T, s blob.Store) {
	absent(t, s, blob.SourceKey("nobatch", "noimage"))
	put(t, s, "m/dir/obj", data(32, 10), blob.CreateOptions{})
	absent(t, s, "m/dir")
	absent(t, s, "m")
	if err := s.Delete(t.Context(), "m/dir"); err != nil {
		t.Fatalf("Delete of a prefix's name = %v, want nil", err)
	}
	holds(t, s, "m/dir/obj", data(32, 10))
}

// testDelete: Delete removes an object; deleting it again, or a key never
// written, is not an error.
func testDelete(t *testing.T, s blob.Store) {
	put(t, s, "del/a", data(33, 10), blob.CreateOptions{})
	put(t, s, "del/b", data(34, 10), blob.CreateOptions{})
	for range 2 {
		if err := s.Delete(t.Context(), "del/a"); err != nil {
			t.Fatalf("Delete: %v", err)
		}
		absent(t, s, "del/a")
	}
	if err := s.Delete(t.Context(), "del/never"); err != nil {
		t.Fatalf("Delete of a key never written: %v", err)
	}
	holds(t, s, "del/b", data(34, 10))
	put(t, s, "del/a", data(35, 10), blob.CreateOptions{Exclusive: true}) // the key is free again
	holds(t, s, "del/a", data(35, 10))
}

// testDeletePrefix: DeletePrefix removes a batch's objects and no other
// batch's, even one whose id starts with the same letters; it takes only
// prefixes that end in '/'.
func testDeletePrefix(t *testing.T, s blob.Store) {
	ab := []string{blob.SourceKey("ab", "1"), blob.OutputKey("ab", "1", "jpg"), blob.SourceKey("ab", "2")}
	keep := []string{blob.SourceKey("abc", "1"), blob.SourceKey("a", "1"), "other/ab/1"}
	for i, k := range append(slices.Clone(ab), keep...) {
		put(t, s, k, data(uint64(40+i), 100), blob.CreateOptions{})
	}
	for _, bad := range []string{"", "batches/ab", "batches", "/", "batches//", "../batches/ab/"} {
		if err := s.DeletePrefix(t.Context(), bad); !errors.Is(err, blob.ErrInvalidKey) {
			t.Fatalf("DeletePrefix(%q) = %v, want ErrInvalidKey", bad, err)
		}
	}
	for range 2 { // the second time there is nothing: not an error
		if err := s.DeletePrefix(t.Context(), blob.BatchPrefix("ab")); err != nil {
			t.Fatalf("DeletePrefix: %v", err)
		}
	}
	for _, k := range ab {
		absent(t, s, k)
	}
	if keys := list(t, s, ""); !slices.Equal(keys, []string{blob.SourceKey("a", "1"), blob.SourceKey("abc", "1"), "other/ab/1"}) {
		t.Fatalf("after DeletePrefix List = %v", keys)
	}
	if err := s.DeletePrefix(t.Context(), blob.BatchPrefix("never")); err != nil {
		t.Fatalf("DeletePrefix of nothing: %v", err)
	}
	put(t, s, ab[0], data(50, 10), blob.CreateOptions{Exclusive: true, Durable: true}) // the prefix takes objects again
	holds(t, s, ab[0], data(50, 10))
}

// testList: List shows what is under a prefix, a string prefix as on S3
// ("batches/ab" takes batch abc too, "batches/ab/" does not), with the
// same Info as Stat.
func testList(t *testing.T, s blob.Store) {
	keys := []string{blob.SourceKey("ab", "1"), blob.OutputKey("ab", "1", "png"), blob.SourceKey("abc", "1"), "z"}
	for i, k := range keys {
		put(t, s, k, data(uint64(60+i), 10*(i+1)), blob.CreateOptions{})
	}
	for _, tc := range []struct {
		prefix string
		want   []string
	}{
		{"", []string{keys[1], keys[0], keys[2], "z"}},
		{blob.BatchesPrefix, []string{keys[1], keys[0], keys[2]}},
		{"batches/ab", []string{keys[1], keys[0], keys[2]}},
		{blob.BatchPrefix("ab"), []string{keys[1], keys[0]}},
		{blob.BatchPrefix("ab") + "1.s", []string{keys[0]}},
		{"z", []string{"z"}},
		{"nothing/", nil},
		{"batches/abcd", nil},
	} {
		if got := list(t, s, tc.prefix); !slices.Equal(got, tc.want) {
			t.Errorf("List(%q) = %v, want %v", tc.prefix, got, tc.want)
		}
	}
	err := s.List(t.Context(), "", func(info blob.Info) error {
		st, err := s.Stat(t.Context(), info.Key)
		if err != nil {
			return err
		}
		if info.Size != st.Size || info.ETag != st.ETag || !info.ModTime.Equal(st.ModTime) {
			t.Errorf("List shows %+v, Stat %+v", info, st)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("List: %v", err)
	}
}

// testListOrder: List goes in increasing byte order of whole keys, as S3
// does: "a-c" < "a.b" < "a/1" < "ab", whatever a store keeps as
// directories.
func testListOrder(t *testing.T, s blob.Store) {
	want := []string{"o/a-c", "o/a.b", "o/a/1", "o/a/2", "o/a/b/c", "o/a0", "o/ab", "o/b", "o0"}
	for _, i := range []int{4, 8, 0, 6, 2, 7, 1, 5, 3} {
		put(t, s, want[i], data(uint64(70+i), 10), blob.CreateOptions{})
	}
	if got := list(t, s, ""); !slices.Equal(got, want) {
		t.Fatalf("List = %v, want %v", got, want)
	}
	if got := list(t, s, "o/a"); !slices.Equal(got, want[:7]) {
		t.Fatalf("List(o/a) = %v, want %v", got, want[:7])
	}
}

// testListHidesWriters: objects being written are not listed, nor are
// aborted ones; committed ones are.
func testListHidesWriters(t *testing.T, s blob.Store) {
	put(t, s, blob.SourceKey("lw", "1"), data(80, 10), blob.CreateOptions{})
	w := create(t, s, blob.SourceKey("lw", "2"), blob.CreateOptions{})
	write(t, w, data(81, 100_000))
	w2 := create(t, s, blob.SourceKey("lw", "1"), blob.CreateOptions{}) // replacing a listed one
	write(t, w2, data(82, 100_000))
	a := create(t, s, blob.SourceKey("lw", "3"), blob.CreateOptions{})
	write(t, a, data(83, 10))
	if err := a.Abort(); err != nil {
		t.Fatal(err)
	}
	if got := list(t, s, ""); !slices.Equal(got, []string{blob.SourceKey("lw", "1")}) {
		t.Fatalf("List while writing = %v, want only %s", got, blob.SourceKey("lw", "1"))
	}
	commit(t, w)
	commit(t, w2)
	if got := list(t, s, ""); !slices.Equal(got, []string{blob.SourceKey("lw", "1"), blob.SourceKey("lw", "2")}) {
		t.Fatalf("List after Commit = %v", got)
	}
}

// testListStops: an error from fn ends List, which returns it as it is.
func testListStops(t *testing.T, s blob.Store) {
	for i, k := range []string{"s/1", "s/2", "s/3"} {
		put(t, s, k, data(uint64(90+i), 10), blob.CreateOptions{})
	}
	stop := errors.New("stop")
	var seen []string
	err := s.List(t.Context(), "", func(info blob.Info) error {
		seen = append(seen, info.Key)
		return stop
	})
	if err != stop || !slices.Equal(seen, []string{"s/1"}) {
		t.Fatalf("List with a failing fn = %v after %v, want the error itself after s/1", err, seen)
	}
}

// testCanceled: with a done ctx every method fails with its error and
// writes nothing.
func testCanceled(t *testing.T, s blob.Store) {
	put(t, s, "cx/there", data(95, 10), blob.CreateOptions{})
	ctx := canceled(t)
	calls := []struct {
		name string
		call func() error
	}{
		{"Create", func() error {
			w, err := s.Create(ctx, "cx/new", blob.CreateOptions{})
			if err == nil {
				w.Abort()
			}
			return err
		}},
		{"Put", func() error {
			_, err := blob.Put(ctx, s, "cx/new", bytes.NewReader(data(96, 10)), blob.CreateOptions{Durable: true})
			return err
		}},
		{"Open", func() error {
			o, err := s.Open(ctx, "cx/there")
			if err == nil {
				o.Close()
			}
			return err
		}},
		{"Stat", func() error { _, err := s.Stat(ctx, "cx/there"); return err }},
		{"Sync", func() error { return s.Sync(ctx, "cx/there") }},
		{"Delete", func() error { return s.Delete(ctx, "cx/there") }},
		{"DeletePrefix", func() error { return s.DeletePrefix(ctx, "cx/") }},
		{"List", func() error { return s.List(ctx, "", func(blob.Info) error { return nil }) }},
	}
	for _, c := range calls {
		if err := c.call(); !errors.Is(err, context.Canceled) {
			t.Errorf("%s with a done ctx = %v, want context.Canceled", c.name, err)
		}
	}
	absent(t, s, "cx/new")
	holds(t, s, "cx/there", data(95, 10))
}

// testCanceledWriter: once Create's ctx is done, Commit fails and
// nothing is committed; a Commit whose own ctx is done fails the same.
func testCanceledWriter(t *testing.T, s blob.Store) {
	ctx, cancel := context.WithCancel(t.Context())
	w, err := s.Create(ctx, "cw/k", blob.CreateOptions{})
	if err != nil {
		cancel()
		t.Fatalf("Create: %v", err)
	}
	defer w.Abort()
	write(t, w, data(97, 100_000))
	cancel()
	_, _ = w.Write(data(98, 100_000)) // may fail already
	if _, err := w.Commit(t.Context()); !errors.Is(err, context.Canceled) {
		t.Fatalf("Commit after Create's ctx was cancelled = %v, want context.Canceled", err)
	}
	absent(t, s, "cw/k")

	w = create(t, s, "cw/m", blob.CreateOptions{Durable: true})
	write(t, w, data(99, 10))
	if _, err := w.Commit(canceled(t)); !errors.Is(err, context.Canceled) {
		t.Fatalf("Commit with a done ctx = %v, want context.Canceled", err)
	}
	absent(t, s, "cw/m")
}

// testInvalidKeys: every method refuses a key that breaks ValidKey with
// ErrInvalidKey, and List a prefix that breaks ValidPrefix.
func testInvalidKeys(t *testing.T, s blob.Store) {
	bad := []string{"", "/abs", "a/", "a//b", "..", "../a", "a/../b", "a/./b", ".hidden", "a/.b.tmp-1",
		`a\b`, "a\x00b", "a\nb", "a\x7fb", "\xff", string(make([]byte, 1025))}
	ctx := t.Context()
	for _, k := range bad {
		if blob.ValidKey(k) {
			t.Errorf("ValidKey(%q) = true", k)
		}
		errs := map[string]error{}
		if w, err := s.Create(ctx, k, blob.CreateOptions{}); err == nil {
			w.Abort()
		} else {
			errs["Create"] = err
		}
		if o, err := s.Open(ctx, k); err == nil {
			o.Close()
		} else {
			errs["Open"] = err
		}
		_, errs["Stat"] = s.Stat(ctx, k)
		errs["Sync"] = s.Sync(ctx, k)
		errs["Delete"] = s.Delete(ctx, k)
		for _, m := range []string{"Create", "Open", "Stat", "Sync", "Delete"} {
			if !errors.Is(errs[m], blob.ErrInvalidKey) {
				t.Errorf("%s(%q) = %v, want ErrInvalidKey", m, k, errs[m])
			}
		}
	}
	for _, p := range []string{"/", "//", "/a", "a//", "../", "a/../", `a\`, "\x00"} {
		if err := s.List(ctx, p, func(blob.Info) error { return nil }); !errors.Is(err, blob.ErrInvalidKey) {
			t.Errorf("List(%q) = %v, want ErrInvalidKey", p, err)
		}
	}
	if keys := list(t, s, ""); len(keys) != 0 {
		t.Fatalf("invalid keys wrote %v", keys)
	}
}
