/* SPDX-License-Identifier: Apache-2.0
 *
 * tests/crypto/test_crypto.c: sealing, response streams and receipts.
 *
 * Independent references: the RFC 9180 vectors (vectors.c), RFC 7515's ES256
 * example (receipts.c), OpenSSL's one-shot SHA256() for transcript hashes,
 * and the Node.js WebCrypto + jose interop run (interop.c, tests/npm). The
 * rest are properties: round trips at every size class, every single-bit
 * flip rejected, and each stream attack (truncation, reordering,
 * duplication, splicing) rejected with its own error.
 */
#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/time.h"
#include "crypto/hpke.h"
#include "crypto_tests.h"
#include "gloam/seal.h"
#include "test.h"

static const uint8_t IKM[32] = "gloam test node key ikm 0123456";

static gloam_seal_node *make_node(uint16_t kem, const gloam_seal_node_opts *o, uint8_t *pk,
                                  size_t *pk_len) {
  gloam_seal_keypair *kp = NULL;
  gloam_seal_node *n = NULL;
  char err[GLOAM_ERR_LEN];
  ASSERT_OK(gloam_seal_keypair_derive(&kp, kem, IKM, sizeof IKM));
  ASSERT_OK(gloam_seal_keypair_public(kp, pk, GLOAM_SEAL_MAX_PK, pk_len));
  ASSERT_OK(gloam_seal_node_new(&n, kp, "node-1", o, err));
  return n;
}

static void header_init(gloam_seal_header *h, uint16_t kem, uint16_t aead) {
  memset(h, 0, sizeof *h);
  h->kem_id = kem;
  h->aead_id = aead;
  h->max_output_tokens = 256;
  snprintf(h->node_id, sizeof h->node_id, "node-1");
  snprintf(h->model, sizeof h->model, "Qwen/Qwen3-0.6B");
  snprintf(h->endpoint, sizeof h->endpoint, "chat/completions");
}

static uint8_t *pattern(size_t n, uint32_t seed) {
  uint8_t *p = malloc(n ? n : 1);
  ASSERT_NOT_NULL(p);
  uint32_t x = seed * 2654435761u + 1;
  for (size_t i = 0; i < n; i++) {
    x ^= x << 13, x ^= x >> 17, x ^= x << 5;
    p[i] = (uint8_t)x;
  }
  return p;
}

/* One full exchange: seal body, open it, stream it back in chunks of
 * `chunk` bytes, open the stream; checks contents and both hashes. */
