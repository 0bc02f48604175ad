/* Reference implementations for tests/unit/test_ops*.c: the plain loops the optimised kernels
 * replaced, kept verbatim (renamed ref_*) so the fast paths are checked against independent code. */
#ifndef KN_OPS_REF_H
#define KN_OPS_REF_H
#include "core/ops.h"
#include <math.h>
#include <stdlib.h>
#pragma GCC diagnostic ignored "-Wunused-parameter"   /* the verbatim loops ignore ctx */

/* ---------------- GEMM ---------------- */
typedef struct {
    int transA, transB, M, N, K, lda, ldb, ldc;
    float alpha, beta;
    const float *A;
    kn_wview B;
    float *C;
    int rows_per_task;
} gemm_job;

static void gemm_task(void *arg, int task) {
    const gemm_job *j = arg;
    int i0 = task * j->rows_per_task, i1 = i0 + j->rows_per_task;
    if (i1 > j->M) i1 = j->M;
    float *acc = malloc(sizeof(float) * (size_t)j->N);
    if (!acc) abort();
    for (int i = i0; i < i1; i++) {
        for (int n = 0; n < j->N; n++) acc[n] = 0.f;
        for (int k = 0; k < j->K; k++) {
            float a = j->transA ? j->A[(size_t)k * j->lda + i] : j->A[(size_t)i * j->lda + k];
            if (a == 0.f) continue;
            if (!j->transB && j->B.dtype == KN_F32) {
                const float *b = (const float *)j->B.data + (size_t)k * j->ldb;
                for (int n = 0; n < j->N; n++) acc[n] += a * b[n];
            } else {
                for (int n = 0; n < j->N; n++) {
                    size_t bi = j->transB ? (size_t)n * j->ldb + k : (size_t)k * j->ldb + n;
                    acc[n] += a * kn_wget(j->B, bi);
                }
            }
        }
        float *c = j->C + (size_t)i * j->ldc;
        for (int n = 0; n < j->N; n++)
            c[n] = j->alpha * acc[n] + (j->beta == 0.f ? 0.f : j->beta * c[n]);
    }
    free(acc);
}

static inline void ref_gemm(const kn_ctx *ctx, int transA, int transB, int M, int N, int K, float alpha,
             const float *A, int lda, kn_wview B, int ldb, float beta, float *C, int ldc) {
    if (M <= 0 || N <= 0) return;
    gemm_job j = {transA, transB, M, N, K, lda, ldb, ldc, alpha, beta, A, B, C, 0};
    j.rows_per_task = M < 64 ? 1 : 16;
    int ntasks = (M + j.rows_per_task - 1) / j.rows_per_task;
    kn_pool_run(NULL, ntasks, gemm_task, &j);
}

static inline void ref_gemm_batched(const kn_ctx *ctx, int batch, int transA, int transB, int M, int N, int K,
                     float alpha, const float *A, int lda, size_t strideA, const float *B, int ldb,
                     size_t strideB, float beta, float *C, int ldc, size_t strideC) {
    for (int b = 0; b < batch; b++)
        ref_gemm(ctx, transA, transB, M, N, K, alpha, A + b * strideA, lda, kn_wf32(B + b * strideB), ldb,
                beta, C + b * strideC, ldc);
}

static inline void ref_linear(const kn_ctx *ctx, const float *x, int M, int K, kn_wview W, const float *bias, int N,
               float *y) {
    ref_gemm(ctx, 0, 1, M, N, K, 1.f, x, K, W, K, 0.f, y, N);
    if (bias)
        for (int i = 0; i < M; i++)
            for (int n = 0; n < N; n++) y[(size_t)i * N + n] += bias[n];
}

