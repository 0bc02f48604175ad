/* Still images: PNG and JPEG in (chosen by signature, not by extension; a JPEG turned upright by its
 * EXIF orientation, as viewers show it), PNG out (atomic), and the cover-resize used to prepare
 * conditioning images. Everything converges on 8-bit interleaved RGB.
 * Colour management is out of scope: gAMA/iCCP/sRGB chunks and JPEG ICC profiles are ignored, so the
 * stored values are taken to be sRGB. Alpha is composited over black (rgb * a / 255, rounded), unless
 * the caller asks for the colour as stored or for the alpha itself (kn_image_read_as). */
#include "io/media.h"
#include "io/io.h"
#include <errno.h>
#include <jpeglib.h>
#include <jerror.h>
#include <png.h>
#include <math.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>


kn_status kn_image_alloc(kn_image *img, int width, int height, kn_error *err) {
    memset(img, 0, sizeof *img);
    if (width < 1 || height < 1 || width > KN_IMAGE_MAX_SIDE || height > KN_IMAGE_MAX_SIDE)
        return kn_fail(err, KN_EINVAL, "image size %dx%d outside 1..%d", width, height, KN_IMAGE_MAX_SIDE);
    img->rgb = kn_malloc((size_t)width * height * 3);
    if (!img->rgb) return kn_fail(err, KN_ENOMEM, "out of memory for a %dx%d image", width, height);
    img->width = width;
    img->height = height;
    return KN_OK;
}

void kn_image_free(kn_image *img) {
    if (!img) return;
    kn_free(img->rgb);
    memset(img, 0, sizeof *img);
}

/* ---- PNG read ---- */

typedef struct png_err_ctx {
    char msg[256];
} png_err_ctx;

static void png_err_fn(png_structp png, png_const_charp msg) {
    png_err_ctx *c = png_get_error_ptr(png);
    snprintf(c->msg, sizeof c->msg, "%s", msg);
    png_longjmp(png, 1);
}

static void png_warn_fn(png_structp png, png_const_charp msg) { (void)png; (void)msg; }

/* The RGBA rows as RGB rows, in place, as mode asks: alpha over black, the colour as stored, or the
 * alpha as grey. */
static void rgba_to_rgb(uint8_t *rgba, uint8_t *rgb, size_t npix, kn_alpha_mode mode) {
    for (size_t i = 0; i < npix; i++) {
        unsigned a = rgba[4 * i + 3];
        for (int c = 0; c < 3; c++)
            rgb[3 * i + c] = mode == KN_ALPHA_MATTE      ? (uint8_t)a
                             : mode == KN_ALPHA_STRAIGHT ? rgba[4 * i + c]
                                                         : (uint8_t)((rgba[4 * i + c] * a + 127) / 255);
    }
}

