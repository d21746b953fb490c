/* SPDX-License-Identifier: Apache-2.0
 *
 * client/proxy.c: the local sealing proxy (see proxy.h).
 *
 * DESIGN: one loop; each app request becomes a chat_op on it. Streaming
 * answers re-emit the node's own OpenAI SSE events as they are opened (each
 * chunk is authenticated by the response AEAD before it is passed on) and
 * hold back [DONE] until the receipt has been checked; non-streaming
 * answers are collected, checked, then sent whole. An app that goes away
 * cancels its operation, which closes the coordinator connection, which
 * cancels the node's job.
 */
#include "client/proxy.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <string.h>
#include <sys/socket.h>

#include "client/client_impl.h"
#include "client/proxy_audio.h"
#include "client/proxy_image.h"
#include "client/sse.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/codec.h"
#include "core/err.h"
#include "core/log.h"
#include "http/error.h"
#include "http/json.h"
#include "http/router.h"
#include "http/sse.h"
#include "net/server.h"

#define PROXY_MAX_ANSWER (8u << 20)
#define PROXY_SSE_QUEUE (4u << 20)

struct client_proxy {
  struct event_base *base;
  const gloam_client *c;
  struct evhttp *http;
  http_router *router;
  proxy_images *images; /* response_format url (proxy_image.c) */
  int inflight;
};

typedef struct preq {
  client_proxy *p;
  struct evhttp_request *req;
  struct evhttp_connection *evcon;
  struct event *watch;
  chat_op *op;
  cfetch *fetch;
  http_sse *sse;
  int stream, in_cb, gone;
  buf acc;     /* non-streaming: the opened JSON body */
  csse events; /* streaming: the node's SSE events */
  char last_id[128];
  char model[GLOAM_SEAL_MODEL_MAX + 1];
  int64_t created;
  int audio, audio_format; /* an audio upload (proxy_audio.c) and its response_format */
  int image, image_format; /* an image generation (proxy_image.c) and its response_format */
} preq;

static void preq_free(preq *r) {
  if (r->watch) event_free(r->watch);
  buf_deinit(&r->acc);
  csse_deinit(&r->events);
  r->p->inflight--;
  mem_free(r);
}

static void add_gloam_headers(preq *r, const char *node, gloam_trust t) {
  struct evkeyvalq *h = evhttp_request_get_output_headers(r->req);
  evhttp_add_header(h, "Gloam-Mode", "client-sealed");
  if (node && node[0]) evhttp_add_header(h, "Gloam-Node", node);
  evhttp_add_header(h, "Gloam-Trust", gloam_trust_name(t));
}

/* Stops watching the app's connection before replying on it. */
static void unwatch(preq *r) {
  if (r->watch) event_free(r->watch);
  r->watch = NULL;
  if (r->evcon) evhttp_connection_set_closecb(r->evcon, NULL, NULL);
}

static int status_for(int rc, const gloam_chat_result *res, const char **code) {
  switch (rc) {
    case GLOAM_EPOLICY:
      *code = "no_verified_node";
      return 503;
    case GLOAM_EAUTH:
      *code = "verification_failed";
      return 502;
    case GLOAM_ESTATE:
      *code = "stream_truncated";
      return 502;
    case GLOAM_EINVAL:
      *code = "invalid_request";
      return 400;
    case GLOAM_ETIMEDOUT:
      *code = "timeout";
      return 504;
    case GLOAM_EPROTO:
      *code = res && res->error_code[0] ? res->error_code : "upstream_error";
      return res && res->http_status >= 400 && res->http_status < 600 ? res->http_status : 502;
    default:
      *code = "upstream_unavailable";
      return 502;
  }
}

static json_t *gloam_field(const gloam_chat_result *res) {
  char th[65];
  codec_hex_encode(res->transcript_sha256, 32, th, sizeof th);
  json_t *g = json_pack("{s:s,s:s,s:s,s:b,s:s?,s:s}", "mode", "client-sealed", "node", res->node_id,
                        "trust", gloam_trust_name(res->trust), "receipt_verified", res->receipt_ok,
                        "receipt", res->receipt_jws, "transcript_sha256", th);
  if (g && res->receipt_jwk[0]) {
    json_t *k = json_loads(res->receipt_jwk, 0, NULL);
    if (k) json_object_set_new(g, "receipt_jwk", k);
  }
  if (g && res->charged_micro_usd >= 0)
    json_object_set_new(g, "charged_micro_usd", json_integer(res->charged_micro_usd));
  return g;
}

