/* SPDX-License-Identifier: Apache-2.0
 *
 * tests/template/test_toolcall.c: the incremental reasoning / tool-call
 * parser. Every case is fed whole, one byte at a time, in token-like and
 * in random chunks; all must give the same final message (written by hand
 * from the OpenAI message shape), the streamed events must add up to it,
 * no event may carry part of a tag, and event text must be valid UTF-8.
 */
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "test_template.h"

#define MAX_CALLS 8

typedef struct coll {
  buf content, reasoning;
  buf args[MAX_CALLS];
  char ids[MAX_CALLS][40];
  char names[MAX_CALLS][64];
  int n_calls;
  int bad;        /* 1 half tag in text, 2 invalid UTF-8, 3 bad order, 4 bad delta */
  bool finishing; /* at finish() undecided text is flushed as text */
  int format;
} coll;

static bool valid_utf8(const char *s, size_t n) {
  json_t *j = json_stringn(s, n);
  json_decref(j);
  return j != NULL;
}

static int on_event(void *ctx, const gloam_tp_event *ev) {
  coll *c = ctx;
  char *delta = NULL;
  if (gloam_toolparse_delta_json(ev, &delta) < 0) c->bad = 4;
  json_t *dj = delta ? json_loads(delta, 0, NULL) : NULL;
  if (!dj) c->bad = 4;
  gloam_chat_free(delta);
  if (ev->type == GLOAM_TP_CONTENT || ev->type == GLOAM_TP_REASONING) {
    if (!valid_utf8(ev->text, ev->len)) c->bad = 2;
    static const char *const tags[] = {"<think", "</think", "<tool_call", "</tool_call",
                                       "<|python"};
    size_t n_tags = c->format == GLOAM_TOOLCALL_NONE ? 2 : sizeof tags / sizeof tags[0];
    for (size_t i = 0; i < n_tags; i++) {
      /* a tag, or any prefix of one at the end of the event */
      for (size_t k = 2; k <= strlen(tags[i]); k++)
        if (!c->finishing && ev->len >= k && memcmp(ev->text + ev->len - k, tags[i], k) == 0)
          c->bad = 1;
    }
    buf_append(ev->type == GLOAM_TP_CONTENT ? &c->content : &c->reasoning, ev->text, ev->len);
  } else if (ev->type == GLOAM_TP_CALL_START) {
    if (ev->index != c->n_calls || c->n_calls == MAX_CALLS) {
      c->bad = 3;
    } else {
      snprintf(c->ids[c->n_calls], sizeof c->ids[0], "%s", ev->id);
      snprintf(c->names[c->n_calls], sizeof c->names[0], "%s", ev->name);
      json_t *tc = json_array_get(json_object_get(dj, "tool_calls"), 0);
      if (!json_object_get(tc, "id") || !json_object_get(tc, "type") ||
          json_integer_value(json_object_get(tc, "index")) != ev->index ||
          !json_is_string(json_object_get(json_object_get(tc, "function"), "name")))
        c->bad = 4;
      c->n_calls++;
    }
  } else if (ev->type == GLOAM_TP_CALL_ARGS) {
    if (ev->index >= c->n_calls)
      c->bad = 3;
    else
      buf_append(&c->args[ev->index], ev->text, ev->len);
    if (!valid_utf8(ev->text, ev->len)) c->bad = 2;
    json_t *tc = json_array_get(json_object_get(dj, "tool_calls"), 0);
    if (json_object_get(tc, "id") || !json_object_get(tc, "index")) c->bad = 4;
  }
  json_decref(dj);
  return 0;
}

