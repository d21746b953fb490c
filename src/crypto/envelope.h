/* SPDX-License-Identifier: Apache-2.0
 *
 * crypto/envelope.h: the sealed request envelope v1 wire format.
 *
 * Layout (docs/sealing.md has it byte by byte): a cleartext header of fixed
 * fields and three length-prefixed strings, which is the HPKE AAD; then
 * `enc` (Nenc bytes for the header's KEM); then body_len bytes of HPKE
 * ciphertext; nothing after. Every length is checked against the buffer and
 * the limits in gloam/seal.h before it is used.
 *
 * Thread safety: pure functions over caller memory.
 */
#ifndef GLOAM_CRYPTO_ENVELOPE_H
#define GLOAM_CRYPTO_ENVELOPE_H

#include <stddef.h>
#include <stdint.h>

#include "gloam/seal.h"

#define ENV_MAGIC "GLSQ"
#define ENV_FIXED_LEN 68 /* bytes before node_id_len */
#define ENV_MAX_HEADER \
  (ENV_FIXED_LEN + 3 + GLOAM_SEAL_NODE_ID_MAX + GLOAM_SEAL_MODEL_MAX + GLOAM_SEAL_ENDPOINT_MAX)

/* Where the parts of a parsed envelope lie. */
typedef struct env_view {
  size_t header_len; /* AAD = env[0, header_len) */
  const uint8_t *enc;
  size_t enc_len;
  const uint8_t *ct;
  size_t ct_len;
} env_view;

/* Validates the string fields and suite of h (for sealing and after parsing).
 * err (may be NULL) gets the reason. */
int env_header_check(const gloam_seal_header *h, char *err);

/* Serialized header length of a checked header. */
size_t env_header_len(const gloam_seal_header *h);

/* Writes the header into out (env_header_len(h) bytes). */
void env_header_write(const gloam_seal_header *h, uint8_t *out);

/* Parses a whole envelope: header fields into *h, part offsets into *v.
 * GLOAM_EFORMAT / GLOAM_EUNSUPPORTED with detail in err (may be NULL). */
int env_parse(const uint8_t *env, size_t env_len, gloam_seal_header *h, env_view *v, char *err);

#endif
