/* kinora train: the training loop over the models' training passes.
 * Stages (docs/training.md): "vae" trains the AutoencoderKL on single frames (reconstruction MSE plus
 * a small KL term); "image" trains the text encoder and the UNet's spatial layers on single frames
 * (motion modules frozen, identity while their proj_out is zero); "motion" trains only the motion
 * modules on clips; "joint" trains the text encoder and the whole UNet on clips. Every random draw
 * (data order, frame choice, caption dropout, timesteps, noise) derives from (seed, step), so a run
 * resumed from a checkpoint continues exactly as the uninterrupted run would have. */
#include "train/train.h"
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include "sched/sched.h"
#include "train/dataset.h"

#define TAPE_BYTES ((size_t)64 << 30)      /* reserved address space; pages commit as touched */
#define SCRATCH_BYTES ((size_t)256 << 20)

void kn_train_defaults(kn_train_opts *o) {
    memset(o, 0, sizeof *o);
    o->stage = "image";
    o->steps = 1000;
    o->batch = 4;
    o->frames = 8;
    o->threads = 1;
    o->save_every = 200;
    o->log_every = 10;
    o->lr = 1e-4;
    o->weight_decay = 1e-2;
    o->warmup = 100;
    o->min_lr_ratio = 0.1;
    o->max_grad_norm = 1.0;
    o->ema_decay = 0.999;
    o->kl_weight = 1e-4;
    o->min_snr = 5.0;
    o->caption_dropout = 0.1;
    o->seed = 1;
}

typedef struct trainer {
    const kn_train_opts *o;
    kn_pool *pool;
    kn_arena scratch;
    kn_ctx ctx;
    kn_ws tape;
    int stage_vae, stage_image, stage_motion;     /* stage flags (joint: none of them) */
    kn_component comp[2];                        /* trained components */
    int ncomp;
    kn_component *vae_c, *text_c, *unet_c;       /* entries of comp[] or NULL */
    kn_vae *vae;
    kn_clip_text *text;
    kn_unet *unet;
    kn_tokenizer *tok;
    kn_sched *sched;
    kn_clipset cs;
    int *order;
    int *focus, nfocus;                          /* --oversample: the clips that show a listed motion */
    kn_trainer_state st;
    kn_losslog log;
    /* UNet stages */
    int F, L, D, lc, h, w, ds;
    float sf;
    int64_t *ids_empty;
    float **lat_mean, **lat_logvar;              /* per clip, lazily encoded [frames][lc][h][w] */
} trainer;

/* ---- small helpers ---- */
static int keep_spatial(const char *n) { return strstr(n, "motion_modules") == NULL; }
static int keep_motion(const char *n) { return strstr(n, "motion_modules") != NULL; }

static double now_s(void) { return kn_now(); }

/* ---- components and models ---- */
static kn_status add_component(trainer *t, kn_comp_kind kind, const char *src_dir, int (*keep)(const char *),
                               kn_component **out, kn_error *err) {
    kn_component *c = &t->comp[t->ncomp];
    const char *sub = kind == KN_COMP_VAE ? "vae" : kind == KN_COMP_TEXT ? "text_encoder" : "unet";
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/%s", src_dir, sub);
    kn_status st = kn_component_load(c, kind, dir, t->o->seed, err);
    if (st) return st;
    t->ncomp++;
    if ((st = kn_component_set_trainable(c, keep, t->o->freeze, err))) return st;
    if (t->o->ema_decay > 0 && (st = kn_paramset_enable_ema(&c->ps, err))) return st;
    *out = c;
    return KN_OK;
}

static int resumable(const kn_train_opts *o, const char *first) {
    char p[4200];
    snprintf(p, sizeof p, "%s/%s/trainer_state.json", o->out_dir, first);
    FILE *f = fopen(p, "rb");
    if (f) fclose(f);
    return o->resume && f;
}

