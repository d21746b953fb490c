/* SPDX-License-Identifier: Apache-2.0
 *
 * engine/pretok.c: pre-tokenizer steps (see pretok.h) and the GPT-2
 * byte <-> unicode table.
 *
 * DESIGN: every splitting step first turns a piece into spans (match or
 * gap, covering the piece), then merges them by the step's behavior exactly
 * as tokenizers' NormalizedString::split does (Removed, Isolated,
 * MergedWithPrevious, MergedWithNext, Contiguous), dropping empty pieces.
 */
#include "engine/pretok.h"

#include <string.h>
#include <utf8proc.h>

#include "core/alloc.h"
#include "core/err.h"
#include "engine/normalize.h"

const char pretok_gpt2_re[] =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";
const char pretok_ws_re[] = "\\w+|[^\\w\\s]+";

/* ---- GPT-2 byte-level mapping ---- */

static bool bl_direct(uint32_t b) {
  return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
}

uint32_t bytelevel_char(uint8_t b) {
  if (bl_direct(b)) return b;
  if (b <= 0x20) return 256u + b;
  if (b <= 0xA0) return 256u + 33u + (b - 0x7Fu);
  return 256u + 67u; /* 0xAD */
}

int bytelevel_byte(uint32_t cp) {
  if (cp < 256) return bl_direct(cp) ? (int)cp : -1;
  if (cp < 256 + 33) return (int)(cp - 256);
  if (cp < 256 + 67) return (int)(cp - 256 - 33 + 0x7F);
  if (cp == 256 + 67) return 0xAD;
  return -1;
}

/* ---- regex ---- */

pcre2_code *pretok_compile(const char *pat, size_t len, char *err) {
  int ec;
  PCRE2_SIZE eo;
  pcre2_code *re = pcre2_compile((PCRE2_SPTR)pat, len, PCRE2_UTF | PCRE2_UCP | PCRE2_NO_UTF_CHECK,
                                 &ec, &eo, NULL);
  if (!re) {
    PCRE2_UCHAR msg[128];
    pcre2_get_error_message(ec, msg, sizeof msg);
    err_set(err, GLOAM_EFORMAT, "regex at offset %zu: %s", (size_t)eo, (const char *)msg);
    return NULL;
  }
  (void)pcre2_jit_compile(re, PCRE2_JIT_COMPLETE); /* interpreter if JIT is unavailable */
  return re;
}

int pt_ctx_init(pt_ctx *c) {
  memset(c, 0, sizeof *c);
  c->md = pcre2_match_data_create(1, NULL);
  c->mc = pcre2_match_context_create(NULL);
  if (!c->md || !c->mc) {
    pt_ctx_deinit(c);
    return GLOAM_ENOMEM;
  }
  pcre2_set_depth_limit(c->mc, 100000);
  pcre2_set_match_limit(c->mc, 10000000);
  for (int i = 0; i < 2; i++) buf_init(&c->l[i].text, TOK_MAX_TEXT * 2);
  return 0;
}

void pt_ctx_deinit(pt_ctx *c) {
  pcre2_match_data_free(c->md);
  pcre2_match_context_free(c->mc);
  pcre2_jit_stack_free(c->js);
  mem_free(c->sp);
  for (int i = 0; i < 2; i++) {
    buf_deinit(&c->l[i].text);
    mem_free(c->l[i].p);
  }
  memset(c, 0, sizeof *c);
}

void pt_ctx_trim(pt_ctx *c, size_t keep) {
  for (int i = 0; i < 2; i++) {
    pt_list *l = &c->l[i];
    if (l->text.cap > keep || l->cap * sizeof *l->p > keep) {
      buf_deinit(&l->text);
      buf_init(&l->text, TOK_MAX_TEXT * 2);
      mem_free(l->p);
      l->p = NULL;
      l->n = l->cap = 0;
    }
  }
  if (c->cap_sp * sizeof *c->sp > keep) {
    mem_free(c->sp);
    c->sp = NULL;
    c->n_sp = c->cap_sp = 0;
  }
}

/* ---- lists and spans ---- */

static void list_reset(pt_list *l) {
  buf_reset(&l->text);
  l->n = 0;
}

static int list_add(pt_list *l, const void *p, size_t n, bool at_start) {
  if (n == 0) return 0;
  if (l->n == l->cap) {
    size_t cap = l->cap ? l->cap * 2 : 256;
    pt_piece *np = mem_reallocarray(l->p, cap, sizeof *np);
    if (!np) return GLOAM_ENOMEM;
    l->p = np;
    l->cap = cap;
  }
  size_t off = l->text.len;
  int rc = buf_append(&l->text, p, n);
  if (rc < 0) return rc;
  l->p[l->n++] = (pt_piece){(uint32_t)off, (uint32_t)n, at_start};
  return 0;
}

