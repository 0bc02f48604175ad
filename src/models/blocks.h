/* src/models/blocks.h: the layers shared by AutoencoderKL and the UNets (diffusers 0.25 semantics).
 * Contract: each layer is a struct of borrowed weight views (zero-copy) and owned f32 vectors, filled
 * by a *_load function that checks every shape against the config-derived sizes and names the tensor
 * when one is missing or wrong. Forward functions take activations from a kn_ws bump workspace with
 * stack discipline (mark/release); in measure mode (ws->measure) they only account for the memory
 * they would take and compute nothing, so a model can size one buffer per call before running. */
#ifndef KN_BLOCKS_H
#define KN_BLOCKS_H
#include "models/models.h"
#include "models/weights.h"

/* ---- workspace ---- */
typedef struct kn_ws {
    int measure;             /* 1: account only */
    uint8_t *base;
    size_t cap, used, peak;
    float dummy[16];         /* what measure-mode allocations point at (never read or written) */
} kn_ws;
float *kn_ws_alloc(kn_ws *ws, size_t nfloats);   /* NULL when full (never in measure mode) */
static inline size_t kn_ws_mark(const kn_ws *ws) { return ws->used; }
static inline void kn_ws_release(kn_ws *ws, size_t mark) { ws->used = mark; }

/* Runs fn twice: once in measure mode to find the workspace it needs, then for real with one buffer of
 * that size, taken from ctx->scratch when it has room (given back after) or else allocated once. fn
 * gets the ctx to compute with: the caller's, or, when it has no scratch arena, a copy whose arena
 * (KN_KERNEL_SCRATCH bytes, reserved once per call) serves the kernels' temporaries so they do not
 * allocate per layer. */
#define KN_KERNEL_SCRATCH ((size_t)64 << 20)
typedef kn_status (*kn_ws_fn)(void *arg, const kn_ctx *ctx, kn_ws *ws, kn_error *err);
kn_status kn_ws_run(const kn_ctx *ctx, kn_ws_fn fn, void *arg, kn_error *err);

/* Bytes of activation workspace one call of this shape takes (what kn_ws_run allocates or takes from
 * ctx->scratch), for callers that size a scratch arena up front; 0 when the shape is refused. Kernel
 * scratch comes on top. */
size_t kn_unet_workspace_bytes(const kn_unet *u, int B, int F, int H, int W, int L);
size_t kn_vae_encode_workspace_bytes(const kn_vae *v, int B, int H, int W);
size_t kn_vae_decode_workspace_bytes(const kn_vae *v, int B, int h, int w);

/* Builds weight names "prefix.suffix". */
const char *kn_wname(char *buf, size_t cap, const char *prefix, const char *suffix);

/* ---- plain layers ---- */
typedef struct kn_lin { kn_wview w; const float *b; int in, out; } kn_lin;
/* bias: 1 required, 0 absent. A weight of shape [out, in, 1, 1] (1x1 conv) is accepted when conv1x1. */
kn_status kn_lin_load(kn_lin *l, kn_weights *w, const char *prefix, int in, int out, int bias, int conv1x1,
                      kn_error *err);
void kn_lin_fwd(const kn_ctx *ctx, const kn_lin *l, const float *x, size_t rows, float *y);

typedef struct kn_conv { kn_wview w; const float *b; int cin, cout, k; } kn_conv;
kn_status kn_conv_load(kn_conv *c, kn_weights *w, const char *prefix, int cin, int cout, int k, kn_error *err);
/* stride 1, "same" padding (k-1)/2 */
void kn_conv_fwd(const kn_ctx *ctx, const kn_conv *c, const float *x, int N, int H, int W, float *y);

typedef struct kn_norm { const float *g, *b; int C; } kn_norm;
kn_status kn_norm_load(kn_norm *n, kn_weights *w, const char *prefix, int C, kn_error *err);

/* ---- ResnetBlock2D (time_embedding_norm "default", pre-norm, SiLU) ---- */
typedef struct kn_resnet {
    int cin, cout, groups, temb;   /* temb 0: no time embedding projection */
    float eps, out_scale;
    kn_norm norm1, norm2;
    kn_conv conv1, conv2;
    kn_lin temb_proj;
    int has_shortcut;
    kn_conv shortcut;             /* 1x1 conv_shortcut */
} kn_resnet;
kn_status kn_resnet_load(kn_resnet *r, kn_weights *w, const char *prefix, int cin, int cout, int temb,
                         int groups, float eps, float out_scale, kn_error *err);
/* x [N, cin, H, W] -> y [N, cout, H, W]; temb_act [N/rep, temb] already passed through SiLU, shared by
 * `rep` consecutive images (frames). y must not alias x. */
kn_status kn_resnet_fwd(const kn_ctx *ctx, kn_ws *ws, const kn_resnet *r, const float *x, int N, int H,
                        int W, const float *temb_act, int rep, float *y, kn_error *err);

