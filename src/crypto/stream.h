/* SPDX-License-Identifier: Apache-2.0
 *
 * crypto/stream.h: response stream keys and frames (docs/sealing.md §3).
 *
 * Keys are derived the way Oblivious HTTP (RFC 9458 §4.4) derives response
 * keys: secret = HPKE Export("gloam response v1", Nr); salt = enc ||
 * response_nonce; prk = HKDF-Extract(salt, secret); key = HKDF-Expand(prk,
 * "key", Nk); nonce = HKDF-Expand(prk, "nonce", 12); Nr = max(Nk, 12). A
 * chunk frame is type(1) || counter(4, big endian) || AEAD ciphertext, with
 * the 5-byte frame head as AAD and nonce XOR counter as the AEAD nonce.
 *
 * Thread safety: a stream_keys belongs to one thread at a time.
 */
#ifndef GLOAM_CRYPTO_STREAM_H
#define GLOAM_CRYPTO_STREAM_H

#include <stddef.h>
#include <stdint.h>

#include "crypto/hpke.h"

#define STREAM_EXPORT_LABEL "gloam response v1"
#define STREAM_MAX_NR 32
#define STREAM_HEAD_LEN 5
#define STREAM_START_VERSION 1

typedef struct stream_keys {
  prim_aead aead;
  uint8_t nonce[HPKE_NONCE_LEN];
} stream_keys;

/* Nr for an AEAD id. */
size_t stream_nr(uint16_t aead_id);

/* The exported response secret (Nr bytes) of a request's HPKE context. */
int stream_export(const hpke_ctx *ctx, uint8_t secret[STREAM_MAX_NR]);

/* Derives key and nonce from the exported secret, enc and response nonce. */
int stream_derive(stream_keys *k, uint16_t aead_id, const uint8_t *secret, const uint8_t *enc,
                  size_t enc_len, const uint8_t *resp_nonce);
void stream_keys_deinit(stream_keys *k);

/* Seals pt as a frame of `type` (DATA or FINAL) into frame (len + 21 bytes). */
int stream_seal(stream_keys *k, int type, uint32_t counter, const uint8_t *pt, size_t len,
                uint8_t *frame);
/* Opens a DATA/FINAL frame into pt (frame_len - 21 bytes). GLOAM_EAUTH. */
int stream_open(stream_keys *k, const uint8_t *frame, size_t frame_len, uint8_t *pt);

#endif
