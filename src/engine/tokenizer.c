/* SPDX-License-Identifier: Apache-2.0
 *
 * engine/tokenizer.c: encoding and the accessors of the public tokenizer API
 * (include/gloam/tokenizer.h).
 *
 * DESIGN: encode follows tokenizers' TokenizerImpl::encode: added tokens
 * whose "normalized" is false are cut out of the raw text first (leftmost,
 * longest match; lstrip/rstrip absorb neighbouring whitespace; single_word
 * requires non-word neighbours); each remaining segment is normalized, cut
 * again by the normalized added tokens, pre-tokenized, and every piece is
 * BPE-encoded through a per-call cache; the post-processor runs last.
 * All scratch state is per call, so a tokenizer is shared between threads
 * without locks.
 */
#include <string.h>
#include <utf8proc.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "engine/bpe.h"
#include "engine/normalize.h"
#include "engine/pretok.h"
#include "engine/tokenizer_int.h"

/* Scratch kept for large inputs is released after a call above this size. */
#define ENC_KEEP_BYTES ((size_t)1 << 20)

typedef struct enc_ctx {
  const gloam_tokenizer *t;
  unsigned flags; /* of the current call */
  buf clean, norm, norm_tmp;
  pt_ctx pt;
  bpe_scratch bs;
  bpe_cache cache; /* kept across calls by a gloam_tok_encoder */
  id_vec out;
} enc_ctx;

struct gloam_tok_encoder {
  enc_ctx c;
};

/* ---- added-token matching ---- */

static uint32_t cp_at(const uint8_t *p, size_t n) {
  size_t l = tok_utf8_len(p, n);
  return l ? tok_utf8_decode(p, l) : 0xFFFD;
}

/* Start of the character that ends at p[i] (i > 0). */
static size_t prev_char(const uint8_t *p, size_t i) {
  size_t k = i - 1;
  while (k > 0 && (p[k] & 0xC0) == 0x80) k--;
  return k;
}

/* Rust's char::is_alphanumeric, as tokenizers' single_word check uses it
 * (letters and numbers; utf8proc categories). */