static void exchange(gloam_seal_node *n, const uint8_t *pk, size_t pk_len, uint16_t kem,
                     uint16_t aead, size_t size, size_t chunk) {
  gloam_seal_header h, hn;
  uint8_t *body = pattern(size, (uint32_t)size), *env = NULL, *got = NULL;
  size_t env_len = 0, got_len = 0;
  gloam_seal_client *c = NULL;
  gloam_seal_responder *r = NULL;
  char err[GLOAM_ERR_LEN];
  header_init(&h, kem, aead);
  ASSERT_OK(gloam_seal_request(&h, pk, pk_len, body, size, &env, &env_len, &c, err));
  ASSERT_OK(gloam_seal_node_open(n, env, env_len, 0, &hn, &got, &got_len, &r, err));
  ASSERT_EQ_UINT(got_len, size);
  ASSERT_EQ_MEM(got, body, size);
  ASSERT_EQ_MEM(hn.request_id, h.request_id, 16);
  ASSERT_EQ_STR(hn.model, h.model);
  /* request hash on both sides = SHA-256 of the envelope bytes */
  uint8_t want[32], a[32], b[32];
  SHA256(env, env_len, want);
  gloam_seal_client_request_hash(c, a);
  gloam_seal_responder_request_hash(r, b);
  ASSERT_EQ_MEM(a, want, 32);
  ASSERT_EQ_MEM(b, want, 32);
  /* stream the body back */
  size_t cap = (chunk < size ? chunk : size) + 64, fl = 0, ol = 0, off = 0;
  uint8_t *frame = malloc(cap), *out = malloc(cap), *back = malloc(size ? size : 1);
  int fin = 0;
  ASSERT_OK(gloam_seal_responder_start(r, frame, cap, &fl));
  ASSERT_OK(gloam_seal_client_open(c, frame, fl, out, cap, &ol, &fin));
  ASSERT_EQ_UINT(ol, 0);
  do {
    size_t take = size - off < chunk ? size - off : chunk;
    int last = off + take == size;
    ASSERT_OK(gloam_seal_responder_seal(r, body + off, take, last, frame, cap, &fl));
    ASSERT_EQ_UINT(fl, take + GLOAM_SEAL_FRAME_OVERHEAD);
    ASSERT_OK(gloam_seal_client_open(c, frame, fl, out, cap, &ol, &fin));
    ASSERT_EQ_UINT(ol, take);
    ASSERT_EQ_INT(fin, last);
    memcpy(back + off, out, ol);
    off += take;
  } while (!fin);
  ASSERT_EQ_MEM(back, body, size);
  ASSERT_TRUE(gloam_seal_client_done(c));
  SHA256(body, size, want);
  ASSERT_OK(gloam_seal_client_transcript_hash(c, a));
  ASSERT_OK(gloam_seal_responder_transcript_hash(r, b));
  ASSERT_EQ_MEM(a, want, 32);
  ASSERT_EQ_MEM(b, want, 32);
  free(frame), free(out), free(back), free(body);
  gloam_seal_free(got, got_len);
  gloam_seal_free(env, env_len);
  gloam_seal_client_free(c);
  gloam_seal_responder_free(r);
}

static void test_roundtrip_sizes(void) {
  uint8_t pk[GLOAM_SEAL_MAX_PK];
  size_t pk_len;
  gloam_seal_node *n = make_node(0, NULL, pk, &pk_len);
  for (size_t s = 0; s <= 300; s++) exchange(n, pk, pk_len, 0, 0, s, 1 + s % 97);
  for (size_t s = 301; s <= (size_t)6 << 20; s = s * 3 / 2 + 7)
    exchange(n, pk, pk_len, 0, 0, s, s < 100000 ? 100 : 65536);
  exchange(n, pk, pk_len, 0, 0, (size_t)6 << 20, GLOAM_SEAL_MAX_CHUNK);
  gloam_seal_node_free(n);
}

static void test_roundtrip_suites(void) {
  static const uint16_t kems[] = {GLOAM_SEAL_KEM_X25519, GLOAM_SEAL_KEM_P256};
  static const uint16_t aeads[] = {GLOAM_SEAL_AEAD_AES128GCM, GLOAM_SEAL_AEAD_AES256GCM,
                                   GLOAM_SEAL_AEAD_CHACHA20POLY1305};
  for (int k = 0; k < 2; k++) {
    uint8_t pk[GLOAM_SEAL_MAX_PK];
    size_t pk_len;
    gloam_seal_node *n = make_node(kems[k], NULL, pk, &pk_len);
    ASSERT_EQ_UINT(pk_len, kems[k] == GLOAM_SEAL_KEM_X25519 ? 32 : 65);
    for (int a = 0; a < 3; a++)
      for (size_t s = 0; s < 2000; s += 333) exchange(n, pk, pk_len, kems[k], aeads[a], s, 50);
    gloam_seal_node_free(n);
  }
}