static kn_status open_components(trainer *t, kn_error *err) {
    const kn_train_opts *o = t->o;
    const char *trained[2];
    int nt = 0;
    if (t->stage_vae) trained[nt++] = "vae";
    else {
        if (!t->stage_motion) trained[nt++] = "text_encoder";
        trained[nt++] = "unet";
    }
    int resume = resumable(o, trained[0]);
    const char *src = resume ? o->out_dir : o->init_dir;
    kn_status st;
    if (!resume && (st = kn_copy_pipeline(o->init_dir, o->out_dir, trained, nt, err))) return st;
    if (t->stage_vae) {
        if ((st = add_component(t, KN_COMP_VAE, src, NULL, &t->vae_c, err))) return st;
    } else {
        if (!t->stage_motion && (st = add_component(t, KN_COMP_TEXT, src, NULL, &t->text_c, err))) return st;
        int (*keep)(const char *) = t->stage_image ? keep_spatial : t->stage_motion ? keep_motion : NULL;
        if ((st = add_component(t, KN_COMP_UNET, src, keep, &t->unet_c, err))) return st;
    }
    memset(&t->st, 0, sizeof t->st);
    if (resume) {
        for (int i = 0; i < t->ncomp; i++) {
            char dir[4200];
            snprintf(dir, sizeof dir, "%s/%s", o->out_dir, t->comp[i].name);
            if ((st = kn_ckpt_load(dir, t->comp[i].weights_name, &t->comp[i].ps, &t->st, err))) return st;
        }
    } else {
        t->st.seed = o->seed;
    }
    t->st.adamw = kn_adamw_defaults();
    t->st.adamw.lr = o->lr;
    t->st.adamw.weight_decay = o->weight_decay;
    t->st.ema_decay = o->ema_decay;
    t->st.warmup_steps = (int64_t)o->warmup;
    t->st.total_steps = o->steps;
    t->st.min_lr_ratio = o->min_lr_ratio;
    t->st.max_grad_norm = o->max_grad_norm;
    /* the models: trained ones on the live parameters, the others from the output folder's copies */
    char dir[4200];
    if (t->vae_c) st = kn_component_open_vae(t->vae_c, &t->vae, err);
    else { snprintf(dir, sizeof dir, "%s/vae", o->out_dir); st = kn_vae_open(dir, &t->vae, err); }
    if (st) return st;
    if (t->stage_vae) return KN_OK;
    if (t->text_c) st = kn_component_open_text(t->text_c, &t->text, err);
    else { snprintf(dir, sizeof dir, "%s/text_encoder", o->out_dir); st = kn_clip_text_open(dir, &t->text, err); }
    if (st) return st;
    if ((st = kn_component_open_unet(t->unet_c, &t->unet, err))) return st;
    snprintf(dir, sizeof dir, "%s/tokenizer", o->out_dir);
    if ((st = kn_tokenizer_open(dir, &t->tok, err))) return st;
    snprintf(dir, sizeof dir, "%s/scheduler/scheduler_config.json", o->out_dir);
    if ((st = kn_sched_open(dir, NULL, &t->sched, err))) return st;
    /* At zero SNR the noisy input is the noise itself: an epsilon target is trivial there and its
     * min-SNR weight is 0/0, and a sampler cannot turn it back into a sample. */
    const int T = kn_sched_num_train_timesteps(t->sched);
    if (kn_sched_prediction_type(t->sched) == 0 && kn_sched_alphas_cumprod(t->sched)[T - 1] == 0.f)
        return kn_fail(err, KN_EINVAL, "%s: a zero-terminal-SNR schedule (rescale_betas_zero_snr) needs "
                       "prediction_type v_prediction or sample, not epsilon", dir);
    return KN_OK;
}

/* ---- data ---- */
static int next_clip(trainer *t) {
    if (t->st.data_cursor >= (uint64_t)t->cs.n) {
        t->st.data_cursor = 0;
        t->st.epoch++;
        kn_clipset_order(t->cs.n, t->st.seed, (uint64_t)t->st.epoch, t->order);
    }
    return t->order[t->st.data_cursor++];
}

/* The random stream of one draw: (step, batch item, what). */
static uint64_t stream(const trainer *t, int b, int what) {
    return ((uint64_t)t->st.step << 16) | ((uint64_t)b << 8) | (uint64_t)what;
}

/* A uniform draw in [0,1) for (step, what, batch item). */
static float draw(const trainer *t, int what, int b) {
    uint32_t r[4];
    kn_philox(t->st.seed, stream(t, b, what), 0, r);
    return (float)(r[0] >> 8) * (1.0f / 16777216.0f);
}

/* The clip of batch item b: with probability --oversample-p one of the clips that show an
 * oversampled motion, else the epoch's next. Why draws and not a second cursor: a draw is a function
 * of (seed, step, item), so resuming stays exact without more checkpoint state. */
static int pick_clip(trainer *t, int b) {
    if (t->nfocus > 0 && draw(t, 8, b) < t->o->oversample_p) {
        int k = (int)(draw(t, 9, b) * t->nfocus);
        return t->focus[k < t->nfocus ? k : t->nfocus - 1];
    }
    return next_clip(t);
}

/* The clips that show one of the comma-separated motion names in list; a name the data set's
 * vocabulary does not have, or a list that no clip matches, is an error. */
