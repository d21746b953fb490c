/* SPDX-License-Identifier: Apache-2.0
 *
 * crypto/es256.c: ES256 signing/verification with raw r||s signatures and
 * P-256 key import/export (JWK, PEM). See es256.h.
 */
#include "crypto/es256.h"

#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <string.h>

#include "core/codec.h"
#include "core/err.h"
#include "crypto/prim.h"

int es256_generate(es256_key **out) {
  *out = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
  return *out ? 0 : GLOAM_ECRYPTO;
}

void es256_key_free(es256_key *k) {
  EVP_PKEY_free(k);
}

es256_key *es256_key_ref(es256_key *k) {
  return EVP_PKEY_up_ref(k) == 1 ? k : NULL;
}

int es256_sign(es256_key *k, const void *msg, size_t len, uint8_t sig[ES256_SIG_LEN]) {
  EVP_MD_CTX *md = EVP_MD_CTX_new();
  uint8_t der[80];
  size_t der_len = sizeof der;
  ECDSA_SIG *s = NULL;
  const BIGNUM *r, *sv;
  int rc = GLOAM_ECRYPTO;
  if (!md || EVP_DigestSignInit_ex(md, NULL, "SHA256", NULL, NULL, k, NULL) != 1 ||
      EVP_DigestSign(md, der, &der_len, msg, len) != 1)
    goto fail;
  const unsigned char *p = der;
  s = d2i_ECDSA_SIG(NULL, &p, (long)der_len);
  if (!s) goto fail;
  ECDSA_SIG_get0(s, &r, &sv);
  if (BN_bn2binpad(r, sig, 32) != 32 || BN_bn2binpad(sv, sig + 32, 32) != 32) goto fail;
  rc = 0;
fail:
  ECDSA_SIG_free(s);
  EVP_MD_CTX_free(md);
  return rc;
}

int es256_verify(es256_key *k, const void *msg, size_t len, const uint8_t sig[ES256_SIG_LEN]) {
  ECDSA_SIG *s = ECDSA_SIG_new();
  BIGNUM *r = BN_bin2bn(sig, 32, NULL), *sv = BN_bin2bn(sig + 32, 32, NULL);
  EVP_MD_CTX *md = EVP_MD_CTX_new();
  unsigned char *der = NULL;
  int rc = GLOAM_ECRYPTO;
  if (!s || !r || !sv || !md) goto fail;
  if (ECDSA_SIG_set0(s, r, sv) != 1) goto fail;
  r = sv = NULL; /* owned by s now */
  int der_len = i2d_ECDSA_SIG(s, &der);
  if (der_len <= 0) goto fail;
  if (EVP_DigestVerifyInit_ex(md, NULL, "SHA256", NULL, NULL, k, NULL) != 1) goto fail;
  rc = EVP_DigestVerify(md, der, (size_t)der_len, msg, len) == 1 ? 0 : GLOAM_EAUTH;
fail:
  OPENSSL_free(der);
  EVP_MD_CTX_free(md);
  BN_free(r);
  BN_free(sv);
  ECDSA_SIG_free(s);
  return rc;
}

int es256_public_xy(const es256_key *k, uint8_t x[32], uint8_t y[32]) {
  uint8_t pt[65];
  size_t n = 0;
  if (EVP_PKEY_get_octet_string_param(k, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, pt, sizeof pt, &n) !=
          1 ||
      n != 65 || pt[0] != 0x04)
    return GLOAM_ECRYPTO;
  memcpy(x, pt + 1, 32);
  memcpy(y, pt + 33, 32);
  return 0;
}

int es256_public_jwk(const es256_key *k, char *out, size_t cap) {
  uint8_t x[32], y[32];
  char xs[48], ys[48];
  int rc = es256_public_xy(k, x, y);
  if (rc < 0) return rc;
  codec_b64_encode(x, 32, xs, sizeof xs, CODEC_B64_URL);
  codec_b64_encode(y, 32, ys, sizeof ys, CODEC_B64_URL);
  int n =
      snprintf(out, cap, "{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"%s\",\"y\":\"%s\"}", xs, ys);
  return n < 0 || (size_t)n >= cap ? GLOAM_ETOOBIG : n;
}

int es256_public_pem(const es256_key *k, char *out, size_t cap) {
  BIO *b = BIO_new(BIO_s_mem());
  char *p = NULL;
  int rc = GLOAM_ECRYPTO;
  if (!b || PEM_write_bio_PUBKEY(b, k) != 1) goto fail;
  long n = BIO_get_mem_data(b, &p);
  if (n <= 0) goto fail;
  if ((size_t)n >= cap) {
    rc = GLOAM_ETOOBIG;
    goto fail;
  }
  memcpy(out, p, (size_t)n);
  out[n] = 0;
  rc = (int)n;
fail:
  BIO_free(b);
  return rc;
}

