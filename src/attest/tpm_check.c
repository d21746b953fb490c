/* SPDX-License-Identifier: Apache-2.0
 *
 * attest/tpm_check.c: the verifier's TPM checks, without a TPM: AK public
 * area and name, quote structure and signature, EK certificate chain.
 * Structures are unmarshaled with tss2-mu, which bounds every field; the
 * checks below then insist that all input bytes were consumed.
 */
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <string.h>
#include <tss2/tss2_mu.h>

#include "attest/tpm.h"
#include "core/codec.h"
#include "core/err.h"

#define AK_ATTRS_REQUIRED                                                     \
  (TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_SIGN_ENCRYPT | TPMA_OBJECT_FIXEDTPM | \
   TPMA_OBJECT_FIXEDPARENT | TPMA_OBJECT_SENSITIVEDATAORIGIN)

static int key_from_xy(const uint8_t *x, size_t xl, const uint8_t *y, size_t yl, es256_key **out,
                       char *err) {
  uint8_t X[32] = {0}, Y[32] = {0};
  if (xl == 0 || xl > 32 || yl == 0 || yl > 32)
    return err_set(err, GLOAM_EFORMAT, "AK point has bad coordinates");
  memcpy(X + 32 - xl, x, xl);
  memcpy(Y + 32 - yl, y, yl);
  char bx[48], by[48], jwk[160];
  if (codec_b64_encode(X, 32, bx, sizeof bx, CODEC_B64_URL) < 0 ||
      codec_b64_encode(Y, 32, by, sizeof by, CODEC_B64_URL) < 0)
    return err_set(err, GLOAM_EINTERNAL, "encode");
  int n = snprintf(jwk, sizeof jwk, "{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"%s\",\"y\":\"%s\"}",
                   bx, by);
  if (n < 0 || (size_t)n >= sizeof jwk) return err_set(err, GLOAM_EINTERNAL, "encode");
  return es256_public_parse(jwk, (size_t)n, out, err);
}

int tpm_ak_parse(const uint8_t *pub, size_t len, es256_key **out_key, uint8_t name[34], char *err) {
  *out_key = NULL;
  TPM2B_PUBLIC p;
  size_t off = 0;
  memset(&p, 0, sizeof p);
  if (Tss2_MU_TPM2B_PUBLIC_Unmarshal(pub, len, &off, &p) != TSS2_RC_SUCCESS || off != len ||
      p.size + 2u != len)
    return err_set(err, GLOAM_EFORMAT, "AK public area is malformed");
  const TPMT_PUBLIC *a = &p.publicArea;
  if (a->type != TPM2_ALG_ECC || a->nameAlg != TPM2_ALG_SHA256 ||
      a->parameters.eccDetail.curveID != TPM2_ECC_NIST_P256 ||
      a->parameters.eccDetail.scheme.scheme != TPM2_ALG_ECDSA ||
      a->parameters.eccDetail.scheme.details.ecdsa.hashAlg != TPM2_ALG_SHA256)
    return err_set(err, GLOAM_EAUTH, "AK is not an ECDSA P-256 / SHA-256 key");
  if ((a->objectAttributes & AK_ATTRS_REQUIRED) != AK_ATTRS_REQUIRED ||
      (a->objectAttributes & TPMA_OBJECT_DECRYPT))
    return err_set(err, GLOAM_EAUTH,
                   "AK attributes are not restricted+sign+fixedTPM+fixedParent+"
                   "sensitiveDataOrigin");
  name[0] = 0x00;
  name[1] = 0x0b;
  if (EVP_Digest(pub + 2, len - 2, name + 2, NULL, EVP_sha256(), NULL) != 1)
    return err_set(err, GLOAM_ECRYPTO, "sha256");
  return key_from_xy(a->unique.ecc.x.buffer, a->unique.ecc.x.size, a->unique.ecc.y.buffer,
                     a->unique.ecc.y.size, out_key, err);
}

