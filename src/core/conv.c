/* 2-D convolution as implicit GEMM on the packed-panel engine (gemm.c).
 * Forward: y_b[Cout, HoWo] = W[Cout, Cin*kh*kw] x col_b[Cin*kh*kw, HoWo]; the im2col matrix is never
 * built: its panels are gathered from x while packing, so scratch stays at one packed block.
 * Backward: dx via dcol = W^T dy in channel chunks (bounded scratch) and a col2im that each task does
 * for its own channels; dw = dy x col^T with the reduction over every (image, pixel) in one product;
 * db by channel sums. All orders are fixed, so results do not depend on the thread count.
 * If no packing memory can be had the plain direct loops run instead (slow, allocation free). */
#include "core/kernels.h"
#include <stdlib.h>

typedef struct {
    const kn_conv2d_shape *s;
    const float *x, *dy;
    int Ho, Wo;
} conv_src;

/* B operand of the forward product, viewed as X[pixel, (ci,ky,kx)] of image `batch`. */
static void pack_im2col(const void *arg, int batch, int r0, int rlen, int k0, int klen, int R, float *dst) {
    const conv_src *c = arg;
    const kn_conv2d_shape *s = c->s;
    int seg_r[64], seg_len[64], seg_iy[64], seg_ix[64], nseg = 0;
    for (int r = 0; r < rlen;) {   /* runs of pixels that share an output row */
        int n = r0 + r, oy = n / c->Wo, ox = n % c->Wo, len = c->Wo - ox;
        if (len > rlen - r) len = rlen - r;
        seg_r[nseg] = r;
        seg_len[nseg] = len;
        seg_iy[nseg] = oy * s->stride - s->pad_top;
        seg_ix[nseg] = ox * s->stride - s->pad_left;
        nseg++;
        r += len;
    }
    int khw = s->kh * s->kw;
    int ci = k0 / khw, ky = (k0 % khw) / s->kw, kx = k0 % s->kw;
    for (int k = 0; k < klen; k++) {
        float *d = dst + (size_t)k * R;
        const float *plane = c->x + ((size_t)batch * s->Cin + ci) * s->H * s->W;
        for (int g = 0; g < nseg; g++) {
            float *o = d + seg_r[g];
            int len = seg_len[g], iy = seg_iy[g] + ky, ix0 = seg_ix[g] + kx;
            if (iy < 0 || iy >= s->H) { memset(o, 0, sizeof(float) * len); continue; }
            const float *row = plane + (size_t)iy * s->W;
            if (s->stride == 1) {
                int lo = ix0 < 0 ? -ix0 : 0, hi = s->W - ix0 < len ? s->W - ix0 : len;
                if (hi < lo) hi = lo;
                if (lo > len) lo = hi = len;
                for (int t = 0; t < lo; t++) o[t] = 0.f;
                if (hi > lo) memcpy(o + lo, row + ix0 + lo, sizeof(float) * (hi - lo));
                for (int t = hi; t < len; t++) o[t] = 0.f;
            } else {
                for (int t = 0; t < len; t++) {
                    int ix = ix0 + t * s->stride;
                    o[t] = (unsigned)ix < (unsigned)s->W ? row[ix] : 0.f;
                }
            }
        }
        for (int r = rlen; r < R; r++) d[r] = 0.f;
        if (++kx == s->kw) { kx = 0; if (++ky == s->kh) { ky = 0; ci++; } }
    }
}

static int is_pointwise(const kn_conv2d_shape *s) {
    return s->kh == 1 && s->kw == 1 && s->stride == 1 && !s->pad_top && !s->pad_bottom && !s->pad_left &&
           !s->pad_right;
}

