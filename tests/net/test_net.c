/* SPDX-License-Identifier: Apache-2.0
 *
 * tests/net/test_net.c: the network glue on real sockets: host:port
 * parsing, the work queue's hand-back to the loop, the RFC 6455 accept key
 * (the RFC's own example), and a WebSocket client and server (both ours,
 * over loopback) exchanging text and binary messages, with the size limit
 * closing the connection with 1009 and an evhttp limit answering 413.
 */
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/err.h"
#include "net/server.h"
#include "net/tls.h"
#include "net/workq.h"
#include "net/ws.h"
#include "test.h"
#include "testcert.h"

static void test_parse_hostport(void) {
  char h[64];
  uint16_t p = 0;
  ASSERT_OK(net_parse_hostport("127.0.0.1:8080", h, sizeof h, &p));
  ASSERT_EQ_STR(h, "127.0.0.1");
  ASSERT_EQ_INT(p, 8080);
  ASSERT_OK(net_parse_hostport("[::1]:0", h, sizeof h, &p));
  ASSERT_EQ_STR(h, "::1");
  ASSERT_EQ_INT(p, 0);
  ASSERT_EQ_INT(net_parse_hostport("127.0.0.1", h, sizeof h, &p), GLOAM_EFORMAT);
  ASSERT_EQ_INT(net_parse_hostport("a:65536", h, sizeof h, &p), GLOAM_EFORMAT);
  ASSERT_EQ_INT(net_parse_hostport(":80", h, sizeof h, &p), GLOAM_EFORMAT);
  ASSERT_EQ_INT(net_parse_hostport("::1:80", h, sizeof h, &p), GLOAM_EFORMAT);
  ASSERT_EQ_INT(net_parse_hostport("h:8x", h, sizeof h, &p), GLOAM_EFORMAT);
}

