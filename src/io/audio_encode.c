/* Sound re-encoded for a container that cannot hold the input's codec: packets are decoded,
 * resampled (libswresample) to what the container's default audio encoder takes, gathered into that
 * encoder's frame size and encoded. The cut at output time 0 is made on the decoded samples, so it is
 * exact to the sample, where copying packets can only cut at a packet's edge. */
#include "io/audio_encode.h"
#include "io/av_error.h"
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/audio_fifo.h>
#include <libswresample/swresample.h>

struct kn_audio_encode {
    const char *path;
    AVCodecContext *dec, *enc;
    AVFormatContext *out;
    AVStream *st;              /* the new stream in out */
    AVRational in_tb;          /* the input packets' time base */
    int64_t start;             /* output time 0, in in_tb */
    SwrContext *swr;           /* set up from the first decoded frame (its real format) */
    int swr_fmt, swr_rate;     /* the input format swr was set up for */
    AVChannelLayout swr_layout;
    AVAudioFifo *fifo;         /* resampled samples waiting for a whole encoder frame */
    uint8_t **buf;             /* resampler output, buf_cap samples */
    int buf_cap;
    int frame_size;            /* samples per encoder frame */
    int64_t next_pts;          /* the next encoded sample's output time, in samples; < 0 until set */
    AVFrame *dframe, *eframe;
    AVPacket *pkt;
};

static kn_status av_fail(kn_error *err, const char *path, const char *what, int e) {
    return kn_av_fail(err, KN_EIO, path, what, e);
}

AVStream *kn_stream_copy_add(AVFormatContext *oc, const AVCodecParameters *par, int tb_num, int tb_den) {
    AVStream *st = avformat_new_stream(oc, NULL);
    if (!st || avcodec_parameters_copy(st->codecpar, par) < 0) return NULL;   /* oc frees a half-made one */
    st->codecpar->codec_tag = 0;   /* the output container's own tag for the codec */
    st->time_base = (AVRational){tb_num, tb_den};
    return st;
}

int kn_stream_copy_write(AVFormatContext *oc, AVStream *to, AVPacket *p, int tb_num, int tb_den, int64_t offset) {
    if (p->pts != AV_NOPTS_VALUE) p->pts -= offset;
    if (p->dts != AV_NOPTS_VALUE) p->dts -= offset;
    av_packet_rescale_ts(p, (AVRational){tb_num, tb_den}, to->time_base);
    p->stream_index = to->index;
    p->pos = -1;
    return av_interleaved_write_frame(oc, p);   /* takes the packet's data */
}

/* What some muxers write without complaint but do not store so that it plays back: MPEG-TS writes a
 * codec it has no stream type for as private data, which players (and the ffmpeg tool) do not read as
 * sound at all (FLAC, Vorbis, PCM, ALAC, WMA were lost that way); FLV marks 8 and 16 kHz as its
 * "special" rate, which means those rates for Nellymoser and Speex only: PCM at 8 kHz played back at
 * 5512 Hz. NUT keeps no block alignment, without which the WMA decoders decode nothing ("block_align
 * is not set"; the ffmpeg tool's NUT files lose it too). */
static int stored_faithfully(const AVOutputFormat *f, const AVCodecParameters *par) {
    static const enum AVCodecID ts_audio[] = {AV_CODEC_ID_MP1, AV_CODEC_ID_MP2, AV_CODEC_ID_MP3, AV_CODEC_ID_AAC,
                                              AV_CODEC_ID_AAC_LATM, AV_CODEC_ID_AC3, AV_CODEC_ID_EAC3,
                                              AV_CODEC_ID_DTS, AV_CODEC_ID_TRUEHD, AV_CODEC_ID_OPUS,
                                              AV_CODEC_ID_S302M};
    if (!strcmp(f->name, "mpegts")) {
        for (size_t i = 0; i < sizeof ts_audio / sizeof *ts_audio; i++)
            if (par->codec_id == ts_audio[i]) return 1;
        return 0;
    }
    if (!strcmp(f->name, "flv") && (par->sample_rate == 8000 || par->sample_rate == 16000))
        return par->codec_id == AV_CODEC_ID_NELLYMOSER || par->codec_id == AV_CODEC_ID_SPEEX;
    if (!strcmp(f->name, "nut"))
        return par->codec_id != AV_CODEC_ID_WMAV1 && par->codec_id != AV_CODEC_ID_WMAV2 &&
               par->codec_id != AV_CODEC_ID_WMAPRO && par->codec_id != AV_CODEC_ID_WMALOSSLESS &&
               par->codec_id != AV_CODEC_ID_WMAVOICE;
    return 1;
}