/* ---- direct fallbacks (no scratch) ---- */
static void conv_direct(const kn_conv2d_shape *s, const float *x, kn_wview w, const float *bias, float *y,
                        int Ho, int Wo) {
    for (int b = 0; b < s->B; b++)
        for (int co = 0; co < s->Cout; co++) {
            float *yp = y + ((size_t)b * s->Cout + co) * Ho * Wo;
            for (int oy = 0; oy < Ho; oy++)
                for (int ox = 0; ox < Wo; ox++) {
                    float acc = 0.f;
                    for (int ci = 0; ci < s->Cin; ci++)
                        for (int ky = 0; ky < s->kh; ky++) {
                            int iy = oy * s->stride + ky - s->pad_top;
                            if (iy < 0 || iy >= s->H) continue;
                            for (int kx = 0; kx < s->kw; kx++) {
                                int ix = ox * s->stride + kx - s->pad_left;
                                if (ix < 0 || ix >= s->W) continue;
                                acc += kn_wget(w, (((size_t)co * s->Cin + ci) * s->kh + ky) * s->kw + kx) *
                                       x[(((size_t)b * s->Cin + ci) * s->H + iy) * s->W + ix];
                            }
                        }
                    yp[oy * Wo + ox] = acc + (bias ? bias[co] : 0.f);
                }
        }
}

void kn_conv2d(const kn_ctx *ctx, const kn_conv2d_shape *s, const float *x, kn_wview w,
               const float *bias, float *y) {
    int Ho = kn_conv2d_out_h(s), Wo = kn_conv2d_out_w(s);
    if (s->B <= 0 || s->Cout <= 0 || Ho <= 0 || Wo <= 0) return;
    int N = Ho * Wo, K = s->Cin * s->kh * s->kw;
    if (bias)
        for (int b = 0; b < s->B; b++)
            for (int co = 0; co < s->Cout; co++) {
                float *p = y + ((size_t)b * s->Cout + co) * N;
                for (int i = 0; i < N; i++) p[i] = bias[co];
            }
    kn_isa isa = kn_isa_of(ctx);
    kn_mat_src wa = {w.data, w.dtype, (size_t)K, 0, isa};
    kn_mat_src xb = {x, KN_F32, (size_t)N, (size_t)s->Cin * N, isa};
    conv_src cs = {s, x, NULL, Ho, Wo};
    kn_gemm_desc d = {s->Cout, N, K, s->B, kn_pack_rowmajor, &wa,
                      is_pointwise(s) ? kn_pack_colmajor : pack_im2col, is_pointwise(s) ? (const void *)&xb : &cs,
                      y, N, (size_t)s->Cout * N, 1.f, bias ? 1.f : 0.f};
    if (kn_gemm_run(ctx, &d) != 0) conv_direct(s, x, w, bias, y, Ho, Wo);
}

/* ---- backward ---- */
typedef struct {
    const kn_conv2d_shape *s;
    const float *dcol;
    float *dx;
    int b, c0, Ho, Wo;
    const kn_vec *vec;
} col2im_job;

static void col2im_task(void *arg, int task) {   /* one input channel of dx */
    const col2im_job *j = arg;
    const kn_conv2d_shape *s = j->s;
    int ci = j->c0 + task, N = j->Ho * j->Wo;
    float *dx = j->dx + ((size_t)j->b * s->Cin + ci) * s->H * s->W;
    memset(dx, 0, sizeof(float) * s->H * s->W);
    const float *rows = j->dcol + (size_t)task * s->kh * s->kw * N;
    for (int ky = 0; ky < s->kh; ky++)
        for (int kx = 0; kx < s->kw; kx++) {
            const float *r = rows + (size_t)(ky * s->kw + kx) * N;
            for (int oy = 0; oy < j->Ho; oy++) {
                int iy = oy * s->stride + ky - s->pad_top;
                if (iy < 0 || iy >= s->H) continue;
                float *drow = dx + (size_t)iy * s->W;
                const float *rr = r + (size_t)oy * j->Wo;
                if (s->stride == 1) {   /* contiguous run: one vector axpy (x 1.0 is exact) */
                    int lo = s->pad_left - kx > 0 ? s->pad_left - kx : 0;
                    int hi = s->W + s->pad_left - kx < j->Wo ? s->W + s->pad_left - kx : j->Wo;
                    if (hi > lo) j->vec->axpy(drow + lo + kx - s->pad_left, 1.f, rr + lo, hi - lo);
                    continue;
                }
                for (int ox = 0; ox < j->Wo; ox++) {
                    int ix = ox * s->stride + kx - s->pad_left;
                    if ((unsigned)ix < (unsigned)s->W) drow[ix] += rr[ox];
                }
            }
        }
}

