/* Blocked, packed, threaded GEMM driver (see kernels.h for the contract) and the public matrix
 * products of ops.h built on it: kn_gemm, kn_gemm_batched, kn_linear, kn_linear_backward.
 * Loop nest: K blocks (KC) outermost so every output element sees its K blocks in a fixed order;
 * inside, a block of A rows is packed once and reused for every batch entry and every N block of B.
 * Threads split the packing by panels and the compute by (MC x NT) output tiles. */
#include "core/kernels.h"
#include <math.h>
#include <stdlib.h>

typedef struct {
    int MR, NR, KC, MC;
    kn_ukr_fn ukr;
} gemm_params;

#define MCO_MAX 1536   /* rows of A packed at once: bounds scratch for very tall products */
#define NC_MAX 2048    /* columns of B packed at once */

static void ukr_scalar_4x8(int kc, const float *a, const float *b, float *c, size_t ldc, float alpha,
                           float beta, int mr, int nr) {
    float acc[4][8] = {{0}};
    for (int k = 0; k < kc; k++, a += 4, b += 8)
        for (int i = 0; i < 4; i++)
            for (int j = 0; j < 8; j++) acc[i][j] += a[i] * b[j];
    for (int i = 0; i < mr; i++) {
        float *ci = c + (size_t)i * ldc;
        if (beta == 0.f)
            for (int j = 0; j < nr; j++) ci[j] = alpha * acc[i][j];
        else
            for (int j = 0; j < nr; j++) ci[j] = alpha * acc[i][j] + beta * ci[j];
    }
}

/* Blocking (compile-time knobs for tuning on other CPUs). KC: depth of a packed block; MC: rows per
 * compute tile. */
#ifndef KN_KC_AVX512
#define KN_KC_AVX512 384
#endif
#ifndef KN_MC_AVX512
#define KN_MC_AVX512 96
#endif

static gemm_params params_for(kn_isa isa) {
    gemm_params p;
    switch (isa) {
    case KN_ISA_AVX512: p = (gemm_params){12, 32, KN_KC_AVX512, KN_MC_AVX512, kn_ukr_avx512_12x32}; break;
    case KN_ISA_AVX2: p = (gemm_params){6, 16, 256, 72, kn_ukr_avx2_6x16}; break;
    default: p = (gemm_params){4, 8, 256, 64, ukr_scalar_4x8}; break;
    }
    return p;
}

/* ---- scratch ---- */
void *kn_scratch_get(const kn_ctx *ctx, size_t bytes, kn_scratch_buf *b) {
    b->heap = 0;
    b->p = NULL;
    if (ctx && ctx->scratch) {
        b->mark = kn_arena_mark(ctx->scratch);
        b->p = kn_arena_alloc(ctx->scratch, bytes);
        if (b->p) return b->p;
    }
    b->heap = 1;
    b->p = kn_malloc(bytes ? bytes : 1);
    return b->p;
}

void kn_scratch_release(const kn_ctx *ctx, kn_scratch_buf *b) {
    if (!b->p) return;
    if (b->heap) kn_free(b->p);
    else kn_arena_reset(ctx->scratch, b->mark);
    b->p = NULL;
}

/* ---- conversion and generic packers ---- */
void kn_cvt_row(kn_isa isa, const void *src, kn_dtype t, size_t n, float *dst) {
    if (t == KN_F32) {
        memcpy(dst, src, n * sizeof(float));
    } else if (t == KN_BF16) {
        const uint16_t *s = src;
        for (size_t i = 0; i < n; i++) {
            uint32_t u = (uint32_t)s[i] << 16;
            memcpy(dst + i, &u, 4);
        }
    } else if (t == KN_F16 && isa >= KN_ISA_AVX2) {
        kn_cvt_f16_avx2(src, n, dst);
    } else {
        kn_to_f32(dst, src, t, n);
    }
}

static const void *elem_ptr(const kn_mat_src *m, int batch, size_t idx) {
    size_t i = (size_t)batch * m->stride + idx;
    return (const uint8_t *)m->data + i * kn_dtype_size(m->dtype);
}

#define PACK_TMP_K 256

