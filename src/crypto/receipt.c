/* SPDX-License-Identifier: Apache-2.0
 *
 * crypto/receipt.c: receipts as compact JWS ES256 with canonical claims
 * (gloam/receipt.h, docs/sealing.md §5).
 *
 * DESIGN: the claims have one byte encoding (fixed key order, no whitespace,
 * lowercase hex, strings from an alphabet that needs no JSON escapes,
 * integers in 0..2^53-1). The verifier parses the payload with jansson and
 * then re-encodes the parsed claims: unless the bytes are identical the
 * receipt is rejected, so two parties can never read different claims out
 * of one signed receipt.
 */
#include "gloam/receipt.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/codec.h"
#include "core/err.h"
#include "core/secure.h"
#include "crypto/es256.h"
#include "crypto/receipt_claims.h"
#include "crypto/receipt_signer.h"

#define JWS_TYP "gloam-receipt"
#define N_CLAIMS 12

struct gloam_receipt_signer {
  es256_key *key;
  char kid[ES256_THUMB_LEN + 1];
};

struct gloam_receipt_key {
  es256_key *key;
  char kid[ES256_THUMB_LEN + 1];
};

/* ---- claims ---- */

static int str_ok(const char *s, size_t max) {
  size_t n = strnlen(s, max + 1);
  if (n == 0 || n > max) return 0;
  for (size_t i = 0; i < n; i++)
    if (s[i] < 0x21 || s[i] > 0x7e || s[i] == '"' || s[i] == '\\') return 0;
  return 1;
}

int receipt_claims_check(const gloam_receipt_claims *c, char *err) {
  if (c->version != GLOAM_RECEIPT_VERSION)
    return err_set(err, GLOAM_EUNSUPPORTED, "receipt: version %u not supported", c->version);
  if (!str_ok(c->node_id, GLOAM_SEAL_NODE_ID_MAX) || !str_ok(c->model, GLOAM_SEAL_MODEL_MAX) ||
      !str_ok(c->weights_digest, GLOAM_RECEIPT_WEIGHTS_MAX))
    return err_set(err, GLOAM_EFORMAT, "receipt: node_id, model or weights_digest malformed");
  const uint64_t v[] = {c->prompt_tokens,   c->completion_tokens, c->audio_ms,
                        c->price_micro_usd, c->started_ms,        c->finished_ms};
  for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
    if (v[i] > GLOAM_RECEIPT_MAX_INT)
      return err_set(err, GLOAM_ERANGE, "receipt: integer claim above 2^53-1");
  if (c->images > GLOAM_RECEIPT_MAX_IMAGES)
    return err_set(err, GLOAM_ERANGE, "receipt: more than %d images", GLOAM_RECEIPT_MAX_IMAGES);
  if (c->finished_ms < c->started_ms)
    return err_set(err, GLOAM_EFORMAT, "receipt: finished before it started");
  return 0;
}

/* The canonical JSON of checked claims into out; returns the length. */
int receipt_claims_encode(const gloam_receipt_claims *c, char *out, size_t cap) {
  char rid[33], req[65], tr[65];
  codec_hex_encode(c->request_id, sizeof c->request_id, rid, sizeof rid);
  codec_hex_encode(c->request_sha256, 32, req, sizeof req);
  codec_hex_encode(c->transcript_sha256, 32, tr, sizeof tr);
  char audio[40] = ""; /* optional: only present when non-zero */
  if (c->audio_ms)
    snprintf(audio, sizeof audio, ",\"audio_ms\":%llu", (unsigned long long)c->audio_ms);
  char images[40 + 64 * GLOAM_RECEIPT_MAX_IMAGES] = ""; /* optional, as audio_ms */
  if (c->images) {
    int k = snprintf(images, sizeof images, ",\"images\":%llu,\"images_sha256\":\"",
                     (unsigned long long)c->images);
    for (uint64_t i = 0; i < c->images && i < GLOAM_RECEIPT_MAX_IMAGES; i++)
      k += (int)codec_hex_encode(c->images_sha256[i], 32, images + k, sizeof images - (size_t)k);
    snprintf(images + k, sizeof images - (size_t)k, "\"");
  }
  int n = snprintf(out, cap,
                   "{\"ver\":%u,\"node_id\":\"%s\",\"request_id\":\"%s\",\"request_sha256\":\"%s\","
                   "\"transcript_sha256\":\"%s\",\"model\":\"%s\",\"weights_digest\":\"%s\","
                   "\"prompt_tokens\":%llu,\"completion_tokens\":%llu%s%s,\"price_micro_usd\":%llu,"
                   "\"started_ms\":%llu,\"finished_ms\":%llu}",
                   c->version, c->node_id, rid, req, tr, c->model, c->weights_digest,
                   (unsigned long long)c->prompt_tokens, (unsigned long long)c->completion_tokens,
                   audio, images, (unsigned long long)c->price_micro_usd,
                   (unsigned long long)c->started_ms, (unsigned long long)c->finished_ms);
  return n < 0 || (size_t)n >= cap ? GLOAM_ETOOBIG : n;
}

