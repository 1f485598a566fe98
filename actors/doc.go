// Package actors runs Backlot's work on a Hollywood actor engine.
//
// Actors and who owns what:
//   - manager: one per node; maps batch id → its supervisor, spawning one on
//     demand (a claimed job, a subscription, recovery at start) and stopping
//     it when the batch is done.
//   - supervisor: one per batch; the only writer of that batch's event log.
//     It records every event durably (Store.Append) before it fans it out,
//     dispatches the batch's claimed images to the pool, turns results into
//     completed / retrying / failed, and appends done with the last terminal
//     event in one write.
//   - pool: owns the resizer actors (one per worker) and the claim loop, a
//     goroutine that claims a job from the store only while a slot is free
//     (one per resizer plus Config.ClaimAhead; a job waiting for a resizer
//     holds no pixels) — so memory is bounded by the pool, not by the queue.
//   - resizer: runs resize.Process on one job at a time.
//   - subscriber: one per SSE connection; receives the supervisor's events
//     and hands them to the connection's writer through a bounded channel it
//     never blocks on (a reader that falls too far behind is cut off and
//     resumes with Last-Event-ID).
//
// The actors are thin: image work is in actors/resize, the rules of the
// event log in persistence.Batch.Apply.
package actors
