/* An input file's audio copied, packet for packet and without re-encoding, into a video writer's
 * container, so that `interpolate` keeps a clip's sound: every audio stream, in the file's order (a
 * film's languages, its audio description), each with its tags and flags. Into a container that
 * cannot hold a stream's codec that stream is re-encoded instead (audio_encode.c), cut at the same
 * time. The writer calls kn_audio_copy_until with each video frame's time, so the audio goes into the
 * container as the video does (FFmpeg's interleaver then orders the packets) and is never all held in
 * memory. Output time 0 is the input's first video frame: audio before it is cut, audio after the
 * last frame is kept (as the ffmpeg tool does). */
#include "io/audio_copy.h"
#include "io/av_error.h"
#include "io/audio_encode.h"
#include "io/av_input.h"
#include "io/av_tags.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>

/* One audio stream on its way into the output. */
typedef struct track {
    int index;                /* the stream in the input */
    AVStream *st;             /* its copy in the output (NULL when re-encoded) */
    kn_audio_encode *enc;     /* re-encoding into the output, or NULL (copied) */
    AVStream *out;            /* its stream in the output, copied or re-encoded */
    int64_t offset;           /* output time 0 in the input stream's time base */
    int64_t shift;            /* added to the packets' times since the input's clock last went back */
    int64_t next, last_dur;   /* where the packet after the last one read starts (shifted), and that
                                 packet's duration; next = INT64_MIN before the first */
    AVPacket *prime;          /* the last packet before time 0, kept to start the decoder (primed) */
    int primed;
    int started;              /* a packet from time 0 on has been read (prime is then final) */
} track;

struct kn_audio_copy {
    AVFormatContext *in;      /* the input, read for its audio streams only */
    AVFormatContext *out;     /* the writer's container */
    track *t;                 /* the streams kept */
    int n;
    int *slot;                /* input stream index -> index in t, or -1 */
    AVPacket *pkt;            /* the next packet, read but not yet written (pending) */
    int pending, ended;
    AVPacket **ahead;         /* packets read ahead by kn_audio_copy_lead, in order, before any other */
    int nahead, ahead_first;
    int flushed;              /* the re-encoders have given out what they held (finish_all) */
    const char *path;
};

static kn_status av_fail(kn_error *err, const char *path, const char *what, int e) {
    return kn_av_fail(err, KN_EIO, path, what, e);
}

void kn_audio_copy_close(kn_audio_copy *ac) {
    if (!ac) return;
    for (int i = 0; i < ac->n; i++) {
        kn_audio_encode_close(ac->t[i].enc);
        av_packet_free(&ac->t[i].prime);
    }
    free(ac->t);
    free(ac->slot);
    for (int i = ac->ahead_first; i < ac->nahead; i++) av_packet_free(&ac->ahead[i]);
    free(ac->ahead);
    av_packet_free(&ac->pkt);
    avformat_close_input(&ac->in);
    free(ac);
}

/* The sound's own tags (its language, its title) and flags (the default, the audio description) go
 * with it. */
static kn_status copy_stream_tags(const kn_audio_copy *ac, int index, AVStream *to, kn_error *err) {
    const AVStream *from = ac->in->streams[index];
    int r = kn_tags_copy(&to->metadata, from->metadata);
    to->disposition = from->disposition & (AV_DISPOSITION_DEFAULT | AV_DISPOSITION_DUB | AV_DISPOSITION_ORIGINAL |
                                           AV_DISPOSITION_COMMENT | AV_DISPOSITION_VISUAL_IMPAIRED |
                                           AV_DISPOSITION_HEARING_IMPAIRED);
    return r < 0 ? av_fail(err, ac->path, "cannot copy its audio's tags", r) : KN_OK;
}

/* Appends note to why (why_cap bytes), after a "; " when why holds one already; with several
 * streams, says which one (its number among them and its language). */
static void add_note(char *why, size_t why_cap, const char *note, int nth, int of, const AVStream *st) {
    size_t used = strlen(why);
    if (!note[0] || used + 1 >= why_cap) return;
    const AVDictionaryEntry *lang = av_dict_get(st->metadata, "language", NULL, 0);
    if (of > 1)
        snprintf(why + used, why_cap - used, "%saudio stream %d%s%s%s: %s", used ? "; " : "", nth + 1,
                 lang ? " (" : "", lang ? lang->value : "", lang ? ")" : "", note);
    else
        snprintf(why + used, why_cap - used, "%s%s", used ? "; " : "", note);
}

/* Adds the input's audio stream `index` to the output as track t: copied, or re-encoded where the
 * container cannot hold its codec, or left out (t->index = -1) with a note. */
