/* Video output by extension. Every target is written under a temporary name in the same folder
 * (NAME.tmp-XXXXXX, a temporary folder for PNG frames) and renamed at the end, so a failure leaves
 * nothing under the final name. Output depends only on the frames: encoders run single-threaded with
 * FFmpeg's bit-exact flags (no version strings, no random container UIDs), and the RGB -> YUV and
 * palette conversions are our own integer/double code, not swscale's CPU-dependent SIMD paths. One
 * exception (docs/formats.md): libx264's macroblock tree reads unwritten memory at some small frame
 * sizes (64x64 among them), so such an MP4 can differ between runs.
 *   .mp4   H.264 (libx264, crf 18, preset medium, high profile), yuv420p BT.709 limited range,
 *          +faststart; odd widths/heights are padded to even by repeating the last column/row.
 *          .m4v, .mkv (Matroska) and .mov (QuickTime, +faststart) the same.
 *   .webm  VP9 (libvpx-vp9, crf 30, constant quality), yuv420p BT.709 limited range, any size.
 *   other  any container FFmpeg names by the extension (.avi, .ts, .mpg, .flv, .ogv, ...), with
 *          its default video encoder at quantiser 2 where that encoder takes yuv420p (padded to even
 *          sizes as for .mp4), BT.601 limited range (what an untagged stream is read as); others
 *          are refused, naming the format and encoder.
 *   .gif   one global 256-colour median-cut palette over all frames, no dithering; frame delays
 *          in 1/100 s from fps (accumulated, so 12 fps gives 8,8,9,... cs), at least 2 cs.
 *   .y4m   4:2:0 C420jpeg (centred chroma), BT.601 full range, "XCOLORRANGE=FULL", F<num>:<den>.
 *   DIR/   PNG frames 00000.png, 00001.png, ... (DIR is an existing empty folder or ends in '/').
 * A codec named by the caller (kn_video_encoding: H.264, H.265, VP9, AV1, FFV1, ProRes; its settings in
 * io/video_codecs.c) replaces the container's own in any format FFmpeg writes but GIF, in BT.709. */
#include "io/media.h"
#include "io/av_error.h"
#include "io/audio_copy.h"
#include "io/audio_encode.h"
#include "io/subtitle_copy.h"
#include "io/av_input.h"
#include "io/av_tags.h"
#include "io/video_codecs.h"
#include "io/io.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/opt.h>
#include <libavutil/pixdesc.h>
#include <libavutil/timecode.h>
#include <libswscale/swscale.h>

/* VK_X264: H.264 in MP4, Matroska or QuickTime; VK_OTHER: what FFmpeg makes of the extension. */
typedef enum vkind { VK_X264, VK_WEBM, VK_GIF, VK_Y4M, VK_DIR, VK_OTHER, VK_UNKNOWN } vkind;

static int ends_with_ci(const char *s, const char *suf) {
    size_t n = strlen(s), m = strlen(suf);
    return n >= m && strcasecmp(s + n - m, suf) == 0;
}

static vkind kind_of(const char *path) {
    size_t n = strlen(path);
    if (n && path[n - 1] == '/') return VK_DIR;
    if (kn_path_is_dir(path)) return VK_DIR;
    if (ends_with_ci(path, ".mp4") || ends_with_ci(path, ".m4v") || ends_with_ci(path, ".mkv") ||
        ends_with_ci(path, ".mov"))
        return VK_X264;
    if (ends_with_ci(path, ".webm")) return VK_WEBM;
    if (ends_with_ci(path, ".gif")) return VK_GIF;
    if (ends_with_ci(path, ".y4m")) return VK_Y4M;
    const AVOutputFormat *of = av_guess_format(NULL, path, NULL);
    return of && of->video_codec != AV_CODEC_ID_NONE && !(of->flags & AVFMT_NOFILE) ? VK_OTHER : VK_UNKNOWN;
}

/* The format codec takes that is nearest to RGB (APNG's rgb24, FFV1's bgr0), if swscale makes it. */
static enum AVPixelFormat nearest_rgb(const AVCodec *codec) {
    enum AVPixelFormat best = avcodec_find_best_pix_fmt_of_list(codec->pix_fmts, AV_PIX_FMT_RGB24, 0, NULL);
    const AVPixFmtDescriptor *d = av_pix_fmt_desc_get(best);
    return d && !(d->flags & (AV_PIX_FMT_FLAG_HWACCEL | AV_PIX_FMT_FLAG_BITSTREAM)) &&
                   sws_isSupportedOutput(best) ? best : AV_PIX_FMT_NONE;
}

/* The frames an encoder chosen by a file's extension (VK_OTHER) is given: yuv420p, converted by this
 * writer, where it takes them (or any format, as rawvideo does); full-range yuvj420p for MJPEG (JPEG's
 * own range, which its encoder asks for); else its format nearest to RGB (APNG's rgb24), converted by
 * swscale. AV_PIX_FMT_NONE when it takes none of those. */
static enum AVPixelFormat other_format(const AVCodec *codec) {
    const enum AVPixelFormat *f = codec->pix_fmts;
    if (!f) return AV_PIX_FMT_YUV420P;
    int yuv420 = 0, yuvj420 = 0;
    for (const enum AVPixelFormat *p = f; *p != AV_PIX_FMT_NONE; p++) {
        yuv420 |= *p == AV_PIX_FMT_YUV420P;
        yuvj420 |= *p == AV_PIX_FMT_YUVJ420P;
    }
    if (codec->id == AV_CODEC_ID_MJPEG && yuvj420) return AV_PIX_FMT_YUVJ420P;
    /* libwebp converts RGB itself, to what its decoders undo: a test sticker came back at 23.4 dB that
     * way and at 20.8 from this writer's 4:2:0, at the same quality and size */
    if (codec->id == AV_CODEC_ID_WEBP) return nearest_rgb(codec);
    return yuv420 ? AV_PIX_FMT_YUV420P : nearest_rgb(codec);
}

/* The format with alpha an encoder chosen by a file's extension takes that is nearest to RGBA (APNG's
 * rgba, WebP's bgra), if swscale makes it; AV_PIX_FMT_NONE when it takes none with alpha. */
static enum AVPixelFormat other_alpha_format(const AVCodec *codec) {
    if (!codec->pix_fmts) return AV_PIX_FMT_NONE;
    enum AVPixelFormat best = avcodec_find_best_pix_fmt_of_list(codec->pix_fmts, AV_PIX_FMT_RGBA, 1, NULL);
    const AVPixFmtDescriptor *d = av_pix_fmt_desc_get(best);
    return d && (d->flags & AV_PIX_FMT_FLAG_ALPHA) && !(d->flags & (AV_PIX_FMT_FLAG_HWACCEL | AV_PIX_FMT_FLAG_BITSTREAM |
                                                                   AV_PIX_FMT_FLAG_PAL)) &&
                   sws_isSupportedOutput(best) ? best : AV_PIX_FMT_NONE;
}

/* The frames the encoder is given: the named codec's (kind VK_X264 and VK_WEBM always name one; with
 * alpha its format that holds it), PAL8 for a GIF, else other_format's choice (with alpha,
 * other_alpha_format's). */
static enum AVPixelFormat enc_format(vkind kind, const kn_codec *named, const AVCodec *codec, int alpha) {
    if (named && alpha) return named->alpha_pix;
    if (!named && alpha && kind == VK_OTHER) return other_alpha_format(codec);
    if (named) return named->pix != AV_PIX_FMT_NONE ? named->pix : nearest_rgb(codec);
    return kind == VK_GIF ? AV_PIX_FMT_PAL8 : other_format(codec);
}

/* The muxer and encoder path is written with (kind not VK_Y4M or VK_DIR; named: the codec asked
 * for, else the container's default); fails, naming them, when this FFmpeg lacks the encoder, the
 * container cannot hold the codec, or the encoder takes no frames this writer can make. */
static kn_status format_of(const char *path, vkind kind, const kn_codec *named, const AVOutputFormat **mux,
                           const AVCodec **codec, kn_error *err) {
    const char *mname = kind == VK_WEBM ? "webm" : kind == VK_GIF ? "gif" : NULL;
    if (kind == VK_X264) mname = ends_with_ci(path, ".mkv") ? "matroska" : ends_with_ci(path, ".mov") ? "mov" : "mp4";
    *mux = mname ? av_guess_format(mname, NULL, NULL) : av_guess_format(NULL, path, NULL);
    if (!*mux) return kn_fail(err, KN_EUNSUPPORTED, "%s: this FFmpeg has no %s muxer", path, mname ? mname : "such");
    const char *cname = named ? named->encoder : kind == VK_GIF ? "gif" : NULL;
    *codec = cname ? avcodec_find_encoder_by_name(cname) : avcodec_find_encoder((*mux)->video_codec);
    if (!*codec)
        return kn_fail(err, KN_EUNSUPPORTED, "%s: this FFmpeg has no %s encoder", path,
                       cname ? cname : avcodec_get_name((*mux)->video_codec));
    /* 0: the muxer knows it cannot; < 0: it cannot tell, and writing the header will */
    if (named && avformat_query_codec(*mux, (*codec)->id, FF_COMPLIANCE_NORMAL) == 0)
        return kn_fail(err, KN_EUNSUPPORTED, "%s: the %s container cannot hold %s (.mkv holds every codec Kinora "
                       "writes)", path, (*mux)->name, named->label);
    if (enc_format(kind, named, *codec, 0) != AV_PIX_FMT_NONE) return KN_OK;
    return kn_fail(err, KN_EUNSUPPORTED, "%s: FFmpeg writes this as %s with the %s encoder, which takes no frames "
                   "Kinora can make; use .mp4, .mkv, .mov, .webm, .gif, .y4m or a PNG folder", path, (*mux)->name,
                   (*codec)->name);
}

