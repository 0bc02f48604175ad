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
#include "io/deinterlace.h"
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
    const char *fields;     /* "tt", "bb", "tb", "bt": the stream is interlaced (by its first frame); NULL */
    struct SwsContext *field_sws[2];   /* each field's conversion to the deinterlacing format (to_work) */
    int transparent;        /* a frame converted so far had alpha below opaque (its colour is kept alone) */
    uint32_t *alpha_row;    /* one row of alpha values, for looking */
    int alpha_cap;
    kn_alpha_mode alpha_mode;   /* what becomes of the alpha (kn_video_reader_opts) */
    uint8_t *alpha, *alpha_scaled;   /* matte or over black: the frame's alpha, and at the first frame's size */
    size_t alpha_bytes, alpha_scaled_bytes;
    struct SwsContext *alpha_sws;    /* scales the alpha of a frame of another size */
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

/* Where the index read on opening (an MP4's sample table, when written first) says the stream's
 * data ends, in bytes from the start of the file; 0 when there is none (Matroska reads its cues only
 * to seek). A file that ends before that was cut short (a copy or download that stopped): its frames
 * after the cut cannot be read, and the demuxer only logs it and ends the stream early. */
static int64_t index_end(AVStream *st) {
    int64_t end = 0;
    for (int i = 0, n = avformat_index_get_entries_count(st); i < n; i++) {
        const AVIndexEntry *e = avformat_index_get_entry(st, i);
        if (e && e->pos >= 0 && e->pos + e->size > end) end = e->pos + e->size;
    }
    return end;
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
    int64_t size = d->ic->pb ? avio_size(d->ic->pb) : -1, end = index_end(st);
    if (size > 0 && end > size)
        return kn_fail(err, KN_EFORMAT,
                       "%s: the file is cut short: its index places video up to byte %" PRId64
                       ", but the file ends at byte %" PRId64 " (a copy or download that stopped?)",
                       path, end, size);
    d->is_gif = st->codecpar->codec_id == AV_CODEC_ID_GIF;
    /* VP9 carries its alpha beside the picture (WebM's alpha_mode), which only libvpx decodes */
    const AVDictionaryEntry *am = av_dict_get(st->metadata, "alpha_mode", NULL, 0);
    if (st->codecpar->codec_id == AV_CODEC_ID_VP9 && am && !strcmp(am->value, "1")) {
        const AVCodec *vpx = avcodec_find_decoder_by_name("libvpx-vp9");
        if (vpx) codec = vpx;
    }
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
    for (int q = 0; q < 2; q++) sws_freeContext(d->field_sws[q]);
    free(d->stored);
    free(d->alpha_row);
    free(d->alpha);
    free(d->alpha_scaled);
    sws_freeContext(d->alpha_sws);
    av_frame_free(&d->frame);
    av_packet_free(&d->pkt);
    avcodec_free_context(&d->cc);
    avformat_close_input(&d->ic);
}

/* A scaler from f to sw x sh RGB, honouring the frame's colour matrix and range; NULL when swscale
 * has none. */
static struct SwsContext *rgb_scaler(struct SwsContext *c, const AVFrame *f, int sw, int sh) {
    int scaled = sw != f->width || sh != f->height;
    c = sws_getCachedContext(c, f->width, f->height, f->format, sw, sh, AV_PIX_FMT_RGB24,
                             (scaled ? SWS_BICUBIC : SWS_BILINEAR) | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INT | SWS_BITEXACT,
                             NULL, NULL, NULL);
    const AVPixFmtDescriptor *desc = av_pix_fmt_desc_get(f->format);
    if (c && desc && !(desc->flags & (AV_PIX_FMT_FLAG_RGB | AV_PIX_FMT_FLAG_PAL)) && desc->nb_components >= 3) {
        int *inv, *tab, srange, drange, bri, con, sat;
        if (sws_getColorspaceDetails(c, &inv, &srange, &tab, &drange, &bri, &con, &sat) >= 0) {
            int cs = f->colorspace == AVCOL_SPC_UNSPECIFIED || f->colorspace == AVCOL_SPC_RGB ? SWS_CS_DEFAULT
                     : (int)f->colorspace;
            int full = f->color_range == AVCOL_RANGE_JPEG || strncmp(desc->name, "yuvj", 4) == 0;
            sws_setColorspaceDetails(c, sws_getCoefficients(cs), full, tab, 1, bri, con, sat);
        }
    }
    return c;
}

