/* SPDX-License-Identifier: Apache-2.0
 *
 * tests/http/test_image_api.c: OpenAI /v1/images/generations request
 * validation (http/image_req.h), per-image cost and the answer body. The
 * accepted body is what the openai npm SDK's images.generate() posts; the
 * refusals follow OpenAI's error shape (status, code, param).
 */
#include <jansson.h>
#include <string.h>

#include "core/alloc.h"
#include "gloam/err.h"
#include "http/image_req.h"
#include "test.h"

static int parse(const char *body, image_req *r, audio_req_error *e) {
  return image_req_parse((const uint8_t *)body, strlen(body), r, e);
}

static void test_sdk_body(void) {
  image_req r;
  audio_req_error e;
  ASSERT_OK(
      parse("{\"prompt\":\"a red fox\",\"model\":\"janus-tiny\",\"n\":2,\"size\":\"384x384\","
            "\"response_format\":\"url\",\"user\":\"u1\",\"quality\":\"hd\"}",
            &r, &e));
  ASSERT_EQ_STR(r.prompt, "a red fox");
  ASSERT_EQ_STR(r.model, "janus-tiny");
  ASSERT_EQ_INT(r.n, 2);
  ASSERT_EQ_INT(r.width, 384);
  ASSERT_EQ_INT(r.height, 384);
  ASSERT_EQ_INT(r.format, IMAGE_FMT_URL);
  image_req_free(&r);
  /* defaults: one image, the model's size, b64_json */
  ASSERT_OK(parse("{\"prompt\":\"x\",\"model\":\"m\",\"n\":null}", &r, &e));
  ASSERT_EQ_INT(r.n, 1);
  ASSERT_EQ_INT(r.width, 0);
  ASSERT_EQ_INT(r.format, IMAGE_FMT_B64_JSON);
  image_req_free(&r);
}

static void refused(const char *body, int status, const char *code, const char *param) {
  image_req r;
  audio_req_error e;
  ASSERT_TRUE(parse(body, &r, &e) < 0);
  ASSERT_EQ_INT(e.status, status);
  ASSERT_EQ_STR(e.code, code);
  ASSERT_EQ_STR(e.param, param);
  ASSERT_TRUE(r.prompt == NULL);
}

static void test_refusals(void) {
  refused("{\"model\":\"m\"}", 400, "missing_required_parameter", "prompt");
  refused("{\"prompt\":\"\",\"model\":\"m\"}", 400, "invalid_value", "prompt");
  refused("{\"prompt\":7,\"model\":\"m\"}", 400, "invalid_type", "prompt");
  refused("{\"prompt\":\"a\\u0000b\",\"model\":\"m\"}", 400, "invalid_json", ""); /* NUL */
  refused("{\"prompt\":\"x\"}", 400, "missing_required_parameter", "model");
  refused("{\"prompt\":\"x\",\"model\":\"m\",\"n\":5}", 400, "integer_above_max_value", "n");
  refused("{\"prompt\":\"x\",\"model\":\"m\",\"n\":0}", 400, "integer_below_min_value", "n");
  refused("{\"prompt\":\"x\",\"model\":\"m\",\"n\":1.5}", 400, "invalid_type", "n");
  refused("{\"prompt\":\"x\",\"model\":\"m\",\"size\":\"1024x1024\"}", 400, "invalid_value",
          "size");
  refused("{\"prompt\":\"x\",\"model\":\"m\",\"size\":\"0384x384\"}", 400, "invalid_value", "size");
  refused("{\"prompt\":\"x\",\"model\":\"m\",\"response_format\":\"png\"}", 400, "invalid_value",
          "response_format");
  refused("{\"prompt\":\"x\",\"model\":\"m\",\"user\":3}", 400, "invalid_type", "user");
  refused("{\"prompt\":\"x\",\"model\":\"m\",\"stream\":true}", 400, "invalid_value", "stream");
  refused("[1]", 400, "invalid_json", "");
  refused("{\"prompt\":\"x\",\"prompt\":\"y\",\"model\":\"m\"}", 400, "invalid_json", "");
  /* the size message lists what is supported */
  image_req r;
  audio_req_error e;
  ASSERT_TRUE(parse("{\"prompt\":\"x\",\"model\":\"m\",\"size\":\"256x256\"}", &r, &e) < 0);
  ASSERT_TRUE(strstr(e.message, "384x384") != NULL);
  /* prompt length: 4000 bytes accepted, 4001 refused */
  char *big = mem_alloc(IMAGE_MAX_PROMPT + 64);
  ASSERT_NOT_NULL(big);
  for (int extra = 0; extra < 2; extra++) {
    size_t off = (size_t)snprintf(big, 64, "{\"model\":\"m\",\"prompt\":\"");
    memset(big + off, 'a', IMAGE_MAX_PROMPT + (size_t)extra);
    off += IMAGE_MAX_PROMPT + (size_t)extra;
    memcpy(big + off, "\"}", 3);
    int rc = parse(big, &r, &e);
    if (extra == 0) {
      ASSERT_OK(rc);
      ASSERT_EQ_UINT(strlen(r.prompt), IMAGE_MAX_PROMPT);
      image_req_free(&r);
    } else {
      ASSERT_EQ_INT(rc, GLOAM_EINVAL);
      ASSERT_EQ_STR(e.code, "string_above_max_length");
    }
  }
  mem_free(big);
  /* an oversized body is 413 before it is parsed */
  char *huge = mem_calloc(1, IMAGE_MAX_BODY + 2);
  ASSERT_NOT_NULL(huge);
  memset(huge, ' ', IMAGE_MAX_BODY + 1);
  ASSERT_EQ_INT(image_req_parse((const uint8_t *)huge, IMAGE_MAX_BODY + 1, &r, &e), GLOAM_ETOOBIG);
  ASSERT_EQ_INT(e.status, 413);
  mem_free(huge);
}