void kn_pack_rowmajor(const void *arg, int batch, int r0, int rlen, int k0, int klen, int R, float *dst) {
    const kn_mat_src *m = arg;
    /* gather-based packers: 16 (AVX-512) or 8 (AVX2) rows per instruction */
    void (*gather)(const float *, size_t, int, int, int, float *) =
        m->isa == KN_ISA_AVX512 ? kn_pack_rows_f32_avx512 : m->isa == KN_ISA_AVX2 ? kn_pack_rows_f32_avx2 : NULL;
    int fast = gather && R <= 32 && m->ld < ((size_t)1 << 26);
    if (fast && m->dtype == KN_F32) {
        gather(elem_ptr(m, batch, (size_t)r0 * m->ld + (size_t)k0), m->ld, rlen, klen, R, dst);
        return;
    }
    if (fast) {   /* convert a [rlen, <=256] block to f32 first, then gather-pack it */
        float tmp[32 * PACK_TMP_K];
        for (int kc = 0; kc < klen; kc += PACK_TMP_K) {
            int n = klen - kc < PACK_TMP_K ? klen - kc : PACK_TMP_K;
            for (int r = 0; r < rlen; r++)
                kn_cvt_row(m->isa, elem_ptr(m, batch, (size_t)(r0 + r) * m->ld + (size_t)(k0 + kc)), m->dtype,
                           (size_t)n, tmp + (size_t)r * n);
            gather(tmp, (size_t)n, rlen, n, R, dst + (size_t)kc * R);
        }
        return;
    }
    float tmp[512];
    for (int r = 0; r < rlen; r++) {
        size_t base = (size_t)(r0 + r) * m->ld + (size_t)k0;
        if (m->dtype == KN_F32) {
            const float *s = elem_ptr(m, batch, base);
            for (int k = 0; k < klen; k++) dst[(size_t)k * R + r] = s[k];
            continue;
        }
        for (int k0c = 0; k0c < klen; k0c += 512) {
            int n = klen - k0c < 512 ? klen - k0c : 512;
            kn_cvt_row(m->isa, elem_ptr(m, batch, base + (size_t)k0c), m->dtype, (size_t)n, tmp);
            for (int k = 0; k < n; k++) dst[(size_t)(k0c + k) * R + r] = tmp[k];
        }
    }
    for (int r = rlen; r < R; r++)
        for (int k = 0; k < klen; k++) dst[(size_t)k * R + r] = 0.f;
}

void kn_pack_colmajor(const void *arg, int batch, int r0, int rlen, int k0, int klen, int R, float *dst) {
    const kn_mat_src *m = arg;
    for (int k = 0; k < klen; k++) {
        float *d = dst + (size_t)k * R;
        kn_cvt_row(m->isa, elem_ptr(m, batch, (size_t)(k0 + k) * m->ld + (size_t)r0), m->dtype,
                   (size_t)rlen, d);
        for (int r = rlen; r < R; r++) d[r] = 0.f;
    }
}

/* ---- driver ---- */
#define B_GROUP_BYTES ((size_t)4 << 20)   /* packed B of several batch entries, packed in one go */

typedef struct {
    const kn_gemm_desc *d;
    gemm_params p;
    float *abuf, *bbuf;
    int kc0, klen, ic0, mlen, jc0, nlen, b0, nb;
    size_t bstride;            /* floats between the packed B of consecutive batch entries */
    int NT, mtiles, ntiles;
    int atasks, btasks;        /* packing tasks: A (0 when already packed), B per batch entry */
    int mc;                    /* rows per compute tile */
    int fuse_b;                /* one row tile: each compute task packs the B panels it alone uses */
    float beta;
} run_state;

#define A_PANELS_PER_TASK 4

#define B_PANELS_PER_TASK 4

