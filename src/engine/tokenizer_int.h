/* SPDX-License-Identifier: Apache-2.0
 *
 * engine/tokenizer_int.h: the loaded form of a Hugging Face tokenizer, shared
 * by the loader (tokenizer_load.c), the pipeline stages (normalize.c,
 * pretok.c, bpe.c) and the public API (tokenizer.c, tokenizer_decode.c).
 *
 * DESIGN: tokenizer.json's nested components (normalizer, pre_tokenizer,
 * decoder; each possibly a Sequence) are flattened at load into arrays of
 * steps applied in order. Everything lives in one arena owned by the
 * gloam_tokenizer, so the handle is immutable after load and shareable
 * between threads; per-call scratch state lives in a tok_ctx on the caller's
 * stack/heap (tokenizer.c).
 *
 * Byte-level models (a ByteLevel pre-tokenizer, as in Qwen3 and Llama 3) keep
 * pieces as raw bytes all the way to BPE: the 256 initial symbols come from
 * byte_ids[], so the GPT-2 byte-to-unicode mapping is only materialised for
 * the ignore_merges whole-word lookup and in the decoder.
 */
#ifndef GLOAM_ENGINE_TOKENIZER_INT_H
#define GLOAM_ENGINE_TOKENIZER_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/arena.h"
#include "gloam/tokenizer.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

/* Limits on untrusted tokenizer files. */
#define TOK_MAX_JSON_BYTES ((size_t)512 << 20)
#define TOK_MAX_CONFIG_BYTES ((size_t)64 << 20)
#define TOK_MAX_VOCAB (1 << 22)
#define TOK_MAX_MERGES (1 << 22)
#define TOK_MAX_ADDED (1 << 16)
#define TOK_MAX_TOKEN_LEN 1024
#define TOK_MAX_STEPS 32
#define TOK_MAX_DEPTH 8
#define TOK_MAX_PATTERN 4096
#define TOK_MAX_TEXT ((size_t)256 << 20)

typedef struct tok_str {
  const char *p; /* NULL for an id with no token */
  uint32_t len;
} tok_str;

/* String -> id open-addressing map over a tok_str array (borrowed). */
typedef struct str_map {
  int32_t *slot; /* id, or -1 when empty */
  size_t mask;
  const tok_str *strs;
} str_map;

/* (left id, right id) -> (rank, merged id). */
/* One 16-byte slot per entry, so a lookup touches one cache line. */
typedef struct merge_slot {
  uint64_t key; /* (left << 32) | right; UINT64_MAX when empty */
  int32_t rank;
  int32_t merged;
} merge_slot;

typedef struct merge_map {
  merge_slot *slot;
  size_t mask;
} merge_map;

/* ---- normalizers ---- */
enum norm_type {
  NORM_NFC,
  NORM_NFD,
  NORM_NFKC,
  NORM_NFKD,
  NORM_LOWERCASE,
  NORM_REPLACE,
  NORM_PREPEND,
  NORM_STRIP,
};

typedef struct norm_step {
  enum norm_type type;
  pcre2_code *re;  /* Replace with a Regex pattern */
  const char *pat; /* Replace with a String pattern */
  size_t pat_len;
  const char *content; /* Replace content / Prepend string */
  size_t content_len;
  bool strip_left, strip_right;
} norm_step;

/* ---- pre-tokenizers ---- */
enum pt_type {
  PT_SPLIT,
  PT_BYTELEVEL, /* prefix space and/or GPT-2 regex; bytes stay raw */
  PT_METASPACE,
  PT_DIGITS,
  PT_WHITESPACE,       /* \w+|[^\w\s]+, rest removed */
  PT_WHITESPACE_SPLIT, /* split on whitespace, removed */
};

enum split_behavior {
  SPLIT_REMOVED,
  SPLIT_ISOLATED,
  SPLIT_MERGED_PREV,
  SPLIT_MERGED_NEXT,
  SPLIT_CONTIGUOUS,
};

enum prepend_scheme { PREPEND_ALWAYS, PREPEND_FIRST, PREPEND_NEVER };

typedef struct pt_step {
  enum pt_type type;
  pcre2_code *re;  /* Split regex / ByteLevel GPT-2 regex / Whitespace */
  const char *lit; /* Split with a String pattern */
  size_t lit_len;
  enum split_behavior behavior;
  bool invert;
  bool add_prefix_space; /* ByteLevel */
  char repl[8];          /* Metaspace replacement (UTF-8) */
  size_t repl_len;
  enum prepend_scheme prepend;
  bool split;      /* Metaspace */
  bool individual; /* Digits */
} pt_step;

/* ---- decoders ---- */
enum dec_type {
  DEC_BYTELEVEL,
  DEC_REPLACE,
  DEC_BYTE_FALLBACK,
  DEC_FUSE,
  DEC_STRIP,
  DEC_METASPACE,
};

typedef struct dec_step {
  enum dec_type type;
  const char *pat; /* Replace (String pattern only) */
  size_t pat_len;
  const char *content;
  size_t content_len;
  char repl[8]; /* Strip content char / Metaspace replacement */
  size_t repl_len;
  int strip_start, strip_stop;
  enum prepend_scheme prepend;
} dec_step;

