/* A video writer on its own thread: a ring of frame buffers between the caller (the producer) and
 * the writer thread (the consumer). Frames are copied in by add and taken in order by the thread;
 * the ring's counters and the first error are the only shared state, under one mutex. */
#include "io/video_pipe.h"
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct kn_video_pipe {
    kn_video_writer *vw;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;         /* signalled when a frame is queued or taken, or the pipe closes */
    int slots;
    size_t frame_bytes;
    uint8_t *frames;           /* slots frames of frame_bytes */
    double *times;             /* each slot's time (NaN: untimed) */
    long long queued, taken;   /* frames queued by add, and taken (written) by the thread */
    int closing, aborting;     /* no more frames will come; drop what is queued */
    kn_status st;              /* the writer's first error (its message in err), KN_OK until then */
    kn_error err;
};

static void *writer_thread(void *arg) {
    kn_video_pipe *p = arg;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (p->taken == p->queued && !p->closing && !p->aborting) pthread_cond_wait(&p->cv, &p->mu);
        if (p->aborting || p->taken == p->queued) break;   /* aborted, or closed with nothing left */
        size_t slot = (size_t)(p->taken % p->slots);
        pthread_mutex_unlock(&p->mu);
        /* the slot is the thread's until `taken` moves on: add writes only slots already taken */
        const uint8_t *rgb = p->frames + slot * p->frame_bytes;
        double t = p->times[slot];
        kn_error err = {0};
        kn_status st = isfinite(t) ? kn_video_writer_add_at(p->vw, rgb, t, &err)
                                   : kn_video_writer_add(p->vw, rgb, &err);
        pthread_mutex_lock(&p->mu);
        p->taken++;
        if (st) { p->st = st; p->err = err; }
        pthread_cond_broadcast(&p->cv);
        if (st) break;
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

static void pipe_free(kn_video_pipe *p) {
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    free(p->frames);
    free(p->times);
    free(p);
}

kn_status kn_video_pipe_start(kn_video_writer *vw, int w, int h, int slots, kn_video_pipe **out, kn_error *err) {
    *out = NULL;
    kn_video_pipe *p = calloc(1, sizeof *p);
    size_t fb = (size_t)w * h * (size_t)kn_video_writer_channels(vw);
    if (slots < 1) slots = 1;
    if (p) {
        p->frames = malloc(fb * (size_t)slots);
        p->times = malloc(sizeof *p->times * (size_t)slots);
    }
    if (!p || !p->frames || !p->times) {
        if (p) { free(p->frames); free(p->times); free(p); }
        kn_video_writer_abort(vw);
        return kn_fail(err, KN_ENOMEM, "video writer: out of memory for %d frames of %dx%d", slots, w, h);
    }
    p->vw = vw;
    p->slots = slots;
    p->frame_bytes = fb;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    if (pthread_create(&p->thread, NULL, writer_thread, p) != 0) {
        pipe_free(p);
        kn_video_writer_abort(vw);
        return kn_fail(err, KN_ENOMEM, "video writer: cannot start its thread");
    }
    *out = p;
    return KN_OK;
}

kn_status kn_video_pipe_add(kn_video_pipe *p, const uint8_t *rgb, double time, kn_error *err) {
    pthread_mutex_lock(&p->mu);
    while (p->queued - p->taken == p->slots && !p->st) pthread_cond_wait(&p->cv, &p->mu);
    kn_status st = p->st;
    if (st) *err = p->err;
    pthread_mutex_unlock(&p->mu);
    if (st) return st;
    /* the slot is free (taken) and the thread reads it only once `queued` moves past it */
    size_t slot = (size_t)(p->queued % p->slots);
    memcpy(p->frames + slot * p->frame_bytes, rgb, p->frame_bytes);
    p->times[slot] = time;
    pthread_mutex_lock(&p->mu);
    p->queued++;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    return KN_OK;
}

/* Closes the ring (aborting: dropping what is queued) and joins the thread. */
static void stop(kn_video_pipe *p, int aborting) {
    pthread_mutex_lock(&p->mu);
    p->closing = 1;
    p->aborting = aborting;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    pthread_join(p->thread, NULL);
}

kn_status kn_video_pipe_finish(kn_video_pipe *p, kn_error *err) {
    stop(p, 0);
    kn_status st = p->st;
    if (st) {
        *err = p->err;
        kn_video_writer_abort(p->vw);
    } else {
        st = kn_video_writer_finish(p->vw, err);
    }
    pipe_free(p);
    return st;
}

void kn_video_pipe_abort(kn_video_pipe *p) {
    if (!p) return;
    stop(p, 1);
    kn_video_writer_abort(p->vw);
    pipe_free(p);
}
