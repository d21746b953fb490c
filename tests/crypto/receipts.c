/* SPDX-License-Identifier: Apache-2.0
 *
 * tests/crypto/receipts.c: JWS ES256 receipts.
 *
 * The independent reference is RFC 7515 Appendix A.3 (a published ES256
 * JWS and its P-256 JWK): our raw r||s -> DER conversion and verification
 * must accept it. Receipts made here are also verified by the npm `jose`
 * library in the interop test (tests/npm/interop_seal.mjs).
 */
#include <fcntl.h>
#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>

#include "core/codec.h"
#include "crypto/es256.h"
#include "crypto/receipt_claims.h"
#include "crypto_tests.h"
#include "gloam/receipt.h"
#include "gloam/seal.h"
#include "test.h"

static void claims_init(gloam_receipt_claims *c) {
  memset(c, 0, sizeof *c);
  c->version = GLOAM_RECEIPT_VERSION;
  snprintf(c->node_id, sizeof c->node_id, "node-1");
  memset(c->request_id, 0x11, sizeof c->request_id);
  memset(c->request_sha256, 0x22, 32);
  memset(c->transcript_sha256, 0x33, 32);
  snprintf(c->model, sizeof c->model, "Qwen/Qwen3-0.6B");
  snprintf(c->weights_digest, sizeof c->weights_digest, "sha256:%064d", 7);
  c->prompt_tokens = 12;
  c->completion_tokens = 34;
  c->price_micro_usd = 56;
  c->started_ms = 1800000000000;
  c->finished_ms = 1800000001234;
}

void test_receipt_roundtrip(void) {
  gloam_receipt_signer *s = NULL;
  gloam_receipt_key *k1 = NULL, *k2 = NULL, *k3 = NULL;
  gloam_receipt_claims c, got;
  char err[GLOAM_ERR_LEN], jwk[256], pem[256], *jws = NULL;
  size_t n = 0;
  claims_init(&c);
  ASSERT_OK(gloam_receipt_signer_new(&s, err));
  ASSERT_OK(gloam_receipt_sign(s, &c, &jws, &n, err));
  ASSERT_EQ_UINT(strlen(jws), n);
  ASSERT_OK(gloam_receipt_signer_public_jwk(s, jwk, sizeof jwk));
  ASSERT_OK(gloam_receipt_signer_public_pem(s, pem, sizeof pem));
  ASSERT_OK(gloam_receipt_key_from_signer(s, &k1));
  ASSERT_OK(gloam_receipt_key_parse(jwk, strlen(jwk), &k2, err));
  ASSERT_OK(gloam_receipt_key_parse(pem, strlen(pem), &k3, err));
  gloam_receipt_key *ks[] = {k1, k2, k3};
  for (int i = 0; i < 3; i++) {
    ASSERT_OK(gloam_receipt_verify(ks[i], jws, n, &got, err));
    ASSERT_EQ_MEM(&got, &c, sizeof c);
  }
  /* the payload is exactly the documented canonical JSON */
  const char *d1 = strchr(jws, '.'), *d2 = strchr(d1 + 1, '.');
  char payload[1024];
  long pl = codec_b64_decode(d1 + 1, (size_t)(d2 - d1 - 1), (uint8_t *)payload, sizeof payload - 1,
                             CODEC_B64_URL);
  ASSERT_CMP_INT(pl, >, 0);
  payload[pl] = 0;
  ASSERT_EQ_STR(
      payload,
      "{\"ver\":1,\"node_id\":\"node-1\",\"request_id\":\"11111111111111111111111111111111\","
      "\"request_sha256\":\"2222222222222222222222222222222222222222222222222222222222222222\","
      "\"transcript_sha256\":\"3333333333333333333333333333333333333333333333333333333333333333\","
      "\"model\":\"Qwen/Qwen3-0.6B\",\"weights_digest\":\"sha256:"
      "0000000000000000000000000000000000000000000000000000000000000007\","
      "\"prompt_tokens\":12,\"completion_tokens\":34,\"price_micro_usd\":56,"
      "\"started_ms\":1800000000000,\"finished_ms\":1800000001234}");
  /* kid = RFC 7638 thumbprint: b64url(SHA-256 of the members in lexical order) */
  uint8_t d[32];
  char kid[48], thumb[44];
  SHA256((const uint8_t *)jwk, strlen(jwk), d);
  codec_b64_encode(d, 32, kid, sizeof kid, CODEC_B64_URL);
  gloam_receipt_key_thumbprint(k2, thumb);
  ASSERT_EQ_STR(thumb, kid);
  static const char jwk_head[] = "{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"";
  ASSERT_TRUE(strncmp(jwk, jwk_head, sizeof jwk_head - 1) == 0);
  /* invalid claims are not signed */
  c.finished_ms = c.started_ms - 1;
  char *bad = NULL;
  ASSERT_EQ_INT(gloam_receipt_sign(s, &c, &bad, &n, err), GLOAM_EFORMAT);
  claims_init(&c);
  c.price_micro_usd = GLOAM_RECEIPT_MAX_INT + 1;
  ASSERT_EQ_INT(gloam_receipt_sign(s, &c, &bad, &n, err), GLOAM_ERANGE);
  ASSERT_TRUE(bad == NULL);
  gloam_receipt_free_jws(jws);
  gloam_receipt_key_free(k1);
  gloam_receipt_key_free(k2);
  gloam_receipt_key_free(k3);
  gloam_receipt_signer_free(s);
}

