/* SPDX-License-Identifier: Apache-2.0
 *
 * fuzz/codec/fuzz_codec.c: hex and base64 decoders on arbitrary text.
 * Checks memory safety and that whatever decodes re-encodes to the input
 * (the decoders are strict, so decoding is injective).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/codec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > 4096) return 0;
  const char *text = (const char *)data;
  uint8_t out[4096];
  char again[8200];
  for (int v = CODEC_B64_STD; v <= CODEC_B64_URL_PAD; v++) {
    long n = codec_b64_decode(text, size, out, sizeof out, (enum codec_b64)v);
    if (n >= 0) {
      long m = codec_b64_encode(out, (size_t)n, again, sizeof again, (enum codec_b64)v);
      if (m != (long)size || memcmp(again, text, size) != 0) abort();
    }
  }
  long n = codec_hex_decode(text, size, out, sizeof out, 0);
  if (n >= 0 && (size_t)n * 2 != size) abort();
  codec_hex_decode(text, size, out, sizeof out, 1);
  return 0;
}
