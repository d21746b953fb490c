/* SPDX-License-Identifier: Apache-2.0
 *
 * http/sse.h: Server-Sent Events over an evhttp chunked reply.
 *
 *   http_sse *s;
 *   if (http_sse_start(req, 200, 1 << 20, on_gone, job, &s) < 0) ...;
 *   http_sse_send(s, NULL, json, json_len);   // "data: {...}\n\n"
 *   http_sse_send(s, NULL, "[DONE]", 6);
 *   http_sse_end(s);                          // frees s
 *
 * DESIGN: one chunk per event (evhttp_send_reply_chunk), so each event
 * leaves as soon as it is written. Backpressure is a cap: when more than
 * max_queued bytes wait in the connection's output buffer, send answers
 * GLOAM_EAGAIN and the caller drops the stream (a slow client is not allowed
 * to hold memory). The connection's read timeout is lifted while streaming
 * (the client sends nothing), the write timeout stays. When the client goes
 * away, on_gone(ud) runs once on the loop; the stream stays valid until the
 * owner calls http_sse_end(), which then only frees.
 *
 * Ownership: the caller adds extra response headers to the request before
 * start; http_sse_end() frees s and finishes (or releases) the request.
 * Loop thread only.
 */
#ifndef GLOAM_HTTP_SSE_H
#define GLOAM_HTTP_SSE_H

#include <stdbool.h>
#include <stddef.h>

struct evhttp_request;
typedef struct http_sse http_sse;

int http_sse_start(struct evhttp_request *req, int status, size_t max_queued,
                   void (*on_gone)(void *ud), void *ud, http_sse **out);
/* One event: optional `event:` line, then the data split into `data:` lines
 * at '\n'. GLOAM_ECLOSED when the client is gone, GLOAM_EAGAIN over the cap,
 * GLOAM_EINVAL when event contains a line break. */
int http_sse_send(http_sse *s, const char *event, const char *data, size_t len);
/* Bytes that already are complete SSE events (ending in a blank line),
 * sent as they are. Same errors as http_sse_send. */
int http_sse_send_raw(http_sse *s, const void *events, size_t len);
/* A comment line (": ping"), keeps proxies from timing out. */
int http_sse_comment(http_sse *s, const char *text);
bool http_sse_gone(const http_sse *s);
/* Ends the reply (if the client is still there) and frees s. NULL: no-op. */
void http_sse_end(http_sse *s);

/* Formats one event into out (for tests and other transports). */
struct buf;
int http_sse_format(struct buf *out, const char *event, const char *data, size_t len);

#endif
