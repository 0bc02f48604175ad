/* The two-stage generation pipeline: encode text, denoise all keyframe latents together through the
 * UNet and its motion modules with classifier-free guidance, decode each keyframe, fill the frames
 * between keyframes (stage 2), hand the frames back to the caller. */
#include "pipeline/pipeline.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include "io/io.h"
#include "io/media.h"

/* Philox stream ids: one per purpose, so adding a purpose never shifts another's noise. */
enum { STREAM_LATENTS = 1, STREAM_STEP = 1000, STREAM_PIN = 500000 };

const char *kn_stage_name(kn_stage s) {
    static const char *n[] = {"load", "encode", "denoise", "decode", "interpolate", "write"};
    return (unsigned)s < 6 ? n[s] : "?";
}

void kn_generate_params_default(kn_generate_params *p) {
    memset(p, 0, sizeof *p);
    p->negative_prompt = "";
    p->steps = 20;
    p->guidance = 7.5f;
    p->keyframes = 8;
    p->frames = 32;
    p->fps = 16.f;
    p->width = 64;
    p->height = 64;
    p->image_strength = 1.0f;
}

static int report(const kn_generate_params *prm, kn_stage st, int step, int total) {
    if (prm && prm->cancel && *prm->cancel) return 1;
    if (prm && prm->progress) return prm->progress(prm->progress_user, st, step, total);
    return 0;
}

/* Latent sides must divide by the UNet's total downsampling: one 2x step per down block but the last. */
static kn_status read_unet_downscale(const char *unet_dir, int *out, kn_error *err) {
    char path[1200];
    if (snprintf(path, sizeof path, "%s/config.json", unet_dir) >= (int)sizeof path)
        return kn_fail(err, KN_EINVAL, "path too long: %s", unet_dir);
    json_t *cfg;
    kn_status st = kn_json_load(path, &cfg, err);
    if (st) return st;
    json_t *blocks = json_object_get(cfg, "down_block_types");
    size_t n = json_is_array(blocks) ? json_array_size(blocks) : 0;
    json_decref(cfg);
    if (n < 1 || n > 8) return kn_fail(err, KN_EFORMAT, "%s: \"down_block_types\" must list 1 to 8 blocks", path);
    *out = 1 << (n - 1);
    return KN_OK;
}

/* DIR/generation_defaults.json (optional; Kinora's own models carry one): the guidance settings and
 * the sampler the model was measured best with. Other keys are refused, so a misspelt one is not
 * silently ignored; the sampler is checked against the scheduler config here, not at the first
 * generation. Needs p->sched_path. */
static kn_status read_generation_defaults(kn_pipeline *p, const char *dir, kn_error *err) {
    kn_generate_params d;
    kn_generate_params_default(&d);
    p->guidance = d.guidance;
    p->motion_guidance = d.motion_guidance;
    p->sampler[0] = 0;
    char path[1200];
    snprintf(path, sizeof path, "%s/generation_defaults.json", dir);
    if (access(path, F_OK)) return KN_OK;
    json_t *o;
    kn_status st = kn_json_load(path, &o, err);
    if (st) return st;
    const char *key, *sampler = NULL;
    json_t *v;
    double g = p->guidance, m = p->motion_guidance;
    if (!json_is_object(o)) st = kn_fail(err, KN_EFORMAT, "%s: must be a JSON object", path);
    else
        json_object_foreach(o, key, v) {
            if (strcmp(key, "guidance") && strcmp(key, "motion_guidance") && strcmp(key, "sampler")) {
                st = kn_fail(err, KN_EFORMAT, "%s: unknown key \"%s\" (guidance, motion_guidance and sampler are read)",
                             path, key);
                break;
            }
        }
    if (!st && !(st = kn_cfg_num(o, path, "guidance", g, &g, err)) && !(st = kn_cfg_num(o, path, "motion_guidance", m, &m, err)) &&
        (!(g >= 0 && g <= 100) || !(m >= 0 && m <= 100)))
        st = kn_fail(err, KN_EFORMAT, "%s: guidance and motion_guidance must be from 0 to 100", path);
    if (!st && !(st = kn_cfg_str(o, path, "sampler", NULL, &sampler, err)) && sampler) {
        kn_sched *probe;
        if (strlen(sampler) >= sizeof p->sampler) st = kn_fail(err, KN_EFORMAT, "%s: \"sampler\" is too long", path);
        else if ((st = kn_sched_open(p->sched_path, sampler, &probe, err))) kn_wrap(err, "%s", path);
        else {
            kn_sched_close(probe);
            snprintf(p->sampler, sizeof p->sampler, "%s", sampler);
        }
    }
    json_decref(o);
    if (st) return st;
    p->guidance = (float)g;
    p->motion_guidance = (float)m;
    return KN_OK;
}

