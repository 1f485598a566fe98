package resize

import (
	"bufio"
	"compress/zlib"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"hash/adler32"
	"image"
	"io"
	"math"
	"slices"

	"golang.org/x/image/tiff"
	"golang.org/x/image/tiff/lzw"
)

// A TIFF stored in one big compressed strip (x/image/tiff's own encoder
// writes exactly that) costs x/image/tiff's decoder the whole strip
// inflated into a bytes.Buffer that grows by doubling: up to 2-3 times
// the image beside the image (a 16-bit RGBA 7000x7000 one: 392 MB of
// pixels, up to ~768 MB of strip buffers). An uncompressed one-strip file
// costs as much (the strip is read in 10 MB chunks appended together).
//
// restrip decodes such a file through the same decoder, pixel for pixel,
// with its extra memory bounded by a strip of about restripTarget bytes:
// tiff.Decode is handed a virtual file (tiffStrips, an io.ReaderAt) that
// is the original file with
//
//   - its header pointing at a new IFD0 appended after the original bytes:
//     the original's entries, verbatim (out-of-line values keep their
//     offsets: the original bytes are still there), except Compression =
//     8 (deflate), RowsPerStrip = R and StripOffsets/StripByteCounts for
//     strips of R rows (~restripTarget bytes) each;
//   - after it, those strips: zlib streams of stored (uncompressed)
//     deflate blocks, generated on demand as the decoder reads them, in
//     order, from the original strips' decompressors (zlib, TIFF LZW,
//     PackBits or none) run forward, row data for row data.
//
// Why deflate with stored blocks rather than Compression = 1: the decoder
// reads an uncompressed strip into a new slice each time (all of it
// garbage the collector must catch up with), but inflates a compressed
// one into the buffer it reused for the one before. Its cost per strip is
// then a zlib reader (~45 KB), which is why the strips are not smaller:
// at 2 MiB, a 16-bit RGBA 7000x7000 image takes 190 of them (~9 MB of
// garbage) and a strip buffer of 2 MiB.
//
// The decoder applies the horizontal Predictor to each row of each
// strip's decompressed data whatever the compression, starting afresh on
// every row, so keeping the tag keeps its effect: strips made of the same
// rows' bytes decode to the same pixels.
//
// Whatever is unusual (tiles, PlanarConfiguration 2, unsorted tags, a tag
// type the decoder would refuse, values it would fail to read, CCITT or
// JPEG compression, BitsPerSample other than 1, 8 or 16) is left to the
// plain decode, which gives it its own verdict. An original strip whose
// data is short, corrupt, over the decoder's size limit or followed by a
// bad checksum fails the decode as it would have failed the plain one
// (each original strip is run to its end, as the plain decode does).

const (
	restripMin    = 4 << 20 // original strips inflating to more than this are re-stripped
	restripTarget = 2 << 20 // the most bytes of a synthesised strip, 512 included (at least one row)
)

// TIFF tags and values planTiff reads (x/image/tiff's numbers).
const (
	tagImageWidth   = 256
	tagImageLength  = 257
	tagBitsPer      = 258
	tagCompression  = 259
	tagPhotometric  = 262
	tagStripOffsets = 273
	tagRowsPerStrip = 278
	tagStripCounts  = 279
	tagPlanarConfig = 284
	tagTileWidth    = 322
	tagTileCounts   = 325
)

// tiffRead are the tags x/image/tiff's decoder parses (parseIFD), with
// how many values it reads of each; 0: all (StripOffsets,
// StripByteCounts: as many as there are strips).
var tiffRead = map[uint16]int{
	256: 16, 257: 16, 258: 16, 259: 16, 262: 16, 266: 16, 278: 16,
	292: 16, 293: 16, 317: 16, 322: 16, 323: 16, 338: 16, 339: 16,
	320: 3*256 + 1, 273: 0, 279: 0, 324: 0, 325: 0,
}

// tiffPlan is how a TIFF is re-stripped: the original's layout and the
// virtual file's.
type tiffPlan struct {
	order    binary.ByteOrder
	rowBytes int64
	h        int

	// The original strips.
	comp      uint   // Compression
	rps       int    // rows per strip, as the decoder counts them
	offs, cnt []uint // their offsets and byte counts
	lim       int64  // the most the decoder inflates of one

	// The virtual file: [0, 8) the header, [8, size) the original bytes,
	// [size, dataAt) the new IFD and its arrays (head), then n strips of
	// r rows.
	header [8]byte
	size   int64
	head   []byte
	dataAt int64
	r, n   int
	end    int64
}

