/* SPDX-License-Identifier: Apache-2.0
 *
 * coord/chat_req.h: validation of OpenAI chat completion requests, as the
 * coordinator needs it in coordinator-sealed mode: every documented
 * parameter is checked for type and range, unknown parameters are ignored
 * (as OpenAI does), and what the coordinator routes and bills on is
 * extracted.
 *
 *   chat_req r;
 *   chat_req_error e;
 *   if (coord_chat_req_parse(body, len, 1 << 20, &r, &e) < 0)
 *     http_send_error(req, e.status, NULL, e.code, e.param, "%s", e.message);
 *   ... r.model, r.max_tokens, r.stream ...
 *   coord_chat_req_free(&r);
 *
 * Unsupported but valid requests are refused, never silently changed:
 * n > 1, and response_format json_schema / json_object unless the caller
 * later finds a node that enforces them (r.response_format tells it).
 * Thread safety: pure functions.
 */
#ifndef GLOAM_COORD_CHAT_REQ_H
#define GLOAM_COORD_CHAT_REQ_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CHAT_MAX_MESSAGES 4096
#define CHAT_MAX_TOOLS 128
#define CHAT_MAX_OUTPUT_TOKENS (1u << 20)

enum chat_format { CHAT_FORMAT_TEXT = 0, CHAT_FORMAT_JSON_OBJECT, CHAT_FORMAT_JSON_SCHEMA };

typedef struct chat_req {
  json_t *root; /* owned: the parsed request */
  char model[129];
  uint32_t max_tokens; /* 0: not given */
  bool stream, include_usage, logprobs, has_tools;
  enum chat_format response_format;
  size_t n_messages;
} chat_req;

typedef struct chat_req_error {
  int status;     /* 400 or 413 */
  char code[48];  /* "invalid_value", "missing_required_parameter", ... */
  char param[48]; /* the offending parameter ("messages[2].role"), or "" */
  char message[256];
} chat_req_error;

/* 0, or a negative GLOAM_E* with *e filled (never containing request
 * content). */
int coord_chat_req_parse(const char *body, size_t len, size_t max_bytes, chat_req *r,
                         chat_req_error *e);
void coord_chat_req_free(chat_req *r);

#endif
