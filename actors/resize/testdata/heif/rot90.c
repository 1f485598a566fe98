// rot90.c writes rot90.heic for TestHEIFOrientation: a 64x48 HEIC (top
// left green, top right red, bottom half blue) whose container says to
// rotate it 90 degrees clockwise for display (irot), with EXIF
// orientation 6 saying the same, as a phone's photo does. With
// libheif-dev and libheif's HEVC encoder (Debian libheif1 has x265):
//
//	gcc -o /tmp/rot90 rot90.c $(pkg-config --cflags --libs libheif) && /tmp/rot90 rot90.heic
#include <stdio.h>
#include <string.h>
#include <libheif/heif.h>

int main(int argc, char **argv) {
	struct heif_context *ctx = heif_context_alloc();
	struct heif_encoder *enc;
	struct heif_error err = heif_context_get_encoder_for_format(ctx, heif_compression_HEVC, &enc);
	if (err.code) { fprintf(stderr, "encoder: %s\n", err.message); return 1; }
	heif_encoder_set_lossy_quality(enc, 90);
	struct heif_image *img;
	heif_image_create(64, 48, heif_colorspace_RGB, heif_chroma_interleaved_RGB, &img);
	heif_image_add_plane(img, heif_channel_interleaved, 64, 48, 8);
	int stride;
	uint8_t *p = heif_image_get_plane(img, heif_channel_interleaved, &stride);
	for (int y = 0; y < 48; y++)
		for (int x = 0; x < 64; x++) {
			uint8_t *q = p + y * stride + 3 * x;
			if (y < 24 && x < 32) { q[0] = 0; q[1] = 200; q[2] = 0; }
			else if (y < 24) { q[0] = 255; q[1] = 0; q[2] = 0; }
			else { q[0] = 0; q[1] = 0; q[2] = 255; }
		}
	struct heif_encoding_options *o = heif_encoding_options_alloc();
	o->image_orientation = heif_orientation_rotate_90_cw;
	struct heif_image_handle *h;
	err = heif_context_encode_image(ctx, img, enc, o, &h);
	if (err.code) { fprintf(stderr, "encode: %s\n", err.message); return 1; }
	// EXIF (big-endian TIFF): IFD0 with one entry, Orientation = 6.
	static const uint8_t exif[] = {'M', 'M', 0, 42, 0, 0, 0, 8, 0, 1,
		0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, 6, 0, 0, 0, 0, 0, 0};
	err = heif_context_add_exif_metadata(ctx, h, exif, sizeof exif);
	if (err.code) { fprintf(stderr, "exif: %s\n", err.message); return 1; }
	err = heif_context_write_to_file(ctx, argv[1]);
	if (err.code) { fprintf(stderr, "write: %s\n", err.message); return 1; }
	return 0;
}
