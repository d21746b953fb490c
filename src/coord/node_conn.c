/* SPDX-License-Identifier: Apache-2.0
 *
 * coord/node_conn.c: the coordinator's side of a node's WebSocket
 * (docs/protocol.md): authentication, registration, challenges,
 * heartbeats, eviction, and dispatch of job messages to chat.c.
 */
#include <event2/http.h>
#include <openssl/rand.h>
#include <string.h>

#include "core/alloc.h"
#include "core/codec.h"
#include "core/err.h"
#include "core/log.h"
#include "core/time.h"
#include "coord/coord_impl.h"
#include "coord/creds.h"
#include "http/error.h"
#include "net/ws.h"

enum { CLOSE_PROTO = 4400, CLOSE_TIMEOUT = 4408, CLOSE_DUPLICATE = 4409 };

cnode *coord_node_find(coord *c, const char *id) {
  for (cnode *n = c->nodes; n; n = n->next)
    if (n->registered && !n->closing && strcmp(n->id, id) == 0) return n;
  return NULL;
}

bool coord_node_serves(const cnode *n, const char *model) {
  for (int i = 0; i < n->n_models; i++)
    if (strcmp(n->models[i].id, model) == 0) return true;
  return false;
}

int coord_node_send_json(cnode *n, json_t *msg) {
  char *s = msg ? json_dumps(msg, JSON_COMPACT) : NULL;
  json_decref(msg);
  if (!s) return GLOAM_ENOMEM;
  int rc = n->ws ? net_ws_send(n->ws, false, s, strlen(s)) : GLOAM_ECLOSED;
  free(s);
  return rc;
}

int coord_node_send_bin(cnode *n, int kind, const uint8_t job[NODE_JOB_ID_LEN], const uint8_t *p,
                        size_t len) {
  if (!n->ws) return GLOAM_ECLOSED;
  uint8_t *f = mem_alloc(len + NODE_BIN_HEADER);
  if (!f) return GLOAM_ENOMEM;
  f[0] = (uint8_t)kind;
  memcpy(f + 1, job, NODE_JOB_ID_LEN);
  memcpy(f + NODE_BIN_HEADER, p, len);
  int rc = net_ws_send(n->ws, true, f, len + NODE_BIN_HEADER);
  mem_free(f);
  return rc;
}

static void unlink_node(coord *c, cnode *n) {
  for (cnode **pp = &c->nodes; *pp; pp = &(*pp)->next)
    if (*pp == n) {
      *pp = n->next;
      c->n_nodes--;
      return;
    }
}

static void fail_jobs(cnode *n, const char *code, const char *message) {
  coord_queue_node_gone(n); /* client-sealed requests waiting for it: 503 */
  while (n->jobs) {
    cjob *j = n->jobs;
    coord_job_unlink(j); /* so a retry does not pick this node again */
    if (!coord_plain_retry(j)) coord_job_fail(j, 502, code, message, false);
  }
}

static void node_destroy(cnode *n) {
  fail_jobs(n, "node_disconnected", "The node serving this request disconnected.");
  free(n->receipt_jwk);
  gloam_receipt_key_free(n->rkey);
  coord_attest_node_gone(n);
  json_decref(n->hardware);
  mem_free(n);
}

/* Closes the connection; on_close finishes the cleanup. Jobs fail now. */
static void node_evict(cnode *n, uint16_t code, const char *why) {
  if (n->closing) return;
  n->closing = true;
  log_line l;
  if (log_begin(&l, LOG_WARN, "node.evicted")) {
    log_str(&l, "node_id", n->registered ? n->id : "(unregistered)");
    log_int(&l, "code", code);
    log_str(&l, "why", why);
    log_end(&l);
  }
  n->c->m.nodes_evicted++;
  fail_jobs(n, "node_disconnected", "The node serving this request disconnected.");
  json_t *e = json_pack("{s:s,s:i,s:s}", "type", "error", "code", code, "message", why);
  coord_node_send_json(n, e);
  net_ws_close(n->ws, code);
}

void coord_node_evict(cnode *n, uint16_t code, const char *why) {
  node_evict(n, code, why);
}

int coord_node_send_challenge(cnode *n, json_t *credential) {
  uint8_t raw[32];
  if (RAND_bytes(raw, sizeof raw) != 1) {
    json_decref(credential);
    return GLOAM_ECRYPTO;
  }
  codec_b64_encode(raw, sizeof raw, n->challenge, sizeof n->challenge, CODEC_B64_URL);
  n->challenge_pending = true;
  n->challenge_sent_ms = time_mono_ms();
  json_t *m = json_pack("{s:s,s:s}", "type", "challenge", "nonce", n->challenge);
  if (m && credential) json_object_set(m, "credential", credential);
  json_decref(credential);
  return coord_node_send_json(n, m);
}

