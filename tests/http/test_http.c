/* SPDX-License-Identifier: Apache-2.0
 *
 * tests/http/test_http.c: routing, OpenAI error bodies, SSE framing (the
 * WHATWG HTML "server-sent events" format), bounded JSON parsing, and a real
 * evhttp server on loopback driven by an independent raw-socket client:
 * 404/405/413, JSON echo, an SSE stream that outlives the connection
 * timeout, and a client disconnect reaching the stream's owner.
 */
#include <event2/event.h>
#include <event2/http.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/err.h"
#include "http/error.h"
#include "http/json.h"
#include "http/router.h"
#include "http/sse.h"
#include "net/server.h"
#include "rawhttp.h"
#include "test.h"

static void dummy(struct evhttp_request *req, const http_params *p, void *ud) {}
static void dummy2(struct evhttp_request *req, const http_params *p, void *ud) {}

static void test_router_match(void) {
  http_router *r;
  ASSERT_OK(http_router_new(&r));
  ASSERT_OK(http_router_add(r, HTTP_GET, "/v1/models", dummy, NULL));
  ASSERT_OK(http_router_add(r, HTTP_GET, "/v1/models/{id*}", dummy2, NULL));
  ASSERT_OK(http_router_add(r, HTTP_POST, "/v1/chat/completions", dummy, NULL));
  ASSERT_OK(http_router_add(r, HTTP_GET | HTTP_DELETE, "/v1/keys/{key}/x", dummy, NULL));
  ASSERT_EQ_INT(http_router_add(r, HTTP_GET, "nope", dummy, NULL), GLOAM_EINVAL);
  http_handler h;
  void *ud;
  http_params p;
  unsigned allowed = 0;
  ASSERT_OK(http_router_match(r, HTTP_GET, "/v1/models", &h, &ud, &p, &allowed));
  ASSERT_TRUE(h == dummy);
  ASSERT_EQ_INT(p.n, 0);
  ASSERT_OK(http_router_match(r, HTTP_GET, "/v1/models/Qwen/Qwen3-0.6B", &h, &ud, &p, &allowed));
  ASSERT_TRUE(h == dummy2);
  ASSERT_EQ_STR(http_param(&p, "id"), "Qwen/Qwen3-0.6B");
  ASSERT_OK(http_router_match(r, HTTP_GET, "/v1/models/a%2Fb%20c", &h, &ud, &p, &allowed));
  ASSERT_EQ_STR(http_param(&p, "id"), "a/b c");
  ASSERT_EQ_INT(http_router_match(r, HTTP_GET, "/v1/models/a%2", &h, &ud, &p, &allowed),
                GLOAM_ENOENT);
  ASSERT_EQ_INT(http_router_match(r, HTTP_GET, "/v1/models/a%00", &h, &ud, &p, &allowed),
                GLOAM_ENOENT);
  ASSERT_EQ_INT(http_router_match(r, HTTP_GET, "/v1/models/", &h, &ud, &p, &allowed), GLOAM_ENOENT);
  ASSERT_EQ_INT(http_router_match(r, HTTP_GET, "/v1/chat/completions", &h, &ud, &p, &allowed),
                GLOAM_EPERM);
  ASSERT_EQ_INT(allowed, HTTP_POST);
  ASSERT_OK(http_router_match(r, HTTP_DELETE, "/v1/keys/k1/x", &h, &ud, &p, &allowed));
  ASSERT_EQ_STR(http_param(&p, "key"), "k1");
  ASSERT_TRUE(http_param(&p, "id") == NULL);
  ASSERT_EQ_INT(http_router_match(r, HTTP_GET, "/v1/keys//x", &h, &ud, &p, &allowed), GLOAM_ENOENT);
  ASSERT_EQ_INT(http_router_match(r, HTTP_GET, "/v1/keys/a/b/x", &h, &ud, &p, &allowed),
                GLOAM_ENOENT);
  ASSERT_EQ_INT(http_router_match(r, HTTP_GET, "/v1/modelsx", &h, &ud, &p, &allowed), GLOAM_ENOENT);
  http_router_free(r);
}

