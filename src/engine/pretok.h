/* SPDX-License-Identifier: Apache-2.0
 *
 * engine/pretok.h: pre-tokenizers (Split, ByteLevel, Metaspace, Digits,
 * Whitespace, WhitespaceSplit; Sequence is flattened at load). They cut
 * normalized text into the words BPE encodes, as Hugging Face does.
 *
 * DESIGN: a pt_list holds pieces as (offset, length) into its own text
 * buffer; each step reads one list and writes the next, so steps that
 * rewrite text (Metaspace) and steps that only cut it share one shape.
 * Regexes run through PCRE2 (UTF + UCP, JIT when available) with
 * PCRE2_NO_UTF_CHECK: the encoder validated the text once up front.
 *
 * Ownership: pt_ctx holds per-call scratch (match data, JIT stack, lists);
 * the caller embeds it. Not thread-safe; the tokenizer is only read.
 */
#ifndef GLOAM_ENGINE_PRETOK_H
#define GLOAM_ENGINE_PRETOK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "engine/tokenizer_int.h"

typedef struct pt_piece {
  uint32_t off, len;
  bool at_start; /* starts at offset 0 of the original segment */
} pt_piece;

typedef struct pt_list {
  buf text;
  pt_piece *p;
  size_t n, cap;
} pt_list;

typedef struct pt_span {
  uint32_t a, b;
  bool m;
} pt_span;

typedef struct pt_ctx {
  pcre2_match_data *md;
  pcre2_match_context *mc;
  pcre2_jit_stack *js;
  pt_span *sp;
  size_t n_sp, cap_sp;
  pt_list l[2];
} pt_ctx;

/* Compiles a pattern with UTF + UCP (and JIT when available). err gets the
 * detail on failure. NULL on error. */
pcre2_code *pretok_compile(const char *pat, size_t len, char *err);

/* The GPT-2 pre-tokenizer regex (ByteLevel use_regex). */
extern const char pretok_gpt2_re[];
/* Whitespace pre-tokenizer regex. */
extern const char pretok_ws_re[];

int pt_ctx_init(pt_ctx *c);
void pt_ctx_deinit(pt_ctx *c);
/* Frees list storage grown past keep bytes (a reused ctx after a big call). */
void pt_ctx_trim(pt_ctx *c, size_t keep);

/* Pre-tokenizes p[0..n). at_start: the segment begins the input. OUT:
 * *out points to a list inside c, valid until the next call. Returns 0,
 * GLOAM_ENOMEM or GLOAM_ETOOBIG. */
int pretok_apply(const gloam_tokenizer *t, pt_ctx *c, const uint8_t *p, size_t n, bool at_start,
                 const pt_list **out);

#endif
