/* Group norm and layer norm. Statistics are two-pass (mean, then centred sum of squares) with float
 * vector lanes accumulated in double per chunk, so they hold up for large groups; the normalisation is
 * one fused multiply-add per element with per-channel constants. Forward passes are threaded over
 * (batch, group) or row blocks; backward passes compute per-(batch, channel) partial parameter
 * gradients in parallel and reduce them in a fixed order, so results are thread-count independent. */
#include "core/kernels.h"
#include <math.h>
#include <stdlib.h>

static void moments(const kn_vec *vec, const float *x, size_t n, double *mean, double *var) {
    double s, q;
    vec->sum_sq(x, n, 0.f, &s, &q);
    double m = s / (double)n;
    vec->sum_sq(x, n, (float)m, &s, &q);
    /* s is the residual of rounding m to float; correct for it */
    *mean = m + s / (double)n;
    double v = q / (double)n - (s / (double)n) * (s / (double)n);
    *var = v > 0 ? v : 0;
}

typedef struct {
    const float *x, *gamma, *beta, *dy;
    float *y, *dx, *part;   /* part: [B, C, 2] partial dgamma, dbeta */
    int B, C, G;
    size_t S;
    float eps;
    const kn_vec *vec;
    int silu;   /* apply SiLU to the output while it is in cache */
} gn_job;

static void gn_task(void *arg, int task) {
    const gn_job *j = arg;
    int b = task / j->G, g = task % j->G, cpg = j->C / j->G;
    size_t n = (size_t)cpg * j->S, off = ((size_t)b * j->C + (size_t)g * cpg) * j->S;
    double mean, var;
    moments(j->vec, j->x + off, n, &mean, &var);
    float rstd = (float)(1.0 / sqrt(var + j->eps)), m = (float)mean;
    for (int c = 0; c < cpg; c++) {
        int ch = g * cpg + c;
        float ga = j->gamma ? j->gamma[ch] : 1.f, be = j->beta ? j->beta[ch] : 0.f;
        float a = rstd * ga;
        float *yc = j->y + off + (size_t)c * j->S;
        j->vec->affine(j->x + off + (size_t)c * j->S, m, a, be, j->S, yc);
        if (j->silu) j->vec->silu(yc, j->S, yc);
    }
}

void kn_group_norm(const kn_ctx *ctx, const float *x, int B, int C, size_t S, int G, float eps,
                   const float *gamma, const float *beta, float *y) {
    if (B <= 0 || C <= 0 || G <= 0 || S == 0) return;
    gn_job j = {x, gamma, beta, NULL, y, NULL, NULL, B, C, G, S, eps, kn_vec_for(kn_isa_of(ctx)), 0};
    kn_pool_run(kn_pool_of(ctx), B * G, gn_task, &j);
}

void kn_group_norm_silu(const kn_ctx *ctx, const float *x, int B, int C, size_t S, int G, float eps,
                        const float *gamma, const float *beta, float *y) {
    if (B <= 0 || C <= 0 || G <= 0 || S == 0) return;
    gn_job j = {x, gamma, beta, NULL, y, NULL, NULL, B, C, G, S, eps, kn_vec_for(kn_isa_of(ctx)), 1};
    kn_pool_run(kn_pool_of(ctx), B * G, gn_task, &j);
}

static void gn_bwd_task(void *arg, int task) {
    const gn_job *j = arg;
    int b = task / j->G, g = task % j->G, cpg = j->C / j->G;
    size_t S = j->S, n = (size_t)cpg * S, off = ((size_t)b * j->C + (size_t)g * cpg) * S;
    const float *xg = j->x + off, *dyg = j->dy + off;
    double mean, var;
    moments(j->vec, xg, n, &mean, &var);
    double rstd = 1.0 / sqrt(var + j->eps), s1 = 0, s2 = 0;
    for (int c = 0; c < cpg; c++) {
        int ch = g * cpg + c;
        double ga = j->gamma ? j->gamma[ch] : 1.0, dg = 0, dbs = 0;
        const float *xc = xg + (size_t)c * S, *dc = dyg + (size_t)c * S;
        for (size_t i = 0; i < S; i++) {
            double xh = (xc[i] - mean) * rstd, d = dc[i];
            dg += d * xh;
            dbs += d;
        }
        s1 += dbs * ga;
        s2 += dg * ga;
        if (j->part) {
            j->part[((size_t)b * j->C + ch) * 2] = (float)dg;
            j->part[((size_t)b * j->C + ch) * 2 + 1] = (float)dbs;
        }
    }
    if (!j->dx) return;
    for (int c = 0; c < cpg; c++) {
        double ga = j->gamma ? j->gamma[g * cpg + c] : 1.0;
        const float *xc = xg + (size_t)c * S, *dc = dyg + (size_t)c * S;
        float *o = j->dx + off + (size_t)c * S;
        /* dx = rstd * (dy * ga - s1/n - xhat * s2/n), with per-channel constants; x is centred in
         * float first so large means do not cancel */
        float a = (float)(rstd * ga), bb = (float)(rstd * rstd * s2 / n), cc = (float)(-rstd * s1 / n);
        float m = (float)mean;
        for (size_t i = 0; i < S; i++) o[i] = a * dc[i] - bb * (xc[i] - m) + cc;
    }
}