static void test_unsupported_suite(void) {
  uint8_t pk[GLOAM_SEAL_MAX_PK], *env = NULL;
  size_t pk_len, env_len;
  char err[GLOAM_ERR_LEN];
  gloam_seal_node *n = make_node(0, NULL, pk, &pk_len);
  gloam_seal_header h;
  header_init(&h, 0, 7);
  ASSERT_EQ_INT(
      gloam_seal_request(&h, pk, pk_len, (const uint8_t *)"x", 1, &env, &env_len, NULL, err),
      GLOAM_EUNSUPPORTED);
  header_init(&h, 0, 0);
  snprintf(h.endpoint, sizeof h.endpoint, "Chat Completions"); /* outside the alphabet */
  ASSERT_EQ_INT(
      gloam_seal_request(&h, pk, pk_len, (const uint8_t *)"x", 1, &env, &env_len, NULL, err),
      GLOAM_EFORMAT);
  header_init(&h, 0, 0);
  ASSERT_EQ_INT(gloam_seal_request(&h, pk, 31, (const uint8_t *)"x", 1, &env, &env_len, NULL, err),
                GLOAM_EINVAL);
  ASSERT_TRUE(env == NULL);
  /* the body limit is checked before the body is read */
  header_init(&h, 0, 0);
  ASSERT_EQ_INT(gloam_seal_request(&h, pk, pk_len, (const uint8_t *)"x",
                                   (size_t)GLOAM_SEAL_MAX_BODY + 1, &env, &env_len, NULL, err),
                GLOAM_ETOOBIG);
  gloam_seal_node_free(n);
}

/* Every single-bit flip anywhere in the envelope (header, enc, ciphertext)
 * is rejected; the original still opens afterwards, and only once. */
static void test_envelope_bitflips(void) {
  uint8_t pk[GLOAM_SEAL_MAX_PK], *env = NULL, *body = NULL;
  size_t pk_len, env_len, body_len;
  char err[GLOAM_ERR_LEN];
  gloam_seal_node *n = make_node(0, NULL, pk, &pk_len);
  gloam_seal_header h, hn;
  header_init(&h, 0, 0);
  const char msg[] = "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
  ASSERT_OK(gloam_seal_request(&h, pk, pk_len, (const uint8_t *)msg, sizeof msg - 1, &env, &env_len,
                               NULL, err));
  uint8_t *copy = malloc(env_len);
  int n_flips = 0;
  for (size_t i = 0; i < env_len; i++)
    for (int bit = 0; bit < 8; bit++) {
      memcpy(copy, env, env_len);
      copy[i] ^= (uint8_t)(1u << bit);
      int rc = gloam_seal_node_open(n, copy, env_len, 0, &hn, &body, &body_len, NULL, err);
      if (rc >= 0) test_fail(__FILE__, __LINE__, "flip of byte %zu bit %d accepted", i, bit);
      ASSERT_TRUE(body == NULL);
      n_flips++;
    }
  ASSERT_EQ_INT(n_flips, (int)env_len * 8);
  /* a header change that stays well-formed fails authentication */
  memcpy(copy, env, env_len);
  size_t model_at = 68 + 1 + strlen(h.node_id) + 1;
  ASSERT_EQ_INT(copy[model_at], 'Q');
  copy[model_at] = 'q';
  ASSERT_EQ_INT(gloam_seal_node_open(n, copy, env_len, 0, &hn, &body, &body_len, NULL, err),
                GLOAM_EAUTH);
  /* truncated and extended envelopes */
  ASSERT_EQ_INT(gloam_seal_node_open(n, env, env_len - 1, 0, &hn, &body, &body_len, NULL, err),
                GLOAM_EFORMAT);
  for (size_t cut = 0; cut < env_len; cut += 7)
    ASSERT_TRUE(gloam_seal_node_open(n, env, cut, 0, &hn, &body, &body_len, NULL, err) < 0);
  ASSERT_OK(gloam_seal_node_open(n, env, env_len, 0, &hn, &body, &body_len, NULL, err));
  ASSERT_EQ_UINT(body_len, sizeof msg - 1);
  ASSERT_EQ_MEM(body, msg, body_len);
  gloam_seal_free(body, body_len);
  ASSERT_EQ_INT(gloam_seal_node_open(n, env, env_len, 0, &hn, &body, &body_len, NULL, err),
                GLOAM_EREPLAY);
  free(copy);
  gloam_seal_free(env, env_len);
  gloam_seal_node_free(n);
}

