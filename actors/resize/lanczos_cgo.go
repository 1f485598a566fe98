//go:build cgo

package resize

/*
#cgo CFLAGS: -O3
#include <stdint.h>

static inline uint8_t bl_clamp(float v) {
	v = v < 0 ? 0 : v;
	v = v > 255 ? 255 : v;
	return (uint8_t)(v + 0.5f);
}

// bl_round8 is bl_clamp in operations the compiler vectorises (add,
// truncate to int, integer min and max; the float comparisons are not,
// as they must keep NaN and −0): the same value for every |v| < 2^31,
// and the sums here are within ±2^10.
static inline int bl_round8(float v) {
	int x = (int)(v + 0.5f);
	x = x < 0 ? 0 : x;
	return x > 255 ? 255 : x;
}

// bl_vpass is the vertical pass for output row o: the w columns from c0
// of the input rows it reads, weighted, summed in acc, rounded to 8 bits
// between the passes (lanczos.go) and stored as floats at out[i*ostride]
// (out may be acc, with ostride 1).
static inline void bl_vpass(const uint8_t *pix, int stride, int c0, int w,
                            const int64_t *yfirst, const int64_t *yoff, const float *yw,
                            int o, float *acc, float *out, long ostride) {
	for (int i = 0; i < w; i++) acc[i] = 0;
	const float *ws = yw + yoff[o];
	int n = (int)(yoff[o + 1] - yoff[o]);
	const uint8_t *base = pix + (long)yfirst[o] * stride + c0;
	int k = 0;
	for (; k + 4 <= n; k += 4) {
		float w0 = ws[k], w1 = ws[k + 1], w2 = ws[k + 2], w3 = ws[k + 3];
		const uint8_t *r0 = base + (long)k * stride, *r1 = r0 + stride, *r2 = r1 + stride, *r3 = r2 + stride;
		for (int i = 0; i < w; i++)
			acc[i] += w0 * r0[i] + w1 * r1[i] + w2 * r2[i] + w3 * r3[i];
	}
	for (; k < n; k++) {
		float wt = ws[k];
		const uint8_t *r = base + (long)k * stride;
		for (int i = 0; i < w; i++)
			acc[i] += wt * r[i];
	}
	for (int i = 0; i < w; i++)
		out[i * ostride] = (float)bl_round8(acc[i]);
}

typedef float bl_v8f __attribute__((vector_size(32)));
typedef int32_t bl_v8i __attribute__((vector_size(32)));

// bl_round8v is bl_round8 of each lane of *s, as vector operations,
// into *out (through pointers: a 32-byte vector passed by value has
// another ABI with AVX than without, which GCC warns of).
static inline void bl_round8v(const bl_v8f *s, bl_v8i *out) {
	bl_v8i x = __builtin_convertvector(*s + 0.5f, bl_v8i), m;
	m = x < 0;
	x &= ~m;
	m = x > 255;
	*out = (x & ~m) | (255 & m);
}

// bl_round8_test runs bl_round8 (scalar) on v[0..7] into a and
// bl_round8v on them into b: the two roundings bl_resize uses, for
// TestRound8.
static void bl_round8_test(const float *v, uint8_t *a, uint8_t *b) {
	bl_v8f s;
	__builtin_memcpy(&s, v, sizeof s);
	bl_v8i x;
	bl_round8v(&s, &x);
	for (int r = 0; r < 8; r++) {
		a[r] = (uint8_t)bl_round8(v[r]);
		b[r] = (uint8_t)x[r];
	}
}

// bl_resize is view.resizeGo (lanczos.go): the vertical pass over the w
// columns from c0 of each input row an output row reads, then the
// horizontal pass into dst (ny rows of nx). Each output pixel sums the
// same products in the same order as resizeGo's; what differs is the
// layout. Rows go eight at a time: their vertical passes are stored
// interleaved (column i of the eight rows at tmp[8i..8i+7]), so the
// horizontal pass computes a column of eight output pixels with one
// vector multiply-add per tap instead of eight scalar ones, the taps'
// weights shared. The last ny%8 rows (and every row of a plane under 16
// rows) go one at a time. tmp holds ny*w floats; the blocked path uses
// 9*w of them. Indices were checked in Go against the lengths of every
// array.
#if defined(__x86_64__)
__attribute__((target_clones("arch=x86-64-v3", "default"))) // AVX2 and FMA where the CPU has them
#endif
static void bl_resize(const uint8_t *pix, int stride, int c0, int w,
                      const int64_t *yfirst, const int64_t *yoff, const float *yw, int ny,
                      const int64_t *xfirst, const int64_t *xoff, const float *xw, int nx,
                      uint8_t *dst, float *tmp) {
	int o = 0;
	if (ny >= 16) {
		float *cols = tmp, *row = tmp + 8L * w;
		for (; o + 8 <= ny; o += 8) {
			for (int r = 0; r < 8; r++)
				bl_vpass(pix, stride, c0, w, yfirst, yoff, yw, o + r, row, cols + r, 8);
			uint8_t *d = dst + (long)o * nx;
			for (int j = 0; j < nx; j++) {
				const float *ws = xw + xoff[j];
				int n = (int)(xoff[j + 1] - xoff[j]);
				const float *src = cols + 8L * (xfirst[j] - c0);
				bl_v8f s = {0, 0, 0, 0, 0, 0, 0, 0};
				for (int k = 0; k < n; k++) {
					bl_v8f v;
					__builtin_memcpy(&v, src + 8L * k, sizeof v);
					s += ws[k] * v;
				}
				bl_v8i x;
				bl_round8v(&s, &x);
				for (int r = 0; r < 8; r++)
					d[(long)r * nx + j] = (uint8_t)x[r];
			}
		}
	}
	for (; o < ny; o++) {
		float *acc = tmp;
		bl_vpass(pix, stride, c0, w, yfirst, yoff, yw, o, acc, acc, 1);
		uint8_t *d = dst + (long)o * nx;
		for (int j = 0; j < nx; j++) {
			const float *ws = xw + xoff[j];
			int n = (int)(xoff[j + 1] - xoff[j]);
			const float *src = acc + (xfirst[j] - c0);
			float s = 0;
			for (int k = 0; k < n; k++)
				s += ws[k] * src[k];
			d[j] = bl_clamp(s);
		}
	}
}
*/
import "C"