/* ---- chat ------------------------------------------------------------- */

static void on_sse_gone(void *ud) {
  preq *r = ud;
  r->gone = 1;
  if (r->in_cb) return; /* on_chunk sees it and cancels */
  chat_op_cancel(r->op);
  http_sse_end(r->sse);
  preq_free(r);
}

static int on_start(const gloam_node_info *ni, void *ud) {
  preq *r = ud;
  if (!r->stream) return 0;
  unwatch(r);
  add_gloam_headers(r, ni->id, ni->verified);
  if (http_sse_start(r->req, 200, PROXY_SSE_QUEUE, on_sse_gone, r, &r->sse) < 0) return -1;
  return 0;
}

/* One event of the node's plaintext SSE: re-emitted, except [DONE]. */
static int on_node_event(const char *name, const char *data, size_t len, void *ud) {
  preq *r = ud;
  if (len == 6 && memcmp(data, "[DONE]", 6) == 0) return 0; /* sent after the receipt */
  json_t *j = json_loadb(data, len, 0, NULL);
  const char *id = json_string_value(json_object_get(j, "id"));
  if (id) snprintf(r->last_id, sizeof r->last_id, "%s", id);
  json_t *cr = json_object_get(j, "created");
  if (json_is_integer(cr)) r->created = (int64_t)json_integer_value(cr);
  json_decref(j);
  return http_sse_send(r->sse, name[0] ? name : NULL, data, len);
}

static int on_chunk(const char *p, size_t n, void *ud) {
  preq *r = ud;
  if (r->gone) return 1;
  if (!r->stream) return buf_append(&r->acc, p, n) < 0 ? 1 : 0;
  r->in_cb = 1;
  int rc = csse_feed(&r->events, (const uint8_t *)p, n, on_node_event, r);
  r->in_cb = 0;
  return rc < 0 || r->gone;
}

static void send_error(preq *r, int status, const char *code, const char *msg) {
  unwatch(r);
  if (status == 429 || status == 503)
    http_send_error_retry(r->req, status, 1, code, "%s", msg);
  else
    http_send_error(r->req, status, NULL, code, NULL, "%s", msg);
}

static void finish_stream(preq *r, int rc, gloam_chat_result *res, const char *err) {
  if (rc == 0 && r->audio) {
    json_t *g = gloam_field(res);
    proxy_audio_stream_tail(r->sse, g);
    json_decref(g);
    http_sse_send(r->sse, NULL, "[DONE]", 6);
  } else if (rc == 0) {
    json_t *last =
        json_pack("{s:s,s:s,s:I,s:s,s:[],s:o}", "id", r->last_id[0] ? r->last_id : "gloam",
                  "object", "chat.completion.chunk", "created", (json_int_t)r->created, "model",
                  r->model, "choices", "gloam", gloam_field(res));
    char *s = last ? json_dumps(last, JSON_COMPACT) : NULL;
    json_decref(last);
    if (s) http_sse_send(r->sse, NULL, s, strlen(s));
    free(s);
    http_sse_send(r->sse, NULL, "[DONE]", 6);
  } else {
    const char *code;
    int st = status_for(rc, res, &code);
    json_t *e = http_error_json(st, NULL, code, NULL, err);
    char *s = e ? json_dumps(e, JSON_COMPACT) : NULL;
    json_decref(e);
    if (s) http_sse_send(r->sse, NULL, s, strlen(s));
    free(s);
  }
  http_sse_end(r->sse);
  r->sse = NULL;
}

