/* Dense optical flow, coarse to fine: at each pyramid level a DIS-style inverse search on
 * mean-normalised patches (a brightness offset between the frames cancels out), a second pass from
 * the neighbours' results and the caller's candidate flow, densification that
 * weights each covering patch by how well it explains the pixel, then a variational refinement
 * (Charbonnier brightness + gradient constancy + smoothness, red-black SOR). Every parallel step
 * writes only its own rows or patches, so the result does not depend on the thread count. */
#include "interp/interp.h"
#include "interp/interp_impl.h"
#include <stdint.h>
#include <sys/mman.h>
#include <math.h>
#include <stdlib.h>

#define BAND 8   /* rows per task */

void kn_interp_opts_default(kn_interp_opts *o) {
    o->patch = 8;
    o->stride = 4;
    o->iters = 10;
    o->var_iters = 4;
    o->min_level_size = 16;
    o->propagate = 1;
    o->finest_level = -1;
    o->scene_cut = 1;
    o->cut_threshold = 0.3f;
    o->accel = 1;
    o->time_hedge = 1;
    o->cubic = 1;
    o->pool_still = 1;
    o->blend_jumps = 1;
    o->flow_candidates = 1;
    o->fade = 1;
}

void kn_flow_free(kn_flow *f) {
    if (!f) return;
    kn_free(f->u);
    kn_free(f->v);
    f->u = f->v = NULL;
}

void kn_interp_run(const kn_ctx *ctx, int ntasks, kn_task_fn fn, void *arg) {
    if (ctx && ctx->pool && ntasks > 1) kn_pool_run(ctx->pool, ntasks, fn, arg);
    else for (int i = 0; i < ntasks; i++) fn(arg, i);
}

/* Maps a new buffer's pages in one call: touched one page at a time, a frame's working set (about
 * 800 MB at 1280x720) cost 190 000 page faults, 1.1 s of system time on this virtual machine for
 * 31 frames of cockatoo.mp4, against 0.35 s with this (2026-12-07). Where the kernel lacks it
 * (before Linux 5.14) the pages are mapped as they are touched, as before. */
#define PREFAULT_BYTES (1u << 20)
static void prefault(void *p, size_t n) {
#ifdef MADV_POPULATE_WRITE
    uintptr_t page = 4096, lo = ((uintptr_t)p + page - 1) & ~(page - 1), hi = ((uintptr_t)p + n) & ~(page - 1);
    if (n >= PREFAULT_BYTES && hi > lo) (void)madvise((void *)lo, hi - lo, MADV_POPULATE_WRITE);
#else
    (void)p; (void)n;
#endif
}

/* A free buffer is reused only for a request of at least half its size. Taking the smallest free
 * buffer that fits, whatever its size, let a small request take a large buffer that a large request
 * of the same pair then had to allocate again: 640x480 frames of box.mp4 held 238 MB of buffers for
 * at most 81 MB in use at once; with this rule 94 MB (2026-12-07). */
#define WS_REUSE_RATIO 2
void *kn_ws_get(kn_interp_ws *ws, size_t bytes) {
    int best = -1, spare = -1;
    for (int i = 0; i < ws->nb; i++) {
        if (ws->b[i].used) continue;
        if (ws->b[i].n >= bytes && ws->b[i].n / WS_REUSE_RATIO <= bytes &&
            (best < 0 || ws->b[i].n < ws->b[best].n))
            best = i;
        if (spare < 0 || ws->b[i].n > ws->b[spare].n) spare = i;
    }
    if (best < 0) {
        if (ws->nb == KN_WS_SLOTS) {   /* every slot holds a buffer: drop the largest free one */
            if (spare < 0) return NULL;
            kn_free(ws->b[spare].p);
            ws->b[spare] = ws->b[--ws->nb];
        }
        void *p = kn_malloc(bytes);
        if (!p) return NULL;
        prefault(p, bytes);
        best = ws->nb++;
        ws->b[best].p = p;
        ws->b[best].n = bytes;
    }
    ws->b[best].used = 1;
    return ws->b[best].p;
}

void kn_ws_put(kn_interp_ws *ws, void *p) {
    for (int i = 0; p && i < ws->nb; i++)
        if (ws->b[i].p == p) ws->b[i].used = 0;
}

void kn_ws_free(kn_interp_ws *ws) {
    for (int i = 0; i < ws->nb; i++) kn_free(ws->b[i].p);
    ws->nb = 0;
}

