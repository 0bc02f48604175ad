/* An input file's audio copied, packet for packet and without re-encoding, into a video writer's
 * container, so that `interpolate` keeps a clip's sound; into a container that cannot hold its codec
 * it is re-encoded instead (audio_encode.c), cut at the same time. The writer calls
 * kn_audio_copy_until with each video frame's time, so the audio goes into the container as the
 * video does (FFmpeg's interleaver then orders the packets) and is never all held in memory. Output time 0 is the input's first
 * video frame: audio before it is cut, audio after the last frame is kept (as the ffmpeg tool does). */
#include "io/audio_copy.h"
#include "io/av_error.h"
#include "io/audio_encode.h"
#include "io/av_input.h"
#include "io/av_tags.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>

struct kn_audio_copy {
    AVFormatContext *in;      /* the input, read for its audio stream only */
    int index;                /* that stream in `in` */
    AVFormatContext *out;     /* the writer's container */
    AVStream *st;             /* the copy in `out` (NULL when re-encoded) */
    kn_audio_encode *enc;     /* re-encoding into `out`, or NULL (copied) */
    int64_t offset;           /* output time 0 in the input stream's time base */
    int64_t shift;            /* added to the packets' times since the input's clock last went back */
    int64_t next, last_dur;   /* where the packet after the last one read starts (shifted), and that
                                 packet's duration; next = INT64_MIN before the first */
    AVPacket *pkt;            /* the next packet, read but not yet written (pending) */
    AVPacket *prime;          /* the last packet before time 0, kept to start the decoder (primed) */
    int pending, ended, primed;
    const char *path;
};

static kn_status av_fail(kn_error *err, const char *path, const char *what, int e) {
    return kn_av_fail(err, KN_EIO, path, what, e);
}

void kn_audio_copy_close(kn_audio_copy *ac) {
    if (!ac) return;
    kn_audio_encode_close(ac->enc);
    av_packet_free(&ac->pkt);
    av_packet_free(&ac->prime);
    avformat_close_input(&ac->in);
    free(ac);
}

/* The sound's own tags (its language, its title) go with it. */
static kn_status copy_stream_tags(const kn_audio_copy *ac, AVStream *to, kn_error *err) {
    int r = kn_tags_copy(&to->metadata, ac->in->streams[ac->index]->metadata);
    return r < 0 ? av_fail(err, ac->path, "cannot copy its audio's tags", r) : KN_OK;
}

kn_status kn_audio_copy_open(const char *path, double start, struct AVFormatContext *out, kn_audio_copy **acp,
                             char *why, size_t why_cap, kn_error *err) {
    *acp = NULL;
    if (why_cap) why[0] = 0;
    kn_audio_copy *ac = calloc(1, sizeof *ac);
    if (!ac) return kn_fail(err, KN_ENOMEM, "%s: out of memory", path);
    ac->path = path;
    ac->out = out;
    int r = kn_av_open_file(path, &ac->in);
    if (r >= 0) r = avformat_find_stream_info(ac->in, NULL);
    if (r < 0) { kn_audio_copy_close(ac); return av_fail(err, path, "cannot read its audio", r); }
    ac->index = av_find_best_stream(ac->in, AVMEDIA_TYPE_AUDIO, -1, -1, NULL, 0);
    if (ac->index < 0) { kn_audio_copy_close(ac); return KN_OK; }   /* no sound: nothing to copy */
    const AVCodecParameters *par = ac->in->streams[ac->index]->codecpar;
    if (!out) {
        snprintf(why, why_cap, "the output holds no sound, so the sound was left out");
        kn_audio_copy_close(ac);
        return KN_OK;
    }
    for (unsigned i = 0; i < ac->in->nb_streams; i++)
        if ((int)i != ac->index) ac->in->streams[i]->discard = AVDISCARD_ALL;
    ac->pkt = av_packet_alloc();
    ac->prime = av_packet_alloc();
    if (!ac->pkt || !ac->prime) {
        kn_audio_copy_close(ac);
        return kn_fail(err, KN_ENOMEM, "%s: out of memory", path);
    }
    AVRational tb = ac->in->streams[ac->index]->time_base;
    ac->offset = isfinite(start) ? llround(start / av_q2d(tb)) : 0;
    ac->next = INT64_MIN;
    if (!kn_muxer_takes(out, par)) {
        kn_status st = kn_audio_encode_open(path, par, tb.num, tb.den, ac->offset, out, &ac->enc, why, why_cap, err);
        if (st || !ac->enc) { kn_audio_copy_close(ac); return st; }
        st = copy_stream_tags(ac, out->streams[out->nb_streams - 1], err);   /* the encoder added it last */
        if (st) { kn_audio_copy_close(ac); return st; }
        *acp = ac;
        return KN_OK;
    }
    if (!(ac->st = kn_stream_copy_add(out, par, tb.num, tb.den))) {
        kn_audio_copy_close(ac);
        return kn_fail(err, KN_ENOMEM, "%s: out of memory copying its audio", path);
    }
    kn_status st = copy_stream_tags(ac, ac->st, err);
    if (st) { kn_audio_copy_close(ac); return st; }
    *acp = ac;
    return KN_OK;
}

