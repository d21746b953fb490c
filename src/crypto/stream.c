/* SPDX-License-Identifier: Apache-2.0
 *
 * crypto/stream.c: response stream key derivation and chunk frames. See
 * stream.h.
 */
#include "crypto/stream.h"

#include <string.h>

#include "core/secure.h"
#include "gloam/err.h"
#include "gloam/seal.h"

size_t stream_nr(uint16_t aead_id) {
  size_t nk = prim_aead_key_len(aead_id);
  return nk > HPKE_NONCE_LEN ? nk : HPKE_NONCE_LEN;
}

int stream_export(const hpke_ctx *ctx, uint8_t secret[STREAM_MAX_NR]) {
  static const char label[] = STREAM_EXPORT_LABEL;
  return hpke_export(ctx, (const uint8_t *)label, sizeof label - 1, secret,
                     stream_nr(ctx->suite.aead_id));
}

int stream_derive(stream_keys *k, uint16_t aead_id, const uint8_t *secret, const uint8_t *enc,
                  size_t enc_len, const uint8_t *resp_nonce) {
  uint8_t salt[HPKE_MAX_ENC + STREAM_MAX_NR], prk[HPKE_NH], key[PRIM_AEAD_MAX_KEY];
  size_t nr = stream_nr(aead_id), nk = prim_aead_key_len(aead_id);
  memset(k, 0, sizeof *k);
  if (!nk || enc_len > HPKE_MAX_ENC) return GLOAM_EUNSUPPORTED;
  memcpy(salt, enc, enc_len);
  memcpy(salt + enc_len, resp_nonce, nr);
  const void *ikm[] = {secret};
  const size_t ikm_len[] = {nr};
  const void *info_key[] = {"key"}, *info_nonce[] = {"nonce"};
  const size_t len_key[] = {3}, len_nonce[] = {5};
  int rc = prim_hkdf_extract(salt, enc_len + nr, ikm, ikm_len, 1, prk);
  if (rc == 0) rc = prim_hkdf_expand(prk, info_key, len_key, 1, key, nk);
  if (rc == 0) rc = prim_hkdf_expand(prk, info_nonce, len_nonce, 1, k->nonce, HPKE_NONCE_LEN);
  if (rc == 0) rc = prim_aead_init(&k->aead, aead_id, key, nk);
  secure_zero(prk, sizeof prk);
  secure_zero(key, sizeof key);
  if (rc < 0) stream_keys_deinit(k);
  return rc;
}

void stream_keys_deinit(stream_keys *k) {
  prim_aead_deinit(&k->aead);
  secure_zero(k, sizeof *k);
}

static void chunk_nonce(const stream_keys *k, uint32_t counter, uint8_t out[HPKE_NONCE_LEN]) {
  memcpy(out, k->nonce, HPKE_NONCE_LEN);
  for (int i = 0; i < 4; i++) out[HPKE_NONCE_LEN - 1 - i] ^= (uint8_t)(counter >> (8 * i));
}

int stream_seal(stream_keys *k, int type, uint32_t counter, const uint8_t *pt, size_t len,
                uint8_t *frame) {
  uint8_t nonce[HPKE_NONCE_LEN];
  if (type != GLOAM_SEAL_FRAME_DATA && type != GLOAM_SEAL_FRAME_FINAL) return GLOAM_EINVAL;
  frame[0] = (uint8_t)type;
  for (int i = 0; i < 4; i++) frame[1 + i] = (uint8_t)(counter >> (24 - 8 * i));
  chunk_nonce(k, counter, nonce);
  return prim_aead_seal(&k->aead, nonce, frame, STREAM_HEAD_LEN, pt, len, frame + STREAM_HEAD_LEN);
}

int stream_open(stream_keys *k, const uint8_t *frame, size_t frame_len, uint8_t *pt) {
  uint8_t nonce[HPKE_NONCE_LEN];
  if (frame_len < STREAM_HEAD_LEN + HPKE_TAG_LEN) return GLOAM_EFORMAT;
  uint32_t counter =
      (uint32_t)frame[1] << 24 | (uint32_t)frame[2] << 16 | (uint32_t)frame[3] << 8 | frame[4];
  chunk_nonce(k, counter, nonce);
  return prim_aead_open(&k->aead, nonce, frame, STREAM_HEAD_LEN, frame + STREAM_HEAD_LEN,
                        frame_len - STREAM_HEAD_LEN, pt);
}