void kn_interp_luma_into(const uint8_t *rgb, int w, int h, float *g) {
    size_t n = (size_t)w * h;
    for (size_t i = 0; i < n; i++)
        g[i] = 0.299f * rgb[3 * i] + 0.587f * rgb[3 * i + 1] + 0.114f * rgb[3 * i + 2];
}

kn_status kn_interp_luma(const uint8_t *rgb, int w, int h, float **out, kn_error *err) {
    float *g = kn_malloc((size_t)w * h * sizeof *g);
    if (!g) return kn_fail(err, KN_ENOMEM, "interp: out of memory for a %dx%d luma plane", w, h);
    kn_interp_luma_into(rgb, w, h, g);
    *out = g;
    return KN_OK;
}

/* ---- pyramid ---- */

typedef struct {
    const float *src;
    float *dst;
    int w, h, w2, h2;
} down_job;

/* [1 2 1]/4 blur taken at even samples: coarse pixel x sits at fine 2x, so upsampling is exact. */
static void down_task(void *arg, int task) {
    const down_job *j = arg;
    static const float k[3] = {0.25f, 0.5f, 0.25f};
    int y1 = (task + 1) * BAND < j->h2 ? (task + 1) * BAND : j->h2;
    for (int y = task * BAND; y < y1; y++)
        for (int x = 0; x < j->w2; x++) {
            float s = 0;
            for (int dy = -1; dy <= 1; dy++) {
                int sy = kn_clampi(2 * y + dy, 0, j->h - 1);
                const float *row = j->src + (size_t)sy * j->w;
                for (int dx = -1; dx <= 1; dx++) s += k[dy + 1] * k[dx + 1] * row[kn_clampi(2 * x + dx, 0, j->w - 1)];
            }
            j->dst[(size_t)y * j->w2 + x] = s;
        }
}

static int nbands(int h) { return (h + BAND - 1) / BAND; }

static void gradients(const float *im, int w, int h, float *gx, float *gy) {
    for (int y = 0; y < h; y++) {
        const float *r = im + (size_t)y * w;
        const float *ru = im + (size_t)(y > 0 ? y - 1 : y) * w, *rd = im + (size_t)(y < h - 1 ? y + 1 : y) * w;
        for (int x = 0; x < w; x++) {
            int xl = x > 0 ? x - 1 : x, xr = x < w - 1 ? x + 1 : x;
            gx[(size_t)y * w + x] = (xr > xl) ? (r[xr] - r[xl]) / (float)(xr - xl) : 0.f;
            gy[(size_t)y * w + x] = (rd != ru) ? (rd[x] - ru[x]) / (float)((rd - ru) / w) : 0.f;
        }
    }
}

/* ---- patch inverse search ---- */

typedef struct {
    const float *I0, *I1, *gx, *gy, *fu, *fv;
    int w, h, ps, stride, nx, ny, iters;
    float *pu, *pv, *pd;   /* per patch: flow and brightness offset mean(I1 patch) - mean(I0 patch) */
    const float *cu, *cv, *cd;   /* propagation: the first pass's pu, pv, pd */
    const kn_flow *cand;         /* ncand candidate flows at full resolution (NaN where none) */
    int ncand;
    int scale;                   /* this level's pixel in full-resolution pixels */
} search_job;

static int patch_origin(int i, int stride, int ps, int size) {
    int o = i * stride;
    return o > size - ps ? size - ps : o;
}

/* Mean-normalised residual SSD of the patch at (ox,oy) displaced by (u,v); r gets the residuals. */
static float patch_residual(const search_job *j, int ox, int oy, float u, float v, const float *tn, float *r,
                            float *offset) {
    int ps = j->ps, n = ps * ps, w = j->w;
    float mean = 0, fx = (float)ox + u, fy = (float)oy + v;
    if (fx >= 0 && fy >= 0 && fx < (float)(w - ps - 1) && fy < (float)(j->h - ps - 1)) {
        /* inside the frame (the usual case): one set of bilinear weights for the whole patch */
        int x0 = (int)fx, y0 = (int)fy;
        float ax = fx - (float)x0, ay = fy - (float)y0;
        for (int y = 0; y < ps; y++) {
            const float *r0 = j->I1 + (size_t)(y0 + y) * w + x0, *r1 = r0 + w;
            for (int x = 0; x < ps; x++) {
                float top = r0[x] + ax * (r0[x + 1] - r0[x]), bot = r1[x] + ax * (r1[x + 1] - r1[x]);
                float s = top + ay * (bot - top);
                r[y * ps + x] = s;
                mean += s;
            }
        }
    } else {
        for (int y = 0; y < ps; y++)
            for (int x = 0; x < ps; x++) {
                float s = kn_bilinear(j->I1, w, j->h, ox + x + u, oy + y + v);
                r[y * ps + x] = s;
                mean += s;
            }
    }
    mean /= n;
    float ssd = 0;
    for (int k = 0; k < n; k++) {
        r[k] = r[k] - mean - tn[k];
        ssd += r[k] * r[k];
    }
    *offset = mean;
    return ssd;
}