static kn_status add_track(kn_audio_copy *ac, int index, double start, track *t, char *note, size_t note_cap,
                           kn_error *err) {
    const AVStream *from = ac->in->streams[index];
    memset(t, 0, sizeof *t);
    t->index = index;
    t->offset = isfinite(start) ? llround(start / av_q2d(from->time_base)) : 0;
    t->next = INT64_MIN;
    if (!(t->prime = av_packet_alloc())) return kn_fail(err, KN_ENOMEM, "%s: out of memory", ac->path);
    if (!kn_muxer_takes(ac->out, from->codecpar)) {
        kn_status st = kn_audio_encode_open(ac->path, from->codecpar, from->time_base.num, from->time_base.den,
                                            t->offset, ac->out, &t->enc, note, note_cap, err);
        if (st) return st;
        if (!t->enc) { t->index = -1; return KN_OK; }
        t->out = ac->out->streams[ac->out->nb_streams - 1];   /* the encoder added it last */
        return copy_stream_tags(ac, index, t->out, err);
    }
    if (!(t->st = t->out = kn_stream_copy_add(ac->out, from->codecpar, from->time_base.num, from->time_base.den)))
        return kn_fail(err, KN_ENOMEM, "%s: out of memory copying its audio", ac->path);
    return copy_stream_tags(ac, index, t->st, err);
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
    unsigned ns = ac->in->nb_streams;
    int audio = 0;
    for (unsigned i = 0; i < ns; i++) audio += ac->in->streams[i]->codecpar->codec_type == AVMEDIA_TYPE_AUDIO;
    if (!audio) { kn_audio_copy_close(ac); return KN_OK; }   /* no sound: nothing to copy */
    if (!out) {
        snprintf(why, why_cap, "the output holds no sound, so the sound was left out");
        kn_audio_copy_close(ac);
        return KN_OK;
    }
    ac->t = calloc((size_t)audio, sizeof *ac->t);
    ac->slot = malloc(ns * sizeof *ac->slot);
    ac->pkt = av_packet_alloc();
    kn_status st = !ac->t || !ac->slot || !ac->pkt ? kn_fail(err, KN_ENOMEM, "%s: out of memory", path) : KN_OK;
    for (unsigned i = 0, nth = 0; !st && i < ns; i++) {
        AVStream *in = ac->in->streams[i];
        ac->slot[i] = -1;
        in->discard = AVDISCARD_ALL;
        if (in->codecpar->codec_type != AVMEDIA_TYPE_AUDIO) continue;
        char note[200] = "";
        track *t = &ac->t[ac->n];
        if (ac->n > 0 && !kn_muxer_takes(out, ac->t[0].out->codecpar)) {   /* FLV and SWF hold one */
            snprintf(note, sizeof note, "%s holds no second audio stream, so it was left out", out->oformat->name);
            add_note(why, why_cap, note, (int)nth++, audio, in);
            continue;
        }
        st = add_track(ac, (int)i, start, t, note, sizeof note, err);
        add_note(why, why_cap, note, (int)nth++, audio, in);
        if (st || t->index < 0) {
            kn_audio_encode_close(t->enc);
            av_packet_free(&t->prime);
            continue;
        }
        in->discard = AVDISCARD_DEFAULT;
        ac->slot[i] = ac->n++;
    }
    if (st || !ac->n) { kn_audio_copy_close(ac); return st; }
    *acp = ac;
    return KN_OK;
}

/* Packet p of track t, which starts at ts, on that sound's own continuous clock; returns its time
 * there. Where the input's clock goes back by more than half a packet (files joined, as MPEG-TS
 * segments are), the sound goes on from where it was, as the video's frames do (kn_frame_clock): a
 * container takes no time that runs backwards. A jump forward is a real gap and is kept. */
static int64_t continue_clock(track *t, AVPacket *p, int64_t ts) {
    int64_t dur = p->duration > 0 ? p->duration : t->last_dur;
    if (t->next != INT64_MIN && ts + t->shift < t->next - dur / 2) t->shift = t->next - ts;
    if (p->pts != AV_NOPTS_VALUE) p->pts += t->shift;
    if (p->dts != AV_NOPTS_VALUE) p->dts += t->shift;
    ts += t->shift;
    t->next = ts + dur;
    t->last_dur = dur;
    return ts;
}

/* Reads the next audio packet from the input into p (*got = 1), or marks the end. Packets before
 * time 0 are cut, but for the last of them: an encoder's first frames lean on the one before (AAC's
 * priming), so it goes first, at a negative time (the container's edit list hides it). */
static kn_status read_packet(kn_audio_copy *ac, AVPacket *p, int *got, kn_error *err) {
    *got = 0;
    for (;;) {
        int r = kn_av_read_mapped(ac->in, ac->slot, p);
        if (r == 0) { ac->ended = 1; return KN_OK; }
        if (r < 0) return av_fail(err, ac->path, "reading its audio failed", r);
        track *t = &ac->t[ac->slot[p->stream_index]];
        int64_t ts = continue_clock(t, p, kn_av_packet_time(p));
        if (ts < t->offset && !t->primed) {   /* before the first frame */
            av_packet_unref(t->prime);
            av_packet_move_ref(t->prime, p);
            continue;
        }
        t->started = 1;
        *got = 1;
        return KN_OK;
    }
}

