/* SPDX-License-Identifier: Apache-2.0
 *
 * engine/audio_decode.c: FFmpeg over an in-memory buffer -> 16 kHz mono
 * float32 (see audio.h for the contract and the allow-lists' rationale).
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <pthread.h>
#include <string.h>

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/channel_layout.h>
#include <libavutil/error.h>
#include <libavutil/log.h>
#include <libavutil/mem.h>
#include <libavutil/opt.h>
#include <libswresample/swresample.h>

#include "core/alloc.h"
#include "core/err.h"
#include "engine/audio.h"

#define AUDIO_IO_BUF 32768
#define AUDIO_MAX_BAD_PACKETS 32
#define AUDIO_MAX_CHANNELS 16
#define AUDIO_MAX_RATE 768000

/* Demuxers (FFmpeg's names; a demuxer matches when one of its comma-separated
 * names is listed) for flac, mp3/mpga, mp4/m4a, mpeg, ogg, wav, webm. */
static const char kFormats[] = "wav,flac,mp3,mov,mp4,m4a,ogg,matroska,webm,mpeg,mpegts,aac";

/* Decoders for the audio those containers carry. */
static const enum AVCodecID kCodecs[] = {
    AV_CODEC_ID_PCM_S16LE, AV_CODEC_ID_PCM_S16BE, AV_CODEC_ID_PCM_S24LE, AV_CODEC_ID_PCM_S32LE,
    AV_CODEC_ID_PCM_F32LE, AV_CODEC_ID_PCM_F64LE, AV_CODEC_ID_PCM_U8,    AV_CODEC_ID_PCM_S8,
    AV_CODEC_ID_PCM_MULAW, AV_CODEC_ID_PCM_ALAW,  AV_CODEC_ID_FLAC,      AV_CODEC_ID_MP3,
    AV_CODEC_ID_MP2,       AV_CODEC_ID_MP1,       AV_CODEC_ID_AAC,       AV_CODEC_ID_ALAC,
    AV_CODEC_ID_VORBIS,    AV_CODEC_ID_OPUS,      AV_CODEC_ID_AC3,       AV_CODEC_ID_EAC3,
};

typedef struct mem_reader {
  const uint8_t *data;
  size_t len, pos;
} mem_reader;

static int mem_read(void *opaque, uint8_t *dst, int n) {
  mem_reader *r = opaque;
  size_t left = r->len - r->pos;
  if (left == 0) return AVERROR_EOF;
  size_t take = (size_t)n < left ? (size_t)n : left;
  memcpy(dst, r->data + r->pos, take);
  r->pos += take;
  return (int)take;
}

static int64_t mem_seek(void *opaque, int64_t off, int whence) {
  mem_reader *r = opaque;
  int64_t base;
  switch (whence & ~AVSEEK_FORCE) {
    case AVSEEK_SIZE:
      return (int64_t)r->len;
    case SEEK_SET:
      base = 0;
      break;
    case SEEK_CUR:
      base = (int64_t)r->pos;
      break;
    case SEEK_END:
      base = (int64_t)r->len;
      break;
    default:
      return AVERROR(EINVAL);
  }
  if (off > INT64_MAX - base && off > 0) return AVERROR(EINVAL);
  int64_t to = base + off;
  if (to < 0 || to > (int64_t)r->len) return AVERROR(EINVAL);
  r->pos = (size_t)to;
  return to;
}

static const char *av_err(int rc) {
  switch (rc) {
    case AVERROR_INVALIDDATA:
      return "invalid data";
    case AVERROR_EOF:
      return "truncated";
    default:
      return "read error";
  }
}

static void quiet_ffmpeg(void) {
  av_log_set_level(AV_LOG_QUIET);
}

audio_limits audio_limits_default(void) {
  audio_limits l = {AUDIO_DEFAULT_MAX_BYTES, AUDIO_DEFAULT_MAX_SECONDS};
  return l;
}

static int codec_allowed(enum AVCodecID id) {
  for (size_t i = 0; i < sizeof kCodecs / sizeof kCodecs[0]; i++)
    if (kCodecs[i] == id) return 1;
  return 0;
}

