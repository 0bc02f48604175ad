/* src/models/backward.h: the training passes of the layers and networks (the llm.c pattern: each layer
 * a forward that records what it needs and a backward over plain structs).
 * Contract:
 *  - A *_fwd_train call computes exactly what the inference forward computes (the same kernels in the
 *    same order, so its output is bit-identical to the inference pass) and records what its backward
 *    needs in an act record allocated, with the tensors it saves, from `tape`: a kn_ws (not in measure
 *    mode) that is not released until the backward of the step has run. Inputs given to a fwd_train
 *    are saved by pointer, not copied: they must stay unchanged until the backward, so callers give
 *    each layer a fresh output buffer (nothing runs in place in training).
 *  - A *_bwd call takes dy and OVERWRITES dx (dx never aliases dy or a saved tensor; NULL skips it)
 *    and ACCUMULATES parameter gradients, which it finds from the parameter's address through a
 *    kn_gradmap: a parameter the map does not hold is frozen and gets no gradient. Inputs shared by
 *    several layers (the time embedding, the text context) have their gradients ACCUMULATED (dtemb,
 *    dcontext; NULL skips them). Temporaries come from `tape` above its current mark and are released
 *    before return.
 *  - Backward passes need f32 weights where a gradient flows through them (the trainer's own
 *    parameters are f32); a weight of another dtype there fails with KN_EUNSUPPORTED naming it.
 *  - Results do not depend on the thread count (the kernels split work by output blocks). */
#ifndef KN_BACKWARD_H
#define KN_BACKWARD_H
#include "models/blocks.h"
#include "models/models.h"

/* ---- parameter address -> gradient ---- */
typedef struct kn_grad_entry {
    const float *w;        /* the parameter's storage (what the model's views point at) */
    size_t n;              /* elements */
    float *g;              /* its gradient, n elements */
} kn_grad_entry;
typedef struct kn_gradmap {
    kn_grad_entry *e;      /* sorted by w, non-overlapping */
    size_t n;
} kn_gradmap;
/* Sorts the entries (owned by the caller) and checks they do not overlap. */
kn_status kn_gradmap_init(kn_gradmap *gm, kn_grad_entry *entries, size_t n, kn_error *err);
/* The gradient for the parameter whose storage contains p (offset kept), or NULL when gm is NULL or
 * no entry holds p (a frozen parameter). */
float *kn_grad_of(const kn_gradmap *gm, const void *p);

/* A tape: a kn_ws over `cap` bytes of reserved address space (pages are only committed as they are
 * touched), so one can be sized generously once for a whole training run. */
kn_status kn_tape_init(kn_ws *tape, size_t cap, kn_error *err);
void kn_tape_free(kn_ws *tape);
/* Allocates an act record of `type` on the tape (zeroed); NULL when the tape is full. */
void *kn_tape_new(kn_ws *tape, size_t bytes);
#define KN_TAPE_NEW(tape, type) ((type *)kn_tape_new((tape), sizeof(type)))
/* Inside a training pass (with `tape` and `err` in scope): allocate or fail with KN_ENOMEM. */
#define TAPE_FLOATS(p, n) do { if (!((p) = kn_ws_alloc(tape, (n)))) \
    return kn_fail(err, KN_ENOMEM, "training tape full (%zu bytes)", tape->cap); } while (0)
#define TAPE_ACT(p, type) do { if (!((p) = KN_TAPE_NEW(tape, type))) \
    return kn_fail(err, KN_ENOMEM, "training tape full (%zu bytes)", tape->cap); } while (0)

/* ---- plain layers (no act record: the caller keeps x) ---- */
kn_status kn_lin_bwd(const kn_ctx *ctx, const kn_lin *l, const kn_gradmap *gm, const float *x, size_t rows,
                     const float *dy, float *dx, kn_error *err);
kn_status kn_conv_bwd(const kn_ctx *ctx, const kn_conv *c, const kn_gradmap *gm, const float *x, int N, int H,
                      int W, const float *dy, float *dx, kn_error *err);
