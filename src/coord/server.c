/* SPDX-License-Identifier: Apache-2.0
 *
 * coord/server.c: the coordinator object, its HTTP routes and the public
 * endpoints (health, models, nodes, attestation, metrics, balance, usage).
 * The chat path is in chat.c, node connections in node_conn.c.
 */
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <string.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/codec.h"
#include "core/err.h"
#include "core/log.h"
#include "core/time.h"
#include "coord/anthropic.h"
#include "coord/coord_impl.h"
#include "coord/creds.h"
#include "http/error.h"
#include "http/json.h"
#include "http/router.h"
#include "net/server.h"
#include "net/tls.h"
#include "net/workq.h"
#include "net/ws.h"

void coord_config_default(coord_config *cfg) {
  memset(cfg, 0, sizeof *cfg);
  cfg->listen = "127.0.0.1:8080";
  cfg->db_path = "gloam.db";
  cfg->fee_bps = 0;
  cfg->heartbeat_interval_ms = 5000;
  cfg->heartbeat_timeout_ms = 15000;
  cfg->challenge_interval_ms = 300000;
  cfg->challenge_timeout_ms = 30000;
  cfg->register_timeout_ms = 10000;
  cfg->job_timeout_ms = 600000;
  cfg->max_body_bytes = 4u << 20;
  cfg->max_upload_bytes = 26u << 20; /* OpenAI's 25 MB audio file + the form's fields */
  cfg->max_json_bytes = 1u << 20;
  cfg->http_timeout_s = 60;
  cfg->sse_max_queued = 4u << 20;
  cfg->node_max_queued = 64u << 20;
  cfg->default_max_tokens = 4096;
  cfg->queue_max_per_model = 64;
  cfg->queue_timeout_ms = 30000;
}

void coord_count_status(coord *c, int status) {
  int k = status / 100;
  c->m.http_requests[k >= 1 && k <= 5 ? k : 0]++;
  if (status >= 100 && status < COORD_STATUS_MAX) c->m.by_status[status]++;
}

int coord_auth_consumer(coord *c, struct evhttp_request *req, int64_t *out_account) {
  struct evkeyvalq *h = evhttp_request_get_input_headers(req);
  const char *tok;
  size_t tok_len;
  uint8_t hash[32];
  const char *auth = evhttp_find_header(h, "Authorization");
  int rc =
      auth ? coord_creds_from_header(auth, 1, "gk_", &tok, &tok_len)
           : coord_creds_from_header(evhttp_find_header(h, "x-api-key"), 0, "gk_", &tok, &tok_len);
  if (rc == 0) rc = coord_creds_hash(tok, tok_len, hash);
  if (rc == 0) rc = coord_store_api_key_lookup(c->store, hash, out_account);
  if (rc < 0) {
    coord_count_status(c, 401);
    http_send_error(req, 401, "invalid_request_error", "invalid_api_key", NULL,
                    "Incorrect or missing API key. Send Authorization: Bearer gk_...");
    return GLOAM_EAUTH;
  }
  return 0;
}

static void reply_json(coord *c, struct evhttp_request *req, int status, json_t *j) {
  coord_count_status(c, status);
  http_send_json(req, status, j);
}

/* ---- public endpoints ----------------------------------------------------- */

static void h_health(struct evhttp_request *req, const http_params *p, void *ud) {
  coord *c = ud;
  reply_json(c, req, 200, json_pack("{s:s,s:i}", "status", "ok", "nodes", c->n_nodes));
}

/* Models served by at least one live node and priced. */
static json_t *model_list(coord *c, const char *only) {
  json_t *data = json_array();
  for (cnode *n = c->nodes; n && data; n = n->next) {
    if (!n->registered || n->closing) continue;
    for (int i = 0; i < n->n_models; i++) {
      const char *id = n->models[i].id;
      if (only && strcmp(only, id) != 0) continue;
      int64_t a, b;
      if (coord_store_price_get(c->store, id, &a, &b) < 0) continue;
      int dup = 0;
      size_t k;
      json_t *v;
      json_array_foreach(data, k, v) dup |=
          strcmp(json_string_value(json_object_get(v, "id")), id) == 0;
      if (dup) continue;
      json_array_append_new(
          data, json_pack("{s:s,s:s,s:i,s:s,s:{s:I,s:I}}", "id", id, "object", "model", "created",
                          0, "owned_by", "gloam", "pricing", "input_per_mtok_micro_usd",
                          (json_int_t)a, "output_per_mtok_micro_usd", (json_int_t)b));
    }
  }
  return data;
}

