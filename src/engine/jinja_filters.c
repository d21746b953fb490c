/* SPDX-License-Identifier: Apache-2.0
 *
 * engine/jinja_filters.c: the filters (`x | f(args)`) and tests
 * (`x is t(args)`) of the subset, with Jinja's semantics: `default` replaces
 * only undefined unless its boolean argument is true, `length` of undefined
 * is 0, `int`/`float` fall back to their default on bad input, `items` of
 * undefined is empty, `tojson` is Hugging Face's override (json.dumps with
 * ensure_ascii=False and the default separators; indent, separators,
 * sort_keys and ensure_ascii accepted). Unknown names are errors.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <utf8proc.h>

#include "core/err.h"
#include "engine/jinja_eval.h"

static bool eqn(const char *a, size_t an, const char *b) {
  size_t bn = strlen(b);
  return an == bn && memcmp(a, b, an) == 0;
}

static int ret_list(jlist *l, jv *out) {
  out->t = JV_LIST;
  out->u.l = l;
  return 0;
}

/* str(v), with undefined as "" (Jinja's soft_str). */
static int need_str(jctx *c, jv v, jv *out) {
  if (v.t == JV_UNDEF) {
    *out = jv_str("", 0);
    return 0;
  }
  return jstr_of(c, v, out);
}

static int f_tojson(jctx *c, jv v, const jcall *a, jv *out) {
  jjson_opts o = {.indent = -1, .item_sep = ", ", .key_sep = ": "};
  const jv *ind = jarg(a, 0, "indent"), *sk = jarg(a, 99, "sort_keys");
  const jv *ea = jarg(a, 99, "ensure_ascii"), *sep = jarg(a, 99, "separators");
  static const char *const known[] = {"indent", "sort_keys", "ensure_ascii", "separators"};
  for (size_t k = 0; k < a->n_kw; k++) {
    bool ok = false;
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
      ok |= a->kw[k].len == strlen(known[i]) && memcmp(a->kw[k].name, known[i], a->kw[k].len) == 0;
    if (!ok)
      return jerr(c, GLOAM_EINVAL, "tojson() got an unexpected keyword argument '%.*s'",
                  (int)(a->kw[k].len > 64 ? 64 : a->kw[k].len), a->kw[k].name);
  }
  if (ind && ind->t == JV_UNDEF) return jerr_undef(c, *ind);
  if (ind && ind->t != JV_INT && ind->t != JV_STR && ind->t != JV_NONE)
    return jerr(c, GLOAM_EINVAL, "tojson(): indent must be an int or a str");
  if (ind && ind->t == JV_INT) {
    o.indent = ind->u.i < 0 ? 0 : ind->u.i > 64 ? 64 : (int)ind->u.i;
    o.item_sep = ",";
  } else if (ind && ind->t == JV_STR) {
    o.indent = 0;
    o.indent_str = ind->u.s.p;
    o.indent_len = ind->u.s.n;
    o.item_sep = ",";
  }
  if (sk) o.sort_keys = jv_truthy(*sk);
  if (ea) o.ensure_ascii = jv_truthy(*ea);
  if (sep && sep->t == JV_LIST && sep->u.l->n == 2 && sep->u.l->items[0].t == JV_STR &&
      sep->u.l->items[1].t == JV_STR) {
    jv s0 = sep->u.l->items[0], s1 = sep->u.l->items[1];
    char *p0 = jalloc(c, s0.u.s.n + 1), *p1 = jalloc(c, s1.u.s.n + 1);
    if (!p0 || !p1) return jfail_mem(c);
    memcpy(p0, s0.u.s.p, s0.u.s.n), p0[s0.u.s.n] = '\0';
    memcpy(p1, s1.u.s.p, s1.u.s.n), p1[s1.u.s.n] = '\0';
    o.item_sep = p0;
    o.key_sep = p1;
  }
  buf b;
  buf_init(&b, c->lim.max_output);
  int rc = jv_write_json(c, &b, v, &o, 0);
  if (rc == 0) rc = jstr_new(c, (const char *)buf_cstr(&b), b.len, out);
  buf_deinit(&b);
  return rc;
}

