/* SPDX-License-Identifier: Apache-2.0
 *
 * engine/tokenizer_gguf.c: builds a gloam_tokenizer from GGUF tokenizer
 * metadata (see tokenizer_gguf.h), producing the same pipeline the model's
 * tokenizer.json would describe.
 *
 * DESIGN: "gpt2" models map onto the byte-level pipeline (Split with the
 * pre-tokenizer's regex, ByteLevel, BPE over the file's merges, ByteLevel
 * decoder), as Qwen's and Llama 3's tokenizer.json do. "llama" models are
 * SentencePiece BPE: without merges, every split of every piece into two
 * pieces of the vocabulary becomes a merge ranked by the merged piece's
 * score (higher first, equal scores share a rank so the leftmost pair wins),
 * which is the order SentencePiece merges in.
 */
#include "engine/tokenizer_gguf.h"

#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "engine/normalize.h"
#include "engine/pretok.h"
#include "engine/tokenizer_int.h"

#define K_MODEL "tokenizer.ggml.model"
#define K_PRE "tokenizer.ggml.pre"
#define K_TOKENS "tokenizer.ggml.tokens"
#define K_TYPES "tokenizer.ggml.token_type"
#define K_MERGES "tokenizer.ggml.merges"
#define K_SCORES "tokenizer.ggml.scores"

enum { TT_NORMAL = 1, TT_UNKNOWN = 2, TT_CONTROL = 3, TT_USER = 4, TT_UNUSED = 5, TT_BYTE = 6 };

static const char re_qwen2[] =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+"
    "[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
static const char re_llama3[] =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+"
    "[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
static const char metaspace[] = "\xE2\x96\x81"; /* U+2581 */

static bool streq(const char *s, size_t n, const char *lit) {
  return n == strlen(lit) && memcmp(s, lit, n) == 0;
}

static int64_t meta_int(const tok_meta *m, const char *key, int64_t dflt) {
  int64_t v;
  return m->i64(m->ctx, key, &v) == 0 ? v : dflt;
}

/* ---- vocabulary ---- */

static int load_tokens(gloam_tokenizer *t, const tok_meta *m, bool byte_level,
                       added_tok **out_added, size_t *out_n_added, char *err) {
  uint64_t n, nt = 0;
  int rc = m->arr_len(m->ctx, K_TOKENS, &n);
  if (rc < 0)
    return err_set(err, rc == GLOAM_ENOENT ? GLOAM_ENOENT : GLOAM_EFORMAT, "no %s", K_TOKENS);
  if (n == 0 || n > (uint64_t)TOK_MAX_VOCAB + TOK_MAX_ADDED)
    return err_set(err, GLOAM_ETOOBIG, "%s: %llu entries", K_TOKENS, (unsigned long long)n);
  bool have_types = m->arr_len(m->ctx, K_TYPES, &nt) == 0;
  if (have_types && nt != n) return err_set(err, GLOAM_EFORMAT, "%s length differs", K_TYPES);
  rc = tok_alloc_ids(t, (size_t)n);
  added_tok *added = mem_calloc((size_t)n + 1, sizeof *added);
  if (rc < 0 || !added) {
    mem_free(added);
    return err_set(err, GLOAM_ENOMEM, "out of memory");
  }
  size_t n_added = 0;
  for (uint64_t i = 0; i < n; i++) {
    const char *s;
    size_t len;
    int64_t type = TT_NORMAL;
    if (m->arr_str(m->ctx, K_TOKENS, i, &s, &len) < 0 ||
        (have_types && m->arr_int(m->ctx, K_TYPES, i, &type) < 0)) {
      rc = err_set(err, GLOAM_EFORMAT, "token %llu: bad entry", (unsigned long long)i);
      goto fail;
    }
    if (len == 0) continue; /* an empty slot: no token */
    if (len > TOK_MAX_TOKEN_LEN) {
      rc = err_set(err, GLOAM_EFORMAT, "token %llu longer than %d bytes", (unsigned long long)i,
                   TOK_MAX_TOKEN_LEN);
      goto fail;
    }
    char *c = arena_strndup(&t->mem, s, len);
    if (!c) {
      rc = err_set(err, GLOAM_ENOMEM, "out of memory");
      goto fail;
    }
    t->tokens[i] = (tok_str){c, (uint32_t)len};
    if (!(byte_level && type == TT_CONTROL)) t->vocab[i] = t->tokens[i];
    /* Added tokens are matched inside text, so they must be valid UTF-8 (a
     * match must never cut a character); an invalid one stays a plain id. */
    if ((type == TT_CONTROL || type == TT_USER) && tok_utf8_valid((const uint8_t *)c, len)) {
      if (n_added >= TOK_MAX_ADDED) {
        rc = err_set(err, GLOAM_ETOOBIG, "over %d added tokens", TOK_MAX_ADDED);
        goto fail;
      }
      added[n_added++] = (added_tok){.id = (int32_t)i, .special = type == TT_CONTROL};
    }
    if (type == TT_UNKNOWN && t->unk_id < 0) t->unk_id = (int32_t)i;
  }
  rc = str_map_build(&t->vocab_map, &t->mem, t->vocab, t->n_ids);
  if (rc < 0) goto fail;
  *out_added = added;
  *out_n_added = n_added;
  return 0;
fail:
  mem_free(added);
  return rc;
}