/* Whether out's format writes a header with out's streams so far (its video) and one more of
 * parameters par, tried into memory: as faithful a test as FFmpeg offers, since some formats take a
 * sound only beside a video (MXF) or at some rates only. The try's context is marked (opaque =
 * KN_PROBE_TAG) so that the CLI's log keeps the muxer's complaints quiet: a refusal is an answer. */
static int header_takes(const AVFormatContext *out, const AVCodecParameters *par) {
    if (!stored_faithfully(out->oformat, par)) return 0;
    AVFormatContext *oc = NULL;
    if (avformat_alloc_output_context2(&oc, out->oformat, NULL, NULL) < 0) return 0;
    oc->opaque = (void *)KN_PROBE_TAG;
    int ok = 1;
    for (unsigned i = 0; ok && i < out->nb_streams; i++) {
        const AVStream *s = out->streams[i];
        ok = kn_stream_copy_add(oc, s->codecpar, s->time_base.num, s->time_base.den) != NULL;
    }
    ok = ok && kn_stream_copy_add(oc, par, 1, par->sample_rate > 0 ? par->sample_rate : 48000) &&
         avio_open_dyn_buf(&oc->pb) >= 0;
    if (ok) {
        ok = avformat_write_header(oc, NULL) >= 0;
        uint8_t *buf = NULL;
        avio_close_dyn_buf(oc->pb, &buf);
        av_free(buf);
        oc->pb = NULL;
    }
    avformat_free_context(oc);
    return ok;
}

int kn_muxer_takes(const AVFormatContext *out, const AVCodecParameters *par) {
    /* a table's yes is tried too: MP4 writes FLAC only as an experiment, QuickTime no Opus, and the
     * header then failed the whole run; without a table (MPEG-TS, Ogg) the try is all there is */
    return avformat_query_codec(out->oformat, par->codec_id, FF_COMPLIANCE_NORMAL) != 0 && header_takes(out, par);
}

const char KN_PROBE_TAG[] = "kinora: header probe";

void kn_audio_encode_close(kn_audio_encode *ae) {
    if (!ae) return;
    avcodec_free_context(&ae->dec);
    avcodec_free_context(&ae->enc);
    swr_free(&ae->swr);
    av_channel_layout_uninit(&ae->swr_layout);
    if (ae->fifo) av_audio_fifo_free(ae->fifo);
    if (ae->buf) av_freep(&ae->buf[0]);
    av_freep(&ae->buf);
    av_frame_free(&ae->dframe);
    av_frame_free(&ae->eframe);
    av_packet_free(&ae->pkt);
    free(ae);
}

/* The encoder's settings closest to the input's: its own sample format where the encoder takes it,
 * the input's rate (or `rate` when not 0) or the nearest one above it that the encoder takes, its
 * channel layout or else stereo (mono for a mono input); with `stereo`, stereo whatever the input's. */
static void choose_format(const AVCodec *codec, const AVCodecParameters *par, int rate, int stereo,
                          AVCodecContext *enc) {
    enc->sample_fmt = codec->sample_fmts ? codec->sample_fmts[0] : (enum AVSampleFormat)par->format;
    for (const enum AVSampleFormat *f = codec->sample_fmts; f && *f != AV_SAMPLE_FMT_NONE; f++)
        if (*f == par->format) enc->sample_fmt = *f;
    if (!rate) rate = par->sample_rate > 0 ? par->sample_rate : 48000;
    int above = 0, below = 0;
    for (const int *r = codec->supported_samplerates; r && *r; r++) {
        if (*r == rate) { above = rate; break; }
        if (*r > rate && (!above || *r < above)) above = *r;
        if (*r < rate && *r > below) below = *r;
    }
    enc->sample_rate = codec->supported_samplerates ? (above ? above : below) : rate;
    int nch = par->ch_layout.nb_channels > 0 ? par->ch_layout.nb_channels : 2;
    AVChannelLayout want = {0};   /* zeroed: av_channel_layout_copy first uninits its destination */
    if (stereo) av_channel_layout_default(&want, 2);
    else if (par->ch_layout.order == AV_CHANNEL_ORDER_NATIVE) av_channel_layout_copy(&want, &par->ch_layout);
    else av_channel_layout_default(&want, nch);
    if (codec->ch_layouts) {
        const AVChannelLayout *pick = NULL, *fallback = NULL;
        AVChannelLayout two = {0};
        av_channel_layout_default(&two, nch >= 2 ? 2 : 1);
        for (const AVChannelLayout *l = codec->ch_layouts; l->nb_channels; l++) {
            if (!av_channel_layout_compare(l, &want)) pick = l;
            if (!fallback && !av_channel_layout_compare(l, &two)) fallback = l;
        }
        if (!pick) pick = fallback ? fallback : &codec->ch_layouts[0];
        av_channel_layout_uninit(&want);
        av_channel_layout_copy(&want, pick);
    }
    av_channel_layout_uninit(&enc->ch_layout);
    enc->ch_layout = want;
}