int es256_thumbprint(const es256_key *k, char out[ES256_THUMB_LEN + 1]) {
  char jwk[256];
  uint8_t d[32];
  int n = es256_public_jwk(k, jwk, sizeof jwk); /* already the RFC 7638 form */
  if (n < 0) return n;
  int rc = prim_sha256(jwk, (size_t)n, d);
  if (rc < 0) return rc;
  codec_b64_encode(d, 32, out, ES256_THUMB_LEN + 1, CODEC_B64_URL);
  return 0;
}

static int from_point(const uint8_t pt[65], es256_key **out) {
  OSSL_PARAM params[3] = {
      OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, (char *)"prime256v1", 0),
      OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, (void *)pt, 65),
      OSSL_PARAM_construct_end()};
  EVP_PKEY_CTX *pc = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL), *chk = NULL;
  int rc = GLOAM_EFORMAT;
  *out = NULL;
  if (!pc || EVP_PKEY_fromdata_init(pc) != 1 ||
      EVP_PKEY_fromdata(pc, out, EVP_PKEY_PUBLIC_KEY, params) != 1)
    goto fail;
  chk = EVP_PKEY_CTX_new_from_pkey(NULL, *out, NULL);
  if (!chk || EVP_PKEY_public_check(chk) != 1) goto fail;
  rc = 0;
fail:
  if (rc < 0) {
    EVP_PKEY_free(*out);
    *out = NULL;
  }
  EVP_PKEY_CTX_free(chk);
  EVP_PKEY_CTX_free(pc);
  return rc;
}

static int coord(json_t *o, const char *name, uint8_t *dst) {
  const char *s = json_string_value(json_object_get(o, name));
  if (!s) return GLOAM_EFORMAT;
  return codec_b64_decode(s, strlen(s), dst, 32, CODEC_B64_URL) == 32 ? 0 : GLOAM_EFORMAT;
}

static int parse_jwk(const char *text, size_t len, es256_key **out, char *err) {
  json_error_t je;
  json_t *o = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
  uint8_t pt[65];
  int rc;
  if (!o || !json_is_object(o)) {
    rc = err_set(err, GLOAM_EFORMAT, "key: JWK is not a JSON object");
    goto done;
  }
  const char *kty = json_string_value(json_object_get(o, "kty"));
  const char *crv = json_string_value(json_object_get(o, "crv"));
  if (!kty || strcmp(kty, "EC") != 0 || !crv || strcmp(crv, "P-256") != 0) {
    rc = err_set(err, GLOAM_EUNSUPPORTED, "key: JWK is not an EC P-256 key");
    goto done;
  }
  pt[0] = 0x04;
  if (coord(o, "x", pt + 1) < 0 || coord(o, "y", pt + 33) < 0) {
    rc = err_set(err, GLOAM_EFORMAT, "key: JWK x/y are not 32-byte base64url values");
    goto done;
  }
  rc = from_point(pt, out);
  if (rc < 0) err_set(err, rc, "key: JWK point is not on P-256");
done:
  json_decref(o);
  return rc;
}

static int parse_pem(const char *text, size_t len, es256_key **out, char *err) {
  BIO *b = BIO_new_mem_buf(text, (int)len);
  char group[32] = "";
  size_t gl = 0;
  int rc = 0;
  *out = b ? PEM_read_bio_PUBKEY(b, NULL, NULL, NULL) : NULL;
  BIO_free(b);
  if (!*out) return err_set(err, GLOAM_EFORMAT, "key: not a PEM public key");
  if (!EVP_PKEY_is_a(*out, "EC") ||
      EVP_PKEY_get_utf8_string_param(*out, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group, &gl) !=
          1 ||
      strcmp(group, "prime256v1") != 0) {
    rc = err_set(err, GLOAM_EUNSUPPORTED, "key: PEM key is not EC P-256");
    EVP_PKEY_free(*out);
    *out = NULL;
  }
  return rc;
}

int es256_public_parse(const char *text, size_t len, es256_key **out, char *err) {
  size_t i = 0;
  *out = NULL;
  if (len > 65536) return err_set(err, GLOAM_ETOOBIG, "key: %zu bytes is too long", len);
  while (i < len && (text[i] == ' ' || text[i] == '\n' || text[i] == '\r' || text[i] == '\t')) i++;
  if (i < len && text[i] == '{') return parse_jwk(text + i, len - i, out, err);
  if (len - i >= 10 && memcmp(text + i, "-----BEGIN", 10) == 0)
    return parse_pem(text + i, len - i, out, err);
  return err_set(err, GLOAM_EFORMAT, "key: neither a JWK nor a PEM public key");
}
