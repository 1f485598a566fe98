//go:build unix

package http

import "golang.org/x/sys/unix"

// freeBytes is the space an unprivileged writer may still use on the file
// system holding path (statfs: available blocks times block size).
func freeBytes(path string) (int64, bool) {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return 0, false
	}
	return int64(st.Bavail) * int64(st.Bsize), true
}