static int get_str(json_t *o, const char *k, char *dst, size_t max) {
  const char *s = json_string_value(json_object_get(o, k));
  if (!s || strlen(s) > max) return GLOAM_EFORMAT;
  memcpy(dst, s, strlen(s) + 1);
  return 0;
}

static int get_hex(json_t *o, const char *k, uint8_t *dst, size_t n) {
  const char *s = json_string_value(json_object_get(o, k));
  if (!s || strlen(s) != 2 * n) return GLOAM_EFORMAT;
  return codec_hex_decode(s, 2 * n, dst, n, 0) == (long)n ? 0 : GLOAM_EFORMAT;
}

static int get_uint(json_t *o, const char *k, uint64_t *dst) {
  json_t *v = json_object_get(o, k);
  if (!json_is_integer(v) || json_integer_value(v) < 0) return GLOAM_EFORMAT;
  *dst = (uint64_t)json_integer_value(v);
  return 0;
}

int receipt_claims_parse(const char *p, size_t n, gloam_receipt_claims *c, char *err) {
  json_error_t je;
  json_t *o = json_loadb(p, n, JSON_REJECT_DUPLICATES, &je);
  uint64_t ver = 0;
  int rc = GLOAM_EFORMAT;
  memset(c, 0, sizeof *c);
  bool has_audio = o && json_object_get(o, "audio_ms") != NULL;
  bool has_images = o && json_object_get(o, "images") != NULL;
  if (!o || !json_is_object(o) ||
      json_object_size(o) != (size_t)N_CLAIMS + has_audio + 2u * has_images)
    goto fail;
  if (has_audio && (get_uint(o, "audio_ms", &c->audio_ms) < 0 || c->audio_ms == 0)) goto fail;
  if (has_images && (get_uint(o, "images", &c->images) < 0 || c->images == 0 ||
                     c->images > GLOAM_RECEIPT_MAX_IMAGES ||
                     get_hex(o, "images_sha256", &c->images_sha256[0][0], 32 * c->images) < 0))
    goto fail;
  if (get_uint(o, "ver", &ver) < 0 || ver > UINT32_MAX) goto fail;
  c->version = (uint32_t)ver;
  if (get_str(o, "node_id", c->node_id, GLOAM_SEAL_NODE_ID_MAX) < 0 ||
      get_hex(o, "request_id", c->request_id, sizeof c->request_id) < 0 ||
      get_hex(o, "request_sha256", c->request_sha256, 32) < 0 ||
      get_hex(o, "transcript_sha256", c->transcript_sha256, 32) < 0 ||
      get_str(o, "model", c->model, GLOAM_SEAL_MODEL_MAX) < 0 ||
      get_str(o, "weights_digest", c->weights_digest, GLOAM_RECEIPT_WEIGHTS_MAX) < 0 ||
      get_uint(o, "prompt_tokens", &c->prompt_tokens) < 0 ||
      get_uint(o, "completion_tokens", &c->completion_tokens) < 0 ||
      get_uint(o, "price_micro_usd", &c->price_micro_usd) < 0 ||
      get_uint(o, "started_ms", &c->started_ms) < 0 ||
      get_uint(o, "finished_ms", &c->finished_ms) < 0)
    goto fail;
  json_decref(o);
  o = NULL;
  rc = receipt_claims_check(c, err);
  if (rc < 0) return rc;
  char again[RECEIPT_PAYLOAD_MAX];
  int m = receipt_claims_encode(c, again, sizeof again);
  if (m < 0 || (size_t)m != n || memcmp(again, p, n) != 0)
    return err_set(err, GLOAM_EFORMAT, "receipt: claims are not in canonical form");
  return 0;
fail:
  json_decref(o);
  return err_set(err, rc, "receipt: claims are not the expected JSON object");
}

/* ---- signer ---- */

int gloam_receipt_signer_new(gloam_receipt_signer **out, char *err) {
  gloam_receipt_signer *s = mem_calloc(1, sizeof *s);
  *out = NULL;
  if (!s) return err_set(err, GLOAM_ENOMEM, "receipt: out of memory");
  int rc = es256_generate(&s->key);
  if (rc == 0) rc = es256_thumbprint(s->key, s->kid);
  if (rc < 0) {
    gloam_receipt_signer_free(s);
    return err_set(err, rc, "receipt: key generation failed");
  }
  *out = s;
  return 0;
}

