/* Scaled dot-product attention, flash style: for each (batch, head, query tile) the keys are
 * visited in tiles with an online softmax, so memory stays O(L * dh) whatever Lq * Lk is. On AVX2 and
 * AVX-512 a block kernel (vec_impl.h) does each 64-query tile as two small register-blocked products
 * vectorised across queries; the scalar path (and dh > KN_ATTN_MAXDH) goes row by row through the
 * ISA's vector table (kernels.h). Each query row sees the keys in the same
 * order for any tiling or thread count. Backward recomputes the probabilities (two passes per query
 * row, using D_i = dout_i . out_i) and is threaded over (batch, head), each task owning its slices
 * of dq, dk and dv. */
#include "core/kernels.h"
#include <math.h>
#include <stdlib.h>

#define BQ 16
#define BK 64

typedef struct {
    const kn_attn_shape *s;
    const float *q, *k, *v, *dout;
    float *out, *dq, *dk, *dv;
    const kn_vec *vec;
    int qtiles;
} attn_job;

static int key_end(const kn_attn_shape *s, int i) {
    return s->causal ? (i + 1 < s->Lk ? i + 1 : s->Lk) : s->Lk;
}

static void attn_task(void *arg, int task) {
    const attn_job *j = arg;
    const kn_attn_shape *s = j->s;
    const kn_vec *vec = j->vec;
    int qt = task % j->qtiles, h = (task / j->qtiles) % s->H, b = task / (j->qtiles * s->H);
    int i0 = qt * BQ, i1 = i0 + BQ < s->Lq ? i0 + BQ : s->Lq;
    float m[BQ], l[BQ], sc[BK];
    int kmax = 0;
    for (int i = i0; i < i1; i++) {
        float *o = j->out + ((size_t)b * s->Lq + i) * s->ldo + (size_t)h * s->dh;
        memset(o, 0, sizeof(float) * s->dh);
        m[i - i0] = -INFINITY;
        l[i - i0] = 0.f;
        int e = key_end(s, i);
        if (e > kmax) kmax = e;
    }
    for (int t0 = 0; t0 < kmax; t0 += BK) {
        for (int i = i0; i < i1; i++) {
            int e = key_end(s, i), n = e - t0 < BK ? e - t0 : BK;
            if (n <= 0) continue;
            const float *qi = j->q + ((size_t)b * s->Lq + i) * s->ldq + (size_t)h * s->dh;
            float *o = j->out + ((size_t)b * s->Lq + i) * s->ldo + (size_t)h * s->dh;
            float mx = -INFINITY;
            for (int t = 0; t < n; t++) {
                const float *kt = j->k + ((size_t)b * s->Lk + t0 + t) * s->ldk + (size_t)h * s->dh;
                sc[t] = vec->dot(qi, kt, s->dh) * s->scale;
                if (sc[t] > mx) mx = sc[t];
            }
            float mo = m[i - i0], mn = mx > mo ? mx : mo, corr = mo == -INFINITY ? 0.f : expf(mo - mn), sum;
            vec->exp_sub(sc, mn, n, &sum);
            l[i - i0] = l[i - i0] * corr + sum;
            m[i - i0] = mn;
            for (int t = 0; t < n; t++) {
                const float *vt = j->v + ((size_t)b * s->Lk + t0 + t) * s->ldv + (size_t)h * s->dh;
                if (t == 0) vec->scale_axpy(o, corr, sc[0], vt, s->dh);
                else vec->axpy(o, sc[t], vt, s->dh);
            }
        }
    }
    for (int i = i0; i < i1; i++) {
        float *o = j->out + ((size_t)b * s->Lq + i) * s->ldo + (size_t)h * s->dh;
        float inv = l[i - i0] > 0.f ? 1.f / l[i - i0] : 0.f;
        for (int d = 0; d < s->dh; d++) o[d] *= inv;
    }
}