/* A patch of I0, mean-removed, with its mean-removed gradients and their regularised Gauss-Newton
 * matrix (the inverse search's fixed part). */
typedef struct {
    float tn[64 * 64], tx[64 * 64], ty[64 * 64], r[64 * 64];
    float mt;
    double hxx, hxy, hyy, det;
} patch_tmpl;

static void patch_template(const search_job *j, int ox, int oy, patch_tmpl *t) {
    int ps = j->ps, n = ps * ps;
    float mt = 0, mx = 0, my = 0;
    for (int y = 0; y < ps; y++)
        for (int x = 0; x < ps; x++) {
            size_t p = (size_t)(oy + y) * j->w + ox + x;
            t->tn[y * ps + x] = j->I0[p];
            t->tx[y * ps + x] = j->gx[p];
            t->ty[y * ps + x] = j->gy[p];
            mt += j->I0[p]; mx += j->gx[p]; my += j->gy[p];
        }
    mt /= n; mx /= n; my /= n;
    double hxx = 0, hxy = 0, hyy = 0;
    for (int k = 0; k < n; k++) {
        t->tn[k] -= mt; t->tx[k] -= mx; t->ty[k] -= my;
        hxx += t->tx[k] * t->tx[k]; hxy += t->tx[k] * t->ty[k]; hyy += t->ty[k] * t->ty[k];
    }
    /* Regularise so flat patches stay at their initial flow instead of blowing up. */
    hxx += 1e-2 * n; hyy += 1e-2 * n;
    t->mt = mt;
    t->hxx = hxx; t->hxy = hxy; t->hyy = hyy;
    t->det = hxx * hyy - hxy * hxy;
}

/* Inverse search of patch q (origin ox, oy) from (u0, v0); writes pu, pv, pd[q]. */
static float patch_search(const search_job *j, patch_tmpl *t, int ox, int oy, float u0, float v0, size_t q) {
    int ps = j->ps, n = ps * ps;
    float u = u0, v = v0, best_u = u0, best_v = v0, best = INFINITY, off, best_off = 0, ssd0 = INFINITY;
    for (int it = 0; it <= j->iters; it++) {
        float ssd = patch_residual(j, ox, oy, u, v, t->tn, t->r, &off);
        if (it == 0) ssd0 = ssd;
        if (ssd < best) { best = ssd; best_u = u; best_v = v; best_off = off; }
        if (it == j->iters) break;
        double bx = 0, by = 0;
        for (int k = 0; k < n; k++) { bx += t->tx[k] * t->r[k]; by += t->ty[k] * t->r[k]; }
        float du = (float)((t->hyy * bx - t->hxy * by) / t->det), dv = (float)((t->hxx * by - t->hxy * bx) / t->det);
        u -= du; v -= dv;
        if (du * du + dv * dv < 1e-4f) {
            ssd = patch_residual(j, ox, oy, u, v, t->tn, t->r, &off);
            if (ssd < best) { best = ssd; best_u = u; best_v = v; best_off = off; }
            break;
        }
    }
    /* A patch that wandered more than its own size found something else: keep the prior. */
    if (!(best <= ssd0) || fabsf(best_u - u0) > ps || fabsf(best_v - v0) > ps) {
        best_u = u0; best_v = v0;
        best = patch_residual(j, ox, oy, u0, v0, t->tn, t->r, &best_off);
    }
    j->pu[q] = best_u; j->pv[q] = best_v; j->pd[q] = best_off - t->mt;
    return best;
}

static void search_task(void *arg, int row) {
    const search_job *j = arg;
    patch_tmpl t;
    int ps = j->ps, oy = patch_origin(row, j->stride, ps, j->h);
    for (int col = 0; col < j->nx; col++) {
        int ox = patch_origin(col, j->stride, ps, j->w);
        patch_template(j, ox, oy, &t);
        size_t c = (size_t)(oy + ps / 2) * j->w + ox + ps / 2;
        patch_search(j, &t, ox, oy, j->fu[c], j->fv[c], (size_t)row * j->nx + col);
    }
}

