/* SPDX-License-Identifier: Apache-2.0
 *
 * coord/chat.c: POST /v1/chat/completions in client-sealed mode.
 *
 * The body is the client's sealed envelope (docs/sealing.md). The
 * coordinator reads only its cleartext header (model, node, token limit,
 * request id), reserves the maximum cost (on a worker: admit.h), forwards
 * the envelope to the named node (waiting in queue.c while that node is
 * full; it cannot go to another node), relays the node's sealed frames to the
 * client as SSE events without opening them, and settles from the node's
 * signed receipt after checking it. Nothing is charged for a request that
 * fails; see docs/coordinator.md for the event format.
 *
 * Lifetime of a job: admitted (reserved, sent to node, client connection
 * watched) -> streaming (SSE started at the first frame) -> finished by
 * exactly one of coord_job_on_done, coord_job_on_error, coord_job_fail or the client leaving;
 * each path settles or refunds, answers the client if it is still there,
 * and frees the job.
 */
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/codec.h"
#include "core/err.h"
#include "core/log.h"
#include "core/secure.h"
#include "core/time.h"
#include "coord/admit.h"
#include "coord/anthropic.h"
#include "coord/coord_impl.h"
#include "http/error.h"
#include "http/image_req.h"
#include "http/sse.h"

#define MAX_OUTPUT_TOKENS (1u << 20)

int64_t coord_chat_cost(int64_t prompt, int64_t completion, int64_t in_per_mtok,
                        int64_t out_per_mtok) {
  if (prompt < 0 || completion < 0 || in_per_mtok < 0 || out_per_mtok < 0) return -1;
  if ((prompt && in_per_mtok > INT64_MAX / prompt) ||
      (completion && out_per_mtok > INT64_MAX / completion))
    return -1;
  int64_t a = prompt * in_per_mtok, b = completion * out_per_mtok;
  if (a > INT64_MAX - b) return -1;
  int64_t t = a + b;
  return t / 1000000 + (t % 1000000 != 0); /* ceil, without overflow */
}

void coord_job_unlink(cjob *j) {
  if (!j->node) return;
  for (cjob **pp = &j->node->jobs; *pp; pp = &(*pp)->next)
    if (*pp == j) {
      *pp = j->next;
      j->node->n_jobs--;
      break;
    }
  j->node = NULL;
}

void coord_chat_stop_watch(cjob *j) {
  if (j->watch) event_free(j->watch);
  j->watch = NULL;
}

void coord_job_free(cjob *j) {
  coord_chat_stop_watch(j);
  if (j->node) coord_queue_kick(j->c); /* a slot frees */
  coord_job_unlink(j);
  gloam_seal_client_free(j->sc);
  coord_ant_stream_free(j->ant);
  if (j->plain) {
    secure_zero(j->plain, j->plain_len);
    mem_free(j->plain);
  }
  if (j->acc) {
    buf_deinit(j->acc);
    mem_free(j->acc);
  }
  mem_free(j);
}

void coord_chat_log_job(cjob *j, const char *event, const char *outcome, int64_t charged) {
  log_line l;
  if (log_begin(&l, LOG_INFO, event)) {
    log_str(&l, "job", j->id_hex);
    log_str(&l, "model", j->model);
    log_str(&l, "outcome", outcome);
    log_uint(&l, "frames", j->n_frames);
    log_int(&l, "reserved", j->reserved);
    log_int(&l, "charged", charged);
    log_uint(&l, "ms", time_mono_ms() - j->start_ms);
    log_end(&l);
  }
}

static void refund(cjob *j, const char *reason) {
  coord_ledger_refund(j->c, j->id_hex, reason);
}

/* Sends an error to the client: a plain HTTP error before streaming, an SSE
 * error event after. Then ends the reply. */
