/* SPDX-License-Identifier: Apache-2.0
 *
 * client/http.c: one HTTP(S) exchange over libevent's evhttp client (see
 * http.h). The response body streams through on_data as it arrives.
 */
#include "client/http.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "core/time.h"
#include "gloam/err.h"

struct chttp {
  struct event_base *base;
  struct evhttp_connection *evcon;
  struct evhttp_request *req; /* until libevent's done callback */
  chttp_cbs cbs;
  void *ud;
  size_t max_body, got;
  int rc;       /* first failure, reported by on_done */
  int finished; /* on_done delivered or aborted */
  int error_kind;
  int abort_pending; /* on_abort_deferred is queued and will free */
  int timeout_s;
  uint64_t last_ms; /* last progress (start, head, data) */
};

int chttp_parse_url(const char *url, chttp_target *t, char *err) {
  memset(t, 0, sizeof *t);
  if (!url) return err_set(err, GLOAM_EINVAL, "no base URL");
  const char *p;
  if (strncmp(url, "http://", 7) == 0) {
    p = url + 7;
    t->port = 80;
  } else if (strncmp(url, "https://", 8) == 0) {
    p = url + 8;
    t->tls = 1;
    t->port = 443;
  } else {
    return err_set(err, GLOAM_EINVAL, "base URL must start with http:// or https://");
  }
  const char *host_end;
  const char *h0 = p;
  if (*p == '[') {
    host_end = strchr(p, ']');
    if (!host_end) return err_set(err, GLOAM_EINVAL, "bad IPv6 literal in base URL");
    h0 = p + 1;
    p = host_end + 1;
  } else {
    host_end = p + strcspn(p, ":/?#@");
    p = host_end;
  }
  size_t hl = (size_t)(host_end - h0);
  if (hl == 0 || hl > CHTTP_HOST_MAX) return err_set(err, GLOAM_EINVAL, "bad host in base URL");
  for (size_t i = 0; i < hl; i++) {
    char ch = h0[i];
    int ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
             ch == '.' || ch == '-' || ch == ':' || ch == '_';
    if (!ok) return err_set(err, GLOAM_EINVAL, "bad host in base URL");
  }
  memcpy(t->host, h0, hl);
  if (*p == ':') {
    p++;
    unsigned long v = 0;
    int nd = 0;
    while (*p >= '0' && *p <= '9' && nd < 6) v = v * 10 + (unsigned long)(*p++ - '0'), nd++;
    if (nd == 0 || v == 0 || v > 65535) return err_set(err, GLOAM_EINVAL, "bad port in base URL");
    t->port = (uint16_t)v;
  }
  if (*p && *p != '/') return err_set(err, GLOAM_EINVAL, "unexpected characters in base URL");
  size_t pl = strlen(p);
  while (pl > 0 && p[pl - 1] == '/') pl--;
  if (pl > CHTTP_PREFIX_MAX || strcspn(p, "?#@ \t\r\n") < pl)
    return err_set(err, GLOAM_EINVAL, "bad path in base URL");
  memcpy(t->prefix, p, pl);
  return 0;
}

SSL_CTX *chttp_ssl_ctx_new(const char *ca_file, char *err) {
  SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
  if (!ctx) {
    err_set(err, GLOAM_ECRYPTO, "cannot create a TLS context");
    return NULL;
  }
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
  int ok = ca_file ? SSL_CTX_load_verify_locations(ctx, ca_file, NULL)
                   : SSL_CTX_set_default_verify_paths(ctx);
  if (ok != 1) {
    SSL_CTX_free(ctx);
    err_set(err, GLOAM_EIO, "cannot load CA certificates%s%s", ca_file ? " from " : "",
            ca_file ? ca_file : "");
    return NULL;
  }
  return ctx;
}

static void free_deferred(evutil_socket_t fd, short what, void *arg) {
  chttp *h = arg;
  if (h->evcon) evhttp_connection_free(h->evcon);
  mem_free(h);
}

/* Frees the exchange from a fresh loop iteration. */
static void release(chttp *h) {
  struct timeval zero = {0, 0};
  if (event_base_once(h->base, -1, EV_TIMEOUT, free_deferred, h, &zero) < 0) {
    /* Cannot defer: leak the connection rather than free it under libevent. */
    h->evcon = NULL;
  }
}

static void finish(chttp *h, int rc) {
  if (h->finished) return;
  h->finished = 1;
  h->cbs.on_done(rc, h->ud);
  if (!h->abort_pending) release(h);
}

