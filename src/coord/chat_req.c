/* SPDX-License-Identifier: Apache-2.0
 *
 * coord/chat_req.c: OpenAI chat request validation (see chat_req.h). The
 * ranges follow OpenAI's API reference for /v1/chat/completions.
 */
#include "coord/chat_req.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/err.h"
#include "http/json.h"

#define JSON_DEPTH 64

static int fail(chat_req_error *e, int status, const char *code, const char *param,
                const char *msg) {
  e->status = status;
  snprintf(e->code, sizeof e->code, "%s", code);
  snprintf(e->param, sizeof e->param, "%s", param ? param : "");
  snprintf(e->message, sizeof e->message, "%s", msg);
  return status == 413 ? GLOAM_ETOOBIG : GLOAM_EINVAL;
}

static int bad(chat_req_error *e, const char *param, const char *msg) {
  return fail(e, 400, "invalid_value", param, msg);
}

static int num_in(json_t *o, const char *key, double lo, double hi, chat_req_error *e) {
  json_t *v = json_object_get(o, key);
  if (!v || json_is_null(v)) return 0;
  if (!json_is_number(v)) return fail(e, 400, "invalid_type", key, "Expected a number.");
  double d = json_number_value(v);
  if (!isfinite(d) || d < lo || d > hi) return bad(e, key, "Number out of range.");
  return 0;
}

static int int_in(json_t *o, const char *key, json_int_t lo, json_int_t hi, json_int_t *out,
                  chat_req_error *e) {
  json_t *v = json_object_get(o, key);
  if (out) *out = 0;
  if (!v || json_is_null(v)) return 0;
  if (!json_is_integer(v)) return fail(e, 400, "invalid_type", key, "Expected an integer.");
  json_int_t i = json_integer_value(v);
  if (i < lo || i > hi) return bad(e, key, "Integer out of range.");
  if (out) *out = i;
  return 0;
}

static int bool_of(json_t *o, const char *key, bool *out, chat_req_error *e) {
  json_t *v = json_object_get(o, key);
  *out = false;
  if (!v || json_is_null(v)) return 0;
  if (!json_is_boolean(v)) return fail(e, 400, "invalid_type", key, "Expected a boolean.");
  *out = json_is_true(v);
  return 0;
}

static int check_content(json_t *c, const char *param, bool may_be_null, chat_req_error *e) {
  if (json_is_string(c)) return 0;
  if (json_is_null(c) || !c)
    return may_be_null ? 0 : fail(e, 400, "invalid_type", param, "content is required.");
  if (!json_is_array(c))
    return fail(e, 400, "invalid_type", param, "content must be a string or an array of parts.");
  size_t i;
  json_t *part;
  json_array_foreach(c, i, part) {
    const char *t = json_string_value(json_object_get(part, "type"));
    if (!t) return fail(e, 400, "invalid_type", param, "Each content part needs a type.");
    if (strcmp(t, "text") == 0 || strcmp(t, "refusal") == 0) {
      if (!json_is_string(json_object_get(part, t[0] == 't' ? "text" : "refusal")))
        return fail(e, 400, "invalid_type", param, "A text part needs a string.");
    } else if (strcmp(t, "image_url") != 0 && strcmp(t, "input_audio") != 0 &&
               strcmp(t, "file") != 0) {
      return bad(e, param, "Unknown content part type.");
    }
  }
  return 0;
}