static void test_error_json_shape(void) {
  /* The shape OpenAI documents for every error response. */
  json_t *e = http_error_json(404, NULL, "model_not_found", "model", "no such model");
  ASSERT_NOT_NULL(e);
  json_t *o = json_object_get(e, "error");
  ASSERT_TRUE(json_is_object(o));
  ASSERT_EQ_INT(json_object_size(e), 1);
  ASSERT_EQ_INT(json_object_size(o), 4);
  ASSERT_EQ_STR(json_string_value(json_object_get(o, "message")), "no such model");
  ASSERT_EQ_STR(json_string_value(json_object_get(o, "type")), "invalid_request_error");
  ASSERT_EQ_STR(json_string_value(json_object_get(o, "param")), "model");
  ASSERT_EQ_STR(json_string_value(json_object_get(o, "code")), "model_not_found");
  json_decref(e);
  e = http_error_json(500, NULL, NULL, NULL, "x");
  o = json_object_get(e, "error");
  ASSERT_TRUE(json_is_null(json_object_get(o, "param")));
  ASSERT_TRUE(json_is_null(json_object_get(o, "code")));
  ASSERT_EQ_STR(json_string_value(json_object_get(o, "type")), "server_error");
  json_decref(e);
  ASSERT_EQ_STR(http_error_type(401), "authentication_error");
  ASSERT_EQ_STR(http_error_type(429), "rate_limit_error");
  ASSERT_EQ_STR(http_error_type(413), "invalid_request_error");
}

static void test_sse_format(void) {
  /* WHATWG HTML §9.2: each line of data becomes its own "data:" field, an
   * empty line ends the event. */
  buf b;
  buf_init(&b, 1024);
  ASSERT_OK(http_sse_format(&b, NULL, "YHOO\n+2\n10", 10));
  ASSERT_EQ_STR(buf_cstr(&b), "data: YHOO\ndata: +2\ndata: 10\n\n");
  buf_reset(&b);
  ASSERT_OK(http_sse_format(&b, "message_start", "{}", 2));
  ASSERT_EQ_STR(buf_cstr(&b), "event: message_start\ndata: {}\n\n");
  buf_reset(&b);
  ASSERT_OK(http_sse_format(&b, NULL, "", 0));
  ASSERT_EQ_STR(buf_cstr(&b), "data: \n\n");
  ASSERT_EQ_INT(http_sse_format(&b, "a\nb", "x", 1), GLOAM_EINVAL);
  buf_deinit(&b);
}

static void test_json_limits(void) {
  char err[GLOAM_ERR_LEN];
  json_t *j;
  ASSERT_OK(json_parse_limited("{\"a\":[1,{\"b\":2}]}", 17, 100, 3, &j, err));
  json_decref(j);
  ASSERT_EQ_INT(json_parse_limited("{\"a\":[1,{\"b\":2}]}", 17, 100, 2, &j, err), GLOAM_ETOOBIG);
  /* brackets inside strings do not count */
  ASSERT_OK(json_parse_limited("{\"a\":\"[[[[\\\"[[\"}", 16, 100, 1, &j, err));
  json_decref(j);
  ASSERT_EQ_INT(json_parse_limited("{\"a\":1,\"a\":2}", 13, 100, 4, &j, err), GLOAM_EFORMAT);
  ASSERT_EQ_INT(json_parse_limited("[1]", 3, 100, 4, &j, err), GLOAM_EFORMAT);
  ASSERT_EQ_INT(json_parse_limited("{\"a\":1", 6, 100, 4, &j, err), GLOAM_EFORMAT);
  ASSERT_EQ_INT(json_parse_limited("{\"a\":\"\xff\"}", 9, 100, 4, &j, err), GLOAM_EFORMAT);
  ASSERT_EQ_INT(json_parse_limited("{}", 2, 1, 4, &j, err), GLOAM_ETOOBIG);
  ASSERT_TRUE(j == NULL);
  /* a hostile nesting bomb is refused before the parser sees it */
  size_t n = 100000;
  char *bomb = malloc(n);
  memset(bomb, '[', n);
  bomb[0] = '{';
  ASSERT_EQ_INT(json_parse_limited(bomb, n, n, 64, &j, err), GLOAM_ETOOBIG);
  free(bomb);
}

/* ---- a real server ------------------------------------------------------ */

typedef struct srv {
  struct event_base *base;
  struct evhttp *http;
  http_router *router;
  int port;
  int stop_pipe[2];
  struct event *stop;
  pthread_t th;
  /* stream state */
  http_sse *sse;
  struct event *tick;
  int n_sent;
  int gone_seen;
} srv;

static void h_model(struct evhttp_request *req, const http_params *p, void *ud) {
  json_t *o = json_pack("{s:s,s:s}", "id", http_param(p, "id"), "object", "model");
  http_send_json(req, 200, o);
}