/* The next packet into ac->pkt (ac->pending): the first read ahead, else the input's next. */
static kn_status next_packet(kn_audio_copy *ac, kn_error *err) {
    if (ac->ahead_first < ac->nahead) {
        av_packet_move_ref(ac->pkt, ac->ahead[ac->ahead_first]);
        av_packet_free(&ac->ahead[ac->ahead_first++]);
        ac->pending = 1;
        return KN_OK;
    }
    return ac->ended ? KN_OK : read_packet(ac, ac->pkt, &ac->pending, err);
}

/* Writes p (input stream time base) of track t at its output time, or re-encodes it. */
static kn_status write_packet(kn_audio_copy *ac, track *t, AVPacket *p, kn_error *err) {
    if (t->enc) {
        kn_status st = kn_audio_encode_push(t->enc, p, err);
        av_packet_unref(p);
        return st;
    }
    AVRational tb = ac->in->streams[t->index]->time_base;
    int r = kn_stream_copy_write(ac->out, t->st, p, tb.num, tb.den, t->offset);
    return r < 0 ? av_fail(err, ac->path, "writing its audio failed", r) : KN_OK;
}

/* At the input's end: the re-encoders give out what they hold. */
static kn_status finish_all(kn_audio_copy *ac, kn_error *err) {
    for (int i = 0; i < ac->n; i++) {
        kn_status st = ac->t[i].enc ? kn_audio_encode_finish(ac->t[i].enc, err) : KN_OK;
        if (st) return st;
    }
    return KN_OK;
}

/* Reads ahead until every copied stream has a packet from time 0 on (its priming packet is then
 * known), the input ends, or AHEAD_MAX packets are held: a stream that starts later than that is
 * left out of the lead. */
#define AHEAD_MAX 4096
static kn_status read_ahead(kn_audio_copy *ac, kn_error *err) {
    for (;;) {
        int waiting = 0;
        for (int i = 0; i < ac->n; i++) waiting += !ac->t[i].enc && !ac->t[i].started;
        if (!waiting || ac->ended || ac->nahead >= AHEAD_MAX) return KN_OK;
        if (!ac->ahead && !(ac->ahead = calloc(AHEAD_MAX, sizeof *ac->ahead)))
            return kn_fail(err, KN_ENOMEM, "%s: out of memory reading its audio", ac->path);
        AVPacket *p = av_packet_alloc();
        if (!p) return kn_fail(err, KN_ENOMEM, "%s: out of memory reading its audio", ac->path);
        int got;
        kn_status st = read_packet(ac, p, &got, err);
        if (st || !got) { av_packet_free(&p); return st; }
        ac->ahead[ac->nahead++] = p;
    }
}

kn_status kn_audio_copy_lead(kn_audio_copy *ac, double *lead, kn_error *err) {
    *lead = 0;
    if (!ac || ac->out->oformat->flags & (AVFMT_TS_NEGATIVE | AVFMT_NOTIMESTAMPS)) return KN_OK;
    kn_status st = read_ahead(ac, err);
    if (st) return st;
    for (int i = 0; i < ac->n; i++) {
        const track *t = &ac->t[i];
        if (t->enc) {   /* a re-encoded stream's first packet goes before 0 by its padding */
            *lead = fmax(*lead, kn_audio_encode_lead(t->enc));
            continue;
        }
        if (!t->started || !t->prime->size) continue;   /* no priming packet will be written */
        int64_t ts = kn_av_packet_time(t->prime);   /* timed: kn_av_read_mapped keeps no other */
        if (ts < t->offset)
            *lead = fmax(*lead, (double)(t->offset - ts) * av_q2d(ac->in->streams[t->index]->time_base));
    }
    return KN_OK;
}

kn_status kn_audio_copy_until(kn_audio_copy *ac, double t, kn_error *err) {
    if (!ac) return KN_OK;
    for (;;) {
        if (!ac->pending) {
            kn_status st = next_packet(ac, err);
            if (st) return st;
        }
        if (!ac->pending) {   /* the end (kn_audio_copy_lead may have met it before the header) */
            if (ac->flushed) return KN_OK;
            ac->flushed = 1;
            return finish_all(ac, err);
        }
        track *k = &ac->t[ac->slot[ac->pkt->stream_index]];
        AVRational tb = ac->in->streams[k->index]->time_base;
        int64_t ts = kn_av_packet_time(ac->pkt);
        if ((double)(ts - k->offset) * av_q2d(tb) >= t) return KN_OK;   /* later: keep it pending */
        kn_status st = KN_OK;
        if (!k->primed && k->prime->size) st = write_packet(ac, k, k->prime, err);
        k->primed = 1;
        ac->pending = 0;
        if (!st) st = write_packet(ac, k, ac->pkt, err);
        if (st) return st;
    }
}
