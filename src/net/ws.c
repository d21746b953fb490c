/* SPDX-License-Identifier: Apache-2.0
 *
 * net/ws.c: WebSocket over bufferevents with wslay (see ws.h).
 *
 * DESIGN: on the server side the evhttp connection is taken over after
 * evhttp writes our 101 header: we replace the bufferevent's callbacks with
 * ours, and at the end free the evhttp connection (which owns the
 * bufferevent and the socket). evhttp's own close path would shutdown(2) the
 * socket, so the connection cannot be detached by dup(2) instead. The
 * coordinator must free its WebSockets before evhttp_free().
 */
#include "net/ws.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/util.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <strings.h>
#include <string.h>
#include <wslay/wslay.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/codec.h"
#include "core/err.h"
#include "net/server.h"
#include "net/tls.h"

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#define WS_SOCK_HIWAT (256 * 1024) /* bytes in the bufferevent before wslay waits */
#define WS_HANDSHAKE_MAX 8192
#define WS_CLOSE_GRACE_S 5

enum ws_state { WS_HANDSHAKE, WS_OPEN, WS_CLOSING, WS_DEAD };

struct net_ws {
  struct event_base *base;
  struct bufferevent *bev;
  struct evhttp_connection *evcon; /* server side: owns bev */
  wslay_event_context_ptr ctx;
  net_ws_config cfg;
  net_ws_callbacks cb;
  void *ud;
  enum ws_state state;
  int in_recv;
  int finishing;  /* wslay is done: flush, then tear down */
  int close_code; /* net_ws_close() waiting for queued messages to go first */
  int status;     /* close status reported to on_close */
  struct event *defer;
  struct event *close_timer;
  char expect_accept[29];
};

int net_ws_accept_key(const char *key, char out[29]) {
  uint8_t md[20];
  unsigned md_len = 0;
  EVP_MD_CTX *c = EVP_MD_CTX_new();
  if (!c) return GLOAM_ENOMEM;
  int ok = EVP_DigestInit_ex(c, EVP_sha1(), NULL) && EVP_DigestUpdate(c, key, strlen(key)) &&
           EVP_DigestUpdate(c, WS_GUID, sizeof WS_GUID - 1) && EVP_DigestFinal_ex(c, md, &md_len);
  EVP_MD_CTX_free(c);
  if (!ok || md_len != 20) return GLOAM_ECRYPTO;
  return codec_b64_encode(md, 20, out, 29, CODEC_B64_STD) == 28 ? 0 : GLOAM_EINTERNAL;
}

/* ---- teardown ---------------------------------------------------------- */

static void ws_destroy(net_ws *ws) {
  if (ws->ctx) wslay_event_context_free(ws->ctx);
  if (ws->defer) event_free(ws->defer);
  if (ws->close_timer) event_free(ws->close_timer);
  if (ws->evcon) {
    bufferevent_setcb(ws->bev, NULL, NULL, NULL, NULL);
    evhttp_connection_free(ws->evcon);
  } else if (ws->bev) {
    bufferevent_free(ws->bev);
  }
  mem_free(ws);
}

static void on_defer(evutil_socket_t fd, short what, void *p) {
  net_ws *ws = p;
  ws->state = WS_DEAD;
  if (ws->cb.on_close) ws->cb.on_close(ws, ws->status, ws->ud);
  ws_destroy(ws);
}

static int close_status(net_ws *ws) {
  if (ws->ctx && wslay_event_get_close_received(ws->ctx))
    return wslay_event_get_status_code_received(ws->ctx);
  if (ws->ctx && wslay_event_get_close_sent(ws->ctx))
    return wslay_event_get_status_code_sent(ws->ctx);
  return 1006;
}

/* Schedules teardown (idempotent). status 0: derive from the close frames. */
static void ws_fail(net_ws *ws, int status) {
  if (ws->state == WS_DEAD) return;
  if (ws->status == 0) ws->status = status ? status : close_status(ws);
  ws->state = WS_DEAD;
  bufferevent_disable(ws->bev, EV_READ | EV_WRITE);
  static const struct timeval zero = {0, 0};
  event_add(ws->defer, &zero);
}