void kn_pipeline_defaults(const kn_pipeline *p, kn_generate_params *g) {
    g->guidance = p->guidance;
    g->motion_guidance = p->motion_guidance;
    if (!g->sampler && p->sampler[0]) g->sampler = p->sampler;
}

kn_status kn_pipeline_open(const char *dir, int threads, kn_pipeline **out, kn_error *err) {
    if (!kn_path_is_dir(dir)) return kn_fail(err, KN_EIO, "%s: model folder not found", dir);
    kn_pipeline *p = calloc(1, sizeof *p);
    if (!p) return kn_fail(err, KN_ENOMEM, "out of memory");
    snprintf(p->dir, sizeof p->dir, "%s", dir);
    char a[1200], b[1200];
    kn_status st;
    snprintf(a, sizeof a, "%s/tokenizer", dir);
    if ((st = kn_tokenizer_open(a, &p->tok, err))) goto fail;
    snprintf(a, sizeof a, "%s/text_encoder", dir);
    if ((st = kn_clip_text_open(a, &p->text, err))) goto fail;
    snprintf(a, sizeof a, "%s/unet", dir);
    snprintf(b, sizeof b, "%s/motion_adapter", dir);
    if ((st = kn_unet_open(a, kn_path_is_dir(b) ? b : NULL, &p->unet, err))) goto fail;
    if ((st = read_unet_downscale(a, &p->unet_downscale, err))) goto fail;
    snprintf(a, sizeof a, "%s/vae", dir);
    if ((st = kn_vae_open(a, &p->vae, err))) goto fail;
    snprintf(p->sched_path, sizeof p->sched_path, "%s/scheduler/scheduler_config.json", dir);
    kn_sched *probe;
    if ((st = kn_sched_open(p->sched_path, NULL, &probe, err))) goto fail;
    kn_sched_close(probe);
    p->L = kn_tokenizer_max_length(p->tok);
    p->D = kn_clip_text_hidden(p->text);
    if (p->L > kn_clip_text_max_positions(p->text)) {
        st = kn_fail(err, KN_EFORMAT, "%s: tokenizer max length %d exceeds the text encoder's %d positions", dir, p->L,
                     kn_clip_text_max_positions(p->text));
        goto fail;
    }
    if (p->D != kn_unet_cross_dim(p->unet)) {
        st = kn_fail(err, KN_EFORMAT, "%s: text encoder hidden_size %d does not match the UNet's cross_attention_dim %d",
                     dir, p->D, kn_unet_cross_dim(p->unet));
        goto fail;
    }
    if (kn_unet_in_channels(p->unet) != kn_vae_latent_channels(p->vae)) {
        st = kn_fail(err, KN_EFORMAT, "%s: UNet in_channels %d does not match the VAE's latent_channels %d", dir,
                     kn_unet_in_channels(p->unet), kn_vae_latent_channels(p->vae));
        goto fail;
    }
    if ((st = read_generation_defaults(p, dir, err))) goto fail;
    if ((st = kn_ctx_open(threads, &p->pool, &p->ctx, err))) goto fail;
    *out = p;
    return KN_OK;
fail:
    kn_pipeline_close(p);
    return st;
}

void kn_pipeline_close(kn_pipeline *p) {
    if (!p) return;
    kn_tokenizer_close(p->tok);
    kn_clip_text_close(p->text);
    kn_unet_close(p->unet);
    kn_vae_close(p->vae);
    kn_pool_destroy(p->pool);
    for (int i = 0; i < 16; i++) { free(p->cache[i].text); kn_free(p->cache[i].emb); }
    free(p);
}

