/* src/train/dataset.h: the synthetic captioned-clip data set (Noto Color Emoji sprites moving over
 * procedural backgrounds) and the sprite renderer the evaluator shares with it.
 * Contract:
 *  - Clip `index` of seed `seed` depends only on (seed, index, size, frames): generation is split by
 *    clip, so the output is byte-identical for any thread count.
 *  - Sprites are the colour bitmaps of NotoColorEmoji.ttf at its bitmap strike (FreeType,
 *    FT_LOAD_COLOR), kept as premultiplied RGBA floats padded to a square, and shrunk by exact area
 *    averaging. Objects are named as in emoji-test.txt ("fully-qualified", single code point).
 *  - A clip is held out when any of its (object, motion, background) triples is in the fixed
 *    held-out set (a hash of the triple, the same for every seed), so held-out clips show
 *    combinations never seen in training while every object, motion and background still is.
 *  - Layout written by kn_dataset_write (see docs/training.md): OUT/clips/NNNNNN/frames.u8 holds
 *    frames x size x size x 3 bytes (RGB, frame-major, rows top-down); with png != 0 also
 *    OUT/clips/NNNNNN/NN.png. OUT/captions.jsonl (all clips, in index order), OUT/train.jsonl,
 *    OUT/heldout.jsonl and OUT/dataset.json (options, object/motion/background lists, held-out
 *    triples). */
#ifndef KN_DATASET_H
#define KN_DATASET_H
#include <stdio.h>
#include "core/core.h"

#define KN_DS_NOBJECTS 24
#define KN_DS_MAXOBJ 2

typedef enum kn_motion {
    KN_MOT_LEFT, KN_MOT_RIGHT, KN_MOT_UP, KN_MOT_DOWN, KN_MOT_UP_LEFT, KN_MOT_UP_RIGHT, KN_MOT_DOWN_LEFT,
    KN_MOT_DOWN_RIGHT, KN_MOT_BOUNCING, KN_MOT_FALLING, KN_MOT_SPINNING, KN_MOT_GROWING, KN_MOT_SHRINKING,
    KN_MOT_COUNT
} kn_motion;

typedef enum kn_background {
    KN_BG_PLAIN, KN_BG_GRADIENT, KN_BG_SKY, KN_BG_NIGHT, KN_BG_GRASS, KN_BG_CHECKERED, KN_BG_COUNT
} kn_background;

const char *kn_ds_object_name(int obj);        /* emoji-test name, e.g. "red apple" */
const char *kn_ds_motion_name(int motion);     /* "left", "up-right", "bouncing", ... */
const char *kn_ds_motion_phrase(int motion);   /* "moving left", "moving diagonally up and to the right" */
const char *kn_ds_background_name(int bg);     /* "plain", "gradient", "sky", ... */
int kn_ds_object_index(const char *name);      /* -1 if unknown */
int kn_ds_motion_index(const char *name);
int kn_ds_background_index(const char *name);
int kn_ds_is_heldout(int obj, int motion, int bg);
/* The motion a clip shows when played backwards, or -1 where the vocabulary has none (bouncing,
 * falling). */
int kn_ds_motion_reversed(int motion);
/* The caption of a clip played backwards: each of the n motion phrases (in caption order) replaced
 * by its reversed phrase, the rest kept. -1 when a motion has no reverse, a phrase is missing or
 * out (cap bytes) is too small; out then holds nothing useful. */
int kn_ds_caption_reversed(const char *caption, const int *motions, int n, char *out, size_t cap);

/* ---- sprites ---- */
typedef struct kn_sprite {
    uint32_t codepoint;
    int size;                     /* square side of the padded strike bitmap */
    float *rgba;                  /* size*size*4, premultiplied, [0,1] */
} kn_sprite;

typedef struct kn_sprite_set {
    kn_sprite s[KN_DS_NOBJECTS];
} kn_sprite_set;

