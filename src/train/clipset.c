/* The trainer's view of a written data set: captions, clip frames as floats, epoch order. */
#include "train/dataset.h"
#include <jansson.h>
#include <stdlib.h>
#include "io/io.h"
#include "models/models.h"
#include "kinora/kinora.h"

void kn_clipset_close(kn_clipset *cs) {
    for (int i = 0; i < cs->n; i++) { free(cs->captions[i]); free(cs->paths[i]); free(cs->reversed[i]); }
    free(cs->captions);
    free(cs->paths);
    free(cs->reversed);
    free(cs->motions);
    free(cs->dir);
    memset(cs, 0, sizeof *cs);
}

/* The caption of the clip played backwards, from the line's "objects", "motions" and "background"
 * (kinora dataset clips); rev[0] stays 0 and -1 is returned when there is none. Why the held-out
 * check: a training clip played backwards must not show a combination the evaluation holds out. */
static int reversed_caption(const json_t *line, const char *caption, char *rev, size_t cap) {
    const json_t *objects = json_object_get(line, "objects"), *motions = json_object_get(line, "motions");
    const char *bg_name = json_string_value(json_object_get(line, "background"));
    int m[KN_DS_MAXOBJ], bg = bg_name ? kn_ds_background_index(bg_name) : -1;
    size_t n = json_array_size(motions);
    rev[0] = 0;
    if (!json_is_array(motions) || n < 1 || n > KN_DS_MAXOBJ || json_array_size(objects) != n || bg < 0) return -1;
    for (size_t k = 0; k < n; k++) {
        const char *name = json_string_value(json_array_get(motions, k));
        const char *obj = json_string_value(json_array_get(objects, k));
        int o = obj ? kn_ds_object_index(obj) : -1;
        if (!name || (m[k] = kn_ds_motion_index(name)) < 0 || o < 0) return -1;
        int r = kn_ds_motion_reversed(m[k]);
        if (r < 0 || kn_ds_is_heldout(o, r, bg)) return -1;
    }
    if (kn_ds_caption_reversed(caption, m, (int)n, rev, cap)) { rev[0] = 0; return -1; }
    return 0;
}

/* The bit set of the motions a line lists (kn_motion bits); unknown names are left out. */
static unsigned motion_set(const json_t *motions) {
    unsigned set = 0;
    for (size_t k = 0; k < json_array_size(motions); k++) {
        const char *name = json_string_value(json_array_get(motions, k));
        int m = name ? kn_ds_motion_index(name) : -1;
        if (m >= 0) set |= 1u << m;
    }
    return set;
}

static kn_status add_line(kn_clipset *cs, int *cap, const char *path, int lineno, const char *line, const char *split,
                          kn_error *err) {
    json_error_t je;
    json_t *j = json_loads(line, 0, &je);
    if (!j) return kn_fail(err, KN_EFORMAT, "%s:%d: %s", path, lineno, je.text);
    const char *cap_s = json_string_value(json_object_get(j, "caption"));
    const char *fr = json_string_value(json_object_get(j, "frames"));
    const char *sp = json_string_value(json_object_get(j, "split"));
    json_t *sz = json_object_get(j, "size"), *nf = json_object_get(j, "num_frames");
    kn_status st = KN_OK;
    if (cs->videos) {   /* approved clips: a video file and its caption; the split is "train" */
        fr = json_string_value(json_object_get(j, "video"));
        sp = sp ? sp : "train";
        if (!cap_s || !fr) { st = kn_fail(err, KN_EFORMAT, "%s:%d: needs \"video\" and \"caption\"", path, lineno); goto done; }
    } else if (!cap_s || !fr || !sp || !json_is_integer(sz) || !json_is_integer(nf)) {
        st = kn_fail(err, KN_EFORMAT, "%s:%d: needs caption, frames, split, size, num_frames", path, lineno);
        goto done;
    }
    if (split && strcmp(split, sp)) goto done;
    int size = sz ? (int)json_integer_value(sz) : KN_APPROVED_SIZE, frames = nf ? (int)json_integer_value(nf) : KN_APPROVED_FRAMES;
    if (size < 16 || size > 1024 || frames < 2 || frames > 256 || (cs->n && (size != cs->size || frames != cs->frames))) {
        st = kn_fail(err, KN_EFORMAT, "%s:%d: size %d / num_frames %d out of range or unlike the other clips", path, lineno, size, frames);
        goto done;
    }
    cs->size = size;
    cs->frames = frames;
    if (cs->n == *cap) {
        int nc = *cap ? *cap * 2 : 256;
        char **a = realloc(cs->captions, (size_t)nc * sizeof *a);
        if (a) cs->captions = a;
        char **b = a ? realloc(cs->paths, (size_t)nc * sizeof *b) : NULL;
        if (b) cs->paths = b;
        char **r = b ? realloc(cs->reversed, (size_t)nc * sizeof *r) : NULL;
        if (r) cs->reversed = r;
        unsigned *mm = r ? realloc(cs->motions, (size_t)nc * sizeof *mm) : NULL;
        if (mm) cs->motions = mm;
        if (!a || !b || !r || !mm) { st = kn_fail(err, KN_ENOMEM, "%s: out of memory", path); goto done; }
        *cap = nc;
    }
    cs->captions[cs->n] = kn_strdup(cap_s);
    cs->paths[cs->n] = kn_strdup(fr);
    cs->reversed[cs->n] = NULL;
    cs->motions[cs->n] = motion_set(json_object_get(j, "motions"));
    char rev[1024];
    if (reversed_caption(j, cap_s, rev, sizeof rev) == 0) cs->reversed[cs->n] = kn_strdup(rev);
    if (!cs->captions[cs->n] || !cs->paths[cs->n] || (rev[0] && !cs->reversed[cs->n])) {
        free(cs->captions[cs->n]);
        free(cs->paths[cs->n]);
        free(cs->reversed[cs->n]);
        st = kn_fail(err, KN_ENOMEM, "%s: out of memory", path);
        goto done;
    }
    cs->n++;
done:
    json_decref(j);
    return st;
}