static kn_status no_scaler(const AVFrame *f, const char *path, kn_error *err) {
    const char *name = av_get_pix_fmt_name(f->format);
    return kn_fail(err, KN_EUNSUPPORTED, "%s: cannot convert pixel format %s to RGB", path, name ? name : "?");
}

/* Where a frame of sw x sh is put as stored when it still has to be turned upright. */
static kn_status stored_frame(dec *d, int sw, int sh, const char *path, uint8_t **out, kn_error *err) {
    size_t bytes = (size_t)sw * sh * 3;
    if (bytes > d->stored_bytes) {
        uint8_t *p = realloc(d->stored, bytes);
        if (!p) return kn_fail(err, KN_ENOMEM, "%s: out of memory for a %dx%d frame", path, sw, sh);
        d->stored = p;
        d->stored_bytes = bytes;
    }
    *out = d->stored;
    return KN_OK;
}

static void turn_upright(const dec *d, const uint8_t *stored, int sw, int sh, uint8_t *dst) {
    static const int orientation[4] = {1, 6, 3, 8};   /* EXIF's numbers for 0..3 quarter turns */
    kn_rgb_orient(stored, sw, sh, orientation[d->turns], dst);
}

/* Whether frames of format fmt hold alpha (a palette's entries included). */
static int format_has_alpha(int fmt) {
    const AVPixFmtDescriptor *desc = av_pix_fmt_desc_get(fmt);
    return desc && (desc->flags & AV_PIX_FMT_FLAG_ALPHA) &&
           !(desc->flags & (AV_PIX_FMT_FLAG_HWACCEL | AV_PIX_FMT_FLAG_BITSTREAM));
}

/* Row y of f's alpha (f's format holds one: format_has_alpha) into d->alpha_row, which holds f->width
 * values once alpha_row_room made room; returns the value of opaque (255 for a palette, whose entries'
 * alpha is looked up, else the component's largest). */
static uint32_t alpha_row(dec *d, const AVFrame *f, int y) {
    const AVPixFmtDescriptor *desc = av_pix_fmt_desc_get(f->format);
    int pal = (desc->flags & AV_PIX_FMT_FLAG_PAL) != 0;
    int c = pal ? 0 : desc->nb_components - 1;   /* a palette's: the index, then its entry's alpha */
    av_read_image_line2(d->alpha_row, (const uint8_t **)f->data, f->linesize, desc, 0, y, c, f->width, 0, 4);
    if (!pal) return (uint32_t)((1ULL << desc->comp[c].depth) - 1);
    const uint32_t *palette = (const uint32_t *)f->data[1];   /* native-endian ARGB */
    for (int x = 0; x < f->width; x++) d->alpha_row[x] = palette[d->alpha_row[x] & 255] >> 24;
    return 255;
}

static int alpha_row_room(dec *d, int width) {
    if (width <= d->alpha_cap) return 1;
    uint32_t *p = realloc(d->alpha_row, sizeof *p * (size_t)width);
    if (!p) return 0;
    d->alpha_row = p;
    d->alpha_cap = width;
    return 1;
}

/* Sets d->transparent once a frame of a format with alpha (a GIF's, ProRes 4444, VP9 with alpha, RGBA
 * PNG frames in a container, a palette with transparent entries) has a pixel below opaque, for
 * telling the caller so. Looks no further once one is found. */
