/* src/core/ops.h: the compute kernels, each with a forward and (where the input is differentiable) a
 * backward. Contract:
 *  - f32 activations, row-major, contiguous unless a leading dimension (ld*) is given.
 *  - Weights come as kn_wview: f32, f16 or bf16 data, converted on the fly; backward passes need f32.
 *  - Backward functions ACCUMULATE into parameter gradients (dW, db, dgamma...) and OVERWRITE input
 *    gradients (dx), so a caller can sum gradients over several uses of one parameter. Any gradient
 *    pointer may be NULL to skip it.
 *  - Work is split across ctx->pool by output blocks, so results are bit-identical for any thread
 *    count on a given ISA path. ctx may have pool == NULL and scratch == NULL (kernels then allocate).
 *  - Image layout [B, C, H, W]; token layout [B, L, D]; video [B, C, F, H, W]. */
#ifndef KN_OPS_H
#define KN_OPS_H
#include "core/core.h"

typedef struct kn_wview { const void *data; kn_dtype dtype; } kn_wview;
static inline kn_wview kn_wf32(const float *p) { kn_wview w = {p, KN_F32}; return w; }
float kn_wget(kn_wview w, size_t i);

/* ---- matrix products ---- */
/* C[M,N] = alpha * op(A)[M,K] * op(B)[K,N] + beta * C. op(X) = X or X^T (trans flag).
 * A is f32 with leading dimension lda; B may be f32/f16/bf16 with leading dimension ldb. */
void kn_gemm(const kn_ctx *ctx, int transA, int transB, int M, int N, int K, float alpha,
             const float *A, int lda, kn_wview B, int ldb, float beta, float *C, int ldc);
/* The same for `batch` independent f32 products, with element strides between matrices. */
void kn_gemm_batched(const kn_ctx *ctx, int batch, int transA, int transB, int M, int N, int K,
                     float alpha, const float *A, int lda, size_t strideA, const float *B, int ldb,
                     size_t strideB, float beta, float *C, int ldc, size_t strideC);

/* Linear (PyTorch layout): y[M,N] = x[M,K] * W[N,K]^T + bias[N] (bias may be NULL). */
void kn_linear(const kn_ctx *ctx, const float *x, int M, int K, kn_wview W, const float *bias, int N,
               float *y);
void kn_linear_backward(const kn_ctx *ctx, const float *x, int M, int K, const float *W, int N,
                        const float *dy, float *dx, float *dW, float *db);

/* ---- convolution ---- */
typedef struct kn_conv2d_shape {
    int B, Cin, H, W;        /* input */
    int Cout, kh, kw, stride;
    int pad_top, pad_bottom, pad_left, pad_right;   /* zero padding; asymmetric allowed */
} kn_conv2d_shape;
static inline kn_conv2d_shape kn_conv2d_make(int B, int Cin, int H, int W, int Cout, int k, int stride,
                                             int pad) {
    kn_conv2d_shape s = {B, Cin, H, W, Cout, k, k, stride, pad, pad, pad, pad};
    return s;
}
static inline int kn_conv2d_out_h(const kn_conv2d_shape *s) {
    return (s->H + s->pad_top + s->pad_bottom - s->kh) / s->stride + 1;
}
static inline int kn_conv2d_out_w(const kn_conv2d_shape *s) {
    return (s->W + s->pad_left + s->pad_right - s->kw) / s->stride + 1;
}
/* x [B,Cin,H,W], w [Cout,Cin,kh,kw], bias [Cout] or NULL -> y [B,Cout,Ho,Wo]. */
void kn_conv2d(const kn_ctx *ctx, const kn_conv2d_shape *s, const float *x, kn_wview w,
               const float *bias, float *y);
void kn_conv2d_backward(const kn_ctx *ctx, const kn_conv2d_shape *s, const float *x, const float *w,
                        const float *dy, float *dx, float *dw, float *db);

/* ---- normalisation ---- */
/* x [B, C, S] (S = everything after the channel axis); G groups over C; gamma/beta [C] (may be NULL). */
void kn_group_norm(const kn_ctx *ctx, const float *x, int B, int C, size_t S, int G, float eps,
                   const float *gamma, const float *beta, float *y);
void kn_group_norm_backward(const kn_ctx *ctx, const float *x, int B, int C, size_t S, int G, float eps,
                            const float *gamma, const float *dy, float *dx, float *dgamma, float *dbeta);
/* Fused kn_group_norm followed by SiLU (y = silu(group_norm(x))), as in every UNet ResNet block: one
 * pass over memory instead of two. Equal to the two calls in sequence on the same ISA path. */
void kn_group_norm_silu(const kn_ctx *ctx, const float *x, int B, int C, size_t S, int G, float eps,
                        const float *gamma, const float *beta, float *y);
/* x [rows, D] normalised over D. */
void kn_layer_norm(const kn_ctx *ctx, const float *x, size_t rows, int D, float eps, const float *gamma,
                   const float *beta, float *y);
void kn_layer_norm_backward(const kn_ctx *ctx, const float *x, size_t rows, int D, float eps,
                            const float *gamma, const float *dy, float *dx, float *dgamma, float *dbeta);

