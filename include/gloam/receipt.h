/* SPDX-License-Identifier: Apache-2.0
 *
 * gloam/receipt.h: signed, verifiable receipts for every response.
 *
 * A receipt is a compact JWS (RFC 7515) signed with ES256 (ECDSA P-256,
 * SHA-256, signature as raw r||s) by the node's per-process signing key. Its
 * payload is a canonical JSON object (fixed key order, no whitespace, no
 * escapes; docs/sealing.md §5), so anyone can check it with off-the-shelf
 * JOSE tools and the claims have exactly one encoding.
 *
 *   gloam_receipt_signer *s; gloam_receipt_signer_new(&s, err);     // node
 *   gloam_receipt_claims c = {...};
 *   char *jws; size_t n; gloam_receipt_sign(s, &c, &jws, &n, err);
 *   gloam_receipt_key *k; gloam_receipt_key_parse(pem_or_jwk, len, &k, err);  // anyone
 *   gloam_receipt_verify(k, jws, n, &c, err);
 *   gloam_receipt_check_client(sealed_client, k, jws, n, &c, err);  // client: also binds hashes
 *
 * Ownership: handles are freed with their _free (NULL is a no-op); *out_jws
 * with gloam_receipt_free_jws(). Thread safety: signer and key are read-only
 * after creation and may be used from several threads at once.
 * Return codes: 0; GLOAM_EFORMAT malformed JWS/key/claims (or claims not in
 * canonical form); GLOAM_EUNSUPPORTED another alg or key type; GLOAM_EAUTH
 * bad signature, or claims that do not match the request/response;
 * GLOAM_ESTATE the response stream did not end; GLOAM_ECRYPTO; GLOAM_ENOMEM.
 */
#ifndef GLOAM_RECEIPT_H
#define GLOAM_RECEIPT_H

#include <stddef.h>
#include <stdint.h>

#include "gloam/err.h"
#include "gloam/seal.h"

#ifdef __cplusplus
extern "C" {
#endif

#define GLOAM_RECEIPT_VERSION 1
#define GLOAM_RECEIPT_WEIGHTS_MAX 128
#define GLOAM_RECEIPT_MAX_JWS 4096
#define GLOAM_RECEIPT_MAX_INT 9007199254740991ULL /* 2^53 - 1: exact in JS */
#define GLOAM_RECEIPT_MAX_IMAGES 4

typedef struct gloam_receipt_claims {
  uint32_t version; /* GLOAM_RECEIPT_VERSION */
  char node_id[GLOAM_SEAL_NODE_ID_MAX + 1];
  uint8_t request_id[GLOAM_SEAL_REQUEST_ID_LEN];
  uint8_t request_sha256[32];    /* of the sealed envelope bytes */
  uint8_t transcript_sha256[32]; /* of the response plaintext the client sees */
  char model[GLOAM_SEAL_MODEL_MAX + 1];
  char weights_digest[GLOAM_RECEIPT_WEIGHTS_MAX + 1]; /* e.g. "sha256:<hex>" */
  uint64_t prompt_tokens, completion_tokens;
  /* Audio endpoints: milliseconds of audio transcribed (the billed unit);
   * 0 for chat. Encoded only when non-zero, after completion_tokens. */
  uint64_t audio_ms;
  /* Image endpoints: images generated (the billed unit) and the SHA-256 of
   * each PNG, in order; 0 otherwise. Encoded only when non-zero, after
   * audio_ms, as "images":N,"images_sha256":"<64 hex per image>". */
  uint64_t images;
  uint8_t images_sha256[GLOAM_RECEIPT_MAX_IMAGES][32];
  uint64_t price_micro_usd;
  uint64_t started_ms, finished_ms; /* Unix ms */
} gloam_receipt_claims;

/* ---- signing (node) ---- */

typedef struct gloam_receipt_signer gloam_receipt_signer;

/* A fresh P-256 signing key. */
GLOAM_API int gloam_receipt_signer_new(gloam_receipt_signer **out, char *err);
/* The public key as a JWK ({"kty":"EC","crv":"P-256","x":..,"y":..}) or as a
 * PEM SubjectPublicKeyInfo, NUL-terminated into out. GLOAM_ETOOBIG if small
 * (256 bytes always suffice for the JWK, 256 for the PEM). */
GLOAM_API int gloam_receipt_signer_public_jwk(const gloam_receipt_signer *s, char *out, size_t cap);
GLOAM_API int gloam_receipt_signer_public_pem(const gloam_receipt_signer *s, char *out, size_t cap);
/* Signs the claims (validated first). OUT: *out_jws, NUL-terminated. */
GLOAM_API int gloam_receipt_sign(const gloam_receipt_signer *s, const gloam_receipt_claims *c,
                                 char **out_jws, size_t *out_len, char *err);
GLOAM_API void gloam_receipt_free_jws(char *jws);
GLOAM_API void gloam_receipt_signer_free(gloam_receipt_signer *s);

/* ---- verifying (anyone) ---- */

typedef struct gloam_receipt_key gloam_receipt_key;

/* A P-256 public key from a JWK (JSON object) or PEM SubjectPublicKeyInfo. */
GLOAM_API int gloam_receipt_key_parse(const char *text, size_t len, gloam_receipt_key **out,
                                      char *err);
GLOAM_API int gloam_receipt_key_from_signer(const gloam_receipt_signer *s, gloam_receipt_key **out);
/* RFC 7638 JWK thumbprint (base64url of SHA-256), the JWS "kid"; 44 bytes. */
GLOAM_API void gloam_receipt_key_thumbprint(const gloam_receipt_key *k, char out[44]);
GLOAM_API void gloam_receipt_key_free(gloam_receipt_key *k);

/* Verifies a compact JWS: header {"alg":"ES256","kid":..,"typ":"gloam-receipt"}
 * with the kid of k, the ES256 signature, and canonical claims. OUT: *c. */
GLOAM_API int gloam_receipt_verify(const gloam_receipt_key *k, const char *jws, size_t len,
                                   gloam_receipt_claims *c, char *err);

/* gloam_receipt_verify plus the client's own facts: the stream ended with
 * its final chunk, and the receipt's request id, node id, model, request
 * hash and transcript hash equal those of the request it sealed and the
 * response it opened. */
GLOAM_API int gloam_receipt_check_client(const gloam_seal_client *sc, const gloam_receipt_key *k,
                                         const char *jws, size_t len, gloam_receipt_claims *c,
                                         char *err);

#ifdef __cplusplus
}
#endif
#endif /* GLOAM_RECEIPT_H */
