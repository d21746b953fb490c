/* SPDX-License-Identifier: Apache-2.0
 *
 * gloam/speech.h: speech-to-text with Hugging Face Whisper checkpoints.
 *
 *   gloam_speech_model *m;
 *   char err[GLOAM_ERR_LEN];
 *   if (gloam_speech_load(&m, "models/whisper-base", 4, err) < 0) ...
 *   gloam_speech_opts o;
 *   gloam_speech_opts_init(&o);
 *   o.language = "en";
 *   gloam_speech_result r;
 *   if (gloam_speech_transcribe_audio(m, bytes, len, NULL, &o, &r, err) < 0) ...
 *   puts(r.text);                       // "" when the model has no tokenizer.json
 *   gloam_speech_result_free(&r);
 *   gloam_speech_free(m);
 *
 * A model directory holds config.json, model.safetensors,
 * preprocessor_config.json and, for text output, tokenizer.json. Without a
 * tokenizer the token ids are still produced (result.ids, segment ids) and
 * text fields are empty; a text prompt then needs prompt_ids instead.
 *
 * Decoding follows OpenAI's whisper: 30 s windows advanced by the last
 * complete timestamp (or by the full window), the special-token prompt
 * <|startofprev|> previous text, <|startoftranscript|> <|lang|> <|task|>
 * [<|notimestamps|>], greedy decoding (or sampling at temperature > 0) with
 * the timestamp rules, and, with fallback on, retries at temperatures +0.2
 * up to 1.0 when a window's average log-probability is below -1 or it hits
 * the token limit without ending.
 *
 * Ownership: results own their arrays (gloam_speech_result_free). Thread
 * safety: a model serves one transcription at a time (it owns one compute
 * pool); load several models or serialise calls for concurrency. Callbacks
 * run on the calling thread; their arguments are valid during the call only.
 */
#ifndef GLOAM_SPEECH_H
#define GLOAM_SPEECH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gloam/err.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct gloam_speech_model gloam_speech_model;

enum gloam_speech_task { GLOAM_SPEECH_TRANSCRIBE = 0, GLOAM_SPEECH_TRANSLATE = 1 };

typedef struct gloam_speech_segment {
  double start, end;  /* seconds from the start of the audio */
  const char *text;   /* UTF-8, "" without a tokenizer */
  const int32_t *ids; /* text tokens (no special or timestamp tokens) */
  size_t n_ids;
  double avg_logprob; /* mean log-probability of the window's tokens */
  float temperature;  /* the temperature that produced it */
} gloam_speech_segment;

typedef struct gloam_speech_opts {
  const char *language; /* ISO code ("en", "de", ...); NULL: detect from the first window */
  enum gloam_speech_task task;
  const char *prompt;        /* previous-text prompt (needs tokenizer.json) */
  const int32_t *prompt_ids; /* or as token ids; used when prompt is NULL */
  size_t n_prompt_ids;
  float temperature; /* 0: greedy */
  bool fallback;     /* retry a failed window at higher temperatures */
  bool timestamps;   /* segment timestamps (else <|notimestamps|>) */
  int max_tokens;    /* per window; 0: max_target_positions / 2 */
  uint64_t seed;     /* for sampling */
  /* Called for each finished segment, in order; a non-zero return stops
   * the transcription with GLOAM_ECANCELED. May be NULL. */
  int (*on_segment)(void *ctx, const gloam_speech_segment *seg);
  void *ctx;
} gloam_speech_opts;

typedef struct gloam_speech_result {
  char *text;   /* all segments' text, NUL-terminated */
  int32_t *ids; /* every sampled token (timestamps included, no end token) */
  size_t n_ids;
  gloam_speech_segment *segments; /* texts and ids point into the result */
  size_t n_segments;
  char language[8]; /* given or detected */
  double duration;  /* seconds of audio */
} gloam_speech_result;

GLOAM_API void gloam_speech_opts_init(gloam_speech_opts *o);

/* Loads a Whisper model directory. n_threads <= 0: one.
 * Returns 0, GLOAM_ENOENT, GLOAM_EIO, GLOAM_EFORMAT, GLOAM_EUNSUPPORTED,
 * GLOAM_ENOMEM. */
GLOAM_API int gloam_speech_load(gloam_speech_model **out, const char *dir, int n_threads,
                                char *err);
GLOAM_API void gloam_speech_free(gloam_speech_model *m);
/* true when tokenizer.json was found (text output available). */
GLOAM_API bool gloam_speech_has_tokenizer(const gloam_speech_model *m);

/* Transcribes 16 kHz mono float32 PCM. OUT: *out (zeroed on failure).
 * Returns 0, GLOAM_EINVAL (bad options, unknown language), GLOAM_EUNSUPPORTED
 * (a text prompt without tokenizer), GLOAM_ECANCELED, GLOAM_ENOMEM. */
GLOAM_API int gloam_speech_transcribe_pcm(gloam_speech_model *m, const float *pcm, size_t n,
                                          const gloam_speech_opts *o, gloam_speech_result *out,
                                          char *err);

typedef struct gloam_audio_limits {
  size_t max_bytes;   /* 0: 25 MiB, OpenAI's limit */
  double max_seconds; /* <= 0: 4 hours */
} gloam_audio_limits;

/* Decodes an audio file held in memory (flac, mp3, mp4, mpeg, mpga, m4a,
 * ogg, wav, webm) and transcribes it. lim may be NULL. Also returns
 * GLOAM_ETOOBIG (a limit), GLOAM_EFORMAT (corrupt audio) and
 * GLOAM_EUNSUPPORTED (another container or codec); err says why. */
GLOAM_API int gloam_speech_transcribe_audio(gloam_speech_model *m, const void *data, size_t len,
                                            const gloam_audio_limits *lim,
                                            const gloam_speech_opts *o, gloam_speech_result *out,
                                            char *err);

GLOAM_API void gloam_speech_result_free(gloam_speech_result *r);

#ifdef __cplusplus
}
#endif
#endif
