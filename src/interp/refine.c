/* Variational flow refinement (as in DIS): minimises, for an increment (du, dv) of the flow,
 *   sum  delta*psi(brightness residual^2) + gamma*psi(gradient residual^2) + alpha*psi(|grad(u+du)|^2 + |grad(v+dv)|^2)
 * with the Charbonnier psi, linearised around the current flow; the robust weights are refreshed in
 * fixed-point rounds and the linear system is relaxed by red-black SOR. The brightness residual has
 * its local mean removed so a smooth brightness change between the frames is not read as motion.
 * The smoothness weight falls off across image edges, exp(-EDGE |grad I|), because motion boundaries
 * tend to lie on them: a thin still post in front of a moving texture keeps its own flow instead of
 * being smoothed into the texture's (test_interp). On real footage, 61-frame segments, in dB:
 * vtest.avi 100-160 +0.08, Megamind.avi 100-160 +0.08, tree.avi +0.02, box.mp4 +0.005, Megamind.avi
 * 190-250 -0.01; EDGE 30-50 within 0.035 dB of each other, 160 loses on four of the five.
 * Red cells depend only on black ones and vice versa, so the row-parallel sweeps are deterministic. */
#include "interp/interp_impl.h"
#include <math.h>

#define BAND 8
#define DELTA 5.f      /* brightness constancy weight */
#define GAMMA 10.f     /* gradient constancy weight */
#define ALPHA 10.f     /* smoothness weight */
#define EDGE 40.f      /* fall-off of the smoothness weight with the image gradient (intensities 0..1) */
#define EPS_DATA 1e-2f /* Charbonnier epsilon^2 of the data terms (intensities 0..1) */
#define EPS_SMOOTH 1e-4f
#define SOR_ITERS 3
#define OMEGA 1.6f

enum { I1W, IX, IY, IXX, IXY, IYY, IZ, IXZ, IYZ, DU, DV, WS, WE, A11, A12, A22, B1, B2, TMP, NBUF };

typedef struct {
    const float *I0, *I1;
    float *u, *v;
    float *b[NBUF];
    int w, h, color;
    int avx2;   /* SOR rows eight pixels at a time (refine_avx2.c), the same result */
} refine_job;

static int band_end(int task, int h) { return (task + 1) * BAND < h ? (task + 1) * BAND : h; }

static void warp_task(void *arg, int task) {
    const refine_job *j = arg;
    for (int y = task * BAND; y < band_end(task, j->h); y++)
        for (int x = 0; x < j->w; x++) {
            size_t p = (size_t)y * j->w + x;
            j->b[I1W][p] = kn_bilinear(j->I1, j->w, j->h, x + j->u[p], y + j->v[p]) * (1.f / 255.f);
            j->b[TMP][p] = j->b[I1W][p] - j->I0[p] * (1.f / 255.f);
        }
}

static inline float at(const float *im, int w, int h, int x, int y) {
    return im[(size_t)kn_clampi(y, 0, h - 1) * w + kn_clampi(x, 0, w - 1)];
}

/* Derivatives (central differences, averaged between I0 and the warped I1) and residuals. */
static void deriv_task(void *arg, int task) {
    const refine_job *j = arg;
    int w = j->w, h = j->h;
    const float s = 1.f / 255.f;
    for (int y = task * BAND; y < band_end(task, h); y++)
        for (int x = 0; x < w; x++) {
            size_t p = (size_t)y * w + x;
            const float *W = j->b[I1W];
            float i0x = 0.5f * s * (at(j->I0, w, h, x + 1, y) - at(j->I0, w, h, x - 1, y));
            float i0y = 0.5f * s * (at(j->I0, w, h, x, y + 1) - at(j->I0, w, h, x, y - 1));
            float i1x = 0.5f * (at(W, w, h, x + 1, y) - at(W, w, h, x - 1, y));
            float i1y = 0.5f * (at(W, w, h, x, y + 1) - at(W, w, h, x, y - 1));
            float c1 = W[p];
            float i0xx = s * (at(j->I0, w, h, x + 1, y) - 2 * j->I0[p] + at(j->I0, w, h, x - 1, y));
            float i1xx = at(W, w, h, x + 1, y) - 2 * c1 + at(W, w, h, x - 1, y);
            float i0yy = s * (at(j->I0, w, h, x, y + 1) - 2 * j->I0[p] + at(j->I0, w, h, x, y - 1));
            float i1yy = at(W, w, h, x, y + 1) - 2 * c1 + at(W, w, h, x, y - 1);
            float i0xy = 0.25f * s * (at(j->I0, w, h, x + 1, y + 1) - at(j->I0, w, h, x - 1, y + 1) -
                                      at(j->I0, w, h, x + 1, y - 1) + at(j->I0, w, h, x - 1, y - 1));
            float i1xy = 0.25f * (at(W, w, h, x + 1, y + 1) - at(W, w, h, x - 1, y + 1) -
                                  at(W, w, h, x + 1, y - 1) + at(W, w, h, x - 1, y - 1));
            j->b[IX][p] = 0.5f * (i0x + i1x);
            j->b[IY][p] = 0.5f * (i0y + i1y);
            j->b[IXX][p] = 0.5f * (i0xx + i1xx);
            j->b[IYY][p] = 0.5f * (i0yy + i1yy);
            j->b[IXY][p] = 0.5f * (i0xy + i1xy);
            j->b[IXZ][p] = i1x - i0x;
            j->b[IYZ][p] = i1y - i0y;
            /* local mean of the residual (5x5) taken out: brightness change is not motion */
            float m = 0;
            for (int dy = -2; dy <= 2; dy++)
                for (int dx = -2; dx <= 2; dx++) m += at(j->b[TMP], w, h, x + dx, y + dy);
            j->b[IZ][p] = j->b[TMP][p] - m * (1.f / 25.f);
            j->b[WE][p] = ALPHA * expf(-EDGE * sqrtf(j->b[IX][p] * j->b[IX][p] + j->b[IY][p] * j->b[IY][p]));
            j->b[DU][p] = 0;
            j->b[DV][p] = 0;
        }
}

