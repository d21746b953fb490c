/* SPDX-License-Identifier: Apache-2.0
 *
 * coord/chat_plain.c: POST /v1/chat/completions in coordinator-sealed mode:
 * a plain OpenAI request over (in production) TLS. The coordinator validates
 * it, picks a node, seals the body to that node's key as a client would,
 * opens the node's sealed stream and answers in OpenAI's format, with a
 * `gloam` object (mode, node, trust, receipt) in the JSON body or in the
 * last SSE chunk. The coordinator sees the plaintext in this mode, which
 * the Gloam-Mode header says; it never logs or stores it.
 *
 * The node's plaintext is its OpenAI output (docs/sealing.md §4): SSE
 * events for stream=true (the coordinator drops the node's own
 * `data: [DONE]` and adds the gloam chunk before its own), one JSON
 * chat.completion object otherwise.
 */
#include <event2/buffer.h>
#include <event2/http.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/time.h"
#include "coord/admit.h"
#include "coord/anthropic.h"
#include "coord/chat_req.h"
#include "coord/coord_impl.h"
#include "gloam/attest.h"
#include "http/error.h"
#include "http/sse.h"

#define PLAIN_MAX_ANSWER (8u << 20)
#define DONE_EVENT "data: [DONE]\n\n"

static int trust_rank(const char *t) {
  gloam_trust v;
  return gloam_trust_parse(t, &v) == 0 ? (int)v : -1;
}

/* The request's minimum trust: Gloam-Min-Trust header or {"gloam":{"min_trust":..}}. */
int coord_plain_min_trust(struct evhttp_request *req, json_t *root) {
  const char *h = evhttp_find_header(evhttp_request_get_input_headers(req), "Gloam-Min-Trust");
  const char *f = json_string_value(json_object_get(json_object_get(root, "gloam"), "min_trust"));
  const char *t = h ? h : f ? f : "none";
  return trust_rank(t);
}

static bool format_ok(const cnode *n, enum chat_format f) {
  return f == CHAT_FORMAT_TEXT || (f == CHAT_FORMAT_JSON_OBJECT && n->json_object) ||
         (f == CHAT_FORMAT_JSON_SCHEMA && n->json_schema);
}

/* Routing: among nodes that serve the model, meet the trust level and
 * enforce the response format, the one with the smallest estimated time to
 * finish: queued jobs plus this one, over measured decode throughput. */
static bool tried(const cjob *j, const cnode *n) {
  for (int i = 0; j && i < j->n_tried; i++)
    if (strcmp(j->tried[i], n->id) == 0) return true;
  return false;
}

static cnode *pick(coord *c, const char *model, enum chat_format format, int need, const cjob *j,
                   int *out_status, const char **out_code) {
  cnode *best = NULL;
  double best_score = 0;
  bool trust_ok = false, fmt_ok = false;
  for (cnode *n = c->nodes; n; n = n->next) {
    if (!n->registered || n->closing || n->draining || !coord_node_serves(n, model) || tried(j, n))
      continue;
    if (trust_rank(n->trust) < need || !coord_attest_routable(n)) continue;
    trust_ok = true;
    if (!format_ok(n, format)) continue;
    fmt_ok = true;
    if (n->n_jobs + n->n_admitting >= n->max_slots) continue;
    double tps = n->decode_tps > 1 ? n->decode_tps : 1;
    double score = (n->n_jobs + n->n_admitting + 1) / tps;
    if (!best || score < best_score) {
      best = n;
      best_score = score;
    }
  }
  if (!best) {
    *out_status = !trust_ok ? 503 : !fmt_ok ? 400 : 429;
    *out_code = !trust_ok ? "no_trusted_node"
                : !fmt_ok ? "unsupported_response_format"
                          : "no_capacity";
  }
  return best;
}

cnode *coord_plain_pick(coord *c, const char *model, int format, int need) {
  int status;
  const char *code;
  return pick(c, model, (enum chat_format)format, need, NULL, &status, &code);
}

cnode *coord_plain_pick_why(coord *c, const char *model, int format, int need, int *out_status,
                            const char **out_code) {
  return pick(c, model, (enum chat_format)format, need, NULL, out_status, out_code);
}