/* Spatial propagation. A patch whose search ended in a wrong minimum (its coarse flow was the
 * background's while it holds a small object, or a periodic background matched at the wrong
 * period) often has a neighbour that found the right motion. Each patch tries the results of its
 * four neighbouring patches; where one explains the patch clearly better than its own, the search
 * restarts from it. A textured patch also tries zero motion and takes it where it explains the
 * patch as well: a repeating texture (the dataset's checkerboards) matches itself shifted by a
 * period exactly, and the coarse flow of a sprite moving over it pulls its patches to that shift,
 * which puts the texture half a period off in the frames between (test_interp). Only the first
 * pass's results are read (cu, cv, cd), so the thread count does not matter.
 * On 61-frame segments of 19 clips (every other frame rebuilt) propagation moved the mean PSNR by
 * -0.03 to +3.18 dB (Effet_force_magnetique.ogv +3.18, g1.avi +0.51, balle-jbart.mp4 +0.10;
 * homer.avi and vtest.avi downscaled to 160-192 px -0.03 and -0.02) and the zero candidate by
 * -0.035 to +0.08 more; on the default model's sprite clips (8 keyframes placed as generate places
 * them) +0.50 and +0.70 more. Together 3-4% more interpolation time. Neighbours two patches away
 * lost the +3.18; a second pass added up to 0.07 dB for another 3%; propagating only at the finest
 * one or two levels lost most of it; zero motion for untextured patches too cost motion.mov 0.19 dB
 * (a small coin, flat around, was left behind). */
#define PROP_GAIN 0.8f   /* a neighbour's flow must leave at most this share of the patch's own SSD */
#define ZERO_TEXTURE 25.0 /* mean squared gradient (luma levels/px) above which zero motion is tried */
/* The candidate flows (search_job.cand), where the caller knows more than this pair's frames: in a
 * whole video, the motion of the pairs before carried on at constant velocity. On a render of
 * tumbling dice (identical objects that fly 15-60 px a pair) a die's patch matches a nearer die
 * better than its own next place; the search from the candidate puts it back (docs/interpolation.md,
 * Method step 1). It is kept where it ends clearly better than the patch's own flow: at most
 * PROP_GAIN of its SSD, as for a neighbour's flow, when the two are close; the further apart they
 * are, the more a match elsewhere is another object that looks alike, not this one's next place,
 * so the gate opens linearly from CAND_FAR_FROM px apart (|du| + |dv| at full resolution) to
 * CAND_GATE_FAR at CAND_FAR_FROM + CAND_FAR_SPAN px. A tumbling die changes its face, so its own
 * next place may match worse than a look-alike: gate 0.8 everywhere gave the dice 24.00 dB, this gate
 * 25.03 (eval-interp, 121 frames). Gates reaching 1.0-4.0 over 20-80 px gave the dice more the
 * looser they were, and cost g1.avi up to 0.085 dB; opened from 0 px instead of 8 they cost tree.avi
 * 0.015; 2.0 over 30 px gave the same dice but DualDiscs.mov 0.26 dB less. A uniform gate of 1.0
 * or looser cost Force_constante and Principe_inertie 1.2-1.4 dB. Only patches textured in both
 * directions try a candidate: along an edge (the rim of a disc) a patch slides, and a candidate that
 * ends better there says nothing about the motion (two discs that turn back, DualDiscs.mov, lost
 * 0.43 dB without this). A candidate within CAND_NEAR px (|du| + |dv|) of the patch's flow would end where it did:
 * not searched. got: the patch's SSD at its flow; returns the SSD at the flow it keeps. */
#define CAND_NEAR 1.0f
#define CAND_TEXTURE 5.0   /* mean squared gradient (luma levels/px) the weaker direction must reach */
#define CAND_FAR_FROM 8.0f
#define CAND_FAR_SPAN 20.0f
#define CAND_GATE_FAR 1.5f
static float candidate_try(const search_job *j, patch_tmpl *t, int ox, int oy, size_t q, float cu, float cv,
                           float got) {
    int ps = j->ps;
    float ou = j->pu[q], ov = j->pv[q], od = j->pd[q], apart = fabsf(cu - ou) + fabsf(cv - ov);
    if (apart < CAND_NEAR) return got;
    /* the weaker direction of the patch's structure (the smaller eigenvalue of its gradients' matrix) */
    double tr = t->hxx + t->hyy, dd = sqrt((t->hxx - t->hyy) * (t->hxx - t->hyy) + 4 * t->hxy * t->hxy);
    if (0.5 * (tr - dd) < CAND_TEXTURE * ps * ps) return got;
    float far = (apart * (float)j->scale - CAND_FAR_FROM) / CAND_FAR_SPAN;
    float gate = PROP_GAIN + (CAND_GATE_FAR - PROP_GAIN) * (far < 0 ? 0 : far > 1 ? 1 : far);
    float ssd = patch_search(j, t, ox, oy, cu, cv, q);
    if (ssd < got * gate) return ssd;
    j->pu[q] = ou; j->pv[q] = ov; j->pd[q] = od;
    return got;
}

