/* src/core/kernels.h: internals shared by the kernel files of src/core (not a public interface).
 * Contract: the packed-panel GEMM engine (gemm.c) computes C = alpha * op(A) op(B) + beta * C from
 * operands reached only through pack callbacks, so plain GEMM, linear layers and implicit-GEMM
 * convolution share one blocked, threaded driver. Every output element is reduced over K in the same
 * order whatever the thread count: work is split over output tiles only, and K blocks are applied in
 * increasing order. ISA-specific pieces live in *_avx2.c / *_avx512.c and are reached only after
 * ctx->isa says the CPU supports them. */
#ifndef KN_KERNELS_H
#define KN_KERNELS_H
#include "core/ops.h"

/* Pack an R-wide panel of a logical matrix X[rows, K] (rows = M for the A operand, rows = N for the
 * B operand seen as B^T): dst[k * R + r] = X[r0 + r, k0 + k] for r < rlen, zero for rlen <= r < R.
 * `batch` selects the matrix for batched operands (ignored where there is only one). */
typedef void (*kn_pack_fn)(const void *arg, int batch, int r0, int rlen, int k0, int klen, int R,
                           float *dst);

typedef struct kn_gemm_desc {
    int M, N, K;
    int batch;                  /* products sharing A; B and C vary with the batch index */
    kn_pack_fn pack_a;
    const void *a_arg;
    kn_pack_fn pack_b;
    const void *b_arg;
    float *C;
    int ldc;
    size_t strideC;             /* elements between the C of consecutive batch entries */
    float alpha, beta;
} kn_gemm_desc;

/* Runs the product. Returns 0, or -1 when no packing memory could be had (nothing written then). */
int kn_gemm_run(const kn_ctx *ctx, const kn_gemm_desc *d);

/* Generic packers for strided matrices of any float dtype: element (r, k) of X lives at
 * r * ld + k (rowmajor) or k * ld + r (colmajor). */
typedef struct kn_mat_src {
    const void *data;
    kn_dtype dtype;
    size_t ld;
    size_t stride;              /* elements between batch entries */
    kn_isa isa;
} kn_mat_src;
void kn_pack_rowmajor(const void *arg, int batch, int r0, int rlen, int k0, int klen, int R, float *dst);
void kn_pack_colmajor(const void *arg, int batch, int r0, int rlen, int k0, int klen, int R, float *dst);

/* Convert n contiguous elements of dtype t to f32 with the best conversion the ISA has. */
void kn_cvt_row(kn_isa isa, const void *src, kn_dtype t, size_t n, float *dst);

/* ---- micro-kernels: c[MR x NR] = alpha * sum_k a[k*MR + i] b[k*NR + j] + beta * c (beta == 0:
 * c is not read). mr <= MR, nr <= NR bound what is stored. ---- */
typedef void (*kn_ukr_fn)(int kc, const float *a, const float *b, float *c, size_t ldc, float alpha,
                          float beta, int mr, int nr);
void kn_ukr_avx2_6x16(int kc, const float *a, const float *b, float *c, size_t ldc, float alpha,
                      float beta, int mr, int nr);
void kn_ukr_avx512_12x32(int kc, const float *a, const float *b, float *c, size_t ldc, float alpha,
                         float beta, int mr, int nr);
void kn_cvt_f16_avx2(const uint16_t *src, size_t n, float *dst);
/* dst[k * R + r] = src[r * ld + k] for r < rlen (zero above), k < klen; needs 16 * ld < 2^31 */
void kn_pack_rows_f32_avx512(const float *src, size_t ld, int rlen, int klen, int R, float *dst);
void kn_pack_rows_f32_avx2(const float *src, size_t ld, int rlen, int klen, int R, float *dst);

/* One flash-attention block: up to KN_ATTN_BQ query rows of one (batch, head) against all their keys.
 * Pointers are already offset to the head; rows are strided by the ld* fields. The forward block keeps
 * its tiles on the stack (about 2 * KN_ATTN_MAXDH * KN_ATTN_BQ * 4 + 16 KiB = 144 KiB), so callers'
 * threads need ordinary (MiB-sized) stacks. */
#define KN_ATTN_BQ 64
#define KN_ATTN_MAXDH 256
typedef struct kn_attn_block {
    const float *q, *k, *v;
    float *out;
    size_t ldq, ldk, ldv, ldo;
    int nq, q0, Lk, dh, causal;
    float scale;
    float *m_out, *l_out;       /* optional: per-query softmax max and normaliser (KN_ATTN_BQ each) */
    /* backward only: upstream gradient and the gradients (dq overwritten, dk/dv accumulated), and a
     * work area of kn_attn_bwd_work_floats(dh) floats */
    const float *dout;
    float *dq, *dk, *dv;
    size_t lddo, lddq, lddk, lddv;
    float *work;
} kn_attn_block;
static inline size_t kn_attn_bwd_work_floats(int dh) {
    size_t dhp = ((size_t)dh + 15) / 16 * 16;
    return 6 * dhp * KN_ATTN_BQ + 2 * (size_t)KN_ATTN_BQ * 64 + 4 * KN_ATTN_BQ + 64;
}

/* ---- vector primitives for attention / normalisation / activations, one table per ISA ---- */
typedef struct kn_vec {
    float (*dot)(const float *a, const float *b, int n);
    void (*scale_axpy)(float *o, float c, float p, const float *v, int n);  /* o = c*o + p*v */
    void (*axpy)(float *o, float p, const float *v, int n);                /* o += p*v */
    void (*exp_sub)(float *x, float m, int n, float *sum);  /* x = exp(x - m); *sum = sum of x */
    void (*silu)(const float *x, size_t n, float *y);
    void (*gelu)(const float *x, size_t n, float *y);       /* erf GELU */
    /* y = (x - shift) * a + b: centring first keeps large means from cancelling */
    void (*affine)(const float *x, float shift, float a, float b, size_t n, float *y);
    /* sum of (x - shift) and of (x - shift)^2 */
    void (*sum_sq)(const float *x, size_t n, float shift, double *sum, double *sq);
    void (*mul)(const float *a, const float *b, size_t n, float *y);
    void (*attn_block)(const kn_attn_block *a);   /* NULL: use the row-wise path; dh <= KN_ATTN_MAXDH */
    void (*attn_block_bwd)(const kn_attn_block *a);   /* same conditions */
} kn_vec;
const kn_vec *kn_vec_for(kn_isa isa);
extern const kn_vec kn_vec_scalar, kn_vec_avx2, kn_vec_avx512;

static inline kn_isa kn_isa_of(const kn_ctx *ctx) { return ctx ? ctx->isa : KN_ISA_SCALAR; }
static inline kn_pool *kn_pool_of(const kn_ctx *ctx) { return ctx ? ctx->pool : NULL; }

/* Scratch: from ctx->scratch when it has room, else the heap. kn_scratch_release gives it back. */
typedef struct kn_scratch_buf { void *p; int heap; size_t mark; } kn_scratch_buf;
void *kn_scratch_get(const kn_ctx *ctx, size_t bytes, kn_scratch_buf *b);
void kn_scratch_release(const kn_ctx *ctx, kn_scratch_buf *b);

#endif
