/* SPDX-License-Identifier: Apache-2.0
 *
 * fuzz/tokenizer_gguf/fuzz_tokenizer_gguf.c: arbitrary bytes as a GGUF file
 * whose tokenizer.ggml.* metadata builds a tokenizer. Whatever builds must
 * encode and decode without memory errors, with ids in range.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/gguf.h"
#include "engine/tokenizer_gguf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > 1 << 20) return 0;
  gguf_ctx g;
  char err[GLOAM_ERR_LEN];
  if (gguf_parse(data, size, &g, err) < 0) return 0;
  gloam_tokenizer *t;
  if (tokenizer_from_gguf(&t, &g, err) == 0) {
    static const char *texts[] = {"Hello, world! 123 ", "  \xE6\x97\xA5\n\tx<s>", ""};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
      int32_t *ids;
      size_t n;
      if (gloam_tokenizer_encode(t, texts[i], strlen(texts[i]), GLOAM_TOK_ADD_SPECIAL, &ids, &n) <
          0)
        continue;
      for (size_t k = 0; k < n; k++)
        if (ids[k] < 0 || (size_t)ids[k] >= gloam_tokenizer_vocab_size(t)) abort();
      char *text;
      size_t len;
      if (gloam_tokenizer_decode(t, ids, n, 0, &text, &len) == 0) gloam_tokenizer_buf_free(text);
      gloam_tokenizer_buf_free(ids);
    }
    gloam_tokenizer_free(t);
  } else if (err[0] == '\0') {
    abort(); /* every failure explains itself */
  }
  gguf_ctx_deinit(&g);
  return 0;
}