static void h_models(struct evhttp_request *req, const http_params *p, void *ud) {
  coord *c = ud;
  reply_json(c, req, 200, json_pack("{s:s,s:o}", "object", "list", "data", model_list(c, NULL)));
}

static void h_model(struct evhttp_request *req, const http_params *p, void *ud) {
  coord *c = ud;
  const char *id = http_param(p, "id");
  json_t *l = model_list(c, id);
  if (json_array_size(l) == 0) {
    json_decref(l);
    coord_count_status(c, 404);
    http_send_error(req, 404, NULL, "model_not_found", "model",
                    "The model does not exist or is not served right now.");
    return;
  }
  json_t *m = json_incref(json_array_get(l, 0));
  json_decref(l);
  reply_json(c, req, 200, m);
}

static json_t *node_json(cnode *n, int with_evidence) {
  char pk[64];
  codec_b64_encode(n->hpke_pk, 32, pk, sizeof pk, CODEC_B64_URL);
  json_t *models = json_array();
  for (int i = 0; i < n->n_models; i++)
    json_array_append_new(models, json_pack("{s:s,s:s}", "id", n->models[i].id, "weights_digest",
                                            n->models[i].weights_digest));
  json_error_t je;
  json_t *jwk = json_loads(n->receipt_jwk, 0, &je);
  json_t *o =
      json_pack("{s:s,s:s,s:o,s:{s:{s:i,s:s},s:{s:o}},s:i,s:i,s:f,s:f,s:b}", "id", n->id, "trust",
                n->trust, "models", models, "keys", "hpke", "kem_id", (int)n->kem_id, "public_key",
                pk, "receipt", "jwk", jwk ? jwk : json_null(), "max_slots", n->max_slots,
                "free_slots", n->max_slots - n->n_jobs, "prefill_tps", n->prefill_tps, "decode_tps",
                n->decode_tps, "draining", n->draining);
  if (o && with_evidence) {
    coord_attest_publish(n, o);
    json_object_set(o, "hardware", n->hardware);
  }
  return o;
}

static void h_nodes(struct evhttp_request *req, const http_params *p, void *ud) {
  coord *c = ud;
  struct evkeyvalq q;
  const char *uri = evhttp_request_get_uri(req);
  struct evhttp_uri *u = evhttp_uri_parse(uri);
  const char *query = u ? evhttp_uri_get_query(u) : NULL;
  const char *model = NULL;
  memset(&q, 0, sizeof q);
  if (query && evhttp_parse_query_str(query, &q) == 0) model = evhttp_find_header(&q, "model");
  json_t *data = json_array();
  for (cnode *n = c->nodes; n; n = n->next) {
    if (!n->registered || n->closing || (model && !coord_node_serves(n, model))) continue;
    json_array_append_new(data, node_json(n, 1));
  }
  if (query) evhttp_clear_headers(&q);
  evhttp_uri_free(u);
  reply_json(c, req, 200, json_pack("{s:s,s:o}", "object", "list", "data", data));
}

static void h_attestation(struct evhttp_request *req, const http_params *p, void *ud) {
  coord *c = ud;
  json_t *data = json_array();
  for (cnode *n = c->nodes; n; n = n->next)
    if (n->registered && !n->closing) json_array_append_new(data, node_json(n, 1));
  reply_json(c, req, 200, json_pack("{s:s,s:o}", "object", "list", "data", data));
}

