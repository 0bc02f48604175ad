/* The two-stage generation pipeline (not implemented yet: every call reports so). */
#include "core/core.h"
#include <stdlib.h>

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
    p->image_strength = 0.9f;
}

void kn_video_free(kn_video *v) {
    if (!v) return;
    free(v->rgb);
    free(v->keyframe_index);
    memset(v, 0, sizeof *v);
}

kn_status kn_pipeline_open(const char *model_dir, int threads, kn_pipeline **out, kn_error *err) {
    (void)threads; (void)out;
    return kn_fail(err, KN_EUNSUPPORTED, "%s: the generation pipeline is not implemented yet", model_dir);
}

void kn_pipeline_close(kn_pipeline *p) { (void)p; }

kn_status kn_pipeline_generate(kn_pipeline *p, const kn_generate_params *params, kn_video *keyframes,
                               kn_video *video, kn_error *err) {
    (void)p; (void)params; (void)keyframes; (void)video;
    return kn_fail(err, KN_EUNSUPPORTED, "the generation pipeline is not implemented yet");
}
