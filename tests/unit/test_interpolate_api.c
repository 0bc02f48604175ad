/* The public interpolation calls (kinora.h): a video in memory, a stream through callbacks and a
 * file to a file give the engine's frames byte for byte; progress, cancel and notes reach the
 * caller; bad requests fail with KN_EINVAL naming what is wrong, and leave no output behind. */
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include "test.h"
#include "kinora/kinora.h"
#include "interp/interp.h"
#include "io/io.h"
#include "io/media.h"

enum { W = 64, H = 48, N = 6 };

/* A textured background with a brighter square sliding 3 px right and 1 px down a frame. */
static kn_video moving_square(void) {
    kn_video v = {.width = W, .height = H, .nframes = N, .fps = 10};
    v.rgb = malloc((size_t)N * W * H * 3);
    for (int f = 0; v.rgb && f < N; f++)
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++) {
                uint8_t *p = v.rgb + (((size_t)f * H + y) * W + x) * 3;
                int in = x >= 10 + 3 * f && x < 26 + 3 * f && y >= 12 + f && y < 28 + f;
                int t = (x * 37 + y * 91 + (x / 5) * (y / 7) * 13) % 97;
                p[0] = (uint8_t)(in ? 200 + t / 2 : 40 + t);
                p[1] = (uint8_t)(in ? 180 : 60 + (t * 3) % 80);
                p[2] = (uint8_t)(in ? 60 + t : 90 + t / 3);
            }
    return v;
}

static size_t frame_bytes(void) { return (size_t)W * H * 3; }

TEST(in_memory_gives_the_engines_frames) {
    kn_video in = moving_square(), ref = {0}, out = {0};
    REQUIRE(in.rgb);
    kn_error err = {0};
    REQUIRE(kn_interp_video(NULL, NULL, &in, 2, 0, &ref, &err) == KN_OK);
    kn_interpolate_params p;
    kn_interpolate_params_default(&p);
    CHECK(p.factor == 2 && p.fps == 0 && p.threads == 1 && p.deinterlace && p.audio && p.subtitles);
    for (int threads = 1; threads <= 3; threads += 2) {
        p.threads = threads;
        REQUIRE(kn_interpolate(&in, &p, &out, &err) == KN_OK);
        CHECK(out.nframes == 2 * N - 1 && out.width == W && out.height == H);
        CHECK_NEAR(out.fps, 20, 1e-6);
        CHECKF(!memcmp(out.rgb, ref.rgb, (size_t)ref.nframes * frame_bytes()), "threads %d: frames differ", threads);
        CHECK(!memcmp(out.rgb + 2 * frame_bytes(), in.rgb + frame_bytes(), frame_bytes()));   /* frame 2 is input 1 */
        kn_video_free(&out);
    }
    /* an output rate: 25 fps from 10 over 0.5 s, frames at k / 25 */
    p.factor = 0;
    p.fps = 25;
    REQUIRE(kn_interpolate(&in, &p, &out, &err) == KN_OK);
    CHECK(out.nframes == 13);
    CHECK(!memcmp(out.rgb + 5 * frame_bytes(), in.rgb + 2 * frame_bytes(), frame_bytes()));   /* 0.2 s */
    kn_video_free(&out);
    kn_video_free(&ref);
    free(in.rgb);
}

/* A source over a video in memory that counts its calls, and a sink that keeps what it gets. */
typedef struct { const kn_video *v; int next; } mem_source;
static kn_status mem_next(void *user, uint8_t *rgb, double *time, int *got, kn_error *err) {
    (void)time; (void)err;
    mem_source *s = user;
    *got = s->next < s->v->nframes;
    if (*got) memcpy(rgb, s->v->rgb + (size_t)s->next++ * frame_bytes(), frame_bytes());
    return KN_OK;
}
typedef struct { uint8_t *rgb; long long n, cap; int fail_at; } mem_sink;
static kn_status mem_put(void *user, long long k, const uint8_t *rgb, kn_error *err) {
    mem_sink *s = user;
    if (k == s->fail_at) return kn_fail(err, KN_EIO, "sink: disk full at frame %lld", k);
    if (k != s->n || k >= s->cap) return kn_fail(err, KN_EINTERNAL, "sink: frame %lld out of order", k);
    memcpy(s->rgb + (size_t)k * frame_bytes(), rgb, frame_bytes());
    s->n++;
    return KN_OK;
}

