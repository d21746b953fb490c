/* SPDX-License-Identifier: Apache-2.0
 *
 * http/audio_req.c: validation of OpenAI audio transcription/translation
 * requests (audio_req.h) over the multipart parser. Errors follow OpenAI's
 * statuses: 415 for a body that is not multipart/form-data, 413 over a
 * size limit, 400 for everything else, with `param` naming the field.
 */
#include "http/audio_req.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"

static const char *const format_names[] = {"json", "text", "srt", "verbose_json", "vtt"};

const char *audio_format_name(enum audio_format f) {
  return (unsigned)f < 5 ? format_names[f] : "json";
}

const char *audio_format_content_type(enum audio_format f) {
  switch (f) {
    case AUDIO_FMT_JSON:
    case AUDIO_FMT_VERBOSE_JSON:
      return "application/json";
    case AUDIO_FMT_VTT:
      return "text/vtt; charset=utf-8";
    default:
      return "text/plain; charset=utf-8";
  }
}

int64_t audio_cost(uint64_t audio_ms, int64_t per_minute) {
  if (per_minute < 0) return -1;
  __int128 t = (__int128)audio_ms * per_minute;
  t = (t + 59999) / 60000;
  return t > (__int128)9007199254740991LL ? -1 : (int64_t)t; /* 2^53-1: receipts' range */
}

uint64_t audio_claim_slack_ms(uint64_t claim_ms) {
  uint64_t pct = claim_ms / 50;
  return pct > 1000 ? pct : 1000;
}

const char *audio_req_endpoint(bool translate) {
  return translate ? "audio/translations" : "audio/transcriptions";
}

int audio_req_fail(audio_req_error *e, int rc, int status, const char *code, const char *param,
                   const char *fmt, ...) {
  e->status = status;
  e->code = code;
  snprintf(e->param, sizeof e->param, "%s", param ? param : "");
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(e->message, sizeof e->message, fmt, ap);
  va_end(ap);
  return rc;
}

/* A field's value as a C string into out (cap bytes): it must be valid
 * text without NUL. -1 when it does not fit or is not text. */
static int field_str(const mp_part *p, char *out, size_t cap) {
  if (p->len >= cap || memchr(p->data, '\0', p->len)) return -1;
  memcpy(out, p->data, p->len);
  out[p->len] = '\0';
  return 0;
}

/* The single part named name: NULL when absent; *dup when given twice. */
static const mp_part *single(const mp_form *f, const char *name, bool *dup) {
  if (multipart_count(f, name) > 1) *dup = true;
  return multipart_get(f, name);
}

static int parse_format(const mp_part *p, audio_req *r, audio_req_error *e) {
  char v[16];
  if (field_str(p, v, sizeof v) == 0)
    for (int i = 0; i < 5; i++)
      if (strcmp(v, format_names[i]) == 0) {
        r->format = (enum audio_format)i;
        return 0;
      }
  return audio_req_fail(e, GLOAM_EINVAL, 400, "invalid_value", "response_format",
                        "response_format must be one of json, text, srt, verbose_json, vtt.");
}

static int parse_temperature(const mp_part *p, audio_req *r, audio_req_error *e) {
  char v[32], *end = NULL;
  if (field_str(p, v, sizeof v) == 0 && v[0] && v[0] != ' ') {
    errno = 0;
    double t = strtod(v, &end);
    if (errno == 0 && end && *end == '\0' && isfinite(t) && t >= 0 && t <= 1) {
      r->temperature = t;
      return 0;
    }
  }
  return audio_req_fail(e, GLOAM_EINVAL, 400, "invalid_value", "temperature",
                        "temperature must be a number between 0 and 1.");
}

static int parse_language(const mp_part *p, audio_req *r, audio_req_error *e) {
  bool ok = field_str(p, r->language, sizeof r->language) == 0;
  size_t n = ok ? strlen(r->language) : 0;
  ok = ok && n >= 2 && n <= 3;
  for (size_t i = 0; ok && i < n; i++) ok = r->language[i] >= 'a' && r->language[i] <= 'z';
  if (ok) return 0;
  r->language[0] = '\0';
  return audio_req_fail(e, GLOAM_EINVAL, 400, "invalid_value", "language",
                        "language must be an ISO-639-1 code such as \"en\".");
}

static int parse_granularities(const mp_form *f, audio_req *r, audio_req_error *e) {
  for (int i = 0; i < f->n_parts; i++) {
    const mp_part *p = &f->parts[i];
    if (strcmp(p->name, "timestamp_granularities[]") != 0) continue;
    char v[16];
    if (field_str(p, v, sizeof v) == 0 && strcmp(v, "segment") == 0)
      r->ts_segment = true;
    else if (field_str(p, v, sizeof v) == 0 && strcmp(v, "word") == 0)
      r->ts_word = true;
    else
      return audio_req_fail(e, GLOAM_EINVAL, 400, "invalid_value", "timestamp_granularities",
                            "timestamp_granularities[] values must be segment or word.");
  }
  if ((r->ts_segment || r->ts_word) && r->format != AUDIO_FMT_VERBOSE_JSON)
    return audio_req_fail(e, GLOAM_EINVAL, 400, "invalid_value", "timestamp_granularities",
                          "timestamp_granularities needs response_format verbose_json.");
  if (r->ts_word)
    return audio_req_fail(e, GLOAM_EUNSUPPORTED, 400, "unsupported_value",
                          "timestamp_granularities",
                          "Word timestamps are not supported; use segment.");
  return 0;
}