static void pack_task(void *arg, int task) {
    const run_state *s = arg;
    const kn_gemm_desc *d = s->d;
    if (task < s->atasks) {   /* a few MR panels of A */
        int step = A_PANELS_PER_TASK * s->p.MR;
        int r1 = (task + 1) * step < s->mlen ? (task + 1) * step : s->mlen;
        for (int r = task * step; r < r1; r += s->p.MR) {
            int rl = r1 - r < s->p.MR ? r1 - r : s->p.MR;
            d->pack_a(d->a_arg, 0, s->ic0 + r, rl, s->kc0, s->klen, s->p.MR, s->abuf + (size_t)r * s->klen);
        }
        return;
    }
    task -= s->atasks;
    int b = task / s->btasks, t = task % s->btasks;
    int c1 = (t + 1) * B_PANELS_PER_TASK * s->p.NR;
    if (c1 > s->nlen) c1 = s->nlen;
    for (int c = t * B_PANELS_PER_TASK * s->p.NR; c < c1; c += s->p.NR) {
        int cl = c1 - c < s->p.NR ? c1 - c : s->p.NR;
        d->pack_b(d->b_arg, s->b0 + b, s->jc0 + c, cl, s->kc0, s->klen, s->p.NR,
                  s->bbuf + (size_t)b * s->bstride + (size_t)c * s->klen);
    }
}

static void compute_task(void *arg, int task) {
    const run_state *s = arg;
    const kn_gemm_desc *d = s->d;
    int per_b = s->mtiles * s->ntiles, b = task / per_b;
    task %= per_b;
    int mi = task / s->ntiles, ni = task % s->ntiles;
    int m0 = mi * s->mc, m1 = m0 + s->mc < s->mlen ? m0 + s->mc : s->mlen;
    int n0 = ni * s->NT, n1 = n0 + s->NT < s->nlen ? n0 + s->NT : s->nlen;
    float *C = d->C + (size_t)(s->b0 + b) * d->strideC;
    float *bb = s->bbuf + (size_t)b * s->bstride;
    if (s->fuse_b)   /* packed by the core that uses it, while it is hot in its cache */
        for (int c = n0; c < n1; c += s->p.NR)
            d->pack_b(d->b_arg, s->b0 + b, s->jc0 + c, n1 - c < s->p.NR ? n1 - c : s->p.NR, s->kc0, s->klen,
                      s->p.NR, bb + (size_t)c * s->klen);
    for (int jr = n0; jr < n1; jr += s->p.NR) {
        int nr = n1 - jr < s->p.NR ? n1 - jr : s->p.NR;
        const float *bp = bb + (size_t)jr * s->klen;
        for (int ir = m0; ir < m1; ir += s->p.MR) {
            int mr = m1 - ir < s->p.MR ? m1 - ir : s->p.MR;
            float *c = C + (size_t)(s->ic0 + ir) * d->ldc + (size_t)(s->jc0 + jr);
            s->p.ukr(s->klen, s->abuf + (size_t)ir * s->klen, bp, c, (size_t)d->ldc, d->alpha, s->beta, mr, nr);
        }
    }
}

static void scale_c(const kn_gemm_desc *d) {
    for (int b = 0; b < d->batch; b++)
        for (int i = 0; i < d->M; i++) {
            float *c = d->C + (size_t)b * d->strideC + (size_t)i * d->ldc;
            for (int j = 0; j < d->N; j++) c[j] = d->beta == 0.f ? 0.f : d->beta * c[j];
        }
}

static int round_up(int x, int m) { return (x + m - 1) / m * m; }

/* ---- short products (one row tile, one batch entry): two barriers in all ----
 * A is packed for every K block up front; then each task owns a column tile and walks all K blocks
 * in order, packing the B panels only it uses. */
typedef struct {
    const kn_gemm_desc *d;
    gemm_params p;
    float *abuf, *bbuf;
    int kc, mr_rows, NT, ntiles, apanels;
} short_state;

#define SHORT_A_BYTES ((size_t)4 << 20)