static void h_metrics(struct evhttp_request *req, const http_params *p, void *ud) {
  coord *c = ud;
  buf b;
  buf_init(&b, 1 << 20);
  static const char *cls[] = {"other", "1xx", "2xx", "3xx", "4xx", "5xx"};
  buf_append_str(&b, "# TYPE gloam_http_responses_total counter\n");
  for (int i = 0; i < 6; i++)
    buf_printf(&b, "gloam_http_responses_total{class=\"%s\"} %llu\n", cls[i],
               (unsigned long long)c->m.http_requests[i]);
  buf_append_str(&b, "# TYPE gloam_http_requests_total counter\n");
  for (int st = 100; st < COORD_STATUS_MAX; st++)
    if (c->m.by_status[st])
      buf_printf(&b, "gloam_http_requests_total{code=\"%d\"} %llu\n", st,
                 (unsigned long long)c->m.by_status[st]);
  buf_append_str(&b, "# TYPE gloam_chat_latency_seconds histogram\n");
  uint64_t cum = 0;
  for (int i = 0; i < COORD_LAT_BUCKETS; i++) {
    cum += c->m.lat_bucket[i];
    buf_printf(&b, "gloam_chat_latency_seconds_bucket{le=\"%g\"} %llu\n",
               coord_lat_bounds_ms[i] / 1000.0, (unsigned long long)cum);
  }
  buf_printf(&b,
             "gloam_chat_latency_seconds_bucket{le=\"+Inf\"} %llu\n"
             "gloam_chat_latency_seconds_sum %.3f\ngloam_chat_latency_seconds_count %llu\n",
             (unsigned long long)c->m.latency_count, (double)c->m.latency_ms_sum / 1000.0,
             (unsigned long long)c->m.latency_count);
  buf_printf(&b, "# TYPE gloam_errors_total counter\ngloam_errors_total %llu\n",
             (unsigned long long)(c->m.http_requests[5] + c->m.chat_failed));
  int64_t inflight = 0, slots = 0;
  for (cnode *n = c->nodes; n; n = n->next) {
    inflight += n->n_jobs;
    slots += n->registered ? n->max_slots : 0;
  }
  buf_printf(&b,
             "# TYPE gloam_chat_requests_total counter\n"
             "gloam_chat_requests_total{outcome=\"ok\"} %llu\n"
             "gloam_chat_requests_total{outcome=\"failed\"} %llu\n"
             "gloam_chat_requests_total{outcome=\"rejected\"} %llu\n"
             "# TYPE gloam_nodes gauge\ngloam_nodes %d\n"
             "# TYPE gloam_slots gauge\ngloam_slots %lld\n"
             "# TYPE gloam_inflight_jobs gauge\ngloam_inflight_jobs %lld\n"
             "# TYPE gloam_queue_depth gauge\ngloam_queue_depth %d\n"
             "# TYPE gloam_frames_relayed_total counter\ngloam_frames_relayed_total %llu\n"
             "# TYPE gloam_bytes_relayed_total counter\ngloam_bytes_relayed_total %llu\n"
             "# TYPE gloam_tokens_total counter\n"
             "gloam_tokens_total{kind=\"prompt\"} %llu\n"
             "gloam_tokens_total{kind=\"completion\"} %llu\n"
             "# TYPE gloam_receipts_invalid_total counter\ngloam_receipts_invalid_total %llu\n"
             "# TYPE gloam_nodes_evicted_total counter\ngloam_nodes_evicted_total %llu\n"
             "# TYPE gloam_ledger_queue_depth gauge\ngloam_ledger_queue_depth %llu\n"
             "# TYPE gloam_ledger_inline_total counter\ngloam_ledger_inline_total %llu\n"
             "# TYPE gloam_chat_latency_ms summary\n"
             "gloam_chat_latency_ms_sum %llu\ngloam_chat_latency_ms_count %llu\n",
             (unsigned long long)c->m.chat_ok, (unsigned long long)c->m.chat_failed,
             (unsigned long long)c->m.chat_rejected, c->n_nodes, (long long)slots,
             (long long)inflight, c->n_pend, (unsigned long long)c->m.frames_relayed,
             (unsigned long long)c->m.bytes_relayed, (unsigned long long)c->m.prompt_tokens,
             (unsigned long long)c->m.completion_tokens, (unsigned long long)c->m.receipts_invalid,
             (unsigned long long)c->m.nodes_evicted,
             (unsigned long long)(c->wq ? net_workq_pending(c->wq) : 0),
             (unsigned long long)c->m.workq_rejected, (unsigned long long)c->m.latency_ms_sum,
             (unsigned long long)c->m.latency_count);
  coord_count_status(c, 200);
  http_send_text(req, 200, "text/plain; version=0.0.4", (const char *)b.data, b.len);
  buf_deinit(&b);
}

static void h_balance(struct evhttp_request *req, const http_params *p, void *ud) {
  coord *c = ud;
  int64_t acct, bal = 0;
  if (coord_auth_consumer(c, req, &acct) < 0) return;
  if (coord_store_balance(c->store, acct, &bal) < 0) {
    coord_count_status(c, 500);
    http_send_error(req, 500, NULL, NULL, NULL, "Cannot read the balance.");
    return;
  }
  reply_json(c, req, 200,
             json_pack("{s:s,s:I,s:I}", "object", "balance", "account", (json_int_t)acct,
                       "balance_micro_usd", (json_int_t)bal));
}

