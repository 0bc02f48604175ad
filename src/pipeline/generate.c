/* kn_pipeline_generate / kn_pipeline_regenerate: parameter checks, noise, pinning of image
 * keyframes, and stage 2 (frames between keyframes). */
#include "pipeline/pipeline.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include "interp/interp.h"
#include "io/media.h"

enum { STREAM_LATENTS = 1 };
#define KN_MAX_FRAMES 1024
#define KN_MAX_KEYFRAMES 256
#define KN_MAX_SIDE 2048

static kn_status check_params(kn_pipeline *p, const kn_generate_params *g, kn_error *err) {
    int f = kn_vae_downscale(p->vae);
    if (!g->prompt) return kn_fail(err, KN_EINVAL, "prompt: missing");
    if (g->width < 8 || g->height < 8 || g->width > KN_MAX_SIDE || g->height > KN_MAX_SIDE)
        return kn_fail(err, KN_EINVAL, "size: %dx%d is outside 8..%d pixels a side", g->width, g->height, KN_MAX_SIDE);
    if (g->width % 8 || g->height % 8)
        return kn_fail(err, KN_EINVAL, "size: %dx%d is not a multiple of 8", g->width, g->height);
    if (g->width % f || g->height % f)
        return kn_fail(err, KN_EINVAL, "size: %dx%d is not a multiple of the VAE's factor %d", g->width, g->height, f);
    if (g->steps < 1 || g->steps > 1000) return kn_fail(err, KN_EINVAL, "steps: %d is outside 1..1000", g->steps);
    if (g->keyframes < 1 || g->keyframes > KN_MAX_KEYFRAMES)
        return kn_fail(err, KN_EINVAL, "keyframes: %d is outside 1..%d", g->keyframes, KN_MAX_KEYFRAMES);
    if (g->frames < g->keyframes || g->frames > KN_MAX_FRAMES)
        return kn_fail(err, KN_EINVAL, "frames: %d must be between keyframes (%d) and %d", g->frames, g->keyframes,
                       KN_MAX_FRAMES);
    if (g->frames > 1 && g->keyframes < 2)
        return kn_fail(err, KN_EINVAL, "keyframes: at least 2 are needed to fill %d frames", g->frames);
    if (!(g->fps > 0.f && g->fps <= 240.f)) return kn_fail(err, KN_EINVAL, "fps: %g is outside (0, 240]", g->fps);
    if (!(g->guidance >= 0.f && g->guidance <= 100.f)) return kn_fail(err, KN_EINVAL, "guidance: %g is outside 0..100", g->guidance);
    if (!(g->motion_guidance >= 0.f && g->motion_guidance <= 100.f))
        return kn_fail(err, KN_EINVAL, "motion_guidance: %g is outside 0..100", g->motion_guidance);
    if (!(g->image_strength >= 0.f && g->image_strength <= 1.f))
        return kn_fail(err, KN_EINVAL, "image_strength: %g is outside 0..1", g->image_strength);
    int down = p->unet_downscale;
    if ((g->width / f) % down || (g->height / f) % down)
        return kn_fail(err, KN_EINVAL, "size: %dx%d gives %dx%d latents, not a multiple of the UNet's %d", g->width,
                       g->height, g->width / f, g->height / f, down);
    return KN_OK;
}

int pl_keyframe_pos(int k, int K, int N) {
    return K < 2 ? 0 : (int)(((long long)k * (N - 1) * 2 + (K - 1)) / (2 * (K - 1)));
}

/* The caller's cancel flag and progress report, before each pair of keyframes is filled. */
static int fill_progress(void *user, int pair, int npairs) {
    const kn_generate_params *prm = user;
    if (prm->cancel && *prm->cancel) return 1;
    return prm->progress && prm->progress(prm->progress_user, KN_STAGE_INTERPOLATE, pair, npairs);
}

kn_status pl_fill_frames(kn_pipeline *p, const kn_video *kf, kn_video *out, const kn_generate_params *prm,
                         kn_error *err) {
    int K = kf->nframes, N = out->nframes;
    out->nkeyframes = K;
    out->keyframe_index = calloc((size_t)K, sizeof(int));
    if (!out->keyframe_index) return kn_fail(err, KN_ENOMEM, "out of memory");
    for (int k = 0; k < K; k++) out->keyframe_index[k] = pl_keyframe_pos(k, K, N);
    /* the whole-video engine: the keyframes' own motion, over several pairs, bends the frames between */
    kn_status st = kn_interp_fill(&p->ctx, NULL, kf, out->keyframe_index, out, prm ? fill_progress : NULL,
                                  (void *)prm, err);
    if (st && st != KN_ECANCELLED) return kn_wrap(err, "interpolating keyframes");
    return st;
}

