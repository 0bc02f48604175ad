/* src/io/audio_encode.h: one audio stream decoded, resampled and encoded again, for a container
 * that cannot hold its codec (a WebM file given AAC sound gets Opus). Contract: open adds the new
 * stream to the container before its header is written, with the container's own audio codec; push
 * takes the input's packets in order (a packet before output time 0 only primes the decoder: its
 * sound is cut to the sample); finish flushes everything into the container once the input ends.
 * The sound is never held whole: at most one encoder frame's worth waits between calls. */
#ifndef KN_AUDIO_ENCODE_H
#define KN_AUDIO_ENCODE_H
#include <stddef.h>
#include <stdint.h>
#include "core/core.h"

struct AVFormatContext;
struct AVCodecParameters;
struct AVPacket;
struct AVStream;
typedef struct kn_audio_encode kn_audio_encode;

/* 1 when the container out (its streams so far set up, its header not yet written) takes one more
 * stream with parameters par and stores it so that it plays back: FFmpeg's codec tables do not say
 * no (a format without tables, MPEG-TS, gives no answer), a header with such a stream beside out's,
 * written into memory, succeeds, and the muxer is not one known to mis-store it (MPEG-TS without a
 * stream type for the codec, FLV's 8 and 16 kHz); 0 when not (also when out of memory). */
int kn_muxer_takes(const struct AVFormatContext *out, const struct AVCodecParameters *par);
/* Adds to oc a stream copying parameters par, in time base tb_num/tb_den, with the codec tag left
 * to oc's format: the stream the sound copy writes, and the one kn_muxer_takes tries. NULL when
 * out of memory. */
struct AVStream *kn_stream_copy_add(struct AVFormatContext *oc, const struct AVCodecParameters *par, int tb_num,
                                    int tb_den);
/* Writes packet p of an input stream whose timestamps count in tb_num/tb_den into such a stream `to`
 * of oc, at its time less offset (output time 0 in the input's units), through FFmpeg's interleaver,
 * which takes the packet's data. Returns FFmpeg's code (< 0: failed). */
int kn_stream_copy_write(struct AVFormatContext *oc, struct AVStream *to, struct AVPacket *p, int tb_num, int tb_den,
                         int64_t offset);
/* The opaque pointer of the containers such tries write into memory (their complaints are answers,
 * not errors: kn_media_quiet's log leaves them out). */
extern const char KN_PROBE_TAG[];

/* Sets up decoding of a stream with parameters par whose timestamps count in units of tb_num/tb_den
 * seconds, and adds to out a stream in out's default audio codec; input time `start` (in those units)
 * becomes output time 0. *ae = NULL with KN_OK when out takes no sound, or FFmpeg has no decoder or
 * encoder for it, or they will not open for it (a sound that cannot be converted costs the sound,
 * not the video); why then says so. On success why says what the sound became ("re-encoded as
 * opus"). path names the input in errors. */
kn_status kn_audio_encode_open(const char *path, const struct AVCodecParameters *par, int tb_num, int tb_den,
                               int64_t start, struct AVFormatContext *out, kn_audio_encode **ae, char *why,
                               size_t why_cap, kn_error *err);
/* Seconds by which the encoder puts its first packet before output time 0 (its initial padding:
 * Opus's 312 samples at 48 kHz), 0 for none. */
double kn_audio_encode_lead(const kn_audio_encode *ae);
/* Decodes packet p (the input's time base) and writes what the encoder makes of it. */
kn_status kn_audio_encode_push(kn_audio_encode *ae, const struct AVPacket *p, kn_error *err);
/* Flushes decoder, resampler and encoder into the container (the last frame padded with silence
 * where the encoder takes only whole frames). */
kn_status kn_audio_encode_finish(kn_audio_encode *ae, kn_error *err);
void kn_audio_encode_close(kn_audio_encode *ae);

#endif
