/* Parity runner for kind "pipeline_t2v": AnimateDiff's text-to-video loop on the case's own
 * folders. Token ids come from the case (in.prompt_ids / in.negative_ids), the initial noise from
 * in.latents; outputs are the final latents and the decoded frames in [0, 1]. */
#include "check/check.h"
#include <stdio.h>
#include <stdlib.h>
#include "pipeline/pipeline.h"

static kn_status ids_of(kn_check_case *c, const char *name, int L, int64_t *ids, kn_error *err) {
    const kn_st_tensor *t = kn_st_find(&c->io, name);
    if (!t || t->dtype != KN_I64 || kn_st_numel(t) != L)
        return kn_fail(err, KN_EFORMAT, "%s: '%s' must be I64 [1, %d]", c->name, name, L);
    memcpy(ids, t->data, sizeof(int64_t) * L);
    return KN_OK;
}

kn_status kn_check_pipeline_t2v(kn_check_case *c, kn_error *err) {
    const char *path = "case.json";
    long long steps, nframes;
    double guidance;
    kn_status st;
    if ((st = kn_cfg_int(c->cfg, path, "num_inference_steps", -1, &steps, err)) ||
        (st = kn_cfg_num(c->cfg, path, "guidance_scale", -1, &guidance, err)) ||
        (st = kn_cfg_int(c->cfg, path, "num_frames", -1, &nframes, err)))
        return st;
    if (steps < 1 || guidance < 0) return kn_fail(err, KN_EFORMAT, "%s: case.json needs num_inference_steps and guidance_scale", c->name);
    kn_pipeline *p;
    if ((st = kn_pipeline_open(c->dir, kn_pool_size(c->ctx->pool), &p, err))) return st;
    kn_sched *s = NULL;
    float *lat = NULL, *cond = NULL, *uncond = NULL, *frames = NULL;
    int64_t *ids = NULL;
    const kn_st_tensor *lt = kn_st_find(&c->io, "in.latents");
    if (!lt || lt->ndim != 5 || lt->shape[0] != 1) { st = kn_fail(err, KN_EFORMAT, "%s: in.latents must be [1, C, F, h, w]", c->name); goto done; }
    int C = (int)lt->shape[1], K = (int)lt->shape[2], h = (int)lt->shape[3], w = (int)lt->shape[4];
    if (nframes >= 0 && nframes != K) { st = kn_fail(err, KN_EFORMAT, "%s: num_frames %lld but in.latents has %d", c->name, nframes, K); goto done; }
    if ((st = kn_sched_open(p->sched_path, NULL, &s, err)) || (st = kn_sched_set_timesteps(s, (int)steps, err))) goto done;
    size_t Ld = (size_t)p->L * p->D, all = (size_t)C * K * h * w;
    ids = calloc((size_t)p->L, sizeof *ids);
    cond = kn_malloc(Ld * 4);
    uncond = kn_malloc(Ld * 4);
    if (!ids || !cond || !uncond) { st = kn_fail(err, KN_ENOMEM, "out of memory"); goto done; }
    if ((st = ids_of(c, "in.prompt_ids", p->L, ids, err)) || (st = pl_encode_ids(p, ids, cond, err))) goto done;
    if ((st = ids_of(c, "in.negative_ids", p->L, ids, err)) || (st = pl_encode_ids(p, ids, uncond, err))) goto done;
    if ((st = kn_st_to_f32(lt, &lat, err))) goto done;
    kn_scale(lat, kn_sched_init_noise_sigma(s), all, lat);
    pl_guide guide = {cond, uncond, NULL, (float)guidance, 0.f};
    if ((st = pl_denoise(p, s, 0, &guide, lat, K, h, w, 0, NULL, NULL, err))) goto done;
    if ((st = kn_check_compare(c, "out.final_latents", lat, all, err))) goto done;
    int f = kn_vae_downscale(p->vae);
    size_t nf = (size_t)K * 3 * h * f * w * f;
    frames = kn_malloc(nf * 4);
    if (!frames) { st = kn_fail(err, KN_ENOMEM, "out of memory"); goto done; }
    if ((st = pl_decode_f32(p, lat, K, h, w, frames, err))) goto done;
    st = kn_check_compare(c, "out.frames", frames, nf, err);
done:
    kn_free(lat); kn_free(cond); kn_free(uncond); kn_free(frames);
    free(ids);
    if (s) kn_sched_close(s);
    kn_pipeline_close(p);
    return st;
}
