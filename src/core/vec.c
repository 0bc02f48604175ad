/* Portable vector primitive table (kernels.h: kn_vec) and the per-ISA selection. The scalar
 * entries use libm, so the scalar ISA path doubles as the accuracy reference for the others. */
#include "core/kernels.h"
#include <math.h>

static float s_dot(const float *a, const float *b, int n) {
    float acc = 0.f;
    for (int i = 0; i < n; i++) acc += a[i] * b[i];
    return acc;
}
static void s_scale_axpy(float *o, float c, float p, const float *v, int n) {
    for (int i = 0; i < n; i++) o[i] = c * o[i] + p * v[i];
}
static void s_axpy(float *o, float p, const float *v, int n) {
    for (int i = 0; i < n; i++) o[i] += p * v[i];
}
static void s_exp_sub(float *x, float m, int n, float *sum) {
    float s = 0.f;
    for (int i = 0; i < n; i++) { x[i] = expf(x[i] - m); s += x[i]; }
    *sum = s;
}
static void s_silu(const float *x, size_t n, float *y) {
    for (size_t i = 0; i < n; i++) y[i] = x[i] / (1.f + expf(-x[i]));
}
static void s_gelu(const float *x, size_t n, float *y) {
    for (size_t i = 0; i < n; i++) y[i] = 0.5f * x[i] * (1.f + erff(x[i] * 0.70710678118654752f));
}
static void s_affine(const float *x, float shift, float a, float b, size_t n, float *y) {
    for (size_t i = 0; i < n; i++) y[i] = (x[i] - shift) * a + b;
}
static void s_sum_sq(const float *x, size_t n, float shift, double *sum, double *sq) {
    double s = 0, q = 0;
    for (size_t i = 0; i < n; i++) { double d = (double)x[i] - shift; s += d; q += d * d; }
    *sum = s;
    *sq = q;
}
static void s_mul(const float *a, const float *b, size_t n, float *y) {
    for (size_t i = 0; i < n; i++) y[i] = a[i] * b[i];
}

const kn_vec kn_vec_scalar = {s_dot, s_scale_axpy, s_axpy, s_exp_sub, s_silu, s_gelu, s_affine, s_sum_sq, s_mul, NULL, NULL};

const kn_vec *kn_vec_for(kn_isa isa) {
    switch (isa) {
    case KN_ISA_AVX512: return &kn_vec_avx512;
    case KN_ISA_AVX2: return &kn_vec_avx2;
    default: return &kn_vec_scalar;
    }
}
