/* SPDX-License-Identifier: Apache-2.0
 *
 * crypto/seal.c: the public sealing API for clients, nodes and the
 * coordinator (gloam/seal.h): key pairs, request envelopes, response streams.
 *
 * DESIGN: the request is one HPKE single-shot seal with the serialized
 * header as AAD and info "gloam request v1". Neither side keeps the HPKE
 * context: right after setup both export the response secret (stream.h) and
 * wipe the context, so a client or responder handle holds only the response
 * secret, enc, the response keys and two hashes. The node checks everything
 * it can before decrypting (cheap rejections first) and records the request
 * id only after the ciphertext authenticated, so forged envelopes cannot
 * fill its replay cache.
 */
#include "gloam/seal.h"

#include <openssl/crypto.h>
#include <string.h>

#include "core/alloc.h"
#include "core/codec.h"
#include "core/err.h"
#include "core/secure.h"
#include "core/time.h"
#include "crypto/envelope.h"
#include "crypto/hpke.h"
#include "crypto/replay.h"
#include "crypto/stream.h"

#define REQUEST_INFO "gloam request v1"
#define KEY_ID_LABEL "gloam key id v1"

struct gloam_seal_keypair {
  uint16_t kem_id;
  hpke_key *key;
  uint8_t pk[HPKE_MAX_PK];
  size_t pk_len;
  uint8_t key_id[GLOAM_SEAL_KEY_ID_LEN];
};

/* Shared by the client (opens) and the responder (seals). */
typedef struct stream_side {
  uint16_t aead_id;
  uint8_t secret[STREAM_MAX_NR]; /* exported response secret, wiped at start */
  uint8_t enc[HPKE_MAX_ENC];
  size_t enc_len;
  stream_keys keys;
  int started, done;
  uint32_t next; /* next chunk counter */
  uint8_t request_hash[PRIM_SHA256_LEN];
  prim_sha256_ctx *transcript;
} stream_side;

struct gloam_seal_client {
  stream_side s;
  gloam_seal_header h;
  char err[GLOAM_ERR_LEN];
};

struct gloam_seal_responder {
  stream_side s;
};

struct gloam_seal_node {
  gloam_seal_keypair *kp;
  char node_id[GLOAM_SEAL_NODE_ID_MAX + 1]; /* "" = not checked */
  int64_t past_ms, future_ms;
  replay_cache *replay;
};

void gloam_seal_free(void *p, size_t len) {
  if (!p) return;
  secure_zero(p, len);
  mem_free(p);
}

/* ---- keys ---- */

int gloam_seal_secure_heap_init(size_t bytes) {
  if (bytes < 4096 || (bytes & (bytes - 1)) != 0) return GLOAM_EINVAL;
  if (CRYPTO_secure_malloc_initialized()) return 0;
  int r = CRYPTO_secure_malloc_init(bytes, 32);
  return r == 1 ? 0 : r == 2 ? GLOAM_EPERM : GLOAM_ENOMEM;
}

static int keypair_wrap(gloam_seal_keypair **out, uint16_t kem_id, hpke_key *k) {
  gloam_seal_keypair *kp = mem_calloc(1, sizeof *kp);
  int rc = kp ? 0 : GLOAM_ENOMEM;
  if (rc == 0) {
    kp->kem_id = kem_id;
    kp->key = k;
    k = NULL;
    rc = hpke_public_bytes(kem_id, kp->key, kp->pk, sizeof kp->pk, &kp->pk_len);
  }
  if (rc == 0) rc = gloam_seal_key_id(kem_id, kp->pk, kp->pk_len, kp->key_id);
  if (rc < 0) {
    hpke_key_free(k);
    gloam_seal_keypair_free(kp);
    kp = NULL;
  }
  *out = kp;
  return rc;
}

static uint16_t kem_or_default(uint16_t kem_id) {
  return kem_id ? kem_id : GLOAM_SEAL_KEM_X25519;
}

int gloam_seal_keypair_new(gloam_seal_keypair **out, uint16_t kem_id) {
  hpke_key *k = NULL;
  kem_id = kem_or_default(kem_id);
  int rc = hpke_generate_keypair(kem_id, &k);
  return rc < 0 ? (*out = NULL, rc) : keypair_wrap(out, kem_id, k);
}

