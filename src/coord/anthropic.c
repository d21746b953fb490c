/* SPDX-License-Identifier: Apache-2.0
 *
 * coord/anthropic.c: Anthropic Messages API translation (see anthropic.h).
 * Field mapping, request: system -> a system message; text/image blocks ->
 * content parts; tool_use blocks -> assistant tool_calls; tool_result
 * blocks -> tool messages (placed before the user's other content);
 * stop_sequences -> stop; tools[].input_schema -> function parameters;
 * tool_choice auto/any/tool/none -> auto/required/function/none;
 * metadata.user_id -> user. Response: finish_reason stop/length/tool_calls
 * -> stop_reason end_turn/max_tokens/tool_use.
 */
#include "coord/anthropic.h"

#include <event2/buffer.h>
#include <event2/http.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/err.h"
#include "coord/coord_impl.h"
#include "coord/creds.h"
#include "http/error.h"
#include "http/json.h"
#include "http/sse.h"

#define ANT_LINE_MAX (1u << 20)

struct ant_stream {
  buf pending; /* node SSE bytes not yet forming a whole event */
  bool started;
  int index; /* index of the open block, or of the next one */
  int open;  /* 0 none, 1 text, 2 tool_use */
  char stop_reason[24];
};

/* ---- errors ---------------------------------------------------------------- */

static const char *ant_type(int status) {
  switch (status) {
    case 401:
      return "authentication_error";
    case 402:
      return "billing_error";
    case 403:
      return "permission_error";
    case 404:
      return "not_found_error";
    case 413:
      return "request_too_large";
    case 429:
      return "rate_limit_error";
    case 503:
    case 529:
      return "overloaded_error";
    default:
      return status >= 500 ? "api_error" : "invalid_request_error";
  }
}

json_t *coord_anthropic_error_json(int status, const char *message) {
  return json_pack("{s:s,s:{s:s,s:s}}", "type", "error", "error", "type", ant_type(status),
                   "message", message ? message : "");
}

void coord_anthropic_send_error(struct evhttp_request *req, int status, const char *message) {
  if (status == 429 || status == 503)
    evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After", "1");
  http_send_json(req, status, coord_anthropic_error_json(status, message));
}

/* ---- request --------------------------------------------------------------- */

static int fail(char *msg, size_t cap, const char *text) {
  snprintf(msg, cap, "%s", text);
  return GLOAM_EINVAL;
}

/* Text of a string or an array of text blocks (others skipped). */
static json_t *text_of(json_t *v) {
  if (json_is_string(v)) return json_incref(v);
  if (!json_is_array(v)) return NULL;
  buf b;
  buf_init(&b, 64u << 20);
  size_t i;
  json_t *blk;
  json_array_foreach(v, i, blk) {
    const char *t = json_string_value(json_object_get(blk, "text"));
    if (t && buf_append_str(&b, t) < 0) break;
  }
  json_t *s = json_stringn(b.len ? (const char *)b.data : "", b.len);
  buf_deinit(&b);
  return s;
}

static int user_blocks(json_t *content, json_t *msgs, char *msg, size_t cap) {
  json_t *parts = json_array();
  size_t i;
  json_t *blk;
  json_array_foreach(content, i, blk) {
    const char *type = json_string_value(json_object_get(blk, "type"));
    if (!type) return json_decref(parts), fail(msg, cap, "every content block needs a type");
    if (strcmp(type, "text") == 0) {
      json_t *t = json_object_get(blk, "text");
      if (!json_is_string(t)) return json_decref(parts), fail(msg, cap, "text blocks need text");
      json_array_append_new(parts, json_pack("{s:s,s:O}", "type", "text", "text", t));
    } else if (strcmp(type, "image") == 0) {
      json_t *src = json_object_get(blk, "source");
      const char *st = json_string_value(json_object_get(src, "type"));
      char *url = NULL;
      if (st && strcmp(st, "base64") == 0) {
        const char *mt = json_string_value(json_object_get(src, "media_type"));
        const char *data = json_string_value(json_object_get(src, "data"));
        if (mt && data) {
          size_t n = strlen(mt) + strlen(data) + 16;
          url = mem_alloc(n);
          if (url) snprintf(url, n, "data:%s;base64,%s", mt, data);
        }
      } else if (st && strcmp(st, "url") == 0 && json_string_value(json_object_get(src, "url"))) {
        url = mem_strdup(json_string_value(json_object_get(src, "url")));
      }
      if (!url) return json_decref(parts), fail(msg, cap, "bad image source");
      json_array_append_new(
          parts, json_pack("{s:s,s:{s:s}}", "type", "image_url", "image_url", "url", url));
      mem_free(url);
    } else if (strcmp(type, "tool_result") == 0) {
      const char *id = json_string_value(json_object_get(blk, "tool_use_id"));
      json_t *c = json_object_get(blk, "content");
      json_t *t = c ? text_of(c) : json_string("");
      if (!id || !t) {
        json_decref(t);
        return json_decref(parts), fail(msg, cap, "tool_result needs tool_use_id and content");
      }
      /* OpenAI wants tool answers right after the assistant's tool calls */
      json_array_append_new(
          msgs, json_pack("{s:s,s:s,s:o}", "role", "tool", "tool_call_id", id, "content", t));
    } else if (strcmp(type, "document") == 0 || strcmp(type, "tool_use") == 0) {
      return json_decref(parts), fail(msg, cap, "this content block type is not supported here");
    }
  }
  if (json_array_size(parts))
    json_array_append_new(msgs, json_pack("{s:s,s:o}", "role", "user", "content", parts));
  else
    json_decref(parts);
  return 0;
}

