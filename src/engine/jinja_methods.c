/* SPDX-License-Identifier: Apache-2.0
 *
 * engine/jinja_methods.c: Python methods templates call on values
 * (str.startswith/split/strip/replace/..., dict.get/items/keys/values,
 * loop.cycle) and the builtin globals (range, namespace, dict,
 * raise_exception, strftime_now), plus the string helpers the filters
 * share. Lists and dicts are immutable, as in Hugging Face's
 * ImmutableSandboxedEnvironment: mutating methods are refused.
 * Case mapping is per code point (utf8proc), so special cases that change
 * length ("ß".upper() == "SS" in Python) are not reproduced.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <utf8proc.h>

#include "core/err.h"
#include "engine/jinja_eval.h"

enum { BI_RANGE = 1, BI_NAMESPACE, BI_DICT, BI_RAISE, BI_STRFTIME };

static bool eqn(const char *a, size_t an, const char *b) {
  size_t bn = strlen(b);
  return an == bn && memcmp(a, b, an) == 0;
}

static bool py_space(uint32_t cp) {
  return (cp >= 9 && cp <= 13) || (cp >= 0x1c && cp <= 0x20) || cp == 0x85 || cp == 0xa0 ||
         cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200a) || cp == 0x2028 || cp == 0x2029 ||
         cp == 0x202f || cp == 0x205f || cp == 0x3000;
}

static bool in_set(uint32_t cp, const jv *chars) {
  if (!chars) return py_space(cp);
  const char *p = chars->u.s.p;
  size_t n = chars->u.s.n;
  for (size_t i = 0; i < n;) {
    size_t k;
    if (jutf8_decode(p + i, n - i, &k) == cp) return true;
    i += k;
  }
  return false;
}

static size_t prev_cp(const char *p, size_t end) {
  size_t i = end - 1;
  while (i > 0 && ((unsigned char)p[i] & 0xC0) == 0x80) i--;
  return i;
}

int jstr_strip(jctx *c, jv s, const jv *chars, bool left, bool right, jv *out) {
  if (chars && (chars->t == JV_NONE || chars->t == JV_UNDEF)) chars = NULL;
  if (chars && chars->t != JV_STR) return jerr(c, GLOAM_EINVAL, "strip arg must be None or str");
  const char *p = s.u.s.p;
  size_t b = 0, e = s.u.s.n;
  while (left && b < e) {
    size_t k;
    if (!in_set(jutf8_decode(p + b, e - b, &k), chars)) break;
    b += k;
  }
  while (right && e > b) {
    size_t st = prev_cp(p, e), k;
    if (st < b || !in_set(jutf8_decode(p + st, e - st, &k), chars)) break;
    e = st;
  }
  *out = jv_str(p + b, e - b);
  return 0;
}

static bool is_cased(uint32_t cp) {
  utf8proc_category_t k = utf8proc_category((utf8proc_int32_t)cp);
  return k == UTF8PROC_CATEGORY_LU || k == UTF8PROC_CATEGORY_LL || k == UTF8PROC_CATEGORY_LT;
}

/* mode: 0 lower, 1 upper, 2 capitalize, 3 str.title, 4 the title filter */
int jstr_case(jctx *c, jv s, int mode, jv *out) {
  const char *p = s.u.s.p;
  size_t n = s.u.s.n;
  char *o = jalloc(c, n * 2 + 4); /* simple case maps stay within 4 bytes */
  if (!o) return jfail_mem(c);
  size_t k = 0;
  uint32_t prev = 0;
  bool first = true;
  for (size_t i = 0; i < n;) {
    size_t l;
    uint32_t cp = jutf8_decode(p + i, n - i, &l);
    bool up;
    switch (mode) {
      case 0:
        up = false;
        break;
      case 1:
        up = true;
        break;
      case 2:
        up = first;
        break;
      case 3:
        up = first || !is_cased(prev);
        break;
      default:
        up = first || py_space(prev) || prev == '-' || prev == '(' || prev == '{' || prev == '[' ||
             prev == '<';
    }
    utf8proc_int32_t m = up ? (mode >= 2 ? utf8proc_totitle((utf8proc_int32_t)cp)
                                         : utf8proc_toupper((utf8proc_int32_t)cp))
                            : utf8proc_tolower((utf8proc_int32_t)cp);
    if (m < 0 || m > 0x10FFFF) m = (utf8proc_int32_t)cp;
    char tmp[4];
    size_t el = jutf8_encode((uint32_t)m, tmp);
    if (k + el > n * 2 + 4) return jerr(c, GLOAM_EINTERNAL, "case mapping overflow");
    memcpy(o + k, tmp, el);
    k += el;
    prev = cp;
    first = false;
    i += l;
  }
  o[k] = '\0';
  *out = jv_str(o, k);
  return 0;
}

