// Package actors runs Backlot's work on a Hollywood actor engine, the same
// way on a node alone and on each member of a cluster: a node alone is a
// cluster of one (members.go).
//
// Actors and who owns what:
//   - manager: one per node; routes a batch's messages to the batch's
//     supervisor on its owner (rendezvous hashing over the members),
//     spawning it on demand on this node, and stops it when it is done.
//   - supervisor: one per batch, on its owner; the batch's writer while it
//     holds the batch's latest fencing token. It records each attempt's
//     start and outcome through the store, which decides what they
//     produce (done with the last terminal event, Batch.Decide), fans the
//     recorded events out to its subscribers, sends work to the pool that
//     claimed each job and tells that pool how to settle it.
//   - pool: one per node; owns the resizer actors (one per worker), the
//     claim loop (a goroutine that claims a job only while a slot is free:
//     one per resizer plus Config.ClaimAhead) and the jobs it claimed
//     until their supervisor says ack or requeue.
//   - resizer: runs resize.Process on one job at a time: its source
//     opened from Config.Blobs, its result created there.
//   - subscriber: one per SSE connection; receives its batch's events and
//     hands them to the connection's writer through a bounded channel it
//     never blocks on (a reader that falls too far behind is cut off and
//     resumes with Last-Event-ID).
//
// Messages are plain structs; System.send turns them into protobuf
// (actors/clusterpb) when their target is on another node (wire.go). The
// actors are thin: image work is in actors/resize, the rules of the event
// log in persistence.Batch.
package actors
