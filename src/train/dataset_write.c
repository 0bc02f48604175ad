/* kn_dataset_write: renders every clip in parallel (one task per clip, so the bytes do not depend
 * on the thread count) and writes the clip files, then the caption lists in index order. */
#include "train/dataset.h"
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <unistd.h>
#include "io/io.h"
#include "train/train.h"

typedef struct {
    const kn_dataset_opts *o;
    const kn_sprite_set *set;
    char **lines;          /* per clip: its captions.jsonl line */
    int *heldout;
    kn_error *errs;
    kn_status *st;
} job;

/* Clip files are many and small: temp + rename keeps them whole without paying an fsync each. */
static kn_status write_quick(const char *path, const void *data, size_t n, kn_error *err) {
    char tmp[4400];
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp", path) >= sizeof tmp) return kn_fail(err, KN_EINVAL, "%s: path too long", path);
    FILE *f = fopen(tmp, "wb");
    if (!f) return kn_fail(err, KN_EIO, "%s: cannot create: %s", tmp, strerror(errno));
    size_t w = fwrite(data, 1, n, f);
    if (fclose(f) || w != n) { unlink(tmp); return kn_fail(err, KN_EIO, "%s: write failed", tmp); }
    if (rename(tmp, path)) { unlink(tmp); return kn_fail(err, KN_EIO, "%s: rename failed: %s", path, strerror(errno)); }
    return KN_OK;
}

static char *clip_line(const kn_clip_spec *c, int index, const kn_dataset_opts *o) {
    char cap[512], rel[64], fr[80];
    kn_ds_caption(c, cap, sizeof cap);
    snprintf(rel, sizeof rel, "clips/%06d", index);
    snprintf(fr, sizeof fr, "%s/frames.u8", rel);
    json_t *j = json_object(), *objs = json_array(), *mots = json_array();
    if (!j || !objs || !mots) { json_decref(j); json_decref(objs); json_decref(mots); return NULL; }
    for (int k = 0; k < c->nobj; k++) {
        json_array_append_new(objs, json_string(kn_ds_object_name(c->obj[k])));
        json_array_append_new(mots, json_string(kn_ds_motion_name(c->motion[k])));
    }
    json_object_set_new(j, "clip", json_string(rel));
    json_object_set_new(j, "frames", json_string(fr));
    json_object_set_new(j, "caption", json_string(cap));
    json_object_set_new(j, "object", json_string(kn_ds_object_name(c->obj[0])));
    json_object_set_new(j, "motion", json_string(kn_ds_motion_name(c->motion[0])));
    json_object_set_new(j, "background", json_string(kn_ds_background_name(c->bg)));
    json_object_set_new(j, "objects", objs);
    json_object_set_new(j, "motions", mots);
    json_object_set_new(j, "split", json_string(c->heldout ? "heldout" : "train"));
    json_object_set_new(j, "size", json_integer(o->size));
    json_object_set_new(j, "num_frames", json_integer(o->frames));
    char *s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(j);
    return s;
}

static kn_status one_clip(job *J, int i, kn_error *err) {
    const kn_dataset_opts *o = J->o;
    kn_clip_spec c = kn_ds_clip_spec(o->seed, (uint64_t)i);
    size_t fsz = (size_t)o->size * o->size * 3, n = fsz * o->frames;
    uint8_t *buf = malloc(n);
    char dir[4096], p[4200];
    kn_status st;
    if (!buf) return kn_fail(err, KN_ENOMEM, "out of memory for clip %d", i);
    snprintf(dir, sizeof dir, "%s/clips/%06d", o->out_dir, i);
    if ((st = kn_ds_render(J->set, &c, o->size, o->frames, buf, err)) || (st = kn_mkdirs(dir, err))) goto done;
    snprintf(p, sizeof p, "%s/frames.u8", dir);
    if ((st = write_quick(p, buf, n, err))) goto done;
    for (int f = 0; o->png && f < o->frames; f++) {
        snprintf(p, sizeof p, "%s/%02d.png", dir, f);
        if ((st = kn_train_write_png(p, buf + (size_t)f * fsz, o->size, o->size, 0, err))) goto done;
    }
    J->heldout[i] = c.heldout;
    if (!(J->lines[i] = clip_line(&c, i, o))) st = kn_fail(err, KN_ENOMEM, "out of memory for clip %d", i);
done:
    free(buf);
    return st;
}

static void task(void *arg, int i) {
    job *J = arg;
    J->st[i] = one_clip(J, i, &J->errs[i]);
}

static kn_status write_lists(const kn_dataset_opts *o, job *J, kn_error *err) {
    const char *names[3] = {"captions.jsonl", "train.jsonl", "heldout.jsonl"};
    size_t total = 0;
    for (int i = 0; i < o->clips; i++) total += strlen(J->lines[i]) + 1;
    char *buf = malloc(total + 1);
    if (!buf) return kn_fail(err, KN_ENOMEM, "out of memory for the caption lists");
    kn_status st = KN_OK;
    for (int w = 0; w < 3 && !st; w++) {
        size_t n = 0;
        for (int i = 0; i < o->clips; i++) {
            if ((w == 1 && J->heldout[i]) || (w == 2 && !J->heldout[i])) continue;
            size_t l = strlen(J->lines[i]);
            memcpy(buf + n, J->lines[i], l);
            buf[n + l] = '\n';
            n += l + 1;
        }
        char p[4200];
        snprintf(p, sizeof p, "%s/%s", o->out_dir, names[w]);
        st = kn_write_file_atomic(p, buf, n, err);
    }
    free(buf);
    return st;
}

