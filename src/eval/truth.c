/* kn_eval_truth: runs the scorers on a data set's own clips, the self-test of the scorers; optionally
 * after a round trip through a model's autoencoder, the most a generator decoding through it can
 * score. */
#include "eval/eval.h"
#include <jansson.h>
#include <stdlib.h>
#include <unistd.h>
#include "models/models.h"
#include "io/io.h"
#include "kinora/kinora.h"
#include "train/train.h"

typedef struct {
    char *frames_path, *caption, *split;
    int nobj, obj[KN_DS_MAXOBJ], motion[KN_DS_MAXOBJ], size, nframes;
    /* results */
    int pred[KN_DS_MAXOBJ], obj_ok, cls[KN_DS_MAXOBJ];
    float growth[KN_DS_MAXOBJ];   /* tracked size, last third over first third (for the log) */
    double flicker;
    kn_status st;
    kn_error err;
} clip;

static void clip_strings_free(clip *c) { free(c->frames_path); free(c->caption); free(c->split); }

/* Frees n clips read by read_list and their array. */
static void clips_free(clip *c, int n) {
    for (int i = 0; i < n; i++) clip_strings_free(&c[i]);
    free(c);
}

typedef struct {
    const char *dir;
    const kn_eval_templates *T;
    clip *c;
    const kn_vae *vae;   /* NULL: score the clips as stored */
    kn_isa isa;
} job;

static kn_status parse_line(const char *path, int lineno, const char *line, const char *split, clip *c, int *keep,
                            kn_error *err) {
    json_error_t je;
    json_t *j = json_loads(line, 0, &je);
    if (!j) return kn_fail(err, KN_EFORMAT, "%s:%d: %s", path, lineno, je.text);
    kn_status st = KN_OK;
    const char *fr = json_string_value(json_object_get(j, "frames"));
    const char *sp = json_string_value(json_object_get(j, "split"));
    json_t *objs = json_object_get(j, "objects"), *mots = json_object_get(j, "motions");
    json_t *sz = json_object_get(j, "size"), *nf = json_object_get(j, "num_frames");
    if (!fr || !sp || !json_is_array(objs) || !json_is_array(mots) || !json_is_integer(sz) || !json_is_integer(nf) ||
        json_array_size(objs) < 1 || json_array_size(objs) > KN_DS_MAXOBJ || json_array_size(objs) != json_array_size(mots)) {
        st = kn_fail(err, KN_EFORMAT, "%s:%d: needs frames, split, objects, motions, size, num_frames", path, lineno);
        goto done;
    }
    *keep = !split || !strcmp(split, sp);
    if (!*keep) goto done;
    memset(c, 0, sizeof *c);
    c->nobj = (int)json_array_size(objs);
    c->size = (int)json_integer_value(sz);
    c->nframes = (int)json_integer_value(nf);
    if (c->size < 16 || c->size > 1024 || c->nframes < 2 || c->nframes > 256) {
        st = kn_fail(err, KN_EFORMAT, "%s:%d: size or num_frames out of range", path, lineno);
        goto done;
    }
    for (int k = 0; k < c->nobj; k++) {
        const char *o = json_string_value(json_array_get(objs, k)), *m = json_string_value(json_array_get(mots, k));
        c->obj[k] = o ? kn_ds_object_index(o) : -1;
        c->motion[k] = m ? kn_ds_motion_index(m) : -1;
        if (c->obj[k] < 0 || c->motion[k] < 0) {
            st = kn_fail(err, KN_EFORMAT, "%s:%d: unknown object or motion '%s' / '%s'", path, lineno, o ? o : "?", m ? m : "?");
            goto done;
        }
    }
    const char *cap = json_string_value(json_object_get(j, "caption"));
    if (!(c->frames_path = kn_strdup(fr)) || !(c->caption = kn_strdup(cap ? cap : "")) || !(c->split = kn_strdup(sp)))
        st = kn_fail(err, KN_ENOMEM, "out of memory");
done:
    json_decref(j);
    return st;
}

