/* SPDX-License-Identifier: Apache-2.0
 *
 * engine/tokenizer_load.c: tokenizer.json (+ tokenizer_config.json) to a
 * gloam_tokenizer.
 *
 * DESIGN: the file is untrusted. It is read with a size cap (gunzipped
 * in-process for .gz, with the same cap, so a zip bomb stops early), parsed
 * by jansson (whose parser bounds nesting depth), and every count, id, length
 * and nesting level is checked against the limits in tokenizer_int.h before
 * use. Unknown component types give GLOAM_EUNSUPPORTED naming the type, so a
 * model gloam cannot reproduce exactly is refused rather than mis-tokenized.
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/err.h"
#include "engine/normalize.h"
#include "engine/pretok.h"
#include "engine/tokenizer_int.h"

#define ARENA_MAX ((size_t)4 << 30)

typedef struct loader {
  gloam_tokenizer *t;
  char *err;
} loader;

/* ---- file reading ---- */

static int read_plain(const char *path, size_t max, buf *out, char *err) {
  FILE *f = fopen(path, "rb");
  if (!f) return err_set(err, errno == ENOENT ? GLOAM_ENOENT : GLOAM_EIO, "cannot open %s", path);
  int rc = 0;
  char chunk[65536];
  size_t n = 0;
  while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
    if (out->len + n > max) {
      rc = err_set(err, GLOAM_ETOOBIG, "%s: larger than %zu bytes", path, max);
      goto done;
    }
    rc = buf_append(out, chunk, n);
    if (rc < 0) goto done;
  }
  if (ferror(f)) rc = err_set(err, GLOAM_EIO, "%s: read error", path);
done:
  fclose(f);
  return rc;
}

static int read_gz(const char *path, size_t max, buf *out, char *err) {
  gzFile f = gzopen(path, "rb");
  if (!f) return err_set(err, errno == ENOENT ? GLOAM_ENOENT : GLOAM_EIO, "cannot open %s", path);
  int rc = 0;
  char chunk[65536];
  for (;;) {
    int n = gzread(f, chunk, sizeof chunk);
    if (n < 0) {
      rc = err_set(err, GLOAM_EFORMAT, "%s: corrupt gzip data", path);
      break;
    }
    if (n == 0) break;
    if (out->len + (size_t)n > max) {
      rc = err_set(err, GLOAM_ETOOBIG, "%s: larger than %zu bytes uncompressed", path, max);
      break;
    }
    rc = buf_append(out, chunk, (size_t)n);
    if (rc < 0) break;
  }
  gzclose(f);
  return rc;
}

static bool ends_with(const char *s, const char *suf) {
  size_t a = strlen(s), b = strlen(suf);
  return a >= b && memcmp(s + a - b, suf, b) == 0;
}

