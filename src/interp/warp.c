/* Rendering one in-between frame from the two flows.
 * 1. Forward-backward consistency of each flow gives every source pixel a score (inconsistency plus
 *    photometric mismatch) and its visibility in the other frame.
 * 2. Both flows are splatted to time t (bilinear footprint). Per target pixel only candidates within
 *    a margin of the best score are kept: the moving foreground wins over the background it covers,
 *    whose flow is inconsistent there. This gives F_t->0, F_t->1 and visibilities at time t. Given
 *    an acceleration (accel.c), every pixel moves along its bent path instead of the straight one,
 *    here and in the flows read at the pixel in step 4 (a pixel that hardly moves between the two
 *    frames only at a turn that both frames' fields show: path_at).
 * 3. Holes are filled push-pull from coarser scales.
 * 4. Motion hypotheses at each pixel: the splatted flow, no motion, and the forward and backward flows
 *    read at the pixel itself; where even the best of those leaves its two sides disagreeing, also
 *    the splatted flows of eight pixels 12-16 px away. For each, both neighbours are warped
 *    backwards (bilinear samples, or bicubic where kernel.c chose them) and blended by visibility
 *    and distance in time; the hypotheses are then mixed by how well their two warped lumas agree
 *    over a window (bilateral cost). Where the flow is right
 *    the splatted hypothesis dominates; where it fails (fast non-rigid motion, flat regions), the
 *    output hedges toward the hypotheses whose two sides agree, which is what a squared-error-optimal
 *    guess does.
 * Splatting is split by target row band, every band scanning its sources in a fixed order; the other
 * steps are row- or column-parallel, so the output does not depend on the thread count. */
#include "interp/interp.h"
#include "interp/interp_impl.h"
#include <limits.h>
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

/* ---- still parts: copied, not rendered ----
 * Where both frames are the same, byte for byte, over a (2 SAME_R + 1)^2 window, and no source pixel
 * outside such windows lands there at time t, the frame at t shows that same picture, and it is
 * copied. A render would sample both frames at the offsets of every motion hypothesis (over a plain
 * still background the flow is whatever the smoothness left there) and mix them, for the same
 * value give or take a level, at the cost of a moving pixel. The dice of gem-doc's alea.mpg fly
 * over black: 92% of their pixels are the same in both frames.
 * Why the sources that are the same in both frames may be ignored: an object that moves and is
 * the same at some pixel in both frames overlaps itself there (a flat fill), and for a convex
 * object moving straight, every place it passes at time t outside both of its positions is
 * reached from a pixel that it leaves (the object in a, the background in b), which differs.
 * A pixel whose path the acceleration bends (path_at) moves whatever its frames show (the same
 * picture either side of a turn, a pendulum at its end, is not the picture at the turn), unless its
 * window is flat (within FLAT_LEVELS between neighbours): moved there, it shows the same. (On the
 * dice's black the acceleration field is whatever the flows left there, and bends every pair.)
 * Footage whose frames are seldom the same byte for byte (camera noise, a codec that does not copy
 * still blocks) takes the render everywhere, as before. */
#define SAME_R 2
/* px: a bend that moves a pixel further than this makes it count as moving (splat_task) */
#define BEND_MOVES 0.01f
/* levels: a window whose neighbouring pixels differ by no more than this is flat */
#define FLAT_LEVELS 2
enum { SAME = 1, FLAT = 2 };

typedef struct {
    const uint8_t *a, *b;
    uint8_t *near_marks;  /* per pixel: pixel_marks of those within SAME_R in its row, or-ed */
    uint8_t *same;        /* out: SAME where the window is the same in both frames, FLAT where a is flat */
    int w, h;
} same_job;

/* What pixel p shows about its window: DIFFERS, the frames differ there; VARIES, frame a changes by
 * more than FLAT_LEVELS from it to its right or lower neighbour. same_task turns their absence over
 * a window into SAME and FLAT. */
enum { DIFFERS = 1, VARIES = 2 };
static int pixel_marks(const same_job *j, size_t p, int x, int y) {
    const uint8_t *pa = j->a + 3 * p, *pb = j->b + 3 * p;
    int marks = pa[0] != pb[0] || pa[1] != pb[1] || pa[2] != pb[2] ? DIFFERS : 0;
    const uint8_t *r = x + 1 < j->w ? pa + 3 : pa, *d = y + 1 < j->h ? pa + 3 * (size_t)j->w : pa;
    for (int c = 0; c < 3; c++)
        if (abs(r[c] - pa[c]) > FLAT_LEVELS || abs(d[c] - pa[c]) > FLAT_LEVELS) marks |= VARIES;
    return marks;
}

/* near_marks[p]: the marks of the pixels within SAME_R of p in its row, or-ed (a count of each
 * mark slides along the row). The row's own marks go first into its row of `same`, which same_task
 * fills only after every row's near_marks. */
static void near_marks_task(void *arg, int y) {
    const same_job *j = arg;
    int w = j->w, differs = 0, varies = 0;
    size_t row = (size_t)y * w;
    uint8_t *marks = j->same + row;
    for (int x = 0; x < w; x++) marks[x] = (uint8_t)pixel_marks(j, row + x, x, y);
    for (int x = -SAME_R; x < w; x++) {   /* the window of x is [x - SAME_R, x + SAME_R] */
        int in = x + SAME_R, out = x - SAME_R - 1;
        if (in < w) { differs += marks[in] & DIFFERS; varies += !!(marks[in] & VARIES); }
        if (out >= 0) { differs -= marks[out] & DIFFERS; varies -= !!(marks[out] & VARIES); }
        if (x >= 0) j->near_marks[row + x] = (uint8_t)((differs ? DIFFERS : 0) | (varies ? VARIES : 0));
    }
}