typedef struct decode_state {
  AVIOContext *io;
  AVFormatContext *fmt;
  AVCodecContext *dec;
  SwrContext *swr;
  AVPacket *pkt;
  AVFrame *frame;
  int in_rate, in_ch, in_fmt; /* what swr was set up for (frames may differ) */
  float *pcm;
  size_t n, cap, max_n;
  bool count_only; /* audio_measure: pcm is scratch, n counts every sample */
  char *err;
} decode_state;

/* Appends up to `in_n` resampled samples (in may be NULL: flush). */
static int push_samples(decode_state *s, const uint8_t **in, int in_n) {
  int room = swr_get_out_samples(s->swr, in_n);
  if (room < 0) return err_set(s->err, GLOAM_EFORMAT, "audio: resampler failed");
  size_t base = s->count_only ? 0 : s->n, need = base + (size_t)room;
  if (need > s->cap) {
    size_t cap = s->cap ? s->cap : 16000;
    while (cap < need) cap *= 2;
    float *p = mem_reallocarray(s->pcm, cap, sizeof(float));
    if (!p) return err_set(s->err, GLOAM_ENOMEM, "audio: out of memory");
    s->pcm = p;
    s->cap = cap;
  }
  uint8_t *out = (uint8_t *)(s->pcm + base);
  int got = swr_convert(s->swr, &out, room, in, in_n);
  if (got < 0) return err_set(s->err, GLOAM_EFORMAT, "audio: resampling failed");
  s->n += (size_t)got;
  if (s->n > s->max_n)
    return err_set(s->err, GLOAM_ETOOBIG, "audio: longer than the limit of %.0f s",
                   (double)s->max_n / AUDIO_SAMPLE_RATE);
  return 0;
}

/* (Re)configures the resampler for frame's format. Decoders may change the
 * rate, layout or format midway (and the codec context then describes the
 * newest frame, not what swr was set up for), so every frame is checked
 * against what swr was built for; on a change the old one is flushed. */
static int setup_resampler(decode_state *s, const AVFrame *f) {
  int ch = f->ch_layout.nb_channels;
  if (ch < 1 || ch > AUDIO_MAX_CHANNELS || f->sample_rate < 1 || f->sample_rate > AUDIO_MAX_RATE ||
      f->format < 0 || f->nb_samples < 0)
    return err_set(s->err, GLOAM_EFORMAT, "audio: bad channel count or sample rate");
  if (s->swr && f->sample_rate == s->in_rate && ch == s->in_ch && f->format == s->in_fmt) return 0;
  int rc;
  if (s->swr && (rc = push_samples(s, NULL, 0)) < 0) return rc;
  swr_free(&s->swr);
  AVChannelLayout in_layout = {0}, mono = AV_CHANNEL_LAYOUT_MONO; /* copy() uninits dst first */
  if (f->ch_layout.order == AV_CHANNEL_ORDER_UNSPEC)
    av_channel_layout_default(&in_layout, ch);
  else if (av_channel_layout_copy(&in_layout, &f->ch_layout) < 0)
    return err_set(s->err, GLOAM_ENOMEM, "audio: out of memory");
  rc = swr_alloc_set_opts2(&s->swr, &mono, AV_SAMPLE_FMT_FLT, AUDIO_SAMPLE_RATE, &in_layout,
                           (enum AVSampleFormat)f->format, f->sample_rate, 0, NULL);
  av_channel_layout_uninit(&in_layout);
  if (rc < 0 || swr_init(s->swr) < 0)
    return err_set(s->err, GLOAM_EUNSUPPORTED, "audio: cannot convert this sample format");
  s->in_rate = f->sample_rate;
  s->in_ch = ch;
  s->in_fmt = f->format;
  return 0;
}

static int drain_frames(decode_state *s, int *bad) {
  for (;;) {
    int rc = avcodec_receive_frame(s->dec, s->frame);
    if (rc == AVERROR(EAGAIN) || rc == AVERROR_EOF) return 0;
    if (rc == AVERROR_INVALIDDATA) {
      if (++*bad > AUDIO_MAX_BAD_PACKETS)
        return err_set(s->err, GLOAM_EFORMAT, "audio: too many corrupt frames");
      continue;
    }
    if (rc < 0) return err_set(s->err, GLOAM_EFORMAT, "audio: decoding failed");
    if ((rc = setup_resampler(s, s->frame)) < 0) {
      av_frame_unref(s->frame);
      return rc;
    }
    rc = push_samples(s, (const uint8_t **)s->frame->extended_data, s->frame->nb_samples);
    av_frame_unref(s->frame);
    if (rc < 0) return rc;
  }
}

