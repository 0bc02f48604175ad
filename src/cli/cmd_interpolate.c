/* `kinora interpolate` (frame-rate conversion of a video or PNG folder) and `kinora eval-interp`
 * (drop every other frame, rebuild it, score Kinora against duplication, blending and FFmpeg's
 * minterpolate). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include "cli/cli.h"
#include "core/core.h"
#include "interp/interp.h"
#include "io/io.h"
#include "io/media.h"
#include "io/video_pipe.h"

static int make_ctx(int threads, kn_pool **pool, kn_ctx *ctx) {
    kn_error err = {0};
    if (kn_pool_create(threads, pool, &err)) { fprintf(stderr, "kinora: %s\n", err.msg); return -1; }
    ctx->pool = *pool;
    ctx->isa = kn_cpu_detect();
    ctx->scratch = NULL;
    return 0;
}

static void interpolate_usage(FILE *f) {
    fprintf(f, "usage: kinora interpolate IN -o OUT (--factor N | --fps F) [--threads N] [--input-fps F] [--max-memory GB]\n"
               "       [--no-audio] [--no-subtitles] [--no-deinterlace] [--format EXT]\n"
               "  IN, OUT   a video FFmpeg reads/writes (.mp4 .mkv .mov .webm .gif .y4m .avi ...) or PNG frames\n"
               "            (OUT: a path ending in '/' or an existing empty folder; never IN itself)\n"
               "            IN '-' reads the standard input (or a pipe); OUT '-' writes the standard output,\n"
               "            in the container --format names (mkv, mp4, webm, nut, y4m ...), once it is whole.\n"
               "            Both go through a temporary folder in $TMPDIR (else /tmp), removed at the end\n"
               "  --factor N  N-1 new frames between neighbours; frame N*i is input frame i, at its time\n"
               "            (fps * N, with a video's own timing when its frames are unevenly spaced)\n"
               "  --fps F     frames at times k/F between the first and last input frame (F: 60, 29.97 or\n"
               "            30000/1001), the input's frames at their timestamps, so a variable frame rate\n"
               "            keeps its timing\n"
               "  --threads N compute threads (default: all cores)\n"
               "  --input-fps F  the input's frame rate (a PNG folder has none; needed for --fps or a video OUT);\n"
               "            its frames are then taken as evenly spaced, whatever their timestamps, and the sound\n"
               "            is left out (it would no longer line up)\n"
               "  --no-deinterlace  interpolate an interlaced video's woven frames as they are (by default each\n"
               "            field becomes a frame at its own time, its other lines rebuilt by yadif's rule, and\n"
               "            those frames are interpolated: --factor N then gives N times the frame rate, steady)\n"
               "  --no-audio  leave the input's sound out (by default it is copied unchanged where OUT holds its\n"
               "            codec, and re-encoded in OUT's own codec where not: AAC into .webm becomes Opus)\n"
               "  --no-subtitles  leave the input's subtitles, their attached fonts and its chapters out (by\n"
               "            default they are kept where OUT holds them: copied, or text subtitles re-encoded, as\n"
               "            SubRip into .mp4)\n"
               "  OUT keeps the input's pixel shape (a DVD's stretched pixels), colour primaries and transfer, and\n"
               "            tags (title, creation time, place, the sound's language), where its format holds them\n"
               "  --max-memory GB  refuse, before interpolating, a job whose frames in memory (10 input frames,\n"
               "            the output frames of one pair, 3 waiting for the writer) and working buffers need\n"
               "            more (default: the memory available; the video's length does not count), and stop\n"
               "            a GIF, which keeps every frame, once its frames would need more\n");
}

/* Memory the engine needs beside the frames, per pixel of a frame: measured as peak RSS minus the
 * input and output frames, 2 threads, factor 2, the first 61 frames, on 2026-12-07: 609 B on
 * vtest.avi (768x576) and 548 B on movie-hello.mp4 (1280x720). (Before the engine's buffer cache
 * stopped handing large buffers to small requests, 1066 and 1010 B, above the 900 assumed then.) */
#define WORK_BYTES_PER_PIXEL 650.0
/* Input frames the engine holds (its ring, kn_interp_stream), and the reader's own. */
#define INPUT_FRAMES_HELD 10
/* Output frames waiting for the writer's thread (kn_video_pipe): enough that it seldom waits for the
 * engine or the engine for it. */
#define WRITER_SLOTS 3

/* Bytes interpolating w x h frames takes with held output frames at a time. */
static double needed_bytes(int w, int h, long long held) {
    double px = (double)w * h;
    return ((double)INPUT_FRAMES_HELD + (double)held) * 3.0 * px + WORK_BYTES_PER_PIXEL * px;
}

/* 0 when interpolating w x h frames, held output frames at a time, fits in budget bytes (0: unknown,
 * no check); else prints why not and returns -1. what says where the budget came from. */
