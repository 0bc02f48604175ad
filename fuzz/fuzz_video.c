/* libFuzzer harness: arbitrary bytes as a video file, read as `kinora interpolate` reads its input
 * (kn_video_reader with deinterlacing: FFmpeg demuxes and decodes, then Kinora's own code converts,
 * turns upright, tells PsF from interlaced, rebuilds fields and times the frames), with the alpha
 * taken in one of the four ways (chosen by the input's length, so an input always reads the same). Whatever the
 * bytes, open either fails with a message or reports a size within the limits, next hands out
 * frames of that size until it says there are no more or fails with a message, and every time is
 * a number or NaN; nothing is read or written outside its buffers, and nothing leaks. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>
#include <libavutil/log.h>
#include "io/media.h"

/* A few frames are enough to reach the deinterlacer's neighbours and the timing of a stream. */
#define MAX_FRAMES 12
/* Frames larger than this are opened but not read on: the harness's memory limit, not the reader's. */
#define MAX_PIXELS (1024 * 1024)

static void fail_without_message(const kn_error *err) {
    if (!err->msg[0]) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    av_log_set_level(AV_LOG_QUIET);   /* FFmpeg's complaints about broken input would drown the fuzzer's */
    char path[] = "/tmp/kn-fuzz-video-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) return 0;
    int whole = write(fd, data, size) == (ssize_t)size;
    close(fd);
    if (!whole) { unlink(path); return 0; }
    kn_error err = {0};
    kn_video_reader *rd = NULL;
    static const kn_alpha_mode modes[4] = {KN_ALPHA_DEFAULT, KN_ALPHA_OVER_BLACK, KN_ALPHA_STRAIGHT, KN_ALPHA_MATTE};
    kn_video_reader_opts ro = {.deinterlace = 1, .alpha = modes[size % 4]};
    if (kn_video_reader_open_with(path, &ro, &rd, &err)) {
        fail_without_message(&err);
        unlink(path);
        return 0;
    }
    int w = 0, h = 0;
    float fps = 0;
    kn_video_reader_info(rd, &w, &h, &fps);
    if (w < 1 || h < 1 || w > KN_IMAGE_MAX_SIDE || h > KN_IMAGE_MAX_SIDE || !(fps >= 0)) abort();
    if (!isnan(kn_video_reader_time(rd)) && !isfinite(kn_video_reader_time(rd))) abort();
    uint8_t *rgb = (size_t)w * h <= MAX_PIXELS ? malloc((size_t)w * h * 3) : NULL;
    for (int i = 0; rgb && i < MAX_FRAMES; i++) {
        int got = 0;
        if (kn_video_reader_next(rd, rgb, &got, &err)) { fail_without_message(&err); break; }
        if (!got) break;
        double t = kn_video_reader_time(rd);
        if (!isnan(t) && !isfinite(t)) abort();
    }
    free(rgb);
    kn_video_reader_close(rd);
    unlink(path);
    return 0;
}
