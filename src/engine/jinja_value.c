/* SPDX-License-Identifier: Apache-2.0
 *
 * engine/jinja_value.c: containers, comparisons and Python-style text
 * conversions (str/repr) of template values, plus the UTF-8 helpers the
 * string operations use. See jinja_value.h.
 */
#include "engine/jinja_value.h"

#include "engine/jinja_ast.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "gloam/err.h"

/* ---- UTF-8 ---- */

uint32_t jutf8_decode(const char *p, size_t n, size_t *len) {
  const unsigned char *s = (const unsigned char *)p;
  uint32_t c = s[0];
  size_t k = 1;
  if (c >= 0xF0 && n >= 4) {
    c = ((c & 0x07u) << 18) | ((s[1] & 0x3Fu) << 12) | ((s[2] & 0x3Fu) << 6) | (s[3] & 0x3Fu);
    k = 4;
  } else if (c >= 0xE0 && n >= 3) {
    c = ((c & 0x0Fu) << 12) | ((s[1] & 0x3Fu) << 6) | (s[2] & 0x3Fu);
    k = 3;
  } else if (c >= 0xC0 && n >= 2) {
    c = ((c & 0x1Fu) << 6) | (s[1] & 0x3Fu);
    k = 2;
  }
  *len = k;
  return c;
}

