/* HTTP plumbing (libmicrohttpd, one thread per connection so that server-sent events may block):
 * body buffering with the size limit, API-key authentication, the per-key token bucket, the
 * unauthenticated routes (/, /openapi.json, /healthz, /readyz, /metrics), and start/stop. */
#include "serve/impl.h"
#include <arpa/inet.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <fcntl.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>
#include "io/io.h"

double kn_wall_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (double)t.tv_sec + t.tv_nsec * 1e-9;
}

enum MHD_Result kn_reply(struct MHD_Connection *c, int status, const char *ctype, const void *data, size_t n,
                         const char *hname, const char *hval) {
    struct MHD_Response *r = MHD_create_response_from_buffer(n, (void *)data, MHD_RESPMEM_MUST_COPY);
    if (!r) return MHD_NO;
    if (ctype) MHD_add_response_header(r, "Content-Type", ctype);
    if (hname) MHD_add_response_header(r, hname, hval);
    MHD_add_response_header(r, "Cache-Control", "no-store");
    enum MHD_Result ok = MHD_queue_response(c, (unsigned)status, r);
    MHD_destroy_response(r);
    return ok;
}

enum MHD_Result kn_reply_json(struct MHD_Connection *c, int status, json_t *body) {
    char *s = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (!s) return kn_reply(c, 500, "application/json", "{\"error\":{\"code\":\"internal\",\"message\":\"out of memory\"}}", 52, NULL, NULL);
    enum MHD_Result ok = kn_reply(c, status, "application/json", s, strlen(s), NULL, NULL);
    free(s);
    return ok;
}

enum MHD_Result kn_reply_error(struct MHD_Connection *c, int status, const char *code, const char *field, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    json_t *e = json_pack("{ssss}", "code", code, "message", msg);
    if (e && field) json_object_set_new(e, "field", json_string(field));
    return kn_reply_json(c, status, json_pack("{so}", "error", e));
}

void kn_server_wake(kn_server *srv) {
    pthread_mutex_lock(&srv->mu);
    pthread_cond_broadcast(&srv->cv);
    pthread_mutex_unlock(&srv->mu);
}

int kn_server_cancel_running(kn_server *srv, const char *id) {
    int found = 0;
    pthread_mutex_lock(&srv->mu);
    for (int i = 0; i < srv->nworkers; i++)
        if (srv->slots[i].busy && !strcmp(srv->slots[i].id, id)) { srv->slots[i].cancel = 1; found = 1; }
    pthread_mutex_unlock(&srv->mu);
    return found;
}

/* Token bucket per key: returns 0 if allowed, else the seconds to wait. */
static int rate_check(kn_server *srv, long long key) {
    const kn_serve_limits *l = &srv->cfg.limits;
    if (l->rate <= 0) return 0;
    double now = kn_now();
    int wait = 0;
    pthread_mutex_lock(&srv->mu);
    kn_bucket *b = NULL;
    for (int i = 0; i < srv->nbuckets && !b; i++) if (srv->buckets[i].key == key) b = &srv->buckets[i];
    if (!b) {
        /* a full table recycles the slot idle longest: it would have refilled anyway */
        int slot = srv->nbuckets < (int)(sizeof srv->buckets / sizeof srv->buckets[0]) ? srv->nbuckets++ : 0;
        for (int i = 0; i < srv->nbuckets; i++) if (srv->buckets[i].t < srv->buckets[slot].t) slot = i;
        b = &srv->buckets[slot];
        b->key = key;
        b->tokens = l->burst;
        b->t = now;
    }
    b->tokens = fmin(l->burst, b->tokens + (now - b->t) * l->rate);
    b->t = now;
    if (b->tokens >= 1) b->tokens -= 1;
    else wait = (int)ceil((1 - b->tokens) / l->rate);
    pthread_mutex_unlock(&srv->mu);
    return wait < 0 ? 0 : wait;
}

typedef struct conn_state { uint8_t *body; size_t n, cap; int too_big; double t0; } conn_state;