/* ---- merges ---- */

static int load_merges(gloam_tokenizer *t, const tok_meta *m, uint64_t n, char *err) {
  if (n > TOK_MAX_MERGES) return err_set(err, GLOAM_ETOOBIG, "over %d merges", TOK_MAX_MERGES);
  int rc = merge_map_init(&t->merges, &t->mem, (size_t)n);
  if (rc < 0) return err_set(err, rc, "out of memory");
  char cat[2 * TOK_MAX_TOKEN_LEN];
  for (uint64_t i = 0; i < n; i++) {
    const char *s, *sp;
    size_t len;
    if (m->arr_str(m->ctx, K_MERGES, i, &s, &len) < 0 || !(sp = memchr(s, ' ', len)))
      return err_set(err, GLOAM_EFORMAT, "merge %llu: not \"a b\"", (unsigned long long)i);
    size_t al = (size_t)(sp - s), bl = len - al - 1;
    if (al > TOK_MAX_TOKEN_LEN || bl > TOK_MAX_TOKEN_LEN)
      return err_set(err, GLOAM_EFORMAT, "merge %llu: token too long", (unsigned long long)i);
    memcpy(cat, s, al);
    memcpy(cat + al, sp + 1, bl);
    int32_t ia = str_map_get(&t->vocab_map, s, al), ib = str_map_get(&t->vocab_map, sp + 1, bl);
    int32_t im = str_map_get(&t->vocab_map, cat, al + bl);
    if (ia < 0 || ib < 0 || im < 0)
      return err_set(err, GLOAM_EFORMAT, "merge %llu: token not in the vocabulary",
                     (unsigned long long)i);
    merge_map_put(&t->merges, ia, ib, (int32_t)i, im);
  }
  return 0;
}

typedef struct scored {
  double score;
  int32_t id;
} scored;

static int cmp_scored(const void *a, const void *b) {
  const scored *x = a, *y = b;
  if (x->score != y->score) return x->score > y->score ? -1 : 1;
  return (x->id > y->id) - (x->id < y->id);
}

/* SentencePiece: merges from scores (see the DESIGN note). */
static int merges_from_scores(gloam_tokenizer *t, const tok_meta *m, char *err) {
  uint64_t ns;
  if (m->arr_len(m->ctx, K_SCORES, &ns) < 0 || ns != t->n_ids)
    return err_set(err, GLOAM_EFORMAT, "\"llama\" tokenizer without merges needs %s", K_SCORES);
  scored *order = mem_calloc(t->n_ids + 1, sizeof *order);
  int32_t *rank = mem_calloc(t->n_ids + 1, sizeof *rank);
  int rc = 0;
  if (!order || !rank) {
    rc = err_set(err, GLOAM_ENOMEM, "out of memory");
    goto done;
  }
  size_t n = 0, n_pairs = 0;
  for (size_t i = 0; i < t->n_ids; i++) {
    /* Every piece, whatever its type: SentencePiece (and Hugging Face's
     * conversion of it) merges into user-defined pieces such as "▁▁" too. */
    const tok_str *s = &t->vocab[i];
    if (!s->p || s->len < 2) continue;
    double sc;
    if (m->arr_float(m->ctx, K_SCORES, i, &sc) < 0 || sc != sc) {
      rc = err_set(err, GLOAM_EFORMAT, "score %zu: bad value", i);
      goto done;
    }
    order[n++] = (scored){sc, (int32_t)i};
    n_pairs += s->len - 1;
  }
  if (n_pairs > (size_t)4 * TOK_MAX_MERGES) {
    rc = err_set(err, GLOAM_ETOOBIG, "pieces allow over %d merges", 4 * TOK_MAX_MERGES);
    goto done;
  }
  qsort(order, n, sizeof *order, cmp_scored);
  int32_t r = 0;
  for (size_t k = 0; k < n; k++) {
    if (k > 0 && order[k].score != order[k - 1].score) r++;
    rank[order[k].id] = r;
  }
  rc = merge_map_init(&t->merges, &t->mem, n_pairs);
  if (rc < 0) {
    err_set(err, rc, "out of memory");
    goto done;
  }
  for (size_t k = 0; k < n; k++) {
    const tok_str *s = &t->vocab[order[k].id];
    for (size_t cut = 1; cut < s->len; cut++) {
      if (((uint8_t)s->p[cut] & 0xC0) == 0x80) continue; /* inside a character */
      int32_t a = str_map_get(&t->vocab_map, s->p, cut);
      int32_t b = str_map_get(&t->vocab_map, s->p + cut, s->len - cut);
      if (a >= 0 && b >= 0) merge_map_put(&t->merges, a, b, rank[order[k].id], order[k].id);
    }
  }
done:
  mem_free(order);
  mem_free(rank);
  return rc;
}

