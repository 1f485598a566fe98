package fsblob

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// SweepTemp removes the temp files under the root last written more than
// olderThan ago (a crash mid-write leaves them; a live writer's file is
// written to as its bytes arrive), then every directory under the root
// left empty. It returns how many temp files it removed.
//
// With olderThan 0 it removes every temp file: only while nothing writes
// to the store, i.e. at start, before the node takes uploads. A writer
// whose temp file it removed fails to commit. An empty directory removed
// under a Create that just made it is made again by the Create.
func (s *Store) SweepTemp(ctx context.Context, olderThan time.Duration) (int, error) {
	cut := time.Now().Add(-olderThan)
	removed := 0
	var dirs []string // every directory under the root, parents first
	err := filepath.WalkDir(s.root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if notExist(err) {
				return nil // removed meanwhile
			}
			return err
		}
		if cerr := ctx.Err(); cerr != nil {
			return cerr
		}
		if d.IsDir() {
			if path != s.root {
				dirs = append(dirs, path)
			}
			return nil
		}
		if !isTemp(d.Name()) || !d.Type().IsRegular() {
			return nil
		}
		fi, err := d.Info()
		if notExist(err) {
			return nil
		}
		if err != nil {
			return err
		}
		if !fi.ModTime().Before(cut) && olderThan > 0 {
			return nil
		}
		if err := os.Remove(path); err != nil && !notExist(err) {
			return err
		}
		removed++
		return nil
	})
	if err != nil {
		return removed, fmt.Errorf("sweep temp files: %w", err)
	}
	// Children before parents, so that a directory emptied by the removal
	// of its empty subdirectories goes too. rmdir removes only an empty
	// directory, atomically: one a writer has put a file in stays, and so
	// does one it cannot remove (housekeeping only, not worth an error).
	for i := len(dirs) - 1; i >= 0; i-- {
		if os.Remove(dirs[i]) == nil {
			s.removed(dirs[i])
		}
	}
	return removed, nil
}

// isTemp reports whether a file name is a Writer's temp file's.
func isTemp(name string) bool {
	return strings.HasPrefix(name, ".") && strings.Contains(name, tmpMark)
}
