// Package actors runs Backlot's work on a Hollywood actor engine, the same
// way on a node alone (a cluster of one, members.go) and on each member of
// a cluster.
//
//   - manager: one per node; routes a batch's messages to the batch's
//     supervisor on its owner, spawning it on this node when it is the
//     owner, and stops it when it is done.
//   - supervisor: one per batch, its writer while it holds the latest
//     fencing token: records each attempt's start and outcome through the
//     store, which decides what they produce (done included), fans the
//     recorded events out, sends work to the pool that claimed each job
//     and tells that pool how to settle it.
//   - pool: one per node; owns the resizers, the claim loop (a claim only
//     while a slot is free) and the jobs it claimed until they are settled.
//   - resizer (actors/resize): runs resize.Process on one job at a time.
//   - subscriber: one per SSE connection; hands its batch's events to the
//     connection through a bounded channel it never blocks on.
//
// Messages are plain structs, turned into protobuf (actors/clusterpb) only
// when their target is on another node (wire.go). Image work is in
// actors/resize, the rules of the event log in persistence.Batch.
package actors
