/* SPDX-License-Identifier: Apache-2.0
 *
 * coord/creds.h: API keys and node tokens: generation, hashing, parsing of
 * the Authorization header.
 *
 * A credential is a prefix ("gk_" for consumer API keys, "gnt_" for node
 * tokens) and 43 base64url characters of 32 random bytes. The coordinator
 * stores SHA-256 of the whole string, so a database leak does not leak
 * usable keys; the full key is shown once, at creation.
 *
 * Thread safety: pure functions (OpenSSL's RNG is thread-safe).
 */
#ifndef GLOAM_COORD_CREDS_H
#define GLOAM_COORD_CREDS_H

#include <stddef.h>
#include <stdint.h>

#define CREDS_MAX 64       /* longest credential string, with NUL */
#define CREDS_LABEL_LEN 12 /* non-secret label: prefix + first chars */

/* OUT: key (NUL-terminated, CREDS_MAX), hash, label (CREDS_LABEL_LEN+1). */
int coord_creds_new(const char *prefix, char key[CREDS_MAX], uint8_t hash[32],
                    char label[CREDS_LABEL_LEN + 1]);
/* SHA-256 of the credential text. */
int coord_creds_hash(const char *key, size_t len, uint8_t hash[32]);
/* Extracts the token from "Bearer <token>" (case-insensitive scheme), or
 * takes the value whole when bearer is 0 (x-api-key). Requires the prefix
 * and a sane length. OUT: *tok (borrowed from value), *tok_len. */
int coord_creds_from_header(const char *value, int bearer, const char *prefix, const char **tok,
                            size_t *tok_len);

#endif
