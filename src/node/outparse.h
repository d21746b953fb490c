/* SPDX-License-Identifier: Apache-2.0
 *
 * node/outparse.h: splits generated text, as it streams, into what an
 * OpenAI client sees: content, reasoning_content (between <think> and
 * </think>) and tool calls (<tool_call>{"name":..,"arguments":..}</tool_call>,
 * the Hermes/Qwen format), and applies the request's stop strings.
 *
 *   outparse p;
 *   outparse_init(&p, think, tools, stops, stop_lens, n_stop);
 *   outparse_push(&p, piece, len, false, emit, ud);   // per token
 *   outparse_push(&p, NULL, 0, true, emit, ud);       // at the end
 *   if (p.stopped) ... a stop string was seen: finish with "stop"
 *   outparse_deinit(&p);
 *
 * Text that might be the start of a tag or a stop string is held back until
 * the next piece decides it, so a tag split across tokens is still found and
 * a stop string never leaks to the client. A tool call whose body is not a
 * JSON object with a string "name" is emitted as plain content, as written.
 *
 * Ownership: borrows the stop strings for its lifetime. Not thread-safe.
 */
#ifndef GLOAM_NODE_OUTPARSE_H
#define GLOAM_NODE_OUTPARSE_H

#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"

enum outparse_kind { OUT_CONTENT = 0, OUT_REASONING = 1, OUT_TOOL_CALL = 2 };

/* For OUT_TOOL_CALL, a is the function name and b the arguments as JSON
 * text; otherwise a is the text and b is NULL. */
typedef int (*outparse_emit)(void *ud, enum outparse_kind kind, const char *a, size_t a_len,
                             const char *b, size_t b_len);

typedef struct outparse {
  buf pending; /* undecided text */
  buf tool;    /* body of the open <tool_call> */
  int mode;    /* 0 content, 1 reasoning, 2 tool call; set 1 after init when the
                  prompt already opened <think> */
  bool think, tools, stopped;
  const char *const *stops;
  const size_t *stop_lens;
  int n_stop;
  int n_tool_calls;
} outparse;

void outparse_init(outparse *p, bool think, bool tools, const char *const *stops,
                   const size_t *stop_lens, int n_stop);
void outparse_deinit(outparse *p);
/* Feeds text (final: no more will come; flush everything). Returns 0, a
 * negative code from emit, or GLOAM_ETOOBIG (a tool call over 1 MiB). */
int outparse_push(outparse *p, const char *text, size_t len, bool final, outparse_emit emit,
                  void *ud);

#endif
