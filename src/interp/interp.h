/* src/interp: optical-flow frame interpolation (stage 2 of generation and `kinora interpolate`).
 *
 * Contract:
 * - Frames are 8-bit interleaved RGB, any size from 1x1 up (odd sizes fine), row-major.
 * - Flow is dense and bidirectional (0->1 and 1->0), estimated coarse to fine on a luma pyramid by
 *   patch inverse search on mean-normalised patches (so a global or slowly varying brightness change
 *   does not bias it), densified per pixel and refined variationally at each level.
 * - Occlusion comes from forward-backward consistency. The flow at time t is obtained by splatting
 *   both flows to time t (consistent, well-matched pixels win), holes are filled from coarser scales,
 *   both neighbours are warped backwards and blended by visibility and by distance in time. That
 *   splatted flow, no motion and the two flows read at the pixel are four hypotheses per pixel,
 *   mixed by how well each one's two warped frames agree (so a failed flow falls back softly).
 * - Whole videos (kn_interp_video, kn_interp_fill) bend each pair's motion by the acceleration its
 *   neighbouring pairs show, scaled by a gain measured on the video's own frames (0, constant
 *   velocity, where acceleration explains nothing). Where acceleration explains nothing and a pair moves markedly
 *   more than the recent ones (likely one capture tick longer, its frames' times unknown), each
 *   frame is the mean of the frames just before and after its time. Where bicubic samples rebuild
 *   the video's recent kept frames from their neighbours better than bilinear ones (sharp rather
 *   than noisy footage), the frames are sampled bicubically. Where a mean over four frames rebuilds
 *   the still parts of those kept frames better than a mean over two (independent noise), the still
 *   pixels also take the frames before and after the pair. A single pair (kn_interp_pair) moves at
 *   constant velocity, is not hedged and is sampled bilinearly.
 * - Scene cuts (the frames do not match even after motion compensation) are detected and the nearer
 *   frame is repeated instead of morphing (at the midpoint the first: the new shot starts at b).
 * - t <= 0 gives frame a exactly, t >= 1 frame b exactly.
 * - Work is split into tasks by output rows or patch rows through ctx->pool (may be NULL); every
 *   output is byte-identical for any thread count. Nothing is kept between calls.
 */
#ifndef KN_INTERP_H
#define KN_INTERP_H
#include "core/core.h"

typedef struct kn_interp_opts {
    int patch;            /* patch side for the inverse search (8) */
    int stride;           /* patch spacing, 1..patch (4) */
    int iters;            /* inverse-search iterations per patch (10) */
    int var_iters;        /* variational refinement rounds per level, 0 = none (4) */
    int min_level_size;   /* the coarsest pyramid level keeps its smaller side >= this (16) */
    int propagate;        /* nonzero: each patch also tries its four neighbours' results and searches
                             again from one that explains it clearly better (1; see flow.c) */
    int finest_level;     /* flow is estimated down to this level (0 = full resolution) and
                             upsampled from there; -1 = auto (kn_flow_finest_level) */
    int scene_cut;        /* nonzero: detect cuts and repeat the nearer frame across them (1) */
    float cut_threshold;  /* a pair is a cut when fewer than this fraction of textured blocks still
                             correlate after motion compensation (0.3) */
    int accel;            /* nonzero: whole videos follow the acceleration the neighbouring pairs show,
                             as far as the video's own frames support it (1; see accel.c) */
    int time_hedge;       /* nonzero (and accel): where the video's frames look unevenly captured, a
                             pair that moves more than its neighbours (likely one capture tick
                             longer) renders each frame as the mean of the frames just before and
                             after its time (1; see accel.c) */
    int cubic;            /* nonzero (whole videos, as accel): sample the frames bicubically where the
                             video's own kept frames are rebuilt better that way than bilinearly
                             (1; see kernel.c) */
    int pool_still;       /* nonzero (whole videos, as accel): where the video's own kept frames show
                             noise that more frames average away, still pixels also take the frames
                             before and after the pair (1; see still.c) */
    int blend_jumps;      /* nonzero (whole videos, as accel): tiles whose content changes in one step
                             between the pair's frames and stands still before and after (typing, a
                             cursor, a slide) are blended instead of moved (1; see jump.c) */
    int flow_candidates;  /* nonzero (whole videos, and propagate): each patch of a pair's flows also
                             searches from the motion of the pair before carried on at constant
                             velocity, and keeps where that ends clearly better (1; see flow.c,
                             candidate_try) */
    int fade;             /* nonzero: a pair whose brightness changes as a whole (a fade) keeps the
                             brightness of the plain blend where the render leans to one side, and
                             is not taken for a scene cut for changing in place (1; see fade.c) */
} kn_interp_opts;