int tpm_quote_check(es256_key *ak, const uint8_t *attest, size_t attest_len, const uint8_t *sig,
                    size_t sig_len, const uint8_t extra[32], uint32_t mask,
                    const uint8_t pcr[24][32], char *err) {
  TPMT_SIGNATURE s;
  TPMS_ATTEST a;
  size_t off = 0;
  memset(&s, 0, sizeof s);
  memset(&a, 0, sizeof a);
  if (Tss2_MU_TPMT_SIGNATURE_Unmarshal(sig, sig_len, &off, &s) != TSS2_RC_SUCCESS || off != sig_len)
    return err_set(err, GLOAM_EFORMAT, "quote signature is malformed");
  if (s.sigAlg != TPM2_ALG_ECDSA || s.signature.ecdsa.hash != TPM2_ALG_SHA256 ||
      s.signature.ecdsa.signatureR.size > 32 || s.signature.ecdsa.signatureS.size > 32)
    return err_set(err, GLOAM_EAUTH, "quote signature is not ECDSA SHA-256");
  uint8_t rs[64] = {0};
  const TPM2B_ECC_PARAMETER *r = &s.signature.ecdsa.signatureR, *sv = &s.signature.ecdsa.signatureS;
  memcpy(rs + 32 - r->size, r->buffer, r->size);
  memcpy(rs + 64 - sv->size, sv->buffer, sv->size);
  if (es256_verify(ak, attest, attest_len, rs) != 0)
    return err_set(err, GLOAM_EAUTH, "quote signature does not verify with the AK");
  off = 0;
  if (Tss2_MU_TPMS_ATTEST_Unmarshal(attest, attest_len, &off, &a) != TSS2_RC_SUCCESS ||
      off != attest_len)
    return err_set(err, GLOAM_EFORMAT, "quote is malformed");
  if (a.magic != TPM2_GENERATED_VALUE || a.type != TPM2_ST_ATTEST_QUOTE)
    return err_set(err, GLOAM_EAUTH, "signed data is not a TPM-generated quote");
  if (a.extraData.size != 32 || memcmp(a.extraData.buffer, extra, 32) != 0)
    return err_set(err, GLOAM_EAUTH, "quote extraData is not the hash of this statement");
  const TPML_PCR_SELECTION *sel = &a.attested.quote.pcrSelect;
  uint32_t got = 0;
  if (sel->count != 1 || sel->pcrSelections[0].hash != TPM2_ALG_SHA256 ||
      sel->pcrSelections[0].sizeofSelect > 3)
    return err_set(err, GLOAM_EAUTH, "quote is not over one SHA-256 PCR bank");
  for (int i = 0; i < sel->pcrSelections[0].sizeofSelect; i++)
    got |= (uint32_t)sel->pcrSelections[0].pcrSelect[i] << (8 * i);
  if (got != mask)
    return err_set(err, GLOAM_EAUTH, "quote covers PCRs %06x, policy needs %06x", got, mask);
  EVP_MD_CTX *md = EVP_MD_CTX_new();
  uint8_t d[32];
  int ok = md && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1;
  for (unsigned i = 0; ok && i < 24; i++)
    if (mask & (1u << i)) ok = EVP_DigestUpdate(md, pcr[i], 32) == 1;
  ok = ok && EVP_DigestFinal_ex(md, d, NULL) == 1;
  EVP_MD_CTX_free(md);
  if (!ok) return err_set(err, GLOAM_ECRYPTO, "sha256");
  if (a.attested.quote.pcrDigest.size != 32 || memcmp(a.attested.quote.pcrDigest.buffer, d, 32))
    return err_set(err, GLOAM_EAUTH, "PCR values do not match the quoted PCR digest");
  return 0;
}

int tpm_ek_chain_check(const uint8_t *cert, size_t cert_len, const buf *chain, size_t n_chain,
                       const char *ca_pem, size_t ca_len, EVP_PKEY **out_ek, char *err) {
  *out_ek = NULL;
  if (!ca_pem || ca_len == 0) return err_set(err, GLOAM_EPOLICY, "no EK root CA configured");
  int rc = 0;
  X509_STORE *store = X509_STORE_new();
  X509_STORE_CTX *ctx = X509_STORE_CTX_new();
  STACK_OF(X509) *untrusted = sk_X509_new_null();
  BIO *bio = ca_len <= 1 << 20 ? BIO_new_mem_buf(ca_pem, (int)ca_len) : NULL;
  const unsigned char *p = cert;
  X509 *ek = d2i_X509(NULL, &p, (long)cert_len);
  if (!store || !ctx || !untrusted || !bio) {
    rc = err_set(err, GLOAM_ENOMEM, "out of memory");
    goto out;
  }
  if (!ek || p != cert + cert_len) {
    rc = err_set(err, GLOAM_EFORMAT, "EK certificate is not DER X.509");
    goto out;
  }
  int n_roots = 0;
  X509 *x;
  while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
    X509_STORE_add_cert(store, x);
    X509_free(x);
    n_roots++;
  }
  ERR_clear_error();
  if (n_roots == 0) {
    rc = err_set(err, GLOAM_EFORMAT, "no certificate in the CA bundle");
    goto out;
  }
  for (size_t i = 0; i < n_chain; i++) {
    p = chain[i].data;
    x = chain[i].len ? d2i_X509(NULL, &p, (long)chain[i].len) : NULL;
    if (!x || !sk_X509_push(untrusted, x)) {
      X509_free(x);
      rc = err_set(err, GLOAM_EFORMAT, "EK chain certificate %zu is not DER X.509", i);
      goto out;
    }
  }
  if (X509_STORE_CTX_init(ctx, store, ek, untrusted) != 1) {
    rc = err_set(err, GLOAM_ENOMEM, "out of memory");
    goto out;
  }
  if (X509_verify_cert(ctx) != 1) {
    rc = err_set(err, GLOAM_EAUTH, "EK certificate chain: %s",
                 X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
    goto out;
  }
  *out_ek = X509_get_pubkey(ek);
  if (!*out_ek) rc = err_set(err, GLOAM_EFORMAT, "EK certificate has no usable key");
out:
  ERR_clear_error();
  X509_free(ek);
  BIO_free(bio);
  sk_X509_pop_free(untrusted, X509_free);
  X509_STORE_CTX_free(ctx);
  X509_STORE_free(store);
  return rc;
}
