/* Pair and whole-video interpolation on top of flow.c (estimation), warp.c (rendering) and accel.c
 * (acceleration and the time hedge, for whole videos of 7 frames and more, whose pairs are taken in
 * order with the flows of six of them held), and the scene-cut test. */
#include "interp/interp.h"
#include "interp/interp_impl.h"
#include "io/media.h"
#include <math.h>
#include <assert.h>
#include <limits.h>
#include <stdlib.h>

/* The scene-cut test's two measures, split by rows (of pixels, then of blocks) over ctx->pool; the
 * per-row counts are summed in row order. */
typedef struct {
    const float *g0, *g1;
    const kn_flow *f, *g;
    int bs;
    int *changed, *bad, *textured, *good;   /* per pixel row, twice; per block row, twice */
} cut_job;

/* Pixels of row y that changed in place by more than CUT_CHANGE luma levels. */
#define CUT_CHANGE 10.f
static void changed_task(void *arg, int y) {
    const cut_job *j = arg;
    int w = j->f->w, changed = 0;
    const float *r0 = j->g0 + (size_t)y * w, *r1 = j->g1 + (size_t)y * w;
    for (int x = 0; x < w; x++) changed += fabsf(r1[x] - r0[x]) > CUT_CHANGE;
    j->changed[y] = changed;
}

/* Pixels of row y whose forward and backward flows disagree (same tolerance as the visibility). */
static void inconsistent_task(void *arg, int y) {
    const cut_job *j = arg;
    const kn_flow *f = j->f, *g = j->g;
    int w = f->w, h = f->h, bad = 0;
    for (int x = 0; x < w; x++) {
        size_t p = (size_t)y * w + x;
        float fu = f->u[p], fv = f->v[p];
        float gu = kn_bilinear(g->u, w, h, x + fu, y + fv), gv = kn_bilinear(g->v, w, h, x + fu, y + fv);
        float e = (fu + gu) * (fu + gu) + (fv + gv) * (fv + gv);
        bad += e > 1.f + 0.05f * (fu * fu + fv * fv + gu * gu + gv * gv);
    }
    j->bad[y] = bad;
}

/* Textured blocks of block row r, and how many of them still correlate (ZNCC > 0.5) with g1 warped
 * by f. */
static void zncc_task(void *arg, int r) {
    const cut_job *j = arg;
    const kn_flow *f = j->f;
    int w = f->w, h = f->h, bs = j->bs, by = r * bs, textured = 0, good = 0;
    for (int bx = 0; bx + bs <= w; bx += bs) {
        double s0 = 0, s1 = 0, s00 = 0, s11 = 0, s01 = 0;
        for (int y = by; y < by + bs; y++)
            for (int x = bx; x < bx + bs; x++) {
                size_t p = (size_t)y * w + x;
                double a = j->g0[p], b = kn_bilinear(j->g1, w, h, x + f->u[p], y + f->v[p]);
                s0 += a; s1 += b; s00 += a * a; s11 += b * b; s01 += a * b;
            }
        double n = (double)bs * bs;
        double v0 = s00 / n - (s0 / n) * (s0 / n), v1 = s11 / n - (s1 / n) * (s1 / n);
        if (v0 < 4 || v1 < 4) continue;   /* flat blocks say nothing */
        textured++;
        double zncc = (s01 / n - (s0 / n) * (s1 / n)) / sqrt(v0 * v1);
        good += zncc > 0.5;
    }
    j->textured[r] = textured;
    j->good[r] = good;
}

/* kn_interp_is_cut on ctx->pool; -1 when out of memory.
 * A new shot replaces most of the picture, so a pair whose frames are mostly the same in place is
 * not a cut, whatever its flows say. Without this, small objects moving far over a plain still
 * background were taken for cuts: the flows wander over the plain parts (every flow fits there) and
 * disagree on most pixels, and where the objects' flow fails their blocks no longer correlate.
 * Renders of tumbling dice, of two discs and of planets as dots (Debian's gem-doc alea.mpg,
 * psychtoolbox DualDiscs.mov, python3-mecavideo retroMars2018.avi; 121 frames) had 6, 2 and 9 of
 * their pairs repeated, and gained 0.86, 1.94 and 2.02 dB without them. Measured as the share of
 * pixels that change by more than 10 levels: at most 0.06 on those pairs, 0.50 at the cut of
 * Effet_force_magnetique.ogv, where a title card and a ruler leave a table whose borders stay. A
 * real cut between two shots that agree in place on four fifths of the picture is blended instead
 * of repeated, and such shots differ little anyway. The same holds after the pair's brightness map
 * (fade.c): a fade changes most pixels in place, and over plain parts its flows disagree, but the
 * map explains it (unexplained: the share of pixels it leaves off; 1 when not fitted). */
#define CUT_MIN_CHANGED 0.2
static int is_cut(const kn_ctx *ctx, const kn_interp_opts *o, const float *g0, const float *g1, const kn_flow *f,
                  const kn_flow *g, double unexplained) {
    if (unexplained < CUT_MIN_CHANGED) return 0;
    int w = f->w, h = f->h, bs = (w < h ? w : h) >= 64 ? 16 : 8, nrows = h / bs;
    int *counts = malloc(sizeof *counts * (2 * (size_t)h + 2 * (size_t)nrows + 2));
    if (!counts) return -1;
    cut_job j = {g0, g1, f, g, bs, counts, counts + h, counts + 2 * h, counts + 2 * h + nrows + 1};
    kn_interp_run(ctx, h, changed_task, &j);
    size_t changed = 0;
    for (int y = 0; y < h; y++) changed += (size_t)j.changed[y];
    if ((double)changed < CUT_MIN_CHANGED * ((double)w * h)) {
        free(counts);
        return 0;
    }
    int cut = 0;
    if (g) {   /* unrelated frames: the two flows cannot agree (a flow can fit smooth content, both cannot) */
        kn_interp_run(ctx, h, inconsistent_task, &j);
        size_t bad = 0;
        for (int y = 0; y < h; y++) bad += (size_t)j.bad[y];
        cut = (double)bad / ((double)w * h) > 0.6;
    }
    if (!cut) {
        kn_interp_run(ctx, nrows, zncc_task, &j);
        int textured = 0, good = 0;
        for (int r = 0; r < nrows; r++) { textured += j.textured[r]; good += j.good[r]; }
        cut = textured >= 4 && (double)good < o->cut_threshold * textured;
    }
    free(counts);
    return cut;
}

int kn_interp_is_cut(const kn_interp_opts *o, const float *g0, const float *g1, const kn_flow *f,
                     const kn_flow *g) {
    return is_cut(NULL, o, g0, g1, f, g, 1.0) > 0;
}

