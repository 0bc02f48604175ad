/* A fixed pthread pool. kn_pool_run hands out task indices through an atomic counter; the caller
 * thread works too and returns when every task has finished. */
#include "core/core.h"
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

struct kn_pool {
    int nthreads;            /* including the caller */
    pthread_t *threads;
    pthread_mutex_t mu;
    pthread_cond_t cv_work, cv_done;
    uint64_t generation;     /* bumped for every kn_pool_run */
    int quit;
    /* current job */
    kn_task_fn fn;
    void *arg;
    int ntasks;
    atomic_int next;
    int active;              /* workers still inside the current job */
};

static void drain(kn_pool *p) {
    for (;;) {
        int t = atomic_fetch_add(&p->next, 1);
        if (t >= p->ntasks) break;
        p->fn(p->arg, t);
    }
}

static void *worker(void *arg) {
    kn_pool *p = arg;
    uint64_t seen = 0;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->quit && p->generation == seen) pthread_cond_wait(&p->cv_work, &p->mu);
        if (p->quit) break;
        seen = p->generation;
        pthread_mutex_unlock(&p->mu);
        drain(p);
        pthread_mutex_lock(&p->mu);
        if (--p->active == 0) pthread_cond_signal(&p->cv_done);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

kn_status kn_pool_create(int nthreads, kn_pool **out, kn_error *err) {
    if (nthreads < 1) nthreads = 1;
    if (nthreads > 256) return kn_fail(err, KN_EINVAL, "thread count %d is above 256", nthreads);
    kn_pool *p = calloc(1, sizeof *p);
    if (!p) return kn_fail(err, KN_ENOMEM, "out of memory creating thread pool");
    p->nthreads = nthreads;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv_work, NULL);
    pthread_cond_init(&p->cv_done, NULL);
    if (nthreads > 1) {
        p->threads = calloc((size_t)nthreads - 1, sizeof *p->threads);
        if (!p->threads) { free(p); return kn_fail(err, KN_ENOMEM, "out of memory creating thread pool"); }
        for (int i = 0; i < nthreads - 1; i++) {
            if (pthread_create(&p->threads[i], NULL, worker, p) != 0) {
                p->nthreads = i + 1;
                kn_pool_destroy(p);
                return kn_fail(err, KN_EINTERNAL, "could not start thread %d of %d", i + 1, nthreads);
            }
        }
    }
    *out = p;
    return KN_OK;
}

void kn_pool_destroy(kn_pool *p) {
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    p->quit = 1;
    pthread_cond_broadcast(&p->cv_work);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->nthreads - 1; i++) pthread_join(p->threads[i], NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv_work);
    pthread_cond_destroy(&p->cv_done);
    free(p->threads);
    free(p);
}

int kn_pool_size(const kn_pool *p) { return p ? p->nthreads : 1; }

void kn_pool_run(kn_pool *p, int ntasks, kn_task_fn fn, void *arg) {
    if (ntasks <= 0) return;
    if (!p || p->nthreads == 1 || ntasks == 1) {
        for (int t = 0; t < ntasks; t++) fn(arg, t);
        return;
    }
    pthread_mutex_lock(&p->mu);
    p->fn = fn;
    p->arg = arg;
    p->ntasks = ntasks;
    atomic_store(&p->next, 0);
    p->active = p->nthreads - 1;
    p->generation++;
    pthread_cond_broadcast(&p->cv_work);
    pthread_mutex_unlock(&p->mu);
    drain(p);
    pthread_mutex_lock(&p->mu);
    while (p->active > 0) pthread_cond_wait(&p->cv_done, &p->mu);
    pthread_mutex_unlock(&p->mu);
}
