/* The /v1 routes: videos (submit, list, get, events, content with ranges, keyframes, keyframe
 * replacement, cancel, delete), batches and models. Every lookup is scoped by tenant, so another
 * tenant's id is indistinguishable from a missing one (404). */
#include "serve/impl.h"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "io/io.h"

#define JOB_COLS "seq, id, kind, IFNULL(parent,''), version, state, IFNULL(stage,''), progress, params, IFNULL(error,''),"\
    " attempts, created, started, finished, IFNULL(batch,''), steps_done, steps_total"

typedef struct jobrow { long long seq; char id[40], state[16], kind[16], parent[40]; int version; json_t *json; } jobrow;

static json_t *num_or_null(sqlite3_stmt *q, int col) {
    return sqlite3_column_type(q, col) == SQLITE_NULL ? json_null() : json_real(sqlite3_column_double(q, col));
}

/* Row -> API object (store mutex held). */
static json_t *row_json(kn_server *srv, sqlite3_stmt *q, jobrow *row) {
    row->seq = sqlite3_column_int64(q, 0);
    snprintf(row->id, sizeof row->id, "%s", (const char *)sqlite3_column_text(q, 1));
    snprintf(row->kind, sizeof row->kind, "%s", (const char *)sqlite3_column_text(q, 2));
    snprintf(row->parent, sizeof row->parent, "%s", (const char *)sqlite3_column_text(q, 3));
    row->version = sqlite3_column_int(q, 4);
    snprintf(row->state, sizeof row->state, "%s", (const char *)sqlite3_column_text(q, 5));
    const char *stage = (const char *)sqlite3_column_text(q, 6), *error = (const char *)sqlite3_column_text(q, 9);
    json_t *params = json_loads((const char *)sqlite3_column_text(q, 8), 0, NULL);
    json_t *o = json_pack("{sssssisssfsosi}", "id", row->id, "kind", row->kind, "version", row->version,
                          "state", row->state, "progress", sqlite3_column_double(q, 7),
                          "params", params ? params : json_null(), "attempts", sqlite3_column_int(q, 10));
    if (!o) return NULL;
    json_object_set_new(o, "stage", *stage ? json_string(stage) : json_null());
    json_object_set_new(o, "error", *error ? json_string(error) : json_null());
    json_object_set_new(o, "parent", row->parent[0] ? json_string(row->parent) : json_null());
    const char *batch = (const char *)sqlite3_column_text(q, 14);
    json_object_set_new(o, "batch", *batch ? json_string(batch) : json_null());
    json_object_set_new(o, "steps", json_pack("{sisi}", "done", sqlite3_column_int(q, 15), "total", sqlite3_column_int(q, 16)));
    double created = sqlite3_column_double(q, 11), now = kn_wall_now();
    json_t *t = json_object();
    json_object_set_new(t, "created_at", json_real(created));
    json_object_set_new(t, "started_at", num_or_null(q, 12));
    json_object_set_new(t, "finished_at", num_or_null(q, 13));
    double started = sqlite3_column_type(q, 12) == SQLITE_NULL ? 0 : sqlite3_column_double(q, 12);
    double finished = sqlite3_column_type(q, 13) == SQLITE_NULL ? 0 : sqlite3_column_double(q, 13);
    json_object_set_new(t, "queue_seconds", json_real((started ? started : finished ? finished : now) - created));
    json_object_set_new(t, "run_seconds", started ? json_real((finished ? finished : now) - started) : json_null());
    json_object_set_new(o, "timings", t);
    if (!strcmp(row->state, "queued")) {
        sqlite3_stmt *p = NULL;
        long long pos = 0;
        if (sqlite3_prepare_v2(srv->store.db, "SELECT COUNT(*) FROM jobs WHERE state='queued' AND deleted=0 AND seq<?", -1, &p, NULL) == SQLITE_OK) {
            sqlite3_bind_int64(p, 1, row->seq);
            if (sqlite3_step(p) == SQLITE_ROW) pos = sqlite3_column_int64(p, 0);
        }
        sqlite3_finalize(p);
        json_object_set_new(o, "queue_position", json_integer(pos + 1));
    } else {
        json_object_set_new(o, "queue_position", json_null());
    }
    char link[160];
    snprintf(link, sizeof link, "/v1/videos/%s", row->id);
    json_t *links = json_pack("{ss}", "self", link);
    snprintf(link, sizeof link, "/v1/videos/%s/events", row->id);
    json_object_set_new(links, "events", json_string(link));
    if (!strcmp(row->state, "succeeded")) {
        snprintf(link, sizeof link, "/v1/videos/%s/content", row->id);
        json_object_set_new(links, "content", json_string(link));
        snprintf(link, sizeof link, "/v1/videos/%s/keyframes", row->id);
        json_object_set_new(links, "keyframes", json_string(link));
    }
    json_object_set_new(o, "links", links);
    row->json = o;
    return o;
}