static void test_accept_key_rfc6455(void) {
  /* RFC 6455 §1.3 example. */
  char out[29];
  ASSERT_OK(net_ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==", out));
  ASSERT_EQ_STR(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

/* ---- work queue -------------------------------------------------------- */

typedef struct wq_item {
  int in, out, done_on_loop;
  pthread_t worker;
} wq_item;

static struct event_base *g_base;
static int g_done;
static pthread_t g_loop_thread;

static void sq_work(void *p) {
  wq_item *it = p;
  it->out = it->in * it->in;
  it->worker = pthread_self();
}
static void sq_done(void *p) {
  wq_item *it = p;
  it->done_on_loop = pthread_equal(pthread_self(), g_loop_thread);
  if (++g_done == 16) event_base_loopbreak(g_base);
}

static void test_workq_round_trip(void) {
  char err[GLOAM_ERR_LEN];
  g_base = event_base_new();
  net_workq *q;
  ASSERT_OK(net_workq_new(&q, g_base, 2, 16, err));
  wq_item items[17] = {0};
  g_done = 0;
  for (int i = 0; i < 16; i++) {
    items[i].in = i + 1;
    ASSERT_OK(net_workq_submit(q, sq_work, sq_done, &items[i]));
  }
  ASSERT_EQ_INT(net_workq_submit(q, sq_work, sq_done, &items[16]), GLOAM_EAGAIN);
  ASSERT_EQ_UINT(net_workq_pending(q), 16);
  g_loop_thread = pthread_self();
  event_base_dispatch(g_base);
  ASSERT_EQ_INT(g_done, 16);
  for (int i = 0; i < 16; i++) {
    ASSERT_EQ_INT(items[i].out, (i + 1) * (i + 1));
    ASSERT_FALSE(pthread_equal(items[i].worker, pthread_self()));
    ASSERT_TRUE(items[i].done_on_loop);
  }
  ASSERT_EQ_UINT(net_workq_pending(q), 0);
  net_workq_free(q);
  event_base_free(g_base);
}

/* ---- WebSocket echo ---------------------------------------------------- */

typedef struct ws_test {
  struct event_base *base;
  struct evhttp *http;
  int port;
  net_ws *server;
  int server_closed, server_status, client_closed, client_status, opened;
  int n_echo;
  size_t big_len;
  int big_ok;
  const char *script; /* "echo" or "limit" */
  SSL_CTX *srv_tls, *cli_tls;
} ws_test;

static void srv_msg(net_ws *ws, bool binary, const uint8_t *d, size_t n, void *ud) {
  /* echo back, flipping the type marker so the client can tell */
  net_ws_send(ws, binary, d, n);
}
static void srv_close(net_ws *ws, int status, void *ud) {
  ws_test *t = ud;
  t->server_closed = 1;
  t->server_status = status;
  t->server = NULL;
}
static const net_ws_callbacks srv_cb = {NULL, srv_msg, srv_close};

static void http_cb(struct evhttp_request *req, void *ud) {
  ws_test *t = ud;
  char err[GLOAM_ERR_LEN];
  net_ws_config cfg = NET_WS_CONFIG_DEFAULT;
  cfg.max_msg_bytes = 1 << 20;
  if (net_ws_accept(req, &cfg, &srv_cb, t, &t->server, err) < 0)
    evhttp_send_reply(req, 400, "Bad Request", NULL);
}

static void cli_open(net_ws *ws, void *ud) {
  ws_test *t = ud;
  t->opened = 1;
  if (strcmp(t->script, "limit") == 0) {
    size_t n = (1 << 20) + 1;
    uint8_t *big = calloc(1, n);
    net_ws_send(ws, true, big, n);
    free(big);
    return;
  }
  net_ws_send(ws, false, "hello", 5);
}
static void cli_msg(net_ws *ws, bool binary, const uint8_t *d, size_t n, void *ud) {
  ws_test *t = ud;
  t->n_echo++;
  if (t->n_echo == 1) {
    ASSERT_FALSE(binary);
    ASSERT_EQ_INT(n, 5);
    ASSERT_EQ_MEM(d, "hello", 5);
    t->big_len = 300 * 1000;
    uint8_t *big = malloc(t->big_len);
    for (size_t i = 0; i < t->big_len; i++) big[i] = (uint8_t)(i * 7);
    ASSERT_OK(net_ws_send(ws, true, big, t->big_len));
    free(big);
  } else {
    ASSERT_TRUE(binary);
    ASSERT_EQ_UINT(n, t->big_len);
    int ok = 1;
    for (size_t i = 0; i < n; i++) ok &= d[i] == (uint8_t)(i * 7);
    t->big_ok = ok;
    net_ws_close(ws, 1000);
  }
}
static void cli_close(net_ws *ws, int status, void *ud) {
  ws_test *t = ud;
  t->client_closed = 1;
  t->client_status = status;
}
static const net_ws_callbacks cli_cb = {cli_open, cli_msg, cli_close};

static void on_tick(evutil_socket_t fd, short what, void *ud) {
  ws_test *t = ud;
  if (t->client_closed && (t->server_closed || !t->opened)) event_base_loopbreak(t->base);
}
static void on_deadline(evutil_socket_t fd, short what, void *ud) {
  ws_test *t = ud;
  event_base_loopbreak(t->base);
}

static void run_ws(ws_test *t) {
  char err[GLOAM_ERR_LEN];
  t->base = event_base_new();
  net_http_limits lim = NET_HTTP_LIMITS_DEFAULT;
  ASSERT_OK(net_http_new(t->base, "127.0.0.1:0", &lim, &t->http, &t->port, err));
  evhttp_set_gencb(t->http, http_cb, t);
  if (t->srv_tls) net_http_use_tls(t->http, t->srv_tls);
  net_ws *c;
  net_ws_config cfg = NET_WS_CONFIG_DEFAULT;
  cfg.max_msg_bytes = 4 << 20;
  ASSERT_OK(net_ws_connect_tls(t->base, "127.0.0.1", (uint16_t)t->port, "/ws", "Bearer x",
                               t->cli_tls, &cfg, &cli_cb, t, &c, err));
  struct event *poll = event_new(t->base, -1, EV_PERSIST, on_tick, t);
  struct timeval ms = {0, 10000};
  event_add(poll, &ms);
  struct event *deadline = evtimer_new(t->base, on_deadline, t);
  struct timeval five = {5, 0};
  event_add(deadline, &five);
  event_base_dispatch(t->base);
  event_free(poll);
  event_free(deadline);
  if (t->server) net_ws_free(t->server);
  evhttp_free(t->http);
  event_base_free(t->base);
}

static void test_ws_echo(void) {
  ws_test t = {0};
  t.script = "echo";
  run_ws(&t);
  ASSERT_TRUE(t.opened);
  ASSERT_EQ_INT(t.n_echo, 2);
  ASSERT_TRUE(t.big_ok);
  ASSERT_TRUE(t.client_closed);
  ASSERT_TRUE(t.server_closed);
  ASSERT_EQ_INT(t.client_status, 1000);
}

static void test_ws_message_limit(void) {
  ws_test t = {0};
  t.script = "limit";
  run_ws(&t);
  ASSERT_TRUE(t.opened);
  ASSERT_EQ_INT(t.n_echo, 0);
  ASSERT_TRUE(t.client_closed);
  /* RFC 6455 §7.4.1: 1009 message too big. The client may see the reset
   * before the close frame, so only the server's code is certain. */
  ASSERT_EQ_INT(t.server_status, 1009);
  ASSERT_TRUE(t.client_status == 1009 || t.client_status == 1006);
}

static void test_ws_over_tls(void) {
  char err[GLOAM_ERR_LEN], cert[512], key[512];
  char *dir = test_tmpdir();
  make_cert(dir, cert, key, sizeof cert);
  ws_test t = {0};
  t.script = "echo";
  ASSERT_OK(net_tls_server_ctx(&t.srv_tls, cert, key, err));
  ASSERT_OK(net_tls_client_ctx(&t.cli_tls, cert, err));
  run_ws(&t);
  ASSERT_TRUE(t.opened);
  ASSERT_EQ_INT(t.n_echo, 2);
  ASSERT_TRUE(t.big_ok);
  ASSERT_EQ_INT(t.client_status, 1000);
  SSL_CTX_free(t.cli_tls);
  /* a client that does not trust the certificate never opens */
  ws_test u = {0};
  u.script = "echo";
  u.srv_tls = t.srv_tls;
  ASSERT_OK(net_tls_client_ctx(&u.cli_tls, NULL, err));
  run_ws(&u);
  ASSERT_FALSE(u.opened);
  ASSERT_TRUE(u.client_closed);
  ASSERT_EQ_INT(u.client_status, 1006);
  SSL_CTX_free(u.cli_tls);
  SSL_CTX_free(t.srv_tls);
  ASSERT_EQ_INT(net_tls_server_ctx(&t.srv_tls, key, key, err), GLOAM_ECRYPTO);
  free(dir);
}

/* A plain HTTP request to a WebSocket endpoint gets 400 with no takeover;
 * a body over the limit gets 413 from libevent. Raw sockets on a thread. */
typedef struct raw_req {
  int port;
  const char *text;
  char reply[256];
  _Atomic int done; /* set by the client thread after reply is written */
} raw_req;

static void *raw_main(void *p) {
  raw_req *r = p;
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {0};
  a.sin_family = AF_INET;
  a.sin_port = htons((uint16_t)r->port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, (struct sockaddr *)&a, sizeof a) == 0) {
    ssize_t w = write(fd, r->text, strlen(r->text));
    (void)w;
    ssize_t n = read(fd, r->reply, sizeof r->reply - 1);
    if (n > 0) r->reply[n] = '\0';
  }
  close(fd);
  atomic_store(&r->done, 1);
  return NULL;
}

static void stop_when_done(evutil_socket_t fd, short what, void *ud) {
  raw_req *r = ud;
  if (atomic_load(&r->done)) event_base_loopbreak(g_base);
}

static void raw_exchange(raw_req *r, size_t max_body) {
  char err[GLOAM_ERR_LEN];
  ws_test t = {0};
  g_base = t.base = event_base_new();
  net_http_limits lim = NET_HTTP_LIMITS_DEFAULT;
  lim.max_body_bytes = max_body;
  ASSERT_OK(net_http_new(t.base, "127.0.0.1:0", &lim, &t.http, &t.port, err));
  evhttp_set_gencb(t.http, http_cb, &t);
  r->port = t.port;
  pthread_t th;
  pthread_create(&th, NULL, raw_main, r);
  struct event *poll = event_new(t.base, -1, EV_PERSIST, stop_when_done, r);
  struct timeval ms = {0, 10000};
  event_add(poll, &ms);
  event_base_dispatch(t.base);
  pthread_join(th, NULL);
  event_free(poll);
  evhttp_free(t.http);
  event_base_free(t.base);
}

static void test_http_not_upgrade_and_body_limit(void) {
  raw_req r = {0};
  r.text = "GET /ws HTTP/1.1\r\nHost: x\r\n\r\n";
  raw_exchange(&r, 1024);
  ASSERT_TRUE(strncmp(r.reply, "HTTP/1.1 400", 12) == 0);
  raw_req r2 = {0};
  r2.text = "POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n";
  raw_exchange(&r2, 1024);
  ASSERT_TRUE(strncmp(r2.reply, "HTTP/1.1 413", 12) == 0);
}

int main(int argc, char **argv) {
  net_ignore_sigpipe();
  static const test_case tests[] = {
      TEST(test_parse_hostport),
      TEST(test_accept_key_rfc6455),
      TEST(test_workq_round_trip),
      TEST(test_ws_echo),
      TEST(test_ws_message_limit),
      TEST(test_ws_over_tls),
      TEST(test_http_not_upgrade_and_body_limit),
      {0},
  };
  return test_main(argc, argv, tests);
}
