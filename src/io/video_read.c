/* Video input: anything FFmpeg demuxes and decodes (converted to RGB24 with swscale, honouring the
 * stream's colour matrix and range, and turned upright as its display matrix says, as the ffmpeg
 * tool does: a phone's portrait video is stored sideways with a 90-degree rotation to apply), or a
 * folder of PNG frames 00000.png, 00001.png, ... (fps 0: unknown, callers choose). Frames are
 * decoded in order from the start (no seeking), so a range read gives exactly the frames a whole
 * read would. Only the file protocol is allowed, so a playlist or
 * concat file cannot make the reader open URLs or other files. */
#include "io/media.h"
#include "io/av_error.h"
#include "io/av_input.h"
#include "io/io.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/display.h>
#include <libavutil/pixdesc.h>
#include <math.h>
#include <libswscale/swscale.h>

kn_status kn_frame_store_push(kn_frame_store *fs, const char *path, int w, int h, uint8_t **dst, kn_error *err) {
    kn_video *v = fs->v;
    if (v->nframes == 0) {
        if (w < 1 || h < 1 || w > KN_IMAGE_MAX_SIDE || h > KN_IMAGE_MAX_SIDE)
            return kn_fail(err, KN_EFORMAT, "%s: frame size %dx%d outside 1..%d", path, w, h, KN_IMAGE_MAX_SIDE);
        v->width = w; v->height = h;
    } else if (w != v->width || h != v->height) {
        return kn_fail(err, KN_EFORMAT, "%s: frame %d is %dx%d but earlier frames are %dx%d", path, v->nframes, w, h,
                       v->width, v->height);
    }
    size_t fb = (size_t)w * h * 3;
    if ((size_t)v->nframes + 1 > KN_VIDEO_MAX_BYTES / fb)
        return kn_fail(err, KN_EFORMAT, "%s: more than %zu bytes of RGB frames; read or write it in parts", path,
                       KN_VIDEO_MAX_BYTES);
    if ((size_t)v->nframes == fs->cap) {
        size_t cap = fs->cap ? fs->cap * 2 : 16;
        if (cap > KN_VIDEO_MAX_BYTES / fb) cap = KN_VIDEO_MAX_BYTES / fb;
        uint8_t *np = realloc(v->rgb, cap * fb);
        if (!np) return kn_fail(err, KN_ENOMEM, "%s: out of memory after %d frames", path, v->nframes);
        v->rgb = np;
        fs->cap = cap;
    }
    *dst = v->rgb + (size_t)v->nframes * fb;
    v->nframes++;
    return KN_OK;
}

static kn_status frames_finish(kn_frame_store *fs, const char *path, int first, kn_error *err) {
    if (fs->v->nframes == 0)
        return kn_fail(err, KN_EFORMAT, "%s: no frames%s", path, first > 0 ? " in the requested range" : "");
    kn_video *v = fs->v;
    uint8_t *np = realloc(v->rgb, (size_t)v->nframes * v->width * v->height * 3);   /* drop the slack */
    if (np) v->rgb = np;
    return KN_OK;
}

/* ---- PNG folder ---- */

/* Frame i of a PNG folder: DIR/%05d.png. */
static void png_frame_path(char *fp, size_t cap, const char *dir, long long i) {
    snprintf(fp, cap, "%s%s%05lld.png", dir, dir[strlen(dir) - 1] == '/' ? "" : "/", i);
}

static kn_status read_png_dir(const char *path, int first, int max, kn_video *v, kn_error *err) {
    kn_frame_store fs = {v, 0};
    kn_status st = KN_OK;
    for (long long i = first; !st && (max <= 0 || i < (long long)first + max) && i <= 99999; i++) {
        char fp[4200];
        png_frame_path(fp, sizeof fp, path, i);
        struct stat sb;
        if (stat(fp, &sb) != 0) {
            if (i == 0) st = kn_fail(err, KN_EFORMAT, "%s: no 00000.png in the folder", path);
            break;
        }
        kn_image img;
        st = kn_image_read(fp, &img, err);
        uint8_t *dst;
        if (!st) st = kn_frame_store_push(&fs, fp, img.width, img.height, &dst, err);
        if (!st) memcpy(dst, img.rgb, (size_t)img.width * img.height * 3);
        kn_image_free(&img);
    }
    if (!st) st = frames_finish(&fs, path, first, err);
    v->fps = 0;
    return st;
}

/* ---- FFmpeg ---- */

