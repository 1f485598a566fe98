// Package bench will hold the load harness (`backlot bench`, `make bench`):
// a client of the public API only that uploads batches, follows their event
// streams and reports throughput and latency. Filled by issue 5 ("Speed: a
// bench harness…"); until then, `go test -bench` in actors/resize and
// persistence/bolt measures the pieces.
package bench