static void finish_whole(preq *r, int rc, gloam_chat_result *res, const char *err) {
  json_t *j = NULL;
  if (r->image && rc == 0) { /* checked against the receipt's image hashes */
    unwatch(r);
    add_gloam_headers(r, res->node_id, res->trust);
    proxy_image_send(r->req, r->p->images, r->acc.data, r->acc.len,
                     (enum image_format)r->image_format, &res->claims, gloam_field(res));
    return;
  }
  if (r->audio && rc == 0) { /* the node's body in its response_format */
    unwatch(r);
    add_gloam_headers(r, res->node_id, res->trust);
    j = gloam_field(res);
    proxy_audio_send(r->req, (enum audio_format)r->audio_format, r->acc.data, r->acc.len, j);
    json_decref(j);
    return;
  }
  if (rc == 0 && json_parse_limited((const char *)r->acc.data, r->acc.len, PROXY_MAX_ANSWER, 64, &j,
                                    NULL) < 0) {
    rc = GLOAM_EPROTO;
    err = "the node's answer is not a JSON object";
    res->http_status = 502;
  }
  if (rc < 0) {
    const char *code;
    int st = status_for(rc, res, &code);
    send_error(r, st, code, err);
    return;
  }
  json_object_set_new(j, "gloam", gloam_field(res));
  unwatch(r);
  add_gloam_headers(r, res->node_id, res->trust);
  http_send_json(r->req, 200, j);
}

static void on_done(int rc, gloam_chat_result *res, const char *err, void *ud) {
  preq *r = ud;
  log_line l;
  if (log_begin(&l, rc == 0 ? LOG_INFO : LOG_WARN, "proxy.chat")) {
    log_str(&l, "node_id", res->node_id);
    log_str(&l, "trust", gloam_trust_name(res->trust));
    log_bool(&l, "receipt_ok", res->receipt_ok);
    log_str(&l, "outcome", rc == 0 ? "ok" : gloam_errname(rc));
    log_end(&l);
  }
  if (r->gone) {
    if (r->sse) http_sse_end(r->sse);
  } else if (r->sse) {
    finish_stream(r, rc, res, err);
  } else {
    finish_whole(r, rc, res, err);
  }
  preq_free(r);
}

/* The app went away before streaming started. */
static void app_gone(preq *r) {
  r->gone = 1;
  unwatch(r);
  if (r->op) chat_op_cancel(r->op);
  if (r->fetch) cfetch_cancel(r->fetch);
  evhttp_send_reply_end(r->req); /* detached request: this frees it */
  preq_free(r);
}

static void on_conn_gone(struct evhttp_connection *evcon, void *ud) {
  app_gone(ud);
}

static void on_watch(evutil_socket_t fd, short what, void *ud) {
  preq *r = ud;
  char b;
  ssize_t n = recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
  if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
    app_gone(r);
    return;
  }
  if (n < 0) event_add(r->watch, NULL);
}

static preq *preq_new(client_proxy *p, struct evhttp_request *req) {
  if (p->inflight >= CLIENT_PROXY_MAX_INFLIGHT) {
    http_send_error_retry(req, 429, 1, "proxy_busy", "Too many requests in flight in gloam proxy.");
    return NULL;
  }
  preq *r = mem_calloc(1, sizeof *r);
  if (!r) {
    http_send_error(req, 500, NULL, NULL, NULL, "Out of memory.");
    return NULL;
  }
  p->inflight++;
  r->p = p;
  r->req = req;
  r->evcon = evhttp_request_get_connection(req);
  buf_init(&r->acc, PROXY_MAX_ANSWER);
  csse_init(&r->events, PROXY_MAX_ANSWER);
  return r;
}

static void watch(preq *r) {
  evhttp_connection_set_closecb(r->evcon, on_conn_gone, r);
  struct bufferevent *bev = evhttp_connection_get_bufferevent(r->evcon);
  evutil_socket_t fd = bev ? bufferevent_getfd(bev) : -1;
  if (fd >= 0 && (r->watch = event_new(r->p->base, fd, EV_READ, on_watch, r)))
    event_add(r->watch, NULL);
}

/* Seals body for a node and starts the relay of request r (chat, audio or
 * image); on failure answers the client (400/500) and frees r. */
