/* SPDX-License-Identifier: Apache-2.0
 *
 * engine/toolcall.c: the incremental parser of model output into content,
 * reasoning and tool calls (gloam_toolparse_* in include/gloam/chat.h).
 *
 * DESIGN
 * Input accumulates in `pend`; a state machine consumes what it can decide
 * and leaves the rest. Text that could still become a tag (a suffix that
 * is a prefix of `<think>`, `</think>`, `<tool_call>`, `</tool_call>` or
 * `<|python_tag|>`) stays in `pend`, so no event ever carries part of a
 * tag. Every decision depends only on the bytes seen, never on how they
 * were split, so any chunking gives the same final message (the tests
 * check one byte at a time, token-like and random splits).
 *
 * States: CONTENT, REASONING (inside <think>), CALL (JSON after
 * <tool_call>), CALL_SKIP (after the object, up to </tool_call>), CALL_RAW
 * (a <tool_call> body that is not a tool call: given back as content),
 * JSON (an untagged Llama-style object at the start of the answer or after
 * <|python_tag|>), JSON_TAIL (between such objects: whitespace and ';').
 *
 * A tool call starts (CALL_START event) once its name is known and, for
 * untagged JSON, once an "arguments"/"parameters" key is seen too; its
 * arguments then stream as raw JSON text (CALL_ARGS) while the scanner
 * (toolcall_scan.c) reads them. Arguments given as a JSON string are
 * decoded and sent whole when complete.
 *
 * Whitespace: content drops leading whitespace (at the start, after
 * </think>, after a tool call) and whitespace right before a tag; trailing
 * content whitespace is kept unless the message has tool calls. Reasoning
 * drops its leading and trailing whitespace. Event text never ends inside
 * a UTF-8 character (an incomplete tail waits for the next feed).
 */
#include <jansson.h>
#include <string.h>
#include <sys/random.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/err.h"
#include "engine/toolcall_scan.h"
#include "gloam/chat.h"

#define TP_DEFAULT_MAX (16u << 20)
#define TP_MAX_CALLS 4096

enum { ST_CONTENT, ST_REASONING, ST_CALL, ST_CALL_SKIP, ST_CALL_RAW, ST_JSON, ST_JSON_TAIL };
enum { MODE_TAGGED, MODE_CANDIDATE, MODE_PYTAG };
enum { TAG_THINK, TAG_ENDTHINK, TAG_TOOLCALL, TAG_ENDTOOLCALL, TAG_PYTAG, N_TAGS };

static const char *const TAGS[N_TAGS] = {"<think>", "</think>", "<tool_call>", "</tool_call>",
                                         "<|python_tag|>"};

typedef struct tc_call {
  char id[32];
  buf name_raw, args;
  char *name;
  buf args_dec; /* decoded arguments when given as a JSON string */
  size_t emitted;
  bool started, args_seen, args_done, args_str;
} tc_call;

struct gloam_toolparse {
  gloam_toolparse_opts o;
  char err[GLOAM_ERR_LEN];
  int st, mode;
  bool json_ok; /* untagged JSON may start here (start of the answer) */
  bool c_drop, r_drop;
  buf pend, c_ws, r_ws, content, reasoning, raw;
  size_t c_emitted, r_emitted;
  tc_call *calls; /* mem_alloc'd, cap_calls entries */
  size_t n_calls, cap_calls;
  tc_call *cur;
  tc_scan scan;
  uint64_t rng;
  bool finished;
  gloam_tp_cb cb;
  void *ctx;
};