int jstr_replace(jctx *c, jv s, jv old, jv rep, int64_t count, jv *out) {
  if (old.t != JV_STR || rep.t != JV_STR)
    return jerr(c, GLOAM_EINVAL, "replace() arguments must be str");
  buf b;
  buf_init(&b, c->lim.max_output);
  const char *p = s.u.s.p;
  size_t n = s.u.s.n, i = 0;
  int64_t done = 0;
  int rc = 0;
  if (old.u.s.n == 0) { /* Python inserts rep around every character */
    while (rc == 0 && (count < 0 || done < count)) {
      rc = buf_append(&b, rep.u.s.p, rep.u.s.n);
      done++;
      if (i >= n) break;
      size_t l;
      jutf8_decode(p + i, n - i, &l);
      if (rc == 0) rc = buf_append(&b, p + i, l);
      i += l;
    }
  } else {
    while (rc == 0 && i <= n && (count < 0 || done < count)) {
      const char *f = memmem(p + i, n - i, old.u.s.p, old.u.s.n);
      if (!f) break;
      size_t at = (size_t)(f - p);
      rc = buf_append(&b, p + i, at - i);
      if (rc == 0) rc = buf_append(&b, rep.u.s.p, rep.u.s.n);
      i = at + old.u.s.n;
      done++;
    }
  }
  if (rc == 0 && i < n) rc = buf_append(&b, p + i, n - i);
  if (rc == 0)
    rc = jstr_new(c, (const char *)buf_cstr(&b), b.len, out);
  else if (rc == GLOAM_ETOOBIG)
    rc = jerr(c, rc, "replace() result exceeds the output limit");
  else
    rc = jfail_mem(c);
  buf_deinit(&b);
  return rc;
}

/* ---- str methods ---- */

static int list_of(jctx *c, size_t n, jlist **out) {
  jlist *l = jlist_new(c->a, n);
  if (!l) return jfail_mem(c);
  *out = l;
  return 0;
}

