/* Body of the per-ISA vector primitive tables (kernels.h: kn_vec). Included by vec_avx2.c and
 * vec_avx512.c after they define the V* helpers for their register width. Tails use masked loads and
 * stores, so every element is computed by the same instruction sequence. The exp is a
 * Cephes-style polynomial (about 2 ulp); erf uses Abramowitz-Stegun 7.1.26 (|error| < 1.5e-7). */
#include <math.h>
#include <stdint.h>
#include <string.h>

static inline V v_load_tail(const float *p, int n) { return VLOAD_TAIL(p, n); }
static inline void v_store_tail(float *p, V v, int n) { VSTORE_TAIL(p, v, n); }
static inline float v_hsum(V v) { return VHSUM(v); }

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

/* Flash-attention block, computed transposed so every vector runs across the queries of the block:
 * S^T[key][query] = K Q^T (Q^T packed once, scaled), online softmax per query lane, and
 * O^T[c][query] = O^T * corr + V^T P^T. Each query lane sees keys in increasing order and its own
 * statistics only, so the result does not depend on which other rows share the block. Two widths:
 * 16 queries (short sequences such as AnimateDiff's 16 frames, and tails) and KN_ATTN_BQ queries. */
#define AK 64
#define AKU (VW == 16 ? 2 : 1)   /* keys (or value columns) per pass: 8 accumulators either way */
#define AQ 16
#define NQV (16 / VW)
#define ATTN_FN vec_attn_block_narrow
#define ATTN_SCORES attn_scores_narrow
#define ATTN_ACCUM attn_accum_narrow
#include "core/vec_attn_impl.h"
#undef AQ
#undef NQV
#undef ATTN_FN
#undef ATTN_SCORES
#undef ATTN_ACCUM
#define AQ KN_ATTN_BQ
#define NQV (AQ / VW)
#define ATTN_FN vec_attn_block_wide
#define ATTN_SCORES attn_scores
#define ATTN_ACCUM attn_accum
#include "core/vec_attn_impl.h"

static void vec_attn_block(const kn_attn_block *a) {
    if (a->nq <= 16 && !a->m_out) vec_attn_block_narrow(a);
    else vec_attn_block_wide(a);
}

/* Backward of one query tile, recomputing the forward (for the softmax statistics and D = dout . out):
 * per key tile, P^T, dP^T = V dOut^T, dS^T = P^T (dP^T - D); dQ^T += K^T dS^T (scaled at the end);
 * dK_j += sum_i dS_ij (scale q_i); dV_j += sum_i P_ij dout_i, the last two vectorised across dh. */