static void h_usage(struct evhttp_request *req, const http_params *p, void *ud) {
  coord *c = ud;
  int64_t acct;
  json_t *arr;
  if (coord_auth_consumer(c, req, &acct) < 0) return;
  if (coord_store_usage(c->store, acct, 100, &arr) < 0) {
    coord_count_status(c, 500);
    http_send_error(req, 500, NULL, NULL, NULL, "Cannot read usage.");
    return;
  }
  reply_json(c, req, 200, json_pack("{s:s,s:o}", "object", "list", "data", arr));
}

static void h_earnings(struct evhttp_request *req, const http_params *p, void *ud) {
  coord *c = ud;
  const char *tok;
  size_t tok_len;
  uint8_t hash[32];
  int64_t op = 0, earned = 0, n = 0, bal = 0;
  const char *auth = evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization");
  if (coord_creds_from_header(auth, 1, "gnt_", &tok, &tok_len) < 0 ||
      coord_creds_hash(tok, tok_len, hash) < 0 ||
      coord_store_node_token_lookup(c->store, hash, &op) < 0) {
    coord_count_status(c, 401);
    http_send_error(req, 401, NULL, "invalid_node_token", NULL,
                    "An operator node token is required (Authorization: Bearer gnt_...).");
    return;
  }
  if (coord_store_earnings(c->store, op, &earned, &n) < 0 ||
      coord_store_balance(c->store, op, &bal) < 0) {
    coord_count_status(c, 500);
    http_send_error(req, 500, NULL, NULL, NULL, "Cannot read earnings.");
    return;
  }
  reply_json(c, req, 200,
             json_pack("{s:s,s:I,s:I,s:I,s:I}", "object", "earnings", "account", (json_int_t)op,
                       "earned_micro_usd", (json_int_t)earned, "requests", (json_int_t)n,
                       "balance_micro_usd", (json_int_t)bal));
}

/* Counts the router's own 404/405 answers too (handlers count theirs). */
static void gencb(struct evhttp_request *req, void *ud) {
  coord *c = ud;
  const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
  const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
  http_handler h;
  void *hud;
  http_params params;
  unsigned allowed;
  enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
  unsigned m = cmd == EVHTTP_REQ_GET       ? HTTP_GET
               : cmd == EVHTTP_REQ_POST    ? HTTP_POST
               : cmd == EVHTTP_REQ_DELETE  ? HTTP_DELETE
               : cmd == EVHTTP_REQ_OPTIONS ? HTTP_OPTIONS
                                           : 0;
  int rc = path ? http_router_match(c->router, m, path, &h, &hud, &params, &allowed) : GLOAM_ENOENT;
  /* the router answers these itself; count them here */
  if (rc == GLOAM_ENOENT) coord_count_status(c, 404);
  if (rc == GLOAM_EPERM) coord_count_status(c, 405);
  http_router_evhttp_cb(req, c->router);
}

static void h_messages(struct evhttp_request *req, const http_params *p, void *ud) {
  coord_anthropic_messages(req, ud);
}

static void h_node_connect(struct evhttp_request *req, const http_params *p, void *ud) {
  coord_node_connect_handler(req, ud);
}

/* POST /v1/completions and /v1/embeddings. The node protocol's job carries
 * endpoint "chat/completions" only and a node's register message declares
 * no other capability, so no served model can take a raw prompt or embed:
 * wrapping a prompt as a chat message would silently change what a
 * completion model computes. An unknown model is OpenAI's 404
 * model_not_found; a known one gets an OpenAI-format 400 naming the model
 * (docs/coordinator.md). */
