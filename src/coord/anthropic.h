/* SPDX-License-Identifier: Apache-2.0
 *
 * coord/anthropic.h: Anthropic's Messages API (POST /v1/messages) on top of
 * the coordinator-sealed chat path. The request is translated to an OpenAI
 * chat request (what nodes speak, docs/protocol.md), and the node's OpenAI
 * answer is translated back: a `message` object, or Anthropic's streaming
 * event sequence (message_start, content_block_start/delta/stop,
 * message_delta, message_stop), with tool use both ways. Errors use
 * Anthropic's shape {"type":"error","error":{"type","message"}}.
 *
 * Thread safety: loop thread only. The stream state is owned by its job.
 */
#ifndef GLOAM_COORD_ANTHROPIC_H
#define GLOAM_COORD_ANTHROPIC_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

struct evhttp_request;
typedef struct coord coord;
typedef struct cjob cjob;
typedef struct ant_stream ant_stream;

enum coord_api { API_OPENAI = 0, API_ANTHROPIC = 1 };

/* The route handler. */
void coord_anthropic_messages(struct evhttp_request *req, coord *c);

/* Translates an Anthropic request object to an OpenAI chat request (new
 * reference in *out). 0, or GLOAM_EINVAL with a message (no content). */
int coord_anthropic_to_openai(json_t *in, json_t **out, char *msg, size_t cap);
/* An OpenAI chat.completion -> an Anthropic message (new reference). */
json_t *coord_anthropic_from_completion(json_t *completion, const char *id, const char *model,
                                        int64_t input_tokens, int64_t output_tokens);

/* Anthropic's error object and its type for a status. */
json_t *coord_anthropic_error_json(int status, const char *message);
void coord_anthropic_send_error(struct evhttp_request *req, int status, const char *message);

/* Streaming: feeds opened node plaintext (OpenAI SSE), emitting Anthropic
 * events on j->sse; finish closes the message with usage and `gloam`
 * (stolen). 0 or an error (the caller fails the job). */
int coord_ant_stream_feed(cjob *j, const uint8_t *p, size_t n);
int coord_ant_stream_finish(cjob *j, int64_t input_tokens, int64_t output_tokens, json_t *gloam);
void coord_ant_stream_free(ant_stream *a);

#endif