typedef struct dec {
    AVFormatContext *ic;
    AVCodecContext *cc;
    AVFrame *frame;
    AVPacket *pkt;
    struct SwsContext *sws;
    int stream, is_gif;
    AVRational tb;
    AVRational rate;        /* the stream's cadence (av_guess_frame_rate); 0/1 when unknown */
    long long index;        /* frames decoded so far */
    int flushed;            /* the demuxer is at its end and the decoder was told */
    int64_t t_first, t_end; /* span of the kept frames' timestamps, in stream time base */
    int turns;              /* quarter turns clockwise that make the frames upright (0..3) */
    uint8_t *stored;        /* turns != 0: the frame as stored, before turning */
    size_t stored_bytes;
} dec;

static kn_status av_fail(kn_error *err, const char *path, const char *what, int e) {
    return kn_av_fail(err, e == AVERROR(ENOENT) || e == AVERROR(EACCES) ? KN_EIO : KN_EFORMAT, path, what, e);
}

/* Quarter turns clockwise that the stream's display matrix asks for: its rotation (counter-clockwise
 * degrees) negated, to the nearest multiple of 90 within a degree; other angles and none: 0. */
static int display_turns(const AVStream *st) {
    const int32_t *m = (const int32_t *)av_stream_get_side_data(st, AV_PKT_DATA_DISPLAYMATRIX, NULL);
    if (!m) return 0;
    double cw = -av_display_rotation_get(m);
    if (!isfinite(cw)) return 0;
    cw -= 360 * floor(cw / 360);
    for (int q = 1; q < 4; q++)
        if (fabs(cw - 90 * q) < 1) return q;
    return 0;
}

/* The upright size of a stored w x h frame. */
static void upright_size(const dec *d, int w, int h, int *uw, int *uh) {
    *uw = d->turns % 2 ? h : w;
    *uh = d->turns % 2 ? w : h;
}

static kn_status dec_open(dec *d, const char *path, float *fps, kn_error *err) {
    int r = kn_av_open_file(path, &d->ic);
    if (r == AVERROR(ENAMETOOLONG)) return kn_fail(err, KN_EINVAL, "%s: path too long", path);
    if (r < 0) return av_fail(err, path, "cannot open as a video", r);
    r = avformat_find_stream_info(d->ic, NULL);
    if (r < 0) return av_fail(err, path, "cannot read stream information", r);
    const AVCodec *codec = NULL;
    r = av_find_best_stream(d->ic, AVMEDIA_TYPE_VIDEO, -1, -1, &codec, 0);
    if (r < 0) return kn_fail(err, KN_EFORMAT, "%s: no decodable video stream", path);
    d->stream = r;
    AVStream *st = d->ic->streams[r];
    d->tb = st->time_base;
    d->is_gif = st->codecpar->codec_id == AV_CODEC_ID_GIF;
    d->turns = display_turns(st);
    if (st->codecpar->width > KN_IMAGE_MAX_SIDE || st->codecpar->height > KN_IMAGE_MAX_SIDE)
        return kn_fail(err, KN_EFORMAT, "%s: frame size %dx%d larger than %d a side", path, st->codecpar->width,
                       st->codecpar->height, KN_IMAGE_MAX_SIDE);
    d->cc = avcodec_alloc_context3(codec);
    d->frame = av_frame_alloc();
    d->pkt = av_packet_alloc();
    if (!d->cc || !d->frame || !d->pkt) return kn_fail(err, KN_ENOMEM, "%s: out of memory", path);
    r = avcodec_parameters_to_context(d->cc, st->codecpar);
    if (r < 0) return av_fail(err, path, "decoder parameters", r);
    d->cc->thread_count = 1;
    d->cc->log_level_offset = 24;
    r = avcodec_open2(d->cc, codec, NULL);
    if (r < 0) return av_fail(err, path, "cannot open the decoder", r);
    /* the rate the ffmpeg tool assumes: the stream's cadence (r_frame_rate) unless that looks like a
     * time base (above 210 fps while the average is below 70); the average alone would count a
     * phone's pause before its first frame as a slower rate (a 30 fps clip read as 27) */
    AVRational fr = av_guess_frame_rate(d->ic, st, NULL);
    d->rate = fr.num > 0 && fr.den > 0 ? fr : (AVRational){0, 1};
    *fps = d->rate.num ? (float)av_q2d(fr) : 0.f;
    return KN_OK;
}

static void dec_close(dec *d) {
    sws_freeContext(d->sws);
    free(d->stored);
    av_frame_free(&d->frame);
    av_packet_free(&d->pkt);
    avcodec_free_context(&d->cc);
    avformat_close_input(&d->ic);
}