static int f_join(jctx *c, jv v, const jcall *a, jv *out) {
  const jv *sep = jarg(a, 0, "d"), *attr = jarg(a, 1, "attribute");
  jv s = jv_str("", 0);
  int rc;
  if (sep && (rc = jstr_of(c, *sep, &s)) < 0) return rc;
  const jlist *items;
  if ((rc = jiter(c, v, &items)) < 0) return rc;
  if ((rc = jstep(c, items->n / 16)) < 0) return rc;
  buf b;
  buf_init(&b, c->lim.max_output);
  for (size_t i = 0; i < items->n && rc == 0; i++) {
    jv it = items->items[i];
    if (attr && attr->t == JV_STR) it = jgetattr(it, attr->u.s.p, attr->u.s.n);
    if (i) rc = buf_append(&b, s.u.s.p, s.u.s.n);
    if (rc == 0) rc = jv_write_str(&b, it);
  }
  if (rc == GLOAM_ETOOBIG)
    rc = jerr(c, rc, "join() result exceeds the output limit");
  else if (rc < 0)
    rc = jfail_mem(c);
  if (rc == 0) rc = jstr_new(c, (const char *)buf_cstr(&b), b.len, out);
  buf_deinit(&b);
  return rc;
}

static int f_int(jctx *c, jv v, const jcall *a, jv *out) {
  const jv *def = jarg(a, 0, "default"), *base = jarg(a, 1, "base");
  *out = def ? *def : jv_int(0);
  if (v.t == JV_INT || v.t == JV_BOOL) {
    *out = jv_int(v.t == JV_INT ? v.u.i : v.u.b);
  } else if (v.t == JV_FLOAT) {
    if (isfinite(v.u.f) && fabs(v.u.f) < 9.2e18) *out = jv_int((int64_t)v.u.f);
  } else if (v.t == JV_STR && v.u.s.n < 64) {
    char tmp[64];
    size_t k = 0;
    for (size_t i = 0; i < v.u.s.n; i++)
      if (v.u.s.p[i] != '_') tmp[k++] = v.u.s.p[i];
    tmp[k] = '\0';
    char *end;
    errno = 0;
    long long r = strtoll(tmp, &end, base && base->t == JV_INT ? (int)base->u.i : 10);
    while (*end == ' ' || *end == '\t' || *end == '\n') end++;
    if (!errno && end != tmp && !*end) {
      *out = jv_int(r);
    } else {
      double d = strtod(tmp, &end);
      while (*end == ' ' || *end == '\t' || *end == '\n') end++;
      if (end != tmp && !*end && isfinite(d) && fabs(d) < 9.2e18) *out = jv_int((int64_t)d);
    }
  }
  return 0;
}

static int f_float(jctx *c, jv v, const jcall *a, jv *out) {
  const jv *def = jarg(a, 0, "default");
  *out = def ? *def : jv_float(0.0);
  if (v.t == JV_INT || v.t == JV_BOOL) {
    *out = jv_float((double)(v.t == JV_INT ? v.u.i : v.u.b));
  } else if (v.t == JV_FLOAT) {
    *out = v;
  } else if (v.t == JV_STR && v.u.s.n < 64) {
    char tmp[64], *end;
    memcpy(tmp, v.u.s.p, v.u.s.n);
    tmp[v.u.s.n] = '\0';
    double d = strtod(tmp, &end);
    while (*end == ' ' || *end == '\t' || *end == '\n') end++;
    if (end != tmp && !*end) *out = jv_float(d);
  }
  return 0;
}

