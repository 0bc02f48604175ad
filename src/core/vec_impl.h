/* Body of the per-ISA vector primitive tables (kernels.h: kn_vec). Included by vec_avx2.c and
 * vec_avx512.c after they define the VEC_* helpers for their register width. Tails go through a
 * zero-padded register so every element is computed by the same instruction sequence. The exp is a
 * Cephes-style polynomial (about 2 ulp); erf uses Abramowitz-Stegun 7.1.26 (|error| < 1.5e-7). */
#include <math.h>

static inline V v_load_tail(const float *p, int n) {
    float t[VW] __attribute__((aligned(64))) = {0};
    for (int i = 0; i < n; i++) t[i] = p[i];
    return VLOAD(t);
}
static inline void v_store_tail(float *p, V v, int n) {
    float t[VW] __attribute__((aligned(64)));
    VSTORE(t, v);
    for (int i = 0; i < n; i++) p[i] = t[i];
}
static inline float v_hsum(V v) {
    float t[VW] __attribute__((aligned(64)));
    VSTORE(t, v);
    float s = 0.f;
    for (int w = VW / 2; w >= 1; w /= 2)   /* pairwise, fixed order */
        for (int i = 0; i < w; i++) t[i] = t[i] + t[i + w];
    s = t[0];
    return s;
}

static inline V v_exp(V x) {
    x = VMIN(VMAX(x, VSET(-87.3f)), VSET(88.3f));
    V fx = VROUND(VMUL(x, VSET(1.44269504088896341f)));
    V r = VFNMA(fx, VSET(0.693359375f), x);
    r = VFNMA(fx, VSET(-2.12194440e-4f), r);
    V p = VSET(1.9875691500e-4f);
    p = VFMA(p, r, VSET(1.3981999507e-3f));
    p = VFMA(p, r, VSET(8.3334519073e-3f));
    p = VFMA(p, r, VSET(4.1665795894e-2f));
    p = VFMA(p, r, VSET(1.6666665459e-1f));
    p = VFMA(p, r, VSET(5.0000001201e-1f));
    V y = VADD(VFMA(p, VMUL(r, r), r), VSET(1.f));
    return VMUL(y, VPOW2I(fx));
}

static inline V v_erf(V z) {
    V az = VABS(z);
    V t = VDIV(VSET(1.f), VFMA(VSET(0.3275911f), az, VSET(1.f)));
    V p = VSET(1.061405429f);
    p = VFMA(p, t, VSET(-1.453152027f));
    p = VFMA(p, t, VSET(1.421413741f));
    p = VFMA(p, t, VSET(-0.284496736f));
    p = VFMA(p, t, VSET(0.254829592f));
    p = VMUL(p, t);
    V e = v_exp(VMUL(VSUB(VSET(0.f), az), az));
    V y = VFNMA(p, e, VSET(1.f));
    return VCOPYSIGN(y, z);
}

static inline V v_silu(V x) {
    return VDIV(x, VADD(VSET(1.f), v_exp(VSUB(VSET(0.f), x))));
}
static inline V v_gelu(V x) {
    V e = v_erf(VMUL(x, VSET(0.70710678118654752f)));
    return VMUL(VMUL(VSET(0.5f), x), VADD(VSET(1.f), e));
}

static float vec_dot(const float *a, const float *b, int n) {
    V acc0 = VSET(0.f), acc1 = VSET(0.f);
    int i = 0;
    for (; i + 2 * VW <= n; i += 2 * VW) {
        acc0 = VFMA(VLOADU(a + i), VLOADU(b + i), acc0);
        acc1 = VFMA(VLOADU(a + i + VW), VLOADU(b + i + VW), acc1);
    }
    for (; i + VW <= n; i += VW) acc0 = VFMA(VLOADU(a + i), VLOADU(b + i), acc0);
    if (i < n) acc1 = VFMA(v_load_tail(a + i, n - i), v_load_tail(b + i, n - i), acc1);
    return v_hsum(VADD(acc0, acc1));
}