/* Loads one job of tenant; 0 if absent (or deleted, or another tenant's). */
static int load_job(kn_server *srv, const char *tenant, const char *id, jobrow *row) {
    memset(row, 0, sizeof *row);
    sqlite3_stmt *q = NULL;
    int found = 0;
    pthread_mutex_lock(&srv->store.mu);
    if (sqlite3_prepare_v2(srv->store.db, "SELECT " JOB_COLS " FROM jobs WHERE id=? AND tenant=? AND deleted=0", -1, &q, NULL) == SQLITE_OK) {
        sqlite3_bind_text(q, 1, id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(q, 2, tenant, -1, SQLITE_TRANSIENT);
        if (sqlite3_step(q) == SQLITE_ROW) found = row_json(srv, q, row) != NULL;
    }
    sqlite3_finalize(q);
    pthread_mutex_unlock(&srv->store.mu);
    return found;
}

static int is_terminal(const char *state) {
    return !strcmp(state, "succeeded") || !strcmp(state, "failed") || !strcmp(state, "cancelled");
}

/* ---- submission ---- */

typedef struct submission { json_t *params; const uint8_t *image; size_t image_n; uint8_t *owned; } submission;

static void submission_free(submission *s) { json_decref(s->params); free(s->owned); }

/* Multipart text fields become request fields; numbers parse as numbers. */
static json_t *form_value(const kn_part *p) {
    char buf[4096];
    size_t n = p->n < sizeof buf - 1 ? p->n : sizeof buf - 1;
    memcpy(buf, p->data, n);
    buf[n] = 0;
    char *end;
    errno = 0;
    long long i = strtoll(buf, &end, 10);
    if (n && !*end && !errno && strcmp(p->name, "prompt") && strcmp(p->name, "negative_prompt")) return json_integer(i);
    double d = strtod(buf, &end);
    if (n && !*end && strcmp(p->name, "prompt") && strcmp(p->name, "negative_prompt")) return json_real(d);
    return json_string(buf);
}

/* Parses a request body (JSON object or multipart) into validated parameters and an optional image.
 * Returns 0 and fills sub, or an HTTP status with the reply already queued in *res. */
static int parse_submission(kn_server *srv, kn_request *r, const json_t *given, submission *sub, enum MHD_Result *res) {
    memset(sub, 0, sizeof *sub);
    const char *ct = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Content-Type");
    json_t *req = NULL;
    if (given) req = json_incref((json_t *)given);
    else if (ct && !strncasecmp(ct, "multipart/form-data", 19)) {
        kn_part parts[32];
        int np = kn_multipart_parse(ct, r->body, r->body_n, parts, 32);
        if (np < 0) { *res = kn_reply_error(r->conn, 400, "bad_request", "body", "malformed multipart body"); return 400; }
        req = json_object();
        for (int i = 0; i < np; i++) {
            if (!strcmp(parts[i].name, "image") && (parts[i].filename[0] || kn_is_image(parts[i].data, parts[i].n))) {
                sub->image = parts[i].data;
                sub->image_n = parts[i].n;
            } else if (!strcmp(parts[i].name, "request") || !strcmp(parts[i].name, "json")) {
                json_t *o = json_loadb((const char *)parts[i].data, parts[i].n, 0, NULL);
                if (!json_is_object(o)) { json_decref(o); json_decref(req); *res = kn_reply_error(r->conn, 400, "bad_json", parts[i].name, "the '%s' part is not a JSON object", parts[i].name); return 400; }
                json_object_update(req, o);
                json_decref(o);
            } else if (parts[i].name[0]) {
                json_object_set_new(req, parts[i].name, form_value(&parts[i]));
            }
        }
    } else {
        json_error_t je;
        req = json_loadb((const char *)(r->body ? r->body : (const uint8_t *)""), r->body_n, 0, &je);
        if (!req) { *res = kn_reply_error(r->conn, 400, "bad_json", "body", "malformed JSON: %s (line %d)", je.text, je.line); return 400; }
    }
    if (json_is_object(req) && json_is_string(json_object_get(req, "image"))) {
        sub->owned = kn_base64_decode(json_string_value(json_object_get(req, "image")), &sub->image_n);
        if (!sub->owned) { json_decref(req); *res = kn_reply_error(r->conn, 422, "invalid", "image", "image is not valid base64"); return 422; }
        sub->image = sub->owned;
    }
    if (json_is_object(req)) json_object_del(req, "image");
    if (sub->image && !kn_is_image(sub->image, sub->image_n)) {
        json_decref(req); submission_free(sub);
        *res = kn_reply_error(r->conn, 422, "invalid", "image", "image must be a PNG or JPEG file");
        return 422;
    }
    kn_field_error fe;
    sub->params = kn_job_params(req, &srv->cfg.limits, srv->model_id[0] ? srv->model_id : NULL, &fe);
    json_decref(req);
    if (!sub->params) {
        submission_free(sub);
        *res = kn_reply_error(r->conn, fe.status, fe.status == 413 ? "too_large" : "invalid", fe.field, "%s", fe.msg);
        return fe.status;
    }
    return 0;
}

static kn_status save_upload(kn_server *srv, const char *id, const uint8_t *img, size_t n, kn_error *err) {
    char path[2200];
    snprintf(path, sizeof path, "%s/uploads/%s.img", srv->data_dir, id);
    return kn_write_file_atomic(path, img, n, err);
}

/* Quota and queue bound for adding n jobs (store mutex held): 0 or an HTTP reply already queued. */
static int check_capacity(kn_server *srv, kn_request *r, int n, enum MHD_Result *res) {
    long long mine = 0, queued = 0;
    sqlite3_stmt *q = NULL;
    if (sqlite3_prepare_v2(srv->store.db, "SELECT SUM(tenant=?1 AND state IN ('queued','running')), SUM(state='queued')"
                           " FROM jobs WHERE deleted=0 AND state IN ('queued','running')", -1, &q, NULL) == SQLITE_OK) {
        sqlite3_bind_text(q, 1, r->tenant, -1, SQLITE_TRANSIENT);
        if (sqlite3_step(q) == SQLITE_ROW) { mine = sqlite3_column_int64(q, 0); queued = sqlite3_column_int64(q, 1); }
    }
    sqlite3_finalize(q);
    if (mine + n > srv->cfg.limits.tenant_quota) {
        pthread_mutex_unlock(&srv->store.mu);
        *res = kn_reply(r->conn, 429, "application/json", "{\"error\":{\"code\":\"quota\",\"message\":\"this tenant has too many queued or running jobs\"}}",
                        94, "Retry-After", "10");
        pthread_mutex_lock(&srv->store.mu);
        return 429;
    }
    if (queued + n > srv->cfg.limits.max_queue) {
        pthread_mutex_unlock(&srv->store.mu);
        *res = kn_reply(r->conn, 429, "application/json", "{\"error\":{\"code\":\"queue_full\",\"message\":\"the queue is full\"}}",
                        63, "Retry-After", "10");
        pthread_mutex_lock(&srv->store.mu);
        return 429;
    }
    return 0;
}

static int insert_job(kn_server *srv, const char *id, const char *tenant, const char *kind, const char *parent, int version,
                      const json_t *params, const char *idem, const char *hash, const char *batch, int has_image) {
    char *ps = json_dumps(params, JSON_COMPACT | JSON_SORT_KEYS);
    sqlite3_stmt *q = NULL;
    int ok = 0;
    if (ps && sqlite3_prepare_v2(srv->store.db, "INSERT INTO jobs(id,tenant,kind,parent,version,state,params,idem_key,body_hash,"
                                 "batch,created,has_image) VALUES(?,?,?,?,?,'queued',?,?,?,?,?,?)", -1, &q, NULL) == SQLITE_OK) {
        sqlite3_bind_text(q, 1, id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(q, 2, tenant, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(q, 3, kind, -1, SQLITE_TRANSIENT);
        if (parent) sqlite3_bind_text(q, 4, parent, -1, SQLITE_TRANSIENT); else sqlite3_bind_null(q, 4);
        sqlite3_bind_int(q, 5, version);
        sqlite3_bind_text(q, 6, ps, -1, SQLITE_TRANSIENT);
        if (idem) sqlite3_bind_text(q, 7, idem, -1, SQLITE_TRANSIENT); else sqlite3_bind_null(q, 7);
        if (hash) sqlite3_bind_text(q, 8, hash, -1, SQLITE_TRANSIENT); else sqlite3_bind_null(q, 8);
        if (batch) sqlite3_bind_text(q, 9, batch, -1, SQLITE_TRANSIENT); else sqlite3_bind_null(q, 9);
        sqlite3_bind_double(q, 10, kn_wall_now());
        sqlite3_bind_int(q, 11, has_image);
        ok = sqlite3_step(q) == SQLITE_DONE;
    }
    sqlite3_finalize(q);
    free(ps);
    return ok;
}

static void new_id(char *out, const char *prefix) {
    char hex[33];
    if (kn_random_hex(hex, 12, NULL)) snprintf(hex, sizeof hex, "%016llx", (unsigned long long)(kn_now() * 1e9));
    snprintf(out, 40, "%s%s", prefix, hex);
}

static enum MHD_Result accepted(kn_server *srv, kn_request *r, const char *id, int replayed) {
    jobrow row;
    if (!load_job(srv, r->tenant, id, &row)) return kn_reply_error(r->conn, 500, "internal", NULL, "job %s vanished", id);
    char *s = json_dumps(row.json, JSON_COMPACT);
    json_decref(row.json);
    if (!s) return kn_reply_error(r->conn, 500, "internal", NULL, "out of memory");
    char loc[80];
    snprintf(loc, sizeof loc, "/v1/videos/%s", id);
    struct MHD_Response *resp = MHD_create_response_from_buffer(strlen(s), s, MHD_RESPMEM_MUST_FREE);
    MHD_add_response_header(resp, "Content-Type", "application/json");
    MHD_add_response_header(resp, "Location", loc);
    if (replayed) MHD_add_response_header(resp, "Idempotent-Replayed", "true");
    enum MHD_Result res = MHD_queue_response(r->conn, 202, resp);
    MHD_destroy_response(resp);
    return res;
}

/* Looks up (tenant, key) in table: 1 same body (id filled), 2 different body, 0 unused. */
static int idem_lookup(kn_server *srv, const char *table, const char *tenant, const char *key, const char *hash, char *id) {
    char sql[160];
    snprintf(sql, sizeof sql, "SELECT id, body_hash FROM %s WHERE tenant=? AND idem_key=?", table);
    sqlite3_stmt *q = NULL;
    int res = 0;
    if (sqlite3_prepare_v2(srv->store.db, sql, -1, &q, NULL) == SQLITE_OK) {
        sqlite3_bind_text(q, 1, tenant, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(q, 2, key, -1, SQLITE_TRANSIENT);
        if (sqlite3_step(q) == SQLITE_ROW) {
            snprintf(id, 40, "%s", (const char *)sqlite3_column_text(q, 0));
            res = strcmp((const char *)sqlite3_column_text(q, 1), hash) ? 2 : 1;
        }
    }
    sqlite3_finalize(q);
    return res;
}

static enum MHD_Result create_video(kn_server *srv, kn_request *r) {
    const char *idem = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Idempotency-Key");
    if (idem && (!*idem || strlen(idem) > 255)) return kn_reply_error(r->conn, 422, "invalid", "Idempotency-Key", "Idempotency-Key must be 1 to 255 characters");
    char hash[65], id[40];
    kn_sha256_hex(r->body ? r->body : (const uint8_t *)"", r->body_n, hash);
    if (idem) {
        pthread_mutex_lock(&srv->store.mu);
        int k = idem_lookup(srv, "jobs", r->tenant, idem, hash, id);
        pthread_mutex_unlock(&srv->store.mu);
        if (k == 2) return kn_reply_error(r->conn, 409, "idempotency_conflict", "Idempotency-Key", "this Idempotency-Key was used with a different request body");
        if (k == 1) return accepted(srv, r, id, 1);
    }
    submission sub;
    enum MHD_Result res;
    if (parse_submission(srv, r, NULL, &sub, &res)) return res;
    new_id(id, "vid_");
    kn_error err = {0};
    if (sub.image && save_upload(srv, id, sub.image, sub.image_n, &err)) {
        submission_free(&sub);
        return kn_reply_error(r->conn, 500, "storage", NULL, "%s", err.msg);
    }
    pthread_mutex_lock(&srv->store.mu);
    int k = idem ? idem_lookup(srv, "jobs", r->tenant, idem, hash, id) : 0;   /* a concurrent retry may have won */
    int status = k ? 0 : check_capacity(srv, r, 1, &res);
    int ok = !k && !status && insert_job(srv, id, r->tenant, "generate", NULL, 1, sub.params, idem, idem ? hash : NULL, NULL, sub.image != NULL);
    const char *dberr = ok || k || status ? "" : sqlite3_errmsg(srv->store.db);
    char msg[256];
    snprintf(msg, sizeof msg, "%s", dberr);
    pthread_mutex_unlock(&srv->store.mu);
    submission_free(&sub);
    if (k == 2) return kn_reply_error(r->conn, 409, "idempotency_conflict", "Idempotency-Key", "this Idempotency-Key was used with a different request body");
    if (k == 1) return accepted(srv, r, id, 1);
    if (status) return res;
    if (!ok) return kn_reply_error(r->conn, 500, "storage", NULL, "cannot store the job: %s", msg);
    kn_server_wake(srv);
    return accepted(srv, r, id, 0);
}

static enum MHD_Result list_videos(kn_server *srv, kn_request *r) {
    const char *ls = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, "limit");
    const char *cs = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, "cursor");
    const char *state = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, "state");
    char *end;
    long limit = ls ? strtol(ls, &end, 10) : 20;
    if (ls && (*end || limit < 1 || limit > 100)) return kn_reply_error(r->conn, 422, "invalid", "limit", "limit must be from 1 to 100");
    long long cursor = cs ? strtoll(cs, &end, 10) : 0;
    if (cs && (*end || cursor < 0)) return kn_reply_error(r->conn, 422, "invalid", "cursor", "cursor is not one this server gave");
    if (state && !is_terminal(state) && strcmp(state, "queued") && strcmp(state, "running"))
        return kn_reply_error(r->conn, 422, "invalid", "state", "state must be queued, running, succeeded, failed or cancelled");
    json_t *items = json_array();
    sqlite3_stmt *q = NULL;
    long long last = 0;
    int n = 0, more = 0;
    pthread_mutex_lock(&srv->store.mu);
    if (sqlite3_prepare_v2(srv->store.db, "SELECT " JOB_COLS " FROM jobs WHERE tenant=?1 AND deleted=0 AND (?2 IS NULL OR state=?2)"
                           " AND (?3 = 0 OR seq < ?3) ORDER BY seq DESC LIMIT ?4", -1, &q, NULL) == SQLITE_OK) {
        sqlite3_bind_text(q, 1, r->tenant, -1, SQLITE_TRANSIENT);
        if (state) sqlite3_bind_text(q, 2, state, -1, SQLITE_TRANSIENT); else sqlite3_bind_null(q, 2);
        sqlite3_bind_int64(q, 3, cursor);
        sqlite3_bind_int64(q, 4, limit + 1);
        while (sqlite3_step(q) == SQLITE_ROW) {
            if (n == limit) { more = 1; break; }
            jobrow row;
            if (row_json(srv, q, &row)) json_array_append_new(items, row.json);
            last = row.seq;
            n++;
        }
    }
    sqlite3_finalize(q);
    pthread_mutex_unlock(&srv->store.mu);
    json_t *o = json_pack("{so}", "data", items);
    char cur[32];
    snprintf(cur, sizeof cur, "%lld", last);
    json_object_set_new(o, "next_cursor", more ? json_string(cur) : json_null());
    return kn_reply_json(r->conn, 200, o);
}

static enum MHD_Result cancel_video(kn_server *srv, kn_request *r, const char *id, int delete) {
    jobrow row;
    if (!load_job(srv, r->tenant, id, &row)) return kn_reply_error(r->conn, 404, "not_found", NULL, "no video %s", id);
    json_decref(row.json);
    if (!delete && is_terminal(row.state))
        return kn_reply_error(r->conn, 409, "conflict", "state", "the video is already %s", row.state);
    char sql[256];
    pthread_mutex_lock(&srv->store.mu);
    snprintf(sql, sizeof sql, "UPDATE jobs SET state='cancelled', finished=%.6f, error='cancelled' WHERE id='%s' AND state='queued'",
             kn_wall_now(), row.id);
    sqlite3_exec(srv->store.db, sql, NULL, NULL, NULL);
    if (delete) {
        snprintf(sql, sizeof sql, "UPDATE jobs SET deleted=1 WHERE id='%s'", row.id);
        sqlite3_exec(srv->store.db, sql, NULL, NULL, NULL);
    }
    pthread_mutex_unlock(&srv->store.mu);
    kn_server_cancel_running(srv, row.id);
    if (delete) {
        char path[2200];
        snprintf(path, sizeof path, "%s/videos/%s", srv->data_dir, row.id);
        kn_remove_tree(path);
        snprintf(path, sizeof path, "%s/uploads/%s.img", srv->data_dir, row.id);
        unlink(path);
        return kn_reply(r->conn, 204, NULL, "", 0, NULL, NULL);
    }
    if (!load_job(srv, r->tenant, id, &row)) return kn_reply_error(r->conn, 404, "not_found", NULL, "no video %s", id);
    return kn_reply_json(r->conn, 202, row.json);
}

/* ---- content and keyframes ---- */

static enum MHD_Result send_file(kn_request *r, const char *path, const char *ctype, int ranges) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st)) { if (fd >= 0) close(fd); return kn_reply_error(r->conn, 404, "not_found", NULL, "no such output"); }
    uint64_t size = (uint64_t)st.st_size, from = 0, to = size ? size - 1 : 0;
    int partial = 0;
    const char *range = ranges ? MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Range") : NULL;
    if (range) {
        unsigned long long a = 0, b = 0;
        int ok = 0;
        if (!strncmp(range, "bytes=", 6) && !strchr(range, ',')) {
            const char *s = range + 6;
            char *e;
            if (*s == '-') {                      /* suffix: the last N bytes */
                b = strtoull(s + 1, &e, 10);
                ok = !*e && e != s + 1 && b > 0 && size > 0;
                if (ok) { from = b >= size ? 0 : size - b; to = size - 1; }
            } else {
                a = strtoull(s, &e, 10);
                if (e != s && *e == '-') {
                    const char *s2 = e + 1;
                    if (!*s2) { ok = a < size; from = a; to = size - 1; }
                    else { b = strtoull(s2, &e, 10); ok = !*e && a <= b && a < size; from = a; to = b >= size ? size - 1 : b; }
                }
            }
        }
        if (!ok) {
            close(fd);
            char cr[64];
            snprintf(cr, sizeof cr, "bytes */%llu", (unsigned long long)size);
            return kn_reply(r->conn, 416, "application/json", "{\"error\":{\"code\":\"range\",\"message\":\"unsatisfiable range\"}}", 58, "Content-Range", cr);
        }
        partial = 1;
    }
    uint64_t len = size ? to - from + 1 : 0;
    struct MHD_Response *resp = MHD_create_response_from_fd_at_offset64(len, fd, (int64_t)from);
    if (!resp) { close(fd); return MHD_NO; }
    MHD_add_response_header(resp, "Content-Type", ctype);
    MHD_add_response_header(resp, "Accept-Ranges", "bytes");
    if (partial) {
        char cr[96];
        snprintf(cr, sizeof cr, "bytes %llu-%llu/%llu", (unsigned long long)from, (unsigned long long)to, (unsigned long long)size);
        MHD_add_response_header(resp, "Content-Range", cr);
    }
    enum MHD_Result res = MHD_queue_response(r->conn, partial ? 206 : 200, resp);
    MHD_destroy_response(resp);
    return res;
}