// stripRows is the rows of new strip k.
func (p *tiffPlan) stripRows(k int) int { return min(p.r, p.h-k*p.r) }

// stripLen is new strip k's encoded length: a zlib header, stored blocks
// of at most 65535 bytes (5 bytes of header each), the Adler-32.
func stripLen(data int64) int64 {
	blocks := (data + 65534) / 65535
	return 2 + 5*blocks + data + 4
}

// planTiff reads the header and IFD0 of the TIFF r (size bytes) and, if
// x/image/tiff would inflate strips of more than minStrip bytes and the
// file is one restrip handles, plans strips of about target bytes. nil
// leaves the file to the plain decode.
func planTiff(r io.ReaderAt, size int64, minStrip, target int64) *tiffPlan {
	var hdr [8]byte
	if _, err := r.ReadAt(hdr[:], 0); err != nil {
		return nil
	}
	var bo binary.ByteOrder
	switch string(hdr[:4]) {
	case "II*\x00":
		bo = binary.LittleEndian
	case "MM\x00*":
		bo = binary.BigEndian
	default:
		return nil
	}
	ifd := int64(bo.Uint32(hdr[4:]))
	var cnt [2]byte
	if _, err := r.ReadAt(cnt[:], ifd); err != nil {
		return nil
	}
	m := int(bo.Uint16(cnt[:]))
	if m == 0 || ifd+2+12*int64(m) > size {
		return nil
	}
	ents := make([]byte, 12*m)
	if _, err := r.ReadAt(ents, ifd+2); err != nil {
		return nil
	}
	at := map[uint16][]byte{}
	prev := -1
	for i := 0; i < m; i++ {
		e := ents[12*i : 12*i+12]
		tag := bo.Uint16(e)
		if int(tag) <= prev {
			return nil // the decoder refuses it
		}
		prev = int(tag)
		at[tag] = e
		max, read := tiffRead[tag]
		if !read {
			continue
		}
		// Every tag the decoder reads must read there as here: a type
		// it takes, a value within the original bytes.
		typ := bo.Uint16(e[2:])
		if typ != 1 && typ != 3 && typ != 4 {
			return nil
		}
		n := int64(bo.Uint32(e[4:]))
		if n > math.MaxInt32/4 {
			return nil
		}
		if max > 0 {
			n = min(n, int64(max))
		}
		if l := n * typeLen(typ); l > 4 {
			if off := int64(bo.Uint32(e[8:])); off < 8 || off+l > size {
				return nil
			}
		}
	}
	vals := func(tag uint16, max int) ([]uint, bool) {
		e, ok := at[tag]
		if !ok {
			return nil, true
		}
		return ifdValues(r, bo, e, max)
	}
	first := func(tag uint16) (uint, bool) {
		v, ok := vals(tag, 1)
		if !ok || len(v) == 0 {
			return 0, ok
		}
		return v[0], true
	}
	for t := uint16(tagTileWidth); t <= tagTileCounts; t++ {
		if _, ok := at[t]; ok {
			return nil
		}
	}
	if pc, ok := first(tagPlanarConfig); !ok || pc > 1 {
		return nil
	}
	w, ok1 := first(tagImageWidth)
	h, ok2 := first(tagImageLength)
	comp, ok3 := first(tagCompression)
	photo, ok4 := first(tagPhotometric)
	bps, ok5 := vals(tagBitsPer, 16)
	rps, ok6 := first(tagRowsPerStrip)
	if !ok1 || !ok2 || !ok3 || !ok4 || !ok5 || !ok6 || w == 0 || h == 0 || w > 1<<31 || h > 1<<31 || w*h > math.MaxInt32*8 {
		return nil
	}
	if len(bps) == 0 {
		bps = []uint{1}
	}
	spp := int64(len(bps))
	if spp != 1 && spp != 3 && spp != 4 || photo > 3 {
		return nil
	}
	switch bps[0] {
	case 1, 8, 16:
	default:
		return nil
	}
	switch comp {
	case 0, 1, 5, 8, 32946, 32773:
	default:
		return nil
	}
	p := &tiffPlan{order: bo, h: int(h), comp: comp, size: size}
	p.rowBytes = (int64(w)*spp*int64(bps[0]) + 7) / 8
	p.rps = int(h)
	if rps > 0 && rps < h {
		p.rps = int(rps)
	}
	if int64(p.rps)*p.rowBytes <= minStrip {
		return nil
	}
	p.lim = int64(w) * int64(p.rps) * 8
	down := (p.h + p.rps - 1) / p.rps
	var ok bool
	if p.offs, ok = vals(tagStripOffsets, down); !ok || len(p.offs) < down {
		return nil
	}
	if p.cnt, ok = vals(tagStripCounts, down); !ok || len(p.cnt) < down {
		return nil
	}
	p.offs, p.cnt = p.offs[:down], p.cnt[:down]

	// The new strips.
	// The decoder's buffer for a strip needs 512 bytes to spare.
	p.r = int(max(1, min(int64(p.h), (target-512)/p.rowBytes)))
	p.n = (p.h + p.r - 1) / p.r
	// The new IFD: the original's entries with Compression, RowsPerStrip
	// and the strips' replaced (or added, in tag order).
	base := (size + 1) &^ 1
	tags := make([]uint16, 0, m+2)
	for i := 0; i < m; i++ {
		tags = append(tags, bo.Uint16(ents[12*i:]))
	}
	for _, t := range []uint16{tagCompression, tagRowsPerStrip} {
		if _, ok := at[t]; !ok {
			tags = append(tags, t)
		}
	}
	slices.Sort(tags)
	ifdLen := 2 + 12*int64(len(tags)) + 4
	arrays := base + ifdLen
	p.dataAt = arrays + 8*int64(p.n)
	p.head = make([]byte, p.dataAt-base)
	h2 := p.head
	bo.PutUint16(h2, uint16(len(tags)))
	put := func(e []byte, tag, typ uint16, n uint32, v uint32) {
		bo.PutUint16(e, tag)
		bo.PutUint16(e[2:], typ)
		bo.PutUint32(e[4:], n)
		if typ == 3 {
			bo.PutUint16(e[8:], uint16(v))
		} else {
			bo.PutUint32(e[8:], v)
		}
	}
	// The strips' offsets and byte counts.
	offs := h2[ifdLen : ifdLen+4*int64(p.n)]
	cnts := h2[ifdLen+4*int64(p.n):]
	off := p.dataAt
	for k := 0; k < p.n; k++ {
		l := stripLen(int64(p.stripRows(k)) * p.rowBytes)
		bo.PutUint32(offs[4*k:], uint32(off))
		bo.PutUint32(cnts[4*k:], uint32(l))
		off += l
	}
	p.end = off
	if p.end > math.MaxUint32 {
		return nil
	}
	for i, tag := range tags {
		e := h2[2+12*i : 14+12*i]
		switch {
		case tag == tagCompression:
			put(e, tag, 3, 1, 8)
		case tag == tagRowsPerStrip:
			put(e, tag, 4, 1, uint32(p.r))
		case tag == tagStripOffsets && p.n == 1:
			put(e, tag, 4, 1, uint32(p.dataAt))
		case tag == tagStripOffsets:
			put(e, tag, 4, uint32(p.n), uint32(arrays))
		case tag == tagStripCounts && p.n == 1:
			put(e, tag, 4, 1, bo.Uint32(cnts))
		case tag == tagStripCounts:
			put(e, tag, 4, uint32(p.n), uint32(arrays+4*int64(p.n)))
		default:
			copy(e, at[tag])
		}
	}
	p.header = hdr
	bo.PutUint32(p.header[4:], uint32(base))
	return p
}