/* ---------------- text ---------------- */
kn_status pl_encode_ids(kn_pipeline *p, const int64_t *ids, float *emb, kn_error *err) {
    return kn_clip_text_encode(p->text, &p->ctx, ids, 1, p->L, 0, emb, err);
}

kn_status pl_encode_text(kn_pipeline *p, const char *text, float *emb, kn_error *err) {
    size_t n = (size_t)p->L * p->D;
    for (int i = 0; i < 16; i++)
        if (p->cache[i].text && !strcmp(p->cache[i].text, text)) {
            memcpy(emb, p->cache[i].emb, n * sizeof(float));
            return KN_OK;
        }
    int64_t *ids = calloc((size_t)p->L, sizeof *ids);
    if (!ids) return kn_fail(err, KN_ENOMEM, "out of memory");
    kn_status st = kn_tokenizer_encode(p->tok, text, ids, err);
    if (!st) st = pl_encode_ids(p, ids, emb, err);
    free(ids);
    if (st) return kn_wrap(err, "encoding the prompt");
    int slot = p->cache_next;
    p->cache_next = (slot + 1) % 16;
    free(p->cache[slot].text);
    kn_free(p->cache[slot].emb);
    p->cache[slot].text = kn_strdup(text);
    p->cache[slot].emb = kn_malloc(n * sizeof(float));
    if (p->cache[slot].text && p->cache[slot].emb) memcpy(p->cache[slot].emb, emb, n * sizeof(float));
    else { free(p->cache[slot].text); kn_free(p->cache[slot].emb); p->cache[slot].text = NULL; p->cache[slot].emb = NULL; }
    return KN_OK;
}

/* ---------------- denoising ---------------- */
/* One guided noise prediction for latents [C, K, h, w] with frames [f0, f0+nf). model input `x` is
 * already scaled. Writes [C, nf, h, w] into pred. */
typedef struct {
    kn_pipeline *p;
    int C, K, h, w;
    int nb;                       /* batch items: [uncond if guided, cond, opposite if motion-guided] */
    int cfg, mg;                  /* classifier-free guidance on; motion guidance on */
    float guidance, motion_guidance, t;
    const float *ctx[3];          /* text embeddings of the batch items */
    float *in, *out, *ctxbuf, *tbuf;
} guided;

static void gather(const float *src, int C, int K, int f0, int nf, size_t hw, float *dst) {
    for (int c = 0; c < C; c++) memcpy(dst + (size_t)c * nf * hw, src + ((size_t)c * K + f0) * hw, sizeof(float) * nf * hw);
}

static kn_status predict(guided *g, const float *x, int f0, int nf, float *pred, kn_error *err) {
    size_t hw = (size_t)g->h * g->w, one = (size_t)g->C * nf * hw;
    int B = g->nb;
    int motion = kn_unet_has_motion(g->p->unet);
    /* batch layout: [uncond, cond] as diffusers concatenates [negative, prompt], then the opposite */
    for (int b = 0; b < B; b++) gather(x, g->C, g->K, f0, nf, hw, g->in + b * one);
    size_t Ld = (size_t)g->p->L * g->p->D;
    kn_status st;
    if (motion) {
        for (int b = 0; b < B; b++) memcpy(g->ctxbuf + b * Ld, g->ctx[b], Ld * 4);
        for (int b = 0; b < B; b++) g->tbuf[b] = g->t;
        st = kn_unet_forward(g->p->unet, &g->p->ctx, g->in, B, nf, g->h, g->w, g->tbuf, g->ctxbuf, g->p->L, g->out, err);
    } else {
        /* a plain UNet sees frames as a batch: [B, C, F, h, w] -> [B*F, C, h, w] */
        float *flat = g->out;   /* reuse as staging: out has room for B*one */
        for (int b = 0; b < B; b++)
            for (int f = 0; f < nf; f++)
                for (int c = 0; c < g->C; c++)
                    memcpy(flat + (((size_t)b * nf + f) * g->C + c) * hw, g->in + b * one + ((size_t)c * nf + f) * hw, hw * 4);
        memcpy(g->in, flat, sizeof(float) * B * one);
        for (int b = 0; b < B; b++)
            for (int f = 0; f < nf; f++) {
                memcpy(g->ctxbuf + ((size_t)b * nf + f) * Ld, g->ctx[b], Ld * 4);
                g->tbuf[b * nf + f] = g->t;
            }
        st = kn_unet_forward(g->p->unet, &g->p->ctx, g->in, B * nf, 1, g->h, g->w, g->tbuf, g->ctxbuf, g->p->L, flat, err);
        if (!st) {
            memcpy(g->in, flat, sizeof(float) * B * one);
            for (int b = 0; b < B; b++)
                for (int f = 0; f < nf; f++)
                    for (int c = 0; c < g->C; c++)
                        memcpy(g->out + b * one + ((size_t)c * nf + f) * hw, g->in + (((size_t)b * nf + f) * g->C + c) * hw, hw * 4);
        }
    }
    if (st) return st;
    const float *c = g->out + (g->cfg ? one : 0);
    if (g->cfg)
        for (size_t i = 0; i < one; i++) pred[i] = g->out[i] + g->guidance * (c[i] - g->out[i]);
    else memcpy(pred, c, one * 4);
    /* motion guidance: away from the prompt with its motion words reversed. Both predictions share
     * the objects and the scene, so their difference is the motion the words ask for, which plain
     * guidance (against the empty prompt) amplifies only as a small part of a large difference. */
    if (g->mg) {
        const float *r = c + one;
        for (size_t i = 0; i < one; i++) pred[i] += g->motion_guidance * (c[i] - r[i]);
    }
    return KN_OK;
}