static int str_split(jctx *c, jv s, const jv *sep, const jv *maxsplit, bool from_right, jv *out) {
  int64_t maxs = -1;
  if (maxsplit && (maxsplit->t == JV_INT)) maxs = maxsplit->u.i;
  if (sep && (sep->t == JV_NONE || sep->t == JV_UNDEF)) sep = NULL;
  if (sep && sep->t != JV_STR) return jerr(c, GLOAM_EINVAL, "split() separator must be str");
  if (sep && sep->u.s.n == 0) return jerr(c, GLOAM_EINVAL, "empty separator");
  const char *p = s.u.s.p;
  size_t n = s.u.s.n;
  /* pieces as (start, end) pairs; at most n + 1 */
  size_t cap = n + 1, np = 0;
  size_t *pc = jalloc(c, cap * 2 * sizeof(size_t));
  if (!pc) return jfail_mem(c);
  if (sep && !from_right) {
    size_t i = 0;
    for (;;) {
      const char *f =
          (maxs < 0 || (int64_t)np < maxs) ? memmem(p + i, n - i, sep->u.s.p, sep->u.s.n) : NULL;
      if (!f) break;
      pc[2 * np] = i, pc[2 * np + 1] = (size_t)(f - p), np++;
      i = (size_t)(f - p) + sep->u.s.n;
    }
    pc[2 * np] = i, pc[2 * np + 1] = n, np++;
  } else if (sep) { /* rsplit: collect from the right, then reverse */
    size_t e = n;
    for (;;) {
      if (maxs >= 0 && (int64_t)np >= maxs) break;
      size_t found = SIZE_MAX;
      for (size_t j = e; j >= sep->u.s.n; j--) {
        if (memcmp(p + j - sep->u.s.n, sep->u.s.p, sep->u.s.n) == 0) {
          found = j - sep->u.s.n;
          break;
        }
      }
      if (found == SIZE_MAX) break;
      pc[2 * np] = found + sep->u.s.n, pc[2 * np + 1] = e, np++;
      e = found;
    }
    pc[2 * np] = 0, pc[2 * np + 1] = e, np++;
    for (size_t a = 0, b = np - 1; a < b; a++, b--) {
      size_t t0 = pc[2 * a], t1 = pc[2 * a + 1];
      pc[2 * a] = pc[2 * b], pc[2 * a + 1] = pc[2 * b + 1];
      pc[2 * b] = t0, pc[2 * b + 1] = t1;
    }
  } else { /* runs of whitespace */
    size_t i = 0;
    for (;;) {
      size_t k;
      while (i < n && py_space(jutf8_decode(p + i, n - i, &k))) i += k;
      if (i >= n) break;
      if (maxs >= 0 && (int64_t)np >= maxs) {
        size_t e = n;
        while (e > i) {
          size_t st = prev_cp(p, e);
          if (!py_space(jutf8_decode(p + st, e - st, &k))) break;
          e = st;
        }
        pc[2 * np] = i, pc[2 * np + 1] = e, np++;
        break;
      }
      size_t st = i;
      while (i < n && !py_space(jutf8_decode(p + i, n - i, &k))) i += k;
      pc[2 * np] = st, pc[2 * np + 1] = i, np++;
    }
  }
  jlist *l;
  int rc = list_of(c, np, &l);
  if (rc < 0) return rc;
  for (size_t i = 0; i < np; i++) l->items[i] = jv_str(p + pc[2 * i], pc[2 * i + 1] - pc[2 * i]);
  out->t = JV_LIST;
  out->u.l = l;
  return jstep(c, np / 16);
}

static bool affix(jv s, jv a, bool end) {
  if (a.t != JV_STR || a.u.s.n > s.u.s.n) return false;
  const char *p = end ? s.u.s.p + s.u.s.n - a.u.s.n : s.u.s.p;
  return memcmp(p, a.u.s.p, a.u.s.n) == 0;
}