static int f_indent(jctx *c, jv v, const jcall *a, jv *out) {
  const jv *w = jarg(a, 0, "width"), *first = jarg(a, 1, "first"), *blank = jarg(a, 2, "blank");
  jv ind = jv_str("    ", 4), s;
  int rc;
  if (w && w->t == JV_STR) ind = *w;
  if (w && w->t == JV_INT) {
    int64_t n = w->u.i < 0 ? 0 : w->u.i > 256 ? 256 : w->u.i;
    char *p = jalloc(c, (size_t)n + 1);
    if (!p) return jfail_mem(c);
    memset(p, ' ', (size_t)n);
    ind = jv_str(p, (size_t)n);
  }
  if ((rc = need_str(c, v, &s)) < 0) return rc;
  bool bl = blank && jv_truthy(*blank);
  buf b;
  buf_init(&b, c->lim.max_output);
  if (first && jv_truthy(*first)) rc = buf_append(&b, ind.u.s.p, ind.u.s.n);
  const char *p = s.u.s.p;
  size_t n = s.u.s.n, i = 0;
  bool line0 = true;
  while (rc == 0 && i <= n) {
    const char *nl = memchr(p + i, '\n', n - i);
    size_t e = nl ? (size_t)(nl - p) : n;
    if (!line0) {
      rc = buf_putc(&b, '\n');
      if (rc == 0 && (bl || e > i)) rc = buf_append(&b, ind.u.s.p, ind.u.s.n);
    }
    if (rc == 0) rc = buf_append(&b, p + i, e - i);
    line0 = false;
    if (!nl) break;
    i = e + 1;
  }
  if (rc == 0)
    rc = jstr_new(c, (const char *)buf_cstr(&b), b.len, out);
  else if (rc == GLOAM_ETOOBIG)
    rc = jerr(c, rc, "indent() result exceeds the output limit");
  else
    rc = jfail_mem(c);
  buf_deinit(&b);
  return rc;
}

/* Stable merge sort of items with an optional attribute key. */
static int sort_cmp(jctx *c, jv x, jv y, bool ci, int *out) {
  if (ci && x.t == JV_STR && y.t == JV_STR) {
    int rc;
    if ((rc = jstr_case(c, x, 0, &x)) < 0) return rc;
    if ((rc = jstr_case(c, y, 0, &y)) < 0) return rc;
  }
  bool ok;
  if (jv_lt(x, y, &ok))
    *out = -1;
  else if (!ok)
    return jerr(c, GLOAM_EINVAL, "cannot sort '%s' and '%s'", jv_type_name(x), jv_type_name(y));
  else
    *out = jv_lt(y, x, &ok) ? 1 : 0;
  return 0;
}

static int f_sort(jctx *c, jv v, const jcall *a, jv *out, bool dictsort) {
  const jv *rev = jarg(a, dictsort ? 2 : 0, "reverse"),
           *cs = jarg(a, dictsort ? 0 : 1, "case_sensitive");
  const jv *attr = dictsort ? NULL : jarg(a, 2, "attribute");
  const jlist *items;
  int rc;
  if (dictsort) {
    if (v.t != JV_DICT) return jerr(c, GLOAM_EINVAL, "dictsort needs a mapping");
    jcall none = {0};
    jv it;
    if ((rc = jmethod_call(c, v, "items", 5, &none, &it)) < 0) return rc;
    items = it.u.l;
  } else if ((rc = jiter(c, v, &items)) < 0) {
    return rc;
  }
  size_t n = items->n;
  jlist *l = jlist_new(c->a, n), *tmp = jlist_new(c->a, n);
  if (!l || !tmp) return jfail_mem(c);
  memcpy(l->items, items->items, n * sizeof(jv));
  bool ci = !(cs && jv_truthy(*cs)), r = rev && jv_truthy(*rev);
  if ((rc = jstep(c, n)) < 0) return rc;
  for (size_t w = 1; w < n; w *= 2) {
    for (size_t lo = 0; lo < n; lo += 2 * w) {
      size_t mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;
      size_t i = lo, j = mid, k = lo;
      while (i < mid && j < hi) {
        jv x = l->items[i], y = l->items[j];
        if (dictsort) x = x.u.l->items[0], y = y.u.l->items[0];
        if (attr && attr->t == JV_STR) {
          x = jgetattr(x, attr->u.s.p, attr->u.s.n);
          y = jgetattr(y, attr->u.s.p, attr->u.s.n);
        }
        int cmp;
        if ((rc = sort_cmp(c, x, y, ci, &cmp)) < 0) return rc;
        if (r) cmp = -cmp;
        tmp->items[k++] = cmp > 0 ? l->items[j++] : l->items[i++];
      }
      while (i < mid) tmp->items[k++] = l->items[i++];
      while (j < hi) tmp->items[k++] = l->items[j++];
    }
    memcpy(l->items, tmp->items, n * sizeof(jv));
  }
  return ret_list(l, out);
}

