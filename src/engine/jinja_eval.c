/* SPDX-License-Identifier: Apache-2.0
 *
 * engine/jinja_eval.c: expression evaluation for the Jinja subset.
 *
 * Python semantics throughout: `and`/`or` return an operand, `/` is true
 * division, `//` and `%` floor, ints are 64-bit (overflow is an error, not
 * a wrap), `+` concatenates strings and lists, `~` concatenates str() of
 * both sides, comparisons chain (`a < b < c`). Attribute access on a dict
 * finds its key; missing keys, attributes and out-of-range indexes give
 * undefined. Slices follow Python, negative steps included.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/err.h"
#include "engine/jinja_eval.h"

int jerr(jctx *c, int code, const char *fmt, ...) {
  char msg[GLOAM_ERR_LEN];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  return err_set(c->err, code, "template line %d: %s", c->line, msg);
}

void *jalloc(jctx *c, size_t n) {
  c->last_req = n;
  return arena_alloc(c->a, n);
}

int jfail_mem(jctx *c) {
  if (c->last_req > c->a->max || c->a->used + c->last_req + 4096 >= c->a->max)
    return jerr(c, GLOAM_ETOOBIG, "memory limit of %zu bytes exceeded", c->a->max);
  return jerr(c, GLOAM_ENOMEM, "out of memory");
}

int jstep(jctx *c, uint64_t n) {
  c->steps += n;
  if (c->steps > c->lim.max_steps)
    return jerr(c, GLOAM_ETOOBIG, "step limit of %llu exceeded",
                (unsigned long long)c->lim.max_steps);
  return 0;
}

int jstr_new(jctx *c, const char *p, size_t n, jv *out) {
  char *s = jalloc(c, n + 1);
  if (!s) return jfail_mem(c);
  if (n) memcpy(s, p, n);
  s[n] = '\0';
  *out = jv_str(s, n);
  return 0;
}

int jstr_of(jctx *c, jv v, jv *out) {
  if (v.t == JV_STR) {
    *out = v;
    return 0;
  }
  int rc = jv_to_str(c->a, v, c->lim.max_output, out);
  if (rc == GLOAM_ETOOBIG) return jerr(c, rc, "value too large to convert to a string");
  if (rc < 0) return jfail_mem(c);
  return 0;
}

int jerr_undef(jctx *c, jv v) {
  if (v.t == JV_UNDEF && v.u.s.p)
    return jerr(c, GLOAM_EINVAL, "'%.*s' is undefined", (int)(v.u.s.n > 64 ? 64 : v.u.s.n),
                v.u.s.p);
  return jerr(c, GLOAM_EINVAL, "undefined value used");
}

const jv *jarg(const jcall *a, size_t i, const char *name) {
  if (i < a->n_pos) return &a->pos[i];
  if (name) {
    size_t n = strlen(name);
    for (size_t k = 0; k < a->n_kw; k++)
      if (a->kw[k].len == n && memcmp(a->kw[k].name, name, n) == 0) return &a->kw_val[k];
  }
  return NULL;
}

/* ---- lookup ---- */

static bool name_eq(const char *a, size_t an, const char *b, size_t bn) {
  return an == bn && memcmp(a, b, an) == 0;
}

static jv lookup(jctx *c, const char *name, size_t len) {
  for (jscope *s = c->sc; s; s = s->parent)
    for (size_t i = s->n; i-- > 0;)
      if (name_eq(s->v[i].name, s->v[i].len, name, len)) return s->v[i].val;
  if (c->vars) {
    const jv *v = jdict_get_str(c->vars, name, len);
    if (v) return *v;
  }
  jv b;
  if (jbuiltin_lookup(name, len, &b)) return b;
  jv u = jv_undef();
  u.u.s.p = name;
  u.u.s.n = len;
  return u;
}