void gloam_receipt_signer_free(gloam_receipt_signer *s) {
  if (!s) return;
  es256_key_free(s->key);
  secure_zero(s, sizeof *s);
  mem_free(s);
}

int gloam_receipt_signer_public_jwk(const gloam_receipt_signer *s, char *out, size_t cap) {
  int n = es256_public_jwk(s->key, out, cap);
  return n < 0 ? n : 0;
}

es256_key *receipt_signer_key(const gloam_receipt_signer *s) {
  return s->key;
}

int gloam_receipt_signer_public_pem(const gloam_receipt_signer *s, char *out, size_t cap) {
  int n = es256_public_pem(s->key, out, cap);
  return n < 0 ? n : 0;
}

static size_t b64(const void *p, size_t n, char *out, size_t cap) {
  long m = codec_b64_encode(p, n, out, cap, CODEC_B64_URL);
  return m < 0 ? 0 : (size_t)m;
}

int gloam_receipt_sign(const gloam_receipt_signer *s, const gloam_receipt_claims *c, char **out_jws,
                       size_t *out_len, char *err) {
  char header[128], payload[RECEIPT_PAYLOAD_MAX];
  uint8_t sig[ES256_SIG_LEN];
  *out_jws = NULL;
  *out_len = 0;
  int rc = receipt_claims_check(c, err);
  if (rc < 0) return rc;
  int pl = receipt_claims_encode(c, payload, sizeof payload);
  int hl = snprintf(header, sizeof header, "{\"alg\":\"ES256\",\"kid\":\"%s\",\"typ\":\"%s\"}",
                    s->kid, JWS_TYP);
  if (pl < 0 || hl < 0 || (size_t)hl >= sizeof header)
    return err_set(err, GLOAM_ETOOBIG, "receipt: claims too long");
  size_t cap = codec_b64_len((size_t)hl, CODEC_B64_URL) + codec_b64_len((size_t)pl, CODEC_B64_URL) +
               codec_b64_len(ES256_SIG_LEN, CODEC_B64_URL) + 3;
  char *jws = mem_alloc(cap);
  if (!jws) return err_set(err, GLOAM_ENOMEM, "receipt: out of memory");
  size_t n = b64(header, (size_t)hl, jws, cap);
  jws[n++] = '.';
  n += b64(payload, (size_t)pl, jws + n, cap - n);
  rc = es256_sign(s->key, jws, n, sig);
  if (rc < 0) {
    mem_free(jws);
    return err_set(err, rc, "receipt: signing failed");
  }
  jws[n++] = '.';
  n += b64(sig, sizeof sig, jws + n, cap - n);
  *out_jws = jws;
  *out_len = n;
  return 0;
}

void gloam_receipt_free_jws(char *jws) {
  mem_free(jws);
}

/* ---- verification ---- */

static int key_wrap(es256_key *k, gloam_receipt_key **out) {
  gloam_receipt_key *rk = mem_calloc(1, sizeof *rk);
  int rc = rk ? es256_thumbprint(k, rk->kid) : GLOAM_ENOMEM;
  if (rc < 0) {
    es256_key_free(k);
    mem_free(rk);
    return rc;
  }
  rk->key = k;
  *out = rk;
  return 0;
}

int gloam_receipt_key_parse(const char *text, size_t len, gloam_receipt_key **out, char *err) {
  es256_key *k = NULL;
  *out = NULL;
  int rc = es256_public_parse(text, len, &k, err);
  return rc < 0 ? rc : key_wrap(k, out);
}

int gloam_receipt_key_from_signer(const gloam_receipt_signer *s, gloam_receipt_key **out) {
  *out = NULL;
  es256_key *k = es256_key_ref(s->key);
  return k ? key_wrap(k, out) : GLOAM_ECRYPTO;
}

void gloam_receipt_key_thumbprint(const gloam_receipt_key *k, char out[44]) {
  memcpy(out, k->kid, sizeof k->kid);
}

void gloam_receipt_key_free(gloam_receipt_key *k) {
  if (!k) return;
  es256_key_free(k->key);
  mem_free(k);
}