static inline void ref_linear_backward(const kn_ctx *ctx, const float *x, int M, int K, const float *W, int N,
                        const float *dy, float *dx, float *dW, float *db) {
    if (dx) ref_gemm(ctx, 0, 0, M, K, N, 1.f, dy, N, kn_wf32(W), K, 0.f, dx, K);
    if (dW) ref_gemm(ctx, 1, 0, N, K, M, 1.f, dy, N, kn_wf32(x), K, 1.f, dW, K);
    if (db)
        for (int n = 0; n < N; n++) {
            float s = 0.f;
            for (int i = 0; i < M; i++) s += dy[(size_t)i * N + n];
            db[n] += s;
        }
}

/* ---------------- conv2d (direct) ---------------- */
typedef struct {
    const kn_conv2d_shape *s;
    const float *x, *bias, *dy;
    kn_wview w;
    float *y;
    int Ho, Wo;
} conv_job;

static void conv_task(void *arg, int task) {  /* one (b, cout) plane per task */
    const conv_job *j = arg;
    const kn_conv2d_shape *s = j->s;
    int b = task / s->Cout, co = task % s->Cout;
    float *y = j->y + ((size_t)b * s->Cout + co) * j->Ho * j->Wo;
    float bv = j->bias ? j->bias[co] : 0.f;
    for (int i = 0; i < j->Ho * j->Wo; i++) y[i] = 0.f;
    for (int ci = 0; ci < s->Cin; ci++) {
        const float *x = j->x + ((size_t)b * s->Cin + ci) * s->H * s->W;
        for (int ky = 0; ky < s->kh; ky++)
            for (int kx = 0; kx < s->kw; kx++) {
                float wv = kn_wget(j->w, (((size_t)co * s->Cin + ci) * s->kh + ky) * s->kw + kx);
                for (int oy = 0; oy < j->Ho; oy++) {
                    int iy = oy * s->stride + ky - s->pad_top;
                    if (iy < 0 || iy >= s->H) continue;
                    for (int ox = 0; ox < j->Wo; ox++) {
                        int ix = ox * s->stride + kx - s->pad_left;
                        if (ix < 0 || ix >= s->W) continue;
                        y[oy * j->Wo + ox] += wv * x[iy * s->W + ix];
                    }
                }
            }
    }
    for (int i = 0; i < j->Ho * j->Wo; i++) y[i] += bv;
}

static inline void ref_conv2d(const kn_ctx *ctx, const kn_conv2d_shape *s, const float *x, kn_wview w,
               const float *bias, float *y) {
    conv_job j = {s, x, bias, NULL, w, y, kn_conv2d_out_h(s), kn_conv2d_out_w(s)};
    kn_pool_run(NULL, s->B * s->Cout, conv_task, &j);
}

static void conv_dx_task(void *arg, int task) {  /* one (b, cin) plane of dx per task */
    const conv_job *j = arg;
    const kn_conv2d_shape *s = j->s;
    int b = task / s->Cin, ci = task % s->Cin;
    float *dx = j->y + ((size_t)b * s->Cin + ci) * s->H * s->W;
    for (int i = 0; i < s->H * s->W; i++) dx[i] = 0.f;
    for (int co = 0; co < s->Cout; co++) {
        const float *dy = j->dy + ((size_t)b * s->Cout + co) * j->Ho * j->Wo;
        for (int ky = 0; ky < s->kh; ky++)
            for (int kx = 0; kx < s->kw; kx++) {
                float wv = kn_wget(j->w, (((size_t)co * s->Cin + ci) * s->kh + ky) * s->kw + kx);
                for (int oy = 0; oy < j->Ho; oy++) {
                    int iy = oy * s->stride + ky - s->pad_top;
                    if (iy < 0 || iy >= s->H) continue;
                    for (int ox = 0; ox < j->Wo; ox++) {
                        int ix = ox * s->stride + kx - s->pad_left;
                        if (ix < 0 || ix >= s->W) continue;
                        dx[iy * s->W + ix] += wv * dy[oy * j->Wo + ox];
                    }
                }
            }
    }
}