static void fail_soon(chttp *h, int rc) {
  if (h->rc == 0) h->rc = rc;
}

static int on_header_cb(struct evhttp_request *req, void *arg) {
  chttp *h = arg;
  h->last_ms = time_mono_ms();
  if (h->finished || h->rc) return -1;
  int rc = h->cbs.on_head ? h->cbs.on_head(evhttp_request_get_response_code(req),
                                           evhttp_request_get_input_headers(req), h->ud)
                          : 0;
  if (rc < 0) {
    fail_soon(h, rc);
    return -1;
  }
  return 0;
}

static void deliver(chttp *h, struct evbuffer *in) {
  while (!h->finished && h->rc == 0 && evbuffer_get_length(in) > 0) {
    struct evbuffer_iovec v;
    if (evbuffer_peek(in, -1, NULL, &v, 1) < 1) break;
    h->got += v.iov_len;
    if (h->got > h->max_body) {
      fail_soon(h, GLOAM_ETOOBIG);
      break;
    }
    int rc = h->cbs.on_data ? h->cbs.on_data(v.iov_base, v.iov_len, h->ud) : 0;
    evbuffer_drain(in, v.iov_len);
    if (rc < 0) fail_soon(h, rc);
  }
  if (h->rc) evbuffer_drain(in, evbuffer_get_length(in));
}

static void on_abort_deferred(evutil_socket_t fd, short what, void *arg) {
  chttp *h = arg;
  if (!h->finished) { /* else libevent's done callback came first */
    h->finished = 1;
    if (h->cbs.on_done) h->cbs.on_done(h->rc, h->ud);
  }
  if (h->evcon) evhttp_connection_free(h->evcon); /* drops the pending request */
  mem_free(h);
}

static void schedule_abort(chttp *h) {
  struct timeval zero = {0, 0};
  if (event_base_once(h->base, -1, EV_TIMEOUT, on_abort_deferred, h, &zero) == 0)
    h->abort_pending = 1;
}

static void on_chunk_cb(struct evhttp_request *req, void *arg) {
  chttp *h = arg;
  h->last_ms = time_mono_ms();
  int had = h->rc;
  if (!h->finished) deliver(h, evhttp_request_get_input_buffer(req));
  if (!had && h->rc) schedule_abort(h);
}

static void on_error_cb(enum evhttp_request_error e, void *arg) {
  chttp *h = arg;
  h->error_kind = (int)e;
}

static void on_done_cb(struct evhttp_request *req, void *arg) {
  chttp *h = arg;
  h->req = NULL;
  if (h->finished) return;
  if (h->rc) {
    finish(h, h->rc);
    return;
  }
  if (!req || evhttp_request_get_response_code(req) == 0) {
    int rc = GLOAM_EIO;
    /* libevent reports a refused connection as a timeout too: tell them
     * apart by the time since the last progress. */
    if (h->error_kind == EVREQ_HTTP_TIMEOUT &&
        time_mono_ms() - h->last_ms + 500 >= (uint64_t)h->timeout_s * 1000)
      rc = GLOAM_ETIMEDOUT;
    if (h->error_kind == EVREQ_HTTP_DATA_TOO_LONG) rc = GLOAM_ETOOBIG;
    finish(h, rc);
    return;
  }
  deliver(h, evhttp_request_get_input_buffer(req));
  finish(h, h->rc);
}

static int add_headers(struct evhttp_request *req, const chttp_target *t, const chttp_req_spec *s) {
  struct evkeyvalq *o = evhttp_request_get_output_headers(req);
  char host[CHTTP_HOST_MAX + 16];
  int v6 = strchr(t->host, ':') != NULL;
  int def = t->port == (t->tls ? 443 : 80);
  if (def)
    snprintf(host, sizeof host, v6 ? "[%s]" : "%s", t->host);
  else
    snprintf(host, sizeof host, v6 ? "[%s]:%u" : "%s:%u", t->host, (unsigned)t->port);
  int rc = evhttp_add_header(o, "Host", host) | evhttp_add_header(o, "Connection", "close") |
           evhttp_add_header(o, "User-Agent", "libgloam/0.1");
  if (s->accept) rc |= evhttp_add_header(o, "Accept", s->accept);
  if (s->content_type) rc |= evhttp_add_header(o, "Content-Type", s->content_type);
  if (s->bearer) {
    char auth[1100];
    if ((size_t)snprintf(auth, sizeof auth, "Bearer %s", s->bearer) >= sizeof auth) return -1;
    rc |= evhttp_add_header(o, "Authorization", auth);
  }
  return rc;
}

