/* SPDX-License-Identifier: Apache-2.0
 *
 * gloam/seal.h: end-to-end sealing of requests and responses (docs/sealing.md).
 *
 * A request body is sealed with HPKE (RFC 9180, base mode) to the chosen
 * node's per-process X25519 key. The envelope's cleartext header (model,
 * limits, node, request id, time, endpoint) is the AEAD's associated data, so
 * the coordinator can read and route on it but cannot change it. The response
 * is a stream of chunks sealed under a key exported from the request's HPKE
 * context plus a fresh response nonce (the Oblivious HTTP construction), with
 * a counter nonce and a final-chunk flag in each chunk's AAD.
 *
 * Client:
 *   gloam_seal_header h = {0};        // suite 0 = default X25519/AES-128-GCM
 *   snprintf(h.model, sizeof h.model, "qwen3-0.6b");  // + node_id, endpoint, limits
 *   uint8_t *env; size_t env_len; gloam_seal_client *c;
 *   gloam_seal_request(&h, node_pk, 32, body, body_len, &env, &env_len, &c, err);
 *   ... send env; for each received frame:
 *   gloam_seal_client_open(c, frame, n, out, cap, &out_len, &final);
 *   ... gloam_receipt_check_client(c, key, jws, jws_len, &claims, err);  // gloam/receipt.h
 *   gloam_seal_client_free(c); gloam_seal_free(env, env_len);
 * Node:
 *   gloam_seal_node *n; gloam_seal_node_new(&n, kp, "node-1", NULL, err);
 *   gloam_seal_node_open(n, env, env_len, 0, &h, &body, &body_len, &r, err);
 *   gloam_seal_responder_start(r, frame, cap, &len);   // response nonce frame
 *   gloam_seal_responder_seal(r, text, n, final, frame, cap, &len);
 *   gloam_seal_free(body, body_len); gloam_seal_responder_free(r);
 * Coordinator:
 *   gloam_seal_parse_header(env, env_len, &h, err);   // routes on h.model etc.
 *   gloam_seal_frame_peek(frame, n, &type, &counter);  // notices the final chunk
 *
 * Ownership: every _new/_request/_open output is the caller's; free handles
 * with their _free (NULL is a no-op) and byte buffers with gloam_seal_free(),
 * which wipes them. Secrets are wiped before memory is released and never
 * live in arenas.
 * Thread safety: a handle is used by one thread at a time, except
 * gloam_seal_node_open(), which may be called concurrently on one node (the
 * replay cache has a lock), and gloam_seal_keypair, read-only once made.
 * Return codes: 0 or a negative GLOAM_E* (gloam/err.h): GLOAM_EFORMAT bad
 * bytes, GLOAM_EUNSUPPORTED unknown version/suite, GLOAM_EAUTH failed
 * decryption or tampering, GLOAM_ENOENT wrong key id / node id, GLOAM_ESTALE
 * timestamp outside the window, GLOAM_EREPLAY request id seen before,
 * GLOAM_EBUSY replay cache full, GLOAM_ESTATE frame out of order / after the
 * final chunk, GLOAM_ETOOBIG limits, GLOAM_ENOMEM, GLOAM_ECRYPTO.
 */
#ifndef GLOAM_SEAL_H
#define GLOAM_SEAL_H

#include <stddef.h>
#include <stdint.h>

#include "gloam/err.h"

