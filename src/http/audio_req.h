/* SPDX-License-Identifier: Apache-2.0
 *
 * http/audio_req.h: OpenAI's POST /v1/audio/transcriptions and
 * /v1/audio/translations request (multipart/form-data), validated the way
 * the coordinator, `gloam proxy` and the node all read it.
 *
 *   audio_req r;
 *   audio_req_error e;
 *   if (audio_req_parse(body, len, content_type, false, NULL, &r, &e) < 0)
 *     reply e.status {"error":{"message":e.message,"param":e.param,"code":e.code}};
 *   ... r.model, r.format, r.file / r.file_len (into body) ...
 *   audio_req_free(&r);
 *
 * Fields as OpenAI takes them: `file` (required, a part with a filename),
 * `model` (required), `language` (ISO 639-1/3 code, transcriptions only),
 * `prompt`, `response_format` (json | text | srt | verbose_json | vtt;
 * default json), `temperature` (0..1; default 0), `timestamp_granularities[]`
 * (segment | word; needs verbose_json; transcriptions only), `stream`
 * (true | false; transcriptions only, with json or text). Unknown fields
 * are ignored (as OpenAI does); a field given twice (other than
 * timestamp_granularities[]) is an error. Word timestamps are not produced
 * by gloam's Whisper and are refused with 400 rather than silently left out.
 *
 * content_type NULL: the body's boundary is read from its first line (the
 * node's case: the sealed plaintext is the multipart body exactly as posted,
 * without its HTTP header).
 *
 * Ownership: r borrows the file bytes from body (keep it alive); the
 * strings in r are owned (audio_req_free). Thread safety: pure.
 */
#ifndef GLOAM_HTTP_AUDIO_REQ_H
#define GLOAM_HTTP_AUDIO_REQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http/multipart.h"

enum audio_format {
  AUDIO_FMT_JSON = 0,
  AUDIO_FMT_TEXT,
  AUDIO_FMT_SRT,
  AUDIO_FMT_VERBOSE_JSON,
  AUDIO_FMT_VTT,
};

typedef struct audio_req {
  bool translate;
  char model[129];
  char language[8]; /* "" when not given */
  char *prompt;     /* NULL when not given; owned, NUL-terminated */
  enum audio_format format;
  double temperature;
  bool ts_segment, ts_word; /* timestamp_granularities[] */
  bool stream;
  const uint8_t *file; /* into the body (borrowed) */
  size_t file_len;
  char *filename; /* owned */
} audio_req;

typedef struct audio_req_error {
  int status;       /* 400, 413, 415 */
  const char *code; /* static: "invalid_value", "missing_required_parameter", ... */
  char param[40];   /* "" when none */
  char message[200];
} audio_req_error;

/* Fills *e (status, static code, param or NULL, printf-style message) and
 * returns rc: the one error path of the audio and image request parsers. */
int audio_req_fail(audio_req_error *e, int rc, int status, const char *code, const char *param,
                   const char *fmt, ...) __attribute__((format(printf, 6, 7)));

/* Parses and validates. lim NULL: the multipart defaults (25 MiB file).
 * Returns 0, or GLOAM_EFORMAT / GLOAM_EINVAL / GLOAM_ETOOBIG /
 * GLOAM_EUNSUPPORTED / GLOAM_ENOMEM with *e filled (and *out freed). */
int audio_req_parse(const uint8_t *body, size_t len, const char *content_type, bool translate,
                    const mp_limits *lim, audio_req *out, audio_req_error *e);
void audio_req_free(audio_req *r);

/* "json", "text", ... (static). */
const char *audio_format_name(enum audio_format f);
/* The Content-Type of a non-streamed answer in format f (static). */
const char *audio_format_content_type(enum audio_format f);
/* "audio/transcriptions" or "audio/translations": the envelope endpoint. */
const char *audio_req_endpoint(bool translate);

/* Billing per audio minute, shared by the coordinator, the proxy and the
 * node: ceil(audio_ms * per_minute / 60000) micro-USD; -1 on overflow or a
 * negative price. */
int64_t audio_cost(uint64_t audio_ms, int64_t per_minute);
/* How far a receipt's decoded duration may exceed the claimed one before
 * it is settled at the claim: max(1 s, 2% of the claim). Decoders differ
 * by encoder delay and padding (tens of ms); nothing honest differs more. */
uint64_t audio_claim_slack_ms(uint64_t claim_ms);

#endif
