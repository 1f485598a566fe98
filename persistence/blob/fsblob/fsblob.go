package fsblob

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"

	"github.com/backlot/backlot/persistence/blob"
)

var (
	_ blob.Store        = (*Store)(nil)
	_ blob.Spacer       = (*Store)(nil)
	_ blob.CacheDropper = (*object)(nil)
)

// Options configures a Store.
type Options struct {
	// MinFree is the reserve: the bytes the root's file system keeps
	// free. Create, and Write every MiB, fail with
	// blob.ErrInsufficientStorage below it, unless UseReserve. 0 (the
	// default) keeps none; a full disk still fails a write.
	MinFree int64
}

// Store is a blob.Store on the directory tree under a root. One Store
// owns a root at a time (it remembers which directories are durable).
type Store struct {
	root    string // absolute, cleaned; immutable
	minFree int64  // immutable

	// free reads the free space of the root's file system: freeBytes,
	// which tests replace before the Store is used.
	free func(path string) (int64, bool)

	// mu guards durable, the directories (absolute paths) whose entry
	// in their parent, and every ancestor's up to root, is known to be
	// on stable storage, and removals, which counts directory removals
	// so that a mark raced by one is not set (durable.go).
	mu       sync.Mutex
	durable  map[string]struct{}
	removals uint64
}

// New opens a Store on root, making the directory if needed.
func New(root string, opts Options) (*Store, error) {
	if opts.MinFree < 0 {
		return nil, fmt.Errorf("fsblob: MinFree %d is negative", opts.MinFree)
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("fsblob: %w", err)
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return nil, fmt.Errorf("fsblob: make root: %w", err)
	}
	return &Store{root: abs, minFree: opts.MinFree, free: freeBytes, durable: map[string]struct{}{}}, nil
}

// path is the file of key, which must be valid.
func (s *Store) path(key string) string {
	return filepath.Join(s.root, filepath.FromSlash(key))
}

// check refuses a done ctx and an invalid key, in that order.
func check(ctx context.Context, op, key string, valid func(string) bool) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s %s: %w", op, key, err)
	}
	if !valid(key) {
		return fmt.Errorf("%s %q: %w", op, key, blob.ErrInvalidKey)
	}
	return nil
}

// notExist reports whether err says there is no such file: ENOTDIR too,
// when a segment of the path is a file.
func notExist(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)
}

// wrap says what failed, turning the file system's signals into blob's
// sentinels (keeping the original in the chain).
func wrap(op, key string, err error) error {
	switch {
	case notExist(err):
		return fmt.Errorf("%s %s: %w: %w", op, key, blob.ErrNotFound, err)
	case noSpace(err):
		return fmt.Errorf("%s %s: %w: %w", op, key, blob.ErrInsufficientStorage, err)
	}
	return fmt.Errorf("%s %s: %w", op, key, err)
}

// Open opens the object's file. A directory is no object.
func (s *Store) Open(ctx context.Context, key string) (blob.Object, error) {
	if err := check(ctx, "open", key, blob.ValidKey); err != nil {
		return nil, err
	}
	f, err := openFile(s.path(key), os.O_RDONLY, 0)
	if err != nil {
		return nil, wrap("open", key, err)
	}
	fi, err := f.Stat()
	if err == nil && !fi.Mode().IsRegular() {
		err = fmt.Errorf("%w: not a regular file", blob.ErrNotFound)
	}
	if err != nil {
		f.Close()
		return nil, wrap("open", key, err)
	}
	return &object{f: f, info: info(key, fi)}, nil
}

// Stat describes the object's file.
func (s *Store) Stat(ctx context.Context, key string) (blob.Info, error) {
	if err := check(ctx, "stat", key, blob.ValidKey); err != nil {
		return blob.Info{}, err
	}
	fi, err := os.Stat(s.path(key))
	if err == nil && !fi.Mode().IsRegular() {
		err = fmt.Errorf("%w: not a regular file", blob.ErrNotFound)
	}
	if err != nil {
		return blob.Info{}, wrap("stat", key, err)
	}
	return info(key, fi), nil
}

func info(key string, fi fs.FileInfo) blob.Info {
	return blob.Info{Key: key, Size: fi.Size(), ModTime: fi.ModTime(), ETag: etag(fi)}
}

// Sync fsyncs the object's file and its directory, and the parents of
// directories not yet known durable (durable.go).
func (s *Store) Sync(ctx context.Context, key string) error {
	if err := s.SyncData(ctx, key); err != nil {
		return err
	}
	return s.syncDirs(filepath.Dir(s.path(key)))
}

// SyncData fsyncs the object's file (blob.NameSyncer): its bytes, not
// its name.
func (s *Store) SyncData(ctx context.Context, key string) error {
	if err := check(ctx, "sync", key, blob.ValidKey); err != nil {
		return err
	}
	f, err := openFile(s.path(key), os.O_RDONLY, 0)
	if err != nil {
		return wrap("sync", key, err)
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return wrap("sync", key, err)
	}
	return nil
}