size_t jutf8_encode(uint32_t cp, char *out) {
  unsigned char *o = (unsigned char *)out;
  if (cp < 0x80) {
    o[0] = (unsigned char)cp;
    return 1;
  }
  if (cp < 0x800) {
    o[0] = (unsigned char)(0xC0 | (cp >> 6));
    o[1] = (unsigned char)(0x80 | (cp & 0x3F));
    return 2;
  }
  if (cp < 0x10000) {
    o[0] = (unsigned char)(0xE0 | (cp >> 12));
    o[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    o[2] = (unsigned char)(0x80 | (cp & 0x3F));
    return 3;
  }
  o[0] = (unsigned char)(0xF0 | (cp >> 18));
  o[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
  o[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
  o[3] = (unsigned char)(0x80 | (cp & 0x3F));
  return 4;
}

size_t jutf8_count(const char *p, size_t n) {
  size_t c = 0;
  for (size_t i = 0; i < n; i++)
    if (((unsigned char)p[i] & 0xC0) != 0x80) c++;
  return c;
}

size_t jutf8_offset(const char *p, size_t n, size_t idx) {
  size_t c = 0;
  for (size_t i = 0; i < n; i++) {
    if (((unsigned char)p[i] & 0xC0) != 0x80) {
      if (c == idx) return i;
      c++;
    }
  }
  return n;
}

bool jutf8_valid(const char *p, size_t n) {
  const unsigned char *s = (const unsigned char *)p;
  size_t i = 0;
  while (i < n) {
    unsigned char c = s[i];
    size_t k;
    uint32_t cp, min;
    if (c < 0x80) {
      i++;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      k = 2, cp = c & 0x1Fu, min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
      k = 3, cp = c & 0x0Fu, min = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
      k = 4, cp = c & 0x07u, min = 0x10000;
    } else {
      return false;
    }
    if (n - i < k) return false;
    for (size_t j = 1; j < k; j++) {
      if ((s[i + j] & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (s[i + j] & 0x3Fu);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += k;
  }
  return true;
}

/* ---- containers ---- */

jlist *jlist_new(arena *a, size_t n) {
  if (n > (SIZE_MAX - sizeof(jlist)) / sizeof(jv)) return NULL;
  jlist *l = arena_alloc(a, sizeof(jlist) + n * sizeof(jv));
  if (!l) return NULL;
  l->n = n;
  l->tuple = false;
  l->range = false;
  return l;
}

jdict *jdict_new(arena *a, size_t cap) {
  jdict *d = arena_zalloc(a, sizeof(jdict));
  if (!d) return NULL;
  if (cap) {
    if (cap > SIZE_MAX / sizeof(jdict_ent)) return NULL;
    d->ents = arena_alloc(a, cap * sizeof(jdict_ent));
    if (!d->ents) return NULL;
    d->cap = cap;
  }
  return d;
}

static uint64_t jv_hash(jv k) {
  uint64_t h = 1469598103934665603ull;
  if (k.t == JV_STR) {
    for (size_t i = 0; i < k.u.s.n; i++) h = (h ^ (unsigned char)k.u.s.p[i]) * 1099511628211ull;
    return h;
  }
  if (k.t == JV_INT || k.t == JV_BOOL)
    return (uint64_t)(k.t == JV_INT ? k.u.i : k.u.b) * 0x9E3779B97F4A7C15ull;
  if (k.t == JV_FLOAT && k.u.f == floor(k.u.f) && fabs(k.u.f) < 9e18)
    return (uint64_t)(int64_t)k.u.f * 0x9E3779B97F4A7C15ull;
  return (uint64_t)k.t;
}

static const jv *index_find(const jdict *d, jv key, size_t *slot_out) {
  size_t mask = d->index_cap - 1;
  size_t s = (size_t)jv_hash(key) & mask;
  for (;;) {
    uint32_t e = d->index[s];
    if (e == 0) {
      if (slot_out) *slot_out = s;
      return NULL;
    }
    if (jv_eq(d->ents[e - 1].key, key)) {
      if (slot_out) *slot_out = s;
      return &d->ents[e - 1].val;
    }
    s = (s + 1) & mask;
  }
}

int jdict_seal(arena *a, jdict *d) {
  if (d->index || d->n <= 8 || d->n > UINT32_MAX / 4) return 0;
  size_t cap = 16;
  while (cap < d->n * 2) cap *= 2;
  uint32_t *idx = arena_zalloc(a, cap * sizeof(uint32_t));
  if (!idx) return GLOAM_ENOMEM;
  d->index = idx;
  d->index_cap = cap;
  for (size_t i = 0; i < d->n; i++) {
    size_t s;
    if (!index_find(d, d->ents[i].key, &s)) d->index[s] = (uint32_t)(i + 1);
  }
  return 0;
}

const jv *jdict_get(const jdict *d, jv key) {
  if (d->index) return index_find(d, key, NULL);
  for (size_t i = 0; i < d->n; i++)
    if (jv_eq(d->ents[i].key, key)) return &d->ents[i].val;
  return NULL;
}

const jv *jdict_get_str(const jdict *d, const char *key, size_t n) {
  return jdict_get(d, jv_str(key, n));
}

/* Adds an entry, growing the array; keeps an existing index up to date. */
static int dict_add(arena *a, jdict *d, jv key, jv val) {
  if (d->n == d->cap) {
    size_t nc = d->cap ? d->cap * 2 : 4;
    jdict_ent *ne = arena_alloc(a, nc * sizeof(jdict_ent));
    if (!ne) return GLOAM_ENOMEM;
    if (d->n) memcpy(ne, d->ents, d->n * sizeof(jdict_ent));
    d->ents = ne;
    d->cap = nc;
  }
  d->ents[d->n].key = key;
  d->ents[d->n].val = val;
  d->n++;
  if (!d->index) return d->n > 16 ? jdict_seal(a, d) : 0;
  if (d->n * 2 > d->index_cap) {
    d->index = NULL;
    return jdict_seal(a, d);
  }
  size_t slot;
  index_find(d, key, &slot);
  d->index[slot] = (uint32_t)d->n;
  return 0;
}

int jdict_put(arena *a, jdict *d, jv key, jv val) {
  jv *existing = (jv *)jdict_get(d, key);
  if (existing) {
    *existing = val;
    return 0;
  }
  return dict_add(a, d, key, val);
}

int jdict_append(arena *a, jdict *d, jv key, jv val) {
  return dict_add(a, d, key, val);
}

/* ---- semantics ---- */

bool jv_truthy(jv v) {
  switch (v.t) {
    case JV_UNDEF:
    case JV_NONE:
      return false;
    case JV_BOOL:
      return v.u.b;
    case JV_INT:
      return v.u.i != 0;
    case JV_FLOAT:
      return v.u.f != 0.0;
    case JV_STR:
      return v.u.s.n != 0;
    case JV_LIST:
      return v.u.l->n != 0;
    case JV_DICT:
      return v.u.d->n != 0;
    default:
      return true;
  }
}

static double num_val(jv v) {
  return v.t == JV_FLOAT ? v.u.f : (double)(v.t == JV_INT ? v.u.i : (int64_t)v.u.b);
}

bool jv_eq(jv a, jv b) {
  if (jv_is_num(a) && jv_is_num(b)) {
    if (a.t != JV_FLOAT && b.t != JV_FLOAT) {
      int64_t x = a.t == JV_INT ? a.u.i : a.u.b, y = b.t == JV_INT ? b.u.i : b.u.b;
      return x == y;
    }
    return num_val(a) == num_val(b);
  }
  if (a.t != b.t) return false;
  switch (a.t) {
    case JV_UNDEF:
    case JV_NONE:
      return true;
    case JV_STR:
      return a.u.s.n == b.u.s.n && memcmp(a.u.s.p, b.u.s.p, a.u.s.n) == 0;
    case JV_LIST:
      if (a.u.l->n != b.u.l->n) return false;
      for (size_t i = 0; i < a.u.l->n; i++)
        if (!jv_eq(a.u.l->items[i], b.u.l->items[i])) return false;
      return true;
    case JV_DICT:
      if (a.u.d->n != b.u.d->n) return false;
      for (size_t i = 0; i < a.u.d->n; i++) {
        const jv *o = jdict_get(b.u.d, a.u.d->ents[i].key);
        if (!o || !jv_eq(a.u.d->ents[i].val, *o)) return false;
      }
      return true;
    case JV_NS:
      return a.u.d == b.u.d;
    case JV_MACRO:
      return a.u.m == b.u.m;
    case JV_FUNC:
      return a.u.fn == b.u.fn;
    case JV_LOOP:
      return a.u.loop == b.u.loop;
    default:
      return false;
  }
}

bool jv_lt(jv a, jv b, bool *ok) {
  *ok = true;
  if (jv_is_num(a) && jv_is_num(b)) {
    if (a.t == JV_INT && b.t == JV_INT) return a.u.i < b.u.i;
    return num_val(a) < num_val(b);
  }
  if (a.t == JV_STR && b.t == JV_STR) {
    size_t n = a.u.s.n < b.u.s.n ? a.u.s.n : b.u.s.n;
    int c = memcmp(a.u.s.p, b.u.s.p, n); /* UTF-8 byte order == code point order */
    return c < 0 || (c == 0 && a.u.s.n < b.u.s.n);
  }
  if (a.t == JV_LIST && b.t == JV_LIST) {
    size_t n = a.u.l->n < b.u.l->n ? a.u.l->n : b.u.l->n;
    for (size_t i = 0; i < n; i++) {
      if (jv_eq(a.u.l->items[i], b.u.l->items[i])) continue;
      return jv_lt(a.u.l->items[i], b.u.l->items[i], ok);
    }
    return a.u.l->n < b.u.l->n;
  }
  *ok = false;
  return false;
}

int64_t jv_len(jv v) {
  switch (v.t) {
    case JV_STR:
      return (int64_t)jutf8_count(v.u.s.p, v.u.s.n);
    case JV_LIST:
      return (int64_t)v.u.l->n;
    case JV_DICT:
    case JV_NS:
      return (int64_t)v.u.d->n;
    case JV_UNDEF:
      return 0;
    default:
      return -1;
  }
}

const char *jv_type_name(jv v) {
  static const char *names[] = {"undefined", "NoneType", "bool",     "int",
                                "float",     "str",      "list",     "dict",
                                "Namespace", "macro",    "function", "LoopContext"};
  if (v.t == JV_LIST && v.u.l->tuple) return "tuple";
  return v.t < sizeof names / sizeof names[0] ? names[v.t] : "?";
}

/* ---- text ---- */

void jv_float_repr(double d, char *out, size_t cap) {
  if (isnan(d)) {
    snprintf(out, cap, "nan");
    return;
  }
  if (isinf(d)) {
    snprintf(out, cap, d < 0 ? "-inf" : "inf");
    return;
  }
  char tmp[40];
  int prec;
  for (prec = 1; prec <= 17; prec++) {
    snprintf(tmp, sizeof tmp, "%.*e", prec - 1, d);
    if (strtod(tmp, NULL) == d) break;
  }
  /* tmp = [-]D[.DDD]e[+-]XX: collect digits and the decimal exponent */
  char digits[24];
  size_t nd = 0;
  const char *p = tmp;
  bool neg = false;
  if (*p == '-') neg = true, p++;
  for (; *p && *p != 'e'; p++)
    if (*p >= '0' && *p <= '9' && nd < sizeof digits - 1) digits[nd++] = *p;
  digits[nd] = '\0';
  long ex = strtol(p + 1, NULL, 10);
  while (nd > 1 && digits[nd - 1] == '0') digits[--nd] = '\0';
  size_t o = 0;
#define PUT(c) \
  if (o + 1 < cap) out[o++] = (c)
  if (neg) PUT('-');
  if (ex < -4 || ex >= 16) {
    PUT(digits[0]);
    if (nd > 1) {
      PUT('.');
      for (size_t i = 1; i < nd; i++) PUT(digits[i]);
    }
    PUT('e');
    PUT(ex < 0 ? '-' : '+');
    long ax = ex < 0 ? -ex : ex;
    char eb[24];
    snprintf(eb, sizeof eb, "%02ld", ax);
    for (char *q = eb; *q; q++) PUT(*q);
  } else if (ex < 0) {
    PUT('0');
    PUT('.');
    for (long i = -1; i > ex; i--) PUT('0');
    for (size_t i = 0; i < nd; i++) PUT(digits[i]);
  } else {
    for (long i = 0; i <= ex; i++) PUT((size_t)i < nd ? digits[i] : '0');
    PUT('.');
    if ((size_t)ex + 1 < nd) {
      for (size_t i = (size_t)ex + 1; i < nd; i++) PUT(digits[i]);
    } else {
      PUT('0');
    }
  }
#undef PUT
  out[o < cap ? o : cap - 1] = '\0';
}

static bool py_printable(uint32_t cp) {
  if (cp == ' ') return true;
  if (cp < 0x20 || cp == 0x7F) return false;
  if (cp < 0x7F) return true;
  utf8proc_category_t c = utf8proc_category((utf8proc_int32_t)cp);
  switch (c) {
    case UTF8PROC_CATEGORY_CC:
    case UTF8PROC_CATEGORY_CF:
    case UTF8PROC_CATEGORY_CS:
    case UTF8PROC_CATEGORY_CO:
    case UTF8PROC_CATEGORY_CN:
    case UTF8PROC_CATEGORY_ZL:
    case UTF8PROC_CATEGORY_ZP:
    case UTF8PROC_CATEGORY_ZS:
      return false;
    default:
      return true;
  }
}

static int write_str_repr(buf *out, const char *p, size_t n) {
  bool has_sq = memchr(p, '\'', n) != NULL, has_dq = memchr(p, '"', n) != NULL;
  char q = (has_sq && !has_dq) ? '"' : '\'';
  int rc = buf_putc(out, (uint8_t)q);
  for (size_t i = 0; i < n && rc == 0;) {
    size_t k;
    uint32_t cp = jutf8_decode(p + i, n - i, &k);
    if (cp == (uint32_t)q || cp == '\\') {
      rc = buf_putc(out, '\\');
      if (rc == 0) rc = buf_putc(out, (uint8_t)cp);
    } else if (cp == '\n') {
      rc = buf_append(out, "\\n", 2);
    } else if (cp == '\r') {
      rc = buf_append(out, "\\r", 2);
    } else if (cp == '\t') {
      rc = buf_append(out, "\\t", 2);
    } else if (!py_printable(cp)) {
      if (cp < 0x100)
        rc = buf_printf(out, "\\x%02x", cp);
      else if (cp < 0x10000)
        rc = buf_printf(out, "\\u%04x", cp);
      else
        rc = buf_printf(out, "\\U%08x", cp);
    } else {
      rc = buf_append(out, p + i, k);
    }
    i += k;
  }
  if (rc == 0) rc = buf_putc(out, (uint8_t)q);
  return rc;
}

static int write_repr_d(buf *out, jv v, unsigned depth);

static int write_str_d(buf *out, jv v, unsigned depth);

int jv_write_repr(buf *out, jv v) {
  return write_repr_d(out, v, 0);
}
int jv_write_str(buf *out, jv v) {
  return write_str_d(out, v, 0);
}

/* Cycles are possible through namespaces (ns.x = [ns]); the depth bound
 * turns them into an error instead of a stack overflow. */
static int write_repr_d(buf *out, jv v, unsigned depth) {
  int rc = 0;
  if (depth > 256) return GLOAM_ETOOBIG;
  switch (v.t) {
    case JV_STR:
      return write_str_repr(out, v.u.s.p, v.u.s.n);
    case JV_LIST: {
      const jlist *l = v.u.l;
      if (l->range && l->r_step == 1)
        return buf_printf(out, "range(%" PRId64 ", %" PRId64 ")", l->r_start, l->r_stop);
      if (l->range)
        return buf_printf(out, "range(%" PRId64 ", %" PRId64 ", %" PRId64 ")", l->r_start,
                          l->r_stop, l->r_step);
      rc = buf_putc(out, l->tuple ? '(' : '[');
      for (size_t i = 0; i < l->n && rc == 0; i++) {
        if (i) rc = buf_append(out, ", ", 2);
        if (rc == 0) rc = write_repr_d(out, l->items[i], depth + 1);
      }
      if (rc == 0 && l->tuple && l->n == 1) rc = buf_putc(out, ',');
      if (rc == 0) rc = buf_putc(out, l->tuple ? ')' : ']');
      return rc;
    }
    case JV_DICT:
    case JV_NS: {
      const jdict *d = v.u.d;
      if (v.t == JV_NS) rc = buf_append_str(out, "<Namespace ");
      if (rc == 0) rc = buf_putc(out, '{');
      for (size_t i = 0; i < d->n && rc == 0; i++) {
        if (i) rc = buf_append(out, ", ", 2);
        if (rc == 0) rc = write_repr_d(out, d->ents[i].key, depth + 1);
        if (rc == 0) rc = buf_append(out, ": ", 2);
        if (rc == 0) rc = write_repr_d(out, d->ents[i].val, depth + 1);
      }
      if (rc == 0) rc = buf_putc(out, '}');
      if (rc == 0 && v.t == JV_NS) rc = buf_putc(out, '>');
      return rc;
    }
    case JV_UNDEF:
      return buf_append_str(out, "Undefined"); /* repr() of Jinja's Undefined */
    case JV_MACRO:
      return buf_printf(out, "<Macro '%.*s'>",
                        (int)(v.u.m->node->len > 256 ? 256 : v.u.m->node->len), v.u.m->node->str);
    default:
      return write_str_d(out, v, depth);
  }
}

static int write_str_d(buf *out, jv v, unsigned depth) {
  char tmp[48];
  switch (v.t) {
    case JV_UNDEF:
      return 0;
    case JV_NONE:
      return buf_append(out, "None", 4);
    case JV_BOOL:
      return buf_append_str(out, v.u.b ? "True" : "False");
    case JV_INT:
      return buf_printf(out, "%" PRId64, v.u.i);
    case JV_FLOAT:
      jv_float_repr(v.u.f, tmp, sizeof tmp);
      return buf_append_str(out, tmp);
    case JV_STR:
      return buf_append(out, v.u.s.p, v.u.s.n);
    case JV_LIST:
    case JV_DICT:
    case JV_NS:
      return write_repr_d(out, v, depth);
    case JV_MACRO:
      return write_repr_d(out, v, depth);
    case JV_FUNC:
      return buf_append_str(out, "<built-in function>");
    case JV_LOOP:
      return buf_append_str(out, "<LoopContext>");
    default:
      return 0;
  }
}

int jv_to_str(arena *a, jv v, size_t max, jv *out) {
  if (v.t == JV_STR) {
    *out = v;
    return 0;
  }
  buf b;
  buf_init(&b, max);
  int rc = jv_write_str(&b, v);
  if (rc == 0) {
    char *s = arena_strndup(a, (const char *)buf_cstr(&b), b.len);
    if (!s)
      rc = GLOAM_ENOMEM;
    else
      *out = jv_str(s, b.len);
  }
  buf_deinit(&b);
  return rc;
}