void test_receipt_tamper(void) {
  gloam_receipt_signer *s = NULL, *other = NULL;
  gloam_receipt_key *k = NULL, *ko = NULL;
  gloam_receipt_claims c, got;
  char err[GLOAM_ERR_LEN], *jws = NULL;
  size_t n = 0;
  claims_init(&c);
  ASSERT_OK(gloam_receipt_signer_new(&s, err));
  ASSERT_OK(gloam_receipt_signer_new(&other, err));
  ASSERT_OK(gloam_receipt_key_from_signer(s, &k));
  ASSERT_OK(gloam_receipt_key_from_signer(other, &ko));
  ASSERT_OK(gloam_receipt_sign(s, &c, &jws, &n, err));
  /* every character changed to another base64url character is rejected */
  char *copy = malloc(n + 1);
  for (size_t i = 0; i < n; i++) {
    if (jws[i] == '.') continue;
    memcpy(copy, jws, n + 1);
    copy[i] = jws[i] == 'A' ? 'B' : 'A';
    if (gloam_receipt_verify(k, copy, n, &got, err) >= 0) {
      /* the last char of a part can carry unused bits: strict base64url
       * rejects those, so any acceptance is a failure */
      test_fail(__FILE__, __LINE__, "changed char %zu accepted", i);
    }
  }
  free(copy);
  ASSERT_EQ_INT(gloam_receipt_verify(ko, jws, n, &got, err), GLOAM_EAUTH);
  ASSERT_EQ_INT(gloam_receipt_verify(k, jws, n - 1, &got, err), GLOAM_EFORMAT);
  ASSERT_EQ_INT(gloam_receipt_verify(k, "a.b", 3, &got, err), GLOAM_EFORMAT);
  gloam_receipt_free_jws(jws);
  gloam_receipt_key_free(k);
  gloam_receipt_key_free(ko);
  gloam_receipt_signer_free(s);
  gloam_receipt_signer_free(other);
}

/* RFC 7515 A.3: a published ES256 signature verifies with our r||s handling. */
void test_receipt_rfc7515_es256(void) {
  static const char jwk[] =
      "{\"kty\":\"EC\",\"crv\":\"P-256\","
      "\"x\":\"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU\","
      "\"y\":\"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0\"}";
  static const char input[] =
      "eyJhbGciOiJFUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLm"
      "NvbS9pc19yb290Ijp0cnVlfQ";
  static const char sig64[] =
      "DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q";
  es256_key *k = NULL;
  char err[GLOAM_ERR_LEN];
  uint8_t sig[64];
  ASSERT_OK(es256_public_parse(jwk, strlen(jwk), &k, err));
  ASSERT_EQ_INT(codec_b64_decode(sig64, strlen(sig64), sig, sizeof sig, CODEC_B64_URL), 64);
  ASSERT_OK(es256_verify(k, input, strlen(input), sig));
  sig[10] ^= 1;
  ASSERT_EQ_INT(es256_verify(k, input, strlen(input), sig), GLOAM_EAUTH);
  es256_key_free(k);
}