/* Context windows: AnimateDiff's motion modules see at most max_frames frames, so longer clips are
 * denoised in overlapping windows whose predictions are averaged (uniform weights). */
static int window_starts(int K, int W, int *starts) {
    if (K <= W) { starts[0] = 0; return 1; }
    int stride = W - W / 4, n = 0;
    for (int s = 0;; s += stride) {
        if (s + W >= K) { starts[n++] = K - W; break; }
        starts[n++] = s;
    }
    return n;
}

static kn_status pin_keyframes(kn_sched *s, int next, const pl_pins *pins, float *lat, int C, int K, size_t hw,
                               uint64_t seed, kn_error *err) {
    int n = kn_sched_num_steps(s);
    float *noise = kn_malloc(hw * sizeof(float)), *noisy = kn_malloc(hw * sizeof(float));
    if (!noise || !noisy) {
        kn_free(noise); kn_free(noisy);
        return kn_fail(err, KN_ENOMEM, "out of memory pinning keyframes");
    }
    for (int k = 0; k < pins->nk; k++) {
        int f = pins->frame[k];
        for (int c = 0; c < C; c++) {
            const float *clean = pins->latent[k] + (size_t)c * hw;
            float *dst = lat + ((size_t)c * K + f) * hw;
            if (next >= n) { memcpy(dst, clean, hw * 4); continue; }
            kn_randn(noise, hw, seed, STREAM_PIN + (uint64_t)next * 4096 + (uint64_t)k * 64 + (uint64_t)c);
            kn_sched_add_noise(s, next, clean, noise, hw, noisy);
            memcpy(dst, noisy, hw * 4);
        }
    }
    kn_free(noise);
    kn_free(noisy);
    return KN_OK;
}

/* 1 when x[0..n) holds a NaN or an infinity. */
static int any_nonfinite(const float *x, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i])) return 1;
    return 0;
}