/* ---- Downsample2D / Upsample2D (use_conv) ---- */
typedef struct kn_down { kn_conv conv; int pad; } kn_down;   /* pad 0: diffusers pads (0,1,0,1) */
kn_status kn_down_load(kn_down *d, kn_weights *w, const char *prefix, int C, int pad, kn_error *err);
static inline int kn_down_out(int n, int pad) { return pad == 0 ? (n + 1 - 3) / 2 + 1 : (n + 2 * pad - 3) / 2 + 1; }
void kn_down_fwd(const kn_ctx *ctx, const kn_down *d, const float *x, int N, int H, int W, float *y);
typedef struct kn_up { kn_conv conv; } kn_up;
kn_status kn_up_load(kn_up *u, kn_weights *w, const char *prefix, int C, kn_error *err);
/* x [N, C, H, W] -> nearest to [Ho, Wo] (2x unless a skip connection needs another size), conv. */
kn_status kn_up_fwd(const kn_ctx *ctx, kn_ws *ws, const kn_up *u, const float *x, int N, int H, int W, int Ho,
                    int Wo, float *y, kn_error *err);

/* ---- Attention (q/k/v/out linears; optional biases) over token rows ---- */
typedef struct kn_attn { kn_lin q, k, v, o; int heads, dh, inner, kv_dim; } kn_attn;
kn_status kn_attn_load(kn_attn *a, kn_weights *w, const char *prefix, int dim, int kv_dim, int heads, int dh,
                       int qkv_bias, kn_error *err);
/* x [B, Lq, dim], kv [B, Lk, kv_dim] (NULL: self-attention over x) -> y [B, Lq, dim]. Cross-attention
 * whose context is shared by several images is run with those images' tokens as one longer query
 * sequence (queries do not interact), so the context is never copied per image. */
kn_status kn_attn_fwd(const kn_ctx *ctx, kn_ws *ws, const kn_attn *a, const float *x, int B, int Lq,
                      const float *kv, int Lk, float *y, kn_error *err);

/* ---- AutoencoderKL mid-block attention: GroupNorm + single-layer attention + residual ---- */
typedef struct kn_vae_attn { kn_norm norm; int groups; float eps, rescale; kn_attn attn; int C; } kn_vae_attn;
kn_status kn_vae_attn_load(kn_vae_attn *a, kn_weights *w, const char *prefix, int C, int heads, int groups,
                           float eps, kn_error *err);
/* in place on x [N, C, H, W] */
kn_status kn_vae_attn_fwd(const kn_ctx *ctx, kn_ws *ws, const kn_vae_attn *a, float *x, int N, int H, int W,
                          kn_error *err);

/* ---- BasicTransformerBlock (layer norms, self-attn, cross- or second self-attn, GEGLU FF) ---- */
typedef struct kn_btb {
    int dim, ff_inner;
    float eps;
    kn_norm n1, n2, n3;
    kn_attn a1, a2;
    int a2_cross;                /* 0: attn2 is a second self-attention (temporal blocks) */
    kn_lin ff1, ff2;
    const float *pe;             /* sinusoidal positions [max_len, dim] added after norm1/norm2, or NULL */
    float *pe_owned;
    int pe_len;
} kn_btb;
kn_status kn_btb_load(kn_btb *b, kn_weights *w, const char *prefix, int dim, int heads, int cross_dim,
                      int pe_len, kn_error *err);
void kn_btb_free(kn_btb *b);
/* In place on tokens x [B, L, dim]; kv [B/rep, Lk, cross] for cross-attention blocks, shared by `rep`
 * consecutive sequences. */
kn_status kn_btb_fwd(const kn_ctx *ctx, kn_ws *ws, const kn_btb *b, float *x, int B, int L, const float *kv,
                     int Lk, int rep, kn_error *err);

/* ---- Transformer2DModel (continuous input; conv or linear proj_in/out) ---- */
typedef struct kn_t2d {
    int C, inner, groups, nlayers;
    kn_norm norm;
    kn_lin proj_in, proj_out;
    kn_btb *blocks;
} kn_t2d;
kn_status kn_t2d_load(kn_t2d *t, kn_weights *w, const char *prefix, int C, int heads, int nlayers,
                      int cross_dim, int groups, int linear_proj, kn_error *err);
void kn_t2d_free(kn_t2d *t);
/* In place on x [N, C, H, W]; context [N/rep, L, cross] shared by `rep` consecutive images. */
kn_status kn_t2d_fwd(const kn_ctx *ctx, kn_ws *ws, const kn_t2d *t, float *x, int N, int H, int W,
                     const float *context, int L, int rep, kn_error *err);

/* ---- TransformerTemporalModel (AnimateDiff motion module) ---- */
typedef struct kn_ttm {
    int C, groups;
    kn_norm norm;
    kn_lin proj_in, proj_out;
    kn_btb block;                /* one transformer block, two temporal self-attentions */
} kn_ttm;
kn_status kn_ttm_load(kn_ttm *t, kn_weights *w, const char *prefix, int C, int heads, int groups, int max_len,
                      kn_error *err);
void kn_ttm_free(kn_ttm *t);
/* In place on x [B*F, C, H, W] (frames of one batch item consecutive). */
kn_status kn_ttm_fwd(const kn_ctx *ctx, kn_ws *ws, const kn_ttm *t, float *x, int B, int F, int H, int W,
                     kn_error *err);

#endif
