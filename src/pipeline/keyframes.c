/* Keyframe folders: NNNNN.png per keyframe + settings.json (generation settings and a hash of each
 * keyframe as generated, so a reload can tell which ones a person replaced). */
#include <stdio.h>
#include <stdlib.h>
#include "io/io.h"
#include "io/media.h"

static uint64_t fnv1a(const uint8_t *p, size_t n) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) { h ^= p[i]; h *= 1099511628211ull; }
    return h;
}

kn_status kn_keyframes_save(const char *dir, const kn_generate_params *g, const char *model, const kn_video *kf,
                            kn_error *err) {
    kn_status st = kn_mkdirs(dir, err);
    if (st) return st;
    json_t *o = json_object(), *hashes = json_array();
    size_t fb = (size_t)kf->width * kf->height * 3;
    char path[4096], hex[32];
    for (int k = 0; k < kf->nframes; k++) {
        snprintf(path, sizeof path, "%s/%05d.png", dir, k);
        kn_image im = {kf->width, kf->height, kn_video_frame(kf, k)};
        if ((st = kn_image_write_png(path, &im, err))) { json_decref(o); json_decref(hashes); return st; }
        snprintf(hex, sizeof hex, "%016llx", (unsigned long long)fnv1a(im.rgb, fb));
        json_array_append_new(hashes, json_string(hex));
    }
    json_object_set_new(o, "prompt", json_string(g->prompt ? g->prompt : ""));
    json_object_set_new(o, "negative_prompt", json_string(g->negative_prompt ? g->negative_prompt : ""));
    if (g->sampler) json_object_set_new(o, "sampler", json_string(g->sampler));
    if (model) json_object_set_new(o, "model", json_string(model));
    json_object_set_new(o, "seed", json_integer((json_int_t)g->seed));
    json_object_set_new(o, "steps", json_integer(g->steps));
    json_object_set_new(o, "guidance", json_real(g->guidance));
    json_object_set_new(o, "motion_guidance", json_real(g->motion_guidance));
    json_object_set_new(o, "keyframes", json_integer(kf->nframes));
    json_object_set_new(o, "frames", json_integer(g->frames));
    json_object_set_new(o, "fps", json_real(g->fps));
    json_object_set_new(o, "width", json_integer(kf->width));
    json_object_set_new(o, "height", json_integer(kf->height));
    json_object_set_new(o, "keyframe_hashes", hashes);
    char *text = json_dumps(o, JSON_INDENT(1) | JSON_SORT_KEYS | JSON_REAL_PRECISION(9));
    json_decref(o);
    if (!text) return kn_fail(err, KN_ENOMEM, "out of memory");
    snprintf(path, sizeof path, "%s/settings.json", dir);
    st = kn_write_file_atomic(path, text, strlen(text), err);
    free(text);
    return st;
}

void kn_keyframe_set_free(kn_keyframe_set *s) {
    free(s->prompt); free(s->negative_prompt); free(s->sampler); free(s->model);
    kn_video_free(&s->keyframes);
    free(s->changed);
    memset(s, 0, sizeof *s);
}

static char *dup_opt(const char *s) { return s ? kn_strdup(s) : NULL; }

kn_status kn_keyframes_load(const char *dir, kn_keyframe_set *s, kn_error *err) {
    memset(s, 0, sizeof *s);
    char path[4096];
    snprintf(path, sizeof path, "%s/settings.json", dir);
    json_t *o;
    kn_status st = kn_json_load(path, &o, err);
    if (st) return st;
    kn_generate_params *g = &s->params;
    kn_generate_params_default(g);
    long long seed = 0, steps, K, frames, W, H;
    double guidance, motion_guidance, fps;
    const char *prompt, *neg, *sampler, *model;
    if ((st = kn_cfg_str(o, path, "prompt", NULL, &prompt, err)) || (st = kn_cfg_str(o, path, "negative_prompt", "", &neg, err)) ||
        (st = kn_cfg_str(o, path, "sampler", NULL, &sampler, err)) || (st = kn_cfg_str(o, path, "model", NULL, &model, err)) ||
        (st = kn_cfg_int(o, path, "seed", 0, &seed, err)) || (st = kn_cfg_int(o, path, "steps", g->steps, &steps, err)) ||
        (st = kn_cfg_num(o, path, "guidance", g->guidance, &guidance, err)) ||
        /* folders written before motion guidance existed were generated without it */
        (st = kn_cfg_num(o, path, "motion_guidance", 0, &motion_guidance, err)) ||
        (st = kn_cfg_int(o, path, "keyframes", 0, &K, err)) || (st = kn_cfg_int(o, path, "frames", 0, &frames, err)) ||
        (st = kn_cfg_num(o, path, "fps", g->fps, &fps, err)) || (st = kn_cfg_int(o, path, "width", 0, &W, err)) ||
        (st = kn_cfg_int(o, path, "height", 0, &H, err)))
        goto done;
    if (!prompt) { st = kn_fail(err, KN_EFORMAT, "%s: missing \"prompt\"", path); goto done; }
    if (K < 1 || K > 256 || W < 8 || H < 8 || W > 4096 || H > 4096 || frames < K || frames > 4096) {
        st = kn_fail(err, KN_EFORMAT, "%s: keyframes/width/height/frames out of range", path);
        goto done;
    }
    s->prompt = kn_strdup(prompt);
    s->negative_prompt = kn_strdup(neg);
    s->sampler = dup_opt(sampler);
    s->model = dup_opt(model);
    g->prompt = s->prompt;
    g->negative_prompt = s->negative_prompt;
    g->sampler = s->sampler;
    g->seed = (uint64_t)seed;
    g->steps = (int)steps;
    g->guidance = (float)guidance;
    g->motion_guidance = (float)motion_guidance;
    g->keyframes = (int)K;
    g->frames = (int)frames;
    g->fps = (float)fps;
    g->width = (int)W;
    g->height = (int)H;
    s->changed = calloc((size_t)K, sizeof *s->changed);
    if (!s->prompt || !s->negative_prompt || !s->changed) { st = kn_fail(err, KN_ENOMEM, "out of memory"); goto done; }
    if ((st = kn_video_alloc(&s->keyframes, (int)W, (int)H, (int)K, (float)fps, err))) goto done;
    json_t *hashes = json_object_get(o, "keyframe_hashes");
    size_t fb = (size_t)W * H * 3;
    for (int k = 0; k < K; k++) {
        snprintf(path, sizeof path, "%s/%05d.png", dir, k);
        kn_image im = {0, 0, NULL}, fit = {0, 0, NULL};
        if ((st = kn_image_read(path, &im, err))) goto done;
        if (im.width != W || im.height != H) {   /* a replacement of another size is fitted as documented */
            st = kn_image_resize_cover(&im, (int)W, (int)H, &fit, err);
            kn_image_free(&im);
            if (st) goto done;
            im = fit;
        }
        memcpy(kn_video_frame(&s->keyframes, k), im.rgb, fb);
        char hex[32];
        snprintf(hex, sizeof hex, "%016llx", (unsigned long long)fnv1a(im.rgb, fb));
        json_t *h = json_array_get(hashes, (size_t)k);
        s->changed[k] = !json_is_string(h) || strcmp(json_string_value(h), hex) != 0;
        kn_image_free(&im);
    }
done:
    json_decref(o);
    if (st) kn_keyframe_set_free(s);
    return st;
}