kn_status pl_denoise(kn_pipeline *p, kn_sched *s, int start, const pl_guide *gd, float *lat, int K, int h, int w,
                     uint64_t seed, const pl_pins *pins, const kn_generate_params *prm, kn_error *err) {
    int C = kn_unet_in_channels(p->unet), n = kn_sched_num_steps(s);
    int maxf = kn_unet_has_motion(p->unet) ? kn_unet_max_frames(p->unet) : K;
    int W = K < maxf ? K : maxf;
    size_t hw = (size_t)h * w, all = (size_t)C * K * hw, win = (size_t)C * W * hw;
    guided g = {p, C, K, h, w, 0, gd->guidance > 1.f && gd->uncond, gd->motion_guidance > 0.f && gd->opposite,
                gd->guidance, gd->motion_guidance, 0, {NULL, NULL, NULL}, NULL, NULL, NULL, NULL};
    if (g.cfg) g.ctx[g.nb++] = gd->uncond;
    g.ctx[g.nb++] = gd->cond;
    if (g.mg) g.ctx[g.nb++] = gd->opposite;
    int B = g.nb, nwin_max = K / (W - W / 4 > 0 ? W - W / 4 : 1) + 2;
    int *starts = calloc((size_t)nwin_max, sizeof *starts);
    g.in = kn_malloc(sizeof(float) * B * win);
    g.out = kn_malloc(sizeof(float) * B * win);
    g.ctxbuf = kn_malloc(sizeof(float) * (size_t)B * W * p->L * p->D);
    g.tbuf = kn_malloc(sizeof(float) * (size_t)B * W);
    float *x = kn_malloc(all * 4), *pred = kn_malloc(all * 4), *wpred = kn_malloc(win * 4),
          *cnt = kn_calloc((size_t)K, sizeof(float)), *noise = kn_malloc(all * 4), *next = kn_malloc(all * 4);
    kn_status st = KN_OK;
    if (!starts || !g.in || !g.out || !g.ctxbuf || !g.tbuf || !x || !pred || !wpred || !cnt || !noise || !next) {
        st = kn_fail(err, KN_ENOMEM, "out of memory for %d keyframes of %dx%d latents", K, w, h);
        goto done;
    }
    int nwin = window_starts(K, W, starts);
    for (int i = start; i < n; i++) {
        if (report(prm, KN_STAGE_DENOISE, i - start, n - start)) { st = kn_fail(err, KN_ECANCELLED, "cancelled"); goto done; }
        g.t = kn_sched_timestep(s, i);
        kn_sched_scale_input(s, i, lat, all, x);
        memset(pred, 0, all * 4);
        memset(cnt, 0, sizeof(float) * K);
        for (int wi = 0; wi < nwin; wi++) {
            if ((st = predict(&g, x, starts[wi], W, wpred, err))) goto done;
            for (int c = 0; c < C; c++)
                for (int f = 0; f < W; f++) {
                    float *dst = pred + ((size_t)c * K + starts[wi] + f) * hw;
                    const float *src = wpred + ((size_t)c * W + f) * hw;
                    for (size_t q = 0; q < hw; q++) dst[q] += src[q];
                }
            for (int f = 0; f < W; f++) cnt[starts[wi] + f] += 1.f;
        }
        if (nwin > 1)
            for (int c = 0; c < C; c++)
                for (int f = 0; f < K; f++) {
                    float *d = pred + ((size_t)c * K + f) * hw, inv = 1.f / cnt[f];
                    for (size_t q = 0; q < hw; q++) d[q] *= inv;
                }
        /* NaN or infinite weights (or an overflow) would otherwise reach the frames as garbage */
        if (any_nonfinite(pred, all)) {
            st = kn_fail(err, KN_EINVAL, "the UNet's prediction is not finite at denoising step %d of %d (timestep %g): "
                         "the model's weights hold NaN or infinity, or overflow", i + 1, n, (double)g.t);
            goto done;
        }
        const float *nz = NULL;
        if (kn_sched_is_stochastic(s)) { kn_randn(noise, all, seed, STREAM_STEP + (uint64_t)i); nz = noise; }
        if ((st = kn_sched_step(s, i, pred, lat, nz, all, next, err))) goto done;
        memcpy(lat, next, all * 4);
        if (pins && pins->nk && i < pins->pin_steps && (st = pin_keyframes(s, i + 1, pins, lat, C, K, hw, seed, err)))
            goto done;
    }
    report(prm, KN_STAGE_DENOISE, n - start, n - start);
done:
    free(starts);
    kn_free(g.in); kn_free(g.out); kn_free(g.ctxbuf); kn_free(g.tbuf);
    kn_free(x); kn_free(pred); kn_free(wpred); kn_free(cnt); kn_free(noise); kn_free(next);
    return st;
}