static void short_pack_a(void *arg, int task) {   /* A_PANELS_PER_TASK panels of one K block */
    const short_state *s = arg;
    const kn_gemm_desc *d = s->d;
    int groups = (s->apanels + A_PANELS_PER_TASK - 1) / A_PANELS_PER_TASK;
    int kb = task / groups, g = task % groups, k0 = kb * s->kc, klen = d->K - k0 < s->kc ? d->K - k0 : s->kc;
    float *blk = s->abuf + (size_t)k0 * s->mr_rows;
    for (int pi = g * A_PANELS_PER_TASK; pi < (g + 1) * A_PANELS_PER_TASK && pi < s->apanels; pi++) {
        int r = pi * s->p.MR, rl = d->M - r < s->p.MR ? d->M - r : s->p.MR;
        d->pack_a(d->a_arg, 0, r, rl, k0, klen, s->p.MR, blk + (size_t)r * klen);
    }
}

static void short_compute(void *arg, int ni) {
    const short_state *s = arg;
    const kn_gemm_desc *d = s->d;
    int n0 = ni * s->NT, n1 = n0 + s->NT < d->N ? n0 + s->NT : d->N;
    for (int k0 = 0; k0 < d->K; k0 += s->kc) {
        int klen = d->K - k0 < s->kc ? d->K - k0 : s->kc;
        float beta = k0 == 0 ? d->beta : 1.f, *bb = s->bbuf + (size_t)n0 * s->kc;
        const float *ab = s->abuf + (size_t)k0 * s->mr_rows;
        for (int c = n0; c < n1; c += s->p.NR)
            d->pack_b(d->b_arg, 0, c, n1 - c < s->p.NR ? n1 - c : s->p.NR, k0, klen, s->p.NR,
                      bb + (size_t)(c - n0) * klen);
        for (int jr = n0; jr < n1; jr += s->p.NR) {
            int nr = n1 - jr < s->p.NR ? n1 - jr : s->p.NR;
            const float *bp = bb + (size_t)(jr - n0) * klen;
            for (int ir = 0; ir < d->M; ir += s->p.MR) {
                int mr = d->M - ir < s->p.MR ? d->M - ir : s->p.MR;
                s->p.ukr(klen, ab + (size_t)ir * klen, bp, d->C + (size_t)ir * d->ldc + jr, (size_t)d->ldc,
                         d->alpha, beta, mr, nr);
            }
        }
    }
}

/* Returns 1 when it ran, 0 when the shape does not qualify, -1 when out of memory. */
static int gemm_short(const kn_ctx *ctx, const kn_gemm_desc *d, gemm_params p, int kc) {
    int rows = round_up(d->M, p.MR);
    if (d->batch != 1 || d->M > 4 * p.MC || sizeof(float) * (size_t)rows * d->K > SHORT_A_BYTES ||
        sizeof(float) * (size_t)round_up(d->N, p.NR) * kc > SHORT_A_BYTES)
        return 0;
    kn_pool *pool = kn_pool_of(ctx);
    int nth = kn_pool_size(pool), want = 8 * nth, bpanels = (d->N + p.NR - 1) / p.NR;
    if (want > bpanels) want = bpanels;
    short_state s = {d, p, NULL, NULL, kc, rows, 0, 0, rows / p.MR};
    s.NT = round_up((d->N + want - 1) / want, p.NR);
    s.ntiles = (d->N + s.NT - 1) / s.NT;
    kn_scratch_buf ab, bb;
    s.abuf = kn_scratch_get(ctx, sizeof(float) * (size_t)rows * d->K, &ab);
    s.bbuf = kn_scratch_get(ctx, sizeof(float) * (size_t)s.ntiles * s.NT * kc, &bb);
    int ok = s.abuf && s.bbuf;
    if (ok) {
        int groups = (s.apanels + A_PANELS_PER_TASK - 1) / A_PANELS_PER_TASK;
        kn_pool_run(pool, ((d->K + kc - 1) / kc) * groups, short_pack_a, &s);
        kn_pool_run(pool, s.ntiles, short_compute, &s);
    }
    kn_scratch_release(ctx, &bb);
    kn_scratch_release(ctx, &ab);
    return ok ? 1 : -1;
}