/* The decoded frame as upright RGB of uw x uh into dst: scaled there (bicubic, as the ffmpeg tool
 * scales) when the stream changed size midway, so a stream that does (joined clips, a broadcast
 * switching resolution) keeps its first frame's size. */
static kn_status convert_into(dec *d, uint8_t *dst, int uw, int uh, const char *path, kn_error *err) {
    AVFrame *f = d->frame;
    uint8_t *out = dst;
    int sw = d->turns % 2 ? uh : uw, sh = d->turns % 2 ? uw : uh;   /* the size as stored */
    int scaled = sw != f->width || sh != f->height;
    if (d->turns) {
        size_t bytes = (size_t)sw * sh * 3;
        if (bytes > d->stored_bytes) {
            uint8_t *p = realloc(d->stored, bytes);
            if (!p) return kn_fail(err, KN_ENOMEM, "%s: out of memory for a %dx%d frame", path, f->width, f->height);
            d->stored = p;
            d->stored_bytes = bytes;
        }
        out = d->stored;
    }
    d->sws = sws_getCachedContext(d->sws, f->width, f->height, f->format, sw, sh, AV_PIX_FMT_RGB24,
                                  (scaled ? SWS_BICUBIC : SWS_BILINEAR) | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INT |
                                      SWS_BITEXACT,
                                  NULL, NULL, NULL);
    if (!d->sws) {
        const char *name = av_get_pix_fmt_name(f->format);
        return kn_fail(err, KN_EUNSUPPORTED, "%s: cannot convert pixel format %s to RGB", path, name ? name : "?");
    }
    const AVPixFmtDescriptor *desc = av_pix_fmt_desc_get(f->format);
    if (desc && !(desc->flags & (AV_PIX_FMT_FLAG_RGB | AV_PIX_FMT_FLAG_PAL)) && desc->nb_components >= 3) {
        int *inv, *tab, srange, drange, bri, con, sat;
        if (sws_getColorspaceDetails(d->sws, &inv, &srange, &tab, &drange, &bri, &con, &sat) >= 0) {
            int cs = f->colorspace == AVCOL_SPC_UNSPECIFIED || f->colorspace == AVCOL_SPC_RGB ? SWS_CS_DEFAULT
                     : (int)f->colorspace;
            int full = f->color_range == AVCOL_RANGE_JPEG || strncmp(desc->name, "yuvj", 4) == 0;
            sws_setColorspaceDetails(d->sws, sws_getCoefficients(cs), full, tab, 1, bri, con, sat);
        }
    }
    uint8_t *dd[4] = {out, NULL, NULL, NULL};
    int dl[4] = {sw * 3, 0, 0, 0};
    int h = sws_scale(d->sws, (const uint8_t *const *)f->data, f->linesize, 0, f->height, dd, dl);
    if (h != sh) return kn_fail(err, KN_EINTERNAL, "%s: pixel conversion failed", path);
    static const int orientation[4] = {1, 6, 3, 8};   /* EXIF's numbers for 0..3 quarter turns */
    if (d->turns) kn_rgb_orient(out, sw, sh, orientation[d->turns], dst);
    return KN_OK;
}

static kn_status convert(dec *d, kn_frame_store *fs, const char *path, kn_error *err) {
    uint8_t *dst;
    int w, h;
    upright_size(d, d->frame->width, d->frame->height, &w, &h);
    if (fs->v->nframes > 0) { w = fs->v->width; h = fs->v->height; }   /* a later size is scaled to the first */
    kn_status st = kn_frame_store_push(fs, path, w, h, &dst, err);
    return st ? st : convert_into(d, dst, w, h, path, err);
}

/* Widens [t_first, t_end) to the decoded frame's span (timestamps in the stream's time base). */
static void note_span(dec *d) {
    int64_t t = d->frame->best_effort_timestamp;
    if (t == AV_NOPTS_VALUE) return;
    if (d->t_first == AV_NOPTS_VALUE || t < d->t_first) d->t_first = t;
    int64_t end = t + (d->frame->pkt_duration > 0 ? d->frame->pkt_duration : 0);
    if (end > d->t_end) d->t_end = end;
}

/* The mean rate of n frames over their timestamps' span: what a GIF (per-frame delays, no declared
 * rate) or a stream without one plays at; fps when the span is unknown. */
