// Package resize is Backlot's image work and the resizer actor that runs
// it: judging an upload by its bytes (Sniff, Probe, Admit) and turning one
// stored upload into one stored thumbnail (Process), on the resizer
// (NewResizer: one Work at a time, answered with Done and Idle to the
// pool that spawned it). It imports no HTTP.
//
// Callers: the HTTP layer calls Probe and Admit on every uploaded file
// before the batch is accepted, mapping ErrUnsupported to 415 and
// ErrTooManyPixels and ErrTooMuchMemory to 413. The pool of package actors
// spawns the resizers; the batch's supervisor asks Permanent whether a
// failure is worth another attempt.
//
// The pipeline of Process: sniff → header decode and pixel limit → Exif
// orientation (JPEG) → decode → centre crop (cover) → box pre-shrink from
// the decoder's own planes down to twice the target → Lanczos to the exact
// size → orientation → encode → atomic write. See shrink.go for why the
// pre-shrink keeps quality, lanczos.go for the planar Lanczos, geometry.go
// for why orientation comes last.
//
// Two JPEG decoders; Decoder names this build's. Built with cgo (the
// default where a C compiler is found; needs libturbojpeg0-dev), JPEGs go
// through libjpeg-turbo (package turbojpeg) straight to Y, Cb, Cr planes,
// scaled in the DCT domain: dctScale picks the smallest of libvips'
// jpegload factors (1/2, 1/4, 1/8: loadFactors) that leaves the cover crop, or the whole
// image, at least the target's size on each side (and chroma at least half
// of it; for 4:1:1 all of it): sharp's default shrink-on-load, so both
// stacks decode the same pixels (see dctScale for the quality it costs).
// A 4000x3000 or 1920x1080 photo for a 100x100 cover decodes at 1/8, a
// 640x480 one at 1/4. The Lanczos after it runs in C with cgo
// (lanczos_cgo.go, vectorised by the compiler) and in Go without; the
// JPEG output is encoded by libjpeg-turbo with cgo, image/jpeg without. The crop then falls between decoded
// pixels; the Lanczos reads it at its exact fractional position, so the
// result stays within the quality tests' 35 dB of a full decode. CMYK,
// YCCK and RGB JPEGs are decoded by libjpeg-turbo to pixels at the same
// DCT scale and turned into planes (decodePixels). Files libjpeg-turbo
// does not decode (an unusual subsampling, a 4-component file without
// Adobe's marker, which image/jpeg refuses) or fails on (truncated,
// corrupt) go to image/jpeg, which has the last word: what a pure-Go
// build decodes, a cgo build decodes too, and a truncated file fails in
// both, with image/jpeg's message. Built with
// CGO_ENABLED=0 (or -tags noturbojpeg), every JPEG is decoded in full by
// image/jpeg and pre-shrunk from its planes.
//
// Issue 20's formats and variants, each through a C library with cgo and
// absent without (the tags noavif, noheif, nolcms drop one): WebP and AVIF
// out (packages webp and avif: libwebp, libavif; CanEncode tells, HTTP
// refuses the others with 400), HEIC/HEIF and AVIF in (package heif:
// libheif; without it probe answers ErrNoDecoder, a 415 naming the
// format), and embedded ICC profiles to sRGB (package lcms: Little CMS;
// icc.go). Options with variants make several outputs from one decode,
// at the scale the largest needs, each resized from the smallest rung of
// a ladder of 2×2 halvings that still holds it (ladder.go), all written
// before any is committed: one unit (process.go). Rebuild remakes one of
// them with the same bytes.
//
// Invariants:
//   - the format is judged by magic numbers and the format's own header
//     decoder, never by a name or Content-Type;
//   - no pixel buffer is allocated before the header's width*height has
//     passed Limits.MaxPixels;
//   - the result is written to a blob.Writer (Output) and committed
//     whole: a reader sees it absent, or the old object, or the whole new
//     one. It is not made durable: Result carries its size and CRC-32C,
//     the caller records them durably, and Verify tells a result that a
//     power cut took, so that it can be rebuilt from its (durable) source;
//   - the package opens no file: its sources (Source) and results
//     (Output) come from the caller's blob store;
//   - after Process returns ErrTimeout, its abandoned worker never
//     commits its result: it aborts it, which leaves nothing;
//   - a panic inside decode, resize or encode is returned as a permanent
//     *PanicError on the calling goroutine (or the worker goroutine for a
//     timed call), never a crash. Panics inside imaging's own helper
//     goroutines cannot be recovered from here; imaging only ever sees
//     well-formed images that this package made or decoded. Nor could a
//     crash inside libjpeg-turbo's C code: its errors come back as values,
//     and package turbojpeg never lets it write outside a checked buffer.
//
// Memory: Footprint works out, from the header alone, the most bytes an
// attempt can hold (decoder buffers and copies, libjpeg-turbo's own, the
// resize's and the encoder's), and a Budget (Limits.Budget) admits an
// attempt only when its footprint fits beside those under way and a
// decode slot is free, holding both until the work has really returned
// (budget.go).
//
// The package keeps no state between calls apart from sync.Pools of
// buffers (and of libjpeg-turbo decompressors); it is safe for concurrent
// use.
package resize
