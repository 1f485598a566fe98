//go:build !linux

package fsblob

// DropCache does nothing here: posix_fadvise is Linux's.
func (o *object) DropCache() {}
