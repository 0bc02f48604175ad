/* A fixed pthread pool. kn_pool_run hands out task indices through an atomic counter; the caller
 * thread works too and returns when every task has finished.
 *
 * A model step makes thousands of short kn_pool_run calls, so the hand-over is on the hot path: a
 * futex wake-up costs tens of microseconds on a virtual machine. Both sides therefore spin briefly
 * (SPIN_ROUNDS polls) before sleeping on the condition variables: an idle worker watches the job
 * generation, the caller watches the count of workers still in the job. The mutex and condition
 * variables stay the slow path, and every change they guard is still made under the mutex, so a
 * sleeper cannot miss a wake-up. */
#include "core/core.h"
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

struct kn_pool {
    int nthreads;            /* including the caller */
    pthread_t *threads;
    pthread_mutex_t mu;
    pthread_cond_t cv_work, cv_done;
    _Atomic uint64_t generation;   /* bumped for every kn_pool_run (under mu) */
    int quit;
    /* current job */
    kn_task_fn fn;
    void *arg;
    int ntasks;
    atomic_int next;
    atomic_int active;       /* workers still inside the current job (changed under mu) */
};

#define SPIN_ROUNDS 2000     /* about 40 us of polling on Zen 4 (a PAUSE is ~19 ns there) */

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

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
    for (;;) {
        for (int i = 0; i < SPIN_ROUNDS && atomic_load(&p->generation) == seen; i++) cpu_relax();
        pthread_mutex_lock(&p->mu);
        while (!p->quit && atomic_load(&p->generation) == seen) pthread_cond_wait(&p->cv_work, &p->mu);
        if (p->quit) break;
        seen = atomic_load(&p->generation);
        pthread_mutex_unlock(&p->mu);
        drain(p);
        pthread_mutex_lock(&p->mu);
        if (atomic_fetch_sub(&p->active, 1) == 1) pthread_cond_signal(&p->cv_done);
        pthread_mutex_unlock(&p->mu);
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
    atomic_store(&p->active, p->nthreads - 1);
    atomic_fetch_add(&p->generation, 1);
    pthread_cond_broadcast(&p->cv_work);
    pthread_mutex_unlock(&p->mu);
    drain(p);
    for (int i = 0; i < SPIN_ROUNDS && atomic_load(&p->active) > 0; i++) cpu_relax();
    pthread_mutex_lock(&p->mu);
    while (atomic_load(&p->active) > 0) pthread_cond_wait(&p->cv_done, &p->mu);
    pthread_mutex_unlock(&p->mu);
}

kn_status kn_ctx_open(int nthreads, kn_pool **pool, kn_ctx *ctx, kn_error *err) {
    kn_status st = kn_pool_create(nthreads, pool, err);
    if (st) return st;
    ctx->pool = *pool;
    ctx->isa = kn_cpu_detect();
    ctx->scratch = NULL;
    return KN_OK;
}
