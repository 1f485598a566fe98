//go:build !unix

package fsblob

import "os"

// rename is os.Rename, which replaces an existing file here too
// (Windows: MoveFileEx with MOVEFILE_REPLACE_EXISTING).
func rename(tmp, path string) error { return os.Rename(tmp, path) }