static int open_at(gloam_seal_node *n, const gloam_seal_header *tmpl, const uint8_t *pk,
                   size_t pk_len, int64_t now_ms) {
  gloam_seal_header h = *tmpl, hn;
  uint8_t *env = NULL, *body = NULL;
  size_t env_len = 0, body_len = 0;
  char err[GLOAM_ERR_LEN];
  ASSERT_OK(
      gloam_seal_request(&h, pk, pk_len, (const uint8_t *)"{}", 2, &env, &env_len, NULL, err));
  int rc = gloam_seal_node_open(n, env, env_len, now_ms, &hn, &body, &body_len, NULL, err);
  gloam_seal_free(body, body_len);
  gloam_seal_free(env, env_len);
  return rc;
}

static void test_replay_stale_wrong_key(void) {
  uint8_t pk[GLOAM_SEAL_MAX_PK];
  size_t pk_len;
  gloam_seal_node_opts o = {.window_past_ms = 60000, .window_future_ms = 5000, .replay_slots = 8};
  gloam_seal_node *n = make_node(0, &o, pk, &pk_len);
  gloam_seal_header h;
  const int64_t t0 = 1800000000000;
  header_init(&h, 0, 0);
  h.timestamp_ms = (uint64_t)t0;
  /* window edges */
  ASSERT_OK(open_at(n, &h, pk, pk_len, t0 + 60000));
  ASSERT_EQ_INT(open_at(n, &h, pk, pk_len, t0 + 60001), GLOAM_ESTALE);
  ASSERT_OK(open_at(n, &h, pk, pk_len, t0 - 5000));
  ASSERT_EQ_INT(open_at(n, &h, pk, pk_len, t0 - 5001), GLOAM_ESTALE);
  /* replay: the same request id twice, even with another body */
  memset(h.request_id, 0xab, 16);
  ASSERT_OK(open_at(n, &h, pk, pk_len, t0));
  ASSERT_EQ_INT(open_at(n, &h, pk, pk_len, t0 + 1000), GLOAM_EREPLAY);
  /* the cache has 8 slots (1 bucket); 3 are live, fill the rest then overflow */
  for (int i = 0; i < 5; i++) {
    h.request_id[0] = (uint8_t)i;
    ASSERT_OK(open_at(n, &h, pk, pk_len, t0));
  }
  h.request_id[0] = 0x77;
  ASSERT_EQ_INT(open_at(n, &h, pk, pk_len, t0), GLOAM_EBUSY);
  /* once the entries expire (their envelopes would be stale) slots free up;
   * a fresh timestamp is then needed */
  h.timestamp_ms = (uint64_t)(t0 + 70000);
  ASSERT_OK(open_at(n, &h, pk, pk_len, t0 + 70000));
  /* wrong node id, wrong key */
  memset(h.request_id, 0, 16);
  h.timestamp_ms = 0;
  snprintf(h.node_id, sizeof h.node_id, "node-2");
  ASSERT_EQ_INT(open_at(n, &h, pk, pk_len, 0), GLOAM_ENOENT);
  gloam_seal_keypair *other = NULL;
  uint8_t pk2[GLOAM_SEAL_MAX_PK];
  size_t pk2_len;
  ASSERT_OK(gloam_seal_keypair_new(&other, 0));
  ASSERT_OK(gloam_seal_keypair_public(other, pk2, sizeof pk2, &pk2_len));
  header_init(&h, 0, 0);
  ASSERT_EQ_INT(open_at(n, &h, pk2, pk2_len, 0), GLOAM_ENOENT);
  gloam_seal_keypair_free(other);
  gloam_seal_node_free(n);
}

/* A sealed response of n_chunks data chunks + a final one, as frames. */
typedef struct stream {
  gloam_seal_client *c;
  uint8_t frames[8][64];
  size_t len[8];
  int n;
} stream;