int gloam_seal_keypair_derive(gloam_seal_keypair **out, uint16_t kem_id, const uint8_t *ikm,
                              size_t ikm_len) {
  hpke_key *k = NULL;
  kem_id = kem_or_default(kem_id);
  int rc = hpke_derive_keypair(kem_id, ikm, ikm_len, &k);
  return rc < 0 ? (*out = NULL, rc) : keypair_wrap(out, kem_id, k);
}

int gloam_seal_keypair_from_private(gloam_seal_keypair **out, uint16_t kem_id, const uint8_t *sk,
                                    size_t sk_len) {
  hpke_key *k = NULL;
  kem_id = kem_or_default(kem_id);
  int rc = hpke_private_from_bytes(kem_id, sk, sk_len, &k);
  return rc < 0 ? (*out = NULL, rc) : keypair_wrap(out, kem_id, k);
}

int gloam_seal_keypair_public(const gloam_seal_keypair *kp, uint8_t *pk, size_t pk_cap,
                              size_t *pk_len) {
  if (pk_cap < kp->pk_len) return GLOAM_ETOOBIG;
  memcpy(pk, kp->pk, kp->pk_len);
  *pk_len = kp->pk_len;
  return 0;
}

uint16_t gloam_seal_keypair_kem(const gloam_seal_keypair *kp) {
  return kp->kem_id;
}

void gloam_seal_keypair_free(gloam_seal_keypair *kp) {
  if (!kp) return;
  hpke_key_free(kp->key); /* OpenSSL clears private key material on free */
  secure_zero(kp, sizeof *kp);
  mem_free(kp);
}

int gloam_seal_key_id(uint16_t kem_id, const uint8_t *pk, size_t pk_len,
                      uint8_t out[GLOAM_SEAL_KEY_ID_LEN]) {
  uint8_t buf[sizeof KEY_ID_LABEL - 1 + 2 + HPKE_MAX_PK], d[PRIM_SHA256_LEN];
  if (pk_len != hpke_kem_enc_len(kem_id)) return GLOAM_EINVAL;
  size_t n = sizeof KEY_ID_LABEL - 1;
  memcpy(buf, KEY_ID_LABEL, n);
  buf[n++] = (uint8_t)(kem_id >> 8);
  buf[n++] = (uint8_t)kem_id;
  memcpy(buf + n, pk, pk_len);
  int rc = prim_sha256(buf, n + pk_len, d);
  if (rc == 0) memcpy(out, d, GLOAM_SEAL_KEY_ID_LEN);
  return rc;
}

/* ---- coordinator ---- */

int gloam_seal_parse_header(const uint8_t *env, size_t env_len, gloam_seal_header *h, char *err) {
  env_view v;
  return env_parse(env, env_len, h, &v, err);
}

int gloam_seal_frame_peek(const uint8_t *frame, size_t len, int *type, uint32_t *counter) {
  if (len < 1) return GLOAM_EFORMAT;
  *type = frame[0];
  *counter = 0;
  if (frame[0] == GLOAM_SEAL_FRAME_START) {
    if (len < 2 || frame[1] != STREAM_START_VERSION) return GLOAM_EFORMAT;
    size_t nr = len - 2;
    return nr == 16 || nr == 32 ? 0 : GLOAM_EFORMAT;
  }
  if (frame[0] != GLOAM_SEAL_FRAME_DATA && frame[0] != GLOAM_SEAL_FRAME_FINAL) return GLOAM_EFORMAT;
  if (len < GLOAM_SEAL_FRAME_OVERHEAD || len - GLOAM_SEAL_FRAME_OVERHEAD > GLOAM_SEAL_MAX_CHUNK)
    return GLOAM_EFORMAT;
  *counter =
      (uint32_t)frame[1] << 24 | (uint32_t)frame[2] << 16 | (uint32_t)frame[3] << 8 | frame[4];
  return 0;
}

/* ---- shared stream state ---- */