static float measured_fps(const dec *d, long long n, float fps) {
    if (d->t_first != AV_NOPTS_VALUE && d->t_end > d->t_first)
        return (float)(n / ((double)(d->t_end - d->t_first) * av_q2d(d->tb)));
    return fps;
}

/* The next decoded frame into d->frame (*got = 1), or *got = 0 at the end: the frames and order of
 * read_ffmpeg (damaged packets and frames skipped the same way). */
static kn_status dec_next(dec *d, const char *path, int *got, kn_error *err) {
    *got = 0;
    for (;;) {
        av_frame_unref(d->frame);
        int r = avcodec_receive_frame(d->cc, d->frame);
        if (r == 0) { d->index++; *got = 1; return KN_OK; }
        if (r == AVERROR_EOF) return KN_OK;
        if (r == AVERROR_INVALIDDATA) continue;
        if (r != AVERROR(EAGAIN)) return av_fail(err, path, "decoding failed", r);
        if (d->flushed) return KN_OK;
        r = av_read_frame(d->ic, d->pkt);
        if (r == AVERROR_EOF) {
            d->flushed = 1;
            r = avcodec_send_packet(d->cc, NULL);
            if (r < 0 && r != AVERROR_EOF) return av_fail(err, path, "decoding failed", r);
            continue;
        }
        if (r < 0) return av_fail(err, path, "read failed", r);
        if (d->pkt->stream_index == d->stream) r = avcodec_send_packet(d->cc, d->pkt);
        else r = 0;
        av_packet_unref(d->pkt);
        if (r < 0 && r != AVERROR(EAGAIN) && r != AVERROR_INVALIDDATA) return av_fail(err, path, "decoding failed", r);
    }
}

static kn_status read_ffmpeg(const char *path, int first, int max, kn_video *v, kn_error *err) {
    dec d = {0};
    d.t_first = AV_NOPTS_VALUE;
    d.t_end = INT64_MIN;
    float fps = 0;
    kn_status st = dec_open(&d, path, &fps, err);
    kn_frame_store fs = {v, 0};
    int got = 1;
    while (!st && got && (max <= 0 || v->nframes < max)) {
        st = dec_next(&d, path, &got, err);
        if (!st && got && d.index > first) {   /* frame d.index - 1 is in the range */
            st = convert(&d, &fs, path, err);
            note_span(&d);
        }
    }
    if (!st) st = frames_finish(&fs, path, first, err);
    if (!st && (d.is_gif || fps <= 0)) fps = measured_fps(&d, v->nframes, fps);
    v->fps = fps;
    dec_close(&d);
    return st;
}

kn_status kn_video_read_range(const char *path, int first, int max_frames, kn_video *v, kn_error *err) {
    memset(v, 0, sizeof *v);
    if (!path || !*path) return kn_fail(err, KN_EINVAL, "video read: empty path");
    if (first < 0) return kn_fail(err, KN_EINVAL, "%s: negative first frame %d", path, first);
    struct stat sb;
    if (stat(path, &sb) != 0) return kn_fail(err, KN_EIO, "%s: %s", path, strerror(errno));
    kn_status st = S_ISDIR(sb.st_mode) ? read_png_dir(path, first, max_frames, v, err)
                                       : read_ffmpeg(path, first, max_frames, v, err);
    if (st) kn_video_free(v);
    return st;
}

kn_status kn_video_read(const char *path, kn_video *v, kn_error *err) {
    return kn_video_read_range(path, 0, 0, v, err);
}

/* ---- one frame at a time ---- */

struct kn_video_reader {
    char *path;
    int is_dir;
    int width, height;
    float fps;
    long long next;      /* index of the next frame handed out */
    uint8_t *first;      /* frame 0, read at open to learn the size; handed out by the first next */
    dec d;               /* FFmpeg */
    int64_t pts0;        /* frame 0's timestamp (stream time base) */
    double read_time;    /* the time of the frame reader_read read last (kn_video_reader_time) */
    double first_time;   /* frame 0's */
    double time;         /* the time of the frame next handed out last */
    long long frames;    /* how many frames the file says it has (0: it does not say) */
    kn_video_display display;   /* frame 0's, upright */
};

/* The pixel shape and colour tags of the frame just decoded, as handed out (turned upright). A pixel
 * shape further than 1:100 from square is taken for a damaged field and left out. */