/* Paths NULL: the Debian locations. Errors name the file and the missing emoji. */
kn_status kn_sprites_load(const char *font_path, const char *emoji_test_path, kn_sprite_set *set, kn_error *err);
void kn_sprites_free(kn_sprite_set *set);
/* Area-averaged side x side premultiplied RGBA copy of a sprite (out: side*side*4 floats). */
kn_status kn_sprite_scale(const kn_sprite *sp, int side, float *out, kn_error *err);

/* ---- clips ---- */
typedef struct kn_clip_spec {
    int nobj;
    int obj[KN_DS_MAXOBJ], motion[KN_DS_MAXOBJ];
    int bg, bg_colour, bg_colour2;
    float x0[KN_DS_MAXOBJ], y0[KN_DS_MAXOBJ], x1[KN_DS_MAXOBJ], y1[KN_DS_MAXOBJ];   /* fractions of the frame */
    float spin_dir[KN_DS_MAXOBJ];
    uint64_t bg_seed;
    int heldout;
} kn_clip_spec;

/* Base sprite side for a frame size: the scale the evaluator searches around. */
int kn_ds_sprite_side(int size);
kn_clip_spec kn_ds_clip_spec(uint64_t seed, uint64_t index);
/* Object centre (pixels), scale factor on the base side and rotation (radians) at frame f. */
void kn_ds_object_pose(const kn_clip_spec *c, int k, int f, int frames, int size, float *cx, float *cy,
                       float *scale, float *angle);
void kn_ds_caption(const kn_clip_spec *c, char *buf, size_t cap);
/* frames*size*size*3 bytes of RGB. */
kn_status kn_ds_render(const kn_sprite_set *set, const kn_clip_spec *c, int size, int frames, uint8_t *out,
                       kn_error *err);

typedef struct kn_dataset_opts {
    const char *out_dir;
    int clips, size, frames;
    uint64_t seed;
    int png;                      /* also write one PNG per frame */
    int threads;
    const char *font_path, *emoji_test_path;   /* NULL: Debian defaults */
} kn_dataset_opts;

typedef struct kn_dataset_stats {
    int train, heldout;
    double seconds;
} kn_dataset_stats;

kn_status kn_dataset_write(const kn_dataset_opts *o, kn_dataset_stats *stats, kn_error *err);

/* ---- reading a written data set (the trainer's loader) ---- */
/* Approved clips (fine-tuning on feedback): DIR/approved.jsonl lines {"video": FILE, "caption": TEXT}
 * with optional "size" and "num_frames" (defaults below: the default model's keyframe geometry). */
#define KN_APPROVED_SIZE 64
#define KN_APPROVED_FRAMES 8
typedef struct kn_clipset {
    char *dir;
    int videos;                   /* 1: approved.jsonl of video files, 0: kinora dataset layout */
    int n, size, frames;
    char **captions;              /* n captions */
    char **paths;                 /* n frames.u8 paths relative to dir */
    char **reversed;              /* n captions of the clip played backwards; NULL entries where its
                                   * motions have no reverse, where a reversed (object, motion,
                                   * background) triple is held out, or where the line does not list
                                   * objects, motions and background (approved clips) */
    unsigned *motions;            /* n bit sets: bit m set when the line lists motion m (kn_motion);
                                   * 0 where it lists none (approved clips) */
} kn_clipset;

/* Reads DIR/captions.jsonl keeping the clips of `split` ("train", "heldout"; NULL: all), or, when that
 * is absent, DIR/approved.jsonl (every approved clip is "train"). */
kn_status kn_clipset_open(const char *dir, const char *split, kn_clipset *cs, kn_error *err);
void kn_clipset_close(kn_clipset *cs);
/* Clip i as floats in [-1, 1], laid out [frames][3][size][size] (planar, what a VAE takes). */
kn_status kn_clipset_read(const kn_clipset *cs, int i, float *out, kn_error *err);
/* The data order of an epoch: a permutation of [0, n) from (seed, epoch), Fisher-Yates on Philox. */
void kn_clipset_order(int n, uint64_t seed, uint64_t epoch, int *perm);

#endif
