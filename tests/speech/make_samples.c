/* SPDX-License-Identifier: Apache-2.0
 *
 * tests/speech/make_samples.c: makes the committed encoded samples in
 * tests/speech/samples/ (not part of the build; run once, by hand) from the
 * first 2 s of tests/fixtures/models/whisper/speech16k.wav, with FFmpeg's
 * own encoders and muxers (the machine has the libraries but no ffmpeg CLI):
 *
 *   cc -O1 -o /tmp/make_samples tests/speech/make_samples.c \
 *      $(pkg-config --cflags --libs libavformat libavcodec libavutil)
 *   /tmp/make_samples tests/fixtures/models/whisper/speech16k.wav tests/speech/samples
 *
 * The decoder test compares what gloam decodes from each against the wav.
 */
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/channel_layout.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N_SAMPLES 32000

static int16_t pcm[N_SAMPLES];

static int load_wav(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return -1;
  unsigned char hdr[44];
  if (fread(hdr, 1, 44, f) != 44 || fread(pcm, 2, N_SAMPLES, f) != N_SAMPLES) {
    fclose(f);
    return -1;
  }
  fclose(f);
  return 0;
}

static void fill(AVFrame *fr, int from, int n) {
  for (int i = 0; i < fr->nb_samples; i++) {
    int16_t v = i < n ? pcm[from + i] : 0;
    switch (fr->format) {
      case AV_SAMPLE_FMT_S16:
      case AV_SAMPLE_FMT_S16P:
        ((int16_t *)fr->data[0])[i] = v;
        break;
      case AV_SAMPLE_FMT_S32:
      case AV_SAMPLE_FMT_S32P:
        ((int32_t *)fr->data[0])[i] = (int32_t)v * 65536;
        break;
      case AV_SAMPLE_FMT_FLT:
      case AV_SAMPLE_FMT_FLTP:
        ((float *)fr->data[0])[i] = (float)v / 32768.0f;
        break;
      default:
        fprintf(stderr, "sample format %d\n", fr->format);
        exit(1);
    }
  }
}

static void write_packets(AVFormatContext *oc, AVCodecContext *c, AVStream *st, AVPacket *pkt) {
  while (avcodec_receive_packet(c, pkt) == 0) {
    av_packet_rescale_ts(pkt, c->time_base, st->time_base);
    pkt->stream_index = st->index;
    av_interleaved_write_frame(oc, pkt);
  }
}

static int encode(const char *dir, const char *name, const char *mux, const char *enc, int rate,
                  long bitrate) {
  char path[1024];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  AVFormatContext *oc = NULL;
  if (avformat_alloc_output_context2(&oc, NULL, mux, path) < 0) return -1;
  const AVCodec *codec = avcodec_find_encoder_by_name(enc);
  AVCodecContext *c = avcodec_alloc_context3(codec);
  c->sample_fmt = codec->sample_fmts[0];
  c->sample_rate = rate;
  AVChannelLayout mono = AV_CHANNEL_LAYOUT_MONO;
  av_channel_layout_copy(&c->ch_layout, &mono);
  c->bit_rate = bitrate;
  c->time_base = (AVRational){1, rate};
  if (oc->oformat->flags & AVFMT_GLOBALHEADER) c->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
  if (avcodec_open2(c, codec, NULL) < 0) return -2;
  AVStream *st = avformat_new_stream(oc, NULL);
  avcodec_parameters_from_context(st->codecpar, c);
  st->time_base = c->time_base;
  if (avio_open(&oc->pb, path, AVIO_FLAG_WRITE) < 0 || avformat_write_header(oc, NULL) < 0)
    return -3;
  int fs = c->frame_size > 0 ? c->frame_size : 1024;
  AVFrame *fr = av_frame_alloc();
  AVPacket *pkt = av_packet_alloc();
  int small_last =
      codec->capabilities & (AV_CODEC_CAP_SMALL_LAST_FRAME | AV_CODEC_CAP_VARIABLE_FRAME_SIZE);
  for (int from = 0; from < N_SAMPLES; from += fs) {
    fr->nb_samples = small_last && N_SAMPLES - from < fs ? N_SAMPLES - from : fs;
    fr->format = c->sample_fmt;
    fr->sample_rate = rate;
    av_channel_layout_copy(&fr->ch_layout, &mono);
    av_frame_get_buffer(fr, 0);
    fill(fr, from, N_SAMPLES - from < fs ? N_SAMPLES - from : fs);
    fr->pts = from;
    if (avcodec_send_frame(c, fr) < 0) return -4;
    write_packets(oc, c, st, pkt);
    av_frame_unref(fr);
  }
  avcodec_send_frame(c, NULL);
  write_packets(oc, c, st, pkt);
  av_write_trailer(oc);
  avio_closep(&oc->pb);
  av_frame_free(&fr);
  av_packet_free(&pkt);
  avcodec_free_context(&c);
  avformat_free_context(oc);
  return 0;
}

int main(int argc, char **argv) {
  if (argc != 3 || load_wav(argv[1]) < 0) {
    fprintf(stderr, "usage: make_samples speech16k.wav OUTDIR\n");
    return 2;
  }
  static const struct {
    const char *name, *mux, *enc;
    int rate;
    long bitrate;
  } s[] = {
      {"sample.flac", "flac", "flac", 16000, 0},
      {"sample.mp3", "mp3", "libmp3lame", 16000, 64000},
      {"sample.ogg", "ogg", "libvorbis", 16000, 64000},
      {"sample.webm", "webm", "libopus", 16000, 64000},
      {"sample.m4a", "ipod", "aac", 16000, 64000},
      {"sample.mp4", "mp4", "aac", 16000, 64000},
      {"sample.mpeg", "mpeg", "mp2", 16000, 64000},
  };
  for (size_t i = 0; i < sizeof s / sizeof s[0]; i++) {
    int rc = encode(argv[2], s[i].name, s[i].mux, s[i].enc, s[i].rate, s[i].bitrate);
    printf("%s: %s\n", s[i].name, rc == 0 ? "ok" : "FAILED");
  }
  return 0;
}
