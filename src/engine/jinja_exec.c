/* SPDX-License-Identifier: Apache-2.0
 *
 * engine/jinja_exec.c: statements, macros, and the compile/render entry
 * points of engine/jinja.h.
 *
 * Scoping follows Jinja: `if` shares its enclosing scope; every iteration
 * of a `for` body runs in a fresh child scope (so `set` inside a loop does
 * not leak out, which is why templates use namespace()); a macro body runs
 * in a scope whose parent is the template's top level. Lookups fall back to
 * the caller's variables, then to the builtin globals.
 */
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "engine/jinja_eval.h"

struct jinja_template {
  arena a;
  jnode **body;
  size_t n_body;
};

void jinja_limits_default(jinja_limits *lim) {
  lim->max_template = 1u << 20;
  lim->max_output = 16u << 20;
  lim->max_steps = 10u * 1000 * 1000;
  lim->max_depth = 64;
  lim->max_memory = 256u << 20;
  lim->now = 0;
}

static int exec_body(jctx *c, jnode *const *body, size_t n);

static int scope_set(jctx *c, jscope *s, const char *name, size_t len, jv v) {
  for (size_t i = 0; i < s->n; i++)
    if (s->v[i].len == len && memcmp(s->v[i].name, name, len) == 0) {
      s->v[i].val = v;
      return 0;
    }
  if (s->n == s->cap) {
    size_t nc = s->cap ? s->cap * 2 : 8;
    jvar *nv = jalloc(c, nc * sizeof(jvar));
    if (!nv) return jfail_mem(c);
    if (s->n) memcpy(nv, s->v, s->n * sizeof(jvar));
    s->v = nv;
    s->cap = nc;
  }
  s->v[s->n++] = (jvar){name, len, v};
  return 0;
}

static int out_err(jctx *c, int rc) {
  if (rc == GLOAM_ETOOBIG) return jerr(c, rc, "output limit of %zu bytes exceeded", c->out->max);
  return jerr(c, GLOAM_ENOMEM, "out of memory");
}

/* Binds names to v, unpacking when there are several. */
static int bind(jctx *c, const jname *names, size_t n, jv v) {
  if (n == 1) return scope_set(c, c->sc, names[0].str, names[0].len, v);
  const jlist *items;
  int rc = jiter(c, v, &items);
  if (rc < 0) return rc;
  if (items->n != n)
    return jerr(c, GLOAM_EINVAL, "cannot unpack %zu values into %zu names", items->n, n);
  for (size_t i = 0; i < n; i++)
    if ((rc = scope_set(c, c->sc, names[i].str, names[i].len, items->items[i])) < 0) return rc;
  return 0;
}

/* Runs body with output captured into a string value. */
static int capture(jctx *c, jnode *const *body, size_t n, jv *out) {
  buf tmp;
  buf_init(&tmp, c->lim.max_output);
  buf *saved = c->out;
  c->out = &tmp;
  int rc = exec_body(c, body, n);
  c->out = saved;
  if (rc == 0) rc = jstr_new(c, (const char *)buf_cstr(&tmp), tmp.len, out);
  buf_deinit(&tmp);
  return rc;
}

/* Applies a filter chain whose innermost filter has a NULL operand. */
static int apply_chain(jctx *c, const jnode *f, jv in, jv *out) {
  if (f->a) {
    int rc = apply_chain(c, f->a, in, &in);
    if (rc < 0) return rc;
  }
  jcall args = {0};
  size_t n = f->args.n_pos + f->args.n_kw;
  if (n) {
    jv *vals = jalloc(c, n * sizeof(jv));
    if (!vals) return jfail_mem(c);
    for (size_t i = 0; i < f->args.n_pos; i++) {
      int rc = jeval(c, f->args.pos[i], &vals[i]);
      if (rc < 0) return rc;
    }
    for (size_t i = 0; i < f->args.n_kw; i++) {
      int rc = jeval(c, f->args.kw[i].val, &vals[f->args.n_pos + i]);
      if (rc < 0) return rc;
    }
    args = (jcall){vals, f->args.n_pos, f->args.kw, vals + f->args.n_pos, f->args.n_kw};
  }
  c->line = f->line;
  return jfilter_apply(c, f->str, f->len, in, &args, out);
}