/* The layout the resampler reads a stream of layout l in: l, or the usual one for its count of
 * channels where l names none (into *in, zeroed by the caller). */
static int input_layout(const AVChannelLayout *l, AVChannelLayout *in) {
    if (l->order == AV_CHANNEL_ORDER_UNSPEC) {
        av_channel_layout_default(in, l->nb_channels);
        return 0;
    }
    return av_channel_layout_copy(in, l);
}

/* Whether libswresample converts par's sound to enc's format: it knows no matrix for some layouts
 * (10 channels with both back and side pairs), and finding that at the first frame would fail the
 * whole run instead of the sound alone. */
static int resampler_takes(const AVCodecParameters *par, const AVCodecContext *enc) {
    AVChannelLayout in = {0}, out = {0};   /* FFmpeg 5.1 takes the layouts as non-const */
    SwrContext *swr = NULL;
    int r = input_layout(&par->ch_layout, &in);
    if (r >= 0) r = av_channel_layout_copy(&out, &enc->ch_layout);
    if (r >= 0)
        r = swr_alloc_set_opts2(&swr, &out, enc->sample_fmt, enc->sample_rate, &in, par->format,
                                par->sample_rate > 0 ? par->sample_rate : enc->sample_rate, 0, NULL);
    if (r >= 0) r = swr_init(swr);
    swr_free(&swr);
    av_channel_layout_uninit(&in);
    av_channel_layout_uninit(&out);
    return r >= 0;
}

/* The rates tried, in order, where the container refuses the input's: broadcast formats (MXF) take
 * 48 kHz only, Flash (SWF) 44.1 kHz and its halves. */
static const int fallback_rates[] = {48000, 44100, 32000, 22050, 16000, 11025, 8000};

/* Opens ae->enc (allocated, not open) at rate (0: the input's), in stereo or not, and asks the
 * resampler and the container; NULL when all take it, else what failed, with FFmpeg's code in *r (0
 * where the container refused). */
static const char *open_encoder(kn_audio_encode *ae, const AVCodec *ecodec, const AVCodecParameters *par, int rate,
                                int stereo, int *r) {
    choose_format(ecodec, par, rate, stereo, ae->enc);
    ae->enc->time_base = (AVRational){1, ae->enc->sample_rate};
    if (ae->out->oformat->flags & AVFMT_GLOBALHEADER) ae->enc->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
    if ((*r = avcodec_open2(ae->enc, ecodec, NULL)) < 0) return "the encoder would not take it";
    if (!resampler_takes(par, ae->enc)) {
        *r = AVERROR(EINVAL);
        return "its channels cannot be resampled to the encoder's";
    }
    AVCodecParameters *made = avcodec_parameters_alloc();
    if (!made || (*r = avcodec_parameters_from_context(made, ae->enc)) < 0) {
        avcodec_parameters_free(&made);
        *r = AVERROR(ENOMEM);
        return "out of memory";
    }
    int takes = header_takes(ae->out, made);   /* the rate matters too (MXF: 48 kHz only) */
    avcodec_parameters_free(&made);
    *r = 0;
    return takes ? NULL : "the container would not take the encoder's output";
}

/* Opens ae's decoder for par and its encoder (ecodec) in the settings closest to par's: at the
 * input's rate or else the first of fallback_rates the container takes, in the input's channels or,
 * where the encoder refuses them (Opus takes at most 8), in stereo. NULL when both are open and the
 * container takes the encoder's output, else what failed last, with FFmpeg's code in *r (0 where the
 * container refused). */