void kn_interp_opts_default(kn_interp_opts *o);

/* Dense flow field: pixel (x,y) of the first frame moves to (x+u, y+v) in the second. */
typedef struct kn_flow {
    int w, h;
    float *u, *v;
} kn_flow;
void kn_flow_free(kn_flow *f);

/* Luma (BT.601 weights, 0..255) of an RGB frame into a new kn_malloc'd buffer. */
kn_status kn_interp_luma(const uint8_t *rgb, int w, int h, float **out, kn_error *err);

/* The pyramid level the flow is estimated down to for a w x h frame: o->finest_level, or where that
 * is -1, 0 below 100 px on the smaller side, 1 (half resolution) from 100 and 2 (a quarter) from 720. */
int kn_flow_finest_level(const kn_interp_opts *o, int w, int h);

/* Flow from luma image g0 to g1 (both w x h). */
kn_status kn_flow_estimate(const kn_ctx *ctx, const kn_interp_opts *o, const float *g0, const float *g1,
                           int w, int h, kn_flow *out, kn_error *err);

/* Scene-cut test on estimated flows: 1 when at least a fifth of the pixels changed in place, and
 * either the forward and backward flows f01, f10 disagree on most pixels or g1 warped by f01 no
 * longer correlates with g0 (f10 may be NULL: that test only). */
int kn_interp_is_cut(const kn_interp_opts *o, const float *g0, const float *g1, const kn_flow *f01,
                     const kn_flow *f10);

/* Renders the frame at time t in (0,1) between a and b from flows f01, f10 into out (w*h*3). */
kn_status kn_interp_render(const kn_ctx *ctx, const uint8_t *a, const uint8_t *b, int w, int h,
                           const kn_flow *f01, const kn_flow *f10, float t, uint8_t *out, kn_error *err);

/* Frames at times ts[i] (0 = a, 1 = b) between RGB frames a and b. outs[i] must each hold w*h*3
 * bytes (allocated by the caller). o may be NULL (defaults). Flows are estimated once for all ts. */
kn_status kn_interp_pair(const kn_ctx *ctx, const kn_interp_opts *o, const uint8_t *a, const uint8_t *b,
                         int w, int h, const float *ts, int nt, uint8_t **outs, kn_error *err);

/* Whole video. Exactly one of factor / out_fps is given (the other 0):
 * - factor N >= 1: output frame N*i is input frame i exactly, N-1 frames at times k/N between
 *   neighbours, nothing after the last input frame; output fps = N * input fps.
 * - out_fps F > 0: output frame k is at time k/F (input frame i is at i/in->fps), for every k with
 *   k/F <= (nframes-1)/in->fps; it is sampled between the two neighbouring input frames (an input
 *   frame exactly when the times coincide). Needs in->fps > 0.
 * Keyframe indices of the input are mapped to the output frames that reproduce them exactly (frames
 * without such a frame are dropped from the list). out is allocated here; free with kn_video_free. */
kn_status kn_interp_video(const kn_ctx *ctx, const kn_interp_opts *o, const kn_video *in, int factor,
                          double out_fps, kn_video *out, kn_error *err);

/* The number of frames kn_interp_video makes from n input frames at in_fps (factor or out_fps as
 * there); 0 when the arguments are invalid. */
long long kn_interp_video_frames(int n, double in_fps, int factor, double out_fps);

/* kn_interp_video with each output frame handed to sink in order (k = 0, 1, ...; rgb valid during the
 * call only) instead of kept, so the output takes memory for kn_interp_video_between frames, not all
 * of them. The frames are byte for byte kn_interp_video's. A sink that fails stops the run with its
 * status. */
