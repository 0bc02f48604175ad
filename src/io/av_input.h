/* src/io/av_input.h: a local file opened for FFmpeg's demuxers, the one way src/io does it, and the
 * packets of the streams a reader copies read from it.
 * Contract: only the file protocol is allowed, so a playlist or concat file cannot make FFmpeg open
 * URLs or other files; the path goes in as "file:PATH", so a ':' in it is not read as a protocol
 * name. kn_av_open_file returns avformat_open_input's code (AVERROR(ENAMETOOLONG) for a path over
 * 4096 bytes). */
#ifndef KN_AV_INPUT_H
#define KN_AV_INPUT_H
#include <stdio.h>
#include <libavformat/avformat.h>

static inline int kn_av_open_file(const char *path, AVFormatContext **ic) {
    char url[4200];
    if (snprintf(url, sizeof url, "file:%s", path) >= (int)sizeof url) return AVERROR(ENAMETOOLONG);
    AVDictionary *opts = NULL;
    av_dict_set(&opts, "protocol_whitelist", "file", 0);
    int r = avformat_open_input(ic, url, NULL, &opts);
    av_dict_free(&opts);
    return r;
}

/* A packet's time: its pts, else its dts (the decoding time, the same for sound and subtitles). */
static inline int64_t kn_av_packet_time(const AVPacket *p) { return p->pts != AV_NOPTS_VALUE ? p->pts : p->dts; }

/* Reads into pkt the next packet of a stream that slot maps (slot[index] >= 0) and that carries a
 * time (pts or dts); the packets of other streams and untimed ones are skipped. Returns 1 with a
 * packet, 0 at the end of the file, or av_read_frame's negative code. */
static inline int kn_av_read_mapped(AVFormatContext *in, const int *slot, AVPacket *pkt) {
    for (;;) {
        av_packet_unref(pkt);
        int r = av_read_frame(in, pkt);
        if (r == AVERROR_EOF) return 0;
        if (r < 0) return r;
        int s = pkt->stream_index;
        if (s < 0 || (unsigned)s >= in->nb_streams || slot[s] < 0) continue;
        if (pkt->pts == AV_NOPTS_VALUE && pkt->dts == AV_NOPTS_VALUE) continue;
        return 1;
    }
}

#endif