static void h_echo(struct evhttp_request *req, const http_params *p, void *ud) {
  char err[GLOAM_ERR_LEN];
  json_t *j;
  int rc = http_json_body(req, 1000, 8, &j, err);
  if (rc == GLOAM_ETOOBIG)
    http_send_error(req, 413, NULL, "request_too_large", NULL, "%s", err);
  else if (rc < 0)
    http_send_error(req, 400, NULL, "invalid_json", NULL, "%s", err);
  else
    http_send_json(req, 200, j);
}

static void h_busy(struct evhttp_request *req, const http_params *p, void *ud) {
  http_send_error_retry(req, 429, 7, "queue_full", "Try again later.");
}

static void stream_gone(void *ud) {
  srv *s = ud;
  s->gone_seen = 1;
}

static void on_tick(evutil_socket_t fd, short what, void *ud) {
  srv *s = ud;
  if (!s->sse) return;
  if (http_sse_gone(s->sse) || s->n_sent == 4) {
    if (!http_sse_gone(s->sse)) http_sse_send(s->sse, NULL, "[DONE]", 6);
    http_sse_end(s->sse);
    s->sse = NULL;
    event_del(s->tick);
    return;
  }
  char line[64];
  int n = snprintf(line, sizeof line, "{\"i\":%d}", s->n_sent++);
  http_sse_send(s->sse, NULL, line, (size_t)n);
}

static void h_stream(struct evhttp_request *req, const http_params *p, void *ud) {
  srv *s = ud;
  if (s->sse) {
    http_send_error_retry(req, 503, 1, "busy", "One stream at a time.");
    return;
  }
  s->n_sent = 0;
  ASSERT_OK(http_sse_start(req, 200, 1 << 16, stream_gone, s, &s->sse));
  struct timeval tv = {0, 400 * 1000}; /* 4 events x 0.4 s > the 1 s timeout */
  event_add(s->tick, &tv);
}

static void on_stop(evutil_socket_t fd, short what, void *ud) {
  srv *s = ud;
  event_base_loopbreak(s->base);
}

static void *srv_main(void *p) {
  srv *s = p;
  event_base_dispatch(s->base);
  return NULL;
}

static void srv_start(srv *s) {
  char err[GLOAM_ERR_LEN];
  memset(s, 0, sizeof *s);
  s->base = event_base_new();
  net_http_limits lim = NET_HTTP_LIMITS_DEFAULT;
  lim.max_body_bytes = 4096;
  lim.timeout_s = 1;
  ASSERT_OK(net_http_new(s->base, "127.0.0.1:0", &lim, &s->http, &s->port, err));
  ASSERT_OK(http_router_new(&s->router));
  http_router_add(s->router, HTTP_GET, "/v1/models/{id*}", h_model, s);
  http_router_add(s->router, HTTP_POST, "/echo", h_echo, s);
  http_router_add(s->router, HTTP_GET, "/busy", h_busy, s);
  http_router_add(s->router, HTTP_GET, "/stream", h_stream, s);
  evhttp_set_gencb(s->http, http_router_evhttp_cb, s->router);
  s->tick = event_new(s->base, -1, EV_PERSIST, on_tick, s);
  ASSERT_OK(pipe(s->stop_pipe));
  s->stop = event_new(s->base, s->stop_pipe[0], EV_READ, on_stop, s);
  event_add(s->stop, NULL);
  pthread_create(&s->th, NULL, srv_main, s);
}

static void srv_stop(srv *s) {
  ssize_t w = write(s->stop_pipe[1], "x", 1);
  (void)w;
  pthread_join(s->th, NULL);
  if (s->sse) http_sse_end(s->sse);
  event_free(s->tick);
  evhttp_free(s->http);
  http_router_free(s->router);
  event_free(s->stop);
  event_base_free(s->base);
  close(s->stop_pipe[0]);
  close(s->stop_pipe[1]);
}

static json_t *error_of(const raw_resp *r) {
  json_error_t je;
  json_t *j = json_loadb(r->body, r->body_len, 0, &je);
  return j;
}