static void make_stream(gloam_seal_node *n, const uint8_t *pk, size_t pk_len, stream *s) {
  gloam_seal_header h, hn;
  uint8_t *env = NULL, *body = NULL;
  size_t env_len = 0, body_len = 0;
  gloam_seal_responder *r = NULL;
  char err[GLOAM_ERR_LEN];
  static const char *text[] = {"Hello", ", ", "world", "!"};
  header_init(&h, 0, 0);
  ASSERT_OK(
      gloam_seal_request(&h, pk, pk_len, (const uint8_t *)"{}", 2, &env, &env_len, &s->c, err));
  ASSERT_OK(gloam_seal_node_open(n, env, env_len, 0, &hn, &body, &body_len, &r, err));
  ASSERT_OK(gloam_seal_responder_start(r, s->frames[0], 64, &s->len[0]));
  ASSERT_EQ_UINT(s->len[0], 18);
  for (int i = 0; i < 4; i++)
    ASSERT_OK(gloam_seal_responder_seal(r, (const uint8_t *)text[i], strlen(text[i]), i == 3,
                                        s->frames[1 + i], 64, &s->len[1 + i]));
  s->n = 5;
  uint8_t x[64];
  size_t xl;
  ASSERT_EQ_INT(gloam_seal_responder_seal(r, x, 1, 0, x, sizeof x, &xl), GLOAM_ESTATE);
  gloam_seal_responder_free(r);
  gloam_seal_free(body, body_len);
  gloam_seal_free(env, env_len);
}

static int feed(stream *s, const uint8_t *f, size_t len) {
  uint8_t out[64];
  size_t ol;
  int fin;
  return gloam_seal_client_open(s->c, f, len, out, sizeof out, &ol, &fin);
}

static void test_stream_bitflips(void) {
  uint8_t pk[GLOAM_SEAL_MAX_PK];
  size_t pk_len;
  gloam_seal_node *n = make_node(0, NULL, pk, &pk_len);
  stream s;
  make_stream(n, pk, pk_len, &s);
  /* every flip of every chunk frame fails and changes nothing */
  ASSERT_OK(feed(&s, s.frames[0], s.len[0]));
  for (int f = 1; f < s.n; f++) {
    for (size_t i = 0; i < s.len[f]; i++)
      for (int bit = 0; bit < 8; bit++) {
        uint8_t copy[64];
        memcpy(copy, s.frames[f], s.len[f]);
        copy[i] ^= (uint8_t)(1u << bit);
        if (feed(&s, copy, s.len[f]) >= 0)
          test_fail(__FILE__, __LINE__, "frame %d byte %zu bit %d accepted", f, i, bit);
      }
    ASSERT_OK(feed(&s, s.frames[f], s.len[f]));
  }
  ASSERT_TRUE(gloam_seal_client_done(s.c));
  gloam_seal_client_free(s.c);
  /* every flip of the start frame: rejected, or the next chunk fails */
  for (size_t i = 0; i < 18; i++)
    for (int bit = 0; bit < 8; bit++) {
      stream t;
      make_stream(n, pk, pk_len, &t);
      t.frames[0][i] ^= (uint8_t)(1u << bit);
      int rc = feed(&t, t.frames[0], t.len[0]);
      if (rc >= 0) ASSERT_EQ_INT(feed(&t, t.frames[1], t.len[1]), GLOAM_EAUTH);
      gloam_seal_client_free(t.c);
    }
  gloam_seal_node_free(n);
}