void coord_chat_plain(struct evhttp_request *req, coord *c, int64_t account) {
  coord_chat_plain_handle(req, c, account, false, API_OPENAI);
}

/* Why no node fits, as the client is told. */
static const char *no_node_message(int status) {
  return status == 400   ? "No node serving this model enforces this response_format."
         : status == 503 ? "No node serving this model meets the requested trust level."
                         : "All nodes serving this model are busy.";
}

int coord_chat_plain_handle(struct evhttp_request *req, coord *c, int64_t account, bool from_queue,
                            int api) {
  int ret = 0;
  struct evbuffer *in = evhttp_request_get_input_buffer(req);
  size_t len = evbuffer_get_length(in);
  const char *body = len ? (const char *)evbuffer_pullup(in, (ev_ssize_t)len) : "";
  chat_req r;
  chat_req_error e;
  if (coord_chat_req_parse(body, len, c->cfg.max_json_bytes, &r, &e) < 0) {
    coord_chat_reject_api(c, req, api, e.status, e.code, e.param[0] ? e.param : NULL, e.message);
    return 0;
  }
  cjob *j = NULL;
  int need = coord_plain_min_trust(req, r.root);
  if (need < 0) {
    coord_chat_reject_api(c, req, api, 400, "invalid_value", "min_trust",
                          "min_trust must be none, software, tpm, measured or confidential.");
    goto out;
  }
  if (!coord_chat_model_served(c, r.model)) {
    coord_chat_reject_api(c, req, api, 404, "model_not_found", "model",
                          "The model does not exist or is not served right now.");
    goto out;
  }
  int status = 0;
  const char *code = NULL;
  cnode *n = pick(c, r.model, r.response_format, need, NULL, &status, &code);
  if (!n && status == 429 && !from_queue &&
      coord_queue_add(c, req, account, r.model, (int)r.response_format, need, api) == 0)
    goto out; /* waits for a slot (queue.c) */
  if (!n) {
    coord_chat_reject_api(c, req, api, status, code, status == 400 ? "response_format" : NULL,
                          no_node_message(status));
    goto out;
  }
  int64_t in_p, out_p;
  if (coord_store_price_get(c->store, r.model, &in_p, &out_p) < 0) {
    coord_chat_reject_api(c, req, api, 404, "model_not_found", "model",
                          "The model is not offered (no price).");
    goto out;
  }
  j = mem_calloc(1, sizeof *j);
  if (!j || RAND_bytes(j->id, sizeof j->id) != 1 || !(j->plain = mem_dup(body, len))) {
    coord_chat_reject_api(c, req, api, 500, "internal", NULL, "Out of memory.");
    goto out;
  }
  j->c = c;
  coord_node_job_hex(j->id, j->id_hex);
  j->account = account;
  j->plain_len = len;
  j->need_trust = need;
  j->api = api;
  j->format = (int)r.response_format;
  j->from_queue = from_queue;
  snprintf(j->model, sizeof j->model, "%s", r.model);
  j->max_output_tokens = r.max_tokens ? r.max_tokens : c->cfg.default_max_tokens;
  j->body_len = (uint32_t)len;
  j->in_price = in_p;
  j->out_price = out_p;
  j->stream = r.stream;
  j->include_usage = r.include_usage;
  j->reserved = coord_chat_cost((int64_t)len, j->max_output_tokens, in_p, out_p);
  j->start_ms = time_mono_ms();
  coord_admit_reserve(j, req, n, NULL, coord_plain_place); /* takes j */
  j = NULL;
out:
  if (j) coord_job_free(j);
  coord_chat_req_free(&r);
  return ret;
}

/* Seals j->plain to n as a client would (a fresh request id and sealing
 * client, kept in j for opening the answer and checking the receipt). */
