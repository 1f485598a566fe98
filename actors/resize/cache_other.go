//go:build !linux

package resize

import "os"

// dropCache is Linux only (posix_fadvise); elsewhere the kernel decides.
func dropCache(*os.File) {}