/* The message the events add up to, in gloam_toolparse_message_json()'s shape. */
static char *rebuild(const coll *c) {
  json_t *m = json_object();
  json_object_set_new(m, "role", json_string("assistant"));
  json_object_set_new(m, "content",
                      (c->content.len || !c->n_calls)
                          ? json_stringn((const char *)buf_cstr(&c->content), c->content.len)
                          : json_null());
  if (c->reasoning.len)
    json_object_set_new(m, "reasoning_content",
                        json_stringn((const char *)buf_cstr(&c->reasoning), c->reasoning.len));
  if (c->n_calls) {
    json_t *arr = json_array();
    for (int i = 0; i < c->n_calls; i++)
      json_array_append_new(arr, json_pack("{s:s,s:s,s:{s:s,s:s%}}", "id", c->ids[i], "type",
                                           "function", "function", "name", c->names[i], "arguments",
                                           (const char *)buf_cstr(&c->args[i]), c->args[i].len));
    json_object_set_new(m, "tool_calls", arr);
  }
  char *s = json_dumps(m, JSON_COMPACT);
  json_decref(m);
  return s;
}

/* Feeds text in chunks chosen by mode (0 whole, 1 bytes, 2 token-like,
 * 3+ random with that seed); returns the final message JSON (malloc'd)
 * and checks the events against it. */
static char *run(const gloam_toolparse_opts *o, const char *text, int mode) {
  gloam_toolparse *p;
  ASSERT_OK(gloam_toolparse_new(&p, o));
  coll c;
  memset(&c, 0, sizeof c);
  c.format = o->format;
  buf_init(&c.content, 1 << 20);
  buf_init(&c.reasoning, 1 << 20);
  for (int i = 0; i < MAX_CALLS; i++) buf_init(&c.args[i], 1 << 20);
  size_t n = strlen(text), off = 0;
  static const size_t pattern[] = {3, 1, 4, 1, 5, 9, 2, 6};
  unsigned rng = (unsigned)mode * 2654435761u;
  for (int k = 0; off < n; k++) {
    size_t step = mode == 0   ? n
                  : mode == 1 ? 1
                  : mode == 2 ? pattern[k % 8]
                              : 1 + (rng = rng * 1103515245u + 12345u) / 65536 % 11;
    if (step > n - off) step = n - off;
    ASSERT_OK(gloam_toolparse_feed(p, text + off, step, on_event, &c));
    off += step;
  }
  c.finishing = true;
  ASSERT_OK(gloam_toolparse_finish(p, on_event, &c));
  char *msg;
  ASSERT_OK(gloam_toolparse_message_json(p, &msg));
  char *re = rebuild(&c);
  if (c.bad) test_fail(__FILE__, __LINE__, "mode %d: bad events (%d) for %s", mode, c.bad, text);
  if (strcmp(re, msg) != 0)
    test_fail(__FILE__, __LINE__, "mode %d: events add up to\n  %s\nmessage is\n  %s", mode, re,
              msg);
  free(re);
  buf_deinit(&c.content);
  buf_deinit(&c.reasoning);
  for (int i = 0; i < MAX_CALLS; i++) buf_deinit(&c.args[i]);
  gloam_toolparse_free(p);
  char *copy = strdup(msg);
  gloam_chat_free(msg);
  return copy;
}

/* Replaces the random call ids with call_0, call_1, ... for comparison. */
static void normalise_ids(char *s) {
  int k = 0;
  for (char *q = s; (q = strstr(q, "\"id\":\"call_")); q += 11) {
    char *v = q + 11;
    if (strlen(v) < 24) break;
    char tmp[32];
    snprintf(tmp, sizeof tmp, "%-24d", k++);
    memcpy(v, tmp, 24);
  }
}

static void check(int format, int in_reasoning, const char *text, const char *want) {
  gloam_toolparse_opts o = {.format = format, .start_in_reasoning = in_reasoning, .id_seed = 42};
  char *first = run(&o, text, 0);
  for (int mode = 1; mode < 12; mode++) {
    char *got = run(&o, text, mode);
    if (strcmp(got, first) != 0)
      test_fail(__FILE__, __LINE__, "chunking mode %d differs:\n  %s\nvs whole:\n  %s", mode, got,
                first);
    free(got);
  }
  normalise_ids(first);
  if (strcmp(first, want) != 0)
    test_fail(__FILE__, __LINE__, "input %s\n  got  %s\n  want %s", text, first, want);
  free(first);
}

#define ID(n) "\"id\":\"call_" #n "                       \""

