/* Video input: anything FFmpeg demuxes and decodes (converted to RGB24 with swscale, honouring the
 * stream's colour matrix and range), or a folder of PNG frames 00000.png, 00001.png, ... (fps 0:
 * unknown, callers choose). Frames are decoded in order from the start (no seeking), so a range read
 * gives exactly the frames a whole read would. Only the file protocol is allowed, so a playlist or
 * concat file cannot make the reader open URLs or other files. */
#include "io/media.h"
#include "io/io.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/pixdesc.h>
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

static kn_status read_png_dir(const char *path, int first, int max, kn_video *v, kn_error *err) {
    kn_frame_store fs = {v, 0};
    kn_status st = KN_OK;
    for (long long i = first; !st && (max <= 0 || i < (long long)first + max) && i <= 99999; i++) {
        char fp[4200];
        snprintf(fp, sizeof fp, "%s%s%05lld.png", path, path[strlen(path) - 1] == '/' ? "" : "/", i);
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
    long long index;        /* frames decoded so far */
    int64_t t_first, t_end; /* span of the kept frames' timestamps, in stream time base */
} dec;

static kn_status av_fail(kn_error *err, const char *path, const char *what, int e) {
    char buf[AV_ERROR_MAX_STRING_SIZE] = {0};
    av_strerror(e, buf, sizeof buf);
    return kn_fail(err, e == AVERROR(ENOMEM) ? KN_ENOMEM : e == AVERROR(ENOENT) || e == AVERROR(EACCES) ? KN_EIO
                   : KN_EFORMAT, "%s: %s: %s", path, what, buf);
}

static kn_status dec_open(dec *d, const char *path, float *fps, kn_error *err) {
    char url[4200];
    if (snprintf(url, sizeof url, "file:%s", path) >= (int)sizeof url) return kn_fail(err, KN_EINVAL, "%s: path too long", path);
    AVDictionary *opts = NULL;
    av_dict_set(&opts, "protocol_whitelist", "file", 0);
    int r = avformat_open_input(&d->ic, url, NULL, &opts);
    av_dict_free(&opts);
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
    AVRational fr = st->avg_frame_rate.num > 0 && st->avg_frame_rate.den > 0 ? st->avg_frame_rate : st->r_frame_rate;
    *fps = fr.num > 0 && fr.den > 0 ? (float)av_q2d(fr) : 0.f;
    return KN_OK;
}

static void dec_close(dec *d) {
    sws_freeContext(d->sws);
    av_frame_free(&d->frame);
    av_packet_free(&d->pkt);
    avcodec_free_context(&d->cc);
    avformat_close_input(&d->ic);
}

static kn_status convert(dec *d, kn_frame_store *fs, const char *path, kn_error *err) {
    AVFrame *f = d->frame;
    uint8_t *dst;
    kn_status st = kn_frame_store_push(fs, path, f->width, f->height, &dst, err);
    if (st) return st;
    d->sws = sws_getCachedContext(d->sws, f->width, f->height, f->format, f->width, f->height, AV_PIX_FMT_RGB24,
                                  SWS_BILINEAR | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INT | SWS_BITEXACT, NULL, NULL,
                                  NULL);
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
    uint8_t *dd[4] = {dst, NULL, NULL, NULL};
    int dl[4] = {f->width * 3, 0, 0, 0};
    int h = sws_scale(d->sws, (const uint8_t *const *)f->data, f->linesize, 0, f->height, dd, dl);
    if (h != f->height) return kn_fail(err, KN_EINTERNAL, "%s: pixel conversion failed", path);
    return KN_OK;
}

/* Receives every frame the decoder has ready; *done is set once the range is full. */
static kn_status receive(dec *d, kn_frame_store *fs, const char *path, int first, int max, int *done, kn_error *err) {
    for (;;) {
        int r = avcodec_receive_frame(d->cc, d->frame);
        if (r == AVERROR(EAGAIN) || r == AVERROR_EOF) return KN_OK;
        if (r == AVERROR_INVALIDDATA) continue;
        if (r < 0) return av_fail(err, path, "decoding failed", r);
        long long i = d->index++;
        kn_status st = KN_OK;
        if (i >= first) {
            st = convert(d, fs, path, err);
            int64_t t = d->frame->best_effort_timestamp;
            if (t != AV_NOPTS_VALUE) {
                if (d->t_first == AV_NOPTS_VALUE || t < d->t_first) d->t_first = t;
                int64_t end = t + (d->frame->pkt_duration > 0 ? d->frame->pkt_duration : 0);
                if (end > d->t_end) d->t_end = end;
            }
        }
        av_frame_unref(d->frame);
        if (st) return st;
        if (max > 0 && fs->v->nframes >= max) { *done = 1; return KN_OK; }
    }
}

static kn_status read_ffmpeg(const char *path, int first, int max, kn_video *v, kn_error *err) {
    dec d = {0};
    d.t_first = AV_NOPTS_VALUE;
    d.t_end = INT64_MIN;
    float fps = 0;
    kn_status st = dec_open(&d, path, &fps, err);
    kn_frame_store fs = {v, 0};
    int done = 0, eof = 0;
    while (!st && !done && !eof) {
        int r = av_read_frame(d.ic, d.pkt);
        if (r == AVERROR_EOF) { eof = 1; break; }
        if (r < 0) { st = av_fail(err, path, "read failed", r); break; }
        if (d.pkt->stream_index == d.stream) {
            /* A damaged packet is skipped, as players do; a file with no decodable frame still fails. */
            r = avcodec_send_packet(d.cc, d.pkt);
            if (r < 0 && r != AVERROR(EAGAIN) && r != AVERROR_INVALIDDATA) st = av_fail(err, path, "decoding failed", r);
            else st = receive(&d, &fs, path, first, max, &done, err);
        }
        av_packet_unref(d.pkt);
    }
    if (!st && !done) {
        int r = avcodec_send_packet(d.cc, NULL);
        if (r < 0 && r != AVERROR_EOF) st = av_fail(err, path, "decoding failed", r);
        else st = receive(&d, &fs, path, first, max, &done, err);
    }
    if (!st) st = frames_finish(&fs, path, first, err);
    /* GIF has per-frame delays in centiseconds and no declared rate: measure the mean rate instead. */
    if (!st && (d.is_gif || fps <= 0) && d.t_first != AV_NOPTS_VALUE && d.t_end > d.t_first)
        fps = (float)(v->nframes / ((double)(d.t_end - d.t_first) * av_q2d(d.tb)));
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
