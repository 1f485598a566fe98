// Package bench is Backlot's load harness, run as `backlot bench`;
// bench/compare.sh runs it against Backlot and the Node.js reference stack
// side by side. It is a client of the public API of API.md only, so it can
// drive any server of that API: it uploads batches of images with a fixed
// number of batches in flight, follows each batch's event stream to its
// done event (reopening a broken stream with Last-Event-ID, as EventSource
// does, and one refused with 503 after its Retry-After, as the web page
// does), and reports images/s, upload and completion latency percentiles,
// and every error by kind. Without a URL it starts a Backlot itself and
// reports the server's peak RSS and CPU time (--pid does the same for any
// local server).
//
// Invariants:
//   - A run is bounded: by --total images or --duration (then a hard
//     deadline of duration + drain), and every batch by --batch-timeout.
//   - No error is hidden: each is counted under a kind of bounded
//     cardinality ("upload: http 503 queue_full", "sse: stream ended before
//     done", "timeout: waiting for done", "image failed") with an example,
//     and any error makes the command fail unless --allow-errors.
//   - Images/s counts completed images over the wall time from the first
//     upload to the last done; failed images are errors, not throughput.
//   - Config.Trace (no flag) hands each batch as the client saw it (id,
//     upload status, every event of its stream) to a test that checks the
//     server's promises across failures (cmd/backlot's failover test).
//   - Workload images are built in memory before the clock starts, so the
//     client's file or encode work never shows in the server's numbers.
//
// Pure parts (flags, percentiles, report, progress line, /proc parsing) are
// functions tested on their own; Run is tested against a small real HTTP
// server implementing the API, StartServer against a helper process.
package bench
