package blob

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"time"
)

// Store holds objects under keys (ValidKey). Every method refuses an
// invalid key with ErrInvalidKey and a done ctx with its error, and is
// safe for concurrent use. A backend keeps a compile-time check,
// var _ blob.Store = (*Store)(nil).
//
// Keys are flat names, as on S3: "a/b" existing says nothing of "a". A
// local store maps '/' to directories, so there one key cannot be a
// prefix segment of another ("a" beside "a/b"); the keys this package
// makes never are.
type Store interface {
	// Create starts writing the object under key. Nothing is visible
	// under key until the Writer's Commit returns nil; the caller ends
	// every Writer with Commit or Abort (defer w.Abort() is the habit:
	// after Commit it does nothing). ctx bounds the whole Writer.
	//
	// With opts.Exclusive, the object must be new: when key already
	// holds an object, Create or (in a store that does not look before
	// writing: fsblob, S3) the Writer's Commit fails with ErrExists. Once the
	// store's room is below its reserve it fails with
	// ErrInsufficientStorage, unless opts.UseReserve.
	Create(ctx context.Context, key string, opts CreateOptions) (Writer, error)

	// Open opens the object under key for reading, or fails with
	// ErrNotFound. The Object reads the version it opened: replaced or
	// deleted meanwhile, it still reads that version or fails (a remote
	// store may), never another version's bytes.
	Open(ctx context.Context, key string) (Object, error)

	// Stat describes the object under key, or fails with ErrNotFound.
	Stat(ctx context.Context, key string) (Info, error)

	// Sync makes the committed object under key durable: once it
	// returns nil, the object survives a power cut. It is what makes a
	// Writer committed without opts.Durable durable later, so that the
	// upload can read and judge a file while it is being synced in the
	// background, and sync several at once. A store whose every
	// commit is durable (S3) returns nil without looking; a local store
	// returns ErrNotFound for a missing key.
	Sync(ctx context.Context, key string) error

	// Delete removes the object under key. A missing one is not an
	// error: retention and the sweep may both get there.
	Delete(ctx context.Context, key string) error

	// DeletePrefix removes every object whose key starts with prefix,
	// which must end in '/' (ValidDeletePrefix): "batches/ab/" removes
	// batch ab's objects, never batch abc's. Writers still open under
	// prefix fail to commit, or commit after it (a remote store cannot
	// tell): callers delete only what nobody writes to. Nothing under
	// prefix is not an error.
	DeletePrefix(ctx context.Context, prefix string) error

	// List calls fn with every committed object whose key starts with
	// prefix (ValidPrefix; "" lists all), in increasing byte order of
	// keys, as S3 lists. Objects being written are never listed. An
	// error from fn stops the listing and is returned as it is. Objects
	// committed or deleted while List runs may be listed or not.
	List(ctx context.Context, prefix string, fn func(Info) error) error
}

// CreateOptions says how Create writes an object. The zero value writes
// a plain object: it replaces any object under its key at Commit, and is
// visible (to this node and, on a shared store, to others) once Commit
// returns, but only survives a power cut once Sync has returned.
type CreateOptions struct {
	// Exclusive: the object must be new. When key holds an object,
	// Commit fails with ErrExists (a store may refuse at Create
	// already; neither fsblob nor S3 asks before writing), also when
	// one was committed under key since Create (fsblob: renameat2
	// RENAME_NOREPLACE or link(2); S3: If-None-Match: *).
	Exclusive bool

	// Durable: when Commit returns nil the object survives a power cut
	// (fsblob: fsync the file, rename, fsync the directories). Without
	// it, Sync makes it durable later.
	Durable bool

	// UseReserve lets the write eat into the reserve a store keeps
	// (Spacer): for the results of work already accepted, which is what
	// the reserve is kept for. Uploads never set it. A full disk fails
	// the write whatever this says.
	UseReserve bool
}

// Writer is an object being written. Writes go to a place nobody reads;
// Commit publishes them under the key at once, Abort drops them. A
// Writer is used by one goroutine at a time; Commit may be called from
// another goroutine than the writes once the last Write has returned.
type Writer interface {
	// Write appends p to the object. A failed Write fails the Writer:
	// Commit then returns that error and commits nothing. Once the
	// store's room falls below its reserve (looked at every MiB on a
	// local disk) Write fails with ErrInsufficientStorage, unless
	// CreateOptions.UseReserve.
	io.Writer

	// Commit makes the object visible under its key, whole and at once,
	// replacing what was there (or, with Exclusive, failing with
	// ErrExists), and returns its Info: Key, Size and ETag as Stat
	// would tell them; ModTime the store's (fsblob) or, where learning
	// it would cost another request (S3: a PUT's answer has none), this
	// node's clock when the commit was answered. With CreateOptions.Durable it is
	// durable when Commit returns. When Commit fails nothing of the
	// Writer remains and nothing under the key changed, but for one
	// case: a Durable Commit that fails to make the new object durable
	// once it replaced an old one (an I/O error) leaves neither. A second
	// Commit, or a Commit after Abort, fails with ErrClosed.
	Commit(ctx context.Context) (Info, error)

	// Abort drops what was written; nothing of the Writer remains. After
	// Commit, or a second time, it does nothing and returns nil.
	Abort() error
}