jv jgetattr(jv obj, const char *name, size_t len) {
  if (obj.t == JV_DICT || obj.t == JV_NS) {
    const jv *v = jdict_get_str(obj.u.d, name, len);
    if (v) return *v;
  } else if (obj.t == JV_LOOP) {
    const jloop *l = obj.u.loop;
    if (name_eq(name, len, "index", 5)) return jv_int((int64_t)l->index0 + 1);
    if (name_eq(name, len, "index0", 6)) return jv_int((int64_t)l->index0);
    if (name_eq(name, len, "revindex", 8)) return jv_int((int64_t)(l->length - l->index0));
    if (name_eq(name, len, "revindex0", 9)) return jv_int((int64_t)(l->length - l->index0 - 1));
    if (name_eq(name, len, "first", 5)) return jv_bool(l->index0 == 0);
    if (name_eq(name, len, "last", 4)) return jv_bool(l->index0 + 1 == l->length);
    if (name_eq(name, len, "length", 6)) return jv_int((int64_t)l->length);
    if (name_eq(name, len, "depth", 5)) return jv_int(1);
    if (name_eq(name, len, "depth0", 6)) return jv_int(0);
    if (name_eq(name, len, "previtem", 8) && l->index0 > 0) return l->items->items[l->index0 - 1];
    if (name_eq(name, len, "nextitem", 8) && l->index0 + 1 < l->length)
      return l->items->items[l->index0 + 1];
  }
  jv u = jv_undef();
  u.u.s.p = name;
  u.u.s.n = len;
  return u;
}

/* Python index normalisation; false when out of range. */
static bool norm_index(int64_t i, size_t n, size_t *out) {
  if (i < 0) i += (int64_t)n;
  if (i < 0 || (uint64_t)i >= n) return false;
  *out = (size_t)i;
  return true;
}

int jgetitem(jctx *c, jv obj, jv key, jv *out) {
  *out = jv_undef();
  if (obj.t == JV_DICT || obj.t == JV_NS) {
    const jv *v = jdict_get(obj.u.d, key);
    if (v) *out = *v;
    return 0;
  }
  if (key.t == JV_STR) {
    *out = jgetattr(obj, key.u.s.p, key.u.s.n);
    return 0;
  }
  /* Jinja: a subscript Python rejects (TypeError, IndexError) is undefined */
  if (key.t != JV_INT && key.t != JV_BOOL) return 0;
  int64_t i = key.t == JV_INT ? key.u.i : key.u.b;
  size_t k;
  if (obj.t == JV_LIST) {
    if (norm_index(i, obj.u.l->n, &k)) *out = obj.u.l->items[k];
  } else if (obj.t == JV_STR) {
    int rc = jstep(c, obj.u.s.n / 256);
    if (rc < 0) return rc;
    size_t n = jutf8_count(obj.u.s.p, obj.u.s.n);
    if (norm_index(i, n, &k)) {
      size_t off = jutf8_offset(obj.u.s.p, obj.u.s.n, k), cl;
      jutf8_decode(obj.u.s.p + off, obj.u.s.n - off, &cl);
      *out = jv_str(obj.u.s.p + off, cl);
    }
  }
  return 0;
}

int jiter(jctx *c, jv v, const jlist **out) {
  static jlist empty = {0};
  switch (v.t) {
    case JV_LIST:
      *out = v.u.l;
      return 0;
    case JV_UNDEF:
      *out = &empty;
      return 0;
    case JV_DICT:
    case JV_NS: {
      jlist *l = jlist_new(c->a, v.u.d->n);
      if (!l) return jfail_mem(c);
      for (size_t i = 0; i < v.u.d->n; i++) l->items[i] = v.u.d->ents[i].key;
      *out = l;
      return 0;
    }
    case JV_STR: {
      int rc = jstep(c, v.u.s.n / 16);
      if (rc < 0) return rc;
      size_t n = jutf8_count(v.u.s.p, v.u.s.n);
      jlist *l = jlist_new(c->a, n);
      if (!l) return jfail_mem(c);
      size_t off = 0;
      for (size_t i = 0; i < n; i++) {
        size_t cl;
        jutf8_decode(v.u.s.p + off, v.u.s.n - off, &cl);
        l->items[i] = jv_str(v.u.s.p + off, cl);
        off += cl;
      }
      *out = l;
      return 0;
    }
    default:
      return jerr(c, GLOAM_EINVAL, "'%s' object is not iterable", jv_type_name(v));
  }
}

/* ---- slicing ---- */