// cost bounds what a decode through restrip allocates beside the image,
// garbage included: the decoder's strip buffer (a bytes.Buffer grown
// from 512 bytes by doubling until a strip and 512 bytes fit: pow2 of
// that in the end, less than twice that in all), its zlib reader and bufio.Reader for each
// strip (~45 KB measured, counted 64 KiB), its copies of the strips'
// offsets and counts and of the IFD; planTiff's and the virtual file's
// own (the new IFD, a 32 KiB bufio.Reader and skip buffer, a zlib state
// or an LZW one per original strip, io.Discard's buffer).
func (p *tiffPlan) cost() int64 {
	strip := int64(p.r) * p.rowBytes
	return 2*pow2(strip+512) + int64(p.n)*(64<<10+48) + 4*int64(len(p.head)) +
		int64(len(p.offs))*(64<<10) + 256<<10
}

// typeLen is the bytes of one value of a TIFF type the decoder reads.
func typeLen(typ uint16) int64 {
	switch typ {
	case 3:
		return 2
	case 4:
		return 4
	}
	return 1
}

// ifdValues reads at most max values of the entry e (of type BYTE, SHORT
// or LONG) as x/image/tiff's ifdUint does: out of line when all of them
// take more than 4 bytes.
func ifdValues(r io.ReaderAt, bo binary.ByteOrder, e []byte, max int) ([]uint, bool) {
	typ := bo.Uint16(e[2:])
	if typ != 1 && typ != 3 && typ != 4 {
		return nil, false
	}
	count := int64(bo.Uint32(e[4:]))
	n := int(min(count, int64(max)))
	l := typeLen(typ)
	raw := e[8:12]
	if count*l > 4 {
		raw = make([]byte, int64(n)*l)
		if _, err := r.ReadAt(raw, int64(bo.Uint32(e[8:]))); err != nil && (err != io.EOF || n > 0) {
			return nil, false
		}
	}
	v := make([]uint, n)
	for i := range v {
		switch typ {
		case 1:
			v[i] = uint(raw[i])
		case 3:
			v[i] = uint(bo.Uint16(raw[2*i:]))
		case 4:
			v[i] = uint(bo.Uint32(raw[4*i:]))
		}
	}
	return v, true
}

