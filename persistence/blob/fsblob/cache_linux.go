package fsblob

import "golang.org/x/sys/unix"

// DropCache tells the kernel that the object's cached pages will not be
// read again (posix_fadvise DONTNEED), so they are freed at once rather
// than when memory runs short. A clean page is freed; a dirty one (an
// object not yet synced) is left to writeback. Advice only: an error
// changes nothing.
func (o *object) DropCache() {
	c, err := o.f.SyscallConn()
	if err != nil {
		return
	}
	_ = c.Control(func(fd uintptr) {
		_ = unix.Fadvise(int(fd), 0, 0, unix.FADV_DONTNEED)
	})
}
