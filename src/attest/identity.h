/* SPDX-License-Identifier: Apache-2.0
 *
 * attest/identity.h: a node's long-term identity key, behind one interface.
 *
 *   attest_identity *id;
 *   attest_identity_open_software(&id, "/var/lib/gloam/identity.pem", err);
 *   // or: attest_identity_open_tpm(&id, "device:/dev/tpmrm0", err);
 *   // or (macOS): attest_identity_open_se(&id, "org.gloam.node.identity", err);
 *   attest_identity_level(id);      // GLOAM_TRUST_SOFTWARE or GLOAM_TRUST_TPM
 *   attest_evidence_make(id, &in, &text, &len, err);   (attest/evidence.h)
 *   attest_identity_free(id);
 *
 * Software: a P-256 key in a PEM file, mode 0600, created on first use
 * (atomically, O_EXCL + rename); a file readable or writable by group or
 * others is refused. TPM: an ECC P-256 restricted signing attestation key
 * (AK) derived as a primary key of the endorsement hierarchy, so it never
 * leaves the TPM and needs no stored blob; the EK certificate is read from
 * NV. TPM-only operations (attest/tpm.h) return GLOAM_EUNSUPPORTED on a
 * software identity.
 *
 * Ownership: the identity owns its key or its TPM context. Thread safety:
 * a software identity is read-only after open; a TPM identity serialises
 * nothing itself, so callers use it from one thread (the node's
 * attestation worker).
 */
#ifndef GLOAM_ATTEST_IDENTITY_H
#define GLOAM_ATTEST_IDENTITY_H

#include <stddef.h>
#include <stdint.h>

#include "crypto/es256.h"
#include "gloam/attest.h"

typedef struct attest_identity attest_identity;

/* Loads the P-256 PEM key at path or creates it (0600). GLOAM_EPERM when
 * the file's mode allows group/other access or it is not owned by us,
 * GLOAM_EFORMAT for a non-P-256 key, GLOAM_EIO. */
int attest_identity_open_software(attest_identity **out, const char *path, char *err);
/* Opens the TPM through a TCTI string (NULL: "device:/dev/tpmrm0"; tests
 * use "swtpm:host=127.0.0.1,port=P") and derives the AK. GLOAM_EIO when no
 * TPM answers, GLOAM_ECRYPTO for a TPM error (detail has the RC text). */
int attest_identity_open_tpm(attest_identity **out, const char *tcti, char *err);
/* macOS: the P-256 key under keychain tag in the Secure Enclave, created on
 * first use (identity_se.c; level SOFTWARE: nothing a third party can
 * verify). GLOAM_EUNSUPPORTED on other systems, GLOAM_ECRYPTO when the
 * enclave refuses. */
int attest_identity_open_se(attest_identity **out, const char *tag, char *err);
void attest_identity_free(attest_identity *id);

gloam_trust attest_identity_level(const attest_identity *id);
/* The identity's public JWK (the AK for a TPM), RFC 7638 member order. */
const char *attest_identity_jwk(const attest_identity *id);
const char *attest_identity_thumbprint(const attest_identity *id);

/* ES256 over msg with a software or Secure Enclave identity;
 * GLOAM_EUNSUPPORTED on a TPM. */
int attest_identity_sign(attest_identity *id, const void *msg, size_t len,
                         uint8_t sig[ES256_SIG_LEN]);

#endif
