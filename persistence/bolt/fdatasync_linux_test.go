package bolt_test

import (
	"os"
	"syscall"
)

// fdatasync syncs f's bytes and the metadata needed to read them, not
// its times (Linux: fdatasync(2)), as bbolt does its file.
func fdatasync(f *os.File) error { return syscall.Fdatasync(int(f.Fd())) }