static void conv_dw_task(void *arg, int task) {  /* one cout filter of dw per task */
    const conv_job *j = arg;
    const kn_conv2d_shape *s = j->s;
    int co = task;
    float *dw = j->y + (size_t)co * s->Cin * s->kh * s->kw;
    for (int b = 0; b < s->B; b++) {
        const float *dy = j->dy + ((size_t)b * s->Cout + co) * j->Ho * j->Wo;
        for (int ci = 0; ci < s->Cin; ci++) {
            const float *x = j->x + ((size_t)b * s->Cin + ci) * s->H * s->W;
            for (int ky = 0; ky < s->kh; ky++)
                for (int kx = 0; kx < s->kw; kx++) {
                    float acc = 0.f;
                    for (int oy = 0; oy < j->Ho; oy++) {
                        int iy = oy * s->stride + ky - s->pad_top;
                        if (iy < 0 || iy >= s->H) continue;
                        for (int ox = 0; ox < j->Wo; ox++) {
                            int ix = ox * s->stride + kx - s->pad_left;
                            if (ix < 0 || ix >= s->W) continue;
                            acc += x[iy * s->W + ix] * dy[oy * j->Wo + ox];
                        }
                    }
                    dw[(ci * s->kh + ky) * s->kw + kx] += acc;
                }
        }
    }
}

static inline void ref_conv2d_backward(const kn_ctx *ctx, const kn_conv2d_shape *s, const float *x, const float *w,
                        const float *dy, float *dx, float *dw, float *db) {
    int Ho = kn_conv2d_out_h(s), Wo = kn_conv2d_out_w(s);
    if (dx) {
        conv_job j = {s, x, NULL, dy, kn_wf32(w), dx, Ho, Wo};
        kn_pool_run(NULL, s->B * s->Cin, conv_dx_task, &j);
    }
    if (dw) {
        conv_job j = {s, x, NULL, dy, kn_wf32(w), dw, Ho, Wo};
        kn_pool_run(NULL, s->Cout, conv_dw_task, &j);
    }
    if (db)
        for (int co = 0; co < s->Cout; co++) {
            double acc = 0;
            for (int b = 0; b < s->B; b++) {
                const float *d = dy + ((size_t)b * s->Cout + co) * Ho * Wo;
                for (int i = 0; i < Ho * Wo; i++) acc += d[i];
            }
            db[co] += (float)acc;
        }
}

/* ---------------- normalisation ---------------- */
typedef struct {
    const float *x, *gamma, *beta, *dy;
    float *y, *dx, *dgamma, *dbeta;
    int B, C, G;
    size_t S;
    float eps;
} gn_job;

static void gn_task(void *arg, int task) {  /* one (b, g) per task */
    const gn_job *j = arg;
    int b = task / j->G, g = task % j->G, cpg = j->C / j->G;
    size_t n = (size_t)cpg * j->S, off = ((size_t)b * j->C + (size_t)g * cpg) * j->S;
    const float *x = j->x + off;
    double sum = 0, sq = 0;
    for (size_t i = 0; i < n; i++) sum += x[i];
    double mean = sum / n;
    for (size_t i = 0; i < n; i++) { double d = x[i] - mean; sq += d * d; }
    float rstd = (float)(1.0 / sqrt(sq / n + j->eps)), m = (float)mean;
    for (int c = 0; c < cpg; c++) {
        int ch = g * cpg + c;
        float ga = j->gamma ? j->gamma[ch] : 1.f, be = j->beta ? j->beta[ch] : 0.f;
        const float *xc = x + (size_t)c * j->S;
        float *yc = j->y + off + (size_t)c * j->S;
        for (size_t i = 0; i < j->S; i++) yc[i] = (xc[i] - m) * rstd * ga + be;
    }
}