static kn_status read_png(const char *path, FILE *f, kn_alpha_mode mode, kn_image *img, int *has_alpha,
                          kn_error *err) {
    png_err_ctx ec = {{0}};
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &ec, png_err_fn, png_warn_fn);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    uint8_t *volatile rows_buf = NULL;
    png_bytep *volatile rows = NULL;
    if (!png || !info) {
        png_destroy_read_struct(&png, &info, NULL);
        return kn_fail(err, KN_ENOMEM, "%s: out of memory for the PNG decoder", path);
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_read_struct(&png, &info, NULL);
        free(rows_buf); free(rows);
        kn_image_free(img);
        return kn_fail(err, KN_EFORMAT, "%s: bad or truncated PNG: %s", path, ec.msg[0] ? ec.msg : "decode error");
    }
    png_init_io(png, f);
    png_set_user_limits(png, KN_IMAGE_MAX_SIDE, KN_IMAGE_MAX_SIDE);
    png_read_info(png, info);
    png_uint_32 w = png_get_image_width(png, info), h = png_get_image_height(png, info);
    int ctype = png_get_color_type(png, info), depth = png_get_bit_depth(png, info);
    if (w < 1 || h < 1 || w > KN_IMAGE_MAX_SIDE || h > KN_IMAGE_MAX_SIDE) {
        png_destroy_read_struct(&png, &info, NULL);
        return kn_fail(err, KN_EFORMAT, "%s: PNG size %ux%u outside 1..%d", path, (unsigned)w, (unsigned)h,
                       KN_IMAGE_MAX_SIDE);
    }
    /* Palette, low-bit gray and tRNS all expand to 8-bit (gray/)RGB(A). */
    png_set_expand(png);
    if (depth == 16) png_set_scale_16(png);
    if (ctype == PNG_COLOR_TYPE_GRAY || ctype == PNG_COLOR_TYPE_GRAY_ALPHA) png_set_gray_to_rgb(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    int ch = png_get_channels(png, info);
    if (ch != 3 && ch != 4) png_error(png, "unexpected channel count after conversion");
    kn_status st = kn_image_alloc(img, (int)w, (int)h, err);
    if (st) { png_destroy_read_struct(&png, &info, NULL); return kn_wrap(err, "%s", path); }
    size_t stride = (size_t)w * (size_t)ch;
    rows_buf = ch == 3 ? NULL : malloc(stride * h);
    rows = malloc(sizeof(png_bytep) * h);
    if (!rows || (ch == 4 && !rows_buf)) png_error(png, "out of memory");
    for (png_uint_32 y = 0; y < h; y++)
        rows[y] = ch == 3 ? img->rgb + stride * y : rows_buf + stride * y;
    png_read_image(png, rows);
    png_read_end(png, NULL);
    if (ch == 4) rgba_to_rgb(rows_buf, img->rgb, (size_t)w * h, mode);
    *has_alpha = ch == 4;
    png_destroy_read_struct(&png, &info, NULL);
    free(rows_buf); free(rows);
    return KN_OK;
}

/* ---- JPEG read ---- */

typedef struct jpeg_err_ctx {
    struct jpeg_error_mgr mgr;
    jmp_buf jb;
    int truncated;
} jpeg_err_ctx;

static void jpeg_exit_fn(j_common_ptr c) {
    jpeg_err_ctx *e = (jpeg_err_ctx *)c->err;
    longjmp(e->jb, 1);
}

static void jpeg_emit_fn(j_common_ptr c, int level) {
    jpeg_err_ctx *e = (jpeg_err_ctx *)c->err;
    /* libjpeg pads a truncated stream with gray and only warns; for us that is a broken file. */
    if (level < 0 && e->mgr.msg_code == JWRN_JPEG_EOF) e->truncated = 1;
    if (level < 0) e->mgr.num_warnings++;
}

/* ---- JPEG orientation (EXIF) ---- */

/* An APP1 marker holds "Exif\0\0", then a TIFF header (byte order, 42, offset of IFD0), then IFD0's
 * entries of 12 bytes; tag 0x0112 is a SHORT whose value sits in the entry. Every offset is checked
 * against the marker's length (at most 65535 bytes, as JPEG markers are). */
int kn_exif_orientation(const uint8_t *d, size_t n) {
    if (n < 14 || n > 65535 || memcmp(d, "Exif\0\0", 6) != 0) return 1;
    const uint8_t *t = d + 6;
    size_t tn = n - 6;
    int le = t[0] == 'I' && t[1] == 'I';
    if (!le && !(t[0] == 'M' && t[1] == 'M')) return 1;
#define U16(p) (le ? (unsigned)(p)[0] | (unsigned)(p)[1] << 8 : (unsigned)(p)[1] | (unsigned)(p)[0] << 8)
#define U32(p) (le ? U16(p) | U16((p) + 2) << 16 : U16((p) + 2) | U16(p) << 16)
    if (U16(t + 2) != 42) return 1;
    size_t ifd = U32(t + 4);
    if (ifd > tn || tn - ifd < 2) return 1;   /* no subtraction below zero: tn may be under 12 */
    unsigned count = U16(t + ifd);
    for (unsigned i = 0; i < count; i++) {
        size_t e = ifd + 2 + 12 * (size_t)i;
        if (e > tn || tn - e < 12) break;
        if (U16(t + e) == 0x0112 && U16(t + e + 2) == 3) {
            unsigned v = U16(t + e + 8);
            return v >= 1 && v <= 8 ? (int)v : 1;
        }
    }
#undef U16
#undef U32
    return 1;
}