void kn_video_free(kn_video *v) {
    if (!v) return;
    free(v->rgb);
    free(v->keyframe_index);
    memset(v, 0, sizeof *v);
}

kn_status kn_video_alloc(kn_video *v, int width, int height, int nframes, float fps, kn_error *err) {
    memset(v, 0, sizeof *v);
    if (width < 1 || height < 1 || width > KN_IMAGE_MAX_SIDE || height > KN_IMAGE_MAX_SIDE || nframes < 1)
        return kn_fail(err, KN_EINVAL, "video size %dx%d x %d frames outside 1..%d a side", width, height, nframes,
                       KN_IMAGE_MAX_SIDE);
    size_t fb = (size_t)width * height * 3;
    if ((size_t)nframes > KN_VIDEO_MAX_BYTES / fb)
        return kn_fail(err, KN_EINVAL, "video of %d frames of %dx%d is larger than %zu bytes", nframes, width, height,
                       KN_VIDEO_MAX_BYTES);
    v->rgb = kn_malloc(fb * nframes);
    if (!v->rgb) return kn_fail(err, KN_ENOMEM, "out of memory for %d frames of %dx%d", nframes, width, height);
    v->width = width; v->height = height; v->nframes = nframes; v->fps = fps;
    return KN_OK;
}

/* fps as a rational: integers and NTSC rates (N*1000/1001) exactly, anything else to 1/65536. */
static AVRational fps_rational(double fps) {
    double r = round(fps);
    if (fabs(fps - r) < 1e-4 * fps) return (AVRational){(int)r, 1};
    double k = round(fps * 1.001);
    if (fabs(fps - k * 1000.0 / 1001.0) < 1e-4 * fps) return (AVRational){(int)k * 1000, 1001};
    return av_d2q(fps, 65536);
}

/* ---- RGB -> YUV 4:2:0 (pw x ph, edge pixels repeated beyond w x h) ---- */

typedef struct yuv_spec {
    double kr, kb;          /* luma weights of R and B */
    int full;               /* full range 0..255, else 16..235 / 16..240 */
    int chroma_left;        /* MPEG-2 siting (co-sited with the left pixel), else centred */
} yuv_spec;

static const yuv_spec BT709_TV = {0.2126, 0.0722, 0, 1};
/* Containers and codecs that may not carry a colour matrix (AVI's MPEG-4) are read as BT.601 when
 * untagged, by FFmpeg and by players at these sizes: written that way, they read back right. */
static const yuv_spec BT601_TV = {0.299, 0.114, 0, 1};
static const yuv_spec BT601_PC_CENTRED = {0.299, 0.114, 1, 0};

static uint8_t clamp8(double x) {
    double r = floor(x + 0.5);
    return (uint8_t)(r < 0 ? 0 : r > 255 ? 255 : r);
}

/* Pixel (x, y) of a w x h frame of ch bytes a pixel, the edges repeated beyond it. */
static const uint8_t *px(const uint8_t *frame, int w, int h, int ch, int x, int y) {
    x = x < 0 ? 0 : x >= w ? w - 1 : x;
    y = y < 0 ? 0 : y >= h ? h - 1 : y;
    return frame + ((size_t)y * w + x) * (size_t)ch;
}

static void rgb_to_yuv420(const uint8_t *rgb, int w, int h, int pw, int ph, const yuv_spec *s, uint8_t *Y,
                          int ys, uint8_t *U, int us, uint8_t *V, int vs) {
    double kg = 1.0 - s->kr - s->kb;
    double ysc = s->full ? 1.0 : 219.0 / 255.0, yoff = s->full ? 0 : 16;
    double csc = s->full ? 1.0 : 224.0 / 255.0;
    double cb_den = 2.0 * (1.0 - s->kb), cr_den = 2.0 * (1.0 - s->kr);
    for (int y = 0; y < ph; y++)
        for (int x = 0; x < pw; x++) {
            const uint8_t *p = px(rgb, w, h, 3, x, y);
            Y[(size_t)y * ys + x] = clamp8(yoff + ysc * (s->kr * p[0] + kg * p[1] + s->kb * p[2]));
        }
    int cw = (pw + 1) / 2, chh = (ph + 1) / 2;
    for (int j = 0; j < chh; j++)
        for (int i = 0; i < cw; i++) {
            double acc[3] = {0, 0, 0};
            static const double wl[3] = {0.25, 0.5, 0.25}, wc[3] = {0, 0.5, 0.5};
            const double *wx = s->chroma_left ? wl : wc;
            for (int dy = 0; dy < 2; dy++)
                for (int dx = 0; dx < 3; dx++) {
                    const uint8_t *p = px(rgb, w, h, 3, 2 * i - 1 + dx, 2 * j + dy);
                    for (int c = 0; c < 3; c++) acc[c] += 0.5 * wx[dx] * p[c];
                }
            double yl = s->kr * acc[0] + kg * acc[1] + s->kb * acc[2];
            U[(size_t)j * us + i] = clamp8(128 + csc * (acc[2] - yl) / cb_den);
            V[(size_t)j * vs + i] = clamp8(128 + csc * (acc[0] - yl) / cr_den);
        }
}

/* ---- GIF palette: median cut over a 5-bit-per-channel histogram of every frame ---- */

#define HBITS 5
#define HN (1 << HBITS)
#define HIDX(r, g, b) ((((r) >> 3) << 10) | (((g) >> 3) << 5) | ((b) >> 3))

typedef struct pbox { int lo[3], hi[3]; uint64_t count; } pbox;

typedef struct palette {
    uint32_t argb[256];
    uint8_t map[HN * HN * HN];   /* histogram bin -> palette index */
    int clear;                   /* the transparent entry (the last), or -1 */
} palette;

static uint64_t box_count(const uint64_t *hist, pbox *b, int shrink) {
    uint64_t n = 0;
    int lo[3] = {HN, HN, HN}, hi[3] = {-1, -1, -1};
    for (int r = b->lo[0]; r <= b->hi[0]; r++)
        for (int g = b->lo[1]; g <= b->hi[1]; g++)
            for (int bb = b->lo[2]; bb <= b->hi[2]; bb++) {
                uint64_t c = hist[(r << 10) | (g << 5) | bb];
                if (!c) continue;
                n += c;
                int v[3] = {r, g, bb};
                for (int k = 0; k < 3; k++) { if (v[k] < lo[k]) lo[k] = v[k]; if (v[k] > hi[k]) hi[k] = v[k]; }
            }
    if (shrink && n) for (int k = 0; k < 3; k++) { b->lo[k] = lo[k]; b->hi[k] = hi[k]; }
    b->count = n;
    return n;
}

static int box_split(const uint64_t *hist, pbox *b, pbox *nb) {
    int ax = 0;
    for (int k = 1; k < 3; k++) if (b->hi[k] - b->lo[k] > b->hi[ax] - b->lo[ax]) ax = k;
    if (b->hi[ax] == b->lo[ax]) return 0;
    uint64_t half = b->count / 2, acc = 0;
    int cut = b->lo[ax];
    for (int s = b->lo[ax]; s < b->hi[ax]; s++) {
        pbox sl = *b;
        sl.lo[ax] = sl.hi[ax] = s;
        acc += box_count(hist, &sl, 0);
        cut = s;
        if (acc >= half) break;
    }
    *nb = *b;
    b->hi[ax] = cut;
    nb->lo[ax] = cut + 1;
    box_count(hist, b, 1);
    box_count(hist, nb, 1);
    return 1;
}

/* The palette of v's frames; with clear (a byte a pixel, nonzero: transparent) the colours of the
 * other pixels take 255 entries and the last one is transparent. */