/* Each candidate's flow at patch (ox, oy), in this level's pixels, tried in order where it has one. */
static void candidates_try(const search_job *j, patch_tmpl *t, int ox, int oy, size_t q, float got) {
    int ps = j->ps;
    for (int k = 0; k < j->ncand; k++) {
        const kn_flow *c = &j->cand[k];
        size_t at = (size_t)kn_clampi((oy + ps / 2) * j->scale, 0, c->h - 1) * c->w +
                    (size_t)kn_clampi((ox + ps / 2) * j->scale, 0, c->w - 1);
        float cu = c->u[at] / (float)j->scale, cv = c->v[at] / (float)j->scale;
        if (cu == cu && cv == cv) got = candidate_try(j, t, ox, oy, q, cu, cv, got);
    }
}

static void propagate_task(void *arg, int row) {
    const search_job *j = arg;
    patch_tmpl t;
    int ps = j->ps, n = ps * ps, oy = patch_origin(row, j->stride, ps, j->h);
    static const int dr[4] = {-1, 1, 0, 0}, dc[4] = {0, 0, -1, 1};
    for (int col = 0; col < j->nx; col++) {
        int ox = patch_origin(col, j->stride, ps, j->w);
        size_t q = (size_t)row * j->nx + col;
        patch_template(j, ox, oy, &t);
        float off, own = patch_residual(j, ox, oy, j->cu[q], j->cv[q], t.tn, t.r, &off), best = own * PROP_GAIN;
        float bu = j->cu[q], bv = j->cv[q];
        int moved = 0;
        for (int d = 0; d < 4; d++) {
            int r2 = row + dr[d], c2 = col + dc[d];
            if (r2 < 0 || r2 >= j->ny || c2 < 0 || c2 >= j->nx) continue;
            size_t q2 = (size_t)r2 * j->nx + c2;
            float cu = j->cu[q2], cv = j->cv[q2];
            if (fabsf(cu - j->cu[q]) + fabsf(cv - j->cv[q]) < 0.5f) continue;
            float ssd = patch_residual(j, ox, oy, cu, cv, t.tn, t.r, &off);
            if (ssd < best) { best = ssd; bu = cu; bv = cv; moved = 1; }
        }
        /* a textured patch that matches as well without motion is still: its flow was a period of
         * a repeating texture (exact at both frames, half a period off in the frames between) */
        if ((j->cu[q] != 0 || j->cv[q] != 0) && t.hxx + t.hyy > ZERO_TEXTURE * n &&
            patch_residual(j, ox, oy, 0, 0, t.tn, t.r, &off) <= (moved ? best : own)) {
            bu = bv = 0;
            moved = 1;
        }
        float got = own;
        if (moved) got = patch_search(j, &t, ox, oy, bu, bv, q);
        else { j->pu[q] = j->cu[q]; j->pv[q] = j->cv[q]; j->pd[q] = j->cd[q]; }
        candidates_try(j, &t, ox, oy, q, got);
    }
}

/* ---- densification ---- */

typedef struct {
    const search_job *s;
    float *u, *v, *acc;   /* acc: per-pixel weight sums */
} dense_job;