static void test_stream_attacks(void) {
  uint8_t pk[GLOAM_SEAL_MAX_PK];
  size_t pk_len;
  gloam_seal_node *n = make_node(0, NULL, pk, &pk_len);
  stream a, b;
  make_stream(n, pk, pk_len, &a);
  make_stream(n, pk, pk_len, &b);
  /* chunk before start */
  ASSERT_EQ_INT(feed(&a, a.frames[1], a.len[1]), GLOAM_ESTATE);
  ASSERT_OK(feed(&a, a.frames[0], a.len[0]));
  ASSERT_EQ_INT(feed(&a, a.frames[0], a.len[0]), GLOAM_ESTATE); /* second start */
  /* reordering: chunk 1 before chunk 0 */
  ASSERT_EQ_INT(feed(&a, a.frames[2], a.len[2]), GLOAM_ESTATE);
  /* splicing: b's chunk 0 (right counter, other request) */
  ASSERT_EQ_INT(feed(&a, b.frames[1], b.len[1]), GLOAM_EAUTH);
  ASSERT_OK(feed(&a, a.frames[1], a.len[1]));
  /* duplication */
  ASSERT_EQ_INT(feed(&a, a.frames[1], a.len[1]), GLOAM_ESTATE);
  /* counter rewritten to the expected one: the AAD and nonce no longer match */
  uint8_t x[64];
  memcpy(x, a.frames[3], a.len[3]);
  x[4] = 1;
  ASSERT_EQ_INT(feed(&a, x, a.len[3]), GLOAM_EAUTH);
  ASSERT_OK(feed(&a, a.frames[2], a.len[2]));
  /* the final flag stripped (FINAL -> DATA) or forged (DATA -> FINAL) */
  memcpy(x, a.frames[3], a.len[3]);
  x[0] = GLOAM_SEAL_FRAME_FINAL;
  ASSERT_EQ_INT(feed(&a, x, a.len[3]), GLOAM_EAUTH);
  ASSERT_OK(feed(&a, a.frames[3], a.len[3]));
  memcpy(x, a.frames[4], a.len[4]);
  x[0] = GLOAM_SEAL_FRAME_DATA;
  ASSERT_EQ_INT(feed(&a, x, a.len[4]), GLOAM_EAUTH);
  /* truncation: the client is not done before the final chunk */
  ASSERT_FALSE(gloam_seal_client_done(a.c));
  ASSERT_OK(feed(&a, a.frames[4], a.len[4]));
  ASSERT_TRUE(gloam_seal_client_done(a.c));
  /* nothing after the final chunk */
  ASSERT_EQ_INT(feed(&a, a.frames[4], a.len[4]), GLOAM_ESTATE);
  ASSERT_EQ_INT(feed(&a, b.frames[0], b.len[0]), GLOAM_ESTATE);
  /* splicing b's start frame into a fresh stream c: derived keys differ */
  stream c;
  make_stream(n, pk, pk_len, &c);
  ASSERT_OK(feed(&c, b.frames[0], b.len[0]));
  ASSERT_EQ_INT(feed(&c, c.frames[1], c.len[1]), GLOAM_EAUTH);
  ASSERT_EQ_INT(feed(&c, b.frames[1], b.len[1]), GLOAM_EAUTH);
  /* peek, as the coordinator sees frames */
  int type;
  uint32_t ctr;
  ASSERT_OK(gloam_seal_frame_peek(b.frames[4], b.len[4], &type, &ctr));
  ASSERT_EQ_INT(type, GLOAM_SEAL_FRAME_FINAL);
  ASSERT_EQ_UINT(ctr, 3);
  ASSERT_EQ_INT(gloam_seal_frame_peek(b.frames[4], 20, &type, &ctr), GLOAM_EFORMAT);
  gloam_seal_client_free(a.c);
  gloam_seal_client_free(b.c);
  gloam_seal_client_free(c.c);
  gloam_seal_node_free(n);
}

