/* Activations and GEGLU. SiLU and erf-GELU (the hot ones in UNets) go through the ISA's vector table
 * (kernels.h); the others and all backward passes use libm. Work is split into fixed-size element
 * chunks (or row blocks for GEGLU), so results do not depend on the thread count. */
#include "core/kernels.h"
#include <math.h>

#define ACT_CHUNK 16384
#define GEGLU_ROWS 4

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

typedef struct {
    kn_act act;
    const float *x, *dy;
    float *y;
    size_t n;
    int D;
    const kn_vec *vec;
} act_job;

static void act_task(void *arg, int task) {
    const act_job *j = arg;
    size_t i0 = (size_t)task * ACT_CHUNK, n = j->n - i0 < ACT_CHUNK ? j->n - i0 : ACT_CHUNK;
    const float *x = j->x + i0;
    float *y = j->y + i0;
    if (j->act == KN_ACT_SILU) j->vec->silu(x, n, y);
    else if (j->act == KN_ACT_GELU) j->vec->gelu(x, n, y);
    else for (size_t i = 0; i < n; i++) y[i] = act_f(j->act, x[i]);
}

static int chunks(size_t n) { return (int)((n + ACT_CHUNK - 1) / ACT_CHUNK); }

void kn_activation(const kn_ctx *ctx, kn_act act, const float *x, size_t n, float *y) {
    act_job j = {act, x, NULL, y, n, 0, kn_vec_for(kn_isa_of(ctx))};
    kn_pool_run(kn_pool_of(ctx), chunks(n), act_task, &j);
}

static void act_bwd_task(void *arg, int task) {
    const act_job *j = arg;
    size_t i0 = (size_t)task * ACT_CHUNK, i1 = i0 + ACT_CHUNK < j->n ? i0 + ACT_CHUNK : j->n;
    for (size_t i = i0; i < i1; i++) j->y[i] = j->dy[i] * act_df(j->act, j->x[i]);
}

void kn_activation_backward(const kn_ctx *ctx, kn_act act, const float *x, const float *dy, size_t n,
                            float *dx) {
    act_job j = {act, x, dy, dx, n, 0, NULL};
    kn_pool_run(kn_pool_of(ctx), chunks(n), act_bwd_task, &j);
}

static void geglu_task(void *arg, int task) {
    const act_job *j = arg;
    size_t r0 = (size_t)task * GEGLU_ROWS, r1 = r0 + GEGLU_ROWS < j->n ? r0 + GEGLU_ROWS : j->n;
    size_t D = (size_t)j->D;
    for (size_t r = r0; r < r1; r++) {
        float *y = j->y + r * D;
        j->vec->gelu(j->x + r * 2 * D + D, D, y);
        j->vec->mul(y, j->x + r * 2 * D, D, y);
    }
}

void kn_geglu(const kn_ctx *ctx, const float *x, size_t rows, int D, float *y) {
    if (D <= 0) return;
    act_job j = {KN_ACT_GELU, x, NULL, y, rows, D, kn_vec_for(kn_isa_of(ctx))};
    kn_pool_run(kn_pool_of(ctx), (int)((rows + GEGLU_ROWS - 1) / GEGLU_ROWS), geglu_task, &j);
}

static void geglu_bwd_task(void *arg, int task) {
    const act_job *j = arg;
    size_t r0 = (size_t)task * GEGLU_ROWS, r1 = r0 + GEGLU_ROWS < j->n ? r0 + GEGLU_ROWS : j->n;
    size_t D = (size_t)j->D;
    for (size_t r = r0; r < r1; r++)
        for (size_t i = 0; i < D; i++) {
            float a = j->x[r * 2 * D + i], g = j->x[r * 2 * D + D + i], d = j->dy[r * D + i];
            j->y[r * 2 * D + i] = d * act_f(KN_ACT_GELU, g);
            j->y[r * 2 * D + D + i] = d * a * act_df(KN_ACT_GELU, g);
        }
}

void kn_geglu_backward(const kn_ctx *ctx, const float *x, size_t rows, int D, const float *dy, float *dx) {
    if (D <= 0) return;
    act_job j = {KN_ACT_GELU, x, dy, dx, rows, D, NULL};
    kn_pool_run(kn_pool_of(ctx), (int)((rows + GEGLU_ROWS - 1) / GEGLU_ROWS), geglu_bwd_task, &j);
}