static void dense_task(void *arg, int task) {
    const dense_job *d = arg;
    const search_job *j = d->s;
    int w = j->w, ps = j->ps;
    int y0 = task * BAND, y1 = y0 + BAND < j->h ? y0 + BAND : j->h;
    size_t rows = (size_t)(y1 - y0) * w;
    float *acc = d->acc + (size_t)y0 * w;
    for (size_t i = 0; i < rows; i++) { d->u[(size_t)y0 * w + i] = 0; d->v[(size_t)y0 * w + i] = 0; acc[i] = 0; }
    for (int py = 0; py < j->ny; py++) {
        int oy = patch_origin(py, j->stride, ps, j->h);
        if (oy + ps <= y0 || oy >= y1) continue;
        for (int px = 0; px < j->nx; px++) {
            int ox = patch_origin(px, j->stride, ps, w);
            size_t q = (size_t)py * j->nx + px;
            float pu = j->pu[q], pv = j->pv[q], pd = j->pd[q];
            int ya = oy > y0 ? oy : y0, yb = oy + ps < y1 ? oy + ps : y1;
            for (int y = ya; y < yb; y++)
                for (int x = ox; x < ox + ps; x++) {
                    size_t p = (size_t)y * w + x;
                    float e = kn_bilinear(j->I1, w, j->h, x + pu, y + pv) - j->I0[p] - pd;
                    float wt = 1.f / fmaxf(1.f, fabsf(e));
                    size_t a = p - (size_t)y0 * w;
                    acc[a] += wt;
                    d->u[p] += wt * pu;
                    d->v[p] += wt * pv;
                }
        }
    }
    for (size_t i = 0; i < rows; i++) {
        size_t p = (size_t)y0 * w + i;
        if (acc[i] > 0) { d->u[p] /= acc[i]; d->v[p] /= acc[i]; }
    }
}

/* ---- level driver ---- */

typedef struct {
    const float *src_u, *src_v;
    float *u, *v;
    int cw, ch, w, h;
} up_job;

static void up_task(void *arg, int task) {
    const up_job *j = arg;
    int y1 = (task + 1) * BAND < j->h ? (task + 1) * BAND : j->h;
    for (int y = task * BAND; y < y1; y++)
        for (int x = 0; x < j->w; x++) {
            size_t p = (size_t)y * j->w + x;
            j->u[p] = 2.f * kn_bilinear(j->src_u, j->cw, j->ch, 0.5f * x, 0.5f * y);
            j->v[p] = 2.f * kn_bilinear(j->src_v, j->cw, j->ch, 0.5f * x, 0.5f * y);
        }
}

static int level_count(const kn_interp_opts *o, int w, int h) {
    int n = 1, m = w < h ? w : h;
    int minsz = o->min_level_size > 4 ? o->min_level_size : 4;
    while ((m + 1) / 2 >= minsz && n < 12) { m = (m + 1) / 2; n++; }
    return n;
}

static kn_status level_flow(const kn_ctx *ctx, const kn_interp_opts *o, const float *I0, const float *I1, int w,
                            int h, const kn_flow *cand, int ncand, int scale, float *u, float *v, kn_interp_ws *ws,
                            kn_error *err) {
    size_t n = (size_t)w * h;
    int ps = o->patch;
    if (ps > w) ps = w;
    if (ps > h) ps = h;
    if (ps > 64) ps = 64;
    if (ps < 1) ps = 1;
    int stride = o->stride < 1 ? 1 : o->stride > ps ? ps : o->stride;
    int nx = (w - ps + stride - 1) / stride + 1, ny = (h - ps + stride - 1) / stride + 1;
    float *gx = kn_ws_get(ws, n * sizeof *gx), *gy = kn_ws_get(ws, n * sizeof *gy);
    float *pu = kn_ws_get(ws, (size_t)nx * ny * sizeof *pu), *pv = kn_ws_get(ws, (size_t)nx * ny * sizeof *pv);
    float *pd = kn_ws_get(ws, (size_t)nx * ny * sizeof *pd);
    kn_status st = KN_OK;
    if (!gx || !gy || !pu || !pv || !pd) {
        st = kn_fail(err, KN_ENOMEM, "interp: out of memory estimating flow at %dx%d", w, h);
        goto done;
    }
    gradients(I0, w, h, gx, gy);
    search_job sj = {I0, I1, gx, gy, u, v, w, h, ps, stride, nx, ny, o->iters < 1 ? 1 : o->iters, pu, pv, pd,
                     NULL, NULL, NULL, cand, ncand, scale};
    kn_interp_run(ctx, ny, search_task, &sj);
    if (o->propagate) {   /* the first pass's results become the candidates of the second */
        size_t np = (size_t)nx * ny;
        float *c = kn_ws_get(ws, np * 3 * sizeof *c);
        if (!c) { st = kn_fail(err, KN_ENOMEM, "interp: out of memory estimating flow at %dx%d", w, h); goto done; }
        memcpy(c, pu, np * sizeof *c); memcpy(c + np, pv, np * sizeof *c); memcpy(c + 2 * np, pd, np * sizeof *c);
        sj.cu = c; sj.cv = c + np; sj.cd = c + 2 * np;
        kn_interp_run(ctx, ny, propagate_task, &sj);
        kn_ws_put(ws, c);
    }
    dense_job dj = {&sj, u, v, gx};   /* the gradients are no longer needed: reuse as weights */
    kn_interp_run(ctx, nbands(h), dense_task, &dj);
    if (o->var_iters > 0) st = kn_flow_refine(ctx, I0, I1, w, h, u, v, o->var_iters, ws, err);
done:
    kn_ws_put(ws, gx); kn_ws_put(ws, gy); kn_ws_put(ws, pu); kn_ws_put(ws, pv); kn_ws_put(ws, pd);
    return st;
}

