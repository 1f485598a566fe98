package resize

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"io"
	"sort"

	"github.com/backlot/backlot/actors/resize/heif"
	"github.com/backlot/backlot/actors/resize/lcms"
)

// maxICC bounds an embedded profile: real ones are a few KiB (a camera's
// LUT profile some hundreds); a larger one is ignored, not read.
const maxICC = 4 << 20

// colourTransform is the conversion of an image's embedded ICC profile
// (JPEG APP2, PNG iCCP, HEIF colr) to sRGB, through Little CMS; nil when there is
// nothing to do: no profile, an sRGB one, one that is not RGB (a CMYK
// JPEG's is applied as it decodes: cmykTransform) or does not read, or
// a build without Little CMS. A profile is a hint about the
// pixels, not something to fail an image on.
//
// It is applied to each output after the resize, in place: what libvips'
// thumbnail (and so sharp's resize) does too, as converting the few
// output pixels costs a fraction of converting the source's. Display P3,
// the usual reason for a profile (phones), shares sRGB's transfer curve,
// so the resize sees the same curve either way.
func colourTransform(f Source, info Info) *lcms.Transform {
	if !lcms.Available {
		return nil
	}
	var icc []byte
	switch info.Format {
	case "jpeg":
		icc = jpegICC(f)
	case "png":
		icc = pngICC(f)
	case "heic", "heif", "avif":
		icc = heifICC(f)
	}
	if len(icc) == 0 {
		return nil
	}
	t, err := lcms.ToSRGB(icc)
	if err != nil {
		return nil
	}
	return t
}

// cmykTransform is the conversion of a CMYK JPEG's embedded CMYK profile
// to sRGB, applied to its pixels as they are decoded (a resize cannot
// work on ink); nil with no CMYK profile, or in a build without Little
// CMS: then the ink is read naively, as image/jpeg and image/draw do.
func cmykTransform(data []byte) *lcms.Transform {
	if !lcms.Available {
		return nil
	}
	icc := jpegICC(bytes.NewReader(data))
	if len(icc) == 0 {
		return nil
	}
	t, err := lcms.CMYKToSRGB(icc)
	if err != nil {
		return nil
	}
	return t
}

// heifICC is a HEIF file's ICC profile, or for an nclx box naming
// Display P3's primaries (12; its transfer is sRGB's), Display P3's.
func heifICC(f Source) []byte {
	data := make([]byte, f.Size())
	if _, err := f.ReadAt(data, 0); err != nil && err != io.EOF {
		return nil
	}
	icc, primaries, err := heif.Profile(data)
	switch {
	case err != nil:
		return nil
	case len(icc) > 0:
		return icc
	case primaries == 12:
		return lcms.DisplayP3()
	}
	return nil
}

// jpegICC reassembles the profile a JPEG carries in its APP2
// "ICC_PROFILE" segments, in their sequence order, reading the markers
// up to the first scan; nil when there is none or it is malformed.
func jpegICC(r io.ReaderAt) []byte {
	type chunk struct {
		seq  byte
		data []byte
	}
	var chunks []chunk
	total := 0
	off := int64(2)
	var hdr [4]byte
	for {
		if _, err := r.ReadAt(hdr[:], off); err != nil || hdr[0] != 0xff {
			return nil
		}
		marker := hdr[1]
		if marker == 0xff { // fill byte
			off++
			continue
		}
		if marker == 0xda || marker == 0xd9 { // start of scan, end of image
			break
		}
		n := int(binary.BigEndian.Uint16(hdr[2:]))
		if n < 2 {
			return nil
		}
		if marker == 0xe2 && n >= 2+14 {
			seg := make([]byte, n-2)
			if _, err := r.ReadAt(seg, off+4); err != nil {
				return nil
			}
			if string(seg[:12]) == "ICC_PROFILE\x00" {
				total += len(seg) - 14
				if total > maxICC {
					return nil
				}
				chunks = append(chunks, chunk{seq: seg[12], data: seg[14:]})
			}
		}
		off += 2 + int64(n)
	}
	if len(chunks) == 0 {
		return nil
	}
	sort.SliceStable(chunks, func(i, j int) bool { return chunks[i].seq < chunks[j].seq })
	icc := make([]byte, 0, total)
	for _, c := range chunks {
		icc = append(icc, c.data...)
	}
	return icc
}

// pngICC inflates the profile of a PNG's iCCP chunk, looked for before
// the first IDAT; nil when there is none or it is malformed.
func pngICC(r io.ReaderAt) []byte {
	off := int64(8)
	var hdr [8]byte
	for {
		if _, err := r.ReadAt(hdr[:], off); err != nil {
			return nil
		}
		n := int64(binary.BigEndian.Uint32(hdr[:4]))
		switch string(hdr[4:]) {
		case "IDAT", "IEND":
			return nil
		case "iCCP":
			if n > maxICC || n < 3 {
				return nil
			}
			data := make([]byte, n)
			if _, err := r.ReadAt(data, off+8); err != nil {
				return nil
			}
			i := bytes.IndexByte(data, 0)
			if i < 1 || i+2 > len(data) || data[i+1] != 0 { // a name, then compression method 0
				return nil
			}
			z, err := zlib.NewReader(bytes.NewReader(data[i+2:]))
			if err != nil {
				return nil
			}
			icc, err := io.ReadAll(io.LimitReader(z, maxICC+1))
			if err != nil || len(icc) > maxICC {
				return nil
			}
			return icc
		}
		off += 12 + n
	}
}
