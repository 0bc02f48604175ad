/* src/eval: scoring generated clips against their prompts without a learned judge.
 * Contract:
 *  - Object identity: each object's emoji sprite, rendered with the data set's own sprite code at
 *    eight scales and its colours blurred by one 3x3 binomial pass inside its opaque pixels (a
 *    decoded or generated object has lost the sprite's finest detail, and sharp templates then lost
 *    to plain look-alikes), is matched against the frame over its opaque pixels; the score is the
 *    normalised cross-correlation (one mean over all colour channels, so colour counts) less 1.5 x
 *    the mean absolute colour difference, plus a silhouette term (KN_EVAL_RING_WEIGHT x how far the
 *    ring of pixels just outside the template's silhouette is from the colour inside it), so that
 *    neither a plain template on a background of its colour nor a small one inside a larger object
 *    wins. An object's score is its best over positions (a stride-2 grid, then refined), scales and
 *    three frames (first, middle, last); for a two-object caption the second pick ignores hits on
 *    top of the first object.
 *  - Motion: the prompted object is tracked frame to frame by the same score (global search in the
 *    first frame, then a window around the previous position, at every scale: a growing object must
 *    be able to leave a template that still fits inside it); the track is
 *    classified into one of KN_MC_COUNT classes (8 directions, bounce, grow, shrink, still) and
 *    compared with the class the prompt's motion implies (falling counts as down, spinning as still).
 *  - Flicker: mean absolute difference of consecutive frames in 8-bit units (no motion compensation).
 *  - All results are independent of the thread count (work split by clip, sums in clip order). */
#ifndef KN_EVAL_H
#define KN_EVAL_H
#include <stdio.h>
#include "core/core.h"
#include "train/dataset.h"

enum { KN_EVAL_NSCALES = 8 };
#define KN_EVAL_RING_WEIGHT 0.5f
#define KN_EVAL_TEMPLATE_BLUR 1   /* binomial passes over a template's colours */

typedef struct kn_eval_tmpl {
    int side;                 /* template side in frame pixels */
    int npix;                 /* pixels under the mask */
    int nruns;                /* horizontal runs of mask pixels */
    int *run_off, *run_len;   /* float offset of each run in a frame of side `size`, its length in floats */
    float *val;               /* npix*3 centred colour values */
    float *raw;               /* npix*3 colour values as drawn */
    float norm;               /* L2 norm of val */
    int nring;                /* background ring: pixels outside the silhouette, at most 15% of the
                               * side (1 px at least) from it */
    int *ring_dx, *ring_dy;   /* their offsets from the template's top-left corner */
} kn_eval_tmpl;

typedef struct kn_eval_templates {
    int size;                                  /* full frame size the templates are for */
    float scales[KN_EVAL_NSCALES];             /* factors on kn_ds_sprite_side(size) */
    kn_eval_tmpl t[KN_DS_NOBJECTS][KN_EVAL_NSCALES];
} kn_eval_templates;

kn_status kn_eval_templates_build(const kn_sprite_set *set, int size, kn_eval_templates *T, kn_error *err);
void kn_eval_templates_free(kn_eval_templates *T);

typedef enum kn_motion_class {
    KN_MC_LEFT, KN_MC_RIGHT, KN_MC_UP, KN_MC_DOWN, KN_MC_UP_LEFT, KN_MC_UP_RIGHT, KN_MC_DOWN_LEFT,
    KN_MC_DOWN_RIGHT, KN_MC_BOUNCE, KN_MC_GROW, KN_MC_SHRINK, KN_MC_STILL, KN_MC_COUNT
} kn_motion_class;
const char *kn_eval_class_name(int c);
int kn_eval_expected_class(int motion);

