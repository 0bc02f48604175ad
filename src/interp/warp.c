/* Rendering one in-between frame from the two flows.
 * 1. Forward-backward consistency of each flow gives every source pixel a score (inconsistency plus
 *    photometric mismatch) and its visibility in the other frame.
 * 2. Both flows are splatted to time t (bilinear footprint). Per target pixel only candidates within
 *    a margin of the best score are kept: the moving foreground wins over the background it covers,
 *    whose flow is inconsistent there. This gives F_t->0, F_t->1 and visibilities at time t.
 * 3. Holes are filled push-pull from coarser scales.
 * 4. Both neighbours are warped backwards and blended by visibility and distance in time.
 * Splatting is a scatter, so it runs serially in a fixed order; the other steps are row-parallel. */
#include "interp/interp.h"
#include "interp/interp_impl.h"
#include <math.h>

#define BAND 8
#define MARGIN 1.0f       /* score slack for candidates kept at a target pixel */
#define MIN_SPLAT_W 0.05f /* a corner weight below this does not set the best score */
/* Added to both visibilities before blending: occlusion estimates are often wrong where motion is
 * fast or non-rigid, and hedging toward the time-weighted blend scores better there (measured on
 * vtest.avi: +0.1 dB over trusting the visibility fully). */
#define VIS_FLOOR 1.0f

enum { T0U, T0V, T1U, T1V, VIS0, VIS1, NCH };

typedef struct {
    const kn_flow *f, *g;     /* flow of this source and the opposite flow */
    const float *ya, *yb;     /* luma of this source and of the other frame */
    float *score, *vis;       /* out: per source pixel */
    int w, h;
} cons_job;

static void cons_task(void *arg, int task) {
    const cons_job *j = arg;
    int w = j->w, h = j->h, y1 = (task + 1) * BAND < h ? (task + 1) * BAND : h;
    for (int y = task * BAND; y < y1; y++)
        for (int x = 0; x < w; x++) {
            size_t p = (size_t)y * w + x;
            float fu = j->f->u[p], fv = j->f->v[p];
            float qx = x + fu, qy = y + fv;
            float gu = kn_bilinear(j->g->u, w, h, qx, qy), gv = kn_bilinear(j->g->v, w, h, qx, qy);
            float e = (fu + gu) * (fu + gu) + (fv + gv) * (fv + gv);
            float tau = 1.f + 0.05f * (fu * fu + fv * fv + gu * gu + gv * gv);
            int outside = qx < -0.5f || qy < -0.5f || qx > w - 0.5f || qy > h - 0.5f;
            float ph = fabsf(j->ya[p] - kn_bilinear(j->yb, w, h, qx, qy));
            j->vis[p] = outside ? 0.f : expf(-e / tau);
            j->score[p] = fminf(e, 25.f) + ph * 0.1f + (outside ? 5.f : 0.f);
        }
}

/* Splat accumulator per target pixel, interleaved so a candidate touches one cache line. */
enum { A_W = NCH, A_Z, A_N = 8 };

typedef struct {
    const kn_flow *f[2];
    const float *score[2], *vis[2];
    float *acc;          /* A_N floats per pixel */
    float *ch[NCH];      /* out: planar, normalised */
    float *wsum;         /* out */
    int w, h, reach;     /* reach: rows a candidate can travel (max |v| + 2) */
    float t;
} splat_job;

#define SPLAT_BAND 32

/* Target rows [y0, y1) of one band: both passes over every source row that can land there, in a
 * fixed order (source 0 then 1, rows and columns ascending), so sums do not depend on threads. */
