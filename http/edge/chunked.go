package edge

// chunked follows a chunked body's framing (RFC 9112 §7.1) byte by byte, so
// the edge knows where the body ends without decoding it: every byte is
// passed on as it came. It is as strict as fasthttp's own decoder (CRLF
// line ends, hex sizes) so the two always agree on the end.
type chunked struct {
	state   int
	digits  int   // hex digits of the current size
	size    int64 // the current chunk's size, then its data bytes left
	line    int   // bytes of the current size or trailer line
	trailer int   // bytes of the trailer section
	total   int64 // data bytes so far
	max     int64 // data bytes allowed; <= 0: any
	maxLine int   // a size line's or the trailer section's bytes
}

const (
	cSize      = iota // hex digits of a chunk size
	cExt              // after the digits: blanks, a chunk extension, until CR
	cSizeLF           // CR seen after the size line, LF expected
	cData             // size bytes of data
	cDataCR           // CR expected after the data
	cDataLF           // LF expected after that CR
	cTrailer          // at the start of a trailer line (or of the final CRLF)
	cTrailerIn        // inside a trailer line, until CR
	cTrailerLF        // LF expected to end a trailer line
	cEndLF            // LF expected to end the body
	cDone             // the body has ended
)

// scan reads b, a continuation of the body. It returns how many bytes of b
// belong to the body (all of them unless it ends inside b), whether it
// has ended, and a Reject when b breaks the framing or the size limit.
func (c *chunked) scan(b []byte) (n int, done bool, r *Reject) {
	for n < len(b) {
		if c.state == cData {
			k := int64(len(b) - n)
			if k > c.size {
				k = c.size
			}
			n += int(k)
			c.size -= k
			if c.size == 0 {
				c.state = cDataCR
			}
			continue
		}
		ch := b[n]
		n++
		switch c.state {
		case cSize:
			v, ok := hexVal(ch)
			switch {
			case ok:
				c.digits++
				if c.digits > 15 {
					return n, false, rejBadChunk
				}
				c.size = c.size<<4 | int64(v)
			case c.digits == 0:
				return n, false, rejBadChunk
			case ch == '\r':
				c.state = cSizeLF
			case ch == ';' || ch == ' ' || ch == '\t':
				c.state = cExt
			default:
				return n, false, rejBadChunk
			}
		case cExt:
			switch {
			case ch == '\r':
				c.state = cSizeLF
			case ch < ' ' && ch != '\t' || ch == 0x7f:
				return n, false, rejBadChunk
			}
		case cSizeLF:
			if ch != '\n' {
				return n, false, rejBadChunk
			}
			c.line, c.digits = 0, 0
			if c.size == 0 {
				c.state = cTrailer
				continue
			}
			c.total += c.size
			if c.max > 0 && c.total > c.max {
				return n, false, rejChunkTooLarge
			}
			c.state = cData
		case cDataCR:
			if ch != '\r' {
				return n, false, rejBadChunk
			}
			c.state = cDataLF
		case cDataLF:
			if ch != '\n' {
				return n, false, rejBadChunk
			}
			c.state, c.size = cSize, 0
		case cTrailer:
			switch {
			case ch == '\r':
				c.state = cEndLF
			case isToken(ch):
				c.state = cTrailerIn
			default:
				return n, false, rejBadChunk
			}
		case cTrailerIn:
			switch {
			case ch == '\r':
				c.state = cTrailerLF
			case ch < ' ' && ch != '\t' || ch == 0x7f:
				return n, false, rejBadChunk
			}
		case cTrailerLF:
			if ch != '\n' {
				return n, false, rejBadChunk
			}
			c.state = cTrailer
		case cEndLF:
			if ch != '\n' {
				return n, false, rejBadChunk
			}
			c.state = cDone
			return n, true, nil
		}
		if c.state == cSize || c.state == cExt || c.state == cSizeLF {
			c.line++
			if c.line > c.maxLine {
				return n, false, rejBadChunk
			}
		}
		if c.state >= cTrailer {
			c.trailer++
			if c.trailer > c.maxLine {
				return n, false, rejLongHeaders
			}
		}
	}
	return n, c.state == cDone, nil
}

func hexVal(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