static kn_status make_palette(const kn_video *v, const uint8_t *clear, palette *pal, kn_error *err) {
    uint64_t *hist = calloc((size_t)HN * HN * HN, sizeof *hist);
    uint64_t (*sum)[3] = calloc((size_t)HN * HN * HN, sizeof *sum);
    pbox *boxes = malloc(sizeof(pbox) * 256);
    if (!hist || !sum || !boxes) {
        free(hist); free(sum); free(boxes);
        return kn_fail(err, KN_ENOMEM, "gif: out of memory for the palette");
    }
    size_t npix = (size_t)v->width * v->height * v->nframes;
    for (size_t i = 0; i < npix; i++) {
        if (clear && clear[i]) continue;
        const uint8_t *p = v->rgb + 3 * i;
        int h = HIDX(p[0], p[1], p[2]);
        hist[h]++;
        sum[h][0] += p[0]; sum[h][1] += p[1]; sum[h][2] += p[2];
    }
    int nb = 1;
    boxes[0] = (pbox){{0, 0, 0}, {HN - 1, HN - 1, HN - 1}, 0};
    box_count(hist, &boxes[0], 1);
    int most = clear ? 255 : 256;
    while (nb < most) {
        int best = -1;   /* the most populated box that can still be split */
        for (int i = 0; i < nb; i++) {
            pbox *b = &boxes[i];
            if (b->hi[0] == b->lo[0] && b->hi[1] == b->lo[1] && b->hi[2] == b->lo[2]) continue;
            if (best < 0 || b->count > boxes[best].count) best = i;
        }
        if (best < 0 || !box_split(hist, &boxes[best], &boxes[nb])) break;
        nb++;
    }
    memset(pal->argb, 0, sizeof pal->argb);
    double col[256][3];
    for (int i = 0; i < nb; i++) {
        uint64_t s[3] = {0, 0, 0}, n = 0;
        pbox *b = &boxes[i];
        for (int r = b->lo[0]; r <= b->hi[0]; r++)
            for (int g = b->lo[1]; g <= b->hi[1]; g++)
                for (int bb = b->lo[2]; bb <= b->hi[2]; bb++) {
                    int h = (r << 10) | (g << 5) | bb;
                    n += hist[h];
                    for (int k = 0; k < 3; k++) s[k] += sum[h][k];
                }
        for (int k = 0; k < 3; k++) col[i][k] = n ? (double)s[k] / n : 0;
        pal->argb[i] = 0xff000000u | (uint32_t)clamp8(col[i][0]) << 16 | (uint32_t)clamp8(col[i][1]) << 8 |
                       clamp8(col[i][2]);
        for (int k = 0; k < 3; k++) col[i][k] = (pal->argb[i] >> (16 - 8 * k)) & 0xff;
    }
    for (int i = nb; i < 256; i++) pal->argb[i] = 0xff000000u;
    pal->clear = clear ? 255 : -1;
    if (clear) pal->argb[255] = 0;   /* FFmpeg's GIF encoder writes an entry of alpha 0 as the transparent one */
    /* Every occupied bin maps to the palette colour nearest to the bin's mean colour. */
    for (int h = 0; h < HN * HN * HN; h++) {
        pal->map[h] = 0;
        if (!hist[h]) continue;
        double c[3], bestd = INFINITY;
        for (int k = 0; k < 3; k++) c[k] = (double)sum[h][k] / hist[h];
        for (int i = 0; i < nb; i++) {
            double d = 0;
            for (int k = 0; k < 3; k++) d += (c[k] - col[i][k]) * (c[k] - col[i][k]);
            if (d < bestd) { bestd = d; pal->map[h] = (uint8_t)i; }
        }
    }
    free(hist); free(sum); free(boxes);
    return KN_OK;
}

/* ---- FFmpeg encoders ---- */

typedef struct enc {
    AVFormatContext *oc;
    AVCodecContext *cc;
    AVStream *st;
    AVFrame *frame;
    AVPacket *pkt;
    int opened;     /* oc->pb is open */
    int64_t dur;    /* duration of the frame just sent, in codec time base */
    kn_audio_copy *audio;   /* the sound copied in beside the video, or NULL */
    kn_subtitle_copy *subs; /* the subtitles copied in, or NULL */
    struct SwsContext *sws; /* RGB to the encoder's format where this writer does not convert (other_format) */
    uint8_t *padded;        /* sws: the RGB frame with its edges repeated to the encoded size */
} enc;

static kn_status av_fail(kn_error *err, const char *path, const char *what, int e) {
    return kn_av_fail(err, KN_EIO, path, what, e);
}

static kn_status drain(enc *e, const char *path, kn_error *err) {
    for (;;) {
        int r = avcodec_receive_packet(e->cc, e->pkt);
        if (r == AVERROR(EAGAIN) || r == AVERROR_EOF) return KN_OK;
        if (r < 0) return av_fail(err, path, "encoding failed", r);
        /* Explicit durations: the GIF muxer turns them into frame delays, MP4 into the last sample's. */
        if (e->pkt->duration <= 0) e->pkt->duration = e->dur;
        av_packet_rescale_ts(e->pkt, e->cc->time_base, e->st->time_base);
        e->pkt->stream_index = e->st->index;
        r = av_interleaved_write_frame(e->oc, e->pkt);
        if (r < 0) return av_fail(err, path, "writing failed", r);
    }
}

/* Ticks of a timed writer's time base in one frame at its nominal rate: the base is 1/(fps * TICKS),
 * so a steady rate's frames land on exact ticks and uneven ones within 1/2000 of a frame. */
#define TIMED_TICKS 1000

/* What an encoder and its container are set up for. */
typedef struct enc_spec {
    vkind kind;
    const char *path, *url;    /* the final name (for errors), the temporary file's URL */
    float fps;                 /* the nominal rate */
    int timed;                 /* a fine time base for frames at their own times */
    int w, h;                  /* the encoded size (padded) */
    const char *audio_from;    /* a file whose sound is copied in, or NULL */
    double audio_start;        /* its time of output time 0 (the sound's and the subtitles' file's) */
    kn_video_display display;  /* pixel shape and colour tags (checked; 0s: the defaults) */
    const char *tags_from;     /* a file whose tags are kept, or NULL */
    const char *subtitles_from;   /* a file whose subtitles and chapters are copied in, or NULL */
    const kn_codec *codec;     /* the codec named (always for VK_X264 and VK_WEBM), or NULL */
    int crf;                   /* its quality (< 0: its default) */
    int alpha;                 /* the frames carry transparency (the format holds it: holds_alpha) */
} enc_spec;

/* The codec's format, time base, colour tags and quality settings for s. */
static void codec_settings(AVCodecContext *cc, const AVCodec *codec, const enc_spec *s, AVRational fr) {
    cc->width = s->w;
    cc->height = s->h;
    cc->sample_aspect_ratio = s->display.sar_num ? (AVRational){s->display.sar_num, s->display.sar_den}
                                                 : (AVRational){1, 1};
    cc->thread_count = 1;                    /* single-threaded encoders are deterministic */
    cc->flags |= AV_CODEC_FLAG_BITEXACT;
    cc->log_level_offset = 24;               /* keep encoder chatter off stderr; errors come back to us */
    if (s->kind == VK_GIF) {
        cc->pix_fmt = AV_PIX_FMT_PAL8;
        cc->time_base = (AVRational){1, 100};
        return;
    }
    cc->pix_fmt = enc_format(s->kind, s->codec, codec, s->alpha);
    cc->time_base = s->timed ? (AVRational){fr.den, fr.num * TIMED_TICKS} : av_inv_q(fr);
    cc->framerate = fr;
    const AVPixFmtDescriptor *desc = av_pix_fmt_desc_get(cc->pix_fmt);
    int rgb = desc && (desc->flags & AV_PIX_FMT_FLAG_RGB);
    cc->color_range = cc->pix_fmt == AV_PIX_FMT_YUVJ420P || rgb ? AVCOL_RANGE_JPEG : AVCOL_RANGE_MPEG;
    cc->colorspace = rgb ? AVCOL_SPC_RGB : s->codec ? AVCOL_SPC_BT709 : AVCOL_SPC_SMPTE170M;
    /* the RGB values are in the input's primaries and transfer, so those tags carry over; the matrix
     * is the one this writer's conversion applies */
    cc->color_primaries = s->display.primaries ? (enum AVColorPrimaries)s->display.primaries : AVCOL_PRI_BT709;
    cc->color_trc = s->display.transfer ? (enum AVColorTransferCharacteristic)s->display.transfer : AVCOL_TRC_BT709;
    cc->chroma_sample_location = cc->pix_fmt == AV_PIX_FMT_YUVJ420P ? AVCHROMA_LOC_CENTER : AVCHROMA_LOC_LEFT;
    if (s->codec) {
        kn_codec_apply(s->codec, s->crf, s->alpha, cc);
    } else if (s->kind == VK_OTHER) {
        /* MPEG-4 part 2, MPEG-1/2, FLV, MS-MPEG-4: a quantiser, 2 near lossless (vtest.avi: 46.1 dB as
         * MPEG-4). libtheora and libwebp read the same field as a quality, higher finer: Theora's 0-10
         * at 9 (43.4 dB in 361 kB where MPEG-4 took 502 kB; at 2 it gave 33.7 dB), WebP's 0-100 at
         * 90 (39.3 dB; at 2 it gave 28.0) */
        cc->flags |= AV_CODEC_FLAG_QSCALE;
        int q = codec->id == AV_CODEC_ID_THEORA ? 9 : codec->id == AV_CODEC_ID_WEBP ? 90 : 2;
        cc->global_quality = FF_QP2LAMBDA * q;
    }
}

/* The input's start timecode (its container's, else a stream's: a QuickTime timecode track's, a
 * video stream's) moved to the output's rate out: the same instant, its frames counted at the new
 * rate (10:00:00:12 at 25 fps is 10:00:00:24 at 50; drop-frame counting is kept where the new rate
 * has it, as 29.97 and 59.94 do, and 01:00:00;02 at 29.97 is 01:00:00:02 at 25). Set on the output
 * where it was found (the container, or the video stream, from which QuickTime and MXF write
 * theirs); ic's video stream is number `video`. Nothing where either rate is one a timecode cannot
 * count in. Returns 0 or a negative FFmpeg error (out of memory). */