// tiffStrips is the virtual file of a plan: an io.ReaderAt for
// tiff.Decode (and an io.Reader, which Decode's signature asks for).
// Reads of the new strips must come in order, as the decoder makes them;
// one before what was generated fails.
type tiffStrips struct {
	p   *tiffPlan
	r   io.ReaderAt // the original file
	src rowSource

	pos   int64 // the virtual offset generated up to (from p.dataAt)
	k     int   // the strip being generated (p.n: done)
	ctl   []byte
	ctlb  [16]byte
	block int64 // data bytes left in the current stored block
	left  int64 // data bytes of strip k after the current block
	sum   hash.Hash32
	err   error
	skip  []byte

	off int64 // Read's offset
}

func newTiffStrips(p *tiffPlan, r io.ReaderAt) *tiffStrips {
	s := &tiffStrips{p: p, r: r, pos: p.dataAt, sum: adler32.New()}
	s.src = rowSource{p: p, r: r}
	return s
}

var errTiffOrder = errors.New("tiff: restrip: strips read out of order")

func (s *tiffStrips) Read(b []byte) (int, error) {
	n, err := s.ReadAt(b, s.off)
	s.off += int64(n)
	if err == io.EOF && n > 0 {
		err = nil
	}
	return n, err
}

func (s *tiffStrips) ReadAt(b []byte, off int64) (int, error) {
	p := s.p
	if off < 0 {
		return 0, errors.New("tiff: restrip: negative offset")
	}
	n := 0
	for n < len(b) {
		o := off + int64(n)
		q := b[n:]
		var m int
		var err error
		switch {
		case o < 8:
			m = copy(q, p.header[o:])
		case o < p.size:
			m, err = s.r.ReadAt(q[:min(int64(len(q)), p.size-o)], o)
			if err == io.EOF && o+int64(m) == p.size {
				err = nil
			}
		case o < p.dataAt:
			base := p.dataAt - int64(len(p.head))
			if o < base { // the pad byte
				q[0] = 0
				m = 1
			} else {
				m = copy(q, p.head[o-base:])
			}
		case o < p.end:
			m, err = s.gen(q[:min(int64(len(q)), p.end-o)], o)
		default:
			return n, io.EOF
		}
		n += m
		if err != nil {
			return n, err
		}
		if m == 0 {
			return n, io.ErrNoProgress
		}
	}
	return n, nil
}