static void unsupported_endpoint(struct evhttp_request *req, coord *c, const char *what) {
  int64_t acct;
  if (coord_auth_consumer(c, req, &acct) < 0) return;
  char err[GLOAM_ERR_LEN];
  json_t *body = NULL;
  int rc = http_json_body(req, c->cfg.max_body_bytes, 64, &body, err);
  if (rc < 0) {
    int st = rc == GLOAM_ETOOBIG ? 413 : 400;
    coord_count_status(c, st);
    http_send_error(req, st, NULL, NULL, NULL, "%s", err);
    return;
  }
  const char *model = json_string_value(json_object_get(body, "model"));
  if (!model || !model[0]) {
    coord_count_status(c, 400);
    http_send_error(req, 400, NULL, NULL, "model", "you must provide a model parameter");
  } else if (!coord_chat_model_served(c, model)) {
    coord_count_status(c, 404);
    http_send_error(req, 404, NULL, "model_not_found", "model",
                    "The model `%.128s` does not exist or you do not have access to it.", model);
  } else if (strcmp(what, "completions") == 0) {
    coord_count_status(c, 400);
    http_send_error(req, 400, NULL, NULL, "model",
                    "model %.128s does not support /v1/completions; use /v1/chat/completions",
                    model);
  } else {
    coord_count_status(c, 400);
    http_send_error(req, 400, NULL, NULL, "model",
                    "model %.128s does not support /v1/embeddings: no served model can embed",
                    model);
  }
  json_decref(body);
}

static void h_completions(struct evhttp_request *req, const http_params *p, void *ud) {
  unsupported_endpoint(req, ud, "completions");
}

static void h_embeddings(struct evhttp_request *req, const http_params *p, void *ud) {
  unsupported_endpoint(req, ud, "embeddings");
}

static void h_chat(struct evhttp_request *req, const http_params *p, void *ud) {
  coord *c = ud;
  int64_t acct;
  if (coord_auth_consumer(c, req, &acct) < 0) return;
  const char *ct = evhttp_find_header(evhttp_request_get_input_headers(req), "Content-Type");
  if (ct && strncmp(ct, "application/gloam-sealed", 24) == 0) {
    coord_chat_sealed(req, c, acct);
    return;
  }
  coord_chat_plain(req, c, acct);
}

static void h_audio(struct evhttp_request *req, void *ud, bool translate) {
  int64_t acct;
  if (coord_auth_consumer(ud, req, &acct) == 0) coord_speech_handle(req, ud, acct, translate);
}

static void h_transcriptions(struct evhttp_request *req, const http_params *p, void *ud) {
  h_audio(req, ud, false);
}

static void h_translations(struct evhttp_request *req, const http_params *p, void *ud) {
  h_audio(req, ud, true);
}

static void h_images(struct evhttp_request *req, const http_params *p, void *ud) {
  int64_t acct;
  if (coord_auth_consumer(ud, req, &acct) == 0) coord_image_handle(req, ud, acct);
}

/* ---- lifecycle ------------------------------------------------------------ */

static void on_sweep(evutil_socket_t fd, short what, void *ud) {
  coord_node_sweep(ud, time_mono_ms());
  coord_queue_sweep(ud, time_mono_ms());
}

static void on_stop(evutil_socket_t fd, short what, void *ud) {
  coord *c = ud;
  char b[16];
  ssize_t r = read(fd, b, sizeof b);
  (void)r;
  event_base_loopbreak(c->base);
}

void coord_stop(coord *c) {
  ssize_t w = write(c->stop_pipe[1], "x", 1);
  (void)w;
}

int coord_port(const coord *c) {
  return c->port;
}