static void look_for_alpha(dec *d, const AVFrame *f) {
    if (d->transparent || !format_has_alpha(f->format) || !alpha_row_room(d, f->width))
        return;   /* (without room, only a note is missed) */
    for (int y = 0; y < f->height && !d->transparent; y++) {
        uint32_t opaque = alpha_row(d, f, y);
        for (int x = 0; x < f->width && !d->transparent; x++) d->transparent = d->alpha_row[x] < opaque;
    }
}

static kn_status grow(uint8_t **p, size_t *cap, size_t bytes, const char *path, kn_error *err) {
    if (bytes <= *cap) return KN_OK;
    uint8_t *n = realloc(*p, bytes);
    if (!n) return kn_fail(err, KN_ENOMEM, "%s: out of memory for a frame's alpha", path);
    *p = n;
    *cap = bytes;
    return KN_OK;
}

/* f's alpha, 8-bit (deeper alpha rounded to 8 bits; a palette's through its entries; 255 for a format
 * without alpha), at sw x sh into *out (the decoder's buffer): scaled there (bicubic) when f is of
 * another size. */
static kn_status alpha_of(dec *d, const AVFrame *f, int sw, int sh, const uint8_t **out, const char *path,
                          kn_error *err) {
    size_t n = (size_t)f->width * f->height;
    kn_status st = grow(&d->alpha, &d->alpha_bytes, n, path, err);
    if (!st && (f->width != sw || f->height != sh))
        st = grow(&d->alpha_scaled, &d->alpha_scaled_bytes, (size_t)sw * sh, path, err);
    if (!st && !alpha_row_room(d, f->width)) st = kn_fail(err, KN_ENOMEM, "%s: out of memory", path);
    if (st) return st;
    int has = format_has_alpha(f->format);
    if (!has) memset(d->alpha, 255, n);
    for (int y = 0; has && y < f->height; y++) {
        uint32_t max = alpha_row(d, f, y);
        uint8_t *row = d->alpha + (size_t)y * f->width;
        for (int x = 0; x < f->width; x++) row[x] = (uint8_t)(((uint64_t)d->alpha_row[x] * 255 + max / 2) / max);
    }
    const uint8_t *a = d->alpha;
    if (f->width != sw || f->height != sh) {   /* grey to grey: swscale scales it without a range change */
        d->alpha_sws = sws_getCachedContext(d->alpha_sws, f->width, f->height, AV_PIX_FMT_GRAY8, sw, sh,
                                            AV_PIX_FMT_GRAY8, SWS_BICUBIC | SWS_ACCURATE_RND | SWS_BITEXACT, NULL,
                                            NULL, NULL);
        if (!d->alpha_sws) return kn_fail(err, KN_EINTERNAL, "%s: cannot scale the alpha", path);
        const uint8_t *src[4] = {d->alpha, NULL, NULL, NULL};
        uint8_t *dst[4] = {d->alpha_scaled, NULL, NULL, NULL};
        int sl[4] = {f->width, 0, 0, 0}, dl[4] = {sw, 0, 0, 0};
        if (sws_scale(d->alpha_sws, src, sl, 0, f->height, dst, dl) != sh)
            return kn_fail(err, KN_EINTERNAL, "%s: alpha scaling failed", path);
        a = d->alpha_scaled;
    }
    *out = a;
    return KN_OK;
}

/* The decoded frame as upright RGB of uw x uh into dst: scaled there (bicubic, as the ffmpeg tool
 * scales) when the stream changed size midway, so a stream that does (joined clips, a broadcast
 * switching resolution) keeps its first frame's size. */