typedef struct { int calls, last, total, stop_at; } progress_log;
static int log_progress(void *user, kn_stage stage, int step, int total) {
    progress_log *l = user;
    if (stage != KN_STAGE_INTERPOLATE || step != l->last + 1) l->last = -1000;   /* out of order: fails below */
    else l->last = step;
    l->calls++;
    l->total = total;
    return l->stop_at && step >= l->stop_at;
}

TEST(stream_gives_the_same_frames_with_progress_and_cancel) {
    kn_video in = moving_square(), ref = {0};
    REQUIRE(in.rgb);
    kn_error err = {0};
    kn_interpolate_params p;
    kn_interpolate_params_default(&p);
    p.factor = 3;
    REQUIRE(kn_interpolate(&in, &p, &ref, &err) == KN_OK);
    mem_source src = {&in, 0};
    mem_sink dst = {malloc((size_t)ref.nframes * frame_bytes()), 0, ref.nframes, -1};
    REQUIRE(dst.rgb);
    progress_log log = {0};
    p.progress = log_progress;
    p.progress_user = &log;
    kn_interpolate_result r;
    REQUIRE(kn_interpolate_stream(W, H, 10, mem_next, &src, mem_put, &dst, &p, &r, &err) == KN_OK);
    CHECK(r.frames_in == N && r.frames_out == 3 * N - 2 && r.dropped == 0 && r.width == W && r.height == H);
    CHECK_NEAR(r.fps_out, 30, 1e-9);
    CHECK(dst.n == ref.nframes && !memcmp(dst.rgb, ref.rgb, (size_t)ref.nframes * frame_bytes()));
    CHECKF(log.calls == ref.nframes && log.last == ref.nframes, "progress: %d calls, last %d", log.calls, log.last);
    /* progress returning nonzero cancels: nothing after that frame reaches the sink */
    src.next = 0; dst.n = 0; log = (progress_log){.stop_at = 4};
    CHECK(kn_interpolate_stream(W, H, 10, mem_next, &src, mem_put, &dst, &p, &r, &err) == KN_ECANCELLED);
    CHECK(dst.n == 4);
    /* so does the cancel flag, before the first frame */
    volatile int stop = 1;
    p.progress = NULL;
    p.cancel = &stop;
    src.next = 0; dst.n = 0;
    CHECK(kn_interpolate_stream(W, H, 10, mem_next, &src, mem_put, &dst, &p, NULL, &err) == KN_ECANCELLED);
    CHECK(dst.n == 0 && src.next == 0);
    /* a sink that fails stops the run with its own error */
    p.cancel = NULL;
    src.next = 0; dst.n = 0; dst.fail_at = 2;
    CHECK(kn_interpolate_stream(W, H, 10, mem_next, &src, mem_put, &dst, &p, NULL, &err) == KN_EIO);
    CHECKF(strstr(err.msg, "disk full") != NULL, "message: %s", err.msg);
    free(dst.rgb);
    kn_video_free(&ref);
    free(in.rgb);
}