// Object is an open object: read it from the start (io.Reader) or at
// any offset (io.ReaderAt: decoders and header probes jump about). Size
// is its length in bytes, as io.SectionReader and bytes.Reader tell
// theirs; Info describes it. Read and ReadAt do not disturb each other.
// The caller closes it; fasthttp's SendStream closes what it is given.
type Object interface {
	io.Reader
	io.ReaderAt
	io.Closer
	Size() int64
	Info() Info
}

// Info describes a committed object.
type Info struct {
	Key     string
	Size    int64
	ModTime time.Time // when it was written, to the store's precision

	// ETag tells versions of an object apart: opaque and unquoted, it
	// differs between two versions with different bytes. fsblob derives
	// it from the file's size, modification time and inode (no read of
	// the bytes); S3 gives the MD5 of the bytes, or of the parts.
	ETag string
}

// Spacer is an optional interface of a Store that writes to a disk whose
// room it watches: fsblob. It reports the free bytes there and the
// reserve the store keeps (writes that would leave less free fail with
// ErrInsufficientStorage); ok is false when the free space cannot be
// told, and then no reserve is kept. A store without Spacer (S3) has no
// disk of ours to fill: callers skip their disk checks for it, rather
// than assume a number.
//
// The upload uses it before reading a body (free less the declared
// length against reserve, for 507 before a byte is written) and /readyz
// to show and judge the disk:
//
//	if sp, ok := st.(blob.Spacer); ok {
//		if free, reserve, ok := sp.Space(ctx); ok && free-n < reserve { ... }
//	}
type Spacer interface {
	Space(ctx context.Context) (free, reserve int64, ok bool)
}

// Checker is an optional interface of a Store on a server that may be
// unreachable (S3): Check asks the server for something cheap and
// returns an error (one sentence naming the problem) when it cannot
// answer, as readiness probes want. A store without it (fsblob) is there
// as long as the node is.
type Checker interface {
	Check(ctx context.Context) error
}

// Await returns nil once s answers its Check (at once when s is no
// Checker), checking every 250 ms, doubling to 5 s, each check bounded by
// 2 s; it tells down of each failure and the wait before the next check.
// It returns ctx's error when ctx ends first.
func Await(ctx context.Context, s Store, down func(err error, retryIn time.Duration)) error {
	ch, ok := s.(Checker)
	for wait := 250 * time.Millisecond; ok; wait = min(2*wait, 5*time.Second) {
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		err := ch.Check(cctx)
		cancel()
		if err == nil {
			break
		}
		if ctx.Err() == nil {
			down(err, wait)
			select {
			case <-time.After(wait):
				continue
			case <-ctx.Done():
			}
		}
		return ctx.Err()
	}
	return nil
}

// Presigner is an optional interface of a Store whose objects clients
// can fetch themselves (S3): PresignGet returns a URL that reads the
// object under key without credentials until ttl has passed, so a node
// can redirect a client there rather than proxy the bytes. cacheControl,
// when not empty, is the Cache-Control the store answers it with.
type Presigner interface {
	PresignGet(ctx context.Context, key string, ttl time.Duration, cacheControl string) (*url.URL, error)
}

// WholeCommits is an optional interface of a Store whose every commit is
// durable and whole once Commit returns (S3: a PUT is atomic and durable
// when answered), so what it holds under a key is exactly what a Writer
// committed: a reader need not check the bytes against a record of them
// (a length check is enough), where a local store's unsynced file may
// have lost its tail to a power cut.
type WholeCommits interface {
	CommitsWhole() bool
}

// NameSyncer is an optional interface of a Store whose Sync makes two
// things durable that it can make apart: an object's bytes (SyncData)
// and the names under a prefix (SyncNames; fsblob: the directory's
// entries, and the directory's own entry in its parents). Sync(key) is
// SyncData(key) and SyncNames of the key's directory; an upload of
// several objects under one prefix makes each one's bytes durable and
// then, once they are all committed, their names at once, saving a
// directory fsync (and the disk's cache flush) per object. Once
// SyncData of every object and a SyncNames of their prefix begun after
// their commits have returned nil, they are as durable as after Sync.
type NameSyncer interface {
	SyncData(ctx context.Context, key string) error
	// SyncNames: prefix ends in '/' (ValidDeletePrefix's rule).
	SyncNames(ctx context.Context, prefix string) error
}

// CacheDropper is an optional interface of an Object whose store keeps
// its bytes in a cache of this machine's memory (fsblob: the page
// cache). DropCache advises that the bytes will not be read again, so
// the cache can give up their memory at once; advice only, nothing
// breaks when it is ignored. The resizer calls it once a source is
// decoded: a source is written once, read once.
type CacheDropper interface {
	DropCache()
}

// Put writes r to key through Create and Commit: the whole of r, or
// nothing. Read errors of r are returned as they are, wrapped.
func Put(ctx context.Context, s Store, key string, r io.Reader, opts CreateOptions) (Info, error) {
	w, err := s.Create(ctx, key, opts)
	if err != nil {
		return Info{}, err
	}
	defer w.Abort()
	if _, err := io.Copy(w, r); err != nil {
		return Info{}, fmt.Errorf("put %s: %w", key, err)
	}
	return w.Commit(ctx)
}