static void test_reasoning_split(void) {
  check(GLOAM_TOOLCALL_HERMES, 0, "<think>\nLet me think.\n</think>\n\nThe answer is 4.",
        "{\"role\":\"assistant\",\"content\":\"The answer is 4.\","
        "\"reasoning_content\":\"Let me think.\"}");
  /* the prompt already opened <think> (e.g. a thinking template) */
  check(
      GLOAM_TOOLCALL_HERMES, 1, "I should greet.\n</think>\n\nHello!",
      "{\"role\":\"assistant\",\"content\":\"Hello!\",\"reasoning_content\":\"I should greet.\"}");
  /* enable_thinking=false: the template wrote an empty think block */
  check(GLOAM_TOOLCALL_HERMES, 0, "Hello!\n", "{\"role\":\"assistant\",\"content\":\"Hello!\\n\"}");
  /* cut off while still reasoning */
  check(GLOAM_TOOLCALL_NONE, 1, "still thinking <",
        "{\"role\":\"assistant\",\"content\":\"\",\"reasoning_content\":\"still thinking <\"}");
}

static void test_hermes_calls(void) {
  check(GLOAM_TOOLCALL_HERMES, 0,
        "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>",
        "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{" ID(0) ",\"type\":\"function\","
        "\"function\":{\"name\":\"get_weather\",\"arguments\":\"{\\\"city\\\": \\\"Paris\\\"}\"}}]}");
  check(GLOAM_TOOLCALL_HERMES, 0,
        "<think>\nNeed weather.\n</think>\n\nLet me check.\n<tool_call>\n{\"name\": \"get_weather\", "
        "\"arguments\": {\"city\": \"Paris\"}}\n</tool_call>\n<tool_call>\n{\"name\": \"get_time\", "
        "\"arguments\": {\"tz\": \"CET\", \"fmt\": [1, 2.5e3, true, null, \"x\\\"}</tool_call>\"]}}\n"
        "</tool_call>\n",
        "{\"role\":\"assistant\",\"content\":\"Let me check.\",\"reasoning_content\":\"Need "
        "weather.\",\"tool_calls\":[{" ID(0) ",\"type\":\"function\",\"function\":{\"name\":"
        "\"get_weather\",\"arguments\":\"{\\\"city\\\": \\\"Paris\\\"}\"}},{" ID(1) ",\"type\":"
        "\"function\",\"function\":{\"name\":\"get_time\",\"arguments\":\"{\\\"tz\\\": \\\"CET\\\", "
        "\\\"fmt\\\": [1, 2.5e3, true, null, \\\"x\\\\\\\"}</tool_call>\\\"]}\"}}]}");
  /* arguments given as a JSON string, and before the name */
  check(GLOAM_TOOLCALL_HERMES, 0,
        "<tool_call>{\"name\": \"f\", \"arguments\": \"{\\\"a\\\": 1}\"}</tool_call>"
        "<tool_call>{\"arguments\": {\"x\": [1]}, \"name\": \"g\"}</tool_call>",
        "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{" ID(0) ",\"type\":\"function\","
        "\"function\":{\"name\":\"f\",\"arguments\":\"{\\\"a\\\": 1}\"}},{" ID(1) ",\"type\":"
        "\"function\",\"function\":{\"name\":\"g\",\"arguments\":\"{\\\"x\\\": [1]}\"}}]}");
  /* no arguments; unterminated final call */
  check(GLOAM_TOOLCALL_HERMES, 0, "<tool_call>{\"name\": \"now\"}</tool_call>",
        "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{" ID(0) ",\"type\":\"function\","
        "\"function\":{\"name\":\"now\",\"arguments\":\"{}\"}}]}");
  check(GLOAM_TOOLCALL_HERMES, 0, "<tool_call>{\"name\": \"f\", \"arguments\": {\"x\": 1}}",
        "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{" ID(0) ",\"type\":\"function\","
        "\"function\":{\"name\":\"f\",\"arguments\":\"{\\\"x\\\": 1}\"}}]}");
  /* Unicode everywhere, split inside characters by the byte-wise run */
  check(GLOAM_TOOLCALL_HERMES, 0,
        "Voilà 😀\n<tool_call>{\"name\": \"say\", \"arguments\": {\"text\": \"héllo 😀\"}}</tool_call>",
        "{\"role\":\"assistant\",\"content\":\"Voilà 😀\",\"tool_calls\":[{" ID(0) ",\"type\":"
        "\"function\",\"function\":{\"name\":\"say\",\"arguments\":\"{\\\"text\\\": \\\"héllo "
        "😀\\\"}\"}}]}");
}