/* Frames at ts between a and b from their flows (cut: the pair is a scene cut). */
static kn_status render_times(const kn_ctx *ctx, const uint8_t *a, const uint8_t *b, const float *g0,
                              const float *g1, int w, int h, const kn_flow *f01, const kn_flow *f10, int cut,
                              const kn_pair_hints *hints, const float *ts, int nt, uint8_t **outs, kn_interp_ws *ws,
                              kn_error *err) {
    if (!cut) return kn_interp_render_ws(ctx, a, b, g0, g1, w, h, f01, f10, hints, ts, nt, ws, outs, err);
    /* the new shot starts at b's time, so a frame at the midpoint (a tie) still shows a's shot, as
     * ffmpeg's minterpolate does */
    for (int i = 0; i < nt; i++) memcpy(outs[i], ts[i] <= 0.5f ? a : b, (size_t)w * h * 3);
    return KN_OK;
}

/* The flow the other way that f predicts, its gaps filled: -f carried to where f's pixels land.
 * Where a moving object's flow is not integral the carried pixels leave gaps of a pixel or two, and
 * a patch centred in one had no candidate (the dice: 23.38 -> 23.67 dB with the gaps filled,
 * eval-interp). */
#define GAP_REACH 2
static void carried(const kn_ctx *ctx, const kn_flow *f, kn_flow *out, float *su, float *sv) {
    kn_flow_reverse(f, out);
    kn_flow_fill_gaps(ctx, out, GAP_REACH, su, sv);
}

/* The flows of a pair, g0 to g1 into fwd and back into bwd (from ws). before_b, before_f: the
 * backward and forward flows of the pair before (from g0 back to the frame before it, and from that
 * frame to g0), or NULL. With them and o->flow_candidates, each flow also searches from the motion
 * of the pair before at constant velocity, read two ways: the forward flow from -before_b and from
 * before_f carried to g0, the backward flow from both of those carried on to g1 and reversed. The
 * two readings differ where one of them went wrong (a die matched to its look-alike) or where the
 * carried flow has no value (disocclusions): the dice gave 25.01 dB with both, 24.44 with the first
 * only (eval-interp), and 6 other clips moved by -0.01..+0.01. (The reverse of the pair's own
 * forward flow, tried as the backward flow's candidate, made unrelated smooth frames' flows agree,
 * which is what tells a cut.) */
static kn_status pair_flows(const kn_ctx *ctx, const kn_interp_opts *o, const float *g0, const float *g1, int w,
                            int h, const kn_flow *before_b, const kn_flow *before_f, kn_interp_ws *ws,
                            kn_flow *fwd, kn_flow *bwd, kn_error *err) {
    size_t n = (size_t)w * h;
    kn_flow cf[2], cb[2];
    float *buf[10] = {0};   /* with candidates: cf[0], cb[0], cf[1], cb[1] (u, v each), then scratch u, v */
    int nc = before_b && before_f && o->flow_candidates ? 2 : 0;
    kn_status st = KN_OK;
    for (int i = 0; i < (nc ? 10 : 0) && !st; i++)
        if (!(buf[i] = kn_ws_get(ws, n * sizeof(float))))
            st = kn_fail(err, KN_ENOMEM, "interp: out of memory for %dx%d flows", w, h);
    if (nc && !st) {
        for (int i = 0; i < 2; i++) {
            cf[i] = (kn_flow){w, h, buf[4 * i], buf[4 * i + 1]};
            cb[i] = (kn_flow){w, h, buf[4 * i + 2], buf[4 * i + 3]};
        }
        float *su = buf[8], *sv = buf[9];
        for (size_t i = 0; i < n; i++) { cf[0].u[i] = -before_b->u[i]; cf[0].v[i] = -before_b->v[i]; }
        carried(ctx, before_f, &cf[1], su, sv);
        for (size_t i = 0; i < n; i++) { cf[1].u[i] = -cf[1].u[i]; cf[1].v[i] = -cf[1].v[i]; }
        carried(ctx, &cf[0], &cb[0], su, sv);
        carried(ctx, &cf[1], &cb[1], su, sv);
    }
    if (!st) st = kn_flow_estimate_ws(ctx, o, g0, g1, w, h, nc ? cf : NULL, nc, ws, &fwd->u, &fwd->v, err);
    if (!st) st = kn_flow_estimate_ws(ctx, o, g1, g0, w, h, nc ? cb : NULL, nc, ws, &bwd->u, &bwd->v, err);
    for (int i = 0; i < 10; i++) kn_ws_put(ws, buf[i]);
    return st;
}

/* The pair's brightness map (fade.c), or with o->fade off none: nothing is explained, nothing kept. */
static kn_status pair_fade(const kn_ctx *ctx, const kn_interp_opts *o, const uint8_t *a, const uint8_t *b, int w,
                           int h, kn_fade *f, kn_error *err) {
    if (o->fade) return kn_fade_fit(ctx, a, b, w, h, f, err);
    memset(f, 0, sizeof *f);
    f->unexplained = 1;
    return KN_OK;
}

static kn_status pair_ws(const kn_ctx *ctx, const kn_interp_opts *o, const uint8_t *a, const uint8_t *b, int w,
                         int h, const float *ts, int nt, uint8_t **outs, kn_interp_ws *ws, kn_error *err) {
    if (w < 1 || h < 1 || w > 16384 || h > 16384)
        return kn_fail(err, KN_EINVAL, "interp: frame size %dx%d is outside 1..16384", w, h);
    if (nt < 0 || (nt > 0 && (!ts || !outs))) return kn_fail(err, KN_EINVAL, "interp: bad list of times");
    int need_flow = 0;
    for (int i = 0; i < nt; i++) {
        if (!(ts[i] >= 0 && ts[i] <= 1)) return kn_fail(err, KN_EINVAL, "interp: time %g is outside [0, 1]", ts[i]);
        need_flow |= ts[i] > 0 && ts[i] < 1;
    }
    size_t n = (size_t)w * h, fb = n * 3;
    if (!need_flow) {
        for (int i = 0; i < nt; i++) memcpy(outs[i], ts[i] < 0.5f ? a : b, fb);
        return KN_OK;
    }
    kn_flow f01 = {w, h, NULL, NULL}, f10 = {w, h, NULL, NULL};
    float *g0 = kn_ws_get(ws, n * sizeof *g0), *g1 = kn_ws_get(ws, n * sizeof *g1);
    kn_status st = KN_OK;
    if (!g0 || !g1) st = kn_fail(err, KN_ENOMEM, "interp: out of memory for %dx%d frames", w, h);
    if (!st) {
        kn_interp_luma_into(a, w, h, g0);
        kn_interp_luma_into(b, w, h, g1);
        st = pair_flows(ctx, o, g0, g1, w, h, NULL, NULL, ws, &f01, &f10, err);
    }
    int cut = 0;
    kn_fade fade;
    kn_pair_hints hints = {{NULL, NULL}, 0, 0, 0, &fade};
    if (!st) st = pair_fade(ctx, o, a, b, w, h, &fade, err);
    if (!st && o->scene_cut && (cut = is_cut(ctx, o, g0, g1, &f01, &f10, fade.unexplained)) < 0)
        st = kn_fail(err, KN_ENOMEM, "interp: out of memory testing for a scene cut");
    if (!st) st = render_times(ctx, a, b, g0, g1, w, h, &f01, &f10, cut, &hints, ts, nt, outs, ws, err);
    kn_ws_put(ws, g0); kn_ws_put(ws, g1);
    kn_ws_put(ws, f01.u); kn_ws_put(ws, f01.v); kn_ws_put(ws, f10.u); kn_ws_put(ws, f10.v);
    return st;
}

