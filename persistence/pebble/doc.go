// Package pebble is the single-node persistence.Store, kept in a Pebble
// (github.com/cockroachdb/pebble/v2) directory: the embedded default.
//
// cmd/backlot opens it with OpenDataDir(dataDir) as dataDir/store; nothing
// else imports it. Pebble locks the directory for the store's lifetime, so
// exactly one process owns the data; a second open fails at once, naming
// the lock.
//
// # Layout
//
// Every value is JSON of the persistence types; ids are the 36-byte UUIDs
// persistence.ValidID allows; sequence numbers and times are 8-byte
// big-endian integers, so byte order is numeric order. The first byte of a
// key names what it holds:
//
//	'b' id          → Batch
//	'e' id seq      → Event: the batch's log (1, 2, 3 …)
//	'p' seq         → Job: the pending queue, FIFO by seq, until acked
//	'u' id          → empty: batches whose done is not recorded
//	'd' doneAt id   → empty: finished batches by the time of their done (Unix ns): retention's Expired
//	'm' name        → the store's own facts: "moved-from", the bbolt file it was made from
//
// Fencing tokens (Fence, AppendFenced) and claims are kept in memory, not
// in the directory: one process holds every writer of its batches, and a
// restart ends them all.
//
// # Invariants
//
//   - Every write (Create, Append, Requeue, Delete) returns after a Pebble
//     commit with pebble.Sync: what it returns as written survives a power
//     cut. Commits of different batches that arrive together share one
//     sync of the write-ahead log (Pebble's commit pipeline), and once its
//     log files recycle, a sync writes no file-system metadata. Ack is the
//     exception: its delete is committed without a sync and becomes
//     durable with the next synced commit (a lost ack only redelivers a
//     finished job).
//   - A batch's writes take the batch's lock (idLocks) around read,
//     Batch.Decide and commit, so two appenders of one batch never decide
//     on the same stored state: no gap, no repeated seq, no second
//     terminal event. The rules themselves live in package persistence.
//   - A job stays under 'p' from Create until Ack deletes it. The pending
//     queue is also held in memory in seq order (loaded at Open), so Claim
//     reads nothing and never walks the deletion marks acked jobs leave
//     until a compaction drops them. Claim moves a job to a claimed set in
//     memory, writing nothing; Requeue moves it to the back under a new
//     seq. After a crash every job not acked is pending again in seq
//     order, so a job in flight when the process died is redelivered
//     first. Workers must tolerate a job they already finished (the log
//     refuses a second terminal event with persistence.ErrConflict).
//   - Waiting claimers are woken by a channel that is closed and replaced
//     whenever work is added (Create, Requeue) and by Close; nothing polls.
//
// # Moving from bbolt
//
// Versions before this one kept the same records in one bbolt file,
// dataDir/backlot.db (package bolt). OpenDataDir moves such a file at the
// first start: bolt.Export hands its records to a fresh Pebble in
// dataDir/store.new, which is flushed, closed and renamed to dataDir/store;
// the old file is then renamed dataDir/backlot.db.moved and never read
// again. Each step is safe to cut short by a crash (datadir.go). The data
// dir's own lock, dataDir/LOCK, keeps a second process from moving it at
// the same time.
package pebble