static int check_memory(const char *in, int w, int h, long long held, double budget, const char *what) {
    double need = needed_bytes(w, h, held);
    if (!(budget > 0) || need <= budget) return 0;
    fprintf(stderr, "kinora: %s: interpolating its %dx%d frames needs about %.2f GB of memory (%d input frames "
                    "and %lld output frames are held), more than the %.2f GB %s\n",
            in, w, h, need / 1e9, INPUT_FRAMES_HELD, held, budget / 1e9, what);
    return -1;
}

/* Input frames come from the reader, counted, with their times unless a rate was given instead; the
 * times are kept (8 bytes a frame) for the output frames' (frame_time), on the engine's clock
 * (kn_frame_clock). */
typedef struct {
    kn_video_reader *rd;
    const kn_interrupt *stop;   /* Ctrl-C: the next frame fails */
    int n, timed;
    double fps;        /* the input's rate */
    double *times;     /* frame i's time, for i < n */
    double shift;      /* the clock's shift (kn_frame_clock) */
    int cap;
} counted_reader;
static kn_status from_reader(void *user, uint8_t *rgb, double *time, int *got, kn_error *err) {
    counted_reader *c = user;
    if (c->stop->raised) return kn_fail(err, KN_ECANCELLED, "interrupted");
    kn_status st = kn_video_reader_next(c->rd, rgb, got, err);
    if (st || !*got || !c->timed) { c->n += !st && *got; return st; }
    if (c->n == c->cap) {
        int cap = c->cap ? 2 * c->cap : 256;
        double *p = realloc(c->times, sizeof *p * (size_t)cap);
        if (!p) return kn_fail(err, KN_ENOMEM, "out of memory for the times of %d frames", cap);
        c->times = p;
        c->cap = cap;
    }
    double t = kn_video_reader_time(c->rd);
    *time = t;
    c->times[c->n] = c->n ? kn_frame_clock(t, c->times[c->n - 1], 1 / c->fps, &c->shift) : isfinite(t) ? t : 0;
    c->n++;
    return KN_OK;
}

/* The time of output frame k of --factor: input frame k / factor's, or between it and the next at
 * the fraction k % factor / factor of their interval. */
static double frame_time(const counted_reader *c, long long k, int factor) {
    long long i = k / factor, j = k % factor;
    double t = c->times[i];
    return j ? t + (c->times[i + 1] - t) * (double)j / factor : t;
}

/* Output frames go to the writer's thread, counted; a writer that keeps them (GIF) takes at most
 * limit, so the budget is kept as the frames come (their number is known only at the end). With
 * src, --factor's frames are written at the input's times (frame_time). */
typedef struct {
    kn_video_pipe *pipe;
    long long n, limit;
    const char *path;
    double budget;
    const counted_reader *src;
    const kn_interrupt *stop;   /* Ctrl-C: the next frame fails */
    int factor;
    /* progress on a terminal: the frames expected (0: unknown), when it began and was last drawn */
    int tty;
    long long expected;
    double start, drawn;
} counted_writer;

/* Redraws the progress line at most 4 times a second (final: now, and ends the line). */
static void show_progress(counted_writer *c, int final) {
    if (!c->tty) return;
    double now = kn_now(), el = now - c->start;
    if (!final && now - c->drawn < 0.25) return;
    c->drawn = now;
    long long total = final ? c->n : c->expected;
    double eta = !final && c->n > 0 && total > c->n ? el / (double)c->n * (double)(total - c->n) : -1;
    kn_progress_line("interpolate", c->n, total, !final, el, eta);
    if (final) { fputc('\n', stderr); fflush(stderr); }
}
static kn_status to_writer(void *user, long long k, const uint8_t *rgb, kn_error *err) {
    counted_writer *c = user;
    if (c->n >= c->limit)
        return kn_fail(err, KN_ENOMEM, "%s: a GIF keeps every frame until it is finished, and %lld frames are "
                       "already as much as the %.2f GB of memory allow; write a video or PNG folder instead",
                       c->path, c->n, c->budget / 1e9);
    if (c->stop->raised) return kn_fail(err, KN_ECANCELLED, "interrupted");
    kn_status st = kn_video_pipe_add(c->pipe, rgb, c->src ? frame_time(c->src, k, c->factor) : NAN, err);
    c->n += !st;
    show_progress(c, 0);
    return st;
}

