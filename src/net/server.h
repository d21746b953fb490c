/* SPDX-License-Identifier: Apache-2.0
 *
 * net/server.h: an evhttp server with gloam's connection limits.
 *
 *   net_http_limits lim = NET_HTTP_LIMITS_DEFAULT;
 *   struct evhttp *http;
 *   int port;
 *   if (net_http_new(base, "127.0.0.1:0", &lim, &http, &port, err) < 0) ...
 *   evhttp_set_gencb(http, handler, ctx);
 *   ... evhttp_free(http);
 *
 * Limits (slow-loris and memory bounds): request headers over
 * max_header_bytes are refused by libevent with 400/431, bodies over
 * max_body_bytes with 413, and a connection that makes no progress for
 * timeout_s seconds (reading headers or body, or idle between requests) is
 * closed. Handlers that stream (SSE) or upgrade (WebSocket) manage their
 * own deadlines after the request is read.
 *
 * Parsing is libevent's; this file only configures it. Not thread-safe: the
 * evhttp belongs to the loop that owns `base`.
 */
#ifndef GLOAM_NET_SERVER_H
#define GLOAM_NET_SERVER_H

#include <stddef.h>
#include <stdint.h>

struct event_base;
struct evhttp;

typedef struct net_http_limits {
  size_t max_header_bytes; /* all request headers together */
  size_t max_body_bytes;   /* request body */
  int timeout_s;           /* read/write/idle timeout per connection */
} net_http_limits;

#define NET_HTTP_LIMITS_DEFAULT \
  { 16 * 1024, 4 * 1024 * 1024, 30 }

/* Splits "host:port" or "[v6]:port" into host (out_host_cap bytes) and port
 * (0..65535). GLOAM_EFORMAT on bad input. */
int net_parse_hostport(const char *s, char *out_host, size_t out_host_cap, uint16_t *out_port);

/* Ignores SIGPIPE process-wide (writes to a closed socket then fail with
 * EPIPE instead of killing the process). Every program using net calls it
 * once at start. */
/* Turns off Nagle's algorithm on a TCP socket (no-op for other sockets):
 * gloam writes small frames (SSE events, WebSocket frames) that must leave
 * at once; with Nagle on, a second small write waits for the peer's
 * delayed ACK (40 ms on Linux). Accepted sockets inherit it from a
 * listening socket that has it. */
void net_tcp_nodelay(int fd);
void net_ignore_sigpipe(void);

/* Creates an evhttp on base, applies lim and binds `listen` ("host:port",
 * port 0 picks a free port). *out_port gets the bound port. */
int net_http_new(struct event_base *base, const char *listen, const net_http_limits *lim,
                 struct evhttp **out, int *out_port, char *err);

#endif
