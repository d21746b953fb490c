/* SPDX-License-Identifier: Apache-2.0
 *
 * fuzz/tokenizer_load/fuzz_tokenizer_load.c: arbitrary bytes as
 * tokenizer.json. Whatever loads must also encode and decode without
 * memory errors, with ids in range, and streaming arbitrary ids through
 * gloam_tok_stream must give exactly their full decode.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gloam/tokenizer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > 1 << 20) return 0;
  gloam_tokenizer *t;
  char err[GLOAM_ERR_LEN];
  if (gloam_tokenizer_load_mem(&t, data, size, NULL, 0, err) < 0) {
    if (err[0] == '\0') abort(); /* every failure explains itself */
    return 0;
  }
  static const char *texts[] = {"Hello, world! 123 ", "  \xE6\x97\xA5\xE6\x9C\xAC\n\tx<s>",
                                "\xF0\x9F\x98\x80 a-b_c", ""};
  for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
    int32_t *ids;
    size_t n;
    if (gloam_tokenizer_encode(t, texts[i], strlen(texts[i]), GLOAM_TOK_ADD_SPECIAL, &ids, &n) ==
        0) {
      for (size_t k = 0; k < n; k++)
        if (ids[k] < 0 || (size_t)ids[k] >= gloam_tokenizer_vocab_size(t)) abort();
      char *text;
      size_t len;
      if (gloam_tokenizer_decode(t, ids, n, 0, &text, &len) == 0) gloam_tokenizer_buf_free(text);
      gloam_tokenizer_buf_free(ids);
    }
  }
  /* Arbitrary ids (from the input's bytes): the stream equals the full decode. */
  size_t vs = gloam_tokenizer_vocab_size(t);
  int32_t ids[64];
  size_t n = size < 64 ? size : 64;
  for (size_t i = 0; i < n; i++) ids[i] = (int32_t)(data[size - 1 - i] % (vs ? vs : 1));
  char *full;
  size_t fl;
  gloam_tok_stream *s;
  if (gloam_tokenizer_decode(t, ids, n, 0, &full, &fl) == 0) {
    if (gloam_tok_stream_new(t, 0, &s) < 0) abort();
    size_t at = 0;
    for (size_t i = 0; i <= n; i++) {
      const char *piece;
      size_t pl;
      int rc = i < n ? gloam_tok_stream_push(s, ids[i], &piece, &pl)
                     : gloam_tok_stream_flush(s, &piece, &pl);
      if (rc < 0 || at + pl > fl || memcmp(full + at, piece, pl) != 0) abort();
      at += pl;
    }
    if (at != fl) abort();
    gloam_tok_stream_free(s);
    gloam_tokenizer_buf_free(full);
  }
  gloam_tokenizer_free(t);
  return 0;
}