/* Whether paths a and b name the same existing file or folder (through links or other spellings). */
static int same_file(const char *a, const char *b) {
    struct stat sa, sb;
    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

/* What `kinora interpolate` was asked for, beside its input and output. */
typedef struct {
    long factor, threads;
    double fps, max_memory, input_fps;
    int no_audio, no_subtitles, no_deinterlace;
} interp_args;

/* IN "-" (the standard input) or a pipe, and OUT "-" (the standard output), go through files in a
 * private temporary folder: the reader opens its input more than once (frames, sound, subtitles,
 * tags) and seeks in it, and the writer finishes its file before it is whole (an MP4's index comes
 * last) and then renames it into place. in and out: the paths to read and write (IN and OUT
 * themselves where they are files or folders). */
typedef struct {
    char dir[4096];               /* the temporary folder, "" when none was needed */
    const char *in, *out;         /* IN and OUT, or these: */
    char in_tmp[4200], out_tmp[4200];
    int to_stdout;
} stream_files;

/* 1 when path is "-" or names a pipe, a socket or a device: something read once, as it comes. */
static int is_stream(const char *path) {
    struct stat sb;
    return !strcmp(path, "-") || (stat(path, &sb) == 0 && (S_ISFIFO(sb.st_mode) || S_ISCHR(sb.st_mode) ||
                                                            S_ISSOCK(sb.st_mode)));
}

/* A --format value: a file name extension, letters and digits only. */
static int format_ok(const char *f) {
    size_t n = strlen(f);
    if (n < 1 || n > 16) return 0;
    for (size_t i = 0; i < n; i++)
        if (!((f[i] >= 'a' && f[i] <= 'z') || (f[i] >= 'A' && f[i] <= 'Z') || (f[i] >= '0' && f[i] <= '9'))) return 0;
    return 1;
}

/* Sets sf up for IN and OUT (format: OUT's extension when OUT is "-"), copying a streamed input into
 * the temporary folder; returns the exit code (0: go on). stream_files_close undoes it either way. */
static int stream_files_open(stream_files *sf, const char *in, const char *out, const char *format,
                             const kn_interrupt *stop) {
    memset(sf, 0, sizeof *sf);
    sf->in = in;
    sf->out = out;
    sf->to_stdout = !strcmp(out, "-");
    int from_stream = is_stream(in);
    if (!from_stream && !sf->to_stdout) return 0;
    if (sf->to_stdout && !format_ok(format)) {
        fprintf(stderr, "kinora: --format takes a file name extension (mkv, mp4, webm, ...), not '%s'\n", format);
        return 2;
    }
    if (sf->to_stdout && isatty(1)) {
        fprintf(stderr, "kinora: the standard output is a terminal; send it to a file or a pipe\n");
        return 2;
    }
    if (!strcmp(in, "-") && isatty(0)) {
        fprintf(stderr, "kinora: the standard input is a terminal; give a file, or send a video to it\n");
        return 2;
    }
    kn_error err = {0};
    if (kn_tmp_dir(sf->dir, sizeof sf->dir, &err)) { fprintf(stderr, "kinora: %s\n", err.msg); return 1; }
    if (sf->to_stdout) {
        snprintf(sf->out_tmp, sizeof sf->out_tmp, "%s/output.%s", sf->dir, format);
        sf->out = sf->out_tmp;
    }
    if (!from_stream) return 0;
    snprintf(sf->in_tmp, sizeof sf->in_tmp, "%s/input", sf->dir);
    sf->in = sf->in_tmp;
    int fd = strcmp(in, "-") ? open(in, O_RDONLY | O_CLOEXEC) : 0;
    if (fd < 0) { fprintf(stderr, "kinora: %s: %s\n", in, strerror(errno)); return 1; }
    const char *what = fd ? in : "the standard input";
    kn_status st = kn_copy_fd_to_file(fd, what, sf->in, &stop->raised, &err);
    if (fd) close(fd);
    if (st && !stop->raised) fprintf(stderr, "kinora: %s\n", err.msg);   /* a signal is told by the caller */
    return st ? 1 : 0;
}

/* Copies a finished output to the standard output; returns the exit code. SIGPIPE is blocked (and a
 * pending one taken) meanwhile, so a reader that stops early (`| head`) is an error here, EPIPE,
 * and the temporary folder is still removed. */
static int stream_files_deliver(const stream_files *sf) {
    if (!sf->to_stdout) return 0;
    sigset_t pipe_sig, old;
    sigemptyset(&pipe_sig);
    sigaddset(&pipe_sig, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_sig, &old);
    kn_error err = {0};
    kn_status st = kn_copy_file_to_fd(sf->out, 1, "the standard output", &err);
    struct timespec now = {0, 0};
    while (sigtimedwait(&pipe_sig, NULL, &now) == SIGPIPE) {}
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (st) fprintf(stderr, "kinora: %s\n", err.msg);
    return st ? 1 : 0;
}

static void stream_files_close(stream_files *sf) {
    if (sf->dir[0]) kn_remove_dir_flat(sf->dir);
}

/* Interpolates in_path into out_path (files or folders), naming them in and out in what it prints;
 * returns the exit code. */
static int interpolate(const interp_args *o, const char *in_path, const char *out_path, const char *in,
                       const char *out, const kn_interrupt *stop) {
    long factor = o->factor;
    double fps = o->fps, max_memory = o->max_memory, input_fps = o->input_fps;
    int no_audio = o->no_audio, no_subtitles = o->no_subtitles, no_deinterlace = o->no_deinterlace;
    long threads = o->threads;
    kn_error err = {0};
    double budget = max_memory > 0 ? max_memory * 1e9 : kn_available_memory();
    counted_reader src = {.stop = stop};
    kn_video_reader_opts ro = {.deinterlace = !no_deinterlace};
    if (kn_video_reader_open_with(in_path, &ro, &src.rd, &err)) {
        fprintf(stderr, "kinora: %s\n", err.msg);
        return 1;
    }
    int w, h;
    float in_fps;
    kn_video_reader_info(src.rd, &w, &h, &in_fps);
    const char *fields = kn_video_reader_interlaced(src.rd);
    int fielded = kn_video_reader_deinterlaced(src.rd);   /* a frame per field: twice the frames' rate */
    if (input_fps > 0) in_fps = (float)(fielded ? 2 * input_fps : input_fps);
    if (fielded && factor > 0) {   /* N times the frame rate from the fields' frames, at steady times */
        fps = (double)in_fps / 2 * (double)factor;
        factor = 0;
    }
    src.fps = in_fps;
    src.timed = !(input_fps > 0) && in_fps > 0;   /* a PNG folder's frames have no times */
    int rc = 1;
    kn_pool *pool = NULL;
    counted_writer dst = {.limit = LLONG_MAX, .path = out, .budget = budget, .factor = (int)factor, .stop = stop};
    /* --factor keeps a video's timing: its output frames go at the input's times (a steady input's
     * are its cadence's anyway); --fps makes a steady output of its own */
    if (factor > 0 && src.timed) dst.src = &src;
    if (!(in_fps > 0) && (fps > 0 || !kn_video_path_is_folder(out_path))) {   /* fail now, not after interpolating */
        fprintf(stderr, "kinora: %s has no frame rate (a PNG folder); give --input-fps to %s\n", in,
                fps > 0 ? "use --fps" : "write a video");
        goto done;
    }
    /* the output frames of one pair and those waiting for the writer; a GIF's writer keeps every frame
     * for its palette, up to what the budget leaves (to_writer) */
    long long held = kn_interp_video_between(in_fps, (int)factor, fps) + WRITER_SLOTS;
    if (check_memory(in, w, h, held, budget, max_memory > 0 ? "that --max-memory allows" : "available on this machine"))
        goto done;
    if (budget > 0 && kn_video_writer_keeps_frames(out_path))
        dst.limit = (long long)((budget - needed_bytes(w, h, held)) / (3.0 * w * h));
    double out_fps = factor > 0 ? in_fps * (double)factor : fps;
    kn_ctx ctx;
    if (make_ctx((int)threads, &pool, &ctx)) goto done;
    double t0 = kn_now();
    long long nin = kn_video_reader_frames(src.rd);   /* as the file says; 0 when it does not */
    dst.tty = isatty(2);
    dst.start = t0;
    dst.expected = nin > 0 ? kn_interp_video_frames((int)(nin < INT_MAX ? nin : INT_MAX), in_fps, (int)factor, fps) : 0;
    long long dropped = 0;
    /* the sound comes along where the timing is the input's own (not --input-fps, not a PNG folder) */
    kn_video_writer_opts wo = {.timed = dst.src != NULL, .audio_from = src.timed && !no_audio ? in_path : NULL,
                               .audio_start = kn_video_reader_start(src.rd),
                               .subtitles_from = src.timed && !no_subtitles ? in_path : NULL};
    kn_video_reader_display(src.rd, &wo.display);   /* stretched pixels and colour tags survive */
    if (!kn_video_path_is_folder(in_path)) wo.tags_from = in_path;   /* title, creation time, place, language */
    const char *first = fields && fields[0] == 't' ? "top" : "bottom";   /* the field first in time */
    if (fields && fielded)
        fprintf(stderr, "kinora: note: %s is interlaced (%s field first): each field is a frame (yadif), %g a "
                        "second; --no-deinterlace keeps its woven frames\n", in, first, in_fps);
    else if (fields && kn_video_reader_psf(src.rd))   /* flagged interlaced, its fields one moment */
        fprintf(stderr, "kinora: note: %s is flagged interlaced (%s field first) but both fields of each frame "
                        "show one moment (progressive segmented frames): its frames are interpolated as they "
                        "are\n", in, first);
    else if (fields && !no_deinterlace)   /* said to be interlaced, its frames flagged progressive */
        fprintf(stderr, "kinora: note: %s says it is interlaced (%s field first) but its frames are flagged "
                        "progressive; they are interpolated as they are\n", in, first);
    else if (fields)   /* a woven frame holds two moments: its fields are moved together, and motion combs */
        fprintf(stderr, "kinora: note: %s is interlaced (%s field first); its frames are interpolated as they are, "
                        "so moving edges keep their combing\n", in, first);
    kn_video_writer *vw = NULL;
    kn_status st = kn_video_writer_open_with(out_path, w, h, (float)out_fps, &wo, &vw, &err);
    if (!st && kn_video_writer_audio_note(vw)[0])
        fprintf(stderr, "kinora: note: %s: %s\n", out, kn_video_writer_audio_note(vw));
    if (!st && kn_video_writer_subtitle_note(vw)[0])
        fprintf(stderr, "kinora: note: %s: %s\n", out, kn_video_writer_subtitle_note(vw));
    if (!st) st = kn_video_pipe_start(vw, w, h, WRITER_SLOTS, &dst.pipe, &err);   /* takes vw over */
    if (!st)
        st = kn_interp_stream(&ctx, NULL, w, h, in_fps, from_reader, &src, (int)factor, fps, to_writer, &dst,
                              &dropped, &err);
    if (!st) { st = kn_video_pipe_finish(dst.pipe, &err); dst.pipe = NULL; }
    show_progress(&dst, 1);
    if (st) {
        if (!stop->raised) fprintf(stderr, "kinora: %s\n", err.msg);   /* a signal is told below */
    } else {
        fprintf(stderr, "%s: %d frames %dx%d at %g fps -> %s: %lld frames at %g fps (read, interpolate and write "
                        "%.2f s)\n", in, src.n, w, h, in_fps, out, dst.n, out_fps, kn_now() - t0);
        if (dropped)
            fprintf(stderr, "%s: %lld frames were dropped: each has a timestamp not after the frame before's\n", in,
                    dropped);
        rc = 0;
    }
done:
    kn_video_pipe_abort(dst.pipe);   /* removes what was written: nothing is left behind */
    kn_video_reader_close(src.rd);
    free(src.times);
    kn_pool_destroy(pool);
    return rc;
}


int kn_cmd_interpolate(int argc, char **argv) {
    const char *in = NULL, *out = NULL, *format = NULL;
    interp_args o = {.threads = kn_default_threads()};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) { interpolate_usage(stdout); return 0; }
        else if (!strcmp(a, "--no-audio")) o.no_audio = 1;
        else if (!strcmp(a, "--no-deinterlace")) o.no_deinterlace = 1;
        else if (!strcmp(a, "--no-subtitles")) o.no_subtitles = 1;
        else if (!strcmp(a, "-o") || !strcmp(a, "--output")) {
            if (!val) { fprintf(stderr, "kinora: %s needs a value\n", a); return 2; }
            out = val; i++;
        } else if (!strcmp(a, "--format")) {
            if (!val) { fprintf(stderr, "kinora: %s needs a value\n", a); return 2; }
            format = val; i++;
        } else if (!strcmp(a, "--factor")) { if (kn_arg_int(a, val, 1, 1000, &o.factor)) return 2; i++; }
        else if (!strcmp(a, "--fps")) { if (kn_arg_rate(a, val, 1e-3, 10000, &o.fps)) return 2; i++; }
        else if (!strcmp(a, "--threads")) { if (kn_arg_int(a, val, 1, 256, &o.threads)) return 2; i++; }
        else if (!strcmp(a, "--input-fps")) { if (kn_arg_rate(a, val, 1e-3, 1000, &o.input_fps)) return 2; i++; }
        else if (!strcmp(a, "--max-memory")) { if (kn_arg_float(a, val, 1e-6, 1e6, &o.max_memory)) return 2; i++; }
        else if (a[0] == '-' && a[1]) { fprintf(stderr, "kinora: unknown option '%s'\n", a); interpolate_usage(stderr); return 2; }
        else if (!in) in = a;
        else { fprintf(stderr, "kinora: interpolate takes one input (got '%s' too)\n", a); return 2; }
    }
    if (!in || !out) { interpolate_usage(stderr); return 2; }
    if (!strcmp(out, "-") != (format != NULL)) {
        fprintf(stderr, "kinora: %s\n", format ? "--format is for -o - (the standard output) only"
                                               : "-o - (the standard output) needs --format (mkv, mp4, webm, ...)");
        return 2;
    }
    if ((o.factor > 0) == (o.fps > 0)) { fprintf(stderr, "kinora: give exactly one of --factor or --fps\n"); return 2; }
    if (same_file(in, out)) {   /* replacing the input would lose it to a mistyped -o, as ffmpeg also refuses */
        fprintf(stderr, "kinora: %s is the input itself; write the output elsewhere\n", out);
        return 2;
    }
    kn_interrupt stop;   /* before any thread: they all leave the signals to its watcher */
    if (kn_interrupt_start(&stop)) { fprintf(stderr, "kinora: cannot set up the signal watcher\n"); return 1; }
    stream_files sf;
    int rc = stream_files_open(&sf, in, out, format, &stop);
    if (!rc) rc = interpolate(&o, sf.in, sf.out, in, out, &stop);
    if (!rc) rc = stream_files_deliver(&sf);
    stream_files_close(&sf);
    return kn_interrupt_finish(&stop, "kinora", out, rc);
}

