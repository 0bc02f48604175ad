/* src/serve internals shared by http.c, routes.c and worker.c (not part of the public contract). */
#ifndef KN_SERVE_IMPL_H
#define KN_SERVE_IMPL_H
#include <microhttpd.h>
#include "serve/serve.h"

#include "io/media.h"

typedef struct kn_slot {           /* one worker's current job */
    struct kn_server *srv;
    char id[40];
    volatile int cancel;           /* raised by cancel/delete/shutdown; read by the pipeline */
    int shutdown;                  /* the cancel came from shutdown: re-queue instead of "cancelled" */
    int busy;
} kn_slot;

typedef struct kn_bucket { long long key; double tokens, t; } kn_bucket;

struct kn_server {
    kn_serve_config cfg;
    char data_dir[2048], model_dir[2048], model_id[128];
    kn_store store;
    int lock_fd;                   /* flock on DIR/serve.lock */
    kn_metrics metrics;
    struct MHD_Daemon *daemon;
    pthread_mutex_t mu;            /* guards slots, buckets, stopping */
    pthread_cond_t cv;
    int stopping;                  /* 1: no new jobs claimed; 2: workers must exit */
    int nworkers;
    pthread_t *threads;
    kn_slot *slots;
    kn_bucket buckets[512];
    int nbuckets;
    kn_status model_code;          /* result of probing kn_pipeline_open at start */
    char model_err[1024];
};

double kn_wall_now(void);
void kn_server_wake(kn_server *srv);
/* Raises the cancel flag of the worker running id; returns 1 if one was. */
int kn_server_cancel_running(kn_server *srv, const char *id);
void *kn_worker_main(void *arg);
/* Removes DIR/videos/<id> (and its temp siblings). */
void kn_remove_tree(const char *path);

typedef struct kn_request {
    const char *method, *url;
    struct MHD_Connection *conn;
    const uint8_t *body;
    size_t body_n;
    char tenant[80];
    long long key_id;
} kn_request;

/* Route an authenticated /v1 request; returns the MHD result of queueing a response. */
enum MHD_Result kn_route_v1(kn_server *srv, kn_request *r);
enum MHD_Result kn_reply(struct MHD_Connection *c, int status, const char *ctype, const void *data, size_t n,
                         const char *hname, const char *hval);
enum MHD_Result kn_reply_json(struct MHD_Connection *c, int status, json_t *body);   /* steals body */
enum MHD_Result kn_reply_error(struct MHD_Connection *c, int status, const char *code, const char *field,
                               const char *fmt, ...) __attribute__((format(printf, 5, 6)));
#endif