static void answer_error(cjob *j, int status, const char *code, const char *message) {
  if (!j->req) return;
  if (j->sse) {
    json_t *e = j->api == API_ANTHROPIC ? coord_anthropic_error_json(status, message)
                                        : http_error_json(status, NULL, code, NULL, message);
    char *s = e ? json_dumps(e, JSON_COMPACT) : NULL;
    json_decref(e);
    /* client-sealed: docs/sealing.md's gloam.error; coordinator-sealed: a
     * data event with an error object, which OpenAI SDKs raise */
    if (s)
      http_sse_send(j->sse,
                    j->api == API_ANTHROPIC ? "error"
                    : j->sc                 ? NULL
                                            : "gloam.error",
                    s, strlen(s));
    free(s);
    http_sse_end(j->sse);
    j->sse = NULL;
  } else {
    evhttp_connection_set_closecb(j->evcon, NULL, NULL);
    if (j->api == API_ANTHROPIC)
      coord_anthropic_send_error(j->req, status, message);
    else if (status == 429 || status == 503)
      http_send_error_retry(j->req, status, 1, code, "%s", message);
    else
      http_send_error(j->req, status, NULL, code, NULL, "%s", message);
    coord_count_status(j->c, status);
  }
  j->req = NULL;
}

void coord_job_fail(cjob *j, int status, const char *code, const char *message, bool cancel_node) {
  if (cancel_node && j->node)
    coord_node_send_json(
        j->node, json_pack("{s:s,s:s,s:s}", "type", "cancel", "job", j->id_hex, "reason", code));
  if (j->req) { /* answer once the refund is committed (ledger.c) */
    coord_chat_stop_watch(j);
    if (j->node) coord_queue_kick(j->c);
    coord_job_unlink(j);
    coord_ledger_refund_job(j, status, code, message);
    return;
  }
  refund(j, code);
  coord_job_refunded(j, status, code, message);
}

void coord_job_refunded(cjob *j, int status, const char *code, const char *message) {
  j->c->m.chat_failed++;
  answer_error(j, status, code, message);
  coord_chat_log_job(j, "chat.failed", code, 0);
  coord_job_free(j);
}

/* The client went away (before or during streaming). */
static void client_gone(cjob *j) {
  /* evhttp closes the socket after this callback: no event may outlive its
   * fd (a job that is settling lives on, and its watch would later be
   * deleted from epoll under a number the process may have reused) */
  coord_chat_stop_watch(j);
  if (j->settling) { /* the settle task ends the job; just drop the request */
    if (j->sse)
      http_sse_end(j->sse);
    else if (j->req)
      evhttp_send_reply_end(j->req);
    j->sse = NULL;
    j->req = NULL;
    return;
  }
  if (j->node)
    coord_node_send_json(j->node, json_pack("{s:s,s:s,s:s}", "type", "cancel", "job", j->id_hex,
                                            "reason", "client_disconnected"));
  refund(j, "client_disconnected");
  j->c->m.chat_failed++;
  if (j->sse) {
    http_sse_end(j->sse); /* frees the detached request */
    j->sse = NULL;
  } else if (j->req) {
    evhttp_send_reply_end(j->req); /* detached by evhttp: this frees it */
  }
  j->req = NULL;
  coord_chat_log_job(j, "chat.failed", "client_disconnected", 0);
  coord_job_free(j);
}

void coord_chat_on_sse_gone(void *ud) {
  client_gone(ud);
}

/* Before streaming starts evhttp does not read from the connection, so it
 * cannot notice a client that leaves; this peeks at the socket instead. A
 * client that pipelines another request is not watched further. */
static void on_watch(evutil_socket_t fd, short what, void *ud) {
  cjob *j = ud;
  enum coord_peer p = coord_peer_check(fd);
  if (p == COORD_PEER_GONE) {
    coord_job_fail(j, 499, "client_disconnected", "The client went away.", true);
    return;
  }
  if (p == COORD_PEER_IDLE) event_add(j->watch, NULL);
}
static void on_conn_gone(struct evhttp_connection *evcon, void *ud) {
  client_gone(ud);
}

void coord_chat_add_headers(cjob *j) {
  struct evkeyvalq *h = evhttp_request_get_output_headers(j->req);
  evhttp_add_header(h, "Gloam-Mode", j->sc ? "coordinator-sealed" : "client-sealed");
  evhttp_add_header(h, "Gloam-Node", j->node_id);
  evhttp_add_header(h, "Gloam-Trust", j->node_trust ? j->node_trust : "none");
  evhttp_add_header(h, "Gloam-Job", j->id_hex);
}

