/* SPDX-License-Identifier: Apache-2.0
 *
 * crypto/hpke.h: HPKE (RFC 9180) base mode over OpenSSL 3.0 EVP.
 *
 * Debian 12 ships OpenSSL 3.0, which has no OSSL_HPKE_* API, so the KEM,
 * key schedule, sequence-numbered AEAD and secret exporter of RFC 9180 are
 * written here over EVP X25519 / P-256 ECDH, HKDF-SHA256 and the AEADs in
 * prim.h. Checked against the RFC's vectors (tests/crypto).
 *
 * Suites: KEM DHKEM(X25519, HKDF-SHA256) 0x0020 and DHKEM(P-256,
 * HKDF-SHA256) 0x0010; KDF HKDF-SHA256 0x0001; AEAD AES-128-GCM 1,
 * AES-256-GCM 2, ChaCha20-Poly1305 3. Only mode_base (0x00).
 *
 *   hpke_ctx s, r; uint8_t enc[HPKE_MAX_ENC]; size_t enc_len;
 *   hpke_setup_s(&s, suite, pkR, pkR_len, info, info_len, NULL, 0, enc, &enc_len, NULL);
 *   hpke_seal(&s, aad, aad_len, pt, pt_len, ct);          // ct: pt_len + 16
 *   hpke_setup_r(&r, suite, skR, enc, enc_len, info, info_len, NULL);
 *   hpke_open(&r, aad, aad_len, ct, ct_len, pt);
 *   hpke_ctx_deinit(&s); hpke_ctx_deinit(&r);
 *
 * Keys are EVP_PKEY objects (never in arenas); every secret intermediate is
 * wiped. Thread safety: a context belongs to one thread at a time; key
 * objects are read-only after creation and may be shared.
 */
#ifndef GLOAM_CRYPTO_HPKE_H
#define GLOAM_CRYPTO_HPKE_H

#include <stddef.h>
#include <stdint.h>

#include "crypto/prim.h"

typedef struct evp_pkey_st hpke_key; /* an OpenSSL EVP_PKEY */

enum {
  HPKE_KEM_P256 = 0x0010,
  HPKE_KEM_X25519 = 0x0020,
  HPKE_KDF_SHA256 = 0x0001,
  HPKE_AEAD_AES128GCM = 0x0001,
  HPKE_AEAD_AES256GCM = 0x0002,
  HPKE_AEAD_CHACHA20POLY1305 = 0x0003,
};

#define HPKE_MAX_ENC 65 /* P-256 uncompressed point */
#define HPKE_MAX_PK 65
#define HPKE_SK_LEN 32
#define HPKE_NONCE_LEN 12
#define HPKE_TAG_LEN 16
#define HPKE_NH 32 /* HKDF-SHA256 output */

typedef struct hpke_suite {
  uint16_t kem_id, kdf_id, aead_id;
} hpke_suite;

/* 1 when the suite is implemented. */
int hpke_suite_ok(hpke_suite s);
/* Nenc (= Npk) for a KEM, 0 when unsupported. */
size_t hpke_kem_enc_len(uint16_t kem_id);

/* Values of the key schedule, for checking against the RFC vectors. */
typedef struct hpke_trace {
  uint8_t shared_secret[HPKE_NH];
  uint8_t key_schedule_context[1 + 2 * HPKE_NH];
  uint8_t secret[HPKE_NH];
  uint8_t key[PRIM_AEAD_MAX_KEY];
  uint8_t base_nonce[HPKE_NONCE_LEN];
  uint8_t exporter_secret[HPKE_NH];
} hpke_trace;

typedef struct hpke_ctx {
  hpke_suite suite;
  prim_aead aead;
  uint8_t base_nonce[HPKE_NONCE_LEN];
  uint8_t exporter_secret[HPKE_NH];
  uint64_t seq;
  uint8_t enc[HPKE_MAX_ENC];
  size_t enc_len;
} hpke_ctx;

/* Keys. DeriveKeyPair (RFC 9180 §7.1.3) from ikm (>= 32 bytes), or a fresh
 * random pair. *out is a new EVP_PKEY: free with hpke_key_free(). */
