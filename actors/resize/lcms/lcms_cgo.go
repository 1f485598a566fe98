//go:build cgo && !nolcms

package lcms

/*
#cgo LDFLAGS: -llcms2 -lm
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <lcms2.h>

// bl_to_srgb makes a transform from the profile icc to sRGB: 8-bit RGBA
// in and out, alpha copied; or with cmyk, 8-bit CMYK (0: no ink) in and
// RGBA out, 4 bytes a pixel both, so a buffer converts in place (the
// fourth byte then left as it was). *match is 0 when the profile is not
// of that colour space, and *srgb 1 when an RGB one's description says
// it is sRGB already.
static cmsHTRANSFORM bl_to_srgb(const void *icc, cmsUInt32Number n, int cmyk, int *match, int *srgb) {
	*match = 0;
	*srgb = 0;
	cmsHPROFILE in = cmsOpenProfileFromMem(icc, n);
	if (!in)
		return NULL;
	if (cmsGetColorSpace(in) != (cmyk ? cmsSigCmykData : cmsSigRgbData)) {
		cmsCloseProfile(in);
		return NULL;
	}
	*match = 1;
	char desc[256] = {0};
	cmsGetProfileInfoASCII(in, cmsInfoDescription, "en", "US", desc, sizeof desc);
	if (!cmyk && strstr(desc, "sRGB") != NULL) {
		*srgb = 1;
		cmsCloseProfile(in);
		return NULL;
	}
	cmsHPROFILE out = cmsCreate_sRGBProfile();
	cmsHTRANSFORM t = cmsCreateTransform(in, cmyk ? TYPE_CMYK_8 : TYPE_RGBA_8, out, TYPE_RGBA_8, INTENT_PERCEPTUAL,
	                                     cmyk ? 0 : cmsFLAGS_COPY_ALPHA);
	cmsCloseProfile(in);
	cmsCloseProfile(out);
	return t;
}

static void bl_apply_cmyk(cmsHTRANSFORM t, void *pix, cmsUInt32Number n) {
	cmsDoTransform(t, pix, pix, n);
}

static double bl_linear(double v) { return v <= 0.04045 ? v / 12.92 : pow((v + 0.055) / 1.055, 2.4); }

// bl_tinted_sample is the CMYK profile bl_tinted's colours: ink c, m, y, k
// print as the sRGB colour ((1-c)(1-k), (1-m)(1-k), 0.8(1-y)(1-k)), as
// Lab (D50; sRGB to XYZ through its Bradford-adapted matrix).
static cmsInt32Number bl_tinted_sample(const cmsUInt16Number in[], cmsUInt16Number out[], void *cargo) {
	double c = in[0] / 65535.0, m = in[1] / 65535.0, y = in[2] / 65535.0, k = in[3] / 65535.0;
	double r = bl_linear((1 - c) * (1 - k)), g = bl_linear((1 - m) * (1 - k)), b = bl_linear(0.8 * (1 - y) * (1 - k));
	cmsCIEXYZ xyz = {0.4360747 * r + 0.3850649 * g + 0.1430804 * b,
	                 0.2225045 * r + 0.7168786 * g + 0.0606169 * b,
	                 0.0139322 * r + 0.0971045 * g + 0.7141733 * b};
	cmsCIELab lab;
	cmsXYZ2Lab(cmsD50_XYZ(), &lab, &xyz);
	cmsFloat2LabEncodedV2(out, &lab);
	return 1;
}

// bl_save names the profile p desc and writes it into a malloc'd buffer
// of *n bytes; p is closed.
static void *bl_save(cmsHPROFILE p, const char *desc, cmsUInt32Number *n) {
	cmsMLU *mlu = cmsMLUalloc(NULL, 1);
	cmsMLUsetASCII(mlu, "en", "US", desc);
	cmsWriteTag(p, cmsSigProfileDescriptionTag, mlu);
	cmsMLUfree(mlu);
	*n = 0;
	cmsSaveProfileToMem(p, NULL, n);
	void *buf = malloc(*n);
	cmsSaveProfileToMem(p, buf, n);
	cmsCloseProfile(p);
	return buf;
}

// bl_tinted writes a v2 CMYK output profile whose AToB0 is a 6-point CLUT
// of bl_tinted_sample into a malloc'd buffer.
static void *bl_tinted(cmsUInt32Number *n) {
	cmsHPROFILE p = cmsCreateProfilePlaceholder(NULL);
	cmsSetProfileVersion(p, 2.1);
	cmsSetDeviceClass(p, cmsSigOutputClass);
	cmsSetColorSpace(p, cmsSigCmykData);
	cmsSetPCS(p, cmsSigLabData);
	cmsPipeline *lut = cmsPipelineAlloc(NULL, 4, 3);
	cmsStage *clut = cmsStageAllocCLut16bit(NULL, 6, 4, 3, NULL);
	cmsStageSampleCLut16bit(clut, bl_tinted_sample, NULL, 0);
	cmsPipelineInsertStage(lut, cmsAT_BEGIN, clut);
	cmsWriteTag(p, cmsSigAToB0Tag, lut);
	cmsPipelineFree(lut);
	cmsWriteTag(p, cmsSigMediaWhitePointTag, (void *)cmsD50_XYZ());
	return bl_save(p, "Backlot tinted CMYK (tests)", n);
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
	return bl_save(p, "Display P3", n);
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
func ToSRGB(icc []byte) (*Transform, error) { return toSRGB(icc, false) }

// CMYKToSRGB makes the transform from the CMYK ICC profile icc to sRGB,
// for ApplyCMYK: ErrNotCMYK for a profile of another colour space; an
// error for bytes Little CMS cannot read.
func CMYKToSRGB(icc []byte) (*Transform, error) { return toSRGB(icc, true) }

func toSRGB(icc []byte, cmyk bool) (*Transform, error) {
	if len(icc) == 0 {
		return nil, fmt.Errorf("lcms: empty profile")
	}
	var match, srgb C.int
	h := C.bl_to_srgb(unsafe.Pointer(&icc[0]), C.cmsUInt32Number(len(icc)), map[bool]C.int{true: 1}[cmyk], &match, &srgb)
	switch {
	case srgb != 0:
		return nil, nil
	case match == 0 && cmyk:
		return nil, ErrNotCMYK
	case match == 0:
		return nil, ErrNotRGB
	case h == nil:
		return nil, fmt.Errorf("lcms: the profile cannot be read")
	}
	return newTransform(h), nil
}

// newTransform owns h, deleted once the Transform is unreachable.
func newTransform(h C.cmsHTRANSFORM) *Transform {
	t := &Transform{h: h}
	runtime.AddCleanup(t, func(h C.cmsHTRANSFORM) { C.cmsDeleteTransform(h) }, h)
	return t
}

// ApplyCMYK converts pix, CMYK pixels of 4 bytes (0: no ink), in place
// to RGB (the fourth byte of each left as it was). Only for a transform
// from CMYKToSRGB.
func (t *Transform) ApplyCMYK(pix []byte) {
	if len(pix) < 4 {
		return
	}
	C.bl_apply_cmyk(t.h, unsafe.Pointer(&pix[0]), C.cmsUInt32Number(len(pix)/4))
	runtime.KeepAlive(t)
}

// TintedCMYK is a CMYK ICC profile made by Little CMS for tests: ink c,
// m, y, k (0 to 1) prints as the sRGB colour ((1-c)(1-k), (1-m)(1-k),
// 0.8(1-y)(1-k)), on a paper tinted yellow, so that reading the ink
// naively is far off. A 6-point CLUT: exact at multiples of 51 of 255.
func TintedCMYK() []byte {
	var n C.cmsUInt32Number
	return goBytes(C.bl_tinted(&n), n)
}

// goBytes copies the malloc'd profile p of n bytes, and frees it.
func goBytes(p unsafe.Pointer, n C.cmsUInt32Number) []byte {
	defer C.free(p)
	return C.GoBytes(p, C.int(n))
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
	return goBytes(C.bl_p3(&n), n)
}
