//go:build unix

package bolt_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/backlot/backlot/persistence"
	"github.com/backlot/backlot/persistence/blob"
	"github.com/backlot/backlot/persistence/blob/fsblob"
)

// BenchmarkDurableFloor is the storage work the embedded default does
// for each batch of 2 images of 75 KB (issue 21's target 1 workload),
// with nothing else: no HTTP, no actors, no resize. Per batch, as the
// upload handler does: each upload put (temp file, write, publish) and
// fsync'd (SyncData), then the batch's directory synced once
// (SyncNames); the batch created in
// the store; both images' processing events in one append and both
// completed events in another (a supervisor's shared appends; the
// store adds done); each result put as the resizer writes it (no
// fsync). It reports the process's CPU (user + system, getrusage) per
// image, which leaves out the kernel threads' share (ext4's journal,
// writeback): the part of the server's CPU beyond the pipeline that this
// durable layout costs by itself, whatever the code around it. One batch
// runs at a time, so nothing shares a commit or a journal flush as the
// server's concurrent batches do (1.5 commits an image here, about 1.2
// there): the cost of each sync, not the server's count of them. The
// "files" and "store" runs do only their half. Run it with TMPDIR on the
// data disk (a tmpfs makes fsync free):
//
//	TMPDIR=/var/tmp go test -run '^$' -bench DurableFloor -benchtime 2000x ./persistence/bolt/
//
// The "log" run prices the alternative the issue names: the same bytes
// and records made durable in one append-only log, as a write-ahead log
// store would keep them (see logFloor).
func BenchmarkDurableFloor(b *testing.B) {
	for _, part := range []string{"all", "files", "store"} {
		b.Run(part, func(b *testing.B) { durableFloor(b, part != "store", part != "files") })
	}
	b.Run("log", func(b *testing.B) { logFloor(b, true) })
	b.Run("log-growing", func(b *testing.B) { logFloor(b, false) })
}

// floorUpload and floorResult are the floors' image bytes: a 640×480
// JPEG's size, and its 100×100 thumbnail's.
var floorUpload, floorResult = bytes.Repeat([]byte{0x5a}, 75_000), bytes.Repeat([]byte{0xa5}, 3_000)

// floorBatch is one batch of the floors' workload: two images, their
// processing events and their completed events.
type floorBatch struct {
	id                    string
	ims                   []persistence.Image
	processing, completed []persistence.Event
}

func newFloorBatch() floorBatch {
	fb := floorBatch{id: uuid.NewString(), ims: []persistence.Image{
		{ID: uuid.NewString(), Name: "a.jpg", Format: "jpeg"}, {ID: uuid.NewString(), Name: "b.jpg", Format: "jpeg"}}}
	for _, im := range fb.ims {
		fb.processing = append(fb.processing, persistence.Event{Type: persistence.EventProcessing, BatchID: fb.id, ImageID: im.ID, Attempt: 1})
		fb.completed = append(fb.completed, persistence.Event{Type: persistence.EventCompleted, BatchID: fb.id, ImageID: im.ID,
			Width: 100, Height: 100, Bytes: int64(len(floorResult)), Sum: 1})
	}
	return fb
}

// cpuMeter measures this process's CPU (user + system, getrusage) from
// its start, and reports it per image as cpu-ms/image.
type cpuMeter struct{ start syscall.Rusage }

func startCPU(b *testing.B) *cpuMeter {
	m := &cpuMeter{}
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &m.start); err != nil {
		b.Fatal(err)
	}
	return m
}

func (m *cpuMeter) report(b *testing.B, images int) {
	var now syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &now); err != nil {
		b.Fatal(err)
	}
	cpu := time.Duration(now.Utime.Nano() + now.Stime.Nano() - m.start.Utime.Nano() - m.start.Stime.Nano())
	b.ReportMetric(float64(cpu.Microseconds())/1000/float64(images), "cpu-ms/image")
}

