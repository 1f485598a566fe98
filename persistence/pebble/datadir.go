package pebble

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/backlot/backlot/persistence"
	"github.com/backlot/backlot/persistence/bolt"
	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// The embedded store's names in a data directory.
const (
	StoreDir  = "store"            // the Pebble directory
	boltFile  = "backlot.db"       // the bbolt file of versions before it
	boltMoved = "backlot.db.moved" // that file once its contents are in StoreDir: a backup
	storeNew  = "store.new"        // StoreDir while the move fills it
)

// OpenDataDir opens the embedded store of the data directory dir, which
// must exist: the Pebble directory dir/store, made on first use. Another
// process holding dir (for a move) or dir/store is refused at once.
//
// A data directory of an earlier version holds a bbolt file,
// dir/backlot.db, instead. Its contents are moved first: copied into
// dir/store.new, made durable, renamed to dir/store, and the old file
// renamed to dir/backlot.db.moved, a backup that nothing reads again
// (delete it once the node runs well). A crash at any point is safe: a
// half-filled store.new is made again from the file at the next start,
// and once store exists the old file is only renamed, if it is the file
// store was made from (its size and time, recorded in store) and no
// backup is there yet; otherwise OpenDataDir refuses to start, saying
// which file to move away. moved, when not nil, is told what was moved.
func OpenDataDir(dir string, opts Options, moved func(MoveStats)) (*Store, error) {
	// The data dir's own lock (dir/LOCK) while this decides and moves:
	// two processes started on one old data dir must not both move it.
	// The store's lock (dir/store/LOCK) holds from Open on.
	lock, err := pebble.LockDirectory(dir, vfs.Default)
	if err != nil {
		return nil, fmt.Errorf("open store: lock the data dir %s (another process holds it?): %w", dir, err)
	}
	defer lock.Close()
	store, old := filepath.Join(dir, StoreDir), filepath.Join(dir, boltFile)
	haveStore, err := exists(store)
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	haveOld, err := exists(old)
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	if haveOld && !haveStore {
		st, err := move(dir)
		if err != nil {
			return nil, fmt.Errorf("move the store from %s to %s: %w", old, store, err)
		}
		if moved != nil {
			moved(st)
		}
	}
	s, err := Open(store, opts)
	if err != nil {
		return nil, err
	}
	if haveOld { // the move's last step: now, or where a crash cut it short
		if err := s.setAside(dir); err != nil {
			s.Close()
			return nil, fmt.Errorf("open store: %w", err)
		}
	}
	return s, nil
}

// setAside renames dir/backlot.db, whose contents s holds, to
// dir/backlot.db.moved. It refuses a backlot.db that is not the file s
// was moved from (one an earlier version wrote after the move: its
// batches are not in s), and never replaces a backup.
func (s *Store) setAside(dir string) error {
	old := filepath.Join(dir, boltFile)
	want, err := s.get(movedFromKey)
	if err != nil && !errors.Is(err, persistence.ErrNotFound) {
		return err
	}
	fi, err := os.Stat(old)
	if err != nil {
		return err
	}
	if got := fileMark(fi); !bytes.Equal(got, want) {
		return fmt.Errorf("%s holds %s and also %s, which is not the file %s was moved from (an earlier version wrote to it since?): "+
			"its batches are not in the store; move it out of the data dir to start on %s", dir, StoreDir, boltFile, StoreDir, StoreDir)
	}
	switch have, err := exists(filepath.Join(dir, boltMoved)); {
	case err != nil:
		return err
	case have:
		return fmt.Errorf("%s holds %s, moved into %s, and already a %s: move one of them out of the data dir", dir, boltFile, StoreDir, boltMoved)
	}
	return renameSynced(dir, boltFile, boltMoved)
}

// fileMark tells a file apart from another, or from itself after a
// write: its size and modification time.
func fileMark(fi os.FileInfo) []byte {
	return fmt.Appendf(nil, "%d %d", fi.Size(), fi.ModTime().UnixNano())
}

// MoveStats counts what the move from bbolt copied.
type MoveStats struct {
	From, To, Backup      string // the old file, the new store, the old file's new name
	Batches, Events, Jobs int
}

// move copies dir/backlot.db into dir/store.new and renames that to
// dir/store, durably.
func move(dir string) (MoveStats, error) {
	st := MoveStats{From: filepath.Join(dir, boltFile), To: filepath.Join(dir, StoreDir), Backup: filepath.Join(dir, boltMoved)}
	tmp := filepath.Join(dir, storeNew)
	if err := os.RemoveAll(tmp); err != nil { // a move a crash cut short
		return st, err
	}
	fi, err := os.Stat(st.From)
	if err != nil {
		return st, err
	}
	db, err := pebble.Open(tmp, &pebble.Options{FormatMajorVersion: pebble.FormatNewest, Logger: logger{discard}})
	if err != nil {
		return st, err
	}
	imp := &importer{db: db, wb: db.NewBatch(), st: &st}
	err = bolt.Export(st.From, imp)
	if err == nil {
		imp.add(movedFromKey, fileMark(fi)) // for setAside
		err = imp.commit()
	}
	if err == nil {
		err = db.Flush() // into synced tables, not only the log
	}
	imp.wb.Close()
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.RemoveAll(tmp)
		return st, err
	}
	return st, renameSynced(dir, storeNew, StoreDir)
}

// importer is the persistence.Sink that fills a fresh Pebble with a
// store's contents, in batches of up to importBatch records.
type importer struct {
	db  *pebble.DB
	wb  *pebble.Batch
	n   int
	seq uint64
	st  *MoveStats
}

const importBatch = 4096

func (im *importer) Batch(b *persistence.Batch, raw []byte) error {
	im.st.Batches++
	im.add(batchKey(b.ID), raw)
	if b.Done {
		im.add(doneKey(b), nil)
	} else {
		im.add(unfinishedKey(b.ID), nil)
	}
	return im.flushFull()
}

func (im *importer) Event(id string, seq uint64, raw []byte) error {
	im.st.Events++
	im.add(eventKey(id, seq), raw)
	return im.flushFull()
}

func (im *importer) Job(raw []byte) error {
	im.st.Jobs++
	im.seq++
	im.add(pendingKey(im.seq), raw)
	return im.flushFull()
}

func (im *importer) add(k, v []byte) {
	set(im.wb, k, v) // Set copies k and v
	im.n++
}

func (im *importer) flushFull() error {
	if im.n < importBatch {
		return nil
	}
	return im.commit()
}

func (im *importer) commit() error {
	if err := im.wb.Commit(pebble.NoSync); err != nil {
		return err
	}
	im.wb.Reset()
	im.n = 0
	return nil
}

func exists(path string) (bool, error) {
	_, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}

// renameSynced renames dir/from to dir/to and syncs dir, so that the new
// name survives a power cut.
func renameSynced(dir, from, to string) error {
	if err := os.Rename(filepath.Join(dir, from), filepath.Join(dir, to)); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
