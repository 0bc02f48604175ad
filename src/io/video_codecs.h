/* The video codecs a caller may name for a file FFmpeg writes (kn_video_encoding), and how each is
 * set up. Contract: kn_codec_find names a codec or fails with a message listing the names; crf checks
 * go through kn_codec_check_crf; kn_codec_apply sets an opened-to-be encoder context's private
 * options (preset, quality, profile) and nothing else. Every setting is single-threaded and
 * bit-exact, as the writer's are (src/io/video.c), so the same frames give the same file. */
#ifndef KN_IO_VIDEO_CODECS_H
#define KN_IO_VIDEO_CODECS_H

#include "kinora/kinora.h"
#include <libavcodec/avcodec.h>

typedef struct kn_codec {
    const char *name;       /* as callers name it: "h264", "h265", "vp9", "av1", "ffv1", "prores" */
    const char *alias;      /* another name for it ("hevc"), or NULL */
    const char *encoder;    /* FFmpeg's encoder */
    const char *label;      /* for messages: "H.265" */
    int crf_max;            /* the highest crf; 0: the codec takes none (lossless or fixed profile) */
    int crf_default;
    enum AVPixelFormat pix; /* the frames it is given; AV_PIX_FMT_NONE: its format nearest to RGB, lossless */
    enum AVPixelFormat alpha_pix;   /* the frames it is given with transparency; AV_PIX_FMT_NONE: it holds none */
    int alpha_in_stream;    /* its alpha travels beside the picture (VP9's in Matroska's BlockAdditions), so
                               only WebM and Matroska keep it; else it is in the picture, in any container */
    int any_size;           /* encodes odd sizes as they are (else padded to whole chroma samples) */
    int min_w, min_h;       /* the smallest encoded size it is given (0: any) */
} kn_codec;

/* The codec named name (case-insensitive), or NULL with err set (KN_EINVAL) naming the choices. */
const kn_codec *kn_codec_find(const char *name, const char *path, kn_error *err);
/* The codecs the writer uses when none is named: H.264 for MP4, Matroska and QuickTime, VP9 for WebM. */
const kn_codec *kn_codec_h264(void);
const kn_codec *kn_codec_vp9(void);
/* The encoded size w x h at least the codec's smallest; KN_EUNSUPPORTED naming it otherwise. */
kn_status kn_codec_check_size(const kn_codec *c, int w, int h, const char *path, kn_error *err);
/* crf < 0 (the default) or within the codec's range; KN_EINVAL naming the range otherwise. */
kn_status kn_codec_check_crf(const kn_codec *c, int crf, const char *path, kn_error *err);
/* The codec's private options on cc, at crf (< 0: its default); alpha: the frames carry transparency
 * (ProRes then writes 4444). */
void kn_codec_apply(const kn_codec *c, int crf, int alpha, AVCodecContext *cc);

#endif
