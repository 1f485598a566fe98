//go:build cgo && !nolcms

package lcms

/*
#cgo LDFLAGS: -llcms2
#include <stdlib.h>
#include <string.h>
#include <lcms2.h>

// bl_to_srgb makes a transform from the profile icc to sRGB, 8-bit RGBA
// in and out, alpha copied; *rgb is 0 when the profile is not RGB, and
// *srgb 1 when its description says it is sRGB already.
static cmsHTRANSFORM bl_to_srgb(const void *icc, cmsUInt32Number n, int *rgb, int *srgb) {
	*rgb = 0;
	*srgb = 0;
	cmsHPROFILE in = cmsOpenProfileFromMem(icc, n);
	if (!in)
		return NULL;
	if (cmsGetColorSpace(in) != cmsSigRgbData) {
		cmsCloseProfile(in);
		return NULL;
	}
	*rgb = 1;
	char desc[256] = {0};
	cmsGetProfileInfoASCII(in, cmsInfoDescription, "en", "US", desc, sizeof desc);
	if (strstr(desc, "sRGB") != NULL) {
		*srgb = 1;
		cmsCloseProfile(in);
		return NULL;
	}
	cmsHPROFILE out = cmsCreate_sRGBProfile();
	cmsHTRANSFORM t = cmsCreateTransform(in, TYPE_RGBA_8, out, TYPE_RGBA_8, INTENT_PERCEPTUAL, cmsFLAGS_COPY_ALPHA);
	cmsCloseProfile(in);
	cmsCloseProfile(out);
	return t;
}

static void bl_apply(cmsHTRANSFORM t, void *pix, int w, int h, int stride) {
	cmsDoTransformLineStride(t, pix, pix, w, h, stride, stride, 0, 0);
}

// bl_p3 writes a Display P3 profile (D65, DCI-P3 primaries, sRGB's
// transfer curve, as Apple's) into a malloc'd buffer.
static void *bl_p3(cmsUInt32Number *n) {
	cmsCIExyY d65 = {0.3127, 0.3290, 1.0};
	cmsCIExyYTRIPLE p3 = {{0.680, 0.320, 1.0}, {0.265, 0.690, 1.0}, {0.150, 0.060, 1.0}};
	cmsFloat64Number srgb[5] = {2.4, 1 / 1.055, 0.055 / 1.055, 1 / 12.92, 0.04045};
	cmsToneCurve *c = cmsBuildParametricToneCurve(NULL, 4, srgb);
	cmsToneCurve *cs[3] = {c, c, c};
	cmsHPROFILE p = cmsCreateRGBProfile(&d65, &p3, cs);
	cmsFreeToneCurve(c);
	cmsMLU *mlu = cmsMLUalloc(NULL, 1);
	cmsMLUsetASCII(mlu, "en", "US", "Display P3");
	cmsWriteTag(p, cmsSigProfileDescriptionTag, mlu);
	cmsMLUfree(mlu);
	*n = 0;
	cmsSaveProfileToMem(p, NULL, n);
	void *buf = malloc(*n);
	cmsSaveProfileToMem(p, buf, n);
	cmsCloseProfile(p);
	return buf;
}
*/
import "C"

import (
	"fmt"
	"image"
	"runtime"
	"unsafe"
)

const available = true

// Transform converts pixels from one profile to sRGB.
type Transform struct{ h C.cmsHTRANSFORM }

// ToSRGB makes the transform from the ICC profile icc to sRGB: nil, nil
// when icc says sRGB already (nothing to do); ErrNotRGB for a profile of
// another colour space; an error for bytes Little CMS cannot read.
func ToSRGB(icc []byte) (*Transform, error) {
	if len(icc) == 0 {
		return nil, fmt.Errorf("lcms: empty profile")
	}
	var rgb, srgb C.int
	h := C.bl_to_srgb(unsafe.Pointer(&icc[0]), C.cmsUInt32Number(len(icc)), &rgb, &srgb)
	switch {
	case srgb != 0:
		return nil, nil
	case rgb == 0 && h == nil:
		return nil, ErrNotRGB
	case h == nil:
		return nil, fmt.Errorf("lcms: the profile cannot be read")
	}
	t := &Transform{h: h}
	runtime.AddCleanup(t, func(h C.cmsHTRANSFORM) { C.cmsDeleteTransform(h) }, h)
	return t, nil
}

// Apply converts img's pixels in place (straight alpha kept).
func (t *Transform) Apply(img *image.NRGBA) {
	b := img.Rect
	if b.Empty() {
		return
	}
	C.bl_apply(t.h, unsafe.Pointer(&img.Pix[img.PixOffset(b.Min.X, b.Min.Y)]), C.int(b.Dx()), C.int(b.Dy()), C.int(img.Stride))
	runtime.KeepAlive(t)
}

// DisplayP3 is a Display P3 ICC profile (D65, DCI-P3 primaries, sRGB's
// transfer curve, as Apple's) made by Little CMS: for tests, which embed
// it in the images they make.
func DisplayP3() []byte {
	var n C.cmsUInt32Number
	p := C.bl_p3(&n)
	defer C.free(p)
	return C.GoBytes(p, C.int(n))
}