import "unsafe"

// round8C rounds v[i] to 8 bits as bl_resize does, into scalar[i] by
// its vertical pass's rounding and vector[i] by its horizontal pass's.
func round8C(v [8]float32) (scalar, vector [8]uint8) {
	C.bl_round8_test((*C.float)(unsafe.Pointer(&v[0])), (*C.uint8_t)(unsafe.Pointer(&scalar[0])), (*C.uint8_t)(unsafe.Pointer(&vector[0])))
	return scalar, vector
}

// resizeC runs view.resize's loops in C, after checking in Go that every
// index they take is inside its slice (so a bug shows as a fallback to
// resizeGo, never as a write out of bounds). It reports whether it ran.
func resizeC(v view, tx, ty taps, dst []uint8, tmp []float32) bool {
	nx, ny := len(tx.first), len(ty.first)
	if unsafe.Sizeof(int(0)) != 8 || nx == 0 || ny == 0 || len(dst) < nx*ny || len(tx.off) != nx+1 || len(ty.off) != ny+1 ||
		len(tx.w) < tx.off[nx] || len(ty.w) < ty.off[ny] || tx.off[nx] == 0 || ty.off[ny] == 0 {
		return false
	}
	c0, c1 := tx.columns()
	w := c1 - c0
	if c0 < 0 || w <= 0 || len(tmp) < ny*w || w > v.stride && ny > 1 {
		return false
	}
	for j := range nx {
		if tx.first[j] < c0 || tx.first[j]+tx.off[j+1]-tx.off[j] > c1 || tx.off[j+1] < tx.off[j] {
			return false
		}
	}
	for o := range ny {
		n := ty.off[o+1] - ty.off[o]
		last := (ty.first[o]+n-1)*v.stride + c1 // one past the last byte read
		if n < 1 || ty.first[o] < 0 || last > len(v.pix) {
			return false
		}
	}
	C.bl_resize((*C.uint8_t)(unsafe.Pointer(&v.pix[0])), C.int(v.stride), C.int(c0), C.int(w),
		(*C.int64_t)(unsafe.Pointer(&ty.first[0])), (*C.int64_t)(unsafe.Pointer(&ty.off[0])),
		(*C.float)(unsafe.Pointer(&ty.w[0])), C.int(ny),
		(*C.int64_t)(unsafe.Pointer(&tx.first[0])), (*C.int64_t)(unsafe.Pointer(&tx.off[0])),
		(*C.float)(unsafe.Pointer(&tx.w[0])), C.int(nx),
		(*C.uint8_t)(unsafe.Pointer(&dst[0])), (*C.float)(unsafe.Pointer(&tmp[0])))
	return true
}