static kn_status image_latent(kn_pipeline *p, const kn_image *im, int W, int H, float *lat, kn_error *err) {
    kn_image fit = {0, 0, NULL};
    kn_status st = kn_image_resize_cover(im, W, H, &fit, err);
    if (st) return kn_wrap(err, "image");
    st = pl_encode_image(p, fit.rgb, W, H, lat, err);
    kn_image_free(&fit);
    return st;
}

static kn_status run(kn_pipeline *p, const kn_generate_params *g, float *lat, int start, kn_sched *s,
                     const pl_pins *pins, kn_video *kf, kn_error *err) {
    int f = kn_vae_downscale(p->vae), h = g->height / f, w = g->width / f;
    size_t Ld = (size_t)p->L * p->D;
    size_t cap = 2 * strlen(g->prompt) + 1;
    float *cond = kn_malloc(Ld * 4), *uncond = kn_malloc(Ld * 4), *opposite = kn_malloc(Ld * 4);
    char *opp_text = malloc(cap);
    kn_status st = KN_OK;
    if (!cond || !uncond || !opposite || !opp_text) { st = kn_fail(err, KN_ENOMEM, "out of memory"); goto done; }
    if (g->progress && g->progress(g->progress_user, KN_STAGE_ENCODE, 0, 1)) { st = kn_fail(err, KN_ECANCELLED, "cancelled"); goto done; }
    int cfg = g->guidance > 1.f;
    /* motion guidance needs a prompt that names a reversible motion; without one it is off */
    int mg = g->motion_guidance > 0.f && pl_motion_opposite(g->prompt, opp_text, cap) > 0;
    if ((st = pl_encode_text(p, g->prompt, cond, err))) goto done;
    if (cfg && (st = pl_encode_text(p, g->negative_prompt ? g->negative_prompt : "", uncond, err))) goto done;
    if (mg && (st = pl_encode_text(p, opp_text, opposite, err))) goto done;
    pl_guide guide = {cond, cfg ? uncond : NULL, mg ? opposite : NULL, g->guidance, g->motion_guidance};
    if ((st = pl_denoise(p, s, start, &guide, lat, g->keyframes, h, w, g->seed, pins, g, err))) goto done;
    st = pl_decode(p, lat, g->keyframes, h, w, kf, g, err);
done:
    kn_free(cond);
    kn_free(uncond);
    kn_free(opposite);
    free(opp_text);
    return st;
}

static kn_status finish(kn_pipeline *p, const kn_generate_params *g, kn_video *kf, kn_video *keyframes, kn_video *video,
                        kn_error *err) {
    kn_video out = {0};
    kn_status st = kn_video_alloc(&out, kf->width, kf->height, g->frames, g->fps, err);
    if (!st) st = pl_fill_frames(p, kf, &out, g, err);
    if (st) { kn_video_free(&out); kn_video_free(kf); return st; }
    kf->fps = g->fps;
    if (keyframes) *keyframes = *kf;
    else kn_video_free(kf);
    *video = out;
    return KN_OK;
}

kn_status kn_pipeline_generate(kn_pipeline *p, const kn_generate_params *g, kn_video *keyframes, kn_video *video,
                               kn_error *err) {
    kn_status st = check_params(p, g, err);
    if (st) return st;
    kn_sched *s;
    if ((st = kn_sched_open(p->sched_path, g->sampler, &s, err))) return st;
    if ((st = kn_sched_set_timesteps(s, g->steps, err))) { kn_sched_close(s); return st; }
    int C = kn_unet_in_channels(p->unet), f = kn_vae_downscale(p->vae), K = g->keyframes;
    int h = g->height / f, w = g->width / f;
    size_t hw = (size_t)h * w, all = (size_t)C * K * hw;
    float *lat = kn_malloc(all * 4), *pinlat[2] = {NULL, NULL};
    int frames[2], np = 0;
    const float *pinptr[2];
    kn_video kf = {0};
    if (!lat) { st = kn_fail(err, KN_ENOMEM, "out of memory"); goto done; }
    kn_randn(lat, all, g->seed, STREAM_LATENTS);
    kn_scale(lat, kn_sched_init_noise_sigma(s), all, lat);
    const kn_image *imgs[2] = {g->image, g->end_image};
    for (int i = 0; i < 2; i++) {
        if (!imgs[i]) continue;
        pinlat[np] = kn_malloc((size_t)C * hw * 4);
        if (!pinlat[np]) { st = kn_fail(err, KN_ENOMEM, "out of memory"); goto done; }
        if ((st = image_latent(p, imgs[i], g->width, g->height, pinlat[np], err))) goto done;
        frames[np] = i == 0 ? 0 : K - 1;
        pinptr[np] = pinlat[np];
        np++;
    }
    pl_pins pins = {np, frames, pinptr, (int)lrintf(g->image_strength * kn_sched_num_steps(s))};
    /* start the pinned keyframes from their noised images, like the later steps see them */
    if (np) {
        kn_sched *probe = s;
        float *noise = kn_malloc(hw * 4), *noisy = kn_malloc(hw * 4);
        if (!noise || !noisy) { kn_free(noise); kn_free(noisy); st = kn_fail(err, KN_ENOMEM, "out of memory"); goto done; }
        for (int k = 0; k < np; k++)
            for (int c = 0; c < C; c++) {
                float *dst = lat + ((size_t)c * K + frames[k]) * hw;
                memcpy(noise, dst, hw * 4);
                kn_scale(noise, 1.f / kn_sched_init_noise_sigma(probe), hw, noise);
                kn_sched_add_noise(probe, 0, pinptr[k] + (size_t)c * hw, noise, hw, noisy);
                memcpy(dst, noisy, hw * 4);
            }
        kn_free(noise);
        kn_free(noisy);
    }
    if ((st = run(p, g, lat, 0, s, np ? &pins : NULL, &kf, err))) goto done;
    st = finish(p, g, &kf, keyframes, video, err);
done:
    kn_free(lat);
    kn_free(pinlat[0]);
    kn_free(pinlat[1]);
    kn_sched_close(s);
    return st;
}

