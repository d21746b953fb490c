/* SPDX-License-Identifier: Apache-2.0
 *
 * client/sse.h: an incremental parser for text/event-stream responses
 * (the WHATWG "event stream interpretation"), fed with bytes as they arrive.
 *
 *   csse p;  csse_init(&p, 4 << 20);
 *   csse_feed(&p, bytes, n, on_event, ud);   // on_event(name, data, len, ud)
 *   csse_deinit(&p);
 *
 * Lines end in LF, CRLF or CR. `event:` sets the event name (at most
 * CSSE_NAME_MAX bytes), `data:` lines are joined with LF, a blank line
 * dispatches, `:` lines are comments, `id:` and `retry:` are ignored. An
 * event whose data would exceed max_event bytes (or a line longer than that)
 * is GLOAM_ETOOBIG and the parser stops. Untrusted input: fuzzed by
 * fuzz/client_sse.
 *
 * Ownership: the parser owns its buffers; the callback's name and data are
 * borrowed for the call. Thread safety: one thread at a time.
 */
#ifndef GLOAM_CLIENT_SSE_H
#define GLOAM_CLIENT_SSE_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

#define CSSE_NAME_MAX 63

/* Returns 0 to go on, < 0 to stop (csse_feed returns that code). name is ""
 * for events without an `event:` field; data is NUL-terminated. */
typedef int (*csse_event_fn)(const char *name, const char *data, size_t len, void *ud);

typedef struct csse {
  buf line; /* the current partial line */
  buf data; /* the current event's data */
  char name[CSSE_NAME_MAX + 1];
  int has_data;
  int skip_lf; /* the previous chunk ended in CR */
  int failed;
  size_t max_event;
} csse;

void csse_init(csse *p, size_t max_event);
void csse_deinit(csse *p);
/* Parses n bytes; 0, GLOAM_ETOOBIG, GLOAM_ENOMEM or the callback's code.
 * After a failure every call returns GLOAM_ESTATE. */
int csse_feed(csse *p, const uint8_t *s, size_t n, csse_event_fn fn, void *ud);

#endif