kn_status kn_down_bwd(const kn_ctx *ctx, const kn_down *d, const kn_gradmap *gm, const float *x, int N, int H,
                      int W, const float *dy, float *dx, kn_error *err);
/* x is the up block's input [N, C, H, W]; dy is [N, C, Ho, Wo]. */
kn_status kn_up_bwd(const kn_ctx *ctx, kn_ws *tape, const kn_up *u, const kn_gradmap *gm, const float *x, int N,
                    int H, int W, int Ho, int Wo, const float *dy, float *dx, kn_error *err);

/* d(silu(group_norm(x)))/dx, recomputing the norm's output: dx overwritten (must not alias dy), the
 * norm's gradients accumulated. */
kn_status kn_gn_silu_bwd(const kn_ctx *ctx, kn_ws *tape, const kn_norm *n, const float *x, int N, int C, size_t S,
                         int G, float eps, const kn_gradmap *gm, const float *dy, float *dx, kn_error *err);

/* ---- ResnetBlock2D ---- */
typedef struct kn_resnet_act kn_resnet_act;
kn_status kn_resnet_fwd_train(const kn_ctx *ctx, kn_ws *tape, const kn_resnet *r, const float *x, int N, int H,
                              int W, const float *temb_act, int rep, float *y, kn_resnet_act **act,
                              kn_error *err);
/* dtemb_act [N/rep, temb] accumulated (gradient of the SiLU'd embedding the block was given). */
kn_status kn_resnet_bwd(const kn_ctx *ctx, kn_ws *tape, const kn_resnet *r, const kn_resnet_act *act,
                        const kn_gradmap *gm, const float *dy, float *dx, float *dtemb_act, kn_error *err);

/* ---- Attention ---- */
typedef struct kn_attn_act kn_attn_act;
/* as kn_attn_fwd (kv NULL: self-attention); y must not alias x or kv */
kn_status kn_attn_fwd_train(const kn_ctx *ctx, kn_ws *tape, const kn_attn *a, const float *x, int B, int Lq,
                            const float *kv, int Lk, float *y, kn_attn_act **act, kn_error *err);
/* dx overwritten; dkv [B, Lk, kv_dim] accumulated (cross-attention only; self-attention puts the key
 * and value paths into dx). */
kn_status kn_attn_bwd(const kn_ctx *ctx, kn_ws *tape, const kn_attn *a, const kn_attn_act *act,
                      const kn_gradmap *gm, const float *dy, float *dx, float *dkv, kn_error *err);

/* ---- AutoencoderKL mid attention (y = x + attn(norm(x)), out of place in training) ---- */
typedef struct kn_vae_attn_act kn_vae_attn_act;
kn_status kn_vae_attn_fwd_train(const kn_ctx *ctx, kn_ws *tape, const kn_vae_attn *a, const float *x, int N,
                                int H, int W, float *y, kn_vae_attn_act **act, kn_error *err);
kn_status kn_vae_attn_bwd(const kn_ctx *ctx, kn_ws *tape, const kn_vae_attn *a, const kn_vae_attn_act *act,
                          const kn_gradmap *gm, const float *dy, float *dx, kn_error *err);

/* ---- BasicTransformerBlock / Transformer2DModel / TransformerTemporalModel (out of place) ---- */
typedef struct kn_btb_act kn_btb_act;
kn_status kn_btb_fwd_train(const kn_ctx *ctx, kn_ws *tape, const kn_btb *b, const float *x, int B, int L,
                           const float *kv, int Lk, int rep, float *y, kn_btb_act **act, kn_error *err);
/* dkv [B/rep, Lk, cross] accumulated */
kn_status kn_btb_bwd(const kn_ctx *ctx, kn_ws *tape, const kn_btb *b, const kn_btb_act *act,
                     const kn_gradmap *gm, const float *dy, float *dx, float *dkv, kn_error *err);

