package fsblob

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// syncDirs makes a name just put in dir durable: it fsyncs dir, then,
// for each ancestor up to the root whose own entry is not known durable,
// its parent, from the top down. A new batch's directory costs its
// parent one fsync the first time; after that a durable write costs its
// own directory's alone.
//
// A directory is marked durable once its parent's fsync has returned,
// provided its parent is marked too (or is the root, which New made or
// found) and no removal ended meanwhile: a directory of the same name
// made since could be marked in its place. A removal still under way is
// harmless: it forgets the mark when it ends.
func (s *Store) syncDirs(dir string) error {
	if err := syncDir(dir); err != nil {
		return err
	}
	var chain []string // ancestors not known durable, dir first
	s.mu.Lock()
	for d := dir; d != s.root && strings.HasPrefix(d, s.root); d = filepath.Dir(d) {
		if _, ok := s.durable[d]; ok {
			break
		}
		chain = append(chain, d)
	}
	s.mu.Unlock()
	marking := true
	for i := len(chain) - 1; i >= 0; i-- {
		d := chain[i]
		s.mu.Lock()
		gen := s.removals
		s.mu.Unlock()
		if err := syncDir(filepath.Dir(d)); err != nil {
			return err
		}
		s.mu.Lock()
		if marking = marking && s.removals == gen; marking {
			if len(s.durable) >= maxMarks {
				// Forgetting is safe (the next durable write there fsyncs
				// the parent once more) and keeps the set bounded when
				// batches are never deleted (--retention 0).
				clear(s.durable)
			}
			s.durable[d] = struct{}{}
		}
		s.mu.Unlock()
	}
	return nil
}

// maxMarks bounds the directories remembered as durable: a batch's
// directory is wanted for the few writes of its upload, so a node that
// takes more batches than this between two deletes starts over. (A
// variable for the tests.)
var maxMarks = 4096

// removed forgets dir and every directory under it, once they are gone
// (DeletePrefix, SweepTemp).
func (s *Store) removed(dir string) {
	under := dir + string(filepath.Separator)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.removals++
	for d := range s.durable {
		if d == dir || strings.HasPrefix(d, under) {
			delete(s.durable, d)
		}
	}
}

// syncDir fsyncs a directory, which makes the names in it durable.
func syncDir(dir string) error {
	f, err := openFile(dir, os.O_RDONLY, 0)
	if err != nil {
		return fmt.Errorf("sync dir %s: %w", dir, err)
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sync dir %s: %w", dir, err)
	}
	return nil
}
