/* SPDX-License-Identifier: Apache-2.0
 *
 * crypto/hpke.c: HPKE base mode (RFC 9180 §4-5) over OpenSSL EVP. See hpke.h.
 *
 * DESIGN: labeled HKDF (§4) takes its input as a list of parts so nothing is
 * concatenated into temporary buffers; the KEM (§4.1) supports X25519 and
 * P-256 through EVP_PKEY_derive; the key schedule (§5.1) only implements
 * mode_base with the empty PSK. Secrets live on the stack and are wiped on
 * every exit path.
 */
#include "crypto/hpke.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/param_build.h>
#include <string.h>

#include "core/secure.h"
#include "gloam/err.h"

#define NPARTS(a) ((int)(sizeof(a) / sizeof((a)[0])))

static const uint8_t VERSION_LABEL[7] = {'H', 'P', 'K', 'E', '-', 'v', '1'};

int hpke_suite_ok(hpke_suite s) {
  return (s.kem_id == HPKE_KEM_X25519 || s.kem_id == HPKE_KEM_P256) &&
         s.kdf_id == HPKE_KDF_SHA256 && prim_aead_key_len(s.aead_id) != 0;
}

size_t hpke_kem_enc_len(uint16_t kem_id) {
  return kem_id == HPKE_KEM_X25519 ? 32 : kem_id == HPKE_KEM_P256 ? 65 : 0;
}

static size_t kem_suite_id(uint16_t kem_id, uint8_t out[5]) {
  out[0] = 'K', out[1] = 'E', out[2] = 'M';
  out[3] = (uint8_t)(kem_id >> 8), out[4] = (uint8_t)kem_id;
  return 5;
}

static size_t hpke_suite_id(hpke_suite s, uint8_t out[10]) {
  out[0] = 'H', out[1] = 'P', out[2] = 'K', out[3] = 'E';
  out[4] = (uint8_t)(s.kem_id >> 8), out[5] = (uint8_t)s.kem_id;
  out[6] = (uint8_t)(s.kdf_id >> 8), out[7] = (uint8_t)s.kdf_id;
  out[8] = (uint8_t)(s.aead_id >> 8), out[9] = (uint8_t)s.aead_id;
  return 10;
}

/* LabeledExtract(salt, label, ikm) = Extract(salt, "HPKE-v1" || suite || label || ikm) */
static int labeled_extract(const uint8_t *suite, size_t suite_len, const uint8_t *salt,
                           size_t salt_len, const char *label, const uint8_t *ikm, size_t ikm_len,
                           uint8_t prk[HPKE_NH]) {
  const void *parts[] = {VERSION_LABEL, suite, label, ikm};
  const size_t lens[] = {sizeof VERSION_LABEL, suite_len, strlen(label), ikm_len};
  return prim_hkdf_extract(salt, salt_len, parts, lens, NPARTS(parts), prk);
}

/* LabeledExpand(prk, label, info, L) = Expand(prk, I2OSP(L,2) || "HPKE-v1" || suite || label ||
 * info, L); info may come in two parts. */
static int labeled_expand2(const uint8_t *suite, size_t suite_len, const uint8_t prk[HPKE_NH],
                           const char *label, const uint8_t *info1, size_t info1_len,
                           const uint8_t *info2, size_t info2_len, uint8_t *out, size_t L) {
  if (L > 0xffff) return GLOAM_EINVAL;
  const uint8_t l2[2] = {(uint8_t)(L >> 8), (uint8_t)L};
  const void *parts[] = {l2, VERSION_LABEL, suite, label, info1, info2};
  const size_t lens[] = {2, sizeof VERSION_LABEL, suite_len, strlen(label), info1_len, info2_len};
  return prim_hkdf_expand(prk, parts, lens, NPARTS(parts), out, L);
}

/* ---- keys ---- */

void hpke_key_free(hpke_key *k) {
  EVP_PKEY_free(k);
}