/* auto: half resolution is as good as full on real footage and 3-4x cheaper (tree.avi, 320x240:
 * 27.549 dB at half vs 27.542 at full, 2.3x less time). From 100 to 199 px it loses 0.02-0.29 dB
 * but full resolution there was slower than ffmpeg's minterpolate (real clips downscaled to
 * 160x120-192x144: 0.52-0.57 s against 0.35-0.47 s; half: 0.16-0.34 s, still 1.1-2.1 dB above it
 * on five of six); below 100 px the patches would cover too much of the frame. From 720 px the flow
 * stops at a quarter: on the five such clips of the 31 in docs/interpolation.md 18-26% less time for
 * -0.21..+0.06 dB (at 576 lines vtest.avi lost 0.16 dB; a flow below a quarter gained no time at
 * 1080 lines or 4K, where the render then takes most of it) */
int kn_flow_finest_level(const kn_interp_opts *o, int w, int h) {
    if (o->finest_level >= 0) return o->finest_level;
    int m = w < h ? w : h;
    return m >= 720 ? 2 : m >= 100 ? 1 : 0;
}

kn_status kn_flow_estimate_ws(const kn_ctx *ctx, const kn_interp_opts *opts, const float *g0, const float *g1,
                              int w, int h, const kn_flow *cand, int ncand, kn_interp_ws *ws, float **u_out,
                              float **v_out, kn_error *err) {
    if (!opts->propagate) ncand = 0;   /* tried in the propagation pass */
    int L = level_count(opts, w, h);
    int finest = kn_flow_finest_level(opts, w, h);
    if (finest >= L) finest = L - 1;
    const float *p0[12], *p1[12];
    float *own[24] = {0};
    int lw[12], lh[12];
    kn_status st = KN_OK;
    float *u = NULL, *v = NULL, *nu = NULL, *nv = NULL;
    p0[0] = g0; p1[0] = g1; lw[0] = w; lh[0] = h;
    for (int l = 1; l < L; l++) {
        lw[l] = (lw[l - 1] + 1) / 2; lh[l] = (lh[l - 1] + 1) / 2;
        for (int s = 0; s < 2; s++) {
            float *d = kn_ws_get(ws, (size_t)lw[l] * lh[l] * sizeof *d);
            if (!d) { st = kn_fail(err, KN_ENOMEM, "interp: out of memory for the flow pyramid"); goto done; }
            own[2 * l + s] = d;
            down_job dj = {s ? p1[l - 1] : p0[l - 1], d, lw[l - 1], lh[l - 1], lw[l], lh[l]};
            kn_interp_run(ctx, nbands(lh[l]), down_task, &dj);
            if (s) p1[l] = d; else p0[l] = d;
        }
    }
    size_t cn = (size_t)lw[L - 1] * lh[L - 1];
    u = kn_ws_get(ws, cn * sizeof *u);
    v = kn_ws_get(ws, cn * sizeof *v);
    if (!u || !v) { st = kn_fail(err, KN_ENOMEM, "interp: out of memory for flow"); goto done; }
    memset(u, 0, cn * sizeof *u);
    memset(v, 0, cn * sizeof *v);
    for (int l = L - 1; l >= 0; l--) {
        if (l >= finest) {
            st = level_flow(ctx, opts, p0[l], p1[l], lw[l], lh[l], cand, ncand, 1 << l, u, v, ws, err);
            if (st) goto done;
        }
        if (l == 0) break;
        size_t n = (size_t)lw[l - 1] * lh[l - 1];
        nu = kn_ws_get(ws, n * sizeof *nu); nv = kn_ws_get(ws, n * sizeof *nv);
        if (!nu || !nv) { st = kn_fail(err, KN_ENOMEM, "interp: out of memory for flow"); goto done; }
        up_job uj = {u, v, nu, nv, lw[l], lh[l], lw[l - 1], lh[l - 1]};
        kn_interp_run(ctx, nbands(lh[l - 1]), up_task, &uj);
        kn_ws_put(ws, u); kn_ws_put(ws, v);
        u = nu; v = nv; nu = nv = NULL;
    }
    *u_out = u; *v_out = v;
    u = v = NULL;
done:
    kn_ws_put(ws, u); kn_ws_put(ws, v); kn_ws_put(ws, nu); kn_ws_put(ws, nv);
    for (int i = 0; i < 24; i++) kn_ws_put(ws, own[i]);
    return st;
}

