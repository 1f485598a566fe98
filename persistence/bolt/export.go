package bolt

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/backlot/backlot/persistence"
	bbolt "go.etcd.io/bbolt"
	bberrors "go.etcd.io/bbolt/errors"
)

// Export hands the contents of the store file at path to sink: every
// batch, every event of its log, and every job not acked in the order a
// Claim after Open would take them (the in-flight jobs of a file of an
// earlier version first, as Open would move them). It opens the file
// read-only and changes nothing; a file another process holds is refused
// as Open refuses it.
func Export(path string, sink persistence.Sink) error {
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: lockTimeout, ReadOnly: true})
	if errors.Is(err, bberrors.ErrTimeout) {
		return fmt.Errorf("export store %s: the file is locked by another process (waited %s): %w", path, lockTimeout, err)
	}
	if err != nil {
		return fmt.Errorf("export store %s: %w", path, err)
	}
	defer db.Close()
	err = db.View(func(tx *bbolt.Tx) error {
		if b := tx.Bucket(bucketBatches); b != nil {
			err := b.ForEach(func(k, v []byte) error {
				var b persistence.Batch
				if err := json.Unmarshal(v, &b); err != nil {
					return fmt.Errorf("decode batch %s: %w", k, err)
				}
				return sink.Batch(&b, v)
			})
			if err != nil {
				return err
			}
		}
		if evs := tx.Bucket(bucketEvents); evs != nil {
			err := evs.ForEachBucket(func(id []byte) error {
				return evs.Bucket(id).ForEach(func(k, v []byte) error {
					if len(k) != 8 {
						return fmt.Errorf("event key %x of batch %s: not a sequence number", k, id)
					}
					return sink.Event(string(id), binary.BigEndian.Uint64(k), v)
				})
			})
			if err != nil {
				return err
			}
		}
		// Open puts in-flight jobs back at their keys among the pending
		// ones, which are all issued by one sequence: merge the two by key.
		var jobs [][2][]byte
		for _, name := range [][]byte{bucketInflight, bucketPending} {
			if q := tx.Bucket(name); q != nil {
				q.ForEach(func(k, v []byte) error {
					jobs = append(jobs, [2][]byte{k, v})
					return nil
				})
			}
		}
		slices.SortFunc(jobs, func(a, b [2][]byte) int { return bytes.Compare(a[0], b[0]) })
		for _, j := range jobs {
			if err := sink.Job(j[1]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("export store %s: %w", path, err)
	}
	return nil
}