static void same_task(void *arg, int y) {
    const same_job *j = arg;
    int w = j->w, y0 = y - SAME_R < 0 ? 0 : y - SAME_R, y1 = y + SAME_R >= j->h ? j->h - 1 : y + SAME_R;
    for (int x = 0; x < w; x++) {
        int marks = 0;
        for (int yy = y0; yy <= y1; yy++) marks |= j->near_marks[(size_t)yy * w + x];
        j->same[(size_t)y * w + x] = (uint8_t)((marks & DIFFERS ? 0 : SAME) | (marks & VARIES ? 0 : FLAT));
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
    int w, h;
    float t;
    const kn_flow *accel[2];   /* acceleration field of each source (kn_accel_field), or NULL */
    float bend[2];             /* gain (s^2 - s) / 2 of each source, s its distance in time */
    float *mu[2], *mv[2];      /* each source pixel's displacement to time t */
    struct splat_cell *cell[2];  /* each source pixel's landing cell (place_task) */
    int *row_lo[2], *row_hi[2];  /* per source row: the target rows its pixels reach (floor of y + mv) */
    const uint8_t *same;         /* per pixel: the same in both frames around it (same_task) */
    uint8_t *moved;              /* out: per target pixel, whether a source pixel that is not lands there */
} splat_job;

/* Where a source pixel lands at time t: the top-left target pixel (x0, y0) of its bilinear footprint
 * and its fractions there, found once and read by all four sweeps of the splat. y0 = NO_CELL where it
 * lands nowhere in the frame (or its flow is NaN). */
typedef struct splat_cell { int x0, y0; float ax, ay; } splat_cell;
#define NO_CELL INT_MIN

#define SPLAT_BAND 32

/* A pixel that moves less than STILL_PX between the two frames is bent only where the other frame's
 * acceleration field shows the same second difference, within a relative mismatch of about
 * 1 / TURN_SHARPNESS (path_at). */
#define STILL_PX 0.25f
#define TURN_SHARPNESS 16.f

/* Where source pixel p of flow f is at time st from its own frame: st f(p), bent (when acc, the
 * source's acceleration field, is given) by bend acc(p) as accel.c says. A pixel that hardly moves
 * between the frames keeps the bend only where `other`, the other frame's field read where the
 * pixel lands there, shows the same second difference: at a turn (the top of a throw) both frames
 * do. At a stop only the frame next to the motion does, and where frames repeat (a webcam inset
 * captured at half the rate, a blinking element) the two fields point opposite ways or differ, and
 * bending would move a picture that both frames show in the same place. Without a field on the
 * other side (a cut, the video's end) nothing confirms a turn. The bend fades in with the pixel's
 * own motion up to STILL_PX. */
static inline void path_at(const kn_flow *f, const kn_flow *acc, const kn_flow *other, float st, float bend,
                           size_t p, float *mu, float *mv) {
    float fu = f->u[p], fv = f->v[p];
    *mu = st * fu; *mv = st * fv;
    if (!acc) return;
    float au = acc->u[p], av = acc->v[p], m2 = fu * fu + fv * fv;
    if (m2 < STILL_PX * STILL_PX) {
        float turn = 0;
        if (other) {
            int w = f->w;
            float x = (float)(p % (size_t)w) + fu, y = (float)(p / (size_t)w) + fv;
            float ou = kn_bilinear(other->u, w, f->h, x, y), ov = kn_bilinear(other->v, w, f->h, x, y);
            float d = (au - ou) * (au - ou) + (av - ov) * (av - ov), s = au * au + av * av + ou * ou + ov * ov;
            turn = s > 0 ? expf(-TURN_SHARPNESS * d / s) : 1.f;
        }
        float k = turn + (1.f - turn) * m2 / (STILL_PX * STILL_PX);
        au *= k; av *= k;
    }
    *mu += bend * au; *mv += bend * av;
}

/* Where every source pixel is at time t (straight, or bent by the acceleration), and the span of
 * target rows each source row reaches, so a band of the splat visits only the rows that land in it. */
static void place_task(void *arg, int y) {
    const splat_job *j = arg;
    int w = j->w;
    for (int src = 0; src < 2; src++) {
        const kn_flow *f = j->f[src], *acc = j->accel[src], *other = j->accel[1 - src];
        float st = src ? 1.f - j->t : j->t, bend = j->bend[src], lo = INFINITY, hi = -INFINITY;
        for (int x = 0; x < w; x++) {
            size_t p = (size_t)y * w + x;
            float mu, mv;
            path_at(f, acc, other, st, bend, p, &mu, &mv);
            j->mu[src][p] = mu; j->mv[src][p] = mv;
            lo = fminf(lo, mv); hi = fmaxf(hi, mv);   /* NaN flows get NO_CELL below */
            float px = x + mu, py = y + mv;
            splat_cell *c = &j->cell[src][p];
            if (py > -1.f && py < (float)j->h && px > -1.f && px < (float)w) {
                c->x0 = (int)floorf(px); c->y0 = (int)floorf(py);
                c->ax = px - (float)c->x0; c->ay = py - (float)c->y0;
            } else {
                c->y0 = NO_CELL;
            }
        }
        float lim = 2.f * (float)j->h;   /* clamped before the conversion (an empty row has +-inf) */
        j->row_lo[src][y] = (int)floorf(fmaxf(-lim, fminf(lim, (float)y + lo)));
        j->row_hi[src][y] = (int)floorf(fmaxf(-lim, fminf(lim, (float)y + hi))) + 1;
    }
}

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
        j->moved[q] = 0;
    }
    for (int pass = 0; pass < 2; pass++)
        for (int src = 0; src < 2; src++) {
            const kn_flow *f = j->f[src];
            const float *score = j->score[src], *vis = j->vis[src];
            const splat_cell *cells = j->cell[src];
            const int bent = j->accel[src] != NULL;
            float st = src ? 1.f - t : t;
            for (int y = 0; y < h; y++) {
                /* a candidate at cell row cy touches rows cy and cy + 1 */
                if (j->row_hi[src][y] < y0 || j->row_lo[src][y] >= y1) continue;
                for (int x = 0; x < w; x++) {
                    size_t p = (size_t)y * w + x;
                    const splat_cell *cell = &cells[p];
                    /* also false for NO_CELL; a cell at row y0 - 1 reaches the band with its lower corners */
                    if (cell->y0 < y0 - 1 || cell->y0 >= y1) continue;
                    float ax = cell->ax, ay = cell->ay, sc = score[p];
                    if (pass == 0) {
                        /* a pixel the bend moves is moving, the same in both frames or not: at a
                         * turn (the top of a throw) the frames either side can be the same */
                        int moving = !(j->same[p] & SAME);
                        if (!moving && bent && !(j->same[p] & FLAT))
                            moving = fabsf(j->mu[src][p] - st * f->u[p]) > BEND_MOVES ||
                                     fabsf(j->mv[src][p] - st * f->v[p]) > BEND_MOVES;
                        for (int k = 0; k < 4; k++) {
                            int qx = cell->x0 + (k & 1), qy = cell->y0 + (k >> 1);
                            if (qx < 0 || qy < y0 || qx >= w || qy >= y1) continue;
                            float wb = ((k & 1) ? ax : 1 - ax) * ((k >> 1) ? ay : 1 - ay);
                            size_t q = (size_t)qy * w + qx;
                            float *a = j->acc + q * A_N;
                            if (wb >= MIN_SPLAT_W && sc < a[A_Z]) a[A_Z] = sc;
                            if (moving && wb > 0) j->moved[q] = 1;
                        }
                        continue;
                    }
                    /* offsets from there back to this source and on to the other frame; c[A_W] = 1
                     * counts the weight and c[A_Z] = 0 leaves the best score as it is */
                    float fu = f->u[p], fv = f->v[p], mu = j->mu[src][p], mv = j->mv[src][p], c[A_N];
                    float bu = bent ? fu - mu : (1 - st) * fu, bv = bent ? fv - mv : (1 - st) * fv;
                    if (!src) { c[T0U] = -mu; c[T0V] = -mv; c[T1U] = bu; c[T1V] = bv; c[VIS0] = 1.f; c[VIS1] = vis[p]; }
                    else { c[T1U] = -mu; c[T1V] = -mv; c[T0U] = bu; c[T0V] = bv; c[VIS1] = 1.f; c[VIS0] = vis[p]; }
                    c[A_W] = 1.f; c[A_Z] = 0.f;
                    for (int k = 0; k < 4; k++) {
                        int qx = cell->x0 + (k & 1), qy = cell->y0 + (k >> 1);
                        if (qx < 0 || qy < y0 || qx >= w || qy >= y1) continue;
                        float wb = ((k & 1) ? ax : 1 - ax) * ((k >> 1) ? ay : 1 - ay);
                        float *a = j->acc + ((size_t)qy * w + qx) * A_N;
                        if (wb > 0 && sc <= a[A_Z] + MARGIN)
                            for (int i = 0; i < A_N; i++) a[i] += wb * c[i];
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

/* ---- mixing motion hypotheses ---- */

enum { H_SPLAT, H_STILL, H_FWD, H_BWD, NBASE, H_NEAR = NBASE, NNEAR = 8, NHYP = H_NEAR + NNEAR };
/* H_NEAR + i: the splatted flow (and visibilities) of the pixel NEAR_OFFSET[i] away. Where the flow at a
 * pixel is wrong (a limb, the edge of a textureless body), a nearby pixel's flow often fits, and the
 * bilateral cost picks it, as the candidate vectors of a block matcher would. They are tried only where
 * even the best of the NBASE hypotheses leaves a windowed cost above NEAR_GATE (the hard parts),
 * which keeps their cost small: about 5% more CPU on the test footage, against 44-72% for trying
 * them everywhere, for the same PSNR within 0.03 dB.
 * On grainy footage every cost is above NEAR_GATE: the 1906 film of python-nbsphinx-doc
 * (Shepard_Calais_1906_FrenchGP.ogv, 218x160) has a floor (the median best cost over the frame) of 8.3
 * levels, and there the nearby hypotheses were tried almost everywhere, for half its render time
 * and 0.016 dB less. So the gate is also NEAR_FLOOR times the frame's floor, whichever is higher:
 * the parts that stand out from what grain and codec leave. */
static const int NEAR_OFFSET[NNEAR][2] = {{-16, 0}, {16, 0}, {0, -16}, {0, 16},
                                          {-12, -12}, {12, -12}, {-12, 12}, {12, 12}};
#define NEAR_GATE 4.0f
#define NEAR_FLOOR 2.0f

/* The bilateral cost is measured on every COST_STEP-th pixel in each direction, averaged over a
 * (2 COST_RADIUS + 1)^2 window of that grid (about 10x10 pixels) and read back bilinearly: it is a
 * smooth, windowed quantity, and full resolution cost 4x the time for the same PSNR (within 0.01 dB on
 * the segments below). */
#define COST_STEP 2
#define COST_RADIUS 2
/* A hypothesis with less than this share of the best one's weight is skipped (two samples saved). */
#define MIN_SHARE 0.02f
/* exp(-SKIP_D) is below MIN_SHARE (0.0183 < 0.02), so a hypothesis whose scaled cost is further than
 * this above the best one's is skipped before its weight is computed. */
#define SKIP_D 4.0f
/* Hypotheses pointing within this distance (px) of each other reuse one sample. */
#define SAME_PX 0.05f
/* Weight of hypothesis k: prior_k * exp(-(C_k - C_min) / (COST_SOFT + C_min)), with C the windowed mean
 * |luma difference| of its two warped frames. The scale grows with the best cost: where even the best
 * hypothesis leaves its two sides disagreeing, none is trusted much and they are averaged. Measured on
 * segments of vtest.avi, tree.avi, Megamind.avi and box.mp4 (frames 100-160 / 0-66 / 100-160 /
 * 120-180): +0.25, +0.05, +0.03 and +0.04 dB over the splatted hypothesis alone. */
#define COST_SOFT 2.0f
#define ALT_PRIOR 0.5f

typedef struct {
    const uint8_t *a, *b;
    const float *ya, *yb;
    float *const *ch;            /* splatted flow at time t and visibilities */
    const kn_flow *f01, *f10;
    float *cost[NHYP];           /* per pixel of the cost grid, then window means */
    uint8_t *gate;               /* per grid point: the best base hypothesis' windowed cost > near_gate */
    float near_gate;
    uint8_t *near;               /* the gate dilated by the window: nearby hypotheses' costs measured */
    uint8_t *out;
    int w, h, cw, chh;
    float t;
    const kn_flow *accel[2];     /* as in splat_job: the flows read at the pixel bend the same way */
    float bend[2];
    const float *mu[2], *mv[2];  /* splat_job's: where each source's pixels are at t (place_task) */
    float hedge;                 /* > 0: each hypothesis rendered at t -+ hedge along its path, averaged */
    int cubic;                   /* nonzero: bicubic samples of the frames (kernel.c), else bilinear */
    int avx2;                    /* bicubic samples two rows of taps at a time (sample_avx2.c), the same */
    const kn_fade *fade;         /* a fade's brightness map (fade.c), or NULL */
    const uint8_t *same, *moved;    /* as splat_job's: copied where same and not moved */
} mix_job;

/* Offsets to frames a (T[0], T[1]) and b (T[2], T[3]) and visibilities of hypothesis k at pixel p. */
static void hypothesis(const mix_job *j, int k, size_t p, float T[4], float V[2]) {
    V[0] = V[1] = 1.f;
    if (k >= H_NEAR) {   /* a nearby pixel's splatted flow */
        int x = kn_clampi((int)(p % j->w) + NEAR_OFFSET[k - H_NEAR][0], 0, j->w - 1);
        int y = kn_clampi((int)(p / j->w) + NEAR_OFFSET[k - H_NEAR][1], 0, j->h - 1);
        p = (size_t)y * j->w + x;
        k = H_SPLAT;
    }
    switch (k) {
    case H_SPLAT:
        for (int i = 0; i < 4; i++) T[i] = j->ch[T0U + i][p];
        V[0] = j->ch[VIS0][p]; V[1] = j->ch[VIS1][p];
        break;
    case H_STILL: T[0] = T[1] = T[2] = T[3] = 0; break;
    case H_FWD: {   /* path_at as place_task found it for source 0 */
        float fu = j->f01->u[p], fv = j->f01->v[p], mu = j->mu[0][p], mv = j->mv[0][p];
        T[0] = -mu; T[1] = -mv; T[2] = fu - mu; T[3] = fv - mv;
        break; }
    default: {
        float gu = j->f10->u[p], gv = j->f10->v[p], mu = j->mu[1][p], mv = j->mv[1][p];
        T[0] = gu - mu; T[1] = gv - mv; T[2] = -mu; T[3] = -mv;
        break; }
    }
}

/* Raw cost of hypotheses k0..k1-1 at grid point g (pixel x, y). A hypothesis pointing where an earlier
 * one of the same range points has the same cost and is not measured again. */
static void grid_costs(const mix_job *j, int k0, int k1, int x, int y, size_t g) {
    size_t p = (size_t)y * j->w + x;
    float prev[NHYP][4];
    for (int k = k0; k < k1; k++) {
        float T[4], V[2];
        hypothesis(j, k, p, T, V);
        int same = -1;
        for (int i = k0; i < k && same < 0; i++)
            if (fabsf(prev[i][0] - T[0]) < SAME_PX && fabsf(prev[i][1] - T[1]) < SAME_PX &&
                fabsf(prev[i][2] - T[2]) < SAME_PX && fabsf(prev[i][3] - T[3]) < SAME_PX) same = i;
        for (int i = 0; i < 4; i++) prev[k][i] = T[i];
        if (same >= 0) { j->cost[k][g] = j->cost[same][g]; continue; }
        float d = kn_bilinear(j->ya, j->w, j->h, x + T[0], y + T[1]) -
                  kn_bilinear(j->yb, j->w, j->h, x + T[2], y + T[3]);
        j->cost[k][g] = fabsf(d);
    }
}

/* One band of grid rows: the base hypotheses everywhere, or (near_pass) the nearby ones where
 * j->near is set (the only points the gated window means read). */
static void grid_band(const mix_job *j, int task, int near_pass) {
    int w = j->w, h = j->h, cw = j->cw, y1 = (task + 1) * BAND < j->chh ? (task + 1) * BAND : j->chh;
    for (int gy = task * BAND; gy < y1; gy++)
        for (int gx = 0; gx < cw; gx++) {
            int x = gx * COST_STEP < w ? gx * COST_STEP : w - 1, y = gy * COST_STEP < h ? gy * COST_STEP : h - 1;
            size_t g = (size_t)gy * cw + gx;
            if (!near_pass) grid_costs(j, 0, NBASE, x, y, g);
            else if (j->near[g]) grid_costs(j, H_NEAR, NHYP, x, y, g);
        }
}
static void base_cost_task(void *arg, int task) { grid_band(arg, task, 0); }
static void near_cost_task(void *arg, int task) { grid_band(arg, task, 1); }

/* The cost window around grid index c, clipped to [0, n). */
static void window_bounds(int c, int n, int *lo, int *hi) {
    *lo = c - COST_RADIUS < 0 ? 0 : c - COST_RADIUS;
    *hi = c + COST_RADIUS >= n ? n - 1 : c + COST_RADIUS;
}

/* The best base hypothesis' windowed cost at grid point g. */
static float best_base(const mix_job *j, size_t g) {
    float c = j->cost[0][g];
    for (int k = 1; k < NBASE; k++) c = fminf(c, j->cost[k][g]);
    return c;
}

/* gate: where the best base hypothesis still leaves its two sides disagreeing; near: the gate
 * dilated by the cost window, the points whose raw costs the gated window means read. */
static void gate_task(void *arg, int gy) {
    const mix_job *j = arg;
    for (int gx = 0; gx < j->cw; gx++) {
        size_t g = (size_t)gy * j->cw + gx;
        j->gate[g] = best_base(j, g) > j->near_gate;
    }
}

/* The median over the grid of the best base hypothesis' windowed cost: the frame's floor (grain and
 * codec error that no motion removes), from a histogram of FLOOR_BIN-level bins (one thread: a
 * pass over a quarter of the pixels' worth of grid points). */
#define FLOOR_BIN 0.125f
#define FLOOR_BINS 512
static float cost_floor(const mix_job *j) {
    unsigned hist[FLOOR_BINS] = {0};
    size_t n = (size_t)j->cw * j->chh, half = n / 2, seen = 0;
    for (size_t g = 0; g < n; g++) {
        float c = best_base(j, g);
        int b = c < FLOOR_BIN * (FLOOR_BINS - 1) ? (int)(c / FLOOR_BIN) : FLOOR_BINS - 1;   /* NaN: bin 0 */
        hist[b < 0 ? 0 : b]++;
    }
    for (int b = 0; b < FLOOR_BINS; b++)
        if ((seen += hist[b]) > half) return (b + 0.5f) * FLOOR_BIN;
    return 0;
}
static void dilate_task(void *arg, int gy) {
    const mix_job *j = arg;
    int cw = j->cw, y0, y1, x0, x1;
    window_bounds(gy, j->chh, &y0, &y1);
    for (int gx = 0; gx < cw; gx++) {
        window_bounds(gx, cw, &x0, &x1);
        uint8_t any = 0;
        for (int y = y0; y <= y1 && !any; y++)
            for (int x = x0; x <= x1 && !any; x++) any = j->gate[(size_t)y * cw + x];
        j->near[(size_t)gy * cw + gx] = any;
    }
}
/* Window means of the nearby hypotheses' raw costs, at gated grid points only (direct sums there
 * cost less than a separable box filter over the whole grid), into mean[]. */
typedef struct { const mix_job *j; float *mean[NNEAR]; } near_mean_job;

static void near_mean_task(void *arg, int gy) {
    const near_mean_job *m = arg;
    const mix_job *j = m->j;
    int cw = j->cw, y0, y1, x0, x1;
    window_bounds(gy, j->chh, &y0, &y1);
    for (int gx = 0; gx < cw; gx++) {
        size_t g = (size_t)gy * cw + gx;
        if (!j->gate[g]) continue;
        window_bounds(gx, cw, &x0, &x1);
        float inv = 1.f / (float)((y1 - y0 + 1) * (x1 - x0 + 1));
        for (int q = 0; q < NNEAR; q++) {
            const float *c = j->cost[H_NEAR + q];
            float acc = 0;
            for (int y = y0; y <= y1; y++)
                for (int x = x0; x <= x1; x++) acc += c[(size_t)y * cw + x];
            m->mean[q][g] = acc * inv;
        }
    }
}

/* Window mean (clipped at the borders) of np planes in place: rows into tmp, then columns back. */
typedef struct { float *const *plane; int np; float *tmp; int w, h, r; } box_job;

static void box_rows_task(void *arg, int y) {
    const box_job *j = arg;
    int w = j->w, r = j->r;
    for (int q = 0; q < j->np; q++) {
        const float *s = j->plane[q] + (size_t)y * w;
        float *d = j->tmp + ((size_t)q * j->h + y) * w;
        double acc = 0;
        int cnt = 0;
        for (int x = 0; x < r && x < w; x++) { acc += s[x]; cnt++; }
        for (int x = 0; x < w; x++) {
            if (x + r < w) { acc += s[x + r]; cnt++; }
            if (x - r - 1 >= 0) { acc -= s[x - r - 1]; cnt--; }
            d[x] = (float)(acc / cnt);
        }
    }
}

#define BOX_COLS 64
static void box_cols_task(void *arg, int task) {
    const box_job *j = arg;
    int w = j->w, h = j->h, r = j->r, x1 = (task + 1) * BOX_COLS < w ? (task + 1) * BOX_COLS : w;
    for (int q = 0; q < j->np; q++) {
        const float *s = j->tmp + (size_t)q * h * w;
        float *d = j->plane[q];
        for (int x = task * BOX_COLS; x < x1; x++) {
            double acc = 0;
            int cnt = 0;
            for (int y = 0; y < r && y < h; y++) { acc += s[(size_t)y * w + x]; cnt++; }
            for (int y = 0; y < h; y++) {
                if (y + r < h) { acc += s[(size_t)(y + r) * w + x]; cnt++; }
                if (y - r - 1 >= 0) { acc -= s[(size_t)(y - r - 1) * w + x]; cnt--; }
                d[(size_t)y * w + x] = (float)(acc / cnt);
            }
        }
    }
}

/* Samples frame im at (x, y) into out, reusing an earlier sample of this pixel when a hypothesis
 * points at the same place (within SAME_PX): on still or uniformly moving parts the hypotheses
 * coincide, and sampling each once is most of the saving. */
typedef struct { float x, y, rgb[3]; } sample_memo;

static void sample_rgb(const mix_job *j, const uint8_t *im, float x, float y, float out[3]) {
    if (!j->cubic) kn_bilinear_rgb(im, j->w, j->h, x, y, out);
    else if (j->avx2) kn_bicubic_rgb_avx2(im, j->w, j->h, x, y, out);
    else kn_bicubic_rgb(im, j->w, j->h, x, y, out);
}

static void sample_once(const mix_job *j, const uint8_t *im, float x, float y, sample_memo *memo, int *nmemo,
                        float out[3]) {
    for (int i = 0; i < *nmemo; i++)
        if (fabsf(memo[i].x - x) < SAME_PX && fabsf(memo[i].y - y) < SAME_PX) {
            for (int c = 0; c < 3; c++) out[c] = memo[i].rgb[c];
            return;
        }
    sample_rgb(j, im, x, y, out);
    sample_memo *m = &memo[(*nmemo)++];
    m->x = x; m->y = y;
    for (int c = 0; c < 3; c++) m->rgb[c] = out[c];
}

/* Adds hypothesis (T, V)'s blend of both neighbours at time t + dt, with weight `share`, to acc. At
 * dt != 0 the same path passes the pixel from dt * its motion further back. The base hypotheses often
 * point at the same places and share samples through the memos; the nearby ones (tried only where
 * the base ones fail) seldom do, and sample directly (ma, mb NULL), which saves the memo search. */
static void add_blend(const mix_job *j, int x, int y, const float T[4], const float V[2], float dt, float share,
                      sample_memo *ma, int *na, sample_memo *mb, int *nb, float acc[3]) {
    float ax = x + T[0], ay = y + T[1], bx = x + T[2], by = y + T[3], c0[3], c1[3];
    if (dt != 0) {
        float mu = T[2] - T[0], mv = T[3] - T[1];
        ax -= dt * mu; ay -= dt * mv; bx -= dt * mu; by -= dt * mv;
    }
    if (ma) {
        sample_once(j, j->a, ax, ay, ma, na, c0);
        sample_once(j, j->b, bx, by, mb, nb, c1);
    } else {
        sample_rgb(j, j->a, ax, ay, c0);
        sample_rgb(j, j->b, bx, by, c1);
    }
    float tt = j->t + dt, w0 = (1 - tt) * (V[0] + VIS_FLOOR), w1 = tt * (V[1] + VIS_FLOOR), inv = share / (w0 + w1);
    if (j->fade) {   /* lean toward a only by what the fade leaves of c0 - c1 (fade.c) */
        const kn_fade *f = j->fade;
        float lean = w0 / (w0 + w1) - (1 - tt);
        for (int c = 0; c < 3; c++)
            acc[c] += (w0 * c0[c] + w1 * c1[c]) * inv - share * lean * ((1 - f->gain[c]) * c0[c] - f->offset[c]);
        return;
    }
    for (int c = 0; c < 3; c++) acc[c] += (w0 * c0[c] + w1 * c1[c]) * inv;
}

static void mix_task(void *arg, int task) {
    const mix_job *j = arg;
    int w = j->w, h = j->h, y1 = (task + 1) * BAND < h ? (task + 1) * BAND : h;
    for (int y = task * BAND; y < y1; y++)
        for (int x = 0; x < w; x++) {
            size_t p = (size_t)y * w + x;
            if ((j->same[p] & SAME) && !j->moved[p]) {   /* the same picture in both frames, nothing passing */
                for (int c = 0; c < 3; c++) j->out[p * 3 + c] = j->a[p * 3 + c];
                continue;
            }
            float cost[NHYP], cmin = INFINITY;
            /* every plane is read at the same grid position: its corners and fractions found once */
            kn_bilinear_at at = kn_bilinear_where(j->cw, j->chh, (float)x / COST_STEP, (float)y / COST_STEP);
            /* the nearby hypotheses where all four grid points around the pixel are gated */
            const uint8_t *g = j->gate;
            int nk = g[at.i00] && g[at.i01] && g[at.i10] && g[at.i11] ? NHYP : NBASE;
            for (int k = 0; k < nk; k++) {
                cost[k] = kn_bilinear_read(j->cost[k], &at);
                cmin = fminf(cmin, cost[k]);
            }
            float scale = 1.f / (COST_SOFT + cmin), acc[3] = {0, 0, 0}, wsum = 0;
            sample_memo ma[2 * NBASE], mb[2 * NBASE];
            int na = 0, nb = 0;
            for (int k = 0; k < nk; k++) {
                /* exp(-d) < MIN_SHARE at d > SKIP_D whatever the prior: skipped without the exp */
                float d = (cost[k] - cmin) * scale;
                if (d > SKIP_D) continue;
                float wk = (k == H_SPLAT ? 1.f : ALT_PRIOR) * (d == 0 ? 1.f : expf(-d));
                if (wk < MIN_SHARE) continue;
                /* both neighbours warped backwards, blended by visibility and distance in time */
                float T[4], V[2];
                hypothesis(j, k, p, T, V);
                sample_memo *ka = k < NBASE ? ma : NULL, *kb = k < NBASE ? mb : NULL;
                if (j->hedge > 0) {   /* the mean of the renders at t -+ hedge, along this path */
                    add_blend(j, x, y, T, V, -j->hedge, 0.5f * wk, ka, &na, kb, &nb, acc);
                    add_blend(j, x, y, T, V, j->hedge, 0.5f * wk, ka, &na, kb, &nb, acc);
                } else {
                    add_blend(j, x, y, T, V, 0, wk, ka, &na, kb, &nb, acc);
                }
                wsum += wk;
            }
            for (int c = 0; c < 3; c++) {   /* wsum > 0: the best hypothesis has weight >= ALT_PRIOR */
                float v = acc[c] / wsum + 0.5f;
                j->out[p * 3 + c] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
            }
        }
}

/* The frame at sj's time from the hypotheses: sj holds the flows, the splatted flow and where each
 * source's pixels are at that time. */
static kn_status mix_hypotheses(const kn_ctx *ctx, const uint8_t *a, const uint8_t *b, const float *ya,
                                const float *yb, const splat_job *sj, float hedge, int cubic, const kn_fade *fade,
                                kn_interp_ws *ws, uint8_t *out, kn_error *err) {
    int w = sj->w, h = sj->h, cw = (w + COST_STEP - 1) / COST_STEP, chh = (h + COST_STEP - 1) / COST_STEP;
    size_t n = (size_t)cw * chh;
    float *mem = kn_ws_get(ws, n * 2 * NHYP * sizeof *mem + 2 * n);
    if (!mem) return kn_fail(err, KN_ENOMEM, "interp: out of memory rendering a %dx%d frame", w, h);
    uint8_t *masks = (uint8_t *)(mem + n * 2 * NHYP);
    mix_job j = {.a = a, .b = b, .ya = ya, .yb = yb, .ch = sj->ch, .f01 = sj->f[0], .f10 = sj->f[1], .gate = masks,
                 .near = masks + n, .out = out, .w = w, .h = h, .cw = cw, .chh = chh, .t = sj->t, .hedge = hedge,
                 .cubic = cubic, .avx2 = ctx && ctx->isa >= KN_ISA_AVX2, .fade = fade, .same = sj->same,
                 .moved = sj->moved};
    for (int s = 0; s < 2; s++) {
        j.accel[s] = sj->accel[s]; j.bend[s] = sj->bend[s]; j.mu[s] = sj->mu[s]; j.mv[s] = sj->mv[s];
    }
    for (int k = 0; k < NHYP; k++) j.cost[k] = mem + k * n;
    int bands = (chh + BAND - 1) / BAND, col_tasks = (cw + BOX_COLS - 1) / BOX_COLS;
    /* the base hypotheses' window means decide where the nearby ones are tried */
    kn_interp_run(ctx, bands, base_cost_task, &j);
    box_job bj = {j.cost, NBASE, mem + NHYP * n, cw, chh, COST_RADIUS};
    kn_interp_run(ctx, chh, box_rows_task, &bj);
    kn_interp_run(ctx, col_tasks, box_cols_task, &bj);
    j.near_gate = fmaxf(NEAR_GATE, NEAR_FLOOR * cost_floor(&j));
    kn_interp_run(ctx, chh, gate_task, &j);
    kn_interp_run(ctx, chh, dilate_task, &j);
    kn_interp_run(ctx, bands, near_cost_task, &j);
    near_mean_job nm = {&j, {0}};
    for (int q = 0; q < NNEAR; q++) nm.mean[q] = mem + (NHYP + q) * n;   /* the box's scratch, free now */
    kn_interp_run(ctx, chh, near_mean_task, &nm);
    for (int q = 0; q < NNEAR; q++) j.cost[H_NEAR + q] = nm.mean[q];
    kn_interp_run(ctx, (h + BAND - 1) / BAND, mix_task, &j);
    kn_ws_put(ws, mem);
    return KN_OK;
}

/* The frame at time t from the pair's consistency (score and visibility of each source, cons_task). */
static kn_status render_one(const kn_ctx *ctx, const uint8_t *a, const uint8_t *b, const float *ya, const float *yb,
                            int w, int h, const kn_flow *f01, const kn_flow *f10, float *const score[2],
                            float *const vis[2], const uint8_t *same, const kn_pair_hints *hints, float t,
                            kn_interp_ws *ws, uint8_t *out, kn_error *err) {
    size_t n = (size_t)w * h;
    enum { WS, MU0, MV0, MU1, MV1, NEXTRA };
    float *mem = kn_ws_get(ws, n * (NCH + NEXTRA) * sizeof *mem);
    float *acc = kn_ws_get(ws, n * A_N * sizeof *acc);
    int *rows = kn_ws_get(ws, (size_t)h * 4 * sizeof *rows);
    splat_cell *cells = kn_ws_get(ws, n * 2 * sizeof *cells);
    uint8_t *moved = kn_ws_get(ws, n);
    if (!mem || !acc || !rows || !cells || !moved) {
        kn_ws_put(ws, mem); kn_ws_put(ws, acc); kn_ws_put(ws, rows); kn_ws_put(ws, cells); kn_ws_put(ws, moved);
        return kn_fail(err, KN_ENOMEM, "interp: out of memory rendering a %dx%d frame", w, h);
    }
    float *x[NEXTRA];
    for (int i = 0; i < NEXTRA; i++) x[i] = mem + n * (NCH + i);
    splat_job sj = {{f01, f10}, {score[0], score[1]}, {vis[0], vis[1]}, acc, {0}, x[WS], w, h, t, {NULL, NULL},
                    {0, 0}, {x[MU0], x[MU1]}, {x[MV0], x[MV1]}, {cells, cells + n}, {rows, rows + h},
                    {rows + 2 * h, rows + 3 * h}, same, moved};
    if (hints && hints->gain > 0) {
        for (int s = 0; s < 2; s++) {
            float st = s ? 1 - t : t;
            if (!hints->acc[s]) continue;
            sj.accel[s] = hints->acc[s];
            sj.bend[s] = hints->gain * (st * st - st) / 2;
        }
    }
    for (int i = 0; i < NCH; i++) sj.ch[i] = mem + n * i;
    kn_interp_run(ctx, h, place_task, &sj);
    kn_interp_run(ctx, (h + SPLAT_BAND - 1) / SPLAT_BAND, splat_task, &sj);
    kn_ws_put(ws, acc); kn_ws_put(ws, rows); kn_ws_put(ws, cells);
    float **chs = sj.ch;
    kn_status st = fill_holes(chs, x[WS], w, h, ws, err);
    if (!st) st = mix_hypotheses(ctx, a, b, ya, yb, &sj, hints && hints->hedged ? kn_time_hedge(t) : 0,
                                 hints && hints->cubic,
                                 hints && hints->fade && hints->fade->is_fade ? hints->fade : NULL, ws, out, err);
    kn_ws_put(ws, mem);
    kn_ws_put(ws, moved);
    return st;
}

kn_status kn_interp_render_ws(const kn_ctx *ctx, const uint8_t *a, const uint8_t *b, const float *ya,
                              const float *yb, int w, int h, const kn_flow *f01, const kn_flow *f10,
                              const kn_pair_hints *hints, const float *ts, int nt, kn_interp_ws *ws,
                              uint8_t *const *outs, kn_error *err) {
    size_t n = (size_t)w * h;
    float *cons = NULL;   /* score and visibility of both sources: the same at every t, so found once */
    uint8_t *same = NULL;   /* where the frames are the same (same_task): the same at every t too */
    kn_status st = KN_OK;
    for (int i = 0; !st && i < nt; i++) {
        if (!(ts[i] > 0)) { memcpy(outs[i], a, n * 3); continue; }
        if (!(ts[i] < 1)) { memcpy(outs[i], b, n * 3); continue; }
        if (!cons) {
            cons = kn_ws_get(ws, n * 4 * sizeof *cons);
            same = kn_ws_get(ws, 2 * n);
            if (!cons || !same) {
                kn_ws_put(ws, cons); kn_ws_put(ws, same);
                return kn_fail(err, KN_ENOMEM, "interp: out of memory rendering a %dx%d frame", w, h);
            }
            same_job sm = {a, b, same + n, same, w, h};
            kn_interp_run(ctx, h, near_marks_task, &sm);
            kn_interp_run(ctx, h, same_task, &sm);
            int nb = (h + BAND - 1) / BAND;
            cons_job c0 = {f01, f10, ya, yb, cons, cons + n, w, h};
            cons_job c1 = {f10, f01, yb, ya, cons + 2 * n, cons + 3 * n, w, h};
            kn_interp_run(ctx, nb, cons_task, &c0);
            kn_interp_run(ctx, nb, cons_task, &c1);
        }
        float *score[2] = {cons, cons + 2 * n}, *vis[2] = {cons + n, cons + 3 * n};
        st = render_one(ctx, a, b, ya, yb, w, h, f01, f10, score, vis, same, hints, ts[i], ws, outs[i], err);
    }
    kn_ws_put(ws, cons);
    kn_ws_put(ws, same);
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
        st = kn_interp_render_ws(ctx, a, b, ya, yb, w, h, f01, f10, NULL, &t, 1, &ws, &out, err);
    }
    kn_ws_free(&ws);
    return st;
}