static int keep_timecode(AVFormatContext *ic, int video, AVFormatContext *oc, AVStream *vst, AVRational out) {
    const AVDictionaryEntry *e = av_dict_get(ic->metadata, "timecode", NULL, 0);
    int in_container = e != NULL;
    for (unsigned i = 0; !e && i < ic->nb_streams; i++) e = av_dict_get(ic->streams[i]->metadata, "timecode", NULL, 0);
    if (!e) return 0;
    char label[AV_TIMECODE_STR_SIZE];   /* copied: reading the stream information may rewrite the tags */
    snprintf(label, sizeof label, "%s", e->value);
    if (avformat_find_stream_info(ic, NULL) < 0) return 0;
    AVRational in = av_guess_frame_rate(ic, ic->streams[video], NULL);
    AVTimecode t0, t1;
    if (in.num <= 0 || av_timecode_init_from_string(&t0, in, label, NULL) < 0) return 0;
    int drop = (t0.flags & AV_TIMECODE_FLAG_DROPFRAME) && !av_timecode_check_frame_rate(out) &&
               (int64_t)out.num * 1001 % ((int64_t)out.den * 30000) == 0;
    AVTimecode probe;
    if (av_timecode_init(&probe, out, drop ? AV_TIMECODE_FLAG_DROPFRAME : 0, 0, NULL) < 0) return 0;
    /* labels counted with drop frames follow the clock (29.97 frames a second); others count frames at
     * the nominal rate (a 23.976 fps timecode runs as 24) */
    double from = t0.flags & AV_TIMECODE_FLAG_DROPFRAME ? av_q2d(in) : t0.fps;
    double to = probe.flags & AV_TIMECODE_FLAG_DROPFRAME ? av_q2d(out) : probe.fps;
    int64_t start = llround((double)t0.start * to / from);
    if (start < 0 || start > INT_MAX || av_timecode_init(&t1, out, probe.flags, (int)start, NULL) < 0) return 0;
    char buf[AV_TIMECODE_STR_SIZE];
    av_timecode_make_string(&t1, buf, 0);
    return av_dict_set(in_container ? &oc->metadata : &vst->metadata, "timecode", buf, 0);
}

/* The kept tags of from (io/av_tags.h) into oc and its video stream vst, and its start timecode at the
 * output's rate out (keep_timecode). */
static kn_status copy_tags(const char *from, AVFormatContext *oc, AVStream *vst, AVRational out, kn_error *err) {
    AVFormatContext *ic = NULL;
    int r = kn_av_open_file(from, &ic);
    if (r < 0) return kn_av_fail(err, KN_EFORMAT, from, "cannot read its tags", r);
    r = kn_tags_copy(&oc->metadata, ic->metadata);
    int video = -1;
    for (unsigned i = 0; r >= 0 && i < ic->nb_streams; i++) {   /* the first video stream, not a cover */
        const AVStream *s = ic->streams[i];
        if (s->codecpar->codec_type != AVMEDIA_TYPE_VIDEO || (s->disposition & AV_DISPOSITION_ATTACHED_PIC)) continue;
        r = kn_tags_copy(&vst->metadata, s->metadata);
        video = (int)i;
        break;
    }
    if (r >= 0 && video >= 0) r = keep_timecode(ic, video, oc, vst, out);
    avformat_close_input(&ic);
    return r < 0 ? kn_av_fail(err, KN_ENOMEM, from, "cannot copy its tags", r) : KN_OK;
}

/* Whether codec takes the frame rate fr (most take any; MPEG-1/2 video only those in their table). */
static int takes_rate(const AVCodec *codec, AVRational fr) {
    if (!codec->supported_framerates) return 1;
    for (const AVRational *q = codec->supported_framerates; q->num; q++)
        if (!av_cmp_q(*q, fr)) return 1;
    return 0;
}

/* " (it takes 24, 25, ... fps, ...)": the usual rates among those codec takes, for its error. */
static void rates_hint(const AVCodec *codec, char *buf, size_t cap) {
    static const AVRational usual[] = {{24000, 1001}, {24, 1}, {25, 1}, {30000, 1001}, {30, 1},
                                       {48, 1}, {50, 1}, {60000, 1001}, {60, 1}};
    size_t n = (size_t)snprintf(buf, cap, " (it takes only certain rates, such as");
    const char *sep = " ";
    for (size_t i = 0; i < sizeof usual / sizeof *usual && n < cap; i++) {
        if (!takes_rate(codec, usual[i])) continue;
        n += (size_t)snprintf(buf + n, cap - n, "%s%.5g", sep, av_q2d(usual[i]));
        sep = ", ";
    }
    if (n < cap) snprintf(buf + n, cap - n, " fps; .mp4 and .mkv take any)");
}

/* Formats that hold only a few sizes or rates of 4:2:0 frames, named (FFmpeg refuses the others with
 * a bare "Invalid argument", or, for DV's rate, not at all: a DV file plays at its profile's rate,
 * so 720x576 at 5 fps would play five times too fast). Writes why into why and returns nonzero. */
static int fixed_format(const AVOutputFormat *mux, const AVCodec *codec, int w, int h, AVRational fr, char *why,
                        size_t cap) {
    /* MXF's content packages: these rates only (checked one by one with this FFmpeg's muxer) */
    static const int mxf[][2] = {{24000, 1001}, {24, 1}, {25, 1}, {30000, 1001}, {30, 1}, {48000, 1001}, {48, 1},
                                 {50, 1}, {60000, 1001}, {60, 1}, {72000, 1001}, {72, 1}, {75, 1}, {90000, 1001},
                                 {90, 1}, {96000, 1001}, {96, 1}, {100, 1}, {120000, 1001}, {120, 1}};
    if (!strncmp(mux->name, "mxf", 3)) {
        for (size_t i = 0; i < sizeof mxf / sizeof mxf[0]; i++)
            if (av_cmp_q(fr, (AVRational){mxf[i][0], mxf[i][1]}) == 0) return 0;
        snprintf(why, cap, "MXF holds only the rates 23.976, 24, 25, 29.97, 30, 47.952, 48, 50, 59.94, 60, 71.928, "
                           "72, 75, 89.91, 90, 95.904, 96, 100, 119.88 and 120 fps, not %g; .mp4 and .mkv take any",
                 av_q2d(fr));
        return 1;
    }
    if (codec->id == AV_CODEC_ID_DVVIDEO && !(w == 720 && h == 576 && fr.num == 25 && fr.den == 1)) {
        snprintf(why, cap, "DV of 4:2:0 frames holds only 720x576 at 25 fps (PAL DV25), not %dx%d at %g fps; "
                           ".mp4 and .mkv take any size and rate", w, h, av_q2d(fr));
        return 1;
    }
    static const int h263[][2] = {{128, 96}, {176, 144}, {352, 288}, {704, 576}, {1408, 1152}};
    if (codec->id == AV_CODEC_ID_H263) {
        for (size_t i = 0; i < sizeof h263 / sizeof h263[0]; i++)
            if (w == h263[i][0] && h == h263[i][1]) return 0;
        snprintf(why, cap, "H.263 holds only 128x96, 176x144, 352x288, 704x576 or 1408x1152, not %dx%d; .mp4 and .mkv "
                           "take any size", w, h);
        return 1;
    }
    return 0;
}

/* Sets up the encoder and container for s, with s->audio_from's sound copied in when the container
 * holds it (note, of note_cap bytes, says why not). */