void kn_rgb_orient(const uint8_t *src, int w, int h, int o, uint8_t *dst) {
    int swap = o >= 5, ow = swap ? h : w, oh = swap ? w : h;
    for (int y = 0; y < oh; y++)
        for (int x = 0; x < ow; x++) {
            int sx, sy;
            switch (o) {
            case 2: sx = w - 1 - x; sy = y; break;
            case 3: sx = w - 1 - x; sy = h - 1 - y; break;
            case 4: sx = x; sy = h - 1 - y; break;
            case 5: sx = y; sy = x; break;
            case 6: sx = y; sy = h - 1 - x; break;
            case 7: sx = w - 1 - y; sy = h - 1 - x; break;
            case 8: sx = w - 1 - y; sy = x; break;
            default: sx = x; sy = y; break;
            }
            memcpy(dst + ((size_t)y * ow + x) * 3, src + ((size_t)sy * w + sx) * 3, 3);
        }
}

/* img turned upright by EXIF orientation o (a new buffer replaces the stored one). */
static kn_status orient_image(const char *path, kn_image *img, int o, kn_error *err) {
    if (o == 1) return KN_OK;
    kn_image up;
    int w = img->width, h = img->height;
    if (kn_image_alloc(&up, o >= 5 ? h : w, o >= 5 ? w : h, err)) {
        kn_image_free(img);
        return kn_wrap(err, "%s", path);
    }
    kn_rgb_orient(img->rgb, w, h, o, up.rgb);
    kn_image_free(img);
    *img = up;
    return KN_OK;
}

static kn_status read_jpeg(const char *path, FILE *f, kn_image *img, kn_error *err) {
    struct jpeg_decompress_struct ci;
    jpeg_err_ctx ec;
    memset(&ci, 0, sizeof ci);
    ci.err = jpeg_std_error(&ec.mgr);
    ec.mgr.error_exit = jpeg_exit_fn;
    ec.mgr.emit_message = jpeg_emit_fn;
    ec.truncated = 0;
    if (setjmp(ec.jb)) {
        char buf[JMSG_LENGTH_MAX];
        ec.mgr.format_message((j_common_ptr)&ci, buf);
        jpeg_destroy_decompress(&ci);
        kn_image_free(img);
        return kn_fail(err, KN_EFORMAT, "%s: bad or truncated JPEG: %s", path, buf);
    }
    jpeg_create_decompress(&ci);
    jpeg_stdio_src(&ci, f);
    jpeg_save_markers(&ci, JPEG_APP0 + 1, 0xffff);
    jpeg_read_header(&ci, TRUE);
    int orientation = 1;
    for (jpeg_saved_marker_ptr m = ci.marker_list; m && orientation == 1; m = m->next)
        if (m->marker == JPEG_APP0 + 1) orientation = kn_exif_orientation(m->data, m->data_length);
    if (ci.jpeg_color_space == JCS_CMYK || ci.jpeg_color_space == JCS_YCCK) {
        jpeg_destroy_decompress(&ci);
        return kn_fail(err, KN_EUNSUPPORTED, "%s: CMYK JPEG images are not supported (convert to RGB first)", path);
    }
    if (ci.num_components != 1 && ci.num_components != 3) {
        int n = ci.num_components;
        jpeg_destroy_decompress(&ci);
        return kn_fail(err, KN_EUNSUPPORTED, "%s: JPEG with %d colour components is not supported", path, n);
    }
    if (ci.image_width < 1 || ci.image_height < 1 || ci.image_width > KN_IMAGE_MAX_SIDE ||
        ci.image_height > KN_IMAGE_MAX_SIDE) {
        unsigned w = ci.image_width, h = ci.image_height;
        jpeg_destroy_decompress(&ci);
        return kn_fail(err, KN_EFORMAT, "%s: JPEG size %ux%u outside 1..%d", path, w, h, KN_IMAGE_MAX_SIDE);
    }
    /* Grayscale is expanded by hand: not every libjpeg converts gray to RGB. */
    int gray = ci.num_components == 1;
    ci.out_color_space = gray ? JCS_GRAYSCALE : JCS_RGB;
    ci.dct_method = JDCT_ISLOW;   /* the accurate integer IDCT: identical results on every CPU */
    jpeg_start_decompress(&ci);
    if (ci.output_components != (gray ? 1 : 3)) {
        jpeg_destroy_decompress(&ci);
        return kn_fail(err, KN_EFORMAT, "%s: JPEG decoder gave %d components", path, ci.output_components);
    }
    kn_status st = kn_image_alloc(img, (int)ci.output_width, (int)ci.output_height, err);
    if (st) { jpeg_destroy_decompress(&ci); return kn_wrap(err, "%s", path); }
    while (ci.output_scanline < ci.output_height && !ec.truncated) {
        uint8_t *row = img->rgb + (size_t)ci.output_scanline * img->width * 3;
        JSAMPROW rp = row;
        jpeg_read_scanlines(&ci, &rp, 1);
        if (gray)
            for (int x = img->width - 1; x >= 0; x--) row[3 * x] = row[3 * x + 1] = row[3 * x + 2] = row[x];
    }
    if (!ec.truncated) jpeg_finish_decompress(&ci);
    jpeg_destroy_decompress(&ci);
    if (ec.truncated) {
        kn_image_free(img);
        return kn_fail(err, KN_EFORMAT, "%s: truncated JPEG (data ends before the image does)", path);
    }
    return orient_image(path, img, orientation, err);
}