static struct evhttp_connection *connect_tls(struct event_base *base, SSL_CTX *ctx,
                                             const chttp_target *t, char *err) {
  SSL *ssl = SSL_new(ctx);
  if (!ssl) {
    err_set(err, GLOAM_ECRYPTO, "SSL_new failed");
    return NULL;
  }
  int is_ip = strchr(t->host, ':') || strspn(t->host, "0123456789.") == strlen(t->host);
  if (!is_ip) SSL_set_tlsext_host_name(ssl, t->host);
  X509_VERIFY_PARAM *vp = SSL_get0_param(ssl);
  if ((is_ip ? X509_VERIFY_PARAM_set1_ip_asc(vp, t->host) : SSL_set1_host(ssl, t->host)) != 1) {
    SSL_free(ssl);
    err_set(err, GLOAM_ECRYPTO, "cannot set the TLS peer name");
    return NULL;
  }
  struct bufferevent *bev = bufferevent_openssl_socket_new(
      base, -1, ssl, BUFFEREVENT_SSL_CONNECTING, BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
  if (!bev) {
    SSL_free(ssl);
    err_set(err, GLOAM_ENOMEM, "cannot create a TLS bufferevent");
    return NULL;
  }
  bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
  struct evhttp_connection *c =
      evhttp_connection_base_bufferevent_new(base, NULL, bev, t->host, t->port);
  if (!c) {
    bufferevent_free(bev);
    err_set(err, GLOAM_ENOMEM, "cannot create a connection");
  }
  return c;
}

int chttp_start(struct event_base *base, SSL_CTX *ssl_ctx, const chttp_target *t,
                const chttp_req_spec *s, const chttp_cbs *cbs, void *ud, chttp **out, char *err) {
  if (out) *out = NULL;
  if (t->tls && !ssl_ctx) return err_set(err, GLOAM_EINVAL, "https needs a TLS context");
  char uri[CHTTP_PREFIX_MAX + 2048];
  if ((size_t)snprintf(uri, sizeof uri, "%s%s", t->prefix, s->path) >= sizeof uri)
    return err_set(err, GLOAM_ETOOBIG, "request path too long");
  chttp *h = mem_calloc(1, sizeof *h);
  if (!h) return err_set(err, GLOAM_ENOMEM, "out of memory");
  h->base = base;
  h->cbs = *cbs;
  h->ud = ud;
  h->max_body = s->max_body ? s->max_body : (16u << 20);
  h->evcon = t->tls ? connect_tls(base, ssl_ctx, t, err)
                    : evhttp_connection_base_new(base, NULL, t->host, t->port);
  if (!h->evcon) {
    mem_free(h);
    return err_set(err, GLOAM_EIO, "cannot create a connection to %s", t->host);
  }
  h->timeout_s = s->timeout_s > 0 ? s->timeout_s : 300;
  h->last_ms = time_mono_ms();
  evhttp_connection_set_timeout(h->evcon, h->timeout_s);
  evhttp_connection_set_max_headers_size(h->evcon, CHTTP_MAX_HEADERS_BYTES);
  evhttp_connection_set_retries(h->evcon, 0);
  struct evhttp_request *req = evhttp_request_new(on_done_cb, h);
  if (!req) goto oom;
  evhttp_request_set_header_cb(req, on_header_cb);
  evhttp_request_set_chunked_cb(req, on_chunk_cb);
  evhttp_request_set_error_cb(req, on_error_cb);
  if (add_headers(req, t, s) != 0 ||
      (s->body_len && evbuffer_add(evhttp_request_get_output_buffer(req), s->body, s->body_len))) {
    evhttp_request_free(req);
    goto oom;
  }
  if (evhttp_make_request(h->evcon, req, (enum evhttp_cmd_type)s->method, uri) != 0) {
    /* libevent freed req */
    evhttp_connection_free(h->evcon);
    mem_free(h);
    return err_set(err, GLOAM_EIO, "cannot send the request to %s", t->host);
  }
  h->req = req;
  if (out) *out = h;
  return 0;
oom:
  evhttp_connection_free(h->evcon);
  mem_free(h);
  return err_set(err, GLOAM_ENOMEM, "out of memory");
}

void chttp_abort(chttp *h) {
  if (!h || h->finished) return;
  h->finished = 1;
  h->cbs.on_done = NULL;
  if (!h->abort_pending) release(h);
}