kn_status kn_interp_pair(const kn_ctx *ctx, const kn_interp_opts *o, const uint8_t *a, const uint8_t *b,
                         int w, int h, const float *ts, int nt, uint8_t **outs, kn_error *err) {
    kn_interp_opts def;
    if (!o) { kn_interp_opts_default(&def); o = &def; }
    kn_interp_ws ws = {0};
    kn_status st = pair_ws(ctx, o, a, b, w, h, ts, nt, outs, &ws, err);
    kn_ws_free(&ws);
    return st;
}

/* ---- whole videos with acceleration: the pairs in order ---- */

/* Pair k's flows and cut flag live in slot k % RING, frame f's luma in slot f % RING. Rendering pair i
 * needs pairs i-1 .. i+1 (the outer flows of accel.c), and kept frame j is measured (accel.c) from
 * pairs j-3 .. j+2, which is done for j = k-2 as soon as pair k is estimated. */
#define RING 6
/* The gain of pair i comes from kept frames i-GAIN_WINDOW .. i-1, the ones already measured, so it
 * follows the footage (shots of a trailer differ). 8 and every earlier frame gave the same within
 * 0.01 dB on Megamind.avi. */
#define GAIN_WINDOW 8

/* The input frames as the engine reads them: a whole video in memory, or frames pulled one at a time
 * from a source into a ring of SRC_RING. Pairs taken in order read frames from three before the pair
 * to two after it; otherwise the pair's two frames. */
#define SRC_RING 8
typedef struct {
    const kn_video *whole;       /* every frame in memory, or NULL: pulled */
    kn_interp_source pull;
    void *user;
    int w, h;
    uint8_t *ring;               /* SRC_RING frames, frame f in slot f % SRC_RING */
    int loaded;                  /* frames 0 .. loaded-1 have been pulled */
    int ended;                   /* the source said there are no more */
    /* placing pulled frames by their times (the fps mode): */
    double rate;                 /* > 0: positions count frames of this rate; 0: times are ignored */
    int timed;                   /* frame 0 came with a time, so frames sit at their own positions */
    double t0;                   /* frame 0's time, seconds */
    double last, shift;          /* the last kept frame's time on the clock, and the clock's shift
                                    (kn_frame_clock) */
    double at[SRC_RING];         /* frame f's position after frame 0, in slot f % SRC_RING */
    long long dropped;           /* frames dropped for a time not after the frame before's */
} frame_src;

/* Frame f's position in frames after frame 0: f itself unless the frames are timed. */
static double src_at(const frame_src *s, int f) { return s->timed ? s->at[f % SRC_RING] : f; }

double kn_frame_clock(double time, double prev, double step, double *shift) {
    if (!isfinite(time)) return prev + step;
    if (time + *shift <= prev - step) *shift = prev + step - time;
    return time + *shift;
}

/* Places the frame just pulled (frame s->loaded) at its time on the clock (kn_frame_clock, a frame
 * of s->rate a step): t - t0 in frames, a whole number when within 1e-6 of one (so a steady source's
 * times give exactly its frame numbers). *placed = 0: its time is not after the frame before's, and
 * it is dropped. A time more than KN_INTERP_MAX_GAP after the frame before's fails: the frames
 * between would take hours of output to fill (a broken timestamp, usually). */
static kn_status src_place(frame_src *s, double time, int *placed, kn_error *err) {
    int f = s->loaded;
    *placed = 1;
    if (f == 0) {
        s->timed = s->rate > 0 && isfinite(time);
        s->t0 = s->last = time;
        s->at[0] = 0;
        return KN_OK;
    }
    if (!s->timed) return KN_OK;
    double prev = s->at[(f - 1) % SRC_RING], t = kn_frame_clock(time, s->last, 1 / s->rate, &s->shift);
    if (t - s->last > KN_INTERP_MAX_GAP)
        return kn_fail(err, KN_EFORMAT, "interp: input frame %d comes %.0f s after the frame before it (its "
                       "timestamp), more than the %.0f s of frames an output rate may fill between two frames; a "
                       "factor keeps such timing without filling it, an input rate takes the frames as evenly "
                       "spaced", f + (int)s->dropped, t - s->last, KN_INTERP_MAX_GAP);
    double p = (t - s->t0) * s->rate, whole = nearbyint(p);
    if (fabs(p - whole) < 1e-6) p = whole;
    if (!(p > prev + 1e-6)) { s->dropped++; *placed = 0; return KN_OK; }
    s->at[f % SRC_RING] = p;
    s->last = t;
    return KN_OK;
}

/* Where frame f of a pulled source lives in the ring. */
static uint8_t *src_slot(const frame_src *s, int f) { return s->ring + (size_t)(f % SRC_RING) * s->w * s->h * 3; }

static const uint8_t *src_frame(const frame_src *s, int f) {
    assert(s->whole || (f < s->loaded && f >= s->loaded - SRC_RING));   /* pulled and not yet evicted */
    return s->whole ? kn_video_frame(s->whole, f) : src_slot(s, f);
}

/* *has = 1 when frame f exists (pulling the frames up to it), 0 when the video ends before it. Pulling
 * frame f evicts frame f - SRC_RING. Fails with the source's status. */
static kn_status src_has(frame_src *s, int f, int *has, kn_error *err) {
    *has = 0;
    if (s->whole) { *has = f < s->whole->nframes; return KN_OK; }
    while (s->loaded <= f && !s->ended) {
        int got = 0;
        double time = NAN;
        kn_status st = s->pull(s->user, src_slot(s, s->loaded), &time, &got, err);
        if (st) return st;
        int placed = 0;
        if (!got) s->ended = 1;
        else if ((st = src_place(s, time, &placed, err))) return st;
        else if (placed) s->loaded++;
    }
    *has = f < s->loaded;
    return KN_OK;
}

/* Frames known to exist: all of a whole video, those pulled so far of a source. */
static int src_known(const frame_src *s) { return s->whole ? s->whole->nframes : s->loaded; }