/* A slice bound: absent/None, an int, or (*bad) anything else. */
static int slice_arg(jctx *c, const jnode *x, bool *present, int64_t *v, bool *bad) {
  *present = false;
  if (!x) return 0;
  jv a;
  int rc = jeval(c, x, &a);
  if (rc < 0) return rc;
  if (a.t == JV_NONE) return 0;
  if (a.t == JV_UNDEF) /* Jinja raises here rather than giving undefined */
    return jerr(c, GLOAM_EINVAL, "slice indices must be integers or None");
  if (a.t != JV_INT && a.t != JV_BOOL) {
    *bad = true;
    return 0;
  }
  *present = true;
  *v = a.t == JV_INT ? a.u.i : a.u.b;
  return 0;
}

static int eval_slice(jctx *c, const jnode *x, jv *out) {
  jv obj;
  int rc = jeval(c, x->a, &obj);
  if (rc < 0) return rc;
  bool hs, he, hp, bad = false;
  int64_t s = 0, e = 0, step = 1;
  if ((rc = slice_arg(c, x->kids[0], &hs, &s, &bad)) < 0) return rc;
  if ((rc = slice_arg(c, x->kids[1], &he, &e, &bad)) < 0) return rc;
  if ((rc = slice_arg(c, x->kids[2], &hp, &step, &bad)) < 0) return rc;
  if (!hp) step = 1;
  /* as for subscripts, a slice Python rejects with TypeError is undefined */
  if (bad || (obj.t != JV_LIST && obj.t != JV_STR)) {
    *out = jv_undef();
    return 0;
  }
  if (step == 0) return jerr(c, GLOAM_EINVAL, "slice step cannot be zero");
  const jlist *items;
  if ((rc = jiter(c, obj, &items)) < 0) return rc;
  int64_t n = (int64_t)items->n;
  /* PySlice_AdjustIndices */
  if (!hs) {
    s = step < 0 ? n - 1 : 0;
  } else if (s < 0) {
    s += n;
    if (s < 0) s = step < 0 ? -1 : 0;
  } else if (s >= n) {
    s = step < 0 ? n - 1 : n;
  }
  if (!he) {
    e = step < 0 ? -1 : n;
  } else if (e < 0) {
    e += n;
    if (e < 0) e = step < 0 ? -1 : 0;
  } else if (e >= n) {
    e = step < 0 ? n - 1 : n;
  }
  size_t cnt = 0;
  if (step < 0) {
    if (e < s) cnt = (size_t)((s - e - 1) / (-step) + 1);
  } else if (s < e) {
    cnt = (size_t)((e - s - 1) / step + 1);
  }
  if ((rc = jstep(c, cnt / 16)) < 0) return rc;
  if (obj.t == JV_STR) {
    size_t total = 0;
    for (size_t i = 0; i < cnt; i++) total += items->items[s + (int64_t)i * step].u.s.n;
    char *p = jalloc(c, total + 1);
    if (!p) return jfail_mem(c);
    size_t o = 0;
    for (size_t i = 0; i < cnt; i++) {
      jv ch = items->items[s + (int64_t)i * step];
      memcpy(p + o, ch.u.s.p, ch.u.s.n);
      o += ch.u.s.n;
    }
    p[o] = '\0';
    *out = jv_str(p, o);
    return 0;
  }
  jlist *l = jlist_new(c->a, cnt);
  if (!l) return jfail_mem(c);
  for (size_t i = 0; i < cnt; i++) l->items[i] = items->items[s + (int64_t)i * step];
  l->tuple = obj.u.l->tuple;
  if (obj.u.l->range) { /* Python: a sliced range is a range */
    const jlist *r = obj.u.l;
    l->range = true;
    l->r_start = r->r_start + s * r->r_step;
    l->r_stop = r->r_start + e * r->r_step;
    l->r_step = r->r_step * step;
  }
  out->t = JV_LIST;
  out->u.l = l;
  return 0;
}

/* ---- operators ---- */

static double as_f(jv v) {
  return v.t == JV_FLOAT ? v.u.f : (double)(v.t == JV_INT ? v.u.i : (int64_t)v.u.b);
}
static int64_t as_i(jv v) {
  return v.t == JV_INT ? v.u.i : (int64_t)v.u.b;
}