static int open_input(decode_state *s, mem_reader *r, int *stream) {
  uint8_t *iobuf = av_malloc(AUDIO_IO_BUF);
  if (!iobuf) return err_set(s->err, GLOAM_ENOMEM, "audio: out of memory");
  s->io = avio_alloc_context(iobuf, AUDIO_IO_BUF, 0, r, mem_read, NULL, mem_seek);
  if (!s->io) {
    av_free(iobuf);
    return err_set(s->err, GLOAM_ENOMEM, "audio: out of memory");
  }
  s->fmt = avformat_alloc_context();
  if (!s->fmt) return err_set(s->err, GLOAM_ENOMEM, "audio: out of memory");
  s->fmt->pb = s->io;
  s->fmt->flags |= AVFMT_FLAG_CUSTOM_IO;
  s->fmt->format_whitelist = av_strdup(kFormats);
  s->fmt->protocol_whitelist = av_strdup("none");
  if (!s->fmt->format_whitelist || !s->fmt->protocol_whitelist)
    return err_set(s->err, GLOAM_ENOMEM, "audio: out of memory");
  int rc = avformat_open_input(&s->fmt, NULL, NULL, NULL);
  if (rc < 0) { /* frees and NULLs fmt */
    /* AVERROR(EINVAL): the probe found a container outside the allow-list */
    if (rc == AVERROR(EINVAL))
      return err_set(s->err, GLOAM_EUNSUPPORTED,
                     "audio: unsupported container (use flac, mp3, mp4, m4a, mpeg, mpga, ogg, "
                     "wav or webm)");
    return err_set(s->err, GLOAM_EFORMAT, "audio: not a readable audio file (%s)", av_err(rc));
  }
  if (avformat_find_stream_info(s->fmt, NULL) < 0)
    return err_set(s->err, GLOAM_EFORMAT, "audio: cannot read stream information");
  *stream = av_find_best_stream(s->fmt, AVMEDIA_TYPE_AUDIO, -1, -1, NULL, 0);
  if (*stream < 0) return err_set(s->err, GLOAM_EFORMAT, "audio: the file has no audio stream");
  return 0;
}

static int open_decoder(decode_state *s, const AVStream *st) {
  const AVCodecParameters *par = st->codecpar;
  if (!codec_allowed(par->codec_id))
    return err_set(s->err, GLOAM_EUNSUPPORTED, "audio: codec %s is not supported",
                   avcodec_get_name(par->codec_id));
  const AVCodec *codec = avcodec_find_decoder(par->codec_id);
  if (!codec)
    return err_set(s->err, GLOAM_EUNSUPPORTED, "audio: no decoder for %s",
                   avcodec_get_name(par->codec_id));
  s->dec = avcodec_alloc_context3(codec);
  if (!s->dec) return err_set(s->err, GLOAM_ENOMEM, "audio: out of memory");
  if (avcodec_parameters_to_context(s->dec, par) < 0)
    return err_set(s->err, GLOAM_EFORMAT, "audio: bad codec parameters");
  if (avcodec_open2(s->dec, codec, NULL) < 0)
    return err_set(s->err, GLOAM_EFORMAT, "audio: cannot open the %s decoder", codec->name);
  return 0; /* the resampler is set up from the first decoded frame */
}

static int decode_all(decode_state *s, int stream) {
  int bad = 0, rc;
  while ((rc = av_read_frame(s->fmt, s->pkt)) >= 0) {
    if (s->pkt->stream_index == stream) {
      rc = avcodec_send_packet(s->dec, s->pkt);
      if (rc == AVERROR_INVALIDDATA) {
        if (++bad > AUDIO_MAX_BAD_PACKETS) {
          av_packet_unref(s->pkt);
          return err_set(s->err, GLOAM_EFORMAT, "audio: too many corrupt packets");
        }
      } else if (rc < 0 && rc != AVERROR(EAGAIN)) {
        av_packet_unref(s->pkt);
        return err_set(s->err, GLOAM_EFORMAT, "audio: decoding failed");
      }
    }
    av_packet_unref(s->pkt);
    if ((rc = drain_frames(s, &bad)) < 0) return rc;
  }
  if (rc != AVERROR_EOF && rc != AVERROR_INVALIDDATA)
    return err_set(s->err, GLOAM_EFORMAT, "audio: reading the container failed");
  avcodec_send_packet(s->dec, NULL); /* flush */
  if ((rc = drain_frames(s, &bad)) < 0) return rc;
  return s->swr ? push_samples(s, NULL, 0) : 0;
}