typedef struct kn_t2d_act kn_t2d_act;
kn_status kn_t2d_fwd_train(const kn_ctx *ctx, kn_ws *tape, const kn_t2d *t, const float *x, int N, int H, int W,
                           const float *context, int L, int rep, float *y, kn_t2d_act **act, kn_error *err);
/* dcontext [N/rep, L, cross] accumulated */
kn_status kn_t2d_bwd(const kn_ctx *ctx, kn_ws *tape, const kn_t2d *t, const kn_t2d_act *act,
                     const kn_gradmap *gm, const float *dy, float *dx, float *dcontext, kn_error *err);

typedef struct kn_ttm_act kn_ttm_act;
kn_status kn_ttm_fwd_train(const kn_ctx *ctx, kn_ws *tape, const kn_ttm *t, const float *x, int B, int F, int H,
                           int W, float *y, kn_ttm_act **act, kn_error *err);
kn_status kn_ttm_bwd(const kn_ctx *ctx, kn_ws *tape, const kn_ttm *t, const kn_ttm_act *act,
                     const kn_gradmap *gm, const float *dy, float *dx, kn_error *err);

/* ---- networks ---- */
/* Opening on weights the caller already holds (the trainer's live f32 parameters, see
 * kn_weights_open_mem): the model takes ownership of the kn_weights structs (mw may be NULL). */
kn_status kn_unet_open_weights(kn_weights *w, kn_weights *mw, kn_unet **out, kn_error *err);
kn_status kn_vae_open_weights(kn_weights *w, kn_vae **out, kn_error *err);
kn_status kn_clip_text_open_weights(kn_weights *w, kn_clip_text **out, kn_error *err);

typedef struct kn_unet_act kn_unet_act;
/* as kn_unet_forward */
kn_status kn_unet_forward_train(const kn_unet *u, const kn_ctx *ctx, kn_ws *tape, const float *sample, int B,
                                int F, int H, int W, const float *timestep, const float *context, int L,
                                float *out, kn_unet_act **act, kn_error *err);
/* dout [B, out_ch, F, H, W]; dcontext [B, L, cross] accumulated (NULL: the text encoder is frozen). */
kn_status kn_unet_backward(const kn_unet *u, const kn_ctx *ctx, kn_ws *tape, const kn_unet_act *act,
                           const kn_gradmap *gm, const float *dout, float *dcontext, kn_error *err);

typedef struct kn_vae_act kn_vae_act;
kn_status kn_vae_encode_train(const kn_vae *v, const kn_ctx *ctx, kn_ws *tape, const float *image, int B, int H,
                              int W, float *mean, float *logvar, kn_vae_act **act, kn_error *err);
/* dmean, dlogvar [B, latent, h, w]; the clamp of logvar passes no gradient outside [-30, 20]. */
kn_status kn_vae_encode_backward(const kn_vae *v, const kn_ctx *ctx, kn_ws *tape, const kn_vae_act *act,
                                 const kn_gradmap *gm, const float *dmean, const float *dlogvar, kn_error *err);
kn_status kn_vae_decode_train(const kn_vae *v, const kn_ctx *ctx, kn_ws *tape, const float *latent, int B, int h,
                              int w, float *image, kn_vae_act **act, kn_error *err);
/* dlatent [B, latent, h, w] overwritten (NULL: not needed) */
kn_status kn_vae_decode_backward(const kn_vae *v, const kn_ctx *ctx, kn_ws *tape, const kn_vae_act *act,
                                 const kn_gradmap *gm, const float *dimage, float *dlatent, kn_error *err);

typedef struct kn_clip_text_act kn_clip_text_act;
kn_status kn_clip_text_encode_train(const kn_clip_text *m, const kn_ctx *ctx, kn_ws *tape, const int64_t *ids,
                                    int n, int L, int skip, float *out, kn_clip_text_act **act, kn_error *err);
kn_status kn_clip_text_backward(const kn_clip_text *m, const kn_ctx *ctx, kn_ws *tape,
                                const kn_clip_text_act *act, const kn_gradmap *gm, const float *dout,
                                kn_error *err);

#endif