static void test_coordinator_parse(void) {
  uint8_t pk[GLOAM_SEAL_MAX_PK], *env = NULL;
  size_t pk_len, env_len;
  char err[GLOAM_ERR_LEN];
  gloam_seal_node *n = make_node(0, NULL, pk, &pk_len);
  gloam_seal_header h, p;
  header_init(&h, 0, 0);
  h.audio_ms = 12345;
  h.n_images = 2;
  ASSERT_OK(
      gloam_seal_request(&h, pk, pk_len, (const uint8_t *)"body", 4, &env, &env_len, NULL, err));
  ASSERT_OK(gloam_seal_parse_header(env, env_len, &p, err));
  ASSERT_EQ_INT(p.version, 1);
  ASSERT_EQ_INT(p.kem_id, 0x20);
  ASSERT_EQ_INT(p.kdf_id, 1);
  ASSERT_EQ_INT(p.aead_id, 1);
  ASSERT_EQ_STR(p.node_id, "node-1");
  ASSERT_EQ_STR(p.model, "Qwen/Qwen3-0.6B");
  ASSERT_EQ_STR(p.endpoint, "chat/completions");
  ASSERT_EQ_UINT(p.max_output_tokens, 256);
  ASSERT_EQ_UINT(p.audio_ms, 12345);
  ASSERT_EQ_UINT(p.n_images, 2);
  ASSERT_EQ_UINT(p.body_len, 4 + 16);
  ASSERT_EQ_MEM(p.request_id, h.request_id, 16);
  ASSERT_EQ_UINT(p.timestamp_ms, h.timestamp_ms);
  ASSERT_CMP_INT(llabs((long long)p.timestamp_ms - (long long)time_wall_ms()), <, 10000);
  /* the layout of docs/sealing.md */
  ASSERT_EQ_MEM(env, "GLSQ\x01\x00\x00\x20\x00\x01\x00\x01", 12);
  ASSERT_EQ_UINT(env_len, 68 + 1 + 6 + 1 + 15 + 1 + 16 + 32 + 4 + 16);
  ASSERT_EQ_INT(env[68], 6);
  /* key id = SHA-256("gloam key id v1" || 0x0020 || pk)[0..16] */
  uint8_t kid_in[15 + 2 + 32], d[32];
  memcpy(kid_in, "gloam key id v1\x00\x20", 17);
  memcpy(kid_in + 17, pk, 32);
  SHA256(kid_in, sizeof kid_in, d);
  ASSERT_EQ_MEM(p.key_id, d, 16);
  /* a NUL inside a string field (it would hide the rest of the field) */
  size_t nul_at = 68 + 1 + 3; /* inside "node-1" */
  env[nul_at] = 0;
  ASSERT_EQ_INT(gloam_seal_parse_header(env, env_len, &p, err), GLOAM_EFORMAT);
  env[nul_at] = 'e';
  ASSERT_OK(gloam_seal_parse_header(env, env_len, &p, err));
  /* reserved flags and a bad magic */
  env[5] = 1;
  ASSERT_EQ_INT(gloam_seal_parse_header(env, env_len, &p, err), GLOAM_EFORMAT);
  env[5] = 0;
  env[4] = 2;
  ASSERT_EQ_INT(gloam_seal_parse_header(env, env_len, &p, err), GLOAM_EUNSUPPORTED);
  gloam_seal_free(env, env_len);
  gloam_seal_node_free(n);
}

/* With the secure heap on (main), private keys live in it. */
static void test_secure_heap(void) {
  if (!CRYPTO_secure_malloc_initialized()) TEST_SKIP("secure heap not initialized");
  gloam_seal_keypair *kp = NULL;
  /* the first use also seeds OpenSSL's DRBG, which keeps its state there */
  ASSERT_OK(gloam_seal_keypair_new(&kp, GLOAM_SEAL_KEM_X25519));
  gloam_seal_keypair_free(kp);
  size_t before = CRYPTO_secure_used();
  ASSERT_OK(gloam_seal_keypair_new(&kp, GLOAM_SEAL_KEM_X25519));
  ASSERT_CMP_INT(CRYPTO_secure_used(), >, before);
  gloam_seal_keypair_free(kp);
  ASSERT_EQ_UINT(CRYPTO_secure_used(), before);
  ASSERT_OK(gloam_seal_secure_heap_init(1u << 16)); /* idempotent */
  ASSERT_EQ_INT(gloam_seal_secure_heap_init(1000), GLOAM_EINVAL);
}

typedef struct race {
  gloam_seal_node *n;
  const uint8_t *env;
  size_t env_len;
  int rc;
} race;

static void *race_open(void *arg) {
  race *r = arg;
  gloam_seal_header h;
  uint8_t *body = NULL;
  size_t body_len = 0;
  char err[GLOAM_ERR_LEN];
  r->rc = gloam_seal_node_open(r->n, r->env, r->env_len, 0, &h, &body, &body_len, NULL, err);
  gloam_seal_free(body, body_len);
  return NULL;
}

