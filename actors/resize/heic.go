package resize

import (
	"fmt"
	"image"
	"image/color"
	"io"

	"github.com/backlot/backlot/actors/resize/heif"
)

// HEIC/HEIF and AVIF inputs decode through libheif (package heif) when
// the build has it; without, Sniff still names them and probe refuses
// them with ErrNoDecoder. libheif reads from memory: both the header and
// the pixels are read from the whole file (at most --max-file-size), and
// the header's size alone, read from the boxes before any pixel, goes
// through the pixel limit. The container's orientation (irot, imir) is
// applied by libheif, so the decoded image is shown as it is (orient 1).
func init() {
	if !heif.Available {
		return
	}
	for _, f := range HEIFFormats {
		codecs[f] = struct {
			config func(io.Reader) (image.Config, error)
			decode func(io.Reader) (image.Image, error)
		}{heifConfig, heifDecode}
	}
}

func heifConfig(r io.Reader) (image.Config, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return image.Config{}, err
	}
	w, h, _, err := heif.Size(data)
	if err != nil {
		return image.Config{}, err
	}
	return image.Config{ColorModel: color.NRGBAModel, Width: w, Height: h}, nil
}

func heifDecode(r io.Reader) (image.Image, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	w, h, _, err := heif.Size(data)
	if err != nil {
		return nil, err
	}
	if w <= 0 || h <= 0 {
		return nil, fmt.Errorf("heif: empty %dx%d image", w, h)
	}
	return heif.Decode(data, w, h, make([]byte, 4*w*h))
}

// heifNative is what admission counts for libheif's own memory decoding
// a w×h image: the decoded planes (up to 16 bits a sample, 6 bytes a
// pixel at 4:4:4), its RGBA image (4) and the decoder's frames and
// tables, with room to spare. An estimate from those sizes: unlike
// codecNative it is not yet checked against the peak RSS (the test
// images are small).
func heifNative(w, h int) int64 { return 16<<20 + 16*int64(w)*int64(h) }