void coord_job_on_frame(cjob *j, const uint8_t *frame, size_t len) {
  coord *c = j->c;
  if (j->sc) {
    coord_plain_on_frame(j, frame, len);
    return;
  }
  int type;
  uint32_t counter;
  if (j->got_final || gloam_seal_frame_peek(frame, len, &type, &counter) < 0) {
    coord_job_fail(j, 502, "bad_node_stream", "The node sent a malformed stream.", true);
    return;
  }
  if (type == GLOAM_SEAL_FRAME_FINAL) j->got_final = true;
  if (!j->req) return;
  if (!j->sse) {
    coord_chat_stop_watch(j);
    coord_chat_add_headers(j);
    evhttp_connection_set_closecb(j->evcon, NULL, NULL);
    if (http_sse_start(j->req, 200, c->cfg.sse_max_queued, coord_chat_on_sse_gone, j, &j->sse) <
        0) {
      j->req = NULL;
      coord_job_fail(j, 500, "internal", "Cannot start the stream.", true);
      return;
    }
    coord_count_status(c, 200);
  }
  size_t cap = codec_b64_len(len, CODEC_B64_URL) + 1;
  char *b64 = mem_alloc(cap);
  if (!b64) {
    coord_job_fail(j, 500, "internal", "Out of memory.", true);
    return;
  }
  codec_b64_encode(frame, len, b64, cap, CODEC_B64_URL);
  int rc = http_sse_send(j->sse, NULL, b64, cap - 1); /* docs/sealing.md §4 */
  mem_free(b64);
  if (rc == GLOAM_EAGAIN) {
    coord_job_fail(j, 503, "slow_client", "The client is not reading fast enough.", true);
    return;
  }
  j->n_frames++;
  c->m.frames_relayed++;
  c->m.bytes_relayed += len;
}

const uint64_t coord_lat_bounds_ms[COORD_LAT_BUCKETS] = {5,   10,   25,   50,   100,   250,
                                                         500, 1000, 2500, 5000, 10000, 30000};

void coord_job_on_done(cjob *j, const node_msg *m) {
  coord_ledger_settle(j, m); /* ends in coord_job_settled on the loop */
}

void coord_job_settled(cjob *j, int rc, const char *why, const char *receipt, int64_t prompt_tokens,
                       int64_t completion_tokens, int64_t cost, json_t *body) {
  coord *c = j->c;
  if (rc < 0) {
    json_decref(body);
    if (strcmp(why, "receipt_invalid") == 0) {
      c->m.receipts_invalid++;
      coord_job_fail(j, 502, "receipt_invalid",
                     "The node's receipt did not verify; nothing was charged.", false);
    } else if (strcmp(why, "bad_node_output") == 0) {
      coord_job_fail(j, 502, "bad_node_output", "The node's answer was not a JSON object.", false);
    } else {
      coord_job_fail(j, 500, "billing_error", "Settlement failed; nothing was charged.", false);
    }
    return;
  }
  c->m.chat_ok++;
  c->m.prompt_tokens += (uint64_t)prompt_tokens;
  c->m.completion_tokens += (uint64_t)completion_tokens;
  uint64_t ms = time_mono_ms() - j->start_ms;
  c->m.latency_ms_sum += ms;
  c->m.latency_count++;
  int bk = 0;
  while (bk < COORD_LAT_BUCKETS && ms > coord_lat_bounds_ms[bk]) bk++;
  c->m.lat_bucket[bk]++;
  if (j->sc && j->endpoint && j->n_images) {
    json_decref(body);
    coord_image_on_done(j, receipt, cost);
  } else if (j->sc && j->endpoint) {
    json_decref(body);
    coord_speech_on_done(j, receipt, cost);
  } else if (j->sc) {
    coord_plain_on_done(j, receipt, prompt_tokens, completion_tokens, cost, body);
  } else if (j->sse) {
    json_decref(body);
    /* docs/sealing.md §4: the receipt event carries the bare JWS; usage and
     * the amount charged follow in a gloam.usage event. */
    http_sse_send(j->sse, "gloam.receipt", receipt, strlen(receipt));
    json_t *g =
        json_pack("{s:s,s:s,s:s,s:s,s:{s:I,s:I,s:I},s:I}", "mode", "client-sealed", "node",
                  j->node_id, "trust", j->node_trust, "job", j->id_hex, "usage", "prompt_tokens",
                  (json_int_t)prompt_tokens, "completion_tokens", (json_int_t)completion_tokens,
                  "total_tokens", (json_int_t)(prompt_tokens + completion_tokens),
                  "charged_micro_usd", (json_int_t)cost);
    char *s = g ? json_dumps(g, JSON_COMPACT) : NULL;
    json_decref(g);
    if (s) http_sse_send(j->sse, "gloam.usage", s, strlen(s));
    free(s);
    http_sse_send(j->sse, NULL, "[DONE]", 6);
    http_sse_end(j->sse);
    j->sse = NULL;
    j->req = NULL;
  } else {
    json_decref(body);
  }
  coord_chat_log_job(j, "chat.done", "ok", cost);
  coord_job_free(j);
}

