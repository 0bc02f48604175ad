/* Flash-attention block body (see vec_impl.h), instantiated once per query-tile width: AQ queries
 * (NQV vectors) per block. Included by vec_impl.h with AQ, NQV, AK, AKU, ATTN_FN, ATTN_SCORES and
 * ATTN_ACCUM defined (the wide instantiation's helpers also serve the backward pass). */

/* Scores of one key tile against the packed, transposed query tile: St[j][i] = kr_j . Qt[:, i]. */
static inline void ATTN_SCORES(const float *kbase, size_t ldk, int n, int dh, const float *Qt, float *St) {
    for (int j = 0; j < n; j += AKU) {
        V acc[AKU][NQV];
        const float *kr[AKU];
#pragma GCC unroll 2
        for (int u = 0; u < AKU; u++) {
            kr[u] = kbase + (size_t)(j + u < n ? j + u : j) * ldk;
#pragma GCC unroll 8
            for (int qv = 0; qv < NQV; qv++) acc[u][qv] = VSET(0.f);
        }
        for (int d = 0; d < dh; d++) {
#pragma GCC unroll 2
            for (int u = 0; u < AKU; u++) {
                V kb = VSET(kr[u][d]);
#pragma GCC unroll 8
                for (int qv = 0; qv < NQV; qv++) acc[u][qv] = VFMA(kb, VLOAD(Qt + d * AQ + qv * VW), acc[u][qv]);
            }
        }
#pragma GCC unroll 2
        for (int u = 0; u < AKU; u++)
            if (j + u < n)
#pragma GCC unroll 8
                for (int qv = 0; qv < NQV; qv++) VSTORE(St + (j + u) * AQ + qv * VW, acc[u][qv]);
    }
}

/* Out^T[c][i] = Out^T[c][i] (times corr[i] when corr is given) + sum_j x_j[c] P^T[j][i], over the n
 * rows x_j of base (stride ld): a key or value tile times the transposed probabilities. */
static inline void ATTN_ACCUM(const float *base, size_t ld, int n, int dh, const float *Pt, const float *corr,
                              float *Out) {
    for (int c = 0; c < dh; c += AKU) {
        V acc[AKU][NQV];
        int cc[AKU];
#pragma GCC unroll 2
        for (int u = 0; u < AKU; u++) {
            cc[u] = c + u < dh ? c + u : c;
#pragma GCC unroll 8
            for (int qv = 0; qv < NQV; qv++)
                acc[u][qv] = corr ? VMUL(VLOAD(Out + cc[u] * AQ + qv * VW), VLOAD(corr + qv * VW))
                                  : VLOAD(Out + cc[u] * AQ + qv * VW);
        }
        for (int j = 0; j < n; j++) {
            const float *xr = base + (size_t)j * ld;
#pragma GCC unroll 2
            for (int u = 0; u < AKU; u++) {
                V xb = VSET(xr[cc[u]]);
#pragma GCC unroll 8
                for (int qv = 0; qv < NQV; qv++) acc[u][qv] = VFMA(xb, VLOAD(Pt + j * AQ + qv * VW), acc[u][qv]);
            }
        }
#pragma GCC unroll 2
        for (int u = 0; u < AKU; u++)
            if (c + u < dh)
#pragma GCC unroll 8
                for (int qv = 0; qv < NQV; qv++) VSTORE(Out + (c + u) * AQ + qv * VW, acc[u][qv]);
    }
}

static void ATTN_FN(const kn_attn_block *a) {
    float Qt[KN_ATTN_MAXDH * AQ] __attribute__((aligned(64)));
    float Ot[KN_ATTN_MAXDH * AQ] __attribute__((aligned(64)));
    float St[AK * AQ] __attribute__((aligned(64)));
    float m[AQ] __attribute__((aligned(64))), l[AQ] __attribute__((aligned(64)));
    float corr[AQ] __attribute__((aligned(64)));
    int dh = a->dh, nq = a->nq;
    for (int d = 0; d < dh; d++)
        for (int i = 0; i < AQ; i++) Qt[d * AQ + i] = i < nq ? a->q[(size_t)i * a->ldq + d] * a->scale : 0.f;
    memset(Ot, 0, sizeof(float) * (size_t)dh * AQ);
    for (int i = 0; i < AQ; i++) { m[i] = -INFINITY; l[i] = 0.f; }
    int kend = a->causal ? (a->q0 + nq < a->Lk ? a->q0 + nq : a->Lk) : a->Lk;
    for (int t0 = 0; t0 < kend; t0 += AK) {
        int n = kend - t0 < AK ? kend - t0 : AK;
        ATTN_SCORES(a->k + (size_t)t0 * a->ldk, a->ldk, n, dh, Qt, St);
        int diag = a->causal && t0 + n - 1 > a->q0;
        if (diag)
            for (int j = 0; j < n; j++)
                for (int i = 0; i < AQ; i++)
                    if (t0 + j > a->q0 + i) St[j * AQ + i] = -INFINITY;
        for (int qv = 0; qv < NQV; qv++) {
            V mo = VLOAD(m + qv * VW), mx = mo;
            for (int j = 0; j < n; j++) mx = VMAX(mx, VLOAD(St + j * AQ + qv * VW));
            VSTORE(corr + qv * VW, v_exp(VSUB(mo, mx)));
            VSTORE(m + qv * VW, mx);
            for (int j = 0; j < n; j++) VSTORE(St + j * AQ + qv * VW, v_exp(VSUB(VLOAD(St + j * AQ + qv * VW), mx)));
        }
        if (diag)   /* masked keys must weigh exactly zero, not exp(-87) */
            for (int j = 0; j < n; j++)
                for (int i = 0; i < AQ; i++)
                    if (t0 + j > a->q0 + i) St[j * AQ + i] = 0.f;
        for (int qv = 0; qv < NQV; qv++) {
            V sum = VSET(0.f);
            for (int j = 0; j < n; j++) sum = VADD(sum, VLOAD(St + j * AQ + qv * VW));
            VSTORE(l + qv * VW, VFMA(VLOAD(l + qv * VW), VLOAD(corr + qv * VW), sum));
        }
        ATTN_ACCUM(a->v + (size_t)t0 * a->ldv, a->ldv, n, dh, St, corr, Ot);
    }
    if (a->m_out) memcpy(a->m_out, m, sizeof m);
    if (a->l_out) memcpy(a->l_out, l, sizeof l);
    for (int i = 0; i < nq; i++) {
        float inv = l[i] > 0.f ? 1.f / l[i] : 0.f, *o = a->out + (size_t)i * a->ldo;
        for (int c = 0; c < dh; c++) o[c] = Ot[c * AQ + i] * inv;
    }
}