typedef struct {
    const kn_ctx *ctx;
    const kn_interp_opts *o;
    frame_src *in;
    kn_interp_ws *ws;
    float *luma[RING];
    kn_flow fwd[RING], bwd[RING];   /* pair k: frame k -> k+1 and back */
    int cut[RING];
    kn_fade fade[RING];             /* pair k's brightness map (fade.c) */
    int done;                       /* pairs 0 .. done-1 are estimated */
    kn_accel_stats *stats;          /* per kept frame, zero where not measured */
    kn_kernel_stats *kernel;        /* per kept frame (kernel.c), zero where not measured */
    kn_still_stats *still;          /* per kept frame (still.c), zero where not measured */
    float *motion;                  /* per pair: kn_pair_motion of its forward flow */
    double *step;                   /* per pair: its time, in frames (1 unless the frames are timed) */
    int cap;                        /* frames (and pairs) the five arrays above hold */
    int8_t *jump;                   /* frame f's jump map (jump.c) in slot f % RING, all 0 where not
                                       measured */
} pair_stream;

static void stream_free(pair_stream *s) {
    for (int i = 0; i < RING; i++) {
        kn_ws_put(s->ws, s->luma[i]);
        kn_ws_put(s->ws, s->fwd[i].u); kn_ws_put(s->ws, s->fwd[i].v);
        kn_ws_put(s->ws, s->bwd[i].u); kn_ws_put(s->ws, s->bwd[i].v);
    }
    free(s->stats);
    free(s->motion);
    free(s->step);
    free(s->kernel);
    free(s->still);
    free(s->jump);
}

static kn_status stream_luma(pair_stream *s, int f, kn_error *err) {
    int w = s->in->w, h = s->in->h;
    float **g = &s->luma[f % RING];
    kn_ws_put(s->ws, *g);
    *g = kn_ws_get(s->ws, (size_t)w * h * sizeof **g);
    if (!*g) return kn_fail(err, KN_ENOMEM, "interp: out of memory for %dx%d frames", w, h);
    kn_interp_luma_into(src_frame(s->in, f), w, h, *g);
    return KN_OK;
}

/* Kept frame m's still parts (still.c), from frames m-2 .. m+2 and pairs m-1 and m, unless a cut lies
 * among them. */
static kn_status still_measure(pair_stream *s, int m, kn_error *err) {
    const uint8_t *f[5];
    for (int q = 0; q < 5; q++) {
        if (q < 4 && s->cut[(m - 2 + q) % RING]) return KN_OK;
        f[q] = src_frame(s->in, m - 2 + q);
    }
    return kn_still_measure(s->ctx, f, s->in->w, s->in->h, &s->bwd[(m - 1) % RING], &s->fwd[m % RING],
                            &s->still[m], err);
}

/* Frame m's jump map (jump.c) from frames m-1 .. m+1, or zeros when a cut lies between them. */
static kn_status jump_measure(pair_stream *s, int m, kn_error *err) {
    int w = s->in->w, h = s->in->h;
    size_t nt = kn_jump_tiles(w, h);
    int8_t *tiles = s->jump + (size_t)(m % RING) * nt;
    if (s->cut[(m - 1) % RING] || s->cut[m % RING]) {
        memset(tiles, 0, nt);
        return KN_OK;
    }
    return kn_jump_measure(s->ctx, src_frame(s->in, m - 1), src_frame(s->in, m),
                           src_frame(s->in, m + 1), w, h, tiles, err);
}

/* Room in the per-frame arrays for frames (and pairs) 0 .. f: the video's length need not be known
 * (they take under 100 bytes a frame). */
/* p (elem-byte items, old of them) reallocated to cap items, the new ones zero; NULL when out of
 * memory (p is then still valid). */
static void *grow_zeroed(void *p, size_t elem, int old, int cap) {
    char *np = realloc(p, elem * (size_t)cap);
    if (np) memset(np + elem * (size_t)old, 0, elem * (size_t)(cap - old));
    return np;
}

static kn_status stream_reserve(pair_stream *s, int f, kn_error *err) {
    if (f < s->cap) return KN_OK;
    int cap = s->cap ? s->cap : 64;
    while (cap <= f) cap *= 2;
    void *p;
    if (!(p = grow_zeroed(s->stats, sizeof *s->stats, s->cap, cap))) goto oom;
    s->stats = p;
    if (!(p = grow_zeroed(s->kernel, sizeof *s->kernel, s->cap, cap))) goto oom;
    s->kernel = p;
    if (!(p = grow_zeroed(s->still, sizeof *s->still, s->cap, cap))) goto oom;
    s->still = p;
    if (!(p = grow_zeroed(s->motion, sizeof *s->motion, s->cap, cap))) goto oom;
    s->motion = p;
    if (!(p = grow_zeroed(s->step, sizeof *s->step, s->cap, cap))) goto oom;
    s->step = p;
    s->cap = cap;
    return KN_OK;
oom:
    return kn_fail(err, KN_ENOMEM, "interp: out of memory for the statistics of %d frames", cap);
}

/* 1 when pairs from .. to (those of them estimated) take the same time: acceleration and the kernel's
 * measurement assume evenly spaced frames. */
static int pairs_even(const pair_stream *s, int from, int to) {
    if (from < 0) from = 0;
    if (to > s->done - 1) to = s->done - 1;
    for (int k = from + 1; k <= to; k++)
        if (fabs(s->step[k] - s->step[from]) > 1e-6) return 0;
    return 1;
}

/* Estimates the next pair (its flows replace those of the pair RING before it), then measures the
 * kept frame whose six pairs are now all there, unless a scene cut lies among them or they are
 * unevenly spaced. */
static kn_status stream_advance(pair_stream *s, kn_error *err) {
    int k = s->done, w = s->in->w, h = s->in->h, sl = k % RING;
    kn_status st = stream_reserve(s, k + 1, err);
    if (!st && k == 0) st = stream_luma(s, 0, err);
    if (!st) st = stream_luma(s, k + 1, err);
    kn_flow *f = &s->fwd[sl], *b = &s->bwd[sl];
    kn_ws_put(s->ws, f->u); kn_ws_put(s->ws, f->v); kn_ws_put(s->ws, b->u); kn_ws_put(s->ws, b->v);
    *f = (kn_flow){w, h, NULL, NULL};
    *b = (kn_flow){w, h, NULL, NULL};
    const float *g0 = s->luma[k % RING], *g1 = s->luma[(k + 1) % RING];
    int pk = (k + RING - 1) % RING;
    int after_pair = k >= 1 && !s->cut[pk];
    if (!st)
        st = pair_flows(s->ctx, s->o, g0, g1, w, h, after_pair ? &s->bwd[pk] : NULL, after_pair ? &s->fwd[pk] : NULL,
                        s->ws, f, b, err);
    if (!st) st = pair_fade(s->ctx, s->o, src_frame(s->in, k), src_frame(s->in, k + 1), w, h, &s->fade[sl], err);
    if (st) return st;
    s->cut[sl] = s->o->scene_cut ? is_cut(s->ctx, s->o, g0, g1, f, b, s->fade[sl].unexplained) : 0;
    if (s->cut[sl] < 0) return kn_fail(err, KN_ENOMEM, "interp: out of memory testing for a scene cut");
    s->motion[k] = kn_pair_motion(f);
    s->step[k] = src_at(s->in, k + 1) - src_at(s->in, k);
    s->done = k + 1;
    /* frame k rebuilt from k-1 and k+1 (kernel.c) */
    if (s->o->cubic && k >= 1 && !s->cut[pk] && !s->cut[sl] && pairs_even(s, k - 1, k) &&
        (st = kn_kernel_measure(s->ctx, src_frame(s->in, k - 1), src_frame(s->in, k),
                                src_frame(s->in, k + 1), w, h, &s->bwd[pk], f, &s->kernel[k], err)))
        return st;
    if (s->o->pool_still && k >= 3 && (st = still_measure(s, k - 1, err))) return st;
    if (s->o->blend_jumps && k >= 1 && (st = jump_measure(s, k, err))) return st;
    int j = k - 2;
    if (!s->o->accel || j < 3 || !pairs_even(s, j - 3, j + 2)) return KN_OK;
    const kn_flow *fw[6], *bw[6];
    for (int q = 0; q < 6; q++) {
        int p = (j - 3 + q) % RING;
        if (s->cut[p]) return KN_OK;
        fw[q] = &s->fwd[p]; bw[q] = &s->bwd[p];
    }
    return kn_accel_centre(s->ctx, fw, bw, &s->stats[j], err);
}