static int p256_from_scalar(const uint8_t sk[HPKE_SK_LEN], hpke_key **out) {
  EC_GROUP *g = EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1);
  BIGNUM *d = BN_secure_new();
  EC_POINT *p = g ? EC_POINT_new(g) : NULL;
  OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
  OSSL_PARAM *params = NULL;
  EVP_PKEY_CTX *pc = NULL;
  uint8_t pub[65];
  int rc = GLOAM_ECRYPTO;
  *out = NULL;
  if (!g || !d || !p || !bld || !BN_bin2bn(sk, HPKE_SK_LEN, d)) goto fail;
  if (BN_is_zero(d) || BN_cmp(d, EC_GROUP_get0_order(g)) >= 0) {
    rc = GLOAM_EINVAL;
    goto fail;
  }
  if (EC_POINT_mul(g, p, d, NULL, NULL, NULL) != 1) goto fail;
  if (EC_POINT_point2oct(g, p, POINT_CONVERSION_UNCOMPRESSED, pub, sizeof pub, NULL) != 65)
    goto fail;
  if (!OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) ||
      !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, d) ||
      !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pub, sizeof pub))
    goto fail;
  params = OSSL_PARAM_BLD_to_param(bld);
  pc = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
  if (!params || !pc || EVP_PKEY_fromdata_init(pc) != 1 ||
      EVP_PKEY_fromdata(pc, out, EVP_PKEY_KEYPAIR, params) != 1)
    goto fail;
  rc = 0;
fail:
  EVP_PKEY_CTX_free(pc);
  OSSL_PARAM_free(params); /* OSSL_PARAM_BLD_to_param copies the BN; freed clear below */
  OSSL_PARAM_BLD_free(bld);
  EC_POINT_free(p);
  BN_clear_free(d);
  EC_GROUP_free(g);
  return rc;
}

int hpke_private_from_bytes(uint16_t kem_id, const uint8_t *sk, size_t sk_len, hpke_key **out) {
  *out = NULL;
  if (sk_len != HPKE_SK_LEN) return GLOAM_EINVAL;
  if (kem_id == HPKE_KEM_X25519) {
    *out = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, NULL, sk, sk_len);
    return *out ? 0 : GLOAM_ECRYPTO;
  }
  if (kem_id == HPKE_KEM_P256) return p256_from_scalar(sk, out);
  return GLOAM_EUNSUPPORTED;
}

int hpke_derive_keypair(uint16_t kem_id, const uint8_t *ikm, size_t ikm_len, hpke_key **out) {
  uint8_t suite[5], prk[HPKE_NH], sk[HPKE_SK_LEN];
  size_t sl = kem_suite_id(kem_id, suite);
  int rc;
  *out = NULL;
  if (!hpke_kem_enc_len(kem_id)) return GLOAM_EUNSUPPORTED;
  if (ikm_len < HPKE_SK_LEN) return GLOAM_EINVAL; /* RFC 9180 §7.1.3: ikm >= Nsk */
  rc = labeled_extract(suite, sl, NULL, 0, "dkp_prk", ikm, ikm_len, prk);
  if (rc < 0) goto done;
  if (kem_id == HPKE_KEM_X25519) {
    rc = labeled_expand2(suite, sl, prk, "sk", NULL, 0, NULL, 0, sk, sizeof sk);
    if (rc == 0) rc = hpke_private_from_bytes(kem_id, sk, sizeof sk, out);
    goto done;
  }
  rc = GLOAM_ECRYPTO; /* P-256: rejection sampling, bitmask 0xff */
  for (int counter = 0; counter < 256; counter++) {
    const uint8_t c = (uint8_t)counter;
    int r2 = labeled_expand2(suite, sl, prk, "candidate", &c, 1, NULL, 0, sk, sizeof sk);
    if (r2 < 0) {
      rc = r2;
      break;
    }
    r2 = p256_from_scalar(sk, out);
    if (r2 != GLOAM_EINVAL) {
      rc = r2;
      break;
    }
  }
done:
  secure_zero(prk, sizeof prk);
  secure_zero(sk, sizeof sk);
  return rc;
}

int hpke_generate_keypair(uint16_t kem_id, hpke_key **out) {
  /* OpenSSL's key generation (not DeriveKeyPair on random bytes): it is the
   * path that allocates the private key from OpenSSL's secure heap when one
   * is set up (gloam_seal_secure_heap_init); imported keys are not. */
  if (kem_id == HPKE_KEM_X25519)
    *out = EVP_PKEY_Q_keygen(NULL, NULL, "X25519");
  else if (kem_id == HPKE_KEM_P256)
    *out = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
  else
    return *out = NULL, GLOAM_EUNSUPPORTED;
  return *out ? 0 : GLOAM_ECRYPTO;
}

