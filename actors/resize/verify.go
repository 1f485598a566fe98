package resize

import (
	"bufio"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
)

// castagnoli is CRC-32C's table: hardware-assisted on amd64 and arm64.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// ErrResultLost says a completed image's result file is missing, or no
// longer holds what was written (a power cut before the kernel flushed it:
// results are not fsynced; see writeAtomic). Its source can rebuild it.
var ErrResultLost = errors.New("result file lost")

// Verify checks that the file at path is the result that was recorded:
// size bytes long with CRC-32C sum. A sum of 0 (recorded before sums were
// kept, when results were fsynced) checks the size alone. A file that is
// missing, of another size or with another sum is an error wrapping
// ErrResultLost; failing to read it is another error.
func Verify(path string, size int64, sum uint32) error {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w: %s is missing", ErrResultLost, path)
	}
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if st.Size() != size {
		return fmt.Errorf("%w: %s has %d bytes, %d were written", ErrResultLost, path, st.Size(), size)
	}
	if sum == 0 {
		return nil
	}
	h := crc32.New(castagnoli)
	br := readers.Get().(*bufio.Reader)
	br.Reset(f)
	defer func() { br.Reset(nil); readers.Put(br) }()
	if _, err := io.Copy(h, br); err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	if got := h.Sum32(); got != sum {
		return fmt.Errorf("%w: %s has CRC-32C %08x, %08x was written", ErrResultLost, path, got, sum)
	}
	return nil
}
