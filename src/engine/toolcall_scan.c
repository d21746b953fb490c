/* SPDX-License-Identifier: Apache-2.0
 *
 * engine/toolcall_scan.c: the incremental tool-call JSON scanner (see
 * toolcall_scan.h). A pushdown state machine over RFC 8259 tokens; numbers
 * are accepted leniently (any run of [0-9+-.eE]) since jansson validates
 * the final arguments where it matters.
 */
#include "engine/toolcall_scan.h"

#include <string.h>

enum {
  S_START,       /* before the top-level value */
  S_VALUE,       /* expecting a value */
  S_KEY_OR_END,  /* after '{' */
  S_KEY,         /* after ',' in an object */
  S_COLON,       /* after a key */
  S_AFTER_VALUE, /* expecting ',' or a closing bracket */
  S_STRING,
  S_NUMBER,
  S_LITERAL,
  S_DONE,
  S_ERR
};

void tc_scan_init(tc_scan *s, buf *name_raw, buf *args_raw) {
  memset(s, 0, sizeof *s);
  s->st = S_START;
  s->name_raw = name_raw;
  s->args_raw = args_raw;
}

static bool is_ws(uint8_t c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}
static bool is_num(uint8_t c) {
  return (c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E';
}
static bool is_hex(uint8_t c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* A value just ended; back to the enclosing container. */
static int value_end(tc_scan *s) {
  int ev = 0;
  if (s->depth == 0) {
    s->st = S_DONE;
    return 0;
  }
  if (s->depth == 1 && s->in_value) {
    if (s->slot == TC_SLOT_NAME) ev |= TC_EV_NAME_DONE;
    if (s->slot == TC_SLOT_ARGS) ev |= TC_EV_ARGS_DONE;
    s->in_value = false;
  }
  s->st = S_AFTER_VALUE;
  return ev;
}

static int copy_byte(tc_scan *s, uint8_t ch) {
  if (!s->in_value) return 0;
  buf *b = s->slot == TC_SLOT_NAME ? s->name_raw : s->slot == TC_SLOT_ARGS ? s->args_raw : NULL;
  return b ? buf_putc(b, ch) : 0;
}

/* A value starts with ch (not whitespace). */
static int value_start(tc_scan *s, uint8_t ch) {
  if (s->depth == 1) {
    s->in_value = true;
    s->slot = s->pending_slot;
    if (s->slot == TC_SLOT_ARGS) s->args_is_string = ch == '"';
  }
  if (s->depth == 0 && ch != '{') return TC_EV_ERR | TC_EV_NOT_OBJECT;
  switch (ch) {
    case '{':
    case '[':
      if (s->depth >= TC_SCAN_MAX_DEPTH) return TC_EV_ERR;
      s->stack[s->depth++] = ch;
      s->st = ch == '{' ? S_KEY_OR_END : S_VALUE;
      if (ch == '[') s->st = S_VALUE, s->lit_pos = -1; /* -1: an empty array may close */
      return 0;
    case '"':
      s->st = S_STRING;
      s->str_is_key = false;
      s->str_esc = 0;
      return 0;
    case 't':
      s->lit = "true";
      break;
    case 'f':
      s->lit = "false";
      break;
    case 'n':
      s->lit = "null";
      break;
    default:
      if (ch == '-' || (ch >= '0' && ch <= '9')) {
        s->st = S_NUMBER;
        return 0;
      }
      return TC_EV_ERR;
  }
  s->st = S_LITERAL;
  s->lit_pos = 1;
  return 0;
}

static int close_container(tc_scan *s, uint8_t ch) {
  uint8_t want = ch == '}' ? '{' : '[';
  if (s->depth == 0 || s->stack[s->depth - 1] != want) return TC_EV_ERR;
  s->depth--;
  if (s->depth == 0) {
    s->st = S_DONE;
    return TC_EV_DONE;
  }
  return value_end(s);
}

int tc_scan_byte(tc_scan *s, uint8_t ch) {
  int ev = 0, rc;
  switch (s->st) {
    case S_DONE:
    case S_ERR:
      return TC_EV_ERR;
    case S_STRING:
      if (s->str_esc == 1) {
        if (ch == 'u') {
          s->str_esc = 2;
        } else if (strchr("\"\\/bfnrt", ch) && ch) {
          s->str_esc = 0;
        } else {
          return TC_EV_ERR;
        }
      } else if (s->str_esc >= 2) {
        if (!is_hex(ch)) return TC_EV_ERR;
        s->str_esc = s->str_esc == 5 ? 0 : s->str_esc + 1;
      } else if (ch == '\\') {
        s->str_esc = 1;
      } else if (ch < 0x20) {
        return TC_EV_ERR;
      } else if (ch == '"') {
        if (s->str_is_key) {
          if ((rc = copy_byte(s, ch)) < 0) return rc;
          s->st = S_COLON;
          if (s->depth == 1) {
            s->pending_slot = TC_SLOT_OTHER;
            if (s->key_len == 4 && memcmp(s->key, "name", 4) == 0) s->pending_slot = TC_SLOT_NAME;
            if ((s->key_len == 9 && memcmp(s->key, "arguments", 9) == 0) ||
                (s->key_len == 10 && memcmp(s->key, "parameters", 10) == 0)) {
              s->pending_slot = TC_SLOT_ARGS;
              ev |= TC_EV_ARGS_KEY;
            }
          }
          return ev;
        }
        if ((rc = copy_byte(s, ch)) < 0) return rc;
        return value_end(s);
      }
      if (s->str_is_key && s->depth == 1) {
        if (s->key_len < sizeof s->key) s->key[s->key_len] = (char)ch;
        s->key_len++;
      }
      return copy_byte(s, ch);
    case S_NUMBER:
      if (is_num(ch)) return copy_byte(s, ch);
      ev = value_end(s);
      if (s->st == S_DONE) return TC_EV_ERR;
      rc = tc_scan_byte(s, ch); /* the delimiter belongs to the container */
      return rc < 0 ? rc : (ev | rc);
    case S_LITERAL:
      if (s->lit[s->lit_pos] != (char)ch) return TC_EV_ERR;
      if ((rc = copy_byte(s, ch)) < 0) return rc;
      if (s->lit[++s->lit_pos] == '\0') return value_end(s);
      return 0;
    default:
      break;
  }
  if (is_ws(ch)) return copy_byte(s, ch);
  switch (s->st) {
    case S_START:
      ev = value_start(s, ch);
      return ev;
    case S_VALUE:
      if (ch == ']' && s->lit_pos == -1) {
        s->lit_pos = 0;
        if ((rc = copy_byte(s, ch)) < 0) return rc;
        return close_container(s, ch);
      }
      s->lit_pos = 0;
      ev = value_start(s, ch);
      if (!(ev & TC_EV_ERR) && (rc = copy_byte(s, ch)) < 0) return rc;
      return ev;
    case S_KEY_OR_END:
    case S_KEY:
      if (ch == '}' && s->st == S_KEY_OR_END) {
        if ((rc = copy_byte(s, ch)) < 0) return rc;
        return close_container(s, ch);
      }
      if (ch != '"') return TC_EV_ERR;
      if ((rc = copy_byte(s, ch)) < 0) return rc;
      s->st = S_STRING;
      s->str_is_key = true;
      s->str_esc = 0;
      if (s->depth == 1) s->key_len = 0;
      return 0;
    case S_COLON:
      if (ch != ':') return TC_EV_ERR;
      if ((rc = copy_byte(s, ch)) < 0) return rc;
      s->st = S_VALUE;
      return 0;
    case S_AFTER_VALUE:
      if (ch == ',') {
        if ((rc = copy_byte(s, ch)) < 0) return rc;
        s->st = s->stack[s->depth - 1] == '{' ? S_KEY : S_VALUE;
        return 0;
      }
      if (ch == '}' || ch == ']') {
        uint8_t want = ch == '}' ? '{' : '[';
        if (s->stack[s->depth - 1] != want) return TC_EV_ERR;
        if ((rc = copy_byte(s, ch)) < 0) return rc;
        return close_container(s, ch);
      }
      return TC_EV_ERR;
    default:
      return TC_EV_ERR;
  }
}
