/* SPDX-License-Identifier: Apache-2.0
 *
 * http/audio_fmt.c: the transcription response formats of audio_fmt.h.
 * JSON goes through jansson (escaping), SRT/VTT are plain text cues.
 */
#include "http/audio_fmt.h"

#include <jansson.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "gloam/err.h"

/* Whisper's language table (tokenizer.py LANGUAGES), code -> English name. */
static const char *const lang_names[][2] = {
    {"en", "english"},        {"zh", "chinese"},     {"de", "german"},        {"es", "spanish"},
    {"ru", "russian"},        {"ko", "korean"},      {"fr", "french"},        {"ja", "japanese"},
    {"pt", "portuguese"},     {"tr", "turkish"},     {"pl", "polish"},        {"ca", "catalan"},
    {"nl", "dutch"},          {"ar", "arabic"},      {"sv", "swedish"},       {"it", "italian"},
    {"id", "indonesian"},     {"hi", "hindi"},       {"fi", "finnish"},       {"vi", "vietnamese"},
    {"he", "hebrew"},         {"uk", "ukrainian"},   {"el", "greek"},         {"ms", "malay"},
    {"cs", "czech"},          {"ro", "romanian"},    {"da", "danish"},        {"hu", "hungarian"},
    {"ta", "tamil"},          {"no", "norwegian"},   {"th", "thai"},          {"ur", "urdu"},
    {"hr", "croatian"},       {"bg", "bulgarian"},   {"lt", "lithuanian"},    {"la", "latin"},
    {"mi", "maori"},          {"ml", "malayalam"},   {"cy", "welsh"},         {"sk", "slovak"},
    {"te", "telugu"},         {"fa", "persian"},     {"lv", "latvian"},       {"bn", "bengali"},
    {"sr", "serbian"},        {"az", "azerbaijani"}, {"sl", "slovenian"},     {"kn", "kannada"},
    {"et", "estonian"},       {"mk", "macedonian"},  {"br", "breton"},        {"eu", "basque"},
    {"is", "icelandic"},      {"hy", "armenian"},    {"ne", "nepali"},        {"mn", "mongolian"},
    {"bs", "bosnian"},        {"kk", "kazakh"},      {"sq", "albanian"},      {"sw", "swahili"},
    {"gl", "galician"},       {"mr", "marathi"},     {"pa", "punjabi"},       {"si", "sinhala"},
    {"km", "khmer"},          {"sn", "shona"},       {"yo", "yoruba"},        {"so", "somali"},
    {"af", "afrikaans"},      {"oc", "occitan"},     {"ka", "georgian"},      {"be", "belarusian"},
    {"tg", "tajik"},          {"sd", "sindhi"},      {"gu", "gujarati"},      {"am", "amharic"},
    {"yi", "yiddish"},        {"lo", "lao"},         {"uz", "uzbek"},         {"fo", "faroese"},
    {"ht", "haitian creole"}, {"ps", "pashto"},      {"tk", "turkmen"},       {"nn", "nynorsk"},
    {"mt", "maltese"},        {"sa", "sanskrit"},    {"lb", "luxembourgish"}, {"my", "myanmar"},
    {"bo", "tibetan"},        {"tl", "tagalog"},     {"mg", "malagasy"},      {"as", "assamese"},
    {"tt", "tatar"},          {"haw", "hawaiian"},   {"ln", "lingala"},       {"ha", "hausa"},
    {"ba", "bashkir"},        {"jw", "javanese"},    {"su", "sundanese"},     {"yue", "cantonese"},
};

const char *audio_language_name(const char *code) {
  for (size_t i = 0; i < sizeof lang_names / sizeof lang_names[0]; i++)
    if (strcmp(lang_names[i][0], code) == 0) return lang_names[i][1];
  return code;
}

/* [p, p+n) without leading and trailing spaces. */
static const char *trim(const char *s, size_t *n) {
  size_t len = strlen(s);
  while (len && (*s == ' ' || *s == '\n')) {
    s++;
    len--;
  }
  while (len && (s[len - 1] == ' ' || s[len - 1] == '\n')) len--;
  *n = len;
  return s;
}

/* SRT "HH:MM:SS,mmm" (sep ',') or VTT "HH:MM:SS.mmm" (sep '.'). */
static int put_time(buf *out, double t, char sep) {
  long long ms = t > 0 ? llround(t * 1000.0) : 0;
  return buf_printf(out, "%02lld:%02lld:%02lld%c%03lld", ms / 3600000, ms / 60000 % 60,
                    ms / 1000 % 60, sep, ms % 1000);
}

static int cues(const gloam_speech_result *r, buf *out, bool srt) {
  int rc = srt ? 0 : buf_append_str(out, "WEBVTT\n\n");
  for (size_t i = 0; rc == 0 && i < r->n_segments; i++) {
    const gloam_speech_segment *s = &r->segments[i];
    size_t n;
    const char *t = trim(s->text ? s->text : "", &n);
    if (srt) rc = buf_printf(out, "%zu\n", i + 1);
    if (rc == 0) rc = put_time(out, s->start, srt ? ',' : '.');
    if (rc == 0) rc = buf_append_str(out, " --> ");
    if (rc == 0) rc = put_time(out, s->end, srt ? ',' : '.');
    if (rc == 0) rc = buf_putc(out, '\n');
    if (rc == 0) rc = buf_append(out, t, n);
    if (rc == 0) rc = buf_append_str(out, "\n\n");
  }
  return rc;
}