static int span_add(pt_ctx *c, size_t a, size_t b, bool m) {
  if (c->n_sp == c->cap_sp) {
    size_t cap = c->cap_sp ? c->cap_sp * 2 : 256;
    pt_span *ns = mem_reallocarray(c->sp, cap, sizeof *ns);
    if (!ns) return GLOAM_ENOMEM;
    c->sp = ns;
    c->cap_sp = cap;
  }
  c->sp[c->n_sp++] = (pt_span){(uint32_t)a, (uint32_t)b, m};
  return 0;
}

/* Matches of re over p as spans with gaps (tokenizers' find_matches). */
static int spans_regex(pt_ctx *c, const pcre2_code *re, const uint8_t *p, size_t n) {
  size_t prev = 0, pos = 0;
  while (pos < n) {
    int m = pcre2_match(re, p, n, pos, PCRE2_NO_UTF_CHECK, c->md, c->mc);
    if (m == PCRE2_ERROR_JIT_STACKLIMIT && !c->js) {
      /* JIT's default 32 KiB stack was not enough: give it up to 4 MiB. */
      c->js = pcre2_jit_stack_create(32 * 1024, 4 * 1024 * 1024, NULL);
      if (!c->js) return GLOAM_ENOMEM;
      pcre2_jit_stack_assign(c->mc, NULL, c->js);
      continue;
    }
    if (m < 0) break; /* no match, or a resource limit: the rest is a gap */
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(c->md);
    size_t a = ov[0], b = ov[1];
    if (a < prev || b < a || b > n) break;
    int rc = 0;
    if (a > prev) rc = span_add(c, prev, a, false);
    if (rc == 0) rc = span_add(c, a, b, true);
    if (rc < 0) return rc;
    prev = b;
    if (b == a) {
      size_t l = tok_utf8_len(p + b, n - b);
      pos = b + (l ? l : 1);
    } else {
      pos = b;
    }
  }
  if (prev < n) return span_add(c, prev, n, false);
  return 0;
}

static int spans_literal(pt_ctx *c, const char *lit, size_t ll, const uint8_t *p, size_t n) {
  size_t prev = 0;
  if (ll > 0) {
    for (size_t i = 0; i + ll <= n;) {
      if (p[i] == (uint8_t)lit[0] && memcmp(p + i, lit, ll) == 0) {
        int rc = 0;
        if (i > prev) rc = span_add(c, prev, i, false);
        if (rc == 0) rc = span_add(c, i, i + ll, true);
        if (rc < 0) return rc;
        i += ll;
        prev = i;
      } else {
        i++;
      }
    }
  }
  if (prev < n) return span_add(c, prev, n, false);
  return 0;
}

static bool is_numeric(uint32_t cp) {
  utf8proc_category_t k = utf8proc_category((utf8proc_int32_t)cp);
  return k == UTF8PROC_CATEGORY_ND || k == UTF8PROC_CATEGORY_NL || k == UTF8PROC_CATEGORY_NO;
}

/* One span per character satisfying fn, gaps between. */
static int spans_charfn(pt_ctx *c, bool (*fn)(uint32_t), const uint8_t *p, size_t n) {
  size_t prev = 0;
  for (size_t i = 0; i < n;) {
    size_t l = tok_utf8_len(p + i, n - i);
    if (l == 0) l = 1;
    if (fn(tok_utf8_decode(p + i, l))) {
      int rc = 0;
      if (i > prev) rc = span_add(c, prev, i, false);
      if (rc == 0) rc = span_add(c, i, i + l, true);
      if (rc < 0) return rc;
      prev = i + l;
    }
    i += l;
  }
  if (prev < n) return span_add(c, prev, n, false);
  return 0;
}

/* Merges spans by behavior and appends the resulting pieces to out. */
static int emit_spans(pt_ctx *c, enum split_behavior bh, bool invert, const uint8_t *p,
                      bool at_start, pt_list *out) {
  size_t k = 0; /* merged spans, in place */
  bool prev_m = false;
  if (invert)
    for (size_t i = 0; i < c->n_sp; i++) c->sp[i].m = !c->sp[i].m;
  if (bh == SPLIT_MERGED_NEXT) {
    /* Walk backwards, then restore order. */
    for (size_t ii = c->n_sp; ii-- > 0;) {
      pt_span s = c->sp[ii];
      if (s.m && !prev_m && k > 0) {
        c->sp[c->n_sp - k].a = s.a;
      } else {
        c->sp[c->n_sp - 1 - k] = (pt_span){s.a, s.b, false};
        k++;
      }
      prev_m = s.m;
    }
    memmove(c->sp, c->sp + c->n_sp - k, k * sizeof *c->sp);
  } else {
    for (size_t i = 0; i < c->n_sp; i++) {
      pt_span s = c->sp[i];
      switch (bh) {
        case SPLIT_REMOVED:
          if (!s.m) c->sp[k++] = s;
          break;
        case SPLIT_ISOLATED:
          c->sp[k++] = s;
          break;
        case SPLIT_MERGED_PREV:
          if (s.m && !prev_m && k > 0)
            c->sp[k - 1].b = s.b;
          else
            c->sp[k++] = s;
          break;
        case SPLIT_CONTIGUOUS:
          if (s.m == prev_m && k > 0)
            c->sp[k - 1].b = s.b;
          else
            c->sp[k++] = s;
          break;
        case SPLIT_MERGED_NEXT:
          break;
      }
      prev_m = s.m;
    }
  }
  for (size_t i = 0; i < k; i++) {
    int rc = list_add(out, p + c->sp[i].a, c->sp[i].b - c->sp[i].a, at_start && c->sp[i].a == 0);
    if (rc < 0) return rc;
  }
  c->n_sp = 0;
  return 0;
}

