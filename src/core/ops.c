/* The light ops of ops.h: weight element access, resampling, lookups, embeddings, elementwise
 * arithmetic, layout permutes and losses. The heavy kernels live in their own files: gemm.c (matrix
 * products, linear), conv.c, attention.c, norm.c, act.c. */
#include "core/ops.h"
#include <math.h>
#include <stdlib.h>

float kn_wget(kn_wview w, size_t i) {
    switch (w.dtype) {
    case KN_F16: return kn_f16_to_f32(((const uint16_t *)w.data)[i]);
    case KN_BF16: return kn_bf16_to_f32(((const uint16_t *)w.data)[i]);
    default: return ((const float *)w.data)[i];
    }
}

/* ---------------- resampling, lookup, embeddings ---------------- */
void kn_upsample_nearest2x(const kn_ctx *ctx, const float *x, size_t N, int H, int W, float *y) {
    (void)ctx;
    for (size_t n = 0; n < N; n++)
        for (int i = 0; i < 2 * H; i++)
            for (int jx = 0; jx < 2 * W; jx++)
                y[(n * 2 * H + i) * 2 * W + jx] = x[(n * H + i / 2) * W + jx / 2];
}

void kn_upsample_nearest2x_backward(const kn_ctx *ctx, const float *dy, size_t N, int H, int W, float *dx) {
    (void)ctx;
    for (size_t n = 0; n < N; n++)
        for (int i = 0; i < H; i++)
            for (int jx = 0; jx < W; jx++) {
                const float *d = dy + (n * 2 * H + 2 * i) * 2 * W + 2 * jx;
                dx[(n * H + i) * W + jx] = d[0] + d[1] + d[2 * W] + d[2 * W + 1];
            }
}

void kn_embedding(const int64_t *ids, size_t n, kn_wview table, int D, float *y) {
    for (size_t i = 0; i < n; i++)
        for (int d = 0; d < D; d++) y[i * D + d] = kn_wget(table, (size_t)ids[i] * D + d);
}

void kn_embedding_backward(const int64_t *ids, size_t n, int D, const float *dy, float *dtable) {
    for (size_t i = 0; i < n; i++)
        for (int d = 0; d < D; d++) dtable[(size_t)ids[i] * D + d] += dy[i * D + d];
}

void kn_timestep_embedding(const float *t, int n, int dim, int flip_sin_to_cos, float freq_shift,
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
void kn_add(const float *a, const float *b, size_t n, float *y) { for (size_t i = 0; i < n; i++) y[i] = a[i] + b[i]; }
void kn_axpy(float alpha, const float *x, size_t n, float *y) { for (size_t i = 0; i < n; i++) y[i] += alpha * x[i]; }
void kn_scale(const float *x, float alpha, size_t n, float *y) { for (size_t i = 0; i < n; i++) y[i] = alpha * x[i]; }
void kn_mul(const float *a, const float *b, size_t n, float *y) { for (size_t i = 0; i < n; i++) y[i] = a[i] * b[i]; }

void kn_add_channel_bias(float *x, int B, int C, size_t S, const float *bias) {
    for (int b = 0; b < B; b++)
        for (int c = 0; c < C; c++) {
            float *p = x + ((size_t)b * C + c) * S;
            for (size_t i = 0; i < S; i++) p[i] += bias[c];
        }
}

void kn_add_channel_bias_backward(const float *dy, int B, int C, size_t S, float *db) {
    for (int c = 0; c < C; c++) {
        double acc = 0;
        for (int b = 0; b < B; b++) {
            const float *p = dy + ((size_t)b * C + c) * S;
            for (size_t i = 0; i < S; i++) acc += p[i];
        }
        db[c] += (float)acc;
    }
}

void kn_concat_channels(const float *a, int Ca, const float *b, int Cb, int B, size_t S, float *y) {
    for (int n = 0; n < B; n++) {
        memcpy(y + (size_t)n * (Ca + Cb) * S, a + (size_t)n * Ca * S, sizeof(float) * Ca * S);
        memcpy(y + ((size_t)n * (Ca + Cb) + Ca) * S, b + (size_t)n * Cb * S, sizeof(float) * Cb * S);
    }
}

void kn_split_channels(const float *dy, int Ca, int Cb, int B, size_t S, float *da, float *db) {
    for (int n = 0; n < B; n++) {
        if (da) memcpy(da + (size_t)n * Ca * S, dy + (size_t)n * (Ca + Cb) * S, sizeof(float) * Ca * S);
        if (db) memcpy(db + (size_t)n * Cb * S, dy + ((size_t)n * (Ca + Cb) + Ca) * S, sizeof(float) * Cb * S);
    }
}

void kn_permute4(const kn_ctx *ctx, const float *x, const int dims[4], const int perm[4], float *y) {
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

void kn_bcs_to_bsc(const kn_ctx *ctx, const float *x, int B, int C, size_t S, float *y) {
    int dims[4] = {B, C, (int)S, 1}, perm[4] = {0, 2, 1, 3};
    kn_permute4(ctx, x, dims, perm, y);
}

void kn_bsc_to_bcs(const kn_ctx *ctx, const float *x, int B, int C, size_t S, float *y) {
    int dims[4] = {B, (int)S, C, 1}, perm[4] = {0, 2, 1, 3};
    kn_permute4(ctx, x, dims, perm, y);
}

float kn_mse(const float *x, const float *target, size_t n) {
    double acc = 0;
    for (size_t i = 0; i < n; i++) { double d = (double)x[i] - target[i]; acc += d * d; }
    return n ? (float)(acc / n) : 0.f;
}

void kn_mse_backward(const float *x, const float *target, size_t n, float scale, float *dx) {
    float k = n ? 2.f * scale / (float)n : 0.f;
    for (size_t i = 0; i < n; i++) dx[i] = k * (x[i] - target[i]);
}