/* Scores frames [nframes][size][size][3] against the clip's caption objects and motions. */
static kn_status score_frames(const kn_eval_templates *T, clip *c, const uint8_t *fr, kn_error *err) {
    kn_eval_hit hits[KN_EVAL_NPICK][KN_DS_NOBJECTS];
    kn_status st;
    if ((st = kn_eval_object_hits(T, fr, c->nframes, hits, err))) return st;
    kn_eval_pick_objects((const kn_eval_hit(*)[KN_DS_NOBJECTS])hits, c->nobj, c->pred);
    int used[KN_DS_NOBJECTS] = {0};
    for (int k = 0; k < c->nobj; k++) used[c->pred[k]] = 1;
    c->obj_ok = 1;
    for (int k = 0; k < c->nobj; k++) c->obj_ok &= used[c->obj[k]];
    float xs[256], ys[256], ss[256], sc[256];
    for (int k = 0; k < c->nobj; k++) {
        if ((st = kn_eval_track(T, c->obj[k], fr, c->nframes, xs, ys, ss, sc, err))) return st;
        c->cls[k] = kn_eval_classify(xs, ys, ss, c->nframes, c->size);
        c->growth[k] = kn_eval_growth(ss, c->nframes);
    }
    c->flicker = kn_eval_flicker(fr, c->nframes, c->size);
    return KN_OK;
}

/* Frames [nframes][S][S][3] replaced in place by the autoencoder's reconstruction of them (the
 * posterior mean decoded), one thread per clip. */
static kn_status vae_round_trip(const job *J, const clip *c, uint8_t *fr, kn_error *err) {
    int S = c->size, F = c->nframes, f = kn_vae_downscale(J->vae), lc = kn_vae_latent_channels(J->vae);
    if (S % f) return kn_fail(err, KN_EINVAL, "clip size %d is not a multiple of the autoencoder's factor %d", S, f);
    size_t np = (size_t)S * S, nl = (size_t)lc * (S / f) * (S / f);
    float *img = malloc(sizeof *img * np * 3 * F), *mean = malloc(sizeof *mean * nl * F);
    float *logvar = malloc(sizeof *logvar * nl * F);
    kn_status st = img && mean && logvar ? KN_OK : kn_fail(err, KN_ENOMEM, "out of memory");
    kn_ctx ctx = {NULL, J->isa, NULL};
    for (int i = 0; !st && i < F; i++) kn_vae_pixels_from_rgb8(fr + (size_t)i * np * 3, np, img + (size_t)i * 3 * np);
    if (!st) st = kn_vae_encode(J->vae, &ctx, img, F, S, S, mean, logvar, err);
    if (!st) st = kn_vae_decode(J->vae, &ctx, mean, F, S / f, S / f, img, err);
    for (int i = 0; !st && i < F; i++) kn_vae_pixels_to_rgb8(img + (size_t)i * 3 * np, np, fr + (size_t)i * np * 3);
    free(img); free(mean); free(logvar);
    return st;
}

static kn_status eval_clip(const job *J, clip *c, kn_error *err) {
    char p[4096];
    snprintf(p, sizeof p, "%s/%s", J->dir, c->frames_path);
    char *buf;
    size_t n;
    size_t want = (size_t)c->size * c->size * 3 * c->nframes;
    kn_status st = kn_read_file(p, want + 1, &buf, &n, err);
    if (st) return st;
    if (n != want) { free(buf); return kn_fail(err, KN_EFORMAT, "%s: %zu bytes, expected %zu", p, n, want); }
    if (J->vae) st = vae_round_trip(J, c, (uint8_t *)buf, err);
    if (!st) st = score_frames(J->T, c, (const uint8_t *)buf, err);
    free(buf);
    return st;
}

static void task(void *arg, int i) {
    job *J = arg;
    J->c[i].st = eval_clip(J, &J->c[i], &J->c[i].err);
}

/* Reads the split's clips from captions.jsonl: the first `skip` of them are passed over, then at most
 * max_clips (<= 0: all) are kept. */
static kn_status read_list(const char *dir, const char *split, int skip, int max_clips, clip **out, int *count,
                           kn_error *err) {
    char path[4096];
    snprintf(path, sizeof path, "%s/captions.jsonl", dir);
    FILE *f = fopen(path, "r");
    if (!f) return kn_fail(err, KN_EIO, "%s: cannot open (not a kinora dataset folder?)", path);
    int cap = 256, n = 0, lineno = 0;
    clip *c = malloc(cap * sizeof *c);
    char *line = NULL;
    size_t lcap = 0;
    kn_status st = c ? KN_OK : kn_fail(err, KN_ENOMEM, "out of memory");
    while (!st && (max_clips <= 0 || n < max_clips) && getline(&line, &lcap, f) > 0) {
        lineno++;
        if (n == cap) {
            clip *nc = realloc(c, (size_t)(cap *= 2) * sizeof *c);
            if (!nc) { st = kn_fail(err, KN_ENOMEM, "out of memory"); break; }
            c = nc;
        }
        int keep = 0;
        st = parse_line(path, lineno, line, split, &c[n], &keep, err);
        if (!st && keep && skip > 0) {   /* in the split but before the first wanted clip */
            skip--;
            clip_strings_free(&c[n]);
            keep = 0;
        }
        if (!st && keep) n++;
    }
    free(line);
    fclose(f);
    if (!st && !n) st = kn_fail(err, KN_EINVAL, "%s: no clips%s%s", path, split ? " in split " : "", split ? split : "");
    if (st) { clips_free(c, n); return st; }
    *out = c;
    *count = n;
    return KN_OK;
}

