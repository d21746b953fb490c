/* SPDX-License-Identifier: Apache-2.0
 *
 * engine/toolcall_json.c: the OpenAI JSON shapes of parsed model output
 * (the final assistant message and streaming deltas), choosing the
 * tool-call format from a template, and spotting a prompt that leaves the
 * model inside <think>.
 *
 * Text that is not valid UTF-8 (a model can emit broken bytes) is repaired
 * with U+FFFD so the JSON stays valid.
 */
#include <jansson.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "gloam/chat.h"

size_t toolparse_n_calls(const gloam_toolparse *p);
int toolparse_call(const gloam_toolparse *p, size_t i, const char **id, const char **name,
                   const char **args, size_t *args_len);
void toolparse_texts(const gloam_toolparse *p, const char **content, size_t *content_len,
                     const char **reasoning, size_t *reasoning_len);

/* A JSON string of s[0..n), invalid UTF-8 replaced by U+FFFD. */
static json_t *jstr(const char *s, size_t n) {
  json_t *j = json_stringn(s, n);
  if (j) return j;
  buf b;
  buf_init(&b, n * 3 + 4);
  const unsigned char *u = (const unsigned char *)s;
  for (size_t i = 0; i < n;) {
    size_t k = u[i] < 0x80             ? 1
               : (u[i] & 0xE0) == 0xC0 ? 2
               : (u[i] & 0xF0) == 0xE0 ? 3
               : (u[i] & 0xF8) == 0xF0 ? 4
                                       : 0;
    bool ok = k > 0 && i + k <= n;
    uint32_t cp = k == 2 ? (u[i] & 0x1Fu) : k == 3 ? (u[i] & 0x0Fu) : (u[i] & 0x07u);
    for (size_t m = 1; ok && m < k; m++) {
      ok = (u[i + m] & 0xC0) == 0x80;
      cp = (cp << 6) | (u[i + m] & 0x3Fu);
    }
    if (ok && k > 1) { /* overlong forms, surrogates, beyond U+10FFFF */
      uint32_t min = k == 2 ? 0x80 : k == 3 ? 0x800 : 0x10000;
      ok = cp >= min && cp <= 0x10FFFF && !(cp >= 0xD800 && cp <= 0xDFFF);
    }
    if (ok) {
      buf_append(&b, s + i, k);
      i += k;
    } else {
      buf_append(&b, "\xEF\xBF\xBD", 3);
      i++;
    }
  }
  j = json_stringn((const char *)buf_cstr(&b), b.len);
  buf_deinit(&b);
  return j;
}

static int dump(json_t *j, char **out) {
  if (!j) return GLOAM_ENOMEM;
  char *s = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
  json_decref(j);
  if (!s) return GLOAM_ENOMEM;
  *out = mem_strdup(s);
  free(s);
  return *out ? 0 : GLOAM_ENOMEM;
}

int gloam_toolparse_message_json(const gloam_toolparse *p, char **out) {
  if (!p || !out) return GLOAM_EINVAL;
  *out = NULL;
  const char *c, *r;
  size_t cn, rn;
  toolparse_texts(p, &c, &cn, &r, &rn);
  json_t *m = json_object(), *calls = json_array();
  if (!m || !calls) {
    json_decref(m);
    json_decref(calls);
    return GLOAM_ENOMEM;
  }
  json_object_set_new(m, "role", json_string("assistant"));
  for (size_t i = 0; i < toolparse_n_calls(p); i++) {
    const char *id, *name, *args;
    size_t an;
    if (!toolparse_call(p, i, &id, &name, &args, &an)) continue;
    json_t *fn = json_object(), *tc = json_object();
    json_object_set_new(fn, "name", jstr(name, strlen(name)));
    json_object_set_new(fn, "arguments", jstr(args, an));
    json_object_set_new(tc, "id", json_string(id));
    json_object_set_new(tc, "type", json_string("function"));
    json_object_set_new(tc, "function", fn);
    json_array_append_new(calls, tc);
  }
  bool has_calls = json_array_size(calls) > 0;
  json_object_set_new(m, "content", (cn || !has_calls) ? jstr(c, cn) : json_null());
  if (rn) json_object_set_new(m, "reasoning_content", jstr(r, rn));
  if (has_calls)
    json_object_set_new(m, "tool_calls", calls);
  else
    json_decref(calls);
  return dump(m, out);
}

int gloam_toolparse_delta_json(const gloam_tp_event *ev, char **out) {
  if (!ev || !out) return GLOAM_EINVAL;
  *out = NULL;
  json_t *d = json_object();
  if (!d) return GLOAM_ENOMEM;
  switch (ev->type) {
    case GLOAM_TP_CONTENT:
      json_object_set_new(d, "content", jstr(ev->text, ev->len));
      break;
    case GLOAM_TP_REASONING:
      json_object_set_new(d, "reasoning_content", jstr(ev->text, ev->len));
      break;
    case GLOAM_TP_CALL_START:
    case GLOAM_TP_CALL_ARGS: {
      json_t *tc = json_object(), *fn = json_object(), *arr = json_array();
      json_object_set_new(tc, "index", json_integer(ev->index));
      if (ev->type == GLOAM_TP_CALL_START) {
        json_object_set_new(tc, "id", json_string(ev->id ? ev->id : ""));
        json_object_set_new(tc, "type", json_string("function"));
        json_object_set_new(fn, "name",
                            jstr(ev->name ? ev->name : "", ev->name ? strlen(ev->name) : 0));
        json_object_set_new(fn, "arguments", json_string(""));
      } else {
        json_object_set_new(fn, "arguments", jstr(ev->text, ev->len));
      }
      json_object_set_new(tc, "function", fn);
      json_array_append_new(arr, tc);
      json_object_set_new(d, "tool_calls", arr);
      break;
    }
    default:
      json_decref(d);
      return GLOAM_EINVAL;
  }
  return dump(d, out);
}

int gloam_toolcall_format_detect(const char *template_src) {
  if (!template_src) return GLOAM_TOOLCALL_GENERIC;
  if (strstr(template_src, "<tool_call>")) return GLOAM_TOOLCALL_HERMES;
  if (strstr(template_src, "<|python_tag|>") || strstr(template_src, "<|start_header_id|>"))
    return GLOAM_TOOLCALL_LLAMA3;
  return GLOAM_TOOLCALL_GENERIC;
}

int gloam_chat_prompt_in_reasoning(const char *prompt, size_t len) {
  if (!prompt) return 0;
  const char *open = NULL, *close = NULL;
  for (const char *q = prompt; (q = memmem(q, len - (size_t)(q - prompt), "<think>", 7)); q += 7)
    open = q;
  if (!open) return 0;
  for (const char *q = open; (q = memmem(q, len - (size_t)(q - prompt), "</think>", 8)); q += 8)
    close = q;
  if (close) return 0;
  for (const char *q = open + 7; q < prompt + len; q++)
    if (*q != ' ' && *q != '\n' && *q != '\t' && *q != '\r') return 0;
  return 1;
}