/* ---------------- VAE ---------------- */
kn_status pl_decode_f32(kn_pipeline *p, const float *lat, int K, int h, int w, float *frames, kn_error *err) {
    int C = kn_vae_latent_channels(p->vae), f = kn_vae_downscale(p->vae);
    size_t hw = (size_t)h * w, out1 = (size_t)3 * h * f * w * f;
    float inv = 1.f / kn_vae_scaling_factor(p->vae);
    float *one = kn_malloc((size_t)C * hw * 4);
    if (!one) return kn_fail(err, KN_ENOMEM, "out of memory");
    kn_status st = KN_OK;
    for (int k = 0; k < K && !st; k++) {
        for (int c = 0; c < C; c++)
            for (size_t q = 0; q < hw; q++) one[c * hw + q] = lat[((size_t)c * K + k) * hw + q] * inv;
        st = kn_vae_decode(p->vae, &p->ctx, one, 1, h, w, frames + k * out1, err);
        if (!st && any_nonfinite(frames + k * out1, out1))
            st = kn_fail(err, KN_EINVAL, "the VAE decoder's output is not finite (keyframe %d): its weights or the "
                         "latents hold NaN or infinity", k);
        if (!st)
            for (size_t q = 0; q < out1; q++) {
                float v = frames[k * out1 + q] / 2.f + 0.5f;
                frames[k * out1 + q] = v < 0.f ? 0.f : v > 1.f ? 1.f : v;
            }
    }
    kn_free(one);
    return st;
}

kn_status pl_decode(kn_pipeline *p, const float *lat, int K, int h, int w, kn_video *kf, const kn_generate_params *prm,
                    kn_error *err) {
    int f = kn_vae_downscale(p->vae), H = h * f, W = w * f;
    size_t plane = (size_t)H * W;
    float *img = kn_malloc(plane * 3 * 4);
    if (!img) return kn_fail(err, KN_ENOMEM, "out of memory");
    kn_status st = kn_video_alloc(kf, W, H, K, prm ? prm->fps : 0, err);
    for (int k = 0; k < K && !st; k++) {
        if (report(prm, KN_STAGE_DECODE, k, K)) { st = kn_fail(err, KN_ECANCELLED, "cancelled"); break; }
        /* decode keyframe k alone: gather its latent as a 1-frame clip */
        int C = kn_vae_latent_channels(p->vae);
        float *one = kn_malloc((size_t)C * h * w * 4);
        if (!one) { st = kn_fail(err, KN_ENOMEM, "out of memory"); break; }
        for (int c = 0; c < C; c++) memcpy(one + (size_t)c * h * w, lat + ((size_t)c * K + k) * h * w, sizeof(float) * h * w);
        st = pl_decode_f32(p, one, 1, h, w, img, err);
        kn_free(one);
        if (st) break;
        uint8_t *dst = kn_video_frame(kf, k);
        for (size_t q = 0; q < plane; q++)
            for (int c = 0; c < 3; c++) dst[q * 3 + c] = (uint8_t)lrintf(img[c * plane + q] * 255.f);
    }
    if (!st) report(prm, KN_STAGE_DECODE, K, K);
    kn_free(img);
    if (st) kn_video_free(kf);
    return st;
}

kn_status pl_encode_image(kn_pipeline *p, const uint8_t *rgb, int W, int H, float *latent, kn_error *err) {
    size_t plane = (size_t)W * H;
    int f = kn_vae_downscale(p->vae), C = kn_vae_latent_channels(p->vae);
    size_t lp = (size_t)(W / f) * (H / f);
    float *img = kn_malloc(plane * 3 * 4), *logvar = kn_malloc((size_t)C * lp * 4);
    if (!img || !logvar) { kn_free(img); kn_free(logvar); return kn_fail(err, KN_ENOMEM, "out of memory"); }
    kn_vae_pixels_from_rgb8(rgb, plane, img);
    /* the posterior mean, not a sample: the keyframe should follow the image, not a noisy draw */
    kn_status st = kn_vae_encode(p->vae, &p->ctx, img, 1, H, W, latent, logvar, err);
    if (!st) kn_scale(latent, kn_vae_scaling_factor(p->vae), (size_t)C * lp, latent);
    kn_free(img);
    kn_free(logvar);
    return st;
}
