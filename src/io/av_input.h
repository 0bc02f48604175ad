/* src/io/av_input.h: a local file opened for FFmpeg's demuxers, the one way src/io does it.
 * Contract: only the file protocol is allowed, so a playlist or concat file cannot make FFmpeg open
 * URLs or other files; the path goes in as "file:PATH", so a ':' in it is not read as a protocol
 * name. Returns avformat_open_input's code (AVERROR(ENAMETOOLONG) for a path over 4096 bytes). */
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

#endif
