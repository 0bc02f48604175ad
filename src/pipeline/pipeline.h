/* src/pipeline: text-to-video and image-to-video, keyframe correction, context windows, and the
 * public interpolation calls (interpolate.c: a video, a stream or a file through src/interp).
 * Contract: kn_pipeline (include/kinora/kinora.h) owns the opened models, a thread pool and a
 * prompt-embedding cache; one pipeline serves one call at a time. Noise comes from Philox streams
 * keyed by (seed, purpose, step), so a seed gives the same frames whatever the thread count.
 * The pieces below are shared with the parity runner (check_pipeline_t2v.c). */
#ifndef KN_PIPELINE_H
#define KN_PIPELINE_H
#include "models/models.h"
#include "sched/sched.h"

struct kn_pipeline {
    char dir[1024];
    char sched_path[1100];
    kn_tokenizer *tok;
    kn_clip_text *text;
    kn_unet *unet;
    kn_vae *vae;
    kn_pool *pool;
    kn_ctx ctx;
    int unet_downscale;       /* 2^(down blocks - 1): latent sides must be multiples of it */
    int L, D;                 /* text length (tokenizer max length) and embedding width */
    float guidance, motion_guidance;   /* the model's recommended settings (generation_defaults.json) */
    char sampler[40];                  /* its recommended sampler there; "" = the scheduler config's */
    /* prompt embedding cache: small ring of recently encoded texts */
    struct { char *text; float *emb; } cache[16];
    int cache_next;
};

/* Pinned keyframes: latents that keyframe k must follow during the first `pin_steps` steps. */
typedef struct pl_pins {
    int nk;
    const int *frame;         /* keyframe indices */
    const float *const *latent;   /* [C*h*w] clean latent (already times scaling_factor) */
    int pin_steps;            /* steps during which they are re-imposed */
} pl_pins;

kn_status pl_encode_text(kn_pipeline *p, const char *text, float *emb, kn_error *err);
kn_status pl_encode_ids(kn_pipeline *p, const int64_t *ids, float *emb, kn_error *err);
/* The text embeddings [L, D] that steer the denoiser, and how strongly. The prediction is
 * u + guidance (c - u) + motion_guidance (c - r) for the noise predictions c (cond), u (uncond; used
 * when guidance > 1) and r (opposite: the prompt with its motion words reversed; used when
 * motion_guidance > 0). */
typedef struct pl_guide {
    const float *cond, *uncond, *opposite;
    float guidance, motion_guidance;
} pl_guide;

/* latents [C, K, h, w] at the first step's noise level, denoised in place over steps start..n-1. */
kn_status pl_denoise(kn_pipeline *p, kn_sched *s, int start, const pl_guide *guide, float *latents, int K, int h,
                     int w, uint64_t seed, const pl_pins *pins, const kn_generate_params *prm, kn_error *err);
/* Writes prompt into out (cap bytes) with each motion word replaced by its opposite under time
 * reversal (left/right, up/down, growing/shrinking and their forms; case kept, other text as it is).
 * Returns the number of words replaced (0: the prompt names no reversible motion), -1 when out is
 * too small. 2 * strlen(prompt) + 1 bytes are always enough. */
int pl_motion_opposite(const char *prompt, char *out, size_t cap);
/* latents [C, K, h, w] (scaled) -> 8-bit RGB keyframes. */
kn_status pl_decode(kn_pipeline *p, const float *latents, int K, int h, int w, kn_video *kf,
                    const kn_generate_params *prm, kn_error *err);
/* latents [C, K, h, w] (scaled) -> float frames [K, 3, H, W] in [0, 1] (the parity runner's form). */
kn_status pl_decode_f32(kn_pipeline *p, const float *latents, int K, int h, int w, float *frames, kn_error *err);
/* image (8-bit RGB, already the output size) -> clean latent [C, h, w] times scaling_factor. */
kn_status pl_encode_image(kn_pipeline *p, const uint8_t *rgb, int W, int H, float *latent, kn_error *err);
/* Output frame of keyframe k when K keyframes are spread over N frames (k (N-1) / (K-1), rounded). */
int pl_keyframe_pos(int k, int K, int N);
/* Stage 2: fills out (frames, fps set by caller) from the keyframes. */
kn_status pl_fill_frames(kn_pipeline *p, const kn_video *kf, kn_video *out, const kn_generate_params *prm,
                         kn_error *err);

#endif
