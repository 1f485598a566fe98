package fsblob

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/backlot/backlot/persistence/blob"
)

// BenchmarkPut writes a new object per iteration, each in a batch
// directory of its own every 16 (as uploads come), plain and Durable, at
// a typical upload's size and a large one. On t.TempDir()'s file system:
// a tmpfs makes fsync free, so run it with TMPDIR on the data disk.
func BenchmarkPut(b *testing.B) {
	for _, size := range []int{75_000, 4 << 20} {
		for _, durable := range []bool{false, true} {
			b.Run(fmt.Sprintf("size=%d/durable=%v", size, durable), func(b *testing.B) {
				s, err := New(b.TempDir(), Options{MinFree: 1})
				if err != nil {
					b.Fatal(err)
				}
				payload := bytes.Repeat([]byte{0x5a}, size)
				opts := blob.CreateOptions{Exclusive: durable, Durable: durable}
				b.SetBytes(int64(size))
				i := 0
				for b.Loop() {
					key := blob.SourceKey(fmt.Sprint(i/16), fmt.Sprint(i))
					if _, err := blob.Put(b.Context(), s, key, bytes.NewReader(payload), opts); err != nil {
						b.Fatal(err)
					}
					i++
				}
			})
		}
	}
}