kn_status kn_pipeline_regenerate(kn_pipeline *p, const kn_generate_params *g0, const kn_video *keyframes,
                                 const int *fixed, float harmonize, kn_video *video, kn_error *err) {
    kn_generate_params g = *g0;
    g.keyframes = keyframes->nframes;
    g.width = keyframes->width;
    g.height = keyframes->height;
    g.image = g.end_image = NULL;
    kn_status st = check_params(p, &g, err);
    if (st) return st;
    if (!(harmonize >= 0.f && harmonize <= 1.f)) return kn_fail(err, KN_EINVAL, "harmonize: %g is outside 0..1", harmonize);
    kn_video kf = {0};
    if ((st = kn_video_alloc(&kf, keyframes->width, keyframes->height, keyframes->nframes, g.fps, err))) return st;
    memcpy(kf.rgb, keyframes->rgb, (size_t)kf.width * kf.height * 3 * kf.nframes);
    if (harmonize > 0.f) {
        kn_sched *s;
        if ((st = kn_sched_open(p->sched_path, g.sampler, &s, err))) { kn_video_free(&kf); return st; }
        if ((st = kn_sched_set_timesteps(s, g.steps, err))) { kn_sched_close(s); kn_video_free(&kf); return st; }
        int C = kn_unet_in_channels(p->unet), f = kn_vae_downscale(p->vae), K = g.keyframes, n = kn_sched_num_steps(s);
        int h = g.height / f, w = g.width / f, start = n - (int)lrintf(harmonize * n);
        if (start >= n) start = n - 1;
        size_t hw = (size_t)h * w, all = (size_t)C * K * hw;
        float *lat = kn_malloc(all * 4), *one = kn_malloc((size_t)C * hw * 4), *noise = kn_malloc(all * 4);
        float **clean = calloc((size_t)K, sizeof *clean);
        int *pf = calloc((size_t)K, sizeof *pf), np = 0;
        kn_video dec = {0};
        if (!lat || !one || !noise || !clean || !pf) st = kn_fail(err, KN_ENOMEM, "out of memory");
        for (int k = 0; k < K && !st; k++) {   /* every keyframe's clean latent, noised to the start step */
            if ((st = pl_encode_image(p, kn_video_frame(&kf, k), g.width, g.height, one, err))) break;
            for (int c = 0; c < C; c++) memcpy(lat + ((size_t)c * K + k) * hw, one + (size_t)c * hw, hw * 4);
            if (fixed && fixed[k]) {
                clean[np] = kn_malloc((size_t)C * hw * 4);
                if (!clean[np]) { st = kn_fail(err, KN_ENOMEM, "out of memory"); break; }
                memcpy(clean[np], one, (size_t)C * hw * 4);
                pf[np++] = k;
            }
        }
        if (!st) {
            kn_randn(noise, all, g.seed, STREAM_LATENTS);
            kn_sched_add_noise(s, start, lat, noise, all, lat);
            pl_pins pins = {np, pf, (const float *const *)clean, n};
            st = run(p, &g, lat, start, s, np ? &pins : NULL, &dec, err);
        }
        if (!st)   /* keep the fixed keyframes exactly as the person made them */
            for (int k = 0; k < K; k++)
                if (!(fixed && fixed[k])) memcpy(kn_video_frame(&kf, k), kn_video_frame(&dec, k), (size_t)kf.width * kf.height * 3);
        kn_video_free(&dec);
        for (int k = 0; k < np; k++) kn_free(clean[k]);
        free(clean); free(pf);
        kn_free(lat); kn_free(one); kn_free(noise);
        kn_sched_close(s);
        if (st) { kn_video_free(&kf); return st; }
    }
    return finish(p, &g, &kf, NULL, video, err);
}