static void splat_task(void *arg, int task) {
    const splat_job *j = arg;
    int w = j->w, h = j->h, y0 = task * SPLAT_BAND, y1 = y0 + SPLAT_BAND < h ? y0 + SPLAT_BAND : h;
    float t = j->t;
    for (size_t q = (size_t)y0 * w; q < (size_t)y1 * w; q++) {
        float *a = j->acc + q * A_N;
        for (int i = 0; i < A_N; i++) a[i] = 0;
        a[A_Z] = INFINITY;
    }
    int sy0 = y0 - j->reach > 0 ? y0 - j->reach : 0, sy1 = y1 + j->reach < h ? y1 + j->reach : h;
    for (int pass = 0; pass < 2; pass++)
        for (int src = 0; src < 2; src++) {
            const kn_flow *f = j->f[src];
            const float *score = j->score[src], *vis = j->vis[src];
            float st = src ? 1.f - t : t;
            for (int y = sy0; y < sy1; y++)
                for (int x = 0; x < w; x++) {
                    size_t p = (size_t)y * w + x;
                    float fu = f->u[p], fv = f->v[p];
                    float px = x + st * fu, py = y + st * fv;
                    if (!(py > (float)y0 - 1.f && py < (float)y1 && px > -1.f && px < (float)w)) continue;
                    int x0 = (int)floorf(px), yy0 = (int)floorf(py);
                    float ax = px - x0, ay = py - yy0, sc = score[p];
                    float c[NCH];
                    if (!src) { c[T0U] = -t * fu; c[T0V] = -t * fv; c[T1U] = (1 - t) * fu; c[T1V] = (1 - t) * fv;
                                c[VIS0] = 1.f; c[VIS1] = vis[p]; }
                    else { c[T1U] = -(1 - t) * fu; c[T1V] = -(1 - t) * fv; c[T0U] = t * fu; c[T0V] = t * fv;
                           c[VIS1] = 1.f; c[VIS0] = vis[p]; }
                    for (int k = 0; k < 4; k++) {
                        int qx = x0 + (k & 1), qy = yy0 + (k >> 1);
                        if (qx < 0 || qy < y0 || qx >= w || qy >= y1) continue;
                        float wb = ((k & 1) ? ax : 1 - ax) * ((k >> 1) ? ay : 1 - ay);
                        float *a = j->acc + ((size_t)qy * w + qx) * A_N;
                        if (pass == 0) {
                            if (wb >= MIN_SPLAT_W && sc < a[A_Z]) a[A_Z] = sc;
                        } else if (wb > 0 && sc <= a[A_Z] + MARGIN) {
                            a[A_W] += wb;
                            for (int i = 0; i < NCH; i++) a[i] += wb * c[i];
                        }
                    }
                }
        }
    for (size_t q = (size_t)y0 * w; q < (size_t)y1 * w; q++) {
        const float *a = j->acc + q * A_N;
        float inv = a[A_W] > 0 ? 1.f / a[A_W] : 0.f;
        j->wsum[q] = a[A_W];
        for (int i = 0; i < NCH; i++) j->ch[i][q] = a[i] * inv;
    }
}

static float max_abs_v(const kn_flow *f) {
    float m = 0;
    size_t n = (size_t)f->w * f->h;
    for (size_t i = 0; i < n; i++) { float a = fabsf(f->v[i]); if (a > m) m = a; }
    return m;
}

/* Push-pull hole filling: a hole takes the mean of the valid pixels of the next coarser level. */
static kn_status fill_holes(float **ch, const float *wsum, int w, int h, kn_interp_ws *ws, kn_error *err) {
    size_t n = (size_t)w * h;
    size_t holes = 0;
    for (size_t i = 0; i < n; i++) holes += wsum[i] <= 0;
    if (!holes) return KN_OK;
    if (w == 1 && h == 1) {
        for (int i = 0; i < NCH; i++) ch[i][0] = (i == VIS0 || i == VIS1) ? 1.f : 0.f;
        return KN_OK;
    }
    int cw = (w + 1) / 2, ch_ = (h + 1) / 2;
    size_t cn = (size_t)cw * ch_;
    float *mem = kn_ws_get(ws, cn * (NCH + 1) * sizeof *mem);
    if (!mem) return kn_fail(err, KN_ENOMEM, "interp: out of memory filling holes");
    memset(mem, 0, cn * (NCH + 1) * sizeof *mem);
    float *cc[NCH], *cwt = mem + cn * NCH;
    for (int i = 0; i < NCH; i++) cc[i] = mem + cn * i;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            size_t p = (size_t)y * w + x, q = (size_t)(y / 2) * cw + x / 2;
            if (wsum[p] <= 0) continue;
            cwt[q] += 1.f;
            for (int i = 0; i < NCH; i++) cc[i][q] += ch[i][p];
        }
    for (size_t q = 0; q < cn; q++)
        if (cwt[q] > 0)
            for (int i = 0; i < NCH; i++) cc[i][q] /= cwt[q];
    kn_status st = fill_holes(cc, cwt, cw, ch_, ws, err);
    if (!st)
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                size_t p = (size_t)y * w + x, q = (size_t)(y / 2) * cw + x / 2;
                if (wsum[p] <= 0)
                    for (int i = 0; i < NCH; i++) ch[i][p] = cc[i][q];
            }
    kn_ws_put(ws, mem);
    return st;
}

static inline void sample_rgb(const uint8_t *im, int w, int h, float x, float y, float out[3]) {
    if (!(x > 0)) x = 0; else if (x > (float)(w - 1)) x = (float)(w - 1);
    if (!(y > 0)) y = 0; else if (y > (float)(h - 1)) y = (float)(h - 1);
    int x0 = (int)x, y0 = (int)y;
    int x1 = x0 < w - 1 ? x0 + 1 : x0, y1 = y0 < h - 1 ? y0 + 1 : y0;
    float fx = x - (float)x0, fy = y - (float)y0;
    const uint8_t *p00 = im + ((size_t)y0 * w + x0) * 3, *p01 = im + ((size_t)y0 * w + x1) * 3;
    const uint8_t *p10 = im + ((size_t)y1 * w + x0) * 3, *p11 = im + ((size_t)y1 * w + x1) * 3;
    for (int c = 0; c < 3; c++) {
        float a = p00[c] + fx * (p01[c] - p00[c]);
        float b = p10[c] + fx * (p11[c] - p10[c]);
        out[c] = a + fy * (b - a);
    }
}

