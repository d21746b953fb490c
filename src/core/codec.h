/* SPDX-License-Identifier: Apache-2.0
 *
 * core/codec.h: hex, base64 (RFC 4648 §4) and base64url (§5) codecs.
 *
 * Decoders are strict, because their input is untrusted: they reject
 * characters outside the alphabet, bad padding and non-canonical trailing
 * bits, and never write past out_cap. Encoders NUL-terminate their output.
 */
#ifndef GLOAM_CORE_CODEC_H
#define GLOAM_CORE_CODEC_H

#include <stddef.h>
#include <stdint.h>

enum codec_b64 {
  CODEC_B64_STD = 0,     /* '+', '/', '=' padding required */
  CODEC_B64_URL = 1,     /* '-', '_', no padding (JWS style) */
  CODEC_B64_URL_PAD = 2, /* '-', '_', padding required */
};

/* Characters needed for the encoding of n bytes, excluding the NUL. */
size_t codec_hex_len(size_t n);
size_t codec_b64_len(size_t n, enum codec_b64 v);

/* Encodes n bytes into out (out_cap bytes, including room for the NUL).
 * Returns the length written (excluding NUL) or GLOAM_ETOOBIG. */
long codec_hex_encode(const uint8_t *in, size_t n, char *out, size_t out_cap);
long codec_b64_encode(const uint8_t *in, size_t n, char *out, size_t out_cap, enum codec_b64 v);

/* Decodes `n` characters of text into out (out_cap bytes). Hex accepts both
 * cases; with skip_space, ASCII whitespace is ignored. Returns the number of
 * bytes written, GLOAM_EFORMAT for bad input or GLOAM_ETOOBIG. */
long codec_hex_decode(const char *in, size_t n, uint8_t *out, size_t out_cap, int skip_space);
long codec_b64_decode(const char *in, size_t n, uint8_t *out, size_t out_cap, enum codec_b64 v);

#endif