static int count_keyframes(kn_server *srv, const char *id) {
    int n = 0;
    for (;; n++) {
        char path[2300];
        snprintf(path, sizeof path, "%s/videos/%s/keyframes/%05d.png", srv->data_dir, id, n);
        if (access(path, R_OK)) return n;
    }
}

static enum MHD_Result need_succeeded(kn_request *r, const jobrow *row) {
    return kn_reply_error(r->conn, 409, "not_ready", "state", "the video is %s, not succeeded", row->state);
}

static enum MHD_Result keyframes_list(kn_server *srv, kn_request *r, const jobrow *row) {
    if (strcmp(row->state, "succeeded")) return need_succeeded(r, row);
    int n = count_keyframes(srv, row->id);
    json_t *a = json_array();
    for (int k = 0; k < n; k++) {
        char url[128];
        snprintf(url, sizeof url, "/v1/videos/%s/keyframes/%d", row->id, k);
        json_array_append_new(a, json_pack("{siss}", "index", k, "url", url));
    }
    return kn_reply_json(r->conn, 200, json_pack("{sssiso}", "id", row->id, "count", n, "keyframes", a));
}

static enum MHD_Result replace_keyframe(kn_server *srv, kn_request *r, const jobrow *row, int k) {
    if (strcmp(row->state, "succeeded")) return need_succeeded(r, row);
    int n = count_keyframes(srv, row->id);
    if (k >= n) return kn_reply_error(r->conn, 404, "not_found", "k", "the video has %d keyframes", n);
    const char *ct = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Content-Type");
    const uint8_t *img = r->body;
    size_t img_n = r->body_n;
    uint8_t *owned = NULL;
    if (ct && !strncasecmp(ct, "multipart/form-data", 19)) {
        kn_part parts[8];
        int np = kn_multipart_parse(ct, r->body, r->body_n, parts, 8);
        img = NULL;
        for (int i = 0; i < np; i++) if (!strcmp(parts[i].name, "image")) { img = parts[i].data; img_n = parts[i].n; }
        if (np < 0) return kn_reply_error(r->conn, 400, "bad_request", "body", "malformed multipart body");
    } else if (ct && !strncasecmp(ct, "application/json", 16)) {
        json_t *o = json_loadb((const char *)r->body, r->body_n, 0, NULL);
        if (!o) return kn_reply_error(r->conn, 400, "bad_json", "body", "malformed JSON");
        const char *b64 = json_string_value(json_object_get(o, "image"));
        owned = b64 ? kn_base64_decode(b64, &img_n) : NULL;
        json_decref(o);
        img = owned;
    }
    if (!img || !kn_is_image(img, img_n)) { free(owned); return kn_reply_error(r->conn, 422, "invalid", "image", "the body must be a PNG or JPEG image"); }
    json_t *params = json_deep_copy(json_object_get(row->json, "params"));
    json_object_set_new(params, "replaced_keyframe", json_integer(k));
    json_object_set_new(params, "parent_keyframes", json_integer(n));
    json_object_del(params, "rebuild_method");
    char id[40];
    new_id(id, "vid_");
    kn_error err = {0};
    enum MHD_Result res;
    if (save_upload(srv, id, img, img_n, &err)) { free(owned); json_decref(params); return kn_reply_error(r->conn, 500, "storage", NULL, "%s", err.msg); }
    free(owned);
    pthread_mutex_lock(&srv->store.mu);
    int status = check_capacity(srv, r, 1, &res);
    int ok = !status && insert_job(srv, id, r->tenant, "rebuild", row->id, row->version + 1, params, NULL, NULL, NULL, 1);
    pthread_mutex_unlock(&srv->store.mu);
    json_decref(params);
    if (status) return res;
    if (!ok) return kn_reply_error(r->conn, 500, "storage", NULL, "cannot store the job");
    kn_server_wake(srv);
    return accepted(srv, r, id, 0);
}