kn_status kn_clipset_open(const char *dir, const char *split, kn_clipset *cs, kn_error *err) {
    memset(cs, 0, sizeof *cs);
    char path[4096];
    snprintf(path, sizeof path, "%s/captions.jsonl", dir);
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(path, sizeof path, "%s/approved.jsonl", dir);
        if ((f = fopen(path, "r"))) cs->videos = 1;
        else return kn_fail(err, KN_EIO, "%s: neither captions.jsonl (kinora dataset) nor approved.jsonl (approved clips) found", dir);
    }
    if (!(cs->dir = kn_strdup(dir))) { fclose(f); return kn_fail(err, KN_ENOMEM, "out of memory"); }
    char *line = NULL;
    size_t lcap = 0;
    int cap = 0, lineno = 0;
    kn_status st = KN_OK;
    while (!st && getline(&line, &lcap, f) > 0) st = add_line(cs, &cap, path, ++lineno, line, split, err);
    free(line);
    fclose(f);
    if (!st && !cs->n) st = kn_fail(err, KN_EINVAL, "%s: no clips%s%s", path, split ? " in split " : "", split ? split : "");
    if (st) kn_clipset_close(cs);
    return st;
}

/* An approved clip: `frames` frames spread evenly over the video, centre-cropped to a square and
 * area-averaged (bilinear when enlarging) to size x size, planar in [-1, 1]. */
static kn_status read_video_clip(const kn_clipset *cs, const char *path, float *out, kn_error *err) {
    kn_video v;
    memset(&v, 0, sizeof v);
    kn_status st = kn_video_read(path, &v, err);
    if (st) return st;
    const int S = cs->size, W = v.width, H = v.height, side = W < H ? W : H, x0 = (W - side) / 2, y0 = (H - side) / 2;
    const size_t plane = (size_t)S * S;
    const float k = (float)side / S;
    for (int f = 0; f < cs->frames; f++) {
        int src = cs->frames == 1 ? 0 : (int)((double)f * (v.nframes - 1) / (cs->frames - 1) + 0.5);
        const uint8_t *img = v.rgb + (size_t)src * W * H * 3;
        for (int y = 0; y < S; y++)
            for (int x = 0; x < S; x++) {
                /* the source box of this output pixel, at least one pixel wide */
                int ya = y0 + (int)(y * k), yb = y0 + (int)((y + 1) * k), xa = x0 + (int)(x * k), xb = x0 + (int)((x + 1) * k);
                if (yb <= ya) yb = ya + 1;
                if (xb <= xa) xb = xa + 1;
                float acc[3] = {0, 0, 0};
                for (int yy = ya; yy < yb; yy++)
                    for (int xx = xa; xx < xb; xx++)
                        for (int c = 0; c < 3; c++) acc[c] += img[((size_t)yy * W + xx) * 3 + c];
                float inv = 1.0f / (float)((yb - ya) * (xb - xa));
                for (int c = 0; c < 3; c++) out[((size_t)f * 3 + c) * plane + (size_t)y * S + x] = acc[c] * inv / 127.5f - 1.f;
            }
    }
    kn_video_free(&v);
    return KN_OK;
}

kn_status kn_clipset_read(const kn_clipset *cs, int i, float *out, kn_error *err) {
    if (i < 0 || i >= cs->n) return kn_fail(err, KN_EINVAL, "%s: clip %d of %d", cs->dir, i, cs->n);
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", cs->dir, cs->paths[i]);
    if (cs->videos) return read_video_clip(cs, path, out, err);
    size_t plane = (size_t)cs->size * cs->size, want = plane * 3 * cs->frames, n;
    char *buf;
    kn_status st = kn_read_file(path, want + 1, &buf, &n, err);
    if (st) return st;
    if (n != want) { free(buf); return kn_fail(err, KN_EFORMAT, "%s: %zu bytes, expected %zu", path, n, want); }
    const uint8_t *u = (const uint8_t *)buf;
    for (int f = 0; f < cs->frames; f++) kn_vae_pixels_from_rgb8(u + (size_t)f * plane * 3, plane, out + (size_t)f * 3 * plane);
    free(buf);
    return KN_OK;
}

void kn_clipset_order(int n, uint64_t seed, uint64_t epoch, int *perm) {
    for (int i = 0; i < n; i++) perm[i] = i;
    for (int i = n - 1; i > 0; i--) {
        uint32_t r[4];
        kn_philox(seed, 0x6f72646572ull + epoch, (uint64_t)i, r);
        int j = (int)((((uint64_t)r[0] << 32) | r[1]) % (uint64_t)(i + 1));
        int t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
}