/* ---- pipeline ---- */

static int gpt2_pipeline(gloam_tokenizer *t, const tok_meta *m, char *err) {
  const char *pre = "default";
  size_t pl = strlen(pre);
  m->str(m->ctx, K_PRE, &pre, &pl);
  const char *re = NULL;
  if (streq(pre, pl, "qwen2")) {
    re = re_qwen2;
    t->norm[t->n_norm++] = (norm_step){.type = NORM_NFC};
  } else if (streq(pre, pl, "llama-bpe") || streq(pre, pl, "llama3")) {
    re = re_llama3;
    t->ignore_merges = true;
  } else if (!streq(pre, pl, "default") && !streq(pre, pl, "gpt2") && !streq(pre, pl, "gpt-2")) {
    return err_set(err, GLOAM_EUNSUPPORTED, "GGUF pre-tokenizer \"%.*s\"", (int)(pl > 64 ? 64 : pl),
                   pre);
  }
  if (re) {
    pt_step *s = &t->pt[t->n_pt++];
    *s = (pt_step){.type = PT_SPLIT, .behavior = SPLIT_ISOLATED};
    if (!(s->re = tok_compile(t, re, strlen(re), err))) return GLOAM_EINTERNAL;
    t->pt[t->n_pt++] = (pt_step){.type = PT_BYTELEVEL};
  } else {
    pt_step *s = &t->pt[t->n_pt++];
    *s = (pt_step){.type = PT_BYTELEVEL};
    if (!(s->re = tok_compile(t, pretok_gpt2_re, strlen(pretok_gpt2_re), err)))
      return GLOAM_EINTERNAL;
  }
  t->byte_level = true;
  t->dec[t->n_dec++] = (dec_step){.type = DEC_BYTELEVEL};
  return 0;
}

static void spm_pipeline(gloam_tokenizer *t, const tok_meta *m) {
  bool prefix = meta_int(m, "tokenizer.ggml.add_space_prefix", 1) != 0;
  if (prefix)
    t->norm[t->n_norm++] =
        (norm_step){.type = NORM_PREPEND, .content = metaspace, .content_len = 3};
  t->norm[t->n_norm++] = (norm_step){
      .type = NORM_REPLACE, .pat = " ", .pat_len = 1, .content = metaspace, .content_len = 3};
  t->byte_fallback = true;
  t->fuse_unk = true;
  t->dec[t->n_dec++] = (dec_step){
      .type = DEC_REPLACE, .pat = metaspace, .pat_len = 3, .content = " ", .content_len = 1};
  t->dec[t->n_dec++] = (dec_step){.type = DEC_BYTE_FALLBACK};
  t->dec[t->n_dec++] = (dec_step){.type = DEC_FUSE};
  if (prefix)
    t->dec[t->n_dec++] = (dec_step){
        .type = DEC_STRIP, .repl = " ", .repl_len = 1, .strip_start = 1, .strip_stop = 0};
}

/* Special-token roles, BOS/EOS insertion and the chat template. */
static int specials(gloam_tokenizer *t, const tok_meta *m, bool spm, char *err) {
  static const char *keys[4] = {"tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id",
                                "tokenizer.ggml.padding_token_id",
                                "tokenizer.ggml.unknown_token_id"};
  for (int i = 0; i < 4; i++) {
    int64_t id = meta_int(m, keys[i], -1);
    if (id < 0 || (uint64_t)id >= t->n_ids || !t->tokens[id].p) continue;
    t->role_id[i] = (int32_t)id;
    t->role_tok[i] = t->tokens[id].p;
  }
  if (spm && t->unk_id < 0) t->unk_id = t->role_id[GLOAM_TOK_UNK];
  bool add_bos = meta_int(m, "tokenizer.ggml.add_bos_token", spm) != 0;
  bool add_eos = meta_int(m, "tokenizer.ggml.add_eos_token", 0) != 0;
  if (add_bos && t->role_id[GLOAM_TOK_BOS] >= 0)
    t->post[t->n_post++] = (post_item){.ids = &t->role_id[GLOAM_TOK_BOS], .n_ids = 1};
  t->post[t->n_post++] = (post_item){.is_seq = true};
  if (add_eos && t->role_id[GLOAM_TOK_EOS] >= 0)
    t->post[t->n_post++] = (post_item){.ids = &t->role_id[GLOAM_TOK_EOS], .n_ids = 1};
  const char *ct;
  size_t cl;
  if (m->str(m->ctx, "tokenizer.chat_template", &ct, &cl) == 0) {
    if (cl > TOK_MAX_CONFIG_BYTES) return err_set(err, GLOAM_ETOOBIG, "chat template too large");
    if (!(t->chat_template = arena_strndup(&t->mem, ct, cl)))
      return err_set(err, GLOAM_ENOMEM, "out of memory");
  }
  return 0;
}

