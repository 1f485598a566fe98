// Package fsblob is the blob.Store on a local directory: the node's data
// directory, where a key "batches/b/i.src" is the file
// <root>/batches/b/i.src, so the layout is the one the node always had.
//
// # Writes
//
// A Writer writes a temp file beside its target, named
// ".<name>.tmp-<random>" (mode 0644, as results are ordinary files an
// operator may copy); List never shows dot names, and keys cannot have
// them (blob.ValidKey). Commit renames it onto the key (atomic within one
// file system); with Exclusive it renames with RENAME_NOREPLACE (Linux),
// which fails on an existing name where rename would replace it, or
// where the file system lacks that, hard-links it there and removes the
// temp name. An existing object under an Exclusive key is refused by
// Commit, not Create. Directories are made as needed.
//
// Durability: a Durable Commit fsyncs the file, renames, and fsyncs the
// directory that holds it; so does Sync on a committed key. The first
// time a directory is seen by a durable write, its parent is fsynced too
// (and so on up to the root), so that a new batch's directory survives
// with its files; after that the Store remembers it, and forgets it when
// it removes the directory. So only this Store may remove directories
// under root. Without Durable nothing is fsynced: the object survives a
// crash of the process (the page cache does) but not a power cut.
//
// The reserve: with Options.MinFree, Create and then every MiB written
// look at the free space (statfs, about a microsecond) and fail with
// blob.ErrInsufficientStorage below it, unless UseReserve; ENOSPC and
// EDQUOT from any step wrap it as well.
//
// # Crash leftovers
//
// A crash mid-write leaves a temp file (never listed). SweepTemp removes
// temp files older than a grace, and directories left empty; DeletePrefix
// removes those under its prefix with everything else. The node calls
// SweepTemp at start, with no grace, before it sweeps unrecorded batches,
// since a batch directory holding only a temp file lists as nothing.
package fsblob