static bool file_exists(const char *p) {
  struct stat st;
  return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

/* ---- JSON helpers ---- */

static const char *jstr(const json_t *o, const char *key, size_t *len) {
  const json_t *v = json_object_get(o, key);
  if (!json_is_string(v)) return NULL;
  if (len) *len = json_string_length(v);
  return json_string_value(v);
}

static bool jbool(const json_t *o, const char *key, bool dflt) {
  const json_t *v = json_object_get(o, key);
  return json_is_boolean(v) ? json_is_true(v) : dflt;
}

static const char *lstrdup(loader *L, const char *s, size_t n) {
  return arena_strndup(&L->t->mem, s, n);
}

static void free_re(void *re) {
  pcre2_code_free(re);
}

static int compile_owned(loader *L, const char *pat, size_t len, pcre2_code **out) {
  *out = NULL;
  if (len > TOK_MAX_PATTERN)
    return err_set(L->err, GLOAM_ETOOBIG, "regex longer than %d bytes", TOK_MAX_PATTERN);
  pcre2_code *re = pretok_compile(pat, len, L->err);
  if (!re) return GLOAM_EFORMAT;
  if (arena_on_cleanup(&L->t->mem, free_re, re) < 0) {
    pcre2_code_free(re);
    return err_set(L->err, GLOAM_ENOMEM, "out of memory");
  }
  *out = re;
  return 0;
}

/* A {"String": s} or {"Regex": r} pattern. */
static int parse_pattern(loader *L, const json_t *o, const char **lit, size_t *lit_len,
                         pcre2_code **re) {
  const json_t *pat = json_object_get(o, "pattern");
  size_t n = 0;
  const char *s;
  *lit = NULL;
  *re = NULL;
  if ((s = jstr(pat, "String", &n))) {
    *lit = lstrdup(L, s, n);
    *lit_len = n;
    return *lit ? 0 : err_set(L->err, GLOAM_ENOMEM, "out of memory");
  }
  if ((s = jstr(pat, "Regex", &n))) {
    return compile_owned(L, s, n, re);
  }
  return err_set(L->err, GLOAM_EFORMAT, "pattern must be {\"String\"} or {\"Regex\"}");
}

static int copy_char(loader *L, const char *s, size_t n, char out[8], size_t *out_len,
                     const char *what) {
  if (!s || n == 0 || n > 4 || tok_utf8_len((const uint8_t *)s, n) != n)
    return err_set(L->err, GLOAM_EFORMAT, "%s must be one character", what);
  memcpy(out, s, n);
  *out_len = n;
  return 0;
}

static enum prepend_scheme parse_prepend(const json_t *o) {
  const char *ps = jstr(o, "prepend_scheme", NULL);
  if (ps)
    return strcmp(ps, "first") == 0   ? PREPEND_FIRST
           : strcmp(ps, "never") == 0 ? PREPEND_NEVER
                                      : PREPEND_ALWAYS;
  return jbool(o, "add_prefix_space", true) ? PREPEND_ALWAYS : PREPEND_NEVER;
}

/* ---- normalizers ---- */

static int parse_normalizer(loader *L, const json_t *o, int depth) {
  gloam_tokenizer *t = L->t;
  if (json_is_null(o) || !o) return 0;
  if (depth > TOK_MAX_DEPTH) return err_set(L->err, GLOAM_EFORMAT, "normalizer nested too deep");
  const char *type = jstr(o, "type", NULL);
  if (!type) return err_set(L->err, GLOAM_EFORMAT, "normalizer without a type");
  if (strcmp(type, "Sequence") == 0) {
    const json_t *arr = json_object_get(o, "normalizers");
    if (!json_is_array(arr)) return err_set(L->err, GLOAM_EFORMAT, "Sequence without normalizers");
    for (size_t i = 0; i < json_array_size(arr); i++) {
      int rc = parse_normalizer(L, json_array_get(arr, i), depth + 1);
      if (rc < 0) return rc;
    }
    return 0;
  }
  if (t->n_norm >= TOK_MAX_STEPS) return err_set(L->err, GLOAM_ETOOBIG, "too many normalizers");
  norm_step *s = &t->norm[t->n_norm];
  memset(s, 0, sizeof *s);
  size_t n = 0;
  const char *c;
  if (strcmp(type, "NFC") == 0)
    s->type = NORM_NFC;
  else if (strcmp(type, "NFD") == 0)
    s->type = NORM_NFD;
  else if (strcmp(type, "NFKC") == 0)
    s->type = NORM_NFKC;
  else if (strcmp(type, "NFKD") == 0)
    s->type = NORM_NFKD;
  else if (strcmp(type, "Lowercase") == 0)
    s->type = NORM_LOWERCASE;
  else if (strcmp(type, "Strip") == 0) {
    s->type = NORM_STRIP;
    s->strip_left = jbool(o, "strip_left", false);
    s->strip_right = jbool(o, "strip_right", false);
  } else if (strcmp(type, "Prepend") == 0) {
    s->type = NORM_PREPEND;
    if (!(c = jstr(o, "prepend", &n)))
      return err_set(L->err, GLOAM_EFORMAT, "Prepend without prepend");
    if (!(s->content = lstrdup(L, c, n))) return GLOAM_ENOMEM;
    s->content_len = n;
  } else if (strcmp(type, "Replace") == 0) {
    s->type = NORM_REPLACE;
    int rc = parse_pattern(L, o, &s->pat, &s->pat_len, &s->re);
    if (rc < 0) return rc;
    if (!(c = jstr(o, "content", &n)))
      return err_set(L->err, GLOAM_EFORMAT, "Replace without content");
    if (!(s->content = lstrdup(L, c, n))) return GLOAM_ENOMEM;
    s->content_len = n;
  } else {
    return err_set(L->err, GLOAM_EUNSUPPORTED, "normalizer type %.64s", type);
  }
  t->n_norm++;
  return 0;
}

/* ---- pre-tokenizers ---- */

static int parse_behavior(loader *L, const char *b, enum split_behavior *out) {
  static const char *names[] = {"Removed", "Isolated", "MergedWithPrevious", "MergedWithNext",
                                "Contiguous"};
  for (int i = 0; i < 5; i++)
    if (b && strcmp(b, names[i]) == 0) {
      *out = (enum split_behavior)i;
      return 0;
    }
  return err_set(L->err, GLOAM_EFORMAT, "Split behavior %.64s", b ? b : "(missing)");
}

static int parse_pretok(loader *L, const json_t *o, int depth) {
  gloam_tokenizer *t = L->t;
  if (json_is_null(o) || !o) return 0;
  if (depth > TOK_MAX_DEPTH) return err_set(L->err, GLOAM_EFORMAT, "pre_tokenizer nested too deep");
  const char *type = jstr(o, "type", NULL);
  if (!type) return err_set(L->err, GLOAM_EFORMAT, "pre_tokenizer without a type");
  if (strcmp(type, "Sequence") == 0) {
    const json_t *arr = json_object_get(o, "pretokenizers");
    if (!json_is_array(arr))
      return err_set(L->err, GLOAM_EFORMAT, "Sequence without pretokenizers");
    for (size_t i = 0; i < json_array_size(arr); i++) {
      int rc = parse_pretok(L, json_array_get(arr, i), depth + 1);
      if (rc < 0) return rc;
    }
    return 0;
  }
  if (t->n_pt >= TOK_MAX_STEPS) return err_set(L->err, GLOAM_ETOOBIG, "too many pre-tokenizers");
  pt_step *s = &t->pt[t->n_pt];
  memset(s, 0, sizeof *s);
  int rc = 0;
  if (strcmp(type, "Split") == 0) {
    s->type = PT_SPLIT;
    rc = parse_pattern(L, o, &s->lit, &s->lit_len, &s->re);
    if (rc == 0) rc = parse_behavior(L, jstr(o, "behavior", NULL), &s->behavior);
    s->invert = jbool(o, "invert", false);
  } else if (strcmp(type, "ByteLevel") == 0) {
    s->type = PT_BYTELEVEL;
    s->add_prefix_space = jbool(o, "add_prefix_space", true);
    if (jbool(o, "use_regex", true)) {
      rc = compile_owned(L, pretok_gpt2_re, strlen(pretok_gpt2_re), &s->re);
    }
    t->byte_level = true;
  } else if (strcmp(type, "Metaspace") == 0) {
    s->type = PT_METASPACE;
    size_t n = 0;
    const char *r = jstr(o, "replacement", &n);
    rc = copy_char(L, r, n, s->repl, &s->repl_len, "Metaspace replacement");
    s->prepend = parse_prepend(o);
    s->split = jbool(o, "split", true);
  } else if (strcmp(type, "Digits") == 0) {
    s->type = PT_DIGITS;
    s->individual = jbool(o, "individual_digits", false);
  } else if (strcmp(type, "Whitespace") == 0) {
    s->type = PT_WHITESPACE;
    rc = compile_owned(L, pretok_ws_re, strlen(pretok_ws_re), &s->re);
  } else if (strcmp(type, "WhitespaceSplit") == 0) {
    s->type = PT_WHITESPACE_SPLIT;
  } else {
    return err_set(L->err, GLOAM_EUNSUPPORTED, "pre_tokenizer type %.64s", type);
  }
  if (rc < 0) return rc;
  t->n_pt++;
  return 0;
}

/* ---- decoders ---- */

static int parse_decoder(loader *L, const json_t *o, int depth) {
  gloam_tokenizer *t = L->t;
  if (json_is_null(o) || !o) return 0;
  if (depth > TOK_MAX_DEPTH) return err_set(L->err, GLOAM_EFORMAT, "decoder nested too deep");
  const char *type = jstr(o, "type", NULL);
  if (!type) return err_set(L->err, GLOAM_EFORMAT, "decoder without a type");
  if (strcmp(type, "Sequence") == 0) {
    const json_t *arr = json_object_get(o, "decoders");
    if (!json_is_array(arr)) return err_set(L->err, GLOAM_EFORMAT, "Sequence without decoders");
    for (size_t i = 0; i < json_array_size(arr); i++) {
      int rc = parse_decoder(L, json_array_get(arr, i), depth + 1);
      if (rc < 0) return rc;
    }
    return 0;
  }
  if (t->n_dec >= TOK_MAX_STEPS) return err_set(L->err, GLOAM_ETOOBIG, "too many decoders");
  dec_step *s = &t->dec[t->n_dec];
  memset(s, 0, sizeof *s);
  size_t n = 0;
  const char *c = NULL;
  int rc = 0;
  if (strcmp(type, "ByteLevel") == 0)
    s->type = DEC_BYTELEVEL;
  else if (strcmp(type, "ByteFallback") == 0)
    s->type = DEC_BYTE_FALLBACK;
  else if (strcmp(type, "Fuse") == 0)
    s->type = DEC_FUSE;
  else if (strcmp(type, "Replace") == 0) {
    s->type = DEC_REPLACE;
    pcre2_code *re = NULL;
    rc = parse_pattern(L, o, &s->pat, &s->pat_len, &re);
    if (rc == 0 && re) rc = err_set(L->err, GLOAM_EUNSUPPORTED, "Replace decoder with a Regex");
    if (rc == 0 && !(c = jstr(o, "content", &n)))
      rc = err_set(L->err, GLOAM_EFORMAT, "Replace without content");
    if (rc == 0 && !(s->content = lstrdup(L, c, n))) rc = GLOAM_ENOMEM;
    s->content_len = n;
  } else if (strcmp(type, "Strip") == 0) {
    s->type = DEC_STRIP;
    c = jstr(o, "content", &n);
    rc = copy_char(L, c, n, s->repl, &s->repl_len, "Strip content");
    json_int_t a = json_integer_value(json_object_get(o, "start"));
    json_int_t b = json_integer_value(json_object_get(o, "stop"));
    if (a < 0 || a > 64 || b < 0 || b > 64)
      rc = err_set(L->err, GLOAM_EFORMAT, "Strip start/stop out of range");
    s->strip_start = (int)a;
    s->strip_stop = (int)b;
  } else if (strcmp(type, "Metaspace") == 0) {
    s->type = DEC_METASPACE;
    c = jstr(o, "replacement", &n);
    rc = copy_char(L, c, n, s->repl, &s->repl_len, "Metaspace replacement");
    s->prepend = parse_prepend(o);
  } else {
    return err_set(L->err, GLOAM_EUNSUPPORTED, "decoder type %.64s", type);
  }
  if (rc < 0) return rc;
  t->n_dec++;
  return 0;
}

/* ---- post-processor ---- */

static int parse_template(loader *L, const json_t *o) {
  gloam_tokenizer *t = L->t;
  const json_t *single = json_object_get(o, "single");
  const json_t *specials = json_object_get(o, "special_tokens");
  if (!json_is_array(single)) return err_set(L->err, GLOAM_EFORMAT, "TemplateProcessing single");
  t->n_post = 0;
  for (size_t i = 0; i < json_array_size(single); i++) {
    if (t->n_post >= TOK_MAX_STEPS) return err_set(L->err, GLOAM_ETOOBIG, "template too long");
    const json_t *it = json_array_get(single, i);
    post_item *p = &t->post[t->n_post];
    memset(p, 0, sizeof *p);
    const json_t *st = json_object_get(it, "SpecialToken");
    if (json_is_object(json_object_get(it, "Sequence"))) {
      p->is_seq = true;
    } else if (json_is_object(st)) {
      const char *name = jstr(st, "id", NULL);
      const json_t *ids = json_object_get(json_object_get(specials, name ? name : ""), "ids");
      if (!name || !json_is_array(ids) || json_array_size(ids) > 16)
        return err_set(L->err, GLOAM_EFORMAT, "template special token %.64s",
                       name ? name : "(no id)");
      int32_t *v = arena_alloc(&t->mem, (json_array_size(ids) + 1) * sizeof *v);
      if (!v) return GLOAM_ENOMEM;
      for (size_t k = 0; k < json_array_size(ids); k++) {
        json_int_t id = json_integer_value(json_array_get(ids, k));
        if (!json_is_integer(json_array_get(ids, k)) || id < 0 || (size_t)id >= t->n_ids)
          return err_set(L->err, GLOAM_EFORMAT, "template id out of range");
        v[k] = (int32_t)id;
      }
      p->ids = v;
      p->n_ids = json_array_size(ids);
    } else {
      return err_set(L->err, GLOAM_EFORMAT, "template item");
    }
    t->n_post++;
  }
  return 0;
}

static int parse_post(loader *L, const json_t *o, int depth) {
  if (json_is_null(o) || !o) return 0;
  if (depth > TOK_MAX_DEPTH)
    return err_set(L->err, GLOAM_EFORMAT, "post_processor nested too deep");
  const char *type = jstr(o, "type", NULL);
  if (!type) return err_set(L->err, GLOAM_EFORMAT, "post_processor without a type");
  if (strcmp(type, "ByteLevel") == 0) return 0; /* offsets only */
  if (strcmp(type, "TemplateProcessing") == 0) return parse_template(L, o);
  if (strcmp(type, "Sequence") == 0) {
    const json_t *arr = json_object_get(o, "processors");
    if (!json_is_array(arr)) return err_set(L->err, GLOAM_EFORMAT, "Sequence without processors");
    for (size_t i = 0; i < json_array_size(arr); i++) {
      int rc = parse_post(L, json_array_get(arr, i), depth + 1);
      if (rc < 0) return rc;
    }
    return 0;
  }
  return err_set(L->err, GLOAM_EUNSUPPORTED, "post_processor type %.64s", type);
}

/* ---- helpers shared with tokenizer_gguf.c ---- */

int tok_new(gloam_tokenizer **out) {
  gloam_tokenizer *t = mem_calloc(1, sizeof *t);
  if (!t) return GLOAM_ENOMEM;
  arena_init(&t->mem, (size_t)1 << 20, ARENA_MAX);
  t->unk_id = -1;
  for (int i = 0; i < 4; i++) t->role_id[i] = -1;
  *out = t;
  return 0;
}

int tok_alloc_ids(gloam_tokenizer *t, size_t n_ids) {
  t->n_ids = n_ids;
  t->vocab = arena_zalloc(&t->mem, (n_ids + 1) * sizeof *t->vocab);
  t->tokens = arena_zalloc(&t->mem, (n_ids + 1) * sizeof *t->tokens);
  t->special = arena_zalloc(&t->mem, n_ids + 1);
  return t->vocab && t->tokens && t->special ? 0 : GLOAM_ENOMEM;
}

void tok_byte_ids(gloam_tokenizer *t) {
  for (int b = 0; b < 256; b++) {
    char s[8];
    size_t l = tok_utf8_encode(bytelevel_char((uint8_t)b), s);
    t->byte_ids[b] = str_map_get(&t->vocab_map, s, l);
    snprintf(s, sizeof s, "<0x%02X>", b);
    t->fallback_ids[b] = str_map_get(&t->vocab_map, s, 6);
    if (b < 128) {
      s[0] = (char)b;
      t->ascii_ids[b] = str_map_get(&t->vocab_map, s, 1);
    }
  }
}

pcre2_code *tok_compile(gloam_tokenizer *t, const char *pat, size_t len, char *err) {
  loader L = {t, err};
  pcre2_code *re;
  compile_owned(&L, pat, len, &re);
  return re;
}

/* ---- model ---- */

static int check_token(loader *L, size_t len, const char *what) {
  if (len == 0 || len > TOK_MAX_TOKEN_LEN)
    return err_set(L->err, GLOAM_EFORMAT, "%s: token length %zu outside 1..%d", what, len,
                   TOK_MAX_TOKEN_LEN);
  return 0;
}

static int parse_vocab(loader *L, const json_t *vocab, const json_t *added) {
  gloam_tokenizer *t = L->t;
  if (!json_is_object(vocab)) return err_set(L->err, GLOAM_EFORMAT, "model.vocab is not an object");
  if (json_object_size(vocab) > TOK_MAX_VOCAB)
    return err_set(L->err, GLOAM_ETOOBIG, "vocabulary over %d entries", TOK_MAX_VOCAB);
  if (added && !json_is_array(added)) return err_set(L->err, GLOAM_EFORMAT, "added_tokens");
  if (json_array_size(added) > TOK_MAX_ADDED)
    return err_set(L->err, GLOAM_ETOOBIG, "over %d added tokens", TOK_MAX_ADDED);
  const json_int_t id_max = (json_int_t)TOK_MAX_VOCAB + TOK_MAX_ADDED;
  json_int_t max_id = -1;
  const char *key;
  json_t *v;
  json_object_foreach((json_t *)vocab, key, v) {
    json_int_t id = json_integer_value(v);
    if (!json_is_integer(v) || id < 0 || id >= id_max)
      return err_set(L->err, GLOAM_EFORMAT, "vocab id out of range");
    if (id > max_id) max_id = id;
  }
  for (size_t i = 0; i < json_array_size(added); i++) {
    const json_t *a = json_array_get(added, i);
    json_int_t id = json_integer_value(json_object_get(a, "id"));
    if (!json_is_integer(json_object_get(a, "id")) || id < 0 || id >= id_max ||
        !jstr(a, "content", NULL))
      return err_set(L->err, GLOAM_EFORMAT, "added token %zu: bad id or content", i);
    if (id > max_id) max_id = id;
  }
  int rc = tok_alloc_ids(t, (size_t)(max_id + 1));
  if (rc < 0) return rc;
  json_object_foreach((json_t *)vocab, key, v) {
    size_t n = strlen(key);
    rc = check_token(L, n, "vocab");
    if (rc < 0) return rc;
    size_t id = (size_t)json_integer_value(v);
    if (t->vocab[id].p) return err_set(L->err, GLOAM_EFORMAT, "vocab id %zu used twice", id);
    const char *s = lstrdup(L, key, n);
    if (!s) return GLOAM_ENOMEM;
    t->vocab[id] = (tok_str){s, (uint32_t)n};
    t->tokens[id] = t->vocab[id];
  }
  return str_map_build(&t->vocab_map, &t->mem, t->vocab, t->n_ids);
}

static int parse_merges(loader *L, const json_t *merges) {
  gloam_tokenizer *t = L->t;
  if (merges && !json_is_null(merges) && !json_is_array(merges))
    return err_set(L->err, GLOAM_EFORMAT, "model.merges is not an array");
  size_t nm = json_array_size(merges);
  if (nm > TOK_MAX_MERGES) return err_set(L->err, GLOAM_ETOOBIG, "over %d merges", TOK_MAX_MERGES);
  int rc = merge_map_init(&t->merges, &t->mem, nm);
  if (rc < 0) return rc;
  char cat[2 * TOK_MAX_TOKEN_LEN];
  for (size_t i = 0; i < nm; i++) {
    const json_t *m = json_array_get(merges, i);
    const char *a, *b;
    size_t al, bl;
    if (json_is_string(m)) {
      a = json_string_value(m);
      const char *sp = memchr(a, ' ', json_string_length(m));
      if (!sp) return err_set(L->err, GLOAM_EFORMAT, "merge %zu: no space", i);
      al = (size_t)(sp - a);
      b = sp + 1;
      bl = json_string_length(m) - al - 1;
    } else if (json_is_array(m) && json_array_size(m) == 2 &&
               json_is_string(json_array_get(m, 0)) && json_is_string(json_array_get(m, 1))) {
      a = json_string_value(json_array_get(m, 0));
      al = json_string_length(json_array_get(m, 0));
      b = json_string_value(json_array_get(m, 1));
      bl = json_string_length(json_array_get(m, 1));
    } else {
      return err_set(L->err, GLOAM_EFORMAT, "merge %zu: not \"a b\" or [a, b]", i);
    }
    if (al > TOK_MAX_TOKEN_LEN || bl > TOK_MAX_TOKEN_LEN)
      return err_set(L->err, GLOAM_EFORMAT, "merge %zu: token too long", i);
    memcpy(cat, a, al);
    memcpy(cat + al, b, bl);
    int32_t ia = str_map_get(&t->vocab_map, a, al), ib = str_map_get(&t->vocab_map, b, bl);
    int32_t im = str_map_get(&t->vocab_map, cat, al + bl);
    if (ia < 0 || ib < 0 || im < 0)
      return err_set(L->err, GLOAM_EFORMAT, "merge %zu: token not in the vocabulary", i);
    merge_map_put(&t->merges, ia, ib, (int32_t)i, im);
  }
  return 0;
}

static int build_added_set(gloam_tokenizer *t, added_set *set, char *err) {
  if (set->n == 0) return 0;
  int rc = str_map_build(&set->map, &t->mem, set->strs, set->n);
  if (rc < 0) return rc;
  /* distinct lengths per first byte, longest first */
  for (size_t i = 0; i < set->n; i++) {
    uint8_t b = (uint8_t)set->strs[i].p[0];
    uint16_t len = (uint16_t)set->strs[i].len;
    uint8_t k = set->n_lens[b];
    bool seen = false;
    for (uint8_t j = 0; j < k; j++) seen = seen || set->lens[b][j] == len;
    if (seen) continue;
    if (k == 255) return err_set(err, GLOAM_ETOOBIG, "too many added-token lengths");
    uint16_t *nl = arena_alloc(&t->mem, ((size_t)k + 1) * sizeof *nl);
    if (!nl) return GLOAM_ENOMEM;
    size_t pos = 0;
    while (pos < k && set->lens[b][pos] > len) pos++;
    if (k) memcpy(nl, set->lens[b], pos * sizeof *nl);
    nl[pos] = len;
    if (k > pos) memcpy(nl + pos + 1, set->lens[b] + pos, (k - pos) * sizeof *nl);
    set->lens[b] = nl;
    set->n_lens[b] = (uint8_t)(k + 1);
  }
  return 0;
}

int tok_build_added(gloam_tokenizer *t, const added_tok *toks, size_t n, char *err) {
  added_set *sets[2] = {&t->added_raw, &t->added_norm};
  for (int s = 0; s < 2; s++) {
    sets[s]->toks = arena_zalloc(&t->mem, (n + 1) * sizeof *sets[s]->toks);
    sets[s]->strs = arena_zalloc(&t->mem, (n + 1) * sizeof *sets[s]->strs);
    if (!sets[s]->toks || !sets[s]->strs) return GLOAM_ENOMEM;
  }
  for (size_t i = 0; i < n; i++) {
    const added_tok *tk = &toks[i];
    if (tk->id < 0 || (size_t)tk->id >= t->n_ids || !t->tokens[tk->id].p)
      return err_set(err, GLOAM_EFORMAT, "added token %zu: bad id", i);
    added_set *set = tk->normalized ? &t->added_norm : &t->added_raw;
    set->toks[set->n] = *tk;
    set->strs[set->n] = t->tokens[tk->id];
    set->n++;
    t->special[tk->id] = tk->special;
  }
  int rc = build_added_set(t, &t->added_raw, err);
  if (rc == 0) rc = build_added_set(t, &t->added_norm, err);
  return rc;
}

static int parse_added(loader *L, const json_t *added) {
  gloam_tokenizer *t = L->t;
  size_t n = json_array_size(added);
  added_tok *toks = arena_zalloc(&t->mem, (n + 1) * sizeof *toks);
  if (!toks) return GLOAM_ENOMEM;
  for (size_t i = 0; i < n; i++) {
    const json_t *a = json_array_get(added, i);
    size_t len = 0;
    const char *c = jstr(a, "content", &len);
    int rc = check_token(L, len, "added token");
    if (rc < 0) return rc;
    toks[i] = (added_tok){
        .id = (int32_t)json_integer_value(json_object_get(a, "id")),
        .special = jbool(a, "special", false),
        .lstrip = jbool(a, "lstrip", false),
        .rstrip = jbool(a, "rstrip", false),
        .normalized = jbool(a, "normalized", !jbool(a, "special", false)),
        .single_word = jbool(a, "single_word", false),
    };
    const char *s = lstrdup(L, c, len);
    if (!s) return GLOAM_ENOMEM;
    t->tokens[toks[i].id] = (tok_str){s, (uint32_t)len};
  }
  return tok_build_added(t, toks, n, L->err);
}

static int parse_model(loader *L, const json_t *model, const json_t *added) {
  gloam_tokenizer *t = L->t;
  if (!json_is_object(model)) return err_set(L->err, GLOAM_EFORMAT, "no model object");
  const char *type = jstr(model, "type", NULL);
  if (type && strcmp(type, "BPE") != 0)
    return err_set(L->err, GLOAM_EUNSUPPORTED, "model type %.64s (only BPE)", type);
  const char *pfx = jstr(model, "continuing_subword_prefix", NULL);
  const char *sfx = jstr(model, "end_of_word_suffix", NULL);
  if ((pfx && *pfx) || (sfx && *sfx))
    return err_set(L->err, GLOAM_EUNSUPPORTED, "BPE subword prefix/suffix");
  int rc = parse_vocab(L, json_object_get(model, "vocab"), added);
  if (rc == 0) rc = parse_merges(L, json_object_get(model, "merges"));
  if (rc < 0) return rc;
  t->ignore_merges = jbool(model, "ignore_merges", false);
  t->byte_fallback = jbool(model, "byte_fallback", false);
  t->fuse_unk = jbool(model, "fuse_unk", false);
  size_t n = 0;
  const char *unk = jstr(model, "unk_token", &n);
  t->unk_id = unk ? str_map_get(&t->vocab_map, unk, n) : -1;
  tok_byte_ids(t);
  return 0;
}

/* ---- tokenizer_config.json ---- */

static int32_t lookup_token(const gloam_tokenizer *t, const char *s) {
  size_t n = strlen(s);
  int32_t i = str_map_get(&t->added_raw.map, s, n);
  if (i >= 0) return t->added_raw.toks[i].id;
  i = str_map_get(&t->added_norm.map, s, n);
  if (i >= 0) return t->added_norm.toks[i].id;
  return str_map_get(&t->vocab_map, s, n);
}

static int parse_config(loader *L, const json_t *cfg) {
  gloam_tokenizer *t = L->t;
  static const char *keys[4] = {"bos_token", "eos_token", "pad_token", "unk_token"};
  for (int i = 0; i < 4; i++) {
    t->role_id[i] = -1;
    const json_t *v = json_object_get(cfg, keys[i]);
    if (json_is_object(v)) v = json_object_get(v, "content");
    if (!json_is_string(v) || json_string_length(v) == 0) continue;
    if (json_string_length(v) > TOK_MAX_TOKEN_LEN)
      return err_set(L->err, GLOAM_EFORMAT, "%s too long", keys[i]);
    t->role_tok[i] = lstrdup(L, json_string_value(v), json_string_length(v));
    if (!t->role_tok[i]) return GLOAM_ENOMEM;
    t->role_id[i] = lookup_token(t, t->role_tok[i]);
  }
  const json_t *ct = json_object_get(cfg, "chat_template");
  if (json_is_array(ct)) {
    const json_t *pick = NULL;
    for (size_t i = 0; i < json_array_size(ct); i++) {
      const json_t *e = json_array_get(ct, i);
      const char *name = jstr(e, "name", NULL);
      if (!pick || (name && strcmp(name, "default") == 0)) pick = e;
    }
    ct = json_object_get(pick, "template");
  }
  if (json_is_string(ct)) {
    t->chat_template = lstrdup(L, json_string_value(ct), json_string_length(ct));
    if (!t->chat_template) return GLOAM_ENOMEM;
  }
  return 0;
}

/* ---- entry points ---- */

static int load_json(gloam_tokenizer *t, const void *data, size_t len, const void *cfg,
                     size_t cfg_len, char *err) {
  loader L = {t, err};
  json_error_t je;
  json_t *root = NULL, *croot = NULL;
  int rc = 0;
  if (len > TOK_MAX_JSON_BYTES)
    return err_set(err, GLOAM_ETOOBIG, "tokenizer.json over %zu bytes", TOK_MAX_JSON_BYTES);
  root = json_loadb(data, len, 0, &je);
  if (!json_is_object(root)) {
    rc = err_set(err, GLOAM_EFORMAT, "tokenizer.json: %s (line %d)",
                 root ? "not an object" : je.text, je.line);
    goto done;
  }
  const json_t *added = json_object_get(root, "added_tokens");
  rc = parse_model(&L, json_object_get(root, "model"), json_is_array(added) ? added : NULL);
  if (rc == 0 && json_is_array(added)) rc = parse_added(&L, added);
  if (rc == 0) rc = parse_normalizer(&L, json_object_get(root, "normalizer"), 0);
  if (rc == 0) rc = parse_pretok(&L, json_object_get(root, "pre_tokenizer"), 0);
  if (rc == 0) rc = parse_decoder(&L, json_object_get(root, "decoder"), 0);
  if (rc == 0) rc = parse_post(&L, json_object_get(root, "post_processor"), 0);
  if (rc == 0)
    for (int i = 0; i + 1 < t->n_pt; i++)
      if (t->pt[i].type == PT_BYTELEVEL)
        rc = err_set(err, GLOAM_EUNSUPPORTED, "ByteLevel must be the last pre-tokenizer");
  if (rc == 0) rc = tok_prepare_splits(t);
  if (rc < 0) goto done;
  for (int i = 0; i < 4; i++) t->role_id[i] = -1;
  if (cfg) {
    if (cfg_len > TOK_MAX_CONFIG_BYTES) {
      rc = err_set(err, GLOAM_ETOOBIG, "tokenizer_config.json too large");
      goto done;
    }
    /* Integers as reals: configs hold values such as model_max_length = 1e30. */
    croot = json_loadb(cfg, cfg_len, JSON_DECODE_INT_AS_REAL, &je);
    if (!json_is_object(croot)) {
      rc = err_set(err, GLOAM_EFORMAT, "tokenizer_config.json: %s (line %d)",
                   croot ? "not an object" : je.text, je.line);
      goto done;
    }
    rc = parse_config(&L, croot);
  }
done:
  if (rc < 0 && err[0] == '\0') err_set(err, rc, "%s", gloam_strerror(rc));
  json_decref(root);
  json_decref(croot);
  return rc;
}

GLOAM_API int gloam_tokenizer_load_mem(gloam_tokenizer **out, const void *json, size_t json_len,
                                       const void *config, size_t config_len, char *err) {
  char local[GLOAM_ERR_LEN];
  if (!err) err = local;
  err_clear(err);
  if (!out || (!json && json_len)) return err_set(err, GLOAM_EINVAL, "invalid argument");
  *out = NULL;
  gloam_tokenizer *t;
  if (tok_new(&t) < 0) return err_set(err, GLOAM_ENOMEM, "out of memory");
  int rc = load_json(t, json ? json : "", json_len, config, config_len, err);
  if (rc < 0) {
    gloam_tokenizer_free(t);
    return rc;
  }
  *out = t;
  return 0;
}

GLOAM_API int gloam_tokenizer_load(gloam_tokenizer **out, const char *path, char *err) {
  char local[GLOAM_ERR_LEN];
  if (!err) err = local;
  err_clear(err);
  if (!out || !path) return err_set(err, GLOAM_EINVAL, "invalid argument");
  *out = NULL;
  buf json, cfg, name;
  buf_init(&json, TOK_MAX_JSON_BYTES);
  buf_init(&cfg, TOK_MAX_CONFIG_BYTES);
  buf_init(&name, 8192);
  int rc = 0;
  struct stat st;
  if (stat(path, &st) != 0) {
    rc = err_set(err, GLOAM_ENOENT, "%s: not found", path);
    goto done;
  }
  const char *cfg_dir_end; /* directory part for tokenizer_config.json */
  if (S_ISDIR(st.st_mode)) {
    rc = buf_printf(&name, "%s/tokenizer.json", path);
    if (rc == 0 && !file_exists(buf_cstr(&name))) rc = buf_append(&name, ".gz", 3);
  } else {
    rc = buf_append_str(&name, path);
  }
  if (rc < 0) goto done;
  if (ends_with(buf_cstr(&name), ".gz"))
    rc = read_gz(buf_cstr(&name), TOK_MAX_JSON_BYTES, &json, err);
  else
    rc = read_plain(buf_cstr(&name), TOK_MAX_JSON_BYTES, &json, err);
  if (rc < 0) goto done;
  /* tokenizer_config.json beside it */
  cfg_dir_end = strrchr(buf_cstr(&name), '/');
  {
    buf cname;
    buf_init(&cname, 8192);
    if (cfg_dir_end)
      rc = buf_printf(&cname, "%.*s/tokenizer_config.json", (int)(cfg_dir_end - buf_cstr(&name)),
                      buf_cstr(&name));
    else
      rc = buf_append_str(&cname, "tokenizer_config.json");
    if (rc == 0 && file_exists(buf_cstr(&cname)))
      rc = read_plain(buf_cstr(&cname), TOK_MAX_CONFIG_BYTES, &cfg, err);
    buf_deinit(&cname);
    if (rc < 0) goto done;
  }
  rc = gloam_tokenizer_load_mem(out, json.data, json.len, cfg.data, cfg.len, err);
done:
  buf_deinit(&json);
  buf_deinit(&cfg);
  buf_deinit(&name);
  return rc;
}

GLOAM_API void gloam_tokenizer_free(gloam_tokenizer *tok) {
  if (!tok) return;
  arena_deinit(&tok->mem);
  mem_free(tok);
}
