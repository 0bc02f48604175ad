/* src/io/video_pipe.h: a video writer run on a thread of its own, so that encoding (x264, VP9,
 * PNG compression) goes on while the caller makes the next frames instead of after them. Contract:
 * the pipe owns the writer from start on; add copies the frame into one of `slots` buffers and
 * returns at once unless all are waiting (then it waits for one); the writer sees exactly the calls it
 * would have seen directly, in the same order, so the file is byte for byte the same. An error of the
 * writer's is returned by the next add or by finish; after it the pipe takes no more frames. One
 * thread, started by start and joined by finish or abort; nothing global. */
#ifndef KN_VIDEO_PIPE_H
#define KN_VIDEO_PIPE_H
#include "io/media.h"

typedef struct kn_video_pipe kn_video_pipe;

/* Starts the writer thread over vw (taken over, also on failure: then it is aborted) with slots
 * frame buffers (at least 1) of vw's size w x h. */
kn_status kn_video_pipe_start(kn_video_writer *vw, int w, int h, int slots, kn_video_pipe **out, kn_error *err);
/* Queues a frame: kn_video_writer_add_at at time when isfinite(time), else kn_video_writer_add. */
kn_status kn_video_pipe_add(kn_video_pipe *p, const uint8_t *rgb, double time, kn_error *err);
/* Writes what is queued, finishes the writer (kn_video_writer_finish), stops the thread and frees the
 * pipe, whatever the outcome. */
kn_status kn_video_pipe_finish(kn_video_pipe *p, kn_error *err);
/* Stops the thread, drops what is queued and aborts the writer (nothing is left behind). p may be NULL. */
void kn_video_pipe_abort(kn_video_pipe *p);

#endif