int kn_gemm_run(const kn_ctx *ctx, const kn_gemm_desc *d) {
    if (d->M <= 0 || d->N <= 0 || d->batch <= 0) return 0;
    if (d->K <= 0) { scale_c(d); return 0; }
    kn_pool *pool = kn_pool_of(ctx);
    int nth = kn_pool_size(pool);
    run_state s;
    memset(&s, 0, sizeof s);
    s.d = d;
    s.p = params_for(kn_isa_of(ctx));
    int mco = round_up(d->M, s.p.MR), nc = round_up(d->N, s.p.NR);
    int kblocks = (d->K + s.p.KC - 1) / s.p.KC, kc = (d->K + kblocks - 1) / kblocks;   /* even K blocks */
    int sh = gemm_short(ctx, d, s.p, kc);
    if (sh) return sh > 0 ? 0 : -1;
    if (mco > MCO_MAX) mco = MCO_MAX / s.p.MC * s.p.MC;
    if (nc > NC_MAX) nc = NC_MAX / s.p.NR * s.p.NR;
    s.bstride = (size_t)nc * kc;
    int group = (int)(B_GROUP_BYTES / (sizeof(float) * s.bstride));
    if (group < 1) group = 1;
    if (group > d->batch) group = d->batch;
    kn_scratch_buf ab, bb;
    s.abuf = kn_scratch_get(ctx, sizeof(float) * (size_t)mco * kc, &ab);
    s.bbuf = kn_scratch_get(ctx, sizeof(float) * s.bstride * group, &bb);
    if (!s.abuf || !s.bbuf) {
        kn_scratch_release(ctx, &bb);
        kn_scratch_release(ctx, &ab);
        return -1;
    }
    for (int k0 = 0; k0 < d->K; k0 += kc) {
        s.kc0 = k0;
        s.klen = d->K - k0 < kc ? d->K - k0 : kc;
        s.beta = k0 == 0 ? d->beta : 1.f;
        for (int i0 = 0; i0 < d->M; i0 += mco) {
            s.ic0 = i0;
            s.mlen = d->M - i0 < mco ? d->M - i0 : mco;
            /* short products: one row tile (A block still fits L2), so B panels need no sharing */
            s.mc = s.mlen <= 4 * s.p.MC ? round_up(s.mlen, s.p.MR) : s.p.MC;
            s.mtiles = (s.mlen + s.mc - 1) / s.mc;
            s.fuse_b = s.mtiles == 1;
            int a_packed = 0;
            for (int j0 = 0; j0 < d->N; j0 += nc) {
                s.jc0 = j0;
                s.nlen = d->N - j0 < nc ? d->N - j0 : nc;
                int bpanels = (s.nlen + s.p.NR - 1) / s.p.NR;
                s.btasks = (bpanels + B_PANELS_PER_TASK - 1) / B_PANELS_PER_TASK;
                for (int b0 = 0; b0 < d->batch; b0 += group) {
                    s.b0 = b0;
                    s.nb = d->batch - b0 < group ? d->batch - b0 : group;
                    s.atasks = a_packed ? 0 : ((s.mlen + s.p.MR - 1) / s.p.MR + A_PANELS_PER_TASK - 1) / A_PANELS_PER_TASK;
                    kn_pool_run(pool, s.atasks + (s.fuse_b ? 0 : s.nb * s.btasks), pack_task, &s);
                    a_packed = 1;
                    /* Enough tiles to keep every thread busy; the tiling never changes what is
                     * computed for an element, only who computes it. */
                    int want = (8 * nth + s.mtiles * s.nb - 1) / (s.mtiles * s.nb);
                    if (want > bpanels) want = bpanels;
                    if (want < 1) want = 1;
                    s.NT = round_up((s.nlen + want - 1) / want, s.p.NR);
                    s.ntiles = (s.nlen + s.NT - 1) / s.NT;
                    kn_pool_run(pool, s.nb * s.mtiles * s.ntiles, compute_task, &s);
                }
            }
        }
    }
    kn_scratch_release(ctx, &bb);
    kn_scratch_release(ctx, &ab);
    return 0;
}

/* ---- public products ---- */