static void vec_scale_axpy(float *o, float c, float p, const float *v, int n) {
    V vc = VSET(c), vp = VSET(p);
    int i = 0;
    for (; i + VW <= n; i += VW) VSTOREU(o + i, VFMA(vp, VLOADU(v + i), VMUL(vc, VLOADU(o + i))));
    if (i < n) v_store_tail(o + i, VFMA(vp, v_load_tail(v + i, n - i), VMUL(vc, v_load_tail(o + i, n - i))), n - i);
}

static void vec_axpy(float *o, float p, const float *v, int n) {
    V vp = VSET(p);
    int i = 0;
    for (; i + VW <= n; i += VW) VSTOREU(o + i, VFMA(vp, VLOADU(v + i), VLOADU(o + i)));
    if (i < n) v_store_tail(o + i, VFMA(vp, v_load_tail(v + i, n - i), v_load_tail(o + i, n - i)), n - i);
}

static void vec_exp_sub(float *x, float m, int n, float *sum) {
    V vm = VSET(m), acc = VSET(0.f);
    int i = 0;
    for (; i + VW <= n; i += VW) {
        V e = v_exp(VSUB(VLOADU(x + i), vm));
        VSTOREU(x + i, e);
        acc = VADD(acc, e);
    }
    if (i < n) {
        V e = v_exp(VSUB(v_load_tail(x + i, n - i), vm));
        v_store_tail(x + i, e, n - i);
        float t[VW] __attribute__((aligned(64)));
        VSTORE(t, e);
        for (int j = n - i; j < VW; j++) t[j] = 0.f;
        acc = VADD(acc, VLOAD(t));
    }
    *sum = v_hsum(acc);
}

static void vec_silu(const float *x, size_t n, float *y) {
    size_t i = 0;
    for (; i + VW <= n; i += VW) VSTOREU(y + i, v_silu(VLOADU(x + i)));
    if (i < n) v_store_tail(y + i, v_silu(v_load_tail(x + i, (int)(n - i))), (int)(n - i));
}

static void vec_gelu(const float *x, size_t n, float *y) {
    size_t i = 0;
    for (; i + VW <= n; i += VW) VSTOREU(y + i, v_gelu(VLOADU(x + i)));
    if (i < n) v_store_tail(y + i, v_gelu(v_load_tail(x + i, (int)(n - i))), (int)(n - i));
}

static void vec_affine(const float *x, float shift, float a, float b, size_t n, float *y) {
    V vs = VSET(shift), va = VSET(a), vb = VSET(b);
    size_t i = 0;
    for (; i + VW <= n; i += VW) VSTOREU(y + i, VFMA(VSUB(VLOADU(x + i), vs), va, vb));
    if (i < n) v_store_tail(y + i, VFMA(VSUB(v_load_tail(x + i, (int)(n - i)), vs), va, vb), (int)(n - i));
}

static void vec_sum_sq(const float *x, size_t n, float shift, double *sum, double *sq) {
    double s = 0, q = 0;
    V vs = VSET(shift);
    for (size_t c = 0; c < n; c += 4096) {   /* float lanes per chunk, double across chunks */
        size_t e = c + 4096 < n ? c + 4096 : n, i = c;
        V a = VSET(0.f), b = VSET(0.f);
        for (; i + VW <= e; i += VW) {
            V d = VSUB(VLOADU(x + i), vs);
            a = VADD(a, d);
            b = VFMA(d, d, b);
        }
        float ts = v_hsum(a), tq = v_hsum(b);
        for (; i < e; i++) { float d = x[i] - shift; ts += d; tq = fmaf(d, d, tq); }
        s += ts;
        q += tq;
    }
    *sum = s;
    *sq = q;
}

static void vec_mul(const float *a, const float *b, size_t n, float *y) {
    size_t i = 0;
    for (; i + VW <= n; i += VW) VSTOREU(y + i, VMUL(VLOADU(a + i), VLOADU(b + i)));
    for (; i < n; i++) y[i] = a[i] * b[i];
}

const kn_vec VEC_TABLE = {vec_dot, vec_scale_axpy, vec_axpy, vec_exp_sub, vec_silu, vec_gelu,
                          vec_affine, vec_sum_sq, vec_mul};
