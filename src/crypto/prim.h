/* SPDX-License-Identifier: Apache-2.0
 *
 * crypto/prim.h: the few OpenSSL primitives the sealing code is built from.
 *
 * HMAC-SHA256 / HKDF-SHA256 (RFC 5869), SHA-256, random bytes and a reusable
 * AEAD context (AES-128-GCM, AES-256-GCM, ChaCha20-Poly1305). Algorithms are
 * fetched from OpenSSL's default provider once per process (pthread_once) and
 * shared read-only, so each call avoids the implicit-fetch cost.
 *
 * DESIGN: this file is the only place that names OpenSSL's MAC/cipher
 * objects; hpke.c, stream.c and receipt.c use these wrappers. No primitive is
 * implemented here, only called (DESIGN.md §3.2).
 *
 * Thread safety: every function is thread-safe; a prim_aead is owned by one
 * thread at a time.
 */
#ifndef GLOAM_CRYPTO_PRIM_H
#define GLOAM_CRYPTO_PRIM_H

#include <stddef.h>
#include <stdint.h>

#define PRIM_SHA256_LEN 32
#define PRIM_AEAD_TAG_LEN 16
#define PRIM_AEAD_NONCE_LEN 12
#define PRIM_AEAD_MAX_KEY 32

/* HPKE AEAD ids (RFC 9180 §7.3), used as the cipher selector. */
enum {
  PRIM_AEAD_AES128GCM = 1,
  PRIM_AEAD_AES256GCM = 2,
  PRIM_AEAD_CHACHA20POLY1305 = 3,
};

/* Key length of an AEAD id, 0 when unsupported. */
size_t prim_aead_key_len(uint16_t aead_id);

/* Fills n bytes from OpenSSL's CSPRNG. GLOAM_ECRYPTO on failure. */
int prim_random(void *out, size_t n);

/* SHA-256 of n bytes into out[32]. Incremental form: prim_sha256_* over an
 * opaque EVP_MD_CTX (NULL-safe free). */
int prim_sha256(const void *p, size_t n, uint8_t out[PRIM_SHA256_LEN]);
typedef struct evp_md_ctx_st prim_sha256_ctx;
prim_sha256_ctx *prim_sha256_new(void);
int prim_sha256_update(prim_sha256_ctx *c, const void *p, size_t n);
/* Writes the digest of everything so far without ending the context. */
int prim_sha256_peek(const prim_sha256_ctx *c, uint8_t out[PRIM_SHA256_LEN]);
void prim_sha256_free(prim_sha256_ctx *c);

/* HMAC-SHA256 over the concatenation of up to 4 parts (NULL/0 parts skipped). */
int prim_hmac_sha256(const uint8_t *key, size_t key_len, const void *const *parts,
                     const size_t *part_lens, int n_parts, uint8_t out[PRIM_SHA256_LEN]);

/* HKDF-SHA256 Extract: out = HMAC(salt, ikm). A NULL/empty salt means 32
 * zero bytes (RFC 5869 §2.2). `ikm` is given as parts concatenated. */
int prim_hkdf_extract(const uint8_t *salt, size_t salt_len, const void *const *ikm,
                      const size_t *ikm_lens, int n_ikm, uint8_t prk[PRIM_SHA256_LEN]);
/* HKDF-SHA256 Expand: L <= 255*32 bytes; `info` is given as parts. */
int prim_hkdf_expand(const uint8_t prk[PRIM_SHA256_LEN], const void *const *info,
                     const size_t *info_lens, int n_info, uint8_t *out, size_t L);

/* A reusable AEAD with a fixed key; the nonce is given per call. */
typedef struct prim_aead {
  struct evp_cipher_ctx_st *enc; /* keyed for sealing, lazily */
  struct evp_cipher_ctx_st *dec; /* keyed for opening, lazily */
  uint16_t aead_id;
  uint8_t key[PRIM_AEAD_MAX_KEY];
  size_t key_len;
} prim_aead;

/* GLOAM_EUNSUPPORTED for an unknown id; copies the key. */
int prim_aead_init(prim_aead *a, uint16_t aead_id, const uint8_t *key, size_t key_len);
/* Wipes the key and frees the contexts. Safe on a zeroed struct. */
void prim_aead_deinit(prim_aead *a);
/* ct gets pt_len + 16 bytes (ciphertext || tag); ct may equal pt. */
int prim_aead_seal(prim_aead *a, const uint8_t nonce[PRIM_AEAD_NONCE_LEN], const uint8_t *aad,
                   size_t aad_len, const uint8_t *pt, size_t pt_len, uint8_t *ct);
/* pt gets ct_len - 16 bytes; GLOAM_EAUTH when the tag does not verify (pt
 * is then wiped), GLOAM_EFORMAT when ct_len < 16. pt may equal ct. */
int prim_aead_open(prim_aead *a, const uint8_t nonce[PRIM_AEAD_NONCE_LEN], const uint8_t *aad,
                   size_t aad_len, const uint8_t *ct, size_t ct_len, uint8_t *pt);

#endif