static int assistant_blocks(json_t *content, json_t *msgs, char *msg, size_t cap) {
  buf text;
  buf_init(&text, 64u << 20);
  json_t *calls = json_array();
  size_t i;
  json_t *blk;
  int rc = 0;
  json_array_foreach(content, i, blk) {
    const char *type = json_string_value(json_object_get(blk, "type"));
    if (type && strcmp(type, "text") == 0) {
      const char *t = json_string_value(json_object_get(blk, "text"));
      if (t) buf_append_str(&text, t);
    } else if (type && strcmp(type, "tool_use") == 0) {
      const char *id = json_string_value(json_object_get(blk, "id"));
      const char *name = json_string_value(json_object_get(blk, "name"));
      json_t *input = json_object_get(blk, "input");
      char *args = input ? json_dumps(input, JSON_COMPACT) : NULL;
      if (!id || !name || !args) {
        free(args);
        rc = fail(msg, cap, "tool_use needs id, name and input");
        break;
      }
      json_array_append_new(calls, json_pack("{s:s,s:s,s:{s:s,s:s}}", "id", id, "type", "function",
                                             "function", "name", name, "arguments", args));
      free(args);
    }
  }
  if (rc == 0) {
    json_t *m = json_pack("{s:s,s:s#}", "role", "assistant", "content",
                          text.len ? (const char *)text.data : "", text.len);
    if (json_array_size(calls)) json_object_set(m, "tool_calls", calls);
    json_array_append_new(msgs, m);
  }
  json_decref(calls);
  buf_deinit(&text);
  return rc;
}

static int copy_if(json_t *from, const char *k, json_t *to, const char *k2) {
  json_t *v = json_object_get(from, k);
  return v ? json_object_set(to, k2, v) : 0;
}

