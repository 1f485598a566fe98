package blob

import "errors"

// Sentinel errors returned by every Store; callers test them with errors.Is.
var (
	// ErrNotFound: no object under that key (Open, Stat, Sync).
	ErrNotFound = errors.New("blob not found")
	// ErrExists: an exclusive Create or Commit found an object already
	// under its key. Nothing of the refused writer remains.
	ErrExists = errors.New("blob already exists")
	// ErrInsufficientStorage: the store has no room for the write: the
	// disk is full (wrapping ENOSPC or EDQUOT as well) or below the
	// reserve the store keeps (Spacer). Nothing of the writer remains
	// once it is aborted.
	ErrInsufficientStorage = errors.New("insufficient storage")
	// ErrUnavailable: a remote store cannot be reached right now; retry
	// later. The local store never returns it.
	ErrUnavailable = errors.New("blob store unavailable")
	// ErrInvalidKey: the key or prefix breaks ValidKey or ValidPrefix.
	ErrInvalidKey = errors.New("invalid blob key")
	// ErrClosed: Write or Commit on a Writer that was already committed or
	// aborted.
	ErrClosed = errors.New("blob writer closed")
)
