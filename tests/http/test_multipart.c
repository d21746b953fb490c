/* SPDX-License-Identifier: Apache-2.0
 *
 * tests/http/test_multipart.c: the multipart/form-data parser against
 * bodies real clients produced (the official openai npm SDK, curl, Python
 * urllib3; tests/fixtures/multipart, see its README), every prefix of them
 * (truncation), each limit, and hand-made malformed bodies.
 */
#include <stdlib.h>

#include "core/alloc.h"
#include "gloam/err.h"
#include "http/multipart.h"
#include "test.h"

static char err[GLOAM_ERR_LEN];

typedef struct sample {
  uint8_t *body;
  size_t len;
  char bnd[MP_BOUNDARY_MAX + 1];
} sample;

static void load_sample(const char *name, sample *s) {
  char rel[128];
  snprintf(rel, sizeof rel, "multipart/%s.bin", name);
  char *p = test_fixture_path(rel);
  s->body = test_read_file(p, &s->len);
  free(p);
  if (!s->body) TEST_SKIP("fixture missing");
  snprintf(rel, sizeof rel, "multipart/%s.ct", name);
  p = test_fixture_path(rel);
  size_t n = 0;
  char *ct = test_read_file(p, &n);
  free(p);
  ASSERT_NOT_NULL(ct);
  while (n > 0 && (ct[n - 1] == '\n' || ct[n - 1] == '\r')) ct[--n] = '\0';
  ASSERT_OK(multipart_boundary(ct, s->bnd, err));
  free(ct);
}

static void assert_field(const mp_form *f, const char *name, const char *want) {
  const mp_part *p = multipart_get(f, name);
  ASSERT_NOT_NULL(p);
  ASSERT_TRUE(p->filename == NULL);
  ASSERT_EQ_UINT(p->len, strlen(want));
  ASSERT_EQ_MEM(p->data, want, p->len);
}

/* The first n bytes of the whisper fixture's wav. */
static uint8_t *wav_head(size_t n) {
  char *p = test_fixture_path("models/whisper/speech16k.wav");
  size_t len = 0;
  uint8_t *w = test_read_file(p, &len);
  free(p);
  ASSERT_NOT_NULL(w);
  ASSERT_TRUE(len >= n);
  return w;
}

static void test_boundary_header(void) {
  char b[MP_BOUNDARY_MAX + 1];
  ASSERT_OK(multipart_boundary("multipart/form-data; boundary=abc", b, err));
  ASSERT_EQ_STR(b, "abc");
  ASSERT_OK(multipart_boundary("Multipart/Form-Data;charset=utf-8; BOUNDARY=\"a b:c\"", b, err));
  ASSERT_EQ_STR(b, "a b:c");
  ASSERT_OK(multipart_boundary("multipart/form-data ; boundary=\"----x'()+_,-./:=?\"", b, err));
  ASSERT_EQ_STR(b, "----x'()+_,-./:=?");
  char seventy[128] = "multipart/form-data; boundary=";
  size_t off = strlen(seventy);
  memset(seventy + off, 'z', 70);
  seventy[off + 70] = '\0';
  ASSERT_OK(multipart_boundary(seventy, b, err));
  ASSERT_EQ_UINT(strlen(b), 70);
  /* 415: not multipart/form-data */
  ASSERT_EQ_INT(multipart_boundary(NULL, b, err), GLOAM_EUNSUPPORTED);
  ASSERT_EQ_INT(multipart_boundary("application/json", b, err), GLOAM_EUNSUPPORTED);
  ASSERT_EQ_INT(multipart_boundary("multipart/mixed; boundary=a", b, err), GLOAM_EUNSUPPORTED);
  ASSERT_EQ_INT(multipart_boundary("multipart/form-datax; boundary=a", b, err), GLOAM_EUNSUPPORTED);
  /* 400: a bad or missing boundary */
  seventy[off + 70] = 'z';
  seventy[off + 71] = '\0';
  ASSERT_EQ_INT(multipart_boundary(seventy, b, err), GLOAM_EFORMAT);
  ASSERT_EQ_INT(multipart_boundary("multipart/form-data", b, err), GLOAM_EFORMAT);
  ASSERT_EQ_INT(multipart_boundary("multipart/form-data; charset=x", b, err), GLOAM_EFORMAT);
  ASSERT_EQ_INT(multipart_boundary("multipart/form-data; boundary=", b, err), GLOAM_EFORMAT);
  ASSERT_EQ_INT(multipart_boundary("multipart/form-data; boundary=\"\"", b, err), GLOAM_EFORMAT);
  ASSERT_EQ_INT(multipart_boundary("multipart/form-data; boundary=\"ab \"", b, err), GLOAM_EFORMAT);
  ASSERT_EQ_INT(multipart_boundary("multipart/form-data; boundary=\"a\rb\"", b, err),
                GLOAM_EFORMAT);
  ASSERT_EQ_INT(multipart_boundary("multipart/form-data; boundary=\"abc", b, err), GLOAM_EFORMAT);
  ASSERT_EQ_INT(multipart_boundary("multipart/form-data; boundary=a; boundary=b", b, err),
                GLOAM_EFORMAT);
  ASSERT_EQ_INT(multipart_boundary("multipart/form-data boundary=a", b, err), GLOAM_EFORMAT);
  ASSERT_EQ_INT(multipart_boundary("multipart/form-data; boundary=a:b", b, err), GLOAM_EFORMAT);
}