int coord_anthropic_to_openai(json_t *in, json_t **out, char *msg, size_t cap) {
  *out = NULL;
  json_t *model = json_object_get(in, "model");
  json_t *mt = json_object_get(in, "max_tokens");
  json_t *messages = json_object_get(in, "messages");
  if (!json_is_string(model)) return fail(msg, cap, "model: a string is required");
  if (!json_is_integer(mt) || json_integer_value(mt) < 1)
    return fail(msg, cap, "max_tokens: a positive integer is required");
  if (!json_is_array(messages) || json_array_size(messages) == 0)
    return fail(msg, cap, "messages: a non-empty array is required");
  json_t *o = json_object();
  json_t *msgs = json_array();
  json_object_set(o, "model", model);
  json_object_set(o, "max_tokens", mt);
  json_object_set_new(o, "messages", msgs);
  int rc = 0;
  json_t *sys = json_object_get(in, "system");
  if (sys) {
    json_t *t = text_of(sys);
    if (!t)
      rc = fail(msg, cap, "system: a string or text blocks");
    else
      json_array_append_new(msgs, json_pack("{s:s,s:o}", "role", "system", "content", t));
  }
  size_t i;
  json_t *m;
  json_array_foreach(messages, i, m) {
    if (rc) break;
    const char *role = json_string_value(json_object_get(m, "role"));
    json_t *content = json_object_get(m, "content");
    if (!role || (strcmp(role, "user") != 0 && strcmp(role, "assistant") != 0)) {
      rc = fail(msg, cap, "messages: role must be user or assistant");
    } else if (json_is_string(content)) {
      json_array_append_new(msgs, json_pack("{s:s,s:O}", "role", role, "content", content));
    } else if (json_is_array(content)) {
      rc = role[0] == 'u' ? user_blocks(content, msgs, msg, cap)
                          : assistant_blocks(content, msgs, msg, cap);
    } else {
      rc = fail(msg, cap, "messages: content must be a string or an array of blocks");
    }
  }
  json_t *stop = json_object_get(in, "stop_sequences");
  if (!rc && stop && (!json_is_array(stop) || json_array_size(stop) > 4))
    rc = fail(msg, cap, "stop_sequences: at most 4 are supported");
  if (!rc) {
    copy_if(in, "stop_sequences", o, "stop");
    copy_if(in, "temperature", o, "temperature");
    copy_if(in, "top_p", o, "top_p");
    copy_if(in, "top_k", o, "top_k");
    copy_if(in, "stream", o, "stream");
    if (json_is_true(json_object_get(in, "stream")))
      json_object_set_new(o, "stream_options", json_pack("{s:b}", "include_usage", 1));
    json_t *uid = json_object_get(json_object_get(in, "metadata"), "user_id");
    if (json_is_string(uid)) json_object_set(o, "user", uid);
  }
  json_t *tools = json_object_get(in, "tools");
  if (!rc && tools) {
    json_t *ot = json_array();
    json_t *t;
    json_array_foreach(tools, i, t) {
      json_t *name = json_object_get(t, "name"), *schema = json_object_get(t, "input_schema");
      if (!json_is_string(name)) {
        rc = fail(msg, cap, "tools: every tool needs a name");
        break;
      }
      json_t *fn = json_pack("{s:O}", "name", name);
      copy_if(t, "description", fn, "description");
      if (schema) json_object_set(fn, "parameters", schema);
      json_array_append_new(ot, json_pack("{s:s,s:o}", "type", "function", "function", fn));
    }
    json_object_set_new(o, "tools", ot);
  }
  json_t *tc = json_object_get(in, "tool_choice");
  if (!rc && tc) {
    const char *type = json_string_value(json_object_get(tc, "type"));
    const char *name = json_string_value(json_object_get(tc, "name"));
    if (type && strcmp(type, "auto") == 0)
      json_object_set_new(o, "tool_choice", json_string("auto"));
    else if (type && strcmp(type, "any") == 0)
      json_object_set_new(o, "tool_choice", json_string("required"));
    else if (type && strcmp(type, "none") == 0)
      json_object_set_new(o, "tool_choice", json_string("none"));
    else if (type && strcmp(type, "tool") == 0 && name)
      json_object_set_new(o, "tool_choice",
                          json_pack("{s:s,s:{s:s}}", "type", "function", "function", "name", name));
    else
      rc = fail(msg, cap, "tool_choice: auto, any, none or {type:tool,name}");
  }
  if (rc) {
    json_decref(o);
    return rc;
  }
  *out = o;
  return 0;
}

/* ---- responses ------------------------------------------------------------- */

static const char *stop_reason(const char *finish) {
  if (!finish) return "end_turn";
  if (strcmp(finish, "length") == 0) return "max_tokens";
  if (strcmp(finish, "tool_calls") == 0 || strcmp(finish, "function_call") == 0) return "tool_use";
  return "end_turn";
}

json_t *coord_anthropic_from_completion(json_t *completion, const char *id, const char *model,
                                        int64_t input_tokens, int64_t output_tokens) {
  json_t *choice = json_array_get(json_object_get(completion, "choices"), 0);
  json_t *message = json_object_get(choice, "message");
  json_t *content = json_array();
  const char *text = json_string_value(json_object_get(message, "content"));
  if (text && *text)
    json_array_append_new(content, json_pack("{s:s,s:s}", "type", "text", "text", text));
  size_t i;
  json_t *call;
  json_array_foreach(json_object_get(message, "tool_calls"), i, call) {
    json_t *fn = json_object_get(call, "function");
    const char *args = json_string_value(json_object_get(fn, "arguments"));
    json_error_t je;
    json_t *input = args ? json_loads(args, 0, &je) : NULL;
    if (!json_is_object(input)) {
      json_decref(input);
      input = json_object();
    }
    const char *cid = json_string_value(json_object_get(call, "id"));
    const char *name = json_string_value(json_object_get(fn, "name"));
    json_array_append_new(
        content, json_pack("{s:s,s:s,s:s,s:o}", "type", "tool_use", "id", cid ? cid : "toolu_0",
                           "name", name ? name : "", "input", input));
  }
  char mid[64];
  snprintf(mid, sizeof mid, "msg_%s", id);
  return json_pack("{s:s,s:s,s:s,s:s,s:o,s:s,s:n,s:{s:I,s:I}}", "id", mid, "type", "message",
                   "role", "assistant", "model", model, "content", content, "stop_reason",
                   stop_reason(json_string_value(json_object_get(choice, "finish_reason"))),
                   "stop_sequence", "usage", "input_tokens", (json_int_t)input_tokens,
                   "output_tokens", (json_int_t)output_tokens);
}