/* select/reject/selectattr/rejectattr/map */
static int f_select(jctx *c, jv v, const jcall *a, jv *out, bool attr, bool keep, bool map) {
  const jlist *items;
  int rc = jiter(c, v, &items);
  if (rc < 0) return rc;
  jlist *l = jlist_new(c->a, items->n);
  if (!l) return jfail_mem(c);
  l->n = 0;
  size_t first = attr ? 1 : 0;
  const jv *an = attr ? jarg(a, 0, NULL) : NULL;
  if (map) an = jarg(a, 99, "attribute");
  const jv *tn = map && an ? NULL : jarg(a, first, NULL);
  jcall rest = {0};
  if (a->n_pos > first + 1) rest.pos = a->pos + first + 1, rest.n_pos = a->n_pos - first - 1;
  if ((attr || (map && an)) && (!an || an->t != JV_STR))
    return jerr(c, GLOAM_EINVAL, "attribute name must be a string");
  const jv *def = map ? jarg(a, 99, "default") : NULL;
  for (size_t i = 0; i < items->n; i++) {
    jv it = items->items[i], val = it;
    if (an) val = jgetattr(it, an->u.s.p, an->u.s.n);
    if (map) {
      if (an) {
        l->items[l->n++] = (val.t == JV_UNDEF && def) ? *def : val;
      } else {
        if (!tn || tn->t != JV_STR) return jerr(c, GLOAM_EINVAL, "map() needs a filter name");
        if ((rc = jfilter_apply(c, tn->u.s.p, tn->u.s.n, val, &rest, &l->items[l->n++])) < 0)
          return rc;
      }
      continue;
    }
    bool ok;
    if (tn && tn->t == JV_STR) {
      if ((rc = jtest_apply(c, tn->u.s.p, tn->u.s.n, val, &rest, &ok)) < 0) return rc;
    } else {
      ok = jv_truthy(val);
    }
    if (ok == keep) l->items[l->n++] = it;
  }
  return ret_list(l, out);
}

static int f_minmax(jctx *c, jv v, const jcall *a, jv *out, bool max) {
  const jlist *items;
  int rc = jiter(c, v, &items);
  if (rc < 0) return rc;
  const jv *cs = jarg(a, 0, "case_sensitive"), *attr = jarg(a, 1, "attribute");
  *out = jv_undef();
  for (size_t i = 0; i < items->n; i++) {
    jv x = items->items[i];
    if (i == 0) {
      *out = x;
      continue;
    }
    jv kx = x, ko = *out;
    if (attr && attr->t == JV_STR) {
      kx = jgetattr(kx, attr->u.s.p, attr->u.s.n);
      ko = jgetattr(ko, attr->u.s.p, attr->u.s.n);
    }
    int cmp;
    if ((rc = sort_cmp(c, kx, ko, !(cs && jv_truthy(*cs)), &cmp)) < 0) return rc;
    if (max ? cmp > 0 : cmp < 0) *out = x;
  }
  return 0;
}

static int f_unique(jctx *c, jv v, jv *out) {
  const jlist *items;
  int rc = jiter(c, v, &items);
  if (rc < 0) return rc;
  if ((rc = jstep(c, items->n * items->n / 64)) < 0) return rc;
  jlist *l = jlist_new(c->a, items->n);
  if (!l) return jfail_mem(c);
  l->n = 0;
  for (size_t i = 0; i < items->n; i++) {
    bool seen = false;
    for (size_t j = 0; j < l->n && !seen; j++) seen = jv_eq(l->items[j], items->items[i]);
    if (!seen) l->items[l->n++] = items->items[i];
  }
  return ret_list(l, out);
}