static kn_status convert_into(dec *d, const AVFrame *f, uint8_t *dst, int uw, int uh, const char *path, kn_error *err) {
    uint8_t *out = dst;
    int sw = d->turns % 2 ? uh : uw, sh = d->turns % 2 ? uw : uh;   /* the size as stored */
    kn_status st = d->turns ? stored_frame(d, sw, sh, path, &out, err) : KN_OK;
    if (st) return st;
    look_for_alpha(d, f);
    const uint8_t *a = NULL;
    size_t n = (size_t)sw * sh;
    if (d->alpha_mode == KN_ALPHA_MATTE || (d->alpha_mode == KN_ALPHA_OVER_BLACK && format_has_alpha(f->format)))
        if ((st = alpha_of(d, f, sw, sh, &a, path, err))) return st;
    if (d->alpha_mode == KN_ALPHA_MATTE) {
        for (size_t i = 0; i < n; i++) out[3 * i] = out[3 * i + 1] = out[3 * i + 2] = a[i];
    } else {
        if (!(d->sws = rgb_scaler(d->sws, f, sw, sh))) return no_scaler(f, path, err);
        uint8_t *dd[4] = {out, NULL, NULL, NULL};
        int dl[4] = {sw * 3, 0, 0, 0};
        int h = sws_scale(d->sws, (const uint8_t *const *)f->data, f->linesize, 0, f->height, dd, dl);
        if (h != sh) return kn_fail(err, KN_EINTERNAL, "%s: pixel conversion failed", path);
        for (size_t i = 0; a && i < 3 * n; i++) out[i] = (uint8_t)((out[i] * a[i / 3] + 127) / 255);   /* over black */
    }
    if (d->turns) turn_upright(d, out, sw, sh, dst);
    return KN_OK;
}

/* The 8-bit planar format an interlaced stream of format fmt is deinterlaced in: its own where it is
 * one (yuv420p and the like, as decoders mostly give), else the one with its chroma subsampling. */
static enum AVPixelFormat work_format(enum AVPixelFormat fmt) {
    const AVPixFmtDescriptor *desc = av_pix_fmt_desc_get(fmt);
    if (!desc || (desc->flags & (AV_PIX_FMT_FLAG_HWACCEL | AV_PIX_FMT_FLAG_BITSTREAM))) return AV_PIX_FMT_YUV420P;
    int planar8 = !(desc->flags & (AV_PIX_FMT_FLAG_PAL | AV_PIX_FMT_FLAG_BE | AV_PIX_FMT_FLAG_FLOAT)) &&
                  ((desc->flags & AV_PIX_FMT_FLAG_PLANAR) || desc->nb_components == 1);
    for (int i = 0; i < desc->nb_components; i++)
        planar8 = planar8 && desc->comp[i].depth == 8 && desc->comp[i].step == 1 && desc->comp[i].shift == 0;
    if (planar8) return fmt;
    if (desc->flags & AV_PIX_FMT_FLAG_PAL) return AV_PIX_FMT_GBRP;
    if (desc->nb_components <= 2) return AV_PIX_FMT_GRAY8;
    if (desc->flags & AV_PIX_FMT_FLAG_RGB) return AV_PIX_FMT_GBRP;
    static const enum AVPixelFormat yuv[3][3] = {
        {AV_PIX_FMT_YUV444P, AV_PIX_FMT_YUV440P, AV_PIX_FMT_YUV420P},
        {AV_PIX_FMT_YUV422P, AV_PIX_FMT_YUV420P, AV_PIX_FMT_YUV420P},
        {AV_PIX_FMT_YUV411P, AV_PIX_FMT_YUV420P, AV_PIX_FMT_YUV410P}};
    return yuv[desc->log2_chroma_w > 2 ? 2 : desc->log2_chroma_w][desc->log2_chroma_h > 2 ? 2 : desc->log2_chroma_h];
}

/* f as a woven frame of w x h in format fmt, into out (allocated here): copied where it already is
 * one, else converted by swscale field by field (each field's rows on their own, scaled to half of
 * h where the stream changed size), so that neither its colours nor its rows mix the two moments. */
