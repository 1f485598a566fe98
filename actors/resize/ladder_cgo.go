//go:build cgo

package resize

/*
#cgo CFLAGS: -O3
#include <stdint.h>

// bl_halve is halvePlane's loop over the even columns (ladder.go), which
// the compiler vectorises: dst[i] is the rounded mean of r0 and r1's
// columns 2i and 2i+1.
static void bl_halve(uint8_t *dst, const uint8_t *r0, const uint8_t *r1, int even) {
	for (int i = 0; i < even; i++)
		dst[i] = (uint8_t)(((unsigned)r0[2 * i] + r0[2 * i + 1] + r1[2 * i] + r1[2 * i + 1] + 2) >> 2);
}
*/
import "C"

import "unsafe"

// halveRow averages the even column pairs of rows r0 and r1 into d, in C
// once the lengths are checked here.
func halveRow(d, r0, r1 []uint8, even int) {
	if even <= 0 || len(d) < even || len(r0) < 2*even || len(r1) < 2*even {
		halveRowGo(d, r0, r1, even)
		return
	}
	C.bl_halve((*C.uint8_t)(unsafe.Pointer(&d[0])), (*C.uint8_t)(unsafe.Pointer(&r0[0])), (*C.uint8_t)(unsafe.Pointer(&r1[0])), C.int(even))
}