static int type_err(jctx *c, const char *op, jv a, jv b) {
  if (a.t == JV_UNDEF) return jerr_undef(c, a);
  if (b.t == JV_UNDEF) return jerr_undef(c, b);
  return jerr(c, GLOAM_EINVAL, "unsupported operand types for %s: '%s' and '%s'", op,
              jv_type_name(a), jv_type_name(b));
}

static int concat_str(jctx *c, jv a, jv b, jv *out) {
  size_t n = a.u.s.n + b.u.s.n;
  char *p = jalloc(c, n + 1);
  if (!p) return jfail_mem(c);
  memcpy(p, a.u.s.p, a.u.s.n);
  memcpy(p + a.u.s.n, b.u.s.p, b.u.s.n);
  p[n] = '\0';
  *out = jv_str(p, n);
  return 0;
}

static int repeat(jctx *c, jv seq, int64_t times, jv *out) {
  if (times < 0) times = 0;
  size_t unit = seq.t == JV_STR ? seq.u.s.n : seq.u.l->n * sizeof(jv);
  if (unit && (uint64_t)times > (c->a->max / unit)) {
    c->last_req = SIZE_MAX;
    return jfail_mem(c);
  }
  size_t t = (size_t)times;
  if (seq.t == JV_STR) {
    char *p = jalloc(c, unit * t + 1);
    if (!p) return jfail_mem(c);
    for (size_t i = 0; i < t; i++) memcpy(p + i * unit, seq.u.s.p, unit);
    p[unit * t] = '\0';
    *out = jv_str(p, unit * t);
    return 0;
  }
  jlist *l = jlist_new(c->a, seq.u.l->n * t);
  if (!l) return jfail_mem(c);
  for (size_t i = 0; i < t; i++) memcpy(l->items + i * seq.u.l->n, seq.u.l->items, unit);
  out->t = JV_LIST;
  out->u.l = l;
  return 0;
}

static int arith(jctx *c, uint8_t op, jv a, jv b, jv *out) {
  static const char *names[] = {"", "+", "-", "*", "/", "//", "%", "**"};
  const char *on = op <= JOP_POW ? names[op] : "?";
  if (op == JOP_ADD && a.t == JV_STR && b.t == JV_STR) return concat_str(c, a, b, out);
  if (op == JOP_ADD && a.t == JV_LIST && b.t == JV_LIST) {
    jlist *l = jlist_new(c->a, a.u.l->n + b.u.l->n);
    if (!l) return jfail_mem(c);
    memcpy(l->items, a.u.l->items, a.u.l->n * sizeof(jv));
    memcpy(l->items + a.u.l->n, b.u.l->items, b.u.l->n * sizeof(jv));
    l->tuple = a.u.l->tuple;
    out->t = JV_LIST;
    out->u.l = l;
    return 0;
  }
  if (op == JOP_MUL && (a.t == JV_STR || a.t == JV_LIST) && (b.t == JV_INT || b.t == JV_BOOL))
    return repeat(c, a, as_i(b), out);
  if (op == JOP_MUL && (b.t == JV_STR || b.t == JV_LIST) && (a.t == JV_INT || a.t == JV_BOOL))
    return repeat(c, b, as_i(a), out);
  if (!jv_is_num(a) || !jv_is_num(b)) return type_err(c, on, a, b);
  bool fl = a.t == JV_FLOAT || b.t == JV_FLOAT;
  if (op == JOP_DIV) {
    if (as_f(b) == 0.0) return jerr(c, GLOAM_EINVAL, "division by zero");
    *out = jv_float(as_f(a) / as_f(b));
    return 0;
  }
  if (fl) {
    double x = as_f(a), y = as_f(b), r;
    switch (op) {
      case JOP_ADD:
        r = x + y;
        break;
      case JOP_SUB:
        r = x - y;
        break;
      case JOP_MUL:
        r = x * y;
        break;
      case JOP_FLOORDIV:
      case JOP_MOD:
        if (y == 0.0) return jerr(c, GLOAM_EINVAL, "float modulo or division by zero");
        if (op == JOP_FLOORDIV) {
          r = floor(x / y);
        } else {
          r = fmod(x, y);
          if (r != 0.0 && ((r < 0) != (y < 0))) r += y;
        }
        break;
      default:
        r = pow(x, y);
        break;
    }
    *out = jv_float(r);
    return 0;
  }
  int64_t x = as_i(a), y = as_i(b), r;
  switch (op) {
    case JOP_ADD:
      if (__builtin_add_overflow(x, y, &r)) goto overflow;
      break;
    case JOP_SUB:
      if (__builtin_sub_overflow(x, y, &r)) goto overflow;
      break;
    case JOP_MUL:
      if (__builtin_mul_overflow(x, y, &r)) goto overflow;
      break;
    case JOP_FLOORDIV:
    case JOP_MOD:
      if (y == 0) return jerr(c, GLOAM_EINVAL, "integer division or modulo by zero");
      if (x == INT64_MIN && y == -1) goto overflow;
      if (op == JOP_FLOORDIV) {
        r = x / y;
        if ((x % y != 0) && ((x < 0) != (y < 0))) r--;
      } else {
        r = x % y;
        if (r != 0 && ((r < 0) != (y < 0))) r += y;
      }
      break;
    default: /* ** */
      if (y < 0) {
        *out = jv_float(pow((double)x, (double)y));
        return 0;
      }
      r = 1;
      for (int64_t i = 0; i < y; i++) {
        if (__builtin_mul_overflow(r, x, &r)) goto overflow;
        if (r == 0 || r == 1) break;
        if (r == -1) {
          r = (y % 2) ? -1 : 1;
          break;
        }
      }
      break;
  }
  *out = jv_int(r);
  return 0;
overflow:
  return jerr(c, GLOAM_EINVAL, "integer overflow in %s", on);
}

