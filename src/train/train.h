/* src/train: what the trainer needs besides the models' own forward/backward passes.
 * Contract:
 *  - A kn_paramset is a list of named f32 tensors, each with its gradient, AdamW moments and an
 *    optional EMA copy, all owned by the set. Names are unique (diffusers tensor names).
 *  - kn_adamw_step follows torch.optim.AdamW (single-tensor path) exactly: step += 1; decoupled
 *    decay p *= 1 - lr*wd; m = lerp(m, g, 1-beta1); v = v*beta2 + (1-beta2)*g*g;
 *    p -= lr/(1-beta1^t) * m / (sqrt(v)/sqrt(1-beta2^t) + eps). Bias corrections in double.
 *  - Gradient clipping is torch.nn.utils.clip_grad_norm_: one global L2 norm (accumulated in double),
 *    scale = max_norm/(norm+1e-6) applied only when < 1. The EMA is diffusers' EMAModel update
 *    ema -= (1-decay)*(ema - p).
 *  - Nothing here depends on thread count or keeps global state; a training run that saves with
 *    kn_ckpt_save and resumes with kn_ckpt_load continues bit-identically.
 *  - Checkpoints are folders in the diffusers layout: config.json + WEIGHTS (model.safetensors or
 *    diffusion_pytorch_model.safetensors, f32) + optimizer.safetensors (exp_avg.NAME, exp_avg_sq.NAME,
 *    ema.NAME) + trainer_state.json. A save writes DIR.tmp-XXXXXX and renames it into place, so
 *    DIR is either the old or the new checkpoint, never a mixture. */
#ifndef KN_TRAIN_H
#define KN_TRAIN_H
#include <stdio.h>
#include <jansson.h>
#include "core/core.h"

typedef struct kn_param {
    char *name;
    int ndim;
    int64_t shape[8];
    size_t n;                      /* element count */
    float *w, *g, *m, *v;          /* weights, gradient, first and second moments */
    float *ema;                    /* NULL unless kn_paramset_enable_ema */
    int frozen;                    /* no gradient, no update (AdamW, clipping and EMA skip it) */
} kn_param;

typedef struct kn_paramset {
    int n, cap;
    kn_param *p;
} kn_paramset;

/* Adds a zero-initialised tensor; *out (may be NULL) points to it until the next add. */
kn_status kn_paramset_add(kn_paramset *ps, const char *name, int ndim, const int64_t *shape,
                          kn_param **out, kn_error *err);
kn_param *kn_paramset_find(const kn_paramset *ps, const char *name);
void kn_paramset_free(kn_paramset *ps);
void kn_paramset_zero_grad(kn_paramset *ps);
/* Allocates the EMA copies, initialised to the current weights. */
kn_status kn_paramset_enable_ema(kn_paramset *ps, kn_error *err);
size_t kn_paramset_numel(const kn_paramset *ps);

/* ---- optimiser and schedule ---- */
typedef struct kn_adamw_cfg {
    double lr;                     /* peak learning rate */
    double beta1, beta2, eps, weight_decay;
} kn_adamw_cfg;
/* torch defaults: lr 1e-3, betas (0.9, 0.999), eps 1e-8, weight_decay 1e-2. */
kn_adamw_cfg kn_adamw_defaults(void);
/* One update of every parameter with learning rate lr; *step is incremented first (torch order). */
void kn_adamw_step(kn_paramset *ps, const kn_adamw_cfg *cfg, double lr, int64_t *step);

/* Linear warm-up from 0 to 1 over `warmup` steps, then cosine decay to min_ratio at `total`
 * (diffusers get_cosine_schedule_with_warmup when min_ratio == 0). Returns the factor on the peak lr
 * for the update about to be taken at `step` (0-based, like a torch LambdaLR's last_epoch). */
double kn_lr_factor(int64_t step, int64_t warmup, int64_t total, double min_ratio);

/* Per-pixel loss weights that favour where a clip changes (kinora train --motion-weight M): for each
 * latent pixel of each frame, d = mean over channels of |x0 - that pixel's mean over the frames|, and
 * w = (1 + M d / mean(d)) / (1 + M), so the weights average 1 over the clip, and a still clip (or
 * M = 0) gets 1 everywhere. x0 [C, F, hw] -> w [F, hw]. */