static void on_register(cnode *n, node_msg *m) {
  coord *c = n->c;
  char err[GLOAM_ERR_LEN];
  if (n->registered) {
    node_evict(n, CLOSE_PROTO, "register sent twice");
    return;
  }
  if (coord_node_find(c, m->node_id)) {
    node_evict(n, CLOSE_DUPLICATE, "a node with this id is already connected");
    return;
  }
  if (gloam_receipt_key_parse(m->receipt_jwk, strlen(m->receipt_jwk), &n->rkey, err) < 0) {
    node_evict(n, CLOSE_PROTO, "keys.receipt.jwk is not a P-256 public key");
    return;
  }
  memcpy(n->id, m->node_id, sizeof n->id);
  memcpy(n->models, m->models, sizeof n->models);
  n->n_models = m->n_models;
  n->max_slots = m->max_slots;
  n->free_slots = m->max_slots;
  n->json_object = m->json_object;
  n->json_schema = m->json_schema;
  n->kem_id = m->kem_id;
  memcpy(n->hpke_pk, m->hpke_pk, sizeof n->hpke_pk);
  n->receipt_jwk = m->receipt_jwk;
  m->receipt_jwk = NULL;
  n->hardware = m->hardware ? json_deep_copy(m->hardware) : json_object();
  if (!n->hardware) {
    node_evict(n, 1011, "out of memory");
    return;
  }
  n->trust = "none"; /* until its first challenge_response verifies (node_attest.c) */
  n->registered = true;
  n->last_seen_ms = time_mono_ms();
  coord_node_send_json(n, json_pack("{s:s,s:s,s:i,s:i}", "type", "registered", "node_id", n->id,
                                    "heartbeat_interval_ms", c->cfg.heartbeat_interval_ms,
                                    "heartbeat_timeout_ms", c->cfg.heartbeat_timeout_ms));
  /* the first challenge is pending from now: a TPM node's waits for its
   * credential activation challenge, made on a worker */
  n->challenge[0] = 0;
  n->challenge_pending = true;
  n->challenge_sent_ms = time_mono_ms();
  coord_attest_on_register(n, m);
  log_line l;
  if (log_begin(&l, LOG_INFO, "node.registered")) {
    log_str(&l, "node_id", n->id);
    log_int(&l, "operator", n->operator_id);
    log_int(&l, "models", n->n_models);
    log_int(&l, "slots", n->max_slots);
    log_end(&l);
  }
}

static cjob *job_of(cnode *n, const uint8_t id[NODE_JOB_ID_LEN]) {
  for (cjob *j = n->jobs; j; j = j->next)
    if (memcmp(j->id, id, NODE_JOB_ID_LEN) == 0) return j;
  return NULL;
}

static void on_text(cnode *n, const uint8_t *data, size_t len) {
  char err[GLOAM_ERR_LEN];
  node_msg m;
  if (coord_node_msg_parse(data, len, &m, err) < 0) {
    node_evict(n, CLOSE_PROTO, err);
    return;
  }
  n->last_seen_ms = time_mono_ms();
  if (m.type != NODE_MSG_REGISTER && !n->registered) {
    node_evict(n, CLOSE_PROTO, "the first message must be register");
    coord_node_msg_free(&m);
    return;
  }
  cjob *j;
  switch (m.type) {
    case NODE_MSG_REGISTER:
      on_register(n, &m);
      break;
    case NODE_MSG_CHALLENGE_RESPONSE:
      if (!n->challenge_pending || !n->challenge[0] || strcmp(m.nonce, n->challenge) != 0) {
        node_evict(n, CLOSE_PROTO, "challenge response does not match");
        break;
      }
      n->challenge_pending = false;
      n->challenge_ok_ms = time_mono_ms();
      coord_attest_on_response(n, &m);
      break;
    case NODE_MSG_HEARTBEAT:
      n->load = m.load;
      n->free_slots = m.free_slots;
      if (m.max_slots > 0) n->max_slots = m.max_slots;
      n->prefill_tps = m.prefill_tps;
      n->decode_tps = m.decode_tps;
      break;
    case NODE_MSG_JOB_DONE:
      if ((j = job_of(n, m.job))) coord_job_on_done(j, &m);
      break;
    case NODE_MSG_JOB_ERROR:
      if ((j = job_of(n, m.job))) coord_job_on_error(j, m.code, m.message);
      break;
    case NODE_MSG_DRAIN:
      n->draining = true;
      coord_queue_node_gone(n);
      break;
  }
  coord_node_msg_free(&m);
}

