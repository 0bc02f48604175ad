/* kinora generate / kinora regenerate: option parsing, progress bar, output writing. */
#include "cli/cli.h"
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "io/io.h"
#include "io/media.h"
#include "kinora/kinora.h"

typedef struct {
    int tty;
    double start, stage_start;
    kn_stage stage;
} progress_bar;

static int show_progress(void *user, kn_stage stage, int step, int total) {
    progress_bar *b = user;
    if (!b->tty) return 0;
    double now = kn_now();
    if (stage != b->stage) { b->stage = stage; b->stage_start = now; }
    double el = now - b->stage_start, eta = step > 0 && total > step ? el / step * (total - step) : 0;
    kn_progress_line(kn_stage_name(stage), step, total, 0, now - b->start, eta);
    if (step >= total) { fputc('\n', stderr); fflush(stderr); }
    return 0;
}

/* The default model: $KINORA_MODEL, else models/default beside the binary's build folder, else the
 * installed share folder. */
static const char *default_model(char *buf, size_t cap) {
    const char *env = getenv("KINORA_MODEL");
    if (env && *env) return env;
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = 0;
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = 0;
            if (snprintf(buf, cap, "%s/../models/default", exe) < (int)cap && kn_path_is_dir(buf)) return buf;
            if (snprintf(buf, cap, "%s/../share/kinora/models/default", exe) < (int)cap && kn_path_is_dir(buf))
                return buf;
        }
    }
    return NULL;
}

static void print_json(const char *out, const kn_video *v, double secs, uint64_t seed, const char *kfdir) {
    json_t *o = json_object();
    json_object_set_new(o, "output", json_string(out));
    json_object_set_new(o, "width", json_integer(v->width));
    json_object_set_new(o, "height", json_integer(v->height));
    json_object_set_new(o, "frames", json_integer(v->nframes));
    json_object_set_new(o, "fps", json_real(v->fps));
    json_object_set_new(o, "seed", json_integer((json_int_t)seed));
    json_object_set_new(o, "seconds", json_real(secs));
    if (kfdir) json_object_set_new(o, "keyframes_dir", json_string(kfdir));
    json_t *ki = json_array();
    for (int k = 0; k < v->nkeyframes; k++) json_array_append_new(ki, json_integer(v->keyframe_index[k]));
    json_object_set_new(o, "keyframe_frames", ki);
    char *s = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(6));
    if (s) puts(s);
    free(s);
    json_decref(o);
}

static const char generate_usage[] =
    "usage: kinora generate PROMPT -o OUT [options]\n"
    "  -o, --output OUT      .mp4 .mkv .mov (H.264), .webm (VP9), .gif, .y4m, another container FFmpeg\n"
    "                        writes (.avi ...), or a folder for PNG frames\n"
    "  --codec NAME          OUT's codec: h264, h265, vp9, av1, ffv1 (lossless) or prores (422 HQ), where\n"
    "                        its container holds it (.mkv holds all; default: the container's own)\n"
    "  --crf N               the codec's constant quality, lower is better (h264, h265: 0..51, default 18\n"
    "                        and 20; vp9, av1: 0..63, default 30)\n"
    "  --model DIR           diffusers-layout pipeline folder (default: the bundled default model)\n"
    "  --negative TEXT       negative prompt (default empty)\n"
    "  --seed N              random seed (default 0)\n"
    "  --steps N             denoising steps (default 20)\n"
    "  --guidance G          classifier-free guidance scale (default: the model's generation_defaults.json,\n"
    "                        else 7.5; <= 1 disables it)\n"
    "  --motion-guidance M   steer away from the prompt with its motion words reversed (left/right, up/down,\n"
    "                        growing/shrinking) at scale M (default: the model's generation_defaults.json,\n"
    "                        else 0: off)\n"
    "  --sampler NAME        ddim, ddpm, euler, euler_a, dpmpp_2m, dpmpp_2m_karras, lcm (default: the model's)\n"
    "  --keyframes N         keyframes denoised together (default 8)\n"
    "  --frames N            output frames after interpolation (default 32)\n"
    "  --fps F               frames per second (default 16)\n"
    "  --seconds S           duration: frames = round(fps * S)\n"
    "  --size WxH            keyframe size, multiples of 8 (default 64x64)\n"
    "  --image FILE          image-to-video: the first keyframe follows this PNG/JPEG (scaled to cover the\n"
    "                        size, centre-cropped)\n"
    "  --end-image FILE      the last keyframe follows this image\n"
    "  --image-strength S    fraction of steps the image keyframes are pinned (default 1)\n"
    "  --keyframes-out DIR   also write the keyframes and settings.json (for kinora regenerate)\n"
    "  --threads N           compute threads (default: all cores); output does not depend on it\n"
    "  --json                print a JSON result on stdout\n";

