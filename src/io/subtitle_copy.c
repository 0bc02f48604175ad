/* An input file's subtitles and chapters kept in a video writer's container (subtitle_copy.h). Like
 * the sound (audio_copy.c), the subtitle packets are read from their own demuxer as the writer goes,
 * each written before the first video frame after it, so FFmpeg's interleaver orders them and they
 * are never all held in memory. */
#include "io/subtitle_copy.h"
#include "io/audio_encode.h"
#include "io/av_error.h"
#include "io/av_input.h"
#include "io/av_tags.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>

/* Room for one re-encoded subtitle event (text and its styling). */
#define SUB_BUF (1 << 16)

typedef struct sub_stream {
    int in_index;             /* the stream in the input */
    AVStream *st;             /* its copy in the output */
    int64_t offset;           /* output time 0 in the input stream's time base */
    AVCodecContext *dec, *enc;   /* re-encoding a text subtitle into the container's own text codec */
} sub_stream;

struct kn_subtitle_copy {
    AVFormatContext *in;      /* the input, read for its subtitle streams only */
    AVFormatContext *out;     /* the writer's container */
    sub_stream *s;            /* the streams kept */
    int n;
    int *slot;                /* input stream index -> index in s, or -1 */
    AVPacket *pkt;            /* the next packet, read but not yet written (pending) */
    AVPacket *enc_pkt;        /* a re-encoded event */
    uint8_t *buf;             /* SUB_BUF bytes for it */
    int pending, ended;
    const char *path;
};

static kn_status av_fail(kn_error *err, const char *path, const char *what, int e) {
    return kn_av_fail(err, KN_EIO, path, what, e);
}

void kn_subtitle_copy_close(kn_subtitle_copy *sc) {
    if (!sc) return;
    for (int i = 0; i < sc->n; i++) {
        avcodec_free_context(&sc->s[i].dec);
        avcodec_free_context(&sc->s[i].enc);
    }
    free(sc->s);
    free(sc->slot);
    av_packet_free(&sc->pkt);
    av_packet_free(&sc->enc_pkt);
    av_free(sc->buf);
    avformat_close_input(&sc->in);
    free(sc);
}

/* The input's chapters, shifted so that input time start is 0; those that end before it are left
 * out, one that spans it starts at 0. */
static kn_status copy_chapters(const AVFormatContext *in, double start, AVFormatContext *out, const char *path,
                               kn_error *err) {
    for (unsigned i = 0; i < in->nb_chapters; i++) {
        const AVChapter *c = in->chapters[i];
        int64_t shift = isfinite(start) ? llround(start / av_q2d(c->time_base)) : 0;
        if (c->end - shift <= 0) continue;
        AVChapter **grown = av_realloc_array(out->chapters, out->nb_chapters + 1, sizeof *grown);
        AVChapter *k = av_mallocz(sizeof *k);
        if (grown) out->chapters = grown;
        if (!grown || !k) { av_free(k); return kn_fail(err, KN_ENOMEM, "%s: out of memory for its chapters", path); }
        k->id = c->id;
        k->time_base = c->time_base;
        k->start = c->start - shift > 0 ? c->start - shift : 0;
        k->end = c->end - shift;
        out->chapters[out->nb_chapters++] = k;
        int r = kn_tags_copy(&k->metadata, c->metadata);
        if (r < 0) return av_fail(err, path, "cannot copy its chapters' titles", r);
    }
    return KN_OK;
}

/* Whether the codec is one of the text subtitle codecs (SubRip, ASS, WebVTT, MP4 timed text...),
 * which decode to the same styled-text events and so convert into each other. */
static int text_codec(enum AVCodecID id) {
    const AVCodecDescriptor *d = avcodec_descriptor_get(id);
    return d && (d->props & AV_CODEC_PROP_TEXT_SUB);
}

/* The text subtitle codec out's format holds: its own default, else the first of the text codecs its
 * table says yes to (MP4 and QuickTime name none, but hold their timed text); NONE when it holds none. */
static enum AVCodecID text_codec_of(const AVOutputFormat *f) {
    if (f->subtitle_codec != AV_CODEC_ID_NONE && text_codec(f->subtitle_codec)) return f->subtitle_codec;
    static const enum AVCodecID text[] = {AV_CODEC_ID_MOV_TEXT, AV_CODEC_ID_SUBRIP, AV_CODEC_ID_ASS, AV_CODEC_ID_WEBVTT};
    for (size_t i = 0; i < sizeof text / sizeof text[0]; i++)
        if (avformat_query_codec(f, text[i], FF_COMPLIANCE_NORMAL) == 1) return text[i];
    return AV_CODEC_ID_NONE;
}