static kn_status oversample_setup(trainer *t, const char *list, kn_error *err) {
    unsigned want = 0;
    char name[64];
    for (const char *p = list; *p;) {
        size_t n = strcspn(p, ",");
        if (n == 0 || n >= sizeof name) return kn_fail(err, KN_EINVAL, "--oversample: bad motion list '%s'", list);
        memcpy(name, p, n);
        name[n] = 0;
        int m = kn_ds_motion_index(name);
        if (m < 0) return kn_fail(err, KN_EINVAL, "--oversample: '%s' is not a motion of the data set vocabulary", name);
        want |= 1u << m;
        p += n + (p[n] == ',');
    }
    if (!(t->focus = malloc((size_t)t->cs.n * sizeof *t->focus))) return kn_fail(err, KN_ENOMEM, "out of memory");
    for (int i = 0; i < t->cs.n; i++)
        if (t->cs.motions[i] & want) t->focus[t->nfocus++] = i;
    if (!t->nfocus) return kn_fail(err, KN_EINVAL, "--oversample %s: no training clip shows these motions", list);
    return KN_OK;
}

/* ---- the VAE stage ---- */
static kn_status step_vae(trainer *t, double *loss_out, kn_error *err) {
    const int B = t->o->batch, S = t->cs.size, fr = t->cs.frames;
    const int lc = kn_vae_latent_channels(t->vae), f = kn_vae_downscale(t->vae), h = S / f;
    size_t nimg = (size_t)3 * S * S, nlat = (size_t)lc * h * h, mark = kn_ws_mark(&t->tape);
    float *clip = kn_ws_alloc(&t->tape, (size_t)fr * nimg), *x = kn_ws_alloc(&t->tape, B * nimg);
    float *mean = kn_ws_alloc(&t->tape, B * nlat), *logvar = kn_ws_alloc(&t->tape, B * nlat);
    float *eps = kn_ws_alloc(&t->tape, B * nlat), *z = kn_ws_alloc(&t->tape, B * nlat);
    float *xr = kn_ws_alloc(&t->tape, B * nimg), *dxr = kn_ws_alloc(&t->tape, B * nimg);
    float *dz = kn_ws_alloc(&t->tape, B * nlat), *dmean = kn_ws_alloc(&t->tape, B * nlat);
    float *dlogvar = kn_ws_alloc(&t->tape, B * nlat);
    if (!dlogvar) return kn_fail(err, KN_ENOMEM, "training tape full");
    kn_status st;
    for (int b = 0; b < B; b++) {
        int ci = next_clip(t), fi = (int)(draw(t, 1, b) * fr);
        if (fi >= fr) fi = fr - 1;
        if ((st = kn_clipset_read(&t->cs, ci, clip, err))) return st;
        memcpy(x + b * nimg, clip + (size_t)fi * nimg, nimg * sizeof(float));
    }
    kn_vae_act *enc, *dec;
    if ((st = kn_vae_encode_train(t->vae, &t->ctx, &t->tape, x, B, S, S, mean, logvar, &enc, err))) return st;
    kn_randn(eps, B * nlat, t->st.seed, stream(t, 0, 2));
    size_t nl = B * nlat, ni = B * nimg;
    for (size_t i = 0; i < nl; i++) z[i] = mean[i] + expf(0.5f * logvar[i]) * eps[i];
    if ((st = kn_vae_decode_train(t->vae, &t->ctx, &t->tape, z, B, h, h, xr, &dec, err))) return st;
    double rec = 0, kl = 0;
    for (size_t i = 0; i < ni; i++) { double d = (double)xr[i] - x[i]; rec += d * d; dxr[i] = (float)(2.0 * d / (double)ni); }
    for (size_t i = 0; i < nl; i++) kl += 0.5 * ((double)mean[i] * mean[i] + exp(logvar[i]) - 1.0 - logvar[i]);
    rec /= (double)ni;
    kl /= (double)nl;
    const double kw = t->o->kl_weight;
    *loss_out = rec + kw * kl;
    if ((st = kn_vae_decode_backward(t->vae, &t->ctx, &t->tape, dec, &t->vae_c->gm, dxr, dz, err))) return st;
    for (size_t i = 0; i < nl; i++) {
        float sd = expf(0.5f * logvar[i]);
        dmean[i] = dz[i] + (float)(kw * mean[i] / (double)nl);
        dlogvar[i] = dz[i] * 0.5f * sd * eps[i] + (float)(kw * 0.5 * (exp(logvar[i]) - 1.0) / (double)nl);
    }
    st = kn_vae_encode_backward(t->vae, &t->ctx, &t->tape, enc, &t->vae_c->gm, dmean, dlogvar, err);
    kn_ws_release(&t->tape, mark);
    return st;
}

/* 1/std of the posterior means of up to 64 frames: the scaling_factor that gives the UNet latents
 * of unit variance (how Stable Diffusion's 0.18215 was chosen). */
