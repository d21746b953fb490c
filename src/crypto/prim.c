/* SPDX-License-Identifier: Apache-2.0
 *
 * crypto/prim.c: HMAC/HKDF-SHA256, SHA-256, random bytes and AEAD over
 * OpenSSL 3 EVP. See prim.h.
 */
#include "crypto/prim.h"

#include <limits.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <string.h>

#include "core/secure.h"
#include "gloam/err.h"

static pthread_once_t fetch_once = PTHREAD_ONCE_INIT;
static EVP_MAC *g_hmac;
static EVP_MAC_CTX *g_hmac_tmpl; /* HMAC with SHA-256 set, no key: duplicated per use */
static EVP_MD *g_sha256;
static EVP_CIPHER *g_aes128gcm, *g_aes256gcm, *g_chacha;

static void fetch_all(void) {
  g_hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
  g_sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
  g_aes128gcm = EVP_CIPHER_fetch(NULL, "AES-128-GCM", NULL);
  g_aes256gcm = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
  g_chacha = EVP_CIPHER_fetch(NULL, "ChaCha20-Poly1305", NULL);
  /* Setting the digest by name fetches it; doing that once here instead of
   * in every HMAC halves the cost of a short HMAC. */
  OSSL_PARAM params[2] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, "SHA256", 0),
                          OSSL_PARAM_construct_end()};
  g_hmac_tmpl = g_hmac ? EVP_MAC_CTX_new(g_hmac) : NULL;
  if (g_hmac_tmpl && EVP_MAC_CTX_set_params(g_hmac_tmpl, params) != 1) {
    EVP_MAC_CTX_free(g_hmac_tmpl);
    g_hmac_tmpl = NULL;
  }
}

static int fetched(void) {
  pthread_once(&fetch_once, fetch_all);
  return g_hmac_tmpl && g_sha256 && g_aes128gcm && g_aes256gcm && g_chacha;
}

size_t prim_aead_key_len(uint16_t aead_id) {
  switch (aead_id) {
    case PRIM_AEAD_AES128GCM:
      return 16;
    case PRIM_AEAD_AES256GCM:
      return 32;
    case PRIM_AEAD_CHACHA20POLY1305:
      return 32;
    default:
      return 0;
  }
}

int prim_random(void *out, size_t n) {
  if (n > INT_MAX) return GLOAM_EINVAL;
  return RAND_bytes(out, (int)n) == 1 ? 0 : GLOAM_ECRYPTO;
}

int prim_sha256(const void *p, size_t n, uint8_t out[PRIM_SHA256_LEN]) {
  if (!fetched()) return GLOAM_ECRYPTO;
  unsigned int len = 0;
  return EVP_Digest(p, n, out, &len, g_sha256, NULL) == 1 ? 0 : GLOAM_ECRYPTO;
}

prim_sha256_ctx *prim_sha256_new(void) {
  if (!fetched()) return NULL;
  EVP_MD_CTX *c = EVP_MD_CTX_new();
  if (c && EVP_DigestInit_ex2(c, g_sha256, NULL) != 1) {
    EVP_MD_CTX_free(c);
    c = NULL;
  }
  return c;
}

int prim_sha256_update(prim_sha256_ctx *c, const void *p, size_t n) {
  return EVP_DigestUpdate(c, p, n) == 1 ? 0 : GLOAM_ECRYPTO;
}

int prim_sha256_peek(const prim_sha256_ctx *c, uint8_t out[PRIM_SHA256_LEN]) {
  EVP_MD_CTX *copy = EVP_MD_CTX_new();
  unsigned int len = 0;
  int ok = copy && EVP_MD_CTX_copy_ex(copy, c) == 1 && EVP_DigestFinal_ex(copy, out, &len) == 1;
  EVP_MD_CTX_free(copy);
  return ok ? 0 : GLOAM_ECRYPTO;
}

void prim_sha256_free(prim_sha256_ctx *c) {
  EVP_MD_CTX_free(c);
}

int prim_hmac_sha256(const uint8_t *key, size_t key_len, const void *const *parts,
                     const size_t *part_lens, int n_parts, uint8_t out[PRIM_SHA256_LEN]) {
  if (!fetched()) return GLOAM_ECRYPTO;
  static const uint8_t zero = 0;
  EVP_MAC_CTX *m = EVP_MAC_CTX_dup(g_hmac_tmpl);
  size_t out_len = 0;
  int rc = GLOAM_ECRYPTO;
  /* OpenSSL rejects a NULL key even when empty; HMAC with an empty key is
   * HMAC with a zero-padded block, the same as a single zero byte. */
  if (!m || EVP_MAC_init(m, key_len ? key : &zero, key_len ? key_len : 1, NULL) != 1) goto fail;
  for (int i = 0; i < n_parts; i++)
    if (part_lens[i] && EVP_MAC_update(m, parts[i], part_lens[i]) != 1) goto fail;
  if (EVP_MAC_final(m, out, &out_len, PRIM_SHA256_LEN) != 1 || out_len != PRIM_SHA256_LEN)
    goto fail;
  rc = 0;
fail:
  EVP_MAC_CTX_free(m);
  return rc;
}

int prim_hkdf_extract(const uint8_t *salt, size_t salt_len, const void *const *ikm,
                      const size_t *ikm_lens, int n_ikm, uint8_t prk[PRIM_SHA256_LEN]) {
  static const uint8_t zeros[PRIM_SHA256_LEN];
  if (!salt || !salt_len) {
    salt = zeros;
    salt_len = sizeof zeros;
  }
  return prim_hmac_sha256(salt, salt_len, ikm, ikm_lens, n_ikm, prk);
}

