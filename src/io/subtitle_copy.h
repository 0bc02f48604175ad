/* src/io/subtitle_copy.h: an input file's subtitle streams and chapters kept in the container a video
 * writer makes, as the sound is (audio_copy.h). Interpolation keeps a video's timing, so subtitles and
 * chapter marks stay where they were. Contract: open adds the streams and chapters before the writer
 * writes its header; until writes, in order, the subtitle packets that start before an output time;
 * output time 0 is the input's time `start` (its first video frame). Subtitles are copied packet for
 * packet where the container holds their codec; text subtitles (SubRip, ASS, WebVTT, MP4's timed
 * text) go into a container that holds another text codec re-encoded into it (SubRip into MP4
 * becomes MP4's timed text); the others are left out, and why says so. */
#ifndef KN_SUBTITLE_COPY_H
#define KN_SUBTITLE_COPY_H
#include <stddef.h>
#include "core/core.h"

struct AVFormatContext;
typedef struct kn_subtitle_copy kn_subtitle_copy;

/* Opens path's subtitle streams and adds to out those it can hold, with their tags (language,
 * title), path's attachments where out holds them (the fonts of ASS subtitles, in Matroska), and
 * path's chapters (shifted by start, then by lead later: what the muxer moves the streams by,
 * kn_audio_copy_lead; those that end before start - lead are left out). *sc = NULL with KN_OK when
 * path has no subtitles (its chapters are still added) or out is NULL (an output that holds none: a
 * GIF, PNG frames). why, when not empty, says which subtitles were left out or re-encoded. */
kn_status kn_subtitle_copy_open(const char *path, double start, double lead, struct AVFormatContext *out,
                                kn_subtitle_copy **sc, char *why, size_t why_cap, kn_error *err);
/* Writes the subtitle packets that start before output time t seconds (INFINITY: all that are left).
 * sc may be NULL. */
kn_status kn_subtitle_copy_until(kn_subtitle_copy *sc, double t, kn_error *err);
void kn_subtitle_copy_close(kn_subtitle_copy *sc);

#endif