static void test_not_tags(void) {
  check(GLOAM_TOOLCALL_HERMES, 0, "a < b and <b>bold</b> <tool",
        "{\"role\":\"assistant\",\"content\":\"a < b and <b>bold</b> <tool\"}");
  /* a <tool_call> body that is not a call comes back verbatim */
  check(GLOAM_TOOLCALL_HERMES, 0, "<tool_call>not json</tool_call> ok",
        "{\"role\":\"assistant\",\"content\":\"<tool_call>not json</tool_call> ok\"}");
  /* requests without tools: tags are plain text, reasoning still splits */
  check(GLOAM_TOOLCALL_NONE, 0, "<think>x</think><tool_call>{\"name\": \"f\"}</tool_call>",
        "{\"role\":\"assistant\",\"content\":\"<tool_call>{\\\"name\\\": \\\"f\\\"}</tool_call>\","
        "\"reasoning_content\":\"x\"}");
}

static void test_llama3_calls(void) {
  check(GLOAM_TOOLCALL_LLAMA3, 0, "{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Paris\"}}",
        "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{" ID(0) ",\"type\":\"function\","
        "\"function\":{\"name\":\"get_weather\",\"arguments\":\"{\\\"city\\\": \\\"Paris\\\"}\"}}]}");
  check(GLOAM_TOOLCALL_LLAMA3, 0,
        "<|python_tag|>{\"name\": \"f\", \"parameters\": {}}; {\"name\": \"g\", \"parameters\": {\"n\": -1.5}}",
        "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{" ID(0) ",\"type\":\"function\","
        "\"function\":{\"name\":\"f\",\"arguments\":\"{}\"}},{" ID(1) ",\"type\":\"function\","
        "\"function\":{\"name\":\"g\",\"arguments\":\"{\\\"n\\\": -1.5}\"}}]}");
  /* JSON that is not a call, and prose, stay content */
  check(GLOAM_TOOLCALL_LLAMA3, 0, "{\"answer\": 42}",
        "{\"role\":\"assistant\",\"content\":\"{\\\"answer\\\": 42}\"}");
  check(GLOAM_TOOLCALL_LLAMA3, 0, "{not json} really",
        "{\"role\":\"assistant\",\"content\":\"{not json} really\"}");
  check(GLOAM_TOOLCALL_LLAMA3, 0, "Hello there {\"name\": \"x\", \"parameters\": {}}",
        "{\"role\":\"assistant\",\"content\":\"Hello there {\\\"name\\\": \\\"x\\\", "
        "\\\"parameters\\\": {}}\"}");
}

static void test_generic_fallback(void) {
  check(GLOAM_TOOLCALL_GENERIC, 0,
        "<think>hm</think>\n{\"name\": \"f\", \"arguments\": {\"a\": true}}",
        "{\"role\":\"assistant\",\"content\":null,\"reasoning_content\":\"hm\",\"tool_calls\":[{" ID(0)
        ",\"type\":\"function\",\"function\":{\"name\":\"f\",\"arguments\":\"{\\\"a\\\": true}\"}}]}");
  check(GLOAM_TOOLCALL_GENERIC, 0,
        "Sure.\n\n<tool_call>{\"name\": \"f\", \"arguments\": {}}</tool_call>\n",
        "{\"role\":\"assistant\",\"content\":\"Sure.\",\"tool_calls\":[{" ID(0) ",\"type\":"
        "\"function\",\"function\":{\"name\":\"f\",\"arguments\":\"{}\"}}]}");
}

/* Streaming shape: the first delta of a call carries index, id, type and
 * name; later ones carry only index and an arguments fragment. */
typedef struct deltas {
  char first[256];
  int n_args;
  int n;
} deltas;