static enum MHD_Result public_route(kn_server *srv, struct MHD_Connection *c, const char *method, const char *url, int *handled) {
    *handled = 1;
    int get = !strcmp(method, "GET") || !strcmp(method, "HEAD");
    if (get && (!strcmp(url, "/") || !strcmp(url, "/index.html")))
        return kn_reply(c, 200, "text/html; charset=utf-8", kn_serve_page_html, strlen(kn_serve_page_html), NULL, NULL);
    if (get && !strcmp(url, "/openapi.json"))
        return kn_reply(c, 200, "application/json", kn_serve_openapi_json, strlen(kn_serve_openapi_json), NULL, NULL);
    if (get && !strcmp(url, "/healthz")) return kn_reply_json(c, 200, json_pack("{ss}", "status", "ok"));
    if (get && !strcmp(url, "/readyz")) {
        pthread_mutex_lock(&srv->mu);
        int stopping = srv->stopping;
        pthread_mutex_unlock(&srv->mu);
        int db_ok = 0;
        pthread_mutex_lock(&srv->store.mu);
        db_ok = sqlite3_exec(srv->store.db, "SELECT 1 FROM jobs LIMIT 1", NULL, NULL, NULL) == SQLITE_OK;
        pthread_mutex_unlock(&srv->store.mu);
        int ready = !stopping && db_ok;
        return kn_reply_json(c, ready ? 200 : 503, json_pack("{sssbsbss}", "status", ready ? "ready" : "not ready",
                             "database", db_ok, "model_loadable", srv->model_code == KN_OK,
                             "model_status", srv->model_code == KN_OK ? "ok" : srv->model_err));
    }
    if (get && !strcmp(url, "/metrics")) {
        int busy = 0;
        pthread_mutex_lock(&srv->mu);
        for (int i = 0; i < srv->nworkers; i++) busy += srv->slots[i].busy;
        pthread_mutex_unlock(&srv->mu);
        char *m = kn_metrics_render(&srv->metrics, &srv->store, busy, srv->nworkers);
        if (!m) return kn_reply_error(c, 500, "internal", NULL, "out of memory");
        enum MHD_Result ok = kn_reply(c, 200, "text/plain; version=0.0.4", m, strlen(m), NULL, NULL);
        free(m);
        return ok;
    }
    *handled = 0;
    return MHD_NO;
}

static const char *api_key(struct MHD_Connection *c) {
    const char *a = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    if (a && !strncasecmp(a, "Bearer ", 7)) return a + 7;
    return MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-API-Key");
}

static enum MHD_Result dispatch(kn_server *srv, struct MHD_Connection *c, const char *method, const char *url, conn_state *cs) {
    int handled;
    enum MHD_Result res = public_route(srv, c, method, url, &handled);
    if (handled) return res;
    if (strncmp(url, "/v1/", 4)) return kn_reply_error(c, 404, "not_found", NULL, "no route %s %s", method, url);
    kn_request r = {method, url, c, cs->body, cs->n, "", 0};
    if (!kn_keys_verify(&srv->store, api_key(c), r.tenant, sizeof r.tenant, &r.key_id)) {
        struct MHD_Response *resp = MHD_create_response_from_buffer(
            69, (void *)"{\"error\":{\"code\":\"unauthorized\",\"message\":\"a valid API key is needed\"}}", MHD_RESPMEM_PERSISTENT);
        MHD_add_response_header(resp, "Content-Type", "application/json");
        MHD_add_response_header(resp, "WWW-Authenticate", "Bearer");
        res = MHD_queue_response(c, 401, resp);
        MHD_destroy_response(resp);
        return res;
    }
    int wait = rate_check(srv, r.key_id);
    if (wait) {
        pthread_mutex_lock(&srv->metrics.mu);
        srv->metrics.rate_limited++;
        pthread_mutex_unlock(&srv->metrics.mu);
        char ra[16];
        snprintf(ra, sizeof ra, "%d", wait);
        return kn_reply(c, 429, "application/json", "{\"error\":{\"code\":\"rate_limited\",\"message\":\"too many requests for this key\"}}",
                        78, "Retry-After", ra);
    }
    if (cs->too_big)
        return kn_reply_error(c, 413, "too_large", "body", "the request body is over %zu bytes", srv->cfg.limits.max_body);
    return kn_route_v1(srv, &r);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload, size_t *upload_n, void **con_cls) {
    (void)version;
    kn_server *srv = cls;
    conn_state *cs = *con_cls;
    if (!cs) {
        cs = calloc(1, sizeof *cs);
        if (!cs) return MHD_NO;
        cs->t0 = kn_now();
        *con_cls = cs;
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
        if (cl && strtoull(cl, NULL, 10) > srv->cfg.limits.max_body) cs->too_big = 1;
        if (cs->too_big && !strncmp(url, "/v1/", 4))   /* answer before reading the body at all */
            return kn_reply_error(c, 413, "too_large", "body", "the request body is over %zu bytes", srv->cfg.limits.max_body);
        return MHD_YES;
    }
    if (*upload_n) {
        if (!cs->too_big && cs->n + *upload_n > srv->cfg.limits.max_body) cs->too_big = 1;
        if (!cs->too_big) {
            if (cs->n + *upload_n + 1 > cs->cap) {
                size_t nc = (cs->n + *upload_n + 1) * 2;
                if (nc > srv->cfg.limits.max_body + 1) nc = srv->cfg.limits.max_body + 1;
                uint8_t *nb = realloc(cs->body, nc);
                if (!nb) return MHD_NO;
                cs->body = nb;
                cs->cap = nc;
            }
            memcpy(cs->body + cs->n, upload, *upload_n);
            cs->n += *upload_n;
            cs->body[cs->n] = 0;
        }
        *upload_n = 0;
        return MHD_YES;
    }
    return dispatch(srv, c, method, url, cs);
}