/* The acceleration fields of pair i's two sides (kn_accel_field) into field[] (from the buffer cache;
 * the caller puts them back), acc[side] pointing at those computed. a's pixels go on to the frame
 * before a (pair i-1 backwards), b's to the frame after b; a side next to a cut or the video's end
 * keeps constant velocity. */
static kn_status accel_fields(pair_stream *s, const kn_ctx *ctx, kn_interp_ws *ws, int i, int n, kn_flow field[2],
                              const kn_flow *acc[2], kn_error *err) {
    int w = s->in->w, h = s->in->h;
    int sl = i % RING, prev = (i + RING - 1) % RING, next = (i + 1) % RING;
    const kn_flow *own[2] = {&s->fwd[sl], &s->bwd[sl]};
    const kn_flow *out[2] = {i >= 1 && !s->cut[prev] ? &s->bwd[prev] : NULL,
                             i + 1 <= n - 2 && !s->cut[next] ? &s->fwd[next] : NULL};
    for (int side = 0; side < 2; side++) {
        if (!out[side]) continue;
        field[side].u = kn_ws_get(ws, (size_t)w * h * sizeof(float));
        field[side].v = kn_ws_get(ws, (size_t)w * h * sizeof(float));
        if (!field[side].u || !field[side].v)
            return kn_fail(err, KN_ENOMEM, "interp: out of memory for %dx%d frames", w, h);
        kn_accel_field(ctx, own[side], out[side], &field[side]);
        acc[side] = &field[side];
    }
    return KN_OK;
}

/* Pair i's place in a stream render: the output times and frames, and what stream_ready found. */
typedef struct {
    int i, n, even;   /* n: frames known to exist then; even: pairs i-1 .. i+1 evenly spaced */
    const float *ts;
    int nt;
    uint8_t **outs;
} pair_render;

/* Estimates the pairs that rendering pair i reads (up to i+1, where frame i+2 exists). */
static kn_status stream_ready(pair_stream *s, pair_render *r, kn_error *err) {
    int has, i = r->i;
    /* n: frames known to exist, enough to tell whether frame i + 2 does (the last one read here) */
    kn_status st = src_has(s->in, i + 2, &has, err);
    int n = src_known(s->in);
    int need = i + 2 < n - 1 ? i + 2 : n - 1;   /* pairs 0 .. i+1 (the last pair is n-2) */
    while (!st && s->done < need) st = stream_advance(s, err);
    r->n = n;
    /* acceleration (from pairs i-1 and i+1) and the time hedge assume the frames evenly spaced */
    r->even = pairs_even(s, i - 1, i + 1);
    return st;
}

/* Frames at ts between input frames i and i+1, bent by the acceleration the recent pairs support,
 * and hedged in time where the capture looks uneven (accel.c), once stream_ready has run. ctx and ws
 * are its own: it reads only pairs i-1 .. i+1, frames i-1 .. i+2 and the per-frame arrays below
 * i+2, so it may run beside stream_advance of pair i+2 (stream_overlap). */
static kn_status render_pair(pair_stream *s, const kn_ctx *ctx, kn_interp_ws *ws, const pair_render *r,
                             kn_error *err) {
    int w = s->in->w, h = s->in->h, i = r->i, n = r->n;
    int from = i - GAIN_WINDOW > 0 ? i - GAIN_WINDOW : 0, sl = i % RING, next = (i + 1) % RING;
    /* the kernel from the kept frames measured so far, up to b (i + 1) */
    int kfrom = i + 2 - GAIN_WINDOW > 0 ? i + 2 - GAIN_WINDOW : 0;
    kn_pair_hints hints = {{NULL, NULL}, s->o->accel && r->even ? kn_accel_gain(s->stats + from, i - from) : 0, 0,
                           s->o->cubic && kn_kernel_cubic(s->kernel + kfrom, i + 2 - kfrom), &s->fade[sl]};
    kn_flow field[2] = {{w, h, NULL, NULL}, {w, h, NULL, NULL}};
    kn_status st = KN_OK;
    if (hints.gain > 0 && !s->cut[sl]) st = accel_fields(s, ctx, ws, i, n, field, hints.acc, err);
    const uint8_t *a = src_frame(s->in, i), *b = src_frame(s->in, i + 1);
    int uneven = s->o->accel && s->o->time_hedge && r->even && !s->cut[sl] &&
                 kn_pair_uneven(s->stats + from, i - from, hints.gain, s->motion, i, n - 1);
    /* still parts: the frames before a and after b too, as the kept frames measured so far (up to a)
     * support */
    float pool = -1;
    int sfrom = i + 1 - GAIN_WINDOW > 0 ? i + 1 - GAIN_WINDOW : 0;
    if (s->o->pool_still && i >= 1 && i + 2 <= n - 1 && !s->cut[(i + RING - 1) % RING] && !s->cut[sl] &&
        !s->cut[next])
        pool = kn_still_weight(s->still + sfrom, i + 1 - sfrom);
    const uint8_t *around[4] = {pool >= 0 ? src_frame(s->in, i - 1) : NULL, a, b,
                                pool >= 0 ? src_frame(s->in, i + 2) : NULL};
    /* jumps: the maps of a and b, each measured against its own neighbours (frame n-1 has none) */
    size_t ntiles = kn_jump_tiles(w, h);
    const int8_t *jump_a = s->o->blend_jumps && i + 2 <= n - 1 && !s->cut[sl] ? s->jump + sl * ntiles : NULL;
    const int8_t *jump_b = jump_a ? s->jump + next * ntiles : NULL;
    hints.hedged = uneven;
    if (!st)
        st = render_times(ctx, a, b, s->luma[sl], s->luma[next], w, h, &s->fwd[sl], &s->bwd[sl], s->cut[sl],
                          &hints, r->ts, r->nt, r->outs, ws, err);
    for (int q = 0; !st && q < r->nt; q++) {
        if (jump_a) kn_jump_blend(ctx, a, b, w, h, jump_a, jump_b, r->ts[q], r->outs[q]);
        if (pool >= 0) kn_still_pool(ctx, around, w, h, r->ts[q], pool, r->outs[q]);
    }
    for (int side = 0; side < 2; side++) { kn_ws_put(ws, field[side].u); kn_ws_put(ws, field[side].v); }
    return st;
}

