// Package bolt is the single-node persistence.Store of versions before
// 2026-12-04, kept in one bbolt file (--data/backlot.db). The node now
// runs on persistence/pebble, which moves such a file's records into its
// own directory at the first start through Export; the Store stays, and
// passes persistence/storetest, so that Export reads exactly what it
// wrote. The file is locked for a Store's lifetime, so exactly one process
// owns the data; a second Open of the same file fails after a short
// timeout instead of hanging.
//
// # Layout
//
// Every value is JSON of the persistence types; every sequence key is an
// 8-byte big-endian integer, so bbolt's byte order is numeric order.
//
//	batches     batch id      → Batch
//	events      batch id      → sub-bucket: seq → Event (1, 2, 3 …)
//	pending     queue key     → Job, FIFO by key (keys from pending's NextSequence), until acked
//	inflight    queue key     → Job: only in files of earlier versions, moved to pending at Open
//	unfinished  batch id      → empty; an index of batches whose done is not recorded
//	done        time + id     → empty; finished batches by the time of their done (8-byte big-endian Unix ns, then the id): retention's Expired
//
// Fencing tokens (Fence, AppendFenced) are kept in memory, not in the
// file: the file is locked by one process, which holds every writer of
// its batches, and a restart ends them all (fence.go).
//
// # Invariants
//
//   - Every write (Create, Append, Requeue, Delete) returns after
//     a bbolt commit with fsync (NoSync stays false): what it returns as
//     written survives a crash. Writes that arrive while a commit is under
//     way share the next one (group commit, commit.go: one goroutine, no
//     timer), so a busy node pays one fsync for many writes; a write that
//     fails is retried alone, so it changes nothing and fails alone. Ack
//     is the exception: it returns at once and its delete goes with the
//     next commit (a lost ack only redelivers a finished job; see below).
//   - bbolt runs one writer at a time, and Append applies the events with
//     Batch.Decide to the batch it reads inside that transaction, so racing
//     appenders cannot produce a gap, a repeated seq or a second terminal
//     event. The rules themselves live in package persistence, not here.
//   - A job stays in pending from Create until Ack deletes it. Claim writes
//     nothing: it marks the first unmarked key in memory (Store.claimed), so
//     each job goes to one claimer; Requeue moves it to the back of pending
//     under a new key and drops the mark. A claim needs no durable write
//     because a crash must undo it anyway: after a restart every job not
//     acked is pending again, still under its original key, which is smaller
//     than any key issued later, so a job claimed when the process died is
//     redelivered first. Workers must therefore tolerate a job they already
//     finished (the event log refuses a second terminal event with
//     persistence.ErrConflict).
//   - Waiting claimers are woken by a channel that is closed and replaced
//     whenever work is added (Create, Requeue) and by Close; nothing polls.
package bolt