TEST(bad_requests_name_what_is_wrong) {
    kn_video in = moving_square(), out = {0};
    REQUIRE(in.rgb);
    kn_error err = {0};
    kn_interpolate_params p;
    struct { int factor; double fps, input_fps; int threads; const char *says; } bad[] = {
        {2, 30, 0, 1, "exactly one"}, {0, 0, 0, 1, "exactly one"}, {-2, 0, 0, 1, "exactly one"},
        {1001, 0, 0, 1, "above 1000"}, {0, NAN, 0, 1, "exactly one"}, {0, 1e9, 0, 1, "up to 10000"},
        {2, 0, -1, 1, "input fps"}, {2, 0, 0, 0, "threads"}, {2, 0, 0, 1000, "threads"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        kn_interpolate_params_default(&p);
        p.factor = bad[i].factor; p.fps = bad[i].fps; p.input_fps = bad[i].input_fps; p.threads = bad[i].threads;
        err.msg[0] = 0;
        CHECKF(kn_interpolate(&in, &p, &out, &err) == KN_EINVAL && strstr(err.msg, bad[i].says),
               "case %zu: %s", i, err.msg);
        CHECK(out.rgb == NULL);
    }
    kn_interpolate_params_default(&p);
    CHECK(kn_interpolate(&in, NULL, &out, &err) == KN_EINVAL);
    /* an output rate needs the input's */
    in.fps = 0;
    p.factor = 0;
    p.fps = 30;
    CHECKF(kn_interpolate(&in, &p, &out, &err) == KN_EINVAL && strstr(err.msg, "input_fps"), "%s", err.msg);
    p.input_fps = 15;   /* given here, it serves */
    REQUIRE(kn_interpolate(&in, &p, &out, &err) == KN_OK);
    CHECK(out.nframes == 11);   /* 5 intervals of 1/15 s at 1/30 */
    kn_video_free(&out);
    kn_interpolate_params_default(&p);
    CHECK(kn_interpolate_stream(W, H, 10, NULL, NULL, mem_put, NULL, &p, NULL, &err) == KN_EINVAL);
    /* absurd sizes are refused before anything is allocated or read */
    mem_source src = {&in, 0};
    CHECKF(kn_interpolate_stream(0, H, 10, mem_next, &src, mem_put, NULL, &p, NULL, &err) == KN_EINVAL &&
           strstr(err.msg, "outside"), "%s", err.msg);
    CHECK(kn_interpolate_stream(W, 1 << 20, 10, mem_next, &src, mem_put, NULL, &p, NULL, &err) == KN_EINVAL);
    CHECK(src.next == 0);
    in.width = 50000;   /* 7.5 GB a frame: within the memory limit, beyond any frame Kinora takes */
    in.height = 50000;
    CHECKF(kn_interpolate(&in, &p, &out, &err) == KN_EINVAL && strstr(err.msg, "50000x50000 is outside"), "%s",
           err.msg);
    in.nframes = 0;
    CHECK(kn_interpolate(&in, &p, &out, &err) == KN_EINVAL && out.rgb == NULL);
    free(in.rgb);
}

/* The moving square's frames at given times (seconds). */
typedef struct { const kn_video *v; const double *t; int next; } timed_source;
static kn_status timed_next(void *user, uint8_t *rgb, double *time, int *got, kn_error *err) {
    (void)err;
    timed_source *s = user;
    *got = s->next < s->v->nframes;
    if (!*got) return KN_OK;
    memcpy(rgb, s->v->rgb + (size_t)s->next * frame_bytes(), frame_bytes());
    *time = s->t[s->next++];
    return KN_OK;
}
typedef struct { long long n; } count_sink;
static kn_status count_put(void *user, long long k, const uint8_t *rgb, kn_error *err) {
    (void)k; (void)rgb; (void)err;
    ((count_sink *)user)->n++;
    return KN_OK;
}

TEST(an_output_rate_fills_gaps_up_to_an_hour) {
    kn_video in = moving_square();
    REQUIRE(in.rgb);
    kn_error err = {0};
    kn_interpolate_params p;
    kn_interpolate_params_default(&p);
    p.factor = 0;
    p.fps = 2;
    /* 50 s without a frame (a paused capture): filled, 0.5 s a frame */
    double paused[N] = {0, 0.5, 1, 51, 51.5, 52};
    timed_source src = {&in, paused, 0};
    count_sink n = {0};
    kn_interpolate_result r;
    REQUIRE(kn_interpolate_stream(W, H, 2, timed_next, &src, count_put, &n, &p, &r, &err) == KN_OK);
    CHECK(n.n == 105 && r.frames_out == 105 && r.frames_in == N);
    /* a timestamp hours ahead is broken: refused, naming the frame, before any frame past it is made */
    double broken[N] = {0, 0.5, 1, 1.5, 1e5, 1e5 + 0.5};
    src = (timed_source){&in, broken, 0};
    n.n = 0;
    CHECKF(kn_interpolate_stream(W, H, 2, timed_next, &src, count_put, &n, &p, NULL, &err) == KN_EFORMAT &&
           strstr(err.msg, "input frame 4 comes 99998 s after"), "%s", err.msg);
    CHECK(n.n <= 4);
    /* a factor keeps the timing without filling, so the same times pass */
    p.factor = 2;
    p.fps = 0;
    src.next = 0;
    n.n = 0;
    CHECK(kn_interpolate_stream(W, H, 2, timed_next, &src, count_put, &n, &p, NULL, &err) == KN_OK && n.n == 2 * N - 1);
    /* an input rate takes the frames as evenly spaced whatever their times: 6 frames at 2 fps, 2.5 s */
    p.factor = 0;
    p.fps = 4;
    p.input_fps = 2;
    src.next = 0;
    n.n = 0;
    CHECKF(kn_interpolate_stream(W, H, 30, timed_next, &src, count_put, &n, &p, NULL, &err) == KN_OK && n.n == 11,
           "%lld frames: %s", n.n, err.msg);
    free(in.rgb);
}

static void count_note(void *user, const char *text) { (void)text; ++*(int *)user; }

/* Notes counted in *notes, progress logged by fn in *log. */
static void watch(kn_interpolate_params *p, int *notes, progress_log *log, kn_progress_fn fn) {
    p->note = count_note;
    p->note_user = notes;
    p->progress = fn;
    p->progress_user = log;
}

TEST(file_to_file_keeps_the_frames_and_leaves_nothing_on_failure) {
    kn_media_quiet();   /* the MP4 muxer's notes */
    kn_video in = moving_square(), ref = {0}, back = {0};
    REQUIRE(in.rgb);
    char dir[] = "/tmp/kn-interp-api-XXXXXX", src[128], dst[128], mp4[128], gone[128], cmd[256];
    REQUIRE(mkdtemp(dir));
    snprintf(src, sizeof src, "%s/in/", dir);
    snprintf(dst, sizeof dst, "%s/out/", dir);
    snprintf(mp4, sizeof mp4, "%s/out.mp4", dir);
    snprintf(gone, sizeof gone, "%s/big.mp4", dir);
    kn_error err = {0};
    REQUIRE(kn_video_write(src, &in, &err) == KN_OK);   /* a PNG folder: lossless both ways */
    kn_interpolate_params p;
    kn_interpolate_params_default(&p);
    REQUIRE(kn_interpolate(&in, &p, &ref, &err) == KN_OK);
    int notes = 0;
    progress_log log = {0};
    watch(&p, &notes, &log, log_progress);
    kn_interpolate_result r;
    REQUIRE(kn_interpolate_file(src, dst, &p, &r, &err) == KN_OK);
    CHECK(r.frames_in == N && r.frames_out == 2 * N - 1 && notes == 0 && log.last == 2 * N - 1);
    REQUIRE(kn_video_read(dst, &back, &err) == KN_OK);
    CHECK(back.nframes == ref.nframes && !memcmp(back.rgb, ref.rgb, (size_t)ref.nframes * frame_bytes()));
    kn_video_free(&back);
    /* a PNG folder has no rate: a video OUT needs one, and then gets it */
    CHECKF(kn_interpolate_file(src, mp4, &p, NULL, &err) == KN_EINVAL && strstr(err.msg, "no frame rate"), "%s",
           err.msg);
    p.input_fps = 10;
    REQUIRE(kn_interpolate_file(src, mp4, &p, &r, &err) == KN_OK);
    CHECK_NEAR(r.fps_out, 20, 1e-9);
    /* OUT may not be IN; too little memory is refused before anything is written */
    CHECKF(kn_interpolate_file(mp4, mp4, &p, NULL, &err) == KN_EINVAL && strstr(err.msg, "the input itself"), "%s",
           err.msg);
    p.max_memory = 1e5;
    CHECKF(kn_interpolate_file(mp4, gone, &p, NULL, &err) == KN_ENOMEM && strstr(err.msg, "needs about"), "%s",
           err.msg);
    CHECK(access(gone, F_OK) != 0);
    /* a cancel partway leaves no file either */
    p.max_memory = 0;
    log = (progress_log){.stop_at = 3};
    CHECK(kn_interpolate_file(mp4, gone, &p, NULL, &err) == KN_ECANCELLED);
    CHECK(access(gone, F_OK) != 0);
    CHECK(kn_interpolate_file(dir, gone, &p, NULL, &err) != KN_OK);   /* a folder without frames */
    /* messages name IN and OUT as the caller does (in_name, out_name), not by the paths read and written */
    p.in_name = "IN-NAME";
    p.out_name = "OUT-NAME";
    p.encoding.crf = 60;   /* more than H.264 takes */
    CHECKF(kn_interpolate_file(mp4, gone, &p, NULL, &err) == KN_EINVAL && strstr(err.msg, "OUT-NAME: crf 60") &&
           !strstr(err.msg, gone), "%s", err.msg);
    p.encoding.crf = -1;
    CHECKF(kn_interpolate_file(gone, mp4, &p, NULL, &err) != KN_OK && strstr(err.msg, "IN-NAME") &&
           !strstr(err.msg, gone), "%s", err.msg);
    /* ... as a name of its own, not the letters of the words around it ("o" is in "No ... or directory") */
    CHECKF(kn_interpolate_file("o", gone, &p, NULL, &err) != KN_OK &&
           !strcmp(err.msg, "IN-NAME: No such file or directory"), "%s", err.msg);
    p.in_name = p.out_name = NULL;
    /* a full disk, as far as this process can tell (files may not grow past 4000 bytes: the write
     * fails with EFBIG, the path ENOSPC takes): the writer's thread fails, and its error comes back
     * naming the file, with nothing left under its name or beside it */
    log = (progress_log){0};
    struct rlimit old_lim, lim;
    REQUIRE(getrlimit(RLIMIT_FSIZE, &old_lim) == 0);
    void (*old_sig)(int) = signal(SIGXFSZ, SIG_IGN);
    lim = old_lim;
    lim.rlim_cur = 4000;
    REQUIRE(setrlimit(RLIMIT_FSIZE, &lim) == 0);
    p.factor = 2;   /* 11 frames of 4.6 kB in .y4m */
    snprintf(gone, sizeof gone, "%s/full.y4m", dir);
    kn_status st = kn_interpolate_file(src, gone, &p, NULL, &err);
    setrlimit(RLIMIT_FSIZE, &old_lim);
    signal(SIGXFSZ, old_sig);
    CHECKF(st == KN_EIO && strstr(err.msg, gone), "status %d: %s", st, err.msg);
    CHECK(access(gone, F_OK) != 0);
    snprintf(cmd, sizeof cmd, "ls '%s' | grep -q tmp-", dir);
    CHECK(system(cmd) != 0);
    kn_video_free(&ref);
    free(in.rgb);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0);
}

