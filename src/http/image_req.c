/* SPDX-License-Identifier: Apache-2.0
 *
 * http/image_req.c: validation of OpenAI image generation requests
 * (image_req.h). Errors follow OpenAI's: 400 invalid_request_error with
 * `param` naming the field, 413 for an oversized body.
 */
#include "http/image_req.h"

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/codec.h"
#include "core/err.h"

int64_t image_cost(uint64_t n, int64_t per_image) {
  if (per_image < 0) return -1;
  __int128 t = (__int128)n * per_image;
  return t > (__int128)9007199254740991LL ? -1 : (int64_t)t; /* 2^53-1: receipts' range */
}

void image_req_free(image_req *r) {
  if (!r) return;
  mem_free(r->prompt);
  memset(r, 0, sizeof *r);
}

/* "WxH" with both in 1 .. 16384 and nothing else. */
static int parse_size(const char *s, int *w, int *h) {
  int v[2] = {0, 0}, k = 0;
  for (const char *p = s;; p++) {
    if (*p >= '0' && *p <= '9') {
      if (v[k] > 16384 || (v[k] == 0 && p > s && p[-1] == '0')) return -1;
      v[k] = v[k] * 10 + (*p - '0');
    } else if (*p == 'x' && k == 0 && v[0] > 0) {
      k = 1;
    } else if (*p == '\0' && k == 1 && v[1] > 0) {
      break;
    } else {
      return -1;
    }
  }
  if (v[0] > 16384 || v[1] > 16384) return -1;
  *w = v[0];
  *h = v[1];
  return 0;
}

static bool size_supported(const char *s) {
  const char *list = IMAGE_SIZES;
  size_t n = strlen(s);
  for (const char *p = list; *p;) {
    const char *end = strchr(p, ',');
    size_t len = end ? (size_t)(end - p) : strlen(p);
    if (len == n && memcmp(p, s, n) == 0) return true;
    if (!end) break;
    p = end + 1;
  }
  return false;
}

static int check(json_t *o, image_req *r, audio_req_error *e) {
  json_t *v = json_object_get(o, "prompt");
  if (!v)
    return audio_req_fail(e, GLOAM_EINVAL, 400, "missing_required_parameter", "prompt",
                          "Missing required parameter: 'prompt'.");
  if (!json_is_string(v))
    return audio_req_fail(e, GLOAM_EINVAL, 400, "invalid_type", "prompt",
                          "'prompt' must be a string.");
  size_t plen = json_string_length(v);
  if (plen == 0 || memchr(json_string_value(v), '\0', plen))
    return audio_req_fail(e, GLOAM_EINVAL, 400, "invalid_value", "prompt",
                          "'prompt' must be a non-empty string without NUL characters.");
  if (plen > IMAGE_MAX_PROMPT)
    return audio_req_fail(e, GLOAM_EINVAL, 400, "string_above_max_length", "prompt",
                          "'prompt' is %zu bytes; the maximum is %d.", plen, IMAGE_MAX_PROMPT);
  v = json_object_get(o, "model");
  if (!v)
    return audio_req_fail(e, GLOAM_EINVAL, 400, "missing_required_parameter", "model",
                          "Missing required parameter: 'model'.");
  if (!json_is_string(v) || json_string_length(v) == 0 ||
      json_string_length(v) >= sizeof r->model ||
      memchr(json_string_value(v), '\0', json_string_length(v)))
    return audio_req_fail(e, GLOAM_EINVAL, 400, "invalid_value", "model",
                          "'model' must be a non-empty string of at most %zu bytes.",
                          sizeof r->model - 1);
  snprintf(r->model, sizeof r->model, "%s", json_string_value(v));
  r->n = 1;
  v = json_object_get(o, "n");
  if (v && !json_is_null(v)) {
    if (!json_is_integer(v))
      return audio_req_fail(e, GLOAM_EINVAL, 400, "invalid_type", "n", "'n' must be an integer.");
    json_int_t n = json_integer_value(v);
    if (n < 1 || n > IMAGE_MAX_N)
      return audio_req_fail(e, GLOAM_EINVAL, 400,
                            n < 1 ? "integer_below_min_value" : "integer_above_max_value", "n",
                            "'n' is %lld; it must be between 1 and %d.", (long long)n, IMAGE_MAX_N);
    r->n = (int)n;
  }
  v = json_object_get(o, "size");
  if (v && !json_is_null(v)) {
    const char *s = json_string_value(v);
    if (!s || !size_supported(s) || parse_size(s, &r->width, &r->height) < 0)
      return audio_req_fail(
          e, GLOAM_EINVAL, 400, "invalid_value", "size",
          "Unsupported size. Supported sizes: %s (or leave size out for the model's own).",
          IMAGE_SIZES);
  }
  v = json_object_get(o, "response_format");
  if (v && !json_is_null(v)) {
    const char *s = json_string_value(v);
    if (s && strcmp(s, "b64_json") == 0)
      r->format = IMAGE_FMT_B64_JSON;
    else if (s && strcmp(s, "url") == 0)
      r->format = IMAGE_FMT_URL;
    else
      return audio_req_fail(e, GLOAM_EINVAL, 400, "invalid_value", "response_format",
                            "'response_format' must be 'b64_json' or 'url'.");
  }
  v = json_object_get(o, "user");
  if (v && !json_is_null(v) && !json_is_string(v))
    return audio_req_fail(e, GLOAM_EINVAL, 400, "invalid_type", "user", "'user' must be a string.");
  v = json_object_get(o, "stream");
  if (v && json_is_true(v))
    return audio_req_fail(e, GLOAM_EINVAL, 400, "invalid_value", "stream",
                          "Streaming image generation is not supported.");
  if (!(r->prompt = mem_dup(json_string_value(json_object_get(o, "prompt")), plen + 1)))
    return audio_req_fail(e, GLOAM_ENOMEM, 500, "internal", NULL, "Out of memory.");
  return 0;
}