static int parse_stream(const mp_part *p, audio_req *r, audio_req_error *e) {
  char v[8];
  if (field_str(p, v, sizeof v) == 0 && (strcmp(v, "true") == 0 || strcmp(v, "false") == 0)) {
    r->stream = v[0] == 't';
    if (r->stream && r->format != AUDIO_FMT_JSON && r->format != AUDIO_FMT_TEXT)
      return audio_req_fail(e, GLOAM_EINVAL, 400, "invalid_value", "stream",
                            "stream needs response_format json or text.");
    return 0;
  }
  return audio_req_fail(e, GLOAM_EINVAL, 400, "invalid_value", "stream",
                        "stream must be true or false.");
}

static int parse_fields(const mp_form *f, bool translate, audio_req *r, audio_req_error *e) {
  bool dup = false;
  const mp_part *file = single(f, "file", &dup), *model = single(f, "model", &dup),
                *lang = translate ? NULL : single(f, "language", &dup),
                *prompt = single(f, "prompt", &dup), *fmt = single(f, "response_format", &dup),
                *temp = single(f, "temperature", &dup),
                *stream = translate ? NULL : single(f, "stream", &dup);
  if (dup)
    return audio_req_fail(e, GLOAM_EINVAL, 400, "invalid_request", NULL,
                          "A form field is given twice.");
  if (!file || !file->filename)
    return audio_req_fail(e, GLOAM_EINVAL, 400, "missing_required_parameter", "file",
                          "file is required and must be a file upload.");
  if (!model || field_str(model, r->model, sizeof r->model) < 0 || !r->model[0])
    return audio_req_fail(e, GLOAM_EINVAL, 400, "missing_required_parameter", "model",
                          "model is required (at most 128 bytes).");
  for (const char *s = r->model; *s; s++)
    if (*s < 0x21 || *s > 0x7e || *s == '"' || *s == '\\')
      return audio_req_fail(e, GLOAM_EINVAL, 400, "invalid_value", "model",
                            "model has invalid characters.");
  int rc;
  if (fmt && (rc = parse_format(fmt, r, e)) < 0) return rc;
  if (temp && (rc = parse_temperature(temp, r, e)) < 0) return rc;
  if (lang && (rc = parse_language(lang, r, e)) < 0) return rc;
  if (!translate && (rc = parse_granularities(f, r, e)) < 0) return rc;
  if (stream && (rc = parse_stream(stream, r, e)) < 0) return rc;
  if (prompt) {
    if (memchr(prompt->data, '\0', prompt->len))
      return audio_req_fail(e, GLOAM_EINVAL, 400, "invalid_value", "prompt",
                            "prompt must be text.");
    if (!(r->prompt = mem_strndup((const char *)prompt->data, prompt->len)))
      return audio_req_fail(e, GLOAM_ENOMEM, 500, "internal", NULL, "Out of memory.");
  }
  if (!(r->filename = mem_strdup(file->filename)))
    return audio_req_fail(e, GLOAM_ENOMEM, 500, "internal", NULL, "Out of memory.");
  r->file = file->data;
  r->file_len = file->len;
  if (r->file_len == 0)
    return audio_req_fail(e, GLOAM_EFORMAT, 400, "invalid_value", "file",
                          "The audio file is empty.");
  return 0;
}

int audio_req_parse(const uint8_t *body, size_t len, const char *content_type, bool translate,
                    const mp_limits *lim, audio_req *out, audio_req_error *e) {
  char bnd[MP_BOUNDARY_MAX + 1], err[GLOAM_ERR_LEN];
  memset(out, 0, sizeof *out);
  memset(e, 0, sizeof *e);
  out->translate = translate;
  int rc = content_type ? multipart_boundary(content_type, bnd, err)
                        : multipart_boundary_from_body(body, len, bnd, err);
  if (rc == GLOAM_EUNSUPPORTED)
    return audio_req_fail(e, rc, 415, "unsupported_media_type", NULL,
                          "Content-Type must be multipart/form-data.");
  if (rc < 0) return audio_req_fail(e, rc, 400, "invalid_request", NULL, "%s", err);
  mp_form f;
  rc = multipart_parse(body, len, bnd, lim, &f, err);
  if (rc == GLOAM_ETOOBIG) return audio_req_fail(e, rc, 413, "request_too_large", NULL, "%s", err);
  if (rc == GLOAM_ENOMEM) return audio_req_fail(e, rc, 500, "internal", NULL, "Out of memory.");
  if (rc < 0) return audio_req_fail(e, rc, 400, "invalid_request", NULL, "%s", err);
  rc = parse_fields(&f, translate, out, e);
  multipart_form_free(&f);
  if (rc < 0) audio_req_free(out);
  return rc;
}

void audio_req_free(audio_req *r) {
  if (!r) return;
  mem_free(r->prompt);
  mem_free(r->filename);
  r->prompt = NULL;
  r->filename = NULL;
}
