// Package s3blob is the blob.Store in a bucket of an S3-compatible object
// store (AWS S3, SeaweedFS, MinIO, Ceph RGW, R2, GCS's S3 API), through
// minio-go. A key "batches/b/i.src" is the object Prefix+"batches/b/i.src".
//
// # Writes
//
// A Writer holds what it is given in memory up to 1 MiB (results, and
// uploads the size of a 1920x1080 JPEG, never touch the disk) and past
// that spools it to a temp file on the node's disk (Options.SpoolDir);
// Commit sends it in one PUT with its length. So memory stays bounded
// whatever the object's size (1 MiB per open Writer; the PUT streams the
// file), a Write never waits on the network, an aborted Writer leaves
// nothing in the bucket (no incomplete multipart upload to clean up), and
// the object appears whole when the PUT succeeds and not at all when it
// fails: S3's PUT is atomic. A multipart upload would also bound memory,
// but only at 5 MiB per part per Writer held in memory, it costs three
// requests at least, and it leaves parts behind when a node dies
// mid-way. The cost is the spool's disk traffic for large objects, and a
// single PUT is limited to 5 GiB on AWS, far above any image Backlot
// takes.
//
// Create asks the store nothing. Exclusive: Commit's PUT carries
// If-None-Match: *, which the store refuses with 412 when the key is
// taken (AWS since 2024, SeaweedFS, MinIO), and that is blob.ErrExists.
// Commit's Info has the PUT's ETag and this node's clock for ModTime (a
// PUT's answer has no modification time; a HEAD for it would cost a
// request per object).
//
// Durable and Sync cost nothing: a PUT is durable once answered.
//
// # Reads
//
// Open is one GET of the whole object: its answer tells the size and
// ETag, Open reads the first 160 KiB (where the header probes and the
// look for a JPEG's Exif orientation read; a smaller object, a result, is
// read whole), and keeps the rest of the answer for a read that goes on
// from there: a decoder taking the whole file, or a download. So a resize
// reads its source in one request, and a download of a result too. A
// kept answer that died meanwhile (the server closed the idle
// connection) is replaced by a ranged GET of the rest. Reads elsewhere
// are ranged GETs carrying If-Match with the ETag, so an object replaced
// since Open fails to read rather than mix versions (blob.Store's rule),
// and a deleted one fails with blob.ErrNotFound; they go in blocks of
// 256 KiB, the last four kept (160 KiB + 1 MiB per open object at most),
// since decoders probe headers a few bytes at a time, but for a read of
// a block or more, which is one GET into the caller's buffer. An object
// opened for its header alone (the upload's probe of a file whose header
// is past its first 160 KiB) drops the rest of the answer, and with it
// the connection.
//
// PUTs carry UNSIGNED-PAYLOAD, as minio-go sends over HTTPS: over plain
// HTTP it would sign every 64 KiB chunk with SHA-256 and the server check
// each; the request itself stays signed.
//
// # Errors
//
// A 404 (NoSuchKey) is blob.ErrNotFound; a network failure, a 5xx or
// throttling (after minio-go's retries, Options.MaxRetries) is
// blob.ErrUnavailable, and so is a GET or PUT of which no byte moved for
// Options.IdleTimeout (30 s): a server that hangs rather than refuses must
// not hold a resize's decode, or an upload, for ever. New checks the
// endpoint, the credentials and the bucket with one listing, and names
// what is wrong in one sentence.
package s3blob
