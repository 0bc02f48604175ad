/* Workers: claim the oldest queued job in one transaction, run it, write outputs to a temp folder,
 * rename it into place, then mark the job succeeded only if it is still 'running' (so a job
 * completes at most once even if a killed process had renamed outputs before it could commit). */
#include "serve/impl.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "io/io.h"

typedef struct job {
    char id[40], kind[16], parent[40];
    json_t *params;
    int has_image;
} job;

typedef struct progress_ctx {
    kn_server *srv;
    kn_slot *slot;
    const char *id;
    int stage, steps_done, steps_total;
    double stage_t0, last_write, denoise_t0;
} progress_ctx;

static void db_exec_job(kn_server *srv, const char *sql, const char *id, const char *text, double num, int n1, int n2) {
    sqlite3_stmt *q = NULL;
    pthread_mutex_lock(&srv->store.mu);
    if (sqlite3_prepare_v2(srv->store.db, sql, -1, &q, NULL) == SQLITE_OK) {
        sqlite3_bind_text(q, 1, id, -1, SQLITE_TRANSIENT);
        if (text) sqlite3_bind_text(q, 2, text, -1, SQLITE_TRANSIENT); else sqlite3_bind_null(q, 2);
        sqlite3_bind_double(q, 3, num);
        sqlite3_bind_int(q, 4, n1);
        sqlite3_bind_int(q, 5, n2);
        sqlite3_step(q);
    }
    sqlite3_finalize(q);
    pthread_mutex_unlock(&srv->store.mu);
}

static int on_progress(void *user, kn_stage stage, int step, int total) {
    progress_ctx *c = user;
    double now = kn_now();
    if ((int)stage != c->stage) {
        if (c->stage >= 0) kn_metrics_observe(&c->srv->metrics, &c->srv->metrics.stage[c->stage], now - c->stage_t0);
        c->stage = (int)stage;
        c->stage_t0 = now;
        c->last_write = 0;
        if (stage == KN_STAGE_DENOISE) c->denoise_t0 = now;
    }
    if (stage == KN_STAGE_DENOISE) { c->steps_done = step; c->steps_total = total; }
    if (now - c->last_write >= 0.25 || step == total) {
        double frac = total > 0 ? (double)step / total : 0;
        /* overall progress: load+encode 5%, denoise 80%, decode..write 15% */
        static const double base[6] = {0, 0.03, 0.05, 0.85, 0.92, 0.97}, span[6] = {0.03, 0.02, 0.80, 0.07, 0.05, 0.03};
        double p = base[stage] + span[stage] * frac;
        db_exec_job(c->srv, "UPDATE jobs SET stage=?2, progress=?3, steps_done=?4, steps_total=?5 WHERE id=?1 AND state='running'",
                    c->id, kn_stage_name(stage), p, c->steps_done, c->steps_total);
        c->last_write = now;
    }
    return c->slot->cancel;
}

static int claim(kn_server *srv, job *j) {
    int got = 0;
    sqlite3_stmt *q = NULL;
    pthread_mutex_lock(&srv->store.mu);
    sqlite3_exec(srv->store.db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    if (sqlite3_prepare_v2(srv->store.db, "SELECT id, kind, IFNULL(parent,''), params, has_image FROM jobs"
                           " WHERE state='queued' AND deleted=0 ORDER BY seq LIMIT 1", -1, &q, NULL) == SQLITE_OK &&
        sqlite3_step(q) == SQLITE_ROW) {
        snprintf(j->id, sizeof j->id, "%s", (const char *)sqlite3_column_text(q, 0));
        snprintf(j->kind, sizeof j->kind, "%s", (const char *)sqlite3_column_text(q, 1));
        snprintf(j->parent, sizeof j->parent, "%s", (const char *)sqlite3_column_text(q, 2));
        j->params = json_loads((const char *)sqlite3_column_text(q, 3), 0, NULL);
        j->has_image = sqlite3_column_int(q, 4);
        got = j->params != NULL;
    }
    sqlite3_finalize(q);
    if (got) {
        char sql[256];
        snprintf(sql, sizeof sql, "UPDATE jobs SET state='running', stage='load', progress=0, started=%.6f,"
                 " attempts=attempts+1, error=NULL WHERE id='%s' AND state='queued'", kn_wall_now(), j->id);
        got = sqlite3_exec(srv->store.db, sql, NULL, NULL, NULL) == SQLITE_OK && sqlite3_changes(srv->store.db) == 1;
    }
    sqlite3_exec(srv->store.db, got ? "COMMIT" : "ROLLBACK", NULL, NULL, NULL);
    pthread_mutex_unlock(&srv->store.mu);
    if (!got) { json_decref(j->params); j->params = NULL; }
    return got;
}

void kn_remove_tree(const char *path) {
    DIR *d = opendir(path);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d))) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
            char sub[4096];
            snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
            struct stat st;
            if (!lstat(sub, &st) && S_ISDIR(st.st_mode)) kn_remove_tree(sub); else unlink(sub);
        }
        closedir(d);
        rmdir(path);
    } else {
        unlink(path);
    }
}