static int side_init(stream_side *s, const hpke_ctx *ctx, const uint8_t *env, size_t env_len) {
  memset(s, 0, sizeof *s);
  s->aead_id = ctx->suite.aead_id;
  memcpy(s->enc, ctx->enc, ctx->enc_len);
  s->enc_len = ctx->enc_len;
  s->transcript = prim_sha256_new();
  if (!s->transcript) return GLOAM_ENOMEM;
  int rc = stream_export(ctx, s->secret);
  if (rc == 0) rc = prim_sha256(env, env_len, s->request_hash);
  return rc;
}

static void side_deinit(stream_side *s) {
  prim_sha256_free(s->transcript);
  stream_keys_deinit(&s->keys);
  secure_zero(s, sizeof *s);
}

/* Derives the stream keys from the response nonce; the secret is wiped. */
static int side_start(stream_side *s, const uint8_t *resp_nonce) {
  int rc = stream_derive(&s->keys, s->aead_id, s->secret, s->enc, s->enc_len, resp_nonce);
  secure_zero(s->secret, sizeof s->secret);
  if (rc == 0) s->started = 1;
  return rc;
}

/* ---- client ---- */

static int fill_defaults(gloam_seal_header *h, size_t pk_len, const uint8_t *pk, size_t body_len,
                         char *err) {
  static const uint8_t zero_id[GLOAM_SEAL_REQUEST_ID_LEN];
  if (!h->version) h->version = GLOAM_SEAL_VERSION;
  h->kem_id = kem_or_default(h->kem_id);
  if (!h->kdf_id) h->kdf_id = GLOAM_SEAL_KDF_SHA256;
  if (!h->aead_id) h->aead_id = GLOAM_SEAL_AEAD_AES128GCM;
  if (body_len > GLOAM_SEAL_MAX_BODY)
    return err_set(err, GLOAM_ETOOBIG, "seal: body of %zu bytes over the limit", body_len);
  h->body_len = (uint32_t)(body_len + HPKE_TAG_LEN);
  if (pk_len != hpke_kem_enc_len(h->kem_id))
    return err_set(err, GLOAM_EINVAL, "seal: public key length %zu wrong for kem 0x%04x", pk_len,
                   h->kem_id);
  int rc = env_header_check(h, err);
  if (rc < 0) return rc;
  rc = gloam_seal_key_id(h->kem_id, pk, pk_len, h->key_id);
  if (rc == 0 && memcmp(h->request_id, zero_id, sizeof zero_id) == 0)
    rc = prim_random(h->request_id, sizeof h->request_id);
  if (rc == 0 && !h->timestamp_ms) h->timestamp_ms = (uint64_t)time_wall_ms();
  return rc < 0 ? err_set(err, rc, "seal: %s", gloam_strerror(rc)) : 0;
}

int gloam_seal_request(gloam_seal_header *h, const uint8_t *pk, size_t pk_len, const uint8_t *body,
                       size_t body_len, uint8_t **out_env, size_t *out_env_len,
                       gloam_seal_client **out_client, char *err) {
  hpke_ctx ctx;
  gloam_seal_client *c = NULL;
  uint8_t *env = NULL;
  size_t env_len = 0, enc_len = 0;
  memset(&ctx, 0, sizeof ctx);
  *out_env = NULL;
  *out_env_len = 0;
  if (out_client) *out_client = NULL;
  int rc = fill_defaults(h, pk_len, pk, body_len, err);
  if (rc < 0) return rc;
  hpke_suite suite = {h->kem_id, h->kdf_id, h->aead_id};
  size_t hl = env_header_len(h), nenc = hpke_kem_enc_len(h->kem_id);
  env_len = hl + nenc + h->body_len;
  env = mem_alloc(env_len);
  if (!env) return err_set(err, GLOAM_ENOMEM, "seal: out of memory");
  env_header_write(h, env);
  rc = hpke_setup_s(&ctx, suite, pk, pk_len, (const uint8_t *)REQUEST_INFO, sizeof REQUEST_INFO - 1,
                    NULL, 0, env + hl, &enc_len, NULL);
  if (rc == 0) rc = hpke_seal(&ctx, env, hl, body, body_len, env + hl + nenc);
  if (rc < 0) {
    err_set(err, rc, "seal: HPKE failed: %s", gloam_strerror(rc));
    goto fail;
  }
  if (out_client) {
    c = mem_calloc(1, sizeof *c);
    rc = c ? side_init(&c->s, &ctx, env, env_len) : GLOAM_ENOMEM;
    if (rc < 0) {
      err_set(err, rc, "seal: %s", gloam_strerror(rc));
      goto fail;
    }
    c->h = *h;
  }
  hpke_ctx_deinit(&ctx);
  *out_env = env;
  *out_env_len = env_len;
  if (out_client) *out_client = c;
  return 0;
fail:
  hpke_ctx_deinit(&ctx);
  gloam_seal_client_free(c);
  mem_free(env);
  return rc;
}