/* The moving square's frames as RGBA: opaque on the square, half opaque on a band at the bottom,
 * transparent elsewhere (the texture stored under it). */
static uint8_t *with_alpha(const kn_video *v) {
    uint8_t *px = malloc((size_t)N * W * H * 4);
    for (size_t i = 0; px && i < (size_t)N * W * H; i++) {
        int f = (int)(i / ((size_t)W * H)), x = (int)(i % W), y = (int)(i / W % H);
        memcpy(px + 4 * i, v->rgb + 3 * i, 3);
        int in = x >= 10 + 3 * f && x < 26 + 3 * f && y >= 12 + f && y < 28 + f;
        px[4 * i + 3] = in ? 255 : y >= H - 6 ? 128 : 0;
    }
    return px;
}

/* A progress log that counts restarts (in stop_at): each count must run 1, 2, ... */
static int restarts(void *user, kn_stage stage, int step, int total) {
    progress_log *l = user;
    if (step == 1 && l->last > 0) { l->stop_at++; l->last = 0; }
    l->last = stage == KN_STAGE_INTERPOLATE && step == l->last + 1 ? step : -1000;
    l->calls++;
    l->total = total;
    return 0;
}

/* The frames of a PNG folder, read as mode says. */
static kn_status read_as(const char *dir, kn_alpha_mode mode, kn_video *v, int *has_alpha, kn_error *err) {
    kn_video_reader_opts o = {.alpha = mode};
    kn_video_reader *rd;
    kn_status st = kn_video_reader_open_with(dir, &o, &rd, err);
    if (st) return st;
    *has_alpha = kn_video_reader_has_alpha(rd);
    v->width = W; v->height = H; v->nframes = 0; v->fps = 10;
    v->rgb = malloc((size_t)4 * N * W * H * 3);
    int got = 1;
    while (!st && got && v->nframes < 4 * N) {
        st = kn_video_reader_next(rd, v->rgb + (size_t)v->nframes * W * H * 3, &got, err);
        v->nframes += !st && got;
    }
    kn_video_reader_close(rd);
    return st;
}