static kn_status vae_scaling_factor(trainer *t, double *out, kn_error *err) {
    const int S = t->cs.size, fr = t->cs.frames, lc = kn_vae_latent_channels(t->vae), h = S / kn_vae_downscale(t->vae);
    size_t nimg = (size_t)3 * S * S, nlat = (size_t)lc * h * h, mark = kn_ws_mark(&t->tape);
    float *clip = kn_ws_alloc(&t->tape, (size_t)fr * nimg);
    float *mean = kn_ws_alloc(&t->tape, (size_t)fr * nlat), *lv = kn_ws_alloc(&t->tape, (size_t)fr * nlat);
    if (!lv) return kn_fail(err, KN_ENOMEM, "training tape full");
    double s = 0, s2 = 0;
    size_t n = 0;
    kn_status st = KN_OK;
    *out = 1.0;
    for (int c = 0; c < t->cs.n && n < 64 * nlat && !st; c++) {
        if ((st = kn_clipset_read(&t->cs, c, clip, err))) break;
        if ((st = kn_vae_encode(t->vae, &t->ctx, clip, fr, S, S, mean, lv, err))) break;
        for (size_t i = 0; i < (size_t)fr * nlat; i++) { s += mean[i]; s2 += (double)mean[i] * mean[i]; }
        n += (size_t)fr * nlat;
    }
    kn_ws_release(&t->tape, mark);
    if (st) return st;
    if (!n) return KN_OK;
    double var = s2 / (double)n - (s / (double)n) * (s / (double)n);
    *out = var > 1e-12 ? 1.0 / sqrt(var) : 1.0;
    return KN_OK;
}

/* ---- the UNet stages ---- */
static kn_status unet_setup(trainer *t, kn_error *err) {
    t->F = t->stage_image ? 1 : t->o->frames;
    if (t->F > t->cs.frames) return kn_fail(err, KN_EINVAL, "--frames %d exceeds the clips' %d frames", t->F, t->cs.frames);
    if (t->o->reverse > 0 && t->F < 2)
        return kn_fail(err, KN_EINVAL, "--reverse needs clips of 2 or more frames (stage %s, %d frame)", t->o->stage, t->F);
    if (t->o->oversample_p > 0 && t->F < 2)
        return kn_fail(err, KN_EINVAL, "--oversample needs clips of 2 or more frames (stage %s, %d frame)", t->o->stage, t->F);
    if (t->o->motion_weight > 0 && t->F < 2)
        return kn_fail(err, KN_EINVAL, "--motion-weight needs clips of 2 or more frames (stage %s, %d frame)", t->o->stage, t->F);
    if (t->F > 1 && !kn_unet_has_motion(t->unet)) return kn_fail(err, KN_EINVAL, "the UNet has no motion modules to train on clips");
    if (kn_unet_has_motion(t->unet) && t->F > kn_unet_max_frames(t->unet))
        return kn_fail(err, KN_EINVAL, "--frames %d exceeds motion_max_seq_length %d", t->F, kn_unet_max_frames(t->unet));
    t->L = kn_tokenizer_max_length(t->tok);
    t->D = kn_clip_text_hidden(t->text);
    t->lc = kn_vae_latent_channels(t->vae);
    t->ds = kn_vae_downscale(t->vae);
    if (t->cs.size % t->ds) return kn_fail(err, KN_EINVAL, "clip size %d is not a multiple of the VAE's %d", t->cs.size, t->ds);
    t->h = t->w = t->cs.size / t->ds;
    t->sf = kn_vae_scaling_factor(t->vae);
    if (kn_unet_in_channels(t->unet) != t->lc) return kn_fail(err, KN_EFORMAT, "UNet in_channels %d != VAE latent channels %d", kn_unet_in_channels(t->unet), t->lc);
    if (kn_unet_cross_dim(t->unet) != t->D) return kn_fail(err, KN_EFORMAT, "UNet cross_attention_dim %d != text hidden size %d", kn_unet_cross_dim(t->unet), t->D);
    t->ids_empty = calloc((size_t)t->L, sizeof *t->ids_empty);
    t->lat_mean = calloc((size_t)t->cs.n, sizeof *t->lat_mean);
    t->lat_logvar = calloc((size_t)t->cs.n, sizeof *t->lat_logvar);
    if (!t->ids_empty || !t->lat_mean || !t->lat_logvar) return kn_fail(err, KN_ENOMEM, "out of memory");
    return kn_tokenizer_encode(t->tok, "", t->ids_empty, err);
}