/* Parameter gradients without a partials buffer (used only when it cannot be allocated). */
static void gn_param_grads_direct(const kn_vec *vec, const float *x, int B, int C, size_t S, int G,
                                  const float *dy, float eps, float *dgamma, float *dbeta) {
    int cpg = C / G;
    for (int b = 0; b < B; b++)
        for (int g = 0; g < G; g++) {
            size_t off = ((size_t)b * C + (size_t)g * cpg) * S;
            double mean, var;
            moments(vec, x + off, (size_t)cpg * S, &mean, &var);
            double rstd = 1.0 / sqrt(var + eps);
            for (int c = 0; c < cpg; c++) {
                double dg = 0, dbs = 0;
                for (size_t i = 0; i < S; i++) {
                    double d = dy[off + c * S + i];
                    dg += d * (x[off + c * S + i] - mean) * rstd;
                    dbs += d;
                }
                if (dgamma) dgamma[g * cpg + c] += (float)dg;
                if (dbeta) dbeta[g * cpg + c] += (float)dbs;
            }
        }
}

void kn_group_norm_backward(const kn_ctx *ctx, const float *x, int B, int C, size_t S, int G, float eps,
                            const float *gamma, const float *dy, float *dx, float *dgamma, float *dbeta) {
    if (B <= 0 || C <= 0 || G <= 0 || S == 0) return;
    float *part = NULL;
    if (dgamma || dbeta) {
        part = kn_malloc(sizeof(float) * 2 * (size_t)B * C);
        if (!part) gn_param_grads_direct(kn_vec_for(kn_isa_of(ctx)), x, B, C, S, G, dy, eps, dgamma, dbeta);
    }
    gn_job j = {x, gamma, NULL, dy, NULL, dx, part, B, C, G, S, eps, kn_vec_for(kn_isa_of(ctx)), 0};
    kn_pool_run(kn_pool_of(ctx), B * G, gn_bwd_task, &j);
    if (part) {
        for (int b = 0; b < B; b++)
            for (int c = 0; c < C; c++) {
                if (dgamma) dgamma[c] += part[((size_t)b * C + c) * 2];
                if (dbeta) dbeta[c] += part[((size_t)b * C + c) * 2 + 1];
            }
        kn_free(part);
    }
}

/* ---- layer norm ---- */
#define LN_ROWS 8

typedef struct {
    const float *x, *gamma, *beta;
    float *y;
    size_t rows;
    int D;
    float eps;
    const kn_vec *vec;
} ln_job;

static void ln_task(void *arg, int task) {
    const ln_job *j = arg;
    size_t r0 = (size_t)task * LN_ROWS, r1 = r0 + LN_ROWS < j->rows ? r0 + LN_ROWS : j->rows;
    for (size_t r = r0; r < r1; r++) {
        const float *xr = j->x + r * j->D;
        float *yr = j->y + r * j->D;
        double mean, var;
        moments(j->vec, xr, (size_t)j->D, &mean, &var);
        float rstd = (float)(1.0 / sqrt(var + j->eps)), m = (float)mean;
        j->vec->affine(xr, m, rstd, 0.f, (size_t)j->D, yr);
        if (j->gamma)
            j->vec->mul(yr, j->gamma, (size_t)j->D, yr);
        if (j->beta)
            for (int i = 0; i < j->D; i++) yr[i] += j->beta[i];
    }
}

void kn_layer_norm(const kn_ctx *ctx, const float *x, size_t rows, int D, float eps, const float *gamma,
                   const float *beta, float *y) {
    if (rows == 0 || D <= 0) return;
    ln_job j = {x, gamma, beta, y, rows, D, eps, kn_vec_for(kn_isa_of(ctx))};
    kn_pool_run(kn_pool_of(ctx), (int)((rows + LN_ROWS - 1) / LN_ROWS), ln_task, &j);
}

void kn_layer_norm_backward(const kn_ctx *ctx, const float *x, size_t rows, int D, float eps,
                            const float *gamma, const float *dy, float *dx, float *dgamma, float *dbeta) {
    const kn_vec *vec = kn_vec_for(kn_isa_of(ctx));
    for (size_t r = 0; r < rows; r++) {
        const float *xr = x + r * D, *dyr = dy + r * D;
        double mean, var;
        moments(vec, xr, (size_t)D, &mean, &var);
        double rstd = 1.0 / sqrt(var + eps), s1 = 0, s2 = 0;
        for (int i = 0; i < D; i++) {
            double xh = (xr[i] - mean) * rstd, g = gamma ? gamma[i] : 1.0;
            s1 += dyr[i] * g;
            s2 += dyr[i] * g * xh;
            if (dgamma) dgamma[i] += (float)(dyr[i] * xh);
            if (dbeta) dbeta[i] += dyr[i];
        }
        if (dx)
            for (int i = 0; i < D; i++) {
                double xh = (xr[i] - mean) * rstd, g = gamma ? gamma[i] : 1.0;
                dx[r * D + i] = (float)(rstd * (dyr[i] * g - s1 / D - xh * s2 / D));
            }
    }
}