int image_req_parse(const uint8_t *body, size_t len, image_req *out, audio_req_error *e) {
  memset(out, 0, sizeof *out);
  memset(e, 0, sizeof *e);
  if (len > IMAGE_MAX_BODY)
    return audio_req_fail(e, GLOAM_ETOOBIG, 413, "request_too_large", NULL,
                          "The request body is over %u bytes.", IMAGE_MAX_BODY);
  json_error_t je;
  json_t *o = json_loadb((const char *)body, len, JSON_REJECT_DUPLICATES, &je);
  int rc;
  if (!json_is_object(o))
    rc = audio_req_fail(e, GLOAM_EFORMAT, 400, "invalid_json", NULL,
                        "The body must be a JSON object (application/json).");
  else
    rc = check(o, out, e);
  json_decref(o);
  if (rc < 0) image_req_free(out);
  return rc;
}

int image_resp_body(const uint8_t *const *png, const size_t *png_len, int n, int64_t created,
                    char **out, size_t *out_len) {
  *out = NULL;
  *out_len = 0;
  if (n < 1 || n > IMAGE_MAX_N) return GLOAM_EINVAL;
  size_t cap = 64;
  for (int i = 0; i < n; i++) cap += codec_b64_len(png_len[i], CODEC_B64_STD) + 32;
  char *s = mem_alloc(cap);
  if (!s) return GLOAM_ENOMEM;
  size_t off = (size_t)snprintf(s, cap, "{\"created\":%lld,\"data\":[", (long long)created);
  for (int i = 0; i < n; i++) {
    off += (size_t)snprintf(s + off, cap - off, "%s{\"b64_json\":\"", i ? "," : "");
    long w = codec_b64_encode(png[i], png_len[i], s + off, cap - off, CODEC_B64_STD);
    if (w < 0) {
      mem_free(s);
      return GLOAM_EINVAL;
    }
    off += (size_t)w;
    off += (size_t)snprintf(s + off, cap - off, "\"}");
  }
  off += (size_t)snprintf(s + off, cap - off, "]}");
  *out = s;
  *out_len = off;
  return 0;
}

int image_item_png(const json_t *item, const uint8_t want[32], uint8_t **png, size_t *len) {
  *png = NULL;
  *len = 0;
  json_t *b = json_object_get(item, "b64_json");
  const char *s = json_string_value(b);
  if (!s) return GLOAM_EFORMAT;
  size_t n = json_string_length(b), cap = n / 4 * 3 + 3;
  uint8_t *p = mem_alloc(cap), h[32];
  if (!p) return GLOAM_ENOMEM;
  long m = codec_b64_decode(s, n, p, cap, CODEC_B64_STD);
  int rc = m <= 0 ? GLOAM_EFORMAT : 0;
  if (rc == 0) SHA256(p, (size_t)m, h);
  if (rc == 0 && CRYPTO_memcmp(h, want, 32) != 0) rc = GLOAM_EAUTH;
  if (rc < 0) {
    mem_free(p);
    return rc;
  }
  *png = p;
  *len = (size_t)m;
  return 0;
}

int image_resp_check(const uint8_t *body, size_t len, const gloam_receipt_claims *cl,
                     json_t **out) {
  json_error_t je;
  json_t *o = json_loadb((const char *)body, len, JSON_REJECT_DUPLICATES, &je);
  json_t *data = json_object_get(o, "data");
  int rc = json_is_array(data) && cl->images > 0 && cl->images <= GLOAM_RECEIPT_MAX_IMAGES &&
                   json_array_size(data) == cl->images
               ? 0
               : GLOAM_EFORMAT;
  for (size_t i = 0; rc == 0 && i < cl->images; i++) {
    uint8_t *png;
    size_t n;
    rc = image_item_png(json_array_get(data, i), cl->images_sha256[i], &png, &n);
    mem_free(png);
  }
  if (rc < 0) {
    json_decref(o);
    o = NULL;
  }
  *out = o;
  return rc;
}