static int contains(jctx *c, jv item, jv cont, bool *out) {
  *out = false;
  switch (cont.t) {
    case JV_STR:
      if (jstep(c, cont.u.s.n / 256) < 0) return GLOAM_ETOOBIG; /* linear scans cost steps */
      if (item.t != JV_STR)
        return jerr(c, GLOAM_EINVAL, "'in <string>' requires string as left operand, not %s",
                    jv_type_name(item));
      *out = item.u.s.n == 0 || memmem(cont.u.s.p, cont.u.s.n, item.u.s.p, item.u.s.n) != NULL;
      return 0;
    case JV_LIST:
      for (size_t i = 0; i < cont.u.l->n; i++)
        if (jv_eq(item, cont.u.l->items[i])) {
          *out = true;
          break;
        }
      return jstep(c, cont.u.l->n / 16);
    case JV_DICT:
    case JV_NS:
      *out = jdict_get(cont.u.d, item) != NULL;
      return 0;
    case JV_UNDEF:
      return 0;
    default:
      return jerr(c, GLOAM_EINVAL, "argument of type '%s' is not iterable", jv_type_name(cont));
  }
}

static int compare(jctx *c, uint8_t op, jv a, jv b, bool *out) {
  bool ok = true;
  switch (op) {
    case JOP_EQ:
      *out = jv_eq(a, b);
      return 0;
    case JOP_NE:
      *out = !jv_eq(a, b);
      return 0;
    case JOP_IN:
      return contains(c, a, b, out);
    case JOP_NOTIN: {
      int rc = contains(c, a, b, out);
      *out = !*out;
      return rc;
    }
    case JOP_LT:
      *out = jv_lt(a, b, &ok);
      break;
    case JOP_GT:
      *out = jv_lt(b, a, &ok);
      break;
    case JOP_LE:
      *out = jv_lt(a, b, &ok) || (ok && jv_eq(a, b));
      break;
    case JOP_GE:
      *out = jv_lt(b, a, &ok) || (ok && jv_eq(a, b));
      break;
    default:
      break;
  }
  if (!ok) {
    if (a.t == JV_UNDEF) return jerr_undef(c, a);
    if (b.t == JV_UNDEF) return jerr_undef(c, b);
    return jerr(c, GLOAM_EINVAL, "comparison not supported between '%s' and '%s'", jv_type_name(a),
                jv_type_name(b));
  }
  return 0;
}