static void on_done(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode code) {
    (void)c; (void)code;
    kn_server *srv = cls;
    conn_state *cs = *con_cls;
    if (!cs) return;
    kn_metrics_observe(&srv->metrics, &srv->metrics.request, kn_now() - cs->t0);
    free(cs->body);
    free(cs);
    *con_cls = NULL;
}

kn_status kn_server_start(const kn_serve_config *cfg, kn_server **out, kn_error *err) {
    kn_server *srv = calloc(1, sizeof *srv);
    if (!srv) return kn_fail(err, KN_ENOMEM, "out of memory");
    srv->cfg = *cfg;
    snprintf(srv->data_dir, sizeof srv->data_dir, "%s", cfg->data_dir);
    if (cfg->model_dir) {
        snprintf(srv->model_dir, sizeof srv->model_dir, "%s", cfg->model_dir);
        const char *b = strrchr(cfg->model_dir, '/');
        while (b && !b[1] && b > cfg->model_dir) {   /* trailing slash: use the folder before it */
            const char *p = b - 1;
            while (p > cfg->model_dir && *p != '/') p--;
            b = p;
        }
        snprintf(srv->model_id, sizeof srv->model_id, "%s", b ? b + (*b == '/') : cfg->model_dir);
        char *slash = strchr(srv->model_id, '/');
        if (slash) *slash = 0;
    }
    pthread_mutex_init(&srv->mu, NULL);
    pthread_cond_init(&srv->cv, NULL);
    kn_metrics_init(&srv->metrics);
    /* one server per data folder: recovery would otherwise re-queue a live server's running jobs */
    kn_status st = kn_mkdirs(cfg->data_dir, err);
    char lockp[2100];
    snprintf(lockp, sizeof lockp, "%s/serve.lock", srv->data_dir);
    srv->lock_fd = st ? -1 : open(lockp, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (!st && (srv->lock_fd < 0 || flock(srv->lock_fd, LOCK_EX | LOCK_NB)))
        st = kn_fail(err, KN_EIO, "%s: another kinora serve uses this data folder", lockp);
    if (!st) st = kn_store_open(&srv->store, cfg->data_dir, 1, err);
    char up[2100];
    snprintf(up, sizeof up, "%s/uploads", srv->data_dir);
    if (!st) st = kn_mkdirs(up, err);
    if (st) { if (srv->lock_fd >= 0) close(srv->lock_fd); free(srv); return st; }
    /* probe the model once so /v1/models and /readyz can say whether jobs can succeed */
    kn_error perr = {0};
    kn_pipeline *probe = NULL;
    if (!srv->model_dir[0]) { srv->model_code = KN_EINVAL; snprintf(srv->model_err, sizeof srv->model_err, "no --model given"); }
    else {
        srv->model_code = kn_pipeline_open(srv->model_dir, 1, &probe, &perr);
        snprintf(srv->model_err, sizeof srv->model_err, "%s", srv->model_code ? perr.msg : "");
        if (!srv->model_code) kn_pipeline_close(probe);
    }
    srv->nworkers = cfg->workers;
    srv->slots = calloc((size_t)(cfg->workers > 0 ? cfg->workers : 1), sizeof *srv->slots);
    srv->threads = calloc((size_t)(cfg->workers > 0 ? cfg->workers : 1), sizeof *srv->threads);
    if (!srv->slots || !srv->threads) { kn_store_close(&srv->store); close(srv->lock_fd); free(srv->slots); free(srv->threads); free(srv); return kn_fail(err, KN_ENOMEM, "out of memory"); }
    struct sockaddr_in addr = {0};
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)cfg->port);
    if (inet_pton(AF_INET, cfg->bind ? cfg->bind : "127.0.0.1", &addr.sin_addr) != 1) {
        kn_store_close(&srv->store); close(srv->lock_fd); free(srv->slots); free(srv->threads); free(srv);
        return kn_fail(err, KN_EINVAL, "--bind: '%s' is not an IPv4 address", cfg->bind);
    }
    srv->daemon = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_ERROR_LOG,
                                   (uint16_t)cfg->port, NULL, NULL, on_request, srv,
                                   MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
                                   MHD_OPTION_NOTIFY_COMPLETED, on_done, srv,
                                   MHD_OPTION_CONNECTION_LIMIT, (unsigned)1000,
                                   MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)120, MHD_OPTION_END);
    if (!srv->daemon) {
        kn_store_close(&srv->store); close(srv->lock_fd); free(srv->slots); free(srv->threads); free(srv);
        return kn_fail(err, KN_EIO, "cannot listen on %s:%d (port in use?)", cfg->bind ? cfg->bind : "127.0.0.1", cfg->port);
    }
    for (int i = 0; i < cfg->workers; i++) {
        srv->slots[i].srv = srv;
        if (pthread_create(&srv->threads[i], NULL, kn_worker_main, &srv->slots[i])) {
            srv->nworkers = i;
            break;
        }
    }
    *out = srv;
    return KN_OK;
}

