// Package blob is the contract for the node's bytes: uploaded sources and
// resized results, stored as objects under '/'-separated keys. Store is
// what a backend must do (fsblob on a local directory, s3blob in a bucket),
// Put and the key helpers are built on it, and blobtest holds every rule
// of the contract as one suite that each backend runs.
//
// Every byte the node writes or reads goes through a Store: the upload
// (Create, then Sync before the 202), the resizer (Open the source,
// Create the result), result serving (Open), retention (DeletePrefix of a
// batch) and the orphan sweep (List, DeletePrefix).
//
// # Invariants
//
//   - An object is visible under its key whole or not at all: a Writer's
//     bytes appear only when Commit returns nil, all at once, and an
//     aborted or failed Writer leaves nothing behind.
//   - Keys are made from server ids only (SourceKey, OutputKey,
//     BatchPrefix); ValidKey refuses anything that could leave the store's
//     namespace, and every method refuses an invalid key with
//     ErrInvalidKey before touching storage.
//   - Backends turn their native signals (ENOENT, ENOSPC, a 404, a 503)
//     into this package's sentinels at the boundary, so callers and the
//     suite test them with errors.Is.
//
// # Context
//
// Every method fails with an error wrapping ctx.Err() when its ctx is
// already done, and touches nothing. The ctx given to Create bounds the
// whole Writer: once it is done, Commit fails and nothing is committed;
// Writes fail too, fsblob's at once, a remote store's once its request
// has noticed. A local store cannot interrupt a system call already under
// way, so it notices a cancelled ctx between calls (between Writes,
// between listed entries); a remote one aborts its request.
package blob