int gloam_seal_client_open(gloam_seal_client *c, const uint8_t *frame, size_t frame_len,
                           uint8_t *out, size_t out_cap, size_t *out_len, int *out_final) {
  int type;
  uint32_t counter;
  stream_side *s = &c->s;
  *out_len = 0;
  *out_final = s->done;
  int rc = gloam_seal_frame_peek(frame, frame_len, &type, &counter);
  if (rc < 0) return err_set(c->err, rc, "response: malformed frame");
  if (s->done) return err_set(c->err, GLOAM_ESTATE, "response: frame after the final chunk");
  if (type == GLOAM_SEAL_FRAME_START) {
    if (s->started) return err_set(c->err, GLOAM_ESTATE, "response: second start frame");
    if (frame_len - 2 != stream_nr(s->aead_id))
      return err_set(c->err, GLOAM_EFORMAT, "response: nonce length wrong for the suite");
    rc = side_start(s, frame + 2);
    return rc < 0 ? err_set(c->err, rc, "response: key derivation failed") : 0;
  }
  if (!s->started) return err_set(c->err, GLOAM_ESTATE, "response: chunk before start frame");
  if (counter != s->next)
    return err_set(c->err, GLOAM_ESTATE, "response: chunk %u out of order (expected %u)", counter,
                   s->next);
  size_t n = frame_len - GLOAM_SEAL_FRAME_OVERHEAD;
  if (out_cap < n) return err_set(c->err, GLOAM_ETOOBIG, "response: output buffer too small");
  rc = stream_open(&s->keys, frame, frame_len, out);
  if (rc < 0)
    return err_set(c->err, GLOAM_EAUTH, "response: chunk %u failed to authenticate", counter);
  rc = prim_sha256_update(s->transcript, out, n);
  if (rc < 0) {
    secure_zero(out, n);
    return err_set(c->err, rc, "response: hash failed");
  }
  s->next++;
  if (type == GLOAM_SEAL_FRAME_FINAL) s->done = 1;
  *out_len = n;
  *out_final = s->done;
  return 0;
}

int gloam_seal_client_done(const gloam_seal_client *c) {
  return c->s.done;
}

void gloam_seal_client_request_hash(const gloam_seal_client *c, uint8_t out[32]) {
  memcpy(out, c->s.request_hash, 32);
}

int gloam_seal_client_transcript_hash(const gloam_seal_client *c, uint8_t out[32]) {
  return prim_sha256_peek(c->s.transcript, out);
}

const gloam_seal_header *gloam_seal_client_header(const gloam_seal_client *c) {
  return &c->h;
}

const char *gloam_seal_client_errmsg(const gloam_seal_client *c) {
  return c->err;
}

void gloam_seal_client_free(gloam_seal_client *c) {
  if (!c) return;
  side_deinit(&c->s);
  secure_zero(c, sizeof *c);
  mem_free(c);
}

/* ---- node ---- */