static inline void ref_group_norm(const kn_ctx *ctx, const float *x, int B, int C, size_t S, int G, float eps,
                   const float *gamma, const float *beta, float *y) {
    gn_job j = {x, gamma, beta, NULL, y, NULL, NULL, NULL, B, C, G, S, eps};
    kn_pool_run(NULL, B * G, gn_task, &j);
}

static inline void ref_group_norm_backward(const kn_ctx *ctx, const float *x, int B, int C, size_t S, int G, float eps,
                            const float *gamma, const float *dy, float *dx, float *dgamma, float *dbeta) {
    (void)ctx;
    int cpg = C / G;
    size_t n = (size_t)cpg * S;
    for (int b = 0; b < B; b++)
        for (int g = 0; g < G; g++) {
            size_t off = ((size_t)b * C + (size_t)g * cpg) * S;
            const float *xg = x + off, *dyg = dy + off;
            double sum = 0, sq = 0;
            for (size_t i = 0; i < n; i++) sum += xg[i];
            double mean = sum / n;
            for (size_t i = 0; i < n; i++) { double d = xg[i] - mean; sq += d * d; }
            double rstd = 1.0 / sqrt(sq / n + eps);
            double s1 = 0, s2 = 0;   /* sums of dxhat and dxhat*xhat */
            for (int c = 0; c < cpg; c++) {
                int ch = g * cpg + c;
                double ga = gamma ? gamma[ch] : 1.0, dg = 0, dbsum = 0;
                for (size_t i = 0; i < S; i++) {
                    double xh = (xg[c * S + i] - mean) * rstd, d = dyg[c * S + i];
                    dg += d * xh; dbsum += d;
                    s1 += d * ga; s2 += d * ga * xh;
                }
                if (dgamma) dgamma[ch] += (float)dg;
                if (dbeta) dbeta[ch] += (float)dbsum;
            }
            if (dx)
                for (int c = 0; c < cpg; c++) {
                    double ga = gamma ? gamma[g * cpg + c] : 1.0;
                    for (size_t i = 0; i < S; i++) {
                        double xh = (xg[c * S + i] - mean) * rstd;
                        dx[off + c * S + i] = (float)(rstd * (dyg[c * S + i] * ga - s1 / n - xh * s2 / n));
                    }
                }
        }
}

static inline void ref_layer_norm(const kn_ctx *ctx, const float *x, size_t rows, int D, float eps, const float *gamma,
                   const float *beta, float *y) {
    (void)ctx;
    for (size_t r = 0; r < rows; r++) {
        const float *xr = x + r * D;
        float *yr = y + r * D;
        double sum = 0, sq = 0;
        for (int i = 0; i < D; i++) sum += xr[i];
        double mean = sum / D;
        for (int i = 0; i < D; i++) { double d = xr[i] - mean; sq += d * d; }
        float rstd = (float)(1.0 / sqrt(sq / D + eps)), m = (float)mean;
        for (int i = 0; i < D; i++)
            yr[i] = (xr[i] - m) * rstd * (gamma ? gamma[i] : 1.f) + (beta ? beta[i] : 0.f);
    }
}

