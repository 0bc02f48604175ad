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

typedef struct {
    float *ch[NCH];
    float *wsum, *zmin;
    int w, h;
} splat_buf;

/* One source's candidates: pass 0 lowers zmin, pass 1 accumulates the kept ones. */
static void splat(splat_buf *s, const kn_flow *f, const float *score, const float *vis, float t, int from_b,
                  int pass) {
    int w = s->w, h = s->h;
    float st = from_b ? 1.f - t : t;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            size_t p = (size_t)y * w + x;
            float fu = f->u[p], fv = f->v[p];
            float px = x + st * fu, py = y + st * fv;
            if (!(px > -1.f && py > -1.f && px < (float)w && py < (float)h)) continue;
            int x0 = (int)floorf(px), y0 = (int)floorf(py);
            float ax = px - x0, ay = py - y0, sc = score[p];
            float c[NCH];
            if (!from_b) { c[T0U] = -t * fu; c[T0V] = -t * fv; c[T1U] = (1 - t) * fu; c[T1V] = (1 - t) * fv;
                           c[VIS0] = 1.f; c[VIS1] = vis[p]; }
            else { c[T1U] = -(1 - t) * fu; c[T1V] = -(1 - t) * fv; c[T0U] = t * fu; c[T0V] = t * fv;
                   c[VIS1] = 1.f; c[VIS0] = vis[p]; }
            for (int k = 0; k < 4; k++) {
                int qx = x0 + (k & 1), qy = y0 + (k >> 1);
                if (qx < 0 || qy < 0 || qx >= w || qy >= h) continue;
                float wb = ((k & 1) ? ax : 1 - ax) * ((k >> 1) ? ay : 1 - ay);
                size_t q = (size_t)qy * w + qx;
                if (pass == 0) {
                    if (wb >= MIN_SPLAT_W && sc < s->zmin[q]) s->zmin[q] = sc;
                } else if (wb > 0 && sc <= s->zmin[q] + MARGIN) {
                    s->wsum[q] += wb;
                    for (int i = 0; i < NCH; i++) s->ch[i][q] += wb * c[i];
                }
            }
        }
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
            float w0 = (1 - j->t) * (j->ch[VIS0][p] + 1e-3f), w1 = j->t * (j->ch[VIS1][p] + 1e-3f);
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
    enum { S0, V0, S1, V1, WS, ZM, NEXTRA };
    float *mem = kn_ws_get(ws, n * (NCH + NEXTRA) * sizeof *mem);
    if (!mem) return kn_fail(err, KN_ENOMEM, "interp: out of memory rendering a %dx%d frame", w, h);
    memset(mem, 0, n * (NCH + 1) * sizeof *mem);   /* the accumulators: channels and WS */
    float *x[NEXTRA];
    x[S0] = mem + n * (NCH + 1); x[V0] = x[S0] + n; x[S1] = x[V0] + n; x[V1] = x[S1] + n;
    x[WS] = mem + n * NCH; x[ZM] = x[V1] + n;
    splat_buf s = {{0}, x[WS], x[ZM], w, h};
    for (int i = 0; i < NCH; i++) s.ch[i] = mem + n * i;
    for (size_t i = 0; i < n; i++) s.zmin[i] = INFINITY;
    int nb = (h + BAND - 1) / BAND;
    cons_job c0 = {f01, f10, ya, yb, x[S0], x[V0], w, h}, c1 = {f10, f01, yb, ya, x[S1], x[V1], w, h};
    kn_interp_run(ctx, nb, cons_task, &c0);
    kn_interp_run(ctx, nb, cons_task, &c1);
    for (int pass = 0; pass < 2; pass++) {
        splat(&s, f01, x[S0], x[V0], t, 0, pass);
        splat(&s, f10, x[S1], x[V1], t, 1, pass);
    }
    for (size_t q = 0; q < n; q++)
        if (s.wsum[q] > 0)
            for (int i = 0; i < NCH; i++) s.ch[i][q] /= s.wsum[q];
    kn_status st = fill_holes(s.ch, s.wsum, w, h, ws, err);
    if (!st) {
        blend_job bj = {a, b, s.ch, out, w, h, t};
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