int kn_cmd_generate(int argc, char **argv) {
    kn_generate_params g;
    kn_generate_params_default(&g);
    const char *out = NULL, *model = NULL, *image = NULL, *end_image = NULL, *kfdir = NULL;
    long threads = kn_default_threads(), l;
    kn_video_encoding enc = {NULL, -1};
    int bad = 0;
    double d, seconds = -1, guidance = -1, motion_guidance = -1;   /* < 0: the model's recommended value */
    int json = 0, have_frames = 0;
    char mbuf[PATH_MAX];
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) { fputs(generate_usage, stdout); return 0; }
        if (a[0] != '-' || !a[1]) {
            if (g.prompt) { fprintf(stderr, "kinora generate: unexpected argument '%s' (quote the prompt)\n", a); return 2; }
            g.prompt = a;
            continue;
        }
        if (!strcmp(a, "--json")) { json = 1; continue; }
        if (!v) { fprintf(stderr, "kinora generate: %s needs a value\n", a); return 2; }
        i++;
        if (!strcmp(a, "-o") || !strcmp(a, "--output")) out = v;
        else if (!strcmp(a, "--model")) model = v;
        else if (!strcmp(a, "--negative")) g.negative_prompt = v;
        else if (!strcmp(a, "--seed")) {
            char *end;
            unsigned long long s = strtoull(v, &end, 10);
            if (*end || end == v || v[0] == '-') { fprintf(stderr, "kinora generate: --seed must be a non-negative integer\n"); return 2; }
            g.seed = s;
        } else if (!strcmp(a, "--steps")) { if (kn_arg_int(a, v, 1, 1000, &l)) return 2; g.steps = (int)l; }
        else if (!strcmp(a, "--guidance")) { if (kn_arg_float(a, v, 0, 100, &d)) return 2; guidance = d; }
        else if (!strcmp(a, "--motion-guidance")) { if (kn_arg_float(a, v, 0, 100, &d)) return 2; motion_guidance = d; }
        else if (!strcmp(a, "--sampler")) g.sampler = v;
        else if (!strcmp(a, "--keyframes")) { if (kn_arg_int(a, v, 1, 256, &l)) return 2; g.keyframes = (int)l; }
        else if (!strcmp(a, "--frames")) { if (kn_arg_int(a, v, 1, 100000, &l)) return 2; g.frames = (int)l; have_frames = 1; }
        else if (!strcmp(a, "--fps")) { if (kn_arg_rate(a, v, 0.01, 240, &d)) return 2; g.fps = (float)d; }
        else if (!strcmp(a, "--seconds")) { if (kn_arg_float(a, v, 0.01, 3600, &seconds)) return 2; }
        else if (!strcmp(a, "--size")) {
            int w, h;
            char x;
            if (sscanf(v, "%d%c%d", &w, &x, &h) != 3 || (x != 'x' && x != 'X') || w <= 0 || h <= 0) {
                fprintf(stderr, "kinora generate: --size must look like 64x64 (got '%s')\n", v);
                return 2;
            }
            g.width = w;
            g.height = h;
        } else if (!strcmp(a, "--image")) image = v;
        else if (!strcmp(a, "--end-image")) end_image = v;
        else if (!strcmp(a, "--image-strength")) { if (kn_arg_float(a, v, 0, 1, &d)) return 2; g.image_strength = (float)d; }
        else if (!strcmp(a, "--keyframes-out")) kfdir = v;
        else if (!strcmp(a, "--threads")) { if (kn_arg_int(a, v, 1, 256, &threads)) return 2; }
        else if (kn_arg_encoding(a, v, &enc, &bad)) { if (bad) return 2; }
        else { fprintf(stderr, "kinora generate: unknown option '%s'\n%s", a, generate_usage); return 2; }
    }
    if (!g.prompt) { fprintf(stderr, "kinora generate: missing PROMPT\n%s", generate_usage); return 2; }
    if (!out) { fprintf(stderr, "kinora generate: missing -o OUT\n"); return 2; }
    if (seconds > 0) {
        if (have_frames) { fprintf(stderr, "kinora generate: give --frames or --seconds, not both\n"); return 2; }
        g.frames = (int)lround(g.fps * seconds);
    }
    if (!model && !(model = default_model(mbuf, sizeof mbuf))) {
        fprintf(stderr, "kinora generate: no default model found (set --model DIR or KINORA_MODEL)\n");
        return 1;
    }
    kn_error err = {0};
    kn_image img = {0, 0, NULL}, end = {0, 0, NULL};
    if (image && kn_image_read(image, &img, &err)) { fprintf(stderr, "kinora generate: %s\n", err.msg); return 1; }
    if (end_image && kn_image_read(end_image, &end, &err)) { fprintf(stderr, "kinora generate: %s\n", err.msg); kn_image_free(&img); return 1; }
    g.image = image ? &img : NULL;
    g.end_image = end_image ? &end : NULL;
    progress_bar bar = {isatty(2) && !json, kn_now(), kn_now(), KN_STAGE_LOAD};
    g.progress = show_progress;
    g.progress_user = &bar;
    kn_pipeline *p = NULL;
    kn_video kf = {0}, video = {0};
    int rc = 1;
    kn_interrupt stop;   /* before the pipeline's threads: Ctrl-C cancels at its next step */
    if (kn_interrupt_start(&stop)) { snprintf(err.msg, sizeof err.msg, "cannot set up the signal watcher"); goto fail; }
    g.cancel = &stop.raised;
    if (kn_pipeline_open(model, (int)threads, &p, &err)) goto fail;
    kn_pipeline_defaults(p, &g);   /* keeps --sampler, if given */
    if (guidance >= 0) g.guidance = (float)guidance;
    if (motion_guidance >= 0) g.motion_guidance = (float)motion_guidance;
    /* an output that cannot be written fails now, not after the generation */
    if (kn_video_writer_check(out, g.width, g.height, g.fps, &enc, &err)) goto fail;
    if (kn_pipeline_generate(p, &g, &kf, &video, &err)) goto fail;
    if (kfdir && kn_keyframes_save(kfdir, &g, model, &kf, &err)) goto fail;
    if (kn_video_write_encoded(out, &video, &enc, &err)) goto fail;
    if (json) print_json(out, &video, kn_now() - bar.start, g.seed, kfdir);
    else if (bar.tty) fprintf(stderr, "wrote %s: %d frames %dx%d at %g fps in %.1fs\n", out, video.nframes, video.width, video.height, video.fps, kn_now() - bar.start);
    rc = 0;
    goto done;