static int check_messages(json_t *msgs, chat_req_error *e) {
  if (!msgs) return fail(e, 400, "missing_required_parameter", "messages", "messages is required.");
  if (!json_is_array(msgs))
    return fail(e, 400, "invalid_type", "messages", "messages must be an array.");
  size_t n = json_array_size(msgs);
  if (n == 0) return bad(e, "messages", "messages must not be empty.");
  if (n > CHAT_MAX_MESSAGES) return bad(e, "messages", "Too many messages.");
  size_t i;
  json_t *m;
  json_array_foreach(msgs, i, m) {
    char param[48];
    snprintf(param, sizeof param, "messages[%zu]", i);
    if (!json_is_object(m))
      return fail(e, 400, "invalid_type", param, "A message must be an object.");
    const char *role = json_string_value(json_object_get(m, "role"));
    if (!role) return fail(e, 400, "missing_required_parameter", param, "A message needs a role.");
    json_t *content = json_object_get(m, "content");
    int rc;
    if (strcmp(role, "assistant") == 0) {
      json_t *tc = json_object_get(m, "tool_calls");
      if (tc && !json_is_array(tc))
        return fail(e, 400, "invalid_type", param, "tool_calls must be an array.");
      rc = check_content(content, param, tc != NULL || json_object_get(m, "refusal"), e);
    } else if (strcmp(role, "tool") == 0) {
      if (!json_is_string(json_object_get(m, "tool_call_id")))
        return fail(e, 400, "missing_required_parameter", param,
                    "A tool message needs tool_call_id.");
      rc = check_content(content, param, false, e);
    } else if (strcmp(role, "system") == 0 || strcmp(role, "developer") == 0 ||
               strcmp(role, "user") == 0 || strcmp(role, "function") == 0) {
      rc = check_content(content, param, false, e);
    } else {
      return bad(e, param, "Unknown role.");
    }
    if (rc < 0) return rc;
  }
  return 0;
}

static int valid_fn_name(const char *s) {
  size_t n = strlen(s);
  if (n == 0 || n > 64) return 0;
  for (; *s; s++)
    if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
          *s == '_' || *s == '-'))
      return 0;
  return 1;
}

static int check_tools(json_t *r, chat_req *out, chat_req_error *e) {
  json_t *tools = json_object_get(r, "tools");
  if (tools && !json_is_null(tools)) {
    if (!json_is_array(tools) || json_array_size(tools) > CHAT_MAX_TOOLS)
      return fail(e, 400, "invalid_type", "tools", "tools must be an array of up to 128 tools.");
    size_t i;
    json_t *t;
    json_array_foreach(tools, i, t) {
      const char *type = json_string_value(json_object_get(t, "type"));
      json_t *fn = json_object_get(t, "function");
      const char *name = json_string_value(json_object_get(fn, "name"));
      json_t *params = json_object_get(fn, "parameters");
      if (!type || strcmp(type, "function") != 0 || !name || !valid_fn_name(name) ||
          (params && !json_is_object(params)))
        return bad(e, "tools", "Each tool must be {type:function, function:{name, parameters}}.");
    }
    out->has_tools = json_array_size(tools) > 0;
  }
  json_t *tc = json_object_get(r, "tool_choice");
  if (tc && !json_is_null(tc)) {
    if (json_is_string(tc)) {
      const char *s = json_string_value(tc);
      if (strcmp(s, "none") != 0 && strcmp(s, "auto") != 0 && strcmp(s, "required") != 0)
        return bad(e, "tool_choice", "tool_choice must be none, auto, required or a function.");
      if (strcmp(s, "required") == 0 && !out->has_tools)
        return bad(e, "tool_choice", "tool_choice required needs tools.");
    } else {
      const char *name =
          json_string_value(json_object_get(json_object_get(tc, "function"), "name"));
      if (!json_is_object(tc) || !name || !out->has_tools)
        return bad(e, "tool_choice", "tool_choice must name one of the tools.");
    }
  }
  return 0;
}

static int check_format(json_t *r, chat_req *out, chat_req_error *e) {
  json_t *rf = json_object_get(r, "response_format");
  if (!rf || json_is_null(rf)) return 0;
  const char *t = json_string_value(json_object_get(rf, "type"));
  if (!json_is_object(rf) || !t)
    return fail(e, 400, "invalid_type", "response_format", "response_format needs a type.");
  if (strcmp(t, "text") == 0) return 0;
  if (strcmp(t, "json_object") == 0) {
    out->response_format = CHAT_FORMAT_JSON_OBJECT;
    return 0;
  }
  if (strcmp(t, "json_schema") == 0) {
    json_t *js = json_object_get(rf, "json_schema");
    if (!json_is_object(js) || !json_is_string(json_object_get(js, "name")))
      return fail(e, 400, "missing_required_parameter", "response_format.json_schema",
                  "json_schema needs a name and a schema.");
    out->response_format = CHAT_FORMAT_JSON_SCHEMA;
    return 0;
  }
  return bad(e, "response_format", "Unknown response_format type.");
}