static int emit(cjob *j, json_t *ev) {
  const char *type = json_string_value(json_object_get(ev, "type"));
  char *s = ev && type ? json_dumps(ev, JSON_COMPACT) : NULL;
  int rc = s ? http_sse_send(j->sse, type, s, strlen(s)) : GLOAM_ENOMEM;
  free(s);
  json_decref(ev);
  return rc;
}

static int close_block(cjob *j, ant_stream *a) {
  if (!a->open) return 0;
  a->open = 0;
  return emit(j, json_pack("{s:s,s:i}", "type", "content_block_stop", "index", a->index++));
}

static int start_message(cjob *j, ant_stream *a) {
  if (a->started) return 0;
  a->started = true;
  char mid[64];
  snprintf(mid, sizeof mid, "msg_%s", j->id_hex);
  return emit(j, json_pack("{s:s,s:{s:s,s:s,s:s,s:s,s:[],s:n,s:n,s:{s:i,s:i}}}", "type",
                           "message_start", "message", "id", mid, "type", "message", "role",
                           "assistant", "model", j->model, "content", "stop_reason",
                           "stop_sequence", "usage", "input_tokens", 0, "output_tokens", 0));
}

/* One OpenAI chat.completion.chunk -> Anthropic events. */
static int on_chunk(cjob *j, ant_stream *a, json_t *chunk) {
  int rc = start_message(j, a);
  json_t *choice = json_array_get(json_object_get(chunk, "choices"), 0);
  json_t *delta = json_object_get(choice, "delta");
  const char *text = json_string_value(json_object_get(delta, "content"));
  if (rc == 0 && text && *text) {
    if (a->open != 1) {
      rc = close_block(j, a);
      if (rc == 0)
        rc = emit(j, json_pack("{s:s,s:i,s:{s:s,s:s}}", "type", "content_block_start", "index",
                               a->index, "content_block", "type", "text", "text", ""));
      a->open = 1;
    }
    if (rc == 0)
      rc = emit(j, json_pack("{s:s,s:i,s:{s:s,s:s}}", "type", "content_block_delta", "index",
                             a->index, "delta", "type", "text_delta", "text", text));
  }
  size_t i;
  json_t *call;
  json_array_foreach(json_object_get(delta, "tool_calls"), i, call) {
    if (rc) break;
    json_t *fn = json_object_get(call, "function");
    const char *name = json_string_value(json_object_get(fn, "name"));
    const char *args = json_string_value(json_object_get(fn, "arguments"));
    if (name) {
      rc = close_block(j, a);
      const char *id = json_string_value(json_object_get(call, "id"));
      if (rc == 0)
        rc = emit(j, json_pack("{s:s,s:i,s:{s:s,s:s,s:s,s:{}}}", "type", "content_block_start",
                               "index", a->index, "content_block", "type", "tool_use", "id",
                               id ? id : "toolu_0", "name", name, "input"));
      a->open = 2;
    }
    if (rc == 0 && args && *args && a->open == 2)
      rc = emit(j, json_pack("{s:s,s:i,s:{s:s,s:s}}", "type", "content_block_delta", "index",
                             a->index, "delta", "type", "input_json_delta", "partial_json", args));
  }
  const char *finish = json_string_value(json_object_get(choice, "finish_reason"));
  if (finish) snprintf(a->stop_reason, sizeof a->stop_reason, "%s", stop_reason(finish));
  return rc;
}

