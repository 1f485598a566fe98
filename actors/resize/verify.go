package resize

import (
	"bufio"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
)

// castagnoli is CRC-32C's table: hardware-assisted on amd64 and arm64.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// ErrResultLost says a completed image's result is missing, or no longer
// holds what was written (a power cut before the kernel flushed it:
// results are not synced; see writeResult). Its source can rebuild it.
var ErrResultLost = errors.New("result file lost")

// Verify checks that src is the result that was recorded: size bytes long
// with CRC-32C sum. A sum of 0 (recorded before sums were kept, when
// results were fsynced) checks the size alone. A result of another size
// or with another sum is an error wrapping ErrResultLost; failing to read
// it is another error. (A missing result is the caller's to tell: it has
// nothing to open.)
func Verify(src Source, size int64, sum uint32) error {
	if got := src.Size(); got != size {
		return fmt.Errorf("%w: it has %d bytes, %d were written", ErrResultLost, got, size)
	}
	if sum == 0 {
		return nil
	}
	h := crc32.New(castagnoli)
	br := readers.Get().(*bufio.Reader)
	br.Reset(io.NewSectionReader(src, 0, size))
	defer func() { br.Reset(nil); readers.Put(br) }()
	if _, err := io.Copy(h, br); err != nil {
		return fmt.Errorf("read result: %w", err)
	}
	if got := h.Sum32(); got != sum {
		return fmt.Errorf("%w: it has CRC-32C %08x, %08x was written", ErrResultLost, got, sum)
	}
	return nil
}