static void block_task(void *arg, int task) {
    const attn_job *j = arg;
    const kn_attn_shape *s = j->s;
    int qt = task % j->qtiles, h = (task / j->qtiles) % s->H, b = task / (j->qtiles * s->H);
    int i0 = qt * KN_ATTN_BQ, nq = s->Lq - i0 < KN_ATTN_BQ ? s->Lq - i0 : KN_ATTN_BQ;
    size_t hd = (size_t)h * s->dh;
    kn_attn_block blk = {j->q + ((size_t)b * s->Lq + i0) * s->ldq + hd, j->k + (size_t)b * s->Lk * s->ldk + hd,
                         j->v + (size_t)b * s->Lk * s->ldv + hd, j->out + ((size_t)b * s->Lq + i0) * s->ldo + hd,
                         (size_t)s->ldq, (size_t)s->ldk, (size_t)s->ldv, (size_t)s->ldo, nq, i0, s->Lk, s->dh,
                         s->causal, s->scale, NULL, NULL, NULL, NULL, NULL, NULL, 0, 0, 0, 0, NULL};
    j->vec->attn_block(&blk);
}

void kn_attention(const kn_ctx *ctx, const kn_attn_shape *s, const float *q, const float *k,
                  const float *v, float *out) {
    if (s->B <= 0 || s->H <= 0 || s->Lq <= 0 || s->dh <= 0) return;
    const kn_vec *vec = kn_vec_for(kn_isa_of(ctx));
    if (vec->attn_block && s->dh <= KN_ATTN_MAXDH) {
        attn_job j = {s, q, k, v, NULL, out, NULL, NULL, NULL, vec, (s->Lq + KN_ATTN_BQ - 1) / KN_ATTN_BQ};
        kn_pool_run(kn_pool_of(ctx), s->B * s->H * j.qtiles, block_task, &j);
        return;
    }
    attn_job j = {s, q, k, v, NULL, out, NULL, NULL, NULL, kn_vec_for(kn_isa_of(ctx)), (s->Lq + BQ - 1) / BQ};
    kn_pool_run(kn_pool_of(ctx), s->B * s->H * j.qtiles, attn_task, &j);
}

/* One query row: softmax statistics (max m, normaliser l) and D = dout_i . out_i. */
static void row_stats(const attn_job *j, int b, int h, int i, float *o, float *m_out, float *l_out) {
    const kn_attn_shape *s = j->s;
    const kn_vec *vec = j->vec;
    const float *qi = j->q + ((size_t)b * s->Lq + i) * s->ldq + (size_t)h * s->dh;
    float sc[BK], m = -INFINITY, l = 0.f;
    int e = key_end(s, i);
    memset(o, 0, sizeof(float) * s->dh);
    for (int t0 = 0; t0 < e; t0 += BK) {
        int n = e - t0 < BK ? e - t0 : BK;
        float mx = -INFINITY, sum;
        for (int t = 0; t < n; t++) {
            const float *kt = j->k + ((size_t)b * s->Lk + t0 + t) * s->ldk + (size_t)h * s->dh;
            sc[t] = vec->dot(qi, kt, s->dh) * s->scale;
            if (sc[t] > mx) mx = sc[t];
        }
        float mn = mx > m ? mx : m, corr = m == -INFINITY ? 0.f : expf(m - mn);
        vec->exp_sub(sc, mn, n, &sum);
        l = l * corr + sum;
        m = mn;
        for (int t = 0; t < n; t++) {
            const float *vt = j->v + ((size_t)b * s->Lk + t0 + t) * s->ldv + (size_t)h * s->dh;
            if (t == 0) vec->scale_axpy(o, corr, sc[0], vt, s->dh);
            else vec->axpy(o, sc[t], vt, s->dh);
        }
    }
    *m_out = m;
    *l_out = l;
}