static kn_status stream_render(pair_stream *s, int i, const float *ts, int nt, uint8_t **outs, kn_error *err) {
    pair_render r = {i, 0, 0, ts, nt, outs};
    kn_status st = stream_ready(s, &r, err);
    return st ? st : render_pair(s, s->ctx, s->ws, &r, err);
}

/* Small frames keep two threads poorly busy when every step is split into row bands: a step is over
 * before the threads have much to share, and they wait for each other hundreds of times a frame (the
 * 1906 film, 218x160, ran 1.36 times as fast on two threads as on one). There pair i is rendered on
 * one thread while pair i+2, which pair i+1 will need, is estimated on another, each single-threaded,
 * with its own buffer cache: rws for the render, the stream's for the estimate. The frames come out
 * byte for byte as from stream_render. */
#define OVERLAP_MAX_PIXELS 320000

typedef struct {
    pair_stream *s;
    const kn_ctx *solo;       /* the stream's context without its pool */
    kn_interp_ws *rws;
    const pair_render *r;
    kn_status st[2];
    kn_error err[2];
} overlap_job;

static void overlap_task(void *arg, int task) {
    overlap_job *j = arg;
    if (task == 0) j->st[0] = render_pair(j->s, j->solo, j->rws, j->r, &j->err[0]);
    else j->st[1] = stream_advance(j->s, &j->err[1]);
}

static kn_status stream_overlap(pair_stream *s, kn_interp_ws *rws, int i, const float *ts, int nt, uint8_t **outs,
                                kn_error *err) {
    pair_render r = {i, 0, 0, ts, nt, outs};
    kn_status st = stream_ready(s, &r, err);
    int has = 0;
    if (!st && s->done == i + 2) st = src_has(s->in, i + 3, &has, err);   /* pair i+2 exists */
    if (st || !has) return st ? st : render_pair(s, s->ctx, rws, &r, err);
    /* the estimate's own reservation (frames up to i+3) done here, so it moves no array the render reads */
    if ((st = stream_reserve(s, i + 3, err))) return st;
    const kn_ctx *ctx = s->ctx;
    kn_ctx solo = *ctx;
    solo.pool = NULL;
    overlap_job j = {s, &solo, rws, &r, {KN_OK, KN_OK}, {{0}}};
    s->ctx = &solo;   /* stream_advance's */
    kn_interp_run(ctx, 2, overlap_task, &j);
    s->ctx = ctx;
    for (int q = 0; q < 2; q++)
        if (j.st[q]) { *err = j.err[q]; return j.st[q]; }
    return KN_OK;
}

/* Where the output frames come from: one of a factor, an fps pair, or input frames placed at output
 * positions. */
typedef struct {
    int factor;               /* output k is between k / factor and the next, at (k % factor) / factor */
    double in_fps, out_fps;   /* output k is at time k / out_fps */
    const int *pos;           /* input i is output pos[i]; the frames between at equal steps */
    int n;                    /* input frames (placed at pos) */
    int cursor;               /* fps mode: the frame the last output frame came from */
    pair_stream *pairs;       /* pulled frames taken in order: their pairs, estimated as frames are read */
} frame_map;

/* Output frame k of the fps mode: the last frame placed at or before k's position (src_at: its own
 * number unless the frames are timed; from m->cursor on, pulling frames up to the one after it, but
 * none after frame last) and where k falls towards the next; *t = 1 past the last frame (or frame
 * last). Timed frames can come closer than the output's: before a frame is pulled, the pairs taken
 * in order are estimated as far as the frames that the pull would evict need (a pair's estimate reads
 * from three frames before it to the one after it). */
static kn_status fps_source(frame_map *m, frame_src *in, long long k, int last, int *i, double *t,
                            kn_error *err) {
    double s = (double)k * m->in_fps / m->out_fps;
    int f = m->cursor, has = 0;
    kn_status st = KN_OK;
    for (;;) {
        int pull = f + 1;
        if (pull > last) { has = 0; break; }
        while (!st && m->pairs && !in->whole && pull >= in->loaded && !in->ended && m->pairs->done < pull - 3)
            st = stream_advance(m->pairs, err);
        if (!st) st = src_has(in, pull, &has, err);
        if (st) return st;
        if (!has || src_at(in, pull) > s + 1e-9) break;
        f = pull;
    }
    m->cursor = f;
    double p = src_at(in, f);
    *i = f;
    if (s - p < 1e-9) *t = 0;
    else *t = has ? (s - p) / (src_at(in, f + 1) - p) : 1;
    return KN_OK;
}

/* Output frame k sits between input frames *i and *i+1 at *t (t == 0: frame i itself; t >= 1: past
 * the last frame). In the fps mode, frames after frame last are not read (the caller still needs the
 * frames before them in the ring). */
static kn_status map_frame(frame_map *m, frame_src *in, long long k, int last, int *i, double *t, kn_error *err) {
    if (m->factor) { *i = (int)(k / m->factor); *t = (double)(k % m->factor) / m->factor; return KN_OK; }
    if (!m->pos) return fps_source(m, in, k, last, i, t, err);
    int lo = 0, hi = m->n - 1;   /* the last input placed at or before k */
    while (lo < hi) {
        int mid = lo + (hi - lo + 1) / 2;
        if (m->pos[mid] <= k) lo = mid;
        else hi = mid - 1;
    }
    *i = lo;
    *t = lo == m->n - 1 ? 0 : (double)(k - m->pos[lo]) / (double)(m->pos[lo + 1] - m->pos[lo]);
    return KN_OK;
}

/* Where output frames go: frame k is written at slot(k), and done(k) is called once it is complete,
 * in order of k. A slot stays valid until its frame is done; frames are done at most max_between
 * slots after they were handed out, so a ring of that many frames will do. */
typedef struct out_target {
    uint8_t *(*slot)(void *user, long long k);
    kn_status (*done)(void *user, long long k, kn_error *err);
    void *user;
} out_target;

/* Fills the output frames from in through the map, up to nout of them and as far as the input's frames
 * reach (frame k is made when its input frames exist): input frames copied, the frames between each
 * pair rendered from one flow estimate (at most max_between per pair). adds: more frames come out
 * than go in, so acceleration, the kernel choice, the still parts' pooling and the jumps are worth
 * taking the pairs in order. */