/* ---- wslay glue -------------------------------------------------------- */

static ssize_t recv_cb(wslay_event_context_ptr ctx, uint8_t *data, size_t len, int flags,
                       void *ud) {
  net_ws *ws = ud;
  int n = evbuffer_remove(bufferevent_get_input(ws->bev), data, len);
  if (n <= 0) {
    wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
    return -1;
  }
  return n;
}

static ssize_t send_cb(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags,
                       void *ud) {
  net_ws *ws = ud;
  struct evbuffer *out = bufferevent_get_output(ws->bev);
  if (evbuffer_get_length(out) >= WS_SOCK_HIWAT) {
    wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
    return -1;
  }
  if (evbuffer_add(out, data, len) < 0) {
    wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
    return -1;
  }
  return (ssize_t)len;
}

static int genmask_cb(wslay_event_context_ptr ctx, uint8_t *mask, size_t len, void *ud) {
  return RAND_bytes(mask, (int)len) == 1 ? 0 : -1;
}

static void msg_cb(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *arg,
                   void *ud) {
  net_ws *ws = ud;
  if (ws->state != WS_OPEN) return;
  if (arg->opcode == WSLAY_TEXT_FRAME || arg->opcode == WSLAY_BINARY_FRAME) {
    if (ws->cb.on_message)
      ws->cb.on_message(ws, arg->opcode == WSLAY_BINARY_FRAME, arg->msg, arg->msg_length, ws->ud);
  }
}

static const struct wslay_event_callbacks wslay_cbs = {
    recv_cb, send_cb, genmask_cb, NULL, NULL, NULL, msg_cb,
};

/* Moves queued frames into the socket buffer and notices the end. */
static void ws_pump(net_ws *ws) {
  if (ws->state == WS_DEAD || ws->state == WS_HANDSHAKE || ws->in_recv) return;
  if (wslay_event_want_write(ws->ctx) && wslay_event_send(ws->ctx) != 0) {
    ws_fail(ws, 1006);
    return;
  }
  /* wslay sends control frames before queued data, so a close waits until
   * the messages queued before it have been handed to the socket. */
  if (ws->close_code && wslay_event_get_queued_msg_count(ws->ctx) == 0) {
    wslay_event_queue_close(ws->ctx, (uint16_t)ws->close_code, NULL, 0);
    ws->close_code = 0;
    if (wslay_event_send(ws->ctx) != 0) {
      ws_fail(ws, 1006);
      return;
    }
  }
  if (!wslay_event_want_read(ws->ctx) && !wslay_event_want_write(ws->ctx)) {
    ws->finishing = 1;
    if (evbuffer_get_length(bufferevent_get_output(ws->bev)) == 0) ws_fail(ws, 0);
  }
}

static void on_close_timer(evutil_socket_t fd, short what, void *p) {
  ws_fail(p, 0);
}

/* ---- bufferevent callbacks -------------------------------------------- */

static int client_handshake(net_ws *ws);

static void read_cb(struct bufferevent *bev, void *p) {
  net_ws *ws = p;
  if (ws->state == WS_HANDSHAKE) {
    int r = client_handshake(ws);
    if (r <= 0) return; /* waiting for more, or failed */
  }
  if (ws->state == WS_DEAD) return;
  ws->in_recv = 1;
  int r = wslay_event_recv(ws->ctx);
  ws->in_recv = 0;
  if (r != 0) {
    ws_fail(ws, r == WSLAY_ERR_PROTO ? 1002 : 1006);
    return;
  }
  ws_pump(ws);
}

static void write_cb(struct bufferevent *bev, void *p) {
  net_ws *ws = p;
  ws_pump(ws);
  if (ws->finishing && evbuffer_get_length(bufferevent_get_output(bev)) == 0) ws_fail(ws, 0);
}

static void event_cb(struct bufferevent *bev, short what, void *p) {
  net_ws *ws = p;
  if (what & BEV_EVENT_CONNECTED) return;
  ws_fail(ws, 0);
}

