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

static void interpolate_usage(FILE *f) {
    fprintf(f, "usage: kinora interpolate IN -o OUT (--factor N | --fps F) [--threads N] [--input-fps F] [--max-memory GB]\n"
               "       [--no-audio] [--no-subtitles] [--no-alpha] [--no-deinterlace] [--format EXT] [--codec NAME]\n"
               "       [--crf N]\n"
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
               "  --no-alpha  make OUT opaque, its pixels the colour stored under the input's alpha (by default a\n"
               "            transparent input (a GIF sticker, ProRes 4444, VP9 with alpha, RGBA PNG frames) keeps\n"
               "            its transparency where OUT holds it: a PNG folder, a GIF, .webm, .webp, .apng, or\n"
               "            --codec prores or ffv1 in .mov or .mkv; the alpha is interpolated too, which about\n"
               "            doubles the time)\n"
               "  OUT keeps the input's pixel shape (a DVD's stretched pixels), colour primaries and transfer, and\n"
               "            tags (title, creation time, place, the sound's language), where its format holds them\n"
               "  --max-memory GB  refuse, before interpolating, a job whose frames in memory (10 input frames,\n"
               "            the output frames of one pair, 3 waiting for the writer) and working buffers need\n"
               "            more (default: the memory available; the video's length does not count), and stop\n"
               "            a GIF, which keeps every frame, once its frames would need more\n"
               "  --codec NAME  OUT's codec: h264, h265, vp9, av1, ffv1 (lossless RGB) or prores (422 HQ, 10-bit;\n"
               "            4444 where the input's alpha is kept), where its container holds it (.mkv holds\n"
               "            all); default: the container's own (H.264 in .mp4 .mkv .mov, VP9 in .webm)\n"
               "  --crf N   the codec's constant quality, lower is better and larger (h264, h265: 0..51,\n"
               "            default 18 and 20; vp9, av1: 0..63, default 30; ffv1 and prores take none)\n");
}

/* The progress line on a terminal: when it began and was last drawn, and the frames made. */
typedef struct {
    int tty;
    long long n, expected;
    double start, drawn;
} progress_line;

/* Redraws the progress line at most 4 times a second (final: now, and ends the line). */
static void show_progress(progress_line *c, int final) {
    if (!c->tty) return;
    double now = kn_now(), el = now - c->start;
    if (!final && now - c->drawn < 0.25) return;
    c->drawn = now;
    long long total = final ? c->n : c->expected;
    double eta = !final && c->n > 0 && total > c->n ? el / (double)c->n * (double)(total - c->n) : -1;
    kn_progress_line("interpolate", c->n, total, !final, el, eta);
    if (final) { fputc('\n', stderr); fflush(stderr); }
}
static int on_progress(void *user, kn_stage stage, int step, int total) {
    (void)stage;
    progress_line *c = user;
    if (step < c->n) {   /* a second count: a transparent input's colour, after its alpha */
        show_progress(c, 1);
        c->start = c->drawn = kn_now();
    }
    c->n = step;
    c->expected = total;
    show_progress(c, 0);
    return 0;
}
static void on_note(void *user, const char *text) {
    (void)user;
    fprintf(stderr, "kinora: note: %s\n", text);
}

/* What `kinora interpolate` was asked for, beside its input and output. */
typedef struct {
    long factor, threads;
    double fps, max_memory, input_fps;
    int no_audio, no_subtitles, no_deinterlace, no_alpha;
    kn_video_encoding encoding;
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
    kn_interpolate_params p;
    kn_interpolate_params_default(&p);
    p.factor = (int)o->factor;
    p.fps = o->fps;
    p.input_fps = o->input_fps;
    p.threads = (int)o->threads;
    p.deinterlace = !o->no_deinterlace;
    p.audio = !o->no_audio;
    p.subtitles = !o->no_subtitles;
    p.transparency = !o->no_alpha;
    p.encoding = o->encoding;
    p.max_memory = o->max_memory * 1e9;
    p.in_name = in;
    p.out_name = out;
    progress_line pl = {.tty = isatty(2), .start = kn_now()};
    p.progress = on_progress;
    p.progress_user = &pl;
    p.note = on_note;
    p.cancel = &stop->raised;
    kn_interpolate_result r;
    kn_error err = {0};
    kn_status st = kn_interpolate_file(in_path, out_path, &p, &r, &err);
    if (pl.n) show_progress(&pl, 1);
    if (st) {
        if (!stop->raised) fprintf(stderr, "kinora: %s\n", err.msg);   /* a signal is told by the caller */
        return 1;
    }
    fprintf(stderr, "%s: %lld frames %dx%d at %g fps -> %s: %lld frames at %g fps (read, interpolate and write "
                    "%.2f s)\n", in, r.frames_in, r.width, r.height, r.fps_in, out, r.frames_out, r.fps_out,
            kn_now() - pl.start);
    if (r.dropped)
        fprintf(stderr, "%s: %lld frames were dropped: each has a timestamp not after the frame before's\n", in,
                r.dropped);
    return 0;
}

