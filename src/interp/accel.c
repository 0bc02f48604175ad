/* Acceleration: bending a pair's motion by what the neighbouring pairs show, with a gain that the
 * video's own kept frames calibrate.
 *
 * Model (quadratic motion through four frames, as in Xu et al., "Quadratic video interpolation",
 * 2019). A pixel of frame a (time 0) with flow F01 to frame b and F0p to the frame before a moves
 * with acceleration F01 + F0p, so at time t it is at
 *     t F01 + gain (t^2 - t) / 2 (F01 + F0p)
 * (gain 1 is the exact quadratic; gain 0 constant velocity). Frame b's pixels, symmetrically, with
 * F10, F12 and s = 1 - t. The splat (warp.c) uses these displacements instead of t F01 and s F10.
 *
 * Why a calibrated gain. Camera shake, pans that start or stop and animated moves bend the motion,
 * and following the bend gains a lot (Megamind.avi +0.9 dB, box.mp4 +0.3 dB over constant velocity
 * in `eval-interp`). But a source whose frames are not captured evenly (vtest.avi: frames 1 or 2
 * capture ticks apart) shows speed changes between pairs that say nothing about where the frame in
 * between sits, and following them loses (-0.15 dB on a vtest.avi segment at gain 1). The kept
 * frames tell the two apart: at every kept frame j we ask how well the same model, one level up,
 * would have placed j between j-1 and j+1 using j-3 and j+3. Over tracks followed through the
 * flows (on a 4 px grid, consistent forward and backward at every step), with P(k) the track's
 * position in frame j+k:
 *     e = (P(-1) + P(1)) / 2 - P(0)                      the constant-velocity miss
 *     d = -(P(-3) - P(-1) - P(1) + P(3)) / 16            the quadratic model's correction
 * The least-squares gain is -sum(e d) / sum(d d), and R^2 = sum(e d)^2 / (sum(d d) sum(e e)) is the
 * share of the miss that the model explains: 0.27-0.36 on box.mp4 and Megamind.avi, 0.02 on
 * vtest.avi and tree.avi. The gain used is the least-squares one (clamped to 0..GAIN_MAX) scaled by a
 * ramp of R^2 from R2_LO to R2_HI, so footage where acceleration explains nothing stays at constant
 * velocity. */
#include "interp/interp.h"
#include "interp/interp_impl.h"
#include <stdlib.h>

#define GRID 4          /* track spacing, px */
#define GAIN_MAX 1.5f   /* the least-squares gain was 1.16-1.34 on the footage where it helps */
#define R2_LO 0.05
#define R2_HI 0.15
/* Squared forward-backward mismatch (px^2) beyond which a track is dropped (occluded or wrong). */
#define TRACK_TOL 1.f

typedef struct {
    const kn_flow *const *fwd, *const *bwd;   /* pairs j-3 .. j+2 */
    int w, h, gw, gh;
    double *part;                                /* 3 sums per grid row */
} centre_job;

/* One step of a track: p moved by flow f, checked against the opposite flow g at the target. */
static int track_step(const kn_flow *f, const kn_flow *g, float p[2], float q[2]) {
    int w = f->w, h = f->h;
    kn_bilinear_at at = kn_bilinear_where(w, h, p[0], p[1]);
    float fu = kn_bilinear_read(f->u, &at), fv = kn_bilinear_read(f->v, &at);
    q[0] = p[0] + fu; q[1] = p[1] + fv;
    if (q[0] < 0 || q[1] < 0 || q[0] > (float)(w - 1) || q[1] > (float)(h - 1)) return 0;
    kn_bilinear_at bt = kn_bilinear_where(w, h, q[0], q[1]);
    float gu = kn_bilinear_read(g->u, &bt), gv = kn_bilinear_read(g->v, &bt);
    return (fu + gu) * (fu + gu) + (fv + gv) * (fv + gv) <= TRACK_TOL;
}

static void centre_task(void *arg, int gy) {
    const centre_job *j = arg;
    double se = 0, sd = 0, sl = 0;
    for (int gx = 0; gx < j->gw; gx++) {
        float P[7][2];
        P[3][0] = (float)(gx * GRID + GRID / 2); P[3][1] = (float)(gy * GRID + GRID / 2);
        int ok = 1;
        /* backwards through pairs j-1, j-2, j-3 (index 2, 1, 0), forwards through j, j+1, j+2 */
        for (int k = 1; k <= 3 && ok; k++) ok = track_step(j->bwd[3 - k], j->fwd[3 - k], P[4 - k], P[3 - k]);
        for (int k = 1; k <= 3 && ok; k++) ok = track_step(j->fwd[2 + k], j->bwd[2 + k], P[2 + k], P[3 + k]);
        if (!ok) continue;
        for (int c = 0; c < 2; c++) {
            double e = (P[2][c] + P[4][c]) / 2 - P[3][c];
            double d = -(P[0][c] - P[2][c] - P[4][c] + P[6][c]) / 16;
            se += e * d; sd += d * d; sl += e * e;
        }
    }
    j->part[gy * 3] = se; j->part[gy * 3 + 1] = sd; j->part[gy * 3 + 2] = sl;
}

kn_status kn_accel_centre(const kn_ctx *ctx, const kn_flow *const fwd[6], const kn_flow *const bwd[6],
                          kn_accel_stats *out, kn_error *err) {
    int w = fwd[0]->w, h = fwd[0]->h, gw = w / GRID, gh = h / GRID;
    memset(out, 0, sizeof *out);
    if (gw < 1 || gh < 1) return KN_OK;
    double *part = malloc(sizeof *part * 3 * (size_t)gh);
    if (!part) return kn_fail(err, KN_ENOMEM, "interp: out of memory measuring acceleration");
    centre_job j = {fwd, bwd, w, h, gw, gh, part};
    kn_interp_run(ctx, gh, centre_task, &j);
    for (int y = 0; y < gh; y++) {   /* in row order: the sums do not depend on the thread count */
        out->ed += part[y * 3]; out->dd += part[y * 3 + 1]; out->ee += part[y * 3 + 2];
    }
    free(part);
    return KN_OK;
}

float kn_accel_gain(const kn_accel_stats *s, int n) {
    double ed = 0, dd = 0, ee = 0;
    for (int i = 0; i < n; i++) { ed += s[i].ed; dd += s[i].dd; ee += s[i].ee; }
    if (!(dd > 0) || !(ee > 0)) return 0;
    double gain = -ed / dd, r2 = ed * ed / (dd * ee);
    double ramp = (r2 - R2_LO) / (R2_HI - R2_LO);
    ramp = ramp < 0 ? 0 : ramp > 1 ? 1 : ramp;
    gain = gain < 0 ? 0 : gain > GAIN_MAX ? GAIN_MAX : gain;
    return (float)(gain * ramp);
}