static kn_status clip_latents(trainer *t, int ci, kn_error *err) {
    if (t->lat_mean[ci]) return KN_OK;
    const int S = t->cs.size, fr = t->cs.frames;
    size_t nlat = (size_t)fr * t->lc * t->h * t->w, mark = kn_ws_mark(&t->tape);
    float *clip = kn_ws_alloc(&t->tape, (size_t)fr * 3 * S * S);
    if (!clip) return kn_fail(err, KN_ENOMEM, "training tape full");
    float *m = kn_malloc(nlat * sizeof(float)), *lv = kn_malloc(nlat * sizeof(float));
    kn_status st = !m || !lv ? kn_fail(err, KN_ENOMEM, "out of memory caching latents") : KN_OK;
    if (!st) st = kn_clipset_read(&t->cs, ci, clip, err);
    if (!st) st = kn_vae_encode(t->vae, &t->ctx, clip, fr, S, S, m, lv, err);
    kn_ws_release(&t->tape, mark);
    if (st) { kn_free(m); kn_free(lv); return st; }
    t->lat_mean[ci] = m;
    t->lat_logvar[ci] = lv;
    return KN_OK;
}

int kn_train_timestep(double u, double s, int T) {
    if (s > 1) u = s * u / (1.0 + (s - 1.0) * u);
    int ti = (int)(u * T);
    return ti >= T ? T - 1 : ti < 0 ? 0 : ti;
}

/* kn_motion_loss_weights (train.h). Why: the moving objects cover a small part of each frame while
 * the unpredictable background texture dominates the plain loss, and the caption's motion words
 * only pay off on the objects' paths. */
void kn_motion_loss_weights(const float *x0, int C, int F, size_t hw, double M, float *w) {
    memset(w, 0, (size_t)F * hw * sizeof *w);
    for (int c = 0; c < C; c++)
        for (size_t i = 0; i < hw; i++) {
            double mean = 0;
            for (int f = 0; f < F; f++) mean += x0[((size_t)c * F + f) * hw + i];
            mean /= F;
            for (int f = 0; f < F; f++) w[f * hw + i] += (float)(fabs(x0[((size_t)c * F + f) * hw + i] - mean) / C);
        }
    double total = 0;
    for (size_t i = 0; i < (size_t)F * hw; i++) total += w[i];
    const double md = total / ((double)F * hw);
    for (size_t i = 0; i < (size_t)F * hw; i++) w[i] = md > 1e-12 ? (float)((1.0 + M * w[i] / md) / (1.0 + M)) : 1.f;
}