/* Sums the clips' results into a report (chance levels included); logs one line per clip. */
static kn_status tally(clip *c, int n, FILE *log, kn_eval_report *rep, kn_error *err) {
    kn_status st = KN_OK;
    memset(rep, 0, sizeof *rep);
    int expected_count[KN_MC_COUNT] = {0};
    for (int i = 0; i < n; i++) {
        if (c[i].st) { *err = c[i].err; st = c[i].st; return st; }
        rep->clips++;
        if (c[i].nobj == 1) { rep->clips_single++; rep->obj_correct_single += c[i].obj_ok; }
        else { rep->clips_pair++; rep->obj_correct_pair += c[i].obj_ok; }
        rep->obj_correct += c[i].obj_ok;
        rep->flicker_mean += c[i].flicker;
        for (int k = 0; k < c[i].nobj; k++) {
            int e = kn_eval_expected_class(c[i].motion[k]);
            rep->motion_total++;
            rep->motion_correct += e == c[i].cls[k];
            rep->confusion[e][c[i].cls[k]]++;
            expected_count[e]++;
        }
        if (log) {
            fprintf(log, "%s objects:", c[i].frames_path);
            for (int k = 0; k < c[i].nobj; k++) fprintf(log, " %s->%s", kn_ds_object_name(c[i].obj[k]), kn_ds_object_name(c[i].pred[k]));
            fprintf(log, " motion:");
            for (int k = 0; k < c[i].nobj; k++)
                fprintf(log, " %s->%s (size x%.2f)", kn_ds_motion_name(c[i].motion[k]), kn_eval_class_name(c[i].cls[k]),
                        c[i].growth[k]);
            fprintf(log, " flicker %.2f\n", c[i].flicker);
        }
    }
    rep->flicker_mean /= n;
    rep->chance_obj_single = 1.0 / KN_DS_NOBJECTS;
    rep->chance_obj_pair = 2.0 / (KN_DS_NOBJECTS * (KN_DS_NOBJECTS - 1));
    rep->chance_motion = 1.0 / KN_MC_COUNT;
    int most = 0;
    for (int e = 0; e < KN_MC_COUNT; e++) if (expected_count[e] > most) most = expected_count[e];
    rep->majority_motion = rep->motion_total ? (double)most / rep->motion_total : 0;
    return KN_OK;
}

kn_status kn_eval_truth(const char *dataset_dir, const char *split, int max_clips, int threads,
                        const char *vae_dir, FILE *log, kn_eval_report *rep, kn_error *err) {
    double t0 = kn_now();
    clip *c = NULL;
    int n = 0;
    kn_vae *vae = NULL;
    kn_status st = read_list(dataset_dir, split, 0, max_clips, &c, &n, err);
    if (st) return st;
    if (vae_dir && (st = kn_vae_open(vae_dir, &vae, err))) goto out;
    for (int i = 1; i < n; i++)
        if (c[i].size != c[0].size) { st = kn_fail(err, KN_EFORMAT, "%s: clips of different sizes", dataset_dir); goto out; }
    kn_sprite_set set;
    kn_eval_templates T;
    if ((st = kn_sprites_load(NULL, NULL, &set, err))) goto out;
    st = kn_eval_templates_build(&set, c[0].size, &T, err);
    kn_sprites_free(&set);
    if (st) goto out;
    job J = {dataset_dir, &T, c, vae, kn_cpu_detect()};
    kn_pool *pool = NULL;
    if (threads > 1 && (st = kn_pool_create(threads, &pool, err))) { kn_eval_templates_free(&T); goto out; }
    if (pool) kn_pool_run(pool, n, task, &J);
    else for (int i = 0; i < n; i++) task(&J, i);
    kn_pool_destroy(pool);
    kn_eval_templates_free(&T);
    if ((st = tally(c, n, log, rep, err))) goto out;
    rep->seconds = kn_now() - t0;
out:
    kn_vae_close(vae);
    clips_free(c, n);
    return st;
}

