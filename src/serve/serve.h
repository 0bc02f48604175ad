/* src/serve: `kinora serve`, the HTTP generation service (libmicrohttpd + SQLite + jansson).
 * Contract:
 *  - Every accepted job is a row in DIR/kinora.db (SQLite, WAL, synchronous=FULL) before the 202 is
 *    sent; outputs go to DIR/videos/<id>/ through temp names + rename, and a job turns "succeeded"
 *    only in the transaction that follows the rename, guarded by state='running' so it completes
 *    once. On open, rows left "running" by a killed process go back to "queued" (attempts counts).
 *  - API keys are stored as SHA-256(salt || key) with a per-key random salt; the key itself is shown
 *    once. Every /v1 route needs "Authorization: Bearer KEY" (or X-API-Key); a job of another
 *    tenant answers 404 exactly as a missing one.
 *  - Workers claim the oldest queued job, run kn_pipeline_generate with a progress callback that
 *    records stage/progress (throttled) and a cancel flag raised by cancel, delete or shutdown.
 *  - Errors are JSON {"error": {"code": ..., "message": ..., "field": ...}}.
 * Nothing here keeps global state: one kn_server owns the database, the workers and the metrics. */
#ifndef KN_SERVE_H
#define KN_SERVE_H
#include <pthread.h>
#include <sqlite3.h>
#include <stdint.h>
#include <jansson.h>
#include "core/core.h"

/* ---- SHA-256 (FIPS 180-4) ---- */
typedef struct kn_sha256 { uint32_t h[8]; uint64_t len; uint8_t buf[64]; size_t nbuf; } kn_sha256;
void kn_sha256_init(kn_sha256 *s);
void kn_sha256_update(kn_sha256 *s, const void *data, size_t n);
void kn_sha256_final(kn_sha256 *s, uint8_t out[32]);
void kn_sha256_hex(const void *data, size_t n, char out[65]);
/* n random bytes from the kernel (getrandom) as 2n hex chars + NUL. */
kn_status kn_random_hex(char *out, size_t nbytes, kn_error *err);

/* ---- limits and settings ---- */
typedef struct kn_serve_limits {
    size_t max_body;          /* bytes of a request body (413 above) */
    int max_prompt;           /* characters */
    int max_frames, max_keyframes, max_steps;
    long max_pixels;          /* width * height */
    int max_queue;            /* queued jobs over all tenants (429 above) */
    int tenant_quota;         /* queued + running jobs of one tenant (429 above) */
    double rate;              /* requests per second per key (token bucket); 0 = unlimited */
    double burst;
    int max_batch;            /* items in one batch */
} kn_serve_limits;
void kn_serve_limits_default(kn_serve_limits *l);

typedef struct kn_serve_config {
    const char *data_dir;
    const char *model_dir;    /* NULL: no model (jobs fail with a clear error) */
    int port;
    const char *bind;         /* address, default 127.0.0.1 */
    int workers;              /* 0: accept jobs but never run them (tests, maintenance) */
    int threads;              /* compute threads per worker */
    double drain_seconds;     /* SIGTERM: how long running jobs may finish before re-queueing */
    kn_serve_limits limits;
} kn_serve_config;

/* ---- store (SQLite) ---- */
typedef struct kn_store { sqlite3 *db; pthread_mutex_t mu; } kn_store;
kn_status kn_store_open(kn_store *s, const char *data_dir, int recover, kn_error *err);
void kn_store_close(kn_store *s);

/* ---- API keys ---- */
/* Creates a key for tenant: writes the full key (shown once) to key_out (>= 64 bytes). */
kn_status kn_keys_create(kn_store *s, const char *tenant, char *key_out, kn_error *err);
/* JSON array of {id, tenant, prefix, created, revoked}. */
kn_status kn_keys_list(kn_store *s, json_t **out, kn_error *err);
kn_status kn_keys_revoke(kn_store *s, const char *id_or_prefix, int *found, kn_error *err);
/* 1 if valid, with tenant (cap bytes) and key id; 0 if not. */
int kn_keys_verify(kn_store *s, const char *key, char *tenant, size_t cap, long long *key_id);

/* ---- metrics ---- */
#define KN_HIST_BUCKETS 14
typedef struct kn_hist { double sum; uint64_t count; uint64_t b[KN_HIST_BUCKETS]; } kn_hist;
typedef struct kn_metrics {
    pthread_mutex_t mu;
    kn_hist stage[6];          /* seconds per pipeline stage (kn_stage) */
    kn_hist frame;             /* seconds per output frame */
    kn_hist request;           /* seconds per HTTP request */
    uint64_t steps_total;      /* denoising steps done */
    double steps_seconds;      /* time spent in them */
    double last_steps_per_s;
    uint64_t completed, failed, cancelled, rate_limited;
} kn_metrics;
void kn_metrics_init(kn_metrics *m);
void kn_metrics_observe(kn_metrics *m, kn_hist *h, double v);
/* Prometheus text exposition (kinora_*); job counts come from the store. Caller frees. */
char *kn_metrics_render(kn_metrics *m, kn_store *s, int workers_busy, int workers);

/* ---- job parameters (validated request -> JSON stored with the job) ---- */
typedef struct kn_field_error { int status; char field[64]; char msg[256]; } kn_field_error;
/* Validates a request object and returns the normalized parameter object (defaults filled, seed
 * drawn when absent). On failure returns NULL with fe set (status 422 or 413, the field named). */
json_t *kn_job_params(const json_t *req, const kn_serve_limits *lim, const char *model_id, kn_field_error *fe);
/* base64 (standard or URL alphabet, padding optional, data: URL prefix allowed). Caller frees. */
uint8_t *kn_base64_decode(const char *s, size_t *n);
/* PNG or JPEG by signature. */
int kn_is_image(const uint8_t *p, size_t n);

/* ---- multipart/form-data ---- */
typedef struct kn_part { char name[64]; char filename[128]; char ctype[64]; const uint8_t *data; size_t n; } kn_part;
/* Splits body (kept alive by the caller) into at most cap parts; returns the count or -1. */
int kn_multipart_parse(const char *content_type, const uint8_t *body, size_t n, kn_part *parts, int cap);

/* ---- the server ---- */
typedef struct kn_server kn_server;
kn_status kn_server_start(const kn_serve_config *cfg, kn_server **out, kn_error *err);
/* Stops accepting requests and jobs, lets running jobs finish for drain_seconds, then cancels and
 * re-queues them; frees everything. */
void kn_server_stop(kn_server *srv);
int kn_server_port(const kn_server *srv);

/* Page and OpenAPI document (static text). */
extern const char kn_serve_page_html[];
extern const char kn_serve_openapi_json[];

/* Cross-fade rebuild (used when no model can be opened for kn_pipeline_regenerate): fills video with
 * nframes frames where keyframe k sits at index round(k*(nframes-1)/(nk-1)) and frames between two
 * keyframes blend them linearly. */
kn_status kn_crossfade(const kn_video *keyframes, int nframes, float fps, kn_video *video, kn_error *err);

#endif