int gloam_seal_node_new(gloam_seal_node **out, gloam_seal_keypair *kp, const char *node_id,
                        const gloam_seal_node_opts *opts, char *err) {
  gloam_seal_node *n = NULL;
  int rc;
  *out = NULL;
  if (!kp) return err_set(err, GLOAM_EINVAL, "seal node: no key pair");
  if (node_id && (strlen(node_id) == 0 || strlen(node_id) > GLOAM_SEAL_NODE_ID_MAX)) {
    rc = err_set(err, GLOAM_EINVAL, "seal node: node id length not in 1..%d",
                 GLOAM_SEAL_NODE_ID_MAX);
    goto fail;
  }
  n = mem_calloc(1, sizeof *n);
  if (!n) {
    rc = err_set(err, GLOAM_ENOMEM, "seal node: out of memory");
    goto fail;
  }
  if (node_id) memcpy(n->node_id, node_id, strlen(node_id) + 1);
  n->past_ms = opts && opts->window_past_ms ? opts->window_past_ms : 120000;
  n->future_ms = opts && opts->window_future_ms ? opts->window_future_ms : 30000;
  rc = replay_new(&n->replay, opts && opts->replay_slots ? opts->replay_slots : 65536);
  if (rc < 0) {
    err_set(err, rc, "seal node: replay cache: %s", gloam_strerror(rc));
    goto fail;
  }
  n->kp = kp;
  *out = n;
  return 0;
fail:
  if (n) mem_free(n);
  gloam_seal_keypair_free(kp);
  return rc;
}

void gloam_seal_node_free(gloam_seal_node *n) {
  if (!n) return;
  gloam_seal_keypair_free(n->kp);
  replay_free(n->replay);
  mem_free(n);
}

/* The checks that need no decryption. */
static int node_precheck(gloam_seal_node *n, const gloam_seal_header *h, int64_t now_ms,
                         char *err) {
  if (h->kem_id != n->kp->kem_id || !secure_memeq(h->key_id, n->kp->key_id, GLOAM_SEAL_KEY_ID_LEN))
    return err_set(err, GLOAM_ENOENT, "envelope: sealed to another key");
  if (n->node_id[0] && strcmp(h->node_id, n->node_id) != 0)
    return err_set(err, GLOAM_ENOENT, "envelope: addressed to node %s", h->node_id);
  if (h->timestamp_ms > (uint64_t)INT64_MAX || (int64_t)h->timestamp_ms < now_ms - n->past_ms ||
      (int64_t)h->timestamp_ms > now_ms + n->future_ms)
    return err_set(err, GLOAM_ESTALE, "envelope: timestamp %llu outside the window at %lld",
                   (unsigned long long)h->timestamp_ms, (long long)now_ms);
  if (replay_check(n->replay, h->request_id, now_ms, 0, 0) < 0)
    return err_set(err, GLOAM_EREPLAY, "envelope: request id already seen");
  return 0;
}

int gloam_seal_node_open(gloam_seal_node *n, const uint8_t *env, size_t env_len, int64_t now_ms,
                         gloam_seal_header *h, uint8_t **out_body, size_t *out_body_len,
                         gloam_seal_responder **out_responder, char *err) {
  env_view v;
  hpke_ctx ctx;
  uint8_t *body = NULL;
  gloam_seal_responder *r = NULL;
  size_t body_len = 0;
  memset(&ctx, 0, sizeof ctx);
  *out_body = NULL;
  *out_body_len = 0;
  if (out_responder) *out_responder = NULL;
  if (now_ms <= 0 || now_ms > INT64_MAX / 2) now_ms = time_wall_ms();
  int rc = env_parse(env, env_len, h, &v, err);
  if (rc == 0) rc = node_precheck(n, h, now_ms, err);
  if (rc < 0) return rc;
  hpke_suite suite = {h->kem_id, h->kdf_id, h->aead_id};
  rc = hpke_setup_r(&ctx, suite, n->kp->key, v.enc, v.enc_len, (const uint8_t *)REQUEST_INFO,
                    sizeof REQUEST_INFO - 1, NULL);
  if (rc < 0) {
    rc = err_set(err, GLOAM_EAUTH, "envelope: bad encapsulated key");
    goto fail;
  }
  body_len = v.ct_len - HPKE_TAG_LEN;
  body = mem_alloc(body_len + 1); /* +1: never malloc(0); a NUL for text */
  if (!body) {
    rc = err_set(err, GLOAM_ENOMEM, "envelope: out of memory");
    goto fail;
  }
  rc = hpke_open(&ctx, env, v.header_len, v.ct, v.ct_len, body);
  if (rc < 0) {
    rc = err_set(err, GLOAM_EAUTH, "envelope: ciphertext or header failed to authenticate");
    goto fail;
  }
  body[body_len] = 0;
  /* live while the timestamp is inside the window: until ts + past, inclusive */
  rc = replay_check(n->replay, h->request_id, now_ms, (int64_t)h->timestamp_ms + n->past_ms + 1, 1);
  if (rc < 0) {
    err_set(err, rc, "envelope: %s",
            rc == GLOAM_EREPLAY ? "request id already seen" : "replay cache full");
    goto fail;
  }
  if (out_responder) {
    r = mem_calloc(1, sizeof *r);
    rc = r ? side_init(&r->s, &ctx, env, env_len) : GLOAM_ENOMEM;
    if (rc < 0) {
      err_set(err, rc, "envelope: %s", gloam_strerror(rc));
      goto fail;
    }
    *out_responder = r;
  }
  hpke_ctx_deinit(&ctx);
  *out_body = body;
  *out_body_len = body_len;
  return 0;
fail:
  gloam_seal_responder_free(r);
  gloam_seal_free(body, body_len + 1);
  hpke_ctx_deinit(&ctx);
  return rc;
}