static kn_status to_work(dec *d, const AVFrame *f, int w, int h, enum AVPixelFormat fmt, AVFrame *out,
                         const char *path, kn_error *err) {
    av_frame_unref(out);
    out->width = w;
    out->height = h;
    out->format = fmt;
    int r = av_frame_get_buffer(out, 0);
    if (r >= 0) r = av_frame_copy_props(out, f);
    if (r < 0) return av_fail(err, path, "out of memory for a frame", r);
    if (f->width == w && f->height == h && f->format == fmt) {
        if ((r = av_frame_copy(out, f)) < 0) return av_fail(err, path, "frame copy failed", r);
        return KN_OK;
    }
    const AVPixFmtDescriptor *in = av_pix_fmt_desc_get(f->format), *od = av_pix_fmt_desc_get(fmt);
    int split = in && !(in->flags & AV_PIX_FMT_FLAG_PAL) && f->height % (2 << in->log2_chroma_h) == 0 &&
                h % (2 << od->log2_chroma_h) == 0;
    for (int q = 0; q < (split ? 2 : 1); q++) {
        int fh = split ? f->height / 2 : f->height, oh = split ? h / 2 : h;
        d->field_sws[q] = sws_getCachedContext(d->field_sws[q], f->width, fh, f->format, w, oh, fmt,
                                               SWS_BICUBIC | SWS_ACCURATE_RND | SWS_BITEXACT, NULL, NULL, NULL);
        if (!d->field_sws[q]) return no_scaler(f, path, err);
        const uint8_t *src[4] = {NULL, NULL, NULL, NULL};
        uint8_t *dst[4] = {NULL, NULL, NULL, NULL};
        int sl[4] = {0, 0, 0, 0}, dl[4] = {0, 0, 0, 0};
        for (int i = 0; i < 4; i++) {
            if (f->data[i]) { src[i] = f->data[i] + q * f->linesize[i]; sl[i] = (split ? 2 : 1) * f->linesize[i]; }
            if (out->data[i]) { dst[i] = out->data[i] + q * out->linesize[i]; dl[i] = (split ? 2 : 1) * out->linesize[i]; }
        }
        if (sws_scale(d->field_sws[q], src, sl, 0, fh, dst, dl) != oh)
            return kn_fail(err, KN_EINTERNAL, "%s: pixel conversion failed", path);
    }
    return KN_OK;
}

