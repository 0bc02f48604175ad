/* src/io/audio_copy.h: an input file's audio streams (all of them, in the file's order: its languages,
 * its audio description) copied unchanged (no re-encoding) into the container a video writer makes,
 * or re-encoded (audio_encode.h) where that container cannot hold a stream's codec. Contract: open adds the stream before the writer writes its header;
 * until writes, in order, the packets that start before an output time; output time 0 is the input's
 * time `start` (its first video frame), and audio before it is cut. */
#ifndef KN_AUDIO_COPY_H
#define KN_AUDIO_COPY_H
#include <stddef.h>
#include "core/core.h"

struct AVFormatContext;
typedef struct kn_audio_copy kn_audio_copy;

/* Opens path's audio streams and adds a copy of each to out, with its tags and flags (the default
 * one, the audio description). *ac = NULL with KN_OK when there is nothing to copy: path has no
 * audio, or out is NULL (an output without sound: a GIF, PNG frames), or out's format can neither
 * hold their codecs nor take re-encoded ones; why, when not empty, then says so. why also says when
 * a sound is re-encoded ("webm holds no aac audio, so the sound was re-encoded as libopus") or left
 * out while others are kept (a second stream where the format holds one, as FLV); with several
 * streams each such note names the stream ("audio stream 2 (fra): ..."). */
kn_status kn_audio_copy_open(const char *path, double start, struct AVFormatContext *out, kn_audio_copy **ac,
                             char *why, size_t why_cap, kn_error *err);
/* *lead: the seconds by which out's muxer will move every stream later, 0 if none. A container that
 * cannot start a stream before 0 (Matroska, WebM) moves all of them by the packet that goes first
 * at the most negative time: a copied stream's priming packet (AAC's 1024 samples: 21 ms at 48 kHz)
 * or a re-encoded stream's padding (Opus: 312 samples), so the video starts there; what the muxer
 * does not move (chapters) must be moved by as much to stay on the video. Reads the sound ahead
 * until every copied stream reaches the first frame's time (holding what it read for
 * kn_audio_copy_until), since the stream that goes furthest before 0 decides, wherever it lies in
 * the file. ac may be NULL (0). */
kn_status kn_audio_copy_lead(kn_audio_copy *ac, double *lead, kn_error *err);
/* Writes the packets that start before output time t seconds (INFINITY: all that are left). ac may
 * be NULL (nothing to do). */
kn_status kn_audio_copy_until(kn_audio_copy *ac, double t, kn_error *err);
void kn_audio_copy_close(kn_audio_copy *ac);

#endif
