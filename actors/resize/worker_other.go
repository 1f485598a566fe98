//go:build !linux

package resize

// lowerPriority is a no-op where threads have no priority of their own.
func lowerPriority() {}

const resizeNice = 0