static kn_status enc_setup(enc *e, const enc_spec *s, char *note, size_t note_cap, char *sub_note, size_t sub_note_cap,
                           kn_error *err) {
    const char *path = s->path;
    const AVOutputFormat *mux = NULL;
    const AVCodec *codec = NULL;
    kn_status st = format_of(path, s->kind, s->codec, &mux, &codec, err);
    if (st) return st;
    int r = avformat_alloc_output_context2(&e->oc, mux, NULL, s->url);
    if (r < 0) return av_fail(err, path, "cannot set up the container", r);
    e->cc = avcodec_alloc_context3(codec);
    e->st = avformat_new_stream(e->oc, NULL);
    e->frame = av_frame_alloc();
    e->pkt = av_packet_alloc();
    if (!e->cc || !e->st || !e->frame || !e->pkt) return kn_fail(err, KN_ENOMEM, "%s: out of memory", path);
    AVCodecContext *cc = e->cc;
    AVRational fr = fps_rational(s->fps);
    char why[300];
    if (fixed_format(mux, codec, s->w, s->h, fr, why, sizeof why))
        return kn_fail(err, KN_EUNSUPPORTED, "%s: %s", path, why);
    codec_settings(cc, codec, s, fr);
    if (e->oc->oformat->flags & AVFMT_GLOBALHEADER) cc->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
    r = avcodec_open2(cc, codec, NULL);
    if (r < 0) {
        char what[400];
        int n = snprintf(what, sizeof what, "cannot open the %s encoder for %dx%d at %g fps", codec->name, s->w, s->h,
                         (double)s->fps);
        if (!takes_rate(codec, fr)) rates_hint(codec, what + n, sizeof what - (size_t)n);
        else if (s->kind == VK_OTHER)   /* others than DV and H.263 (fixed_format) may take only certain sizes */
            snprintf(what + n, sizeof what - (size_t)n, " (it may take only certain sizes or rates; .mp4 and .mkv take any)");
        return av_fail(err, path, what, r);
    }
    r = avcodec_parameters_from_context(e->st->codecpar, cc);
    if (r < 0) return av_fail(err, path, "encoder parameters", r);
    /* Apple's players take H.265 in MP4 and QuickTime only under the tag hvc1, not FFmpeg's hev1 */
    if (codec->id == AV_CODEC_ID_HEVC && (!strcmp(mux->name, "mp4") || !strcmp(mux->name, "mov")))
        e->st->codecpar->codec_tag = MKTAG('h', 'v', 'c', '1');
    e->st->time_base = cc->time_base;
    e->st->sample_aspect_ratio = cc->sample_aspect_ratio;   /* the container's own field (MP4's pasp) */
    if (s->kind != VK_GIF) e->st->avg_frame_rate = e->st->r_frame_rate = fr;
    e->oc->flags |= AVFMT_FLAG_BITEXACT;     /* no library version strings, no random container UIDs */
    if (s->tags_from && (st = copy_tags(s->tags_from, e->oc, e->st, fr, err))) return st;
    if (s->audio_from &&
        (st = kn_audio_copy_open(s->audio_from, s->audio_start, e->oc, &e->audio, note, note_cap, err)))
        return st;
    if (s->subtitles_from) {
        double lead = 0;   /* Matroska moves every stream by the sound's priming or padding; the chapters too */
        if ((st = kn_audio_copy_lead(e->audio, &lead, err)) ||
            (st = kn_subtitle_copy_open(s->subtitles_from, s->audio_start, lead, e->oc, &e->subs, sub_note,
                                        sub_note_cap, err)))
            return st;
    }
    r = avio_open(&e->oc->pb, s->url, AVIO_FLAG_WRITE);
    if (r < 0) return av_fail(err, path, "cannot open the temporary file", r);
    e->opened = 1;
    AVDictionary *opts = NULL;
    if (!strcmp(mux->name, "mp4") || !strcmp(mux->name, "mov")) av_dict_set(&opts, "movflags", "+faststart", 0);
    if (s->kind == VK_GIF || !strcmp(mux->name, "webp")) av_dict_set(&opts, "loop", "0", 0);   /* as GIFs do */
    if (!strcmp(mux->name, "apng")) av_dict_set(&opts, "plays", "0", 0);
    r = avformat_write_header(e->oc, &opts);
    av_dict_free(&opts);
    if (r < 0) return av_fail(err, path, "cannot write the header", r);
    e->frame->format = cc->pix_fmt;
    e->frame->width = s->w;
    e->frame->height = s->h;
    /* some encoders write the frame's colour tags into the bitstream, not the context's (ProRes) */
    e->frame->color_range = cc->color_range;
    e->frame->colorspace = cc->colorspace;
    e->frame->color_primaries = cc->color_primaries;
    e->frame->color_trc = cc->color_trc;
    e->frame->chroma_location = cc->chroma_sample_location;
    r = av_frame_get_buffer(e->frame, 0);
    if (r < 0) return av_fail(err, path, "frame buffer", r);
    return KN_OK;
}

static void enc_free(enc *e) {
    kn_audio_copy_close(e->audio);
    e->audio = NULL;
    kn_subtitle_copy_close(e->subs);
    e->subs = NULL;
    if (e->oc && e->opened) avio_closep(&e->oc->pb);
    avformat_free_context(e->oc);
    avcodec_free_context(&e->cc);
    av_frame_free(&e->frame);
    av_packet_free(&e->pkt);
    sws_freeContext(e->sws);
    e->sws = NULL;
    free(e->padded);
    e->padded = NULL;
}

/* ---- Y4M ---- */

static kn_status write_all(int fd, const void *buf, size_t n, const char *path, kn_error *err) {
    if (kn_write_all(fd, buf, n) == 0) return KN_OK;
    return kn_fail(err, KN_EIO, "%s: write failed: %s", path, strerror(errno));
}

/* ---- folder of PNG frames ---- */

/* 1 if dir has entries other than . and .., 0 if empty, -1 if it cannot be read. */
static int dir_nonempty(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return -1;
    struct dirent *de;
    int any = 0;
    while (!any && (de = readdir(d))) any = strcmp(de->d_name, ".") && strcmp(de->d_name, "..");
    closedir(d);
    return any;
}

static int fsync_path(const char *p) {
    int fd = open(p, O_RDONLY);
    if (fd < 0) return -1;
    int r = fsync(fd);
    int saved = errno;
    close(fd);
    errno = saved;
    return r;
}

/* FFmpeg's own log, less what the muxers say to the header tries of kn_muxer_takes. */
static void quiet_log(void *avcl, int level, const char *fmt, va_list vl) {
    if (avcl && *(const AVClass *const *)avcl == avformat_get_class() &&
        ((const AVFormatContext *)avcl)->opaque == (const void *)KN_PROBE_TAG)
        return;
    av_log_default_callback(avcl, level, fmt, vl);
}

void kn_media_quiet(void) {
    av_log_set_level(AV_LOG_ERROR);
    av_log_set_callback(quiet_log);
}

/* ---- the writer: frames added one at a time ---- */

struct kn_video_writer {
    vkind kind;
    char path[4096];          /* the final name */
    char tmp[4200];           /* the temporary file or folder */
    int fd;                   /* the temporary file, -1 for a folder */
    int w, h;                 /* frame size */
    float fps;
    int timed;                /* frames come with times (kn_video_writer_add_at) */
    const char *audio_from;   /* the sound to copy in (kn_video_writer_opts), or NULL */
    double audio_start;
    kn_video_display display; /* checked; GIF and PNG frames: none */
    const char *tags_from;    /* kn_video_writer_opts; NULL for formats FFmpeg does not write */
    const char *subtitles_from;   /* kn_video_writer_opts, or NULL */
    const kn_codec *codec;    /* the codec named or the container's own (MP4 ... H.264, WebM VP9); NULL:
                                 FFmpeg's default for the extension, or not an FFmpeg format */
    int crf;                  /* the codec's quality, < 0 for its default */
    int alpha;                /* frames come as RGBA (kn_video_writer_opts) */
    int ch;                   /* bytes a pixel of the frames added: 3, or 4 with alpha */
    char audio_note[200];     /* why the sound was left out */
    char subtitle_note[400];  /* which subtitles were left out or re-encoded */
    double t0, last;          /* timed: the first frame's time, the last one's after it */
    int64_t last_pts;         /* timed: the pts of the frame added last */
    double *times;            /* timed GIF: each frame's time after the first's */
    long long n;              /* frames added */
    enc e;                    /* mp4, webm, gif */
    int ew, eh;               /* encoded size: mp4 pads odd sizes to even */
    uint8_t *buf;             /* y4m: one frame */
    size_t fsz;
    kn_video gif;             /* gif: every frame, kept until the end (the palette covers them all) */
    kn_frame_store gif_store; /* appends to gif */
    uint8_t *gif_clear;       /* gif with alpha: a byte a pixel of every frame, nonzero where transparent */
    size_t gif_clear_cap;     /* frames gif_clear has room for (gif_store's capacity when it last grew) */
};

/* GIF delays are whole centiseconds, accumulated so the average rate (or each frame's time, timed)
 * is right; players show delays under 2 cs as 10 cs, so never go below 2. Frame n (one past the last)
 * ends a nominal frame after it. */
static int64_t gif_pts(const kn_video_writer *vw, long long i, int64_t prev) {
    double t = !vw->timed ? (double)i / vw->fps : i < vw->n ? vw->times[i] : vw->times[vw->n - 1] + 1.0 / vw->fps;
    int64_t p = llround(t * 100.0);
    return i > 0 && p < prev + 2 ? prev + 2 : p;
}

/* rgb into f, in the encoder's own format, by swscale: limited range where that is YUV, BT.709 for a
 * codec named (ProRes), else BT.601 (as this writer's other formats from FFmpeg's list), edges repeated
 * where the encoded size is larger. */