/* Signs arbitrary header/payload text with a raw key. */
static char *sign_raw(es256_key *k, const char *header, const char *payload) {
  static char out[2048];
  uint8_t sig[64];
  long n =
      codec_b64_encode((const uint8_t *)header, strlen(header), out, sizeof out, CODEC_B64_URL);
  out[n++] = '.';
  n += codec_b64_encode((const uint8_t *)payload, strlen(payload), out + n, sizeof out - (size_t)n,
                        CODEC_B64_URL);
  ASSERT_OK(es256_sign(k, out, (size_t)n, sig));
  out[n++] = '.';
  codec_b64_encode(sig, 64, out + n, sizeof out - (size_t)n, CODEC_B64_URL);
  return out;
}

/* Correctly signed but malformed receipts are still rejected. */
void test_receipt_strict_parse(void) {
  es256_key *raw = NULL;
  gloam_receipt_key *k = NULL;
  gloam_receipt_claims got;
  char err[GLOAM_ERR_LEN], pem[256], hdr[160], thumb[44];
  ASSERT_OK(es256_generate(&raw));
  ASSERT_CMP_INT(es256_public_pem(raw, pem, sizeof pem), >, 0);
  ASSERT_OK(gloam_receipt_key_parse(pem, strlen(pem), &k, err));
  gloam_receipt_key_thumbprint(k, thumb);
  snprintf(hdr, sizeof hdr, "{\"alg\":\"ES256\",\"kid\":\"%s\",\"typ\":\"gloam-receipt\"}", thumb);
  const char *good =
      "{\"ver\":1,\"node_id\":\"n\",\"request_id\":\"00000000000000000000000000000000\","
      "\"request_sha256\":\"0000000000000000000000000000000000000000000000000000000000000000\","
      "\"transcript_sha256\":\"0000000000000000000000000000000000000000000000000000000000000000\","
      "\"model\":\"m\",\"weights_digest\":\"w\",\"prompt_tokens\":1,\"completion_tokens\":2,"
      "\"price_micro_usd\":3,\"started_ms\":4,\"finished_ms\":5}";
  char *j = sign_raw(raw, hdr, good);
  ASSERT_OK(gloam_receipt_verify(k, j, strlen(j), &got, err));
  ASSERT_EQ_UINT(got.finished_ms, 5);
  /* whitespace, key order, uppercase hex, a float, duplicates: not canonical */
  static const char *bad[] = {
      "{ \"ver\":1}",
      "{\"node_id\":\"n\",\"ver\":1,\"request_id\":\"00000000000000000000000000000000\","
      "\"request_sha256\":\"0000000000000000000000000000000000000000000000000000000000000000\","
      "\"transcript_sha256\":\"0000000000000000000000000000000000000000000000000000000000000000\","
      "\"model\":\"m\",\"weights_digest\":\"w\",\"prompt_tokens\":1,\"completion_tokens\":2,"
      "\"price_micro_usd\":3,\"started_ms\":4,\"finished_ms\":5}",
      "{\"ver\":1,\"node_id\":\"n\",\"request_id\":\"0000000000000000000000000000000A\","
      "\"request_sha256\":\"0000000000000000000000000000000000000000000000000000000000000000\","
      "\"transcript_sha256\":\"0000000000000000000000000000000000000000000000000000000000000000\","
      "\"model\":\"m\",\"weights_digest\":\"w\",\"prompt_tokens\":1,\"completion_tokens\":2,"
      "\"price_micro_usd\":3,\"started_ms\":4,\"finished_ms\":5}",
      "{\"ver\":1,\"node_id\":\"n\",\"request_id\":\"00000000000000000000000000000000\","
      "\"request_sha256\":\"0000000000000000000000000000000000000000000000000000000000000000\","
      "\"transcript_sha256\":\"0000000000000000000000000000000000000000000000000000000000000000\","
      "\"model\":\"m\",\"weights_digest\":\"w\",\"prompt_tokens\":1.0,\"completion_tokens\":2,"
      "\"price_micro_usd\":3,\"started_ms\":4,\"finished_ms\":5}",
      "{\"ver\":1,\"ver\":1,\"node_id\":\"n\",\"request_id\":\"00000000000000000000000000000000\","
      "\"request_sha256\":\"0000000000000000000000000000000000000000000000000000000000000000\","
      "\"transcript_sha256\":\"0000000000000000000000000000000000000000000000000000000000000000\","
      "\"model\":\"m\",\"weights_digest\":\"w\",\"prompt_tokens\":1,\"completion_tokens\":2,"
      "\"price_micro_usd\":3,\"started_ms\":4,\"finished_ms\":5}",
      "[]",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    j = sign_raw(raw, hdr, bad[i]);
    ASSERT_EQ_INT(gloam_receipt_verify(k, j, strlen(j), &got, err), GLOAM_EFORMAT);
  }
  /* header: alg none / HS256, missing typ, another kid, crit */
  j = sign_raw(raw, "{\"alg\":\"none\"}", good);
  ASSERT_EQ_INT(gloam_receipt_verify(k, j, strlen(j), &got, err), GLOAM_EUNSUPPORTED);
  snprintf(hdr, sizeof hdr, "{\"alg\":\"ES256\",\"kid\":\"%s\"}", thumb);
  j = sign_raw(raw, hdr, good);
  ASSERT_EQ_INT(gloam_receipt_verify(k, j, strlen(j), &got, err), GLOAM_EFORMAT);
  j = sign_raw(raw, "{\"alg\":\"ES256\",\"kid\":\"x\",\"typ\":\"gloam-receipt\"}", good);
  ASSERT_EQ_INT(gloam_receipt_verify(k, j, strlen(j), &got, err), GLOAM_EAUTH);
  snprintf(hdr, sizeof hdr,
           "{\"alg\":\"ES256\",\"kid\":\"%s\",\"typ\":\"gloam-receipt\",\"crit\":[\"x\"]}", thumb);
  j = sign_raw(raw, hdr, good);
  ASSERT_EQ_INT(gloam_receipt_verify(k, j, strlen(j), &got, err), GLOAM_EUNSUPPORTED);
  /* keys: not P-256, garbage */
  gloam_receipt_key *bk = NULL;
  const char *p384 = "{\"kty\":\"EC\",\"crv\":\"P-384\",\"x\":\"AA\",\"y\":\"AA\"}";
  ASSERT_EQ_INT(gloam_receipt_key_parse(p384, strlen(p384), &bk, err), GLOAM_EUNSUPPORTED);
  ASSERT_EQ_INT(gloam_receipt_key_parse("hello", 5, &bk, err), GLOAM_EFORMAT);
  const char *offcurve =
      "{\"kty\":\"EC\",\"crv\":\"P-256\","
      "\"x\":\"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU\","
      "\"y\":\"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a1\"}";
  ASSERT_TRUE(gloam_receipt_key_parse(offcurve, strlen(offcurve), &bk, err) < 0);
  ASSERT_TRUE(bk == NULL);
  gloam_receipt_key_free(k);
  es256_key_free(raw);
}

