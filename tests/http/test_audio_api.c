/* SPDX-License-Identifier: Apache-2.0
 *
 * tests/http/test_audio_api.c: OpenAI audio request validation (the body
 * the official openai SDK sent, tests/fixtures/multipart) and the response
 * formats against their published shapes (SubRip, WebVTT, OpenAI's json /
 * verbose_json / transcript stream events).
 */
#include <jansson.h>
#include <stdlib.h>

#include "core/buf.h"
#include "gloam/err.h"
#include "http/audio_fmt.h"
#include "http/audio_req.h"
#include "test.h"

static uint8_t *fixture(const char *rel, size_t *len) {
  char *p = test_fixture_path(rel);
  uint8_t *b = test_read_file(p, len);
  free(p);
  if (!b) TEST_SKIP("fixture missing");
  return b;
}

static void test_sdk_request(void) {
  size_t len, ctl;
  uint8_t *body = fixture("multipart/openai_sdk.bin", &len);
  char *ct = (char *)fixture("multipart/openai_sdk.ct", &ctl);
  ct[strcspn(ct, "\r\n")] = '\0';
  audio_req r;
  audio_req_error e;
  /* the SDK asked for word timestamps too: refused honestly */
  ASSERT_EQ_INT(audio_req_parse(body, len, ct, false, NULL, &r, &e), GLOAM_EUNSUPPORTED);
  ASSERT_EQ_INT(e.status, 400);
  ASSERT_EQ_STR(e.param, "timestamp_granularities");
  /* as a translation the same fields (no language / granularities there) */
  ASSERT_OK(audio_req_parse(body, len, ct, true, NULL, &r, &e));
  ASSERT_EQ_STR(r.model, "whisper-tiny");
  ASSERT_EQ_INT(r.format, AUDIO_FMT_VERBOSE_JSON);
  ASSERT_NEAR(r.temperature, 0.2, 1e-12);
  ASSERT_EQ_STR(r.prompt, "Hello,\r\nworld");
  ASSERT_EQ_STR(r.filename, "speech %22a%22.wav");
  ASSERT_EQ_UINT(r.file_len, 300);
  ASSERT_EQ_MEM(r.file, "RIFF", 4);
  ASSERT_EQ_STR(r.language, "");
  audio_req_free(&r);
  /* the boundary can also come from the body itself (the sealed form) */
  ASSERT_OK(audio_req_parse(body, len, NULL, true, NULL, &r, &e));
  ASSERT_EQ_UINT(r.file_len, 300);
  audio_req_free(&r);
  /* 415 for another content type, 413 over the file limit */
  ASSERT_EQ_INT(audio_req_parse(body, len, "application/json", false, NULL, &r, &e),
                GLOAM_EUNSUPPORTED);
  ASSERT_EQ_INT(e.status, 415);
  mp_limits lim;
  mp_limits_init(&lim);
  lim.max_file = 100;
  ASSERT_EQ_INT(audio_req_parse(body, len, ct, true, &lim, &r, &e), GLOAM_ETOOBIG);
  ASSERT_EQ_INT(e.status, 413);
  ASSERT_EQ_INT(audio_req_parse(body, len / 2, ct, true, NULL, &r, &e), GLOAM_EFORMAT);
  ASSERT_EQ_INT(e.status, 400);
  free(body);
  free(ct);
}

/* A body from a list of (name, value) fields plus a file part. */
static void form(buf *b, const char *const *kv, bool with_file) {
  buf_reset(b);
  for (; kv && kv[0]; kv += 2)
    buf_printf(b, "--XyZ\r\nContent-Disposition: form-data; name=\"%s\"\r\n\r\n%s\r\n", kv[0],
               kv[1]);
  if (with_file)
    buf_append_str(b,
                   "--XyZ\r\nContent-Disposition: form-data; name=\"file\"; "
                   "filename=\"a.wav\"\r\nContent-Type: audio/wav\r\n\r\nRIFFdata\r\n");
  buf_append_str(b, "--XyZ--\r\n");
}

typedef struct req_case {
  const char *kv[12];
  bool file;
  int status;
  const char *param;
} req_case;

