/* Fades: a pair whose picture changes brightness as a whole (a fade from or to black or white, a
 * title card fading in, a camera's exposure stepping).
 *
 * Why. The renderer (warp.c) leans each pixel toward the neighbour that sees it better (visibility
 * from the flows' forward-backward consistency). Where both frames show the same thing that is
 * harmless; in a fade the two sides differ in brightness, so every lean is a brightness error. Over
 * plain backgrounds, where any flow fits and the two flows disagree at random, the output came out
 * blotched: the fade-in of a flat grey title card (openboard-common's wannaworktogether.mp4, frames
 * 0-6) rebuilt at 39.8 dB against the plain blend's 46.8. Such a pair was also taken for a scene cut
 * (its pixels change in place, its flows disagree) and its first frame repeated: 20.9 dB.
 *
 * The model. Per RGB channel c, b_c ~ gain_c a_c + offset_c over the frame, fitted by least squares,
 * then fitted again on the pixels the first map explains within FADE_INLIER levels in every channel
 * (moving objects and what they uncover do not follow the fade). The renderer then leans only on
 * what the map does not explain: a sample pair (c0 from a, c1 from b) blended with a's share s
 * instead of 1 - t gives
 *     s c0 + (1 - s) c1 - (s - (1 - t)) (c0 - gain c0 - offset)
 * i.e. the plain blend's brightness, plus the lean times the part of c0 - c1 the fade leaves.
 * A pair is treated as a fade when the map holds on at least FADE_MIN_INLIERS of the pixels and
 * moves them by more than FADE_MIN_RMS levels (root mean square): footage without a fade keeps its
 * exact output. The share of pixels the map leaves off by more than FADE_INLIER also tells the
 * scene-cut test (interp.c) whether a pair changed in place for reasons other than brightness. */
#include "interp/interp.h"
#include "interp/interp_impl.h"
#include <math.h>
#include <stdlib.h>

#define FADE_INLIER 10.f
#define FADE_MIN_INLIERS 0.5
#define FADE_MIN_RMS 2.0

/* Per row: for each channel the sums of a, b, a^2, a b, then the count of pixels summed. */
#define ROW_SUMS 13
typedef struct {
    const uint8_t *a, *b;
    int w;
    const float *gain, *offset;   /* NULL: sum every pixel; else only those the map explains */
    double *sums;                 /* ROW_SUMS per row */
} fade_job;

/* 1 when the map leaves pixel (pa, pb) off by more than FADE_INLIER in some channel. */
static int map_misses(const fade_job *j, const uint8_t *pa, const uint8_t *pb) {
    int off = 0;
    for (int c = 0; c < 3; c++) off |= fabsf(pb[c] - (j->gain[c] * pa[c] + j->offset[c])) > FADE_INLIER;
    return off;
}

static void sums_task(void *arg, int y) {
    const fade_job *j = arg;
    double s[ROW_SUMS] = {0};
    const uint8_t *ra = j->a + (size_t)y * j->w * 3, *rb = j->b + (size_t)y * j->w * 3;
    for (int x = 0; x < j->w; x++) {
        const uint8_t *pa = ra + 3 * x, *pb = rb + 3 * x;
        if (j->gain && map_misses(j, pa, pb)) continue;
        for (int c = 0; c < 3; c++) {
            double va = pa[c], vb = pb[c];
            s[4 * c] += va; s[4 * c + 1] += vb; s[4 * c + 2] += va * va; s[4 * c + 3] += va * vb;
        }
        s[12] += 1;
    }
    memcpy(j->sums + (size_t)y * ROW_SUMS, s, sizeof s);
}

/* The per-channel fit from the rows' sums (in row order, so thread counts do not matter). Returns the
 * pixels summed, 0 when none. A channel flat in a keeps gain 1 and moves by the difference of means. */
static double fit(const kn_ctx *ctx, fade_job *j, int h, kn_fade *f) {
    kn_interp_run(ctx, h, sums_task, j);
    double s[ROW_SUMS] = {0};
    for (int y = 0; y < h; y++)
        for (int k = 0; k < ROW_SUMS; k++) s[k] += j->sums[(size_t)y * ROW_SUMS + k];
    double n = s[12];
    if (!(n > 0)) return 0;
    double rms = 0;
    for (int c = 0; c < 3; c++) {
        double ma = s[4 * c] / n, mb = s[4 * c + 1] / n, va = s[4 * c + 2] / n - ma * ma;
        double gain = va > 1 ? (s[4 * c + 3] / n - ma * mb) / va : 1;
        f->gain[c] = (float)gain;
        f->offset[c] = (float)(mb - gain * ma);
        /* mean over the pixels summed of ((gain - 1) a + offset)^2 */
        double g1 = gain - 1, o = f->offset[c];
        rms += g1 * g1 * (s[4 * c + 2] / n) + 2 * g1 * o * ma + o * o;
    }
    f->rms = (float)sqrt(rms / 3);
    return n;
}

/* Pixels of row y that the map leaves off by more than FADE_INLIER in some channel, into sums[y]. */
static void off_task(void *arg, int y) {
    const fade_job *j = arg;
    const uint8_t *ra = j->a + (size_t)y * j->w * 3, *rb = j->b + (size_t)y * j->w * 3;
    int off = 0;
    for (int x = 0; x < j->w; x++) off += map_misses(j, ra + 3 * x, rb + 3 * x);
    j->sums[y] = off;
}

kn_status kn_fade_fit(const kn_ctx *ctx, const uint8_t *a, const uint8_t *b, int w, int h, kn_fade *out,
                      kn_error *err) {
    memset(out, 0, sizeof *out);
    double *sums = malloc(sizeof *sums * ROW_SUMS * (size_t)h);
    if (!sums) return kn_fail(err, KN_ENOMEM, "interp: out of memory fitting a fade");
    double n = (double)w * h;
    kn_fade first;
    fade_job j = {a, b, w, NULL, NULL, sums};
    fit(ctx, &j, h, &first);
    j.gain = first.gain; j.offset = first.offset;
    double inliers = fit(ctx, &j, h, out);
    if (!(inliers > 0)) *out = first;
    j.gain = out->gain; j.offset = out->offset;
    kn_interp_run(ctx, h, off_task, &j);
    double off = 0;
    for (int y = 0; y < h; y++) off += sums[y];
    free(sums);
    out->unexplained = (float)(off / n);
    out->is_fade = inliers >= FADE_MIN_INLIERS * n && out->rms > FADE_MIN_RMS;
    return KN_OK;
}