int prim_hkdf_expand(const uint8_t prk[PRIM_SHA256_LEN], const void *const *info,
                     const size_t *info_lens, int n_info, uint8_t *out, size_t L) {
  enum { MAX_INFO = 6 };
  if (L > 255 * PRIM_SHA256_LEN || n_info > MAX_INFO) return GLOAM_EINVAL;
  uint8_t t[PRIM_SHA256_LEN];
  const void *parts[MAX_INFO + 2];
  size_t lens[MAX_INFO + 2];
  size_t done = 0;
  int rc = 0;
  for (uint8_t i = 1; done < L; i++) {
    int n = 0;
    if (i > 1) {
      parts[n] = t;
      lens[n++] = sizeof t;
    }
    for (int j = 0; j < n_info; j++) {
      parts[n] = info[j];
      lens[n++] = info_lens[j];
    }
    parts[n] = &i;
    lens[n++] = 1;
    rc = prim_hmac_sha256(prk, PRIM_SHA256_LEN, parts, lens, n, t);
    if (rc < 0) break;
    size_t take = L - done < sizeof t ? L - done : sizeof t;
    memcpy(out + done, t, take);
    done += take;
  }
  secure_zero(t, sizeof t);
  return rc;
}

static const EVP_CIPHER *cipher_of(uint16_t aead_id) {
  switch (aead_id) {
    case PRIM_AEAD_AES128GCM:
      return g_aes128gcm;
    case PRIM_AEAD_AES256GCM:
      return g_aes256gcm;
    case PRIM_AEAD_CHACHA20POLY1305:
      return g_chacha;
    default:
      return NULL;
  }
}

int prim_aead_init(prim_aead *a, uint16_t aead_id, const uint8_t *key, size_t key_len) {
  memset(a, 0, sizeof *a);
  if (!fetched()) return GLOAM_ECRYPTO;
  if (!cipher_of(aead_id) || key_len != prim_aead_key_len(aead_id)) return GLOAM_EUNSUPPORTED;
  a->aead_id = aead_id;
  memcpy(a->key, key, key_len);
  a->key_len = key_len;
  return 0;
}

void prim_aead_deinit(prim_aead *a) {
  EVP_CIPHER_CTX_free(a->enc);
  EVP_CIPHER_CTX_free(a->dec);
  secure_zero(a, sizeof *a);
}

/* Keys a context once; later calls only set the nonce. */
static EVP_CIPHER_CTX *keyed(prim_aead *a, int encrypt) {
  EVP_CIPHER_CTX **slot = encrypt ? &a->enc : &a->dec;
  if (*slot) return *slot;
  EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
  if (!c) return NULL;
  if (EVP_CipherInit_ex2(c, cipher_of(a->aead_id), a->key, NULL, encrypt, NULL) != 1) {
    EVP_CIPHER_CTX_free(c);
    return NULL;
  }
  *slot = c;
  return c;
}

static int int_len(size_t n) {
  return n <= INT_MAX;
}

int prim_aead_seal(prim_aead *a, const uint8_t nonce[PRIM_AEAD_NONCE_LEN], const uint8_t *aad,
                   size_t aad_len, const uint8_t *pt, size_t pt_len, uint8_t *ct) {
  EVP_CIPHER_CTX *c = keyed(a, 1);
  int n = 0;
  if (!c) return GLOAM_ECRYPTO;
  if (!int_len(aad_len) || !int_len(pt_len)) return GLOAM_ETOOBIG;
  if (EVP_CipherInit_ex2(c, NULL, NULL, nonce, 1, NULL) != 1) return GLOAM_ECRYPTO;
  if (aad_len && EVP_CipherUpdate(c, NULL, &n, aad, (int)aad_len) != 1) return GLOAM_ECRYPTO;
  if (pt_len && EVP_CipherUpdate(c, ct, &n, pt, (int)pt_len) != 1) return GLOAM_ECRYPTO;
  if (EVP_CipherFinal_ex(c, ct + pt_len, &n) != 1) return GLOAM_ECRYPTO;
  if (EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_GET_TAG, PRIM_AEAD_TAG_LEN, ct + pt_len) != 1)
    return GLOAM_ECRYPTO;
  return 0;
}

int prim_aead_open(prim_aead *a, const uint8_t nonce[PRIM_AEAD_NONCE_LEN], const uint8_t *aad,
                   size_t aad_len, const uint8_t *ct, size_t ct_len, uint8_t *pt) {
  if (ct_len < PRIM_AEAD_TAG_LEN) return GLOAM_EFORMAT;
  size_t pt_len = ct_len - PRIM_AEAD_TAG_LEN;
  EVP_CIPHER_CTX *c = keyed(a, 0);
  uint8_t tag[PRIM_AEAD_TAG_LEN];
  int n = 0;
  if (!c) return GLOAM_ECRYPTO;
  if (!int_len(aad_len) || !int_len(ct_len)) return GLOAM_ETOOBIG;
  memcpy(tag, ct + pt_len, sizeof tag); /* before pt (maybe == ct) is written */
  if (EVP_CipherInit_ex2(c, NULL, NULL, nonce, 0, NULL) != 1) return GLOAM_ECRYPTO;
  if (aad_len && EVP_CipherUpdate(c, NULL, &n, aad, (int)aad_len) != 1) return GLOAM_ECRYPTO;
  if (pt_len && EVP_CipherUpdate(c, pt, &n, ct, (int)pt_len) != 1) return GLOAM_ECRYPTO;
  if (EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_TAG, PRIM_AEAD_TAG_LEN, tag) != 1)
    return GLOAM_ECRYPTO;
  if (EVP_CipherFinal_ex(c, pt + pt_len, &n) != 1) {
    secure_zero(pt, pt_len);
    return GLOAM_EAUTH;
  }
  return 0;
}