static void vec_attn_block_bwd(const kn_attn_block *a) {
    int dh = a->dh, nq = a->nq, dhp = (dh + VW - 1) / VW * VW;
    float *w = (float *)(((uintptr_t)a->work + 63) & ~(uintptr_t)63);
    float *Qt = w, *dOt = Qt + (size_t)dhp * AQ, *dQt = dOt + (size_t)dhp * AQ, *Qr = dQt + (size_t)dhp * AQ;
    float *dOr = Qr + (size_t)dhp * AQ, *O = dOr + (size_t)dhp * AQ, *St = O + (size_t)dhp * AQ, *Pt = St + AK * AQ;
    float *m = Pt + AK * AQ, *l = m + AQ, *D = l + AQ, *il = D + AQ;
    kn_attn_block f = *a;
    f.out = O;
    f.ldo = (size_t)dhp;
    f.m_out = m;
    f.l_out = l;
    vec_attn_block(&f);
    memset(Qr, 0, sizeof(float) * (size_t)dhp * AQ);
    memset(dOr, 0, sizeof(float) * (size_t)dhp * AQ);
    for (int i = 0; i < AQ; i++) {
        const float *qi = a->q + (size_t)i * a->ldq, *di = a->dout + (size_t)i * a->lddo;
        double acc = 0;
        for (int d = 0; d < dh; d++) {
            float qs = i < nq ? qi[d] * a->scale : 0.f, dv = i < nq ? di[d] : 0.f;
            Qt[d * AQ + i] = qs;
            dOt[d * AQ + i] = dv;
            if (i < nq) { Qr[(size_t)i * dhp + d] = qs; dOr[(size_t)i * dhp + d] = dv; acc += (double)dv * O[(size_t)i * dhp + d]; }
        }
        D[i] = i < nq ? (float)acc : 0.f;
        il[i] = l[i] > 0.f ? 1.f / l[i] : 0.f;
    }
    memset(dQt, 0, sizeof(float) * (size_t)dh * AQ);
    int kend = a->causal ? (a->q0 + nq < a->Lk ? a->q0 + nq : a->Lk) : a->Lk;
    int nv = dhp / VW;
    for (int t0 = 0; t0 < kend; t0 += AK) {
        int n = kend - t0 < AK ? kend - t0 : AK;
        attn_scores(a->k + (size_t)t0 * a->ldk, a->ldk, n, dh, Qt, St);
        attn_scores(a->v + (size_t)t0 * a->ldv, a->ldv, n, dh, dOt, Pt);   /* dP^T */
        for (int j = 0; j < n; j++)
            for (int qv = 0; qv < NQV; qv++) {
                V p = VMUL(v_exp(VSUB(VLOAD(St + j * AQ + qv * VW), VLOAD(m + qv * VW))), VLOAD(il + qv * VW));
                V ds = VMUL(p, VSUB(VLOAD(Pt + j * AQ + qv * VW), VLOAD(D + qv * VW)));
                VSTORE(St + j * AQ + qv * VW, p);    /* St now holds P^T */
                VSTORE(Pt + j * AQ + qv * VW, ds);   /* Pt now holds dS^T (unscaled) */
            }
        if (a->causal && t0 + n - 1 > a->q0)
            for (int j = 0; j < n; j++)
                for (int i = 0; i < AQ; i++)
                    if (t0 + j > a->q0 + i) St[j * AQ + i] = Pt[j * AQ + i] = 0.f;
        /* dQ^T[c][i] += sum_j k_j[c] dS^T[j][i] */
        attn_accum(a->k + (size_t)t0 * a->ldk, a->ldk, n, dh, Pt, NULL, dQt);
        /* dK_j += sum_i dS_ij (scale q_i); dV_j += sum_i P_ij dout_i, four dh-vectors at a time */
        for (int j = 0; j < n; j++) {
            float *dkr = a->dk ? a->dk + (size_t)(t0 + j) * a->lddk : NULL;
            float *dvr = a->dv ? a->dv + (size_t)(t0 + j) * a->lddv : NULL;
            const float *pj = St + j * AQ, *sj = Pt + j * AQ;
            for (int c0 = 0; c0 < nv; c0 += 4) {
                int cn = nv - c0 < 4 ? nv - c0 : 4;
                V gk[4], gv[4];
                for (int u = 0; u < 4; u++) gk[u] = gv[u] = VSET(0.f);
                for (int i = 0; i < nq; i++) {
                    V sb = VSET(sj[i]), pb = VSET(pj[i]);
                    const float *qr = Qr + (size_t)i * dhp + c0 * VW, *dr = dOr + (size_t)i * dhp + c0 * VW;
                    for (int u = 0; u < cn; u++) {
                        gk[u] = VFMA(sb, VLOAD(qr + u * VW), gk[u]);
                        gv[u] = VFMA(pb, VLOAD(dr + u * VW), gv[u]);
                    }
                }
                for (int u = 0; u < cn; u++) {
                    int c = (c0 + u) * VW, left = dh - c < VW ? dh - c : VW;
                    if (dkr) v_store_tail(dkr + c, VADD(v_load_tail(dkr + c, left), gk[u]), left);
                    if (dvr) v_store_tail(dvr + c, VADD(v_load_tail(dvr + c, left), gv[u]), left);
                }
            }
        }
    }
    if (a->dq)
        for (int i = 0; i < nq; i++) {
            float *o = a->dq + (size_t)i * a->lddq;
            for (int c = 0; c < dh; c++) o[c] = dQt[c * AQ + i] * a->scale;
        }
}

const kn_vec VEC_TABLE = {vec_dot, vec_scale_axpy, vec_axpy, vec_exp_sub, vec_silu, vec_gelu,
                          vec_affine, vec_sum_sq, vec_mul, vec_attn_block,
                          vec_attn_block_bwd};