static kn_status write_manifest(const kn_dataset_opts *o, kn_error *err) {
    json_t *j = json_object(), *objs = json_array(), *mots = json_array(), *bgs = json_array(), *ho = json_array();
    kn_status st = KN_OK;
    if (!j || !objs || !mots || !bgs || !ho) { st = kn_fail(err, KN_ENOMEM, "out of memory"); goto done; }
    for (int i = 0; i < KN_DS_NOBJECTS; i++) json_array_append_new(objs, json_string(kn_ds_object_name(i)));
    for (int i = 0; i < KN_MOT_COUNT; i++) json_array_append_new(mots, json_string(kn_ds_motion_name(i)));
    for (int i = 0; i < KN_BG_COUNT; i++) json_array_append_new(bgs, json_string(kn_ds_background_name(i)));
    for (int a = 0; a < KN_DS_NOBJECTS; a++)
        for (int m = 0; m < KN_MOT_COUNT; m++)
            for (int b = 0; b < KN_BG_COUNT; b++)
                if (kn_ds_is_heldout(a, m, b))
                    json_array_append_new(ho, json_pack("[sss]", kn_ds_object_name(a), kn_ds_motion_name(m), kn_ds_background_name(b)));
    json_object_set_new(j, "format", json_string("kinora-clips-1"));
    json_object_set_new(j, "layout", json_string("clips/NNNNNN/frames.u8: num_frames x size x size x 3 bytes, RGB, frame-major, rows top-down"));
    json_object_set_new(j, "clips", json_integer(o->clips));
    json_object_set_new(j, "size", json_integer(o->size));
    json_object_set_new(j, "num_frames", json_integer(o->frames));
    char seed[32];
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)o->seed);
    json_object_set_new(j, "seed", json_string(seed));
    json_object_set_new(j, "png", json_boolean(o->png));
    json_object_set_new(j, "objects", objs);
    json_object_set_new(j, "motions", mots);
    json_object_set_new(j, "backgrounds", bgs);
    json_object_set_new(j, "heldout_triples", ho);
    objs = mots = bgs = ho = NULL;
    char *s = json_dumps(j, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
    if (!s) { st = kn_fail(err, KN_ENOMEM, "out of memory"); goto done; }
    char p[4200];
    snprintf(p, sizeof p, "%s/dataset.json", o->out_dir);
    st = kn_write_file_atomic(p, s, strlen(s), err);
    free(s);
done:
    json_decref(j); json_decref(objs); json_decref(mots); json_decref(bgs); json_decref(ho);
    return st;
}

kn_status kn_dataset_write(const kn_dataset_opts *o, kn_dataset_stats *stats, kn_error *err) {
    if (o->clips < 1 || o->clips > 999999 || o->size < 16 || o->size > 1024 || o->frames < 2 || o->frames > 256)
        return kn_fail(err, KN_EINVAL, "dataset: clips 1..999999, size 16..1024 and frames 2..256 (got %d, %d, %d)",
                       o->clips, o->size, o->frames);
    if (strlen(o->out_dir) > 3000) return kn_fail(err, KN_EINVAL, "dataset: output path too long");
    double t0 = kn_now();
    kn_sprite_set set;
    kn_status st = kn_sprites_load(o->font_path, o->emoji_test_path, &set, err);
    if (st) return st;
    char p[4096];
    snprintf(p, sizeof p, "%s/clips", o->out_dir);
    job J = {o, &set, calloc((size_t)o->clips, sizeof(char *)), calloc((size_t)o->clips, sizeof(int)),
             calloc((size_t)o->clips, sizeof(kn_error)), calloc((size_t)o->clips, sizeof(kn_status))};
    kn_pool *pool = NULL;
    if (!J.lines || !J.heldout || !J.errs || !J.st) { st = kn_fail(err, KN_ENOMEM, "dataset: out of memory"); goto done; }
    if ((st = kn_mkdirs(p, err))) goto done;
    if (o->threads > 1 && (st = kn_pool_create(o->threads, &pool, err))) goto done;
    if (pool) kn_pool_run(pool, o->clips, task, &J);
    else for (int i = 0; i < o->clips; i++) task(&J, i);
    for (int i = 0; i < o->clips; i++)
        if (J.st[i]) { *err = J.errs[i]; st = J.st[i]; goto done; }
    if ((st = write_lists(o, &J, err)) || (st = write_manifest(o, err))) goto done;
    if (stats) {
        stats->heldout = 0;
        for (int i = 0; i < o->clips; i++) stats->heldout += J.heldout[i];
        stats->train = o->clips - stats->heldout;
        stats->seconds = kn_now() - t0;
    }
done:
    kn_pool_destroy(pool);
    if (J.lines) for (int i = 0; i < o->clips; i++) free(J.lines[i]);
    free(J.lines); free(J.heldout); free(J.errs); free(J.st);
    kn_sprites_free(&set);
    return st;
}