/* ---- calls ---- */

static int eval_args(jctx *c, const jargs *in, jcall *out) {
  memset(out, 0, sizeof *out);
  size_t n = in->n_pos + in->n_kw;
  if (!n) return 0;
  jv *vals = jalloc(c, n * sizeof(jv));
  if (!vals) return jfail_mem(c);
  for (size_t i = 0; i < in->n_pos; i++) {
    int rc = jeval(c, in->pos[i], &vals[i]);
    if (rc < 0) return rc;
  }
  for (size_t i = 0; i < in->n_kw; i++) {
    int rc = jeval(c, in->kw[i].val, &vals[in->n_pos + i]);
    if (rc < 0) return rc;
  }
  out->pos = vals;
  out->n_pos = in->n_pos;
  out->kw = in->kw;
  out->kw_val = vals + in->n_pos;
  out->n_kw = in->n_kw;
  return 0;
}

static int eval_call(jctx *c, const jnode *x, jv *out) {
  jcall args;
  int rc;
  if (x->a->kind == JN_GETATTR) {
    jv obj;
    if ((rc = jeval(c, x->a->a, &obj)) < 0) return rc;
    if ((rc = eval_args(c, &x->args, &args)) < 0) return rc;
    c->line = x->line;
    rc = jmethod_call(c, obj, x->a->str, x->a->len, &args, out);
    if (rc != 0) return rc < 0 ? rc : 0;
    jv fn = jgetattr(obj, x->a->str, x->a->len);
    if (fn.t == JV_UNDEF)
      return jerr(c, GLOAM_EINVAL, "'%s' object has no attribute '%.*s'", jv_type_name(obj),
                  (int)(x->a->len > 64 ? 64 : x->a->len), x->a->str);
    return jcall_value(c, fn, &args, out);
  }
  jv fn;
  if ((rc = jeval(c, x->a, &fn)) < 0) return rc;
  if ((rc = eval_args(c, &x->args, &args)) < 0) return rc;
  c->line = x->line;
  return jcall_value(c, fn, &args, out);
}

/* ---- the evaluator ---- */

static int eval_list(jctx *c, const jnode *x, jv *out) {
  jlist *l = jlist_new(c->a, x->n_kids);
  if (!l) return jfail_mem(c);
  for (size_t i = 0; i < x->n_kids; i++) {
    int rc = jeval(c, x->kids[i], &l->items[i]);
    if (rc < 0) return rc;
  }
  l->tuple = x->kind == JN_TUPLE;
  out->t = JV_LIST;
  out->u.l = l;
  return 0;
}

static int eval_dict(jctx *c, const jnode *x, jv *out) {
  jdict *d = jdict_new(c->a, x->n_kids / 2);
  if (!d) return jfail_mem(c);
  for (size_t i = 0; i + 1 < x->n_kids; i += 2) {
    jv k, v;
    int rc = jeval(c, x->kids[i], &k);
    if (rc < 0) return rc;
    if ((rc = jeval(c, x->kids[i + 1], &v)) < 0) return rc;
    if (k.t == JV_LIST && !k.u.l->tuple)
      return jerr(c, GLOAM_EINVAL, "unhashable type: '%s'", jv_type_name(k));
    if (k.t == JV_DICT || k.t == JV_NS || k.t == JV_UNDEF)
      return jerr(c, GLOAM_EINVAL, "unhashable type: '%s'", jv_type_name(k));
    if (jdict_put(c->a, d, k, v) < 0) return jfail_mem(c);
  }
  if (jdict_seal(c->a, d) < 0) return jfail_mem(c);
  out->t = JV_DICT;
  out->u.d = d;
  return 0;
}

