/* SPDX-License-Identifier: Apache-2.0
 *
 * node/request.c: parsing and validating an OpenAI chat-completions request
 * body (see request.h). Every check names the field, never its content.
 */
#include "node/request.h"

#include <math.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "gloam/err.h"
#include "http/json.h"

static int bad(node_request *r, char *err, const char *field, const char *what) {
  r->refusal = NODE_REQ_INVALID;
  return err_set(err, GLOAM_EFORMAT, "'%s' %s", field, what);
}

/* A number field in [lo, hi]; absent or null keeps *out. */
static int get_num(node_request *r, json_t *o, const char *k, double lo, double hi, double *out,
                   char *err) {
  json_t *v = json_object_get(o, k);
  if (!v || json_is_null(v)) return 0;
  if (!json_is_number(v)) return bad(r, err, k, "must be a number");
  double d = json_number_value(v);
  if (!isfinite(d) || d < lo || d > hi) return bad(r, err, k, "is out of range");
  *out = d;
  return 0;
}

static int get_int(node_request *r, json_t *o, const char *k, int64_t lo, int64_t hi, int64_t *out,
                   char *err) {
  json_t *v = json_object_get(o, k);
  if (!v || json_is_null(v)) return 0;
  if (!json_is_integer(v)) return bad(r, err, k, "must be an integer");
  json_int_t i = json_integer_value(v);
  if (i < lo || i > hi) return bad(r, err, k, "is out of range");
  *out = (int64_t)i;
  return 0;
}

static int get_bool(node_request *r, json_t *o, const char *k, bool *out, char *err) {
  json_t *v = json_object_get(o, k);
  if (!v || json_is_null(v)) return 0;
  if (!json_is_boolean(v)) return bad(r, err, k, "must be a boolean");
  *out = json_is_true(v);
  return 0;
}

/* A content value: a string, or an array of {"type":"text","text":..} parts. */
static int check_content(node_request *r, json_t *c, bool allow_null, char *err) {
  if (json_is_string(c)) return 0;
  if (json_is_null(c) && allow_null) return 0;
  if (!json_is_array(c)) return bad(r, err, "messages[].content", "must be a string or an array");
  size_t i;
  json_t *p;
  json_array_foreach(c, i, p) {
    const char *t = json_string_value(json_object_get(p, "type"));
    if (!json_is_object(p) || !t) return bad(r, err, "messages[].content[]", "needs a type");
    if (strcmp(t, "text") != 0)
      return bad(r, err, "messages[].content[].type", "is not supported (text only)");
    if (!json_is_string(json_object_get(p, "text")))
      return bad(r, err, "messages[].content[].text", "must be a string");
  }
  return 0;
}

static int check_messages(node_request *r, json_t *msgs, char *err) {
  if (!json_is_array(msgs) || json_array_size(msgs) == 0)
    return bad(r, err, "messages", "must be a non-empty array");
  if (json_array_size(msgs) > NODE_REQ_MAX_MESSAGES) {
    r->refusal = NODE_REQ_INVALID;
    return err_set(err, GLOAM_ETOOBIG, "'messages' has more than %d entries",
                   NODE_REQ_MAX_MESSAGES);
  }
  size_t i;
  json_t *m;
  json_array_foreach(msgs, i, m) {
    if (!json_is_object(m)) return bad(r, err, "messages[]", "must be an object");
    const char *role = json_string_value(json_object_get(m, "role"));
    if (!role) return bad(r, err, "messages[].role", "must be a string");
    bool assistant = strcmp(role, "assistant") == 0;
    if (!assistant && strcmp(role, "system") && strcmp(role, "user") && strcmp(role, "tool") &&
        strcmp(role, "developer"))
      return bad(r, err, "messages[].role", "is not a known role");
    json_t *c = json_object_get(m, "content");
    if (!c && !assistant) return bad(r, err, "messages[].content", "is required");
    if (c && check_content(r, c, assistant, err) < 0) return GLOAM_EFORMAT;
    json_t *tc = json_object_get(m, "tool_calls");
    if (tc && !json_is_null(tc) && !json_is_array(tc))
      return bad(r, err, "messages[].tool_calls", "must be an array");
  }
  return 0;
}