static void test_openai_sdk_body(void) {
  sample s;
  load_sample("openai_sdk", &s);
  mp_form f;
  ASSERT_OK(multipart_parse(s.body, s.len, s.bnd, NULL, &f, err));
  ASSERT_EQ_INT(f.n_parts, 8);
  assert_field(&f, "model", "whisper-tiny");
  assert_field(&f, "language", "en");
  assert_field(&f, "prompt", "Hello,\r\nworld");
  assert_field(&f, "response_format", "verbose_json");
  assert_field(&f, "temperature", "0.2");
  ASSERT_EQ_INT(multipart_count(&f, "timestamp_granularities[]"), 2);
  ASSERT_EQ_STR(f.parts[5].name, "timestamp_granularities[]");
  ASSERT_EQ_MEM(f.parts[5].data, "segment", 7);
  ASSERT_EQ_MEM(f.parts[6].data, "word", 4);
  const mp_part *file = multipart_get(&f, "file");
  ASSERT_NOT_NULL(file);
  ASSERT_EQ_STR(file->filename, "speech %22a%22.wav"); /* the SDK percent-encodes quotes */
  ASSERT_EQ_STR(file->content_type, "application/octet-stream");
  uint8_t *w = wav_head(300);
  ASSERT_EQ_UINT(file->len, 300);
  ASSERT_EQ_MEM(file->data, w, 300);
  free(w);
  ASSERT_TRUE(multipart_get(&f, "nope") == NULL);
  multipart_form_free(&f);
  free(s.body);
}

static void test_curl_and_urllib3_bodies(void) {
  sample s;
  load_sample("curl", &s);
  mp_form f;
  ASSERT_OK(multipart_parse(s.body, s.len, s.bnd, NULL, &f, err));
  ASSERT_EQ_INT(f.n_parts, 4);
  const mp_part *file = multipart_get(&f, "file");
  ASSERT_EQ_STR(file->filename, "a.wav");
  uint8_t *w = wav_head(200);
  ASSERT_EQ_UINT(file->len, 200);
  ASSERT_EQ_MEM(file->data, w, 200);
  free(w);
  assert_field(&f, "model", "whisper-1");
  assert_field(&f, "response_format", "srt");
  assert_field(&f, "timestamp_granularities[]", "segment");
  multipart_form_free(&f);
  free(s.body);

  load_sample("urllib3", &s);
  ASSERT_OK(multipart_parse(s.body, s.len, s.bnd, NULL, &f, err));
  ASSERT_EQ_INT(f.n_parts, 2);
  file = multipart_get(&f, "file");
  ASSERT_EQ_STR(file->filename, "b.flac");
  ASSERT_EQ_STR(file->content_type, "audio/flac");
  ASSERT_EQ_UINT(file->len, 7); /* CRLF "--x" inside the data is not a delimiter */
  ASSERT_EQ_MEM(file->data, "\x00\x01\r\n--x", 7);
  multipart_form_free(&f);
  free(s.body);
}

/* Every strict prefix that cuts before the close delimiter is refused as
 * malformed; nothing is leaked or read out of bounds (ASan). */
