//go:build !linux

package resize

func threadNice() (int, error) { return 0, nil }