#ifdef __cplusplus
extern "C" {
#endif

#define GLOAM_SEAL_VERSION 1
#define GLOAM_SEAL_KEM_X25519 0x0020
#define GLOAM_SEAL_KEM_P256 0x0010
#define GLOAM_SEAL_KDF_SHA256 0x0001
#define GLOAM_SEAL_AEAD_AES128GCM 0x0001
#define GLOAM_SEAL_AEAD_AES256GCM 0x0002
#define GLOAM_SEAL_AEAD_CHACHA20POLY1305 0x0003

#define GLOAM_SEAL_KEY_ID_LEN 16
#define GLOAM_SEAL_REQUEST_ID_LEN 16
#define GLOAM_SEAL_MAX_PK 65
#define GLOAM_SEAL_NODE_ID_MAX 64  /* bytes, printable ASCII */
#define GLOAM_SEAL_MODEL_MAX 128   /* bytes, printable ASCII */
#define GLOAM_SEAL_ENDPOINT_MAX 64 /* bytes, [a-z0-9/._-] */
#define GLOAM_SEAL_MAX_BODY (64u << 20)
#define GLOAM_SEAL_MAX_CHUNK (1u << 20) /* plaintext bytes per response chunk */
#define GLOAM_SEAL_FRAME_OVERHEAD 21    /* type + counter + tag */

/* Response frame types (first byte of a frame). */
enum gloam_seal_frame_type {
  GLOAM_SEAL_FRAME_START = 0x00, /* version + response nonce, first frame */
  GLOAM_SEAL_FRAME_DATA = 0x01,  /* a sealed non-final chunk */
  GLOAM_SEAL_FRAME_FINAL = 0x02, /* the sealed final chunk (may be empty) */
};

/* The cleartext envelope header (bound as AAD). Strings are NUL-terminated. */
typedef struct gloam_seal_header {
  uint8_t version;                               /* GLOAM_SEAL_VERSION */
  uint16_t kem_id, kdf_id, aead_id;              /* HPKE suite; 0 = default when sealing */
  uint8_t key_id[GLOAM_SEAL_KEY_ID_LEN];         /* set by gloam_seal_request */
  uint8_t request_id[GLOAM_SEAL_REQUEST_ID_LEN]; /* all zero: random */
  uint64_t timestamp_ms;                         /* Unix ms; 0: now */
  uint32_t max_output_tokens;
  uint32_t audio_ms; /* audio duration in the body, 0 if none */
  uint32_t n_images; /* images in / requested by the body */
  uint32_t body_len; /* ciphertext length; set by sealing */
  char node_id[GLOAM_SEAL_NODE_ID_MAX + 1];
  char model[GLOAM_SEAL_MODEL_MAX + 1];
  char endpoint[GLOAM_SEAL_ENDPOINT_MAX + 1]; /* "chat/completions" */
} gloam_seal_header;

/* Wipes and frees a buffer returned by this API. NULL is a no-op. */
GLOAM_API void gloam_seal_free(void *p, size_t len);

/* ---- keys ---- */

/* Optional, once at process start, before any key is made: keeps OpenSSL's
 * private key material (X25519 keys, P-256 scalars) in a dedicated heap of
 * `bytes` (a power of two, e.g. 1 << 16) that is mlock()ed, excluded from
 * core dumps and guarded by inaccessible pages (CRYPTO_secure_malloc_init).
 * Returns 0; GLOAM_EPERM when the heap exists but could not be locked (raise
 * RLIMIT_MEMLOCK; keys still work); GLOAM_EINVAL for a bad size;
 * GLOAM_ENOMEM. Not thread-safe: call before other threads use OpenSSL. */
GLOAM_API int gloam_seal_secure_heap_init(size_t bytes);

typedef struct gloam_seal_keypair gloam_seal_keypair;

/* A fresh random key pair (kem_id 0 = X25519), made by OpenSSL's key
 * generation, so its private key is in the secure heap when one is set up.
 * Keys from _derive and _from_private are imports and live in OpenSSL's
 * ordinary heap (still wiped when freed): use _new for node keys. */
GLOAM_API int gloam_seal_keypair_new(gloam_seal_keypair **out, uint16_t kem_id);
/* RFC 9180 DeriveKeyPair from ikm (>= 32 bytes): deterministic keys for tests. */
GLOAM_API int gloam_seal_keypair_derive(gloam_seal_keypair **out, uint16_t kem_id,
                                        const uint8_t *ikm, size_t ikm_len);
/* From a serialized private key (32 bytes). */
GLOAM_API int gloam_seal_keypair_from_private(gloam_seal_keypair **out, uint16_t kem_id,
                                              const uint8_t *sk, size_t sk_len);
/* The serialized public key (32 bytes for X25519). OUT: pk, *pk_len. */
GLOAM_API int gloam_seal_keypair_public(const gloam_seal_keypair *kp, uint8_t *pk, size_t pk_cap,
                                        size_t *pk_len);
GLOAM_API uint16_t gloam_seal_keypair_kem(const gloam_seal_keypair *kp);
/* Wipes the private key. */
GLOAM_API void gloam_seal_keypair_free(gloam_seal_keypair *kp);

/* The key id of a public key: the first 16 bytes of
 * SHA-256("gloam key id v1" || I2OSP(kem_id, 2) || pk). */
GLOAM_API int gloam_seal_key_id(uint16_t kem_id, const uint8_t *pk, size_t pk_len,
                                uint8_t out[GLOAM_SEAL_KEY_ID_LEN]);

/* ---- coordinator: cleartext only ---- */

/* Parses and validates the envelope's cleartext header without any key.
 * OUT: *h. err (GLOAM_ERR_LEN, may be NULL) gets detail text. */
GLOAM_API int gloam_seal_parse_header(const uint8_t *env, size_t env_len, gloam_seal_header *h,
                                      char *err);
/* Reads a response frame's type and counter without opening it. For START,
 * *counter is 0. GLOAM_EFORMAT for a malformed frame. */
GLOAM_API int gloam_seal_frame_peek(const uint8_t *frame, size_t len, int *type, uint32_t *counter);

/* ---- client ---- */

typedef struct gloam_seal_client gloam_seal_client;

/* Seals body to the recipient public key pk. `h` gives the header fields:
 * version, suite (0 = default), request_id (zero = random) and timestamp
 * (0 = now) are filled in; key_id and body_len are computed; *h is updated
 * to what was sent. OUT: *out_env (free with gloam_seal_free), *out_client
 * (opens the response; may be NULL if not wanted). */
GLOAM_API int gloam_seal_request(gloam_seal_header *h, const uint8_t *pk, size_t pk_len,
                                 const uint8_t *body, size_t body_len, uint8_t **out_env,
                                 size_t *out_env_len, gloam_seal_client **out_client, char *err);

/* Opens one response frame. The START frame must come first (out_len 0);
 * then DATA frames with counters 0, 1, 2, ... and one FINAL frame; anything
 * after FINAL is GLOAM_ESTATE. out needs frame_len - 21 bytes.
 * OUT: out, *out_len, *out_final (1 after the final chunk). The plaintext is
 * added to the transcript hash. A failed frame leaves the state unchanged. */
GLOAM_API int gloam_seal_client_open(gloam_seal_client *c, const uint8_t *frame, size_t frame_len,
                                     uint8_t *out, size_t out_cap, size_t *out_len, int *out_final);
/* 1 once the final chunk has been opened. A stream that ends earlier was
 * truncated. */
GLOAM_API int gloam_seal_client_done(const gloam_seal_client *c);
/* SHA-256 of the sealed envelope bytes; SHA-256 of every plaintext byte the
 * client has opened so far (the response transcript). */
GLOAM_API void gloam_seal_client_request_hash(const gloam_seal_client *c, uint8_t out[32]);
GLOAM_API int gloam_seal_client_transcript_hash(const gloam_seal_client *c, uint8_t out[32]);
GLOAM_API const gloam_seal_header *gloam_seal_client_header(const gloam_seal_client *c);
GLOAM_API const char *gloam_seal_client_errmsg(const gloam_seal_client *c);
GLOAM_API void gloam_seal_client_free(gloam_seal_client *c);

/* ---- node ---- */

typedef struct gloam_seal_node gloam_seal_node;
typedef struct gloam_seal_responder gloam_seal_responder;

typedef struct gloam_seal_node_opts {
  uint32_t window_past_ms;   /* oldest accepted timestamp age; 0 = 120000 */
  uint32_t window_future_ms; /* clock skew tolerated ahead; 0 = 30000 */
  uint32_t replay_slots;     /* replay cache entries; 0 = 65536 (rounded up to 8) */
} gloam_seal_node_opts;

/* A node's opener: takes ownership of kp (freed with the node, also on
 * failure). node_id (may be NULL: not checked) must match the header's.
 * opts may be NULL for defaults. */
GLOAM_API int gloam_seal_node_new(gloam_seal_node **out, gloam_seal_keypair *kp,
                                  const char *node_id, const gloam_seal_node_opts *opts, char *err);
/* Opens an envelope at wall time now_ms (<= 0: now): checks the header, key id,
 * node id, timestamp window, replay cache, then decrypts; the request id is
 * recorded only after a successful decryption. OUT: *h, *out_body (free with
 * gloam_seal_free), *out_responder (may be NULL if no response is wanted).
 * Thread-safe. err (may be NULL) gets detail text. */
GLOAM_API int gloam_seal_node_open(gloam_seal_node *n, const uint8_t *env, size_t env_len,
                                   int64_t now_ms, gloam_seal_header *h, uint8_t **out_body,
                                   size_t *out_body_len, gloam_seal_responder **out_responder,
                                   char *err);
GLOAM_API void gloam_seal_node_free(gloam_seal_node *n);

/* The START frame (1 + 1 + Nr bytes, Nr = max(Nk, 12)), to send first.
 * May be called once. OUT: frame, *frame_len. */
GLOAM_API int gloam_seal_responder_start(gloam_seal_responder *r, uint8_t *frame, size_t cap,
                                         size_t *frame_len);
/* Seals one chunk (<= GLOAM_SEAL_MAX_CHUNK bytes) as a DATA frame, or as the
 * FINAL frame when final != 0. frame needs len + 21 bytes. The plaintext is
 * added to the transcript hash. GLOAM_ESTATE before start or after final. */
GLOAM_API int gloam_seal_responder_seal(gloam_seal_responder *r, const uint8_t *pt, size_t len,
                                        int final, uint8_t *frame, size_t cap, size_t *frame_len);
/* SHA-256 of the envelope; SHA-256 of all plaintext sealed so far. */
GLOAM_API void gloam_seal_responder_request_hash(const gloam_seal_responder *r, uint8_t out[32]);
GLOAM_API int gloam_seal_responder_transcript_hash(const gloam_seal_responder *r, uint8_t out[32]);
GLOAM_API void gloam_seal_responder_free(gloam_seal_responder *r);

/* ---- SSE transport (docs/sealing.md §4) ---- */

/* One SSE event carrying a frame: "data: " base64url(frame) "\n\n",
 * NUL-terminated into out. OUT: *out_len (excluding the NUL). */
GLOAM_API int gloam_seal_sse_encode(const uint8_t *frame, size_t len, char *out, size_t cap,
                                    size_t *out_len);
/* The frame carried by an SSE data value (the text after "data: ", without
 * the line end). GLOAM_EFORMAT for anything but canonical base64url. */
GLOAM_API int gloam_seal_sse_decode(const char *data, size_t len, uint8_t *frame, size_t cap,
                                    size_t *frame_len);

#ifdef __cplusplus
}
#endif
#endif /* GLOAM_SEAL_H */
