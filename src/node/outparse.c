/* SPDX-License-Identifier: Apache-2.0
 *
 * node/outparse.c: streaming split of generated text into content,
 * reasoning and tool calls, with stop strings (see outparse.h).
 */
#include "node/outparse.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "gloam/err.h"

#define PENDING_MAX (4u << 20)
#define TOOL_MAX (1u << 20)

static const char THINK_OPEN[] = "<think>", THINK_CLOSE[] = "</think>";
static const char TOOL_OPEN[] = "<tool_call>", TOOL_CLOSE[] = "</tool_call>";

void outparse_init(outparse *p, bool think, bool tools, const char *const *stops,
                   const size_t *stop_lens, int n_stop) {
  memset(p, 0, sizeof *p);
  buf_init(&p->pending, PENDING_MAX);
  buf_init(&p->tool, TOOL_MAX);
  p->think = think;
  p->tools = tools;
  p->stops = stops;
  p->stop_lens = stop_lens;
  p->n_stop = n_stop;
}

void outparse_deinit(outparse *p) {
  buf_deinit(&p->pending);
  buf_deinit(&p->tool);
}

static long find(const char *h, size_t n, const char *needle, size_t m) {
  if (m == 0 || m > n) return -1;
  for (size_t i = 0; i + m <= n; i++)
    if (h[i] == needle[0] && memcmp(h + i, needle, m) == 0) return (long)i;
  return -1;
}

/* The longest suffix of h that is a proper prefix of needle. */
static size_t partial(const char *h, size_t n, const char *needle, size_t m) {
  size_t k = m - 1 < n ? m - 1 : n;
  for (; k > 0; k--)
    if (memcmp(h + n - k, needle, k) == 0) return k;
  return 0;
}

static int deliver(outparse *p, const char *s, size_t n, outparse_emit emit, void *ud) {
  if (n == 0) return 0;
  if (p->mode == 2) return buf_append(&p->tool, s, n);
  return emit(ud, p->mode == 1 ? OUT_REASONING : OUT_CONTENT, s, n, NULL, 0);
}

/* The tool call is complete: emit it, or its raw text when it is not one. */
static int finish_tool(outparse *p, bool closed, outparse_emit emit, void *ud) {
  json_t *o = closed ? json_loadb((const char *)p->tool.data, p->tool.len, 0, NULL) : NULL;
  const char *name = json_string_value(json_object_get(o, "name"));
  json_t *args = json_object_get(o, "arguments");
  if (!args) args = json_object_get(o, "parameters");
  int rc;
  if (json_is_object(o) && name && *name) {
    char *a = NULL;
    const char *at = "{}";
    size_t al = 2;
    if (json_is_string(args)) {
      at = json_string_value(args);
      al = json_string_length(args);
    } else if (args && (a = json_dumps(args, JSON_COMPACT | JSON_ENCODE_ANY))) {
      at = a;
      al = strlen(a);
    }
    rc = emit(ud, OUT_TOOL_CALL, name, strlen(name), at, al);
    p->n_tool_calls++;
    free(a);
  } else {
    rc = emit(ud, OUT_CONTENT, TOOL_OPEN, sizeof TOOL_OPEN - 1, NULL, 0);
    if (rc == 0 && p->tool.len)
      rc = emit(ud, OUT_CONTENT, (const char *)p->tool.data, p->tool.len, NULL, 0);
    if (rc == 0 && closed) rc = emit(ud, OUT_CONTENT, TOOL_CLOSE, sizeof TOOL_CLOSE - 1, NULL, 0);
  }
  json_decref(o);
  buf_reset(&p->tool);
  return rc;
}

static void apply_stops(outparse *p) {
  long best = -1;
  for (int i = 0; i < p->n_stop; i++) {
    long at = find((const char *)p->pending.data, p->pending.len, p->stops[i], p->stop_lens[i]);
    if (at >= 0 && (best < 0 || at < best)) best = at;
  }
  if (best >= 0) {
    p->pending.len = (size_t)best;
    p->stopped = true;
  }
}

static void consume(buf *b, size_t n) {
  memmove(b->data, b->data + n, b->len - n);
  b->len -= n;
  if (b->data) b->data[b->len] = 0;
}

/* The tags that matter in the current mode. */
static int mode_tags(const outparse *p, const char *tags[2]) {
  int n = 0;
  if (p->mode == 0) {
    if (p->think) tags[n++] = THINK_OPEN;
    if (p->tools) tags[n++] = TOOL_OPEN;
  } else {
    tags[n++] = p->mode == 1 ? THINK_CLOSE : TOOL_CLOSE;
  }
  return n;
}

static int step(outparse *p, bool final, outparse_emit emit, void *ud, bool *again) {
  const char *d = (const char *)p->pending.data;
  size_t n = p->pending.len;
  const char *tags[2];
  int nt = mode_tags(p, tags), which = -1;
  long at = -1;
  for (int i = 0; i < nt; i++) {
    long a = find(d, n, tags[i], strlen(tags[i]));
    if (a >= 0 && (at < 0 || a < at)) at = a, which = i;
  }
  int rc;
  *again = false;
  if (at >= 0) {
    if ((rc = deliver(p, d, (size_t)at, emit, ud)) < 0) return rc;
    const char *tag = tags[which];
    consume(&p->pending, (size_t)at + strlen(tag));
    if (tag == THINK_OPEN)
      p->mode = 1;
    else if (tag == TOOL_OPEN)
      p->mode = 2;
    else if (tag == THINK_CLOSE)
      p->mode = 0;
    else {
      p->mode = 0;
      if ((rc = finish_tool(p, true, emit, ud)) < 0) return rc;
    }
    *again = true;
    return 0;
  }
  size_t hold = 0;
  if (!final) {
    for (int i = 0; i < nt; i++) {
      size_t h = partial(d, n, tags[i], strlen(tags[i]));
      if (h > hold) hold = h;
    }
    for (int i = 0; i < p->n_stop; i++) {
      size_t h = partial(d, n, p->stops[i], p->stop_lens[i]);
      if (h > hold) hold = h;
    }
  }
  if ((rc = deliver(p, d, n - hold, emit, ud)) < 0) return rc;
  consume(&p->pending, n - hold);
  return 0;
}

int outparse_push(outparse *p, const char *text, size_t len, bool final, outparse_emit emit,
                  void *ud) {
  int rc;
  if (len && (rc = buf_append(&p->pending, text, len)) < 0) return rc;
  if (!p->stopped && p->n_stop) apply_stops(p);
  if (p->stopped) final = true;
  bool again = true;
  while (again)
    if ((rc = step(p, final, emit, ud, &again)) < 0) return rc;
  if (final && p->mode == 2) {
    p->mode = 0;
    return finish_tool(p, false, emit, ud);
  }
  return 0;
}