static kn_status sws_frame(kn_video_writer *vw, const uint8_t *rgb, AVFrame *f, kn_error *err) {
    enc *e = &vw->e;
    int ew = vw->ew, eh = vw->eh;
    size_t ch = (size_t)vw->ch;
    if (ew != vw->w || eh != vw->h) {
        if (!e->padded && !(e->padded = malloc((size_t)ew * eh * ch)))
            return kn_fail(err, KN_ENOMEM, "%s: out of memory", vw->path);
        for (int y = 0; y < eh; y++)
            for (int x = 0; x < ew; x++)
                memcpy(e->padded + ((size_t)y * ew + x) * ch, px(rgb, vw->w, vw->h, (int)ch, x, y), ch);
        rgb = e->padded;
    }
    if (!e->sws) {
        e->sws = sws_getContext(ew, eh, ch == 4 ? AV_PIX_FMT_RGBA : AV_PIX_FMT_RGB24, ew, eh, f->format,
                                SWS_BICUBIC | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INP | SWS_BITEXACT, NULL, NULL, NULL);
        if (!e->sws)
            return kn_fail(err, KN_EUNSUPPORTED, "%s: cannot convert RGB to %s", vw->path,
                           av_get_pix_fmt_name(f->format));
        const int *m = sws_getCoefficients(vw->codec ? SWS_CS_ITU709 : SWS_CS_ITU601);
        sws_setColorspaceDetails(e->sws, m, 1, m, 0, 0, 1 << 16, 1 << 16);
    }
    const uint8_t *src[4] = {rgb, NULL, NULL, NULL};
    int sl[4] = {ew * (int)ch, 0, 0, 0};
    if (sws_scale(e->sws, src, sl, 0, eh, f->data, f->linesize) != eh)
        return kn_fail(err, KN_EINTERNAL, "%s: pixel conversion failed", vw->path);
    return KN_OK;
}

/* Converts one frame (vw->ch bytes a pixel; a GIF's RGB, clear marking its transparent pixels or NULL)
 * and sends it to the encoder at pts, lasting dur. */
static kn_status encode_frame(kn_video_writer *vw, const uint8_t *rgb, const palette *pal, const uint8_t *clear,
                              int64_t pts, int64_t dur, kn_error *err) {
    enc *e = &vw->e;
    int r = av_frame_make_writable(e->frame);
    if (r < 0) return av_fail(err, vw->path, "frame buffer", r);
    AVFrame *f = e->frame;
    if (pal) {
        for (int y = 0; y < vw->eh; y++)
            for (int x = 0; x < vw->ew; x++) {
                size_t i = (size_t)y * vw->w + x;
                const uint8_t *p = rgb + i * 3;
                f->data[0][(size_t)y * f->linesize[0] + x] =
                    clear && clear[i] ? (uint8_t)pal->clear : pal->map[HIDX(p[0], p[1], p[2])];
            }
        memcpy(f->data[1], pal->argb, sizeof pal->argb);
    } else if (f->format == AV_PIX_FMT_YUV420P || f->format == AV_PIX_FMT_YUVJ420P) {
        const yuv_spec *spec = f->format == AV_PIX_FMT_YUVJ420P ? &BT601_PC_CENTRED
                               : vw->codec                      ? &BT709_TV
                                                                : &BT601_TV;
        rgb_to_yuv420(rgb, vw->w, vw->h, vw->ew, vw->eh, spec, f->data[0], f->linesize[0], f->data[1], f->linesize[1],
                      f->data[2], f->linesize[2]);
    } else {
        kn_status st = sws_frame(vw, rgb, f, err);
        if (st) return st;
    }
    f->pts = pts;
    e->dur = dur;
    r = avcodec_send_frame(e->cc, f);
    if (r < 0) return av_fail(err, vw->path, "encoding failed", r);
    return drain(e, vw->path, err);
}

/* The sound's and the subtitles' packets that start before output time t, after the video frame at t. */
static kn_status side_streams_until(enc *e, double t, kn_error *err) {
    kn_status st = kn_audio_copy_until(e->audio, t, err);
    return st ? st : kn_subtitle_copy_until(e->subs, t, err);
}

/* Flushes the encoder and finishes the container. */
static kn_status encode_finish(kn_video_writer *vw, kn_error *err) {
    int r = avcodec_send_frame(vw->e.cc, NULL);
    if (r < 0) return av_fail(err, vw->path, "encoding failed", r);
    kn_status st = drain(&vw->e, vw->path, err);
    if (!st) st = side_streams_until(&vw->e, INFINITY, err);   /* the sound and subtitles after the last frame */
    if (st) return st;
    r = av_write_trailer(vw->e.oc);
    if (r < 0) return av_fail(err, vw->path, "cannot finish the file", r);
    r = avio_closep(&vw->e.oc->pb);
    vw->e.opened = 0;
    if (r < 0) return av_fail(err, vw->path, "write failed", r);
    return KN_OK;
}

/* "file:" keeps FFmpeg from reading a protocol name into a path that contains ':'. */
static kn_status encode_open(kn_video_writer *vw, kn_error *err) {
    char url[4300];
    snprintf(url, sizeof url, "file:%s", vw->tmp);
    /* a GIF holds no sound (its encoder runs at finish, without it) */
    enc_spec spec = {vw->kind, vw->path, url, vw->fps, vw->timed, vw->ew, vw->eh,
                     vw->kind == VK_GIF ? NULL : vw->audio_from, vw->audio_start, vw->display,
                     vw->kind == VK_GIF ? NULL : vw->tags_from, vw->kind == VK_GIF ? NULL : vw->subtitles_from,
                     vw->codec, vw->crf, vw->alpha};
    return enc_setup(&vw->e, &spec, vw->audio_note, sizeof vw->audio_note, vw->subtitle_note, sizeof vw->subtitle_note,
                     err);
}

/* The GIF, from the frames kept: palette, then every frame with its delay. */
static kn_status gif_encode(kn_video_writer *vw, kn_error *err) {
    palette *pal = malloc(sizeof *pal);
    if (!pal) return kn_fail(err, KN_ENOMEM, "%s: out of memory", vw->path);
    kn_status st = make_palette(&vw->gif, vw->alpha ? vw->gif_clear : NULL, pal, err);
    if (st) kn_wrap(err, "%s", vw->path);
    if (!st) st = encode_open(vw, err);
    int64_t pts = 0;
    for (long long i = 0; !st && i < vw->n; i++) {
        pts = gif_pts(vw, i, pts);
        const uint8_t *clear = vw->alpha ? vw->gif_clear + (size_t)i * vw->w * vw->h : NULL;
        st = encode_frame(vw, kn_video_frame(&vw->gif, (int)i), pal, clear, pts, gif_pts(vw, i + 1, pts) - pts, err);
    }
    if (!st) st = encode_finish(vw, err);
    free(pal);
    return st;
}

/* Keeps a frame for the GIF: its colour, and with alpha which pixels are transparent (a GIF's pixel is
 * either: those below half opaque are). */
static kn_status gif_keep(kn_video_writer *vw, const uint8_t *frame, kn_error *err) {
    uint8_t *dst;
    size_t n = (size_t)vw->w * vw->h;
    kn_status st = kn_frame_store_push(&vw->gif_store, vw->path, vw->w, vw->h, &dst, err);
    if (st) return st;
    if (!vw->alpha) { memcpy(dst, frame, n * 3); return KN_OK; }
    if (vw->gif_store.cap > vw->gif_clear_cap) {   /* room for as many frames as the colour's store */
        size_t cap = vw->gif_store.cap;
        uint8_t *p = realloc(vw->gif_clear, cap * n);
        if (!p) return kn_fail(err, KN_ENOMEM, "%s: out of memory for the GIF's transparency", vw->path);
        vw->gif_clear = p;
        vw->gif_clear_cap = cap;
    }
    uint8_t *clear = vw->gif_clear + (size_t)vw->n * n;
    for (size_t i = 0; i < n; i++) {
        memcpy(dst + 3 * i, frame + 4 * i, 3);
        clear[i] = frame[4 * i + 3] < 128;
    }
    return KN_OK;
}

/* The folder's name without trailing slashes: what the temporary folder is renamed onto. */
static void folder_name(const char *path, char *base, size_t cap) {
    snprintf(base, cap, "%s", path);
    size_t n = strlen(base);
    while (n > 1 && base[n - 1] == '/') base[--n] = 0;
}

static kn_status dir_open(kn_video_writer *vw, kn_error *err) {
    char base[4096];
    const char *path = vw->path;
    folder_name(path, base, sizeof base);
    struct stat sb;
    if (stat(base, &sb) == 0) {
        if (!S_ISDIR(sb.st_mode)) return kn_fail(err, KN_EIO, "%s: exists and is not a folder", path);
        int ne = dir_nonempty(base);
        if (ne < 0) return kn_fail(err, KN_EIO, "%s: cannot read the folder: %s", path, strerror(errno));
        if (ne) return kn_fail(err, KN_EIO, "%s: the folder is not empty; refusing to write frames into it", path);
    }
    snprintf(vw->tmp, sizeof vw->tmp, "%s.tmp-XXXXXX", base);
    if (!mkdtemp(vw->tmp)) {
        vw->tmp[0] = 0;
        return kn_fail(err, KN_EIO, "%s: cannot create a temporary folder next to it: %s", path, strerror(errno));
    }
    chmod(vw->tmp, 0755);
    return KN_OK;
}

static kn_status dir_add(kn_video_writer *vw, const uint8_t *rgb, kn_error *err) {
    if (vw->n > 99999) return kn_fail(err, KN_EINVAL, "%s: more than 100000 frames for a PNG folder", vw->path);
    char fp[4300];
    snprintf(fp, sizeof fp, "%s/%05lld.png", vw->tmp, vw->n);
    uint8_t *buf = NULL;
    size_t len = 0;
    kn_status st = kn_png_encode_channels(fp, rgb, vw->ch, vw->w, vw->h, &buf, &len, err);
    if (!st) st = kn_write_file_atomic(fp, buf, len, err);
    free(buf);
    return st ? kn_wrap(err, "writing PNG frames to %s", vw->path) : KN_OK;
}