static const char *open_codecs(kn_audio_encode *ae, const AVCodec *dcodec, const AVCodec *ecodec,
                               const AVCodecParameters *par, int *r) {
    *r = avcodec_parameters_to_context(ae->dec, par);
    ae->dec->pkt_timebase = ae->in_tb;
    if (*r >= 0) *r = avcodec_open2(ae->dec, dcodec, NULL);
    if (*r < 0) return "its decoder would not open";
    const char *failed = NULL;
    int nrates = (int)(sizeof fallback_rates / sizeof *fallback_rates);
    for (int stereo = 0; stereo < 2; stereo++) {
        if (stereo && par->ch_layout.nb_channels <= 2) break;
        for (int i = -1; i < nrates; i++) {   /* -1: the input's own rate */
            if (i >= 0 && fallback_rates[i] == par->sample_rate) continue;
            if (failed) {   /* a fresh encoder for the next try */
                avcodec_free_context(&ae->enc);
                if (!(ae->enc = avcodec_alloc_context3(ecodec))) {
                    *r = AVERROR(ENOMEM);
                    return "out of memory";
                }
            }
            failed = open_encoder(ae, ecodec, par, i < 0 ? 0 : fallback_rates[i], stereo, r);
            if (!failed || *r == AVERROR(ENOMEM)) return failed;
            if (*r < 0) break;   /* the encoder or the resampler refused: another rate will not help */
        }
    }
    return failed;
}

kn_status kn_audio_encode_open(const char *path, const AVCodecParameters *par, int tb_num, int tb_den,
                               int64_t start, AVFormatContext *out, kn_audio_encode **aep, char *why,
                               size_t why_cap, kn_error *err) {
    *aep = NULL;
    enum AVCodecID id = out->oformat->audio_codec;
    const AVCodec *dcodec = avcodec_find_decoder(par->codec_id);
    const AVCodec *ecodec = id != AV_CODEC_ID_NONE ? avcodec_find_encoder(id) : NULL;
    if (id == AV_CODEC_ID_NONE || !ecodec || !dcodec) {
        snprintf(why, why_cap, "%s holds no %s audio and %s, so the sound was left out", out->oformat->name,
                 avcodec_get_name(par->codec_id),
                 id == AV_CODEC_ID_NONE ? "names no audio codec of its own"
                 : !ecodec ? "FFmpeg here has no encoder for its own audio codec"
                           : "FFmpeg here cannot decode the input's");
        return KN_OK;
    }
    kn_audio_encode *ae = calloc(1, sizeof *ae);
    if (!ae) return kn_fail(err, KN_ENOMEM, "%s: out of memory", path);
    ae->path = path;
    ae->out = out;
    ae->in_tb = (AVRational){tb_num, tb_den};
    ae->start = start;
    ae->next_pts = -1;
    ae->swr_fmt = -1;
    ae->dec = avcodec_alloc_context3(dcodec);
    ae->enc = avcodec_alloc_context3(ecodec);
    ae->dframe = av_frame_alloc();
    ae->eframe = av_frame_alloc();
    ae->pkt = av_packet_alloc();
    if (!ae->dec || !ae->enc || !ae->dframe || !ae->eframe || !ae->pkt) {
        kn_audio_encode_close(ae);
        return kn_fail(err, KN_ENOMEM, "%s: out of memory", path);
    }
    int r = 0;
    const char *failed = open_codecs(ae, dcodec, ecodec, par, &r);
    if (failed) {   /* a sound FFmpeg cannot convert costs the sound, not the video */
        kn_audio_encode_close(ae);
        if (r == AVERROR(ENOMEM)) return kn_fail(err, KN_ENOMEM, "%s: out of memory", path);
        char msg[AV_ERROR_MAX_STRING_SIZE] = {0};
        if (r < 0) av_strerror(r, msg, sizeof msg);
        snprintf(why, why_cap, "%s holds no %s audio and re-encoding it as %s failed (%s%s%s), so the sound was "
                 "left out", out->oformat->name, avcodec_get_name(par->codec_id), ecodec->name, failed,
                 r < 0 ? ": " : "", msg);
        return KN_OK;
    }
    int variable = ecodec->capabilities & AV_CODEC_CAP_VARIABLE_FRAME_SIZE;
    ae->frame_size = ae->enc->frame_size > 0 && !variable ? ae->enc->frame_size : 1024;
    ae->st = avformat_new_stream(out, NULL);
    ae->fifo = av_audio_fifo_alloc(ae->enc->sample_fmt, ae->enc->ch_layout.nb_channels, 2 * ae->frame_size);
    if (!ae->st || !ae->fifo) { kn_audio_encode_close(ae); return kn_fail(err, KN_ENOMEM, "%s: out of memory", path); }
    r = avcodec_parameters_from_context(ae->st->codecpar, ae->enc);
    if (r < 0) { kn_audio_encode_close(ae); return av_fail(err, path, "encoder parameters", r); }
    ae->st->time_base = ae->enc->time_base;
    if (par->sample_rate > 0 && ae->enc->sample_rate != par->sample_rate)
        snprintf(why, why_cap, "%s holds no %s audio at %d Hz, so the sound was re-encoded as %s at %d Hz",
                 out->oformat->name, avcodec_get_name(par->codec_id), par->sample_rate, ecodec->name,
                 ae->enc->sample_rate);
    else
        snprintf(why, why_cap, "%s holds no %s audio, so the sound was re-encoded as %s", out->oformat->name,
                 avcodec_get_name(par->codec_id), ecodec->name);
    *aep = ae;
    return KN_OK;
}