static int check_stop(json_t *r, chat_req_error *e) {
  json_t *s = json_object_get(r, "stop");
  if (!s || json_is_null(s) || json_is_string(s)) return 0;
  if (!json_is_array(s) || json_array_size(s) > 4)
    return bad(e, "stop", "stop must be a string or up to 4 strings.");
  size_t i;
  json_t *v;
  json_array_foreach(s, i, v) if (!json_is_string(v)) return bad(e, "stop",
                                                                 "stop must hold strings.");
  return 0;
}

static int check_all(json_t *r, chat_req *out, chat_req_error *e) {
  json_t *model = json_object_get(r, "model");
  if (!model) return fail(e, 400, "missing_required_parameter", "model", "model is required.");
  if (!json_is_string(model) || json_string_length(model) == 0 || json_string_length(model) > 128)
    return bad(e, "model", "model must be a non-empty string of up to 128 bytes.");
  const char *ms = json_string_value(model);
  for (const char *p = ms; *p; p++)
    if ((unsigned char)*p < 0x21 || (unsigned char)*p > 0x7e)
      return bad(e, "model", "Bad model id.");
  snprintf(out->model, sizeof out->model, "%s", ms);
  int rc = check_messages(json_object_get(r, "messages"), e);
  if (rc < 0) return rc;
  out->n_messages = json_array_size(json_object_get(r, "messages"));
  json_int_t mt = 0, mct = 0, n = 0, tl = 0;
  if ((rc = int_in(r, "max_tokens", 1, CHAT_MAX_OUTPUT_TOKENS, &mt, e)) < 0 ||
      (rc = int_in(r, "max_completion_tokens", 1, CHAT_MAX_OUTPUT_TOKENS, &mct, e)) < 0 ||
      (rc = int_in(r, "n", 1, 128, &n, e)) < 0 ||
      (rc = int_in(r, "seed", INT64_MIN, INT64_MAX, NULL, e)) < 0 ||
      (rc = int_in(r, "top_logprobs", 0, 20, &tl, e)) < 0 ||
      (rc = num_in(r, "temperature", 0, 2, e)) < 0 || (rc = num_in(r, "top_p", 0, 1, e)) < 0 ||
      (rc = num_in(r, "presence_penalty", -2, 2, e)) < 0 ||
      (rc = num_in(r, "frequency_penalty", -2, 2, e)) < 0 ||
      (rc = bool_of(r, "stream", &out->stream, e)) < 0 ||
      (rc = bool_of(r, "logprobs", &out->logprobs, e)) < 0)
    return rc;
  out->max_tokens = (uint32_t)(mct ? mct : mt);
  if (n > 1) return fail(e, 400, "unsupported_value", "n", "n > 1 is not supported.");
  if (tl > 0 && !out->logprobs) return bad(e, "top_logprobs", "top_logprobs requires logprobs.");
  json_t *so = json_object_get(r, "stream_options");
  if (so && !json_is_null(so)) {
    if (!out->stream) return bad(e, "stream_options", "stream_options requires stream: true.");
    if (!json_is_object(so))
      return fail(e, 400, "invalid_type", "stream_options", "Expected an object.");
    if ((rc = bool_of(so, "include_usage", &out->include_usage, e)) < 0) return rc;
  }
  json_t *user = json_object_get(r, "user");
  if (user && (!json_is_string(user) || json_string_length(user) > 256))
    return bad(e, "user", "user must be a string of up to 256 bytes.");
  if ((rc = check_stop(r, e)) < 0 || (rc = check_tools(r, out, e)) < 0) return rc;
  return check_format(r, out, e);
}

int coord_chat_req_parse(const char *body, size_t len, size_t max_bytes, chat_req *r,
                         chat_req_error *e) {
  memset(r, 0, sizeof *r);
  memset(e, 0, sizeof *e);
  char err[GLOAM_ERR_LEN];
  int rc = json_parse_limited(body, len, max_bytes, JSON_DEPTH, &r->root, err);
  if (rc == GLOAM_ETOOBIG)
    return fail(e, len > max_bytes ? 413 : 400, "request_too_large", NULL, err);
  if (rc < 0) return fail(e, 400, "invalid_json", NULL, "The body is not a valid JSON object.");
  rc = check_all(r->root, r, e);
  if (rc < 0) coord_chat_req_free(r);
  return rc;
}

void coord_chat_req_free(chat_req *r) {
  if (!r) return;
  json_decref(r->root);
  memset(r, 0, sizeof *r);
}
