/* SPDX-License-Identifier: Apache-2.0
 *
 * client/http.h: one HTTP(S) exchange on a libevent loop, with the response
 * body delivered as it arrives (for SSE streams).
 *
 *   chttp_target t;  chttp_parse_url("https://coord.example:8443/base", &t, err);
 *   chttp_req_spec s = {.method = EVHTTP_REQ_GET, .path = "/v1/models", ...};
 *   chttp *h;  chttp_start(base, ssl_ctx, &t, &s, &cbs, ud, &h, err);
 *   event_base_dispatch(base);   // on_head, on_data..., then on_done once
 *
 * DESIGN: libevent's evhttp client parses the response (status line,
 * headers, chunked or length-delimited bodies) under caps set here; TLS is an
 * OpenSSL bufferevent with SNI and host-name verification. One request per
 * connection ("Connection: close"). The connection is freed from a deferred
 * callback, never from inside libevent's own callbacks.
 *
 * Ownership: the exchange owns its connection and frees itself after
 * on_done (or after chttp_abort, which never calls on_done). The request
 * body is copied. ssl_ctx is borrowed and must outlive the exchange.
 * Thread safety: loop thread only.
 */
#ifndef GLOAM_CLIENT_HTTP_H
#define GLOAM_CLIENT_HTTP_H

#include <stddef.h>
#include <stdint.h>

struct event_base;
struct evkeyvalq;
typedef struct ssl_ctx_st SSL_CTX;

#define CHTTP_HOST_MAX 255
#define CHTTP_PREFIX_MAX 512
#define CHTTP_MAX_HEADERS_BYTES (64 * 1024)

typedef struct chttp_target {
  int tls;
  char host[CHTTP_HOST_MAX + 1];
  uint16_t port;
  char prefix[CHTTP_PREFIX_MAX + 1]; /* path prefix without a trailing '/' ("" for none) */
} chttp_target;

/* Parses "http://host[:port][/prefix]" or "https://..." ([v6] hosts too).
 * GLOAM_EINVAL with detail for anything else (user info, query, fragment). */
int chttp_parse_url(const char *url, chttp_target *t, char *err);

typedef struct chttp_req_spec {
  int method;         /* EVHTTP_REQ_GET / EVHTTP_REQ_POST */
  const char *path;   /* appended to the prefix; starts with '/' */
  const char *bearer; /* Authorization: Bearer <bearer>, or NULL */
  const char *content_type;
  const char *accept;
  const void *body;
  size_t body_len;
  int timeout_s;   /* inactivity timeout */
  size_t max_body; /* response body cap (bytes in total) */
} chttp_req_spec;

typedef struct chttp_cbs {
  /* Status and headers arrived. Return < 0 to abort (on_done gets it). */
  int (*on_head)(int status, struct evkeyvalq *headers, void *ud);
  /* Body bytes. Return < 0 to abort (on_done gets it). */
  int (*on_data)(const uint8_t *p, size_t n, void *ud);
  /* Exactly once: 0 when the response was complete, else GLOAM_EIO,
   * GLOAM_ETIMEDOUT, GLOAM_ETOOBIG or the abort code from a callback. */
  void (*on_done)(int rc, void *ud);
} chttp_cbs;

typedef struct chttp chttp;

/* Starts the exchange. On failure nothing runs and nothing is left. */
int chttp_start(struct event_base *base, SSL_CTX *ssl_ctx, const chttp_target *t,
                const chttp_req_spec *spec, const chttp_cbs *cbs, void *ud, chttp **out, char *err);
/* Drops the exchange without calling on_done (the connection is closed from
 * a deferred callback). Not to be called after on_done. */
void chttp_abort(chttp *h);

/* A client TLS context: peer verification on, TLS 1.2+, system CAs or
 * ca_file. NULL on failure. */
SSL_CTX *chttp_ssl_ctx_new(const char *ca_file, char *err);

#endif