static int str_method(jctx *c, jv s, const char *name, size_t len, const jcall *a, jv *out) {
  const jv *a0 = jarg(a, 0, NULL), *a1 = jarg(a, 1, NULL);
  int src = jstep(c, s.u.s.n / 256); /* string methods scan their input */
  if (src < 0) return src;
  if (eqn(name, len, "startswith") || eqn(name, len, "endswith")) {
    bool end = name[0] == 'e', r = false;
    if (!a0) return jerr(c, GLOAM_EINVAL, "%.*s() takes at least 1 argument", (int)len, name);
    if (a0->t == JV_LIST) {
      for (size_t i = 0; i < a0->u.l->n && !r; i++) r = affix(s, a0->u.l->items[i], end);
    } else if (a0->t == JV_STR) {
      r = affix(s, *a0, end);
    } else {
      return jerr(c, GLOAM_EINVAL, "%.*s() argument must be str or a tuple of str", (int)len, name);
    }
    *out = jv_bool(r);
    return 1;
  }
  if (eqn(name, len, "split") || eqn(name, len, "rsplit")) {
    int rc = str_split(c, s, jarg(a, 0, "sep"), jarg(a, 1, "maxsplit"), name[0] == 'r', out);
    return rc < 0 ? rc : 1;
  }
  if (eqn(name, len, "strip") || eqn(name, len, "lstrip") || eqn(name, len, "rstrip")) {
    int rc = jstr_strip(c, s, a0, name[0] != 'r', name[0] != 'l', out);
    return rc < 0 ? rc : 1;
  }
  if (eqn(name, len, "replace")) {
    if (!a0 || !a1) return jerr(c, GLOAM_EINVAL, "replace() takes at least 2 arguments");
    const jv *cnt = jarg(a, 2, "count");
    int rc = jstr_replace(c, s, *a0, *a1, cnt && cnt->t == JV_INT ? cnt->u.i : -1, out);
    return rc < 0 ? rc : 1;
  }
  static const char *const cases[] = {"lower", "upper", "capitalize", "title"};
  for (int m = 0; m < 4; m++)
    if (eqn(name, len, cases[m])) {
      int rc = jstr_case(c, s, m, out);
      return rc < 0 ? rc : 1;
    }
  if (eqn(name, len, "find") || eqn(name, len, "count")) {
    if (!a0 || a0->t != JV_STR) return jerr(c, GLOAM_EINVAL, "%.*s() needs a str", (int)len, name);
    if (name[0] == 'f') {
      const char *f = memmem(s.u.s.p, s.u.s.n, a0->u.s.p, a0->u.s.n);
      *out = jv_int(f ? (int64_t)jutf8_count(s.u.s.p, (size_t)(f - s.u.s.p)) : -1);
      return 1;
    }
    int64_t cnt = 0;
    if (a0->u.s.n == 0) {
      cnt = (int64_t)jutf8_count(s.u.s.p, s.u.s.n) + 1;
    } else {
      for (size_t i = 0; i + a0->u.s.n <= s.u.s.n;) {
        const char *f = memmem(s.u.s.p + i, s.u.s.n - i, a0->u.s.p, a0->u.s.n);
        if (!f) break;
        cnt++;
        i = (size_t)(f - s.u.s.p) + a0->u.s.n;
      }
    }
    *out = jv_int(cnt);
    return 1;
  }
  if (eqn(name, len, "join")) {
    if (!a0) return jerr(c, GLOAM_EINVAL, "join() takes 1 argument");
    jcall fa = {.pos = &s, .n_pos = 1};
    int rc = jfilter_apply(c, "join", 4, *a0, &fa, out);
    return rc < 0 ? rc : 1;
  }
  if (eqn(name, len, "isdigit") || eqn(name, len, "isspace") || eqn(name, len, "isalpha")) {
    bool r = s.u.s.n > 0;
    for (size_t i = 0; i < s.u.s.n && r;) {
      size_t k;
      uint32_t cp = jutf8_decode(s.u.s.p + i, s.u.s.n - i, &k);
      utf8proc_category_t cat = utf8proc_category((utf8proc_int32_t)cp);
      if (name[2] == 'd')
        r = cat == UTF8PROC_CATEGORY_ND;
      else if (name[2] == 's')
        r = py_space(cp);
      else
        r = cat >= UTF8PROC_CATEGORY_LU && cat <= UTF8PROC_CATEGORY_LO;
      i += k;
    }
    *out = jv_bool(r);
    return 1;
  }
  return 0;
}