kn_status kn_flow_estimate(const kn_ctx *ctx, const kn_interp_opts *opts, const float *g0, const float *g1,
                           int w, int h, kn_flow *out, kn_error *err) {
    kn_interp_opts def;
    if (!opts) { kn_interp_opts_default(&def); opts = &def; }
    if (w < 1 || h < 1) return kn_fail(err, KN_EINVAL, "interp: bad frame size %dx%d", w, h);
    kn_interp_ws ws = {0};
    float *u, *v;
    size_t n = (size_t)w * h;
    kn_status st = kn_flow_estimate_ws(ctx, opts, g0, g1, w, h, NULL, 0, &ws, &u, &v, err);
    if (!st) {
        out->u = kn_malloc(n * sizeof(float));
        out->v = kn_malloc(n * sizeof(float));
        if (!out->u || !out->v) { kn_flow_free(out); st = kn_fail(err, KN_ENOMEM, "interp: out of memory for flow"); }
        else { memcpy(out->u, u, n * sizeof(float)); memcpy(out->v, v, n * sizeof(float)); out->w = w; out->h = h; }
    }
    kn_ws_free(&ws);
    return st;
}

void kn_flow_reverse(const kn_flow *f, kn_flow *out) {
    int w = f->w, h = f->h;
    size_t n = (size_t)w * h;
    for (size_t i = 0; i < n; i++) out->u[i] = out->v[i] = NAN;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            size_t p = (size_t)y * w + x;
            float tx = (float)x + f->u[p], ty = (float)y + f->v[p];
            if (!(tx > -0.5f && ty > -0.5f && tx < (float)w - 0.5f && ty < (float)h - 0.5f)) continue;
            size_t t = (size_t)(ty + 0.5f) * w + (size_t)(tx + 0.5f);
            out->u[t] = -f->u[p];
            out->v[t] = -f->v[p];
        }
}

typedef struct {
    kn_flow *f;
    float *su, *sv;   /* the flow before this pass */
} gap_job;

static void gap_copy_task(void *arg, int task) {
    const gap_job *j = arg;
    size_t w = (size_t)j->f->w, h = (size_t)j->f->h, y0 = (size_t)task * BAND, y1 = y0 + BAND < h ? y0 + BAND : h;
    memcpy(j->su + y0 * w, j->f->u + y0 * w, (y1 - y0) * w * sizeof *j->su);
    memcpy(j->sv + y0 * w, j->f->v + y0 * w, (y1 - y0) * w * sizeof *j->sv);
}

static void gap_fill_task(void *arg, int task) {
    const gap_job *j = arg;
    int w = j->f->w, h = j->f->h, y1 = (task + 1) * BAND < h ? (task + 1) * BAND : h;
    const float *su = j->su, *sv = j->sv;
    for (int y = task * BAND; y < y1; y++)
        for (int x = 0; x < w; x++) {
            size_t p = (size_t)y * w + x;
            if (su[p] == su[p]) continue;
            float au = 0, av = 0;
            int k = 0;
            for (int yy = y > 0 ? y - 1 : 0; yy <= y + 1 && yy < h; yy++)
                for (int xx = x > 0 ? x - 1 : 0; xx <= x + 1 && xx < w; xx++) {
                    size_t q = (size_t)yy * w + xx;
                    if (su[q] == su[q]) { au += su[q]; av += sv[q]; k++; }
                }
            if (k) { j->f->u[p] = au / k; j->f->v[p] = av / k; }
        }
}

void kn_flow_fill_gaps(const kn_ctx *ctx, kn_flow *f, int reach, float *su, float *sv) {
    gap_job j = {f, su, sv};
    for (int pass = 0; pass < reach; pass++) {
        kn_interp_run(ctx, nbands(f->h), gap_copy_task, &j);
        kn_interp_run(ctx, nbands(f->h), gap_fill_task, &j);
    }
}