static int f_escape(jctx *c, jv v, jv *out) {
  jv s;
  int rc = need_str(c, v, &s);
  if (rc < 0) return rc;
  buf b;
  buf_init(&b, c->lim.max_output);
  for (size_t i = 0; i < s.u.s.n && rc == 0; i++) {
    char ch = s.u.s.p[i];
    const char *r = ch == '&'    ? "&amp;"
                    : ch == '<'  ? "&lt;"
                    : ch == '>'  ? "&gt;"
                    : ch == '"'  ? "&#34;"
                    : ch == '\'' ? "&#39;"
                                 : NULL;
    rc = r ? buf_append_str(&b, r) : buf_putc(&b, (uint8_t)ch);
  }
  if (rc == 0)
    rc = jstr_new(c, (const char *)buf_cstr(&b), b.len, out);
  else
    rc = rc == GLOAM_ETOOBIG ? jerr(c, rc, "escape() result too large") : jfail_mem(c);
  buf_deinit(&b);
  return rc;
}

int jfilter_apply(jctx *c, const char *name, size_t len, jv v, const jcall *a, jv *out) {
  int rc;
  jv s;
#define IS(n) eqn(name, len, n)
  if (IS("tojson")) return f_tojson(c, v, a, out);
  if (IS("trim") || IS("upper") || IS("lower") || IS("capitalize") || IS("title")) {
    if ((rc = need_str(c, v, &s)) < 0) return rc;
    if (IS("trim")) return jstr_strip(c, s, jarg(a, 0, "chars"), true, true, out);
    return jstr_case(c, s, IS("lower") ? 0 : IS("upper") ? 1 : IS("capitalize") ? 2 : 4, out);
  }
  if (IS("length") || IS("count")) {
    if (v.t == JV_STR && (rc = jstep(c, v.u.s.n / 256)) < 0) return rc;
    int64_t n = jv_len(v);
    if (n < 0) return jerr(c, GLOAM_EINVAL, "object of type '%s' has no len()", jv_type_name(v));
    *out = jv_int(n);
    return 0;
  }
  if (IS("items")) {
    if (v.t == JV_UNDEF) {
      jlist *l = jlist_new(c->a, 0);
      return l ? ret_list(l, out) : jfail_mem(c);
    }
    if (v.t != JV_DICT && v.t != JV_NS) return jerr(c, GLOAM_EINVAL, "items() needs a mapping");
    jcall none = {0};
    jv d = v;
    d.t = JV_DICT;
    rc = jmethod_call(c, d, "items", 5, &none, out);
    return rc < 0 ? rc : 0;
  }
  if (IS("join")) return f_join(c, v, a, out);
  if (IS("default") || IS("d")) {
    const jv *def = jarg(a, 0, "default_value"), *boolean = jarg(a, 1, "boolean");
    bool use = v.t == JV_UNDEF || (boolean && jv_truthy(*boolean) && !jv_truthy(v));
    *out = use ? (def ? *def : jv_str("", 0)) : v;
    return 0;
  }
  if (IS("first") || IS("last")) {
    const jlist *items;
    if ((rc = jiter(c, v, &items)) < 0) return rc;
    *out = items->n ? items->items[IS("first") ? 0 : items->n - 1] : jv_undef();
    return 0;
  }
  if (IS("string")) return jstr_of(c, v, out);
  if (IS("safe")) {
    *out = v;
    return 0;
  }
  if (IS("e") || IS("escape")) return f_escape(c, v, out);
  if (IS("int")) return f_int(c, v, a, out);
  if (IS("float")) return f_float(c, v, a, out);
  if (IS("abs")) {
    if (v.t == JV_BOOL) v = jv_int(v.u.b);
    if (v.t == JV_INT)
      *out = jv_int(v.u.i < 0 && v.u.i != INT64_MIN ? -v.u.i : v.u.i);
    else if (v.t == JV_FLOAT)
      *out = jv_float(fabs(v.u.f));
    else
      return jerr(c, GLOAM_EINVAL, "bad operand type for abs(): '%s'", jv_type_name(v));
    return 0;
  }
  if (IS("round")) {
    const jv *prec = jarg(a, 0, "precision"), *method = jarg(a, 1, "method");
    if (!jv_is_num(v)) return jerr(c, GLOAM_EINVAL, "round() needs a number");
    double x = v.t == JV_FLOAT ? v.u.f : (double)(v.t == JV_INT ? v.u.i : v.u.b);
    double m = pow(10.0, prec && prec->t == JV_INT ? (double)prec->u.i : 0.0);
    bool floor_m = method && method->t == JV_STR && eqn(method->u.s.p, method->u.s.n, "floor");
    bool ceil_m = method && method->t == JV_STR && eqn(method->u.s.p, method->u.s.n, "ceil");
    double r = floor_m ? floor(x * m) : ceil_m ? ceil(x * m) : nearbyint(x * m);
    *out = jv_float(r / m);
    return 0;
  }
  if (IS("list")) {
    const jlist *items;
    if ((rc = jiter(c, v, &items)) < 0) return rc;
    jlist *l = jlist_new(c->a, items->n);
    if (!l) return jfail_mem(c);
    memcpy(l->items, items->items, items->n * sizeof(jv));
    return ret_list(l, out);
  }
  if (IS("reverse")) {
    const jlist *items;
    if ((rc = jiter(c, v, &items)) < 0) return rc;
    jlist *l = jlist_new(c->a, items->n);
    if (!l) return jfail_mem(c);
    for (size_t i = 0; i < items->n; i++) l->items[i] = items->items[items->n - 1 - i];
    if (v.t != JV_STR) return ret_list(l, out);
    jv joined;
    jcall ja = {0};
    if ((rc = f_join(c, (jv){.t = JV_LIST, .u.l = l}, &ja, &joined)) < 0) return rc;
    *out = joined;
    return 0;
  }
  if (IS("replace")) {
    const jv *o = jarg(a, 0, "old"), *n = jarg(a, 1, "new"), *cnt = jarg(a, 2, "count");
    if (!o || !n) return jerr(c, GLOAM_EINVAL, "replace() needs old and new");
    if ((rc = need_str(c, v, &s)) < 0) return rc;
    return jstr_replace(c, s, *o, *n, cnt && cnt->t == JV_INT ? cnt->u.i : -1, out);
  }
  if (IS("indent")) return f_indent(c, v, a, out);
  if (IS("sort")) return f_sort(c, v, a, out, false);
  if (IS("dictsort")) return f_sort(c, v, a, out, true);
  if (IS("unique")) return f_unique(c, v, out);
  if (IS("min") || IS("max")) return f_minmax(c, v, a, out, IS("max"));
  if (IS("sum")) {
    const jlist *items;
    const jv *attr = jarg(a, 0, "attribute"), *start = jarg(a, 1, "start");
    if ((rc = jiter(c, v, &items)) < 0) return rc;
    jv acc = start ? *start : jv_int(0);
    for (size_t i = 0; i < items->n; i++) {
      jv x = items->items[i];
      if (attr && attr->t == JV_STR) x = jgetattr(x, attr->u.s.p, attr->u.s.n);
      if (!jv_is_num(x) || !jv_is_num(acc)) return jerr(c, GLOAM_EINVAL, "sum() needs numbers");
      if (acc.t == JV_FLOAT || x.t == JV_FLOAT)
        acc = jv_float((acc.t == JV_FLOAT ? acc.u.f : (double)acc.u.i) +
                       (x.t == JV_FLOAT ? x.u.f : (double)(x.t == JV_INT ? x.u.i : x.u.b)));
      else if (__builtin_add_overflow(acc.t == JV_INT ? acc.u.i : acc.u.b,
                                      x.t == JV_INT ? x.u.i : x.u.b, &acc.u.i))
        return jerr(c, GLOAM_EINVAL, "integer overflow in sum()");
      else
        acc.t = JV_INT;
    }
    *out = acc;
    return 0;
  }
  if (IS("select")) return f_select(c, v, a, out, false, true, false);
  if (IS("reject")) return f_select(c, v, a, out, false, false, false);
  if (IS("selectattr")) return f_select(c, v, a, out, true, true, false);
  if (IS("rejectattr")) return f_select(c, v, a, out, true, false, false);
  if (IS("map")) return f_select(c, v, a, out, false, true, true);
  if (IS("attr")) {
    const jv *n = jarg(a, 0, "name");
    if (!n || n->t != JV_STR) return jerr(c, GLOAM_EINVAL, "attr() needs a name");
    *out = jgetattr(v, n->u.s.p, n->u.s.n);
    return 0;
  }
  if (IS("wordcount")) { /* Jinja counts matches of the regex \w+ */
    if ((rc = need_str(c, v, &s)) < 0) return rc;
    int64_t words = 0;
    bool in_word = false;
    for (size_t i = 0; i < s.u.s.n;) {
      size_t k;
      uint32_t cp = jutf8_decode(s.u.s.p + i, s.u.s.n - i, &k);
      utf8proc_category_t cat = utf8proc_category((utf8proc_int32_t)cp);
      bool w = cp == '_' || (cat >= UTF8PROC_CATEGORY_LU && cat <= UTF8PROC_CATEGORY_LO) ||
               (cat >= UTF8PROC_CATEGORY_ND && cat <= UTF8PROC_CATEGORY_NO);
      if (w && !in_word) words++;
      in_word = w;
      i += k;
    }
    *out = jv_int(words);
    return 0;
  }
#undef IS
  return jerr(c, GLOAM_EINVAL, "no filter named '%.*s'", (int)(len > 64 ? 64 : len), name);
}