static int dict_method(jctx *c, jv d, const char *name, size_t len, const jcall *a, jv *out) {
  const jdict *dd = d.u.d;
  if (eqn(name, len, "get")) {
    const jv *k = jarg(a, 0, "key"), *def = jarg(a, 1, "default");
    if (!k) return jerr(c, GLOAM_EINVAL, "get() takes at least 1 argument");
    const jv *v = jdict_get(dd, *k);
    *out = v ? *v : def ? *def : jv_none();
    return 1;
  }
  int which = eqn(name, len, "items")    ? 0
              : eqn(name, len, "keys")   ? 1
              : eqn(name, len, "values") ? 2
                                         : -1;
  if (which < 0) return 0;
  jlist *l;
  int rc = list_of(c, dd->n, &l);
  if (rc < 0) return rc;
  for (size_t i = 0; i < dd->n; i++) {
    if (which == 0) {
      jlist *pair;
      if ((rc = list_of(c, 2, &pair)) < 0) return rc;
      pair->items[0] = dd->ents[i].key;
      pair->items[1] = dd->ents[i].val;
      pair->tuple = true;
      l->items[i] = (jv){.t = JV_LIST, .u.l = pair};
    } else {
      l->items[i] = which == 1 ? dd->ents[i].key : dd->ents[i].val;
    }
  }
  out->t = JV_LIST;
  out->u.l = l;
  return 1;
}

int jmethod_call(jctx *c, jv obj, const char *name, size_t len, const jcall *args, jv *out) {
  static const char *const mutating[] = {"append",  "extend", "insert",  "pop",
                                         "remove",  "clear",  "update",  "setdefault",
                                         "popitem", "sort",   "reverse", NULL};
  switch (obj.t) {
    case JV_UNDEF:
      return jerr_undef(c, obj);
    case JV_STR:
      return str_method(c, obj, name, len, args, out);
    case JV_DICT: {
      int rc = dict_method(c, obj, name, len, args, out);
      if (rc != 0) return rc;
      break;
    }
    case JV_LOOP:
      if (eqn(name, len, "cycle")) {
        if (!args->n_pos) return jerr(c, GLOAM_EINVAL, "no items for cycling given");
        *out = args->pos[obj.u.loop->index0 % args->n_pos];
        return 1;
      }
      return 0;
    default:
      break;
  }
  if (obj.t == JV_LIST || obj.t == JV_DICT)
    for (size_t i = 0; mutating[i]; i++)
      if (eqn(name, len, mutating[i]))
        return jerr(c, GLOAM_EINVAL, "%s.%s() is not allowed: values are immutable here",
                    jv_type_name(obj), mutating[i]);
  return 0;
}

/* ---- builtin globals ---- */

bool jbuiltin_lookup(const char *name, size_t len, jv *out) {
  static const struct {
    const char *name;
    int id;
  } tab[] = {{"range", BI_RANGE},
             {"namespace", BI_NAMESPACE},
             {"dict", BI_DICT},
             {"raise_exception", BI_RAISE},
             {"strftime_now", BI_STRFTIME}};
  for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++)
    if (eqn(name, len, tab[i].name)) {
      *out = (jv){.t = JV_FUNC, .u.fn = tab[i].id};
      return true;
    }
  return false;
}

static int int_arg(jctx *c, const jv *v, int64_t *out) {
  if (v->t == JV_INT || v->t == JV_BOOL) {
    *out = v->t == JV_INT ? v->u.i : v->u.b;
    return 0;
  }
  return jerr(c, GLOAM_EINVAL, "'%s' object cannot be interpreted as an integer", jv_type_name(*v));
}