void kn_motion_loss_weights(const float *x0, int C, int F, size_t hw, double M, float *w);

/* The training timestep for a uniform draw u in [0, 1): u' = s u / (1 + (s - 1) u) (the timestep
 * shift of flow-matching samplers, SD3 / video models), t = floor(u' T), at most T - 1. s > 1 moves
 * the draws toward the noisy end (s = 3: half of them above 0.75 T), where a clip's layout and motion
 * are decided; s <= 1 gives the uniform draw. */
int kn_train_timestep(double u, double s, int T);

/* Global L2 norm of all gradients (double accumulation in a fixed order). */
double kn_grad_norm(const kn_paramset *ps);
/* Clips to max_norm as clip_grad_norm_; returns the norm before clipping. max_norm <= 0: no clip. */
double kn_grad_clip(kn_paramset *ps, double max_norm);
/* ema -= (1 - decay) * (ema - w) for every parameter (no-op without EMA). */
void kn_ema_update(kn_paramset *ps, double decay);

/* ---- trainer state and checkpoints ---- */
typedef struct kn_trainer_state {
    int64_t step;                  /* optimiser steps taken (AdamW's t) */
    uint64_t seed;                 /* run seed: noise and data order derive from (seed, step) */
    uint64_t data_cursor;          /* next sample index in the data order */
    int64_t epoch;
    double ema_decay;
    kn_adamw_cfg adamw;
    int64_t warmup_steps, total_steps;
    double min_lr_ratio, max_grad_norm;
} kn_trainer_state;

/* Writes DIR atomically (see the contract). config may be NULL (then config.json is "{}").
 * weights_name: "model.safetensors" or "diffusion_pytorch_model.safetensors". */
kn_status kn_ckpt_save(const char *dir, const char *weights_name, const json_t *config,
                       const kn_paramset *ps, const kn_trainer_state *st, kn_error *err);
/* Loads into an existing set whose names and shapes must match the files exactly (errors name the
 * file and tensor). Moments and EMA are restored when present in optimizer.safetensors. */
kn_status kn_ckpt_load(const char *dir, const char *weights_name, kn_paramset *ps,
                       kn_trainer_state *st, kn_error *err);

/* ---- loss log and plot ---- */
typedef struct kn_losslog {
    FILE *f;
    char *path;
} kn_losslog;
/* Opens PATH for appending; writes the header "step,loss,lr,grad_norm,seconds" if the file is new. */
kn_status kn_losslog_open(kn_losslog *log, const char *path, kn_error *err);
kn_status kn_losslog_write(kn_losslog *log, int64_t step, double loss, double lr, double grad_norm,
                           double seconds, kn_error *err);
void kn_losslog_close(kn_losslog *log);
/* Reads a loss CSV and draws loss against step (log-scale y when the range spans > 1 decade, raw
 * loss in light blue, a moving average in dark blue) into a width x height PNG. */
kn_status kn_plot_loss_csv(const char *csv_path, const char *png_path, int width, int height, kn_error *err);
/* Writes 8-bit RGB rows with libpng to a temporary file renamed into place; sync != 0 also fsyncs
 * first (the data set's thousands of frames skip it: they can be regenerated). */
kn_status kn_train_write_png(const char *path, const uint8_t *rgb, int width, int height, int sync, kn_error *err);

/* ---- a model component (vae, text_encoder, unet) as a trainable parameter set ----
 * The component's tensors live in the paramset; the model is opened on them with
 * kn_weights_open_mem, so a layer's weight pointer IS the parameter, and the gradient map finds its
 * gradient from that pointer. */
#include "models/backward.h"
typedef enum kn_comp_kind { KN_COMP_VAE, KN_COMP_TEXT, KN_COMP_UNET } kn_comp_kind;
typedef struct kn_component {
    kn_comp_kind kind;
    char name[32];                 /* folder name in a pipeline: "vae", "text_encoder", "unet" */
    char weights_name[64];
    json_t *config;
    kn_paramset ps;
    kn_st_entry *entries;          /* views of ps for kn_weights_open_mem */
    kn_grad_entry *gentries;
    kn_gradmap gm;                 /* the unfrozen parameters */
    int fresh;                     /* 1: randomly initialised (no weights were found) */
} kn_component;
/* Reads DIR/config.json and, when DIR holds the component's weights file, its tensors as f32 (any
 * stored dtype); otherwise lists the tensors the config needs by opening the model on schema
 * weights and initialises them (kn_component_init_random). A checkpoint's optimizer.safetensors is
 * not read here (see kn_ckpt_load). */
