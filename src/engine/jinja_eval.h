/* SPDX-License-Identifier: Apache-2.0
 *
 * engine/jinja_eval.h: the evaluation context shared by the evaluator
 * (jinja_eval.c), the filters and tests (jinja_filters.c), the methods and
 * builtin globals (jinja_methods.c) and the JSON bridge (jinja_json.c).
 *
 * One jctx lives for one render: it owns the render's arena (every value),
 * the output buffer, the scope chain and the budgets (steps, output bytes,
 * memory, recursion depth). Every failure goes through jerr(), which
 * prefixes the template line being evaluated.
 *
 * Ownership: the context borrows the compiled template and the variables.
 * Thread safety: one context per render, on one thread.
 */
#ifndef GLOAM_ENGINE_JINJA_EVAL_H
#define GLOAM_ENGINE_JINJA_EVAL_H

#include <jansson.h>
#include <stdint.h>

#include "core/arena.h"
#include "core/buf.h"
#include "engine/jinja.h"
#include "engine/jinja_ast.h"
#include "engine/jinja_value.h"

typedef struct jvar {
  const char *name;
  size_t len;
  jv val;
} jvar;

typedef struct jscope jscope;
struct jscope {
  jscope *parent;
  jvar *v;
  size_t n, cap;
};

typedef struct jctx {
  arena *a;
  buf *out;
  jinja_limits lim;
  uint64_t steps;
  unsigned depth;
  jscope *sc, *root;
  const jdict *vars; /* the caller's variables */
  char *err;
  int line;
  int loopctl; /* 1 break, 2 continue */
  size_t last_req;
} jctx;

/* Evaluated call arguments. */
typedef struct jcall {
  jv *pos;
  size_t n_pos;
  const jkwarg *kw; /* names only */
  jv *kw_val;
  size_t n_kw;
} jcall;

/* Sets err to "template line N: <msg>" and returns code. */
int jerr(jctx *c, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Arena allocation that remembers the size for jfail_mem(). */
void *jalloc(jctx *c, size_t n);
/* GLOAM_ETOOBIG ("memory limit") or GLOAM_ENOMEM after a failed jalloc. */
int jfail_mem(jctx *c);
/* Charges n steps; GLOAM_ETOOBIG past the step limit. */
int jstep(jctx *c, uint64_t n);
/* An arena copy of p[0..n) as a string value. */
int jstr_new(jctx *c, const char *p, size_t n, jv *out);
/* str(v) as a string value. */
int jstr_of(jctx *c, jv v, jv *out);
/* Error for using an undefined value. */
int jerr_undef(jctx *c, jv v);

/* Argument i (positional) or keyword `name`, or NULL. */
const jv *jarg(const jcall *a, size_t i, const char *name);

/* Evaluates an expression. */
int jeval(jctx *c, const jnode *x, jv *out);
/* Calls a macro or builtin value. */
int jcall_value(jctx *c, jv fn, const jcall *args, jv *out);
/* Attribute and item access with Jinja's rules (missing -> undefined). */
jv jgetattr(jv obj, const char *name, size_t len);
int jgetitem(jctx *c, jv obj, jv key, jv *out);
/* The items a for loop / filter iterates over (dict: keys, str: chars). */
int jiter(jctx *c, jv v, const jlist **out);

/* Filters and tests by name; GLOAM_ENOENT-style errors for unknown names. */
int jfilter_apply(jctx *c, const char *name, size_t len, jv val, const jcall *args, jv *out);
int jtest_apply(jctx *c, const char *name, size_t len, jv val, const jcall *args, bool *out);

/* obj.name(args) for str, dict, list and loop methods. Returns 1 when handled
 * (result in *out), 0 when obj has no such method, or an error. */
int jmethod_call(jctx *c, jv obj, const char *name, size_t len, const jcall *args, jv *out);
/* Builtin globals (range, namespace, dict, raise_exception, strftime_now). */
bool jbuiltin_lookup(const char *name, size_t len, jv *out);
int jbuiltin_call(jctx *c, int fn, const jcall *args, jv *out);

/* String helpers shared by filters and methods. */
int jstr_strip(jctx *c, jv s, const jv *chars, bool left, bool right, jv *out);
int jstr_case(jctx *c, jv s, int mode, jv *out); /* 0 lower, 1 upper, 2 capitalize, 3 title */
int jstr_replace(jctx *c, jv s, jv old, jv rep, int64_t count, jv *out);

/* JSON bridge: jansson -> value (strings point into the json_t, which must
 * outlive the render), and value -> JSON text as Python's json.dumps. */
int jv_from_json(jctx *c, const json_t *j, unsigned depth, jv *out);
typedef struct jjson_opts {
  int indent; /* < 0: none */
  const char *indent_str;
  size_t indent_len;
  bool ensure_ascii, sort_keys;
  const char *item_sep, *key_sep;
} jjson_opts;
int jv_write_json(jctx *c, buf *out, jv v, const jjson_opts *o, unsigned level);

#endif