static int check_header(const gloam_receipt_key *k, const char *p, size_t n, char *err) {
  json_error_t je;
  json_t *o = json_loadb(p, n, JSON_REJECT_DUPLICATES, &je);
  int rc = 0;
  const char *alg = json_string_value(json_object_get(o, "alg"));
  const char *typ = json_string_value(json_object_get(o, "typ"));
  const char *kid = json_string_value(json_object_get(o, "kid"));
  if (!o || !json_is_object(o))
    rc = err_set(err, GLOAM_EFORMAT, "receipt: JWS header is not a JSON object");
  else if (!alg || strcmp(alg, "ES256") != 0)
    rc = err_set(err, GLOAM_EUNSUPPORTED, "receipt: alg is not ES256");
  else if (!typ || strcmp(typ, JWS_TYP) != 0)
    rc = err_set(err, GLOAM_EFORMAT, "receipt: typ is not %s", JWS_TYP);
  else if (json_object_get(o, "crit"))
    rc = err_set(err, GLOAM_EUNSUPPORTED, "receipt: crit header not understood");
  else if (!kid || strcmp(kid, k->kid) != 0)
    rc = err_set(err, GLOAM_EAUTH, "receipt: signed by key %.43s, not by the given key %s",
                 kid ? kid : "(none)", k->kid);
  json_decref(o);
  return rc;
}

int gloam_receipt_verify(const gloam_receipt_key *k, const char *jws, size_t len,
                         gloam_receipt_claims *c, char *err) {
  char header[256], payload[RECEIPT_PAYLOAD_MAX];
  uint8_t sig[ES256_SIG_LEN + 1];
  memset(c, 0, sizeof *c);
  if (len > GLOAM_RECEIPT_MAX_JWS)
    return err_set(err, GLOAM_ETOOBIG, "receipt: %zu bytes is too long", len);
  while (len && (jws[len - 1] == '\n' || jws[len - 1] == '\r')) len--;
  const char *d1 = memchr(jws, '.', len);
  const char *d2 = d1 ? memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - jws)) : NULL;
  if (!d1 || !d2 || memchr(d2 + 1, '.', len - (size_t)(d2 + 1 - jws)))
    return err_set(err, GLOAM_EFORMAT, "receipt: not a compact JWS (three dot-separated parts)");
  long hl =
      codec_b64_decode(jws, (size_t)(d1 - jws), (uint8_t *)header, sizeof header, CODEC_B64_URL);
  long pl = codec_b64_decode(d1 + 1, (size_t)(d2 - d1 - 1), (uint8_t *)payload, sizeof payload,
                             CODEC_B64_URL);
  long sl = codec_b64_decode(d2 + 1, len - (size_t)(d2 + 1 - jws), sig, sizeof sig, CODEC_B64_URL);
  if (hl < 0 || pl < 0 || sl < 0)
    return err_set(err, GLOAM_EFORMAT, "receipt: a JWS part is not valid base64url");
  if (sl != ES256_SIG_LEN)
    return err_set(err, GLOAM_EFORMAT, "receipt: signature is %ld bytes, not 64 (r||s)", sl);
  int rc = check_header(k, header, (size_t)hl, err);
  if (rc < 0) return rc;
  rc = es256_verify(k->key, jws, (size_t)(d2 - jws), sig);
  if (rc < 0)
    return err_set(err, rc == GLOAM_EAUTH ? GLOAM_EAUTH : rc,
                   "receipt: ES256 signature does not verify with the given key");
  return receipt_claims_parse(payload, (size_t)pl, c, err);
}

int gloam_receipt_check_client(const gloam_seal_client *sc, const gloam_receipt_key *k,
                               const char *jws, size_t len, gloam_receipt_claims *c, char *err) {
  uint8_t want[32];
  const gloam_seal_header *h = gloam_seal_client_header(sc);
  if (!gloam_seal_client_done(sc))
    return err_set(err, GLOAM_ESTATE, "receipt: the response stream has no final chunk");
  int rc = gloam_receipt_verify(k, jws, len, c, err);
  if (rc < 0) return rc;
  if (memcmp(c->request_id, h->request_id, sizeof c->request_id) != 0)
    return err_set(err, GLOAM_EAUTH, "receipt: for another request id");
  if (strcmp(c->node_id, h->node_id) != 0 || strcmp(c->model, h->model) != 0)
    return err_set(err, GLOAM_EAUTH, "receipt: node or model differs from the request");
  gloam_seal_client_request_hash(sc, want);
  if (memcmp(want, c->request_sha256, 32) != 0)
    return err_set(err, GLOAM_EAUTH, "receipt: request hash differs from the sealed request");
  rc = gloam_seal_client_transcript_hash(sc, want);
  if (rc < 0) return err_set(err, rc, "receipt: hash failed");
  if (memcmp(want, c->transcript_sha256, 32) != 0)
    return err_set(err, GLOAM_EAUTH, "receipt: transcript hash differs from the response");
  return 0;
}