static void attn_bwd_task(void *arg, int task) {
    const attn_job *j = arg;
    const kn_attn_shape *s = j->s;
    const kn_vec *vec = j->vec;
    int h = task % s->H, b = task / s->H;
    for (int t = 0; t < s->Lk; t++) {
        if (j->dk) memset(j->dk + ((size_t)b * s->Lk + t) * s->ldk + (size_t)h * s->dh, 0, sizeof(float) * s->dh);
        if (j->dv) memset(j->dv + ((size_t)b * s->Lk + t) * s->ldv + (size_t)h * s->dh, 0, sizeof(float) * s->dh);
    }
    if (vec->attn_block_bwd && s->dh <= KN_ATTN_MAXDH) {
        float *work = kn_malloc(sizeof(float) * kn_attn_bwd_work_floats(s->dh));
        if (work) {   /* else the row-wise path below, which needs no memory */
            size_t hd = (size_t)h * s->dh;
            for (int i0 = 0; i0 < s->Lq; i0 += KN_ATTN_BQ) {
                int nq = s->Lq - i0 < KN_ATTN_BQ ? s->Lq - i0 : KN_ATTN_BQ;
                size_t qr = (size_t)b * s->Lq + i0;
                kn_attn_block blk = {j->q + qr * s->ldq + hd, j->k + (size_t)b * s->Lk * s->ldk + hd,
                                     j->v + (size_t)b * s->Lk * s->ldv + hd, NULL, (size_t)s->ldq, (size_t)s->ldk,
                                     (size_t)s->ldv, 0, nq, i0, s->Lk, s->dh, s->causal, s->scale, NULL, NULL,
                                     j->dout + qr * s->ldo + hd, j->dq ? j->dq + qr * s->ldq + hd : NULL,
                                     j->dk ? j->dk + (size_t)b * s->Lk * s->ldk + hd : NULL,
                                     j->dv ? j->dv + (size_t)b * s->Lk * s->ldv + hd : NULL,
                                     (size_t)s->ldo, (size_t)s->ldq, (size_t)s->ldk, (size_t)s->ldv, work};
                vec->attn_block_bwd(&blk);
            }
            kn_free(work);
            return;
        }
    }
    float stack_o[1024], *o = s->dh <= 1024 ? stack_o : malloc(sizeof(float) * s->dh);
    if (!o) abort();   /* dh > 1024 only; no error channel in this void API */
    for (int i = 0; i < s->Lq; i++) {
        const float *qi = j->q + ((size_t)b * s->Lq + i) * s->ldq + (size_t)h * s->dh;
        const float *doi = j->dout + ((size_t)b * s->Lq + i) * s->ldo + (size_t)h * s->dh;
        float *dqi = j->dq ? j->dq + ((size_t)b * s->Lq + i) * s->ldq + (size_t)h * s->dh : NULL;
        float m, l;
        row_stats(j, b, h, i, o, &m, &l);
        float inv = l > 0.f ? 1.f / l : 0.f;
        float D = vec->dot(doi, o, s->dh) * inv;
        if (dqi) memset(dqi, 0, sizeof(float) * s->dh);
        int e = key_end(s, i);
        float p[BK];
        for (int t0 = 0; t0 < e; t0 += BK) {
            int n = e - t0 < BK ? e - t0 : BK;
            float unused;
            for (int t = 0; t < n; t++) {
                const float *kt = j->k + ((size_t)b * s->Lk + t0 + t) * s->ldk + (size_t)h * s->dh;
                p[t] = vec->dot(qi, kt, s->dh) * s->scale;
            }
            vec->exp_sub(p, m, n, &unused);
            for (int t = 0; t < n; t++) {
                size_t kr = (size_t)b * s->Lk + t0 + t;
                const float *kt = j->k + kr * s->ldk + (size_t)h * s->dh;
                const float *vt = j->v + kr * s->ldv + (size_t)h * s->dh;
                float pt = p[t] * inv;
                float ds = pt * (vec->dot(doi, vt, s->dh) - D) * s->scale;
                if (dqi) vec->axpy(dqi, ds, kt, s->dh);
                if (j->dk) vec->axpy(j->dk + kr * s->ldk + (size_t)h * s->dh, ds, qi, s->dh);
                if (j->dv) vec->axpy(j->dv + kr * s->ldv + (size_t)h * s->dh, pt, doi, s->dh);
            }
        }
    }
    if (o != stack_o) free(o);
}

void kn_attention_backward(const kn_ctx *ctx, const kn_attn_shape *s, const float *q, const float *k,
                           const float *v, const float *dout, float *dq, float *dk, float *dv) {
    if (s->B <= 0 || s->H <= 0 || s->dh <= 0) return;
    attn_job j = {s, q, k, v, dout, NULL, dq, dk, dv, kn_vec_for(kn_isa_of(ctx)), 0};
    kn_pool_run(kn_pool_of(ctx), s->B * s->H, attn_bwd_task, &j);
}
