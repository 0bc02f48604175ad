/* Acceleration: bending a pair's motion by what the neighbouring pairs show, with a gain that the
 * video's own kept frames calibrate.
 *
 * Model (quadratic motion through four frames, as in Xu et al., "Quadratic video interpolation",
 * 2019). A pixel of frame a (time 0) with flow F01 to frame b and F0p to the frame before a moves
 * with acceleration F01 + F0p, so at time t it is at
 *     t F01 + gain (t^2 - t) / 2 (F01 + F0p)
 * (gain 1 is the exact quadratic; gain 0 constant velocity). Frame b's pixels, symmetrically, with
 * F10, F12 and s = 1 - t. The splat (warp.c) uses these displacements instead of t F01 and s F10.
 * A pixel whose F0p leaves the frame keeps constant velocity (kn_accel_field): such a flow cannot be
 * checked, and patch flows at a border that point out of it are often wrong (on Principe_inertie.avi
 * a +15 px flow at a still border bent it 2 px, -1.5 dB on the clip).
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
 * velocity.
 *
 * Uneven capture. What such footage leaves is the question of *when*: vtest.avi's frames are 2 or 3
 * capture ticks apart, so an interval between kept frames that spans 3 ticks holds its dropped
 * frame at 1/3 or 2/3, not 1/2, and nothing in the kept frames says which. Two signs together mark
 * such a pair: at least MIN_MEASURED kept frames before it were measured and acceleration explains
 * none of their misses (gain 0: R^2 <= R2_LO, or the model points the wrong way), and the pair
 * moves markedly more than the recent ones (mean motion of its moving pixels above LONG_PAIR times
 * the median of pairs i-3 .. i+1): it likely spans an extra tick. On vtest.avi, of the dropped frames whose pair moves
 * 1.1-1.25 times the median, 61% were captured off-centre, above 1.25 times 95%, below 0.9 times
 * none. For such a pair the frame at t is the mean of the frames at t -+ d, d = (2/3) t (1 - t)
 * (1/6 at the midpoint: 1/3 and 2/3), the least-squares answer when both are equally likely. The
 * renderer (warp.c) does this per motion hypothesis, sampling its path at both times, which costs
 * a second set of samples instead of a second render. */
#include "interp/interp.h"
#include "interp/interp_impl.h"
#include <math.h>
#include <stdlib.h>

#define GRID 4          /* track spacing, px */
#define GAIN_MAX 1.5f   /* the least-squares gain was 1.16-1.34 on the footage where it helps */
#define R2_LO 0.05
#define R2_HI 0.15
/* The time hedge needs at least this many measured kept frames behind the pair. (The gain does not:
 * waiting for 4 instead of 1 cost Megamind.avi 100-160 0.30 dB, as its first pairs move most.) */
#define MIN_MEASURED 4
#define LONG_PAIR 1.1f
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

typedef struct { const kn_flow *f, *out; kn_flow *acc; } field_job;

static void field_task(void *arg, int y) {
    const field_job *j = arg;
    int w = j->f->w, h = j->f->h;
    for (int x = 0; x < w; x++) {
        size_t p = (size_t)y * w + x;
        float qx = (float)x + j->out->u[p], qy = (float)y + j->out->v[p];
        /* NaN fails the test too */
        int in = qx >= 0 && qy >= 0 && qx <= (float)(w - 1) && qy <= (float)(h - 1);
        j->acc->u[p] = in ? j->f->u[p] + j->out->u[p] : 0.f;
        j->acc->v[p] = in ? j->f->v[p] + j->out->v[p] : 0.f;
    }
}

void kn_accel_field(const kn_ctx *ctx, const kn_flow *f, const kn_flow *out, kn_flow *acc) {
    field_job j = {f, out, acc};
    kn_interp_run(ctx, f->h, field_task, &j);
}

/* Sums of the stats of n kept frames; returns how many of them were measured. */
static int window_sums(const kn_accel_stats *s, int n, double *ed, double *dd, double *ee) {
    int measured = 0;
    *ed = *dd = *ee = 0;
    for (int i = 0; i < n; i++) {
        *ed += s[i].ed; *dd += s[i].dd; *ee += s[i].ee;
        measured += s[i].dd > 0;
    }
    return measured;
}

float kn_accel_gain(const kn_accel_stats *s, int n) {
    double ed, dd, ee;
    window_sums(s, n, &ed, &dd, &ee);
    if (!(dd > 0) || !(ee > 0)) return 0;
    double gain = -ed / dd, r2 = ed * ed / (dd * ee);
    double ramp = (r2 - R2_LO) / (R2_HI - R2_LO);
    ramp = ramp < 0 ? 0 : ramp > 1 ? 1 : ramp;
    gain = gain < 0 ? 0 : gain > GAIN_MAX ? GAIN_MAX : gain;
    return (float)(gain * ramp);
}

float kn_pair_motion(const kn_flow *f) {
    size_t n = (size_t)f->w * f->h, moving = 0;
    double sum = 0;
    for (size_t p = 0; p < n; p++) {
        float m = sqrtf(f->u[p] * f->u[p] + f->v[p] * f->v[p]);
        if (m > 1.f) { sum += m; moving++; }   /* NaN fails the test */
    }
    return moving ? (float)(sum / (double)moving) : 0.f;
}

static int cmp_float(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

int kn_pair_uneven(const kn_accel_stats *s, int nstats, float gain, const float *motion, int pair, int npairs) {
    double ed, dd, ee;
    if (gain > 0 || window_sums(s, nstats, &ed, &dd, &ee) < MIN_MEASURED) return 0;
    float m[5];
    int nm = 0;
    for (int q = pair - 3; q <= pair + 1; q++)
        if (q >= 0 && q < npairs) m[nm++] = motion[q];
    qsort(m, (size_t)nm, sizeof *m, cmp_float);
    float median = nm % 2 ? m[nm / 2] : 0.5f * (m[nm / 2 - 1] + m[nm / 2]);
    return median > 0 && motion[pair] > LONG_PAIR * median;
}

float kn_time_hedge(float t) { return (2.f / 3.f) * t * (1 - t); }
