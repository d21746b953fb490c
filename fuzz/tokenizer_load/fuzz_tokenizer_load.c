/* SPDX-License-Identifier: Apache-2.0
 *
 * fuzz/tokenizer_load/fuzz_tokenizer_load.c: arbitrary bytes as
 * tokenizer.json. Whatever loads must also encode and decode without
 * memory errors, and its decode of an encode must not crash either.
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
  gloam_tokenizer_free(t);
  return 0;
}