/* Unpacked fallback for when no scratch memory can be had: slow but needs none. */
static void gemm_naive(int transA, int transB, int M, int N, int K, float alpha, const float *A, int lda,
                       kn_wview B, int ldb, float beta, float *C, int ldc) {
    for (int i = 0; i < M; i++)
        for (int n = 0; n < N; n++) {
            float acc = 0.f;
            for (int k = 0; k < K; k++) {
                float a = transA ? A[(size_t)k * lda + i] : A[(size_t)i * lda + k];
                acc += a * kn_wget(B, transB ? (size_t)n * ldb + k : (size_t)k * ldb + n);
            }
            float *c = C + (size_t)i * ldc + n;
            *c = alpha * acc + (beta == 0.f ? 0.f : beta * *c);
        }
}

void kn_gemm(const kn_ctx *ctx, int transA, int transB, int M, int N, int K, float alpha,
             const float *A, int lda, kn_wview B, int ldb, float beta, float *C, int ldc) {
    kn_isa isa = kn_isa_of(ctx);
    kn_mat_src a = {A, KN_F32, (size_t)lda, 0, isa}, b = {B.data, B.dtype, (size_t)ldb, 0, isa};
    kn_gemm_desc d = {M, N, K, 1, transA ? kn_pack_colmajor : kn_pack_rowmajor, &a,
                      transB ? kn_pack_rowmajor : kn_pack_colmajor, &b, C, ldc, 0, alpha, beta};
    if (kn_gemm_run(ctx, &d) != 0) gemm_naive(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

void kn_gemm_batched(const kn_ctx *ctx, int batch, int transA, int transB, int M, int N, int K,
                     float alpha, const float *A, int lda, size_t strideA, const float *B, int ldb,
                     size_t strideB, float beta, float *C, int ldc, size_t strideC) {
    if (strideA == 0 && batch > 1) {   /* shared A: pack it once for all entries */
        kn_isa isa = kn_isa_of(ctx);
        kn_mat_src a = {A, KN_F32, (size_t)lda, 0, isa}, b = {B, KN_F32, (size_t)ldb, strideB, isa};
        kn_gemm_desc d = {M, N, K, batch, transA ? kn_pack_colmajor : kn_pack_rowmajor, &a,
                          transB ? kn_pack_rowmajor : kn_pack_colmajor, &b, C, ldc, strideC, alpha, beta};
        if (kn_gemm_run(ctx, &d) == 0) return;
    }
    for (int b = 0; b < batch; b++)
        kn_gemm(ctx, transA, transB, M, N, K, alpha, A + b * strideA, lda, kn_wf32(B + b * strideB), ldb,
                beta, C + b * strideC, ldc);
}

void kn_linear(const kn_ctx *ctx, const float *x, int M, int K, kn_wview W, const float *bias, int N,
               float *y) {
    if (M <= 0 || N <= 0) return;
    if (bias) {   /* start from the bias so it is folded into the first K block's store */
        for (int i = 0; i < M; i++) memcpy(y + (size_t)i * N, bias, sizeof(float) * (size_t)N);
        kn_gemm(ctx, 0, 1, M, N, K, 1.f, x, K, W, K, 1.f, y, N);
    } else {
        kn_gemm(ctx, 0, 1, M, N, K, 1.f, x, K, W, K, 0.f, y, N);
    }
}

void kn_linear_backward(const kn_ctx *ctx, const float *x, int M, int K, const float *W, int N,
                        const float *dy, float *dx, float *dW, float *db) {
    if (dx) kn_gemm(ctx, 0, 0, M, K, N, 1.f, dy, N, kn_wf32(W), K, 0.f, dx, K);
    if (dW) kn_gemm(ctx, 1, 0, N, K, M, 1.f, dy, N, kn_wf32(x), K, 1.f, dW, K);
    if (db && N > 0) {
        /* Column sums row by row: vectorisable and in a fixed order. */
        float *acc = kn_calloc((size_t)N, sizeof(float));
        if (acc) {
            for (int i = 0; i < M; i++) {
                const float *r = dy + (size_t)i * N;
                for (int n = 0; n < N; n++) acc[n] += r[n];
            }
            for (int n = 0; n < N; n++) db[n] += acc[n];
            kn_free(acc);
        } else {
            for (int n = 0; n < N; n++) {
                float s = 0.f;
                for (int i = 0; i < M; i++) s += dy[(size_t)i * N + n];
                db[n] += s;
            }
        }
    }
}
