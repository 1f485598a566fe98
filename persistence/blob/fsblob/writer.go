package fsblob

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"

	"github.com/backlot/backlot/persistence/blob"
)

// checkEvery is how many bytes a Writer writes between two looks at the
// free space: a write eats at most this much into the reserve before it
// fails.
const checkEvery = 1 << 20

// tmpMark is in every temp file's name: ".<name>.tmp-<random>".
const tmpMark = ".tmp-"

// Create makes the key's directory and a temp file beside the key.
func (s *Store) Create(ctx context.Context, key string, opts blob.CreateOptions) (blob.Writer, error) {
	if err := check(ctx, "create", key, blob.ValidKey); err != nil {
		return nil, err
	}
	path := s.path(key)
	// With Exclusive, an existing object is found by Commit (as on S3),
	// which must look anyway: one may be committed meanwhile. Keys that
	// must be new are fresh batch ids, so looking here too would cost
	// every upload a stat for a case that does not happen.
	if !opts.UseReserve {
		if free, low := s.low(); low {
			return nil, s.belowReserve("create", key, free)
		}
	}
	f, err := s.createTemp(path)
	if err != nil {
		return nil, wrap("create", key, err)
	}
	return &writer{s: s, ctx: ctx, key: key, path: path, f: f, opts: opts}, nil
}

// createTemp makes a fresh temp file in path's directory, and the
// directory first when it is missing (at the first try, or removed
// meanwhile: SweepTemp removes empty ones). The directory is usually
// there (a batch's second file, every result): it is made only when the
// file cannot be, which spares MkdirAll's stat.
func (s *Store) createTemp(path string) (*os.File, error) {
	dir, base := filepath.Split(path)
	for attempt := 0; ; attempt++ {
		name := filepath.Join(dir, "."+base+tmpMark+strconv.FormatUint(rand.Uint64(), 36))
		f, err := openFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err == nil {
			return f, nil
		}
		if attempt == 3 || !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, fs.ErrExist) {
			return nil, err
		}
		if errors.Is(err, fs.ErrNotExist) {
			// A new batch's directory, in a parent that is there: one
			// mkdir, where MkdirAll would stat the directory and its
			// parent first.
			if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
				if err := os.MkdirAll(dir, 0o755); err != nil {
					return nil, err
				}
			}
		}
	}
}

func (s *Store) belowReserve(op, key string, free int64) error {
	return fmt.Errorf("%s %s: %w: %d bytes free, %d kept in reserve", op, key, blob.ErrInsufficientStorage, free, s.minFree)
}

// writer writes a temp file and renames (or links) it onto its key.
// Confined to its caller's goroutine, as blob.Writer says.
type writer struct {
	s    *Store
	ctx  context.Context // Create's: bounds the writes
	key  string
	path string
	f    *os.File // the temp file; nil once committed or aborted
	opts blob.CreateOptions

	unchecked int64 // bytes written since the free space was last looked at
	err       error // the first failed Write's, which Commit returns
}

func (w *writer) Write(p []byte) (int, error) {
	if w.f == nil {
		return 0, fmt.Errorf("write %s: %w", w.key, blob.ErrClosed)
	}
	if w.err != nil {
		return 0, w.err
	}
	if err := w.ctx.Err(); err != nil {
		w.err = fmt.Errorf("write %s: %w", w.key, err)
		return 0, w.err
	}
	n, err := w.f.Write(p)
	if err != nil {
		w.err = wrap("write", w.key, err)
		return n, w.err
	}
	if w.unchecked += int64(n); w.unchecked >= checkEvery && !w.opts.UseReserve {
		w.unchecked = 0
		if free, low := w.s.low(); low {
			w.err = w.s.belowReserve("write", w.key, free)
			return n, w.err
		}
	}
	return n, nil
}

// Commit fsyncs (Durable), closes, then renames or links the temp file
// onto the key and, Durable, fsyncs the directories.
func (w *writer) Commit(ctx context.Context) (_ blob.Info, err error) {
	if w.f == nil {
		return blob.Info{}, fmt.Errorf("commit %s: %w", w.key, blob.ErrClosed)
	}
	f, tmp := w.f, w.f.Name()
	w.f = nil
	defer func() {
		if err != nil {
			os.Remove(tmp)
		}
	}()
	if err = w.err; err == nil {
		err = ctx.Err()
		if err == nil {
			err = w.ctx.Err()
		}
		if err != nil {
			err = fmt.Errorf("commit %s: %w", w.key, err)
		}
	}
	if err == nil && w.opts.Durable {
		if err = f.Sync(); err != nil {
			err = wrap("commit", w.key, err)
		}
	}
	var fi fs.FileInfo
	if err == nil {
		if fi, err = f.Stat(); err != nil {
			err = wrap("commit", w.key, err)
		}
	}
	if cerr := f.Close(); err == nil && cerr != nil {
		err = wrap("commit", w.key, cerr)
	}
	if err != nil {
		return blob.Info{}, err
	}
	if w.opts.Exclusive {
		if err := publishExclusive(tmp, w.path); err != nil {
			if errors.Is(err, fs.ErrExist) {
				return blob.Info{}, fmt.Errorf("commit %s: %w", w.key, blob.ErrExists)
			}
			return blob.Info{}, wrap("commit", w.key, err)
		}
	} else if err := rename(tmp, w.path); err != nil {
		return blob.Info{}, wrap("commit", w.key, err)
	}
	if w.opts.Durable {
		if err := w.s.syncDirs(filepath.Dir(w.path)); err != nil {
			// Visible, maybe not durable: the caller hears of a failure,
			// so nothing of it may remain.
			_ = os.Remove(w.path)
			return blob.Info{}, wrap("commit", w.key, err)
		}
	}
	return info(w.key, fi), nil
}

// linkExclusive is publishExclusive by link(2), which fails on an
// existing name where rename would replace it, then the temp name's
// removal (left by a crash between the two, it is a temp file:
// SweepTemp's).
func linkExclusive(tmp, path string) error {
	if err := os.Link(tmp, path); err != nil {
		return err
	}
	_ = os.Remove(tmp)
	return nil
}

// Abort closes and removes the temp file.
func (w *writer) Abort() error {
	if w.f == nil {
		return nil
	}
	f := w.f
	w.f = nil
	f.Close()
	if err := os.Remove(f.Name()); err != nil && !notExist(err) {
		return fmt.Errorf("abort %s: %w", w.key, err)
	}
	return nil
}
