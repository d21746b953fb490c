/* SPDX-License-Identifier: Apache-2.0
 *
 * attest/tpm.h: the TPM-only operations of an identity (node side, ESYS)
 * and the TPM structure checks a verifier needs (no TPM needed).
 *
 * Node, once at start:
 *   attest_tpm_measure(id, binary_sha256, err);        // reset + extend PCR 23
 *   attest_tpm_ak_info(id, &info_json, err);           // send to the verifier
 *   attest_tpm_activate(id, challenge, len, secret, &n, err);   // answer
 * Then attest_evidence_make() quotes for every challenge (evidence.h).
 *
 * The EK is the TCG default RSA 2048 EK (persistent 0x81010001 if present,
 * else re-created from the TCG template L-1); its certificate is read from
 * NV index 0x01c00002. Transient handles are flushed after each use except
 * the AK, which stays loaded (one of swtpm's three slots).
 *
 * Ownership: outputs are mem_alloc'd (mem_free). Thread safety: one thread
 * per identity.
 */
#ifndef GLOAM_ATTEST_TPM_H
#define GLOAM_ATTEST_TPM_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <openssl/types.h>

#include "attest/identity.h"
#include "core/buf.h"

#define ATTEST_PCR_BINARY 23
/* PCRs every quote covers: firmware/boot 0-7 and the binary PCR 23. */
#define ATTEST_PCR_MASK 0x8000ffu
#define ATTEST_NV_EK_CERT_RSA 0x01c00002u
#define ATTEST_EK_HANDLE 0x81010001u

typedef struct attest_quote {
  buf attest;        /* marshaled TPMS_ATTEST (the signed bytes) */
  buf sig;           /* marshaled TPMT_SIGNATURE */
  uint32_t pcr_mask; /* selected PCRs of the SHA-256 bank */
  uint8_t pcr[24][32];
} attest_quote;

void attest_quote_init(attest_quote *q);
void attest_quote_deinit(attest_quote *q);

/* PEM intermediates between the EK certificate and the maker's root, sent
 * along in ak_info and evidence (the node does not fetch AIA URLs). */
int attest_tpm_set_ek_chain(attest_identity *id, const char *pem, size_t len, char *err);
/* {"ak_pub":b64url TPM2B_PUBLIC,"ek_cert":b64url DER,"ek_chain":[b64url DER..]}. */
int attest_tpm_ak_info(attest_identity *id, char **out_json, char *err);
/* Answers a gloam_attest_make_challenge() challenge with TPM2_ActivateCredential;
 * OUT: the recovered secret (at most 64 bytes). */
int attest_tpm_activate(attest_identity *id, const char *challenge, size_t len, uint8_t *out,
                        size_t cap, size_t *out_len, char *err);
/* Resets PCR 23 (PC Client: resettable at locality 0) and extends it with
 * the binary's SHA-256, so it reads SHA256(0^32 || binary_sha256). */
int attest_tpm_measure(attest_identity *id, const uint8_t binary_sha256[32], char *err);
/* TPM2_Quote over ATTEST_PCR_MASK (SHA-256 bank) with extraData, then the
 * PCR values. */
int attest_tpm_quote(attest_identity *id, const uint8_t extra[32], attest_quote *q, char *err);

/* The same over any PCR mask (tests make quotes over other PCRs). */
int tpm_quote_mask(attest_identity *id, const uint8_t extra[32], uint32_t mask, attest_quote *q,
                   char *err);

/* Adds the "ak_pub", "ek_cert" and "ek_chain" members (ak_info and the
 * evidence's tpm section share them). */
int tpm_put_identity(attest_identity *id, json_t *o);

/* ---- verifier side (tpm_check.c): pure parsing and OpenSSL ---- */

/* Parses a marshaled TPM2B_PUBLIC, checks it is a proper AK (ECC P-256,
 * restricted signing, fixedTPM, fixedParent, sensitiveDataOrigin, ECDSA
 * SHA-256), and returns the key and its TPM name (0x000b || SHA-256). */
int tpm_ak_parse(const uint8_t *pub, size_t len, es256_key **out_key, uint8_t name[34], char *err);
/* Checks a quote: AK signature over the attest bytes, magic, type, the
 * extraData, the PCR selection == mask in the SHA-256 bank, and the
 * pcrDigest against the given values. */
int tpm_quote_check(es256_key *ak, const uint8_t *attest, size_t attest_len, const uint8_t *sig,
                    size_t sig_len, const uint8_t extra[32], uint32_t mask,
                    const uint8_t pcr[24][32], char *err);
/* TPM2_MakeCredential in software against an RSA 2048 EK (TPM 2.0 Part 1
 * §24, Part 3 §12.6): OUT: marshaled TPM2B_ID_OBJECT and TPM2B_ENCRYPTED_SECRET. */
int tpm_make_credential(EVP_PKEY *ek, const uint8_t name[34], const uint8_t *cred, size_t cred_len,
                        buf *blob, buf *secret, char *err);
/* Verifies the DER EK certificate (plus DER intermediates) against the PEM
 * roots; OUT: the EK's public key (EVP_PKEY_free). */
int tpm_ek_chain_check(const uint8_t *cert, size_t cert_len, const buf *chain, size_t n_chain,
                       const char *ca_pem, size_t ca_len, EVP_PKEY **out_ek, char *err);

/* Decodes those members: ak_pub, then certs[0] = EK certificate and
 * certs[1..] = chain (at most cap in all); GLOAM_EFORMAT, GLOAM_ENOMEM. */
int cred_decode_identity(json_t *o, buf *ak_pub, buf *certs, size_t cap, size_t *n_certs);

#endif