typedef struct {
    const uint8_t *a, *b;
    float *const *ch;
    uint8_t *out;
    int w, h;
    float t;
} blend_job;

static void blend_task(void *arg, int task) {
    const blend_job *j = arg;
    int w = j->w, h = j->h, y1 = (task + 1) * BAND < h ? (task + 1) * BAND : h;
    for (int y = task * BAND; y < y1; y++)
        for (int x = 0; x < w; x++) {
            size_t p = (size_t)y * w + x;
            float c0[3], c1[3];
            sample_rgb(j->a, w, h, x + j->ch[T0U][p], y + j->ch[T0V][p], c0);
            sample_rgb(j->b, w, h, x + j->ch[T1U][p], y + j->ch[T1V][p], c1);
            float w0 = (1 - j->t) * (j->ch[VIS0][p] + VIS_FLOOR), w1 = j->t * (j->ch[VIS1][p] + VIS_FLOOR);
            float inv = 1.f / (w0 + w1);
            for (int c = 0; c < 3; c++) {
                float v = (w0 * c0[c] + w1 * c1[c]) * inv + 0.5f;
                j->out[p * 3 + c] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
            }
        }
}

kn_status kn_interp_render_ws(const kn_ctx *ctx, const uint8_t *a, const uint8_t *b, const float *ya,
                              const float *yb, int w, int h, const kn_flow *f01, const kn_flow *f10, float t,
                              kn_interp_ws *ws, uint8_t *out, kn_error *err) {
    size_t n = (size_t)w * h;
    if (!(t > 0)) { memcpy(out, a, n * 3); return KN_OK; }
    if (!(t < 1)) { memcpy(out, b, n * 3); return KN_OK; }
    enum { S0, V0, S1, V1, WS, NEXTRA };
    float *mem = kn_ws_get(ws, n * (NCH + NEXTRA) * sizeof *mem);
    float *acc = kn_ws_get(ws, n * A_N * sizeof *acc);
    if (!mem || !acc) {
        kn_ws_put(ws, mem); kn_ws_put(ws, acc);
        return kn_fail(err, KN_ENOMEM, "interp: out of memory rendering a %dx%d frame", w, h);
    }
    float *x[NEXTRA];
    for (int i = 0; i < NEXTRA; i++) x[i] = mem + n * (NCH + i);
    int nb = (h + BAND - 1) / BAND;
    cons_job c0 = {f01, f10, ya, yb, x[S0], x[V0], w, h}, c1 = {f10, f01, yb, ya, x[S1], x[V1], w, h};
    kn_interp_run(ctx, nb, cons_task, &c0);
    kn_interp_run(ctx, nb, cons_task, &c1);
    float mv = fmaxf(max_abs_v(f01), max_abs_v(f10));
    splat_job sj = {{f01, f10}, {x[S0], x[S1]}, {x[V0], x[V1]}, acc, {0}, x[WS], w, h,
                    mv < (float)h ? (int)ceilf(mv) + 2 : h, t};
    for (int i = 0; i < NCH; i++) sj.ch[i] = mem + n * i;
    kn_interp_run(ctx, (h + SPLAT_BAND - 1) / SPLAT_BAND, splat_task, &sj);
    kn_ws_put(ws, acc);
    float **chs = sj.ch;
    kn_status st = fill_holes(chs, x[WS], w, h, ws, err);
    if (!st) {
        blend_job bj = {a, b, chs, out, w, h, t};
        kn_interp_run(ctx, nb, blend_task, &bj);
    }
    kn_ws_put(ws, mem);
    return st;
}

kn_status kn_interp_render(const kn_ctx *ctx, const uint8_t *a, const uint8_t *b, int w, int h,
                           const kn_flow *f01, const kn_flow *f10, float t, uint8_t *out, kn_error *err) {
    if (w < 1 || h < 1 || !f01 || !f10 || f01->w != w || f01->h != h || f10->w != w || f10->h != h)
        return kn_fail(err, KN_EINVAL, "interp: flows do not match the %dx%d frames", w, h);
    kn_interp_ws ws = {0};
    size_t n = (size_t)w * h;
    float *ya = kn_ws_get(&ws, n * sizeof *ya), *yb = kn_ws_get(&ws, n * sizeof *yb);
    kn_status st;
    if (!ya || !yb) st = kn_fail(err, KN_ENOMEM, "interp: out of memory rendering a %dx%d frame", w, h);
    else {
        kn_interp_luma_into(a, w, h, ya);
        kn_interp_luma_into(b, w, h, yb);
        st = kn_interp_render_ws(ctx, a, b, ya, yb, w, h, f01, f10, t, &ws, out, err);
    }
    kn_ws_free(&ws);
    return st;
}