typedef kn_frame_sink kn_interp_sink;   /* the public kn_frame_sink (kinora.h) */
kn_status kn_interp_video_to(const kn_ctx *ctx, const kn_interp_opts *o, const kn_video *in, int factor,
                             double out_fps, kn_interp_sink sink, void *user, kn_error *err);
/* Pulls the next input frame into rgb (width * height * 3 bytes); *got = 0 when there is none. *time
 * (NAN on entry) may be set to the frame's presentation time in seconds, from any origin. The public
 * kn_frame_source (kinora.h). */
typedef kn_frame_source kn_interp_source;
/* The clock frames with presentation times run on: kn_interp_stream's, and that of a caller who times
 * output frames as it does. Returns time + *shift, except that a frame without a time (NAN) comes step
 * seconds after the frame before (placed at prev), and a time step or more before prev starts the
 * clock again step after it (files joined, a capture clock reset), which raises *shift (0 at first). */
double kn_frame_clock(double time, double prev, double step, double *shift);

/* The longest time between two input frames that an output rate fills with frames (kn_interp_stream):
 * an hour, 216 000 frames at 60 fps. Beyond it the timestamps are taken for broken. */
#define KN_INTERP_MAX_GAP 3600.0

/* kn_interp_video_to on frames pulled from source one at a time (width x height, in_fps: 0 when
 * unknown, then only a factor), so neither the input nor the output need be in memory: the engine
 * holds a ring of 8 input frames and the output frames of one pair, whatever the video's length.
 * The frames are byte for byte kn_interp_video_to's on the same frames when the source gives no
 * times, or times i / in_fps. With out_fps, times place the frames (variable frame rate: a phone's
 * or a screen recording's capture, a GIF's delays): output frame k is at k / out_fps after frame 0's
 * time, between the two input frames around it; a frame without a time comes 1 / in_fps after the
 * one before, a time a frame or more back starts the timeline again one frame after the frame before
 * (a discontinuity), a frame whose time is otherwise not after the one before's is dropped
 * (*dropped counts them when not NULL), and one more than KN_INTERP_MAX_GAP after the frame before
 * fails (KN_EFORMAT, naming the frame). Acceleration and the kernel's measurement are used only
 * where the frames around a pair are evenly spaced. A factor ignores the times. A source that fails
 * stops the run with its status; a source with no frame is an error. */
kn_status kn_interp_stream(const kn_ctx *ctx, const kn_interp_opts *o, int width, int height, double in_fps,
                           kn_interp_source source, void *source_user, int factor, double out_fps,
                           kn_interp_sink sink, void *user, long long *dropped, kn_error *err);
/* The most output frames between two input frames (factor, or out_fps / in_fps rounded up, plus 2). */
int kn_interp_video_between(double in_fps, int factor, double out_fps);

/* Called before each pair is rendered with (its first frame, pairs in all); nonzero cancels. */
typedef int (*kn_interp_progress)(void *user, int pair, int npairs);

/* Whole video with its frames placed at given output frames (keyframes spread over a clip): input
 * frame i becomes output frame pos[i] exactly (pos[0] == 0, strictly increasing, the last one
 * out->nframes - 1) and the frames strictly between pos[i] and pos[i+1] are rendered at equal steps
 * of time, by the same engine as kn_interp_video (acceleration, time hedge and kernel choice
 * included). out is allocated by the caller at in's size; only its frames are written. progress
 * may be NULL; when it returns nonzero the fill stops with KN_ECANCELLED. */
kn_status kn_interp_fill(const kn_ctx *ctx, const kn_interp_opts *o, const kn_video *in, const int *pos,
                         kn_video *out, kn_interp_progress progress, void *user, kn_error *err);

/* ---- quality metrics (eval-interp) ---- */
/* PSNR over all RGB samples, 8-bit peak; identical frames give +INFINITY. */
double kn_psnr_rgb(const uint8_t *a, const uint8_t *b, int w, int h);
/* Mean SSIM on BT.601 luma with an 11x11 Gaussian window (sigma 1.5), K1 = 0.01, K2 = 0.03, L = 255,
 * over window positions fully inside the frame (whole frame as one window when smaller than 11). */
double kn_ssim_luma(const uint8_t *a, const uint8_t *b, int w, int h);

#endif