static kn_status step_unet(trainer *t, double *loss_out, kn_error *err) {
    const int B = t->o->batch, F = t->F, C = t->lc, L = t->L, D = t->D, fr = t->cs.frames;
    const size_t hw = (size_t)t->h * t->w, per = (size_t)C * F * hw, n = B * per, mark = kn_ws_mark(&t->tape);
    float *x0 = kn_ws_alloc(&t->tape, n), *noise = kn_ws_alloc(&t->tape, n), *xt = kn_ws_alloc(&t->tape, n);
    float *pred = kn_ws_alloc(&t->tape, n), *dpred = kn_ws_alloc(&t->tape, n), *tsteps = kn_ws_alloc(&t->tape, B);
    float *ctxt = kn_ws_alloc(&t->tape, (size_t)B * L * D), *dctx = kn_ws_alloc(&t->tape, (size_t)B * L * D);
    float *vn = kn_ws_alloc(&t->tape, (size_t)fr * C * hw);
    const int weighted = t->o->motion_weight > 0 && F > 1;
    float *pw = weighted ? kn_ws_alloc(&t->tape, (size_t)B * F * hw) : NULL;
    if (weighted && !pw) return kn_fail(err, KN_ENOMEM, "training tape full");
    int64_t *ids = (int64_t *)kn_ws_alloc(&t->tape, (size_t)B * L * 2);
    if (!ids) return kn_fail(err, KN_ENOMEM, "training tape full");
    const int T = kn_sched_num_train_timesteps(t->sched), pt = kn_sched_prediction_type(t->sched);
    const float *ac = kn_sched_alphas_cumprod(t->sched);
    double w[64];
    if (B > 64) return kn_fail(err, KN_EINVAL, "batch %d exceeds 64", B);
    kn_status st;
    for (int b = 0; b < B; b++) {
        int ci = pick_clip(t, b);
        if ((st = clip_latents(t, ci, err))) return st;
        int f0 = 0;
        if (F == 1) { f0 = (int)(draw(t, 1, b) * fr); if (f0 >= fr) f0 = fr - 1; }
        /* Why reverse: the same frames under "left" and, backwards, under "right" leave the direction
         * word as the only cue to which way the clip runs. */
        const char *caption = t->cs.captions[ci];
        int backwards = t->o->reverse > 0 && t->cs.reversed[ci] && draw(t, 7, b) < t->o->reverse;
        if (backwards) caption = t->cs.reversed[ci];
        kn_randn(vn, (size_t)fr * C * hw, t->st.seed, stream(t, b, 3));
        for (int f = 0; f < F; f++) {
            int src = F == 1 ? f0 : (F == fr ? f : (int)lround((double)f * (fr - 1) / (F - 1)));
            if (backwards) src = fr - 1 - src;
            for (int c = 0; c < C; c++) {
                const float *m = t->lat_mean[ci] + ((size_t)src * C + c) * hw, *lv = t->lat_logvar[ci] + ((size_t)src * C + c) * hw;
                const float *e = vn + ((size_t)src * C + c) * hw;
                float *dst = x0 + b * per + ((size_t)c * F + f) * hw;
                for (size_t i = 0; i < hw; i++) dst[i] = (m[i] + expf(0.5f * lv[i]) * e[i]) * t->sf;
            }
        }
        int drop = draw(t, 4, b) < t->o->caption_dropout;
        if (drop) memcpy(ids + (size_t)b * L, t->ids_empty, (size_t)L * sizeof *ids);
        else if ((st = kn_tokenizer_encode(t->tok, caption, ids + (size_t)b * L, err))) return st;
        int ti = kn_train_timestep(draw(t, 5, b), t->o->timestep_shift, T);
        tsteps[b] = (float)ti;
        double a = ac[ti], snr = a / (1.0 - a);
        w[b] = t->o->min_snr > 0 ? (snr < t->o->min_snr ? snr : t->o->min_snr) / (pt == 1 ? snr + 1.0 : snr) : 1.0;
    }
    if (weighted)
        for (int b = 0; b < B; b++) kn_motion_loss_weights(x0 + b * per, C, F, hw, t->o->motion_weight, pw + (size_t)b * F * hw);
    kn_randn(noise, n, t->st.seed, stream(t, 0, 6));
    for (int b = 0; b < B; b++) {
        float sa = sqrtf(ac[(int)tsteps[b]]), sb = sqrtf(1.0f - ac[(int)tsteps[b]]);
        for (size_t i = b * per; i < (b + 1) * per; i++) xt[i] = sa * x0[i] + sb * noise[i];
    }
    const int text_trained = t->text_c && t->text_c->gm.n > 0;
    kn_clip_text_act *tact = NULL;
    if (text_trained) st = kn_clip_text_encode_train(t->text, &t->ctx, &t->tape, ids, B, L, 0, ctxt, &tact, err);
    else st = kn_clip_text_encode(t->text, &t->ctx, ids, B, L, 0, ctxt, err);
    if (st) return st;
    kn_unet_act *uact;
    if ((st = kn_unet_forward_train(t->unet, &t->ctx, &t->tape, xt, B, F, t->h, t->w, tsteps, ctxt, L, pred, &uact, err)))
        return st;
    double loss = 0;
    for (int b = 0; b < B; b++) {
        float sa = sqrtf(ac[(int)tsteps[b]]), sb = sqrtf(1.0f - ac[(int)tsteps[b]]);
        double sum = 0, k = 2.0 * w[b] / ((double)per * B);
        const size_t fhw = (size_t)F * hw;   /* one channel of the clip; the pixel weights repeat per channel */
        for (int c = 0; c < C; c++) {
            const size_t base = b * per + (size_t)c * fhw;
            for (size_t j = 0; j < fhw; j++) {
                const size_t i = base + j;
                float target = pt == 1 ? sa * noise[i] - sb * x0[i] : pt == 2 ? x0[i] : noise[i];
                double d = (double)pred[i] - target, pwi = weighted ? pw[(size_t)b * fhw + j] : 1.0;
                sum += pwi * d * d;
                dpred[i] = (float)(k * pwi * d);
            }
        }
        loss += w[b] * sum / (double)per;
    }
    *loss_out = loss / B;
    if (text_trained) memset(dctx, 0, (size_t)B * L * D * sizeof(float));
    if ((st = kn_unet_backward(t->unet, &t->ctx, &t->tape, uact, &t->unet_c->gm, dpred, text_trained ? dctx : NULL, err)))
        return st;
    if (text_trained) st = kn_clip_text_backward(t->text, &t->ctx, &t->tape, tact, &t->text_c->gm, dctx, err);
    kn_ws_release(&t->tape, mark);
    return st;
}

