/* Helpers shared by the files of src/interp (not part of the module's interface). */
#ifndef KN_INTERP_IMPL_H
#define KN_INTERP_IMPL_H
#include "interp/interp.h"

static inline int kn_clampi(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

/* (x, y) clamped to the w x h frame, NaN -> 0: how every sampler here treats positions outside it. */
static inline void kn_clamp_to_frame(int w, int h, float *x, float *y) {
    if (!(*x > 0)) *x = 0; else if (*x > (float)(w - 1)) *x = (float)(w - 1);
    if (!(*y > 0)) *y = 0; else if (*y > (float)(h - 1)) *y = (float)(h - 1);
}
/* Where a bilinear sample of a w x h plane at (x, y) reads, with the coordinates clamped to the frame
 * (NaN -> 0): found once, it can be read from several planes of that size. */
typedef struct { size_t i00, i01, i10, i11; float fx, fy; } kn_bilinear_at;
static inline kn_bilinear_at kn_bilinear_where(int w, int h, float x, float y) {
    kn_clamp_to_frame(w, h, &x, &y);
    int x0 = (int)x, y0 = (int)y;
    int x1 = x0 < w - 1 ? x0 + 1 : x0, y1 = y0 < h - 1 ? y0 + 1 : y0;
    kn_bilinear_at b = {(size_t)y0 * w + x0, (size_t)y0 * w + x1, (size_t)y1 * w + x0, (size_t)y1 * w + x1,
                        x - (float)x0, y - (float)y0};
    return b;
}
static inline float kn_bilinear_read(const float *im, const kn_bilinear_at *b) {
    float a = im[b->i00] + b->fx * (im[b->i01] - im[b->i00]);
    float c = im[b->i10] + b->fx * (im[b->i11] - im[b->i10]);
    return a + b->fy * (c - a);
}
#if defined(__SSE2__)
#include <emmintrin.h>
/* The RGB pixel whose first byte is byte `shift` of the 8 bytes v8, as floats in lanes 0-2 (lane 3
 * holds the next byte and is not used). */
static inline __m128 kn_rgb_lanes(__m128i v8, int shift) {
    __m128i z = _mm_setzero_si128(), v;
    switch (shift) {   /* the byte shift must be a constant */
    case 0: v = v8; break;
    case 2: v = _mm_srli_si128(v8, 2); break;
    case 3: v = _mm_srli_si128(v8, 3); break;
    default: v = _mm_srli_si128(v8, 5); break;
    }
    return _mm_cvtepi32_ps(_mm_unpacklo_epi16(_mm_unpacklo_epi8(v, z), z));
}
/* kn_bicubic_rgb's sum for taps inside the frame, the three channels in one vector: the same
 * products added in the same order as the scalar loop, so the result is bit for bit the same
 * (baseline x86-64 has no fused multiply-add to change the rounding). Each row's 12 bytes are read
 * as bytes 0-7 and 4-11, never past the fourth tap. */
static inline void kn_bicubic_rows_sse2(const uint8_t *im, const size_t row[4], size_t col0, const float wx[4],
                                        const float wy[4], float out[3]) {
    __m128 acc = _mm_setzero_ps();
    __m128 w0 = _mm_set1_ps(wx[0]), w1 = _mm_set1_ps(wx[1]), w2 = _mm_set1_ps(wx[2]), w3 = _mm_set1_ps(wx[3]);
    for (int j = 0; j < 4; j++) {
        const uint8_t *r = im + row[j] + col0;
        __m128i lo = _mm_loadl_epi64((const __m128i *)r), hi = _mm_loadl_epi64((const __m128i *)(r + 4));
        __m128 h = _mm_add_ps(_mm_add_ps(_mm_add_ps(_mm_mul_ps(w0, kn_rgb_lanes(lo, 0)),
                                                    _mm_mul_ps(w1, kn_rgb_lanes(lo, 3))),
                                         _mm_mul_ps(w2, kn_rgb_lanes(hi, 2))),
                              _mm_mul_ps(w3, kn_rgb_lanes(hi, 5)));
        acc = _mm_add_ps(acc, _mm_mul_ps(_mm_set1_ps(wy[j]), h));
    }
    float v[4];
    _mm_storeu_ps(v, acc);
    out[0] = v[0]; out[1] = v[1]; out[2] = v[2];
}
/* kn_bilinear_rgb for a pixel whose right neighbour and the pixel after it lie in the same row (so
 * 8 bytes from each row's first tap can be read), the channels in one vector, bit for bit as the
 * scalar code: the differences of small integers are exact either way. */
static inline void kn_bilinear_sse2(const uint8_t *top, const uint8_t *bottom, float fx, float fy, float out[3]) {
    __m128i t8 = _mm_loadl_epi64((const __m128i *)top), b8 = _mm_loadl_epi64((const __m128i *)bottom);
    __m128 vx = _mm_set1_ps(fx), t0 = kn_rgb_lanes(t8, 0), b0 = kn_rgb_lanes(b8, 0);
    __m128 t = _mm_add_ps(t0, _mm_mul_ps(vx, _mm_sub_ps(kn_rgb_lanes(t8, 3), t0)));
    __m128 bt = _mm_add_ps(b0, _mm_mul_ps(vx, _mm_sub_ps(kn_rgb_lanes(b8, 3), b0)));
    __m128 r = _mm_add_ps(t, _mm_mul_ps(_mm_set1_ps(fy), _mm_sub_ps(bt, t)));
    float v[4];
    _mm_storeu_ps(v, r);
    out[0] = v[0]; out[1] = v[1]; out[2] = v[2];
}
#endif
/* Bilinear sample of an interleaved 8-bit RGB w x h frame at (x, y), clamped the same way, into out. */
static inline void kn_bilinear_rgb(const uint8_t *im, int w, int h, float x, float y, float out[3]) {
    kn_bilinear_at b = kn_bilinear_where(w, h, x, y);
#if defined(__SSE2__)
    if (b.i01 == b.i00 + 1 && b.i11 == b.i10 + 1 && (b.i01 + 1) % (size_t)w != 0) {
        kn_bilinear_sse2(im + b.i00 * 3, im + b.i10 * 3, b.fx, b.fy, out);
        return;
    }
#endif
    const uint8_t *p00 = im + b.i00 * 3, *p01 = im + b.i01 * 3, *p10 = im + b.i10 * 3, *p11 = im + b.i11 * 3;
    for (int c = 0; c < 3; c++) {
        float top = p00[c] + b.fx * (p01[c] - p00[c]);
        float bot = p10[c] + b.fx * (p11[c] - p10[c]);
        out[c] = top + b.fy * (bot - top);
    }
}
/* Keys' weights (a = -0.5) of the taps at -1, 0, 1, 2 for a fractional position f in [0, 1). */
static inline void kn_keys_weights(float f, float wt[4]) {
    wt[0] = ((-0.5f * f + 1.f) * f - 0.5f) * f; wt[1] = (1.5f * f - 2.5f) * f * f + 1.f;
    wt[2] = ((-1.5f * f + 2.f) * f + 0.5f) * f; wt[3] = (0.5f * f - 0.5f) * f * f;
}
/* Bicubic sample (Keys' kernel, a = -0.5) of an interleaved 8-bit RGB w x h frame at (x, y), the
 * coordinates clamped as above and the 4x4 taps clamped to the frame. At a fractional position a
 * bilinear read averages neighbouring pixels and so blurs detail (and noise); this one keeps detail. */
static inline void kn_bicubic_rgb(const uint8_t *im, int w, int h, float x, float y, float out[3]) {
    kn_clamp_to_frame(w, h, &x, &y);
    int x0 = (int)x, y0 = (int)y;
    float wx[4], wy[4];
    kn_keys_weights(x - (float)x0, wx);
    kn_keys_weights(y - (float)y0, wy);
    size_t col[4], row[4];
    if (x0 >= 1 && y0 >= 1 && x0 + 2 < w && y0 + 2 < h) {   /* inside: no clamping */
        for (int i = 0; i < 4; i++) {
            col[i] = (size_t)(x0 + i - 1) * 3;
            row[i] = (size_t)(y0 + i - 1) * (size_t)w * 3;
        }
    } else {
        for (int i = 0; i < 4; i++) {
            col[i] = (size_t)kn_clampi(x0 + i - 1, 0, w - 1) * 3;
            row[i] = (size_t)kn_clampi(y0 + i - 1, 0, h - 1) * (size_t)w * 3;
        }
    }
#if defined(__SSE2__)
    if (col[3] == col[0] + 9) {   /* inside: each row's four taps are 12 consecutive bytes */
        kn_bicubic_rows_sse2(im, row, col[0], wx, wy, out);
        return;
    }
#endif
    float r0 = 0, g0 = 0, b0 = 0;
    for (int j = 0; j < 4; j++) {
        const uint8_t *r = im + row[j], *p0 = r + col[0], *p1 = r + col[1], *p2 = r + col[2], *p3 = r + col[3];
        float hr = wx[0] * p0[0] + wx[1] * p1[0] + wx[2] * p2[0] + wx[3] * p3[0];
        float hg = wx[0] * p0[1] + wx[1] * p1[1] + wx[2] * p2[1] + wx[3] * p3[1];
        float hb = wx[0] * p0[2] + wx[1] * p1[2] + wx[2] * p2[2] + wx[3] * p3[2];
        r0 += wy[j] * hr; g0 += wy[j] * hg; b0 += wy[j] * hb;
    }
    out[0] = r0; out[1] = g0; out[2] = b0;
}
/* Pixel (x, y) of a kept frame rebuilt from its neighbours prev and next, each warped by the flow
 * from the frame to it (read at the pixel) and averaged, with bilinear (lin) and with bicubic (cub)
 * samples: how kernel.c and still.c measure the warp on the kept frames. */
static inline void kn_rebuild_rgb(const uint8_t *prev, const uint8_t *next, int w, int h, const kn_flow *to_prev,
                                  const kn_flow *to_next, int x, int y, float lin[3], float cub[3]) {
    size_t p = (size_t)y * w + x;
    float px = (float)x + to_prev->u[p], py = (float)y + to_prev->v[p];
    float nx = (float)x + to_next->u[p], ny = (float)y + to_next->v[p];
    float l0[3], l1[3], c0[3], c1[3];
    kn_bilinear_rgb(prev, w, h, px, py, l0);
    kn_bilinear_rgb(next, w, h, nx, ny, l1);
    kn_bicubic_rgb(prev, w, h, px, py, c0);
    kn_bicubic_rgb(next, w, h, nx, ny, c1);
    for (int c = 0; c < 3; c++) { lin[c] = 0.5f * (l0[c] + l1[c]); cub[c] = 0.5f * (c0[c] + c1[c]); }
}
/* kn_bicubic_rgb, bit for bit, with two rows of taps a vector where all 16 lie inside the frame
 * (sample_avx2.c; only on machines with AVX2). */
void kn_bicubic_rgb_avx2(const uint8_t *im, int w, int h, float x, float y, float out[3]);
/* Bilinear sample of a w x h float plane with the coordinates clamped to the frame (NaN -> 0). */
static inline float kn_bilinear(const float *im, int w, int h, float x, float y) {
    kn_bilinear_at b = kn_bilinear_where(w, h, x, y);
    return kn_bilinear_read(im, &b);
}

/* The planes one red-black SOR sweep of refine.c reads and writes: the flow (u, v), its increment
 * (du, dv, updated in place), the smoothness weights and the per-pixel system. */
typedef struct {
    const float *u, *v, *ws, *a11, *a12, *a22, *b1, *b2;
    float *du, *dv;
} kn_sor_planes;
/* The SOR update of pixels x, x + 2, ... of row y (0 < y < h - 1, x >= 1) while x + 15 < w, bit for
 * bit as refine.c's scalar loop; returns the first x not updated (refine_avx2.c). It reads 16 floats
 * at a time of du and dv in rows y-1 and y+1 (and the first of row y+1), the odd ones being pixels
 * of the colour the sweep writes: no other thread may be updating those rows. */
int kn_sor_row_avx2(const kn_sor_planes *s, int y, int x, int w, float omega);

/* fn over [0, ntasks) on ctx->pool, or inline when there is none. */
void kn_interp_run(const kn_ctx *ctx, int ntasks, kn_task_fn fn, void *arg);


/* Buffer cache for one run of work (a pair, a whole video): much the same sequence of sizes is asked
 * for at every pair, so after the first pairs little is allocated or page-faulted again. Buffers come
 * back uninitialised. When all KN_WS_SLOTS hold buffers, the largest free one is released. */
#define KN_WS_SLOTS 128
typedef struct kn_interp_ws {
    struct { void *p; size_t n; int used; } b[KN_WS_SLOTS];
    int nb;
} kn_interp_ws;
void *kn_ws_get(kn_interp_ws *ws, size_t bytes);   /* NULL when out of memory */
void kn_ws_put(kn_interp_ws *ws, void *p);         /* p may be NULL */
void kn_ws_free(kn_interp_ws *ws);

void kn_interp_luma_into(const uint8_t *rgb, int w, int h, float *g);
/* Flow into u, v (w*h each, from ws; the caller puts them back). cand: ncand flows from g0 (ncand may
 * be 0) that each patch also searches from at every level, where they are not NaN, in order (flow.c,
 * candidate_try). */
kn_status kn_flow_estimate_ws(const kn_ctx *ctx, const kn_interp_opts *o, const float *g0, const float *g1, int w,
                              int h, const kn_flow *cand, int ncand, kn_interp_ws *ws, float **u, float **v,
                              kn_error *err);
/* The flow the other way that f predicts: -f carried to the pixel where each pixel of f lands (the
 * last one in raster order wins), NaN where none lands. out->u, out->v are the caller's. */
void kn_flow_reverse(const kn_flow *f, kn_flow *out);
/* Fills the NaN pixels of f that have a value within `reach` pixels (chessboard distance), each pass
 * taking the mean of the 3x3 neighbours filled before it; u, v: scratch of f's size. */
void kn_flow_fill_gaps(const kn_ctx *ctx, kn_flow *f, int reach, float *u, float *v);
/* What a whole video tells the renderer about one pair (interp.c). acc[0]: the acceleration field of
 * frame a's pixels, acc[1] that of frame b's (kn_accel_field; either may be NULL: that side moves at
 * constant velocity); gain: how far to follow the bend (0 = constant velocity); hedged: nonzero to
 * hedge in time (the frame at t is the mean of those at t -+ kn_time_hedge(t)); cubic: sample the
 * frames bicubically instead of bilinearly (kernel.c); fade (may be NULL): the pair's brightness map
 * (fade.c), used where is_fade. */
typedef struct kn_fade kn_fade;
typedef struct { const kn_flow *acc[2]; float gain; int hedged, cubic; const kn_fade *fade; } kn_pair_hints;
/* Acceleration field of one side of a pair: f the pair's flow from that side's frame, out the flow
 * from that frame away from the other (to the frame before a, or after b). acc = f + out where out
 * lands inside the frame, 0 elsewhere (there the pixel moves at constant velocity). acc->u, acc->v
 * are the caller's (w*h each). */
void kn_accel_field(const kn_ctx *ctx, const kn_flow *f, const kn_flow *out, kn_flow *acc);
/* Sums over the tracks through one kept frame j (see accel.c): e the constant-velocity miss, d the
 * quadratic model's correction. */
typedef struct { double ed, dd, ee; } kn_accel_stats;
/* fwd[k], bwd[k]: forward and backward flows of the pair (j-3+k, j-2+k), k = 0..5. */
kn_status kn_accel_centre(const kn_ctx *ctx, const kn_flow *const fwd[6], const kn_flow *const bwd[6],
                          kn_accel_stats *out, kn_error *err);
/* The gain the summed stats of n kept frames support (0 when the model explains too little). */
float kn_accel_gain(const kn_accel_stats *s, int n);
/* Mean |f| over the pixels that move more than 1 px (0 when none does). */
float kn_pair_motion(const kn_flow *f);
/* Uneven capture (accel.c): 1 when pair `pair` likely spans one more capture tick than its
 * neighbours. s: the stats of the kept frames before it; gain: kn_accel_gain of those; motion:
 * kn_pair_motion of pairs 0 .. npairs-1 (read up to pair + 1). */
int kn_pair_uneven(const kn_accel_stats *s, int nstats, float gain, const float *motion, int pair, int npairs);
/* The half-width of the time hedge for a frame at t of such a pair (render at t -+ it, average). */
float kn_time_hedge(float t);

/* Fades (fade.c): per RGB channel, b ~ gain a + offset over the pair, fitted by least squares and
 * again on the pixels the first fit explains. rms: how far the map moves those pixels (levels);
 * unexplained: the share of pixels it leaves off by more than 10 levels in some channel; is_fade: the
 * map holds on most pixels and changes them visibly, so the renderer keeps its brightness. */
struct kn_fade { float gain[3], offset[3], rms, unexplained; int is_fade; };
kn_status kn_fade_fit(const kn_ctx *ctx, const uint8_t *a, const uint8_t *b, int w, int h, kn_fade *out,
                      kn_error *err);

/* Resampling kernel (kernel.c). Sums over one kept frame rebuilt from its two neighbours: squared
 * error with bilinear (lin) and with bicubic (cub) samples. */
typedef struct { double lin, cub; } kn_kernel_stats;
/* Kept frame mid rebuilt from prev and next, each warped by the flow from mid to it (read at the
 * pixel) and averaged, on every second pixel of every second row. */
kn_status kn_kernel_measure(const kn_ctx *ctx, const uint8_t *prev, const uint8_t *mid, const uint8_t *next, int w,
                            int h, const kn_flow *to_prev, const kn_flow *to_next, kn_kernel_stats *out, kn_error *err);
/* 1 when the summed stats of n kept frames favour bicubic samples (0 when none was measured). */
int kn_kernel_cubic(const kn_kernel_stats *s, int n);

/* Still parts (still.c). Sums over the still pixels of one kept frame m: d = m less the mean of
 * m-1 and m+1, o = the mean of m-2 and m+2 less that mean (xy = sum d*o, xx = sum o*o, dd = sum
 * d*d), and the squared error of m rebuilt from m-1 and m+1 warped by the flows from m, with
 * bilinear (lin) and bicubic (cub) samples. */
typedef struct { double xy, xx, dd, lin, cub; } kn_still_stats;
/* f: RGB frames m-2 .. m+2; to_prev, to_next: the flows from m to m-1 and to m+1. */
kn_status kn_still_measure(const kn_ctx *ctx, const uint8_t *const f[5], int w, int h, const kn_flow *to_prev,
                           const kn_flow *to_next, kn_still_stats *out, kn_error *err);
/* The weight in [0, 0.5] of the frames beyond the pair that the summed stats of n kept frames
 * support, or -1: leave the render alone. */
float kn_still_weight(const kn_still_stats *s, int n);
/* Replaces the still pixels of out (the frame at t between a and b) by the mean at t of a and b and,
 * with weight lambda, of the frames before a and after b. f: RGB frames a-1, a, b, b+1. */
void kn_still_pool(const kn_ctx *ctx, const uint8_t *const f[4], int w, int h, float t, float lambda,
                   uint8_t *out);

/* Jumps (jump.c): tiles whose content changes in one frame step and stands still either side. A
 * frame m's map holds one value per KN_JUMP_TILE square tile, row by row: what the tile shows
 * from m-1 to m+1. */
#define KN_JUMP_TILE 32
enum {
    KN_JUMP_NONE = 0,    /* hardly changes */
    KN_JUMP_MOVED = 1,   /* changes otherwise (motion) */
    KN_JUMP_AFTER = 2,   /* m matches m-1 across the change: it jumps between m and m+1 */
    KN_JUMP_BEFORE = 3   /* m matches m+1: it jumped between m-1 and m */
};
/* Tiles across n pixels (the last one may be cut short), and in a w x h map. */
static inline int kn_jump_span(int n) { return (n + KN_JUMP_TILE - 1) / KN_JUMP_TILE; }
static inline size_t kn_jump_tiles(int w, int h) { return (size_t)kn_jump_span(w) * (size_t)kn_jump_span(h); }
kn_status kn_jump_measure(const kn_ctx *ctx, const uint8_t *prev, const uint8_t *mid, const uint8_t *next, int w,
                          int h, int8_t *tiles, kn_error *err);
/* Replaces the tiles of out (the frame at t between a and b) that jump between a and b (KN_JUMP_AFTER
 * in a's map at_a, KN_JUMP_BEFORE in b's at_b) by the blend of a and b at t. */
void kn_jump_blend(const kn_ctx *ctx, const uint8_t *a, const uint8_t *b, int w, int h, const int8_t *at_a,
                   const int8_t *at_b, float t, uint8_t *out);

/* The frames at times ts[0..nt) between a and b into outs[i] (a at t <= 0, b at t >= 1); what does not
 * depend on t is found once for all of them. hints may be NULL (constant velocity, bilinear samples). */
kn_status kn_interp_render_ws(const kn_ctx *ctx, const uint8_t *a, const uint8_t *b, const float *ya,
                              const float *yb, int w, int h, const kn_flow *f01, const kn_flow *f10,
                              const kn_pair_hints *hints, const float *ts, int nt, kn_interp_ws *ws,
                              uint8_t *const *outs, kn_error *err);
kn_status kn_flow_refine(const kn_ctx *ctx, const float *I0, const float *I1, int w, int h, float *u, float *v,
                         int iters, kn_interp_ws *ws, kn_error *err);
#endif
