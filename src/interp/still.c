/* Still parts of noisy footage: four frames instead of two.
 *
 * Where nothing moves, the best guess of a dropped frame is the mean of the frames around it, and
 * when each frame carries its own sensor or codec noise, a mean over more frames is a better guess
 * than the mean of two: with independent noise of variance s2 per frame, the two-frame mean misses
 * by 1.5 s2 and a mean that also gives the frames beyond the pair half their weight misses by about
 * 1.3 s2. Codecs often copy still blocks from frame to frame, though, and then the frames beyond
 * the pair only add error (vtest.avi); and a motion-compensated render can beat any plain mean where
 * "still" parts move by a fraction of a pixel (a hand-held camera). So the video's own kept frames
 * decide, as they do for the resampling kernel (kernel.c):
 *
 * - Each kept frame m is rebuilt at its still pixels (the four frames m-2, m-1, m+1, m+2 within
 *   RANGE levels of each other on every channel) in two ways: as the mean of m-1 and m+1 plus lambda
 *   times the mean of m-2 and m+2 less that mean, and by warping m-1 and m+1 with the flows from m
 *   (as kernel.c does, with either kernel). The least-squares lambda and both errors follow from
 *   five sums (kn_still_stats).
 * - A pair is pooled when, over the recent kept frames, the pooled mean with SHRINK times their
 *   lambda rebuilt the still pixels with less error than the better warp. SHRINK: the kept frames lie
 *   twice as far apart as a dropped frame from its neighbours, and on 18 clips their lambda was
 *   larger than the one that fitted the dropped frames on 11 of them.
 * - A pooled pair's still pixels (the same test on the four frames around the pair) are replaced by
 *   that weighted mean, at the frame's time; elsewhere the motion-compensated render stays. The four
 *   frames agree within RANGE there, and the pooled value lies within their range.
 *
 * Measured (2026-12-06, see docs/interpolation.md): balle1-vp9.avi, a ball in a still, noisy
 * classroom, +0.18 dB; of 17 other camera clips, only movie-hello.mp4 (+0.01) and tree.avi (+0.00)
 * are pooled at all. Without the comparison with the warp, hand-held clips lost up to 0.14 dB. */
#include "interp/interp.h"
#include "interp/interp_impl.h"
#include <stdlib.h>

#define RANGE 12        /* levels: four frames within this of each other are taken as still */
#define SHRINK 0.5
#define MAX_WEIGHT 0.5  /* the frames beyond the pair never outweigh the pair itself */
#define STEP 2          /* measured on every second pixel of every second row, as kernel.c */

/* 1 when the four RGB pixels agree within RANGE on every channel. */
static int still_at(const uint8_t *p0, const uint8_t *p1, const uint8_t *p2, const uint8_t *p3) {
    for (int c = 0; c < 3; c++) {
        int lo = p0[c], hi = p0[c];
        const uint8_t *q[3] = {p1, p2, p3};
        for (int k = 0; k < 3; k++) {
            if (q[k][c] < lo) lo = q[k][c];
            if (q[k][c] > hi) hi = q[k][c];
        }
        if (hi - lo >= RANGE) return 0;
    }
    return 1;
}

typedef struct {
    const uint8_t *const *f;   /* m-2 .. m+2 */
    const kn_flow *to_prev, *to_next;
    int w, h;
    double *part;              /* NSUMS sums per measured row */
} measure_job;

#define NSUMS 5