static void start_op(client_proxy *p, preq *r, const void *body, size_t len,
                     const gloam_chat_opts *o) {
  chat_op_cbs cbs = {on_start, on_chunk, on_done};
  char err[GLOAM_ERR_LEN];
  int rc = chat_op_start(p->base, p->c, body, len, o, &cbs, r, &r->op, err);
  if (rc < 0) {
    send_error(r, rc == GLOAM_EINVAL ? 400 : 500,
               rc == GLOAM_EINVAL ? "invalid_request" : "internal", err);
    preq_free(r);
    return;
  }
  watch(r);
}

static void h_chat(struct evhttp_request *req, const http_params *params, void *ud) {
  client_proxy *p = ud;
  char err[GLOAM_ERR_LEN];
  json_t *body = NULL;
  int rc = http_json_body(req, CLIENT_MAX_BODY, 64, &body, err);
  if (rc < 0) {
    http_send_error(req, rc == GLOAM_ETOOBIG ? 413 : 400, NULL, "invalid_json", NULL,
                    "The request body is not a JSON object: %s", err);
    return;
  }
  preq *r = preq_new(p, req);
  if (!r) {
    json_decref(body);
    return;
  }
  r->stream = json_is_true(json_object_get(body, "stream"));
  const char *m = json_string_value(json_object_get(body, "model"));
  if (m) snprintf(r->model, sizeof r->model, "%s", m);
  char *text = json_dumps(body, JSON_COMPACT);
  json_decref(body);
  if (!text) {
    send_error(r, 500, "internal", "Out of memory.");
    preq_free(r);
    return;
  }
  gloam_chat_opts o = GLOAM_CHAT_OPTS_INIT;
  size_t text_len = strlen(text);
  start_op(p, r, text, text_len, &o);
  memset(text, 0, text_len);
  free(text);
}

/* POST /v1/audio/transcriptions and /translations: the multipart upload is
 * sealed whole for the node (client-sealed), with its measured duration. */
static void h_audio(struct evhttp_request *req, client_proxy *p, bool translate) {
  const uint8_t *body;
  size_t len;
  audio_req ar;
  uint32_t ms;
  if (proxy_audio_admit(req, translate, &body, &len, &ar, &ms) < 0) return;
  preq *r = preq_new(p, req);
  if (!r) {
    audio_req_free(&ar);
    return;
  }
  r->stream = ar.stream;
  r->audio = 1;
  r->audio_format = (int)ar.format;
  snprintf(r->model, sizeof r->model, "%s", ar.model);
  gloam_chat_opts o = GLOAM_CHAT_OPTS_INIT;
  o.endpoint = audio_req_endpoint(translate);
  o.model = ar.model;
  o.audio_ms = ms;
  start_op(p, r, body, len, &o);
  audio_req_free(&ar);
}

static void h_transcriptions(struct evhttp_request *req, const http_params *params, void *ud) {
  h_audio(req, ud, false);
}

static void h_translations(struct evhttp_request *req, const http_params *params, void *ud) {
  h_audio(req, ud, true);
}

/* POST /v1/images/generations: the JSON body sealed for the node
 * (client-sealed) with its image count; GET /v1/images/files/{name}. */
static void h_images(struct evhttp_request *req, const http_params *params, void *ud) {
  client_proxy *p = ud;
  const uint8_t *body;
  size_t len;
  image_req ir;
  if (proxy_image_admit(req, &body, &len, &ir) < 0) return;
  preq *r = preq_new(p, req);
  if (!r) {
    image_req_free(&ir);
    return;
  }
  r->image = 1;
  r->image_format = (int)ir.format;
  snprintf(r->model, sizeof r->model, "%s", ir.model);
  gloam_chat_opts o = GLOAM_CHAT_OPTS_INIT;
  o.endpoint = IMAGE_ENDPOINT;
  o.model = ir.model;
  o.n_images = (uint32_t)ir.n;
  start_op(p, r, body, len, &o);
  image_req_free(&ir);
}

static void h_image_file(struct evhttp_request *req, const http_params *params, void *ud) {
  client_proxy *p = ud;
  proxy_image_file(req, p->images, http_param(params, "name"));
}