static kn_status fill_frames(const kn_ctx *ctx, const kn_interp_opts *o, frame_src *in, frame_map *m,
                             long long nout, int max_between, int adds, const out_target *out,
                             kn_interp_progress progress, void *user, kn_error *err) {
    int w = in->w, h = in->h, has = 0;
    size_t fb = (size_t)w * h * 3;
    float *ts = malloc(sizeof *ts * (size_t)max_between);
    uint8_t **outs = malloc(sizeof *outs * (size_t)max_between);
    kn_status st = KN_OK;
    if (!ts || !outs) st = kn_fail(err, KN_ENOMEM, "interp: out of memory for %d output frames", max_between);
    kn_interp_ws ws = {0};
    /* acceleration, the kernel choice, the pooling and the jumps take the pairs in order (they read
     * the neighbouring pairs and frames): not worth it when frames are mostly dropped, and kept
     * frames are measured only from the seventh on */
    pair_stream ps = {.ctx = ctx, .o = o, .in = in, .ws = &ws};
    if (!st) st = src_has(in, 6, &has, err);
    int in_order = (o->accel || o->cubic || o->pool_still || o->blend_jumps) && has && adds;
    if (!st && in_order && (w > 16384 || h > 16384))
        st = kn_fail(err, KN_EINVAL, "interp: frame size %dx%d is outside 1..16384", w, h);
    if (!st && in_order && !(ps.jump = calloc(RING * kn_jump_tiles(w, h), 1)))
        st = kn_fail(err, KN_ENOMEM, "interp: out of memory for %dx%d frames", w, h);
    m->pairs = in_order ? &ps : NULL;
    kn_interp_ws rws = {0};   /* the render's own buffers, when it overlaps the estimates */
    int overlap = in_order && ctx && kn_pool_size(ctx->pool) >= 2 && (size_t)w * h <= OVERLAP_MAX_PIXELS;
    long long k = 0;
    while (!st && k < nout) {
        int i; double t;
        if ((st = map_frame(m, in, k, INT_MAX, &i, &t, err))) break;
        if ((st = src_has(in, t == 0 ? i : i + 1, &has, err)) || !has) break;   /* past the last input frame */
        if (t == 0) {
            memcpy(out->slot(out->user, k), src_frame(in, i), fb);
            st = out->done(out->user, k, err);
            k++;
            continue;
        }
        if (progress && progress(user, i, src_known(in) - 1)) {
            st = kn_fail(err, KN_ECANCELLED, "cancelled");
            break;
        }
        /* every output frame strictly between i and i+1, one flow estimate for all */
        int nt = 0;
        long long k0 = k;
        for (;;) {
            ts[nt] = (float)t; outs[nt] = out->slot(out->user, k); nt++; k++;
            if (k >= nout || nt == max_between) break;
            int i2; double t2;
            if ((st = map_frame(m, in, k, i + 1, &i2, &t2, err))) break;
            if (i2 != i || t2 == 0 || t2 >= 1) break;
            t = t2;
        }
        if (st) break;
        if (overlap) st = stream_overlap(&ps, &rws, i, ts, nt, outs, err);
        else if (in_order) st = stream_render(&ps, i, ts, nt, outs, err);
        else st = pair_ws(ctx, o, src_frame(in, i), src_frame(in, i + 1), w, h, ts, nt, outs, &ws, err);
        if (st) kn_wrap(err, "interpolating between frames %d and %d", i, i + 1);
        for (long long q = k0; !st && q < k; q++) st = out->done(out->user, q, err);
    }
    stream_free(&ps);
    kn_ws_free(&ws);
    kn_ws_free(&rws);
    free(ts); free(outs);
    return st;
}

/* The target of a whole output video in memory. */
typedef struct { uint8_t *rgb; size_t fb; } whole_video;
static uint8_t *whole_slot(void *user, long long k) {
    whole_video *v = user;
    return v->rgb + (size_t)k * v->fb;
}
static kn_status whole_done(void *user, long long k, kn_error *err) {
    (void)user; (void)k; (void)err;
    return KN_OK;
}

long long kn_interp_video_frames(int n, double in_fps, int factor, double out_fps) {
    if (n < 1 || (factor > 0) == (out_fps > 0) || factor < 0) return 0;
    if (factor) return (long long)(n - 1) * factor + 1;
    if (!(in_fps > 0)) return 0;
    return (long long)floor((double)(n - 1) * out_fps / in_fps + 1e-9) + 1;
}

int kn_interp_video_between(double in_fps, int factor, double out_fps) {
    if (factor > 0) return factor;
    return in_fps > 0 && out_fps > 0 ? (int)ceil(out_fps / in_fps) + 2 : 0;
}

/* Checks a factor or output rate against the input's rate. */
static kn_status rate_args(int factor, double in_fps, double out_fps, kn_error *err) {
    if ((factor > 0) == (out_fps > 0))
        return kn_fail(err, KN_EINVAL, "interp: give exactly one of a factor (>= 1) or an output fps (> 0)");
    if (factor < 0 || factor > 1000) return kn_fail(err, KN_EINVAL, "interp: factor %d is outside 1..1000", factor);
    if (out_fps > 0 && !(in_fps > 0))
        return kn_fail(err, KN_EINVAL, "interp: --fps needs the input's frame rate, which is unknown");
    return KN_OK;
}

/* Checks kn_interp_video's arguments; *nout gets the number of output frames. */
static kn_status video_args(const kn_video *in, int factor, double out_fps, long long *nout, kn_error *err) {
    if (!in || in->nframes < 1 || !in->rgb) return kn_fail(err, KN_EINVAL, "interp: the input video has no frames");
    kn_status st = rate_args(factor, in->fps, out_fps, err);
    if (st) return st;
    *nout = kn_interp_video_frames(in->nframes, in->fps, factor, out_fps);
    if (*nout > 1000000)
        return kn_fail(err, KN_EINVAL, "interp: %lld output frames of %dx%d is too many", *nout, in->width, in->height);
    return KN_OK;
}

static kn_status video_fill(const kn_ctx *ctx, const kn_interp_opts *o, frame_src *in, double in_fps, int factor,
                            double out_fps, long long nout, const out_target *tgt, kn_error *err) {
    kn_interp_opts def;
    if (!o) { kn_interp_opts_default(&def); o = &def; }
    frame_map m = {.factor = factor, .in_fps = in_fps, .out_fps = out_fps};
    return fill_frames(ctx, o, in, &m, nout, kn_interp_video_between(in_fps, factor, out_fps),
                       factor >= 2 || out_fps > in_fps, tgt, NULL, NULL, err);
}

/* The target of a sink: a ring of as many frames as a pair can have between its ends. */
typedef struct {
    uint8_t *ring;
    size_t fb;
    int nring;
    kn_interp_sink sink;
    void *user;
} ring_target;
static uint8_t *ring_slot(void *user, long long k) {
    ring_target *r = user;
    return r->ring + (size_t)(k % r->nring) * r->fb;
}
static kn_status ring_done(void *user, long long k, kn_error *err) {
    ring_target *r = user;
    return r->sink(r->user, k, ring_slot(r, k), err);
}