/* ---- setup ------------------------------------------------------------- */

static net_ws *ws_alloc(struct event_base *base, const net_ws_config *cfg,
                        const net_ws_callbacks *cb, void *ud, int client) {
  net_ws *ws = mem_calloc(1, sizeof *ws);
  if (!ws) return NULL;
  ws->base = base;
  ws->cfg = *cfg;
  ws->cb = *cb;
  ws->ud = ud;
  ws->defer = evtimer_new(base, on_defer, ws);
  ws->close_timer = evtimer_new(base, on_close_timer, ws);
  int r = client ? wslay_event_context_client_init(&ws->ctx, &wslay_cbs, ws)
                 : wslay_event_context_server_init(&ws->ctx, &wslay_cbs, ws);
  if (!ws->defer || !ws->close_timer || r != 0) {
    ws_destroy(ws);
    return NULL;
  }
  wslay_event_config_set_max_recv_msg_length(ws->ctx, cfg->max_msg_bytes);
  return ws;
}

static void set_idle_timeout(net_ws *ws) {
  struct timeval tv = {ws->cfg.idle_timeout_s, 0};
  bufferevent_set_timeouts(ws->bev, ws->cfg.idle_timeout_s > 0 ? &tv : NULL, NULL);
}

/* True when the comma-separated header value contains token (any case). */
static int has_token(const char *v, const char *token) {
  size_t tl = strlen(token);
  while (v && *v) {
    while (*v == ' ' || *v == '\t' || *v == ',') v++;
    const char *e = v;
    while (*e && *e != ',') e++;
    const char *t = e;
    while (t > v && (t[-1] == ' ' || t[-1] == '\t')) t--;
    if ((size_t)(t - v) == tl && strncasecmp(v, token, tl) == 0) return 1;
    v = e;
  }
  return 0;
}

int net_ws_accept(struct evhttp_request *req, const net_ws_config *cfg, const net_ws_callbacks *cb,
                  void *ud, net_ws **out, char *err) {
  *out = NULL;
  struct evkeyvalq *in = evhttp_request_get_input_headers(req);
  const char *up = evhttp_find_header(in, "Upgrade");
  const char *conn = evhttp_find_header(in, "Connection");
  const char *ver = evhttp_find_header(in, "Sec-WebSocket-Version");
  const char *key = evhttp_find_header(in, "Sec-WebSocket-Key");
  if (evhttp_request_get_command(req) != EVHTTP_REQ_GET || !up || !has_token(up, "websocket") ||
      !conn || !has_token(conn, "upgrade"))
    return err_set(err, GLOAM_EPROTO, "not a WebSocket upgrade request");
  if (!ver || strcmp(ver, "13") != 0)
    return err_set(err, GLOAM_EPROTO, "Sec-WebSocket-Version must be 13");
  uint8_t raw[32];
  if (!key || strlen(key) != 24 || codec_b64_decode(key, 24, raw, sizeof raw, CODEC_B64_STD) != 16)
    return err_set(err, GLOAM_EPROTO, "bad Sec-WebSocket-Key");
  char accept[29];
  if (net_ws_accept_key(key, accept) < 0)
    return err_set(err, GLOAM_ECRYPTO, "cannot compute Sec-WebSocket-Accept");
  struct evhttp_connection *evcon = evhttp_request_get_connection(req);
  struct bufferevent *bev = evcon ? evhttp_connection_get_bufferevent(evcon) : NULL;
  if (!bev) return err_set(err, GLOAM_EPROTO, "no connection");
  net_ws *ws = ws_alloc(evhttp_connection_get_base(evcon), cfg, cb, ud, 0);
  if (!ws) return err_set(err, GLOAM_ENOMEM, "out of memory");
  struct evkeyvalq *oh = evhttp_request_get_output_headers(req);
  evhttp_add_header(oh, "Upgrade", "websocket");
  evhttp_add_header(oh, "Connection", "Upgrade");
  evhttp_add_header(oh, "Sec-WebSocket-Accept", accept);
  /* 1xx has no body, so evhttp writes the bare header and no chunking. */
  evhttp_send_reply_start(req, 101, "Switching Protocols");
  ws->evcon = evcon;
  ws->bev = bev;
  ws->state = WS_OPEN;
  bufferevent_setcb(bev, read_cb, write_cb, event_cb, ws);
  bufferevent_enable(bev, EV_READ | EV_WRITE);
  set_idle_timeout(ws);
  *out = ws;
  return 0;
}