int hpke_public_from_bytes(uint16_t kem_id, const uint8_t *pk, size_t pk_len, hpke_key **out) {
  *out = NULL;
  if (!hpke_kem_enc_len(kem_id)) return GLOAM_EUNSUPPORTED;
  if (pk_len != hpke_kem_enc_len(kem_id)) return GLOAM_EINVAL;
  if (kem_id == HPKE_KEM_X25519) {
    *out = EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, NULL, pk, pk_len);
    return *out ? 0 : GLOAM_ECRYPTO;
  }
  if (pk[0] != 0x04) return GLOAM_EINVAL; /* uncompressed only (RFC 9180 §7.1.1) */
  OSSL_PARAM params[3] = {
      OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, (char *)"prime256v1", 0),
      OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, (void *)pk, pk_len),
      OSSL_PARAM_construct_end()};
  EVP_PKEY_CTX *pc = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
  EVP_PKEY_CTX *chk = NULL;
  int rc = GLOAM_EINVAL;
  if (!pc || EVP_PKEY_fromdata_init(pc) != 1 ||
      EVP_PKEY_fromdata(pc, out, EVP_PKEY_PUBLIC_KEY, params) != 1)
    goto fail;
  chk = EVP_PKEY_CTX_new_from_pkey(NULL, *out, NULL);
  if (!chk || EVP_PKEY_public_check(chk) != 1) goto fail; /* point on the curve */
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

int hpke_public_bytes(uint16_t kem_id, const hpke_key *k, uint8_t *out, size_t out_cap,
                      size_t *out_len) {
  size_t n = hpke_kem_enc_len(kem_id);
  if (!n) return GLOAM_EUNSUPPORTED;
  if (out_cap < n) return GLOAM_ETOOBIG;
  size_t got = out_cap;
  int ok = kem_id == HPKE_KEM_X25519
               ? EVP_PKEY_get_raw_public_key(k, out, &got)
               : EVP_PKEY_get_octet_string_param(k, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, out,
                                                 out_cap, &got);
  if (ok != 1 || got != n) return GLOAM_ECRYPTO;
  *out_len = n;
  return 0;
}

int hpke_private_bytes(uint16_t kem_id, const hpke_key *k, uint8_t out[HPKE_SK_LEN]) {
  if (kem_id == HPKE_KEM_X25519) {
    size_t got = HPKE_SK_LEN;
    return EVP_PKEY_get_raw_private_key(k, out, &got) == 1 && got == HPKE_SK_LEN ? 0
                                                                                 : GLOAM_ECRYPTO;
  }
  if (kem_id != HPKE_KEM_P256) return GLOAM_EUNSUPPORTED;
  BIGNUM *d = NULL;
  int rc = GLOAM_ECRYPTO;
  if (EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_PRIV_KEY, &d) == 1 &&
      BN_bn2binpad(d, out, HPKE_SK_LEN) == HPKE_SK_LEN)
    rc = 0;
  BN_clear_free(d);
  return rc;
}

/* ---- KEM ---- */

static int dh(const hpke_key *sk, const hpke_key *pk, uint8_t out[HPKE_NH]) {
  EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_pkey(NULL, (EVP_PKEY *)sk, NULL);
  size_t n = HPKE_NH;
  static const uint8_t zero[HPKE_NH];
  int rc = GLOAM_ECRYPTO;
  if (c && EVP_PKEY_derive_init(c) == 1 && EVP_PKEY_derive_set_peer(c, (EVP_PKEY *)pk) == 1 &&
      EVP_PKEY_derive(c, out, &n) == 1 && n == HPKE_NH && !secure_memeq(out, zero, HPKE_NH))
    rc = 0; /* an all-zero X25519 output (small-order point) is rejected, §7.1.4 */
  EVP_PKEY_CTX_free(c);
  return rc;
}

/* ExtractAndExpand(dh, kem_context = enc || pkR) (§4.1). */
static int extract_and_expand(uint16_t kem_id, const uint8_t dhv[HPKE_NH], const uint8_t *enc,
                              size_t enc_len, const uint8_t *pkR, size_t pkR_len,
                              uint8_t shared[HPKE_NH]) {
  uint8_t suite[5], prk[HPKE_NH];
  size_t sl = kem_suite_id(kem_id, suite);
  int rc = labeled_extract(suite, sl, NULL, 0, "eae_prk", dhv, HPKE_NH, prk);
  if (rc == 0)
    rc = labeled_expand2(suite, sl, prk, "shared_secret", enc, enc_len, pkR, pkR_len, shared,
                         HPKE_NH);
  secure_zero(prk, sizeof prk);
  return rc;
}

/* ---- key schedule (§5.1, mode_base) ---- */