/* Sets up s to decode the input stream `from` and encode it in the text codec out holds, adding the
 * stream; nonzero `*none` when that cannot be done (no such codec, or the input's is not text). */
static kn_status open_reencode(kn_subtitle_copy *sc, sub_stream *s, const AVStream *from, int *none,
                               kn_error *err) {
    enum AVCodecID to = text_codec_of(sc->out->oformat);
    const AVCodec *dcodec = avcodec_find_decoder(from->codecpar->codec_id);
    const AVCodec *ecodec = to != AV_CODEC_ID_NONE ? avcodec_find_encoder(to) : NULL;
    *none = !dcodec || !ecodec || !text_codec(from->codecpar->codec_id);
    if (*none) return KN_OK;
    if (!(s->dec = avcodec_alloc_context3(dcodec)) || !(s->enc = avcodec_alloc_context3(ecodec)))
        return kn_fail(err, KN_ENOMEM, "%s: out of memory", sc->path);
    int r = avcodec_parameters_to_context(s->dec, from->codecpar);
    s->dec->pkt_timebase = from->time_base;
    if (r >= 0) r = avcodec_open2(s->dec, dcodec, NULL);
    if (r < 0) return av_fail(err, sc->path, "cannot decode its subtitles", r);
    s->enc->time_base = AV_TIME_BASE_Q;
    if (s->dec->subtitle_header) {   /* the styles every event refers to */
        s->enc->subtitle_header = av_mallocz((size_t)s->dec->subtitle_header_size + 1);
        if (!s->enc->subtitle_header) return kn_fail(err, KN_ENOMEM, "%s: out of memory", sc->path);
        memcpy(s->enc->subtitle_header, s->dec->subtitle_header, (size_t)s->dec->subtitle_header_size);
        s->enc->subtitle_header_size = s->dec->subtitle_header_size;
    }
    if ((r = avcodec_open2(s->enc, ecodec, NULL)) < 0) return av_fail(err, sc->path, "cannot encode its subtitles", r);
    if (!(s->st = avformat_new_stream(sc->out, NULL))) return kn_fail(err, KN_ENOMEM, "%s: out of memory", sc->path);
    if ((r = avcodec_parameters_from_context(s->st->codecpar, s->enc)) < 0)
        return av_fail(err, sc->path, "subtitle encoder parameters", r);
    s->st->time_base = (AVRational){1, 1000};
    return KN_OK;
}

/* Adds the input's subtitle stream i to the output, copied or re-encoded; notes in why what is left
 * out or converted. */
static kn_status add_stream(kn_subtitle_copy *sc, int i, double start, char *why, size_t why_cap, kn_error *err) {
    const AVStream *from = sc->in->streams[i];
    const AVCodecParameters *par = from->codecpar;
    sub_stream *s = &sc->s[sc->n];
    memset(s, 0, sizeof *s);
    s->in_index = i;
    s->offset = isfinite(start) ? llround(start / av_q2d(from->time_base)) : 0;
    const char *name = avcodec_get_name(par->codec_id);
    size_t used = strlen(why);
    if (kn_muxer_takes(sc->out, par)) {
        if (!(s->st = kn_stream_copy_add(sc->out, par, from->time_base.num, from->time_base.den)))
            return kn_fail(err, KN_ENOMEM, "%s: out of memory copying its subtitles", sc->path);
    } else {
        int none;
        kn_status st = open_reencode(sc, s, from, &none, err);
        if (st) { avcodec_free_context(&s->dec); avcodec_free_context(&s->enc); return st; }
        if (none) {
            snprintf(why + used, why_cap - used, "%s%s holds no %s subtitles, so they were left out", used ? "; " : "",
                     sc->out->oformat->name, name);
            sc->in->streams[i]->discard = AVDISCARD_ALL;
            return KN_OK;
        }
        snprintf(why + used, why_cap - used, "%s%s holds no %s subtitles, so they were re-encoded as %s",
                 used ? "; " : "", sc->out->oformat->name, name, s->enc->codec->name);
    }
    sc->slot[i] = sc->n++;   /* kept: closing frees its codecs from here on */
    s->st->disposition = from->disposition & (AV_DISPOSITION_DEFAULT | AV_DISPOSITION_FORCED |
                                              AV_DISPOSITION_HEARING_IMPAIRED);
    int r = kn_tags_copy(&s->st->metadata, from->metadata);   /* their language and title */
    return r < 0 ? av_fail(err, sc->path, "cannot copy its subtitles' tags", r) : KN_OK;
}