static int decode(const uint8_t *data, size_t len, const audio_limits *lim, bool count_only,
                  float **out_pcm, size_t *out_n, char *err) {
  static pthread_once_t once = PTHREAD_ONCE_INIT;
  audio_limits l = lim ? *lim : audio_limits_default();
  if (l.max_bytes == 0) l.max_bytes = AUDIO_DEFAULT_MAX_BYTES;
  if (l.max_seconds <= 0) l.max_seconds = AUDIO_DEFAULT_MAX_SECONDS;
  if (len > l.max_bytes || len > INT_MAX)
    return err_set(err, GLOAM_ETOOBIG, "audio: %zu bytes exceeds the limit of %zu", len,
                   l.max_bytes);
  if (len == 0) return err_set(err, GLOAM_EFORMAT, "audio: empty file");
  pthread_once(&once, quiet_ffmpeg);

  mem_reader r = {data, len, 0};
  decode_state s = {0};
  s.err = err;
  s.count_only = count_only;
  s.max_n = (size_t)(l.max_seconds * AUDIO_SAMPLE_RATE);
  int stream = -1, rc;
  s.pkt = av_packet_alloc();
  s.frame = av_frame_alloc();
  if (!s.pkt || !s.frame) {
    rc = err_set(err, GLOAM_ENOMEM, "audio: out of memory");
    goto fail;
  }
  if ((rc = open_input(&s, &r, &stream)) < 0) goto fail;
  if ((rc = open_decoder(&s, s.fmt->streams[stream])) < 0) goto fail;
  if ((rc = decode_all(&s, stream)) < 0) goto fail;
  if (s.n == 0) {
    rc = err_set(err, GLOAM_EFORMAT, "audio: no audio could be decoded");
    goto fail;
  }
  *out_n = s.n;
  rc = 0;
  if (count_only) goto fail;       /* only the count is wanted */
  for (size_t i = 0; i < s.n; i++) /* float codecs can carry NaN/inf: never pass them on */
    if (!isfinite(s.pcm[i])) s.pcm[i] = 0.0f;
  *out_pcm = s.pcm;
  s.pcm = NULL;
fail:
  mem_free(s.pcm);
  swr_free(&s.swr);
  avcodec_free_context(&s.dec);
  if (s.fmt) avformat_close_input(&s.fmt);
  if (s.io) {
    av_freep(&s.io->buffer);
    avio_context_free(&s.io);
  }
  av_packet_free(&s.pkt);
  av_frame_free(&s.frame);
  return rc;
}

int audio_decode(const uint8_t *data, size_t len, const audio_limits *lim, float **out_pcm,
                 size_t *out_n, char *err) {
  if (out_pcm) *out_pcm = NULL;
  if (out_n) *out_n = 0;
  if (!data || !out_pcm || !out_n) return err_set(err, GLOAM_EINVAL, "audio: NULL argument");
  return decode(data, len, lim, false, out_pcm, out_n, err);
}

int audio_measure(const uint8_t *data, size_t len, const audio_limits *lim, size_t *out_n,
                  char *err) {
  if (out_n) *out_n = 0;
  if (!data || !out_n) return err_set(err, GLOAM_EINVAL, "audio: NULL argument");
  return decode(data, len, lim, true, NULL, out_n, err);
}

int audio_measure_ms(const uint8_t *data, size_t len, const audio_limits *lim, uint32_t *out_ms,
                     char *err) {
  audio_limits l = lim ? *lim : audio_limits_default();
  if (l.max_bytes == 0) l.max_bytes = len;
  size_t n = 0;
  *out_ms = 0;
  int rc = audio_measure(data, len, &l, &n, err);
  if (rc < 0) return rc;
  uint64_t ms = ((uint64_t)n * 1000 + AUDIO_SAMPLE_RATE - 1) / AUDIO_SAMPLE_RATE;
  if (ms > UINT32_MAX) return err_set(err, GLOAM_ETOOBIG, "audio: too long");
  *out_ms = ms < 1 ? 1 : (uint32_t)ms;
  return 0;
}