static int key_schedule(hpke_ctx *ctx, hpke_suite s, const uint8_t shared[HPKE_NH],
                        const uint8_t *info, size_t info_len, hpke_trace *trace) {
  uint8_t suite[10], ksc[1 + 2 * HPKE_NH], secret[HPKE_NH], key[PRIM_AEAD_MAX_KEY];
  size_t sl = hpke_suite_id(s, suite), nk = prim_aead_key_len(s.aead_id);
  int rc;
  ksc[0] = 0x00; /* mode_base */
  rc = labeled_extract(suite, sl, NULL, 0, "psk_id_hash", NULL, 0, ksc + 1);
  if (rc == 0) rc = labeled_extract(suite, sl, NULL, 0, "info_hash", info, info_len, ksc + 33);
  if (rc == 0) rc = labeled_extract(suite, sl, shared, HPKE_NH, "secret", NULL, 0, secret);
  if (rc == 0) rc = labeled_expand2(suite, sl, secret, "key", ksc, sizeof ksc, NULL, 0, key, nk);
  if (rc == 0)
    rc = labeled_expand2(suite, sl, secret, "base_nonce", ksc, sizeof ksc, NULL, 0, ctx->base_nonce,
                         HPKE_NONCE_LEN);
  if (rc == 0)
    rc = labeled_expand2(suite, sl, secret, "exp", ksc, sizeof ksc, NULL, 0, ctx->exporter_secret,
                         HPKE_NH);
  if (rc == 0) rc = prim_aead_init(&ctx->aead, s.aead_id, key, nk);
  if (rc == 0 && trace) {
    memcpy(trace->shared_secret, shared, HPKE_NH);
    memcpy(trace->key_schedule_context, ksc, sizeof ksc);
    memcpy(trace->secret, secret, HPKE_NH);
    memcpy(trace->key, key, nk);
    memcpy(trace->base_nonce, ctx->base_nonce, HPKE_NONCE_LEN);
    memcpy(trace->exporter_secret, ctx->exporter_secret, HPKE_NH);
  }
  ctx->suite = s;
  ctx->seq = 0;
  secure_zero(secret, sizeof secret);
  secure_zero(key, sizeof key);
  return rc;
}

int hpke_setup_s(hpke_ctx *ctx, hpke_suite suite, const uint8_t *pkR, size_t pkR_len,
                 const uint8_t *info, size_t info_len, const uint8_t *ikmE, size_t ikmE_len,
                 uint8_t *enc, size_t *enc_len, hpke_trace *trace) {
  hpke_key *kR = NULL, *kE = NULL;
  uint8_t dhv[HPKE_NH], shared[HPKE_NH];
  int rc;
  memset(ctx, 0, sizeof *ctx);
  if (!hpke_suite_ok(suite)) return GLOAM_EUNSUPPORTED;
  rc = hpke_public_from_bytes(suite.kem_id, pkR, pkR_len, &kR);
  if (rc < 0) goto fail;
  rc = ikmE ? hpke_derive_keypair(suite.kem_id, ikmE, ikmE_len, &kE)
            : hpke_generate_keypair(suite.kem_id, &kE);
  if (rc < 0) goto fail;
  rc = dh(kE, kR, dhv);
  if (rc < 0) goto fail;
  rc = hpke_public_bytes(suite.kem_id, kE, ctx->enc, sizeof ctx->enc, &ctx->enc_len);
  if (rc < 0) goto fail;
  rc = extract_and_expand(suite.kem_id, dhv, ctx->enc, ctx->enc_len, pkR, pkR_len, shared);
  if (rc < 0) goto fail;
  rc = key_schedule(ctx, suite, shared, info, info_len, trace);
  if (rc < 0) goto fail;
  memcpy(enc, ctx->enc, ctx->enc_len);
  *enc_len = ctx->enc_len;
fail:
  if (rc < 0) hpke_ctx_deinit(ctx);
  secure_zero(dhv, sizeof dhv);
  secure_zero(shared, sizeof shared);
  EVP_PKEY_free(kE);
  EVP_PKEY_free(kR);
  return rc;
}