static int check_tools(node_request *r, json_t *tools, char *err) {
  if (!json_is_array(tools)) return bad(r, err, "tools", "must be an array");
  if (json_array_size(tools) > NODE_REQ_MAX_TOOLS) return bad(r, err, "tools", "has too many");
  size_t i;
  json_t *t;
  json_array_foreach(tools, i, t) {
    const char *type = json_string_value(json_object_get(t, "type"));
    json_t *fn = json_object_get(t, "function");
    if (!type || strcmp(type, "function") != 0)
      return bad(r, err, "tools[].type", "must be \"function\"");
    if (!json_is_object(fn) || !json_is_string(json_object_get(fn, "name")))
      return bad(r, err, "tools[].function.name", "must be a string");
  }
  return 0;
}

static int add_stop(node_request *r, json_t *s, char *err) {
  const char *v = json_string_value(s);
  size_t n = json_string_length(s);
  if (!v) return bad(r, err, "stop", "must be a string or an array of strings");
  if (n == 0 || n > NODE_REQ_MAX_STOP_LEN) return bad(r, err, "stop", "has an empty or long entry");
  if (memchr(v, 0, n)) return bad(r, err, "stop", "contains NUL");
  if (r->n_stop >= NODE_REQ_MAX_STOP) return bad(r, err, "stop", "has more than 4 entries");
  r->stop[r->n_stop] = mem_strndup(v, n);
  if (!r->stop[r->n_stop]) return err_set(err, GLOAM_ENOMEM, "out of memory");
  r->stop_len[r->n_stop++] = n;
  return 0;
}

static int parse_stop(node_request *r, json_t *o, char *err) {
  json_t *s = json_object_get(o, "stop");
  if (!s || json_is_null(s)) return 0;
  if (json_is_string(s)) return add_stop(r, s, err);
  if (!json_is_array(s)) return bad(r, err, "stop", "must be a string or an array of strings");
  size_t i;
  json_t *e;
  json_array_foreach(s, i, e) {
    int rc = add_stop(r, e, err);
    if (rc < 0) return rc;
  }
  return 0;
}

/* What the node cannot do is refused, not ignored. */
static int check_unsupported(node_request *r, json_t *o, char *err) {
  json_t *rf = json_object_get(o, "response_format");
  if (rf && !json_is_null(rf)) {
    const char *t = json_string_value(json_object_get(rf, "type"));
    if (!json_is_object(rf) || !t) return bad(r, err, "response_format", "needs a type");
    if (strcmp(t, "text") != 0) {
      r->refusal = NODE_REQ_RESPONSE_FORMAT;
      return err_set(err, GLOAM_EFORMAT, "response_format '%s' is not supported",
                     strcmp(t, "json_object") == 0   ? "json_object"
                     : strcmp(t, "json_schema") == 0 ? "json_schema"
                                                     : "(unknown)");
    }
  }
  int64_t n = 1;
  if (get_int(r, o, "n", 1, 1, &n, err) < 0) return GLOAM_EFORMAT;
  bool lp = false;
  if (get_bool(r, o, "logprobs", &lp, err) < 0) return GLOAM_EFORMAT;
  if (lp) return bad(r, err, "logprobs", "is not supported");
  return 0;
}

static int parse_tools(node_request *r, json_t *o, char *err) {
  json_t *tools = json_object_get(o, "tools");
  if (!tools || json_is_null(tools)) return 0;
  if (check_tools(r, tools, err) < 0) return GLOAM_EFORMAT;
  json_t *tc = json_object_get(o, "tool_choice");
  if (tc && json_is_string(tc) && strcmp(json_string_value(tc), "none") == 0) return 0;
  if (tc && !json_is_null(tc) && !json_is_string(tc) && !json_is_object(tc))
    return bad(r, err, "tool_choice", "must be a string or an object");
  if (json_array_size(tools) > 0) r->tools = json_incref(tools);
  return 0;
}