/* 1: handshake done (state OPEN), 0: need more bytes, -1: failed. */
static int client_handshake(net_ws *ws) {
  struct evbuffer *in = bufferevent_get_input(ws->bev);
  struct evbuffer_ptr end = evbuffer_search(in, "\r\n\r\n", 4, NULL);
  if (end.pos < 0) {
    if (evbuffer_get_length(in) > WS_HANDSHAKE_MAX) ws_fail(ws, 1002);
    return 0;
  }
  size_t hl = (size_t)end.pos + 4;
  if (hl > WS_HANDSHAKE_MAX) {
    ws_fail(ws, 1002);
    return -1;
  }
  char head[WS_HANDSHAKE_MAX + 1];
  evbuffer_remove(in, head, hl);
  head[hl] = '\0';
  int code = 0;
  if (strncmp(head, "HTTP/1.1 ", 9) == 0) {
    for (int i = 9; i < 12 && head[i] >= '0' && head[i] <= '9'; i++)
      code = code * 10 + (head[i] - '0');
  }
  if (code != 101) {
    ws_fail(ws, code >= 100 && code < 600 ? 4000 + code : 1002);
    return -1;
  }
  int ok = 0;
  for (char *line = strstr(head, "\r\n"); line && line[2] != '\r';
       line = strstr(line + 2, "\r\n")) {
    char *h = line + 2;
    if (strncasecmp(h, "Sec-WebSocket-Accept:", 21) != 0) continue;
    h += 21;
    while (*h == ' ' || *h == '\t') h++;
    ok = strncmp(h, ws->expect_accept, 28) == 0 && (h[28] == '\r' || h[28] == ' ');
  }
  if (!ok) {
    ws_fail(ws, 1002);
    return -1;
  }
  ws->state = WS_OPEN;
  set_idle_timeout(ws);
  if (ws->cb.on_open) ws->cb.on_open(ws, ws->ud);
  return ws->state == WS_DEAD ? -1 : 1;
}

int net_ws_connect(struct event_base *base, const char *host, uint16_t port, const char *path,
                   const char *authorization, const net_ws_config *cfg, const net_ws_callbacks *cb,
                   void *ud, net_ws **out, char *err) {
  return net_ws_connect_tls(base, host, port, path, authorization, NULL, cfg, cb, ud, out, err);
}