/* A operand of dw: X[co, (b, pixel)] = dy. */
static void pack_dy_rows(const void *arg, int batch, int r0, int rlen, int k0, int klen, int R, float *dst) {
    (void)batch;
    const conv_src *c = arg;
    int N = c->Ho * c->Wo, Cout = c->s->Cout;
    for (int r = 0; r < rlen; r++) {
        int b = k0 / N, p = k0 % N;
        for (int k = 0; k < klen;) {
            int run = N - p < klen - k ? N - p : klen - k;
            const float *src = c->dy + ((size_t)b * Cout + r0 + r) * N + p;
            for (int t = 0; t < run; t++) dst[(size_t)(k + t) * R + r] = src[t];
            k += run;
            b++;
            p = 0;
        }
    }
    for (int r = rlen; r < R; r++)
        for (int k = 0; k < klen; k++) dst[(size_t)k * R + r] = 0.f;
}

/* B operand of dw: X[(ci,ky,kx), (b, pixel)] = the im2col value. */
static void pack_col_t(const void *arg, int batch, int r0, int rlen, int k0, int klen, int R, float *dst) {
    (void)batch;
    const conv_src *c = arg;
    const kn_conv2d_shape *s = c->s;
    int khw = s->kh * s->kw, N = c->Ho * c->Wo;
    size_t plane = (size_t)s->H * s->W;
    int off_y[32], off_x[32];
    size_t off_c[32];
    for (int r = 0; r < rlen; r++) {
        int kr = r0 + r;
        off_c[r] = (size_t)(kr / khw) * plane;
        off_y[r] = (kr % khw) / s->kw - s->pad_top;
        off_x[r] = kr % s->kw - s->pad_left;
    }
    int b = k0 / N, p = k0 % N, oy = p / c->Wo, ox = p % c->Wo;
    for (int k = 0; k < klen; k++) {
        float *d = dst + (size_t)k * R;
        const float *xb = c->x + (size_t)b * s->Cin * plane;
        int by = oy * s->stride, bx = ox * s->stride;
        for (int r = 0; r < rlen; r++) {
            int iy = by + off_y[r], ix = bx + off_x[r];
            d[r] = ((unsigned)iy < (unsigned)s->H && (unsigned)ix < (unsigned)s->W)
                       ? xb[off_c[r] + (size_t)iy * s->W + ix] : 0.f;
        }
        for (int r = rlen; r < R; r++) d[r] = 0.f;
        if (++ox == c->Wo) { ox = 0; if (++oy == c->Ho) { oy = 0; b++; } }
    }
}

typedef struct { const kn_conv2d_shape *s; const float *dy; float *db; int N; } db_job;
static void db_task(void *arg, int co) {
    const db_job *j = arg;
    double acc = 0;
    for (int b = 0; b < j->s->B; b++) {
        const float *d = j->dy + ((size_t)b * j->s->Cout + co) * j->N;
        float part = 0.f;
        for (int i = 0; i < j->N; i++) part += d[i];
        acc += part;
    }
    j->db[co] += (float)acc;
}

static void dx_direct(const kn_conv2d_shape *s, const float *w, const float *dy, float *dx, int Ho, int Wo) {
    memset(dx, 0, sizeof(float) * (size_t)s->B * s->Cin * s->H * s->W);
    for (int b = 0; b < s->B; b++)
        for (int co = 0; co < s->Cout; co++)
            for (int ci = 0; ci < s->Cin; ci++)
                for (int ky = 0; ky < s->kh; ky++)
                    for (int kx = 0; kx < s->kw; kx++) {
                        float wv = w[(((size_t)co * s->Cin + ci) * s->kh + ky) * s->kw + kx];
                        for (int oy = 0; oy < Ho; oy++) {
                            int iy = oy * s->stride + ky - s->pad_top;
                            if (iy < 0 || iy >= s->H) continue;
                            for (int ox = 0; ox < Wo; ox++) {
                                int ix = ox * s->stride + kx - s->pad_left;
                                if (ix < 0 || ix >= s->W) continue;
                                dx[(((size_t)b * s->Cin + ci) * s->H + iy) * s->W + ix] +=
                                    wv * dy[(((size_t)b * s->Cout + co) * Ho + oy) * Wo + ox];
                            }
                        }
                    }
}

