/* SPDX-License-Identifier: Apache-2.0
 *
 * engine/chat.c: gloam_chat_* rendering (include/gloam/chat.h) over the
 * Jinja interpreter.
 *
 * The variables are the ones Hugging Face's apply_chat_template passes to
 * the template: messages, tools (None when absent, so `tools is defined`
 * holds as it does there), documents (None), add_generation_prompt, the
 * special tokens given (bos_token, eos_token), then the caller's extra
 * variables, which override (the request's `extra`, e.g. enable_thinking).
 */
#include <jansson.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "engine/jinja.h"
#include "gloam/chat.h"

#define CHAT_MAX_JSON (64u << 20)

struct gloam_chat_template {
  jinja_template *t;
  jinja_limits lim;
};

static void to_jinja(const gloam_chat_limits *in, jinja_limits *out) {
  jinja_limits_default(out);
  if (!in) return;
  if (in->max_template) out->max_template = in->max_template;
  if (in->max_output) out->max_output = in->max_output;
  if (in->max_steps) out->max_steps = in->max_steps;
  if (in->max_depth) out->max_depth = in->max_depth;
  if (in->max_memory) out->max_memory = in->max_memory;
  out->now = in->now;
}

void gloam_chat_limits_default(gloam_chat_limits *lim) {
  jinja_limits j;
  jinja_limits_default(&j);
  lim->max_template = j.max_template;
  lim->max_output = j.max_output;
  lim->max_steps = j.max_steps;
  lim->max_depth = j.max_depth;
  lim->max_memory = j.max_memory;
  lim->now = j.now;
}

void gloam_chat_free(void *p) {
  mem_free(p);
}

int gloam_chat_template_new(gloam_chat_template **out, const char *src, size_t len,
                            const gloam_chat_limits *lim, char *err) {
  char tmp[GLOAM_ERR_LEN];
  if (!err) err = tmp;
  if (!out || (!src && len)) return err_set(err, GLOAM_EINVAL, "invalid argument");
  *out = NULL;
  gloam_chat_template *t = mem_calloc(1, sizeof *t);
  if (!t) return err_set(err, GLOAM_ENOMEM, "out of memory");
  to_jinja(lim, &t->lim);
  int rc = jinja_compile(&t->t, src ? src : "", len, &t->lim, err);
  if (rc < 0) {
    mem_free(t);
    return rc;
  }
  *out = t;
  return 0;
}

void gloam_chat_template_free(gloam_chat_template *t) {
  if (!t) return;
  jinja_template_free(t->t);
  mem_free(t);
}

/* Parses a JSON text argument; want is JSON_ARRAY or JSON_OBJECT. */
static int parse_arg(const char *text, json_type want, const char *what, json_t **out, char *err) {
  json_error_t je;
  size_t n = strlen(text);
  if (n > CHAT_MAX_JSON) return err_set(err, GLOAM_ETOOBIG, "%s: JSON too large", what);
  json_t *j = json_loadb(text, n, JSON_ALLOW_NUL, &je);
  if (!j) return err_set(err, GLOAM_EINVAL, "%s: bad JSON at line %d: %s", what, je.line, je.text);
  if (json_typeof(j) != want) {
    json_decref(j);
    return err_set(err, GLOAM_EINVAL, "%s: expected a JSON %s", what,
                   want == JSON_ARRAY ? "array" : "object");
  }
  *out = j;
  return 0;
}

static int set_new(json_t *obj, const char *key, json_t *v) {
  if (!v || json_object_set_new(obj, key, v) < 0) return GLOAM_ENOMEM;
  return 0;
}

int gloam_chat_template_render(const gloam_chat_template *t, const gloam_chat_request *req,
                               char **out, size_t *out_len, char *err) {
  char tmp[GLOAM_ERR_LEN];
  if (!err) err = tmp;
  if (!t || !req || !out || !req->messages_json)
    return err_set(err, GLOAM_EINVAL, "invalid argument");
  *out = NULL;
  json_t *vars = json_object(), *msgs = NULL, *tools = NULL, *extra = NULL;
  int rc = 0;
  if (!vars) return err_set(err, GLOAM_ENOMEM, "out of memory");
  if ((rc = parse_arg(req->messages_json, JSON_ARRAY, "messages", &msgs, err)) < 0) goto done;
  if (req->tools_json && (rc = parse_arg(req->tools_json, JSON_ARRAY, "tools", &tools, err)) < 0)
    goto done;
  if (req->extra_vars_json &&
      (rc = parse_arg(req->extra_vars_json, JSON_OBJECT, "extra variables", &extra, err)) < 0)
    goto done;
  rc = set_new(vars, "messages", msgs);
  msgs = NULL;
  if (rc == 0) rc = set_new(vars, "tools", tools ? tools : json_null());
  tools = NULL;
  if (rc == 0) rc = set_new(vars, "documents", json_null());
  if (rc == 0)
    rc = set_new(vars, "add_generation_prompt", json_boolean(req->add_generation_prompt));
  if (rc == 0 && req->bos_token) rc = set_new(vars, "bos_token", json_string(req->bos_token));
  if (rc == 0 && req->eos_token) rc = set_new(vars, "eos_token", json_string(req->eos_token));
  if (rc == 0 && extra && json_object_update(vars, extra) < 0) rc = GLOAM_ENOMEM;
  if (rc < 0) {
    err_set(err, rc, "out of memory (or a special token is not valid UTF-8)");
    goto done;
  }
  rc = jinja_render(t->t, vars, &t->lim, out, out_len, err);
done:
  json_decref(msgs);
  json_decref(tools);
  json_decref(extra);
  json_decref(vars);
  return rc;
}

int gloam_chat_render(const char *template_src, const gloam_chat_request *req,
                      const gloam_chat_limits *lim, char **out, size_t *out_len, char *err) {
  char tmp[GLOAM_ERR_LEN];
  if (!err) err = tmp;
  if (!template_src) return err_set(err, GLOAM_EINVAL, "no chat template");
  gloam_chat_template *t;
  int rc = gloam_chat_template_new(&t, template_src, strlen(template_src), lim, err);
  if (rc < 0) return rc;
  rc = gloam_chat_template_render(t, req, out, out_len, err);
  gloam_chat_template_free(t);
  return rc;
}