static void test_request_fields(void) {
  static const req_case cases[] = {
      {{"model", "w", NULL}, true, 0, NULL},
      {{"model", "w", "response_format", "srt", "language", "de", NULL}, true, 0, NULL},
      {{"model", "w", "response_format", "verbose_json", "timestamp_granularities[]", "segment",
        NULL},
       true,
       0,
       NULL},
      {{"model", "w", "stream", "true", "response_format", "text", NULL}, true, 0, NULL},
      {{"model", "w", "unknown_field", "ignored", NULL}, true, 0, NULL},
      {{"model", "w", NULL}, false, 400, "file"},
      {{NULL}, true, 400, "model"},
      {{"model", "", NULL}, true, 400, "model"},
      {{"model", "a b", NULL}, true, 400, "model"},
      {{"model", "w", "response_format", "xml", NULL}, true, 400, "response_format"},
      {{"model", "w", "temperature", "1.5", NULL}, true, 400, "temperature"},
      {{"model", "w", "temperature", "-0.1", NULL}, true, 400, "temperature"},
      {{"model", "w", "temperature", "nan", NULL}, true, 400, "temperature"},
      {{"model", "w", "temperature", "0.5x", NULL}, true, 400, "temperature"},
      {{"model", "w", "language", "english", NULL}, true, 400, "language"},
      {{"model", "w", "language", "EN", NULL}, true, 400, "language"},
      {{"model", "w", "timestamp_granularities[]", "segment", NULL},
       true,
       400,
       "timestamp_granularities"},
      {{"model", "w", "response_format", "verbose_json", "timestamp_granularities[]", "char", NULL},
       true,
       400,
       "timestamp_granularities"},
      {{"model", "w", "stream", "yes", NULL}, true, 400, "stream"},
      {{"model", "w", "stream", "true", "response_format", "srt", NULL}, true, 400, "stream"},
      {{"model", "w", "model", "v", NULL}, true, 400, ""},
  };
  buf b;
  buf_init(&b, 1 << 16);
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    form(&b, cases[i].kv, cases[i].file);
    audio_req r;
    audio_req_error e;
    int rc =
        audio_req_parse(b.data, b.len, "multipart/form-data; boundary=XyZ", false, NULL, &r, &e);
    if (cases[i].status == 0) {
      if (rc < 0) test_fail(__FILE__, __LINE__, "case %zu: %s", i, e.message);
      ASSERT_EQ_UINT(r.file_len, 8);
      audio_req_free(&r);
    } else {
      if (rc == 0 || e.status != cases[i].status || strcmp(e.param, cases[i].param) != 0)
        test_fail(__FILE__, __LINE__, "case %zu: rc %d status %d param '%s'", i, rc, e.status,
                  e.param);
    }
  }
  /* defaults */
  static const char *const kv[] = {"model", "whisper-1", NULL};
  form(&b, kv, true);
  audio_req r;
  audio_req_error e;
  ASSERT_OK(
      audio_req_parse(b.data, b.len, "multipart/form-data; boundary=XyZ", false, NULL, &r, &e));
  ASSERT_EQ_INT(r.format, AUDIO_FMT_JSON);
  ASSERT_EQ_INT(r.stream, 0);
  ASSERT_NEAR(r.temperature, 0, 0);
  ASSERT_TRUE(r.prompt == NULL);
  audio_req_free(&r);
  buf_deinit(&b);
  ASSERT_EQ_STR(audio_req_endpoint(false), "audio/transcriptions");
  ASSERT_EQ_STR(audio_req_endpoint(true), "audio/translations");
  ASSERT_EQ_STR(audio_format_content_type(AUDIO_FMT_SRT), "text/plain; charset=utf-8");
  ASSERT_EQ_STR(audio_format_content_type(AUDIO_FMT_VERBOSE_JSON), "application/json");
}

/* Two segments crossing the hour mark, as the engine reports them. */
static void sample_result(gloam_speech_result *r, gloam_speech_segment seg[2]) {
  static const int32_t ids0[] = {50364, 2425}, ids1[] = {11};
  memset(r, 0, sizeof *r);
  memset(seg, 0, 2 * sizeof *seg);
  seg[0] = (gloam_speech_segment){0.0, 2.5, " Hello there.", ids0, 2, -0.25, 0.0f};
  seg[1] = (gloam_speech_segment){3599.5, 3601.02, " \"Bye\"", ids1, 1, -0.5, 0.2f};
  r->segments = seg;
  r->n_segments = 2;
  r->text = (char *)" Hello there. \"Bye\"";
  snprintf(r->language, sizeof r->language, "en");
  r->duration = 3601.3;
}

static char *render(const gloam_speech_result *r, const char *task, enum audio_format f) {
  buf b;
  buf_init(&b, 1 << 16);
  ASSERT_OK(audio_fmt_body(r, task, f, &b));
  return (char *)buf_take(&b, &(size_t){0});
}

