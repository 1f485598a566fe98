package persistence

import "errors"

// Sentinel errors returned by every Store; callers test them with errors.Is.
var (
	// ErrNotFound: no batch (or image) with that id.
	ErrNotFound = errors.New("not found")
	// ErrExists: a batch with that id is already stored.
	ErrExists = errors.New("already exists")
	// ErrClosed: the store was closed.
	ErrClosed = errors.New("store closed")
	// ErrConflict: the append breaks a rule of the event log (a second
	// terminal event for an image, an event after done, a non-terminal event
	// for a finished image). Nothing of the append was written.
	ErrConflict = errors.New("event log conflict")
	// ErrUnavailable: the backend cannot be reached right now; retry later.
	ErrUnavailable = errors.New("store unavailable")
)