/* Writes every packet the encoder has ready. */
static kn_status write_ready(kn_audio_encode *ae, kn_error *err) {
    for (;;) {
        int r = avcodec_receive_packet(ae->enc, ae->pkt);
        if (r == AVERROR(EAGAIN) || r == AVERROR_EOF) return KN_OK;
        if (r < 0) return av_fail(err, ae->path, "encoding its sound failed", r);
        av_packet_rescale_ts(ae->pkt, ae->enc->time_base, ae->st->time_base);
        ae->pkt->stream_index = ae->st->index;
        r = av_interleaved_write_frame(ae->out, ae->pkt);   /* takes the packet's data */
        if (r < 0) return av_fail(err, ae->path, "writing its sound failed", r);
    }
}

/* Encodes whole frames from the fifo; at the end (last) also what is left, padded with silence
 * where the encoder takes only whole frames. */
static kn_status encode_fifo(kn_audio_encode *ae, int last, kn_error *err) {
    int small_last = ae->enc->codec->capabilities & (AV_CODEC_CAP_SMALL_LAST_FRAME | AV_CODEC_CAP_VARIABLE_FRAME_SIZE);
    while (av_audio_fifo_size(ae->fifo) >= ae->frame_size || (last && av_audio_fifo_size(ae->fifo) > 0)) {
        int n = FFMIN(av_audio_fifo_size(ae->fifo), ae->frame_size);
        AVFrame *f = ae->eframe;
        av_frame_unref(f);
        f->format = ae->enc->sample_fmt;
        f->sample_rate = ae->enc->sample_rate;
        f->nb_samples = small_last ? n : ae->frame_size;
        int r = av_channel_layout_copy(&f->ch_layout, &ae->enc->ch_layout);
        if (r >= 0) r = av_frame_get_buffer(f, 0);
        if (r < 0) return av_fail(err, ae->path, "sound frame buffer", r);
        /* extended_data: a planar sound of more than 8 channels has more planes than data holds */
        if (av_audio_fifo_read(ae->fifo, (void **)f->extended_data, n) != n)
            return kn_fail(err, KN_EIO, "%s: the resampled sound went missing", ae->path);
        if (n < f->nb_samples)
            av_samples_set_silence(f->extended_data, n, f->nb_samples - n, f->ch_layout.nb_channels, f->format);
        f->pts = ae->next_pts;
        ae->next_pts += f->nb_samples;
        r = avcodec_send_frame(ae->enc, f);
        if (r < 0) return av_fail(err, ae->path, "encoding its sound failed", r);
        kn_status st = write_ready(ae, err);
        if (st) return st;
    }
    return KN_OK;
}

/* Resamples n samples of in (NULL, 0: what the resampler still holds) into the fifo. */
static kn_status resample(kn_audio_encode *ae, const uint8_t **in, int n, kn_error *err) {
    int cap = swr_get_out_samples(ae->swr, n);
    if (cap < 0) return av_fail(err, ae->path, "resampling its sound failed", cap);
    if (cap > ae->buf_cap) {
        if (ae->buf) av_freep(&ae->buf[0]);
        av_freep(&ae->buf);
        ae->buf_cap = 0;
        int r = av_samples_alloc_array_and_samples(&ae->buf, NULL, ae->enc->ch_layout.nb_channels, cap,
                                                   ae->enc->sample_fmt, 0);
        if (r < 0) return av_fail(err, ae->path, "resampling its sound failed", r);
        ae->buf_cap = cap;
    }
    int got = swr_convert(ae->swr, ae->buf, ae->buf_cap, in, n);
    if (got < 0) return av_fail(err, ae->path, "resampling its sound failed", got);
    if (got > 0 && av_audio_fifo_write(ae->fifo, (void **)ae->buf, got) != got)
        return kn_fail(err, KN_ENOMEM, "%s: out of memory resampling its sound", ae->path);
    return KN_OK;
}