/* A transparent input keeps its transparency where OUT holds it: OUT's alpha is the engine's frames of
 * IN's alpha taken as grey frames, and its colour the engine's frames of the colour over black
 * (premultiplied), divided by that alpha again, both byte for byte; without transparency asked for,
 * OUT has none. Where the alpha cannot be kept beside
 * OUT (a full disk), the job fails naming OUT and leaves nothing. */
TEST(transparency_is_interpolated_beside_the_colour) {
    kn_video in = moving_square(), matte = in, over = in, ref_colour = {0}, ref_alpha = {0}, back = {0};
    uint8_t *rgba = with_alpha(&in);
    REQUIRE(in.rgb && rgba);
    char dir[] = "/tmp/kn-interp-alpha-XXXXXX", src[128], dst[128], opaque[128], cmd[256];
    REQUIRE(mkdtemp(dir));
    snprintf(src, sizeof src, "%s/in/", dir);
    snprintf(dst, sizeof dst, "%s/out/", dir);
    snprintf(opaque, sizeof opaque, "%s/opaque/", dir);
    kn_error err = {0};
    kn_video_writer_opts wo = {.alpha = 1};
    kn_video_writer *vw;
    REQUIRE(kn_video_writer_open_with(src, W, H, 0, &wo, &vw, &err) == KN_OK);
    for (int f = 0; f < N; f++) REQUIRE(kn_video_writer_add(vw, rgba + (size_t)f * W * H * 4, &err) == KN_OK);
    REQUIRE(kn_video_writer_finish(vw, &err) == KN_OK);
    matte.rgb = malloc((size_t)N * W * H * 3);
    over.rgb = malloc((size_t)N * W * H * 3);
    REQUIRE(matte.rgb && over.rgb);
    for (size_t i = 0; i < (size_t)N * W * H * 3; i++) {
        matte.rgb[i] = rgba[4 * (i / 3) + 3];
        over.rgb[i] = (uint8_t)((rgba[4 * (i / 3) + i % 3] * matte.rgb[i] + 127) / 255);
    }
    kn_interpolate_params p;
    kn_interpolate_params_default(&p);
    REQUIRE(kn_interpolate(&over, &p, &ref_colour, &err) == KN_OK);
    REQUIRE(kn_interpolate(&matte, &p, &ref_alpha, &err) == KN_OK);
    kn_interpolate_result r;
    int notes = 0;
    progress_log log = {0};
    watch(&p, &notes, &log, restarts);
    REQUIRE(kn_interpolate_file(src, dst, &p, &r, &err) == KN_OK);
    /* one note that the alpha goes first, and the count run twice: 1 .. 11, then 1 .. 11 again */
    CHECKF(r.frames_out == 2 * N - 1 && notes == 1 && log.calls == 2 * (2 * N - 1) && log.stop_at == 1 &&
           log.last == 2 * N - 1, "%lld frames, %d notes, %d calls, %d restarts, last %d", r.frames_out, notes,
           log.calls, log.stop_at, log.last);
    p.progress = NULL;
    int has = 0;
    REQUIRE(read_as(dst, KN_ALPHA_MATTE, &back, &has, &err) == KN_OK);
    CHECK(has && back.nframes == ref_alpha.nframes &&
          !memcmp(back.rgb, ref_alpha.rgb, (size_t)ref_alpha.nframes * frame_bytes()));
    /* between frames 0 and 1 the square is 1.5 px further right: opaque in its middle, clear far off */
    const uint8_t *mid = back.rgb + frame_bytes();
    CHECK(mid[(20 * W + 19) * 3] == 255 && mid[(4 * W + 50) * 3] == 0 && abs(mid[((H - 2) * W + 50) * 3] - 128) <= 1);
    kn_video_free(&back);
    REQUIRE(read_as(dst, KN_ALPHA_STRAIGHT, &back, &has, &err) == KN_OK);
    CHECK(back.nframes == ref_colour.nframes);
    size_t wrong = 0, clear = 0;
    for (size_t i = 0; back.nframes == ref_colour.nframes && i < (size_t)back.nframes * frame_bytes(); i++) {
        unsigned al = ref_alpha.rgb[i], v = al ? (ref_colour.rgb[i] * 255u + al / 2) / al : 0;
        wrong += back.rgb[i] != (v > 255 ? 255 : v);
        clear += !al;
    }
    CHECKF(wrong == 0 && clear > 0, "%zu samples differ (%zu clear)", wrong, clear);
    kn_video_free(&back);
    p.transparency = 0;
    REQUIRE(kn_interpolate_file(src, opaque, &p, &r, &err) == KN_OK);
    REQUIRE(read_as(opaque, KN_ALPHA_STRAIGHT, &back, &has, &err) == KN_OK);
    CHECK(!has && back.nframes == 2 * N - 1);
    kn_video_free(&back);
    /* the alpha's temporary file beside OUT cannot grow: the job fails naming OUT, nothing is left */
    p.transparency = 1;
    snprintf(dst, sizeof dst, "%s/full/", dir);
    struct rlimit old_lim, lim;
    REQUIRE(getrlimit(RLIMIT_FSIZE, &old_lim) == 0);
    void (*old_sig)(int) = signal(SIGXFSZ, SIG_IGN);
    lim = old_lim;
    lim.rlim_cur = 8000;   /* less than the 11 frames' alpha, 3 kB each */
    REQUIRE(setrlimit(RLIMIT_FSIZE, &lim) == 0);
    kn_status st = kn_interpolate_file(src, dst, &p, NULL, &err);
    setrlimit(RLIMIT_FSIZE, &old_lim);
    signal(SIGXFSZ, old_sig);
    CHECKF(st == KN_EIO && strstr(err.msg, "full") && strstr(err.msg, "alpha"), "status %d: %s", st, err.msg);
    CHECK(access(dst, F_OK) != 0);
    snprintf(cmd, sizeof cmd, "ls -a '%s' | grep -q tmp-", dir);
    CHECK(system(cmd) != 0);
    kn_video_free(&ref_colour);
    kn_video_free(&ref_alpha);
    free(matte.rgb);
    free(over.rgb);
    free(in.rgb);
    free(rgba);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0);
}

TEST_MAIN_BEGIN
RUN(in_memory_gives_the_engines_frames);
RUN(stream_gives_the_same_frames_with_progress_and_cancel);
RUN(bad_requests_name_what_is_wrong);
RUN(an_output_rate_fills_gaps_up_to_an_hour);
RUN(file_to_file_keeps_the_frames_and_leaves_nothing_on_failure);
RUN(transparency_is_interpolated_beside_the_colour);
TEST_MAIN_END