static kn_status convert(dec *d, kn_frame_store *fs, const char *path, kn_error *err) {
    uint8_t *dst;
    int w, h;
    upright_size(d, d->frame->width, d->frame->height, &w, &h);
    if (fs->v->nframes > 0) { w = fs->v->width; h = fs->v->height; }   /* a later size is scaled to the first */
    kn_status st = kn_frame_store_push(fs, path, w, h, &dst, err);
    return st ? st : convert_into(d, d->frame, dst, w, h, path, err);
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

/* The field order the stream states, else the one its frame f is flagged with; NULL: progressive. */
static const char *field_order(const dec *d, const AVFrame *f) {
    switch (d->ic->streams[d->stream]->codecpar->field_order) {
    case AV_FIELD_TT: return "tt";
    case AV_FIELD_BB: return "bb";
    case AV_FIELD_TB: return "tb";
    case AV_FIELD_BT: return "bt";
    default: return f->interlaced_frame ? (f->top_field_first ? "tt" : "bb") : NULL;
    }
}

/* The next decoded frame into d->frame (*got = 1), or *got = 0 at the end: the frames and order of
 * read_ffmpeg (damaged packets and frames skipped the same way). The first one says whether the
 * stream is interlaced (d->fields). */
static kn_status dec_next(dec *d, const char *path, int *got, kn_error *err) {
    *got = 0;
    for (;;) {
        av_frame_unref(d->frame);
        int r = avcodec_receive_frame(d->cc, d->frame);
        if (r == 0) {
            if (d->index++ == 0) d->fields = field_order(d, d->frame);
            *got = 1;
            return KN_OK;
        }
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
    kn_alpha_mode alpha; /* kn_video_reader_opts */
    int has_alpha;       /* frame 0's format holds alpha */
    /* deinterlacing (kn_video_reader_opts): frame 0 decides, and fields_next hands out a frame per field */
    int deinterlace;     /* asked for */
    int fielded;         /* the stream is interlaced and deinterlaced */
    int psf;             /* flagged interlaced, but its fields show one moment: kept as frames (kn_field_timing) */
    int first_parity;    /* the lines of the first field in time: 0 the even (top) ones, 1 the odd */
    enum AVPixelFormat work;   /* the 8-bit planar format the fields are rebuilt in (work_format) */
    AVFrame *woven[3];   /* in work, at frame 0's size as stored (before turning upright): the frames before,
                            at and after the one whose fields go out (woven[1]); NULL where there is none */
    double woven_time[3];
    AVFrame *spare;      /* a woven frame no longer needed, for the next one */
    AVFrame *field_frame;   /* the field's frame in work, before conversion to RGB */
    int field;           /* the field of woven[1] that goes out next: 0 the first in time, 1 the second */
    int decoded_all;     /* the decoder is at its end */
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

/* Frames the PsF test (kn_field_timing) decodes: about two seconds of broadcast. */
#define PSF_PROBE_FRAMES 48

/* 1 when the first PSF_PROBE_FRAMES frames of an interlaced-flagged stream (frame 0 w x h as stored)
 * show each frame's two fields at one moment (kn_field_timing_is_psf), read by a decoder of its own
 * so that the reader's stays at frame 0. Anything that stops the test (an error, a change of size)
 * leaves the verdict to the frames seen so far. */
static int fields_same_moment(const char *path, int w, int h) {
    dec d = {0};
    d.t_first = AV_NOPTS_VALUE;
    d.t_end = INT64_MIN;
    float fps;
    kn_error err = {0};
    kn_field_timing timing = {0};
    AVFrame *luma[3] = {av_frame_alloc(), av_frame_alloc(), av_frame_alloc()};
    int n = 0, got = 1;
    if (luma[0] && luma[1] && luma[2] && !dec_open(&d, path, &fps, &err)) {
        while (n < PSF_PROBE_FRAMES && !dec_next(&d, path, &got, &err) && got) {
            const AVFrame *f = d.frame;
            AVFrame *slot = luma[n % 3];
            if (f->width != w || f->height != h) break;
            if (to_work(&d, f, w, h, work_format(f->format), slot, path, &err)) break;
            if (++n < 3) continue;
            const AVFrame *p = luma[(n - 3) % 3], *c = luma[(n - 2) % 3];
            if (p->linesize[0] != slot->linesize[0] || c->linesize[0] != slot->linesize[0]) break;
            kn_field_timing_add(p->data[0], c->data[0], slot->data[0], slot->linesize[0], w, h, &timing);
        }
    }
    for (int i = 0; i < 3; i++) av_frame_free(&luma[i]);
    dec_close(&d);
    return kn_field_timing_is_psf(&timing);
}

/* The frame just decoded into the next free woven slot. */
static kn_status fields_take(kn_video_reader *r, kn_error *err) {
    AVFrame *f = r->spare ? r->spare : av_frame_alloc();
    r->spare = NULL;
    if (!f) return kn_fail(err, KN_ENOMEM, "%s: out of memory", r->path);
    int sw = r->d.turns % 2 ? r->height : r->width, sh = r->d.turns % 2 ? r->width : r->height;   /* as stored */
    kn_status st = to_work(&r->d, r->d.frame, sw, sh, r->work, f, r->path, err);
    if (st) { av_frame_free(&f); return st; }
    int slot = r->woven[1] ? 2 : 1;
    r->woven[slot] = f;
    r->woven_time[slot] = decoded_time(r);
    return KN_OK;
}

/* The next field's frame, upright RGB, into rgb (*got = 0 after the last field of the last frame).
 * A frame's fields go out once the frame after it is decoded (it holds fields k+1 and k+2 of the
 * rule), each at its own time: the second a field period (1 / the reader's fps) after the frame's. */
static kn_status fields_next(kn_video_reader *r, uint8_t *rgb, int *got, kn_error *err) {
    dec *d = &r->d;
    *got = 0;
    while (!r->woven[2] && !r->decoded_all) {
        kn_status st = dec_next(d, r->path, got, err);
        if (st) return st;
        if (!*got) r->decoded_all = 1;
        else if ((st = fields_take(r, err))) return st;
    }
    *got = 0;
    if (!r->woven[1]) return KN_OK;
    AVFrame *cur = r->woven[1], *out = r->field_frame;
    if (!out && !(out = r->field_frame = av_frame_alloc())) return kn_fail(err, KN_ENOMEM, "%s: out of memory", r->path);
    if (out->width != cur->width || out->height != cur->height || out->format != cur->format) {
        av_frame_unref(out);
        out->width = cur->width; out->height = cur->height; out->format = cur->format;
        int e = av_frame_get_buffer(out, 0);
        if (e < 0) return av_fail(err, r->path, "out of memory for a frame", e);
    }
    av_frame_copy_props(out, cur);
    int s = r->field, parity = s ? 1 - r->first_parity : r->first_parity;
    /* fields k-2, k-1, k+1, k+2 around field k: for a first field in the frames before, before, at
     * and after it; for a second field before, at, after and after */
    const AVFrame *fr[4] = {r->woven[0], s ? cur : r->woven[0], s ? r->woven[2] : cur, r->woven[2]};
    const AVPixFmtDescriptor *desc = av_pix_fmt_desc_get(cur->format);
    for (int i = 0; i < 4 && cur->data[i]; i++) {
        int chroma = (i == 1 || i == 2) && !(desc->flags & AV_PIX_FMT_FLAG_RGB);
        int pw = chroma ? AV_CEIL_RSHIFT(cur->width, desc->log2_chroma_w) : cur->width;
        int ph = chroma ? AV_CEIL_RSHIFT(cur->height, desc->log2_chroma_h) : cur->height;
        const uint8_t *pl[4];
        for (int k = 0; k < 4; k++) pl[k] = fr[k] ? fr[k]->data[i] : NULL;
        kn_deinterlace_plane(pl[0], pl[1], cur->data[i], pl[2], pl[3], cur->linesize[i], pw, ph, parity,
                             out->data[i], out->linesize[i]);
    }
    kn_status st = convert_into(d, out, rgb, r->width, r->height, r->path, err);
    if (st) return st;
    r->read_time = r->woven_time[1] + (s && r->fps > 0 ? 1 / (double)r->fps : 0);
    if (++r->field == 2) {   /* on to the next frame: the one before is no longer needed */
        r->field = 0;
        av_frame_free(&r->spare);
        r->spare = r->woven[0];
        r->woven[0] = r->woven[1];
        r->woven[1] = r->woven[2];
        r->woven[2] = NULL;
        r->woven_time[0] = r->woven_time[1];
        r->woven_time[1] = r->woven_time[2];
    }
    *got = 1;
    return KN_OK;
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
        int has_alpha;
        if ((st = kn_image_read_as(fp, r->alpha, &img, &has_alpha, err))) return st;
        w = img.width; h = img.height;
        if (r->next == 0) r->has_alpha = has_alpha;
    } else if (r->fielded) {   /* frame 0 decided: a frame per field from here on, of frame 0's size */
        return fields_next(r, *rgb, got, err);
    } else {
        if ((st = dec_next(&r->d, r->path, got, err)) || !*got) {
            if (!st && r->next == 0) st = kn_fail(err, KN_EFORMAT, "%s: no frames", r->path);
            return st;
        }
        upright_size(&r->d, r->d.frame->width, r->d.frame->height, &w, &h);
        if (r->next > 0) { w = r->width; h = r->height; }   /* a later size is scaled to the first */
        if (r->next == 0) {
            /* a frame per field, twice the rate and count, where the first frame itself is flagged
             * interlaced: a stream said to be interlaced whose frames are flagged progressive (a film
             * on DVD, progressive pictures in an interlaced container) keeps its frames */
            const AVFrame *f0 = r->d.frame;
            int interlaced = r->deinterlace && r->d.fields && f0->interlaced_frame;
            r->psf = interlaced && fields_same_moment(r->path, f0->width, f0->height);
            if ((r->fielded = interlaced && !r->psf)) {
                r->fps *= 2;
                r->frames *= 2;
                r->first_parity = !f0->top_field_first;
            }
            r->pts0 = r->d.frame->best_effort_timestamp;
            r->display = decoded_display(&r->d);
            r->has_alpha = format_has_alpha(f0->format);
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
        else if (r->fielded) {   /* frame 0 is the first woven frame; its first field goes out */
            r->work = work_format(r->d.frame->format);
            if (!(st = fields_take(r, err))) st = fields_next(r, *rgb, got, err);
            if (!st && !*got) st = kn_fail(err, KN_EINTERNAL, "%s: no field in frame 0", r->path);
        } else {
            st = convert_into(&r->d, r->d.frame, *rgb, w, h, r->path, err);
        }
    }
    kn_image_free(&img);
    *got = !st;
    return st;
}

kn_status kn_video_reader_open(const char *path, kn_video_reader **out, kn_error *err) {
    return kn_video_reader_open_with(path, NULL, out, err);
}

kn_status kn_video_reader_open_with(const char *path, const kn_video_reader_opts *o, kn_video_reader **out,
                                    kn_error *err) {
    *out = NULL;
    if (!path || !*path) return kn_fail(err, KN_EINVAL, "video read: empty path");
    struct stat sb;
    if (stat(path, &sb) != 0) return kn_fail(err, KN_EIO, "%s: %s", path, strerror(errno));
    kn_video_reader *r = calloc(1, sizeof *r);
    if (!r || !(r->path = strdup(path))) { free(r); return kn_fail(err, KN_ENOMEM, "%s: out of memory", path); }
    r->pts0 = AV_NOPTS_VALUE;
    r->read_time = r->time = NAN;
    r->is_dir = S_ISDIR(sb.st_mode);
    r->deinterlace = o && o->deinterlace;
    r->alpha = o ? o->alpha : KN_ALPHA_DEFAULT;
    kn_status st = r->is_dir ? KN_OK : reader_open_ffmpeg(r, err);
    r->d.alpha_mode = r->alpha;   /* after the opening, which may start the decoder afresh */
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

const char *kn_video_reader_interlaced(const kn_video_reader *r) { return r->is_dir ? NULL : r->d.fields; }

int kn_video_reader_deinterlaced(const kn_video_reader *r) { return r->fielded; }

int kn_video_reader_psf(const kn_video_reader *r) { return r->psf; }

int kn_video_reader_transparent(const kn_video_reader *r) { return !r->is_dir && r->d.transparent; }

int kn_video_reader_has_alpha(const kn_video_reader *r) { return r->has_alpha; }

double kn_video_reader_start(const kn_video_reader *r) {
    return r->is_dir || r->pts0 == AV_NOPTS_VALUE ? NAN : (double)r->pts0 * av_q2d(r->d.tb);
}

void kn_video_reader_close(kn_video_reader *r) {
    if (!r) return;
    if (!r->is_dir) dec_close(&r->d);
    kn_free(r->first);
    for (int i = 0; i < 3; i++) av_frame_free(&r->woven[i]);
    av_frame_free(&r->spare);
    av_frame_free(&r->field_frame);
    free(r->path);
    free(r);
}
