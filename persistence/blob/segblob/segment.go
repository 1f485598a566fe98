package segblob

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// align is the boundary every record starts on: a page, so that two
// records never share one (a sync of one never writes the other's page
// again, and dropping one's cache never drops the other's).
const align = 4096

// headerLen is a record's header: magic, key length, data length, the
// data's CRC-32C, the CRC-32C of the header's first 20 bytes and the key.
const headerLen = 24

// magic starts every record: a segment can be read without the index.
const magic = 0x424c4f42 // "BLOB"

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// recordLen is the room a record of a key and n bytes of data takes in a
// segment, padding to align included.
func recordLen(keyLen int, n int64) int64 {
	l := int64(headerLen+keyLen) + n
	return (l + align - 1) &^ (align - 1)
}

// putHeader writes the header of a record of key and data (crc is the
// data's) into h, which holds headerLen+len(key) bytes: the header, then
// the key.
func putHeader(h []byte, key string, n int64, crc uint32) {
	binary.LittleEndian.PutUint32(h[0:], magic)
	binary.LittleEndian.PutUint32(h[4:], uint32(len(key)))
	binary.LittleEndian.PutUint64(h[8:], uint64(n))
	binary.LittleEndian.PutUint32(h[16:], crc)
	copy(h[headerLen:], key)
	hc := crc32.Update(crc32.Checksum(h[:20], castagnoli), castagnoli, h[headerLen:headerLen+len(key)])
	binary.LittleEndian.PutUint32(h[20:], hc)
}

// segment is one preallocated file that records are appended to. Its
// size never changes once made, so neither appends nor fdatasync change
// the file system's metadata.
type segment struct {
	id   uint32
	f    *os.File
	size int64

	// Guarded by Store.mu.
	end     int64 // where the next record goes
	live    int64 // the room of the records the index points to
	writing int   // records reserved and not yet written or given up

	// The group commit (sync), guarded by syncMu.
	syncMu   sync.Mutex
	syncCond sync.Cond
	running  bool   // an fdatasync is under way
	started  uint64 // fdatasyncs started
	done     uint64 // the last fdatasync that ended
	err      error  // the first fdatasync's failure: every later sync fails too
}

func newSegment(id uint32, f *os.File, size int64) *segment {
	g := &segment{id: id, f: f, size: size}
	g.syncCond.L = &g.syncMu
	return g
}

func segName(id uint32) string { return fmt.Sprintf("seg-%08d", id) }

// parseSegName returns the id of a segment's file name.
func parseSegName(name string) (uint32, bool) {
	s, ok := strings.CutPrefix(name, "seg-")
	if !ok || len(s) != 8 {
		return 0, false
	}
	n, err := strconv.ParseUint(s, 10, 32)
	return uint32(n), err == nil
}

// makeSegment writes a new segment of size zero bytes under dir, syncs
// it and its name, and opens it. Writing the zeros (not fallocate, whose
// unwritten extents a first write would convert, a metadata change that
// fdatasync then journals) is what lets later appends sync data alone.
func makeSegment(dir string, id uint32, size int64) (*segment, error) {
	final := filepath.Join(dir, segName(id))
	tmp := final + ".tmp"
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, err
	}
	zeros := make([]byte, 1<<20)
	for off := int64(0); off < size && err == nil; off += int64(len(zeros)) {
		_, err = f.WriteAt(zeros[:min(int64(len(zeros)), size-off)], off)
	}
	if err == nil {
		err = f.Sync()
	}
	if err == nil {
		err = os.Rename(tmp, final)
	}
	if err == nil {
		err = syncDir(dir)
	}
	if err != nil {
		f.Close()
		os.Remove(tmp)
		return nil, fmt.Errorf("make segment %s: %w", final, err)
	}
	return newSegment(id, f, size), nil
}

// openSegments opens the segments under dir, removing the temp file of
// one whose making a crash cut short.
func openSegments(dir string) (map[uint32]*segment, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	segs := map[uint32]*segment{}
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, "seg-") && strings.HasSuffix(name, ".tmp") {
			if err := os.Remove(filepath.Join(dir, name)); err != nil {
				return nil, err
			}
			continue
		}
		id, ok := parseSegName(name)
		if !ok {
			continue
		}
		f, err := os.OpenFile(filepath.Join(dir, name), os.O_RDWR, 0)
		if err != nil {
			return nil, err
		}
		fi, err := f.Stat()
		if err != nil {
			f.Close()
			return nil, err
		}
		segs[id] = newSegment(id, f, fi.Size())
	}
	return segs, nil
}

// sync returns once everything written to the segment before the call
// is on disk. It is a group commit: callers that arrive while an
// fdatasync runs wait for the next one, which one of them starts and
// which serves them all.
func (g *segment) sync() error {
	g.syncMu.Lock()
	defer g.syncMu.Unlock()
	target := g.started + 1 // the first sync to start after this call
	for g.done < target && g.err == nil {
		if g.running {
			g.syncCond.Wait()
			continue
		}
		g.running = true
		g.started++
		mine := g.started
		g.syncMu.Unlock()
		err := unix.Fdatasync(int(g.f.Fd()))
		g.syncMu.Lock()
		g.running = false
		g.done = mine
		if err != nil {
			// Sticky: after a failed fdatasync the kernel may have
			// dropped the dirty pages, so no later sync proves them.
			g.err = fmt.Errorf("segment %d: fdatasync: %w", g.id, err)
		}
		g.syncCond.Broadcast()
	}
	return g.err
}

// syncDir fsyncs a directory, so that the names in it are durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if errors.Is(err, unix.EINVAL) { // a file system whose directories cannot be synced
		err = nil
	}
	return err
}