fail:
    if (!stop.raised) fprintf(stderr, "kinora generate: %s\n", err.msg);
done:
    kn_video_free(&kf);
    kn_video_free(&video);
    kn_pipeline_close(p);
    kn_image_free(&img);
    kn_image_free(&end);
    return kn_interrupt_finish(&stop, "kinora generate", out, rc);
}

static const char regenerate_usage[] =
    "usage: kinora regenerate --from DIR -o OUT [--harmonize S] [--model DIR] [--threads N] [--json]\n"
    "                         [--codec NAME] [--crf N]   (as for kinora generate)\n"
    "Rebuilds a video from a keyframes folder written by `kinora generate --keyframes-out DIR`, after\n"
    "some keyframes were replaced or edited. By default only stage 2 runs (frames between keyframes).\n"
    "--harmonize S (0..1) re-noises the untouched keyframes to that fraction of the schedule and denoises\n"
    "them again with the replaced keyframes held fixed, so the clip moves toward the corrections.\n";

int kn_cmd_regenerate(int argc, char **argv) {
    const char *from = NULL, *out = NULL, *model = NULL;
    long threads = kn_default_threads();
    double harmonize = 0;
    int json = 0, bad = 0;
    kn_video_encoding enc = {NULL, -1};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) { fputs(regenerate_usage, stdout); return 0; }
        if (!strcmp(a, "--json")) { json = 1; continue; }
        if (!v) { fprintf(stderr, "kinora regenerate: %s needs a value\n", a); return 2; }
        i++;
        if (!strcmp(a, "--from")) from = v;
        else if (!strcmp(a, "-o") || !strcmp(a, "--output")) out = v;
        else if (!strcmp(a, "--model")) model = v;
        else if (!strcmp(a, "--harmonize")) { if (kn_arg_float(a, v, 0, 1, &harmonize)) return 2; }
        else if (!strcmp(a, "--threads")) { if (kn_arg_int(a, v, 1, 256, &threads)) return 2; }
        else if (kn_arg_encoding(a, v, &enc, &bad)) { if (bad) return 2; }
        else { fprintf(stderr, "kinora regenerate: unknown option '%s'\n%s", a, regenerate_usage); return 2; }
    }
    if (!from || !out) { fputs(regenerate_usage, stderr); return 2; }
    kn_error err = {0};
    kn_keyframe_set set;
    if (kn_keyframes_load(from, &set, &err)) { fprintf(stderr, "kinora regenerate: %s\n", err.msg); return 1; }
    char mbuf[PATH_MAX];
    if (!model) model = set.model;
    if (!model) model = default_model(mbuf, sizeof mbuf);
    int rc = 1;
    kn_pipeline *p = NULL;
    kn_video video = {0};
    progress_bar bar = {isatty(2) && !json, kn_now(), kn_now(), KN_STAGE_LOAD};
    set.params.progress = show_progress;
    set.params.progress_user = &bar;
    kn_interrupt stop;   /* before the pipeline's threads: Ctrl-C cancels at its next step */
    if (kn_interrupt_start(&stop)) { snprintf(err.msg, sizeof err.msg, "cannot set up the signal watcher"); goto fail; }
    set.params.cancel = &stop.raised;
    if (!model) { snprintf(err.msg, sizeof err.msg, "no model: pass --model DIR"); goto fail; }
    if (kn_pipeline_open(model, (int)threads, &p, &err)) goto fail;
    if (kn_video_writer_check(out, set.params.width, set.params.height, set.params.fps, &enc, &err)) goto fail;
    if (kn_pipeline_regenerate(p, &set.params, &set.keyframes, set.changed, (float)harmonize, &video, &err)) goto fail;
    if (kn_video_write_encoded(out, &video, &enc, &err)) goto fail;
    if (json) print_json(out, &video, kn_now() - bar.start, set.params.seed, NULL);
    rc = 0;
    goto done;
fail:
    if (!stop.raised) fprintf(stderr, "kinora regenerate: %s\n", err.msg);
done:
    kn_video_free(&video);
    kn_pipeline_close(p);
    kn_keyframe_set_free(&set);
    return kn_interrupt_finish(&stop, "kinora regenerate", out, rc);
}