int net_ws_connect_tls(struct event_base *base, const char *host, uint16_t port, const char *path,
                       const char *authorization, SSL_CTX *tls, const net_ws_config *cfg,
                       const net_ws_callbacks *cb, void *ud, net_ws **out, char *err) {
  *out = NULL;
  if (!host || !path || path[0] != '/' || strpbrk(path, "\r\n ") ||
      (authorization && strpbrk(authorization, "\r\n")))
    return err_set(err, GLOAM_EINVAL, "bad WebSocket URL or header");
  struct evutil_addrinfo hints = {0}, *ai = NULL;
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  char portstr[8];
  snprintf(portstr, sizeof portstr, "%u", (unsigned)port);
  if (evutil_getaddrinfo(host, portstr, &hints, &ai) != 0 || !ai)
    return err_set(err, GLOAM_EIO, "cannot resolve %s", host);
  int rc;
  buf req;
  buf_init(&req, WS_HANDSHAKE_MAX);
  net_ws *ws = ws_alloc(base, cfg, cb, ud, 1);
  if (!ws) {
    rc = err_set(err, GLOAM_ENOMEM, "out of memory");
    goto fail;
  }
  ws->state = WS_HANDSHAKE;
  uint8_t nonce[16];
  char key[25];
  if (RAND_bytes(nonce, sizeof nonce) != 1 ||
      codec_b64_encode(nonce, sizeof nonce, key, sizeof key, CODEC_B64_STD) != 24 ||
      net_ws_accept_key(key, ws->expect_accept) < 0) {
    rc = err_set(err, GLOAM_ECRYPTO, "cannot make a WebSocket key");
    goto fail;
  }
  rc = buf_printf(&req,
                  "GET %s HTTP/1.1\r\nHost: %s:%u\r\nUpgrade: websocket\r\n"
                  "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                  "Sec-WebSocket-Version: 13\r\n",
                  path, host, (unsigned)port, key);
  if (rc >= 0 && authorization) rc = buf_printf(&req, "Authorization: %s\r\n", authorization);
  if (rc >= 0) rc = buf_append_str(&req, "\r\n");
  if (rc < 0) {
    rc = err_set(err, rc, "handshake request too large");
    goto fail;
  }
  if (tls) {
    SSL *ssl = net_tls_client_session(tls, host);
    ws->bev = ssl ? bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_CONNECTING,
                                                   BEV_OPT_CLOSE_ON_FREE)
                  : NULL;
    if (ssl && !ws->bev) SSL_free(ssl);
  } else {
    ws->bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
  }
  if (!ws->bev) {
    rc = err_set(err, GLOAM_ENOMEM, "bufferevent_socket_new failed");
    goto fail;
  }
  bufferevent_setcb(ws->bev, read_cb, write_cb, event_cb, ws);
  struct timeval tv = {cfg->idle_timeout_s > 0 ? cfg->idle_timeout_s : 30, 0};
  bufferevent_set_timeouts(ws->bev, &tv, &tv);
  bufferevent_enable(ws->bev, EV_READ | EV_WRITE);
  if (bufferevent_write(ws->bev, req.data, req.len) < 0 ||
      bufferevent_socket_connect(ws->bev, ai->ai_addr, (int)ai->ai_addrlen) < 0) {
    rc = err_set(err, GLOAM_EIO, "cannot connect to %s:%u", host, (unsigned)port);
    goto fail;
  }
  net_tcp_nodelay(bufferevent_getfd(ws->bev));
  buf_deinit(&req);
  evutil_freeaddrinfo(ai);
  *out = ws;
  return 0;
fail:
  buf_deinit(&req);
  evutil_freeaddrinfo(ai);
  if (ws) ws_destroy(ws);
  return rc;
}

/* ---- operations -------------------------------------------------------- */

size_t net_ws_queued(const net_ws *ws) {
  size_t n = evbuffer_get_length(bufferevent_get_output(ws->bev));
  if (ws->ctx) n += wslay_event_get_queued_msg_length(ws->ctx);
  return n;
}

int net_ws_send(net_ws *ws, bool binary, const void *data, size_t len) {
  if (ws->state != WS_OPEN) return GLOAM_ECLOSED;
  if (net_ws_queued(ws) + len > ws->cfg.max_out_bytes) return GLOAM_EAGAIN;
  struct wslay_event_msg m = {(uint8_t)(binary ? WSLAY_BINARY_FRAME : WSLAY_TEXT_FRAME), data, len};
  int r = wslay_event_queue_msg(ws->ctx, &m);
  if (r == WSLAY_ERR_NOMEM) return GLOAM_ENOMEM;
  if (r != 0) return GLOAM_ECLOSED;
  ws_pump(ws);
  return 0;
}

void net_ws_close(net_ws *ws, uint16_t code) {
  if (ws->state == WS_HANDSHAKE) {
    ws_fail(ws, code);
    return;
  }
  if (ws->state != WS_OPEN) return;
  ws->state = WS_CLOSING;
  ws->close_code = code ? code : 1000;
  struct timeval tv = {WS_CLOSE_GRACE_S, 0};
  event_add(ws->close_timer, &tv);
  ws_pump(ws);
}

void net_ws_free(net_ws *ws) {
  if (ws) ws_destroy(ws);
}

void *net_ws_userdata(const net_ws *ws) {
  return ws->ud;
}
void net_ws_set_userdata(net_ws *ws, void *ud) {
  ws->ud = ud;
}