static int eval_inner(jctx *c, const jnode *x, jv *out) {
  int rc;
  jv a, b;
  switch (x->kind) {
    case JN_LIT:
      *out = x->lit;
      return 0;
    case JN_NAME:
      *out = lookup(c, x->str, x->len);
      return 0;
    case JN_LIST:
    case JN_TUPLE:
      return eval_list(c, x, out);
    case JN_DICT:
      return eval_dict(c, x, out);
    case JN_GETATTR:
      if ((rc = jeval(c, x->a, &a)) < 0) return rc;
      *out = jgetattr(a, x->str, x->len);
      return 0;
    case JN_GETITEM:
      if ((rc = jeval(c, x->a, &a)) < 0) return rc;
      if ((rc = jeval(c, x->b, &b)) < 0) return rc;
      return jgetitem(c, a, b, out);
    case JN_SLICE:
      return eval_slice(c, x, out);
    case JN_UNARY:
      if ((rc = jeval(c, x->a, &a)) < 0) return rc;
      if (x->op == JOP_NOT) {
        *out = jv_bool(!jv_truthy(a));
        return 0;
      }
      if (a.t == JV_INT || a.t == JV_BOOL) {
        int64_t i = as_i(a);
        if (x->op == JOP_NEG && i == INT64_MIN) return jerr(c, GLOAM_EINVAL, "integer overflow");
        *out = jv_int(x->op == JOP_NEG ? -i : i);
      } else if (a.t == JV_FLOAT) {
        *out = jv_float(x->op == JOP_NEG ? -a.u.f : a.u.f);
      } else {
        if (a.t == JV_UNDEF) return jerr_undef(c, a);
        return jerr(c, GLOAM_EINVAL, "bad operand type for unary -: '%s'", jv_type_name(a));
      }
      return 0;
    case JN_BINOP:
      if ((rc = jeval(c, x->a, &a)) < 0) return rc;
      if (x->op == JOP_AND || x->op == JOP_OR) {
        if (jv_truthy(a) == (x->op == JOP_OR)) {
          *out = a;
          return 0;
        }
        return jeval(c, x->b, out);
      }
      if ((rc = jeval(c, x->b, &b)) < 0) return rc;
      c->line = x->line;
      if (x->op == JOP_CONCAT) {
        if ((rc = jstr_of(c, a, &a)) < 0) return rc;
        if ((rc = jstr_of(c, b, &b)) < 0) return rc;
        return concat_str(c, a, b, out);
      }
      return arith(c, x->op, a, b, out);
    case JN_COMPARE:
      if ((rc = jeval(c, x->a, &a)) < 0) return rc;
      for (size_t i = 0; i < x->n_kids; i++) {
        bool r;
        if ((rc = jeval(c, x->kids[i], &b)) < 0) return rc;
        c->line = x->line;
        if ((rc = compare(c, x->ops[i], a, b, &r)) < 0) return rc;
        if (!r) {
          *out = jv_bool(false);
          return 0;
        }
        a = b;
      }
      *out = jv_bool(true);
      return 0;
    case JN_COND:
      if ((rc = jeval(c, x->a, &a)) < 0) return rc;
      if (jv_truthy(a)) return jeval(c, x->b, out);
      if (x->c) return jeval(c, x->c, out);
      *out = jv_undef();
      return 0;
    case JN_CALL:
      return eval_call(c, x, out);
    case JN_FILTER: {
      jcall args;
      if ((rc = jeval(c, x->a, &a)) < 0) return rc;
      if ((rc = eval_args(c, &x->args, &args)) < 0) return rc;
      c->line = x->line;
      return jfilter_apply(c, x->str, x->len, a, &args, out);
    }
    case JN_TEST: {
      jcall args;
      bool r;
      if ((rc = jeval(c, x->a, &a)) < 0) return rc;
      if ((rc = eval_args(c, &x->args, &args)) < 0) return rc;
      c->line = x->line;
      if ((rc = jtest_apply(c, x->str, x->len, a, &args, &r)) < 0) return rc;
      *out = jv_bool(x->op == JOP_NOT ? !r : r);
      return 0;
    }
    default:
      return jerr(c, GLOAM_EINTERNAL, "not an expression");
  }
}

int jeval(jctx *c, const jnode *x, jv *out) {
  int rc = jstep(c, 1);
  if (rc < 0) return rc;
  if (++c->depth > c->lim.max_depth * 8u) {
    c->depth--;
    return jerr(c, GLOAM_ETOOBIG, "recursion limit of %u exceeded", c->lim.max_depth * 8u);
  }
  c->line = x->line;
  rc = eval_inner(c, x, out);
  c->depth--;
  return rc;
}