static kn_video_display decoded_display(const dec *d) {
    kn_video_display o = {0, 0, 0, 0};
    AVRational sar = av_guess_sample_aspect_ratio(d->ic, d->ic->streams[d->stream], d->frame);
    if (sar.num > 0 && sar.den > 0 && sar.num != sar.den && av_q2d(sar) >= 0.01 && av_q2d(sar) <= 100) {
        o.sar_num = d->turns % 2 ? sar.den : sar.num;
        o.sar_den = d->turns % 2 ? sar.num : sar.den;
    }
    enum AVColorPrimaries p = d->frame->color_primaries;
    enum AVColorTransferCharacteristic t = d->frame->color_trc;
    if (p != AVCOL_PRI_RESERVED0 && p != AVCOL_PRI_UNSPECIFIED && p != AVCOL_PRI_RESERVED && av_color_primaries_name(p))
        o.primaries = (int)p;
    if (t != AVCOL_TRC_RESERVED0 && t != AVCOL_TRC_UNSPECIFIED && t != AVCOL_TRC_RESERVED && av_color_transfer_name(t))
        o.transfer = (int)t;
    return o;
}

/* The time of the frame just decoded, in seconds after frame 0 on the clock of the rate the reader
 * reports: its position in frames of the stream's cadence, rounded to a whole number when its
 * timestamp is within a tick of one (a time base in milliseconds cannot hold 1/30 s), over r->fps.
 * So a steady stream's frame i is at exactly i / fps, and the engine, which places frames at time *
 * fps, finds frame i at i. NAN without timestamps or a rate. */
static double decoded_time(const kn_video_reader *r) {
    const dec *d = &r->d;
    int64_t t = d->frame->best_effort_timestamp;
    if (t == AV_NOPTS_VALUE || r->pts0 == AV_NOPTS_VALUE || !(r->fps > 0)) return NAN;
    double rate = d->rate.num && (float)av_q2d(d->rate) == r->fps ? av_q2d(d->rate) : r->fps;
    double tick = av_q2d(d->tb), q = ((double)t - (double)r->pts0) * tick * rate, whole = nearbyint(q);
    if (fabs(q - whole) <= tick * rate + 1e-9) q = whole;
    return q / r->fps;
}

/* Opens the file for decoding from its first frame, with the rate read_ffmpeg would report: a GIF's
 * (or a stream without a declared rate) is measured over all its frames in a first pass. */
static kn_status reader_open_ffmpeg(kn_video_reader *r, kn_error *err) {
    dec *d = &r->d;
    d->t_first = AV_NOPTS_VALUE;
    d->t_end = INT64_MIN;
    kn_status st = dec_open(d, r->path, &r->fps, err);
    if (!st) {   /* the count the container states, else its duration at the rate */
        const AVStream *vs = d->ic->streams[d->stream];
        r->frames = vs->nb_frames > 0 ? vs->nb_frames
                    : d->ic->duration > 0 && r->fps > 0 ? llround(d->ic->duration * (double)r->fps / AV_TIME_BASE)
                    : 0;
    }
    if (st || !(d->is_gif || r->fps <= 0)) return st;
    int got = 1;
    while (!st && got) {
        st = dec_next(d, r->path, &got, err);
        if (!st && got) note_span(d);
    }
    if (!st) r->frames = d->index;   /* counted */
    if (!st) r->fps = measured_fps(d, d->index, r->fps);
    float fps = r->fps;
    dec_close(d);
    memset(d, 0, sizeof *d);
    if (st) return st;
    st = dec_open(d, r->path, &r->fps, err);
    r->fps = fps;
    return st;
}

/* Frame r->next into rgb (*got = 0 past the last), checked against the size of frame 0 (or setting
 * it, when rgb is r->first). */