int coord_new(coord **out, struct event_base *base, const coord_config *cfg, char *err) {
  *out = NULL;
  if (cfg->fee_bps < 0 || cfg->fee_bps > 10000)
    return err_set(err, GLOAM_EINVAL, "fee must be 0..10000 basis points");
  coord *c = mem_calloc(1, sizeof *c);
  if (!c) return err_set(err, GLOAM_ENOMEM, "out of memory");
  c->cfg = *cfg;
  c->base = base;
  c->stop_pipe[0] = c->stop_pipe[1] = -1;
  int rc = coord_store_open(&c->store, cfg->db_path, err);
  if (rc < 0) goto fail;
  int n_refunded = 0;
  rc = coord_store_refund_all_reserved(c->store, &n_refunded);
  if (rc < 0) {
    err_set(err, rc, "%s", coord_store_errmsg(c->store));
    goto fail;
  }
  if (n_refunded) log_event(LOG_WARN, "ledger.recovered", "refunded", "open reservations");
  rc = coord_ledger_init(c, err);
  if (rc == 0) rc = coord_attest_init(c, err);
  if (rc < 0) goto fail;
  net_http_limits lim = NET_HTTP_LIMITS_DEFAULT;
  lim.max_body_bytes =
      cfg->max_upload_bytes > cfg->max_body_bytes ? cfg->max_upload_bytes : cfg->max_body_bytes;
  lim.timeout_s = cfg->http_timeout_s;
  rc = net_http_new(base, cfg->listen, &lim, &c->http, &c->port, err);
  if (rc < 0) goto fail;
  if (cfg->tls_cert || cfg->tls_key) {
    if (!cfg->tls_cert || !cfg->tls_key) {
      rc = err_set(err, GLOAM_EINVAL, "TLS needs both a certificate and a key");
      goto fail;
    }
    rc = net_tls_server_ctx(&c->tls, cfg->tls_cert, cfg->tls_key, err);
    if (rc < 0) goto fail;
    net_http_use_tls(c->http, c->tls);
  }
  rc = http_router_new(&c->router);
  if (rc < 0) goto fail;
  struct {
    unsigned m;
    const char *pat;
    http_handler h;
  } routes[] = {
      {HTTP_GET, "/health", h_health},
      {HTTP_GET, "/v1/models", h_models},
      {HTTP_GET, "/v1/models/{id*}", h_model},
      {HTTP_GET, "/v1/nodes", h_nodes},
      {HTTP_GET, "/v1/providers/attestation", h_attestation},
      {HTTP_GET, "/metrics", h_metrics},
      {HTTP_GET, "/v1/balance", h_balance},
      {HTTP_GET, "/v1/usage", h_usage},
      {HTTP_GET, "/v1/operator/earnings", h_earnings},
      {HTTP_GET, "/v1/node/connect", h_node_connect},
      {HTTP_POST, "/v1/chat/completions", h_chat},
      {HTTP_POST, "/v1/messages", h_messages},
      {HTTP_POST, "/v1/completions", h_completions},
      {HTTP_POST, "/v1/embeddings", h_embeddings},
      {HTTP_POST, "/v1/audio/transcriptions", h_transcriptions},
      {HTTP_POST, "/v1/audio/translations", h_translations},
      {HTTP_POST, "/v1/images/generations", h_images},
  };
  for (size_t i = 0; i < sizeof routes / sizeof routes[0] && rc == 0; i++)
    rc = http_router_add(c->router, routes[i].m, routes[i].pat, routes[i].h, c);
  if (rc < 0) {
    err_set(err, rc, "cannot add routes");
    goto fail;
  }
  evhttp_set_gencb(c->http, gencb, c);
  rc = coord_queue_init(c);
  if (rc < 0) {
    err_set(err, rc, "out of memory");
    goto fail;
  }
  if (pipe(c->stop_pipe) < 0) {
    rc = err_set(err, GLOAM_EIO, "pipe failed");
    goto fail;
  }
  c->stop_ev = event_new(base, c->stop_pipe[0], EV_READ | EV_PERSIST, on_stop, c);
  c->sweep = event_new(base, -1, EV_PERSIST, on_sweep, c);
  struct timeval tick = {0, 250 * 1000};
  if (!c->stop_ev || !c->sweep || event_add(c->stop_ev, NULL) < 0 ||
      event_add(c->sweep, &tick) < 0) {
    rc = err_set(err, GLOAM_ENOMEM, "event_new failed");
    goto fail;
  }
  log_line l;
  if (log_begin(&l, LOG_INFO, "coord.listening")) {
    log_int(&l, "port", c->port);
    log_int(&l, "fee_bps", cfg->fee_bps);
    log_bool(&l, "tls", c->tls != NULL);
    log_end(&l);
  }
  *out = c;
  return 0;
fail:
  coord_free(c);
  return rc;
}

void coord_free(coord *c) {
  if (!c) return;
  coord_queue_close_all(c);
  coord_node_close_all(c);  /* fails in-flight jobs (refunds) before evhttp goes */
  coord_ledger_shutdown(c); /* finishes settlements and refunds, answers their clients */
  if (c->kick) event_free(c->kick);
  if (c->sweep) event_free(c->sweep);
  if (c->stop_ev) event_free(c->stop_ev);
  if (c->http) evhttp_free(c->http);
  if (c->tls) SSL_CTX_free(c->tls);
  http_router_free(c->router);
  coord_ledger_free(c);
  coord_attest_free(c);
  coord_store_close(c->store);
  if (c->stop_pipe[0] >= 0) close(c->stop_pipe[0]);
  if (c->stop_pipe[1] >= 0) close(c->stop_pipe[1]);
  mem_free(c);
}