static int exec_for(jctx *c, const jnode *x) {
  jv seq;
  const jlist *items;
  int rc = jeval(c, x->a, &seq);
  if (rc < 0) return rc;
  if ((rc = jiter(c, seq, &items)) < 0) return rc;
  jscope s = {.parent = c->sc};
  jscope *saved = c->sc;
  if (x->b) { /* loop filter: keep the items for which the condition holds */
    jlist *kept = jlist_new(c->a, items->n);
    if (!kept) return jfail_mem(c);
    kept->n = 0;
    for (size_t i = 0; i < items->n; i++) {
      jv ok;
      s.n = 0;
      c->sc = &s;
      rc = bind(c, x->targets, x->n_targets, items->items[i]);
      if (rc == 0) rc = jeval(c, x->b, &ok);
      c->sc = saved;
      if (rc < 0) return rc;
      if (jv_truthy(ok)) kept->items[kept->n++] = items->items[i];
    }
    items = kept;
  }
  if (items->n == 0) return exec_body(c, x->else_body, x->n_else);
  jloop loop = {.length = items->n, .items = items};
  for (size_t i = 0; i < items->n; i++) {
    if ((rc = jstep(c, 1)) < 0) return rc;
    loop.index0 = i;
    s.n = 0;
    c->sc = &s;
    jv lv = {.t = JV_LOOP, .u.loop = &loop};
    rc = scope_set(c, &s, "loop", 4, lv);
    if (rc == 0) rc = bind(c, x->targets, x->n_targets, items->items[i]);
    if (rc == 0) rc = exec_body(c, x->body, x->n_body);
    c->sc = saved;
    if (rc < 0) return rc;
    int ctl = c->loopctl;
    c->loopctl = 0;
    if (ctl == 1) break;
  }
  return 0;
}

static int exec_set(jctx *c, const jnode *x) {
  jv v;
  int rc;
  if (x->kind == JN_SETBLOCK) {
    if ((rc = capture(c, x->body, x->n_body, &v)) < 0) return rc;
    if (x->b && (rc = apply_chain(c, x->b, v, &v)) < 0) return rc;
    return scope_set(c, c->sc, x->targets[0].str, x->targets[0].len, v);
  }
  if ((rc = jeval(c, x->a, &v)) < 0) return rc;
  c->line = x->line;
  if (x->attr) {
    jv ns = jv_undef();
    for (jscope *s = c->sc; s && ns.t == JV_UNDEF; s = s->parent)
      for (size_t i = 0; i < s->n; i++)
        if (s->v[i].len == x->len && memcmp(s->v[i].name, x->str, x->len) == 0) ns = s->v[i].val;
    if (ns.t == JV_UNDEF && c->vars) {
      const jv *g = jdict_get_str(c->vars, x->str, x->len);
      if (g) ns = *g;
    }
    if (ns.t != JV_NS)
      return jerr(c, GLOAM_EINVAL, "cannot assign attribute on non-namespace object '%.*s'",
                  (int)(x->len > 64 ? 64 : x->len), x->str);
    if (jdict_put(c->a, ns.u.d, jv_str(x->attr, x->attr_len), v) < 0) return jfail_mem(c);
    return 0;
  }
  return bind(c, x->targets, x->n_targets, v);
}

/* A macro sees the variables of the scopes around its definition. The
 * template's top level stays live (looked up at call time, as Jinja does);
 * inner scopes (loop iterations) are copied into the arena, since they end
 * before a macro stored in a namespace could be called. */
static int snapshot_scopes(jctx *c, jscope **out) {
  jscope *head = c->root, **link = &head;
  for (jscope *s = c->sc; s && s != c->root; s = s->parent) {
    jscope *copy = jalloc(c, sizeof *copy);
    if (!copy) return jfail_mem(c);
    *copy = (jscope){.n = s->n, .cap = s->n};
    if (s->n) {
      copy->v = jalloc(c, s->n * sizeof(jvar));
      if (!copy->v) return jfail_mem(c);
      memcpy(copy->v, s->v, s->n * sizeof(jvar));
    }
    copy->parent = c->root;
    *link = copy;
    link = &copy->parent;
  }
  *out = head;
  return 0;
}

