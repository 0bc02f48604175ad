/* The public interpolation calls (include/kinora/kinora.h): a video in memory, a stream of frames
 * through callbacks, and a file or PNG folder to another. The engine is src/interp's; this file
 * checks what the caller asked for, makes the thread pool, and for files joins the reader, the
 * engine and the writer's thread, with the sound, subtitles and tags the writer carries over. */
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "core/core.h"
#include "interp/interp.h"
#include "io/io.h"
#include "io/media.h"
#include "io/video_pipe.h"

void kn_interpolate_params_default(kn_interpolate_params *p) {
    memset(p, 0, sizeof *p);
    p->factor = 2;
    p->threads = 1;
    p->deinterlace = p->audio = p->subtitles = p->transparency = 1;
    p->encoding.crf = -1;
}

/* The same bounds as `kinora interpolate`'s options: beyond them a job is a mistake, not a video. */
static kn_status check_params(const kn_interpolate_params *p, kn_error *err) {
    if (!p) return kn_fail(err, KN_EINVAL, "interpolate: no parameters");
    if ((p->factor > 0) == (p->fps > 0) || p->factor < 0 || p->fps < 0)
        return kn_fail(err, KN_EINVAL, "interpolate: give exactly one of a factor (>= 1) or an output fps (> 0)");
    if (p->factor > 1000) return kn_fail(err, KN_EINVAL, "interpolate: factor %d is above 1000", p->factor);
    if (!(p->fps <= 10000)) return kn_fail(err, KN_EINVAL, "interpolate: fps %g is not a rate up to 10000", p->fps);
    if (!(p->input_fps >= 0 && p->input_fps <= 1000))
        return kn_fail(err, KN_EINVAL, "interpolate: input fps %g is not 0 or a rate up to 1000", p->input_fps);
    if (p->threads < 1 || p->threads > 256)
        return kn_fail(err, KN_EINVAL, "interpolate: threads must be 1 to 256 (got %d)", p->threads);
    if (!(p->max_memory >= 0)) return kn_fail(err, KN_EINVAL, "interpolate: max_memory must be >= 0");
    return KN_OK;
}

static int cancelled(const kn_interpolate_params *p) { return p->cancel && *p->cancel; }

