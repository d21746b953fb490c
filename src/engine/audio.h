/* SPDX-License-Identifier: Apache-2.0
 *
 * engine/audio.h: untrusted audio bytes -> 16 kHz mono float32 PCM, the
 * input Whisper's feature extractor expects.
 *
 *   audio_limits lim = audio_limits_default();
 *   float *pcm; size_t n;
 *   if (audio_decode(bytes, len, &lim, &pcm, &n, err) < 0) ... err says why
 *   ... use pcm[0..n) ...
 *   mem_free(pcm);
 *
 * DESIGN: FFmpeg (libavformat/libavcodec/libswresample) reads the buffer
 * through a custom AVIOContext (no temp files, no protocols). Only the
 * containers and codecs OpenAI's transcription API accepts are allowed
 * (flac, mp3/mpga, mp4/m4a, mpeg, ogg, wav, webm and their usual codecs);
 * anything else is GLOAM_EUNSUPPORTED, so a hostile upload cannot reach the
 * hundreds of other FFmpeg demuxers and decoders. Channels are down-mixed
 * and the rate converted by libswresample (as `ffmpeg -ac 1 -ar 16000`,
 * which OpenAI's whisper uses); the resampler follows each decoded frame's
 * own rate/layout/format, so streams that change midway are handled.
 * Limits: input bytes (checked first) and decoded duration (checked while
 * decoding, so a tiny file that expands to hours is stopped early).
 *
 * Errors: GLOAM_EINVAL (NULL args), GLOAM_ETOOBIG (a limit), GLOAM_EFORMAT
 * (corrupt, truncated or not audio), GLOAM_EUNSUPPORTED (a container or
 * codec outside the list), GLOAM_ENOMEM. err gets a one-line reason.
 *
 * Ownership: *out_pcm is mem_alloc'd, the caller frees it with mem_free.
 * Thread safety: reentrant (FFmpeg's log level is set once, globally).
 */
#ifndef GLOAM_ENGINE_AUDIO_H
#define GLOAM_ENGINE_AUDIO_H

#include <stddef.h>
#include <stdint.h>

#define AUDIO_SAMPLE_RATE 16000
#define AUDIO_DEFAULT_MAX_BYTES (25u << 20) /* OpenAI's upload limit */
#define AUDIO_DEFAULT_MAX_SECONDS (4.0 * 3600.0)

typedef struct audio_limits {
  size_t max_bytes;   /* input size; 0: AUDIO_DEFAULT_MAX_BYTES */
  double max_seconds; /* decoded duration; <= 0: AUDIO_DEFAULT_MAX_SECONDS */
} audio_limits;

audio_limits audio_limits_default(void);

/* Decodes data[0..len) to 16 kHz mono float32 in [-1, 1].
 * OUT: *out_pcm (owned by the caller), *out_n samples (> 0 on success).
 * lim may be NULL (defaults). err: GLOAM_ERR_LEN bytes. */
int audio_decode(const uint8_t *data, size_t len, const audio_limits *lim, float **out_pcm,
                 size_t *out_n, char *err);

/* The number of 16 kHz mono samples data decodes to, under the same checks
 * and limits as audio_decode, without keeping the samples (memory stays at
 * one frame's worth): the coordinator and `gloam proxy` measure the
 * duration they claim for an audio request's price reservation with it.
 * OUT: *out_n. */
int audio_measure(const uint8_t *data, size_t len, const audio_limits *lim, size_t *out_n,
                  char *err);
/* audio_measure in whole milliseconds, rounded up (at least 1), the unit of
 * an envelope's audio_ms. lim->max_bytes 0 takes len itself. */
int audio_measure_ms(const uint8_t *data, size_t len, const audio_limits *lim, uint32_t *out_ms,
                     char *err);

#endif