static void test_cost(void) {
  ASSERT_EQ_INT(image_cost(3, 20000), 60000);
  ASSERT_EQ_INT(image_cost(0, 20000), 0);
  ASSERT_EQ_INT(image_cost(1, -1), -1);
  ASSERT_EQ_INT(image_cost(2, 9007199254740991LL), -1);
  ASSERT_EQ_INT(image_cost(1, 9007199254740991LL), 9007199254740991LL);
}

static void test_body(void) {
  /* base64 of the PNG signature's first 4 bytes and of "fo" (RFC 4648 §10) */
  static const uint8_t a[] = {0x89, 'P', 'N', 'G'}, b[] = {'f', 'o'};
  const uint8_t *png[] = {a, b};
  size_t lens[] = {sizeof a, sizeof b};
  char *s = NULL;
  size_t n = 0;
  ASSERT_OK(image_resp_body(png, lens, 2, 1700000000, &s, &n));
  ASSERT_EQ_UINT(n, strlen(s));
  ASSERT_EQ_STR(s,
                "{\"created\":1700000000,\"data\":[{\"b64_json\":\"iVBORw==\"},"
                "{\"b64_json\":\"Zm8=\"}]}");
  json_error_t je;
  json_t *o = json_loads(s, 0, &je);
  ASSERT_TRUE(json_is_object(o));
  json_decref(o);
  mem_free(s);
  ASSERT_EQ_INT(image_resp_body(png, lens, 0, 0, &s, &n), GLOAM_EINVAL);
}

/* The answer is checked against the receipt's count and hashes (SHA-256
 * of "abc", FIPS 180-2 appendix B.1). */
static void test_check(void) {
  static const uint8_t abc[] = {'a', 'b', 'c'};
  static const uint8_t abc_sha[32] = {0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea,
                                      0x41, 0x41, 0x40, 0xde, 0x5d, 0xae, 0x22, 0x23,
                                      0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17, 0x7a, 0x9c,
                                      0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad};
  const uint8_t *png[] = {abc, abc};
  size_t lens[] = {3, 3};
  char *s = NULL;
  size_t n = 0;
  ASSERT_OK(image_resp_body(png, lens, 2, 1, &s, &n));
  gloam_receipt_claims cl;
  memset(&cl, 0, sizeof cl);
  cl.images = 2;
  memcpy(cl.images_sha256[0], abc_sha, 32);
  memcpy(cl.images_sha256[1], abc_sha, 32);
  json_t *o = NULL;
  ASSERT_OK(image_resp_check((const uint8_t *)s, n, &cl, &o));
  ASSERT_EQ_UINT(json_array_size(json_object_get(o, "data")), 2);
  json_decref(o);
  cl.images_sha256[1][31] ^= 1; /* another image than the receipt signs */
  ASSERT_EQ_INT(image_resp_check((const uint8_t *)s, n, &cl, &o), GLOAM_EAUTH);
  ASSERT_TRUE(o == NULL);
  cl.images = 1; /* more images than the receipt counts */
  ASSERT_EQ_INT(image_resp_check((const uint8_t *)s, n, &cl, &o), GLOAM_EFORMAT);
  cl.images = 2;
  memcpy(cl.images_sha256[1], abc_sha, 32);
  static const char bad[] = "{\"data\":[{\"b64_json\":\"!!\"},{}]}"; /* not base64 */
  ASSERT_EQ_INT(image_resp_check((const uint8_t *)bad, sizeof bad - 1, &cl, &o), GLOAM_EFORMAT);
  mem_free(s);
}

int main(int argc, char **argv) {
  static const test_case tests[] = {TEST(test_sdk_body), TEST(test_refusals), TEST(test_cost),
                                    TEST(test_body),     TEST(test_check),    {0}};
  return test_main(argc, argv, tests);
}
