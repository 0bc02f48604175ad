/* Helpers shared by the tests/unit/test_ops*.c programs: deterministic random data, dtype
 * conversion and a central finite-difference gradient check. */
#ifndef KN_OPS_TEST_UTIL_H
#define KN_OPS_TEST_UTIL_H
#include "ops_ref.h"

static inline float *rnd(size_t n, uint64_t seed) {   /* uniform in [-1, 1) */
    float *p = malloc(sizeof(float) * (n ? n : 1));
    kn_randu(p, n, seed, 7);
    for (size_t i = 0; i < n; i++) p[i] = 2.f * p[i] - 1.f;
    return p;
}
static inline float *dup(const float *a, size_t n) {
    float *p = malloc(sizeof(float) * (n ? n : 1));
    memcpy(p, a, sizeof(float) * n);
    return p;
}
static inline void *to_dtype(const float *a, size_t n, kn_dtype t) {
    if (t == KN_F32) return dup(a, n);
    uint16_t *h = malloc(2 * (n ? n : 1));
    for (size_t i = 0; i < n; i++) h[i] = t == KN_F16 ? kn_f32_to_f16(a[i]) : kn_f32_to_bf16(a[i]);
    return h;
}

/* f(arg, x, y) maps x[nx] to y[ny]. Checks grad[i] = d(sum_j r_j y_j)/dx_i by double-precision central
 * differences with step h; passes when |grad - fd| <= tol * max(1, max|fd|). */
typedef void (*fd_fn)(const void *arg, const float *x, float *y);
static inline int fd_check(kn_test_state *T_, const char *what, fd_fn f, const void *arg, const float *x0,
                           size_t nx, size_t ny, const float *r, const float *grad, double h, double tol) {
    float *x = dup(x0, nx), *y = malloc(sizeof(float) * ny);
    double *fd = malloc(sizeof(double) * nx), scale = 1, worst = 0;
    size_t wi = 0;
    for (size_t i = 0; i < nx; i++) {
        double l[2];
        for (int s = 0; s < 2; s++) {
            x[i] = (float)((double)x0[i] + (s ? -h : h));
            f(arg, x, y);
            double acc = 0;
            for (size_t j = 0; j < ny; j++) acc += (double)r[j] * y[j];
            l[s] = acc;
        }
        double hp = (double)(float)((double)x0[i] + h) - (double)(float)((double)x0[i] - h);
        x[i] = x0[i];
        fd[i] = (l[0] - l[1]) / hp;
        if (fabs(fd[i]) > scale) scale = fabs(fd[i]);
    }
    for (size_t i = 0; i < nx; i++) {
        double e = fabs(fd[i] - grad[i]);
        if (e > worst) { worst = e; wi = i; }
    }
    int ok = worst <= tol * scale;
    if (!ok) fprintf(stderr, "  %s: %s: worst |grad - fd| = %g at %zu (grad %g, fd %g)\n", T_->cur, what, worst, wi,
                     grad[wi], fd[wi]);
    free(x); free(y); free(fd);
    return ok;
}
#endif
