//go:build !linux

package resize

// setNice is a no-op where threads have no priority of their own.
func setNice(int) {}