/* ---- optimisation ---- */
static double clip_all(trainer *t) {
    double s = 0;
    for (int i = 0; i < t->ncomp; i++) { double g = kn_grad_norm(&t->comp[i].ps); s += g * g; }
    double norm = sqrt(s), mx = t->o->max_grad_norm;
    if (mx > 0 && norm > 0) {
        double coef = mx / (norm + 1e-6);
        if (coef < 1.0)
            for (int i = 0; i < t->ncomp; i++)
                for (int k = 0; k < t->comp[i].ps.n; k++) {
                    kn_param *p = &t->comp[i].ps.p[k];
                    for (size_t j = 0; j < p->n; j++) p->g[j] *= (float)coef;
                }
    }
    return norm;
}

static kn_status save(trainer *t, kn_error *err) {
    for (int i = 0; i < t->ncomp; i++) {
        kn_component *c = &t->comp[i];
        json_t *cfg = json_deep_copy(c->config);
        if (!cfg) return kn_fail(err, KN_ENOMEM, "out of memory");
        if (c->kind == KN_COMP_VAE) {
            double sf = 1.0;
            kn_status st = vae_scaling_factor(t, &sf, err);
            if (st) { json_decref(cfg); return st; }
            json_object_set_new(cfg, "scaling_factor", json_real(sf));
            json_object_set(c->config, "scaling_factor", json_object_get(cfg, "scaling_factor"));
        }
        char dir[4200];
        snprintf(dir, sizeof dir, "%s/%s", t->o->out_dir, c->name);
        kn_status st = kn_ckpt_save(dir, c->weights_name, cfg, &c->ps, &t->st, err);
        json_decref(cfg);
        if (st) return st;
    }
    char csv[4200], png[4200];
    snprintf(csv, sizeof csv, "%s/loss_%s.csv", t->o->out_dir, t->o->stage);
    snprintf(png, sizeof png, "%s/loss_%s.png", t->o->out_dir, t->o->stage);
    fflush(t->log.f);
    return kn_plot_loss_csv(csv, png, 800, 400, err);
}

static void trainer_free(trainer *t) {
    if (t->lat_mean) for (int i = 0; i < t->cs.n; i++) kn_free(t->lat_mean[i]);
    if (t->lat_logvar) for (int i = 0; i < t->cs.n; i++) kn_free(t->lat_logvar[i]);
    free(t->lat_mean); free(t->lat_logvar); free(t->ids_empty); free(t->order); free(t->focus);
    if (t->unet) kn_unet_close(t->unet);
    if (t->text) kn_clip_text_close(t->text);
    if (t->vae) kn_vae_close(t->vae);
    if (t->tok) kn_tokenizer_close(t->tok);
    if (t->sched) kn_sched_close(t->sched);
    for (int i = 0; i < t->ncomp; i++) kn_component_free(&t->comp[i]);
    kn_clipset_close(&t->cs);
    if (t->log.f) kn_losslog_close(&t->log);
    kn_tape_free(&t->tape);
    kn_arena_free(&t->scratch);
    if (t->pool) kn_pool_destroy(t->pool);
}

static kn_status check_opts(const kn_train_opts *o, trainer *t, kn_error *err) {
    if (!o->init_dir || !o->data_dir || !o->out_dir) return kn_fail(err, KN_EINVAL, "train: --init, --data and --out are required");
    if (!kn_path_is_dir(o->init_dir)) return kn_fail(err, KN_EIO, "%s: pipeline folder not found", o->init_dir);
    t->stage_vae = !strcmp(o->stage, "vae");
    t->stage_image = !strcmp(o->stage, "image");
    t->stage_motion = !strcmp(o->stage, "motion");
    if (!t->stage_vae && !t->stage_image && !t->stage_motion && strcmp(o->stage, "joint"))
        return kn_fail(err, KN_EINVAL, "train: --stage %s (vae, image, motion or joint)", o->stage);
    if (o->steps < 1 || o->batch < 1 || o->batch > 64 || o->frames < 1 || o->threads < 1)
        return kn_fail(err, KN_EINVAL, "train: steps, batch (1..64), frames and threads must be positive");
    if (!(o->lr > 0) || o->caption_dropout < 0 || o->caption_dropout > 1 || o->ema_decay < 0 || o->ema_decay >= 1)
        return kn_fail(err, KN_EINVAL, "train: lr must be > 0, caption dropout in [0, 1], ema decay in [0, 1)");
    if ((o->oversample_p > 0) != (o->oversample && *o->oversample) || o->oversample_p < 0 || o->oversample_p > 1)
        return kn_fail(err, KN_EINVAL, "train: --oversample MOTIONS and --oversample-p P in (0, 1] go together");
    if (o->oversample_p > 0 && t->stage_vae) return kn_fail(err, KN_EINVAL, "train: --oversample is for the UNet stages, not vae");
    return KN_OK;
}