static void measure_task(void *arg, int r) {
    const measure_job *j = arg;
    int y = r * STEP, w = j->w, h = j->h;
    double sum[NSUMS] = {0};   /* xy, xx, dd, lin, cub */
    for (int x = 0; x < w; x += STEP) {
        size_t p = (size_t)y * w + x;
        const uint8_t *f0 = j->f[0] + p * 3, *f1 = j->f[1] + p * 3, *m = j->f[2] + p * 3, *f3 = j->f[3] + p * 3,
                      *f4 = j->f[4] + p * 3;
        if (!still_at(f0, f1, f3, f4)) continue;
        float l[3], cb[3];
        kn_rebuild_rgb(j->f[1], j->f[3], w, h, j->to_prev, j->to_next, x, y, l, cb);
        for (int c = 0; c < 3; c++) {
            double pair = 0.5 * (f1[c] + f3[c]);
            double d = m[c] - pair, o = 0.5 * (f0[c] + f4[c]) - pair;
            double el = l[c] - m[c], ec = cb[c] - m[c];
            sum[0] += d * o; sum[1] += o * o; sum[2] += d * d; sum[3] += el * el; sum[4] += ec * ec;
        }
    }
    for (int k = 0; k < NSUMS; k++) j->part[r * NSUMS + k] = sum[k];
}

kn_status kn_still_measure(const kn_ctx *ctx, const uint8_t *const f[5], int w, int h, const kn_flow *to_prev,
                           const kn_flow *to_next, kn_still_stats *out, kn_error *err) {
    int rows = (h + STEP - 1) / STEP;
    double *part = malloc(sizeof *part * NSUMS * (size_t)rows);
    *out = (kn_still_stats){0, 0, 0, 0, 0};
    if (!part) return kn_fail(err, KN_ENOMEM, "interp: out of memory measuring the still parts");
    measure_job j = {f, to_prev, to_next, w, h, part};
    kn_interp_run(ctx, rows, measure_task, &j);
    for (int r = 0; r < rows; r++) {   /* in row order: the sums do not depend on the thread count */
        const double *q = part + (size_t)r * NSUMS;
        out->xy += q[0]; out->xx += q[1]; out->dd += q[2]; out->lin += q[3]; out->cub += q[4];
    }
    free(part);
    return KN_OK;
}

float kn_still_weight(const kn_still_stats *s, int n) {
    kn_still_stats t = {0, 0, 0, 0, 0};
    for (int i = 0; i < n; i++) {
        t.xy += s[i].xy; t.xx += s[i].xx; t.dd += s[i].dd; t.lin += s[i].lin; t.cub += s[i].cub;
    }
    if (!(t.dd > 0)) return -1;   /* nothing measured, or the still parts never change */
    double lambda = t.xy > 0 && t.xx > 0 ? SHRINK * t.xy / t.xx : 0;
    if (lambda > MAX_WEIGHT) lambda = MAX_WEIGHT;
    double pooled = t.dd - 2 * lambda * t.xy + lambda * lambda * t.xx;
    double render = t.lin < t.cub ? t.lin : t.cub;
    return pooled < render ? (float)lambda : -1;
}

typedef struct {
    const uint8_t *const *f;   /* a-1, a, b, b+1 */
    int w;
    float t, lambda;
    uint8_t *out;
} pool_job;

static void pool_task(void *arg, int y) {
    const pool_job *j = arg;
    float wa = (1 - j->lambda) * (1 - j->t), wb = (1 - j->lambda) * j->t;
    float wa0 = j->lambda * (1 - j->t), wb1 = j->lambda * j->t;
    for (int x = 0; x < j->w; x++) {
        size_t p = ((size_t)y * j->w + x) * 3;
        const uint8_t *a0 = j->f[0] + p, *a = j->f[1] + p, *b = j->f[2] + p, *b1 = j->f[3] + p;
        if (!still_at(a0, a, b, b1)) continue;
        for (int c = 0; c < 3; c++) {
            float v = wa * a[c] + wb * b[c] + wa0 * a0[c] + wb1 * b1[c];
            j->out[p + c] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v + 0.5f);
        }
    }
}

void kn_still_pool(const kn_ctx *ctx, const uint8_t *const f[4], int w, int h, float t, float lambda,
                   uint8_t *out) {
    pool_job j = {f, w, t, lambda, out};
    kn_interp_run(ctx, h, pool_task, &j);
}
