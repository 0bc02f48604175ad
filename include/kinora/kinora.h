/* Kinora public API. Everything a program needs to generate, interpolate and check videos.
 * Conventions: every call returns kn_status (KN_OK == 0) and, on failure, writes a message into the
 * caller-owned kn_error. No global state: thread counts and handles are passed explicitly. */
#ifndef KINORA_H
#define KINORA_H
#include <stddef.h>
#include <stdint.h>
#ifdef __cplusplus
extern "C" {
#endif

#define KN_VERSION "0.1.0"

typedef enum kn_status {
    KN_OK = 0,
    KN_EINVAL = 1,      /* bad argument or request */
    KN_EIO = 2,         /* file could not be read or written */
    KN_EFORMAT = 3,     /* a file is malformed (names the file and the field or tensor) */
    KN_ENOMEM = 4,      /* allocation failed */
    KN_EUNSUPPORTED = 5,/* a config asks for something Kinora does not implement */
    KN_ECANCELLED = 6,  /* the caller's cancel flag was raised */
    KN_EINTERNAL = 7
} kn_status;

typedef struct kn_error {
    kn_status code;
    char msg[1024];
} kn_error;

const char *kn_status_name(kn_status s);

/* ---- Generation (text-to-video, image-to-video) ---- */
typedef struct kn_pipeline kn_pipeline;

typedef enum kn_stage { KN_STAGE_LOAD, KN_STAGE_ENCODE, KN_STAGE_DENOISE, KN_STAGE_DECODE,
                        KN_STAGE_INTERPOLATE, KN_STAGE_WRITE } kn_stage;
const char *kn_stage_name(kn_stage s);

/* Called from the generating thread; return nonzero to cancel. */
typedef int (*kn_progress_fn)(void *user, kn_stage stage, int step, int total);

typedef struct kn_image {          /* 8-bit interleaved RGB, row-major */
    int width, height;
    uint8_t *rgb;                  /* width*height*3 bytes */
} kn_image;

typedef struct kn_generate_params {
    const char *prompt;
    const char *negative_prompt;   /* NULL = "" */
    uint64_t seed;
    int steps;                     /* denoising steps */
    float guidance;                /* classifier-free guidance scale; <= 1 disables CFG */
    float motion_guidance;         /* >= 0: also steer away from the prompt with its motion words reversed
                                      (left/right, up/down, growing/shrinking), at this scale; 0 = off,
                                      and off for prompts that name no such motion */
    const char *sampler;           /* NULL = the model's scheduler_config.json; or ddim, ddpm, euler,
                                      euler_a, dpmpp_2m, dpmpp_2m_karras, lcm */
    int keyframes;                 /* latent frames denoised together */
    int frames;                    /* output frames after interpolation (>= keyframes) */
    float fps;
    int width, height;             /* multiples of 8 */
    const kn_image *image;         /* optional: first keyframe follows this image */
    const kn_image *end_image;     /* optional: last keyframe follows this image */
    float image_strength;          /* 0..1: the image keyframes are pinned to the images for this
                                      fraction of the denoising steps (1 = exactly the image's latent) */
    kn_progress_fn progress;
    void *progress_user;
    const volatile int *cancel;    /* optional: nonzero cancels at the next check */
} kn_generate_params;

void kn_generate_params_default(kn_generate_params *p);

typedef struct kn_video {           /* frames of 8-bit RGB, all the same size */
    int width, height, nframes;
    float fps;
    uint8_t *rgb;                   /* nframes * height * width * 3 */
    int nkeyframes;
    int *keyframe_index;            /* output frame index of each keyframe */
} kn_video;
void kn_video_free(kn_video *v);

/* model_dir: a diffusers-layout pipeline folder (tokenizer/, text_encoder/, unet/, optional
 * motion_adapter/, vae/, scheduler/; model_index.json optional). threads: compute threads. */
kn_status kn_pipeline_open(const char *model_dir, int threads, kn_pipeline **out, kn_error *err);
void kn_pipeline_close(kn_pipeline *p);
/* Sets g's guidance and motion_guidance to the model's recommended values: those in the folder's
 * generation_defaults.json ({"guidance": G, "motion_guidance": M, "sampler": NAME}, all optional)
 * when it has one, else kn_generate_params_default's. The sampler is set the same way only where
 * g->sampler is NULL (a sampler has an "unset" value, the guidance scales have not), and then points
 * into p, valid while p is open; it stays NULL (the folder's scheduler config) when the file names
 * none. Call it after kn_generate_params_default (and after setting the caller's sampler, if any),
 * before applying the caller's own guidance. */
void kn_pipeline_defaults(const kn_pipeline *p, kn_generate_params *g);
/* Generates keyframes (kf, caller frees with kn_video_free; may be NULL) and the final video. */
kn_status kn_pipeline_generate(kn_pipeline *p, const kn_generate_params *params,
                               kn_video *keyframes, kn_video *video, kn_error *err);

/* Keyframe correction: rebuilds the video from keyframes (e.g. after a person replaced some).
 * fixed[k] != 0 marks keyframes to keep exactly (the corrected ones). harmonize == 0: stage 2 only.
 * harmonize in (0, 1]: the other keyframes are re-noised to that fraction of the schedule and
 * denoised again with the fixed ones pinned, so they move toward the corrected frames; params gives
 * prompt, seed, steps, guidance, sampler, frames and fps as at generation. */
kn_status kn_pipeline_regenerate(kn_pipeline *p, const kn_generate_params *params, const kn_video *keyframes,
                                 const int *fixed, float harmonize, kn_video *video, kn_error *err);

/* Keyframe folders (`kinora generate --keyframes-out DIR`, the service's keyframe review): DIR holds
 * 00000.png ... (one per keyframe) and settings.json with the generation settings and a hash of each
 * keyframe as written, so that a reload can tell which keyframes a person replaced. */
typedef struct kn_keyframe_set {
    kn_generate_params params;     /* prompt etc. point into the strings below */
    char *prompt, *negative_prompt, *sampler, *model;
    kn_video keyframes;            /* the images now in the folder (resized to the settings' size) */
    int *changed;                  /* [nframes]: 1 where the image differs from what was generated */
} kn_keyframe_set;
kn_status kn_keyframes_save(const char *dir, const kn_generate_params *params, const char *model,
                            const kn_video *keyframes, kn_error *err);
kn_status kn_keyframes_load(const char *dir, kn_keyframe_set *set, kn_error *err);
void kn_keyframe_set_free(kn_keyframe_set *set);

/* How a video file that FFmpeg writes is encoded (GIF, .y4m and PNG frames take neither field).
 * codec: NULL or "" for the format's own: H.264 in .mp4 .m4v .mkv .mov, VP9 in .webm, FFmpeg's
 *   default for other extensions. Else one of "h264" (or "avc"), "h265" (or "hevc"), "vp9", "av1",
 *   "ffv1" (lossless RGB) and "prores" (ProRes 422 HQ, 10-bit 4:2:2), where the container holds it
 *   (.mkv holds them all; .mp4 all but FFV1 and ProRes; .mov all but FFV1; .webm VP9 and AV1).
 * crf: < 0 for the codec's default (H.264 18, H.265 20, VP9 30, AV1 30), else its constant-quality
 *   level, lower meaning better and larger: 0..51 for H.264 (0 lossless) and H.265, 0..63 for VP9
 *   and AV1. FFV1 and ProRes take none. */
typedef struct kn_video_encoding {
    const char *codec;
    int crf;
} kn_video_encoding;

/* ---- Frame interpolation (stage 2 on its own, for any video) ----
 * Optical flow both ways, occlusion from their consistency, both neighbours warped to the new frame's
 * time and blended (docs/interpolation.md). Three ways in, the same frames out: a video in memory, a
 * stream of frames through callbacks (neither the input nor the output need fit in memory), and a
 * file or PNG folder to another, as `kinora interpolate` does. */
typedef struct kn_interpolate_params {
    int factor;          /* N >= 1: frame N*i is input frame i and N - 1 frames lie between neighbours */
    double fps;          /* > 0 instead of a factor: frames at k / fps from the first input frame, the
                            input's frames at their own times (a variable frame rate keeps its timing) */
    double input_fps;    /* > 0: the input's frames are taken as evenly spaced at this rate, whatever
                            their timestamps (a PNG folder has none); 0: the input's own rate and times */
    int threads;         /* compute threads, 1 to 256 (1) */
    int deinterlace;     /* files: an interlaced video becomes a frame per field, each at its own time (1) */
    int audio;           /* files: the input's sound is kept, copied or re-encoded for OUT's format (1) */
    int subtitles;       /* files: its subtitles, their fonts and its chapters are kept where OUT holds them (1) */
    int transparency;    /* files: where IN has transparency and OUT can hold it (a PNG folder, a GIF, .webm,
                            .webp, .apng, ProRes or FFV1), OUT keeps it: the alpha is interpolated as a
                            video of its own, which about doubles the time (1) */
    kn_video_encoding encoding;   /* files: OUT's codec and crf ({NULL, -1}: its format's own) */
    double max_memory;   /* files: bytes the job may hold; more is refused before it starts (and a GIF,
                            which keeps every frame, stops once it would need more); 0 = the memory
                            available (0) */
    const char *in_name, *out_name;   /* files: how messages name IN and OUT (NULL: by their paths) */
    kn_progress_fn progress;   /* optional: (user, KN_STAGE_INTERPOLATE, frames made, frames expected
                                  or 0 when the input does not say); nonzero cancels. Where a file's
                                  alpha is interpolated, the count runs twice: the alpha's, then the
                                  colour's */
    void *progress_user;
    void (*note)(void *user, const char *text);   /* optional: what is worth telling (interlacing found,
                                                     sound re-encoded, frames dropped), one line each */
    void *note_user;
    const volatile int *cancel;   /* optional: nonzero cancels (KN_ECANCELLED) at the next frame */
} kn_interpolate_params;
/* factor 2, one thread, files keeping sound, subtitles, transparency and deinterlacing, OUT's own codec; no
 * callbacks. */
void kn_interpolate_params_default(kn_interpolate_params *p);

typedef struct kn_interpolate_result {
    int width, height;
    long long frames_in, frames_out;
    long long dropped;    /* input frames left out: each had a timestamp not after the frame before's */
    double fps_in, fps_out;
} kn_interpolate_result;

/* The frames of in (its fps, or p->input_fps, needed for p->fps) into out (allocated here; free with
 * kn_video_free). Keyframe indices are not carried over. */
kn_status kn_interpolate(const kn_video *in, const kn_interpolate_params *p, kn_video *out, kn_error *err);

/* A frame source: the next input frame into rgb (width * height * 3 bytes), *got = 0 after the last;
 * *time (NAN on entry) may be set to its presentation time in seconds, from any origin. */
typedef kn_status (*kn_frame_source)(void *user, uint8_t *rgb, double *time, int *got, kn_error *err);
/* A frame sink: output frame k (0, 1, ... in order); rgb is valid during the call only. */
typedef kn_status (*kn_frame_sink)(void *user, long long k, const uint8_t *rgb, kn_error *err);
/* Frames pulled from source one at a time (width x height, at fps: 0 when unknown, then only a
 * factor) and handed to sink as they are made: the engine holds a few input frames and one pair's
 * output, whatever the length. A source or sink that fails stops the run with its status. res may
 * be NULL. */
kn_status kn_interpolate_stream(int width, int height, double fps, kn_frame_source source, void *source_user,
                                kn_frame_sink sink, void *sink_user, const kn_interpolate_params *p,
                                kn_interpolate_result *res, kn_error *err);

/* A video FFmpeg reads, or a folder of PNG frames 00000.png ..., into a video whose format OUT's
 * extension names, or a folder of PNG frames (a path ending in '/' or an existing empty folder),
 * keeping what p asks for of the input's sound, subtitles and tags. OUT appears whole or not at all:
 * an error or a cancel leaves nothing behind. OUT may not be IN. res may be NULL. */
kn_status kn_interpolate_file(const char *in, const char *out, const kn_interpolate_params *p,
                              kn_interpolate_result *res, kn_error *err);

/* Writes a video by OUT's extension: .mp4 (H.264 yuv420p), .webm (VP9), .gif, .y4m, or a folder of
 * PNG frames (path ending in '/' or an existing directory). Atomic: temp name, then rename. */
kn_status kn_video_write(const char *path, const kn_video *v, kn_error *err);
/* The same, encoded as e asks (NULL: as kn_video_write). A codec or crf the format cannot take fails
 * with KN_EINVAL or KN_EUNSUPPORTED, naming it, before anything is written. */
kn_status kn_video_write_encoded(const char *path, const kn_video *v, const kn_video_encoding *e, kn_error *err);
kn_status kn_video_read(const char *path, kn_video *v, kn_error *err);

#ifdef __cplusplus
}
#endif
#endif