static int seal_to(cjob *j, const cnode *n, uint8_t **env, size_t *env_len) {
  gloam_seal_header h;
  memset(&h, 0, sizeof h);
  snprintf(h.model, sizeof h.model, "%s", j->model);
  snprintf(h.node_id, sizeof h.node_id, "%s", n->id);
  snprintf(h.endpoint, sizeof h.endpoint, "%s", j->endpoint ? j->endpoint : "chat/completions");
  h.max_output_tokens = j->endpoint ? 0 : j->max_output_tokens;
  h.audio_ms = j->audio_ms;
  h.n_images = j->n_images;
  gloam_seal_client *sc = NULL;
  char err[GLOAM_ERR_LEN];
  int rc = gloam_seal_request(&h, n->hpke_pk, sizeof n->hpke_pk, j->plain, j->plain_len, env,
                              env_len, &sc, err);
  if (rc < 0) return rc;
  gloam_seal_client_free(j->sc);
  j->sc = sc;
  memcpy(j->request_id, h.request_id, sizeof j->request_id);
  unsigned md_len = 0;
  EVP_Digest(*env, *env_len, j->env_sha256, &md_len, EVP_sha256(), NULL);
  return 0;
}

void coord_plain_place(cjob *j, struct evhttp_request *req) {
  coord *c = j->c;
  int status = 0;
  const char *code = NULL;
  cnode *n = pick(c, j->model, (enum chat_format)j->format, j->need_trust, NULL, &status, &code);
  if (!n && status == 429 && !j->endpoint && !j->from_queue) {
    /* the free slot seen at admission was taken meanwhile: wait in the
     * queue as if it had been full then (nothing stays reserved) */
    coord_ledger_refund(c, j->id_hex, "queued");
    if (coord_queue_add(c, req, j->account, j->model, j->format, j->need_trust, j->api) == 0) {
      coord_job_free(j);
      return;
    }
    coord_chat_reject_api(c, req, j->api, status, code, NULL, no_node_message(status));
    coord_job_free(j);
    return;
  }
  if (!n) {
    coord_admit_unwind(j, req, code, status, code, status == 400 ? "response_format" : NULL,
                       no_node_message(status));
    return;
  }
  uint8_t *env = NULL;
  size_t env_len = 0;
  if (seal_to(j, n, &env, &env_len) < 0) {
    coord_admit_unwind(j, req, "seal_failed", 500, "internal", NULL, "Cannot seal the request.");
    return;
  }
  int rc = coord_job_dispatch(j, n, req, env, env_len, "coordinator-sealed");
  gloam_seal_free(env, env_len);
  if (rc < 0) {
    coord_admit_unwind(j, req, "node_send_failed", 503, "node_unavailable", NULL,
                       "The node cannot take the request now.");
    return;
  }
  coord_chat_log_job(j,
                     j->n_images   ? "image.admitted"
                     : j->endpoint ? "speech.admitted"
                                   : "chat.admitted",
                     "reserved", 0);
}

bool coord_plain_retry(cjob *j) {
  coord *c = j->c;
  if (!j->sc || !j->req || j->sse || (j->acc && j->acc->len) || j->n_tried >= 3) return false;
  int status;
  const char *code;
  cnode *n = pick(c, j->model, (enum chat_format)j->format, j->need_trust, j, &status, &code);
  if (!n) return false;
  uint8_t *env = NULL;
  size_t env_len = 0;
  if (seal_to(j, n, &env, &env_len) < 0) return false;
  if (j->node && !j->node->closing)
    coord_node_send_json(j->node, json_pack("{s:s,s:s,s:s}", "type", "cancel", "job", j->id_hex,
                                            "reason", "retried_elsewhere"));
  coord_job_unlink(j);
  j->n_frames = 0;
  j->got_final = false;
  int rc = coord_job_dispatch(j, n, j->req, env, env_len, "coordinator-sealed");
  gloam_seal_free(env, env_len);
  if (rc < 0) return false;
  coord_chat_log_job(j, "chat.retried", n->id, 0);
  return true;
}

int coord_plain_start_stream(cjob *j) {
  coord_chat_stop_watch(j);
  coord_chat_add_headers(j);
  evhttp_connection_set_closecb(j->evcon, NULL, NULL);
  if (http_sse_start(j->req, 200, j->c->cfg.sse_max_queued, coord_chat_on_sse_gone, j, &j->sse) <
      0) {
    j->req = NULL;
    return GLOAM_ECLOSED;
  }
  coord_count_status(j->c, 200);
  return 0;
}

/* Removes every exact "data: [DONE]\n\n" from p[0..*n). */
static void strip_done(uint8_t *p, size_t *n) {
  size_t dl = sizeof DONE_EVENT - 1;
  uint8_t *hit;
  while ((hit = memmem(p, *n, DONE_EVENT, dl))) {
    memmove(hit, hit + dl, *n - (size_t)(hit - p) - dl);
    *n -= dl;
  }
}