static kn_status reader_read(kn_video_reader *r, uint8_t **rgb, int *got, kn_error *err) {
    *got = 0;
    int w, h;
    kn_image img = {0};
    kn_status st = KN_OK;
    char fp[4200];
    if (r->is_dir) {
        if (r->next > 99999) return KN_OK;
        png_frame_path(fp, sizeof fp, r->path, r->next);
        struct stat sb;
        if (stat(fp, &sb) != 0) {
            return r->next == 0 ? kn_fail(err, KN_EFORMAT, "%s: no 00000.png in the folder", r->path) : KN_OK;
        }
        if ((st = kn_image_read(fp, &img, err))) return st;
        w = img.width; h = img.height;
    } else {
        if ((st = dec_next(&r->d, r->path, got, err)) || !*got) {
            if (!st && r->next == 0) st = kn_fail(err, KN_EFORMAT, "%s: no frames", r->path);
            return st;
        }
        upright_size(&r->d, r->d.frame->width, r->d.frame->height, &w, &h);
        if (r->next > 0) { w = r->width; h = r->height; }   /* a later size is scaled to the first */
        if (r->next == 0) {
            r->pts0 = r->d.frame->best_effort_timestamp;
            r->display = decoded_display(&r->d);
        }
        r->read_time = decoded_time(r);
    }
    const char *name = r->is_dir ? fp : r->path;
    if (r->next == 0 && (w < 1 || h < 1 || w > KN_IMAGE_MAX_SIDE || h > KN_IMAGE_MAX_SIDE))
        st = kn_fail(err, KN_EFORMAT, "%s: frame size %dx%d outside 1..%d", name, w, h, KN_IMAGE_MAX_SIDE);
    else if (r->next == 0 && !(*rgb = r->first = kn_malloc((size_t)w * h * 3)))
        st = kn_fail(err, KN_ENOMEM, "%s: out of memory for a %dx%d frame", name, w, h);
    else if (r->next > 0 && (w != r->width || h != r->height))
        st = kn_fail(err, KN_EFORMAT, "%s: frame %lld is %dx%d but earlier frames are %dx%d", name, r->next, w, h,
                     r->width, r->height);
    if (!st) {
        r->width = w; r->height = h;
        if (r->is_dir) memcpy(*rgb, img.rgb, (size_t)w * h * 3);
        else st = convert_into(&r->d, *rgb, w, h, r->path, err);
    }
    kn_image_free(&img);
    *got = !st;
    return st;
}

kn_status kn_video_reader_open(const char *path, kn_video_reader **out, kn_error *err) {
    *out = NULL;
    if (!path || !*path) return kn_fail(err, KN_EINVAL, "video read: empty path");
    struct stat sb;
    if (stat(path, &sb) != 0) return kn_fail(err, KN_EIO, "%s: %s", path, strerror(errno));
    kn_video_reader *r = calloc(1, sizeof *r);
    if (!r || !(r->path = strdup(path))) { free(r); return kn_fail(err, KN_ENOMEM, "%s: out of memory", path); }
    r->pts0 = AV_NOPTS_VALUE;
    r->read_time = r->time = NAN;
    r->is_dir = S_ISDIR(sb.st_mode);
    kn_status st = r->is_dir ? KN_OK : reader_open_ffmpeg(r, err);
    int got = 0;
    uint8_t *first = NULL;
    if (!st) st = reader_read(r, &first, &got, err);
    if (st) { kn_video_reader_close(r); return st; }
    r->first_time = r->read_time;
    *out = r;
    return KN_OK;
}

void kn_video_reader_info(const kn_video_reader *r, int *width, int *height, float *fps) {
    *width = r->width;
    *height = r->height;
    *fps = r->fps;
}

kn_status kn_video_reader_next(kn_video_reader *r, uint8_t *rgb, int *got, kn_error *err) {
    if (r->first) {   /* frame 0, read at open */
        memcpy(rgb, r->first, (size_t)r->width * r->height * 3);
        kn_free(r->first);
        r->first = NULL;
        r->next = 1;
        r->time = r->first_time;
        *got = 1;
        return KN_OK;
    }
    kn_status st = reader_read(r, &rgb, got, err);
    if (!st && *got) { r->next++; r->time = r->read_time; }
    return st;
}

double kn_video_reader_time(const kn_video_reader *r) { return r->time; }

long long kn_video_reader_frames(const kn_video_reader *r) { return r->frames; }

void kn_video_reader_display(const kn_video_reader *r, kn_video_display *d) { *d = r->display; }

const char *kn_video_reader_interlaced(const kn_video_reader *r) {
    if (r->is_dir) return NULL;
    switch (r->d.ic->streams[r->d.stream]->codecpar->field_order) {
    case AV_FIELD_TT: return "tt";
    case AV_FIELD_BB: return "bb";
    case AV_FIELD_TB: return "tb";
    case AV_FIELD_BT: return "bt";
    default: return r->d.frame->interlaced_frame ? (r->d.frame->top_field_first ? "tt" : "bb") : NULL;
    }
}

double kn_video_reader_start(const kn_video_reader *r) {
    return r->is_dir || r->pts0 == AV_NOPTS_VALUE ? NAN : (double)r->pts0 * av_q2d(r->d.tb);
}

void kn_video_reader_close(kn_video_reader *r) {
    if (!r) return;
    if (!r->is_dir) dec_close(&r->d);
    kn_free(r->first);
    free(r->path);
    free(r);
}