int hpke_derive_keypair(uint16_t kem_id, const uint8_t *ikm, size_t ikm_len, hpke_key **out);
int hpke_generate_keypair(uint16_t kem_id, hpke_key **out);
/* A public key from its serialized form (SerializePublicKey). */
int hpke_public_from_bytes(uint16_t kem_id, const uint8_t *pk, size_t pk_len, hpke_key **out);
/* A private key from its serialized form (32 bytes), public part computed. */
int hpke_private_from_bytes(uint16_t kem_id, const uint8_t *sk, size_t sk_len, hpke_key **out);
/* SerializePublicKey / SerializePrivateKey. out_cap >= HPKE_MAX_PK / 32. */
int hpke_public_bytes(uint16_t kem_id, const hpke_key *k, uint8_t *out, size_t out_cap,
                      size_t *out_len);
int hpke_private_bytes(uint16_t kem_id, const hpke_key *k, uint8_t out[HPKE_SK_LEN]);
void hpke_key_free(hpke_key *k);

/* SetupBaseS: encapsulates to pkR. ikmE (NULL for random) makes the
 * ephemeral key deterministic (tests only). enc gets Nenc bytes. `trace`
 * (may be NULL) receives the key schedule values. */
int hpke_setup_s(hpke_ctx *ctx, hpke_suite suite, const uint8_t *pkR, size_t pkR_len,
                 const uint8_t *info, size_t info_len, const uint8_t *ikmE, size_t ikmE_len,
                 uint8_t *enc, size_t *enc_len, hpke_trace *trace);
/* SetupBaseR: decapsulates enc with skR. GLOAM_ECRYPTO for a bad enc. */
int hpke_setup_r(hpke_ctx *ctx, hpke_suite suite, const hpke_key *skR, const uint8_t *enc,
                 size_t enc_len, const uint8_t *info, size_t info_len, hpke_trace *trace);

/* Seal/Open with the context's sequence number, which advances on success.
 * ct gets pt_len + 16 bytes; pt gets ct_len - 16. Open: GLOAM_EAUTH on a bad
 * tag (the sequence number does not advance). GLOAM_ERANGE when the sequence
 * number is exhausted. */
int hpke_seal(hpke_ctx *ctx, const uint8_t *aad, size_t aad_len, const uint8_t *pt, size_t pt_len,
              uint8_t *ct);
int hpke_open(hpke_ctx *ctx, const uint8_t *aad, size_t aad_len, const uint8_t *ct, size_t ct_len,
              uint8_t *pt);
/* The nonce for the current sequence number (for tests). */
void hpke_nonce(const hpke_ctx *ctx, uint8_t out[HPKE_NONCE_LEN]);
/* Secret exporter: LabeledExpand(exporter_secret, "sec", exp_ctx, L). */
int hpke_export(const hpke_ctx *ctx, const uint8_t *exp_ctx, size_t exp_ctx_len, uint8_t *out,
                size_t L);
/* Wipes every secret. Safe on a zeroed context. */
void hpke_ctx_deinit(hpke_ctx *ctx);

/* Single-shot SealBase / OpenBase (RFC 9180 §6.1): setup, one seal or open
 * at sequence number 0, wipe. enc gets Nenc bytes, ct pt_len + 16, pt
 * ct_len - 16. Open: GLOAM_EAUTH for a bad tag, GLOAM_ECRYPTO for a bad enc. */
int hpke_seal_base(hpke_suite suite, const uint8_t *pkR, size_t pkR_len, const uint8_t *info,
                   size_t info_len, const uint8_t *aad, size_t aad_len, const uint8_t *pt,
                   size_t pt_len, uint8_t *enc, size_t *enc_len, uint8_t *ct);
int hpke_open_base(hpke_suite suite, const hpke_key *skR, const uint8_t *enc, size_t enc_len,
                   const uint8_t *info, size_t info_len, const uint8_t *aad, size_t aad_len,
                   const uint8_t *ct, size_t ct_len, uint8_t *pt);

#endif