// gen fills b with the strips' bytes from the virtual offset off on.
func (s *tiffStrips) gen(b []byte, off int64) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	if off < s.pos {
		return 0, errTiffOrder
	}
	for off > s.pos {
		if s.skip == nil {
			s.skip = make([]byte, 32<<10)
		}
		if _, err := s.next(s.skip[:min(int64(len(s.skip)), off-s.pos)]); err != nil {
			return 0, err
		}
	}
	return s.next(b)
}

// next generates the next len(b) bytes of the strips.
func (s *tiffStrips) next(b []byte) (n int, err error) {
	defer func() {
		s.pos += int64(n)
		if err != nil {
			s.err = err
		}
	}()
	for n < len(b) {
		switch {
		case len(s.ctl) > 0:
			c := copy(b[n:], s.ctl)
			s.ctl = s.ctl[c:]
			n += c
		case s.block > 0:
			q := b[n : n+int(min(s.block, int64(len(b)-n)))]
			// Not io.ReadFull: it drops an error that comes with the
			// last bytes.
			m, err := s.src.Read(q)
			if m < len(q) && err == nil {
				err = errors.New("tiff: restrip: short read") // rowSource fills q or fails
			}
			s.sum.Write(q[:m])
			n += m
			s.block -= int64(m)
			if err != nil {
				if err == io.EOF {
					err = io.ErrUnexpectedEOF
				}
				return n, err
			}
			if s.block == 0 {
				s.blockEnd()
			}
		case s.k < s.p.n:
			// A strip starts: zlib's header (deflate, 32 KiB window, no
			// dictionary, fastest), then its first block's.
			s.left = int64(s.p.stripRows(s.k)) * s.p.rowBytes
			s.sum.Reset()
			s.ctl = append(s.ctlb[:0], 0x78, 0x01)
			s.blockStart()
		default:
			return n, io.EOF
		}
	}
	return n, nil
}

// blockStart queues a stored block's header.
func (s *tiffStrips) blockStart() {
	l := min(s.left, 65535)
	s.left -= l
	final := byte(0)
	if s.left == 0 {
		final = 1
	}
	s.ctl = append(s.ctl, final, byte(l), byte(l>>8), ^byte(l), ^byte(l>>8))
	s.block = l
}

// blockEnd queues the next block's header, or the strip's checksum.
func (s *tiffStrips) blockEnd() {
	if s.left > 0 {
		s.ctl = s.ctlb[:0]
		s.blockStart()
		return
	}
	s.ctl = binary.BigEndian.AppendUint32(s.ctlb[:0], s.sum.Sum32())
	s.k++
}

// rowSource is the original strips' row data, in order: of each, the
// bytes of its rows, after which the rest of it is inflated and
// discarded up to the decoder's limit, as the plain decode does (a bad
// checksum there fails it).
type rowSource struct {
	p    *tiffPlan
	r    io.ReaderAt
	j    int       // the original strip being read
	need int64     // its row bytes still to give
	dec  io.Reader // its decompressor; nil between strips
	br   *bufio.Reader
	lr   io.LimitedReader
	zr   io.ReadCloser
	lz   io.ReadCloser
	pb   packBits
}

var errTiffShort = errors.New("tiff: invalid format: not enough pixel data")