static void fsync_dir(const char *path) {
    int fd = open(path, O_RDONLY | O_DIRECTORY);
    if (fd >= 0) { fsync(fd); close(fd); }
}

/* Writes video.mp4 and keyframes/NNNNN.png into a temp folder and renames it to DIR/videos/<id>. */
static kn_status write_outputs(kn_server *srv, const char *id, const kn_video *kf, const kn_video *video, kn_error *err) {
    char videos[4096], final[4200], tmp[4200], path[4400];
    snprintf(videos, sizeof videos, "%s/videos", srv->data_dir);
    snprintf(final, sizeof final, "%s/%s", videos, id);
    snprintf(tmp, sizeof tmp, "%s/%s.tmp-XXXXXX", videos, id);
    kn_status st = kn_mkdirs(videos, err);
    if (st) return st;
    if (!mkdtemp(tmp)) return kn_fail(err, KN_EIO, "%s: cannot create: %s", tmp, strerror(errno));
    snprintf(path, sizeof path, "%s/video.mp4", tmp);
    st = kn_video_write(path, video, err);
    snprintf(path, sizeof path, "%s/keyframes", tmp);
    if (!st && mkdir(path, 0755)) st = kn_fail(err, KN_EIO, "%s: cannot create: %s", path, strerror(errno));
    for (int k = 0; kf && !st && k < kf->nframes; k++) {
        kn_image im = {kf->width, kf->height, kn_video_frame(kf, k)};
        snprintf(path, sizeof path, "%s/keyframes/%05d.png", tmp, k);
        st = kn_image_write_png(path, &im, err);
    }
    if (!st) {
        kn_remove_tree(final);     /* left by an attempt killed between rename and commit */
        if (rename(tmp, final)) st = kn_fail(err, KN_EIO, "%s: cannot rename: %s", final, strerror(errno));
        else fsync_dir(videos);
    }
    if (st) kn_remove_tree(tmp);
    return st;
}

static void params_from_json(const json_t *p, kn_generate_params *g) {
    kn_generate_params_default(g);
    g->prompt = json_string_value(json_object_get(p, "prompt"));
    g->negative_prompt = json_string_value(json_object_get(p, "negative_prompt"));
    g->seed = (uint64_t)json_integer_value(json_object_get(p, "seed"));
    g->steps = (int)json_integer_value(json_object_get(p, "steps"));
    /* guidance and motion_guidance: see model_defaults */
    const char *s = json_string_value(json_object_get(p, "sampler"));
    g->sampler = s && *s ? s : NULL;
    g->keyframes = (int)json_integer_value(json_object_get(p, "keyframes"));
    g->frames = (int)json_integer_value(json_object_get(p, "frames"));
    g->fps = (float)json_number_value(json_object_get(p, "fps"));
    g->width = (int)json_integer_value(json_object_get(p, "width"));
    g->height = (int)json_integer_value(json_object_get(p, "height"));
    g->image_strength = (float)json_number_value(json_object_get(p, "image_strength"));
}

static kn_status load_image(kn_server *srv, const char *id, int w, int h, kn_image *out, kn_error *err) {
    char path[4200];
    snprintf(path, sizeof path, "%s/uploads/%s.img", srv->data_dir, id);
    kn_image raw = {0};
    kn_status st = kn_image_read(path, &raw, err);
    if (st) return st;
    st = kn_image_resize_cover(&raw, w, h, out, err);
    kn_image_free(&raw);
    return st;
}