static int exec_stmt(jctx *c, const jnode *x) {
  int rc = jstep(c, 1);
  if (rc < 0) return rc;
  c->line = x->line;
  switch (x->kind) {
    case JN_DATA:
      rc = buf_append(c->out, x->str, x->len);
      return rc < 0 ? out_err(c, rc) : 0;
    case JN_PRINT: {
      jv v;
      if ((rc = jeval(c, x->a, &v)) < 0) return rc;
      rc = jv_write_str(c->out, v);
      return rc < 0 ? out_err(c, rc) : 0;
    }
    case JN_IF: {
      jv v;
      if ((rc = jeval(c, x->a, &v)) < 0) return rc;
      return jv_truthy(v) ? exec_body(c, x->body, x->n_body)
                          : exec_body(c, x->else_body, x->n_else);
    }
    case JN_FOR:
      return exec_for(c, x);
    case JN_SET:
    case JN_SETBLOCK:
      return exec_set(c, x);
    case JN_MACRO: {
      jmacro *mac = jalloc(c, sizeof *mac);
      if (!mac) return jfail_mem(c);
      mac->node = x;
      mac->closure = NULL;
      jv m = {.t = JV_MACRO, .u.m = mac};
      /* bind first, so the closure holds the macro itself (recursion) */
      if ((rc = scope_set(c, c->sc, x->str, x->len, m)) < 0) return rc;
      return snapshot_scopes(c, &mac->closure);
    }
    case JN_BREAK:
      c->loopctl = 1;
      return 0;
    case JN_CONTINUE:
      c->loopctl = 2;
      return 0;
    case JN_FILTERBLOCK: {
      jv v;
      if ((rc = capture(c, x->body, x->n_body, &v)) < 0) return rc;
      if ((rc = apply_chain(c, x->b, v, &v)) < 0) return rc;
      rc = jv_write_str(c->out, v);
      return rc < 0 ? out_err(c, rc) : 0;
    }
    case JN_BLOCK:
      return exec_body(c, x->body, x->n_body);
    case JN_CALLBLOCK:
      return jerr(c, GLOAM_EINVAL, "{%% call %%} blocks are not supported");
    default:
      return jerr(c, GLOAM_EINTERNAL, "not a statement");
  }
}

static int exec_body(jctx *c, jnode *const *body, size_t n) {
  if (++c->depth > c->lim.max_depth * 8u) {
    c->depth--;
    return jerr(c, GLOAM_ETOOBIG, "recursion limit of %u exceeded", c->lim.max_depth * 8u);
  }
  int rc = 0;
  for (size_t i = 0; i < n && rc == 0 && !c->loopctl; i++) rc = exec_stmt(c, body[i]);
  c->depth--;
  return rc;
}

static int call_macro(jctx *c, const jmacro *mac, const jcall *args, jv *out) {
  const jnode *m = mac->node;
  jscope s = {.parent = mac->closure ? mac->closure : c->root};
  jscope *saved = c->sc;
  int saved_line = c->line;
  c->sc = &s;
  int rc = 0;
  size_t extra_pos = args->n_pos > m->n_targets ? args->n_pos - m->n_targets : 0;
  for (size_t i = 0; i < m->n_targets && rc == 0; i++) {
    jv v = jv_undef();
    const jv *a = i < args->n_pos ? &args->pos[i] : NULL;
    if (!a) {
      char nm[64];
      size_t l = m->targets[i].len < sizeof nm - 1 ? m->targets[i].len : sizeof nm - 1;
      memcpy(nm, m->targets[i].str, l);
      nm[l] = '\0';
      a = jarg(&(jcall){NULL, 0, args->kw, args->kw_val, args->n_kw}, 0, nm);
    }
    if (a)
      v = *a;
    else if (m->defaults[i])
      rc = jeval(c, m->defaults[i], &v);
    if (rc == 0) rc = scope_set(c, &s, m->targets[i].str, m->targets[i].len, v);
  }
  if (rc == 0) {
    jlist *va = jlist_new(c->a, extra_pos);
    if (!va) rc = jfail_mem(c);
    if (rc == 0) {
      for (size_t i = 0; i < extra_pos; i++) va->items[i] = args->pos[m->n_targets + i];
      rc = scope_set(c, &s, "varargs", 7, (jv){.t = JV_LIST, .u.l = va});
    }
  }
  if (rc == 0) rc = capture(c, m->body, m->n_body, out);
  c->loopctl = 0;
  c->sc = saved;
  if (rc == 0) c->line = saved_line;
  return rc;
}