/* Length of the valid UTF-8 sequence at p[0..n), or 0 when it is not one. */
static size_t utf8_len(const unsigned char *p, size_t n) {
  unsigned char c = p[0];
  size_t k = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
  if (k == 0 || k > n || (k == 2 && c < 0xc2) || (k == 4 && c > 0xf4)) return 0;
  for (size_t i = 1; i < k; i++)
    if ((p[i] & 0xc0) != 0x80) return 0;
  if (k == 3 && ((c == 0xe0 && p[1] < 0xa0) || (c == 0xed && p[1] > 0x9f))) return 0;
  if (k == 4 && ((c == 0xf0 && p[1] < 0x90) || (c == 0xf4 && p[1] > 0x8f))) return 0;
  return k;
}

/* A JSON string of s[0..n); bytes that are not UTF-8 (a multi-byte
 * character split between two segments' tokens) become U+FFFD. */
static json_t *json_text(const char *s, size_t n) {
  json_t *j = json_stringn(s, n);
  if (j || n == 0) return j;
  buf b;
  buf_init(&b, 3 * n + 1);
  for (size_t i = 0; i < n;) {
    size_t k = utf8_len((const unsigned char *)s + i, n - i);
    if (k && s[i] != 0)
      buf_append(&b, s + i, k);
    else
      buf_append(&b, "\xef\xbf\xbd", 3);
    i += k ? k : 1;
  }
  j = json_stringn(b.len ? (const char *)b.data : "", b.len);
  buf_deinit(&b);
  return j;
}

static json_t *usage(const gloam_speech_result *r) {
  return json_pack("{s:s,s:I}", "type", "duration", "seconds",
                   (json_int_t)ceil(r->duration > 0 ? r->duration : 0));
}

static json_t *text_json(const gloam_speech_result *r) {
  size_t n;
  const char *t = trim(r->text ? r->text : "", &n);
  return json_text(t, n);
}

/* Seconds rounded to milliseconds, as a JSON real. */
static json_t *secs(double t) {
  return json_real(round(t * 1000.0) / 1000.0);
}

static json_t *segments_json(const gloam_speech_result *r) {
  json_t *a = json_array();
  for (size_t i = 0; a && i < r->n_segments; i++) {
    const gloam_speech_segment *s = &r->segments[i];
    json_t *tok = json_array();
    for (size_t k = 0; tok && k < s->n_ids; k++)
      json_array_append_new(tok, json_integer(s->ids[k]));
    const char *txt = s->text ? s->text : "";
    json_t *o = json_pack("{s:I,s:I,s:o,s:o,s:o,s:o,s:f,s:f}", "id", (json_int_t)i, "seek",
                          (json_int_t)floor(s->start * 100.0), "start", secs(s->start), "end",
                          secs(s->end), "text", json_text(txt, strlen(txt)), "tokens", tok,
                          "temperature", (double)s->temperature, "avg_logprob", s->avg_logprob);
    if (!o || json_array_append_new(a, o) < 0) {
      json_decref(a);
      return NULL;
    }
  }
  return a;
}

static int dump(json_t *o, buf *out) {
  if (!o) return GLOAM_ENOMEM;
  char *s = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(10));
  json_decref(o);
  if (!s) return GLOAM_ENOMEM;
  int rc = buf_append_str(out, s);
  free(s);
  return rc;
}

int audio_fmt_body(const gloam_speech_result *r, const char *task, enum audio_format f, buf *out) {
  switch (f) {
    case AUDIO_FMT_TEXT: {
      size_t n;
      const char *t = trim(r->text ? r->text : "", &n);
      int rc = buf_append(out, t, n);
      return rc < 0 ? rc : buf_putc(out, '\n');
    }
    case AUDIO_FMT_SRT:
      return cues(r, out, true);
    case AUDIO_FMT_VTT:
      return cues(r, out, false);
    case AUDIO_FMT_VERBOSE_JSON:
      return dump(json_pack("{s:s,s:s,s:o,s:o,s:o,s:o}", "task", task, "language",
                            audio_language_name(r->language), "duration", secs(r->duration), "text",
                            text_json(r), "segments", segments_json(r), "usage", usage(r)),
                  out);
    default:
      return dump(json_pack("{s:o,s:o}", "text", text_json(r), "usage", usage(r)), out);
  }
}

int audio_fmt_delta(const char *text, size_t len, buf *out) {
  int rc = buf_append_str(out, "data: ");
  if (rc == 0)
    rc =
        dump(json_pack("{s:s,s:o}", "type", "transcript.text.delta", "delta", json_text(text, len)),
             out);
  return rc < 0 ? rc : buf_append_str(out, "\n\n");
}

int audio_fmt_done(const gloam_speech_result *r, buf *out) {
  int rc = buf_append_str(out, "data: ");
  if (rc == 0)
    rc = dump(json_pack("{s:s,s:o,s:o}", "type", "transcript.text.done", "text", text_json(r),
                        "usage", usage(r)),
              out);
  return rc < 0 ? rc : buf_append_str(out, "\n\n");
}

int audio_fmt_with_gloam(const char *body, size_t len, enum audio_format f, const json_t *gloam,
                         buf *out) {
  bool json = f == AUDIO_FMT_JSON || f == AUDIO_FMT_VERBOSE_JSON;
  if (!json || len < 2 || body[len - 1] != '}' || !gloam) return buf_append(out, body, len);
  char *g = json_dumps(gloam, JSON_COMPACT);
  if (!g) return GLOAM_ENOMEM;
  int rc = buf_append(out, body, len - 1);
  if (rc == 0) rc = buf_printf(out, ",\"gloam\":%s}", g);
  free(g);
  return rc;
}

int audio_fmt_gloam_event(const json_t *gloam, buf *out) {
  char *g = gloam ? json_dumps(gloam, JSON_COMPACT) : NULL;
  if (!g) return GLOAM_ENOMEM;
  int rc = buf_printf(out, "{\"type\":\"gloam.usage\",\"gloam\":%s}", g);
  free(g);
  return rc;
}
