/* SPDX-License-Identifier: Apache-2.0
 *
 * fuzz/tokenizer_encode/fuzz_tokenizer_encode.c: arbitrary bytes encoded
 * with the real Qwen3 tokenizer (from $GLOAM_FIXTURES, else the source
 * tree's tests/fixtures). Checks: ids in range, the stream of the ids equals
 * their full decode, and for valid UTF-8 in NFC without added-token text,
 * decode(encode(x)) == x.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <utf8proc.h>

#include "gloam/tokenizer.h"

#ifndef GLOAM_FIXTURES_DEFAULT
#define GLOAM_FIXTURES_DEFAULT "tests/fixtures"
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static gloam_tokenizer *tok;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  const char *fx = getenv("GLOAM_FIXTURES");
  char path[4096];
  snprintf(path, sizeof path, "%s/tokenizers/qwen3", fx ? fx : GLOAM_FIXTURES_DEFAULT);
  char err[GLOAM_ERR_LEN];
  if (gloam_tokenizer_load(&tok, path, err) < 0) {
    fprintf(stderr, "fuzz_tokenizer_encode: %s\n", err);
    abort();
  }
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!tok) LLVMFuzzerInitialize(NULL, NULL);
  if (size > 1 << 16) return 0;
  int32_t *ids;
  size_t n;
  unsigned flags = size > 0 && (data[0] & 1) ? GLOAM_TOK_ADD_SPECIAL : 0;
  if (gloam_tokenizer_encode(tok, (const char *)data, size, flags, &ids, &n) < 0) abort();
  size_t vs = gloam_tokenizer_vocab_size(tok);
  for (size_t i = 0; i < n; i++)
    if (ids[i] < 0 || (size_t)ids[i] >= vs) abort();
  char *full;
  size_t fl;
  if (gloam_tokenizer_decode(tok, ids, n, 0, &full, &fl) < 0) abort();
  gloam_tok_stream *s;
  if (gloam_tok_stream_new(tok, 0, &s) < 0) abort();
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
  /* Round trip: valid UTF-8 already in NFC (Qwen3 normalizes to NFC) and
   * free of added-token text ("<") decodes back to itself. */
  if (!memchr(data, '<', size) && !memchr(data, 0, size)) {
    char *z = malloc(size + 1);
    memcpy(z, data, size);
    z[size] = 0;
    utf8proc_uint8_t *nfc = utf8proc_NFC((const utf8proc_uint8_t *)z);
    if (nfc && strcmp((const char *)nfc, z) == 0 && (fl != size || memcmp(full, z, size) != 0))
      abort();
    free(nfc);
    free(z);
  }
  gloam_tok_stream_free(s);
  gloam_tokenizer_buf_free(full);
  gloam_tokenizer_buf_free(ids);
  return 0;
}