static int status_for_node_code(const char *code) {
  if (strcmp(code, "model_not_found") == 0) return 404;
  if (strcmp(code, "context_length_exceeded") == 0 ||
      strcmp(code, "unsupported_response_format") == 0 || strcmp(code, "invalid_request") == 0 ||
      strcmp(code, "bad_envelope") == 0)
    return 400;
  if (strcmp(code, "busy") == 0) return 429;
  return 502;
}

void coord_job_on_error(cjob *j, const char *code, const char *message) {
  int status = status_for_node_code(code);
  if ((status == 429 || status >= 500) && coord_plain_retry(j)) return;
  coord_job_fail(j, status, code, message[0] ? message : "The node could not serve this request.",
                 false);
}

/* ---- admission ------------------------------------------------------------ */

int coord_job_dispatch(cjob *j, cnode *n, struct evhttp_request *req, const uint8_t *env,
                       size_t len, const char *mode) {
  coord *c = j->c;
  json_t *msg = json_pack(
      "{s:s,s:s,s:s,s:s,s:s,s:i,s:{s:I,s:I},s:I}", "type", "job", "job", j->id_hex, "model",
      j->model, "endpoint", j->endpoint ? j->endpoint : "chat/completions", "mode", mode,
      "max_output_tokens", j->max_output_tokens > INT32_MAX ? 0 : (int)j->max_output_tokens,
      "price", "input_per_mtok", (json_int_t)j->in_price, "output_per_mtok",
      (json_int_t)j->out_price, "deadline_ms",
      (json_int_t)(time_wall_ms() + c->cfg.job_timeout_ms));
  if (msg && j->audio_price > 0) /* speech.c: billed per audio minute */
    json_object_set_new(json_object_get(msg, "price"), "audio_per_minute",
                        json_integer(j->audio_price));
  if (msg && j->image_price > 0) /* image.c: billed per image */
    json_object_set_new(json_object_get(msg, "price"), "image_price", json_integer(j->image_price));
  int rc = coord_node_send_json(n, msg);
  if (rc == 0) rc = coord_node_send_bin(n, NODE_BIN_ENVELOPE, j->id, env, len);
  if (rc < 0) return rc;
  coord_chat_stop_watch(j);
  if (j->n_tried < 3) snprintf(j->tried[j->n_tried++], sizeof j->tried[0], "%s", n->id);
  j->req = req;
  j->evcon = evhttp_request_get_connection(req);
  evhttp_connection_set_closecb(j->evcon, on_conn_gone, j);
  j->watch = coord_peer_watch_new(c, j->evcon, on_watch, j);
  j->node = n;
  snprintf(j->node_id, sizeof j->node_id, "%s", n->id);
  j->node_trust = n->trust;
  j->next = n->jobs;
  n->jobs = j;
  n->n_jobs++;
  return 0;
}

int coord_chat_model_served(coord *c, const char *model) {
  for (cnode *n = c->nodes; n; n = n->next)
    if (n->registered && !n->closing && coord_node_serves(n, model)) return 1;
  return 0;
}

void coord_chat_reject(coord *c, struct evhttp_request *req, int status, const char *code,
                       const char *param, const char *msg) {
  c->m.chat_rejected++;
  coord_count_status(c, status);
  if (status == 429 || status == 503)
    http_send_error_retry(req, status, 1, code, "%s", msg);
  else
    http_send_error(req, status, NULL, code, param, "%s", msg);
}