kn_status kn_component_load(kn_component *c, kn_comp_kind kind, const char *dir, uint64_t seed, kn_error *err);
void kn_component_free(kn_component *c);
/* Initialisation as the field does it: matrices and kernels uniform in +-1/sqrt(fan_in) (torch's
 * default), biases 0, norm scales 1, token embeddings N(0, 0.02), position embeddings N(0, 0.01), and
 * the motion modules' proj_out zero (AnimateDiff), so an untrained motion module is the identity.
 * Deterministic in (seed, tensor name). */
void kn_component_init_random(kn_component *c, uint64_t seed);
/* Freezes every parameter for which keep(name) returns 0 (keep NULL: none), and those matched by
 * `freeze` (NULL or a comma-separated list: the component's folder name freezes all of it, any other
 * item every tensor whose name contains it), then builds the gradient map over the rest. */
kn_status kn_component_set_trainable(kn_component *c, int (*keep)(const char *name), const char *freeze,
                                     kn_error *err);
/* Opens the model on the live parameters. */
kn_status kn_component_open_unet(kn_component *c, kn_unet **out, kn_error *err);
kn_status kn_component_open_vae(kn_component *c, kn_vae **out, kn_error *err);
kn_status kn_component_open_text(kn_component *c, kn_clip_text **out, kn_error *err);

/* ---- the training run: kinora train ---- */
typedef struct kn_train_opts {
    const char *stage;             /* "vae", "image", "motion", "joint" */
    const char *init_dir;          /* pipeline folder: configs, and weights where trained before */
    const char *data_dir;          /* kinora dataset output, or approved clips (see docs/training.md) */
    const char *out_dir;           /* pipeline folder written (and resumed from) */
    int steps, batch, frames, threads, save_every, log_every;
    double lr, weight_decay, warmup, min_lr_ratio, max_grad_norm, ema_decay;
    double kl_weight;              /* VAE stage */
    double min_snr;                /* 0: off */
    double motion_weight;          /* clips: extra loss weight where a frame differs from the clip's mean; 0: off */
    double timestep_shift;         /* > 1 draws noisier training timesteps more often; 1 (or 0): uniform */
    double reverse;                /* clips: probability of playing a clip backwards under its reversed
                                    * caption (kn_ds_caption_reversed) where it has one; 0: off */
    const char *oversample;        /* clips: comma-separated motion names (kn_ds_motion_name) ... */
    double oversample_p;           /* ... drawn with this probability from the clips that show one of
                                    * them, uniformly, instead of the next clip of the epoch; 0: off */
    double caption_dropout;
    double max_hours;              /* stop (after a checkpoint) once this much time has passed; 0: off */
    const volatile int *stop;      /* optional: nonzero stops after the current step, with a checkpoint
                                      (as max_hours does), so the run resumes from there */
    const char *freeze;            /* comma-separated: components or tensor-name substrings to freeze */
    uint64_t seed;
    int resume;                    /* continue from OUT's checkpoint when present */
    int quiet;
} kn_train_opts;
void kn_train_defaults(kn_train_opts *o);
/* Copies SRC's files and sub-folders into DST except the names in skip, optimizer state and
 * temporaries. */
kn_status kn_copy_pipeline(const char *src, const char *dst, const char *const *skip, int nskip, kn_error *err);
/* The pipeline folder for inference from a training output: vae, text_encoder and unet weights (their
 * EMA when ema != 0 and saved) in dtype, configs, tokenizer and scheduler; no optimizer state or logs.
 * Written beside OUT and renamed into place. */
kn_status kn_train_export(const char *ckpt_dir, const char *out_dir, kn_dtype dtype, int ema, kn_error *err);
kn_status kn_train_run(const kn_train_opts *o, kn_error *err);

#endif