/* ---- post-processor (TemplateProcessing "single") ---- */
typedef struct post_item {
  bool is_seq;        /* the input sequence ($A) */
  const int32_t *ids; /* special token ids */
  size_t n_ids;
} post_item;

/* ---- added tokens ---- */
typedef struct added_tok {
  int32_t id;
  bool special, lstrip, rstrip, normalized, single_word;
} added_tok;

typedef struct added_set {
  added_tok *toks; /* indexed through map (slot holds index into toks) */
  size_t n;
  tok_str *strs; /* content per index */
  str_map map;   /* content -> index */
  /* For each first byte, the distinct token lengths, longest first. */
  uint16_t *lens[256];
  uint8_t n_lens[256];
} added_set;

struct gloam_tokenizer {
  arena mem; /* everything below */

  /* model (BPE) */
  tok_str *vocab; /* model vocabulary by id (n_ids entries) */
  str_map vocab_map;
  merge_map merges;
  bool ignore_merges, byte_fallback, fuse_unk;
  int32_t unk_id;
  int32_t byte_ids[256];     /* byte-level: id of the mapped char of each byte; -1 */
  int32_t fallback_ids[256]; /* "<0xXX>" ids; -1 */
  int32_t ascii_ids[128];    /* id of each one-byte token; -1 */
  bool byte_level;           /* pieces are raw bytes (ByteLevel pre-tokenizer) */

  /* Word splitting for long words (SentencePiece-style models, where a word
   * is a whole text segment): a word may be cut before a separator character
   * (U+2581, '\n') that follows another character when no vocabulary token
   * spans that point, which leaves BPE's result unchanged (bpe_word_cuts). */
  struct word_sep {
    char s[4];
    uint8_t len;
    const tok_str *exc; /* tokens with the separator after another char */
    size_t n_exc;
  } seps[2];
  int n_seps;

  /* id -> token string for decoding (added tokens override) */
  tok_str *tokens;
  uint8_t *special; /* per id: 1 if an added special token */
  size_t n_ids;

  added_set added_raw;  /* normalized == false */
  added_set added_norm; /* normalized == true */

  norm_step norm[TOK_MAX_STEPS];
  int n_norm;
  pt_step pt[TOK_MAX_STEPS];
  int n_pt;
  dec_step dec[TOK_MAX_STEPS];
  int n_dec;
  post_item post[TOK_MAX_STEPS];
  int n_post;

  /* tokenizer_config.json */
  const char *role_tok[4];
  int32_t role_id[4];
  const char *chat_template;
};

/* ---- construction helpers (tokenizer_load.c), shared with tokenizer_gguf.c ---- */
/* A new, empty tokenizer (unk and role ids -1). */
int tok_new(gloam_tokenizer **out);
/* Allocates the id-indexed arrays (vocab, tokens, special) for n_ids ids. */
int tok_alloc_ids(gloam_tokenizer *t, size_t n_ids);
/* Fills byte_ids and fallback_ids from vocab_map. */
void tok_byte_ids(gloam_tokenizer *t);
/* Builds the added-token sets; each token's content is t->tokens[id]. */
int tok_build_added(gloam_tokenizer *t, const added_tok *toks, size_t n, char *err);
/* Compiles a regex owned by t (freed with it). NULL with err set on error. */
pcre2_code *tok_compile(gloam_tokenizer *t, const char *pat, size_t len, char *err);

/* Sets up seps[] once the whole tokenizer is loaded (bpe.c). */
int tok_prepare_splits(gloam_tokenizer *t);

/* ---- maps (bpe.c) ---- */
uint64_t tok_hash(const void *p, size_t n);
int str_map_build(str_map *m, arena *a, const tok_str *strs, size_t n);
/* Index or -1. */
int32_t str_map_get(const str_map *m, const void *p, size_t n);
int merge_map_init(merge_map *m, arena *a, size_t n);
/* 0, or 1 if the pair already had a merge (the first one is kept). */
int merge_map_put(merge_map *m, int32_t l, int32_t r, int32_t rank, int32_t merged);
static inline bool merge_map_get(const merge_map *m, int32_t l, int32_t r, int32_t *rank,
                                 int32_t *merged) {
  uint64_t k = ((uint64_t)(uint32_t)l << 32) | (uint32_t)r;
  size_t i = (size_t)((k * 0x9E3779B97F4A7C15ull) >> 20) & m->mask;
  for (;;) {
    const merge_slot *sl = &m->slot[i];
    if (sl->key == k) {
      *rank = sl->rank;
      *merged = sl->merged;
      return true;
    }
    if (sl->key == UINT64_MAX) return false;
    i = (i + 1) & m->mask;
  }
}

/* ---- GPT-2 byte <-> unicode mapping (pretok.c) ---- */
/* The code point byte b maps to. */
uint32_t bytelevel_char(uint8_t b);
/* The byte a code point maps back from, or -1. */
int bytelevel_byte(uint32_t cp);

/* ---- UTF-8 helpers (normalize.c) ---- */
/* Length of the valid UTF-8 sequence at p (1..4), or 0 if invalid/truncated. */
size_t tok_utf8_len(const uint8_t *p, size_t n);
/* Decodes one valid sequence (as checked by tok_utf8_len). */
uint32_t tok_utf8_decode(const uint8_t *p, size_t len);
size_t tok_utf8_encode(uint32_t cp, char out[4]);

#endif