static kn_status y4m_open(kn_video_writer *vw, kn_error *err) {
    AVRational fr = fps_rational(vw->fps);
    char hdr[256];
    int an = vw->display.sar_num ? vw->display.sar_num : 1, ad = vw->display.sar_num ? vw->display.sar_den : 1;
    int n = snprintf(hdr, sizeof hdr, "YUV4MPEG2 W%d H%d F%d:%d Ip A%d:%d C420jpeg XYSCSS=420JPEG XCOLORRANGE=FULL\n",
                     vw->w, vw->h, fr.num, fr.den, an, ad);
    int cw = (vw->w + 1) / 2, ch = (vw->h + 1) / 2;
    vw->fsz = 6 + (size_t)vw->w * vw->h + 2 * (size_t)cw * ch;
    vw->buf = malloc(vw->fsz);
    if (!vw->buf) return kn_fail(err, KN_ENOMEM, "%s: out of memory", vw->path);
    return write_all(vw->fd, hdr, (size_t)n, vw->path, err);
}

static kn_status y4m_add(kn_video_writer *vw, const uint8_t *rgb, kn_error *err) {
    int w = vw->w, h = vw->h, cw = (w + 1) / 2, ch = (h + 1) / 2;
    memcpy(vw->buf, "FRAME\n", 6);
    uint8_t *Y = vw->buf + 6, *U = Y + (size_t)w * h, *V = U + (size_t)cw * ch;
    rgb_to_yuv420(rgb, w, h, w, h, &BT601_PC_CENTRED, Y, w, U, cw, V, cw);
    return write_all(vw->fd, vw->buf, vw->fsz, vw->path, err);
}

int kn_video_path_is_folder(const char *path) { return kind_of(path) == VK_DIR; }
int kn_video_writer_keeps_frames(const char *path) { return kind_of(path) == VK_GIF; }

void kn_video_writer_abort(kn_video_writer *vw) {
    if (!vw) return;
    enc_free(&vw->e);
    if (vw->fd >= 0) close(vw->fd);
    if (vw->tmp[0]) {
        if (vw->kind == VK_DIR) kn_remove_dir_flat(vw->tmp);
        else unlink(vw->tmp);
    }
    free(vw->buf);
    free(vw->gif.rgb);
    free(vw->gif_clear);
    free(vw->times);
    free(vw);
}

/* A pixel shape of two positive numbers within 1:100 of square (or 0:0), and colour tags FFmpeg
 * names (or 0). */
static kn_status display_check(const char *path, const kn_video_display *d, kn_error *err) {
    int square = d->sar_num == 0 && d->sar_den == 0;
    double r = d->sar_den > 0 ? (double)d->sar_num / d->sar_den : 0;
    if (!square && !(d->sar_num > 0 && d->sar_den > 0 && r >= 0.01 && r <= 100))
        return kn_fail(err, KN_EINVAL, "%s: pixel aspect ratio %d:%d is not two positive numbers within 1:100 of "
                       "square", path, d->sar_num, d->sar_den);
    if (d->primaries && (d->primaries < 0 || !av_color_primaries_name((enum AVColorPrimaries)d->primaries)))
        return kn_fail(err, KN_EINVAL, "%s: unknown colour primaries %d", path, d->primaries);
    if (d->transfer && (d->transfer < 0 || !av_color_transfer_name((enum AVColorTransferCharacteristic)d->transfer)))
        return kn_fail(err, KN_EINVAL, "%s: unknown transfer characteristic %d", path, d->transfer);
    return KN_OK;
}

/* The encoded size of a format FFmpeg writes: the frame's, grown to whole chroma samples (odd sizes of
 * 4:2:0 by one pixel, the edges repeated); an RGB format, VP9 and AV1 keep it. */
static void pad_to_chroma(kn_video_writer *vw, const char *path) {
    if (vw->codec && vw->codec->any_size) return;
    const AVOutputFormat *mux;
    const AVCodec *codec;
    kn_error ignored;   /* an unusable format fails later, at encode_open, with its message */
    if (format_of(path, vw->kind, vw->codec, &mux, &codec, &ignored)) return;
    const AVPixFmtDescriptor *d = av_pix_fmt_desc_get(enc_format(vw->kind, vw->codec, codec, vw->alpha));
    if (!d) return;
    int sw = 1 << d->log2_chroma_w, sh = 1 << d->log2_chroma_h;
    vw->ew = (vw->w + sw - 1) / sw * sw;
    vw->eh = (vw->h + sh - 1) / sh * sh;
}

/* The codec e names for path (kind), or the container's own (H.264 for MP4, Matroska and QuickTime,
 * VP9 for WebM; NULL for FFmpeg's default elsewhere), and its crf (-1: its default); KN_EINVAL when
 * the codec is unknown, the format takes none (GIF, .y4m, PNG frames), or the crf is not one the
 * codec takes. */
static kn_status codec_of(const char *path, vkind kind, const kn_video_encoding *e, const kn_codec **out,
                          int *crf_out, kn_error *err) {
    int named = e && e->codec && *e->codec, crf = e && e->crf >= 0 ? e->crf : -1;
    *crf_out = crf;
    *out = kind == VK_X264 ? kn_codec_h264() : kind == VK_WEBM ? kn_codec_vp9() : NULL;
    if (!named && crf < 0) return KN_OK;
    if (kind == VK_GIF || kind == VK_Y4M || kind == VK_DIR)
        return kn_fail(err, KN_EINVAL, "%s: %s take%s no codec or crf", path,
                       kind == VK_GIF ? "a GIF" : kind == VK_Y4M ? "a .y4m file" : "PNG frames",
                       kind == VK_DIR ? "" : "s");
    if (named && !(*out = kn_codec_find(e->codec, path, err))) return KN_EINVAL;
    if (!*out)
        return kn_fail(err, KN_EINVAL, "%s: a crf needs a codec named for this format (h264, h265, vp9 or av1)",
                       path);
    return kn_codec_check_crf(*out, crf, path, err);
}

/* Whether path (kind, with codec) keeps transparency: PNG frames and GIFs do (a GIF by whole pixels),
 * the codecs that hold alpha (VP9's only in WebM and Matroska, which carry it beside the picture), and
 * the encoders FFmpeg chooses by extension that take a format with alpha (APNG, WebP). */
static int holds_alpha(const char *path, vkind kind, const kn_codec *codec) {
    if (kind == VK_DIR || kind == VK_GIF) return 1;
    if (!codec && kind == VK_OTHER) {
        const AVOutputFormat *mux;
        const AVCodec *enc;
        kn_error ignored;
        return !format_of(path, kind, NULL, &mux, &enc, &ignored) && other_alpha_format(enc) != AV_PIX_FMT_NONE;
    }
    if (!codec || codec->alpha_pix == AV_PIX_FMT_NONE) return 0;
    return !codec->alpha_in_stream || kind == VK_WEBM || ends_with_ci(path, ".mkv");
}

int kn_video_writer_holds_alpha(const char *path, const kn_video_encoding *e) {
    kn_error ignored;
    const kn_codec *codec = NULL;
    int crf;
    if (!path || !*path) return 0;
    vkind kind = kind_of(path);
    return kind != VK_UNKNOWN && !codec_of(path, kind, e, &codec, &crf, &ignored) && holds_alpha(path, kind, codec);
}

int kn_video_writer_channels(const kn_video_writer *vw) { return vw->ch; }