/* A resampler from frame f's format to the encoder's; a change of format midway flushes the old one
 * first. The first frame also sets where the output starts: its samples before output time 0 are
 * dropped, and a first frame after time 0 starts the sound that late. */
static kn_status setup_swr(kn_audio_encode *ae, const AVFrame *f, kn_error *err) {
    if (ae->swr && f->format == ae->swr_fmt && f->sample_rate == ae->swr_rate &&
        !av_channel_layout_compare(&f->ch_layout, &ae->swr_layout))
        return KN_OK;
    kn_status st = ae->swr ? resample(ae, NULL, 0, err) : KN_OK;
    if (st) return st;
    swr_free(&ae->swr);
    av_channel_layout_uninit(&ae->swr_layout);
    AVChannelLayout in = {0};   /* zeroed: av_channel_layout_copy first uninits its destination */
    int r = input_layout(&f->ch_layout, &in);
    if (r >= 0)
        r = swr_alloc_set_opts2(&ae->swr, &ae->enc->ch_layout, ae->enc->sample_fmt, ae->enc->sample_rate, &in,
                                f->format, f->sample_rate, 0, NULL);
    av_channel_layout_uninit(&in);
    if (r >= 0) r = swr_init(ae->swr);
    if (r >= 0) r = av_channel_layout_copy(&ae->swr_layout, &f->ch_layout);
    if (r < 0) return av_fail(err, ae->path, "cannot resample its sound", r);
    ae->swr_fmt = f->format;
    ae->swr_rate = f->sample_rate;
    if (ae->next_pts < 0) {
        int64_t ts = f->best_effort_timestamp != AV_NOPTS_VALUE ? f->best_effort_timestamp : ae->start;
        double at = (double)(ts - ae->start) * av_q2d(ae->in_tb);   /* seconds after output time 0 */
        int64_t s = llround(at * ae->enc->sample_rate);
        ae->next_pts = s > 0 ? s : 0;
        if (s < 0 && (r = swr_drop_output(ae->swr, (int)FFMIN(-s, INT_MAX))) < 0)
            return av_fail(err, ae->path, "cannot cut its sound", r);
    }
    return KN_OK;
}

/* Resamples every frame the decoder has ready into the fifo and encodes the whole frames. */
static kn_status decode_ready(kn_audio_encode *ae, kn_error *err) {
    for (;;) {
        int r = avcodec_receive_frame(ae->dec, ae->dframe);
        if (r == AVERROR(EAGAIN) || r == AVERROR_EOF) return KN_OK;
        if (r < 0) return av_fail(err, ae->path, "decoding its sound failed", r);
        kn_status st = setup_swr(ae, ae->dframe, err);
        if (!st) st = resample(ae, (const uint8_t **)ae->dframe->extended_data, ae->dframe->nb_samples, err);
        av_frame_unref(ae->dframe);
        if (!st) st = encode_fifo(ae, 0, err);
        if (st) return st;
    }
}

double kn_audio_encode_lead(const kn_audio_encode *ae) {
    const AVCodecContext *c = ae->enc;
    return c->initial_padding > 0 && c->sample_rate > 0 ? (double)c->initial_padding / c->sample_rate : 0;
}

kn_status kn_audio_encode_push(kn_audio_encode *ae, const AVPacket *p, kn_error *err) {
    int r = avcodec_send_packet(ae->dec, p);
    /* a damaged packet is skipped, as players do; the decoder goes on with the next */
    if (r < 0 && r != AVERROR_INVALIDDATA) return av_fail(err, ae->path, "decoding its sound failed", r);
    return decode_ready(ae, err);
}

kn_status kn_audio_encode_finish(kn_audio_encode *ae, kn_error *err) {
    int r = avcodec_send_packet(ae->dec, NULL);
    if (r < 0 && r != AVERROR_EOF) return av_fail(err, ae->path, "decoding its sound failed", r);
    kn_status st = decode_ready(ae, err);
    if (!st && ae->swr) st = resample(ae, NULL, 0, err);
    if (!st) st = encode_fifo(ae, 1, err);
    if (st) return st;
    r = avcodec_send_frame(ae->enc, NULL);
    if (r < 0 && r != AVERROR_EOF) return av_fail(err, ae->path, "encoding its sound failed", r);
    return write_ready(ae, err);
}
