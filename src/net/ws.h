/* SPDX-License-Identifier: Apache-2.0
 *
 * net/ws.h: WebSocket (RFC 6455) connections over libevent bufferevents,
 * framed by wslay. The server side takes over an evhttp connection after the
 * upgrade handshake; the client side dials a plain TCP connection.
 *
 *   static const net_ws_callbacks cb = {on_open, on_message, on_close};
 *   net_ws_config cfg = NET_WS_CONFIG_DEFAULT;
 *   // in an evhttp handler for GET /v1/node/connect:
 *   if (net_ws_accept(req, &cfg, &cb, ctx, &ws, err) < 0) send 400;
 *   // later, on the loop thread:
 *   net_ws_send(ws, false, json, json_len);
 *   net_ws_close(ws, 1000);          // on_close runs later, then ws is gone
 *
 * DESIGN: wslay's event API does the framing, masking, fragmentation,
 * ping/pong and close handshake; this file moves bytes between it and a
 * bufferevent. Incoming messages over max_msg_bytes make wslay close with
 * 1009. Outgoing data is capped: net_ws_send() answers GLOAM_EAGAIN when
 * more than max_out_bytes are queued (a slow peer is the caller's to drop).
 * Teardown always happens from a deferred event, never inside a callback,
 * so callbacks may call net_ws_send() and net_ws_close() freely.
 *
 * Ownership and threads: a net_ws belongs to the loop of its event_base;
 * every call happens on that loop's thread. on_close() is called exactly
 * once (unless net_ws_free() came first) and the net_ws is freed right after
 * it returns. Never call net_ws_free() from this ws's own callbacks.
 */
#ifndef GLOAM_NET_WS_H
#define GLOAM_NET_WS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;
struct evhttp_request;
typedef struct net_ws net_ws;

typedef struct net_ws_config {
  size_t max_msg_bytes; /* largest incoming message (after reassembly) */
  size_t max_out_bytes; /* queued outgoing bytes before send says EAGAIN */
  int idle_timeout_s;   /* close when nothing arrives this long; 0: never */
} net_ws_config;

#define NET_WS_CONFIG_DEFAULT \
  { 1024 * 1024, 8 * 1024 * 1024, 60 }

typedef struct net_ws_callbacks {
  /* Client: the handshake completed. Server: not called (open at accept). */
  void (*on_open)(net_ws *ws, void *ud);
  /* A complete text (binary=false) or binary message; data is borrowed for
   * the duration of the call. */
  void (*on_message)(net_ws *ws, bool binary, const uint8_t *data, size_t len, void *ud);
  /* The connection is gone: status is the close code received or sent
   * (1000 normal, 1006 abnormal/transport error, 1009 too big, ...). */
  void (*on_close)(net_ws *ws, int status, void *ud);
} net_ws_callbacks;

/* Server: validates the upgrade request (GET, Upgrade: websocket,
 * Connection: upgrade, Sec-WebSocket-Version: 13, a 16-byte key), answers
 * 101 and takes over the connection. On failure nothing was sent and the
 * caller answers the request (400); GLOAM_EPROTO or GLOAM_ENOMEM. */
int net_ws_accept(struct evhttp_request *req, const net_ws_config *cfg, const net_ws_callbacks *cb,
                  void *ud, net_ws **out, char *err);

/* Client: connects to host:port (numeric address or resolvable name; the
 * lookup blocks, so use numeric addresses on a busy loop), sends the upgrade
 * request for `path` with an optional `Authorization: <authorization>`
 * header, and calls on_open once the server's 101 checks out. Failures after
 * this returns are reported through on_close (status 1006). */
int net_ws_connect(struct event_base *base, const char *host, uint16_t port, const char *path,
                   const char *authorization, const net_ws_config *cfg, const net_ws_callbacks *cb,
                   void *ud, net_ws **out, char *err);

/* The same over TLS: tls (borrowed, from net_tls_client_ctx) verifies the
 * server as `host`. tls NULL is plain TCP (net_ws_connect). A failed
 * handshake or verification reports 1006 to on_close. */
struct ssl_ctx_st;
int net_ws_connect_tls(struct event_base *base, const char *host, uint16_t port, const char *path,
                       const char *authorization, struct ssl_ctx_st *tls, const net_ws_config *cfg,
                       const net_ws_callbacks *cb, void *ud, net_ws **out, char *err);

/* Queues one message (the data is copied). GLOAM_EAGAIN over max_out_bytes,
 * GLOAM_ECLOSED once closing, GLOAM_ENOMEM. */
int net_ws_send(net_ws *ws, bool binary, const void *data, size_t len);
/* Starts the close handshake once the messages queued before it are sent;
 * on_close follows (within 5 s at most). */
void net_ws_close(net_ws *ws, uint16_t code);
/* Tears down now without calling on_close. NULL is a no-op. */
void net_ws_free(net_ws *ws);

/* Bytes queued for sending (wslay queue plus socket buffer). */
size_t net_ws_queued(const net_ws *ws);
/* The user pointer given at accept/connect; it can be changed. */
void *net_ws_userdata(const net_ws *ws);
void net_ws_set_userdata(net_ws *ws, void *ud);

/* Sec-WebSocket-Accept for a client key (RFC 6455 §4.2.2): base64 of
 * SHA-1(key + GUID). out gets 28 chars + NUL. */
int net_ws_accept_key(const char *key, char out[29]);

#endif