int kn_cmd_interpolate(int argc, char **argv) {
    const char *in = NULL, *out = NULL, *format = NULL;
    interp_args o = {.threads = kn_default_threads(), .encoding = {NULL, -1}};
    int bad = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) { interpolate_usage(stdout); return 0; }
        else if (!strcmp(a, "--no-audio")) o.no_audio = 1;
        else if (!strcmp(a, "--no-deinterlace")) o.no_deinterlace = 1;
        else if (!strcmp(a, "--no-subtitles")) o.no_subtitles = 1;
        else if (!strcmp(a, "--no-alpha")) o.no_alpha = 1;
        else if (!strcmp(a, "-o") || !strcmp(a, "--output")) {
            if (!val) { fprintf(stderr, "kinora: %s needs a value\n", a); return 2; }
            out = val; i++;
        } else if (!strcmp(a, "--format")) {
            if (!val) { fprintf(stderr, "kinora: %s needs a value\n", a); return 2; }
            format = val; i++;
        } else if (kn_arg_encoding(a, val, &o.encoding, &bad)) { if (bad) return 2; i++; }
        else if (!strcmp(a, "--factor")) { if (kn_arg_int(a, val, 1, 1000, &o.factor)) return 2; i++; }
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
    if (kn_same_file(in, out)) {   /* replacing the input would lose it to a mistyped -o, as ffmpeg also refuses */
        fprintf(stderr, "kinora: %s is the input itself; write the output elsewhere\n", out);
        return 2;
    }
    kn_interrupt stop;   /* before any thread: they all leave the signals to its watcher */
    if (kn_interrupt_start(&stop)) { fprintf(stderr, "kinora: cannot set up the signal watcher\n"); return 1; }
    stream_files sf;
    int rc = stream_files_open(&sf, in, out, format, &stop);
    if (!rc)
        rc = interpolate(&o, sf.in, sf.out, strcmp(in, "-") ? in : "the standard input",
                         strcmp(out, "-") ? out : "the standard output", &stop);
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

/* Says so when path's video is interlaced (and not progressive frames sent as fields): its woven
 * frames are what is scored, each holding two moments, where `interpolate` would make a frame of
 * each field. */
static void note_woven(const char *path) {
    kn_error err = {0};
    kn_video_reader *rd = NULL;
    kn_video_reader_opts ro = {.deinterlace = 1};   /* tells interlaced frames from PsF ones */
    if (kn_video_reader_open_with(path, &ro, &rd, &err)) return;   /* reading the frames says what is wrong */
    const char *fields = kn_video_reader_interlaced(rd);
    if (fields && kn_video_reader_deinterlaced(rd))
        fprintf(stderr, "kinora: note: %s is interlaced (%s field first): its woven frames are dropped, rebuilt and "
                        "scored as they are, each holding two moments (interpolate makes a frame of each field)\n",
                path, fields[0] == 't' ? "top" : "bottom");
    kn_video_reader_close(rd);
}

static int eval_one(const char *path, int frames, int threads, int with_mi, int runs, double budget,
                    const char *what, kn_ctx *ctx) {
    kn_error err = {0};
    kn_video v = {0}, even = {0}, out = {0};
    if (kn_video_read_range(path, 0, frames, &v, &err)) { fprintf(stderr, "kinora: %s\n", err.msg); return 1; }
    note_woven(path);
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
    kn_error cerr = {0};
    if (kn_ctx_open((int)threads, &pool, &ctx, &cerr)) {
        fprintf(stderr, "kinora: %s\n", cerr.msg);
        free(inputs);
        return 1;
    }
    int rc = 0;
    double budget = max_memory > 0 ? max_memory * 1e9 : kn_available_memory();
    const char *what = max_memory > 0 ? "that --max-memory allows" : "available on this machine";
    for (int i = 0; i < nin; i++) rc |= eval_one(inputs[i], (int)frames, (int)threads, with_mi, (int)runs, budget, what, &ctx);
    kn_pool_destroy(pool);
    free(inputs);
    return rc;
}
