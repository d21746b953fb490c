/* SPDX-License-Identifier: Apache-2.0
 *
 * node/request.h: the OpenAI chat-completions request body, as the node reads
 * it after opening the sealed envelope.
 *
 *   node_request r;
 *   char err[GLOAM_ERR_LEN];
 *   int rc = node_request_parse(body, body_len, &r, err);
 *   if (rc < 0) send job_error(node_request_code(rc, &r), err);
 *   ... r.messages, r.max_tokens, r.temperature ...
 *   node_request_deinit(&r);
 *
 * The body is untrusted (it comes from whoever sealed it): it is parsed under
 * size and depth limits, every field is type- and range-checked, and what the
 * node cannot honour (n > 1, logprobs, response_format other than "text") is
 * refused with a reason rather than silently ignored. Unknown fields are
 * ignored, as OpenAI does for fields it does not know. Fuzzed by
 * fuzz/job_request.
 *
 * Ownership: the caller embeds node_request; node_request_deinit() releases
 * the JSON references and strings. Pure; thread-safe.
 */
#ifndef GLOAM_NODE_REQUEST_H
#define GLOAM_NODE_REQUEST_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NODE_REQ_MAX_BYTES (8u << 20) /* request JSON */
#define NODE_REQ_MAX_DEPTH 32
#define NODE_REQ_MAX_MESSAGES 4096
#define NODE_REQ_MAX_TOOLS 128
#define NODE_REQ_MAX_STOP 4
#define NODE_REQ_MAX_STOP_LEN 256

/* Why a request was refused: maps to protocol job_error codes. */
enum node_req_refusal {
  NODE_REQ_INVALID = 0,     /* "invalid_request" */
  NODE_REQ_RESPONSE_FORMAT, /* "unsupported_response_format" */
};

typedef struct node_request {
  json_t *messages;          /* array of objects (new reference) */
  json_t *tools;             /* array or NULL (NULL too for tool_choice "none") */
  char *model;               /* the body's "model", or NULL */
  int64_t max_tokens;        /* 0: not given */
  double temperature;        /* default 1 */
  double top_p;              /* default 1 */
  int top_k;                 /* extension; 0: off */
  double min_p;              /* extension; 0: off */
  double presence_penalty;   /* default 0 */
  double frequency_penalty;  /* default 0 */
  double repetition_penalty; /* extension; default 1 */
  bool has_seed;
  uint64_t seed;
  bool stream;
  bool include_usage; /* stream_options.include_usage */
  int n_stop;
  char *stop[NODE_REQ_MAX_STOP]; /* NUL-terminated, non-empty */
  size_t stop_len[NODE_REQ_MAX_STOP];
  enum node_req_refusal refusal; /* set when parse fails */
} node_request;

/* Parses body (len bytes). OUT: *r (initialised even on failure, so
 * node_request_deinit() is always safe). Returns 0, GLOAM_EFORMAT (not JSON,
 * wrong types, out-of-range values; r->refusal says which job_error code),
 * GLOAM_ETOOBIG (size, depth or count limits), GLOAM_ENOMEM. err gets
 * detail text that names the field, never its content. */
int node_request_parse(const uint8_t *body, size_t len, node_request *r, char *err);
void node_request_deinit(node_request *r);

/* The protocol job_error code for a failed parse: "invalid_request" or
 * "unsupported_response_format". Static string. */
const char *node_request_error_code(const node_request *r);

#endif