typedef struct worker_state { kn_pipeline *pipe; } worker_state;

static kn_status open_pipeline(kn_server *srv, worker_state *ws, kn_error *err) {
    if (ws->pipe) return KN_OK;
    if (!srv->model_dir[0]) return kn_fail(err, KN_EINVAL, "the server was started without --model");
    return kn_pipeline_open(srv->model_dir, srv->cfg.threads, &ws->pipe, err);
}

/* Guidance settings and sampler: the request's, else the model's recommended ones
 * (generation_defaults.json). g->sampler already holds the request's, or NULL, which
 * kn_pipeline_defaults keeps. */
static void model_defaults(const kn_pipeline *pipe, const json_t *p, kn_generate_params *g) {
    const json_t *gv = json_object_get(p, "guidance"), *mv = json_object_get(p, "motion_guidance");
    kn_pipeline_defaults(pipe, g);
    if (gv) g->guidance = (float)json_number_value(gv);
    if (mv) g->motion_guidance = (float)json_number_value(mv);
}

static kn_status run_generate(kn_server *srv, worker_state *ws, job *j, progress_ctx *pc, kn_video *kf, kn_video *video, kn_error *err) {
    kn_generate_params g;
    params_from_json(j->params, &g);
    g.progress = on_progress;
    g.progress_user = pc;
    g.cancel = &pc->slot->cancel;
    kn_image img = {0};
    kn_status st = KN_OK;
    if (j->has_image) st = load_image(srv, j->id, g.width, g.height, &img, err);
    if (!st) { g.image = j->has_image ? &img : NULL; on_progress(pc, KN_STAGE_LOAD, 0, 1); }
    if (!st) st = open_pipeline(srv, ws, err);
    if (!st) model_defaults(ws->pipe, j->params, &g);
    if (!st) st = kn_pipeline_generate(ws->pipe, &g, kf, video, err);
    if (img.rgb) kn_image_free(&img);
    return st;
}

/* Keyframes of the parent video with keyframe k replaced by this job's upload. */
static kn_status load_keyframes(kn_server *srv, job *j, int w, int h, kn_video *kf, kn_error *err) {
    int replaced = (int)json_integer_value(json_object_get(j->params, "replaced_keyframe"));
    int n = (int)json_integer_value(json_object_get(j->params, "parent_keyframes"));
    kn_status st = kn_video_alloc(kf, w, h, n, (float)json_number_value(json_object_get(j->params, "fps")), err);
    for (int k = 0; !st && k < n; k++) {
        kn_image im = {0};
        if (k == replaced) st = load_image(srv, j->id, w, h, &im, err);
        else {
            char path[4200];
            snprintf(path, sizeof path, "%s/videos/%s/keyframes/%05d.png", srv->data_dir, j->parent, k);
            st = kn_image_read(path, &im, err);
            if (!st && (im.width != w || im.height != h)) st = kn_fail(err, KN_EFORMAT, "%s: size differs from the video", path);
        }
        if (!st) memcpy(kn_video_frame(kf, k), im.rgb, (size_t)w * h * 3);
        if (im.rgb) kn_image_free(&im);
    }
    return st;
}

static kn_status run_rebuild(kn_server *srv, worker_state *ws, job *j, progress_ctx *pc, kn_video *kf, kn_video *video, kn_error *err) {
    kn_generate_params g;
    params_from_json(j->params, &g);
    on_progress(pc, KN_STAGE_LOAD, 0, 1);
    kn_status st = load_keyframes(srv, j, g.width, g.height, kf, err);
    if (st) return st;
    const char *method = "crossfade";
    if (!open_pipeline(srv, ws, NULL)) {   /* without a model, the documented cross-fade rebuild */
        model_defaults(ws->pipe, j->params, &g);
        int *fixed = calloc((size_t)kf->nframes, sizeof *fixed);
        if (!fixed) return kn_fail(err, KN_ENOMEM, "out of memory");
        for (int k = 0; k < kf->nframes; k++) fixed[k] = 1;
        g.progress = on_progress;
        g.progress_user = pc;
        g.cancel = &pc->slot->cancel;
        kn_error e2 = {0};
        st = kn_pipeline_regenerate(ws->pipe, &g, kf, fixed, 0.f, video, &e2);
        free(fixed);
        if (!st) method = "pipeline";
        else if (st != KN_EUNSUPPORTED) { *err = e2; return st; }
    }
    if (strcmp(method, "pipeline")) {
        on_progress(pc, KN_STAGE_INTERPOLATE, 0, 1);
        st = kn_crossfade(kf, g.frames, g.fps, video, err);
    }
    json_object_set_new(j->params, "rebuild_method", json_string(method));
    return st;
}