int jtest_apply(jctx *c, const char *name, size_t len, jv v, const jcall *a, bool *out) {
  const jv *a0 = jarg(a, 0, NULL);
  static const char *const unary[] = {"defined", "undefined", "none",     "boolean",  "true",
                                      "false",   "integer",   "float",    "number",   "string",
                                      "mapping", "iterable",  "sequence", "callable", "lower",
                                      "upper",   "escaped",   "even",     "odd"};
  if (a->n_pos + a->n_kw > 0)
    for (size_t i = 0; i < sizeof unary / sizeof unary[0]; i++)
      if (eqn(name, len, unary[i]))
        return jerr(c, GLOAM_EINVAL, "test '%s' takes no arguments", unary[i]);
#define IS(n) eqn(name, len, n)
  if (IS("defined"))
    *out = v.t != JV_UNDEF;
  else if (IS("undefined"))
    *out = v.t == JV_UNDEF;
  else if (IS("none"))
    *out = v.t == JV_NONE;
  else if (IS("boolean"))
    *out = v.t == JV_BOOL;
  else if (IS("true"))
    *out = v.t == JV_BOOL && v.u.b;
  else if (IS("false"))
    *out = v.t == JV_BOOL && !v.u.b;
  else if (IS("integer"))
    *out = v.t == JV_INT;
  else if (IS("float"))
    *out = v.t == JV_FLOAT;
  else if (IS("number"))
    *out = jv_is_num(v);
  else if (IS("string"))
    *out = v.t == JV_STR;
  else if (IS("mapping"))
    *out = v.t == JV_DICT;
  else if (IS("iterable"))
    *out = v.t == JV_STR || v.t == JV_LIST || v.t == JV_DICT || v.t == JV_UNDEF;
  else if (IS("sequence"))
    *out = v.t == JV_STR || v.t == JV_LIST || v.t == JV_DICT || v.t == JV_UNDEF;
  else if (IS("callable"))
    *out = v.t == JV_MACRO || v.t == JV_FUNC;
  else if (IS("lower") || IS("upper")) {
    jv s;
    int rc;
    if (v.t != JV_STR) {
      *out = false;
      return 0;
    }
    if ((rc = jstr_case(c, v, IS("upper") ? 1 : 0, &s)) < 0) return rc;
    *out = jv_eq(s, v);
  } else if (IS("escaped"))
    *out = false;
  else if (IS("even") || IS("odd") || IS("divisibleby")) {
    /* Python: value % 2 == 1, value % 2 == 0, value % num == 0 (floats too) */
    if (!jv_is_num(v)) return jerr(c, GLOAM_EINVAL, "%.*s test needs a number", (int)len, name);
    jv d = jv_int(2);
    if (IS("divisibleby")) {
      if (!a0 || !jv_is_num(*a0)) return jerr(c, GLOAM_EINVAL, "divisibleby needs a number");
      d = *a0;
    }
    double r;
    if (v.t != JV_FLOAT && d.t != JV_FLOAT) {
      int64_t xi = v.t == JV_INT ? v.u.i : v.u.b, yi = d.t == JV_INT ? d.u.i : d.u.b;
      if (yi == 0) return jerr(c, GLOAM_EINVAL, "integer modulo by zero");
      int64_t ri = yi == -1 ? 0 : xi % yi;
      if (ri != 0 && ((ri < 0) != (yi < 0))) ri += yi;
      r = (double)ri;
    } else {
      double x = v.t == JV_FLOAT ? v.u.f : (double)(v.t == JV_INT ? v.u.i : v.u.b);
      double y = d.t == JV_FLOAT ? d.u.f : (double)(d.t == JV_INT ? d.u.i : d.u.b);
      if (y == 0) return jerr(c, GLOAM_EINVAL, "float modulo by zero");
      r = fmod(x, y);
      if (r != 0 && ((r < 0) != (y < 0))) r += y;
    }
    *out = IS("odd") ? r == 1 : r == 0;
  } else if (IS("sameas")) {
    if (!a0) return jerr(c, GLOAM_EINVAL, "sameas needs an argument");
    *out = (v.t == a0->t) && (v.t == JV_NONE || v.t == JV_UNDEF ||
                              (v.t == JV_BOOL && v.u.b == a0->u.b) || jv_eq(v, *a0));
  } else if (IS("eq") || IS("equalto") || IS("==") || IS("ne") || IS("!=") || IS("lt") ||
             IS("lessthan") || IS("le") || IS("gt") || IS("greaterthan") || IS("ge") || IS("in")) {
    if (!a0) return jerr(c, GLOAM_EINVAL, "test '%.*s' needs an argument", (int)len, name);
    bool ok = true;
    if (IS("eq") || IS("equalto"))
      *out = jv_eq(v, *a0);
    else if (IS("ne"))
      *out = !jv_eq(v, *a0);
    else if (IS("lt") || IS("lessthan"))
      *out = jv_lt(v, *a0, &ok);
    else if (IS("gt") || IS("greaterthan"))
      *out = jv_lt(*a0, v, &ok);
    else if (IS("le"))
      *out = !jv_lt(*a0, v, &ok);
    else if (IS("ge"))
      *out = !jv_lt(v, *a0, &ok);
    else {
      if (a0->t == JV_STR) {
        if (v.t != JV_STR) return jerr(c, GLOAM_EINVAL, "'in <string>' requires a string");
        *out = v.u.s.n == 0 || memmem(a0->u.s.p, a0->u.s.n, v.u.s.p, v.u.s.n) != NULL;
      } else if (a0->t == JV_LIST) {
        *out = false;
        for (size_t i = 0; i < a0->u.l->n && !*out; i++) *out = jv_eq(v, a0->u.l->items[i]);
      } else if (a0->t == JV_DICT || a0->t == JV_NS) {
        *out = jdict_get(a0->u.d, v) != NULL;
      } else {
        return jerr(c, GLOAM_EINVAL, "'%s' is not a container", jv_type_name(*a0));
      }
    }
    if (!ok) return jerr(c, GLOAM_EINVAL, "values are not comparable");
  } else {
    return jerr(c, GLOAM_EINVAL, "no test named '%.*s'", (int)(len > 64 ? 64 : len), name);
  }
#undef IS
  return 0;
}