/* The client's check binds a receipt to its own request and response. */
void test_receipt_client_binding(void) {
  static const uint8_t ikm[32] = "receipt binding test ikm 000000";
  gloam_seal_keypair *kp = NULL;
  gloam_seal_node *node = NULL;
  gloam_seal_client *c = NULL;
  gloam_seal_responder *r = NULL;
  gloam_receipt_signer *s = NULL;
  gloam_receipt_key *k = NULL;
  gloam_seal_header h, hn;
  gloam_receipt_claims claims, got;
  uint8_t pk[65], *env = NULL, *body = NULL, frame[128], out[128];
  size_t pk_len, env_len, body_len, fl, ol;
  int fin;
  char err[GLOAM_ERR_LEN], *jws = NULL;
  size_t jl;
  ASSERT_OK(gloam_seal_keypair_derive(&kp, 0, ikm, sizeof ikm));
  ASSERT_OK(gloam_seal_keypair_public(kp, pk, sizeof pk, &pk_len));
  ASSERT_OK(gloam_seal_node_new(&node, kp, NULL, NULL, err));
  ASSERT_OK(gloam_receipt_signer_new(&s, err));
  ASSERT_OK(gloam_receipt_key_from_signer(s, &k));
  memset(&h, 0, sizeof h);
  snprintf(h.node_id, sizeof h.node_id, "node-9");
  snprintf(h.model, sizeof h.model, "m1");
  snprintf(h.endpoint, sizeof h.endpoint, "chat/completions");
  ASSERT_OK(gloam_seal_request(&h, pk, pk_len, (const uint8_t *)"{}", 2, &env, &env_len, &c, err));
  ASSERT_OK(gloam_seal_node_open(node, env, env_len, 0, &hn, &body, &body_len, &r, err));
  ASSERT_OK(gloam_seal_responder_start(r, frame, sizeof frame, &fl));
  ASSERT_OK(gloam_seal_client_open(c, frame, fl, out, sizeof out, &ol, &fin));
  ASSERT_OK(gloam_seal_responder_seal(r, (const uint8_t *)"hi", 2, 0, frame, sizeof frame, &fl));
  ASSERT_OK(gloam_seal_client_open(c, frame, fl, out, sizeof out, &ol, &fin));
  memset(&claims, 0, sizeof claims);
  claims.version = 1;
  memcpy(claims.node_id, hn.node_id, sizeof claims.node_id);
  memcpy(claims.model, hn.model, sizeof claims.model);
  memcpy(claims.request_id, hn.request_id, 16);
  snprintf(claims.weights_digest, sizeof claims.weights_digest, "sha256:abc");
  gloam_seal_responder_request_hash(r, claims.request_sha256);
  ASSERT_OK(gloam_seal_responder_transcript_hash(r, claims.transcript_sha256));
  ASSERT_OK(gloam_receipt_sign(s, &claims, &jws, &jl, err));
  /* the stream has not ended: truncated */
  ASSERT_EQ_INT(gloam_receipt_check_client(c, k, jws, jl, &got, err), GLOAM_ESTATE);
  ASSERT_OK(gloam_seal_responder_seal(r, (const uint8_t *)"!", 1, 1, frame, sizeof frame, &fl));
  ASSERT_OK(gloam_seal_client_open(c, frame, fl, out, sizeof out, &ol, &fin));
  /* signed before the last chunk: the transcript hash no longer matches */
  ASSERT_EQ_INT(gloam_receipt_check_client(c, k, jws, jl, &got, err), GLOAM_EAUTH);
  gloam_receipt_free_jws(jws);
  ASSERT_OK(gloam_seal_responder_transcript_hash(r, claims.transcript_sha256));
  ASSERT_OK(gloam_receipt_sign(s, &claims, &jws, &jl, err));
  ASSERT_OK(gloam_receipt_check_client(c, k, jws, jl, &got, err));
  gloam_receipt_free_jws(jws);
  /* a receipt for another request id / another request hash */
  claims.request_id[0] ^= 1;
  ASSERT_OK(gloam_receipt_sign(s, &claims, &jws, &jl, err));
  ASSERT_EQ_INT(gloam_receipt_check_client(c, k, jws, jl, &got, err), GLOAM_EAUTH);
  gloam_receipt_free_jws(jws);
  claims.request_id[0] ^= 1;
  claims.request_sha256[0] ^= 1;
  ASSERT_OK(gloam_receipt_sign(s, &claims, &jws, &jl, err));
  ASSERT_EQ_INT(gloam_receipt_check_client(c, k, jws, jl, &got, err), GLOAM_EAUTH);
  gloam_receipt_free_jws(jws);
  gloam_seal_free(body, body_len);
  gloam_seal_free(env, env_len);
  gloam_seal_client_free(c);
  gloam_seal_responder_free(r);
  gloam_receipt_key_free(k);
  gloam_receipt_signer_free(s);
  gloam_seal_node_free(node);
}

