/* SPDX-License-Identifier: Apache-2.0
 *
 * attest/credential.c: credential activation, verifier side.
 *
 * TPM2_MakeCredential is a public-key operation, so the verifier does it in
 * software (TPM 2.0 Part 1 §24.4-24.6, Part 3 §12.6; as go-attestation and
 * Keylime do): a random seed is RSA-OAEP(SHA-256, label "IDENTITY\0")
 * encrypted to the EK; KDFa(seed, "STORAGE", AK name) keys AES-128-CFB over
 * the credential (a TPM2B_DIGEST) and KDFa(seed, "INTEGRITY") keys the
 * outer HMAC over encIdentity || AK name. Only the TPM holding the EK can
 * recover the seed, and it releases the credential only to a loaded object
 * with that exact name: getting the secret back proves the AK lives in the
 * TPM that the EK certificate certifies. Only RSA 2048 EKs (template L-1)
 * are supported; ECC EKs need the ECDH seed variant (not written).
 */
#include <jansson.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <string.h>
#include <tss2/tss2_mu.h>

#include "attest/tpm.h"
#include "core/alloc.h"
#include "core/codec.h"
#include "core/err.h"
#include "core/secure.h"

/* KDFa (Part 1 §11.4.10.2) with SHA-256: HMAC(key, i || label\0 || u || v || bits). */
static int kdfa(const uint8_t *key, size_t key_len, const char *label, const uint8_t *u, size_t ul,
                uint8_t *out, size_t out_len) {
  uint32_t bits = (uint32_t)(out_len * 8);
  size_t done = 0;
  for (uint32_t i = 1; done < out_len; i++) {
    uint8_t ctr[4] = {(uint8_t)(i >> 24), (uint8_t)(i >> 16), (uint8_t)(i >> 8), (uint8_t)i};
    uint8_t bl[4] = {(uint8_t)(bits >> 24), (uint8_t)(bits >> 16), (uint8_t)(bits >> 8),
                     (uint8_t)bits};
    uint8_t d[32];
    size_t dl = 0;
    EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    EVP_MAC_CTX *c = mac ? EVP_MAC_CTX_new(mac) : NULL;
    OSSL_PARAM prm[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, "SHA256", 0),
                        OSSL_PARAM_construct_end()};
    size_t ol = 0;
    int ok = c && EVP_MAC_init(c, key, key_len, prm) == 1 && EVP_MAC_update(c, ctr, 4) == 1 &&
             EVP_MAC_update(c, (const uint8_t *)label, strlen(label) + 1) == 1 &&
             (ul == 0 || EVP_MAC_update(c, u, ul) == 1) && EVP_MAC_update(c, bl, 4) == 1 &&
             EVP_MAC_final(c, d, &ol, sizeof d) == 1 && ol == 32;
    EVP_MAC_CTX_free(c);
    EVP_MAC_free(mac);
    if (!ok) return GLOAM_ECRYPTO;
    dl = out_len - done < 32 ? out_len - done : 32;
    memcpy(out + done, d, dl);
    done += dl;
    secure_zero(d, sizeof d);
  }
  return 0;
}

static int oaep_encrypt(EVP_PKEY *ek, const uint8_t *in, size_t n, uint8_t *out, size_t *out_len) {
  EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_pkey(NULL, ek, NULL);
  unsigned char *label = OPENSSL_malloc(9);
  int ok = c && label && EVP_PKEY_encrypt_init(c) == 1 &&
           EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_OAEP_PADDING) == 1 &&
           EVP_PKEY_CTX_set_rsa_oaep_md(c, EVP_sha256()) == 1 &&
           EVP_PKEY_CTX_set_rsa_mgf1_md(c, EVP_sha256()) == 1;
  if (ok) {
    memcpy(label, "IDENTITY", 9);
    ok = EVP_PKEY_CTX_set0_rsa_oaep_label(c, label, 9) == 1;
    if (ok) label = NULL;
  }
  ok = ok && EVP_PKEY_encrypt(c, out, out_len, in, n) == 1;
  OPENSSL_free(label);
  EVP_PKEY_CTX_free(c);
  return ok ? 0 : GLOAM_ECRYPTO;
}