static void finish(kn_server *srv, job *j, kn_slot *slot, kn_status st, const kn_error *err, double t0, const kn_video *video) {
    double now = kn_wall_now();
    char *params = json_dumps(j->params, JSON_COMPACT);
    if (!st) {
        db_exec_job(srv, "UPDATE jobs SET state='succeeded', stage=NULL, progress=1, finished=?3, error=NULL,"
                    " params=IFNULL(?2, params) WHERE id=?1 AND state='running'", j->id, params, now, 0, 0);
        pthread_mutex_lock(&srv->metrics.mu);
        srv->metrics.completed++;
        pthread_mutex_unlock(&srv->metrics.mu);
        if (video && video->nframes > 0) kn_metrics_observe(&srv->metrics, &srv->metrics.frame, (kn_now() - t0) / video->nframes);
    } else if (st == KN_ECANCELLED && slot->shutdown) {
        db_exec_job(srv, "UPDATE jobs SET state='queued', stage=NULL, progress=0, started=NULL WHERE id=?1 AND state='running'",
                    j->id, NULL, 0, 0, 0);
    } else {
        int cancelled = st == KN_ECANCELLED;
        db_exec_job(srv, cancelled ? "UPDATE jobs SET state='cancelled', finished=?3, error=?2 WHERE id=?1 AND state='running'"
                                   : "UPDATE jobs SET state='failed', finished=?3, error=?2 WHERE id=?1 AND state='running'",
                    j->id, cancelled ? "cancelled" : err->msg, now, 0, 0);
        pthread_mutex_lock(&srv->metrics.mu);
        if (cancelled) srv->metrics.cancelled++; else srv->metrics.failed++;
        pthread_mutex_unlock(&srv->metrics.mu);
    }
    free(params);
}

static int job_deleted(kn_server *srv, const char *id) {
    int del = 0;
    sqlite3_stmt *q = NULL;
    pthread_mutex_lock(&srv->store.mu);
    if (sqlite3_prepare_v2(srv->store.db, "SELECT deleted FROM jobs WHERE id=?", -1, &q, NULL) == SQLITE_OK) {
        sqlite3_bind_text(q, 1, id, -1, SQLITE_TRANSIENT);
        if (sqlite3_step(q) == SQLITE_ROW) del = sqlite3_column_int(q, 0);
    }
    sqlite3_finalize(q);
    pthread_mutex_unlock(&srv->store.mu);
    return del;
}

static void run_job(kn_server *srv, worker_state *ws, job *j, kn_slot *slot) {
    progress_ctx pc = {srv, slot, j->id, -1, 0, 0, 0, 0, 0};
    kn_video kf = {0}, video = {0};
    kn_error err = {0};
    double t0 = kn_now();
    kn_status st = !strcmp(j->kind, "rebuild") ? run_rebuild(srv, ws, j, &pc, &kf, &video, &err)
                                                : run_generate(srv, ws, j, &pc, &kf, &video, &err);
    /* a user's cancel wins even over a finished result; a shutdown lets finished work be kept */
    if (!st && slot->cancel && !slot->shutdown) st = kn_fail(&err, KN_ECANCELLED, "cancelled");
    if (pc.steps_done > 0 && pc.denoise_t0 > 0) {
        double dt = (pc.stage > KN_STAGE_DENOISE ? pc.stage_t0 : kn_now()) - pc.denoise_t0;
        pthread_mutex_lock(&srv->metrics.mu);
        srv->metrics.steps_total += (uint64_t)pc.steps_done;
        srv->metrics.steps_seconds += dt;
        srv->metrics.last_steps_per_s = dt > 0 ? pc.steps_done / dt : 0;
        pthread_mutex_unlock(&srv->metrics.mu);
    }
    if (!st) {
        on_progress(&pc, KN_STAGE_WRITE, 0, 1);
        st = write_outputs(srv, j->id, kf.nframes ? &kf : NULL, &video, &err);
    }
    if (pc.stage >= 0) kn_metrics_observe(&srv->metrics, &srv->metrics.stage[pc.stage], kn_now() - pc.stage_t0);
    finish(srv, j, slot, st, &err, t0, &video);
    if (!st && job_deleted(srv, j->id)) {       /* deleted while it ran: drop what it wrote */
        char path[2200];
        snprintf(path, sizeof path, "%s/videos/%s", srv->data_dir, j->id);
        kn_remove_tree(path);
    }
    kn_video_free(&kf);
    kn_video_free(&video);
}