int coord_ant_stream_feed(cjob *j, const uint8_t *p, size_t n) {
  ant_stream *a = j->ant;
  if (!a) {
    a = j->ant = mem_calloc(1, sizeof *a);
    if (!a) return GLOAM_ENOMEM;
    buf_init(&a->pending, ANT_LINE_MAX);
  }
  int rc = buf_append(&a->pending, p, n);
  while (rc == 0) {
    const char *s = (const char *)a->pending.data;
    const char *end = s ? strstr(s, "\n\n") : NULL;
    if (!end) break;
    size_t ev_len = (size_t)(end - s) + 2;
    for (const char *l = s; l < end && rc == 0;) {
      const char *nl = memchr(l, '\n', (size_t)(end - l));
      if (!nl) nl = end;
      if (strncmp(l, "data: ", 6) == 0 && !(nl - l == 12 && strncmp(l + 6, "[DONE]", 6) == 0)) {
        json_error_t je;
        json_t *chunk = json_loadb(l + 6, (size_t)(nl - l - 6), 0, &je);
        rc = chunk ? on_chunk(j, a, chunk) : GLOAM_EFORMAT;
        json_decref(chunk);
      }
      l = nl + 1;
    }
    memmove(a->pending.data, a->pending.data + ev_len, a->pending.len - ev_len);
    a->pending.len -= ev_len;
    a->pending.data[a->pending.len] = '\0';
  }
  return rc;
}

int coord_ant_stream_finish(cjob *j, int64_t input_tokens, int64_t output_tokens, json_t *gloam) {
  ant_stream tmp = {0};
  ant_stream *a = j->ant ? j->ant : &tmp;
  int rc = start_message(j, a);
  if (rc == 0) rc = close_block(j, a);
  if (rc == 0)
    rc = emit(j, json_pack("{s:s,s:{s:s,s:n},s:{s:I,s:I}}", "type", "message_delta", "delta",
                           "stop_reason", a->stop_reason[0] ? a->stop_reason : "end_turn",
                           "stop_sequence", "usage", "input_tokens", (json_int_t)input_tokens,
                           "output_tokens", (json_int_t)output_tokens));
  if (rc == 0)
    rc = emit(j, json_pack("{s:s,s:o}", "type", "message_stop", "gloam", gloam));
  else
    json_decref(gloam);
  return rc;
}

void coord_ant_stream_free(ant_stream *a) {
  if (!a) return;
  buf_deinit(&a->pending);
  mem_free(a);
}

/* ---- the route ----------------------------------------------------------------- */

void coord_anthropic_messages(struct evhttp_request *req, coord *c) {
  struct evkeyvalq *h = evhttp_request_get_input_headers(req);
  const char *tok;
  size_t tok_len;
  uint8_t hash[32];
  int64_t account;
  const char *key = evhttp_find_header(h, "x-api-key");
  int rc = key ? coord_creds_from_header(key, 0, "gk_", &tok, &tok_len)
               : coord_creds_from_header(evhttp_find_header(h, "Authorization"), 1, "gk_", &tok,
                                         &tok_len);
  if (rc == 0) rc = coord_creds_hash(tok, tok_len, hash);
  if (rc == 0) rc = coord_store_api_key_lookup(c->store, hash, &account);
  if (rc < 0) {
    coord_count_status(c, 401);
    coord_anthropic_send_error(req, 401, "invalid x-api-key");
    return;
  }
  struct evbuffer *in = evhttp_request_get_input_buffer(req);
  size_t len = evbuffer_get_length(in);
  const char *body = len ? (const char *)evbuffer_pullup(in, (ev_ssize_t)len) : "";
  char err[GLOAM_ERR_LEN];
  json_t *a = NULL, *o = NULL;
  rc = json_parse_limited(body, len, c->cfg.max_json_bytes, 64, &a, err);
  if (rc < 0) {
    int st = rc == GLOAM_ETOOBIG && len > c->cfg.max_json_bytes ? 413 : 400;
    coord_count_status(c, st);
    coord_anthropic_send_error(req, st, st == 413 ? "request too large" : "invalid JSON body");
    return;
  }
  char msg[200];
  if (coord_anthropic_to_openai(a, &o, msg, sizeof msg) < 0) {
    json_decref(a);
    coord_count_status(c, 400);
    coord_anthropic_send_error(req, 400, msg);
    return;
  }
  json_decref(a);
  char *s = json_dumps(o, JSON_COMPACT);
  json_decref(o);
  if (!s) {
    coord_anthropic_send_error(req, 500, "out of memory");
    return;
  }
  /* The translated request replaces the body, so the shared path (and the
   * queue, which re-reads it) sees an OpenAI request. */
  evbuffer_drain(in, len);
  evbuffer_add(in, s, strlen(s));
  free(s);
  coord_chat_plain_handle(req, c, account, false, API_ANTHROPIC);
}