kn_status kn_video_writer_open_with(const char *path, int width, int height, float fps,
                                    const kn_video_writer_opts *o, kn_video_writer **out, kn_error *err) {
    *out = NULL;
    if (!path || !*path) return kn_fail(err, KN_EINVAL, "video write: empty path");
    vkind kind = kind_of(path);
    if (kind == VK_UNKNOWN) {
        const char *dot = strrchr(path, '.'), *slash = strrchr(path, '/');
        if (!dot || (slash && dot < slash))
            return kn_fail(err, KN_EINVAL, "%s: no file extension to choose a video format by (use .mp4, .mkv, "
                           ".mov, .webm, .gif, .y4m, another FFmpeg writes, or a folder ending in '/')", path);
        return kn_fail(err, KN_EINVAL, "%s: FFmpeg knows no video format by the extension '%s' (use .mp4, .mkv, .mov, "
                       ".webm, .gif, .y4m, or a folder ending in '/')", path, dot);
    }
    if (strlen(path) >= 4096) return kn_fail(err, KN_EINVAL, "%s: path too long", path);
    if (width < 1 || height < 1 || width > KN_IMAGE_MAX_SIDE || height > KN_IMAGE_MAX_SIDE)
        return kn_fail(err, KN_EINVAL, "%s: frame size %dx%d outside 1..%d", path, width, height, KN_IMAGE_MAX_SIDE);
    if (kind != VK_DIR && !(fps > 0 && fps <= 1000))
        return kn_fail(err, KN_EINVAL, "%s: fps %g must be in (0, 1000]", path, (double)fps);
    kn_status st = o ? display_check(path, &o->display, err) : KN_OK;
    const kn_codec *codec = NULL;
    int crf = -1;
    if (!st) st = codec_of(path, kind, o ? o->encoding : NULL, &codec, &crf, err);
    if (!st && o && o->alpha && !holds_alpha(path, kind, codec))
        st = kn_fail(err, KN_EUNSUPPORTED, "%s: %s holds no transparency (a PNG folder, a GIF, .webm (VP9), "
                     ".webp, .apng, or ProRes or FFV1 in .mov or .mkv do)", path, codec ? codec->label : "this format");
    if (st) return st;
    kn_video_writer *vw = calloc(1, sizeof *vw);
    if (!vw) return kn_fail(err, KN_ENOMEM, "%s: out of memory", path);
    vw->kind = kind;
    vw->fd = -1;
    vw->w = vw->ew = width;
    vw->h = vw->eh = height;
    vw->fps = fps;
    /* the other formats take the frames in order at the nominal rate: .y4m and PNG frames hold no
     * times, some containers only a steady rate (AVI), and MPEG-1/2 video reads its rate from the
     * time base */
    vw->timed = o && o->timed && (kind == VK_X264 || kind == VK_WEBM || kind == VK_GIF);
    vw->audio_from = o ? o->audio_from : NULL;
    vw->audio_start = o ? o->audio_start : 0;
    if (o && (kind != VK_GIF && kind != VK_DIR)) vw->display = o->display;
    vw->tags_from = o ? o->tags_from : NULL;   /* used by FFmpeg's formats only */
    vw->subtitles_from = o ? o->subtitles_from : NULL;
    vw->codec = codec;
    vw->crf = crf;
    vw->alpha = o && o->alpha;
    vw->ch = vw->alpha ? 4 : 3;
    vw->gif.fps = fps;
    vw->gif_store.v = &vw->gif;
    if (kind == VK_X264 || kind == VK_WEBM || kind == VK_OTHER) pad_to_chroma(vw, path);
    if (codec && (st = kn_codec_check_size(codec, vw->ew, vw->eh, path, err))) { free(vw); return st; }
    snprintf(vw->path, sizeof vw->path, "%s", path);
    kn_audio_copy *none = NULL;   /* an output without sound says so if the input has some */
    if (vw->audio_from && (kind == VK_DIR || kind == VK_Y4M || kind == VK_GIF))
        st = kn_audio_copy_open(vw->audio_from, 0, NULL, &none, vw->audio_note, sizeof vw->audio_note, err);
    kn_subtitle_copy *no_subs = NULL;   /* the same for subtitles */
    if (!st && vw->subtitles_from && (kind == VK_DIR || kind == VK_Y4M || kind == VK_GIF))
        st = kn_subtitle_copy_open(vw->subtitles_from, 0, 0, NULL, &no_subs, vw->subtitle_note,
                                   sizeof vw->subtitle_note, err);
    if (!st && kind == VK_DIR) st = dir_open(vw, err);
    else if (!st) {
        vw->fd = kn_tmp_open(path, vw->tmp, sizeof vw->tmp);
        if (vw->fd < 0) {
            vw->tmp[0] = 0;
            st = kn_fail(err, KN_EIO, "%s: cannot create a temporary file next to it: %s", path, strerror(errno));
        } else if (kind == VK_Y4M) st = y4m_open(vw, err);
        else if (kind != VK_GIF) st = encode_open(vw, err);
    }
    if (st) { kn_video_writer_abort(vw); return st; }
    *out = vw;
    return KN_OK;
}

kn_status kn_video_writer_open(const char *path, int width, int height, float fps, kn_video_writer **out,
                               kn_error *err) {
    return kn_video_writer_open_with(path, width, height, fps, NULL, out, err);
}

kn_status kn_video_writer_check(const char *path, int width, int height, float fps, const kn_video_encoding *e,
                                kn_error *err) {
    kn_video_writer *vw = NULL;
    kn_video_writer_opts o = {.encoding = e};
    kn_status st = kn_video_writer_open_with(path, width, height, fps, &o, &vw, err);
    kn_video_writer_abort(vw);
    return st;
}

const char *kn_video_writer_audio_note(const kn_video_writer *vw) { return vw->audio_note; }

const char *kn_video_writer_subtitle_note(const kn_video_writer *vw) { return vw->subtitle_note; }

kn_status kn_video_writer_add_at(kn_video_writer *vw, const uint8_t *rgb, double time, kn_error *err) {
    if (!vw->timed) return kn_video_writer_add(vw, rgb, err);
    if (!isfinite(time)) return kn_fail(err, KN_EINVAL, "%s: frame %lld has no time", vw->path, vw->n);
    if (vw->n == 0) vw->t0 = time;
    double rel = time - vw->t0;
    kn_status st;
    if (vw->kind == VK_GIF) {
        if ((vw->n & (vw->n - 1)) == 0) {   /* room for frames 0 .. 2n-1 as n reaches a power of two */
            double *p = realloc(vw->times, sizeof *p * (size_t)(vw->n ? 2 * vw->n : 1));
            if (!p) return kn_fail(err, KN_ENOMEM, "%s: out of memory", vw->path);
            vw->times = p;
        }
        st = gif_keep(vw, rgb, err);
        if (!st) vw->times[vw->n] = rel;
        if (!st) vw->last = rel;
    } else {
        AVRational tb = vw->e.cc->time_base;
        int64_t pts = llround(rel * tb.den / tb.num);
        if (vw->n > 0 && pts <= vw->last_pts) pts = vw->last_pts + 1;   /* times must rise: a tick on */
        st = encode_frame(vw, rgb, NULL, NULL, pts, TIMED_TICKS, err);
        if (!st) { vw->last_pts = pts; vw->last = rel; }
        if (!st) st = side_streams_until(&vw->e, rel, err);
    }
    if (!st) vw->n++;
    return st;
}

kn_status kn_video_writer_add(kn_video_writer *vw, const uint8_t *rgb, kn_error *err) {
    if (vw->timed)   /* a nominal frame after the last */
        return kn_video_writer_add_at(vw, rgb, vw->n ? vw->t0 + vw->last + 1.0 / vw->fps : 0, err);
    kn_status st;
    switch (vw->kind) {
    case VK_DIR: st = dir_add(vw, rgb, err); break;
    case VK_Y4M: st = y4m_add(vw, rgb, err); break;
    case VK_GIF: st = gif_keep(vw, rgb, err); break;
    default:
        st = encode_frame(vw, rgb, NULL, NULL, vw->n, 1, err);
        if (!st) st = side_streams_until(&vw->e, (double)vw->n / vw->fps, err);
        break;
    }
    if (!st) vw->n++;
    return st;
}

kn_status kn_video_writer_finish(kn_video_writer *vw, kn_error *err) {
    kn_status st = KN_OK;
    if (vw->n == 0) st = kn_fail(err, KN_EINVAL, "%s: the video has no frames", vw->path);
    else if (vw->kind == VK_GIF) st = gif_encode(vw, err);
    else if (vw->kind == VK_X264 || vw->kind == VK_WEBM || vw->kind == VK_OTHER) st = encode_finish(vw, err);
    if (!st && vw->kind == VK_DIR) {
        if (fsync_path(vw->tmp) != 0) st = kn_fail(err, KN_EIO, "%s: fsync failed: %s", vw->path, strerror(errno));
    } else if (!st) {
        /* FFmpeg wrote through its own handle; our descriptor still refers to the same file. */
        if (fsync(vw->fd) != 0) st = kn_fail(err, KN_EIO, "%s: fsync failed: %s", vw->path, strerror(errno));
        if (close(vw->fd) != 0 && !st) st = kn_fail(err, KN_EIO, "%s: close failed: %s", vw->path, strerror(errno));
        vw->fd = -1;
    }
    char dest[4096];
    folder_name(vw->path, dest, sizeof dest);   /* a file's name has no trailing '/' */
    if (!st && rename(vw->tmp, dest) != 0)
        st = kn_fail(err, KN_EIO, "%s: cannot rename into place: %s", vw->path, strerror(errno));
    if (!st) vw->tmp[0] = 0;   /* in place: nothing left to remove */
    kn_video_writer_abort(vw);
    return st;
}

/* ---- entry point ---- */

kn_status kn_video_write_encoded(const char *path, const kn_video *v, const kn_video_encoding *e, kn_error *err) {
    if (!v || !v->rgb || v->nframes < 1)
        return kn_fail(err, KN_EINVAL, "%s: the video has no frames", path ? path : "video write");
    kn_video_writer *vw;
    kn_video_writer_opts o = {.encoding = e};
    kn_status st = kn_video_writer_open_with(path, v->width, v->height, v->fps, &o, &vw, err);
    for (int i = 0; !st && i < v->nframes; i++) st = kn_video_writer_add(vw, kn_video_frame(v, i), err);
    if (st) { kn_video_writer_abort(vw); return st; }
    return kn_video_writer_finish(vw, err);
}

kn_status kn_video_write(const char *path, const kn_video *v, kn_error *err) {
    return kn_video_write_encoded(path, v, NULL, err);
}
