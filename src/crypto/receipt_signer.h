/* SPDX-License-Identifier: Apache-2.0
 *
 * crypto/receipt_signer.h: the receipt signer's key, for gloam's own
 * modules only (not API). A node with a TPM identity signs its attestation
 * statement with the per-process receipt key (proof of possession of the
 * key the TPM quote then binds; docs/attestation.md), so the node's
 * attestor needs the key itself, not just its public JWK.
 *
 * Ownership: borrowed from the signer, valid until it is freed.
 * Thread safety: ES256 signing with the key is reentrant.
 */
#ifndef GLOAM_CRYPTO_RECEIPT_SIGNER_H
#define GLOAM_CRYPTO_RECEIPT_SIGNER_H

#include "crypto/es256.h"
#include "gloam/receipt.h"

es256_key *receipt_signer_key(const gloam_receipt_signer *s);

#endif