/* ---- eval-interp ---- */

typedef struct { const char *name; double psnr, ssim, wall, cpu; int scored; } method_score;

/* CPU seconds used so far by this process (who = RUSAGE_SELF) or its waited-for children. */
static double cpu_seconds(int who) {
    struct rusage ru;
    if (getrusage(who, &ru)) return 0;
    return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + 1e-6 * (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

/* Scores frames 1, 3, ... of `rebuilt` (m frames) against the original. */
static void score(const kn_video *orig, const uint8_t *rebuilt, int m, method_score *s) {
    size_t fb = (size_t)orig->width * orig->height * 3;
    s->psnr = s->ssim = 0;
    s->scored = 0;
    for (int i = 1; i + 1 < m; i += 2) {
        const uint8_t *a = kn_video_frame(orig, i), *b = rebuilt + (size_t)i * fb;
        double p = kn_psnr_rgb(a, b, orig->width, orig->height);
        s->psnr += isfinite(p) ? p : 100.0;   /* identical frames: count as 100 dB, not infinity */
        s->ssim += kn_ssim_luma(a, b, orig->width, orig->height);
        s->scored++;
    }
    if (s->scored) { s->psnr /= s->scored; s->ssim /= s->scored; }
}

/* The kept frames written to ffmpeg's stdin, on a thread of their own while its stdout is read: its
 * output can fill the pipe before it has read all of its input. SIGPIPE is blocked here, so an
 * ffmpeg that stops early is an error (EPIPE), not the end of kinora. */
typedef struct { int fd; const uint8_t *data; size_t n; int ok; } feed_job;

static void *feed(void *arg) {
    feed_job *j = arg;
    sigset_t pipe_sig;
    sigemptyset(&pipe_sig);
    sigaddset(&pipe_sig, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_sig, NULL);
    j->ok = kn_write_all(j->fd, j->data, j->n) == 0;
    close(j->fd);
    return NULL;
}

/* Reads up to cap bytes from fd into buf (fewer at the end of the stream); -1 on an error. */
static ssize_t read_full(int fd, uint8_t *buf, size_t cap) {
    size_t got = 0;
    while (got < cap) {
        ssize_t r = read(fd, buf + got, cap - got);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return -1;
        if (r == 0) break;
        got += (size_t)r;
    }
    return (ssize_t)got;
}

/* Runs ffmpeg's minterpolate on the even frames, piped in and out as raw RGB (no temporary file, so
 * an interrupted run leaves nothing behind, and a small /tmp is no limit); reads its frames into
 * `dst` (m frames). Returns the number of frames read, -1 when ffmpeg could not run or failed. */
static int run_minterpolate(const kn_video *even, int m, int threads, uint8_t *dst) {
    char th[16], size[32];
    snprintf(th, sizeof th, "%d", threads);
    snprintf(size, sizeof size, "%dx%d", even->width, even->height);
    /* integer rates so minterpolate's output times k/(2r) land exactly on the dropped frames */
    char *argv[] = {"ffmpeg", "-nostdin", "-v", "error", "-threads", th, "-filter_threads", th, "-f", "rawvideo",
                    "-pix_fmt", "rgb24", "-s", size, "-r", "12", "-i", "pipe:0", "-vf",
                    "minterpolate=fps=24:mi_mode=mci:mc_mode=aobmc:me_mode=bidir:me=epzs:vsbmc=1", "-f", "rawvideo",
                    "-pix_fmt", "rgb24", "pipe:1", NULL};
    int in[2], out[2];
    if (pipe2(in, O_CLOEXEC)) return -1;
    if (pipe2(out, O_CLOEXEC)) { close(in[0]); close(in[1]); return -1; }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in[0], 0);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    pid_t pid;
    int r = posix_spawnp(&pid, "ffmpeg", &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(in[0]);
    close(out[1]);
    if (r != 0) { close(in[1]); close(out[0]); return -1; }
    size_t fb = (size_t)even->width * even->height * 3;
    feed_job job = {in[1], even->rgb, fb * (size_t)even->nframes, 0};
    pthread_t feeder;
    int fed = pthread_create(&feeder, NULL, feed, &job) == 0;
    if (!fed) close(in[1]);
    ssize_t got = fed ? read_full(out[0], dst, fb * (size_t)m) : -1;
    uint8_t sink[4096];   /* what ffmpeg writes past m frames, so it can finish */
    while (got >= 0 && read(out[0], sink, sizeof sink) > 0) {}
    close(out[0]);
    if (fed) pthread_join(feeder, NULL);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
    if (got < 0 || !job.ok || !WIFEXITED(status) || WEXITSTATUS(status) != 0) return -1;
    return (int)((size_t)got / fb);
}

static void eval_usage(FILE *f) {
    fprintf(f, "usage: kinora eval-interp VIDEO... [--frames N] [--threads N] [--no-minterpolate] [--max-memory GB]\n"
               "                         [--runs N]\n"
               "  Drops every other frame of the first N frames (default 301), rebuilds the dropped ones and\n"
               "  prints mean RGB PSNR (8-bit, per-frame mean) and mean SSIM (luma, 11x11 Gaussian window,\n"
               "  sigma 1.5) for Kinora, frame duplication, linear blend and FFmpeg's minterpolate, all scored\n"
               "  on the frames every method rebuilt (minterpolate stops up to a frame early).\n"
               "  The frames are held in memory; a clip that would need more than --max-memory (default: the\n"
               "  memory available) is refused with the number of frames that fit.\n"
               "  --runs N  run Kinora and minterpolate N times each (default 1), taking turns, and print the\n"
               "            median wall and CPU time of each, and their ratio: a machine whose speed wanders\n"
               "            then moves both alike\n");
}

/* Memory eval-interp needs beside the frames, per pixel of a frame: measured as peak RSS minus the
 * frames below, 2 threads, without minterpolate, on 2026-12-07: 70 B on box.mp4 (640x480, 121
 * frames), 36 B on vtest.avi (768x576, 121) and 172 B on movie-hello.mp4 (1280x720, 61). (Before
 * the engine's buffer cache stopped handing large buffers to small requests and SSIM stopped holding
 * a frame of doubles, the same runs needed 531, 493 and 631 B, above the 450 assumed then.) */
#define EVAL_WORK_BYTES_PER_PIXEL 300.0

/* Bytes eval_one holds for m frames of w x h (ne of them kept): the clip, its kept frames, one
 * buffer that each method's frames take in turn, Kinora's output and the engine's own memory. */
static double eval_bytes(int m, int ne, int w, int h) {
    double px = (double)w * h;
    return (3.0 * m + ne) * 3.0 * px + EVAL_WORK_BYTES_PER_PIXEL * px;
}

/* The median of n values (sorted in place). */
static double median(double *v, int n) {
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && v[j - 1] > v[j]; j--) { double t = v[j]; v[j] = v[j - 1]; v[j - 1] = t; }
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

#define EVAL_MAX_RUNS 99

static int eval_one(const char *path, int frames, int threads, int with_mi, int runs, double budget,
                    const char *what, kn_ctx *ctx) {
    kn_error err = {0};
    kn_video v = {0}, even = {0}, out = {0};
    if (kn_video_read_range(path, 0, frames, &v, &err)) { fprintf(stderr, "kinora: %s\n", err.msg); return 1; }
    int m = (v.nframes & 1) ? v.nframes : v.nframes - 1;   /* odd: first and last frames kept */
    if (m < 3) { fprintf(stderr, "kinora: %s: need at least 3 frames (has %d)\n", path, v.nframes); kn_video_free(&v); return 1; }
    int w = v.width, h = v.height, ne = (m + 1) / 2;
    size_t fb = (size_t)w * h * 3;
    if (budget > 0 && eval_bytes(m, ne, w, h) > budget) {
        int fit = m;
        while (fit >= 3 && eval_bytes(fit, (fit + 1) / 2, w, h) > budget) fit -= 2;
        char hint[64] = "not even 3 frames fit";
        if (fit >= 3) snprintf(hint, sizeof hint, "--frames %d fits", fit);
        fprintf(stderr, "kinora: %s: scoring %d frames of %dx%d needs about %.2f GB of memory, more than the %.2f GB "
                        "%s; %s\n", path, m, w, h, eval_bytes(m, ne, w, h) / 1e9, budget / 1e9, what, hint);
        kn_video_free(&v);
        return 1;
    }
    uint8_t *buf = kn_malloc((size_t)m * fb);
    even.width = w; even.height = h; even.nframes = ne; even.fps = v.fps > 0 ? v.fps / 2 : 12;
    even.rgb = kn_malloc((size_t)ne * fb);
    int rc = 1;
    if (!buf || !even.rgb) { fprintf(stderr, "kinora: out of memory for %d frames of %dx%d\n", m, w, h); goto done; }
    for (int i = 0; i < ne; i++) memcpy(even.rgb + (size_t)i * fb, kn_video_frame(&v, 2 * i), fb);
    double la[3] = {0};
    if (getloadavg(la, 3) < 1) la[0] = NAN;
    method_score s[4] = {{"kinora", 0, 0, 0, 0, 0}, {"duplicate", 0, 0, 0, 0, 0}, {"blend", 0, 0, 0, 0, 0},
                         {"minterpolate", 0, 0, 0, 0, 0}};
    /* minterpolate first: it stops up to a frame early, and every method is then scored on the frames
     * all of them rebuilt, so the means compare the same frames. With several runs the two take turns,
     * and each run's frames are the same as the first's (both are deterministic): the first are scored */
    int nmethods = 3, mlim = m;
    double t0, c0, wall[2][EVAL_MAX_RUNS], cpu[2][EVAL_MAX_RUNS];
    for (int r = 0; r < runs; r++) {
        if (with_mi && (r == 0 || nmethods == 4)) {
            t0 = kn_now(); c0 = cpu_seconds(RUSAGE_CHILDREN);
            int got = run_minterpolate(&even, m, threads, buf);
            wall[1][r] = kn_now() - t0;
            cpu[1][r] = cpu_seconds(RUSAGE_CHILDREN) - c0;
            if (r == 0 && got >= 0) score(&v, buf, got, &s[3]);
            if (r == 0 && (got < 0 || !s[3].scored))
                fprintf(stderr, "kinora: ffmpeg minterpolate failed or returned no in-between frames; its row is left out\n");
            else if (r == 0) {
                if (got < m) {
                    mlim = got;
                    fprintf(stderr, "kinora: minterpolate returned %d of %d frames; all methods are scored on the %d "
                            "rebuilt frames before frame %d\n", got, m, s[3].scored, got);
                }
                nmethods = 4;
            }
        }
        kn_video_free(&out);
        t0 = kn_now(); c0 = cpu_seconds(RUSAGE_SELF);
        if (kn_interp_video(ctx, NULL, &even, 2, 0, &out, &err)) { fprintf(stderr, "kinora: %s: %s\n", path, err.msg); goto done; }
        wall[0][r] = kn_now() - t0;
        cpu[0][r] = cpu_seconds(RUSAGE_SELF) - c0;
        if (r == 0) score(&v, out.rgb, mlim, &s[0]);
    }
    s[0].wall = median(wall[0], runs);
    s[0].cpu = median(cpu[0], runs);
    if (nmethods == 4) { s[3].wall = median(wall[1], runs); s[3].cpu = median(cpu[1], runs); }
    t0 = kn_now(); c0 = cpu_seconds(RUSAGE_SELF);
    for (int i = 1; i < m; i += 2) memcpy(buf + (size_t)i * fb, kn_video_frame(&v, i - 1), fb);
    s[1].wall = kn_now() - t0;
    s[1].cpu = cpu_seconds(RUSAGE_SELF) - c0;
    score(&v, buf, mlim, &s[1]);
    t0 = kn_now(); c0 = cpu_seconds(RUSAGE_SELF);
    for (int i = 1; i < m; i += 2) {
        const uint8_t *a = kn_video_frame(&v, i - 1), *b = kn_video_frame(&v, i + 1);
        uint8_t *d = buf + (size_t)i * fb;
        for (size_t k = 0; k < fb; k++) d[k] = (uint8_t)((a[k] + b[k] + 1) >> 1);
    }
    s[2].wall = kn_now() - t0;
    s[2].cpu = cpu_seconds(RUSAGE_SELF) - c0;
    score(&v, buf, mlim, &s[2]);
    printf("%s: %dx%d, frames 0..%d, %d rebuilt; %d threads; load average %.2f at start", path, w, h, m - 1,
           s[0].scored, threads, la[0]);
    if (runs > 1) printf("; times: medians of %d runs, Kinora and minterpolate taking turns", runs);
    printf("\n");
    printf("  %-13s %9s %8s %9s %9s\n", "method", "PSNR dB", "SSIM", "wall s", "CPU s");
    for (int i = 0; i < nmethods; i++)
        printf("  %-13s %9.3f %8.4f %9.2f %9.2f\n", s[i].name, s[i].psnr, s[i].ssim, s[i].wall, s[i].cpu);
    if (nmethods == 4 && s[3].wall > 0)
        printf("  Kinora - minterpolate: %+.3f dB in %.2f of its wall time\n", s[0].psnr - s[3].psnr, s[0].wall / s[3].wall);
    fflush(stdout);
    rc = 0;
done:
    kn_free(buf);
    kn_free(even.rgb);
    kn_video_free(&out);
    kn_video_free(&v);
    return rc;
}

int kn_cmd_eval_interp(int argc, char **argv) {
    long frames = 301, threads = kn_default_threads(), runs = 1;
    double max_memory = 0;
    int with_mi = 1, nin = 0;
    const char **inputs = calloc((size_t)argc, sizeof *inputs);
    if (!inputs) return 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) { eval_usage(stdout); free(inputs); return 0; }
        else if (!strcmp(a, "--frames")) { if (kn_arg_int(a, val, 3, 1000000, &frames)) { free(inputs); return 2; } i++; }
        else if (!strcmp(a, "--threads")) { if (kn_arg_int(a, val, 1, 256, &threads)) { free(inputs); return 2; } i++; }
        else if (!strcmp(a, "--no-minterpolate")) with_mi = 0;
        else if (!strcmp(a, "--runs")) { if (kn_arg_int(a, val, 1, EVAL_MAX_RUNS, &runs)) { free(inputs); return 2; } i++; }
        else if (!strcmp(a, "--max-memory")) { if (kn_arg_float(a, val, 1e-6, 1e6, &max_memory)) { free(inputs); return 2; } i++; }
        else if (a[0] == '-' && a[1]) { fprintf(stderr, "kinora: unknown option '%s'\n", a); eval_usage(stderr); free(inputs); return 2; }
        else inputs[nin++] = a;
    }
    if (!nin) { eval_usage(stderr); free(inputs); return 2; }
    kn_pool *pool = NULL;
    kn_ctx ctx;
    if (make_ctx((int)threads, &pool, &ctx)) { free(inputs); return 1; }
    int rc = 0;
    double budget = max_memory > 0 ? max_memory * 1e9 : kn_available_memory();
    const char *what = max_memory > 0 ? "that --max-memory allows" : "available on this machine";
    for (int i = 0; i < nin; i++) rc |= eval_one(inputs[i], (int)frames, (int)threads, with_mi, (int)runs, budget, what, &ctx);
    kn_pool_destroy(pool);
    free(inputs);
    return rc;
}