/* ---- activations (y may alias x in forward; dx may alias dy in backward) ---- */
typedef enum kn_act { KN_ACT_SILU, KN_ACT_GELU, KN_ACT_GELU_TANH, KN_ACT_QUICK_GELU } kn_act;
void kn_activation(const kn_ctx *ctx, kn_act act, const float *x, size_t n, float *y);
void kn_activation_backward(const kn_ctx *ctx, kn_act act, const float *x, const float *dy, size_t n,
                            float *dx);
/* GEGLU: x [rows, 2D] -> y [rows, D] = x[:, :D] * gelu(x[:, D:]) (diffusers' order). */
void kn_geglu(const kn_ctx *ctx, const float *x, size_t rows, int D, float *y);
void kn_geglu_backward(const kn_ctx *ctx, const float *x, size_t rows, int D, const float *dy, float *dx);

/* ---- attention ----
 * q[b, i, h*dh + d] lives at q + (b*Lq + i)*ldq + h*dh + d; k, v likewise with Lk and ldk/ldv;
 * out [B, Lq, H*dh] with row stride ldo. softmax(scale * q k^T [+ causal mask]) v, computed in tiles
 * with an online softmax so memory does not grow with Lq * Lk. */
typedef struct kn_attn_shape {
    int B, Lq, Lk, H, dh;
    int ldq, ldk, ldv, ldo;
    int causal;              /* key j > query i is masked */
    float scale;             /* usually 1/sqrt(dh) */
} kn_attn_shape;
void kn_attention(const kn_ctx *ctx, const kn_attn_shape *s, const float *q, const float *k,
                  const float *v, float *out);
/* Gradients dq/dk/dv use the same strides as q/k/v (overwritten). */
void kn_attention_backward(const kn_ctx *ctx, const kn_attn_shape *s, const float *q, const float *k,
                           const float *v, const float *dout, float *dq, float *dk, float *dv);

/* ---- resampling, lookup, embeddings ---- */
/* x [N, H, W] -> y [N, 2H, 2W] nearest. */
void kn_upsample_nearest2x(const kn_ctx *ctx, const float *x, size_t N, int H, int W, float *y);
void kn_upsample_nearest2x_backward(const kn_ctx *ctx, const float *dy, size_t N, int H, int W, float *dx);
/* y[i, :] = table[ids[i], :]; ids must be checked by the caller to lie in [0, V). */
void kn_embedding(const int64_t *ids, size_t n, kn_wview table, int D, float *y);
void kn_embedding_backward(const int64_t *ids, size_t n, int D, const float *dy, float *dtable);
/* Sinusoidal timestep embedding as diffusers' get_timestep_embedding:
 * exponent = -log(max_period) * i / (half - shift); emb = t * exp(exponent); [sin, cos] or [cos, sin]
 * when flip_sin_to_cos; a zero column is appended when dim is odd. No backward: t is not learned. */
void kn_timestep_embedding(const float *t, int n, int dim, int flip_sin_to_cos, float freq_shift,
                           float max_period, float *y);

/* ---- elementwise and layout ---- */
void kn_add(const float *a, const float *b, size_t n, float *y);          /* y = a + b */
void kn_axpy(float alpha, const float *x, size_t n, float *y);            /* y += alpha * x */
void kn_scale(const float *x, float alpha, size_t n, float *y);           /* y = alpha * x */
void kn_mul(const float *a, const float *b, size_t n, float *y);          /* y = a * b */
/* x [B, C, S] += bias[C] broadcast over S (and its backward: db[C] += sum over B,S of dy). */
void kn_add_channel_bias(float *x, int B, int C, size_t S, const float *bias);
void kn_add_channel_bias_backward(const float *dy, int B, int C, size_t S, float *db);
/* Channel concat: a [B, Ca, S], b [B, Cb, S] -> y [B, Ca+Cb, S]; backward splits dy. */
void kn_concat_channels(const float *a, int Ca, const float *b, int Cb, int B, size_t S, float *y);
void kn_split_channels(const float *dy, int Ca, int Cb, int B, size_t S, float *da, float *db);
/* General 4-D permute: y has dims (dims[perm[0]], ..., dims[perm[3]]) and
 * y[i0][i1][i2][i3] = x[...] with x index j[perm[k]] = i_k. Its backward is the inverse permute. */
void kn_permute4(const kn_ctx *ctx, const float *x, const int dims[4], const int perm[4], float *y);
/* Common permutes: [B, C, S] <-> [B, S, C] (image to tokens); [B,C,F,S] <-> [B,S,F,C] (temporal tokens). */
void kn_bcs_to_bsc(const kn_ctx *ctx, const float *x, int B, int C, size_t S, float *y);
void kn_bsc_to_bcs(const kn_ctx *ctx, const float *x, int B, int C, size_t S, float *y);

/* ---- losses ---- */
float kn_mse(const float *x, const float *target, size_t n);               /* mean squared error */
void kn_mse_backward(const float *x, const float *target, size_t n, float scale, float *dx);

#endif
