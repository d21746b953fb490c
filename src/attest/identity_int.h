/* SPDX-License-Identifier: Apache-2.0
 *
 * attest/identity_int.h: the identity struct shared by identity.c
 * (software keys) and tpm.c (ESYS). Not API.
 */
#ifndef GLOAM_ATTEST_IDENTITY_INT_H
#define GLOAM_ATTEST_IDENTITY_INT_H

#include "attest/identity.h"

typedef struct attest_tpm attest_tpm;

struct attest_identity {
  gloam_trust level;
  es256_key *soft; /* software identity: the private key */
  es256_key *pub;  /* public part (the AK for a TPM) */
  attest_tpm *tpm; /* TPM identity: ESYS context and handles */
  char jwk[256];
  char thumb[ES256_THUMB_LEN + 1];
};

/* Fills jwk and thumb from id->pub. */
int identity_export(attest_identity *id, char *err);
/* Frees the TPM part (tpm.c). */
void tpm_close(attest_tpm *t);

#endif