void *kn_worker_main(void *arg) {
    kn_slot *slot = arg;
    kn_server *srv = slot->srv;
    worker_state ws = {0};
    for (;;) {
        pthread_mutex_lock(&srv->mu);
        if (srv->stopping) { pthread_mutex_unlock(&srv->mu); break; }
        pthread_mutex_unlock(&srv->mu);
        job j = {0};
        if (!claim(srv, &j)) {
            pthread_mutex_lock(&srv->mu);
            if (!srv->stopping) {
                struct timespec ts;
                clock_gettime(CLOCK_REALTIME, &ts);
                ts.tv_sec += 1;
                pthread_cond_timedwait(&srv->cv, &srv->mu, &ts);
            }
            pthread_mutex_unlock(&srv->mu);
            continue;
        }
        pthread_mutex_lock(&srv->mu);
        snprintf(slot->id, sizeof slot->id, "%s", j.id);
        slot->cancel = 0;
        slot->shutdown = 0;
        slot->busy = 1;
        pthread_mutex_unlock(&srv->mu);
        run_job(srv, &ws, &j, slot);
        pthread_mutex_lock(&srv->mu);
        slot->busy = 0;
        slot->id[0] = 0;
        pthread_mutex_unlock(&srv->mu);
        json_decref(j.params);
    }
    if (ws.pipe) kn_pipeline_close(ws.pipe);
    return NULL;
}

kn_status kn_crossfade(const kn_video *kf, int nframes, float fps, kn_video *video, kn_error *err) {
    int nk = kf->nframes;
    if (nk < 1 || nframes < nk) return kn_fail(err, KN_EINVAL, "crossfade: %d frames from %d keyframes", nframes, nk);
    size_t fsz = (size_t)kf->width * kf->height * 3;
    memset(video, 0, sizeof *video);
    video->rgb = malloc(fsz * (size_t)nframes);
    video->keyframe_index = malloc(sizeof(int) * (size_t)nk);
    if (!video->rgb || !video->keyframe_index) { kn_video_free(video); return kn_fail(err, KN_ENOMEM, "crossfade: out of memory"); }
    video->width = kf->width;
    video->height = kf->height;
    video->nframes = nframes;
    video->fps = fps;
    video->nkeyframes = nk;
    for (int k = 0; k < nk; k++) video->keyframe_index[k] = nk == 1 ? 0 : (int)lround((double)k * (nframes - 1) / (nk - 1));
    for (int f = 0; f < nframes; f++) {
        uint8_t *dst = video->rgb + fsz * (size_t)f;
        int k = 0;
        while (k + 1 < nk && video->keyframe_index[k + 1] <= f) k++;
        if (k + 1 >= nk) { memcpy(dst, kf->rgb + fsz * (size_t)k, fsz); continue; }
        int a = video->keyframe_index[k], b = video->keyframe_index[k + 1];
        float t = (float)(f - a) / (float)(b - a);
        const uint8_t *pa = kf->rgb + fsz * (size_t)k, *pb = pa + fsz;
        for (size_t i = 0; i < fsz; i++) dst[i] = (uint8_t)lrintf(pa[i] + t * (pb[i] - pa[i]));
    }
    return KN_OK;
}