static void on_message(net_ws *ws, bool binary, const uint8_t *data, size_t len, void *ud) {
  cnode *n = ud;
  if (!binary) {
    on_text(n, data, len);
    return;
  }
  int kind;
  uint8_t id[NODE_JOB_ID_LEN];
  const uint8_t *p;
  size_t pl;
  if (!n->registered || coord_node_bin_parse(data, len, &kind, id, &p, &pl) < 0 ||
      kind != NODE_BIN_FRAME) {
    node_evict(n, CLOSE_PROTO, "unexpected binary frame");
    return;
  }
  n->last_seen_ms = time_mono_ms();
  cjob *j = job_of(n, id);
  if (j) coord_job_on_frame(j, p, pl); /* frames of canceled jobs are dropped */
}

static void on_close(net_ws *ws, int status, void *ud) {
  cnode *n = ud;
  log_line l;
  if (log_begin(&l, LOG_INFO, "node.disconnected")) {
    log_str(&l, "node_id", n->registered ? n->id : "(unregistered)");
    log_int(&l, "status", status);
    log_end(&l);
  }
  n->ws = NULL;
  unlink_node(n->c, n);
  node_destroy(n);
}

static const net_ws_callbacks ws_cb = {NULL, on_message, on_close};

void coord_node_connect_handler(struct evhttp_request *req, coord *c) {
  struct evkeyvalq *h = evhttp_request_get_input_headers(req);
  const char *tok;
  size_t tok_len;
  uint8_t hash[32];
  int64_t op = 0;
  if (coord_creds_from_header(evhttp_find_header(h, "Authorization"), 1, "gnt_", &tok, &tok_len) <
          0 ||
      coord_creds_hash(tok, tok_len, hash) < 0 ||
      coord_store_node_token_lookup(c->store, hash, &op) < 0) {
    http_send_error(req, 401, NULL, "invalid_node_token", NULL,
                    "A valid operator node token is required (Authorization: Bearer gnt_...).");
    coord_count_status(c, 401);
    return;
  }
  cnode *n = mem_calloc(1, sizeof *n);
  if (!n) {
    http_send_error(req, 500, NULL, NULL, NULL, "Out of memory.");
    return;
  }
  n->c = c;
  n->operator_id = op;
  n->trust = "none";
  n->connected_ms = n->last_seen_ms = time_mono_ms();
  net_ws_config wc = NET_WS_CONFIG_DEFAULT;
  wc.max_msg_bytes = c->cfg.max_body_bytes + NODE_BIN_HEADER + 1024;
  if (wc.max_msg_bytes < NODE_REGISTER_MAX) wc.max_msg_bytes = NODE_REGISTER_MAX;
  wc.max_out_bytes = c->cfg.node_max_queued;
  wc.idle_timeout_s = c->cfg.heartbeat_timeout_ms / 1000 + 5;
  char err[GLOAM_ERR_LEN];
  if (net_ws_accept(req, &wc, &ws_cb, n, &n->ws, err) < 0) {
    mem_free(n);
    http_send_error(req, 400, NULL, "websocket_required", NULL, "%s", err);
    coord_count_status(c, 400);
    return;
  }
  coord_count_status(c, 101);
  n->next = c->nodes;
  c->nodes = n;
  c->n_nodes++;
}

void coord_node_sweep(coord *c, uint64_t now) {
  cnode *next;
  for (cnode *n = c->nodes; n; n = next) {
    next = n->next;
    if (!n->ws || n->closing) continue;
    if (!n->registered) {
      if (now - n->connected_ms > (uint64_t)c->cfg.register_timeout_ms)
        node_evict(n, CLOSE_TIMEOUT, "no register message in time");
      continue;
    }
    if (now - n->last_seen_ms > (uint64_t)c->cfg.heartbeat_timeout_ms) {
      node_evict(n, CLOSE_TIMEOUT, "heartbeat timeout");
      continue;
    }
    if (n->challenge_pending &&
        now - n->challenge_sent_ms > (uint64_t)c->cfg.challenge_timeout_ms) {
      node_evict(n, CLOSE_TIMEOUT, "challenge timeout");
      continue;
    }
    if (!n->challenge_pending &&
        now - n->challenge_sent_ms > (uint64_t)c->cfg.challenge_interval_ms)
      coord_node_send_challenge(n, NULL);
    cjob *jn;
    for (cjob *j = n->jobs; j; j = jn) {
      jn = j->next;
      if (now - j->start_ms > (uint64_t)c->cfg.job_timeout_ms)
        coord_job_fail(j, 504, "timeout", "The node did not finish in time.", true);
    }
  }
}

void coord_node_close_all(coord *c) {
  while (c->nodes) {
    cnode *n = c->nodes;
    c->nodes = n->next;
    c->n_nodes--;
    if (n->ws) net_ws_free(n->ws);
    n->ws = NULL;
    node_destroy(n);
  }
}