int tokenizer_from_meta(gloam_tokenizer **out, const tok_meta *m, char *err) {
  char local[GLOAM_ERR_LEN];
  if (!err) err = local;
  err_clear(err);
  if (!out || !m) return err_set(err, GLOAM_EINVAL, "invalid argument");
  *out = NULL;
  const char *model;
  size_t ml;
  int rc = m->str(m->ctx, K_MODEL, &model, &ml);
  if (rc < 0)
    return err_set(err, rc == GLOAM_ENOENT ? GLOAM_ENOENT : GLOAM_EFORMAT, "no %s", K_MODEL);
  bool spm = streq(model, ml, "llama");
  if (!spm && !streq(model, ml, "gpt2"))
    return err_set(err, GLOAM_EUNSUPPORTED, "GGUF tokenizer model \"%.*s\"",
                   (int)(ml > 64 ? 64 : ml), model);
  gloam_tokenizer *t;
  if (tok_new(&t) < 0) return err_set(err, GLOAM_ENOMEM, "out of memory");
  added_tok *added = NULL;
  size_t n_added = 0;
  rc = load_tokens(t, m, !spm, &added, &n_added, err);
  if (rc < 0) goto fail;
  uint64_t nm;
  if (m->arr_len(m->ctx, K_MERGES, &nm) == 0)
    rc = load_merges(t, m, nm, err);
  else if (spm)
    rc = merges_from_scores(t, m, err);
  else
    rc = err_set(err, GLOAM_EFORMAT, "\"gpt2\" tokenizer without %s", K_MERGES);
  if (rc == 0) rc = tok_build_added(t, added, n_added, err);
  if (rc < 0) goto fail;
  tok_byte_ids(t);
  if (spm)
    spm_pipeline(t, m);
  else if ((rc = gpt2_pipeline(t, m, err)) < 0)
    goto fail;
  rc = specials(t, m, spm, err);
  if (rc == 0 && (rc = tok_prepare_splits(t)) < 0) err_set(err, rc, "out of memory");
  if (rc < 0) goto fail;
  mem_free(added);
  *out = t;
  return 0;
fail:
  mem_free(added);
  gloam_tokenizer_free(t);
  if (err[0] == '\0') err_set(err, rc, "%s", gloam_strerror(rc));
  return rc < 0 ? rc : GLOAM_EINTERNAL;
}

/* ---- gguf_ctx adapter ---- */

static int g_str(const void *c, const char *key, const char **s, size_t *n) {
  const gguf_kv *kv = gguf_find(c, key);
  return kv ? gguf_kv_str(kv, s, n) : GLOAM_ENOENT;
}
static int g_i64(const void *c, const char *key, int64_t *v) {
  const gguf_kv *kv = gguf_find(c, key);
  return kv ? gguf_kv_int(kv, v) : GLOAM_ENOENT;
}
static int g_arr_len(const void *c, const char *key, uint64_t *n) {
  const gguf_kv *kv = gguf_find(c, key);
  if (!kv) return GLOAM_ENOENT;
  if (kv->type != GGUF_ARRAY) return GLOAM_EFORMAT;
  *n = kv->n;
  return 0;
}
static int g_arr_str(const void *c, const char *key, uint64_t i, const char **s, size_t *n) {
  const gguf_kv *kv = gguf_find(c, key);
  return kv ? gguf_arr_str(kv, i, s, n) : GLOAM_ENOENT;
}
static int g_arr_int(const void *c, const char *key, uint64_t i, int64_t *v) {
  const gguf_kv *kv = gguf_find(c, key);
  return kv ? gguf_arr_int(kv, i, v) : GLOAM_ENOENT;
}
static int g_arr_float(const void *c, const char *key, uint64_t i, double *v) {
  const gguf_kv *kv = gguf_find(c, key);
  return kv ? gguf_arr_float(kv, i, v) : GLOAM_ENOENT;
}

int tokenizer_from_gguf(gloam_tokenizer **out, const gguf_ctx *g, char *err) {
  tok_meta m = {g, g_str, g_i64, g_arr_len, g_arr_str, g_arr_int, g_arr_float};
  return tokenizer_from_meta(out, &m, err);
}
