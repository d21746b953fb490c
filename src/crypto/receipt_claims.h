/* SPDX-License-Identifier: Apache-2.0
 *
 * crypto/receipt_claims.h: the canonical receipt claims codec, internal to
 * src/crypto (and its fuzz target). gloam/receipt.h is the public API.
 *
 * Thread safety: pure functions over caller memory.
 */
#ifndef GLOAM_CRYPTO_RECEIPT_CLAIMS_H
#define GLOAM_CRYPTO_RECEIPT_CLAIMS_H

#include <stddef.h>

#include "gloam/receipt.h"

#define RECEIPT_PAYLOAD_MAX 1536 /* with 4 image hashes: ~1.1 KB at the longest names */

/* Validates claims (version, string alphabets and lengths, integer ranges,
 * times in order). err (may be NULL) gets the reason. */
int receipt_claims_check(const gloam_receipt_claims *c, char *err);
/* The canonical JSON of checked claims into out; returns its length or
 * GLOAM_ETOOBIG. */
int receipt_claims_encode(const gloam_receipt_claims *c, char *out, size_t cap);
/* Parses a payload and requires it to be exactly the canonical encoding of
 * the claims it holds. GLOAM_EFORMAT otherwise. */
int receipt_claims_parse(const char *p, size_t n, gloam_receipt_claims *c, char *err);

#endif
