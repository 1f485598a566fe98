// Package segblob is the blob.Store that keeps objects in a few large
// files written beforehand (segments), with an index of them in Pebble,
// instead of a file per object: step 2 of the road in bench/README.md.
// Making, syncing and removing a file per object is what the node's disk
// spent most on (an inode allocated and freed, a directory written, per
// image); appending to a segment and syncing it changes no metadata.
//
// # Layout
//
// Under its directory (a node's --data/blobs/): segment files seg-NNNNNNNN,
// each SegmentSize bytes (64 MiB) of zeros when made, and index/, a Pebble
// database. A record in a segment starts on a 4 KiB boundary: a 24-byte
// header (magic, key length, data length, the data's CRC-32C, the
// header's own CRC), the key, the bytes. The index maps 'k'+key to the
// record's segment, offset, room, size, CRC and time. The index is the
// truth: a record it does not point to is garbage.
//
// # Writes
//
// A Writer gathers the object in memory (the header's room first, so
// that the record goes out in one pwrite). At Commit the record is given
// room at the end of the head segment and written; with Durable the
// segment is fdatasynced (one sync for every Commit waiting: a group
// commit) and then the index entry is written with a synced Pebble
// commit. Without Durable neither is synced; SyncData syncs the segment,
// SyncNames the index's log, Sync both (blob.NameSyncer). An object
// larger than MaxInline (4 MiB) moves to Fallback as it is written:
// Fallback, the fsblob.Store on the data directory, also holds every
// object an earlier version wrote, so an old data directory needs no
// copying. A key is looked up in the index first, then in Fallback.
//
// # Reads
//
// Open reads the record into memory and checks its CRC: the Object holds
// that version whatever becomes of the segment, and a record whose bytes
// never reached the disk (committed without Durable, a power cut before
// Sync) reads as blob.ErrNotFound, never as wrong bytes.
//
// # Space
//
// Each segment counts the room of the records the index points to
// (counted at Open from the index, kept exact after: every index write
// of a key holds its lock). A segment with none, not the head, is freed;
// a background goroutine makes it a spare once the index's log is synced
// (so no deleted entry a crash brings back points into it), and makes a
// new segment when no spare is left, so that a Commit rarely waits. A
// steady load of writes and retention's deletes reuses the same files.
// Not done yet: compacting a segment that a few long-kept objects keep
// alive (retention deletes batches in the order they were written, so
// segments die whole).
package segblob
