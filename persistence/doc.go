// Package persistence holds Backlot's domain: batches, images, their
// options, the per-batch event log and the Store contract that every
// backend (persistence/bolt, persistence/redis) implements.
//
// It imports nothing of the application. Callers are the HTTP layer (which
// creates batches and reads them) and the actors (which claim work, append
// events and ack). The rules of the event log — which event may follow which,
// how counters move, when a batch is done — live in plain functions here
// (Batch.Apply) so that every backend enforces the same ones and they can be
// tested without an engine or a database.
//
// Invariants every Store keeps (checked by persistence/storetest):
//   - event sequence numbers of a batch are 1, 2, 3 … with no gap or repeat;
//   - an image gets at most one terminal event (completed or failed);
//   - done is decided by the store, never appended by a writer: it is
//     stored in the same write as the event that leaves every image
//     terminal (Batch.Decide), once, and nothing follows it;
//   - a claimed job stays recorded as in flight until it is acked or requeued,
//     and survives a restart of the store.
package persistence