/* ---- responder ---- */

int gloam_seal_responder_start(gloam_seal_responder *r, uint8_t *frame, size_t cap,
                               size_t *frame_len) {
  stream_side *s = &r->s;
  size_t nr = stream_nr(s->aead_id);
  if (s->started) return GLOAM_ESTATE;
  if (cap < 2 + nr) return GLOAM_ETOOBIG;
  frame[0] = GLOAM_SEAL_FRAME_START;
  frame[1] = STREAM_START_VERSION;
  int rc = prim_random(frame + 2, nr);
  if (rc == 0) rc = side_start(s, frame + 2);
  if (rc == 0) *frame_len = 2 + nr;
  return rc;
}

int gloam_seal_responder_seal(gloam_seal_responder *r, const uint8_t *pt, size_t len, int final,
                              uint8_t *frame, size_t cap, size_t *frame_len) {
  stream_side *s = &r->s;
  if (!s->started || s->done || s->next == UINT32_MAX) return GLOAM_ESTATE;
  if (len > GLOAM_SEAL_MAX_CHUNK) return GLOAM_ETOOBIG;
  if (cap < len + GLOAM_SEAL_FRAME_OVERHEAD) return GLOAM_ETOOBIG;
  int rc = prim_sha256_update(s->transcript, pt, len);
  if (rc == 0)
    rc = stream_seal(&s->keys, final ? GLOAM_SEAL_FRAME_FINAL : GLOAM_SEAL_FRAME_DATA, s->next, pt,
                     len, frame);
  if (rc < 0) return rc;
  s->next++;
  if (final) s->done = 1;
  *frame_len = len + GLOAM_SEAL_FRAME_OVERHEAD;
  return 0;
}

void gloam_seal_responder_request_hash(const gloam_seal_responder *r, uint8_t out[32]) {
  memcpy(out, r->s.request_hash, 32);
}

int gloam_seal_responder_transcript_hash(const gloam_seal_responder *r, uint8_t out[32]) {
  return prim_sha256_peek(r->s.transcript, out);
}

void gloam_seal_responder_free(gloam_seal_responder *r) {
  if (!r) return;
  side_deinit(&r->s);
  mem_free(r);
}

/* ---- SSE transport ---- */

int gloam_seal_sse_encode(const uint8_t *frame, size_t len, char *out, size_t cap,
                          size_t *out_len) {
  size_t need = 6 + codec_b64_len(len, CODEC_B64_URL) + 2;
  if (cap < need + 1) return GLOAM_ETOOBIG;
  memcpy(out, "data: ", 6);
  long n = codec_b64_encode(frame, len, out + 6, cap - 6, CODEC_B64_URL);
  if (n < 0) return (int)n;
  memcpy(out + 6 + n, "\n\n", 3);
  *out_len = need;
  return 0;
}

int gloam_seal_sse_decode(const char *data, size_t len, uint8_t *frame, size_t cap,
                          size_t *frame_len) {
  long n = codec_b64_decode(data, len, frame, cap, CODEC_B64_URL);
  if (n < 0) return (int)n;
  *frame_len = (size_t)n;
  return 0;
}
