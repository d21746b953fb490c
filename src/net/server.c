/* SPDX-License-Identifier: Apache-2.0
 *
 * net/server.c: evhttp creation, limits and binding (see server.h).
 */
#include "net/server.h"

#include <arpa/inet.h>
#include <event2/event.h>
#include <event2/http.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>

#include "core/err.h"

void net_ignore_sigpipe(void) {
  signal(SIGPIPE, SIG_IGN);
}

void net_tcp_nodelay(int fd) {
  int one = 1;
  if (fd >= 0) (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

int net_parse_hostport(const char *s, char *out_host, size_t out_host_cap, uint16_t *out_port) {
  if (!s || !out_host || out_host_cap == 0) return GLOAM_EINVAL;
  const char *host = s, *host_end, *colon;
  if (s[0] == '[') {
    host = s + 1;
    host_end = strchr(host, ']');
    if (!host_end || host_end[1] != ':') return GLOAM_EFORMAT;
    colon = host_end + 1;
  } else {
    colon = strrchr(s, ':');
    if (!colon || memchr(s, ':', (size_t)(colon - s))) return GLOAM_EFORMAT;
    host_end = colon;
  }
  size_t hl = (size_t)(host_end - host);
  if (hl == 0 || hl >= out_host_cap) return GLOAM_EFORMAT;
  const char *p = colon + 1;
  if (!*p || strlen(p) > 5) return GLOAM_EFORMAT;
  unsigned v = 0;
  for (; *p; p++) {
    if (*p < '0' || *p > '9') return GLOAM_EFORMAT;
    v = v * 10 + (unsigned)(*p - '0');
  }
  if (v > 65535) return GLOAM_EFORMAT;
  memcpy(out_host, host, hl);
  out_host[hl] = '\0';
  *out_port = (uint16_t)v;
  return 0;
}

int net_http_new(struct event_base *base, const char *listen, const net_http_limits *lim,
                 struct evhttp **out, int *out_port, char *err) {
  *out = NULL;
  char host[256];
  uint16_t port;
  if (net_parse_hostport(listen, host, sizeof host, &port) < 0)
    return err_set(err, GLOAM_EINVAL, "listen address must be host:port");
  struct evhttp *http = evhttp_new(base);
  if (!http) return err_set(err, GLOAM_ENOMEM, "evhttp_new failed");
  evhttp_set_max_headers_size(http, (ev_ssize_t)lim->max_header_bytes);
  evhttp_set_max_body_size(http, (ev_ssize_t)lim->max_body_bytes);
  evhttp_set_timeout(http, lim->timeout_s);
  evhttp_set_allowed_methods(http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_DELETE |
                                       EVHTTP_REQ_OPTIONS | EVHTTP_REQ_HEAD);
  struct evhttp_bound_socket *bs = evhttp_bind_socket_with_handle(http, host, port);
  if (!bs) {
    evhttp_free(http);
    return err_set(err, GLOAM_EIO, "cannot listen on %s", listen);
  }
  net_tcp_nodelay(evhttp_bound_socket_get_fd(bs)); /* inherited by accepted sockets */
  struct sockaddr_storage ss;
  socklen_t sl = sizeof ss;
  int bound = port;
  if (getsockname(evhttp_bound_socket_get_fd(bs), (struct sockaddr *)&ss, &sl) == 0) {
    if (ss.ss_family == AF_INET)
      bound = ntohs(((struct sockaddr_in *)&ss)->sin_port);
    else if (ss.ss_family == AF_INET6)
      bound = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
  }
  *out = http;
  if (out_port) *out_port = bound;
  return 0;
}