/* Float copy of an 8-bit frame in [0,1] (size*size*3 floats), what the matchers read. */
void kn_eval_frame_f32(const uint8_t *rgb, int size, float *out);
/* Best match of every object in the first, middle and last frame: score, centre (pixels), side. */
enum { KN_EVAL_NPICK = 3 };
typedef struct kn_eval_hit { float score, x, y, side; } kn_eval_hit;
kn_status kn_eval_object_hits(const kn_eval_templates *T, const uint8_t *frames, int nframes,
                              kn_eval_hit hits[KN_EVAL_NPICK][KN_DS_NOBJECTS], kn_error *err);
/* The k objects the clip shows: greedily the best score over the three frames, where a frame's hit
 * does not count when it sits on an object already chosen (centres closer than 0.35 x the summed
 * sides), so one object cannot be claimed twice by look-alike templates. */
void kn_eval_pick_objects(const kn_eval_hit hits[KN_EVAL_NPICK][KN_DS_NOBJECTS], int k, int *out);
/* Track obj through all frames: centres (pixels), scale factors and match scores per frame. */
kn_status kn_eval_track(const kn_eval_templates *T, int obj, const uint8_t *frames, int nframes, float *xs,
                        float *ys, float *scales, float *scores, kn_error *err);
/* The tracked scale of the last third of the frames over that of the first third (one frame each
 * below 6 frames): > 1 growing, < 1 shrinking. */
float kn_eval_growth(const float *scales, int n);
int kn_eval_classify(const float *xs, const float *ys, const float *scales, int n, int size);
double kn_eval_flicker(const uint8_t *frames, int nframes, int size);

typedef struct kn_eval_report {
    int clips, clips_single, clips_pair;
    int obj_correct, obj_correct_single, obj_correct_pair;
    int motion_total, motion_correct;
    int confusion[KN_MC_COUNT][KN_MC_COUNT];   /* [expected][predicted] */
    double flicker_mean;
    double chance_obj_single, chance_obj_pair, chance_motion, majority_motion;
    double seconds;
    float guidance, motion_guidance;           /* generated clips: the settings used */
    char sampler[40];                          /* and the sampler ("" = the model's scheduler config) */
} kn_eval_report;

/* Scores the data set's own clips (ground truth) from captions.jsonl: split "train", "heldout" or
 * NULL for all; at most max_clips (<= 0: all). vae_dir (an AutoencoderKL folder) or NULL: when given,
 * each clip is scored after encoding it (posterior mean) and decoding it again, which bounds what a
 * generator decoding through that autoencoder can score. Prints one line per clip to log when not
 * NULL. */
kn_status kn_eval_truth(const char *dataset_dir, const char *split, int max_clips, int threads,
                        const char *vae_dir, FILE *log, kn_eval_report *rep, kn_error *err);
void kn_eval_print(const kn_eval_report *rep, FILE *f);

/* Generates the keyframes of the data set's captions with a model and scores them as above: clip i
 * of the split uses seed + i, the data set's frame size and `keyframes` frames (no interpolation: the keyframes are
 * what the model made). With grid_path, the first 8 clips' keyframes go to a PNG grid and their
 * captions to grid_path.txt. */
typedef struct kn_eval_gen_opts {
    const char *model_dir, *dataset_dir, *split;
    int max_clips, steps, keyframes, threads;
    float guidance;               /* < 0: the model's recommended value (kn_pipeline_defaults) */
    uint64_t seed;
    const char *grid_path;
    int verbose_progress;
    float motion_guidance;        /* kn_generate_params.motion_guidance; < 0 as guidance */
    const char *clips_out;        /* NULL, or a folder that receives the generated keyframes as a data
                                   * set (captions.jsonl + clips/NNNNNN/frames.u8) that
                                   * kn_eval_truth scores again without generating */
    int skip_clips;               /* the split's first skip_clips clips are passed over; clip i of the
                                   * split still uses seed + i, so a skipped run repeats a longer one's
                                   * clips exactly (a validation slice disjoint from the reported one) */
    const char *sampler;          /* kn_generate_params.sampler: NULL = the model's scheduler */
} kn_eval_gen_opts;
kn_status kn_eval_generated(const kn_eval_gen_opts *o, FILE *log, kn_eval_report *rep, kn_error *err);

#endif
