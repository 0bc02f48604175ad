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
typedef struct { const float *x; float *y; int H, W; } up_job;

static void up_task(void *arg, int n) {   /* one plane: widen each row once, then copy it below */
    const up_job *j = arg;
    const float *x = j->x + (size_t)n * j->H * j->W;
    float *y = j->y + (size_t)n * 4 * j->H * j->W;
    for (int i = 0; i < j->H; i++) {
        float *r = y + (size_t)2 * i * 2 * j->W;
        for (int jx = 0; jx < j->W; jx++) r[2 * jx] = r[2 * jx + 1] = x[(size_t)i * j->W + jx];
        memcpy(r + 2 * j->W, r, sizeof(float) * 2 * j->W);
    }
}

void kn_upsample_nearest2x(const kn_ctx *ctx, const float *x, size_t N, int H, int W, float *y) {
    if (H <= 0 || W <= 0) return;
    up_job j = {x, y, H, W};
    kn_pool_run(ctx ? ctx->pool : NULL, (int)N, up_task, &j);
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

/* ---- permutes ----
 * Split into fixed pieces (so thread count does not matter): contiguous row copies when the innermost
 * axis is kept, else 32 x 32 tiles of the 2-D transpose between the axis contiguous in x and the one
 * contiguous in y. [B,C,S] <-> [B,S,C] is a batched transpose of the same kind. */
#define TT 32

typedef struct {
    const float *x;
    float *y;
    int od[4];
    size_t st[4], ys[4];
    int a, p, q;        /* a: output axis that is contiguous in x (when not the last); p, q: the others */
    int ablocks;
} perm_job;

static void perm_rows_task(void *arg, int task) {   /* innermost axis kept: contiguous row copies */
    const perm_job *j = arg;
    int a = task / j->od[1], b = task % j->od[1];
    const float *src0 = j->x + a * j->st[0] + b * j->st[1];
    float *o = j->y + ((size_t)a * j->od[1] + b) * j->od[2] * j->od[3];
    for (int c = 0; c < j->od[2]; c++, o += j->od[3])
        memcpy(o, src0 + c * j->st[2], sizeof(float) * j->od[3]);
}

/* Innermost axis changes: for each (p, q) it is a 2-D transpose between output axis a (stride 1 in
 * x) and output axis 3 (stride 1 in y), done in TT x TT tiles so reads and writes both stay in cache. */
static void perm_tile_task(void *arg, int task) {
    const perm_job *j = arg;
    int ab = task % j->ablocks, pq = task / j->ablocks, iq = pq % j->od[j->q], ip = pq / j->od[j->q];
    const float *xb = j->x + ip * j->st[j->p] + iq * j->st[j->q];
    float *yb = j->y + ip * j->ys[j->p] + iq * j->ys[j->q];
    int a0 = ab * TT, a1 = a0 + TT < j->od[j->a] ? a0 + TT : j->od[j->a];
    for (int d0 = 0; d0 < j->od[3]; d0 += TT) {
        int d1 = d0 + TT < j->od[3] ? d0 + TT : j->od[3];
        for (int ia = a0; ia < a1; ia++) {
            float *o = yb + ia * j->ys[j->a];
            const float *src = xb + ia * j->st[j->a];   /* stride 1 when a is x's innermost axis */
            for (int d = d0; d < d1; d++) o[d] = src[d * j->st[3]];
        }
    }
}

void kn_permute4(const kn_ctx *ctx, const float *x, const int dims[4], const int perm[4], float *y) {
    size_t xs[4];
    xs[3] = 1;
    for (int i = 2; i >= 0; i--) xs[i] = xs[i + 1] * dims[i + 1];
    perm_job j;
    memset(&j, 0, sizeof j);
    j.x = x;
    j.y = y;
    for (int k = 0; k < 4; k++) { j.od[k] = dims[perm[k]]; j.st[k] = xs[perm[k]]; }
    if (j.od[0] <= 0 || j.od[1] <= 0 || j.od[2] <= 0 || j.od[3] <= 0) return;
    kn_pool *pool = ctx ? ctx->pool : NULL;
    if (j.st[3] == 1 || j.od[3] == 1) {   /* rows stay contiguous (or are single elements) */
        if (j.od[3] == 1) {   /* drop the unit axis: view as [od0, od1, 1, od2] */
            j.od[3] = j.od[2]; j.st[3] = j.st[2]; j.od[2] = 1; j.st[2] = 0;
            if (j.st[3] != 1) goto tiled;
        }
        kn_pool_run(pool, j.od[0] * j.od[1], perm_rows_task, &j);
        return;
    }
tiled:
    j.ys[3] = 1;
    for (int i = 2; i >= 0; i--) j.ys[i] = j.ys[i + 1] * j.od[i + 1];
    j.a = 2;   /* any axis is correct; the one contiguous in x makes the tiles cache friendly */
    for (int k = 0; k < 3; k++)
        if (j.st[k] == 1) j.a = k;
    int o[2], n = 0;
    for (int k = 0; k < 3; k++)
        if (k != j.a) o[n++] = k;
    j.p = o[0];
    j.q = o[1];
    j.ablocks = (j.od[j.a] + TT - 1) / TT;
    kn_pool_run(pool, j.od[j.p] * j.od[j.q] * j.ablocks, perm_tile_task, &j);
}


typedef struct {
    const float *x;
    float *y;
    int R;          /* rows of each source matrix */
    size_t Ccols;   /* columns of each source matrix */
    int cblocks;    /* column tiles per matrix */
} tr_job;

static void tr_task(void *arg, int task) {   /* one (matrix, column tile) strip: y[b] = x[b]^T */
    const tr_job *j = arg;
    int b = task / j->cblocks;
    size_t c0 = (size_t)(task % j->cblocks) * TT, c1 = c0 + TT < j->Ccols ? c0 + TT : j->Ccols;
    const float *x = j->x + (size_t)b * j->R * j->Ccols;
    float *y = j->y + (size_t)b * j->R * j->Ccols;
    for (int r0 = 0; r0 < j->R; r0 += TT) {
        int r1 = r0 + TT < j->R ? r0 + TT : j->R;
        for (size_t c = c0; c < c1; c++)
            for (int r = r0; r < r1; r++) y[c * j->R + r] = x[(size_t)r * j->Ccols + c];
    }
}

static void transpose_batched(const kn_ctx *ctx, const float *x, int B, int R, size_t Ccols, float *y) {
    if (B <= 0 || R <= 0 || Ccols == 0) return;
    tr_job j = {x, y, R, Ccols, (int)((Ccols + TT - 1) / TT)};
    kn_pool_run(ctx ? ctx->pool : NULL, B * j.cblocks, tr_task, &j);
}

void kn_bcs_to_bsc(const kn_ctx *ctx, const float *x, int B, int C, size_t S, float *y) {
    transpose_batched(ctx, x, B, C, S, y);
}

void kn_bsc_to_bcs(const kn_ctx *ctx, const float *x, int B, int C, size_t S, float *y) {
    transpose_batched(ctx, x, B, (int)S, (size_t)C, y);
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
