/* SPDX-License-Identifier: Apache-2.0
 *
 * attest/tpm.c: the TPM 2.0 identity over tpm2-tss ESYS (see tpm.h).
 *
 * DESIGN: the AK is a primary key of the endorsement hierarchy made from a
 * fixed template (ECC P-256, restricted, signing, fixedTPM): the TPM derives
 * the same key from its endorsement seed every time, so nothing is stored
 * on disk and the private part never leaves the TPM. The EK is used only
 * for credential activation and flushed right after; sessions too. Every
 * TPM error is reported with Tss2_RC_Decode's text.
 */
#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <string.h>
#include <tss2/tss2_esys.h>
#include <tss2/tss2_mu.h>
#include <tss2/tss2_rc.h>
#include <tss2/tss2_tctildr.h>

#include "attest/identity_int.h"
#include "attest/tpm.h"
#include "core/alloc.h"
#include "core/codec.h"
#include "core/err.h"
#include "core/secure.h"

#define EK_CERT_MAX 4096
#define CHAIN_MAX 4

struct attest_tpm {
  TSS2_TCTI_CONTEXT *tcti;
  ESYS_CONTEXT *ctx;
  ESYS_TR ak;
  TPM2B_PUBLIC *ak_pub;
  buf ek_cert;
  buf chain[CHAIN_MAX];
  size_t n_chain;
};

static int tss_err(char *err, TSS2_RC rc, const char *what) {
  return err_set(err, GLOAM_ECRYPTO, "%s: %s", what, Tss2_RC_Decode(rc));
}

void attest_quote_init(attest_quote *q) {
  memset(q, 0, sizeof *q);
  buf_init(&q->attest, 4096);
  buf_init(&q->sig, 1024);
}

void attest_quote_deinit(attest_quote *q) {
  buf_deinit(&q->attest);
  buf_deinit(&q->sig);
}

void tpm_close(attest_tpm *t) {
  if (!t) return;
  if (t->ctx && t->ak != ESYS_TR_NONE) Esys_FlushContext(t->ctx, t->ak);
  Esys_Free(t->ak_pub);
  if (t->ctx) Esys_Finalize(&t->ctx);
  if (t->tcti) Tss2_TctiLdr_Finalize(&t->tcti);
  buf_deinit(&t->ek_cert);
  for (size_t i = 0; i < CHAIN_MAX; i++) buf_deinit(&t->chain[i]);
  mem_free(t);
}

static const TPM2B_PUBLIC AK_TEMPLATE = {
    .publicArea =
        {
            .type = TPM2_ALG_ECC,
            .nameAlg = TPM2_ALG_SHA256,
            .objectAttributes = TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_SIGN_ENCRYPT |
                                TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
                                TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_USERWITHAUTH,
            .parameters.eccDetail =
                {
                    .symmetric = {.algorithm = TPM2_ALG_NULL},
                    .scheme = {.scheme = TPM2_ALG_ECDSA,
                               .details = {.ecdsa = {.hashAlg = TPM2_ALG_SHA256}}},
                    .curveID = TPM2_ECC_NIST_P256,
                    .kdf = {.scheme = TPM2_ALG_NULL},
                },
        },
};

/* TCG EK Credential Profile, template L-1 (RSA 2048, policy A). */
static const uint8_t EK_POLICY_A[32] = {
    0x83, 0x71, 0x97, 0x67, 0x44, 0x84, 0xb3, 0xf8, 0x1a, 0x90, 0xcc, 0x8d, 0x46, 0xa5, 0xd7, 0x24,
    0xfd, 0x52, 0xd7, 0x6e, 0x06, 0x52, 0x0b, 0x64, 0xf2, 0xa1, 0xda, 0x1b, 0x33, 0x14, 0x69, 0xaa};

static void ek_template(TPM2B_PUBLIC *t) {
  memset(t, 0, sizeof *t);
  TPMT_PUBLIC *p = &t->publicArea;
  p->type = TPM2_ALG_RSA;
  p->nameAlg = TPM2_ALG_SHA256;
  p->objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
                        TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_ADMINWITHPOLICY |
                        TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT;
  p->authPolicy.size = 32;
  memcpy(p->authPolicy.buffer, EK_POLICY_A, 32);
  p->parameters.rsaDetail.symmetric.algorithm = TPM2_ALG_AES;
  p->parameters.rsaDetail.symmetric.keyBits.aes = 128;
  p->parameters.rsaDetail.symmetric.mode.aes = TPM2_ALG_CFB;
  p->parameters.rsaDetail.scheme.scheme = TPM2_ALG_NULL;
  p->parameters.rsaDetail.keyBits = 2048;
  p->parameters.rsaDetail.exponent = 0;
  p->unique.rsa.size = 256;
}

