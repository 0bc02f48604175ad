/* The video codecs a caller may name (io/video_codecs.h). The defaults keep what the frames hold:
 * H.264 at crf 18 is the writer's long-standing setting; H.265 at crf 20 and AV1 at crf 30 come
 * within 0.6 and 1.7 dB of its PSNR in fewer bytes (docs/formats.md, "Codecs"); VP9 at crf 30 is the
 * .webm setting as it was; FFV1 is lossless RGB; ProRes 422 HQ is the usual editing intermediate. */
#include "io/video_codecs.h"
#include "core/core.h"
#include <stdio.h>
#include <strings.h>
#include <libavutil/opt.h>

/* Debian 12's libx265 (3.5) writes outside its buffers on small frames: under glibc's MALLOC_CHECK_=3,
 * 40x40, 42x32, 48x64, 64x14 and 128x10 aborted (the ffmpeg CLI alike), while 50x64, 56x32, 64x16,
 * 1920x16 and larger sizes ran clean (2026-12-07). So it is given nothing under 64x16. */
static const kn_codec CODECS[] = {
    {"h264", "avc", "libx264", "H.264", 51, 18, AV_PIX_FMT_YUV420P, AV_PIX_FMT_NONE, 0, 0, 0, 0},
    {"h265", "hevc", "libx265", "H.265", 51, 20, AV_PIX_FMT_YUV420P, AV_PIX_FMT_NONE, 0, 0, 64, 16},
    {"vp9", NULL, "libvpx-vp9", "VP9", 63, 30, AV_PIX_FMT_YUV420P, AV_PIX_FMT_YUVA420P, 1, 1, 0, 0},
    {"av1", NULL, "libaom-av1", "AV1", 63, 30, AV_PIX_FMT_YUV420P, AV_PIX_FMT_NONE, 0, 1, 0, 0},
    {"ffv1", NULL, "ffv1", "FFV1", 0, 0, AV_PIX_FMT_NONE, AV_PIX_FMT_BGRA, 0, 1, 0, 0},
    {"prores", NULL, "prores_ks", "ProRes 422 HQ", 0, 0, AV_PIX_FMT_YUV422P10LE, AV_PIX_FMT_YUVA444P10LE, 0, 0, 0, 0},
};
#define NCODECS (sizeof CODECS / sizeof CODECS[0])

const kn_codec *kn_codec_h264(void) { return &CODECS[0]; }
const kn_codec *kn_codec_vp9(void) { return &CODECS[2]; }

const kn_codec *kn_codec_find(const char *name, const char *path, kn_error *err) {
    for (size_t i = 0; i < NCODECS; i++)
        if (!strcasecmp(name, CODECS[i].name) || (CODECS[i].alias && !strcasecmp(name, CODECS[i].alias)))
            return &CODECS[i];
    kn_fail(err, KN_EINVAL, "%s: unknown codec '%.64s' (h264, h265, vp9, av1, ffv1 or prores)", path, name);
    return NULL;
}

kn_status kn_codec_check_size(const kn_codec *c, int w, int h, const char *path, kn_error *err) {
    if (w >= c->min_w && h >= c->min_h) return KN_OK;
    return kn_fail(err, KN_EUNSUPPORTED, "%s: %s is written only from %dx%d up, not %dx%d (this libx265 corrupts "
                   "memory on smaller frames); use h264, vp9 or av1", path, c->label, c->min_w, c->min_h, w, h);
}

kn_status kn_codec_check_crf(const kn_codec *c, int crf, const char *path, kn_error *err) {
    if (crf < 0) return KN_OK;
    if (c->crf_max == 0)
        return kn_fail(err, KN_EINVAL, "%s: %s takes no crf (%s)", path, c->label,
                       c->pix == AV_PIX_FMT_NONE ? "it is lossless" : "its quality is set by its profile");
    if (crf > c->crf_max)
        return kn_fail(err, KN_EINVAL, "%s: crf %d is outside %s's 0..%d (lower is better)", path, crf, c->label,
                       c->crf_max);
    return KN_OK;
}

static void set_int(AVCodecContext *cc, const char *key, int v) {
    char buf[16];
    snprintf(buf, sizeof buf, "%d", v);
    av_opt_set(cc->priv_data, key, buf, 0);
}

void kn_codec_apply(const kn_codec *c, int crf, int alpha, AVCodecContext *cc) {
    if (crf < 0) crf = c->crf_default;
    if (!strcmp(c->name, "h264")) {
        av_opt_set(cc->priv_data, "preset", "medium", 0);
        set_int(cc, "crf", crf);
        /* crf 0 is lossless, which High profile cannot hold: x264 then picks High 4:4:4 Predictive */
        if (crf > 0) av_opt_set(cc->priv_data, "profile", "high", 0);
    } else if (!strcmp(c->name, "h265")) {
        av_opt_set(cc->priv_data, "preset", "medium", 0);
        set_int(cc, "crf", crf);
        /* x265 prints to stderr itself: errors only. One frame thread, whatever the cores, so the file is
         * the same on every machine (its wavefront threads do not change it: 1 and 2 cores gave the same
         * bytes); "pools=none" would be the other way, but x265 3.5 leaks the string it parses. */
        av_opt_set(cc->priv_data, "x265-params", "log-level=error:frame-threads=1", 0);
    } else if (!strcmp(c->name, "vp9") || !strcmp(c->name, "av1")) {
        cc->bit_rate = 0;   /* constant quality: the crf alone */
        set_int(cc, "crf", crf);
        set_int(cc, "row-mt", 0);
        if (!strcmp(c->name, "vp9")) {
            av_opt_set(cc->priv_data, "deadline", "good", 0);
            set_int(cc, "cpu-used", 2);
            set_int(cc, "tile-columns", 0);
        } else {
            set_int(cc, "cpu-used", 6);   /* 4 took 2.4x as long for 3% fewer bytes, +0.3 dB (formats.md) */
        }
    } else if (!strcmp(c->name, "prores")) {
        /* with transparency 4444, the ProRes that holds alpha (at its full 16 bits, the encoder's default) */
        av_opt_set(cc->priv_data, "profile", alpha ? "4444" : "hq", 0);
    }
}