/* The input's attachment i (a font an ASS subtitle is drawn with) added to out where it holds
 * attachments (Matroska: its muxer also wants the file's name and type, which a Matroska input's
 * attachments carry), with its file name and type; otherwise noted once in why. */
static kn_status add_attachment(kn_subtitle_copy *sc, int i, char *why, size_t why_cap, kn_error *err) {
    const AVStream *from = sc->in->streams[i];
    if (strcmp(sc->out->oformat->name, "matroska") || !av_dict_get(from->metadata, "filename", NULL, 0) ||
        !av_dict_get(from->metadata, "mimetype", NULL, 0)) {
        size_t used = strlen(why);
        if (!strstr(why, "attachments"))
            snprintf(why + used, why_cap - used, "%s%s holds no attachments, so its attached files (fonts) were left "
                     "out", used ? "; " : "", sc->out->oformat->name);
        return KN_OK;
    }
    AVStream *st = kn_stream_copy_add(sc->out, from->codecpar, from->time_base.num, from->time_base.den);
    if (!st) return kn_fail(err, KN_ENOMEM, "%s: out of memory copying its attachments", sc->path);
    int r = av_dict_copy(&st->metadata, from->metadata, 0);   /* the file name and type are the attachment */
    return r < 0 ? av_fail(err, sc->path, "cannot copy its attachments", r) : KN_OK;
}

kn_status kn_subtitle_copy_open(const char *path, double start, double lead, struct AVFormatContext *out,
                                kn_subtitle_copy **scp, char *why, size_t why_cap, kn_error *err) {
    *scp = NULL;
    if (why_cap) why[0] = 0;
    kn_subtitle_copy *sc = calloc(1, sizeof *sc);
    if (!sc) return kn_fail(err, KN_ENOMEM, "%s: out of memory", path);
    sc->path = path;
    sc->out = out;
    int r = kn_av_open_file(path, &sc->in);
    if (r >= 0) r = avformat_find_stream_info(sc->in, NULL);
    if (r < 0) { kn_subtitle_copy_close(sc); return av_fail(err, path, "cannot read its subtitles", r); }
    if (!out) {   /* an output without subtitles (a GIF, .y4m, PNG frames) says so if there are some */
        for (unsigned i = 0; i < sc->in->nb_streams; i++)
            if (sc->in->streams[i]->codecpar->codec_type == AVMEDIA_TYPE_SUBTITLE) {
                snprintf(why, why_cap, "the output holds no subtitles, so they were left out");
                break;
            }
        kn_subtitle_copy_close(sc);
        return KN_OK;
    }
    kn_status st = copy_chapters(sc->in, start - lead, out, path, err);
    unsigned ns = sc->in->nb_streams;
    sc->s = calloc(ns ? ns : 1, sizeof *sc->s);
    sc->slot = malloc((ns ? ns : 1) * sizeof *sc->slot);
    sc->pkt = av_packet_alloc();
    sc->enc_pkt = av_packet_alloc();
    sc->buf = av_malloc(SUB_BUF);
    if (!st && (!sc->s || !sc->slot || !sc->pkt || !sc->enc_pkt || !sc->buf))
        st = kn_fail(err, KN_ENOMEM, "%s: out of memory", path);
    for (unsigned i = 0; !st && i < ns; i++) {
        sc->slot[i] = -1;
        AVStream *in = sc->in->streams[i];
        in->discard = AVDISCARD_ALL;
        if (in->codecpar->codec_type == AVMEDIA_TYPE_ATTACHMENT) st = add_attachment(sc, (int)i, why, why_cap, err);
        if (in->codecpar->codec_type != AVMEDIA_TYPE_SUBTITLE) continue;
        in->discard = AVDISCARD_DEFAULT;
        st = add_stream(sc, (int)i, start, why, why_cap, err);
    }
    if (st || sc->n == 0) { kn_subtitle_copy_close(sc); return st; }
    *scp = sc;
    return KN_OK;
}