/* gloam-verify: exit 0 for a good receipt, 1 with a reason for a bad one. */
#ifdef GLOAM_VERIFY_BIN
#include <spawn.h>
#include <sys/wait.h>
extern char **environ;

static int run_verify(const char *jws, const char *tr, const char *key, const char *req) {
  char *argv[12] = {GLOAM_VERIFY_BIN, "receipt",  "--jws",     (char *)jws, "--transcript",
                    (char *)tr,       "--pubkey", (char *)key, NULL};
  if (req) argv[8] = "--request", argv[9] = (char *)req;
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  pid_t pid;
  int st = 0;
  ASSERT_EQ_INT(posix_spawn(&pid, GLOAM_VERIFY_BIN, &fa, NULL, argv, environ), 0);
  posix_spawn_file_actions_destroy(&fa);
  ASSERT_EQ_INT(waitpid(pid, &st, 0), pid);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static char *put(const char *dir, const char *name, const void *p, size_t n) {
  static char paths[8][512];
  static int next;
  char *f = paths[next++ % 8];
  snprintf(f, 512, "%s/%s", dir, name);
  FILE *fp = fopen(f, "wb");
  ASSERT_NOT_NULL(fp);
  ASSERT_EQ_UINT(fwrite(p, 1, n, fp), n);
  fclose(fp);
  return f;
}

void test_verify_cli(void) {
  gloam_receipt_signer *s = NULL, *other = NULL;
  gloam_receipt_claims c;
  char err[GLOAM_ERR_LEN], pem[256], jwk[256], *jws = NULL;
  size_t jl;
  const char transcript[] = "data: {\"choices\":[{\"delta\":{\"content\":\"hi\"}}]}\n\n";
  const uint8_t request[] = "GLSQ pretend envelope";
  char *dir = test_tmpdir();
  claims_init(&c);
  SHA256((const uint8_t *)transcript, sizeof transcript - 1, c.transcript_sha256);
  SHA256(request, sizeof request, c.request_sha256);
  ASSERT_OK(gloam_receipt_signer_new(&s, err));
  ASSERT_OK(gloam_receipt_signer_new(&other, err));
  ASSERT_OK(gloam_receipt_sign(s, &c, &jws, &jl, err));
  ASSERT_OK(gloam_receipt_signer_public_pem(s, pem, sizeof pem));
  ASSERT_OK(gloam_receipt_signer_public_jwk(s, jwk, sizeof jwk));
  char *fj = put(dir, "r.jws", jws, jl), *ft = put(dir, "t.txt", transcript, sizeof transcript - 1);
  char *fp = put(dir, "k.pem", pem, strlen(pem)), *fk = put(dir, "k.jwk", jwk, strlen(jwk));
  char *fr = put(dir, "req.bin", request, sizeof request);
  ASSERT_EQ_INT(run_verify(fj, ft, fp, NULL), 0);
  ASSERT_EQ_INT(run_verify(fj, ft, fk, fr), 0);
  char *fbad = put(dir, "t2.txt", transcript, sizeof transcript - 2); /* truncated transcript */
  ASSERT_EQ_INT(run_verify(fj, fbad, fp, NULL), 1);
  ASSERT_EQ_INT(run_verify(fj, ft, fp, ft), 1); /* wrong request */
  ASSERT_OK(gloam_receipt_signer_public_pem(other, pem, sizeof pem));
  char *fo = put(dir, "o.pem", pem, strlen(pem));
  ASSERT_EQ_INT(run_verify(fj, ft, fo, NULL), 1); /* another key */
  jws[jl - 3] = jws[jl - 3] == 'A' ? 'B' : 'A';
  char *fx = put(dir, "x.jws", jws, jl);
  ASSERT_EQ_INT(run_verify(fx, ft, fp, NULL), 1); /* tampered signature */
  ASSERT_EQ_INT(run_verify("/nonexistent/r.jws", ft, fp, NULL), 2);
  gloam_receipt_free_jws(jws);
  gloam_receipt_signer_free(s);
  gloam_receipt_signer_free(other);
  free(dir);
}
#else
void test_verify_cli(void) {
  TEST_SKIP("gloam-verify not built");
}
#endif

/* Audio receipts carry audio_ms right after completion_tokens; chat
 * receipts (audio_ms 0) keep their twelve claims unchanged. */
void test_receipt_audio_ms(void) {
  gloam_receipt_signer *s = NULL;
  gloam_receipt_key *k = NULL;
  gloam_receipt_claims c, got;
  char err[GLOAM_ERR_LEN], *jws = NULL;
  size_t n = 0;
  claims_init(&c);
  c.prompt_tokens = 0;
  c.audio_ms = 61500;
  ASSERT_OK(gloam_receipt_signer_new(&s, err));
  ASSERT_OK(gloam_receipt_key_from_signer(s, &k));
  ASSERT_OK(gloam_receipt_sign(s, &c, &jws, &n, err));
  ASSERT_OK(gloam_receipt_verify(k, jws, n, &got, err));
  ASSERT_EQ_MEM(&got, &c, sizeof c);
  const char *d1 = strchr(jws, '.'), *d2 = strchr(d1 + 1, '.');
  char payload[1024];
  long pl = codec_b64_decode(d1 + 1, (size_t)(d2 - d1 - 1), (uint8_t *)payload, sizeof payload - 1,
                             CODEC_B64_URL);
  ASSERT_CMP_INT(pl, >, 0);
  payload[pl] = 0;
  ASSERT_NOT_NULL(
      strstr(payload, "\"completion_tokens\":34,\"audio_ms\":61500,\"price_micro_usd\""));
  gloam_receipt_free_jws(jws);
  /* an explicit "audio_ms":0 is not canonical */
  static const char zero[] =
      "{\"ver\":1,\"node_id\":\"node-1\",\"request_id\":\"11111111111111111111111111111111\","
      "\"request_sha256\":\"2222222222222222222222222222222222222222222222222222222222222222\","
      "\"transcript_sha256\":\"3333333333333333333333333333333333333333333333333333333333333333\","
      "\"model\":\"Qwen/Qwen3-0.6B\",\"weights_digest\":\"sha256:"
      "0000000000000000000000000000000000000000000000000000000000000007\","
      "\"prompt_tokens\":12,\"completion_tokens\":34,\"audio_ms\":0,\"price_micro_usd\":56,"
      "\"started_ms\":1800000000000,\"finished_ms\":1800000001234}";
  ASSERT_EQ_INT(receipt_claims_parse(zero, sizeof zero - 1, &got, err), GLOAM_EFORMAT);
  gloam_receipt_key_free(k);
  gloam_receipt_signer_free(s);
}

/* Image receipts carry the count and each PNG's SHA-256 (hex, concatenated)
 * after audio_ms; the hashes are FIPS 180-2's SHA-256("abc") and of "". */
void test_receipt_images(void) {
  static const char abc[] = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
                    empty[] = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
  gloam_receipt_signer *s = NULL;
  gloam_receipt_key *k = NULL;
  gloam_receipt_claims c, got;
  char err[GLOAM_ERR_LEN], *jws = NULL;
  size_t n = 0;
  claims_init(&c);
  c.prompt_tokens = 0;
  c.images = 2;
  ASSERT_EQ_INT(codec_hex_decode(abc, 64, c.images_sha256[0], 32, 0), 32);
  ASSERT_EQ_INT(codec_hex_decode(empty, 64, c.images_sha256[1], 32, 0), 32);
  ASSERT_OK(gloam_receipt_signer_new(&s, err));
  ASSERT_OK(gloam_receipt_key_from_signer(s, &k));
  ASSERT_OK(gloam_receipt_sign(s, &c, &jws, &n, err));
  ASSERT_OK(gloam_receipt_verify(k, jws, n, &got, err));
  ASSERT_EQ_MEM(&got, &c, sizeof c);
  const char *d1 = strchr(jws, '.'), *d2 = strchr(d1 + 1, '.');
  char payload[1536];
  long pl = codec_b64_decode(d1 + 1, (size_t)(d2 - d1 - 1), (uint8_t *)payload, sizeof payload - 1,
                             CODEC_B64_URL);
  ASSERT_CMP_INT(pl, >, 0);
  payload[pl] = 0;
  char want[256];
  snprintf(want, sizeof want, "\"completion_tokens\":34,\"images\":2,\"images_sha256\":\"%s%s\",",
           abc, empty);
  ASSERT_NOT_NULL(strstr(payload, want));
  gloam_receipt_free_jws(jws);
  /* more images than the limit cannot be signed */
  c.images = GLOAM_RECEIPT_MAX_IMAGES + 1;
  ASSERT_EQ_INT(gloam_receipt_sign(s, &c, &jws, &n, err), GLOAM_ERANGE);
  /* a hash list that does not match the count is not a receipt */
  static const char short_list[] =
      "{\"ver\":1,\"node_id\":\"node-1\",\"request_id\":\"11111111111111111111111111111111\","
      "\"request_sha256\":\"2222222222222222222222222222222222222222222222222222222222222222\","
      "\"transcript_sha256\":\"3333333333333333333333333333333333333333333333333333333333333333\","
      "\"model\":\"Qwen/Qwen3-0.6B\",\"weights_digest\":\"sha256:"
      "0000000000000000000000000000000000000000000000000000000000000007\","
      "\"prompt_tokens\":0,\"completion_tokens\":34,\"images\":2,\"images_sha256\":"
      "\"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\",\"price_micro_usd\":56,"
      "\"started_ms\":1800000000000,\"finished_ms\":1800000001234}";
  ASSERT_EQ_INT(receipt_claims_parse(short_list, sizeof short_list - 1, &got, err), GLOAM_EFORMAT);
  gloam_receipt_key_free(k);
  gloam_receipt_signer_free(s);
}
