//go:build !linux

package fsblob

// publishExclusive puts the temp file tmp under path unless a file is
// already there (fs.ErrExist, and tmp stays): link and remove.
func publishExclusive(tmp, path string) error { return linkExclusive(tmp, path) }
