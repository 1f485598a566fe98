package resize

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/backlot/backlot/persistence"
	"github.com/backlot/backlot/persistence/blob"
	"github.com/backlot/backlot/persistence/blob/fsblob"
)

// The tests keep their images in files under t.TempDir(); these helpers
// read and write them as the node does its data directory's.

// fileSource is an open file with its size: a Source for the tests that
// call Probe, Verify, Footprint or the decoders on a file.
type fileSource struct {
	*os.File
	size int64
}

func (f *fileSource) Size() int64 { return f.size }

// openFile opens path as a Source; the caller closes it.
func openFile(path string) (*fileSource, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	return &fileSource{File: f, size: st.Size()}, nil
}

// processFile is Process on files, through the blob store the node uses
// (fsblob): the source is src's object in a store rooted at its directory
// (so Process drops its pages from the cache, as in the node), the result
// is written to dst's, which it replaces.
func processFile(src, dst string, opts persistence.Options, lim Limits) (Result, error) {
	ctx := context.Background()
	in, err := fsblob.New(filepath.Dir(src), fsblob.Options{})
	if err != nil {
		return Result{}, err
	}
	obj, err := in.Open(ctx, filepath.Base(src))
	if err != nil {
		return Result{}, fmt.Errorf("open source: %w", err)
	}
	return Process(obj, fileOutput(dst), opts, lim)
}

// fileOutput is the Output of a result written to path, through fsblob
// as the node writes its results.
func fileOutput(path string) Output {
	return func(persistence.Variant) (blob.Writer, error) {
		out, err := fsblob.New(filepath.Dir(path), fsblob.Options{})
		if err != nil {
			return nil, err
		}
		return out.Create(context.Background(), filepath.Base(path), blob.CreateOptions{UseReserve: true})
	}
}

// probeFile is Probe on a file.
func probeFile(path string, maxPixels int64) (Info, error) {
	f, err := openFile(path)
	if err != nil {
		return Info{}, err
	}
	defer f.Close()
	return Probe(f, maxPixels)
}

// verifyFile is Verify on a file.
func verifyFile(path string, size int64, sum uint32) error {
	f, err := openFile(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return Verify(f, size, sum)
}

// footprintFile is Footprint on a file.
func footprintFile(path string, opts persistence.Options, maxPixels int64) (int64, error) {
	f, err := openFile(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	return Footprint(f, opts, maxPixels)
}