static void test_server_routes_and_errors(void) {
  srv s;
  srv_start(&s);
  raw_resp r;
  ASSERT_OK(raw_http(s.port, "GET", "/v1/models/org/m-1", NULL, NULL, 0, &r));
  ASSERT_EQ_INT(r.status, 200);
  json_t *j = error_of(&r);
  ASSERT_EQ_STR(json_string_value(json_object_get(j, "id")), "org/m-1");
  json_decref(j);
  raw_free(&r);

  ASSERT_OK(raw_http(s.port, "GET", "/nope", NULL, NULL, 0, &r));
  ASSERT_EQ_INT(r.status, 404);
  j = error_of(&r);
  ASSERT_EQ_STR(json_string_value(json_object_get(json_object_get(j, "error"), "type")),
                "invalid_request_error");
  json_decref(j);
  char ct[64];
  ASSERT_OK(raw_header(&r, "Content-Type", ct, sizeof ct));
  ASSERT_EQ_STR(ct, "application/json");
  raw_free(&r);

  ASSERT_OK(raw_http(s.port, "GET", "/echo", NULL, NULL, 0, &r));
  ASSERT_EQ_INT(r.status, 405);
  char allow[64];
  ASSERT_OK(raw_header(&r, "Allow", allow, sizeof allow));
  ASSERT_EQ_STR(allow, "POST");
  raw_free(&r);

  ASSERT_OK(raw_http(s.port, "POST", "/echo", NULL, "{\"x\":[1,2]}", 11, &r));
  ASSERT_EQ_INT(r.status, 200);
  ASSERT_EQ_STR(r.body, "{\"x\":[1,2]}");
  raw_free(&r);

  ASSERT_OK(raw_http(s.port, "POST", "/echo", NULL, "{\"x\":", 5, &r));
  ASSERT_EQ_INT(r.status, 400);
  raw_free(&r);

  char big[2000];
  memset(big, ' ', sizeof big);
  big[0] = '{';
  big[sizeof big - 1] = '}';
  ASSERT_OK(raw_http(s.port, "POST", "/echo", NULL, big, sizeof big, &r));
  ASSERT_EQ_INT(r.status, 413); /* over the handler's 1000-byte JSON limit */
  raw_free(&r);

  char *huge = calloc(1, 5000);
  ASSERT_OK(raw_http(s.port, "POST", "/echo", NULL, huge, 5000, &r));
  ASSERT_EQ_INT(r.status, 413); /* over evhttp's 4096-byte body limit */
  raw_free(&r);
  free(huge);

  ASSERT_OK(raw_http(s.port, "GET", "/busy", NULL, NULL, 0, &r));
  ASSERT_EQ_INT(r.status, 429);
  char ra[16];
  ASSERT_OK(raw_header(&r, "Retry-After", ra, sizeof ra));
  ASSERT_EQ_STR(ra, "7");
  raw_free(&r);

  /* headers over the 16 KiB limit are refused */
  size_t hn = 20000;
  char *hreq = malloc(hn + 100);
  int off = snprintf(hreq, 100, "GET /v1/models/x HTTP/1.1\r\nX-Big: ");
  memset(hreq + off, 'a', hn);
  memcpy(hreq + off + hn, "\r\n\r\n", 4);
  raw_send(s.port, hreq, (size_t)off + hn + 4, &r); /* may be cut off: no status */
  ASSERT_TRUE(r.status == 0 || r.status == 400 || r.status == 431);
  raw_free(&r);
  free(hreq);
  srv_stop(&s);
}

static void test_server_sse_stream(void) {
  srv s;
  srv_start(&s);
  raw_resp r;
  ASSERT_OK(raw_http(s.port, "GET", "/stream", NULL, NULL, 0, &r));
  ASSERT_EQ_INT(r.status, 200);
  char ct[64];
  ASSERT_OK(raw_header(&r, "Content-Type", ct, sizeof ct));
  ASSERT_EQ_STR(ct, "text/event-stream; charset=utf-8");
  ASSERT_EQ_STR(r.body,
                "data: {\"i\":0}\n\ndata: {\"i\":1}\n\ndata: {\"i\":2}\n\n"
                "data: {\"i\":3}\n\ndata: [DONE]\n\n");
  raw_free(&r);

  /* A client that leaves mid-stream: the owner hears of it. */
  const char *req = "GET /stream HTTP/1.1\r\nHost: x\r\n\r\n";
  int fd = raw_open(s.port, req, strlen(req));
  ASSERT_TRUE(fd >= 0);
  char tmp[64];
  ssize_t n = read(fd, tmp, sizeof tmp); /* the head arrived: streaming */
  ASSERT_TRUE(n > 0);
  close(fd);
  for (int i = 0; i < 100 && !s.gone_seen; i++) usleep(20 * 1000);
  ASSERT_TRUE(s.gone_seen);
  srv_stop(&s);
}

int main(int argc, char **argv) {
  net_ignore_sigpipe();
  static const test_case tests[] = {
      TEST(test_router_match),
      TEST(test_error_json_shape),
      TEST(test_sse_format),
      TEST(test_json_limits),
      TEST(test_server_routes_and_errors),
      TEST(test_server_sse_stream),
      {0},
  };
  return test_main(argc, argv, tests);
}
