/* src/models: the networks, as config-driven structs of borrowed weights.
 * Contract: every architectural value comes from the folder's config (diffusers / transformers
 * layouts); anything a config asks for that is not implemented fails at open time with an error
 * naming the field and its value. Forward passes take a kn_ctx (threads, ISA, scratch) and write
 * into caller-provided buffers; they never keep per-call state in the model struct, so one opened
 * model can serve several calls in turn. */
#ifndef KN_MODELS_H
#define KN_MODELS_H
#include "core/ops.h"

/* ---- CLIP tokenizer (vocab.json + merges.txt, special_tokens_map / tokenizer_config optional) ---- */
typedef struct kn_tokenizer kn_tokenizer;
kn_status kn_tokenizer_open(const char *dir, kn_tokenizer **out, kn_error *err);
void kn_tokenizer_close(kn_tokenizer *t);
int kn_tokenizer_max_length(const kn_tokenizer *t);   /* model_max_length, usually 77 */
/* ids[max_length]: start id, BPE ids, end id, padded with the end id (truncated keeping end last). */
kn_status kn_tokenizer_encode(const kn_tokenizer *t, const char *text, int64_t *ids, kn_error *err);

/* ---- CLIPTextModel ---- */
typedef struct kn_clip_text kn_clip_text;
kn_status kn_clip_text_open(const char *dir, kn_clip_text **out, kn_error *err);
void kn_clip_text_close(kn_clip_text *m);
int kn_clip_text_hidden(const kn_clip_text *m);       /* hidden_size */
int kn_clip_text_vocab(const kn_clip_text *m);        /* vocab_size */
int kn_clip_text_max_positions(const kn_clip_text *m);
/* ids [n, L] -> out [n, L, hidden]. skip = 0: last layer after final_layer_norm; skip = k > 0: the
 * input of layer (num_layers - k), no final norm ("clip skip"). Ids outside the vocabulary fail. */
kn_status kn_clip_text_encode(const kn_clip_text *m, const kn_ctx *ctx, const int64_t *ids, int n, int L,
                              int skip, float *out, kn_error *err);

/* ---- AutoencoderKL ---- */
typedef struct kn_vae kn_vae;
kn_status kn_vae_open(const char *dir, kn_vae **out, kn_error *err);
void kn_vae_close(kn_vae *v);
int kn_vae_latent_channels(const kn_vae *v);
int kn_vae_downscale(const kn_vae *v);                /* 2^(len(block_out_channels)-1) */
float kn_vae_scaling_factor(const kn_vae *v);
/* image [B, in_channels, H, W] in [-1, 1] -> posterior mean, logvar [B, latent, H/f, W/f]
 * (logvar clamped to [-30, 20]). */
kn_status kn_vae_encode(const kn_vae *v, const kn_ctx *ctx, const float *image, int B, int H, int W,
                        float *mean, float *logvar, kn_error *err);
/* latent [B, latent, h, w] (already divided by scaling_factor) -> image [B, out_channels, h*f, w*f]. */
kn_status kn_vae_decode(const kn_vae *v, const kn_ctx *ctx, const float *latent, int B, int h, int w,
                        float *image, kn_error *err);
/* The pixel convention of the two calls above, as diffusers' VaeImageProcessor has it: n interleaved
 * RGB bytes -> planar [3, n] in [-1, 1] (x / 127.5 - 1), and back: clamp(x / 2 + 0.5, 0, 1) * 255,
 * rounded to nearest. */
void kn_vae_pixels_from_rgb8(const uint8_t *rgb, size_t n, float *planar);
void kn_vae_pixels_to_rgb8(const float *planar, size_t n, uint8_t *rgb);

/* ---- UNet2DConditionModel, optionally with AnimateDiff motion modules ---- */
typedef struct kn_unet kn_unet;
/* unet_dir: a UNet2DConditionModel folder plus motion_dir (a MotionAdapter folder), or motion_dir
 * NULL; or a merged UNetMotionModel folder (detected from its config's _class_name). */
kn_status kn_unet_open(const char *unet_dir, const char *motion_dir, kn_unet **out, kn_error *err);
void kn_unet_close(kn_unet *u);
int kn_unet_in_channels(const kn_unet *u);
int kn_unet_out_channels(const kn_unet *u);
int kn_unet_cross_dim(const kn_unet *u);
int kn_unet_has_motion(const kn_unet *u);
int kn_unet_max_frames(const kn_unet *u);             /* motion_max_seq_length; 0 without motion */
/* sample [B, C, F, H, W] (F = 1 and layout [B, C, H, W] for a plain UNet), timestep[B],
 * context [B, L, cross_dim] (shared by all frames of a batch item) -> out [B, out_channels, F, H, W]. */
kn_status kn_unet_forward(const kn_unet *u, const kn_ctx *ctx, const float *sample, int B, int F, int H,
                          int W, const float *timestep, const float *context, int L, float *out,
                          kn_error *err);

#endif