func (s *rowSource) Read(b []byte) (int, error) {
	n := 0
	for n < len(b) {
		if s.dec == nil {
			if s.j >= len(s.p.offs) {
				return n, io.EOF
			}
			if err := s.open(); err != nil {
				return n, err
			}
		}
		m, err := s.dec.Read(b[n : n+int(min(s.need, int64(len(b)-n)))])
		n += m
		s.need -= int64(m)
		if s.need == 0 {
			// An error that comes with the last row bytes fails the
			// plain decode too: flate reports a bad checksum with the
			// last bytes of the window that held the stream's end,
			// even when they reach the decoder's limit.
			if err != nil && err != io.EOF {
				return n, err
			}
			if err := s.finish(); err != nil {
				return n, err
			}
			continue
		}
		if err == io.EOF {
			return n, errTiffShort
		}
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// open starts original strip j, read as the decoder would read it.
func (s *rowSource) open() error {
	p := s.p
	rows := min(p.rps, p.h-s.j*p.rps)
	s.need = int64(rows) * p.rowBytes
	off, n := int64(p.offs[s.j]), int64(p.cnt[s.j])
	sec := io.NewSectionReader(s.r, off, n)
	if s.br == nil {
		s.br = bufio.NewReaderSize(sec, 32<<10)
	} else {
		s.br.Reset(sec)
	}
	s.lr = io.LimitedReader{N: p.lim}
	switch p.comp {
	case 0, 1:
		// The decoder reads the n bytes whole, or fails.
		switch {
		case n > p.lim:
			return errors.New("tiff: invalid format: block data size too large")
		case off+n > p.size:
			return io.ErrUnexpectedEOF
		case n < s.need:
			return errTiffShort
		}
		s.dec = s.br
	case 5:
		s.lz = lzw.NewReader(s.br, lzw.MSB, 8)
		s.lr.R = s.lz
		s.dec = &s.lr
	case 8, 32946:
		var err error
		if s.zr == nil {
			s.zr, err = zlib.NewReader(s.br)
		} else {
			err = s.zr.(zlib.Resetter).Reset(s.br, nil)
		}
		if err != nil {
			return err
		}
		s.lr.R = s.zr
		s.dec = &s.lr
	case 32773:
		s.pb = packBits{br: s.br, lim: p.lim}
		s.dec = &s.pb
	default:
		return fmt.Errorf("tiff: unsupported feature: compression value %d", p.comp)
	}
	return nil
}

// finish runs original strip j to its end (the decoder's limit), and
// moves to the next.
func (s *rowSource) finish() error {
	dec := s.dec
	s.dec = nil
	s.j++
	switch s.p.comp {
	case 0, 1:
		return nil
	case 5:
		defer s.lz.Close()
	}
	_, err := io.Copy(io.Discard, dec)
	return err
}

// packBits inflates PackBits data (TIFF 6.0, section 9) as
// x/image/tiff's unpackBits does, streamed: it ends at the end of its
// input where a code would start, fails on one cut short, and on more
// than lim bytes of output.
type packBits struct {
	br  *bufio.Reader
	lim int64
	out int64 // bytes of output so far, runs being given included
	lit int   // literal bytes left to copy
	rep int   // times left to repeat b
	b   byte
	err error
}

func (d *packBits) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) && d.err == nil {
		switch {
		case d.lit > 0:
			m, err := io.ReadFull(d.br, p[n:n+min(d.lit, len(p)-n)])
			n += m
			d.lit -= m
			if err != nil {
				d.err = io.ErrUnexpectedEOF
			}
		case d.rep > 0:
			m := min(d.rep, len(p)-n)
			for i := range m {
				p[n+i] = d.b
			}
			n += m
			d.rep -= m
		default:
			c, err := d.br.ReadByte()
			if err != nil {
				d.err = err // io.EOF: the end
				break
			}
			code := int(int8(c))
			switch {
			case code >= 0:
				d.lit = code + 1
			case code == -128: // no-op
				continue
			default:
				if d.b, err = d.br.ReadByte(); err != nil {
					d.err = io.ErrUnexpectedEOF
					break
				}
				d.rep = 1 - code
			}
			d.out += int64(d.lit + d.rep)
			if d.out > d.lim {
				d.err = errors.New("tiff: invalid format: PackBits: decompressed data too large")
			}
		}
	}
	if n > 0 && d.err == io.EOF {
		return n, nil
	}
	return n, d.err
}

// decodeRestripped decodes the TIFF f through restrip when planTiff takes
// it; !ok leaves it to the plain decode. An error is decodeSource's kind:
// a read error from f is I/O, anything else the bytes' fault.
func decodeRestripped(f Source) (img image.Image, ok bool, err error) {
	src := &atSource{r: f}
	p := planTiff(src, f.Size(), restripMin, restripTarget)
	if p == nil {
		return nil, false, nil
	}
	img, err = tiff.Decode(newTiffStrips(p, src))
	if err != nil {
		if src.err != nil {
			return nil, true, fmt.Errorf("read source: %w", src.err)
		}
		return nil, true, permanent(fmt.Errorf("decode tiff: %w", err))
	}
	return img, true, nil
}

// atSource is source for an io.ReaderAt: it remembers the first real
// read error.
type atSource struct {
	r   io.ReaderAt
	err error
}

func (s *atSource) ReadAt(p []byte, off int64) (int, error) {
	n, err := s.r.ReadAt(p, off)
	if err != nil && err != io.EOF && s.err == nil {
		s.err = err
	}
	return n, err
}