static bool is_word_cp(uint32_t cp) {
  if (cp < 0x80)
    return (cp >= '0' && cp <= '9') || (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z');
  utf8proc_category_t c = utf8proc_category((utf8proc_int32_t)cp);
  return (c >= UTF8PROC_CATEGORY_LU && c <= UTF8PROC_CATEGORY_LO) ||
         (c >= UTF8PROC_CATEGORY_ND && c <= UTF8PROC_CATEGORY_NO);
}

/* Leftmost-longest added token in p[from..n). Returns its index in set, or
 * -1; *ms..*me is the span it consumes (after lstrip/rstrip). skip_special:
 * special tokens are not matched (GLOAM_TOK_SPLIT_SPECIAL, tokenizers'
 * encode_special_tokens); other added tokens still are. */
static int32_t find_added(const added_set *set, const uint8_t *p, size_t n, size_t from,
                          bool skip_special, size_t *ms, size_t *me) {
  if (set->n == 0) return -1;
  for (size_t i = from; i < n; i++) {
    uint8_t k = set->n_lens[p[i]];
    for (uint8_t j = 0; j < k; j++) {
      size_t len = set->lens[p[i]][j];
      if (len > n - i) continue;
      int32_t idx = str_map_get(&set->map, p + i, len);
      if (idx < 0) continue;
      const added_tok *tk = &set->toks[idx];
      if (skip_special && tk->special) continue;
      if (tk->single_word) {
        if (i > 0 && is_word_cp(cp_at(p + prev_char(p, i), i - prev_char(p, i)))) continue;
        if (i + len < n && is_word_cp(cp_at(p + i + len, n - i - len))) continue;
      }
      size_t a = i, b = i + len;
      if (tk->lstrip)
        while (a > from) {
          size_t q = prev_char(p, a);
          if (!tok_is_space(cp_at(p + q, a - q))) break;
          a = q;
        }
      if (tk->rstrip)
        while (b < n) {
          size_t l = tok_utf8_len(p + b, n - b);
          if (l == 0 || !tok_is_space(tok_utf8_decode(p + b, l))) break;
          b += l;
        }
      *ms = a;
      *me = b;
      return idx;
    }
  }
  return -1;
}

/* ---- encoding ---- */

static int encode_words(enc_ctx *c, const uint8_t *p, size_t n, bool at_start) {
  const pt_list *pl;
  int rc = pretok_apply(c->t, &c->pt, p, n, at_start, &pl);
  for (size_t i = 0; rc == 0 && i < pl->n; i++) {
    const uint8_t *w = pl->text.data + pl->p[i].off;
    size_t wl = pl->p[i].len;
    if (c->t->n_seps == 0) {
      rc = bpe_encode_cached(c->t, &c->bs, &c->cache, w, wl, &c->out);
      continue;
    }
    while (rc == 0 && wl > 0) { /* long SentencePiece words: cut where BPE cannot merge */
      size_t k = bpe_next_cut(c->t, w, wl);
      rc = bpe_encode_cached(c->t, &c->bs, &c->cache, w, k, &c->out);
      w += k;
      wl -= k;
    }
  }
  return rc;
}

static int encode_segment(enc_ctx *c, const uint8_t *p, size_t n, bool at_start) {
  const gloam_tokenizer *t = c->t;
  if (n == 0) return 0;
  if (t->n_norm == 0) return encode_words(c, p, n, at_start);
  int rc = normalize_apply(t, p, n, &c->norm, &c->norm_tmp);
  if (rc < 0) return rc;
  const uint8_t *q = c->norm.data;
  size_t m = c->norm.len;
  if (t->added_norm.n == 0) return encode_words(c, q, m, at_start);
  bool split = (c->flags & GLOAM_TOK_SPLIT_SPECIAL) != 0;
  /* Normalized added tokens are matched on the normalized text (encode_words
   * does not touch c->norm, so q stays valid). */
  size_t pos = 0, ms, me;
  while (pos <= m) {
    int32_t idx = find_added(&t->added_norm, q, m, pos, split, &ms, &me);
    size_t end = idx >= 0 ? ms : m;
    rc = encode_words(c, q + pos, end - pos, at_start && pos == 0);
    if (rc < 0) return rc;
    if (idx < 0) break;
    rc = id_vec_push(&c->out, t->added_norm.toks[idx].id);
    if (rc < 0) return rc;
    pos = me;
  }
  return 0;
}

static int encode_text(enc_ctx *c, const uint8_t *p, size_t n) {
  const gloam_tokenizer *t = c->t;
  if (t->added_raw.n == 0) return encode_segment(c, p, n, true);
  bool split = (c->flags & GLOAM_TOK_SPLIT_SPECIAL) != 0;
  size_t pos = 0, ms, me;
  while (pos <= n) {
    int32_t idx = find_added(&t->added_raw, p, n, pos, split, &ms, &me);
    size_t end = idx >= 0 ? ms : n;
    int rc = encode_segment(c, p + pos, end - pos, pos == 0);
    if (rc < 0) return rc;
    if (idx < 0) break;
    rc = id_vec_push(&c->out, t->added_raw.toks[idx].id);
    if (rc < 0) return rc;
    pos = me;
  }
  return 0;
}

static int post_process(enc_ctx *c) {
  const gloam_tokenizer *t = c->t;
  if (!(c->flags & GLOAM_TOK_ADD_SPECIAL) || t->n_post == 0) return 0;
  id_vec fin;
  id_vec_init(&fin, c->out.max);
  int rc = 0;
  for (int i = 0; rc == 0 && i < t->n_post; i++)
    rc = t->post[i].is_seq ? id_vec_append(&fin, c->out.v, c->out.n)
                           : id_vec_append(&fin, t->post[i].ids, t->post[i].n_ids);
  if (rc < 0) {
    id_vec_deinit(&fin);
    return rc;
  }
  id_vec_deinit(&c->out);
  c->out = fin;
  return 0;
}

static void enc_bufs_init(enc_ctx *c) {
  buf_init(&c->clean, TOK_MAX_TEXT * 4);
  buf_init(&c->norm, TOK_MAX_TEXT * 8);
  buf_init(&c->norm_tmp, TOK_MAX_TEXT * 8);
}

static void enc_bufs_deinit(enc_ctx *c) {
  buf_deinit(&c->clean);
  buf_deinit(&c->norm);
  buf_deinit(&c->norm_tmp);
}

GLOAM_API int gloam_tok_encoder_new(const gloam_tokenizer *tok, gloam_tok_encoder **out) {
  if (!tok || !out) return GLOAM_EINVAL;
  *out = NULL;
  gloam_tok_encoder *e = mem_calloc(1, sizeof *e);
  if (!e) return GLOAM_ENOMEM;
  e->c.t = tok;
  enc_bufs_init(&e->c);
  bpe_cache_init(&e->c.cache);
  int rc = pt_ctx_init(&e->c.pt);
  if (rc < 0) {
    gloam_tok_encoder_free(e);
    return rc;
  }
  *out = e;
  return 0;
}

GLOAM_API void gloam_tok_encoder_free(gloam_tok_encoder *e) {
  if (!e) return;
  enc_bufs_deinit(&e->c);
  pt_ctx_deinit(&e->c.pt);
  bpe_scratch_deinit(&e->c.bs);
  bpe_cache_deinit(&e->c.cache);
  id_vec_deinit(&e->c.out);
  mem_free(e);
}

GLOAM_API int gloam_tok_encoder_encode(gloam_tok_encoder *e, const char *text, size_t len,
                                       unsigned flags, int32_t **out_ids, size_t *out_n) {
  if (!e || !out_ids || !out_n || (!text && len)) return GLOAM_EINVAL;
  *out_ids = NULL;
  *out_n = 0;
  if (len > TOK_MAX_TEXT) return GLOAM_ETOOBIG;
  enc_ctx *c = &e->c;
  c->flags = flags;
  id_vec_init(&c->out, TOK_MAX_TEXT * 8 + 1024);
  const uint8_t *p = (const uint8_t *)(text ? text : "");
  int rc = 0;
  if (!tok_utf8_valid(p, len)) {
    rc = tok_utf8_sanitize(p, len, &c->clean);
    p = c->clean.data;
    len = c->clean.len;
  }
  if (rc == 0) rc = encode_text(c, p, len);
  if (rc == 0) rc = post_process(c);
  if (rc == 0) {
    *out_ids = c->out.v;
    *out_n = c->out.n;
    c->out.v = NULL;
  }
  id_vec_deinit(&c->out);
  if (c->clean.cap > ENC_KEEP_BYTES || c->norm.cap > ENC_KEEP_BYTES ||
      c->norm_tmp.cap > ENC_KEEP_BYTES) {
    enc_bufs_deinit(c);
    enc_bufs_init(c);
  }
  pt_ctx_trim(&c->pt, ENC_KEEP_BYTES);
  return rc;
}

GLOAM_API int gloam_tokenizer_encode(const gloam_tokenizer *tok, const char *text, size_t len,
                                     unsigned flags, int32_t **out_ids, size_t *out_n) {
  if (!tok || !out_ids || !out_n || (!text && len)) return GLOAM_EINVAL;
  *out_ids = NULL;
  *out_n = 0;
  gloam_tok_encoder *e;
  int rc = gloam_tok_encoder_new(tok, &e);
  if (rc < 0) return rc;
  rc = gloam_tok_encoder_encode(e, text, len, flags, out_ids, out_n);
  gloam_tok_encoder_free(e);
  return rc;
}

GLOAM_API void gloam_tokenizer_buf_free(void *p) {
  mem_free(p);
}

/* ---- accessors ---- */

GLOAM_API size_t gloam_tokenizer_vocab_size(const gloam_tokenizer *tok) {
  return tok ? tok->n_ids : 0;
}

GLOAM_API const char *gloam_tokenizer_id_to_token(const gloam_tokenizer *tok, int32_t id) {
  if (!tok || id < 0 || (size_t)id >= tok->n_ids) return NULL;
  return tok->tokens[id].p;
}

GLOAM_API int32_t gloam_tokenizer_token_to_id(const gloam_tokenizer *tok, const char *token) {
  if (!tok || !token) return -1;
  size_t n = strlen(token);
  int32_t i = str_map_get(&tok->added_raw.map, token, n);
  if (i >= 0) return tok->added_raw.toks[i].id;
  i = str_map_get(&tok->added_norm.map, token, n);
  if (i >= 0) return tok->added_norm.toks[i].id;
  return str_map_get(&tok->vocab_map, token, n);
}

GLOAM_API bool gloam_tokenizer_is_special(const gloam_tokenizer *tok, int32_t id) {
  return tok && id >= 0 && (size_t)id < tok->n_ids && tok->special[id];
}

GLOAM_API const char *gloam_tokenizer_role_token(const gloam_tokenizer *tok,
                                                 enum gloam_tok_role role) {
  if (!tok || (unsigned)role > GLOAM_TOK_UNK) return NULL;
  return tok->role_tok[role];
}

GLOAM_API int32_t gloam_tokenizer_role_id(const gloam_tokenizer *tok, enum gloam_tok_role role) {
  if (!tok || (unsigned)role > GLOAM_TOK_UNK) return -1;
  return tok->role_id[role];
}

GLOAM_API const char *gloam_tokenizer_chat_template(const gloam_tokenizer *tok) {
  return tok ? tok->chat_template : NULL;
}