/* Hands the frames of in (whole, or pulled) to sink through a ring of output frames. */
static kn_status fill_to_sink(const kn_ctx *ctx, const kn_interp_opts *o, frame_src *in, double in_fps, int factor,
                              double out_fps, long long nout, kn_interp_sink sink, void *user, kn_error *err) {
    ring_target r = {NULL, (size_t)in->w * in->h * 3, kn_interp_video_between(in_fps, factor, out_fps), sink, user};
    r.ring = kn_malloc((size_t)r.nring * r.fb);
    if (!r.ring) return kn_fail(err, KN_ENOMEM, "interp: out of memory for %d frames of %dx%d", r.nring, in->w, in->h);
    out_target tgt = {ring_slot, ring_done, &r};
    kn_status st = video_fill(ctx, o, in, in_fps, factor, out_fps, nout, &tgt, err);
    kn_free(r.ring);
    return st;
}

kn_status kn_interp_video_to(const kn_ctx *ctx, const kn_interp_opts *o, const kn_video *in, int factor,
                             double out_fps, kn_interp_sink sink, void *user, kn_error *err) {
    long long nout = 0;
    kn_status st = video_args(in, factor, out_fps, &nout, err);
    if (st) return st;
    frame_src src = {.whole = in, .w = in->width, .h = in->height};
    return fill_to_sink(ctx, o, &src, in->fps, factor, out_fps, nout, sink, user, err);
}

kn_status kn_interp_stream(const kn_ctx *ctx, const kn_interp_opts *o, int width, int height, double in_fps,
                           kn_interp_source source, void *source_user, int factor, double out_fps,
                           kn_interp_sink sink, void *user, long long *dropped, kn_error *err) {
    if (dropped) *dropped = 0;
    if (width < 1 || height < 1 || width > 16384 || height > 16384)
        return kn_fail(err, KN_EINVAL, "interp: frame size %dx%d is outside 1..16384", width, height);
    kn_status st = rate_args(factor, in_fps, out_fps, err);
    if (st) return st;
    if (!source || !sink) return kn_fail(err, KN_EINVAL, "interp: no frame source or sink");
    size_t fb = (size_t)width * height * 3;
    /* only the fps mode places frames by their times */
    frame_src src = {.pull = source, .user = source_user, .w = width, .h = height, .ring = kn_malloc(SRC_RING * fb),
                     .rate = out_fps > 0 ? in_fps : 0};
    if (!src.ring) return kn_fail(err, KN_ENOMEM, "interp: out of memory for %d frames of %dx%d", SRC_RING, width,
                                  height);
    int has = 0;
    st = src_has(&src, 0, &has, err);
    if (!st && !has) st = kn_fail(err, KN_EINVAL, "interp: the input video has no frames");
    if (!st) st = fill_to_sink(ctx, o, &src, in_fps, factor, out_fps, LLONG_MAX, sink, user, err);
    if (dropped) *dropped = src.dropped;
    kn_free(src.ring);
    return st;
}

kn_status kn_interp_video(const kn_ctx *ctx, const kn_interp_opts *o, const kn_video *in, int factor,
                          double out_fps, kn_video *out, kn_error *err) {
    memset(out, 0, sizeof *out);
    long long nout = 0;
    kn_status st = video_args(in, factor, out_fps, &nout, err);
    if (st) return st;
    int n = in->nframes, w = in->width, h = in->height;
    double in_fps = in->fps;
    size_t fb = (size_t)w * h * 3;
    if ((double)nout * fb > 64e9)
        return kn_fail(err, KN_EINVAL, "interp: %lld output frames of %dx%d is too many", nout, w, h);
    out->rgb = kn_malloc((size_t)nout * fb);
    if (!out->rgb) return kn_fail(err, KN_ENOMEM, "interp: out of memory for %lld output frames", nout);
    out->width = w; out->height = h; out->nframes = (int)nout;
    out->fps = factor ? (float)(in_fps * factor) : (float)out_fps;
    whole_video wv = {out->rgb, fb};
    out_target tgt = {whole_slot, whole_done, &wv};
    frame_src src = {.whole = in, .w = w, .h = h};
    st = video_fill(ctx, o, &src, in_fps, factor, out_fps, nout, &tgt, err);
    if (!st && in->nkeyframes > 0 && in->keyframe_index) {
        out->keyframe_index = malloc(sizeof(int) * (size_t)in->nkeyframes);
        if (!out->keyframe_index) st = kn_fail(err, KN_ENOMEM, "interp: out of memory");
        for (int q = 0; !st && q < in->nkeyframes; q++) {
            long long src = in->keyframe_index[q], dst;
            if (factor) dst = src * factor;
            else {
                double kk = (double)src * out_fps / in_fps;
                dst = (long long)llround(kk);
                if (fabs(kk - (double)dst) > 1e-6) continue;
            }
            if (src >= 0 && src < n && dst < nout) out->keyframe_index[out->nkeyframes++] = (int)dst;
        }
    }
    if (st) kn_video_free(out);
    return st;
}

kn_status kn_interp_fill(const kn_ctx *ctx, const kn_interp_opts *o, const kn_video *in, const int *pos,
                         kn_video *out, kn_interp_progress progress, void *user, kn_error *err) {
    kn_interp_opts def;
    if (!o) { kn_interp_opts_default(&def); o = &def; }
    if (!in || in->nframes < 1 || !in->rgb || !pos)
        return kn_fail(err, KN_EINVAL, "interp: the input video has no frames");
    int n = in->nframes;
    if (!out || !out->rgb || out->width != in->width || out->height != in->height)
        return kn_fail(err, KN_EINVAL, "interp: the output video is not allocated at the input's size %dx%d",
                       in->width, in->height);
    if (pos[0] != 0) return kn_fail(err, KN_EINVAL, "interp: the first input frame is placed at %d, not 0", pos[0]);
    int max_gap = 1;
    for (int i = 1; i < n; i++) {
        if (pos[i] <= pos[i - 1])
            return kn_fail(err, KN_EINVAL, "interp: input frame %d is placed at %d, not after %d", i, pos[i],
                           pos[i - 1]);
        if (pos[i] - pos[i - 1] > max_gap) max_gap = pos[i] - pos[i - 1];
    }
    if (pos[n - 1] != out->nframes - 1)
        return kn_fail(err, KN_EINVAL, "interp: the last input frame is placed at %d but the output has %d frames",
                       pos[n - 1], out->nframes);
    frame_map m = {.pos = pos, .n = n};
    whole_video wv = {out->rgb, (size_t)in->width * in->height * 3};
    out_target tgt = {whole_slot, whole_done, &wv};
    frame_src src = {.whole = in, .w = in->width, .h = in->height};
    return fill_frames(ctx, o, &src, &m, out->nframes, max_gap - 1 > 0 ? max_gap - 1 : 1, out->nframes > n, &tgt,
                       progress, user, err);
}