/* ---- server-sent events ---- */

typedef struct sse { kn_server *srv; char tenant[80], id[40]; char *last; int done; double last_send; } sse;

static ssize_t sse_read(void *cls, uint64_t pos, char *buf, size_t max) {
    (void)pos;
    sse *s = cls;
    if (s->done) return MHD_CONTENT_READER_END_OF_STREAM;
    for (;;) {
        pthread_mutex_lock(&s->srv->mu);
        int stopping = s->srv->stopping;
        pthread_mutex_unlock(&s->srv->mu);
        jobrow row;
        if (!load_job(s->srv, s->tenant, s->id, &row)) {
            s->done = 1;
            return snprintf(buf, max, "event: gone\ndata: {}\n\n");
        }
        json_object_del(row.json, "timings");   /* changes every call; not progress */
        char *txt = json_dumps(row.json, JSON_COMPACT);
        int term = is_terminal(row.state);
        json_decref(row.json);
        if (txt && (!s->last || strcmp(txt, s->last))) {
            int w = snprintf(buf, max, "event: %s\ndata: %s\n\n", term ? "done" : "progress", txt);
            free(s->last);
            s->last = txt;
            if (w < 0 || (size_t)w >= max) return MHD_CONTENT_READER_END_WITH_ERROR;
            s->done = term;
            s->last_send = kn_now();
            return w;
        }
        free(txt);
        if (stopping) return MHD_CONTENT_READER_END_OF_STREAM;
        if (kn_now() - s->last_send > 15) { s->last_send = kn_now(); return snprintf(buf, max, ": keep-alive\n\n"); }
        struct timespec ts = {0, 200 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

static void sse_free(void *cls) {
    sse *s = cls;
    free(s->last);
    free(s);
}

static enum MHD_Result events(kn_server *srv, kn_request *r, const jobrow *row) {
    sse *s = calloc(1, sizeof *s);
    if (!s) return MHD_NO;
    s->srv = srv;
    snprintf(s->tenant, sizeof s->tenant, "%s", r->tenant);
    snprintf(s->id, sizeof s->id, "%s", row->id);
    struct MHD_Response *resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 8192, sse_read, s, sse_free);
    if (!resp) { free(s); return MHD_NO; }
    MHD_add_response_header(resp, "Content-Type", "text/event-stream");
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    enum MHD_Result res = MHD_queue_response(r->conn, 200, resp);
    MHD_destroy_response(resp);
    return res;
}

/* ---- batches ---- */

static enum MHD_Result create_batch(kn_server *srv, kn_request *r) {
    json_t *items = NULL;
    size_t i = 0;
    while (i < r->body_n && (r->body[i] == ' ' || r->body[i] == '\n' || r->body[i] == '\r' || r->body[i] == '\t')) i++;
    if (i < r->body_n && r->body[i] == '[') {
        json_error_t je;
        items = json_loadb((const char *)r->body, r->body_n, 0, &je);
        if (!items) return kn_reply_error(r->conn, 400, "bad_json", "body", "malformed JSON: %s (line %d)", je.text, je.line);
    } else {                                      /* JSONL: one request object per line */
        items = json_array();
        const char *p = (const char *)r->body, *end = p + r->body_n;
        int line = 0;
        while (p && p < end) {
            const char *nl = memchr(p, '\n', (size_t)(end - p));
            size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
            line++;
            size_t k = 0;
            while (k < len && (p[k] == ' ' || p[k] == '\r' || p[k] == '\t')) k++;
            if (k < len) {
                json_error_t je;
                json_t *o = json_loadb(p, len, 0, &je);
                if (!o) { json_decref(items); return kn_reply_error(r->conn, 400, "bad_json", "body", "line %d: malformed JSON: %s", line, je.text); }
                json_array_append_new(items, o);
            }
            p = nl ? nl + 1 : NULL;
        }
    }
    size_t n = json_array_size(items);
    if (!json_is_array(items) || n == 0) { json_decref(items); return kn_reply_error(r->conn, 422, "invalid", "body", "a batch needs at least one request"); }
    if ((int)n > srv->cfg.limits.max_batch) { json_decref(items); return kn_reply_error(r->conn, 413, "too_large", "body", "a batch holds at most %d requests", srv->cfg.limits.max_batch); }
    json_t *params = json_array();
    for (size_t k = 0; k < n; k++) {
        kn_field_error fe;
        json_t *it = json_array_get(items, k);
        json_t *p = json_is_object(it) && json_object_get(it, "image") ? NULL : kn_job_params(it, &srv->cfg.limits, srv->model_id[0] ? srv->model_id : NULL, &fe);
        if (!p && json_is_object(it) && json_object_get(it, "image")) { fe.status = 422; snprintf(fe.field, sizeof fe.field, "image"); snprintf(fe.msg, sizeof fe.msg, "batches take text prompts only; submit image jobs to /v1/videos"); }
        if (!p) {
            json_decref(items); json_decref(params);
            char field[96];
            snprintf(field, sizeof field, "[%zu].%s", k, fe.field);
            return kn_reply_error(r->conn, fe.status, fe.status == 413 ? "too_large" : "invalid", field, "request %zu: %s", k, fe.msg);
        }
        json_array_append_new(params, p);
    }
    json_decref(items);
    const char *idem = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Idempotency-Key");
    char hash[65], bid[40];
    kn_sha256_hex(r->body, r->body_n, hash);
    enum MHD_Result res;
    pthread_mutex_lock(&srv->store.mu);
    int k = idem ? idem_lookup(srv, "batches", r->tenant, idem, hash, bid) : 0;
    int status = k ? 0 : check_capacity(srv, r, (int)n, &res), ok = 1;
    if (!k && !status) {
        new_id(bid, "bat_");
        sqlite3_exec(srv->store.db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
        sqlite3_stmt *q = NULL;
        ok = sqlite3_prepare_v2(srv->store.db, "INSERT INTO batches(id,tenant,created,idem_key,body_hash) VALUES(?,?,?,?,?)", -1, &q, NULL) == SQLITE_OK;
        if (ok) {
            sqlite3_bind_text(q, 1, bid, -1, SQLITE_TRANSIENT);
            sqlite3_bind_text(q, 2, r->tenant, -1, SQLITE_TRANSIENT);
            sqlite3_bind_double(q, 3, kn_wall_now());
            if (idem) sqlite3_bind_text(q, 4, idem, -1, SQLITE_TRANSIENT); else sqlite3_bind_null(q, 4);
            sqlite3_bind_text(q, 5, hash, -1, SQLITE_TRANSIENT);
            ok = sqlite3_step(q) == SQLITE_DONE;
        }
        sqlite3_finalize(q);
        for (size_t j = 0; ok && j < n; j++) {
            char id[40];
            new_id(id, "vid_");
            ok = insert_job(srv, id, r->tenant, "generate", NULL, 1, json_array_get(params, j), NULL, NULL, bid, 0);
        }
        sqlite3_exec(srv->store.db, ok ? "COMMIT" : "ROLLBACK", NULL, NULL, NULL);
    }
    pthread_mutex_unlock(&srv->store.mu);
    json_decref(params);
    if (k == 2) return kn_reply_error(r->conn, 409, "idempotency_conflict", "Idempotency-Key", "this Idempotency-Key was used with a different request body");
    if (status) return res;
    if (!ok) return kn_reply_error(r->conn, 500, "storage", NULL, "cannot store the batch");
    kn_server_wake(srv);
    return kn_reply_json(r->conn, 202, json_pack("{sssisb}", "id", bid, "count", (int)n, "replayed", k == 1));
}

static enum MHD_Result get_batch(kn_server *srv, kn_request *r, const char *bid) {
    json_t *jobs = json_array(), *counts = json_pack("{sisisisisi}", "queued", 0, "running", 0, "succeeded", 0, "failed", 0, "cancelled", 0);
    int found = 0, n = 0, terminal = 0;
    sqlite3_stmt *q = NULL;
    pthread_mutex_lock(&srv->store.mu);
    if (sqlite3_prepare_v2(srv->store.db, "SELECT 1 FROM batches WHERE id=? AND tenant=?", -1, &q, NULL) == SQLITE_OK) {
        sqlite3_bind_text(q, 1, bid, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(q, 2, r->tenant, -1, SQLITE_TRANSIENT);
        found = sqlite3_step(q) == SQLITE_ROW;
    }
    sqlite3_finalize(q);
    q = NULL;
    if (found && sqlite3_prepare_v2(srv->store.db, "SELECT id, state, progress FROM jobs WHERE batch=? AND tenant=? AND deleted=0 ORDER BY seq", -1, &q, NULL) == SQLITE_OK) {
        sqlite3_bind_text(q, 1, bid, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(q, 2, r->tenant, -1, SQLITE_TRANSIENT);
        while (sqlite3_step(q) == SQLITE_ROW) {
            const char *st = (const char *)sqlite3_column_text(q, 1);
            json_array_append_new(jobs, json_pack("{sssssf}", "id", (const char *)sqlite3_column_text(q, 0), "state", st, "progress", sqlite3_column_double(q, 2)));
            json_object_set_new(counts, st, json_integer(json_integer_value(json_object_get(counts, st)) + 1));
            n++;
            terminal += is_terminal(st);
        }
    }
    sqlite3_finalize(q);
    pthread_mutex_unlock(&srv->store.mu);
    if (!found) { json_decref(jobs); json_decref(counts); return kn_reply_error(r->conn, 404, "not_found", NULL, "no batch %s", bid); }
    return kn_reply_json(r->conn, 200, json_pack("{sssssisoso}", "id", bid, "state", terminal == n ? "done" : "in_progress",
                                                 "count", n, "counts", counts, "jobs", jobs));
}

static enum MHD_Result models(kn_server *srv, kn_request *r) {
    json_t *a = json_array();
    if (srv->model_id[0])
        json_array_append_new(a, json_pack("{sssssbssss}", "id", srv->model_id, "path", srv->model_dir, "available", srv->model_code == KN_OK,
                                           "status", srv->model_code == KN_OK ? "ok" : kn_status_name(srv->model_code),
                                           "error", srv->model_err));
    return kn_reply_json(r->conn, 200, json_pack("{so}", "data", a));
}

/* ---- routing ---- */

static int split(const char *url, char seg[6][64]) {
    int n = 0;
    const char *p = url;
    while (*p == '/') p++;
    while (*p && n < 6) {
        size_t k = 0;
        while (*p && *p != '/') { if (k < 63) seg[n][k++] = *p; else return -1; p++; }
        seg[n++][k] = 0;
        while (*p == '/') p++;
    }
    return *p ? -1 : n;
}

enum MHD_Result kn_route_v1(kn_server *srv, kn_request *r) {
    char seg[6][64];
    int n = split(r->url, seg);
    const char *m = r->method;
    int get = !strcmp(m, "GET") || !strcmp(m, "HEAD"), post = !strcmp(m, "POST");
    if (n < 2) return kn_reply_error(r->conn, 404, "not_found", NULL, "no route %s", r->url);
    if (!strcmp(seg[1], "models") && n == 2) return get ? models(srv, r) : kn_reply_error(r->conn, 405, "method", NULL, "use GET");
    if (!strcmp(seg[1], "batches")) {
        if (n == 2 && post) return create_batch(srv, r);
        if (n == 3 && get) return get_batch(srv, r, seg[2]);
        return kn_reply_error(r->conn, n <= 3 ? 405 : 404, n <= 3 ? "method" : "not_found", NULL, "no route %s %s", m, r->url);
    }
    if (strcmp(seg[1], "videos")) return kn_reply_error(r->conn, 404, "not_found", NULL, "no route %s", r->url);
    if (n == 2) {
        if (post) return create_video(srv, r);
        if (get) return list_videos(srv, r);
        return kn_reply_error(r->conn, 405, "method", NULL, "use GET or POST");
    }
    jobrow row;
    if (!load_job(srv, r->tenant, seg[2], &row)) return kn_reply_error(r->conn, 404, "not_found", NULL, "no video %s", seg[2]);
    enum MHD_Result res;
    if (n == 3 && get) res = kn_reply_json(r->conn, 200, json_incref(row.json));
    else if (n == 3 && !strcmp(m, "DELETE")) res = cancel_video(srv, r, row.id, 1);
    else if (n == 4 && post && !strcmp(seg[3], "cancel")) res = cancel_video(srv, r, row.id, 0);
    else if (n == 4 && get && !strcmp(seg[3], "events")) res = events(srv, r, &row);
    else if (n == 4 && get && !strcmp(seg[3], "content")) {
        char path[2300];
        snprintf(path, sizeof path, "%s/videos/%s/video.mp4", srv->data_dir, row.id);
        res = strcmp(row.state, "succeeded") ? need_succeeded(r, &row) : send_file(r, path, "video/mp4", 1);
    } else if (n == 4 && get && !strcmp(seg[3], "keyframes")) res = keyframes_list(srv, r, &row);
    else if (n == 5 && !strcmp(seg[3], "keyframes") && (get || !strcmp(m, "PUT"))) {
        char *end;
        long k = strtol(seg[4], &end, 10);
        if (*end || end == seg[4] || k < 0 || k > 100000) res = kn_reply_error(r->conn, 404, "not_found", "k", "keyframe index '%s'", seg[4]);
        else if (!get) res = replace_keyframe(srv, r, &row, (int)k);
        else if (strcmp(row.state, "succeeded")) res = need_succeeded(r, &row);
        else {
            char path[2300];
            snprintf(path, sizeof path, "%s/videos/%s/keyframes/%05ld.png", srv->data_dir, row.id, k);
            res = send_file(r, path, "image/png", 0);
        }
    } else if (n <= 5) res = kn_reply_error(r->conn, n == 3 || !strcmp(seg[3], "cancel") || !strcmp(seg[3], "events") || !strcmp(seg[3], "content")
                                                || !strcmp(seg[3], "keyframes") ? 405 : 404, "no_route", NULL, "no route %s %s", m, r->url);
    else res = kn_reply_error(r->conn, 404, "not_found", NULL, "no route %s", r->url);
    json_decref(row.json);
    return res;
}
