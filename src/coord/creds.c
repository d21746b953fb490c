/* SPDX-License-Identifier: Apache-2.0
 *
 * coord/creds.c: credential generation and hashing (see creds.h).
 */
#include "coord/creds.h"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <string.h>
#include <strings.h>

#include "core/codec.h"
#include "core/err.h"
#include "core/secure.h"

int coord_creds_hash(const char *key, size_t len, uint8_t hash[32]) {
  unsigned n = 0;
  return EVP_Digest(key, len, hash, &n, EVP_sha256(), NULL) == 1 && n == 32 ? 0 : GLOAM_ECRYPTO;
}

int coord_creds_new(const char *prefix, char key[CREDS_MAX], uint8_t hash[32],
                    char label[CREDS_LABEL_LEN + 1]) {
  uint8_t raw[32];
  size_t pl = strlen(prefix);
  if (pl > 8) return GLOAM_EINVAL;
  if (RAND_bytes(raw, sizeof raw) != 1) return GLOAM_ECRYPTO;
  memcpy(key, prefix, pl);
  long n = codec_b64_encode(raw, sizeof raw, key + pl, CREDS_MAX - pl, CODEC_B64_URL);
  secure_zero(raw, sizeof raw);
  if (n < 0) return (int)n;
  memcpy(label, key, CREDS_LABEL_LEN);
  label[CREDS_LABEL_LEN] = '\0';
  return coord_creds_hash(key, strlen(key), hash);
}

int coord_creds_from_header(const char *value, int bearer, const char *prefix, const char **tok,
                            size_t *tok_len) {
  if (!value) return GLOAM_EAUTH;
  if (bearer) {
    if (strncasecmp(value, "Bearer ", 7) != 0) return GLOAM_EAUTH;
    value += 7;
    while (*value == ' ') value++;
  }
  size_t n = strlen(value);
  while (n && value[n - 1] == ' ') n--;
  size_t pl = strlen(prefix);
  if (n <= pl || n >= CREDS_MAX || strncmp(value, prefix, pl) != 0) return GLOAM_EAUTH;
  *tok = value;
  *tok_len = n;
  return 0;
}