int kn_server_port(const kn_server *srv) {
    const union MHD_DaemonInfo *i = MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_BIND_PORT);
    return i ? i->port : srv->cfg.port;
}

void kn_server_stop(kn_server *srv) {
    if (!srv) return;
    pthread_mutex_lock(&srv->mu);
    srv->stopping = 1;
    pthread_cond_broadcast(&srv->cv);
    pthread_mutex_unlock(&srv->mu);
    MHD_stop_daemon(srv->daemon);          /* event streams see `stopping` and end */
    double t_end = kn_now() + srv->cfg.drain_seconds;
    for (;;) {
        int busy = 0;
        pthread_mutex_lock(&srv->mu);
        for (int i = 0; i < srv->nworkers; i++) busy += srv->slots[i].busy;
        if (busy && kn_now() >= t_end)
            for (int i = 0; i < srv->nworkers; i++)
                if (srv->slots[i].busy) { srv->slots[i].shutdown = 1; srv->slots[i].cancel = 1; }
        pthread_mutex_unlock(&srv->mu);
        if (!busy || kn_now() >= t_end) break;
        struct timespec ts = {0, 50 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    for (int i = 0; i < srv->nworkers; i++) pthread_join(srv->threads[i], NULL);
    kn_store_close(&srv->store);
    close(srv->lock_fd);
    pthread_mutex_destroy(&srv->metrics.mu);
    pthread_mutex_destroy(&srv->mu);
    pthread_cond_destroy(&srv->cv);
    free(srv->slots);
    free(srv->threads);
    free(srv);
}
