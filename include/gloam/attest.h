/* SPDX-License-Identifier: Apache-2.0
 *
 * gloam/attest.h: verifying a node's attestation evidence (docs/attestation.md).
 *
 *   gloam_attest_policy p = {.min_trust = GLOAM_TRUST_TPM,
 *                            .nonce = nonce, .nonce_len = 32,
 *                            .ca_pem = roots, .ca_pem_len = roots_len,
 *                            .activated_aks = names, .n_activated_aks = n};
 *   gloam_attest_result r;
 *   int rc = gloam_attest_verify(evidence, evidence_len, &p, &r);
 *   if (rc < 0) fprintf(stderr, "rejected: %s\n", r.reason);
 *   else use r.trust, r.hpke_pk, r.receipt_jwk ...
 *
 * The verifier never grants a level from self-reported fields alone: a
 * software statement is checked against the identity key it carries (pin it
 * per node id), a TPM statement against a quote by an AK that the caller
 * proved lives in a certified TPM (credential activation; the caller keeps
 * the activated AK names), and `measured` additionally needs the quoted
 * PCR 7 to match a Secure Boot golden value from the policy.
 *
 * Ownership: every pointer in the policy is borrowed for the call. The
 * result is caller-owned plain data. Thread safety: reentrant.
 */
#ifndef GLOAM_ATTEST_H
#define GLOAM_ATTEST_H

#include <stddef.h>
#include <stdint.h>

#include "gloam/err.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Trust levels, ordered: a higher value is a stronger claim (DESIGN §3.5).
 * The one definition for libgloam_attest, libgloam (client) and the
 * coordinator. CONFIDENTIAL (a confidential-computing VM report) is a level
 * requests may ask for; no verifier grants it yet. */
typedef enum gloam_trust {
  GLOAM_TRUST_NONE = 0,
  GLOAM_TRUST_SOFTWARE = 1,
  GLOAM_TRUST_TPM = 2,
  GLOAM_TRUST_MEASURED = 3,
  GLOAM_TRUST_CONFIDENTIAL = 4,
} gloam_trust;

/* "none", "software", "tpm", "measured", "confidential"; "?" for anything
 * else. Static strings. */
GLOAM_API const char *gloam_trust_name(gloam_trust t);
/* 0, or GLOAM_EINVAL for an unknown name (case-sensitive). */
GLOAM_API int gloam_trust_parse(const char *name, gloam_trust *out);

#define GLOAM_ATTEST_DEFAULT_MAX_AGE_MS (5 * 60 * 1000)

/* Policy flags. NO_FRESHNESS skips the nonce and age checks: for an
 * offline audit of stored evidence (`gloam-attest verify` without
 * --nonce); it says nothing about whether the node holds the keys now. */
#define GLOAM_ATTEST_NO_FRESHNESS 1u

typedef struct gloam_attest_policy {
  gloam_trust min_trust; /* below it: GLOAM_EPOLICY */
  unsigned flags;        /* GLOAM_ATTEST_* */
  const uint8_t *nonce;  /* the challenge this verifier issued; required
                          * unless GLOAM_ATTEST_NO_FRESHNESS */
  size_t nonce_len;      /* 16..64 bytes */
  int64_t now_ms;        /* 0: the wall clock */
  int64_t max_age_ms;    /* 0: GLOAM_ATTEST_DEFAULT_MAX_AGE_MS */
  /* Allowed "sha256:<64 hex>" of the node binary; n = 0 allows any. */
  const char *const *binaries;
  size_t n_binaries;
  /* Allowed weights digests ("sha256:<hex>"); every model must be listed;
   * n = 0 allows any. */
  const char *const *weights;
  size_t n_weights;
  /* PEM bundle of EK root CA certificates; without it no TPM level. */
  const char *ca_pem;
  size_t ca_pem_len;
  /* Names of AKs that passed credential activation (hex of the TPM name,
   * "000b" + 64 hex), as gloam_attest_activation_check() returns them. */
  const char *const *activated_aks;
  size_t n_activated_aks;
  /* PCR 7 values (64 hex) that mean "Secure Boot on, trusted keys" on
   * the fleet; without one no `measured`. */
  const char *const *secure_boot_pcr7;
  size_t n_secure_boot_pcr7;
  /* When set, the statement must bind a model with this id (GLOAM_ENOENT
   * otherwise). */
  const char *model;
} gloam_attest_policy;

#define GLOAM_ATTEST_MAX_MODELS 64

typedef struct gloam_attest_model {
  char id[132];
  char weights_digest[80]; /* "sha256:<hex>" */
} gloam_attest_model;

typedef struct gloam_attest_result {
  gloam_trust trust;   /* the verified level (NONE when rejected) */
  gloam_trust claimed; /* the level the statement claimed */
  char node_id[128];
  char binary[80];         /* "sha256:<hex>" */
  uint8_t hpke_pk[32];     /* X25519 public key */
  char receipt_jwk[256];   /* the per-process receipt key's JWK */
  char identity_thumb[48]; /* RFC 7638 thumbprint of the identity key or AK */
  char ak_name[72];        /* hex, TPM evidence only */
  int64_t issued_ms;
  size_t n_models; /* the models the statement binds, in its order */
  gloam_attest_model models[GLOAM_ATTEST_MAX_MODELS];
  /* Why the evidence was rejected, or why trust is below `measured`. */
  char reason[GLOAM_ERR_LEN];
} gloam_attest_result;

/* Verifies evidence text against *policy.
 * Returns 0 when trust >= policy->min_trust (out->trust set);
 * GLOAM_EPOLICY when it verified but below the minimum;
 * GLOAM_EFORMAT, GLOAM_ETOOBIG, GLOAM_EAUTH (signature, quote, chain),
 * GLOAM_EREPLAY (wrong nonce), GLOAM_ESTALE (too old or from the future),
 * GLOAM_ENOENT (policy->model not bound) when rejected. out->reason says why in every non-zero
 * case. */
GLOAM_API int gloam_attest_verify(const char *evidence, size_t len,
                                  const gloam_attest_policy *policy, gloam_attest_result *out);

/* Credential activation, verifier side (the Keylime / go-attestation
 * pattern). `ak_info` is the JSON the node's attest_tpm_ak_info() made
 * (EK certificate, chain, AK public). The verifier checks the EK chain
 * against ca_pem, then encrypts a fresh secret to the EK, bound to the AK's
 * name (TPM2_MakeCredential done in software, TPM 2.0 Part 1 §24).
 * OUT: *challenge_json (mem_free'd by gloam_attest_free) to send to the
 * node; secret[32] to keep. err: GLOAM_ERR_LEN bytes. */
GLOAM_API int gloam_attest_make_challenge(const char *ak_info, size_t len, const char *ca_pem,
                                          size_t ca_pem_len, char **challenge_json,
                                          uint8_t secret[32], char ak_name_hex[72], char *err);
/* Compares the node's answer with the kept secret in constant time: 0 when
 * the AK whose name was returned above is activated, GLOAM_EAUTH if not. */
GLOAM_API int gloam_attest_activation_check(const uint8_t secret[32], const uint8_t *answer,
                                            size_t answer_len);

GLOAM_API void gloam_attest_free(void *p);

#ifdef __cplusplus
}
#endif
#endif /* GLOAM_ATTEST_H */
