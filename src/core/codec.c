/* SPDX-License-Identifier: Apache-2.0
 *
 * core/codec.c: strict hex and base64 codecs (see codec.h).
 */
#include "core/codec.h"

#include <limits.h>

#include "gloam/err.h"

static const char HEX[] = "0123456789abcdef";
static const char B64_STD[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char B64_URL[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

size_t codec_hex_len(size_t n) {
  return n * 2;
}

size_t codec_b64_len(size_t n, enum codec_b64 v) {
  if (v == CODEC_B64_URL) return (n / 3) * 4 + (n % 3 ? n % 3 + 1 : 0);
  return (n + 2) / 3 * 4;
}

long codec_hex_encode(const uint8_t *in, size_t n, char *out, size_t out_cap) {
  if (out_cap < codec_hex_len(n) + 1 || n > (size_t)LONG_MAX / 2) return GLOAM_ETOOBIG;
  for (size_t i = 0; i < n; i++) {
    out[2 * i] = HEX[in[i] >> 4];
    out[2 * i + 1] = HEX[in[i] & 15];
  }
  out[2 * n] = '\0';
  return (long)(2 * n);
}

static int hex_val(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

static int is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

long codec_hex_decode(const char *in, size_t n, uint8_t *out, size_t out_cap, int skip_space) {
  size_t o = 0;
  int hi = -1;
  for (size_t i = 0; i < n; i++) {
    if (skip_space && is_space(in[i])) continue;
    int v = hex_val(in[i]);
    if (v < 0) return GLOAM_EFORMAT;
    if (hi < 0) {
      hi = v;
      continue;
    }
    if (o >= out_cap) return GLOAM_ETOOBIG;
    out[o++] = (uint8_t)(hi << 4 | v);
    hi = -1;
  }
  if (hi >= 0) return GLOAM_EFORMAT;
  return (long)o;
}

long codec_b64_encode(const uint8_t *in, size_t n, char *out, size_t out_cap, enum codec_b64 v) {
  const char *alpha = v == CODEC_B64_STD ? B64_STD : B64_URL;
  size_t len = codec_b64_len(n, v);
  if (n > (size_t)LONG_MAX / 2 || out_cap < len + 1) return GLOAM_ETOOBIG;
  size_t o = 0, i = 0;
  for (; i + 3 <= n; i += 3) {
    uint32_t w = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
    out[o++] = alpha[w >> 18];
    out[o++] = alpha[(w >> 12) & 63];
    out[o++] = alpha[(w >> 6) & 63];
    out[o++] = alpha[w & 63];
  }
  if (n - i) {
    uint32_t w = (uint32_t)in[i] << 16 | (n - i == 2 ? (uint32_t)in[i + 1] << 8 : 0);
    out[o++] = alpha[w >> 18];
    out[o++] = alpha[(w >> 12) & 63];
    if (n - i == 2) out[o++] = alpha[(w >> 6) & 63];
    if (v != CODEC_B64_URL) {
      if (n - i == 1) out[o++] = '=';
      out[o++] = '=';
    }
  }
  out[o] = '\0';
  return (long)o;
}

static int b64_val(char c, enum codec_b64 v) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (v == CODEC_B64_STD) {
    if (c == '+') return 62;
    if (c == '/') return 63;
  } else {
    if (c == '-') return 62;
    if (c == '_') return 63;
  }
  return -1;
}

long codec_b64_decode(const char *in, size_t n, uint8_t *out, size_t out_cap, enum codec_b64 v) {
  size_t data_len = n;
  if (v != CODEC_B64_URL) {
    if (n % 4) return GLOAM_EFORMAT;
    if (n && in[n - 1] == '=') data_len--;
    if (n > 1 && in[n - 2] == '=') data_len--;
  }
  if (data_len % 4 == 1) return GLOAM_EFORMAT;
  size_t need = data_len / 4 * 3 + (data_len % 4 ? data_len % 4 - 1 : 0);
  if (need > out_cap) return GLOAM_ETOOBIG;
  size_t o = 0;
  uint32_t acc = 0;
  int bits = 0;
  for (size_t i = 0; i < data_len; i++) {
    int d = b64_val(in[i], v);
    if (d < 0) return GLOAM_EFORMAT;
    acc = acc << 6 | (uint32_t)d;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (uint8_t)(acc >> bits);
      acc &= (1u << bits) - 1;
    }
  }
  if (acc != 0) return GLOAM_EFORMAT; /* non-canonical trailing bits */
  return (long)o;
}