static int read_ek_cert(attest_tpm *t, char *err) {
  ESYS_TR nv = ESYS_TR_NONE;
  TPM2B_NV_PUBLIC *np = NULL;
  TSS2_RC r = Esys_TR_FromTPMPublic(t->ctx, ATTEST_NV_EK_CERT_RSA, ESYS_TR_NONE, ESYS_TR_NONE,
                                    ESYS_TR_NONE, &nv);
  if (r != TSS2_RC_SUCCESS) return tss_err(err, r, "no RSA EK certificate in NV 0x01c00002");
  int rc = 0;
  r = Esys_NV_ReadPublic(t->ctx, nv, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &np, NULL);
  if (r != TSS2_RC_SUCCESS) {
    rc = tss_err(err, r, "NV_ReadPublic(EK certificate)");
    goto out;
  }
  uint16_t size = np->nvPublic.dataSize;
  ESYS_TR auth = (np->nvPublic.attributes & TPMA_NV_AUTHREAD) ? nv : ESYS_TR_RH_OWNER;
  if (size == 0 || size > EK_CERT_MAX) {
    rc = err_set(err, GLOAM_EFORMAT, "EK certificate NV index has %u bytes", size);
    goto out;
  }
  for (uint16_t off = 0; off < size;) {
    uint16_t n = (uint16_t)(size - off > 768 ? 768 : size - off);
    TPM2B_MAX_NV_BUFFER *d = NULL;
    r = Esys_NV_Read(t->ctx, auth, nv, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, n, off, &d);
    if (r != TSS2_RC_SUCCESS) {
      rc = tss_err(err, r, "NV_Read(EK certificate)");
      goto out;
    }
    rc = buf_append(&t->ek_cert, d->buffer, d->size);
    off = (uint16_t)(off + d->size);
    int empty = d->size == 0;
    Esys_Free(d);
    if (rc < 0 || empty) {
      rc = err_set(err, rc < 0 ? rc : GLOAM_EIO, "reading the EK certificate failed");
      goto out;
    }
  }
out:
  Esys_Free(np);
  Esys_TR_Close(t->ctx, &nv);
  return rc;
}

int attest_identity_open_tpm(attest_identity **out, const char *tcti, char *err) {
  *out = NULL;
  attest_identity *id = mem_calloc(1, sizeof *id);
  attest_tpm *t = mem_calloc(1, sizeof *t);
  if (!id || !t) {
    mem_free(id);
    mem_free(t);
    return err_set(err, GLOAM_ENOMEM, "out of memory");
  }
  id->level = GLOAM_TRUST_TPM;
  id->tpm = t;
  t->ak = ESYS_TR_NONE;
  buf_init(&t->ek_cert, EK_CERT_MAX);
  for (size_t i = 0; i < CHAIN_MAX; i++) buf_init(&t->chain[i], EK_CERT_MAX);
  int rc = 0;
  TSS2_RC r = Tss2_TctiLdr_Initialize(tcti ? tcti : "device:/dev/tpmrm0", &t->tcti);
  if (r != TSS2_RC_SUCCESS) {
    rc = err_set(err, GLOAM_EIO, "no TPM at %s: %s", tcti ? tcti : "device:/dev/tpmrm0",
                 Tss2_RC_Decode(r));
    goto fail;
  }
  r = Esys_Initialize(&t->ctx, t->tcti, NULL);
  if (r != TSS2_RC_SUCCESS) {
    rc = tss_err(err, r, "Esys_Initialize");
    goto fail;
  }
  r = Esys_Startup(t->ctx, TPM2_SU_CLEAR);
  if (r != TSS2_RC_SUCCESS && (r & 0xfff) != TPM2_RC_INITIALIZE) {
    rc = tss_err(err, r, "TPM2_Startup");
    goto fail;
  }
  TPM2B_SENSITIVE_CREATE sens = {0};
  TPM2B_DATA outside = {0};
  TPML_PCR_SELECTION none = {0};
  r = Esys_CreatePrimary(t->ctx, ESYS_TR_RH_ENDORSEMENT, ESYS_TR_PASSWORD, ESYS_TR_NONE,
                         ESYS_TR_NONE, &sens, &AK_TEMPLATE, &outside, &none, &t->ak, &t->ak_pub,
                         NULL, NULL, NULL);
  if (r != TSS2_RC_SUCCESS) {
    rc = tss_err(err, r, "CreatePrimary(AK)");
    goto fail;
  }
  uint8_t pub[sizeof(TPM2B_PUBLIC)];
  size_t off = 0;
  uint8_t name[34];
  if (Tss2_MU_TPM2B_PUBLIC_Marshal(t->ak_pub, pub, sizeof pub, &off) != TSS2_RC_SUCCESS) {
    rc = err_set(err, GLOAM_EINTERNAL, "cannot marshal the AK");
    goto fail;
  }
  if ((rc = tpm_ak_parse(pub, off, &id->pub, name, err)) < 0) goto fail;
  if ((rc = identity_export(id, err)) < 0) goto fail;
  if ((rc = read_ek_cert(t, err)) < 0) goto fail;
  *out = id;
  return 0;
fail:
  attest_identity_free(id);
  return rc;
}

