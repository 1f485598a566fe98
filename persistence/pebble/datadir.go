package pebble

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/backlot/backlot/persistence"
	"github.com/backlot/backlot/persistence/bolt"
	"github.com/cockroachdb/pebble/v2"
)

// The embedded store's names in a data directory.
const (
	StoreDir  = "store"            // the Pebble directory
	boltFile  = "backlot.db"       // the bbolt file of versions before it
	boltMoved = "backlot.db.moved" // that file once its contents are in StoreDir: a backup
	storeNew  = "store.new"        // StoreDir while the move fills it
)

// OpenDataDir opens the embedded store of the data directory dir, which
// must exist: the Pebble directory dir/store, made on first use.
//
// A data directory of an earlier version holds a bbolt file,
// dir/backlot.db, instead. Its contents are moved first: copied into
// dir/store.new, made durable, renamed to dir/store, and the old file
// renamed to dir/backlot.db.moved, a backup that nothing reads again
// (delete it once the node runs well). A crash at any point is safe: a
// half-filled store.new is made again from the file at the next start,
// and once store exists the old file is only renamed. moved, when not
// nil, is told what was moved.
func OpenDataDir(dir string, opts Options, moved func(MoveStats)) (*Store, error) {
	store, old := filepath.Join(dir, StoreDir), filepath.Join(dir, boltFile)
	switch haveStore, err := exists(store); {
	case err != nil:
		return nil, fmt.Errorf("open store: %w", err)
	case !haveStore:
		haveOld, err := exists(old)
		if err != nil {
			return nil, fmt.Errorf("open store: %w", err)
		}
		if haveOld {
			st, err := move(dir)
			if err != nil {
				return nil, fmt.Errorf("move the store from %s to %s: %w", old, store, err)
			}
			if moved != nil {
				moved(st)
			}
		}
	}
	// The move's last step, when a crash cut it short.
	if haveOld, err := exists(old); err != nil || haveOld {
		if err == nil {
			err = renameSynced(dir, boltFile, boltMoved)
		}
		if err != nil {
			return nil, fmt.Errorf("open store: set the moved %s aside: %w", old, err)
		}
	}
	return Open(store, opts)
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
	db, err := pebble.Open(tmp, &pebble.Options{FormatMajorVersion: pebble.FormatNewest, Logger: logger{discard}})
	if err != nil {
		return st, err
	}
	imp := &importer{db: db, wb: db.NewBatch(), st: &st}
	err = bolt.Export(st.From, imp)
	if err == nil {
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