void kn_eval_print(const kn_eval_report *r, FILE *f) {
    fprintf(f, "clips: %d (%d one object, %d two objects)\n", r->clips, r->clips_single, r->clips_pair);
    fprintf(f, "object accuracy: %.1f%% (one object %.1f%%, chance %.1f%%; two objects %.1f%%, chance %.2f%%)\n",
            100.0 * r->obj_correct / (r->clips ? r->clips : 1),
            100.0 * r->obj_correct_single / (r->clips_single ? r->clips_single : 1), 100 * r->chance_obj_single,
            100.0 * r->obj_correct_pair / (r->clips_pair ? r->clips_pair : 1), 100 * r->chance_obj_pair);
    fprintf(f, "motion accuracy: %.1f%% of %d objects (chance %.1f%% over %d classes, majority class %.1f%%)\n",
            100.0 * r->motion_correct / (r->motion_total ? r->motion_total : 1), r->motion_total,
            100 * r->chance_motion, KN_MC_COUNT, 100 * r->majority_motion);
    for (int e = 0; e < KN_MC_COUNT; e++)
        for (int p = 0; p < KN_MC_COUNT; p++)
            if (e != p && r->confusion[e][p])
                fprintf(f, "  confused: %d x %s classified as %s\n", r->confusion[e][p], kn_eval_class_name(e), kn_eval_class_name(p));
    fprintf(f, "flicker (mean |frame difference|, 0-255): %.2f\n", r->flicker_mean);
    fprintf(f, "time: %.2f s\n", r->seconds);
}

/* ---- scoring what a model generates for the data set's captions ---- */

/* A grid PNG: one row per clip (at most 8), its keyframes across; the captions go to PATH.txt. */
static kn_status write_grid(const char *path, const uint8_t *const *frames, const clip *c, int rows, int K, int S,
                            kn_error *err) {
    int gap = 2, W = K * S + (K + 1) * gap, H = rows * S + (rows + 1) * gap;
    uint8_t *img = malloc((size_t)W * H * 3);
    if (!img) return kn_fail(err, KN_ENOMEM, "out of memory");
    memset(img, 255, (size_t)W * H * 3);
    for (int r = 0; r < rows; r++)
        for (int k = 0; k < K; k++)
            for (int y = 0; y < S; y++)
                memcpy(img + ((size_t)(gap + r * (S + gap) + y) * W + gap + k * (S + gap)) * 3,
                       frames[r] + ((size_t)k * S * S + (size_t)y * S) * 3, (size_t)S * 3);
    kn_status st = kn_train_write_png(path, img, W, H, 1, err);
    free(img);
    if (st) return st;
    char tp[4200];
    snprintf(tp, sizeof tp, "%s.txt", path);
    FILE *f = fopen(tp, "w");
    if (!f) return kn_fail(err, KN_EIO, "%s: cannot write", tp);
    for (int r = 0; r < rows; r++) fprintf(f, "row %d: %s\n", r + 1, c[r].caption);
    return fclose(f) ? kn_fail(err, KN_EIO, "%s: write failed", tp) : KN_OK;
}

/* Writes clip i's generated keyframes to DIR/clips/NNNNNN/frames.u8 and appends its caption line
 * (the source's objects, motions and split; the generated frame count) to the open list. */
static kn_status save_clip(const char *dir, int i, const clip *c, const kn_generate_params *g, const uint8_t *rgb,
                           int K, int S, FILE *list, kn_error *err) {
    char rel[64], path[4200];
    snprintf(rel, sizeof rel, "clips/%06d", i);
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    kn_status st = kn_mkdirs(path, err);
    if (st) return st;
    snprintf(path, sizeof path, "%s/%s/frames.u8", dir, rel);
    if ((st = kn_write_file_atomic(path, rgb, (size_t)K * S * S * 3, err))) return st;
    json_t *objs = json_array(), *mots = json_array();
    for (int k = 0; k < c->nobj; k++) {
        json_array_append_new(objs, json_string(kn_ds_object_name(c->obj[k])));
        json_array_append_new(mots, json_string(kn_ds_motion_name(c->motion[k])));
    }
    snprintf(path, sizeof path, "%s/frames.u8", rel);
    json_t *j = json_pack("{sssssosos{sIsfsfsssi}sisi}", "frames", path, "caption", c->caption, "objects", objs,
                          "motions", mots, "generated", "seed", (json_int_t)g->seed, "guidance", (double)g->guidance,
                          "motion_guidance", (double)g->motion_guidance, "sampler", g->sampler ? g->sampler : "",
                          "steps", g->steps, "size", S, "num_frames", K);
    if (j) json_object_set_new(j, "split", json_string(c->split ? c->split : "all"));
    char *line = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (!line) return kn_fail(err, KN_ENOMEM, "out of memory");
    int bad = fprintf(list, "%s\n", line) < 0;
    free(line);
    return bad ? kn_fail(err, KN_EIO, "%s/captions.jsonl: write failed", dir) : KN_OK;
}