static void note(const kn_interpolate_params *p, const char *fmt, ...) {
    if (!p->note) return;
    char text[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    p->note(p->note_user, text);
}

/* Output frames counted, with the caller's progress and cancel between them; then passed on. */
typedef struct {
    const kn_interpolate_params *p;
    kn_frame_sink sink;
    void *user;
    long long n, expected;
} counted_sink;
static kn_status to_sink(void *user, long long k, const uint8_t *rgb, kn_error *err) {
    counted_sink *c = user;
    if (cancelled(c->p)) return kn_fail(err, KN_ECANCELLED, "interpolate: cancelled");
    kn_status st = c->sink(c->user, k, rgb, err);
    if (st) return st;
    c->n++;
    if (c->p->progress &&
        c->p->progress(c->p->progress_user, KN_STAGE_INTERPOLATE, (int)(c->n < INT_MAX ? c->n : INT_MAX),
                       (int)(c->expected < INT_MAX ? c->expected : INT_MAX)))
        return kn_fail(err, KN_ECANCELLED, "interpolate: cancelled");
    return KN_OK;
}

/* ---- a video in memory ---- */

typedef struct { uint8_t *rgb; size_t frame_bytes; } frames_out;
static kn_status store_frame(void *user, long long k, const uint8_t *rgb, kn_error *err) {
    (void)err;
    frames_out *f = user;
    memcpy(f->rgb + (size_t)k * f->frame_bytes, rgb, f->frame_bytes);
    return KN_OK;
}

kn_status kn_interpolate(const kn_video *in, const kn_interpolate_params *p, kn_video *out, kn_error *err) {
    memset(out, 0, sizeof *out);
    kn_status st = check_params(p, err);
    if (st) return st;
    if (!in || !in->rgb || in->nframes < 1) return kn_fail(err, KN_EINVAL, "interpolate: the input video has no frames");
    if (in->width < 1 || in->height < 1 || in->width > KN_IMAGE_MAX_SIDE || in->height > KN_IMAGE_MAX_SIDE)
        return kn_fail(err, KN_EINVAL, "interpolate: frame size %dx%d is outside 1..%d", in->width, in->height,
                       KN_IMAGE_MAX_SIDE);
    kn_video src = *in;   /* the engine reads the rate from the video */
    src.nkeyframes = 0;
    src.keyframe_index = NULL;
    if (p->input_fps > 0) src.fps = (float)p->input_fps;
    long long nout = kn_interp_video_frames(src.nframes, src.fps, p->factor, p->fps);
    size_t fb = (size_t)src.width * src.height * 3;
    if (nout <= 0) {
        if (p->fps > 0 && !(src.fps > 0))
            return kn_fail(err, KN_EINVAL, "interpolate: an output fps needs the input's rate (input_fps)");
        return kn_fail(err, KN_EINVAL, "interpolate: no output frames for %d input frames", src.nframes);
    }
    if ((double)nout * (double)fb > (double)KN_VIDEO_MAX_BYTES)
        return kn_fail(err, KN_EINVAL, "interpolate: %lld output frames of %dx%d do not fit in memory; use "
                       "kn_interpolate_stream", nout, src.width, src.height);
    frames_out fo = {kn_malloc((size_t)nout * fb), fb};
    if (!fo.rgb) return kn_fail(err, KN_ENOMEM, "interpolate: out of memory for %lld output frames", nout);
    kn_pool *pool = NULL;
    kn_ctx ctx;
    counted_sink cs = {p, store_frame, &fo, 0, nout};
    st = kn_ctx_open(p->threads, &pool, &ctx, err);
    if (!st) st = kn_interp_video_to(&ctx, NULL, &src, p->factor, p->fps, to_sink, &cs, err);
    kn_pool_destroy(pool);
    if (st) { kn_free(fo.rgb); return st; }
    out->rgb = fo.rgb;
    out->width = src.width;
    out->height = src.height;
    out->nframes = (int)nout;
    out->fps = p->factor ? src.fps * (float)p->factor : (float)p->fps;
    return KN_OK;
}

/* ---- a stream of frames ---- */

/* Input frames counted, with the caller's cancel between them, and without their times where an
 * input rate stands for them. */
typedef struct {
    const kn_interpolate_params *p;
    kn_frame_source source;
    void *user;
    long long n;
} counted_source;
static kn_status from_source(void *user, uint8_t *rgb, double *time, int *got, kn_error *err) {
    counted_source *c = user;
    if (cancelled(c->p)) return kn_fail(err, KN_ECANCELLED, "interpolate: cancelled");
    kn_status st = c->source(c->user, rgb, time, got, err);
    c->n += !st && *got;
    if (c->p->input_fps > 0) *time = NAN;   /* an input rate stands for the times: frames evenly spaced */
    return st;
}

kn_status kn_interpolate_stream(int width, int height, double fps, kn_frame_source source, void *source_user,
                                kn_frame_sink sink, void *sink_user, const kn_interpolate_params *p,
                                kn_interpolate_result *res, kn_error *err) {
    if (res) memset(res, 0, sizeof *res);
    kn_status st = check_params(p, err);
    if (st) return st;
    if (!source || !sink) return kn_fail(err, KN_EINVAL, "interpolate: a stream needs a source and a sink");
    if (p->input_fps > 0) fps = p->input_fps;
    kn_pool *pool = NULL;
    kn_ctx ctx;
    counted_source cs = {p, source, source_user, 0};
    counted_sink ck = {p, sink, sink_user, 0, 0};
    long long dropped = 0;
    st = kn_ctx_open(p->threads, &pool, &ctx, err);
    if (!st)
        st = kn_interp_stream(&ctx, NULL, width, height, fps, from_source, &cs, p->factor, p->fps, to_sink, &ck,
                              &dropped, err);
    kn_pool_destroy(pool);
    if (res) {
        *res = (kn_interpolate_result){width, height, cs.n, ck.n, dropped, fps,
                                       p->factor ? fps * p->factor : p->fps};
    }
    return st;
}

/* ---- a file to a file ---- */

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

/* Bytes interpolating w x h frames takes with held output frames at a time; with alpha, the frames
 * waiting for the writer take a fourth byte a pixel, and the one being joined (RGBA) four (the
 * alpha's own run comes first and is done by then). */
static double needed_bytes(int w, int h, long long held, int alpha) {
    double px = (double)w * h;
    return ((double)INPUT_FRAMES_HELD + (double)held) * 3.0 * px + WORK_BYTES_PER_PIXEL * px +
           (alpha ? (WRITER_SLOTS + 4.0) * px : 0);
}

/* Input frames come from the reader, counted, with their times unless a rate was given instead; the
 * times are kept (8 bytes a frame) for the output frames' (frame_time), on the engine's clock
 * (kn_frame_clock). */
typedef struct {
    kn_video_reader *rd;
    int n, timed;
    double fps;        /* the input's rate */
    double *times;     /* frame i's time, for i < n */
    double shift;      /* the clock's shift (kn_frame_clock) */
    int cap;
} timed_reader;
static kn_status from_reader(void *user, uint8_t *rgb, double *time, int *got, kn_error *err) {
    timed_reader *c = user;
    kn_status st = kn_video_reader_next(c->rd, rgb, got, err);
    if (st || !*got || !c->timed) { c->n += !st && *got; return st; }
    if (c->n == c->cap) {
        int cap = c->cap ? 2 * c->cap : 256;
        double *t = realloc(c->times, sizeof *t * (size_t)cap);
        if (!t) return kn_fail(err, KN_ENOMEM, "out of memory for the times of %d frames", cap);
        c->times = t;
        c->cap = cap;
    }
    double t = kn_video_reader_time(c->rd);
    *time = t;
    c->times[c->n] = c->n ? kn_frame_clock(t, c->times[c->n - 1], 1 / c->fps, &c->shift) : isfinite(t) ? t : 0;
    c->n++;
    return KN_OK;
}

/* The time of output frame k of a factor: input frame k / factor's, or between it and the next at
 * the fraction k % factor / factor of their interval. */
static double frame_time(const timed_reader *c, long long k, int factor) {
    long long i = k / factor, j = k % factor;
    double t = c->times[i];
    return j ? t + (c->times[i + 1] - t) * (double)j / factor : t;
}

/* ---- transparency: IN's alpha interpolated as a video of its own ----
 * The engine moves colour. Where IN has alpha and OUT holds it, a second reader hands out IN's alpha as
 * grey frames (KN_ALPHA_MATTE: the same frames at the same times), a first run of the engine
 * interpolates them, and each of its output frames is OUT's frame of the same number, so the colour
 * run's frames are written with it. Each run estimates its own flows: the alpha's follow the outline,
 * which is where the alpha changes. The colour run reads the colour premultiplied (over black), so
 * what lies under clear pixels (a GIF's leftovers, a keyer's background) neither steers its flows nor
 * bleeds into the edges, and each written pixel is divided by its alpha again: on vtest.avi keyed
 * against its background the composite came out 0.57 dB closer than with the colour as stored, and
 * 4.3 dB closer with noise under the clear pixels (docs/interpolation.md, "Transparency"). */

/* The alpha of every output frame, a byte a pixel, kept in a temporary file beside OUT that is removed
 * as soon as it is made (nothing is left behind, whatever happens). */
typedef struct {
    FILE *f;
    size_t px;            /* pixels a frame */
    uint8_t *frame;       /* one frame's alpha */
    long long n;          /* frames written (then read back) */
    int transparent;      /* an input pixel had alpha below opaque */
    const char *name, *in;   /* OUT and IN, for messages */
} alpha_frames;

static kn_status alpha_sink(void *user, long long k, const uint8_t *rgb, kn_error *err) {
    (void)k;
    alpha_frames *a = user;
    for (size_t i = 0; i < a->px; i++) a->frame[i] = rgb[3 * i];
    if (fwrite(a->frame, 1, a->px, a->f) != a->px)
        return kn_fail(err, KN_EIO, "%s: cannot keep the interpolated alpha in a temporary file beside it: %s",
                       a->name, strerror(errno));
    a->n++;
    return KN_OK;
}

static void alpha_close(alpha_frames *a) {
    if (a->f) fclose(a->f);
    a->f = NULL;
    free(a->frame);
    a->frame = NULL;
}

/* Whether a pixel of IN (read as mo says: its alpha as grey) is below opaque: frames decoded until one
 * is (frame 0, mostly), all of them where none is (an opaque GIF: its format has alpha), which costs
 * far less than interpolating them for nothing. */
static kn_status any_clear(const char *in_path, const kn_video_reader_opts *mo, const kn_interpolate_params *p, int w,
                           int h, int *clear, kn_error *err) {
    kn_video_reader *rd = NULL;
    uint8_t *rgb = malloc((size_t)w * h * 3);
    kn_status st = rgb ? kn_video_reader_open_with(in_path, mo, &rd, err) : kn_fail(err, KN_ENOMEM, "out of memory");
    int got = 1;
    *clear = 0;
    while (!st && got && !*clear) {
        if (cancelled(p)) st = kn_fail(err, KN_ECANCELLED, "interpolate: cancelled");
        else st = kn_video_reader_next(rd, rgb, &got, err);
        for (size_t i = 0; !st && got && !*clear && i < (size_t)w * h; i++) *clear = rgb[3 * i] < 255;
    }
    kn_video_reader_close(rd);
    free(rgb);
    return st;
}

/* The alpha pass: where IN has a pixel below opaque (a->transparent), its alpha interpolated into
 * a->f (opened here beside out_path) as the colour will be (the same engine options, rate and times),
 * counted for the caller's progress as the colour's frames are, against expected. */
static kn_status alpha_pass(const kn_ctx *ctx, const char *in_path, const char *out_path, const kn_video_reader_opts *ro,
                            const timed_reader *colour, const kn_interpolate_params *p, int w, int h, int factor,
                            double fps, long long expected, alpha_frames *a, kn_error *err) {
    kn_video_reader_opts mo = *ro;
    mo.alpha = KN_ALPHA_MATTE;
    kn_status st = any_clear(in_path, &mo, p, w, h, &a->transparent, err);
    if (st || !a->transparent) return st;
    char base[4096], tmp[4200];
    snprintf(base, sizeof base, "%s", out_path);
    for (size_t n = strlen(base); n > 1 && base[n - 1] == '/';) base[--n] = 0;   /* a folder's name */
    strncat(base, ".alpha", sizeof base - strlen(base) - 1);
    int fd = kn_tmp_open(base, tmp, sizeof tmp);
    if (fd < 0) return kn_fail(err, KN_EIO, "%s: cannot create a temporary file beside it for the alpha: %s", a->name,
                               strerror(errno));
    unlink(tmp);
    a->px = (size_t)w * h;
    if (!(a->f = fdopen(fd, "w+b"))) { close(fd); return kn_fail(err, KN_EIO, "%s: %s", a->name, strerror(errno)); }
    if (!(a->frame = malloc(a->px))) return kn_fail(err, KN_ENOMEM, "%s: out of memory", a->name);
    note(p, "%s is partly transparent (alpha): its alpha is interpolated first, then its colour", a->in);
    timed_reader src = {.fps = colour->fps, .timed = colour->timed};
    st = kn_video_reader_open_with(in_path, &mo, &src.rd, err);
    counted_source cs = {p, from_reader, &src, 0};
    counted_sink ck = {p, alpha_sink, a, 0, expected};
    if (!st) st = kn_interp_stream(ctx, NULL, w, h, colour->fps, from_source, &cs, factor, fps, to_sink, &ck, NULL, err);
    kn_video_reader_close(src.rd);
    free(src.times);
    if (!st && (fflush(a->f) != 0 || fseek(a->f, 0, SEEK_SET) != 0))
        st = kn_fail(err, KN_EIO, "%s: cannot read back the interpolated alpha: %s", a->name, strerror(errno));
    return st;
}

/* Output frame k's alpha (the alpha pass's frame k) beside its colour rgb (premultiplied: divided by
 * the alpha here, at most 255; 0 where the alpha is), into rgba. */
static kn_status alpha_join(alpha_frames *a, const uint8_t *rgb, uint8_t *rgba, kn_error *err) {
    if (fread(a->frame, 1, a->px, a->f) != a->px)
        return kn_fail(err, KN_EINTERNAL, "%s: the alpha pass made %lld frames, fewer than the colour's", a->name, a->n);
    for (size_t i = 0; i < a->px; i++) {
        unsigned al = a->frame[i];
        for (int c = 0; c < 3; c++) {
            unsigned v = al ? (rgb[3 * i + c] * 255u + al / 2) / al : 0;
            rgba[4 * i + c] = (uint8_t)(v > 255 ? 255 : v);
        }
        rgba[4 * i + 3] = (uint8_t)al;
    }
    return KN_OK;
}

/* Output frames go to the writer's thread; a writer that keeps them (GIF) takes at most limit, so the
 * budget is kept as the frames come (their number is known only at the end). With src, a factor's
 * frames are written at the input's times (frame_time). With alpha, each goes with its alpha. */
typedef struct {
    kn_video_pipe *pipe;
    long long n, limit;
    const char *name;
    double budget;
    const timed_reader *src;
    int factor;
    alpha_frames *alpha;
    uint8_t *rgba;        /* alpha: the frame being written */
} piped_writer;
static kn_status to_writer(void *user, long long k, const uint8_t *rgb, kn_error *err) {
    piped_writer *c = user;
    if (c->n >= c->limit)
        return kn_fail(err, KN_ENOMEM, "%s: a GIF keeps every frame until it is finished, and %lld frames are "
                       "already as much as the %.2f GB of memory allow; write a video or PNG folder instead",
                       c->name, c->n, c->budget / 1e9);
    kn_status st = c->alpha ? alpha_join(c->alpha, rgb, c->rgba, err) : KN_OK;
    if (!st) st = kn_video_pipe_add(c->pipe, c->alpha ? c->rgba : rgb, c->src ? frame_time(c->src, k, c->factor) : NAN,
                                    err);
    c->n += !st;
    return st;
}

/* Says how an input flagged interlaced is taken. */
static void note_fields(const kn_interpolate_params *p, const char *in, const kn_video_reader *rd, double in_fps) {
    const char *fields = kn_video_reader_interlaced(rd);
    if (!fields) return;
    const char *first = fields[0] == 't' ? "top" : "bottom";   /* the field first in time */
    if (kn_video_reader_deinterlaced(rd))
        note(p, "%s is interlaced (%s field first): each field is a frame (yadif), %g a second; without "
                "deinterlacing (--no-deinterlace) its woven frames are kept", in, first, in_fps);
    else if (kn_video_reader_psf(rd))   /* flagged interlaced, its fields one moment */
        note(p, "%s is flagged interlaced (%s field first) but both fields of each frame show one moment "
                "(progressive segmented frames): its frames are interpolated as they are", in, first);
    else if (p->deinterlace)   /* said to be interlaced, its frames flagged progressive */
        note(p, "%s says it is interlaced (%s field first) but its frames are flagged progressive; they are "
                "interpolated as they are", in, first);
    else   /* a woven frame holds two moments: its fields are moved together, and motion combs */
        note(p, "%s is interlaced (%s field first); its frames are interpolated as they are, so moving edges "
                "keep their combing", in, first);
}

/* Whether the message text at s, from msg on, is path as a name of its own: at the start or after a
 * space or quote, and followed by the end, ':', ' ', '.', ',' or a quote (not the letters of a word
 * that a short path such as "o" is part of). */
static int path_at(const char *msg, const char *s, const char *path, size_t pl) {
    if (strncmp(s, path, pl)) return 0;
    if (s > msg && !strchr(" '\"(", s[-1])) return 0;
    return s[pl] == 0 || strchr(":., '\")", s[pl]) != NULL;
}

/* err's message with every path in it replaced by name (the caller's IN or OUT, where it reads or
 * writes through a file of its own, as `kinora interpolate -` does through a private folder). */
static void message_names(kn_error *err, const char *path, const char *name) {
    size_t pl = strlen(path);
    if (!err || !pl || !strcmp(path, name)) return;
    char out[sizeof err->msg];
    size_t n = 0;
    for (const char *s = err->msg; *s && n + 1 < sizeof out;) {
        if (path_at(err->msg, s, path, pl)) {
            n += (size_t)snprintf(out + n, sizeof out - n, "%s", name);
            s += pl;
        } else {
            out[n++] = *s++;
        }
    }
    out[n < sizeof out ? n : sizeof out - 1] = 0;
    memcpy(err->msg, out, sizeof out);
}

static kn_status file_job(const char *in_path, const char *out_path, const kn_interpolate_params *p,
                          kn_interpolate_result *res, kn_error *err);

kn_status kn_interpolate_file(const char *in_path, const char *out_path, const kn_interpolate_params *p,
                              kn_interpolate_result *res, kn_error *err) {
    kn_status st = file_job(in_path, out_path, p, res, err);
    if (st && p && in_path && out_path) {   /* messages name IN and OUT as the caller does */
        message_names(err, in_path, p->in_name ? p->in_name : in_path);
        message_names(err, out_path, p->out_name ? p->out_name : out_path);
    }
    return st;
}

/* kn_interpolate_file's work. */
static kn_status file_job(const char *in_path, const char *out_path, const kn_interpolate_params *p,
                          kn_interpolate_result *res, kn_error *err) {
    if (res) memset(res, 0, sizeof *res);
    kn_status st = check_params(p, err);
    if (st) return st;
    if (!in_path || !out_path) return kn_fail(err, KN_EINVAL, "interpolate: no input or output path");
    const char *in = p->in_name ? p->in_name : in_path, *out = p->out_name ? p->out_name : out_path;
    if (kn_same_file(in_path, out_path))   /* replacing the input would lose it to a mistyped output */
        return kn_fail(err, KN_EINVAL, "%s is the input itself; write the output elsewhere", out);
    double budget = p->max_memory > 0 ? p->max_memory : kn_available_memory();
    int factor = p->factor;
    double fps = p->fps;
    timed_reader src = {0};
    /* where OUT may keep IN's transparency, the colour is read premultiplied (alpha_join) */
    int keep_alpha = p->transparency && kn_video_writer_holds_alpha(out_path, &p->encoding);
    kn_video_reader_opts ro = {.deinterlace = p->deinterlace, .alpha = keep_alpha ? KN_ALPHA_OVER_BLACK : KN_ALPHA_DEFAULT};
    if ((st = kn_video_reader_open_with(in_path, &ro, &src.rd, err))) return st;
    int w, h;
    float in_fps;
    kn_video_reader_info(src.rd, &w, &h, &in_fps);
    int fielded = kn_video_reader_deinterlaced(src.rd);   /* a frame per field: twice the frames' rate */
    if (p->input_fps > 0) in_fps = (float)(fielded ? 2 * p->input_fps : p->input_fps);
    if (fielded && factor > 0) {   /* N times the frame rate from the fields' frames, at steady times */
        fps = (double)in_fps / 2 * (double)factor;
        factor = 0;
    }
    src.fps = in_fps;
    src.timed = !(p->input_fps > 0) && in_fps > 0;   /* a PNG folder's frames have no times */
    kn_pool *pool = NULL;
    kn_ctx ctx;
    piped_writer dst = {.limit = LLONG_MAX, .name = out, .budget = budget, .factor = factor};
    alpha_frames alpha = {.name = out, .in = in};
    counted_sink cs = {p, to_writer, &dst, 0, 0};
    long long dropped = 0;
    /* a factor keeps a video's timing: its output frames go at the input's times (a steady input's
     * are its cadence's anyway); an fps makes a steady output of its own */
    if (factor > 0 && src.timed) dst.src = &src;
    /* the output frames of one pair and those waiting for the writer; a GIF's writer keeps every frame
     * for its palette, up to what the budget leaves (to_writer) */
    long long held = kn_interp_video_between(in_fps, factor, fps) + WRITER_SLOTS;
    int with_alpha = keep_alpha && kn_video_reader_has_alpha(src.rd);   /* the alpha pass may run */
    double need = needed_bytes(w, h, held, with_alpha);
    if (!(in_fps > 0) && (fps > 0 || !kn_video_path_is_folder(out_path))) {   /* fail now, not after interpolating */
        st = kn_fail(err, KN_EINVAL, "%s has no frame rate (a PNG folder); give its rate (input_fps, --input-fps) to %s",
                     in, fps > 0 ? "make frames at an output fps" : "write a video");
        goto done;
    }
    if (budget > 0 && need > budget) {
        st = kn_fail(err, KN_ENOMEM, "%s: interpolating its %dx%d frames needs about %.2f GB of memory (%d input "
                     "frames and %lld output frames are held), more than the %.2f GB %s", in, w, h, need / 1e9,
                     INPUT_FRAMES_HELD, held, budget / 1e9,
                     p->max_memory > 0 ? "allowed (max_memory, --max-memory)" : "available on this machine");
        goto done;
    }
    double out_fps = factor > 0 ? in_fps * (double)factor : fps;
    long long nin = kn_video_reader_frames(src.rd);   /* as the file says; 0 when it does not */
    cs.expected = nin > 0 ? kn_interp_video_frames((int)(nin < INT_MAX ? nin : INT_MAX), in_fps, factor, fps) : 0;
    /* the sound comes along where the timing is the input's own (not input_fps, not a PNG folder) */
    kn_video_writer_opts wo = {.timed = dst.src != NULL, .audio_from = src.timed && p->audio ? in_path : NULL,
                               .audio_start = kn_video_reader_start(src.rd),
                               .subtitles_from = src.timed && p->subtitles ? in_path : NULL,
                               .encoding = &p->encoding};
    kn_video_reader_display(src.rd, &wo.display);   /* stretched pixels and colour tags survive */
    if (!kn_video_path_is_folder(in_path)) wo.tags_from = in_path;   /* title, creation time, place, language */
    note_fields(p, in, src.rd, in_fps);
    if ((st = kn_ctx_open(p->threads, &pool, &ctx, err))) goto done;
    /* the alpha first, so that OUT is opened knowing whether it has any (a GIF's palette always does) */
    if (with_alpha &&
        (st = alpha_pass(&ctx, in_path, out_path, &ro, &src, p, w, h, factor, fps, cs.expected, &alpha, err)))
        goto done;
    if (alpha.transparent) {
        wo.alpha = 1;
        dst.alpha = &alpha;
        if (!(dst.rgba = malloc((size_t)w * h * 4))) {
            st = kn_fail(err, KN_ENOMEM, "%s: out of memory", out);
            goto done;
        }
    }
    if (budget > 0 && kn_video_writer_keeps_frames(out_path))
        dst.limit = (long long)((budget - need) / ((wo.alpha ? 4.0 : 3.0) * w * h));
    kn_video_writer *vw = NULL;
    st = kn_video_writer_open_with(out_path, w, h, (float)out_fps, &wo, &vw, err);
    if (!st && kn_video_writer_audio_note(vw)[0]) note(p, "%s: %s", out, kn_video_writer_audio_note(vw));
    if (!st && kn_video_writer_subtitle_note(vw)[0]) note(p, "%s: %s", out, kn_video_writer_subtitle_note(vw));
    if (!st) st = kn_video_pipe_start(vw, w, h, WRITER_SLOTS, &dst.pipe, err);   /* takes vw over */
    if (!st) {
        counted_source cr = {p, from_reader, &src, 0};
        st = kn_interp_stream(&ctx, NULL, w, h, in_fps, from_source, &cr, factor, fps, to_sink, &cs, &dropped, err);
    }
    if (!st) { st = kn_video_pipe_finish(dst.pipe, err); dst.pipe = NULL; }
    if (!st && !alpha.transparent && kn_video_reader_transparent(src.rd))   /* said why it was not kept */
        note(p, "%s is partly transparent (alpha): %s has no transparency, its pixels the colour stored under the "
                "input's (%s)", in, out,
             !p->transparency ? "transparency not asked for"
                              : "its format holds none; a PNG folder, a GIF, .webm, .webp, .apng, or ProRes or "
                                "FFV1 in .mov or .mkv would");
    if (res) *res = (kn_interpolate_result){w, h, src.n, dst.n, dropped, in_fps, out_fps};
done:
    kn_video_pipe_abort(dst.pipe);   /* removes what was written: nothing is left behind */
    alpha_close(&alpha);
    free(dst.rgba);
    kn_video_reader_close(src.rd);
    free(src.times);
    kn_pool_destroy(pool);
    return st;
}