int jcall_value(jctx *c, jv fn, const jcall *args, jv *out) {
  if (fn.t == JV_MACRO) return call_macro(c, fn.u.m, args, out);
  if (fn.t == JV_FUNC) return jbuiltin_call(c, fn.u.fn, args, out);
  if (fn.t == JV_UNDEF) return jerr_undef(c, fn);
  return jerr(c, GLOAM_EINVAL, "'%s' object is not callable", jv_type_name(fn));
}

/* ---- entry points ---- */

int jinja_compile(jinja_template **out, const char *src, size_t n, const jinja_limits *lim,
                  char *err) {
  jinja_limits dl;
  if (!lim) {
    jinja_limits_default(&dl);
    lim = &dl;
  }
  *out = NULL;
  if (n > lim->max_template)
    return err_set(err, GLOAM_ETOOBIG, "template of %zu bytes exceeds the limit of %zu", n,
                   lim->max_template);
  if (!jutf8_valid(src, n)) return err_set(err, GLOAM_EFORMAT, "template is not valid UTF-8");
  jinja_template *t = mem_calloc(1, sizeof *t);
  if (!t) return err_set(err, GLOAM_ENOMEM, "out of memory");
  arena_init(&t->a, 64 << 10, 64 * n + (4u << 20));
  jtok *toks;
  size_t n_toks;
  int rc = jinja_lex(&t->a, src, n, &toks, &n_toks, err);
  if (rc == 0) rc = jinja_parse(&t->a, toks, n_toks, lim->max_depth, &t->body, &t->n_body, err);
  if (rc == GLOAM_ENOMEM) err_set(err, rc, "out of memory compiling the template");
  if (rc < 0) {
    jinja_template_free(t);
    return rc;
  }
  *out = t;
  return 0;
}

void jinja_template_free(jinja_template *t) {
  if (!t) return;
  arena_deinit(&t->a);
  mem_free(t);
}

int jinja_render(const jinja_template *t, const json_t *vars, const jinja_limits *lim, char **out,
                 size_t *out_len, char *err) {
  jinja_limits dl;
  if (!lim) {
    jinja_limits_default(&dl);
    lim = &dl;
  }
  *out = NULL;
  if (out_len) *out_len = 0;
  arena a;
  arena_init(&a, 64 << 10, lim->max_memory);
  buf ob;
  buf_init(&ob, lim->max_output);
  jscope root = {0};
  jctx c = {.a = &a, .out = &ob, .lim = *lim, .sc = &root, .root = &root, .err = err};
  int rc = 0;
  if (vars) {
    if (!json_is_object(vars)) {
      rc = err_set(err, GLOAM_EINVAL, "template variables must be a JSON object");
      goto done;
    }
    jv v;
    if ((rc = jv_from_json(&c, vars, 0, &v)) < 0) goto done;
    c.vars = v.u.d;
  }
  if ((rc = exec_body(&c, t->body, t->n_body)) < 0) goto done;
  size_t n = ob.len;
  char *s = (char *)buf_take(&ob, &n);
  if (!s) s = mem_calloc(1, 1);
  if (!s) {
    rc = err_set(err, GLOAM_ENOMEM, "out of memory");
    goto done;
  }
  *out = s;
  if (out_len) *out_len = n;
done:
  buf_deinit(&ob);
  arena_deinit(&a);
  return rc;
}
