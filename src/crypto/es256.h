/* SPDX-License-Identifier: Apache-2.0
 *
 * crypto/es256.h: ECDSA P-256 / SHA-256 as JOSE uses it (RFC 7518 §3.4).
 *
 * JOSE carries the signature as raw r || s (32 bytes each), while OpenSSL
 * speaks DER; these wrappers convert both ways. Keys are EVP_PKEYs: JWK
 * and PEM (SubjectPublicKeyInfo) import/export and the RFC 7638 thumbprint
 * live here too.
 *
 * Thread safety: keys are read-only after creation; functions are reentrant.
 */
#ifndef GLOAM_CRYPTO_ES256_H
#define GLOAM_CRYPTO_ES256_H

#include <stddef.h>
#include <stdint.h>

typedef struct evp_pkey_st es256_key;

#define ES256_SIG_LEN 64
#define ES256_THUMB_LEN 43 /* base64url of 32 bytes */

int es256_generate(es256_key **out);
void es256_key_free(es256_key *k);
/* Another reference to the same key (EVP_PKEY_up_ref). */
es256_key *es256_key_ref(es256_key *k);

/* Signs msg: sig gets raw r || s. */
int es256_sign(es256_key *k, const void *msg, size_t len, uint8_t sig[ES256_SIG_LEN]);
/* 0 when sig (raw r || s) verifies, GLOAM_EAUTH when not. */
int es256_verify(es256_key *k, const void *msg, size_t len, const uint8_t sig[ES256_SIG_LEN]);

/* x and y coordinates (32 bytes each). */
int es256_public_xy(const es256_key *k, uint8_t x[32], uint8_t y[32]);
/* The public JWK, members in RFC 7638 order: {"crv":"P-256","kty":"EC","x":..,"y":..}. */
int es256_public_jwk(const es256_key *k, char *out, size_t cap);
int es256_public_pem(const es256_key *k, char *out, size_t cap);
/* RFC 7638 thumbprint, NUL-terminated (ES256_THUMB_LEN + 1 bytes). */
int es256_thumbprint(const es256_key *k, char out[ES256_THUMB_LEN + 1]);

/* A public key from a JWK object or a PEM SubjectPublicKeyInfo; only P-256. */
int es256_public_parse(const char *text, size_t len, es256_key **out, char *err);

#endif
