/* SPDX-License-Identifier: Apache-2.0
 *
 * engine/toolcall_scan.h: an incremental JSON scanner for one tool-call
 * object ({"name": ..., "arguments": {...}}), fed one byte at a time.
 *
 * It validates JSON syntax as the bytes arrive (so prose that merely starts
 * with "{" is rejected early), tracks the keys of the top-level object, and
 * copies the raw bytes of the top-level "name" value and of the
 * "arguments"/"parameters" value into caller buffers as they are scanned,
 * which is what lets the parser stream argument fragments before the
 * object is complete. Nesting is bounded (TC_SCAN_MAX_DEPTH).
 *
 * Ownership: the scanner borrows the two buffers. Thread safety: one
 * scanner per stream.
 */
#ifndef GLOAM_ENGINE_TOOLCALL_SCAN_H
#define GLOAM_ENGINE_TOOLCALL_SCAN_H

#include <stdbool.h>
#include <stdint.h>

#include "core/buf.h"

#define TC_SCAN_MAX_DEPTH 64

enum tc_slot { TC_SLOT_OTHER = 0, TC_SLOT_NAME, TC_SLOT_ARGS };

/* Result flags of tc_scan_byte(). */
enum {
  TC_EV_ERR = 1 << 0,       /* not JSON (the byte was not consumed) */
  TC_EV_DONE = 1 << 1,      /* the top-level object just closed */
  TC_EV_ARGS_KEY = 1 << 2,  /* an "arguments"/"parameters" key was read */
  TC_EV_NAME_DONE = 1 << 3, /* the "name" value is complete */
  TC_EV_ARGS_DONE = 1 << 4, /* the arguments value is complete */
  TC_EV_NOT_OBJECT = 1 << 5 /* the first value is not an object */
};

typedef struct tc_scan {
  uint8_t stack[TC_SCAN_MAX_DEPTH];
  int depth;
  int st;          /* lexical state */
  int str_esc;     /* 0; 1 after '\'; 2..5 reading \u digits */
  bool str_is_key; /* the open string is an object key */
  const char *lit; /* literal being matched (true/false/null) */
  int lit_pos;
  char key[16]; /* current top-level key (truncated) */
  size_t key_len;
  int pending_slot; /* slot of the next top-level value */
  int slot;         /* slot of the open top-level value */
  bool in_value;    /* a top-level value is open */
  bool args_is_string;
  buf *name_raw, *args_raw;
} tc_scan;

/* Resets the scanner; name_raw/args_raw receive the raw value bytes. */
void tc_scan_init(tc_scan *s, buf *name_raw, buf *args_raw);
/* Scans one byte. Returns TC_EV_* flags, or a negative GLOAM_E* code when
 * appending to a buffer fails (cap or memory). */
int tc_scan_byte(tc_scan *s, uint8_t ch);

#endif