static void test_formats(void) {
  gloam_speech_result r;
  gloam_speech_segment seg[2];
  sample_result(&r, seg);
  char *s = render(&r, "transcribe", AUDIO_FMT_SRT);
  /* SubRip: index, "HH:MM:SS,mmm --> HH:MM:SS,mmm", text, blank line */
  ASSERT_EQ_STR(s,
                "1\n00:00:00,000 --> 00:00:02,500\nHello there.\n\n"
                "2\n00:59:59,500 --> 01:00:01,020\n\"Bye\"\n\n");
  free(s);
  s = render(&r, "transcribe", AUDIO_FMT_VTT);
  /* WebVTT: the WEBVTT header line, then cues with '.' before milliseconds */
  ASSERT_EQ_STR(s,
                "WEBVTT\n\n00:00:00.000 --> 00:00:02.500\nHello there.\n\n"
                "00:59:59.500 --> 01:00:01.020\n\"Bye\"\n\n");
  free(s);
  s = render(&r, "transcribe", AUDIO_FMT_TEXT);
  ASSERT_EQ_STR(s, "Hello there. \"Bye\"\n");
  free(s);
  s = render(&r, "transcribe", AUDIO_FMT_JSON);
  json_t *o = json_loads(s, 0, NULL);
  ASSERT_NOT_NULL(o);
  ASSERT_EQ_STR(json_string_value(json_object_get(o, "text")), "Hello there. \"Bye\"");
  ASSERT_EQ_STR(json_string_value(json_object_get(json_object_get(o, "usage"), "type")),
                "duration");
  ASSERT_EQ_INT(json_integer_value(json_object_get(json_object_get(o, "usage"), "seconds")), 3602);
  json_decref(o);
  free(s);
  s = render(&r, "translate", AUDIO_FMT_VERBOSE_JSON);
  o = json_loads(s, 0, NULL);
  ASSERT_NOT_NULL(o);
  ASSERT_EQ_STR(json_string_value(json_object_get(o, "task")), "translate");
  ASSERT_EQ_STR(json_string_value(json_object_get(o, "language")), "english");
  ASSERT_NEAR(json_real_value(json_object_get(o, "duration")), 3601.3, 1e-9);
  json_t *segs = json_object_get(o, "segments");
  ASSERT_EQ_UINT(json_array_size(segs), 2);
  json_t *s1 = json_array_get(segs, 1);
  ASSERT_EQ_INT(json_integer_value(json_object_get(s1, "id")), 1);
  ASSERT_EQ_INT(json_integer_value(json_object_get(s1, "seek")), 359950);
  ASSERT_NEAR(json_real_value(json_object_get(s1, "start")), 3599.5, 1e-9);
  ASSERT_NEAR(json_real_value(json_object_get(s1, "end")), 3601.02, 1e-9);
  ASSERT_EQ_STR(json_string_value(json_object_get(s1, "text")), " \"Bye\"");
  ASSERT_EQ_INT(json_integer_value(json_array_get(json_object_get(s1, "tokens"), 0)), 11);
  ASSERT_NEAR(json_real_value(json_object_get(s1, "temperature")), 0.2, 1e-6);
  ASSERT_NEAR(json_real_value(json_object_get(s1, "avg_logprob")), -0.5, 1e-12);
  json_decref(o);
  free(s);
}

static void test_stream_events(void) {
  gloam_speech_result r;
  gloam_speech_segment seg[2];
  sample_result(&r, seg);
  buf b;
  buf_init(&b, 1 << 16);
  ASSERT_OK(audio_fmt_delta(" Hello\n", 7, &b));
  ASSERT_EQ_STR(buf_cstr(&b),
                "data: {\"type\":\"transcript.text.delta\",\"delta\":\" Hello\\n\"}\n\n");
  buf_reset(&b);
  ASSERT_OK(audio_fmt_done(&r, &b));
  ASSERT_EQ_MEM(b.data, "data: ", 6);
  json_t *o = json_loadb((const char *)b.data + 6, b.len - 8, 0, NULL);
  ASSERT_NOT_NULL(o);
  ASSERT_EQ_STR(json_string_value(json_object_get(o, "type")), "transcript.text.done");
  ASSERT_EQ_STR(json_string_value(json_object_get(o, "text")), "Hello there. \"Bye\"");
  json_decref(o);
  /* a character split between segments: invalid bytes become U+FFFD */
  buf_reset(&b);
  ASSERT_OK(audio_fmt_delta("a\xe4\xb8", 3, &b));
  ASSERT_EQ_STR(
      buf_cstr(&b),
      "data: {\"type\":\"transcript.text.delta\",\"delta\":\"a\xef\xbf\xbd\xef\xbf\xbd\"}\n\n");
  buf_deinit(&b);
  ASSERT_EQ_STR(audio_language_name("yue"), "cantonese");
  ASSERT_EQ_STR(audio_language_name("xx"), "xx");
}

int main(int argc, char **argv) {
  static const test_case tests[] = {TEST(test_sdk_request),
                                    TEST(test_request_fields),
                                    TEST(test_formats),
                                    TEST(test_stream_events),
                                    {0}};
  return test_main(argc, argv, tests);
}