static int parse_sampling(node_request *r, json_t *o, char *err) {
  int64_t mt = 0, mct = 0, topk = 0, seed = 0;
  if (get_int(r, o, "max_tokens", 1, INT32_MAX, &mt, err) < 0 ||
      get_int(r, o, "max_completion_tokens", 1, INT32_MAX, &mct, err) < 0 ||
      get_num(r, o, "temperature", 0, 2, &r->temperature, err) < 0 ||
      get_num(r, o, "top_p", 0, 1, &r->top_p, err) < 0 ||
      get_int(r, o, "top_k", 0, 1 << 20, &topk, err) < 0 ||
      get_num(r, o, "min_p", 0, 1, &r->min_p, err) < 0 ||
      get_num(r, o, "presence_penalty", -2, 2, &r->presence_penalty, err) < 0 ||
      get_num(r, o, "frequency_penalty", -2, 2, &r->frequency_penalty, err) < 0 ||
      get_num(r, o, "repetition_penalty", 0.01, 10, &r->repetition_penalty, err) < 0)
    return GLOAM_EFORMAT;
  r->max_tokens = mct ? mct : mt;
  r->top_k = (int)topk;
  json_t *s = json_object_get(o, "seed");
  if (s && !json_is_null(s)) {
    if (get_int(r, o, "seed", INT64_MIN, INT64_MAX, &seed, err) < 0) return GLOAM_EFORMAT;
    r->has_seed = true;
    r->seed = (uint64_t)seed;
    if (r->seed == UINT64_MAX) r->seed = 0; /* UINT64_MAX means "random" to the engine */
  }
  return 0;
}

int node_request_parse(const uint8_t *body, size_t len, node_request *r, char *err) {
  memset(r, 0, sizeof *r);
  r->temperature = 1;
  r->top_p = 1;
  r->repetition_penalty = 1;
  json_t *o = NULL;
  int rc =
      json_parse_limited((const char *)body, len, NODE_REQ_MAX_BYTES, NODE_REQ_MAX_DEPTH, &o, err);
  if (rc < 0) return rc;
  json_t *model = json_object_get(o, "model");
  if (model && !json_is_string(model)) {
    rc = bad(r, err, "model", "must be a string");
    goto fail;
  }
  if (model && !(r->model = mem_strdup(json_string_value(model)))) {
    rc = err_set(err, GLOAM_ENOMEM, "out of memory");
    goto fail;
  }
  json_t *msgs = json_object_get(o, "messages");
  if ((rc = check_messages(r, msgs, err)) < 0) goto fail;
  r->messages = json_incref(msgs);
  if ((rc = parse_tools(r, o, err)) < 0 || (rc = parse_sampling(r, o, err)) < 0 ||
      (rc = parse_stop(r, o, err)) < 0 || (rc = check_unsupported(r, o, err)) < 0 ||
      (rc = get_bool(r, o, "stream", &r->stream, err)) < 0)
    goto fail;
  json_t *so = json_object_get(o, "stream_options");
  if (so && !json_is_null(so)) {
    if (!json_is_object(so)) {
      rc = bad(r, err, "stream_options", "must be an object");
      goto fail;
    }
    if ((rc = get_bool(r, so, "include_usage", &r->include_usage, err)) < 0) goto fail;
  }
  json_decref(o);
  return 0;
fail:
  json_decref(o);
  enum node_req_refusal why = r->refusal;
  node_request_deinit(r);
  r->refusal = why;
  return rc;
}

void node_request_deinit(node_request *r) {
  if (!r) return;
  json_decref(r->messages);
  json_decref(r->tools);
  mem_free(r->model);
  for (int i = 0; i < r->n_stop; i++) mem_free(r->stop[i]);
  memset(r, 0, sizeof *r);
}

const char *node_request_error_code(const node_request *r) {
  return r->refusal == NODE_REQ_RESPONSE_FORMAT ? "unsupported_response_format" : "invalid_request";
}