// SyncNames fsyncs prefix's directory, and the parents of directories
// not yet known durable (blob.NameSyncer): every name committed in it
// before the call survives a power cut once it returns nil.
func (s *Store) SyncNames(ctx context.Context, prefix string) error {
	if err := check(ctx, "sync", prefix, blob.ValidDeletePrefix); err != nil {
		return err
	}
	dir := s.path(strings.TrimSuffix(prefix, "/"))
	if err := s.syncDirs(dir); err != nil {
		return wrap("sync", prefix, err)
	}
	return nil
}

// Delete removes the object's file; the directory stays (SweepTemp
// removes empty ones). A directory under key is no object: it stays.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := check(ctx, "delete", key, blob.ValidKey); err != nil {
		return err
	}
	p := s.path(key)
	fi, err := os.Lstat(p)
	if notExist(err) || err == nil && fi.IsDir() {
		return nil
	}
	if err := os.Remove(p); err != nil && !notExist(err) {
		return wrap("delete", key, err)
	}
	return nil
}

// DeletePrefix removes the directory prefix names, temp files of writers
// under it included.
func (s *Store) DeletePrefix(ctx context.Context, prefix string) error {
	if err := check(ctx, "delete prefix", prefix, blob.ValidDeletePrefix); err != nil {
		return err
	}
	dir := s.path(strings.TrimSuffix(prefix, "/"))
	fi, err := os.Lstat(dir)
	if notExist(err) || err == nil && !fi.IsDir() {
		return nil
	}
	err = os.RemoveAll(dir)
	s.removed(dir)
	if err != nil {
		return wrap("delete prefix", prefix, err)
	}
	return nil
}

// List walks the directories under prefix's last '/', in key order:
// each directory's entries sorted as their keys sort, a directory's name
// followed by '/' ("a.b" before "a/x", as '.' < '/').
func (s *Store) List(ctx context.Context, prefix string, fn func(blob.Info) error) error {
	if err := check(ctx, "list", prefix, blob.ValidPrefix); err != nil {
		return err
	}
	i := strings.LastIndexByte(prefix, '/')
	dirKey, first := prefix[:i+1], prefix[i+1:] // i = -1: the root, names starting with prefix
	return s.list(ctx, dirKey, first, fn)
}

// list lists the directory of keys starting with dirKey ("" or ending in
// '/'), only its names starting with first.
func (s *Store) list(ctx context.Context, dirKey, first string, fn func(blob.Info) error) error {
	entries, err := os.ReadDir(s.path(dirKey))
	if notExist(err) {
		return nil // nothing under it, or it went meanwhile
	}
	if err != nil {
		return wrap("list", dirKey, err)
	}
	type entry struct {
		name, sortKey string
		dir           bool
	}
	var es []entry
	for _, e := range entries {
		name := e.Name()
		if !strings.HasPrefix(name, first) || name[0] == '.' { // dot names: temp files
			continue
		}
		sk := name
		if e.IsDir() {
			sk += "/"
		}
		es = append(es, entry{name, sk, e.IsDir()})
	}
	slices.SortFunc(es, func(a, b entry) int { return cmp.Compare(a.sortKey, b.sortKey) })
	for _, e := range es {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("list %s: %w", dirKey, err)
		}
		key := dirKey + e.name
		if e.dir {
			if err := s.list(ctx, key+"/", "", fn); err != nil {
				return err
			}
			continue
		}
		fi, err := os.Lstat(s.path(key))
		if notExist(err) {
			continue // deleted meanwhile
		}
		if err != nil {
			return wrap("list", key, err)
		}
		if !fi.Mode().IsRegular() || !blob.ValidKey(key) {
			continue // not ours: a symlink, a name no key can have
		}
		if err := fn(info(key, fi)); err != nil {
			return err
		}
	}
	return nil
}

// Space is the free space of the root's file system and the reserve.
func (s *Store) Space(ctx context.Context) (free, reserve int64, ok bool) {
	free, ok = s.free(s.root)
	return free, s.minFree, ok
}

// low reports whether the free space is below the reserve, with what is
// free; a file system that cannot tell is given the benefit of the doubt
// (a real ENOSPC still fails the write).
func (s *Store) low() (free int64, low bool) {
	if s.minFree <= 0 {
		return 0, false
	}
	free, ok := s.free(s.root)
	return free, ok && free < s.minFree
}

// object is an open object's file.
type object struct {
	f    *os.File
	info blob.Info
}

func (o *object) Read(p []byte) (int, error)              { return o.f.Read(p) }
func (o *object) ReadAt(p []byte, off int64) (int, error) { return o.f.ReadAt(p, off) }
func (o *object) Close() error                            { return o.f.Close() }
func (o *object) Size() int64                             { return o.info.Size }
func (o *object) Info() blob.Info                         { return o.info }