static int record_delta(void *ctx, const gloam_tp_event *ev) {
  deltas *d = ctx;
  char *s;
  if (gloam_toolparse_delta_json(ev, &s) < 0) return GLOAM_EINVAL;
  if (d->n++ == 0) snprintf(d->first, sizeof d->first, "%s", s);
  if (ev->type == GLOAM_TP_CALL_ARGS) d->n_args++;
  gloam_chat_free(s);
  return 0;
}

static void test_stream_deltas(void) {
  const char *out =
      "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": "
      "\"Paris\"}}\n</tool_call>";
  gloam_toolparse_opts o = {.format = GLOAM_TOOLCALL_HERMES, .id_seed = 7};
  gloam_toolparse *p;
  ASSERT_OK(gloam_toolparse_new(&p, &o));
  deltas d = {{0}, 0, 0};
  for (size_t i = 0; out[i]; i++) ASSERT_OK(gloam_toolparse_feed(p, out + i, 1, record_delta, &d));
  ASSERT_OK(gloam_toolparse_finish(p, record_delta, &d));
  /* {"city": "Paris"} streamed byte by byte: one fragment per byte */
  ASSERT_EQ_INT(d.n_args, 17);
  ASSERT_TRUE(strncmp(d.first, "{\"tool_calls\":[{\"index\":0,\"id\":\"call_", 37) == 0);
  ASSERT_TRUE(strstr(d.first,
                     "\"type\":\"function\",\"function\":{\"name\":\"get_weather\","
                     "\"arguments\":\"\"}}]}") != NULL);
  gloam_toolparse_free(p);
}

static void test_parser_limits(void) {
  gloam_toolparse_opts o = {.format = GLOAM_TOOLCALL_HERMES, .max_bytes = 64, .id_seed = 1};
  gloam_toolparse *p;
  ASSERT_OK(gloam_toolparse_new(&p, &o));
  char big[200];
  memset(big, 'x', sizeof big);
  ASSERT_EQ_INT(gloam_toolparse_feed(p, big, sizeof big, NULL, NULL), GLOAM_ETOOBIG);
  ASSERT_TRUE(strstr(gloam_toolparse_errmsg(p), "limit") != NULL);
  gloam_toolparse_free(p);
  /* deeply nested arguments are refused, not a crash */
  o.max_bytes = 0;
  ASSERT_OK(gloam_toolparse_new(&p, &o));
  char deep[400];
  size_t k = (size_t)snprintf(deep, sizeof deep, "<tool_call>{\"name\": \"f\", \"arguments\": ");
  while (k < sizeof deep - 1) deep[k++] = '[';
  deep[k] = '\0';
  ASSERT_OK(gloam_toolparse_feed(p, deep, strlen(deep), NULL, NULL));
  ASSERT_OK(gloam_toolparse_finish(p, NULL, NULL));
  gloam_toolparse_free(p);
  ASSERT_EQ_INT(gloam_toolcall_format_detect("...<tool_call>..."), GLOAM_TOOLCALL_HERMES);
  ASSERT_EQ_INT(gloam_toolcall_format_detect("<|start_header_id|>"), GLOAM_TOOLCALL_LLAMA3);
  ASSERT_EQ_INT(gloam_toolcall_format_detect("<start_of_turn>"), GLOAM_TOOLCALL_GENERIC);
  const char *pr = "<|im_start|>assistant\n<think>\n";
  ASSERT_EQ_INT(gloam_chat_prompt_in_reasoning(pr, strlen(pr)), 1);
  pr = "<|im_start|>assistant\n<think>\n\n</think>\n\n";
  ASSERT_EQ_INT(gloam_chat_prompt_in_reasoning(pr, strlen(pr)), 0);
  pr = "<|im_start|>assistant\n";
  ASSERT_EQ_INT(gloam_chat_prompt_in_reasoning(pr, strlen(pr)), 0);
}

const test_case template_toolcall_tests[] = {
    TEST(test_reasoning_split),  TEST(test_hermes_calls),
    TEST(test_not_tags),         TEST(test_llama3_calls),
    TEST(test_generic_fallback), TEST(test_stream_deltas),
    TEST(test_parser_limits),    {0},
};