kn_status kn_eval_generated(const kn_eval_gen_opts *o, FILE *log, kn_eval_report *rep, kn_error *err) {
    double t0 = kn_now();
    clip *c = NULL;
    int n = 0;
    kn_status st = read_list(o->dataset_dir, o->split, o->skip_clips, o->max_clips, &c, &n, err);
    if (st) return st;
    kn_pipeline *p = NULL;
    kn_eval_templates T;
    int have_T = 0, K = o->keyframes, S = c[0].size;
    uint8_t *grid[8] = {0};
    kn_sprite_set set;
    FILE *list = NULL;
    char list_path[4200], list_tmp[4300];
    if (o->clips_out) {
        /* the list is written under a temporary name and renamed when every clip is in place */
        snprintf(list_path, sizeof list_path, "%s/captions.jsonl", o->clips_out);
        snprintf(list_tmp, sizeof list_tmp, "%s.tmp", list_path);
        if ((st = kn_mkdirs(o->clips_out, err))) goto out;
        if (!access(list_path, F_OK)) { st = kn_fail(err, KN_EINVAL, "%s exists: give a new or empty folder", list_path); goto out; }
        if (!(list = fopen(list_tmp, "w"))) { st = kn_fail(err, KN_EIO, "%s: cannot write", list_tmp); goto out; }
    }
    if ((st = kn_pipeline_open(o->model_dir, o->threads, &p, err))) goto out;
    if ((st = kn_sprites_load(NULL, NULL, &set, err))) goto out;
    st = kn_eval_templates_build(&set, S, &T, err);
    kn_sprites_free(&set);
    if (st) goto out;
    have_T = 1;
    /* the guidance settings and sampler, the same for every clip: the caller's, else the model's */
    kn_generate_params base;
    kn_generate_params_default(&base);
    base.sampler = o->sampler;
    kn_pipeline_defaults(p, &base);
    if (o->guidance >= 0) base.guidance = o->guidance;
    if (o->motion_guidance >= 0) base.motion_guidance = o->motion_guidance;
    for (int i = 0; i < n && !st; i++) {
        kn_generate_params g = base;
        g.prompt = c[i].caption;
        g.seed = o->seed + (uint64_t)o->skip_clips + (uint64_t)i;   /* the clip's index in the split */
        g.steps = o->steps;
        g.keyframes = g.frames = K;
        g.width = g.height = S;
        kn_video kf, vid;
        memset(&kf, 0, sizeof kf);
        memset(&vid, 0, sizeof vid);
        if ((st = kn_pipeline_generate(p, &g, &kf, &vid, err))) { kn_wrap(err, "generating \"%s\"", c[i].caption); break; }
        c[i].nframes = K;
        c[i].st = score_frames(&T, &c[i], kf.rgb, &c[i].err);
        if (list && (st = save_clip(o->clips_out, i, &c[i], &g, kf.rgb, K, S, list, err))) { kn_video_free(&kf); kn_video_free(&vid); break; }
        if (i < 8 && o->grid_path && (grid[i] = malloc((size_t)K * S * S * 3))) memcpy(grid[i], kf.rgb, (size_t)K * S * S * 3);
        kn_video_free(&kf);
        kn_video_free(&vid);
        if (o->verbose_progress) fprintf(stderr, "\reval: %d/%d clips", i + 1, n);
    }
    if (o->verbose_progress) fprintf(stderr, "\n");
    if (!st) st = tally(c, n, log, rep, err);
    rep->guidance = base.guidance;
    rep->motion_guidance = base.motion_guidance;
    snprintf(rep->sampler, sizeof rep->sampler, "%s", base.sampler ? base.sampler : "");
    if (!st && o->grid_path) {
        int rows = n < 8 ? n : 8;
        st = write_grid(o->grid_path, (const uint8_t *const *)grid, c, rows, K, S, err);
    }
    rep->seconds = kn_now() - t0;
out:
    if (list) {
        if (fclose(list) && !st) st = kn_fail(err, KN_EIO, "%s: write failed", list_tmp);
        if (!st && rename(list_tmp, list_path)) st = kn_fail(err, KN_EIO, "%s: cannot rename into place", list_path);
        if (st) remove(list_tmp);
    }
    for (int i = 0; i < 8; i++) free(grid[i]);
    if (have_T) kn_eval_templates_free(&T);
    kn_pipeline_close(p);
    clips_free(c, n);
    return st;
}