kn_status kn_image_read(const char *path, kn_image *img, kn_error *err) {
    int has_alpha;
    return kn_image_read_as(path, KN_ALPHA_DEFAULT, img, &has_alpha, err);
}

kn_status kn_image_read_as(const char *path, kn_alpha_mode mode, kn_image *img, int *has_alpha, kn_error *err) {
    memset(img, 0, sizeof *img);
    *has_alpha = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return kn_fail(err, KN_EIO, "%s: %s", path, strerror(errno));
    uint8_t sig[8] = {0};
    size_t n = fread(sig, 1, sizeof sig, f);
    rewind(f);
    static const uint8_t png_sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    kn_status st;
    if (n == 8 && memcmp(sig, png_sig, 8) == 0) st = read_png(path, f, mode, img, has_alpha, err);
    else if (n >= 3 && sig[0] == 0xff && sig[1] == 0xd8 && sig[2] == 0xff) st = read_jpeg(path, f, img, err);
    else st = kn_fail(err, KN_EFORMAT, "%s: not a PNG or JPEG image (unrecognised signature)", path);
    fclose(f);
    if (!st && mode == KN_ALPHA_MATTE && !*has_alpha)   /* opaque */
        memset(img->rgb, 255, (size_t)img->width * img->height * 3);
    return st;
}

/* ---- PNG write: encode into memory, then one atomic file write ---- */

typedef struct membuf {
    uint8_t *p;
    size_t n, cap;
    int oom;
} membuf;

static void mem_write_fn(png_structp png, png_bytep data, png_size_t len) {
    membuf *m = png_get_io_ptr(png);
    if (m->n + len > m->cap) {
        size_t cap = m->cap ? m->cap : 65536;
        while (cap < m->n + len) cap *= 2;
        uint8_t *np = realloc(m->p, cap);
        if (!np) { m->oom = 1; png_error(png, "out of memory"); }
        m->p = np;
        m->cap = cap;
    }
    memcpy(m->p + m->n, data, len);
    m->n += len;
}

static void mem_flush_fn(png_structp png) { (void)png; }

kn_status kn_png_encode(const char *path, const uint8_t *rgb, int width, int height, uint8_t **out,
                        size_t *n, kn_error *err) {
    return kn_png_encode_channels(path, rgb, 3, width, height, out, n, err);
}