/* Robust weights for the current increment; the system's coefficients per pixel. */
static void weights_task(void *arg, int task) {
    const refine_job *j = arg;
    int w = j->w, h = j->h;
    float *const *b = j->b;
    for (int y = task * BAND; y < band_end(task, h); y++)
        for (int x = 0; x < w; x++) {
            size_t p = (size_t)y * w + x;
            float du = b[DU][p], dv = b[DV][p];
            float ix = b[IX][p], iy = b[IY][p], ixx = b[IXX][p], ixy = b[IXY][p], iyy = b[IYY][p];
            float iz = b[IZ][p], ixz = b[IXZ][p], iyz = b[IYZ][p];
            float ri = iz + ix * du + iy * dv;
            float rgx = ixz + ixx * du + ixy * dv, rgy = iyz + ixy * du + iyy * dv;
            float wi = DELTA / sqrtf(ri * ri + EPS_DATA * EPS_DATA);
            float wg = GAMMA / sqrtf(rgx * rgx + rgy * rgy + EPS_DATA * EPS_DATA);
            b[A11][p] = wi * ix * ix + wg * (ixx * ixx + ixy * ixy);
            b[A12][p] = wi * ix * iy + wg * (ixx * ixy + ixy * iyy);
            b[A22][p] = wi * iy * iy + wg * (ixy * ixy + iyy * iyy);
            b[B1][p] = -(wi * ix * iz + wg * (ixx * ixz + ixy * iyz));
            b[B2][p] = -(wi * iy * iz + wg * (ixy * ixz + iyy * iyz));
            float U = j->u[p] + du, V = j->v[p] + dv;
            float ux = 0, uy = 0, vx = 0, vy = 0;
            if (x < w - 1) { ux = j->u[p + 1] + b[DU][p + 1] - U; vx = j->v[p + 1] + b[DV][p + 1] - V; }
            if (y < h - 1) { uy = j->u[p + w] + b[DU][p + w] - U; vy = j->v[p + w] + b[DV][p + w] - V; }
            b[WS][p] = b[WE][p] / sqrtf(ux * ux + uy * uy + vx * vx + vy * vy + EPS_SMOOTH);
        }
}

/* The over-relaxed update of pixel p's increment from its neighbours' sums sw (weights), su, sv. */
static inline void sor_solve(float *const *b, size_t p, float sw, float su, float sv) {
    float du = b[DU][p], dv = b[DV][p];
    float nu = (b[B1][p] - b[A12][p] * dv + su) / (b[A11][p] + sw + 1e-9f);
    du = (1 - OMEGA) * du + OMEGA * nu;
    float nv = (b[B2][p] - b[A12][p] * du + sv) / (b[A22][p] + sw + 1e-9f);
    dv = (1 - OMEGA) * dv + OMEGA * nv;
    b[DU][p] = du;
    b[DV][p] = dv;
}