kn_status kn_train_run(const kn_train_opts *o, kn_error *err) {
    trainer t;
    memset(&t, 0, sizeof t);
    t.o = o;
    kn_status st = check_opts(o, &t, err);
    if (st) return st;
    if ((st = kn_ctx_open(o->threads, &t.pool, &t.ctx, err))) return st;
    if ((st = kn_arena_init(&t.scratch, SCRATCH_BYTES, err))) goto done;
    t.ctx.scratch = &t.scratch;
    if ((st = kn_tape_init(&t.tape, TAPE_BYTES, err))) goto done;
    if ((st = kn_clipset_open(o->data_dir, "train", &t.cs, err))) goto done;
    if (!(t.order = calloc((size_t)t.cs.n, sizeof *t.order))) { st = kn_fail(err, KN_ENOMEM, "out of memory"); goto done; }
    if ((st = open_components(&t, err))) goto done;
    kn_clipset_order(t.cs.n, t.st.seed, (uint64_t)t.st.epoch, t.order);
    if (!t.stage_vae && (st = unet_setup(&t, err))) goto done;
    if (!t.stage_vae && o->oversample_p > 0 && (st = oversample_setup(&t, o->oversample ? o->oversample : "", err))) goto done;
    char csv[4200];
    snprintf(csv, sizeof csv, "%s/loss_%s.csv", o->out_dir, o->stage);
    if ((st = kn_losslog_open(&t.log, csv, err))) goto done;
    size_t np = 0, nt = 0;
    for (int i = 0; i < t.ncomp; i++)
        for (int k = 0; k < t.comp[i].ps.n; k++) { np += t.comp[i].ps.p[k].n; if (!t.comp[i].ps.p[k].frozen) nt += t.comp[i].ps.p[k].n; }
    if (!o->quiet)
        fprintf(stderr, "train: stage %s, %d clips, %zu parameters (%zu trained), from step %lld to %d\n", o->stage, t.cs.n,
                np, nt, (long long)t.st.step, o->steps);
    if (!o->quiet && o->reverse > 0) {
        int nrev = 0;
        for (int i = 0; i < t.cs.n; i++) nrev += t.cs.reversed[i] != NULL;
        fprintf(stderr, "train: %d of the %d clips can be played backwards (--reverse %g)\n", nrev, t.cs.n, o->reverse);
    }
    if (!o->quiet && t.nfocus)
        fprintf(stderr, "train: %d of the %d clips show %s, drawn with probability %g (--oversample)\n", t.nfocus, t.cs.n,
                o->oversample, o->oversample_p);
    double t0 = now_s(), tl = t0, ema_loss = 0;
    int64_t since = 0;
    while (t.st.step < o->steps) {
        double lr = o->lr * kn_lr_factor(t.st.step, t.st.warmup_steps, t.st.total_steps, o->min_lr_ratio), loss = 0;
        for (int i = 0; i < t.ncomp; i++) kn_paramset_zero_grad(&t.comp[i].ps);
        double ts = now_s();
        st = t.stage_vae ? step_vae(&t, &loss, err) : step_unet(&t, &loss, err);
        if (st) goto done;
        if (!isfinite(loss)) { st = kn_fail(err, KN_EINTERNAL, "train: loss is %g at step %lld", loss, (long long)t.st.step); goto done; }
        double gn = clip_all(&t);
        int64_t step = t.st.step;
        for (int i = 0; i < t.ncomp; i++) {
            int64_t s = step;
            kn_adamw_step(&t.comp[i].ps, &t.st.adamw, lr, &s);
            if (o->ema_decay > 0) kn_ema_update(&t.comp[i].ps, o->ema_decay);
        }
        t.st.step = step + 1;
        if ((st = kn_losslog_write(&t.log, t.st.step, loss, lr, gn, now_s() - ts, err))) goto done;
        ema_loss = since ? 0.9 * ema_loss + 0.1 * loss : loss;
        since++;
        if (!o->quiet && (t.st.step % o->log_every == 0 || t.st.step == o->steps)) {
            double now = now_s();
            fprintf(stderr, "step %lld  loss %.5f (avg %.5f)  lr %.2e  |g| %.3f  %.2f s/step\n", (long long)t.st.step, loss,
                    ema_loss, lr, gn, (now - tl) / (double)o->log_every);
            tl = now;
        }
        int out_of_time = o->max_hours > 0 && now_s() - t0 > o->max_hours * 3600.0;
        int stopping = out_of_time || (o->stop && *o->stop);
        if (t.st.step % o->save_every == 0 || t.st.step == o->steps || stopping) {
            if ((st = save(&t, err))) goto done;
            if (!o->quiet) fprintf(stderr, "saved %s at step %lld\n", o->out_dir, (long long)t.st.step);
        }
        if (stopping) break;
    }
done:
    trainer_free(&t);
    return st;
}