static void dw_direct(const kn_conv2d_shape *s, const float *x, const float *dy, float *dw, int Ho, int Wo) {
    for (int co = 0; co < s->Cout; co++)
        for (int ci = 0; ci < s->Cin; ci++)
            for (int ky = 0; ky < s->kh; ky++)
                for (int kx = 0; kx < s->kw; kx++) {
                    float acc = 0.f;
                    for (int b = 0; b < s->B; b++)
                        for (int oy = 0; oy < Ho; oy++) {
                            int iy = oy * s->stride + ky - s->pad_top;
                            if (iy < 0 || iy >= s->H) continue;
                            for (int ox = 0; ox < Wo; ox++) {
                                int ix = ox * s->stride + kx - s->pad_left;
                                if (ix < 0 || ix >= s->W) continue;
                                acc += x[(((size_t)b * s->Cin + ci) * s->H + iy) * s->W + ix] *
                                       dy[(((size_t)b * s->Cout + co) * Ho + oy) * Wo + ox];
                            }
                        }
                    dw[(((size_t)co * s->Cin + ci) * s->kh + ky) * s->kw + kx] += acc;
                }
}

#define DCOL_MAX_FLOATS ((size_t)1 << 20)   /* bound on the dx scratch: 4 MiB */

static void conv_dx(const kn_ctx *ctx, const kn_conv2d_shape *s, const float *w, const float *dy, float *dx,
                    int Ho, int Wo) {
    int N = Ho * Wo, khw = s->kh * s->kw, K = s->Cin * khw;
    size_t per_ch = (size_t)khw * N;
    int chunk = (int)(DCOL_MAX_FLOATS / per_ch);
    if (chunk < 1) chunk = 1;
    if (chunk > s->Cin) chunk = s->Cin;
    kn_scratch_buf sb;
    float *dcol = kn_scratch_get(ctx, sizeof(float) * per_ch * chunk, &sb);
    if (!dcol) { dx_direct(s, w, dy, dx, Ho, Wo); return; }
    kn_isa isa = kn_isa_of(ctx);
    for (int b = 0; b < s->B; b++)
        for (int c0 = 0; c0 < s->Cin; c0 += chunk) {
            int nc = s->Cin - c0 < chunk ? s->Cin - c0 : chunk;
            /* dcol[(ci,ky,kx), p] = sum_co W[co, (ci,ky,kx)] dy[co, p] */
            kn_mat_src wa = {w + (size_t)c0 * khw, KN_F32, (size_t)K, 0, isa};
            kn_mat_src db = {dy + (size_t)b * s->Cout * N, KN_F32, (size_t)N, 0, isa};
            kn_gemm_desc d = {nc * khw, N, s->Cout, 1, kn_pack_colmajor, &wa, kn_pack_colmajor, &db,
                              dcol, N, 0, 1.f, 0.f};
            if (kn_gemm_run(ctx, &d) != 0) {
                kn_scratch_release(ctx, &sb);
                dx_direct(s, w, dy, dx, Ho, Wo);
                return;
            }
            col2im_job j = {s, dcol, dx, b, c0, Ho, Wo, kn_vec_for(isa)};
            kn_pool_run(kn_pool_of(ctx), nc, col2im_task, &j);
        }
    kn_scratch_release(ctx, &sb);
}

void kn_conv2d_backward(const kn_ctx *ctx, const kn_conv2d_shape *s, const float *x, const float *w,
                        const float *dy, float *dx, float *dw, float *db) {
    int Ho = kn_conv2d_out_h(s), Wo = kn_conv2d_out_w(s), N = Ho * Wo;
    if (s->B <= 0 || Ho <= 0 || Wo <= 0) return;
    if (dx) conv_dx(ctx, s, w, dy, dx, Ho, Wo);
    if (dw) {
        int K = s->Cin * s->kh * s->kw;
        conv_src cs = {s, x, dy, Ho, Wo};
        kn_gemm_desc d = {s->Cout, K, s->B * N, 1, pack_dy_rows, &cs, pack_col_t, &cs, dw, K, 0, 1.f, 1.f};
        if ((size_t)s->B * N > (size_t)0x7fffffff || kn_gemm_run(ctx, &d) != 0) dw_direct(s, x, dy, dw, Ho, Wo);
    }
    if (db) {
        db_job j = {s, dy, db, N};
        kn_pool_run(kn_pool_of(ctx), s->Cout, db_task, &j);
    }
}