/* The same envelope opened by several threads at once opens exactly once. */
static void test_concurrent_replay(void) {
  uint8_t pk[GLOAM_SEAL_MAX_PK];
  size_t pk_len;
  char err[GLOAM_ERR_LEN];
  gloam_seal_node *n = make_node(0, NULL, pk, &pk_len);
  for (int round = 0; round < 20; round++) {
    gloam_seal_header h;
    uint8_t *env = NULL;
    size_t env_len = 0;
    header_init(&h, 0, 0);
    ASSERT_OK(
        gloam_seal_request(&h, pk, pk_len, (const uint8_t *)"{}", 2, &env, &env_len, NULL, err));
    race r[4];
    pthread_t t[4];
    for (int i = 0; i < 4; i++) {
      r[i] = (race){n, env, env_len, 1};
      ASSERT_EQ_INT(pthread_create(&t[i], NULL, race_open, &r[i]), 0);
    }
    int ok = 0;
    for (int i = 0; i < 4; i++) {
      pthread_join(t[i], NULL);
      if (r[i].rc == 0)
        ok++;
      else
        ASSERT_EQ_INT(r[i].rc, GLOAM_EREPLAY);
    }
    ASSERT_EQ_INT(ok, 1);
    gloam_seal_free(env, env_len);
  }
  gloam_seal_node_free(n);
}

/* Every allocation made by sealing and opening may fail cleanly. */
static void test_alloc_failures(void) {
  uint8_t pk[GLOAM_SEAL_MAX_PK];
  size_t pk_len;
  gloam_seal_node *n = make_node(0, NULL, pk, &pk_len);
  int ok = 0;
  for (long k = 0; k < 50 && !ok; k++) {
    gloam_seal_header h, hn;
    uint8_t *env = NULL, *body = NULL;
    size_t env_len = 0, body_len = 0;
    gloam_seal_client *c = NULL;
    gloam_seal_responder *r = NULL;
    char err[GLOAM_ERR_LEN];
    header_init(&h, 0, 0);
    mem_fail_after(k);
    int rc = gloam_seal_request(&h, pk, pk_len, (const uint8_t *)"{}", 2, &env, &env_len, &c, err);
    if (rc == 0) rc = gloam_seal_node_open(n, env, env_len, 0, &hn, &body, &body_len, &r, err);
    mem_fail_after(-1);
    if (rc == 0)
      ok = 1;
    else
      ASSERT_EQ_INT(rc, GLOAM_ENOMEM);
    gloam_seal_free(body, body_len);
    gloam_seal_free(env, env_len);
    gloam_seal_client_free(c);
    gloam_seal_responder_free(r);
  }
  ASSERT_TRUE(ok);
  gloam_seal_node_free(n);
}

int main(int argc, char **argv) {
  static const test_case tests[] = {
      TEST(test_rfc9180_vectors),
      TEST(test_rfc9180_exports),
      TEST(test_roundtrip_sizes),
      TEST(test_roundtrip_suites),
      TEST(test_unsupported_suite),
      TEST(test_envelope_bitflips),
      TEST(test_replay_stale_wrong_key),
      TEST(test_stream_bitflips),
      TEST(test_stream_attacks),
      TEST(test_coordinator_parse),
      TEST(test_secure_heap),
      TEST(test_concurrent_replay),
      TEST(test_alloc_failures),
      TEST(test_receipt_roundtrip),
      TEST(test_receipt_audio_ms),
      TEST(test_receipt_images),
      TEST(test_receipt_tamper),
      TEST(test_receipt_rfc7515_es256),
      TEST(test_receipt_strict_parse),
      TEST(test_receipt_client_binding),
      TEST(test_verify_cli),
      {0},
  };
  /* Every test runs with private keys in OpenSSL's locked secure heap, as
   * the node does; an unlockable heap (RLIMIT_MEMLOCK) still works. */
  int rc = gloam_seal_secure_heap_init(1u << 16);
  if (rc < 0 && rc != GLOAM_EPERM) {
    fprintf(stderr, "secure heap: %s\n", gloam_strerror(rc));
    return 1;
  }
  return test_main(argc, argv, tests);
}