static void test_truncated_prefixes(void) {
  const char *names[] = {"openai_sdk", "curl", "urllib3"};
  for (int k = 0; k < 3; k++) {
    sample s;
    load_sample(names[k], &s);
    char close[MP_BOUNDARY_MAX + 8];
    snprintf(close, sizeof close, "--%s--", s.bnd);
    size_t cl = strlen(close), close_end = 0;
    for (size_t i = 0; i + cl <= s.len; i++)
      if (memcmp(s.body + i, close, cl) == 0) close_end = i + cl;
    ASSERT_TRUE(close_end > 0);
    for (size_t n = 0; n < close_end; n++) {
      uint8_t *cut = mem_dup(s.body, n ? n : 1); /* exact-size copy so ASan sees overreads */
      mp_form f;
      int rc = multipart_parse(cut, n, s.bnd, NULL, &f, err);
      if (rc != GLOAM_EFORMAT)
        test_fail(__FILE__, __LINE__, "%s prefix %zu: rc %d", names[k], n, rc);
      ASSERT_EQ_INT(f.n_parts, 0);
      mem_free(cut);
    }
    mp_form f;
    ASSERT_OK(multipart_parse(s.body, close_end, s.bnd, NULL, &f, err));
    multipart_form_free(&f);
    free(s.body);
  }
}

static void test_limits(void) {
  sample s;
  load_sample("openai_sdk", &s);
  mp_limits lim;
  mp_form f;
  mp_limits_init(&lim);
  ASSERT_EQ_UINT(lim.max_file, 25u << 20);
  lim.max_file = 299;
  ASSERT_EQ_INT(multipart_parse(s.body, s.len, s.bnd, &lim, &f, err), GLOAM_ETOOBIG);
  lim.max_file = 300;
  ASSERT_OK(multipart_parse(s.body, s.len, s.bnd, &lim, &f, err));
  multipart_form_free(&f);
  lim.max_field = 11; /* "whisper-tiny" is 12 */
  ASSERT_EQ_INT(multipart_parse(s.body, s.len, s.bnd, &lim, &f, err), GLOAM_ETOOBIG);
  mp_limits_init(&lim);
  lim.max_parts = 7;
  ASSERT_EQ_INT(multipart_parse(s.body, s.len, s.bnd, &lim, &f, err), GLOAM_ETOOBIG);
  lim.max_parts = 8;
  ASSERT_OK(multipart_parse(s.body, s.len, s.bnd, &lim, &f, err));
  multipart_form_free(&f);
  mp_limits_init(&lim);
  lim.max_body = s.len - 1;
  ASSERT_EQ_INT(multipart_parse(s.body, s.len, s.bnd, &lim, &f, err), GLOAM_ETOOBIG);
  mp_limits_init(&lim);
  lim.max_header = 40; /* the file part's headers are longer */
  ASSERT_EQ_INT(multipart_parse(s.body, s.len, s.bnd, &lim, &f, err), GLOAM_ETOOBIG);
  free(s.body);
}

typedef struct bad_case {
  const char *why, *body;
  int rc;
} bad_case;

static void test_malformed(void) {
#define P "--b\r\nContent-Disposition: form-data; name=\"a\"\r\n"
  static const bad_case bad[] = {
      {"preamble", "junk\r\n" P "\r\nx\r\n--b--", GLOAM_EFORMAT},
      {"no CRLF after the boundary", "--bX\r\n" P "\r\nx\r\n--b--", GLOAM_EFORMAT},
      {"bare LF headers", "--b\nContent-Disposition: form-data; name=a\n\nx\r\n--b--",
       GLOAM_EFORMAT},
      {"bare LF in a header", "--b\r\nContent-Disposition: form-data;\n name=a\r\n\r\nx\r\n--b--",
       GLOAM_EFORMAT},
      {"folded header", P " X: y\r\n\r\nx\r\n--b--", GLOAM_EFORMAT},
      {"no disposition", "--b\r\nContent-Type: text/plain\r\n\r\nx\r\n--b--", GLOAM_EFORMAT},
      {"attachment", "--b\r\nContent-Disposition: attachment; name=a\r\n\r\nx\r\n--b--",
       GLOAM_EFORMAT},
      {"no name", "--b\r\nContent-Disposition: form-data; filename=a\r\n\r\nx\r\n--b--",
       GLOAM_EFORMAT},
      {"empty name", "--b\r\nContent-Disposition: form-data; name=\"\"\r\n\r\nx\r\n--b--",
       GLOAM_EFORMAT},
      {"two names", "--b\r\nContent-Disposition: form-data; name=a; name=b\r\n\r\nx\r\n--b--",
       GLOAM_EFORMAT},
      {"filename*",
       "--b\r\nContent-Disposition: form-data; name=a; filename*=UTF-8''x\r\n\r\n\r\n--b--",
       GLOAM_EFORMAT},
      {"two dispositions", P "Content-Disposition: form-data; name=c\r\n\r\nx\r\n--b--",
       GLOAM_EFORMAT},
      {"two content types", P "Content-Type: a/b\r\nContent-Type: a/c\r\n\r\nx\r\n--b--",
       GLOAM_EFORMAT},
      {"control byte", P "X-A: \x01\r\n\r\nx\r\n--b--", GLOAM_EFORMAT},
      {"header without colon", P "Nope\r\n\r\nx\r\n--b--", GLOAM_EFORMAT},
      {"unterminated quote", "--b\r\nContent-Disposition: form-data; name=\"a\r\n\r\nx\r\n--b--",
       GLOAM_EFORMAT},
      {"garbage after a value", "--b\r\nContent-Disposition: form-data; name=a b\r\n\r\nx\r\n--b--",
       GLOAM_EFORMAT},
      {"no close delimiter", P "\r\nx\r\n--b\r\n", GLOAM_EFORMAT},
      {"boundary without leading CRLF", P "\r\nx--b--", GLOAM_EFORMAT},
      {"empty", "", GLOAM_EFORMAT},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    mp_form f;
    int rc = multipart_parse((const uint8_t *)bad[i].body, strlen(bad[i].body), "b", NULL, &f, err);
    if (rc != bad[i].rc) test_fail(__FILE__, __LINE__, "%s: rc %d (%s)", bad[i].why, rc, err);
    ASSERT_EQ_INT(f.n_parts, 0);
  }
#undef P
}