static void put16(buf *b, size_t v) {
  uint8_t s[2] = {(uint8_t)(v >> 8), (uint8_t)v};
  buf_append(b, s, 2);
}

int tpm_make_credential(EVP_PKEY *ek, const uint8_t name[34], const uint8_t *cred, size_t cred_len,
                        buf *blob, buf *secret, char *err) {
  if (!EVP_PKEY_is_a(ek, "RSA") || EVP_PKEY_get_bits(ek) != 2048)
    return err_set(err, GLOAM_EUNSUPPORTED, "only RSA 2048 EKs are supported");
  if (cred_len == 0 || cred_len > 32) return err_set(err, GLOAM_EINVAL, "credential size");
  uint8_t seed[32], sym[16], hkey[32], plain[34], enc[34], hmac[32], es[256];
  size_t es_len = sizeof es, pl = 2 + cred_len;
  int rc = GLOAM_ECRYPTO;
  plain[0] = 0;
  plain[1] = (uint8_t)cred_len;
  memcpy(plain + 2, cred, cred_len);
  if (RAND_bytes(seed, sizeof seed) != 1 || oaep_encrypt(ek, seed, 32, es, &es_len) < 0 ||
      kdfa(seed, 32, "STORAGE", name, 34, sym, sizeof sym) < 0 ||
      kdfa(seed, 32, "INTEGRITY", NULL, 0, hkey, sizeof hkey) < 0)
    goto out;
  EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
  static const uint8_t iv[16] = {0};
  int l1 = 0, l2 = 0;
  int ok = c && EVP_EncryptInit_ex(c, EVP_aes_128_cfb128(), NULL, sym, iv) == 1 &&
           EVP_EncryptUpdate(c, enc, &l1, plain, (int)pl) == 1 &&
           EVP_EncryptFinal_ex(c, enc + l1, &l2) == 1 && (size_t)(l1 + l2) == pl;
  EVP_CIPHER_CTX_free(c);
  if (!ok) goto out;
  EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
  EVP_MAC_CTX *m = mac ? EVP_MAC_CTX_new(mac) : NULL;
  OSSL_PARAM prm[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, "SHA256", 0),
                      OSSL_PARAM_construct_end()};
  size_t hl = 0;
  ok = m && EVP_MAC_init(m, hkey, sizeof hkey, prm) == 1 && EVP_MAC_update(m, enc, pl) == 1 &&
       EVP_MAC_update(m, name, 34) == 1 && EVP_MAC_final(m, hmac, &hl, sizeof hmac) == 1;
  EVP_MAC_CTX_free(m);
  EVP_MAC_free(mac);
  if (!ok) goto out;
  /* TPM2B_ID_OBJECT { size, TPM2B_DIGEST integrityHMAC, encIdentity } */
  buf_reset(blob);
  buf_reset(secret);
  put16(blob, 2 + 32 + pl);
  put16(blob, 32);
  buf_append(blob, hmac, 32);
  buf_append(blob, enc, pl);
  put16(secret, es_len);
  buf_append(secret, es, es_len);
  rc = blob->len == 2 + 2 + 32 + pl && secret->len == 2 + es_len ? 0 : GLOAM_ENOMEM;
out:
  secure_zero(seed, sizeof seed);
  secure_zero(sym, sizeof sym);
  secure_zero(hkey, sizeof hkey);
  secure_zero(plain, sizeof plain);
  return rc < 0 ? err_set(err, rc, "MakeCredential failed") : 0;
}

static int b64_to_bufs(json_t *arr, buf *out, size_t cap, size_t *n) {
  *n = 0;
  if (!json_is_array(arr) || json_array_size(arr) > cap) return GLOAM_EFORMAT;
  for (size_t i = 0; i < json_array_size(arr); i++) {
    const char *s = json_string_value(json_array_get(arr, i));
    if (!s) return GLOAM_EFORMAT;
    size_t sl = strlen(s);
    if (sl > 16384) return GLOAM_ETOOBIG;
    int rc = buf_reserve(&out[i], sl);
    long r = rc < 0 ? rc : codec_b64_decode(s, sl, out[i].data, sl, CODEC_B64_URL);
    if (r < 0) return GLOAM_EFORMAT;
    out[i].len = (size_t)r;
    *n = i + 1;
  }
  return 0;
}

