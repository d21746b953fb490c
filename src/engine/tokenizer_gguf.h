/* SPDX-License-Identifier: Apache-2.0
 *
 * engine/tokenizer_gguf.h: a tokenizer built from GGUF metadata
 * (tokenizer.ggml.*), so GGUF models run without tokenizer.json.
 *
 *   gloam_tokenizer *tok;
 *   if (tokenizer_from_model_files(&tok, mf, err) < 0) ...   // a .gguf model
 *   ... gloam_tokenizer_encode(tok, ...); gloam_tokenizer_free(tok);
 *
 * Supported: tokenizer.ggml.model "gpt2" (byte-level BPE with .merges;
 * .pre "qwen2", "llama-bpe"/"llama3", "gpt2"/"default") and "llama"
 * (SentencePiece-style BPE with byte fallback: .merges when present, else
 * merges derived from .scores as SentencePiece ranks them, the merged
 * piece's score first). .token_type 3 (control) and 4 (user-defined) become
 * added tokens (special and not); .bos/.eos/.padding/.unknown_token_id,
 * .add_bos_token, .add_eos_token, .add_space_prefix and
 * tokenizer.chat_template are honoured. Other models or pre-tokenizers give
 * GLOAM_EUNSUPPORTED. Every count, id and length is checked against the
 * limits in tokenizer_int.h: the metadata is untrusted.
 *
 * Ownership: the tokenizer copies what it needs; the source may be closed
 * afterwards. Free it with gloam_tokenizer_free(). Thread-safe like any
 * loaded tokenizer.
 */
#ifndef GLOAM_ENGINE_TOKENIZER_GGUF_H
#define GLOAM_ENGINE_TOKENIZER_GGUF_H

#include <stddef.h>
#include <stdint.h>

#include "engine/gguf.h"
#include "engine/model_files.h"
#include "gloam/tokenizer.h"

/* Metadata lookups, so one builder serves model_files and a bare gguf_ctx.
 * Each returns 0, GLOAM_ENOENT (absent), GLOAM_EFORMAT (wrong type) or
 * GLOAM_ERANGE (index past the end); strings are not NUL-terminated. */
typedef struct tok_meta {
  const void *ctx;
  int (*str)(const void *ctx, const char *key, const char **s, size_t *n);
  int (*i64)(const void *ctx, const char *key, int64_t *v);
  int (*arr_len)(const void *ctx, const char *key, uint64_t *n);
  int (*arr_str)(const void *ctx, const char *key, uint64_t i, const char **s, size_t *n);
  int (*arr_int)(const void *ctx, const char *key, uint64_t i, int64_t *v);
  int (*arr_float)(const void *ctx, const char *key, uint64_t i, double *v);
} tok_meta;

/* OUT: *out. err: GLOAM_ERR_LEN bytes (may be NULL). Returns 0,
 * GLOAM_ENOENT (no tokenizer metadata), GLOAM_EFORMAT, GLOAM_ETOOBIG,
 * GLOAM_EUNSUPPORTED, GLOAM_ENOMEM. */
int tokenizer_from_meta(gloam_tokenizer **out, const tok_meta *m, char *err);
int tokenizer_from_gguf(gloam_tokenizer **out, const gguf_ctx *g, char *err);
/* tokenizer_gguf_mf.c: for a model opened with model_files_open(). */
int tokenizer_from_model_files(gloam_tokenizer **out, const model_files *mf, char *err);

#endif
