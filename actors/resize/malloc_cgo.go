//go:build cgo && linux

package resize

/*
#include <stdlib.h>
#include <string.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

// bl_malloc_tuned is 1 when bl_tune_malloc set glibc's thresholds.
static int bl_malloc_tuned;

// bl_tune_malloc runs before main. It keeps the C libraries' working
// buffers (libwebp's picture and encoder state, libjpeg-turbo's, libheif's)
// in glibc's heap between images instead of mapping and unmapping them
// per image: blocks under 4 MiB come from the heap (glibc's default
// starts at 128 KiB and only rises once a mapped block is freed), and the
// heap's top is handed back to the kernel only once 8 MiB are free (by
// default twice the mapping threshold). Each image's fresh pages
// faulted in cost about 3 % of the CPU of four WebP variants of a
// 1920x1080 photo (bench/README.md, issue 20). Setting them stops glibc
// from raising its threshold by itself (up to 32 MiB, after a larger
// block is freed): blocks over 4 MiB (a big HEIC's planes in libheif) are
// mapped afresh each time, which on a 20 MP HEIC cost about 1 % more CPU
// and held peak RSS at about 330 MiB instead of 470–600. It does nothing
// when malloc is set from the environment (GLIBC_TUNABLES' glibc.malloc.
// tunables, or the older MALLOC_*_ variables) or BACKLOT_MALLOC=default.
__attribute__((constructor)) static void bl_tune_malloc(void) {
#ifdef __GLIBC__
	const char *t = getenv("GLIBC_TUNABLES"), *b = getenv("BACKLOT_MALLOC");
	if ((t && strstr(t, "glibc.malloc.")) || (b && strcmp(b, "default") == 0) || getenv("MALLOC_MMAP_THRESHOLD_") ||
	    getenv("MALLOC_TRIM_THRESHOLD_") || getenv("MALLOC_TOP_PAD_") || getenv("MALLOC_MMAP_MAX_"))
		return;
	if (mallopt(M_MMAP_THRESHOLD, 4 << 20) && mallopt(M_TRIM_THRESHOLD, 8 << 20))
		bl_malloc_tuned = 1;
#endif
}

static int bl_malloc_is_tuned(void) { return bl_malloc_tuned; }

// bl_heap_holds reports whether a block of n bytes comes from the heap
// (glibc's count of mapped blocks does not change while it is held), or
// -1 where that cannot be told.
static int bl_heap_holds(size_t n) {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || __GLIBC_MINOR__ >= 33)
	size_t before = mallinfo2().hblks;
	void *p = malloc(n);
	if (!p)
		return -1;
	memset(p, 1, n);
	size_t during = mallinfo2().hblks;
	free(p);
	return during == before;
#else
	(void)n;
	return -1;
#endif
}
*/
import "C"

// mallocTuned reports whether glibc's malloc thresholds were set for the
// C libraries' per-image buffers (malloc_cgo.go): false without glibc,
// with malloc set from the environment, or BACKLOT_MALLOC=default.
func mallocTuned() bool { return C.bl_malloc_is_tuned() == 1 }

// heapHolds reports whether glibc serves a block of n bytes from its
// heap rather than a mapping of its own; ok is false where that cannot
// be told.
func heapHolds(n int) (heap, ok bool) {
	r := C.bl_heap_holds(C.size_t(n))
	return r == 1, r >= 0
}
