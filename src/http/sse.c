/* SPDX-License-Identifier: Apache-2.0
 *
 * http/sse.c: Server-Sent Events over evhttp chunked replies (see sse.h).
 */
#include "http/sse.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/http.h>
#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/err.h"

struct http_sse {
  struct evhttp_request *req;
  struct evhttp_connection *evcon;
  size_t max_queued;
  void (*on_gone)(void *ud);
  void *ud;
  bool gone;
};

static void on_conn_close(struct evhttp_connection *evcon, void *p) {
  http_sse *s = p;
  if (s->gone) return;
  s->gone = true;
  evhttp_connection_set_closecb(evcon, NULL, NULL);
  if (s->on_gone) s->on_gone(s->ud);
}

int http_sse_start(struct evhttp_request *req, int status, size_t max_queued,
                   void (*on_gone)(void *ud), void *ud, http_sse **out) {
  *out = NULL;
  struct evhttp_connection *evcon = evhttp_request_get_connection(req);
  if (!evcon) return GLOAM_ECLOSED;
  http_sse *s = mem_calloc(1, sizeof *s);
  if (!s) return GLOAM_ENOMEM;
  s->req = req;
  s->evcon = evcon;
  s->max_queued = max_queued;
  s->on_gone = on_gone;
  s->ud = ud;
  struct evkeyvalq *h = evhttp_request_get_output_headers(req);
  evhttp_add_header(h, "Content-Type", "text/event-stream; charset=utf-8");
  evhttp_add_header(h, "Cache-Control", "no-cache");
  evhttp_add_header(h, "X-Accel-Buffering", "no");
  evhttp_send_reply_start(req, status, status == 200 ? "OK" : "Status");
  evhttp_connection_set_closecb(evcon, on_conn_close, s);
  struct bufferevent *bev = evhttp_connection_get_bufferevent(evcon);
  if (bev) {
    struct timeval wt = {60, 0};
    bufferevent_set_timeouts(bev, NULL, &wt);
  }
  *out = s;
  return 0;
}

int http_sse_format(buf *out, const char *event, const char *data, size_t len) {
  int rc = 0;
  if (event) {
    if (strpbrk(event, "\r\n")) return GLOAM_EINVAL;
    rc = buf_printf(out, "event: %s\n", event);
  }
  size_t i = 0;
  do {
    const char *nl = memchr(data + i, '\n', len - i);
    size_t l = nl ? (size_t)(nl - (data + i)) : len - i;
    if (rc >= 0) rc = buf_append(out, "data: ", 6);
    if (rc >= 0) rc = buf_append(out, data + i, l);
    if (rc >= 0) rc = buf_putc(out, '\n');
    i += l + (nl ? 1 : 0);
  } while (rc >= 0 && i < len);
  if (rc >= 0) rc = buf_putc(out, '\n');
  return rc;
}

static int queued_too_much(const http_sse *s, size_t more) {
  struct bufferevent *bev = evhttp_connection_get_bufferevent(s->evcon);
  size_t q = bev ? evbuffer_get_length(bufferevent_get_output(bev)) : 0;
  return q + more > s->max_queued;
}

static int send_raw(http_sse *s, const buf *b) {
  if (s->gone) return GLOAM_ECLOSED;
  if (queued_too_much(s, b->len)) return GLOAM_EAGAIN;
  struct evbuffer *eb = evbuffer_new();
  if (!eb) return GLOAM_ENOMEM;
  if (evbuffer_add(eb, b->data, b->len) < 0) {
    evbuffer_free(eb);
    return GLOAM_ENOMEM;
  }
  evhttp_send_reply_chunk(s->req, eb);
  evbuffer_free(eb);
  return 0;
}

int http_sse_send(http_sse *s, const char *event, const char *data, size_t len) {
  if (s->gone) return GLOAM_ECLOSED;
  buf b;
  buf_init(&b, s->max_queued + 64);
  int rc = http_sse_format(&b, event, data, len);
  if (rc >= 0) rc = send_raw(s, &b);
  buf_deinit(&b);
  return rc;
}

int http_sse_send_raw(http_sse *s, const void *events, size_t len) {
  if (s->gone) return GLOAM_ECLOSED;
  buf b = {(uint8_t *)events, len, len, len};
  return send_raw(s, &b);
}

int http_sse_comment(http_sse *s, const char *text) {
  if (strpbrk(text, "\r\n")) return GLOAM_EINVAL;
  buf b;
  buf_init(&b, 1024);
  int rc = buf_printf(&b, ": %s\n\n", text);
  if (rc >= 0) rc = send_raw(s, &b);
  buf_deinit(&b);
  return rc;
}

bool http_sse_gone(const http_sse *s) {
  return s->gone;
}

void http_sse_end(http_sse *s) {
  if (!s) return;
  if (!s->gone) evhttp_connection_set_closecb(s->evcon, NULL, NULL);
  /* After a disconnect evhttp has detached the request; ending it frees it. */
  evhttp_send_reply_end(s->req);
  mem_free(s);
}
