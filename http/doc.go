// Package http is Backlot's HTTP API (../shared/API.md) on Fiber v2.
//
// Handlers only parse, check and answer; they return errors, and one error
// handler (errors.go) turns them into API.md's JSON. Uploads stream part by
// part into the blob store (Fiber's StreamRequestBody), so a request's
// memory does not grow with its size; results are read from it. The
// package opens no file itself (persistence/blob). Event streams are fed by an actors.Subscription and
// framed by http/sse; a stream never blocks the actor that feeds it.
package http
