// Package sse frames Server-Sent Events and parses them back.
//
// The writer side (AppendEvent, AppendComment, AppendRetry) is what Backlot's
// event streams send; ParseLastEventID reads the resume point a reconnecting
// EventSource sends. The reader side (Reader) parses a stream by the
// EventSource rules of the HTML standard and is used by the tests and the
// bench harness as a real SSE client.
//
// Invariant: whatever bytes a caller passes as an event name or data, a frame
// never lets them start a new field or event (no CR/LF injection): data is
// split into one "data:" line per line, and CR/LF in names are dropped.
//
// The package is pure: no HTTP server, no actors.
package sse