kn_status kn_png_encode_channels(const char *path, const uint8_t *px, int channels, int width, int height,
                                 uint8_t **out, size_t *n, kn_error *err) {
    if ((channels != 3 && channels != 4) || !px || width < 1 || height < 1 || width > KN_IMAGE_MAX_SIDE ||
        height > KN_IMAGE_MAX_SIDE)
        return kn_fail(err, KN_EINVAL, "%s: cannot write a %dx%d image", path, width, height);
    png_err_ctx ec = {{0}};
    membuf m = {0};
    membuf *volatile mp = &m;
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &ec, png_err_fn, png_warn_fn);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!png || !info) {
        png_destroy_write_struct(&png, &info);
        return kn_fail(err, KN_ENOMEM, "%s: out of memory for the PNG encoder", path);
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        free(mp->p);
        return kn_fail(err, mp->oom ? KN_ENOMEM : KN_EINTERNAL, "%s: PNG encoding failed: %s", path, ec.msg);
    }
    png_set_write_fn(png, &m, mem_write_fn, mem_flush_fn);
    /* zlib level 3, not the default 6: frames are written by the dozen (a PNG folder of 61 768x576
     * frames took 6.5 s at 6, as long as interpolating them), and 3 encodes them 1.8-3.1x faster for
     * files 5-11% larger (vtest.avi, box.mp4, movie-hello.mp4 frames) */
    png_set_compression_level(png, 3);
    png_set_IHDR(png, info, (png_uint_32)width, (png_uint_32)height, 8,
                 channels == 4 ? PNG_COLOR_TYPE_RGB_ALPHA : PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (int y = 0; y < height; y++) png_write_row(png, (png_const_bytep)(px + (size_t)y * width * channels));
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    *out = m.p;
    *n = m.n;
    return KN_OK;
}

kn_status kn_image_write_png(const char *path, const kn_image *img, kn_error *err) {
    uint8_t *buf = NULL;
    size_t n = 0;
    kn_status st = kn_png_encode(path, img ? img->rgb : NULL, img ? img->width : 0, img ? img->height : 0,
                                 &buf, &n, err);
    if (st) return st;
    st = kn_write_file_atomic(path, buf, n, err);
    free(buf);
    return st;
}

/* ---- resize to cover + centre crop ----
 * Separable resampling of the box [x0, x1) of source pixels that maps onto each output pixel. When
 * the scale is below 1 every source pixel under the box contributes by its overlap (area averaging);
 * above 1 the box is narrower than a pixel and the weights become the bilinear tent around the
 * sample centre. Weights are computed in double in a fixed order, so results are deterministic. */

typedef struct taps {
    int *first, *count;     /* per output index */
    float *w;               /* count[i] weights per output index, packed at offsets off[i] */
    int *off;
} taps;

static void taps_free(taps *t) { free(t->first); free(t->count); free(t->w); free(t->off); }

/* Output i covers source coordinates [start + i/scale, start + (i+1)/scale). */
static int taps_make(taps *t, int nsrc, int nout, double scale, double start) {
    memset(t, 0, sizeof *t);
    int maxc = (int)ceil(1.0 / scale) + 3;
    t->first = malloc(sizeof(int) * nout);
    t->count = malloc(sizeof(int) * nout);
    t->off = malloc(sizeof(int) * nout);
    t->w = malloc(sizeof(float) * (size_t)nout * maxc);
    if (!t->first || !t->count || !t->off || !t->w) { taps_free(t); return -1; }
    int off = 0;
    for (int i = 0; i < nout; i++) {
        double a = start + i / scale, b = start + (i + 1) / scale;
        double wsum = 0, tmp[4096];
        int lo, hi, c = 0;
        if (scale <= 1.0) {          /* area: overlap of [a,b) with [k,k+1) */
            lo = (int)floor(a); hi = (int)ceil(b) - 1;
            for (int k = lo; k <= hi && c < maxc; k++) {
                double ov = fmin(b, k + 1.0) - fmax(a, (double)k);
                tmp[c++] = ov > 0 ? ov : 0;
            }
        } else {                     /* bilinear at the box centre, pixel centres at k + 0.5 */
            double x = (a + b) * 0.5 - 0.5;
            lo = (int)floor(x); hi = lo + 1;
            double fr = x - lo;
            tmp[c++] = 1.0 - fr; tmp[c++] = fr;
        }
        /* Clamp taps that fall outside the source onto the edge pixel. */
        int first = lo < 0 ? 0 : lo, last = lo + c - 1 >= nsrc ? nsrc - 1 : lo + c - 1;
        if (last < first) last = first;
        int cnt = last - first + 1;
        float *w = t->w + off;
        for (int k = 0; k < cnt; k++) w[k] = 0;
        for (int k = 0; k < c; k++) {
            int s = lo + k;
            s = s < first ? first : s > last ? last : s;
            w[s - first] += (float)tmp[k];
            wsum += tmp[k];
        }
        for (int k = 0; k < cnt; k++) w[k] = (float)(w[k] / wsum);
        t->first[i] = first; t->count[i] = cnt; t->off[i] = off;
        off += cnt;
    }
    return 0;
}