int cred_decode_identity(json_t *o, buf *ak_pub, buf *certs, size_t cap, size_t *n_certs) {
  json_t *ak = json_object_get(o, "ak_pub"), *ek = json_object_get(o, "ek_cert");
  json_t *one = json_array();
  if (!one) return GLOAM_ENOMEM;
  int rc = json_is_string(ak) && json_is_string(ek) && cap >= 1 ? 0 : GLOAM_EFORMAT;
  if (rc == 0 && json_array_append(one, ak) == 0) {
    size_t n = 0;
    rc = b64_to_bufs(one, ak_pub, 1, &n);
  }
  json_array_clear(one);
  if (rc == 0 && json_array_append(one, ek) == 0) {
    size_t n = 0;
    rc = b64_to_bufs(one, certs, 1, &n);
  }
  json_decref(one);
  size_t nc = 0;
  if (rc == 0) rc = b64_to_bufs(json_object_get(o, "ek_chain"), certs + 1, cap - 1, &nc);
  *n_certs = 1 + nc;
  return rc;
}

int gloam_attest_make_challenge(const char *ak_info, size_t len, const char *ca_pem,
                                size_t ca_pem_len, char **challenge_json, uint8_t secret[32],
                                char ak_name_hex[72], char *err) {
  *challenge_json = NULL;
  enum { NC = 5 };
  buf ak, certs[NC], blob, sec;
  buf_init(&ak, 1024);
  buf_init(&blob, 1024);
  buf_init(&sec, 1024);
  for (int i = 0; i < NC; i++) buf_init(&certs[i], 16384);
  json_t *o = len <= 65536 ? json_loadb(ak_info, len, 0, NULL) : NULL;
  EVP_PKEY *ek = NULL;
  es256_key *akk = NULL;
  uint8_t name[34];
  size_t nc = 0;
  int rc = o ? cred_decode_identity(o, &ak, certs, NC, &nc) : GLOAM_EFORMAT;
  if (rc < 0) {
    rc = err_set(err, rc, "malformed AK info");
    goto out;
  }
  if ((rc = tpm_ak_parse(ak.data, ak.len, &akk, name, err)) < 0) goto out;
  if ((rc = tpm_ek_chain_check(certs[0].data, certs[0].len, certs + 1, nc - 1, ca_pem, ca_pem_len,
                               &ek, err)) < 0)
    goto out;
  if (RAND_bytes(secret, 32) != 1) {
    rc = err_set(err, GLOAM_ECRYPTO, "no randomness");
    goto out;
  }
  if ((rc = tpm_make_credential(ek, name, secret, 32, &blob, &sec, err)) < 0) goto out;
  char b1[256], b2[512];
  if (codec_b64_encode(blob.data, blob.len, b1, sizeof b1, CODEC_B64_URL) < 0 ||
      codec_b64_encode(sec.data, sec.len, b2, sizeof b2, CODEC_B64_URL) < 0 ||
      codec_hex_encode(name, 34, ak_name_hex, 72) < 0) {
    rc = err_set(err, GLOAM_EINTERNAL, "encode");
    goto out;
  }
  json_t *c = json_pack("{s:s,s:s}", "credential_blob", b1, "secret", b2);
  char *s = c ? json_dumps(c, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
  json_decref(c);
  *challenge_json = s ? mem_strdup(s) : NULL;
  free(s);
  if (!*challenge_json) rc = err_set(err, GLOAM_ENOMEM, "out of memory");
out:
  if (rc < 0) secure_zero(secret, 32);
  json_decref(o);
  EVP_PKEY_free(ek);
  es256_key_free(akk);
  buf_deinit(&ak);
  buf_deinit(&blob);
  buf_deinit(&sec);
  for (int i = 0; i < NC; i++) buf_deinit(&certs[i]);
  return rc;
}

int gloam_attest_activation_check(const uint8_t secret[32], const uint8_t *answer,
                                  size_t answer_len) {
  if (!answer || answer_len != 32) return GLOAM_EAUTH;
  return secure_memeq(secret, answer, 32) ? 0 : GLOAM_EAUTH;
}

void gloam_attest_free(void *p) {
  mem_free(p);
}
