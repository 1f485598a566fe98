// Package resize is Backlot's pure image work: judging an upload by its
// bytes (Sniff, Probe) and turning one stored upload into one stored
// thumbnail (Process). It imports neither the actor engine nor HTTP.
//
// Callers: the HTTP layer calls Probe on every uploaded file before the
// batch is accepted, mapping ErrUnsupported to 415 and ErrTooManyPixels to
// 413. The resizer actor calls Process once per attempt and asks Permanent
// whether a failure is worth another attempt.
//
// The pipeline of Process: sniff → header decode and pixel limit → Exif
// orientation (JPEG) → full decode → centre crop (cover) → box pre-shrink
// from the decoder's own planes down to twice the target → Lanczos to the
// exact size → orientation → encode → atomic write. See shrink.go for why
// the pre-shrink keeps quality, geometry.go for why orientation comes last.
//
// Invariants:
//   - the format is judged by magic numbers and the format's own header
//     decoder, never by a name or Content-Type;
//   - no pixel buffer is allocated before the header's width*height has
//     passed Limits.MaxPixels;
//   - dst is written atomically (temp file, fsync, rename, fsync of the
//     directory): it is absent, or the old file, or the whole new one;
//   - after Process returns ErrTimeout, its abandoned worker never creates
//     dst and leaves no temp file;
//   - a panic inside decode, resize or encode is returned as a permanent
//     *PanicError on the calling goroutine (or the worker goroutine for a
//     timed call), never a crash. Panics inside imaging's own helper
//     goroutines cannot be recovered from here; imaging only ever sees
//     well-formed images that this package made or decoded.
//
// The package keeps no state between calls apart from sync.Pools of
// buffers; it is safe for concurrent use.
package resize