kn_status kn_image_resize_cover(const kn_image *src, int w, int h, kn_image *dst, kn_error *err) {
    memset(dst, 0, sizeof *dst);
    if (!src || !src->rgb || src->width < 1 || src->height < 1)
        return kn_fail(err, KN_EINVAL, "resize: empty source image");
    kn_status st = kn_image_alloc(dst, w, h, err);
    if (st) return kn_wrap(err, "resize");
    /* Cover: the larger of the two scales, so the scaled source is at least w x h; the crop is centred. */
    double sx = (double)w / src->width, sy = (double)h / src->height, s = sx > sy ? sx : sy;
    double x0 = (src->width - w / s) * 0.5, y0 = (src->height - h / s) * 0.5;
    if (1.0 / s > 4000) { kn_image_free(dst); return kn_fail(err, KN_EINVAL, "resize: scale factor too small"); }
    taps tx, ty;
    if (taps_make(&tx, src->width, w, s, x0)) { kn_image_free(dst); return kn_fail(err, KN_ENOMEM, "resize: out of memory"); }
    if (taps_make(&ty, src->height, h, s, y0)) {
        taps_free(&tx); kn_image_free(dst); return kn_fail(err, KN_ENOMEM, "resize: out of memory");
    }
    /* Horizontal pass into float rows (only the source rows that some output row uses), then vertical. */
    float *mid = malloc(sizeof(float) * (size_t)src->height * w * 3);
    if (!mid) {
        taps_free(&tx); taps_free(&ty); kn_image_free(dst);
        return kn_fail(err, KN_ENOMEM, "resize: out of memory");
    }
    for (int y = 0; y < src->height; y++) {
        const uint8_t *row = src->rgb + (size_t)y * src->width * 3;
        float *mr = mid + (size_t)y * w * 3;
        for (int x = 0; x < w; x++) {
            const float *wt = tx.w + tx.off[x];
            float acc[3] = {0, 0, 0};
            for (int k = 0; k < tx.count[x]; k++) {
                const uint8_t *p = row + (size_t)(tx.first[x] + k) * 3;
                acc[0] += wt[k] * p[0]; acc[1] += wt[k] * p[1]; acc[2] += wt[k] * p[2];
            }
            mr[3 * x] = acc[0]; mr[3 * x + 1] = acc[1]; mr[3 * x + 2] = acc[2];
        }
    }
    for (int y = 0; y < h; y++) {
        const float *wt = ty.w + ty.off[y];
        uint8_t *out = dst->rgb + (size_t)y * w * 3;
        for (int x = 0; x < w * 3; x++) {
            float acc = 0;
            for (int k = 0; k < ty.count[y]; k++) acc += wt[k] * mid[(size_t)(ty.first[y] + k) * w * 3 + x];
            int v = (int)lrintf(acc);
            out[x] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
        }
    }
    free(mid);
    taps_free(&tx); taps_free(&ty);
    return KN_OK;
}