static inline void ref_layer_norm_backward(const kn_ctx *ctx, const float *x, size_t rows, int D, float eps,
                            const float *gamma, const float *dy, float *dx, float *dgamma, float *dbeta) {
    (void)ctx;
    for (size_t r = 0; r < rows; r++) {
        const float *xr = x + r * D, *dyr = dy + r * D;
        double sum = 0, sq = 0;
        for (int i = 0; i < D; i++) sum += xr[i];
        double mean = sum / D;
        for (int i = 0; i < D; i++) { double d = xr[i] - mean; sq += d * d; }
        double rstd = 1.0 / sqrt(sq / D + eps), s1 = 0, s2 = 0;
        for (int i = 0; i < D; i++) {
            double xh = (xr[i] - mean) * rstd, g = gamma ? gamma[i] : 1.0;
            s1 += dyr[i] * g; s2 += dyr[i] * g * xh;
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

/* ---------------- activations ---------------- */
static float act_f(kn_act a, float x) {
    switch (a) {
    case KN_ACT_SILU: return x / (1.f + expf(-x));
    case KN_ACT_GELU: return 0.5f * x * (1.f + erff(x * 0.70710678118654752f));
    case KN_ACT_GELU_TANH: {
        float u = 0.7978845608028654f * (x + 0.044715f * x * x * x);
        return 0.5f * x * (1.f + tanhf(u));
    }
    case KN_ACT_QUICK_GELU: return x / (1.f + expf(-1.702f * x));
    }
    return x;
}

static float act_df(kn_act a, float x) {
    switch (a) {
    case KN_ACT_SILU: { float s = 1.f / (1.f + expf(-x)); return s * (1.f + x * (1.f - s)); }
    case KN_ACT_GELU: {
        float cdf = 0.5f * (1.f + erff(x * 0.70710678118654752f));
        float pdf = 0.3989422804014327f * expf(-0.5f * x * x);
        return cdf + x * pdf;
    }
    case KN_ACT_GELU_TANH: {
        float k = 0.7978845608028654f, u = k * (x + 0.044715f * x * x * x), t = tanhf(u);
        return 0.5f * (1.f + t) + 0.5f * x * (1.f - t * t) * k * (1.f + 3.f * 0.044715f * x * x);
    }
    case KN_ACT_QUICK_GELU: { float s = 1.f / (1.f + expf(-1.702f * x)); return s + 1.702f * x * s * (1.f - s); }
    }
    return 1.f;
}

static inline void ref_activation(const kn_ctx *ctx, kn_act act, const float *x, size_t n, float *y) {
    (void)ctx;
    for (size_t i = 0; i < n; i++) y[i] = act_f(act, x[i]);
}

static inline void ref_activation_backward(const kn_ctx *ctx, kn_act act, const float *x, const float *dy, size_t n,
                            float *dx) {
    (void)ctx;
    for (size_t i = 0; i < n; i++) dx[i] = dy[i] * act_df(act, x[i]);
}

static inline void ref_geglu(const kn_ctx *ctx, const float *x, size_t rows, int D, float *y) {
    (void)ctx;
    for (size_t r = 0; r < rows; r++)
        for (int i = 0; i < D; i++)
            y[r * D + i] = x[r * 2 * D + i] * act_f(KN_ACT_GELU, x[r * 2 * D + D + i]);
}

static inline void ref_geglu_backward(const kn_ctx *ctx, const float *x, size_t rows, int D, const float *dy, float *dx) {
    (void)ctx;
    for (size_t r = 0; r < rows; r++)
        for (int i = 0; i < D; i++) {
            float a = x[r * 2 * D + i], g = x[r * 2 * D + D + i], d = dy[r * D + i];
            dx[r * 2 * D + i] = d * act_f(KN_ACT_GELU, g);
            dx[r * 2 * D + D + i] = d * a * act_df(KN_ACT_GELU, g);
        }
}

/* ---------------- attention ---------------- */
typedef struct {
    const kn_attn_shape *s;
    const float *q, *k, *v;
    float *out;
} attn_job;

static void attn_task(void *arg, int task) {  /* one (b, h, query row) per task, online softmax */
    const attn_job *j = arg;
    const kn_attn_shape *s = j->s;
    int i = task % s->Lq, h = (task / s->Lq) % s->H, b = task / (s->Lq * s->H);
    const float *q = j->q + ((size_t)b * s->Lq + i) * s->ldq + (size_t)h * s->dh;
    float *o = j->out + ((size_t)b * s->Lq + i) * s->ldo + (size_t)h * s->dh;
    float m = -INFINITY, l = 0.f;
    for (int d = 0; d < s->dh; d++) o[d] = 0.f;
    int kend = s->causal ? (i + 1 < s->Lk ? i + 1 : s->Lk) : s->Lk;
    for (int t = 0; t < kend; t++) {
        const float *k = j->k + ((size_t)b * s->Lk + t) * s->ldk + (size_t)h * s->dh;
        const float *v = j->v + ((size_t)b * s->Lk + t) * s->ldv + (size_t)h * s->dh;
        float sc = 0.f;
        for (int d = 0; d < s->dh; d++) sc += q[d] * k[d];
        sc *= s->scale;
        float mn = sc > m ? sc : m, corr = expf(m - mn), p = expf(sc - mn);
        l = l * corr + p;
        for (int d = 0; d < s->dh; d++) o[d] = o[d] * corr + p * v[d];
        m = mn;
    }
    float inv = l > 0.f ? 1.f / l : 0.f;
    for (int d = 0; d < s->dh; d++) o[d] *= inv;
}

static inline void ref_attention(const kn_ctx *ctx, const kn_attn_shape *s, const float *q, const float *k,
                  const float *v, float *out) {
    attn_job j = {s, q, k, v, out};
    kn_pool_run(NULL, s->B * s->H * s->Lq, attn_task, &j);
}

static inline void ref_attention_backward(const kn_ctx *ctx, const kn_attn_shape *s, const float *q, const float *k,
                           const float *v, const float *dout, float *dq, float *dk, float *dv) {
    (void)ctx;
    float *p = malloc(sizeof(float) * (size_t)(s->Lk > 0 ? s->Lk : 1));
    if (!p) abort();
    /* zero dk, dv rows (only the head slices we own) */
    for (int b = 0; b < s->B; b++)
        for (int t = 0; t < s->Lk; t++)
            for (int h = 0; h < s->H; h++) {
                if (dk) memset(dk + ((size_t)b * s->Lk + t) * s->ldk + (size_t)h * s->dh, 0, sizeof(float) * s->dh);
                if (dv) memset(dv + ((size_t)b * s->Lk + t) * s->ldv + (size_t)h * s->dh, 0, sizeof(float) * s->dh);
            }
    for (int b = 0; b < s->B; b++)
        for (int h = 0; h < s->H; h++)
            for (int i = 0; i < s->Lq; i++) {
                const float *qi = q + ((size_t)b * s->Lq + i) * s->ldq + (size_t)h * s->dh;
                const float *doi = dout + ((size_t)b * s->Lq + i) * s->ldo + (size_t)h * s->dh;
                int kend = s->causal ? (i + 1 < s->Lk ? i + 1 : s->Lk) : s->Lk;
                float m = -INFINITY;
                for (int t = 0; t < kend; t++) {
                    const float *kt = k + ((size_t)b * s->Lk + t) * s->ldk + (size_t)h * s->dh;
                    float sc = 0.f;
                    for (int d = 0; d < s->dh; d++) sc += qi[d] * kt[d];
                    p[t] = sc * s->scale;
                    if (p[t] > m) m = p[t];
                }
                double l = 0;
                for (int t = 0; t < kend; t++) { p[t] = expf(p[t] - m); l += p[t]; }
                for (int t = 0; t < kend; t++) p[t] = (float)(p[t] / l);
                /* dp_t = dout . v_t ; ds_t = p_t (dp_t - sum_u p_u dp_u) */
                double dot = 0;
                for (int t = 0; t < kend; t++) {
                    const float *vt = v + ((size_t)b * s->Lk + t) * s->ldv + (size_t)h * s->dh;
                    float dp = 0.f;
                    for (int d = 0; d < s->dh; d++) dp += doi[d] * vt[d];
                    dot += p[t] * dp;
                }
                float *dqi = dq ? dq + ((size_t)b * s->Lq + i) * s->ldq + (size_t)h * s->dh : NULL;
                if (dqi) for (int d = 0; d < s->dh; d++) dqi[d] = 0.f;
                for (int t = 0; t < kend; t++) {
                    const float *vt = v + ((size_t)b * s->Lk + t) * s->ldv + (size_t)h * s->dh;
                    const float *kt = k + ((size_t)b * s->Lk + t) * s->ldk + (size_t)h * s->dh;
                    float dp = 0.f;
                    for (int d = 0; d < s->dh; d++) dp += doi[d] * vt[d];
                    float ds = p[t] * (dp - (float)dot) * s->scale;
                    if (dqi) for (int d = 0; d < s->dh; d++) dqi[d] += ds * kt[d];
                    if (dk) {
                        float *dkt = dk + ((size_t)b * s->Lk + t) * s->ldk + (size_t)h * s->dh;
                        for (int d = 0; d < s->dh; d++) dkt[d] += ds * qi[d];
                    }
                    if (dv) {
                        float *dvt = dv + ((size_t)b * s->Lk + t) * s->ldv + (size_t)h * s->dh;
                        for (int d = 0; d < s->dh; d++) dvt[d] += p[t] * doi[d];
                    }
                }
            }
    free(p);
}

/* ---------------- resampling, lookup, embeddings ---------------- */
static inline void ref_upsample_nearest2x(const kn_ctx *ctx, const float *x, size_t N, int H, int W, float *y) {
    (void)ctx;
    for (size_t n = 0; n < N; n++)
        for (int i = 0; i < 2 * H; i++)
            for (int jx = 0; jx < 2 * W; jx++)
                y[(n * 2 * H + i) * 2 * W + jx] = x[(n * H + i / 2) * W + jx / 2];
}

static inline void ref_upsample_nearest2x_backward(const kn_ctx *ctx, const float *dy, size_t N, int H, int W, float *dx) {
    (void)ctx;
    for (size_t n = 0; n < N; n++)
        for (int i = 0; i < H; i++)
            for (int jx = 0; jx < W; jx++) {
                const float *d = dy + (n * 2 * H + 2 * i) * 2 * W + 2 * jx;
                dx[(n * H + i) * W + jx] = d[0] + d[1] + d[2 * W] + d[2 * W + 1];
            }
}

static inline void ref_embedding(const int64_t *ids, size_t n, kn_wview table, int D, float *y) {
    for (size_t i = 0; i < n; i++)
        for (int d = 0; d < D; d++) y[i * D + d] = kn_wget(table, (size_t)ids[i] * D + d);
}

static inline void ref_embedding_backward(const int64_t *ids, size_t n, int D, const float *dy, float *dtable) {
    for (size_t i = 0; i < n; i++)
        for (int d = 0; d < D; d++) dtable[(size_t)ids[i] * D + d] += dy[i * D + d];
}

static inline void ref_timestep_embedding(const float *t, int n, int dim, int flip_sin_to_cos, float freq_shift,
                           float max_period, float *y) {
    int half = dim / 2;
    for (int r = 0; r < n; r++) {
        float *row = y + (size_t)r * dim;
        for (int i = 0; i < half; i++) {
            /* float32 arithmetic in the order diffusers uses, for parity */
            float exponent = -logf(max_period) * (float)i;
            exponent = exponent / ((float)half - freq_shift);
            float e = t[r] * expf(exponent);
            float sv = sinf(e), cv = cosf(e);
            if (flip_sin_to_cos) { row[i] = cv; row[half + i] = sv; }
            else { row[i] = sv; row[half + i] = cv; }
        }
        if (dim % 2) row[dim - 1] = 0.f;
    }
}

/* ---------------- elementwise and layout ---------------- */
static inline void ref_add(const float *a, const float *b, size_t n, float *y) { for (size_t i = 0; i < n; i++) y[i] = a[i] + b[i]; }
static inline void ref_axpy(float alpha, const float *x, size_t n, float *y) { for (size_t i = 0; i < n; i++) y[i] += alpha * x[i]; }
static inline void ref_scale(const float *x, float alpha, size_t n, float *y) { for (size_t i = 0; i < n; i++) y[i] = alpha * x[i]; }
static inline void ref_mul(const float *a, const float *b, size_t n, float *y) { for (size_t i = 0; i < n; i++) y[i] = a[i] * b[i]; }

static inline void ref_add_channel_bias(float *x, int B, int C, size_t S, const float *bias) {
    for (int b = 0; b < B; b++)
        for (int c = 0; c < C; c++) {
            float *p = x + ((size_t)b * C + c) * S;
            for (size_t i = 0; i < S; i++) p[i] += bias[c];
        }
}

static inline void ref_add_channel_bias_backward(const float *dy, int B, int C, size_t S, float *db) {
    for (int c = 0; c < C; c++) {
        double acc = 0;
        for (int b = 0; b < B; b++) {
            const float *p = dy + ((size_t)b * C + c) * S;
            for (size_t i = 0; i < S; i++) acc += p[i];
        }
        db[c] += (float)acc;
    }
}

static inline void ref_concat_channels(const float *a, int Ca, const float *b, int Cb, int B, size_t S, float *y) {
    for (int n = 0; n < B; n++) {
        memcpy(y + (size_t)n * (Ca + Cb) * S, a + (size_t)n * Ca * S, sizeof(float) * Ca * S);
        memcpy(y + ((size_t)n * (Ca + Cb) + Ca) * S, b + (size_t)n * Cb * S, sizeof(float) * Cb * S);
    }
}

static inline void ref_split_channels(const float *dy, int Ca, int Cb, int B, size_t S, float *da, float *db) {
    for (int n = 0; n < B; n++) {
        if (da) memcpy(da + (size_t)n * Ca * S, dy + (size_t)n * (Ca + Cb) * S, sizeof(float) * Ca * S);
        if (db) memcpy(db + (size_t)n * Cb * S, dy + ((size_t)n * (Ca + Cb) + Ca) * S, sizeof(float) * Cb * S);
    }
}

static inline void ref_permute4(const kn_ctx *ctx, const float *x, const int dims[4], const int perm[4], float *y) {
    (void)ctx;
    size_t xs[4];
    xs[3] = 1;
    for (int i = 2; i >= 0; i--) xs[i] = xs[i + 1] * dims[i + 1];
    int od[4];
    size_t st[4];
    for (int k = 0; k < 4; k++) { od[k] = dims[perm[k]]; st[k] = xs[perm[k]]; }
    size_t o = 0;
    for (int a = 0; a < od[0]; a++)
        for (int b = 0; b < od[1]; b++)
            for (int c = 0; c < od[2]; c++) {
                const float *src = x + a * st[0] + b * st[1] + c * st[2];
                for (int d = 0; d < od[3]; d++) y[o++] = src[d * st[3]];
            }
}

static inline void ref_bcs_to_bsc(const kn_ctx *ctx, const float *x, int B, int C, size_t S, float *y) {
    int dims[4] = {B, C, (int)S, 1}, perm[4] = {0, 2, 1, 3};
    ref_permute4(ctx, x, dims, perm, y);
}

static inline void ref_bsc_to_bcs(const kn_ctx *ctx, const float *x, int B, int C, size_t S, float *y) {
    int dims[4] = {B, (int)S, C, 1}, perm[4] = {0, 2, 1, 3};
    ref_permute4(ctx, x, dims, perm, y);
}

static inline float ref_mse(const float *x, const float *target, size_t n) {
    double acc = 0;
    for (size_t i = 0; i < n; i++) { double d = (double)x[i] - target[i]; acc += d * d; }
    return n ? (float)(acc / n) : 0.f;
}

static inline void ref_mse_backward(const float *x, const float *target, size_t n, float scale, float *dx) {
    float k = n ? 2.f * scale / (float)n : 0.f;
    for (size_t i = 0; i < n; i++) dx[i] = k * (x[i] - target[i]);
}

#endif