static int need_tpm(attest_identity *id, char *err) {
  return id->tpm ? 0 : err_set(err, GLOAM_EUNSUPPORTED, "not a TPM identity");
}

int attest_tpm_set_ek_chain(attest_identity *id, const char *pem, size_t len, char *err) {
  int rc = need_tpm(id, err);
  if (rc < 0) return rc;
  attest_tpm *t = id->tpm;
  BIO *bio = len <= 65536 ? BIO_new_mem_buf(pem, (int)len) : NULL;
  if (!bio) return err_set(err, GLOAM_ETOOBIG, "chain PEM too large");
  t->n_chain = 0;
  X509 *x;
  while (rc == 0 && (x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
    unsigned char *der = NULL;
    int n = i2d_X509(x, &der);
    X509_free(x);
    if (n <= 0 || t->n_chain == CHAIN_MAX)
      rc = err_set(err, GLOAM_EFORMAT, "bad EK chain");
    else {
      buf_reset(&t->chain[t->n_chain]);
      rc = buf_append(&t->chain[t->n_chain++], der, (size_t)n);
    }
    OPENSSL_free(der);
  }
  ERR_clear_error();
  BIO_free(bio);
  return rc;
}

static int put_b64(json_t *o, const char *key, const uint8_t *p, size_t n) {
  size_t cap = codec_b64_len(n, CODEC_B64_URL) + 1;
  char *s = mem_alloc(cap);
  if (!s) return GLOAM_ENOMEM;
  int rc = codec_b64_encode(p, n, s, cap, CODEC_B64_URL) < 0 ? GLOAM_EINTERNAL : 0;
  json_t *v = rc == 0 ? json_string(s) : NULL;
  mem_free(s);
  if (!v) return GLOAM_ENOMEM;
  if (json_is_array(o)) return json_array_append_new(o, v) == 0 ? 0 : GLOAM_ENOMEM;
  return json_object_set_new(o, key, v) == 0 ? 0 : GLOAM_ENOMEM;
}

int tpm_put_identity(attest_identity *id, json_t *o) {
  attest_tpm *t = id->tpm;
  uint8_t pub[sizeof(TPM2B_PUBLIC)];
  size_t off = 0;
  if (Tss2_MU_TPM2B_PUBLIC_Marshal(t->ak_pub, pub, sizeof pub, &off) != TSS2_RC_SUCCESS)
    return GLOAM_EINTERNAL;
  json_t *chain = json_array();
  if (!chain || json_object_set_new(o, "ek_chain", chain) != 0) return GLOAM_ENOMEM;
  int rc = put_b64(o, "ak_pub", pub, off);
  if (rc == 0) rc = put_b64(o, "ek_cert", t->ek_cert.data, t->ek_cert.len);
  for (size_t i = 0; rc == 0 && i < t->n_chain; i++)
    rc = put_b64(chain, NULL, t->chain[i].data, t->chain[i].len);
  return rc;
}

int attest_tpm_ak_info(attest_identity *id, char **out_json, char *err) {
  *out_json = NULL;
  int rc = need_tpm(id, err);
  if (rc < 0) return rc;
  json_t *o = json_object();
  if (!o || tpm_put_identity(id, o) < 0) {
    json_decref(o);
    return err_set(err, GLOAM_ENOMEM, "out of memory");
  }
  char *s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
  json_decref(o);
  if (!s) return err_set(err, GLOAM_ENOMEM, "out of memory");
  *out_json = mem_strdup(s);
  free(s);
  return *out_json ? 0 : err_set(err, GLOAM_ENOMEM, "out of memory");
}

static int b64_field(json_t *o, const char *key, uint8_t *out, size_t cap, size_t *n) {
  const char *s = json_string_value(json_object_get(o, key));
  if (!s) return GLOAM_EFORMAT;
  long r = codec_b64_decode(s, strlen(s), out, cap, CODEC_B64_URL);
  if (r < 0) return GLOAM_EFORMAT;
  *n = (size_t)r;
  return 0;
}

static int load_ek(attest_tpm *t, ESYS_TR *ek, int *transient, char *err) {
  *transient = 0;
  TSS2_RC r =
      Esys_TR_FromTPMPublic(t->ctx, ATTEST_EK_HANDLE, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, ek);
  if (r == TSS2_RC_SUCCESS) return 0;
  TPM2B_PUBLIC tmpl;
  ek_template(&tmpl);
  TPM2B_SENSITIVE_CREATE sens = {0};
  TPM2B_DATA outside = {0};
  TPML_PCR_SELECTION none = {0};
  r = Esys_CreatePrimary(t->ctx, ESYS_TR_RH_ENDORSEMENT, ESYS_TR_PASSWORD, ESYS_TR_NONE,
                         ESYS_TR_NONE, &sens, &tmpl, &outside, &none, ek, NULL, NULL, NULL, NULL);
  if (r != TSS2_RC_SUCCESS) return tss_err(err, r, "CreatePrimary(EK)");
  *transient = 1;
  return 0;
}

int attest_tpm_activate(attest_identity *id, const char *challenge, size_t len, uint8_t *out,
                        size_t cap, size_t *out_len, char *err) {
  *out_len = 0;
  int rc = need_tpm(id, err);
  if (rc < 0) return rc;
  attest_tpm *t = id->tpm;
  json_t *o = len <= 8192 ? json_loadb(challenge, len, 0, NULL) : NULL;
  uint8_t raw[1024];
  size_t n = 0, off = 0;
  TPM2B_ID_OBJECT blob = {0};
  TPM2B_ENCRYPTED_SECRET sec = {0};
  rc = o ? b64_field(o, "credential_blob", raw, sizeof raw, &n) : GLOAM_EFORMAT;
  if (rc == 0 && Tss2_MU_TPM2B_ID_OBJECT_Unmarshal(raw, n, &off, &blob) != TSS2_RC_SUCCESS)
    rc = GLOAM_EFORMAT;
  off = 0;
  if (rc == 0) rc = b64_field(o, "secret", raw, sizeof raw, &n);
  if (rc == 0 && Tss2_MU_TPM2B_ENCRYPTED_SECRET_Unmarshal(raw, n, &off, &sec) != TSS2_RC_SUCCESS)
    rc = GLOAM_EFORMAT;
  json_decref(o);
  if (rc < 0) return err_set(err, rc, "malformed activation challenge");

  ESYS_TR ek = ESYS_TR_NONE, sess = ESYS_TR_NONE;
  int transient = 0;
  TPM2B_DIGEST *cert = NULL;
  if ((rc = load_ek(t, &ek, &transient, err)) < 0) return rc;
  TPMT_SYM_DEF sym = {.algorithm = TPM2_ALG_NULL};
  TSS2_RC r =
      Esys_StartAuthSession(t->ctx, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
                            ESYS_TR_NONE, NULL, TPM2_SE_POLICY, &sym, TPM2_ALG_SHA256, &sess);
  if (r != TSS2_RC_SUCCESS) {
    rc = tss_err(err, r, "StartAuthSession");
    goto out;
  }
  r = Esys_PolicySecret(t->ctx, ESYS_TR_RH_ENDORSEMENT, sess, ESYS_TR_PASSWORD, ESYS_TR_NONE,
                        ESYS_TR_NONE, NULL, NULL, NULL, 0, NULL, NULL);
  if (r != TSS2_RC_SUCCESS) {
    rc = tss_err(err, r, "PolicySecret(endorsement)");
    goto out;
  }
  r = Esys_ActivateCredential(t->ctx, t->ak, ek, ESYS_TR_PASSWORD, sess, ESYS_TR_NONE, &blob, &sec,
                              &cert);
  if (r != TSS2_RC_SUCCESS) {
    rc = err_set(err, GLOAM_EAUTH, "ActivateCredential: %s", Tss2_RC_Decode(r));
    goto out;
  }
  if (cert->size > cap) {
    rc = err_set(err, GLOAM_ETOOBIG, "credential too large");
    goto out;
  }
  memcpy(out, cert->buffer, cert->size);
  *out_len = cert->size;
out:
  if (cert) {
    secure_zero(cert, sizeof *cert);
    Esys_Free(cert);
  }
  if (sess != ESYS_TR_NONE && Esys_FlushContext(t->ctx, sess) != TSS2_RC_SUCCESS)
    Esys_TR_Close(t->ctx, &sess);
  if (transient)
    Esys_FlushContext(t->ctx, ek);
  else if (ek != ESYS_TR_NONE)
    Esys_TR_Close(t->ctx, &ek);
  return rc;
}

int attest_tpm_measure(attest_identity *id, const uint8_t binary_sha256[32], char *err) {
  int rc = need_tpm(id, err);
  if (rc < 0) return rc;
  ESYS_TR pcr = ESYS_TR_PCR0 + ATTEST_PCR_BINARY;
  TSS2_RC r = Esys_PCR_Reset(id->tpm->ctx, pcr, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE);
  if (r != TSS2_RC_SUCCESS) return tss_err(err, r, "PCR_Reset(23)");
  TPML_DIGEST_VALUES d = {.count = 1};
  d.digests[0].hashAlg = TPM2_ALG_SHA256;
  memcpy(d.digests[0].digest.sha256, binary_sha256, 32);
  r = Esys_PCR_Extend(id->tpm->ctx, pcr, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &d);
  if (r != TSS2_RC_SUCCESS) return tss_err(err, r, "PCR_Extend(23)");
  return 0;
}

static void select_mask(TPML_PCR_SELECTION *s, uint32_t mask) {
  memset(s, 0, sizeof *s);
  s->count = 1;
  s->pcrSelections[0].hash = TPM2_ALG_SHA256;
  s->pcrSelections[0].sizeofSelect = 3;
  for (int i = 0; i < 3; i++) s->pcrSelections[0].pcrSelect[i] = (uint8_t)(mask >> (8 * i));
}

static int read_pcrs(attest_tpm *t, attest_quote *q, char *err) {
  uint32_t left = q->pcr_mask;
  while (left) {
    TPML_PCR_SELECTION sel, *got = NULL;
    TPML_DIGEST *vals = NULL;
    select_mask(&sel, left);
    TSS2_RC r =
        Esys_PCR_Read(t->ctx, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &sel, NULL, &got, &vals);
    if (r != TSS2_RC_SUCCESS) return tss_err(err, r, "PCR_Read");
    uint32_t done = 0;
    if (got->count == 1)
      for (int i = 0; i < 3; i++) done |= (uint32_t)got->pcrSelections[0].pcrSelect[i] << (8 * i);
    done &= left;
    uint32_t k = 0;
    for (unsigned p = 0; p < 24; p++)
      if (done & (1u << p)) {
        if (k >= vals->count || vals->digests[k].size != 32) break;
        memcpy(q->pcr[p], vals->digests[k].buffer, 32);
        k++;
      }
    Esys_Free(got);
    Esys_Free(vals);
    if (done == 0) return err_set(err, GLOAM_EPROTO, "PCR_Read returned nothing");
    left &= ~done;
  }
  return 0;
}

int attest_tpm_quote(attest_identity *id, const uint8_t extra[32], attest_quote *q, char *err) {
  return tpm_quote_mask(id, extra, ATTEST_PCR_MASK, q, err);
}

int tpm_quote_mask(attest_identity *id, const uint8_t extra[32], uint32_t mask, attest_quote *q,
                   char *err) {
  int rc = need_tpm(id, err);
  if (rc < 0) return rc;
  attest_tpm *t = id->tpm;
  TPM2B_DATA qd = {.size = 32};
  memcpy(qd.buffer, extra, 32);
  TPMT_SIG_SCHEME scheme = {.scheme = TPM2_ALG_NULL};
  TPML_PCR_SELECTION sel;
  select_mask(&sel, mask);
  TPM2B_ATTEST *att = NULL;
  TPMT_SIGNATURE *sig = NULL;
  TSS2_RC r = Esys_Quote(t->ctx, t->ak, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &qd, &scheme,
                         &sel, &att, &sig);
  if (r != TSS2_RC_SUCCESS) return tss_err(err, r, "TPM2_Quote");
  uint8_t sb[sizeof(TPMT_SIGNATURE)];
  size_t off = 0;
  q->pcr_mask = mask;
  buf_reset(&q->attest);
  buf_reset(&q->sig);
  if (Tss2_MU_TPMT_SIGNATURE_Marshal(sig, sb, sizeof sb, &off) != TSS2_RC_SUCCESS ||
      buf_append(&q->sig, sb, off) < 0 ||
      buf_append(&q->attest, att->attestationData, att->size) < 0)
    rc = err_set(err, GLOAM_EINTERNAL, "cannot marshal the quote");
  Esys_Free(att);
  Esys_Free(sig);
  if (rc == 0) rc = read_pcrs(t, q, err);
  return rc;
}