int hpke_setup_r(hpke_ctx *ctx, hpke_suite suite, const hpke_key *skR, const uint8_t *enc,
                 size_t enc_len, const uint8_t *info, size_t info_len, hpke_trace *trace) {
  hpke_key *kE = NULL;
  uint8_t dhv[HPKE_NH], shared[HPKE_NH], pkR[HPKE_MAX_PK];
  size_t pkR_len = 0;
  int rc;
  memset(ctx, 0, sizeof *ctx);
  if (!hpke_suite_ok(suite)) return GLOAM_EUNSUPPORTED;
  if (enc_len != hpke_kem_enc_len(suite.kem_id)) return GLOAM_EFORMAT;
  rc = hpke_public_from_bytes(suite.kem_id, enc, enc_len, &kE);
  if (rc < 0) {
    rc = GLOAM_ECRYPTO;
    goto fail;
  }
  rc = hpke_public_bytes(suite.kem_id, skR, pkR, sizeof pkR, &pkR_len);
  if (rc < 0) goto fail;
  rc = dh(skR, kE, dhv);
  if (rc < 0) goto fail;
  rc = extract_and_expand(suite.kem_id, dhv, enc, enc_len, pkR, pkR_len, shared);
  if (rc < 0) goto fail;
  rc = key_schedule(ctx, suite, shared, info, info_len, trace);
  if (rc < 0) goto fail;
  memcpy(ctx->enc, enc, enc_len);
  ctx->enc_len = enc_len;
fail:
  if (rc < 0) hpke_ctx_deinit(ctx);
  secure_zero(dhv, sizeof dhv);
  secure_zero(shared, sizeof shared);
  EVP_PKEY_free(kE);
  return rc;
}

/* ---- encryption context (§5.2) ---- */

void hpke_nonce(const hpke_ctx *ctx, uint8_t out[HPKE_NONCE_LEN]) {
  memcpy(out, ctx->base_nonce, HPKE_NONCE_LEN);
  for (int i = 0; i < 8; i++) out[HPKE_NONCE_LEN - 1 - i] ^= (uint8_t)(ctx->seq >> (8 * i));
}

int hpke_seal(hpke_ctx *ctx, const uint8_t *aad, size_t aad_len, const uint8_t *pt, size_t pt_len,
              uint8_t *ct) {
  uint8_t nonce[HPKE_NONCE_LEN];
  if (ctx->seq == UINT64_MAX) return GLOAM_ERANGE;
  hpke_nonce(ctx, nonce);
  int rc = prim_aead_seal(&ctx->aead, nonce, aad, aad_len, pt, pt_len, ct);
  if (rc == 0) ctx->seq++;
  return rc;
}

int hpke_open(hpke_ctx *ctx, const uint8_t *aad, size_t aad_len, const uint8_t *ct, size_t ct_len,
              uint8_t *pt) {
  uint8_t nonce[HPKE_NONCE_LEN];
  if (ctx->seq == UINT64_MAX) return GLOAM_ERANGE;
  hpke_nonce(ctx, nonce);
  int rc = prim_aead_open(&ctx->aead, nonce, aad, aad_len, ct, ct_len, pt);
  if (rc == 0) ctx->seq++;
  return rc;
}

int hpke_export(const hpke_ctx *ctx, const uint8_t *exp_ctx, size_t exp_ctx_len, uint8_t *out,
                size_t L) {
  uint8_t suite[10];
  size_t sl = hpke_suite_id(ctx->suite, suite);
  if (L > 255 * HPKE_NH) return GLOAM_EINVAL;
  return labeled_expand2(suite, sl, ctx->exporter_secret, "sec", exp_ctx, exp_ctx_len, NULL, 0, out,
                         L);
}

void hpke_ctx_deinit(hpke_ctx *ctx) {
  prim_aead_deinit(&ctx->aead);
  secure_zero(ctx, sizeof *ctx);
}

/* ---- single-shot API (§6.1) ---- */

int hpke_seal_base(hpke_suite suite, const uint8_t *pkR, size_t pkR_len, const uint8_t *info,
                   size_t info_len, const uint8_t *aad, size_t aad_len, const uint8_t *pt,
                   size_t pt_len, uint8_t *enc, size_t *enc_len, uint8_t *ct) {
  hpke_ctx ctx;
  int rc = hpke_setup_s(&ctx, suite, pkR, pkR_len, info, info_len, NULL, 0, enc, enc_len, NULL);
  if (rc == 0) rc = hpke_seal(&ctx, aad, aad_len, pt, pt_len, ct);
  hpke_ctx_deinit(&ctx);
  return rc;
}

int hpke_open_base(hpke_suite suite, const hpke_key *skR, const uint8_t *enc, size_t enc_len,
                   const uint8_t *info, size_t info_len, const uint8_t *aad, size_t aad_len,
                   const uint8_t *ct, size_t ct_len, uint8_t *pt) {
  hpke_ctx ctx;
  int rc = hpke_setup_r(&ctx, suite, skR, enc, enc_len, info, info_len, NULL);
  if (rc == 0) rc = hpke_open(&ctx, aad, aad_len, ct, ct_len, pt);
  hpke_ctx_deinit(&ctx);
  return rc;
}