/* Packet p, which starts at ts, on the sound's own continuous clock; returns its time there. Where
 * the input's clock goes back by more than half a packet (files joined, as MPEG-TS segments are),
 * the sound goes on from where it was, as the video's frames do (kn_frame_clock): a container takes
 * no time that runs backwards. A jump forward is a real gap and is kept. */
static int64_t continue_clock(kn_audio_copy *ac, AVPacket *p, int64_t ts) {
    int64_t dur = p->duration > 0 ? p->duration : ac->last_dur;
    if (ac->next != INT64_MIN && ts + ac->shift < ac->next - dur / 2) ac->shift = ac->next - ts;
    if (p->pts != AV_NOPTS_VALUE) p->pts += ac->shift;
    if (p->dts != AV_NOPTS_VALUE) p->dts += ac->shift;
    ts += ac->shift;
    ac->next = ts + dur;
    ac->last_dur = dur;
    return ts;
}

/* Reads the next audio packet into ac->pkt (ac->pending), or marks the end. Packets before time 0
 * are cut, but for the last of them: an encoder's first frames lean on the one before (AAC's
 * priming), so it goes first, at a negative time (the container's edit list hides it). */
static kn_status next_packet(kn_audio_copy *ac, kn_error *err) {
    for (;;) {
        av_packet_unref(ac->pkt);
        int r = av_read_frame(ac->in, ac->pkt);
        if (r == AVERROR_EOF) { ac->ended = 1; return KN_OK; }
        if (r < 0) return av_fail(err, ac->path, "reading its audio failed", r);
        if (ac->pkt->stream_index != ac->index) continue;
        int64_t ts = ac->pkt->pts != AV_NOPTS_VALUE ? ac->pkt->pts : ac->pkt->dts;
        if (ts == AV_NOPTS_VALUE) continue;
        ts = continue_clock(ac, ac->pkt, ts);
        if (ts < ac->offset && !ac->primed) {   /* before the first frame */
            av_packet_unref(ac->prime);
            av_packet_move_ref(ac->prime, ac->pkt);
            continue;
        }
        ac->pending = 1;
        return KN_OK;
    }
}

/* Writes p (input stream time base) at its output time, or re-encodes it. */
static kn_status write_packet(kn_audio_copy *ac, AVPacket *p, kn_error *err) {
    if (ac->enc) {
        kn_status st = kn_audio_encode_push(ac->enc, p, err);
        av_packet_unref(p);
        return st;
    }
    AVRational tb = ac->in->streams[ac->index]->time_base;
    if (p->pts != AV_NOPTS_VALUE) p->pts -= ac->offset;
    if (p->dts != AV_NOPTS_VALUE) p->dts -= ac->offset;
    av_packet_rescale_ts(p, tb, ac->st->time_base);
    p->stream_index = ac->st->index;
    p->pos = -1;
    int r = av_interleaved_write_frame(ac->out, p);   /* takes the packet's data */
    return r < 0 ? av_fail(err, ac->path, "writing its audio failed", r) : KN_OK;
}

kn_status kn_audio_copy_until(kn_audio_copy *ac, double t, kn_error *err) {
    if (!ac) return KN_OK;
    AVRational tb = ac->in->streams[ac->index]->time_base;
    while (!ac->ended) {
        if (!ac->pending) {
            kn_status st = next_packet(ac, err);
            if (st) return st;
            if (ac->ended) return ac->enc ? kn_audio_encode_finish(ac->enc, err) : KN_OK;
        }
        int64_t ts = ac->pkt->pts != AV_NOPTS_VALUE ? ac->pkt->pts : ac->pkt->dts;
        if ((double)(ts - ac->offset) * av_q2d(tb) >= t) return KN_OK;   /* later: keep it pending */
        kn_status st = KN_OK;
        if (!ac->primed && ac->prime->size) st = write_packet(ac, ac->prime, err);
        ac->primed = 1;
        ac->pending = 0;
        if (!st) st = write_packet(ac, ac->pkt, err);
        if (st) return st;
    }
    return KN_OK;
}