// logFloor does durableFloor's work for a batch in a write-ahead log:
// three appends, each made durable by one fdatasync, to a file whose
// blocks were written once beforehand (as a log that recycles its
// segments does, so a sync changes no metadata and commits no journal):
// the batch with both uploads, both processing events, and both results
// with their completed events. Records are the same JSON as the store's;
// there is no index, no retention and no recovery, so it is a floor:
// what the durable work itself costs in such a layout.
//
// With recycled false the log is a new file that grows with each append,
// so each sync also commits its new size and blocks (ext4: a journal
// commit), as a log that does not recycle its segments would.
func logFloor(b *testing.B, recycled bool) {
	const segment = 64 << 20
	f, err := os.Create(filepath.Join(b.TempDir(), "log"))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	zero := make([]byte, 1<<20)
	for off := 0; recycled && off < segment; off += len(zero) {
		if _, err := f.Write(zero); err != nil {
			b.Fatal(err)
		}
	}
	if err := f.Sync(); err != nil {
		b.Fatal(err)
	}
	var off int64
	var rec []byte
	appendSync := func(parts ...[]byte) {
		rec = rec[:0]
		for _, p := range parts {
			rec = binary.BigEndian.AppendUint32(rec, uint32(len(p)))
			rec = append(rec, p...)
		}
		if recycled && off+int64(len(rec)) > segment {
			off = 0 // the next segment, recycled
		}
		if _, err := f.WriteAt(rec, off); err != nil {
			b.Fatal(err)
		}
		off += int64(len(rec))
		if err := fdatasync(f); err != nil {
			b.Fatal(err)
		}
	}
	mustJSON := func(v any) []byte {
		j, err := json.Marshal(v)
		if err != nil {
			b.Fatal(err)
		}
		return j
	}
	cpu := startCPU(b)
	images := 0
	for b.Loop() {
		fb := newFloorBatch()
		batch, queued, err := persistence.NewBatch(fb.id, time.Now(), persistence.DefaultOptions(), fb.ims)
		if err != nil {
			b.Fatal(err)
		}
		appendSync(mustJSON(batch), mustJSON(queued), floorUpload, floorUpload)
		var processing, completed [][]byte
		for i := range fb.ims {
			processing = append(processing, mustJSON(&fb.processing[i]))
			completed = append(completed, floorResult, mustJSON(&fb.completed[i]))
		}
		appendSync(processing...)
		appendSync(completed...)
		images += len(fb.ims)
	}
	cpu.report(b, images)
}

// durableFloor runs the files' part (uploads and results), the store's
// (create and appends), or both.
func durableFloor(b *testing.B, files, store bool) {
	dir := b.TempDir()
	s := mustOpen(b, filepath.Join(dir, "backlot.db"))
	blobs, err := fsblob.New(filepath.Join(dir, "blobs"), fsblob.Options{MinFree: 1})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	cpu := startCPU(b)
	images := 0
	for b.Loop() {
		fb := newFloorBatch()
		id, ims := fb.id, fb.ims
		if files {
			for _, im := range ims {
				key := blob.SourceKey(id, im.ID)
				if _, err := blob.Put(ctx, blobs, key, bytes.NewReader(floorUpload), blob.CreateOptions{Exclusive: true}); err != nil {
					b.Fatal(err)
				}
				if err := blobs.SyncData(ctx, key); err != nil {
					b.Fatal(err)
				}
			}
			if err := blobs.SyncNames(ctx, blob.BatchPrefix(id)); err != nil {
				b.Fatal(err)
			}
		}
		if store {
			batch, queued, err := persistence.NewBatch(id, time.Now(), persistence.DefaultOptions(), ims)
			if err != nil {
				b.Fatal(err)
			}
			if err := s.Create(ctx, batch, queued); err != nil {
				b.Fatal(err)
			}
			if _, _, err := s.Append(ctx, id, fb.processing...); err != nil {
				b.Fatal(err)
			}
		}
		if files {
			for _, im := range ims {
				if _, err := blob.Put(ctx, blobs, blob.OutputKey(id, im.ID, "jpg"), bytes.NewReader(floorResult), blob.CreateOptions{}); err != nil {
					b.Fatal(err)
				}
			}
		}
		if store {
			if _, _, err := s.Append(ctx, id, fb.completed...); err != nil {
				b.Fatal(err)
			}
		}
		images += len(ims)
	}
	cpu.report(b, images)
}
