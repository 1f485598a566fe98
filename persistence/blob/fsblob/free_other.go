//go:build !unix

package fsblob

import (
	"errors"
	"syscall"
)

// freeBytes cannot tell the free space here: no reserve is kept.
func freeBytes(string) (int64, bool) { return 0, false }

// noSpace reports whether err says the disk is full.
func noSpace(err error) bool { return errors.Is(err, syscall.ENOSPC) }
