/* SPDX-License-Identifier: Apache-2.0
 *
 * attest/identity_int.h: the identity struct shared by identity.c
 * (software keys) and tpm.c (ESYS). Not API.
 */
#ifndef GLOAM_ATTEST_IDENTITY_INT_H
#define GLOAM_ATTEST_IDENTITY_INT_H

#include "attest/identity.h"

typedef struct attest_tpm attest_tpm;
typedef struct attest_se attest_se;

struct attest_identity {
  gloam_trust level;
  es256_key *soft; /* software identity: the private key */
  es256_key *pub;  /* public part (the AK for a TPM) */
  attest_tpm *tpm; /* TPM identity: ESYS context and handles */
  attest_se *se;   /* Secure Enclave identity (macOS): the key reference */
  char jwk[256];
  char thumb[ES256_THUMB_LEN + 1];
};

/* Fills jwk and thumb from id->pub. */
int identity_export(attest_identity *id, char *err);
/* Frees the TPM part (tpm.c). */
void tpm_close(attest_tpm *t);
/* The Secure Enclave part (identity_se.c): ES256 by the enclave key, free. */
int se_sign(attest_se *se, const void *msg, size_t len, uint8_t sig[ES256_SIG_LEN]);
void se_close(attest_se *se);

#endif