/* ---- models and health ------------------------------------------------- */

/* ---- relayed GETs: models, nodes, balance, usage ----------------------- */

static void relay_done(int rc, int status, const char *body, size_t len, void *ud) {
  preq *r = ud;
  r->fetch = NULL;
  unwatch(r);
  if (rc < 0) {
    http_send_error(r->req, 502, NULL, "upstream_unavailable", NULL,
                    "The coordinator cannot be reached: %s", gloam_strerror(rc));
  } else {
    struct evkeyvalq *h = evhttp_request_get_output_headers(r->req);
    evhttp_add_header(h, "Gloam-Mode", "client-sealed");
    http_send_text(r->req, status, "application/json", body ? body : "", body ? len : 0);
  }
  preq_free(r);
}

/* GET relayed as is (path and query); balance and usage with the proxy's
 * API key. */
static void h_relay(struct evhttp_request *req, const http_params *params, void *ud) {
  client_proxy *p = ud;
  const char *uri = evhttp_request_get_uri(req);
  int auth = strncmp(uri, "/v1/balance", 11) == 0 || strncmp(uri, "/v1/usage", 9) == 0;
  preq *r = preq_new(p, req);
  if (!r) return;
  char err[GLOAM_ERR_LEN];
  if (cfetch_start(p->base, p->c, uri, auth, relay_done, r, &r->fetch, err) < 0) {
    send_error(r, 502, "upstream_unavailable", err);
    preq_free(r);
    return;
  }
  watch(r);
}

static void h_health(struct evhttp_request *req, const http_params *params, void *ud) {
  http_send_json(req, 200, json_pack("{s:s,s:s}", "status", "ok", "mode", "client-sealed"));
}

int client_proxy_new(client_proxy **out, struct event_base *base, const gloam_client *c,
                     const char *listen, int *out_port, char *err) {
  *out = NULL;
  client_proxy *p = mem_calloc(1, sizeof *p);
  if (!p) return err_set(err, GLOAM_ENOMEM, "out of memory");
  p->base = base;
  p->c = c;
  net_http_limits lim = NET_HTTP_LIMITS_DEFAULT;
  lim.max_body_bytes = CLIENT_MAX_UPLOAD; /* JSON bodies are held to CLIENT_MAX_BODY by h_chat */
  lim.timeout_s = 600;
  int rc = net_http_new(base, listen, &lim, &p->http, out_port, err);
  if (rc == 0) rc = http_router_new(&p->router);
  if (rc == 0) rc = http_router_add(p->router, HTTP_POST, "/v1/chat/completions", h_chat, p);
  if (rc == 0)
    rc = http_router_add(p->router, HTTP_POST, "/v1/audio/transcriptions", h_transcriptions, p);
  if (rc == 0)
    rc = http_router_add(p->router, HTTP_POST, "/v1/audio/translations", h_translations, p);
  if (rc == 0) rc = proxy_images_new(&p->images);
  if (rc == 0) rc = http_router_add(p->router, HTTP_POST, "/v1/images/generations", h_images, p);
  if (rc == 0)
    rc = http_router_add(p->router, HTTP_GET, "/v1/images/files/{name}", h_image_file, p);
  static const char *const relayed[] = {"/v1/models", "/v1/models/{id*}", "/v1/nodes",
                                        "/v1/balance", "/v1/usage"};
  for (size_t i = 0; rc == 0 && i < sizeof relayed / sizeof relayed[0]; i++)
    rc = http_router_add(p->router, HTTP_GET, relayed[i], h_relay, p);
  if (rc == 0) rc = http_router_add(p->router, HTTP_GET, "/health", h_health, p);
  if (rc < 0) {
    if (!err || !err[0]) err_set(err, rc, "cannot start the proxy");
    client_proxy_free(p);
    return rc;
  }
  evhttp_set_gencb(p->http, http_router_evhttp_cb, p->router);
  *out = p;
  return 0;
}

void client_proxy_free(client_proxy *p) {
  if (!p) return;
  if (p->http) evhttp_free(p->http);
  http_router_free(p->router);
  proxy_images_free(p->images);
  mem_free(p);
}
