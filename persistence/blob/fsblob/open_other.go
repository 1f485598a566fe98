//go:build !unix

package fsblob

import "os"

// openFile is os.OpenFile (open_unix.go says why Unix differs).
func openFile(name string, flag int, perm os.FileMode) (*os.File, error) {
	return os.OpenFile(name, flag, perm)
}
