package persistence

import "time"

// The defaults of Backlot's limits and timings, in one place: the
// command's flags start from them, and the HTTP layer and the actors fill
// a zero field of their configuration with them. (The decode memory's
// default is the resize package's, resize.DefaultMaxDecodeMemory: it is
// measured against that code.)
const (
	DefaultMaxFiles     = 100        // files per upload
	DefaultMaxFileSize  = 32 << 20   // bytes per file
	DefaultMaxBody      = 1 << 30    // bytes per request body
	DefaultMaxPixels    = 50_000_000 // width × height an image header may declare
	DefaultMaxQueued    = 10_000     // images waiting or running before uploads get 503 queue_full
	DefaultMinFreeDisk  = 256 << 20  // bytes the data directory's disk keeps free
	DefaultMaxAttempts  = 3          // resize attempts per image
	DefaultRetryBackoff = time.Second
	DefaultSSEPing      = 15 * time.Second
	DefaultRetention    = 24 * time.Hour
)
