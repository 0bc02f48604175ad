/* Prometheus text exposition for the service: job counts by state and queue depth (from the store,
 * so they survive restarts), latency histograms, denoising throughput, process CPU and memory. */
#include "serve/serve.h"
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

static const double BOUNDS[KN_HIST_BUCKETS] = {0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 120};

void kn_metrics_init(kn_metrics *m) {
    memset(m, 0, sizeof *m);
    pthread_mutex_init(&m->mu, NULL);
}

void kn_metrics_observe(kn_metrics *m, kn_hist *h, double v) {
    pthread_mutex_lock(&m->mu);
    h->sum += v;
    h->count++;
    for (int i = 0; i < KN_HIST_BUCKETS; i++)
        if (v <= BOUNDS[i]) h->b[i]++;
    pthread_mutex_unlock(&m->mu);
}

typedef struct { char *p; size_t n, cap; int oom; } sbuf;

static void put(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(sbuf *b, const char *fmt, ...) {
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int w = vsnprintf(b->p ? b->p + b->n : NULL, b->p ? b->cap - b->n : 0, fmt, ap);
        va_end(ap);
        if (w < 0) { b->oom = 1; return; }
        if (b->p && b->n + (size_t)w < b->cap) { b->n += (size_t)w; return; }
        size_t nc = (b->cap + (size_t)w + 1) * 2;
        char *np = realloc(b->p, nc);
        if (!np) { b->oom = 1; return; }
        b->p = np;
        b->cap = nc;
    }
}

static void hist(sbuf *b, const char *name, const char *label, const kn_hist *h) {
    for (int i = 0; i < KN_HIST_BUCKETS; i++)
        put(b, "%s_bucket{%s%sle=\"%g\"} %llu\n", name, label, *label ? "," : "", BOUNDS[i], (unsigned long long)h->b[i]);
    put(b, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, label, *label ? "," : "", (unsigned long long)h->count);
    if (*label) put(b, "%s_sum{%s} %.6f\n%s_count{%s} %llu\n", name, label, h->sum, name, label, (unsigned long long)h->count);
    else put(b, "%s_sum %.6f\n%s_count %llu\n", name, h->sum, name, (unsigned long long)h->count);
}

static long rss_bytes(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = 0, res = 0;
    if (f) { if (fscanf(f, "%ld %ld", &pages, &res) != 2) res = 0; fclose(f); }
    return res * sysconf(_SC_PAGESIZE);
}

char *kn_metrics_render(kn_metrics *m, kn_store *s, int workers_busy, int workers) {
    sbuf b = {0};
    static const char *states[] = {"queued", "running", "succeeded", "failed", "cancelled"};
    long long counts[5] = {0};
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *q = NULL;
    if (sqlite3_prepare_v2(s->db, "SELECT state, COUNT(*) FROM jobs WHERE deleted=0 GROUP BY state", -1, &q, NULL) == SQLITE_OK)
        while (sqlite3_step(q) == SQLITE_ROW)
            for (int i = 0; i < 5; i++)
                if (!strcmp((const char *)sqlite3_column_text(q, 0), states[i])) counts[i] = sqlite3_column_int64(q, 1);
    sqlite3_finalize(q);
    pthread_mutex_unlock(&s->mu);
    put(&b, "# HELP kinora_jobs Jobs by state (not deleted).\n# TYPE kinora_jobs gauge\n");
    for (int i = 0; i < 5; i++) put(&b, "kinora_jobs{state=\"%s\"} %lld\n", states[i], counts[i]);
    put(&b, "# HELP kinora_queue_depth Jobs waiting for a worker.\n# TYPE kinora_queue_depth gauge\nkinora_queue_depth %lld\n", counts[0]);
    put(&b, "# HELP kinora_workers Worker threads.\n# TYPE kinora_workers gauge\nkinora_workers %d\n", workers);
    put(&b, "# HELP kinora_workers_busy Workers running a job.\n# TYPE kinora_workers_busy gauge\nkinora_workers_busy %d\n", workers_busy);
    pthread_mutex_lock(&m->mu);
    put(&b, "# HELP kinora_stage_seconds Time per pipeline stage.\n# TYPE kinora_stage_seconds histogram\n");
    for (int i = 0; i < 6; i++) {
        char label[48];
        snprintf(label, sizeof label, "stage=\"%s\"", kn_stage_name((kn_stage)i));
        hist(&b, "kinora_stage_seconds", label, &m->stage[i]);
    }
    put(&b, "# HELP kinora_frame_seconds Generation time per output frame.\n# TYPE kinora_frame_seconds histogram\n");
    hist(&b, "kinora_frame_seconds", "", &m->frame);
    put(&b, "# HELP kinora_http_request_seconds HTTP request handling time.\n# TYPE kinora_http_request_seconds histogram\n");
    hist(&b, "kinora_http_request_seconds", "", &m->request);
    put(&b, "# HELP kinora_rate_limited_total Requests refused with 429.\n# TYPE kinora_rate_limited_total counter\n"
            "kinora_rate_limited_total %llu\n", (unsigned long long)m->rate_limited);
    put(&b, "# HELP kinora_jobs_finished_total Jobs finished by this process.\n# TYPE kinora_jobs_finished_total counter\n"
            "kinora_jobs_finished_total{state=\"succeeded\"} %llu\nkinora_jobs_finished_total{state=\"failed\"} %llu\n"
            "kinora_jobs_finished_total{state=\"cancelled\"} %llu\n",
        (unsigned long long)m->completed, (unsigned long long)m->failed, (unsigned long long)m->cancelled);
    put(&b, "# HELP kinora_denoise_steps_total Denoising steps done.\n# TYPE kinora_denoise_steps_total counter\n"
            "kinora_denoise_steps_total %llu\n", (unsigned long long)m->steps_total);
    put(&b, "# HELP kinora_denoise_steps_per_second Steps per second over all denoising so far.\n"
            "# TYPE kinora_denoise_steps_per_second gauge\nkinora_denoise_steps_per_second %.4f\n",
        m->steps_seconds > 0 ? (double)m->steps_total / m->steps_seconds : 0.0);
    put(&b, "# HELP kinora_denoise_steps_per_second_last Steps per second of the last job.\n"
            "# TYPE kinora_denoise_steps_per_second_last gauge\nkinora_denoise_steps_per_second_last %.4f\n", m->last_steps_per_s);
    pthread_mutex_unlock(&m->mu);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double cpu = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec * 1e-6 + (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec * 1e-6;
    put(&b, "# HELP kinora_process_cpu_seconds_total User and system CPU time.\n# TYPE kinora_process_cpu_seconds_total counter\n"
            "kinora_process_cpu_seconds_total %.3f\n", cpu);
    put(&b, "# HELP kinora_process_resident_memory_bytes Resident memory.\n# TYPE kinora_process_resident_memory_bytes gauge\n"
            "kinora_process_resident_memory_bytes %ld\n", rss_bytes());
    put(&b, "# HELP kinora_process_max_resident_memory_bytes Peak resident memory.\n# TYPE kinora_process_max_resident_memory_bytes gauge\n"
            "kinora_process_max_resident_memory_bytes %ld\n", ru.ru_maxrss * 1024L);
    if (b.oom) { free(b.p); return NULL; }
    return b.p;
}