/* Reads the next subtitle packet into sc->pkt (sc->pending), or marks the end. */
static kn_status next_packet(kn_subtitle_copy *sc, kn_error *err) {
    int r = kn_av_read_mapped(sc->in, sc->slot, sc->pkt);
    if (r < 0) return av_fail(err, sc->path, "reading its subtitles failed", r);
    if (r == 0) sc->ended = 1;
    else sc->pending = 1;
    return KN_OK;
}

/* The packet's start on the output clock, in its input stream's time base. */
static int64_t out_start(const kn_subtitle_copy *sc, const AVPacket *p) {
    const sub_stream *s = &sc->s[sc->slot[p->stream_index]];
    return kn_av_packet_time(p) - s->offset;
}

/* Decodes p and writes it in the output's text codec. */
static kn_status reencode(kn_subtitle_copy *sc, sub_stream *s, AVPacket *p, int64_t t, kn_error *err) {
    AVSubtitle sub;
    int got = 0;
    int r = avcodec_decode_subtitle2(s->dec, &sub, &got, p);
    if (r < 0 || !got) return KN_OK;   /* a damaged event is skipped, as players skip it */
    AVRational tb = sc->in->streams[s->in_index]->time_base;
    /* the event at its output time, shown from its start for its duration */
    int64_t shown_ms = sub.end_display_time > sub.start_display_time ? sub.end_display_time - sub.start_display_time
                       : p->duration > 0 ? av_rescale_q(p->duration, tb, (AVRational){1, 1000})
                                         : 0;
    sub.pts = av_rescale_q(t, tb, AV_TIME_BASE_Q) +
              av_rescale_q(sub.start_display_time, (AVRational){1, 1000}, AV_TIME_BASE_Q);
    sub.start_display_time = 0;
    sub.end_display_time = (uint32_t)shown_ms;
    int n = avcodec_encode_subtitle(s->enc, sc->buf, SUB_BUF, &sub);
    int64_t pts = sub.pts;
    avsubtitle_free(&sub);
    if (n < 0) return av_fail(err, sc->path, "re-encoding its subtitles failed", n);
    av_packet_unref(sc->enc_pkt);
    if ((r = av_new_packet(sc->enc_pkt, n)) < 0) return av_fail(err, sc->path, "out of memory", r);
    memcpy(sc->enc_pkt->data, sc->buf, (size_t)n);
    sc->enc_pkt->pts = sc->enc_pkt->dts = av_rescale_q(pts, AV_TIME_BASE_Q, s->st->time_base);
    sc->enc_pkt->duration = av_rescale_q(shown_ms, (AVRational){1, 1000}, s->st->time_base);
    sc->enc_pkt->stream_index = s->st->index;
    r = av_interleaved_write_frame(sc->out, sc->enc_pkt);
    return r < 0 ? av_fail(err, sc->path, "writing its subtitles failed", r) : KN_OK;
}

/* Writes p at its output time (t, its start there). An event that starts before output time 0 but
 * is still shown then starts at 0; one that ended before is left out. */
static kn_status write_packet(kn_subtitle_copy *sc, AVPacket *p, int64_t t, kn_error *err) {
    sub_stream *s = &sc->s[sc->slot[p->stream_index]];
    if (t < 0) {
        if (p->duration <= 0 || t + p->duration <= 0) return KN_OK;
        p->duration += t;
        if (p->dts != AV_NOPTS_VALUE) p->dts -= t;
        if (p->pts != AV_NOPTS_VALUE) p->pts -= t;
        t = 0;
    }
    if (s->enc) return reencode(sc, s, p, t, err);
    AVRational tb = sc->in->streams[s->in_index]->time_base;
    int r = kn_stream_copy_write(sc->out, s->st, p, tb.num, tb.den, s->offset);
    return r < 0 ? av_fail(err, sc->path, "writing its subtitles failed", r) : KN_OK;
}

kn_status kn_subtitle_copy_until(kn_subtitle_copy *sc, double t, kn_error *err) {
    if (!sc) return KN_OK;
    while (!sc->ended) {
        if (!sc->pending) {
            kn_status st = next_packet(sc, err);
            if (st || sc->ended) return st;
        }
        int64_t at = out_start(sc, sc->pkt);
        AVRational tb = sc->in->streams[sc->pkt->stream_index]->time_base;
        if ((double)at * av_q2d(tb) >= t) return KN_OK;   /* later: keep it pending */
        sc->pending = 0;
        kn_status st = write_packet(sc, sc->pkt, at, err);
        av_packet_unref(sc->pkt);
        if (st) return st;
    }
    return KN_OK;
}