static bool is_space_fn(uint32_t cp) {
  return tok_is_space(cp);
}

static int metaspace(const pt_step *st, pt_ctx *c, const uint8_t *p, size_t n, bool at_start,
                     pt_list *out, buf *tmp) {
  buf_reset(tmp);
  bool starts = n >= st->repl_len && memcmp(p, st->repl, st->repl_len) == 0;
  if (n > 0 && p[0] == ' ') starts = true; /* the leading space becomes the replacement */
  int rc = 0;
  if (!starts && (st->prepend == PREPEND_ALWAYS || (st->prepend == PREPEND_FIRST && at_start)))
    rc = buf_append(tmp, st->repl, st->repl_len);
  for (size_t i = 0; rc == 0 && i < n; i++)
    rc = p[i] == ' ' ? buf_append(tmp, st->repl, st->repl_len) : buf_putc(tmp, p[i]);
  if (rc < 0) return rc;
  if (!st->split) return list_add(out, tmp->data, tmp->len, at_start);
  rc = spans_literal(c, st->repl, st->repl_len, tmp->data, tmp->len);
  if (rc == 0) rc = emit_spans(c, SPLIT_MERGED_NEXT, false, tmp->data, at_start, out);
  return rc;
}

static int apply_step(const gloam_tokenizer *t, const pt_step *st, pt_ctx *c, const pt_list *in,
                      pt_list *out, buf *tmp) {
  (void)t;
  list_reset(out);
  for (size_t i = 0; i < in->n; i++) {
    const uint8_t *p = in->text.data + in->p[i].off;
    size_t n = in->p[i].len;
    bool at_start = in->p[i].at_start;
    int rc = 0;
    c->n_sp = 0;
    switch (st->type) {
      case PT_SPLIT:
        rc = st->re ? spans_regex(c, st->re, p, n) : spans_literal(c, st->lit, st->lit_len, p, n);
        if (rc == 0) rc = emit_spans(c, st->behavior, st->invert, p, at_start, out);
        break;
      case PT_BYTELEVEL:
        if (st->add_prefix_space && (n == 0 || p[0] != ' ')) {
          buf_reset(tmp);
          rc = buf_putc(tmp, ' ');
          if (rc == 0) rc = buf_append(tmp, p, n);
          if (rc < 0) return rc;
          p = tmp->data;
          n = tmp->len;
        }
        if (st->re) {
          rc = spans_regex(c, st->re, p, n);
          if (rc == 0) rc = emit_spans(c, SPLIT_ISOLATED, false, p, at_start, out);
        } else {
          rc = list_add(out, p, n, at_start);
        }
        break;
      case PT_METASPACE:
        rc = metaspace(st, c, p, n, at_start, out, tmp);
        break;
      case PT_DIGITS:
        rc = spans_charfn(c, is_numeric, p, n);
        if (rc == 0)
          rc = emit_spans(c, st->individual ? SPLIT_ISOLATED : SPLIT_CONTIGUOUS, false, p, at_start,
                          out);
        break;
      case PT_WHITESPACE:
        rc = spans_regex(c, st->re, p, n);
        if (rc == 0) rc = emit_spans(c, SPLIT_REMOVED, true, p, at_start, out);
        break;
      case PT_WHITESPACE_SPLIT:
        rc = spans_charfn(c, is_space_fn, p, n);
        if (rc == 0) rc = emit_spans(c, SPLIT_REMOVED, false, p, at_start, out);
        break;
    }
    if (rc < 0) return rc;
  }
  return 0;
}

int pretok_apply(const gloam_tokenizer *t, pt_ctx *c, const uint8_t *p, size_t n, bool at_start,
                 const pt_list **out) {
  pt_list *cur = &c->l[0], *nxt = &c->l[1];
  list_reset(cur);
  int rc = list_add(cur, p, n, at_start);
  buf tmp;
  buf_init(&tmp, TOK_MAX_TEXT * 2);
  for (int i = 0; rc == 0 && i < t->n_pt; i++) {
    if (t->pt[i].type == PT_BYTELEVEL && !t->pt[i].add_prefix_space && !t->pt[i].re) continue;
    rc = apply_step(t, &t->pt[i], c, cur, nxt, &tmp);
    pt_list *sw = cur;
    cur = nxt;
    nxt = sw;
  }
  buf_deinit(&tmp);
  *out = cur;
  return rc;
}