/* One red-black SOR update of pixel p (x, y) from its neighbours inside the frame. */
static inline void sor_pixel(const refine_job *j, int x, int y) {
    int w = j->w, h = j->h;
    float *const *b = j->b;
    size_t p = (size_t)y * w + x;
    float sw = 0, su = 0, sv = 0, up = j->u[p], vp = j->v[p];
    if (x > 0) { float k = b[WS][p - 1]; sw += k; su += k * (j->u[p - 1] + b[DU][p - 1] - up); sv += k * (j->v[p - 1] + b[DV][p - 1] - vp); }
    if (x < w - 1) { float k = b[WS][p]; sw += k; su += k * (j->u[p + 1] + b[DU][p + 1] - up); sv += k * (j->v[p + 1] + b[DV][p + 1] - vp); }
    if (y > 0) { float k = b[WS][p - w]; sw += k; su += k * (j->u[p - w] + b[DU][p - w] - up); sv += k * (j->v[p - w] + b[DV][p - w] - vp); }
    if (y < h - 1) { float k = b[WS][p]; sw += k; su += k * (j->u[p + w] + b[DU][p + w] - up); sv += k * (j->v[p + w] + b[DV][p + w] - vp); }
    sor_solve(b, p, sw, su, sv);
}

/* Rows away from the top and bottom borders take the same update without the border tests (the same
 * arithmetic in the same order, so the same result), which the compiler keeps in registers. */
static void sor_task(void *arg, int task) {
    const refine_job *j = arg;
    int w = j->w, h = j->h;
    float *const *b = j->b;
    const float *ws = b[WS], *bu = b[DU], *bv = b[DV], *U = j->u, *V = j->v;
    for (int y = task * BAND; y < band_end(task, h); y++) {
        int x = (y + j->color) & 1;
        if (y == 0 || y == h - 1 || w < 3) {
            for (; x < w; x += 2) sor_pixel(j, x, y);
            continue;
        }
        if (x == 0) { sor_pixel(j, 0, y); x = 2; }
        /* the vector loads of rows y-1 and y+1 take 16 floats, among them pixels of the colour this
         * sweep writes: only where those rows are this task's own (not another thread's) */
        if (j->avx2 && y > task * BAND && y + 1 < band_end(task, h)) {
            kn_sor_planes s = {U, V, ws, b[A11], b[A12], b[A22], b[B1], b[B2], b[DU], b[DV]};
            x = kn_sor_row_avx2(&s, y, x, w, OMEGA);
        }
        for (; x < w - 1; x += 2) {
            size_t p = (size_t)y * w + x;
            float up = U[p], vp = V[p], k0 = ws[p - 1], k1 = ws[p], k2 = ws[p - w];
            float sw = k0 + k1, su = k0 * (U[p - 1] + bu[p - 1] - up), sv = k0 * (V[p - 1] + bv[p - 1] - vp);
            su += k1 * (U[p + 1] + bu[p + 1] - up); sv += k1 * (V[p + 1] + bv[p + 1] - vp);
            sw += k2; su += k2 * (U[p - w] + bu[p - w] - up); sv += k2 * (V[p - w] + bv[p - w] - vp);
            sw += k1; su += k1 * (U[p + w] + bu[p + w] - up); sv += k1 * (V[p + w] + bv[p + w] - vp);
            sor_solve(b, p, sw, su, sv);
        }
        if (x == w - 1) sor_pixel(j, x, y);
    }
}

static void apply_task(void *arg, int task) {
    const refine_job *j = arg;
    for (int y = task * BAND; y < band_end(task, j->h); y++)
        for (int x = 0; x < j->w; x++) {
            size_t p = (size_t)y * j->w + x;
            j->u[p] += j->b[DU][p];
            j->v[p] += j->b[DV][p];
        }
}

kn_status kn_flow_refine(const kn_ctx *ctx, const float *I0, const float *I1, int w, int h, float *u, float *v,
                         int iters, kn_interp_ws *ws, kn_error *err) {
    size_t n = (size_t)w * h;
    refine_job j = {I0, I1, u, v, {0}, w, h, 0, ctx && ctx->isa >= KN_ISA_AVX2};
    float *mem = kn_ws_get(ws, n * NBUF * sizeof *mem);
    if (!mem) return kn_fail(err, KN_ENOMEM, "interp: out of memory refining a %dx%d flow", w, h);
    for (int i = 0; i < NBUF; i++) j.b[i] = mem + (size_t)i * n;
    int nb = (h + BAND - 1) / BAND;
    kn_interp_run(ctx, nb, warp_task, &j);
    kn_interp_run(ctx, nb, deriv_task, &j);
    for (int it = 0; it < iters; it++) {
        kn_interp_run(ctx, nb, weights_task, &j);
        for (int s = 0; s < SOR_ITERS; s++)
            for (j.color = 0; j.color < 2; j.color++) kn_interp_run(ctx, nb, sor_task, &j);
    }
    kn_interp_run(ctx, nb, apply_task, &j);
    kn_ws_put(ws, mem);
    return KN_OK;
}
