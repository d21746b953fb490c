/* SPDX-License-Identifier: Apache-2.0
 *
 * engine/jinja.h: a sandboxed interpreter for the Jinja subset that chat
 * templates use (docs/chat-templates.md lists it).
 *
 *   jinja_limits lim;
 *   jinja_limits_default(&lim);
 *   jinja_template *t;
 *   char err[GLOAM_ERR_LEN];
 *   if (jinja_compile(&t, src, strlen(src), &lim, err) < 0) ...
 *   json_t *vars = json_pack("{s:o}", "messages", msgs);
 *   char *out; size_t n;
 *   if (jinja_render(t, vars, &lim, &out, &n, err) < 0) ...
 *   mem_free(out); json_decref(vars); jinja_template_free(t);
 *
 * The environment is the one Hugging Face's apply_chat_template uses:
 * trim_blocks and lstrip_blocks on, loop controls (break/continue) on, no
 * autoescape, lists and dicts immutable, globals raise_exception() and
 * strftime_now(), and `tojson` as Python's json.dumps(ensure_ascii=False).
 * Unlike Jinja's default Undefined, attribute and item access on an
 * undefined value gives undefined (Jinja's ChainableUndefined); printing it
 * gives "", arithmetic on it is an error.
 *
 * Limits: template size, output size, evaluation steps, nesting depth and
 * memory are all bounded; exceeding one is GLOAM_ETOOBIG with a message
 * that names the limit. Errors carry the template line.
 *
 * Return codes: 0; GLOAM_EFORMAT (syntax error, invalid UTF-8);
 * GLOAM_EINVAL (runtime error: undefined value, type error,
 * raise_exception); GLOAM_ETOOBIG (a limit); GLOAM_ENOMEM.
 *
 * Ownership: jinja_compile() copies what it needs from src; the template is
 * freed with jinja_template_free(). jinja_render() borrows vars and returns
 * a mem_alloc'd NUL-terminated string the caller frees with mem_free().
 * Thread safety: a compiled template is immutable; any number of threads
 * may render it at once.
 */
#ifndef GLOAM_ENGINE_JINJA_H
#define GLOAM_ENGINE_JINJA_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

typedef struct jinja_limits {
  size_t max_template; /* bytes of template source (default 1 MiB) */
  size_t max_output;   /* bytes of rendered output (default 16 MiB) */
  uint64_t max_steps;  /* evaluated nodes and loop iterations (default 10M) */
  unsigned max_depth;  /* syntax nesting (default 64); runtime recursion is 8x */
  size_t max_memory;   /* bytes of values one render may allocate (default 256 MiB) */
  int64_t now;         /* strftime_now() time (Unix seconds, UTC); 0: the clock */
} jinja_limits;

typedef struct jinja_template jinja_template;

void jinja_limits_default(jinja_limits *lim);

/* Compiles src (n bytes; need not be NUL-terminated). OUT: *out.
 * Returns 0, GLOAM_EFORMAT, GLOAM_ETOOBIG, GLOAM_ENOMEM; err gets detail. */
int jinja_compile(jinja_template **out, const char *src, size_t n, const jinja_limits *lim,
                  char *err);
void jinja_template_free(jinja_template *t);

/* Renders with the variables of the JSON object vars (may be NULL).
 * lim NULL: the defaults. OUT: *out (mem_alloc'd), *out_len. */
int jinja_render(const jinja_template *t, const json_t *vars, const jinja_limits *lim, char **out,
                 size_t *out_len, char *err);

#endif