void coord_chat_reject_api(coord *c, struct evhttp_request *req, int api, int status,
                           const char *code, const char *param, const char *msg) {
  if (api != API_ANTHROPIC) {
    coord_chat_reject(c, req, status, code, param, msg);
    return;
  }
  c->m.chat_rejected++;
  coord_count_status(c, status);
  char text[320];
  snprintf(text, sizeof text, "%s%s%s", param ? param : "", param ? ": " : "", msg);
  coord_anthropic_send_error(req, status, text);
}

/* The node a client-sealed request is sealed to, if it can take the request
 * now; else NULL with the refusal. Checked at admission and again once the
 * reservation committed (the node may have left or filled up meanwhile). */
static cnode *sealed_node(coord *c, const char *id, const char *model, int *status,
                          const char **code, const char **param, const char **msg) {
  cnode *n = id[0] ? coord_node_find(c, id) : NULL;
  *param = NULL;
  if (!n || n->draining || !coord_attest_routable(n)) {
    *status = 503;
    *code = "node_unavailable";
    *msg = COORD_MSG_SEALED_NODE_GONE;
  } else if (!coord_node_serves(n, model)) {
    *status = 400;
    *code = "model_not_served";
    *param = "model";
    *msg = "The named node does not serve this model.";
  } else if (n->n_jobs + n->n_admitting >= n->max_slots) {
    *status = 429;
    *code = "node_busy";
    *msg = "The node has no free slot.";
  } else {
    return n;
  }
  return NULL;
}

/* Admission continued on the loop after the reservation (admit.c). The
 * envelope is still the request's body; j->node_id names its node. */
static void sealed_reserved(cjob *j, struct evhttp_request *req) {
  int status;
  const char *code, *param, *msg;
  coord *c = j->c;
  cnode *n = sealed_node(c, j->node_id, j->model, &status, &code, &param, &msg);
  cnode *busy = !n && status == 429 && !j->from_queue ? coord_node_find(c, j->node_id) : NULL;
  if (busy) {
    /* the node filled meanwhile (it shrank its slots): wait in the queue as
     * if it had been full at admission (nothing stays reserved) */
    coord_ledger_refund(c, j->id_hex, "queued");
    if (coord_queue_add_sealed(c, req, j->account, j->model, busy) < 0)
      coord_chat_reject(c, req, status, code, param, msg);
    coord_job_free(j);
    return;
  }
  if (!n) {
    coord_admit_unwind(j, req, code, status, code, param, msg);
    return;
  }
  struct evbuffer *in = evhttp_request_get_input_buffer(req);
  size_t len = evbuffer_get_length(in);
  const uint8_t *env = evbuffer_pullup(in, (ev_ssize_t)len);
  if (!env || coord_job_dispatch(j, n, req, env, len, "client-sealed") < 0) {
    coord_admit_unwind(j, req, "node_send_failed", 503, "node_unavailable", NULL,
                       "The node cannot take the request now.");
    return;
  }
  coord_chat_log_job(j, "chat.admitted", "reserved", 0);
}

void coord_chat_sealed(struct evhttp_request *req, coord *c, int64_t account) {
  coord_chat_sealed_handle(req, c, account, false);
}

/* Queues a client-sealed request for its node n when n is full, or when
 * earlier requests wait for n (arrival order); true if queued. A full queue
 * is refused by the caller (429), except that a node with a free slot still
 * takes the request. */
static bool sealed_queue(coord *c, struct evhttp_request *req, int64_t account,
                         const gloam_seal_header *h, cnode *n) {
  cnode *q = n ? n : coord_node_find(c, h->node_id);
  if (!q || (n && !coord_queue_waits_for(c, n))) return false;
  if (coord_queue_add_sealed(c, req, account, h->model, q) < 0) return false;
  if (n) coord_queue_kick(c); /* n has a free slot: serve the line now */
  return true;
}