static bool is_ws(uint8_t c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static int tp_err(gloam_toolparse *p, int rc) {
  if (rc == GLOAM_ETOOBIG)
    return err_set(p->err, rc, "model output exceeds the parser's %zu-byte limit", p->o.max_bytes);
  if (rc == GLOAM_ENOMEM) return err_set(p->err, rc, "out of memory");
  return rc;
}

/* ---- events ---- */

static int emit(gloam_toolparse *p, int type, int index, const char *text, size_t len,
                const tc_call *c) {
  if (!p->cb || (len == 0 && type != GLOAM_TP_CALL_START)) return 0;
  gloam_tp_event ev = {.type = type, .index = index, .text = text, .len = len};
  if (c) ev.id = c->id, ev.name = c->name;
  int rc = p->cb(p->ctx, &ev);
  if (rc < 0) err_set(p->err, rc, "event callback stopped the parser");
  return rc < 0 ? rc : 0;
}

/* Length of the prefix of s[0..n) that ends on a UTF-8 character boundary. */
static size_t utf8_safe(const uint8_t *s, size_t n) {
  size_t i = n, k = 0;
  while (i > 0 && k < 4 && (s[i - 1] & 0xC0) == 0x80) i--, k++;
  if (i == 0) return n;
  uint8_t lead = s[i - 1];
  size_t want = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
  return (k + 1 < want) ? i - 1 : n;
}

static int flush_text(gloam_toolparse *p, buf *b, size_t *emitted, int type, bool complete) {
  size_t end = complete ? b->len : utf8_safe(b->data, b->len);
  if (end <= *emitted) return 0;
  int rc = emit(p, type, 0, (const char *)b->data + *emitted, end - *emitted, NULL);
  *emitted = end;
  return rc;
}

static int flush_call(gloam_toolparse *p, tc_call *c, bool complete) {
  if (!c->started) return 0;
  buf *b = c->args_str ? &c->args_dec : &c->args;
  if (c->args_str && !c->args_done) return 0;
  size_t end = complete ? b->len : utf8_safe(b->data, b->len);
  if (end <= c->emitted) return 0;
  int rc = emit(p, GLOAM_TP_CALL_ARGS, (int)(c - p->calls), (const char *)b->data + c->emitted,
                end - c->emitted, c);
  c->emitted = end;
  return rc;
}

static int flush_all(gloam_toolparse *p, bool complete) {
  int rc = flush_text(p, &p->reasoning, &p->r_emitted, GLOAM_TP_REASONING, complete);
  if (rc == 0) rc = flush_text(p, &p->content, &p->c_emitted, GLOAM_TP_CONTENT, complete);
  /* finished calls were flushed completely by finish_call(); only the open one can lag */
  if (rc == 0 && p->cur) rc = flush_call(p, p->cur, complete);
  return rc;
}

/* ---- text ---- */

static int content_byte(gloam_toolparse *p, uint8_t ch) {
  if (is_ws(ch)) return p->c_drop ? 0 : buf_putc(&p->c_ws, ch);
  p->c_drop = false;
  int rc = 0;
  if (p->c_ws.len) {
    rc = buf_append(&p->content, p->c_ws.data, p->c_ws.len);
    buf_reset(&p->c_ws);
  }
  return rc == 0 ? buf_putc(&p->content, ch) : rc;
}

static int reasoning_byte(gloam_toolparse *p, uint8_t ch) {
  if (is_ws(ch)) return p->r_drop ? 0 : buf_putc(&p->r_ws, ch);
  p->r_drop = false;
  int rc = 0;
  if (p->r_ws.len) {
    rc = buf_append(&p->reasoning, p->r_ws.data, p->r_ws.len);
    buf_reset(&p->r_ws);
  }
  return rc == 0 ? buf_putc(&p->reasoning, ch) : rc;
}

static int content_bytes(gloam_toolparse *p, const uint8_t *s, size_t n) {
  int rc = 0;
  for (size_t i = 0; i < n && rc == 0; i++) rc = content_byte(p, s[i]);
  return rc;
}

/* Which of the allowed tags s[0..n) starts with: returns the tag, -1 for
 * none, -2 when s is a proper prefix of an allowed tag (undecided). */
static int match_tag(const uint8_t *s, size_t n, unsigned allowed) {
  int partial = 0;
  for (int t = 0; t < N_TAGS; t++) {
    if (!(allowed & (1u << t))) continue;
    size_t tl = strlen(TAGS[t]);
    if (n >= tl && memcmp(s, TAGS[t], tl) == 0) return t;
    if (n < tl && memcmp(s, TAGS[t], n) == 0) partial = 1;
  }
  return partial ? -2 : -1;
}

static unsigned content_tags(const gloam_toolparse *p) {
  unsigned t = (1u << TAG_THINK) | (1u << TAG_ENDTHINK);
  if (p->o.format == GLOAM_TOOLCALL_HERMES || p->o.format == GLOAM_TOOLCALL_GENERIC)
    t |= 1u << TAG_TOOLCALL;
  if (p->o.format == GLOAM_TOOLCALL_LLAMA3 || p->o.format == GLOAM_TOOLCALL_GENERIC)
    t |= 1u << TAG_PYTAG;
  return t;
}

static bool json_allowed(const gloam_toolparse *p) {
  return p->o.format == GLOAM_TOOLCALL_LLAMA3 || p->o.format == GLOAM_TOOLCALL_GENERIC;
}

/* ---- tool calls ---- */

static uint64_t next_rand(gloam_toolparse *p) {
  uint64_t z = (p->rng += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

static int begin_json(gloam_toolparse *p, int mode) {
  if (p->n_calls == TP_MAX_CALLS)
    return err_set(p->err, GLOAM_ETOOBIG, "more than %d tool calls", TP_MAX_CALLS);
  if (p->n_calls == p->cap_calls) {
    size_t nc = p->cap_calls ? p->cap_calls * 2 : 4;
    tc_call *n = mem_reallocarray(p->calls, nc, sizeof *n);
    if (!n) return err_set(p->err, GLOAM_ENOMEM, "out of memory");
    p->calls = n;
    p->cap_calls = nc;
  }
  tc_call *c = &p->calls[p->n_calls++];
  memset(c, 0, sizeof *c);
  buf_init(&c->name_raw, 4096);
  buf_init(&c->args, p->o.max_bytes);
  buf_init(&c->args_dec, p->o.max_bytes);
  static const char alnum[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  memcpy(c->id, "call_", 5);
  for (int i = 0; i < 24; i++) c->id[5 + i] = alnum[next_rand(p) % 62];
  c->id[29] = '\0';
  p->cur = c;
  p->mode = mode;
  tc_scan_init(&p->scan, &c->name_raw, &c->args);
  return 0;
}

static void call_deinit(tc_call *c) {
  buf_deinit(&c->name_raw);
  buf_deinit(&c->args);
  buf_deinit(&c->args_dec);
  mem_free(c->name);
  c->name = NULL;
}

/* Drops the current, never-started call entry. */
static void drop_current(gloam_toolparse *p) {
  call_deinit(p->cur);
  p->n_calls--;
  p->cur = NULL;
}

static char *decode_json_string(const buf *b) {
  json_error_t je;
  json_t *j = json_loadb((const char *)b->data, b->len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
  char *s = NULL;
  if (json_is_string(j)) s = mem_strndup(json_string_value(j), json_string_length(j));
  json_decref(j);
  return s;
}

static int maybe_start(gloam_toolparse *p) {
  tc_call *c = p->cur;
  if (c->started || !c->name || (p->mode != MODE_TAGGED && !c->args_seen)) return 0;
  int rc = flush_all(p, true); /* earlier text goes out first */
  if (rc < 0) return rc;
  c->started = true;
  return emit(p, GLOAM_TP_CALL_START, (int)(c - p->calls), "", 0, c);
}

/* Closes the current call: it was started, or is started now, or is not a
 * call. Returns 1 when it is a call. */
static int finish_call(gloam_toolparse *p, int *is_call) {
  tc_call *c = p->cur;
  int rc = maybe_start(p);
  if (rc < 0) return rc;
  if (!c->started && c->name && p->mode != MODE_CANDIDATE) {
    c->started = true;
    if ((rc = emit(p, GLOAM_TP_CALL_START, (int)(c - p->calls), "", 0, c)) < 0) return rc;
  }
  *is_call = c->started;
  if (!c->started) return 0;
  if (!c->args_seen && (rc = buf_append(&c->args, "{}", 2)) < 0) return tp_err(p, rc);
  if (c->args_str && !c->args_done) c->args_done = true;
  rc = flush_call(p, c, true);
  p->cur = NULL;
  return rc;
}

static int on_scan_events(gloam_toolparse *p, int ev) {
  tc_call *c = p->cur;
  if (ev & TC_EV_ARGS_KEY) c->args_seen = true;
  if (ev & TC_EV_NAME_DONE) {
    mem_free(c->name);
    c->name = decode_json_string(&c->name_raw);
  }
  if (ev & TC_EV_ARGS_DONE) {
    c->args_str = p->scan.args_is_string;
    if (c->args_str) {
      char *s = decode_json_string(&c->args);
      int rc = s ? buf_append_str(&c->args_dec, s) : 0;
      mem_free(s);
      if (rc < 0) return tp_err(p, rc);
    }
    c->args_done = true;
  } else if (p->scan.in_value && p->scan.slot == TC_SLOT_ARGS) {
    c->args_str = p->scan.args_is_string;
  }
  return maybe_start(p);
}

/* The bytes of the current attempt were not a tool call. */
static int not_a_call(gloam_toolparse *p) {
  drop_current(p);
  int rc = 0;
  if (p->mode == MODE_TAGGED) {
    p->st = ST_CALL_RAW;
  } else {
    rc = content_bytes(p, p->raw.data, p->raw.len);
    buf_reset(&p->raw);
    p->st = ST_CONTENT;
    p->json_ok = false;
  }
  return rc < 0 ? tp_err(p, rc) : 0;
}

/* ---- state handlers: each consumes a prefix of s, *used bytes ---- */

static int h_json(gloam_toolparse *p, const uint8_t *s, size_t n, size_t *used) {
  for (size_t i = 0; i < n; i++) {
    int ev = tc_scan_byte(&p->scan, s[i]);
    if (ev < 0) return tp_err(p, ev);
    if (ev & TC_EV_ERR) { /* s[i] is not part of the object */
      *used = i;
      int is_call = 0, rc;
      if (p->cur->started) {
        if ((rc = finish_call(p, &is_call)) < 0) return rc;
        buf_reset(&p->raw);
        p->st = p->mode == MODE_TAGGED ? ST_CALL_SKIP : ST_CONTENT;
        p->json_ok = false;
        p->c_drop = true;
        return 0;
      }
      return not_a_call(p);
    }
    int rc = buf_putc(&p->raw, s[i]);
    if (rc < 0) return tp_err(p, rc);
    if ((rc = on_scan_events(p, ev)) < 0) return rc;
    if (ev & TC_EV_DONE) {
      *used = i + 1;
      int is_call;
      if ((rc = finish_call(p, &is_call)) < 0) return rc;
      if (!is_call) return not_a_call(p);
      buf_reset(&p->raw);
      p->st = p->mode == MODE_TAGGED ? ST_CALL_SKIP : ST_JSON_TAIL;
      p->c_drop = true;
      return 0;
    }
  }
  *used = n;
  return 0;
}

static int h_text(gloam_toolparse *p, const uint8_t *s, size_t n, bool final, size_t *used) {
  bool reasoning = p->st == ST_REASONING;
  unsigned allowed = reasoning ? (1u << TAG_ENDTHINK) : content_tags(p);
  for (size_t i = 0; i < n; i++) {
    int rc;
    if (!reasoning && p->json_ok) {
      if (is_ws(s[i])) continue;
      p->json_ok = false;
      if (s[i] == '{') {
        *used = i;
        p->c_ws.len = 0;
        if ((rc = begin_json(p, MODE_CANDIDATE)) < 0) return rc;
        p->st = ST_JSON;
        return 0;
      }
    }
    int t = s[i] == '<' ? match_tag(s + i, n - i, allowed) : -1;
    if (t == -2 && !final) {
      *used = i;
      return 0;
    }
    if (t < 0) {
      rc = reasoning ? reasoning_byte(p, s[i]) : content_byte(p, s[i]);
      if (rc < 0) return tp_err(p, rc);
      continue;
    }
    *used = i + strlen(TAGS[t]);
    if ((rc = flush_all(p, true)) < 0) return rc;
    buf_reset(&p->c_ws);
    switch (t) {
      case TAG_THINK:
        p->st = ST_REASONING;
        p->r_drop = true;
        break;
      case TAG_ENDTHINK:
        buf_reset(&p->r_ws);
        p->st = ST_CONTENT;
        p->c_drop = true;
        p->json_ok = json_allowed(p);
        break;
      case TAG_TOOLCALL:
      case TAG_PYTAG:
        if ((rc = begin_json(p, t == TAG_TOOLCALL ? MODE_TAGGED : MODE_PYTAG)) < 0) return rc;
        buf_reset(&p->raw);
        if ((rc = buf_append_str(&p->raw, TAGS[t])) < 0) return tp_err(p, rc);
        p->st = t == TAG_TOOLCALL ? ST_CALL : ST_JSON;
        break;
      default:
        break;
    }
    return 0;
  }
  *used = n;
  return 0;
}

/* CALL_SKIP (drop up to </tool_call>), CALL_RAW (collect up to it). */
static int h_after_call(gloam_toolparse *p, const uint8_t *s, size_t n, bool final, size_t *used) {
  unsigned allowed = (1u << TAG_ENDTOOLCALL) | (p->st == ST_CALL_SKIP ? 1u << TAG_TOOLCALL : 0);
  for (size_t i = 0; i < n; i++) {
    int t = s[i] == '<' ? match_tag(s + i, n - i, allowed) : -1;
    if (t == -2 && !final) {
      *used = i;
      return 0;
    }
    int rc;
    if (t < 0) {
      if (p->st == ST_CALL_RAW && (rc = buf_putc(&p->raw, s[i])) < 0) return tp_err(p, rc);
      continue;
    }
    *used = i + strlen(TAGS[t]);
    if (t == TAG_TOOLCALL) { /* a new call without closing the previous one */
      if ((rc = begin_json(p, MODE_TAGGED)) < 0) return rc;
      buf_reset(&p->raw);
      p->st = ST_CALL;
      return 0;
    }
    if (p->st == ST_CALL_RAW) {
      rc = content_bytes(p, p->raw.data, p->raw.len);
      if (rc == 0) rc = content_bytes(p, (const uint8_t *)TAGS[t], strlen(TAGS[t]));
      if (rc < 0) return tp_err(p, rc);
      buf_reset(&p->raw);
    }
    p->c_drop = p->st == ST_CALL_SKIP; /* a real call: drop the whitespace after it */
    p->st = ST_CONTENT;
    return 0;
  }
  *used = n;
  return 0;
}

static int h_json_tail(gloam_toolparse *p, const uint8_t *s, size_t n, bool final, size_t *used) {
  for (size_t i = 0; i < n; i++) {
    if (is_ws(s[i]) || s[i] == ';') continue;
    int rc;
    if (s[i] == '{') {
      *used = i;
      if ((rc = begin_json(p, MODE_CANDIDATE)) < 0) return rc;
      buf_reset(&p->raw);
      p->st = ST_JSON;
      return 0;
    }
    int t = s[i] == '<' ? match_tag(s + i, n - i, 1u << TAG_PYTAG) : -1;
    if (t == -2 && !final) {
      *used = i;
      return 0;
    }
    if (t == TAG_PYTAG) {
      i += strlen(TAGS[t]) - 1;
      continue;
    }
    *used = i;
    p->st = ST_CONTENT;
    p->c_drop = true;
    return 0;
  }
  *used = n;
  return 0;
}

static int process(gloam_toolparse *p, bool final) {
  size_t off = 0;
  int rc = 0;
  while (off < p->pend.len) {
    const uint8_t *s = p->pend.data + off;
    size_t n = p->pend.len - off, used = 0;
    int st = p->st;
    switch (st) {
      case ST_CONTENT:
      case ST_REASONING:
        rc = h_text(p, s, n, final, &used);
        break;
      case ST_CALL:
      case ST_JSON:
        rc = h_json(p, s, n, &used);
        break;
      case ST_CALL_SKIP:
      case ST_CALL_RAW:
        rc = h_after_call(p, s, n, final, &used);
        break;
      default:
        rc = h_json_tail(p, s, n, final, &used);
        break;
    }
    if (rc < 0) break;
    off += used;
    if (used == 0 && p->st == st) break; /* needs more input */
  }
  if (off) {
    memmove(p->pend.data, p->pend.data + off, p->pend.len - off);
    p->pend.len -= off;
  }
  return rc;
}

/* ---- public API ---- */

int gloam_toolparse_new(gloam_toolparse **out, const gloam_toolparse_opts *opts) {
  if (!out) return GLOAM_EINVAL;
  *out = NULL;
  gloam_toolparse *p = mem_calloc(1, sizeof *p);
  if (!p) return GLOAM_ENOMEM;
  if (opts) p->o = *opts;
  if (p->o.format < GLOAM_TOOLCALL_GENERIC || p->o.format > GLOAM_TOOLCALL_NONE)
    p->o.format = GLOAM_TOOLCALL_GENERIC;
  if (!p->o.max_bytes) p->o.max_bytes = TP_DEFAULT_MAX;
  p->rng = p->o.id_seed;
  if (!p->rng && getrandom(&p->rng, sizeof p->rng, 0) != (ssize_t)sizeof p->rng)
    p->rng = (uint64_t)(uintptr_t)p ^ 0x5DEECE66Dull;
  buf *bufs[] = {&p->pend, &p->c_ws, &p->r_ws, &p->content, &p->reasoning, &p->raw};
  for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) buf_init(bufs[i], p->o.max_bytes);
  p->st = p->o.start_in_reasoning ? ST_REASONING : ST_CONTENT;
  p->c_drop = p->r_drop = true;
  p->json_ok = !p->o.start_in_reasoning && json_allowed(p);
  *out = p;
  return 0;
}

int gloam_toolparse_feed(gloam_toolparse *p, const char *text, size_t len, gloam_tp_cb cb,
                         void *ctx) {
  if (!p || (!text && len)) return GLOAM_EINVAL;
  if (p->finished) return err_set(p->err, GLOAM_ESTATE, "parser already finished");
  p->cb = cb;
  p->ctx = ctx;
  int rc = buf_append(&p->pend, text, len);
  if (rc < 0) return tp_err(p, rc);
  if ((rc = process(p, false)) < 0) return rc;
  return flush_all(p, false);
}

int gloam_toolparse_finish(gloam_toolparse *p, gloam_tp_cb cb, void *ctx) {
  if (!p) return GLOAM_EINVAL;
  if (p->finished) return 0;
  p->cb = cb;
  p->ctx = ctx;
  int rc = process(p, true);
  if (rc < 0) return rc;
  p->finished = true;
  int is_call = 0;
  switch (p->st) {
    case ST_CALL:
    case ST_JSON:
      if ((rc = finish_call(p, &is_call)) < 0) return rc;
      if (!is_call) {
        drop_current(p);
        if ((rc = content_bytes(p, p->raw.data, p->raw.len)) < 0) return tp_err(p, rc);
      }
      break;
    case ST_CALL_RAW:
      if ((rc = content_bytes(p, p->raw.data, p->raw.len)) < 0) return tp_err(p, rc);
      break;
    default:
      break;
  }
  size_t started = 0;
  for (size_t i = 0; i < p->n_calls; i++) started += p->calls[i].started;
  if (!started && p->c_ws.len && (rc = buf_append(&p->content, p->c_ws.data, p->c_ws.len)) < 0)
    return tp_err(p, rc);
  return flush_all(p, true);
}

const char *gloam_toolparse_errmsg(const gloam_toolparse *p) {
  return p ? p->err : "no parser";
}

void gloam_toolparse_free(gloam_toolparse *p) {
  if (!p) return;
  for (size_t i = 0; i < p->n_calls; i++) call_deinit(&p->calls[i]);
  mem_free(p->calls);
  buf *bufs[] = {&p->pend, &p->c_ws, &p->r_ws, &p->content, &p->reasoning, &p->raw};
  for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) buf_deinit(bufs[i]);
  mem_free(p);
}

/* Accessors for toolcall_json.c. */
size_t toolparse_n_calls(const gloam_toolparse *p);
int toolparse_call(const gloam_toolparse *p, size_t i, const char **id, const char **name,
                   const char **args, size_t *args_len);
void toolparse_texts(const gloam_toolparse *p, const char **content, size_t *content_len,
                     const char **reasoning, size_t *reasoning_len);

size_t toolparse_n_calls(const gloam_toolparse *p) {
  return p->n_calls;
}

int toolparse_call(const gloam_toolparse *p, size_t i, const char **id, const char **name,
                   const char **args, size_t *args_len) {
  const tc_call *c = &p->calls[i];
  if (!c->started) return 0;
  const buf *b = c->args_str ? &c->args_dec : &c->args;
  *id = c->id;
  *name = c->name;
  *args = (const char *)buf_cstr(b);
  *args_len = b->len;
  return 1;
}

void toolparse_texts(const gloam_toolparse *p, const char **content, size_t *content_len,
                     const char **reasoning, size_t *reasoning_len) {
  *content = (const char *)buf_cstr(&p->content);
  *content_len = p->content.len;
  *reasoning = (const char *)buf_cstr(&p->reasoning);
  *reasoning_len = p->reasoning.len;
}