void coord_plain_on_frame(cjob *j, const uint8_t *frame, size_t len) {
  coord *c = j->c;
  size_t cap = len > GLOAM_SEAL_FRAME_OVERHEAD ? len - GLOAM_SEAL_FRAME_OVERHEAD : 1;
  uint8_t *pt = mem_alloc(cap);
  size_t ptl = 0;
  int fin = 0;
  if (!pt || gloam_seal_client_open(j->sc, frame, len, pt, cap, &ptl, &fin) < 0) {
    mem_free(pt);
    coord_job_fail(j, 502, "bad_node_stream", "The node's stream did not open.", true);
    return;
  }
  if (fin) j->got_final = true;
  j->n_frames++;
  c->m.frames_relayed++;
  c->m.bytes_relayed += len;
  int rc = 0;
  if (j->stream && j->api == API_ANTHROPIC) {
    if (ptl && j->req && !j->sse) rc = coord_plain_start_stream(j);
    if (ptl && rc == 0 && j->sse) rc = coord_ant_stream_feed(j, pt, ptl);
  } else if (j->stream) {
    strip_done(pt, &ptl);
    if (ptl && j->req && !j->sse) rc = coord_plain_start_stream(j);
    if (ptl && rc == 0 && j->sse) rc = http_sse_send_raw(j->sse, pt, ptl);
  } else if (ptl) {
    if (!j->acc) {
      j->acc = mem_calloc(1, sizeof *j->acc);
      if (j->acc) buf_init(j->acc, PLAIN_MAX_ANSWER);
    }
    rc = j->acc ? buf_append(j->acc, pt, ptl) : GLOAM_ENOMEM;
  }
  mem_free(pt);
  if (rc == GLOAM_EAGAIN)
    coord_job_fail(j, 503, "slow_client", "The client is not reading fast enough.", true);
  else if (rc < 0)
    coord_job_fail(j, 502, "bad_node_output", "The node's answer could not be relayed.", true);
}

void coord_plain_on_done(cjob *j, const char *receipt, int64_t prompt_tokens,
                         int64_t completion_tokens, int64_t cost, json_t *body) {
  if (!j->req) {
    json_decref(body);
    return;
  }
  json_t *g = json_pack("{s:s,s:s,s:s,s:s,s:s,s:I}", "mode", "coordinator-sealed", "node",
                        j->node_id, "trust", j->node_trust, "job", j->id_hex, "receipt", receipt,
                        "charged_micro_usd", (json_int_t)cost);
  if (!j->stream && j->api == API_ANTHROPIC) {
    json_t *a = coord_anthropic_from_completion(body, j->id_hex, j->model, prompt_tokens,
                                                completion_tokens);
    json_decref(body);
    body = a;
  }
  if (!j->stream) {
    json_object_set_new(body, "gloam", g);
    coord_chat_add_headers(j);
    coord_chat_stop_watch(j);
    evhttp_connection_set_closecb(j->evcon, NULL, NULL);
    coord_count_status(j->c, 200);
    http_send_json(j->req, 200, body);
    j->req = NULL;
    return;
  }
  json_decref(body);
  if (!j->sse && coord_plain_start_stream(j) < 0) {
    json_decref(g);
    return;
  }
  if (j->api == API_ANTHROPIC) {
    coord_ant_stream_finish(j, prompt_tokens, completion_tokens, g);
    http_sse_end(j->sse);
    j->sse = NULL;
    j->req = NULL;
    return;
  }
  json_t *chunk =
      json_pack("{s:s,s:s,s:I,s:s,s:[],s:o}", "id", j->id_hex, "object", "chat.completion.chunk",
                "created", (json_int_t)time_wall_s(), "model", j->model, "choices", "gloam", g);
  char *s = chunk ? json_dumps(chunk, JSON_COMPACT) : NULL;
  json_decref(chunk);
  if (s) http_sse_send(j->sse, NULL, s, strlen(s));
  free(s);
  http_sse_send(j->sse, NULL, "[DONE]", 6);
  http_sse_end(j->sse);
  j->sse = NULL;
  j->req = NULL;
}