static void test_accepted_variants(void) {
  /* transport padding, unknown headers skipped, quoted-pair, epilogue,
   * an empty value, header names in any case */
  static const char body[] =
      "--b \t\r\n"
      "content-disposition: FORM-DATA ; name=\"a\\\"q\" ; x=y\r\n"
      "X-Other: whatever\r\n"
      "\r\n"
      "v1\r\n"
      "--b\r\n"
      "Content-Disposition: form-data; name=e; filename=\"\"\r\n"
      "CONTENT-TYPE:  audio/wav \r\n"
      "\r\n"
      "\r\n"
      "--b--\r\nepilogue";
  mp_form f;
  ASSERT_OK(multipart_parse((const uint8_t *)body, sizeof body - 1, "b", NULL, &f, err));
  ASSERT_EQ_INT(f.n_parts, 2);
  ASSERT_EQ_STR(f.parts[0].name, "a\"q");
  ASSERT_EQ_UINT(f.parts[0].len, 2);
  ASSERT_EQ_MEM(f.parts[0].data, "v1", 2);
  ASSERT_TRUE(f.parts[0].content_type == NULL);
  ASSERT_EQ_STR(f.parts[1].name, "e");
  ASSERT_EQ_STR(f.parts[1].filename, "");
  ASSERT_EQ_STR(f.parts[1].content_type, "audio/wav");
  ASSERT_EQ_UINT(f.parts[1].len, 0);
  multipart_form_free(&f);
  /* no parts at all is well-formed (the endpoint then asks for `file`) */
  ASSERT_OK(multipart_parse((const uint8_t *)"--b--", 5, "b", NULL, &f, err));
  ASSERT_EQ_INT(f.n_parts, 0);
  multipart_form_free(&f);
}

/* Every allocation failing in turn gives ENOMEM and no leak. */
static void test_alloc_failures(void) {
  sample s;
  load_sample("openai_sdk", &s);
  for (long k = 0;; k++) {
    mem_fail_after(k);
    mp_form f;
    int rc = multipart_parse(s.body, s.len, s.bnd, NULL, &f, err);
    long tried = mem_fail_after(-1);
    if (rc == 0) {
      ASSERT_EQ_INT(f.n_parts, 8);
      multipart_form_free(&f);
      ASSERT_TRUE(tried <= k + 1);
      break;
    }
    ASSERT_EQ_INT(rc, GLOAM_ENOMEM);
    ASSERT_TRUE(k < 1000);
  }
  free(s.body);
}

int main(int argc, char **argv) {
  static const test_case tests[] = {
      TEST(test_boundary_header),    TEST(test_openai_sdk_body), TEST(test_curl_and_urllib3_bodies),
      TEST(test_truncated_prefixes), TEST(test_limits),          TEST(test_malformed),
      TEST(test_accepted_variants),  TEST(test_alloc_failures),  {0}};
  return test_main(argc, argv, tests);
}