void coord_chat_sealed_handle(struct evhttp_request *req, coord *c, int64_t account,
                              bool from_queue) {
  char err[GLOAM_ERR_LEN];
  struct evbuffer *in = evhttp_request_get_input_buffer(req);
  size_t len = evbuffer_get_length(in);
  const char *route = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
  const char *audio = NULL; /* the audio endpoint this route takes (speech.c) */
  if (route && strcmp(route, "/v1/audio/transcriptions") == 0) audio = "audio/transcriptions";
  if (route && strcmp(route, "/v1/audio/translations") == 0) audio = "audio/translations";
  bool image = route && strcmp(route, "/v1/images/generations") == 0; /* image.c */
  if (image) audio = IMAGE_ENDPOINT; /* a non-chat endpoint, billed per image below */
  if (len == 0 || len > (audio && !image ? c->cfg.max_upload_bytes : c->cfg.max_body_bytes)) {
    coord_chat_reject(c, req, len ? 413 : 400, "invalid_envelope", NULL,
                      "The sealed body is empty or too large.");
    return;
  }
  const uint8_t *env = evbuffer_pullup(in, (ev_ssize_t)len);
  gloam_seal_header h;
  if (!env || gloam_seal_parse_header(env, len, &h, err) < 0) {
    coord_chat_reject(c, req, 400, "invalid_envelope", NULL,
                      "The sealed envelope header is malformed.");
    return;
  }
  if (strcmp(h.endpoint, audio ? audio : "chat/completions") != 0) {
    coord_chat_reject(c, req, 400, "invalid_envelope", NULL,
                      "The envelope is for another endpoint.");
    return;
  }
  if (!coord_chat_model_served(c, h.model)) {
    coord_chat_reject(c, req, 404, "model_not_found", "model",
                      "The model is not served by any live node.");
    return;
  }
  int status;
  const char *code, *param, *msg;
  cnode *n = sealed_node(c, h.node_id, h.model, &status, &code, &param, &msg);
  if (!n && status != 429) {
    coord_chat_reject(c, req, status, code, param, msg);
    return;
  }
  int64_t in_p = 0, out_p = 0, audio_p = 0, image_p = 0, max_cost;
  if (image) {
    if (coord_image_sealed_price(c, req, &h, &image_p, &max_cost) < 0) return;
  } else if (audio) {
    if (coord_speech_sealed_price(c, req, &h, &audio_p, &max_cost) < 0) return;
  } else if (coord_store_price_get(c->store, h.model, &in_p, &out_p) < 0) {
    coord_chat_reject(c, req, 404, "model_not_found", "model",
                      "The model is not offered (no price).");
    return;
  } else if (h.max_output_tokens == 0 || h.max_output_tokens > MAX_OUTPUT_TOKENS) {
    coord_chat_reject(c, req, 400, "invalid_value", "max_tokens",
                      "max_output_tokens must be 1..1048576.");
    return;
  } else {
    max_cost = coord_chat_cost((int64_t)len, h.max_output_tokens, in_p, out_p);
  }
  if (!from_queue && sealed_queue(c, req, account, &h, n)) return; /* waits (queue.c) */
  if (!n) {
    coord_chat_reject(c, req, status, code, param, msg);
    return;
  }
  cjob *j = mem_calloc(1, sizeof *j);
  if (!j || max_cost < 0 || RAND_bytes(j->id, sizeof j->id) != 1) {
    mem_free(j);
    coord_chat_reject(c, req, 500, "internal", NULL, "Cannot admit the request.");
    return;
  }
  j->c = c;
  coord_node_job_hex(j->id, j->id_hex);
  j->account = account;
  memcpy(j->model, h.model, sizeof j->model);
  memcpy(j->request_id, h.request_id, sizeof j->request_id);
  unsigned md_len = 0;
  EVP_Digest(env, len, j->env_sha256, &md_len, EVP_sha256(), NULL);
  j->max_output_tokens = audio ? UINT32_MAX : h.max_output_tokens;
  j->body_len = (uint32_t)len;
  j->in_price = in_p;
  j->out_price = out_p;
  j->endpoint = audio;
  j->audio_price = audio_p;
  j->audio_ms = h.audio_ms;
  j->image_price = image_p;
  j->n_images = image ? h.n_images : 0;
  j->reserved = max_cost;
  j->start_ms = time_mono_ms();
  j->from_queue = from_queue;
  snprintf(j->node_id, sizeof j->node_id, "%s", h.node_id);
  coord_admit_reserve(j, req, n, NULL, sealed_reserved);
}