static int bi_range(jctx *c, const jcall *a, jv *out) {
  int64_t start = 0, stop, step = 1;
  int rc;
  if (a->n_pos < 1 || a->n_pos > 3) return jerr(c, GLOAM_EINVAL, "range expects 1 to 3 arguments");
  if (a->n_pos == 1) {
    if ((rc = int_arg(c, &a->pos[0], &stop)) < 0) return rc;
  } else {
    if ((rc = int_arg(c, &a->pos[0], &start)) < 0) return rc;
    if ((rc = int_arg(c, &a->pos[1], &stop)) < 0) return rc;
    if (a->n_pos == 3 && (rc = int_arg(c, &a->pos[2], &step)) < 0) return rc;
  }
  if (step == 0) return jerr(c, GLOAM_EINVAL, "range() arg 3 must not be zero");
  uint64_t cnt = 0;
  if (step > 0 && stop > start)
    cnt = ((uint64_t)stop - (uint64_t)start - 1) / (uint64_t)step + 1;
  else if (step < 0 && start > stop)
    cnt = ((uint64_t)start - (uint64_t)stop - 1) / ((uint64_t)0 - (uint64_t)step) + 1;
  if (cnt > c->lim.max_steps)
    return jerr(c, GLOAM_ETOOBIG, "range of %llu items exceeds the step limit",
                (unsigned long long)cnt);
  if ((rc = jstep(c, cnt / 16)) < 0) return rc;
  jlist *l;
  if ((rc = list_of(c, (size_t)cnt, &l)) < 0) return rc;
  for (uint64_t i = 0; i < cnt; i++) l->items[i] = jv_int(start + (int64_t)i * step);
  l->range = true;
  l->r_start = start, l->r_stop = stop, l->r_step = step;
  out->t = JV_LIST;
  out->u.l = l;
  return 0;
}

static int bi_dict(jctx *c, const jcall *a, bool ns, jv *out) {
  jdict *d = jdict_new(c->a, a->n_kw + 4);
  if (!d) return jfail_mem(c);
  if (a->n_pos > 1) return jerr(c, GLOAM_EINVAL, "expected at most 1 positional argument");
  if (a->n_pos == 1) {
    if (a->pos[0].t != JV_DICT && a->pos[0].t != JV_NS)
      return jerr(c, GLOAM_EINVAL, "positional argument must be a mapping");
    for (size_t i = 0; i < a->pos[0].u.d->n; i++)
      if (jdict_put(c->a, d, a->pos[0].u.d->ents[i].key, a->pos[0].u.d->ents[i].val) < 0)
        return jfail_mem(c);
  }
  for (size_t i = 0; i < a->n_kw; i++)
    if (jdict_put(c->a, d, jv_str(a->kw[i].name, a->kw[i].len), a->kw_val[i]) < 0)
      return jfail_mem(c);
  if (!ns && jdict_seal(c->a, d) < 0) return jfail_mem(c);
  out->t = ns ? JV_NS : JV_DICT;
  out->u.d = d;
  return 0;
}

int jbuiltin_call(jctx *c, int fn, const jcall *a, jv *out) {
  switch (fn) {
    case BI_RANGE:
      return bi_range(c, a, out);
    case BI_NAMESPACE:
      return bi_dict(c, a, true, out);
    case BI_DICT:
      return bi_dict(c, a, false, out);
    case BI_RAISE: {
      jv m = a->n_pos ? a->pos[0] : jv_str("", 0);
      int rc = jstr_of(c, m, &m);
      if (rc < 0) return rc;
      return jerr(c, GLOAM_EINVAL, "%.*s", (int)(m.u.s.n > 200 ? 200 : m.u.s.n), m.u.s.p);
    }
    case BI_STRFTIME: {
      const jv *f = jarg(a, 0, NULL);
      if (!f || f->t != JV_STR)
        return jerr(c, GLOAM_EINVAL, "strftime_now() needs a format string");
      char fmt[128], res[256];
      if (f->u.s.n >= sizeof fmt) return jerr(c, GLOAM_EINVAL, "strftime_now() format too long");
      memcpy(fmt, f->u.s.p, f->u.s.n);
      fmt[f->u.s.n] = '\0';
      time_t now = c->lim.now ? (time_t)c->lim.now : time(NULL);
      struct tm tm;
      if (c->lim.now)
        gmtime_r(&now, &tm);
      else
        localtime_r(&now, &tm);
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
      size_t n = strftime(res, sizeof res, fmt, &tm); /* the template's format, by design */
#pragma GCC diagnostic pop
      return jstr_new(c, res, n, out);
    }
    default:
      return jerr(c, GLOAM_EINTERNAL, "unknown builtin");
  }
}
