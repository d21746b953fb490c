/* SPDX-License-Identifier: Apache-2.0
 *
 * client/chat.c: the sealed chat operation (chat_op in client_impl.h).
 *
 *   GET /v1/nodes?model=M -> verify evidence -> rank -> seal the body to the
 *   best node -> POST the envelope (Content-Type application/gloam-sealed)
 *   -> read the SSE stream (docs/sealing.md §4): frames are opened in order
 *   and handed to on_chunk, `gloam.receipt` carries the JWS, `gloam.usage`
 *   the charge, `gloam.error` a failure -> at the end, the stream must have
 *   had its FINAL frame and the receipt must verify against the receipt key
 *   the node's evidence binds, for this request and this transcript.
 *
 * DESIGN: a refusal before streaming that names a busy or missing node
 * (429/503) moves on to the next accepted node, at most CHAT_MAX_ATTEMPTS
 * times; nothing is ever sent to a node that failed the policy, and there
 * is no fallback to coordinator-sealed mode.
 */
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <stdio.h>
#include <string.h>

#include "client/client_impl.h"
#include "client/sse.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/codec.h"
#include "core/err.h"
#include "core/time.h"
#include "gloam/receipt.h"
#include "gloam/seal.h"
#include "http/json.h"

#define CHAT_MAX_ATTEMPTS 3
#define CHAT_MAX_EVENT ((GLOAM_SEAL_MAX_CHUNK + GLOAM_SEAL_FRAME_OVERHEAD) / 3 * 4 + 64)

struct chat_op {
  struct event_base *base;
  const gloam_client *c;
  chat_op_cbs cbs;
  void *ud;
  char *body;
  size_t body_len;
  char model[GLOAM_SEAL_MODEL_MAX + 1];
  char endpoint[GLOAM_SEAL_ENDPOINT_MAX + 1];
  uint32_t audio_ms; /* audio endpoints: the measured duration */
  uint32_t n_images; /* images/generations: the images requested */
  char only_node[GLOAM_SEAL_NODE_ID_MAX + 1];
  uint32_t max_output;
  gloam_policy policy;
  cfetch *fetch;
  chttp *http;
  gloam_node_info *nodes;
  size_t n_nodes, next_node;
  gloam_node_info *cur;
  /* one attempt */
  gloam_seal_client *sc;
  uint8_t *env;
  size_t env_len;
  int status;
  int n_frames;
  int got_done;
  int stream_error;
  buf errbody;
  csse sse;
  uint8_t *frame, *plain;
  gloam_chat_result res;
  char err[GLOAM_ERR_LEN];
};

static void attempt_reset(chat_op *op) {
  gloam_seal_client_free(op->sc);
  op->sc = NULL;
  gloam_seal_free(op->env, op->env_len);
  op->env = NULL;
  op->env_len = 0;
  op->status = 0;
  op->n_frames = 0;
  op->got_done = 0;
  op->stream_error = 0;
  buf_deinit(&op->errbody);
  csse_deinit(&op->sse);
  mem_free(op->res.receipt_jws);
  op->res.receipt_jws = NULL;
  op->res.charged_micro_usd = -1;
  op->res.error_code[0] = 0;
}

static void op_free(chat_op *op) {
  attempt_reset(op);
  mem_free(op->frame);
  mem_free(op->plain);
  mem_free(op->nodes);
  if (op->body) {
    memset(op->body, 0, op->body_len);
    mem_free(op->body);
  }
  mem_free(op);
}

static void finish(chat_op *op, int rc) {
  op->http = NULL;
  op->fetch = NULL;
  op->cbs.on_done(rc, &op->res, op->err, op->ud);
  op_free(op);
}

static void fail(chat_op *op, int rc, const char *what, const char *a) {
  err_set(op->err, rc, "%s: %s", what, a ? a : "");
  finish(op, rc);
}

/* ---- the stream ------------------------------------------------------- */

static int on_frame(chat_op *op, const char *data, size_t len) {
  size_t fl;
  if (gloam_seal_sse_decode(data, len, op->frame, GLOAM_SEAL_MAX_CHUNK + 64, &fl) < 0)
    return err_set(op->err, GLOAM_EPROTO, "the stream carries a malformed frame");
  size_t out_len = 0;
  int fin = 0;
  int rc = gloam_seal_client_open(op->sc, op->frame, fl, op->plain, GLOAM_SEAL_MAX_CHUNK + 64,
                                  &out_len, &fin);
  if (rc < 0)
    return err_set(op->err, rc == GLOAM_ESTATE ? GLOAM_EAUTH : rc,
                   "a sealed chunk failed to open (%s): the stream was tampered with",
                   gloam_errname(rc));
  op->n_frames++;
  if (out_len && op->cbs.on_chunk((const char *)op->plain, out_len, op->ud) != 0)
    return err_set(op->err, GLOAM_ECANCELED, "canceled");
  return 0;
}

static int on_event(const char *name, const char *data, size_t len, void *ud) {
  chat_op *op = ud;
  if (op->got_done) return err_set(op->err, GLOAM_EPROTO, "data after [DONE]");
  if (name[0] == 0) {
    if (len == 6 && memcmp(data, "[DONE]", 6) == 0) {
      op->got_done = 1;
      return 0;
    }
    return on_frame(op, data, len);
  }
  if (strcmp(name, "gloam.receipt") == 0) {
    if (op->res.receipt_jws || len > GLOAM_RECEIPT_MAX_JWS)
      return err_set(op->err, GLOAM_EPROTO, "a second or oversized receipt");
    op->res.receipt_jws = mem_strndup(data, len);
    return op->res.receipt_jws ? 0 : GLOAM_ENOMEM;
  }
  if (strcmp(name, "gloam.usage") == 0) {
    json_t *j = NULL;
    if (json_parse_limited(data, len, 4096, 4, &j, NULL) == 0) {
      json_t *ch = json_object_get(j, "charged_micro_usd");
      if (json_is_integer(ch)) op->res.charged_micro_usd = (int64_t)json_integer_value(ch);
    }
    json_decref(j);
    return 0;
  }
  if (strcmp(name, "gloam.error") == 0) {
    char msg[200];
    client_error_text(data, len, msg, sizeof msg, op->res.error_code, sizeof op->res.error_code);
    op->stream_error = 1;
    return err_set(op->err, GLOAM_EPROTO, "the coordinator ended the stream: %s",
                   msg[0] ? msg : "(no message)");
  }
  return 0; /* unknown events are ignored (forward compatibility) */
}

static int h_head(int status, struct evkeyvalq *hdrs, void *ud) {
  chat_op *op = ud;
  op->status = op->res.http_status = status;
  if (status != 200) return 0;
  const char *ct = evhttp_find_header(hdrs, "Content-Type");
  if (!ct || strncmp(ct, "text/event-stream", 17) != 0)
    return err_set(op->err, GLOAM_EPROTO, "the coordinator did not answer with an event stream");
  const char *node = evhttp_find_header(hdrs, "Gloam-Node");
  if (node && strcmp(node, op->cur->id) != 0)
    return err_set(op->err, GLOAM_EPROTO, "the coordinator routed to another node");
  if (op->cbs.on_start && op->cbs.on_start(op->cur, op->ud) < 0)
    return err_set(op->err, GLOAM_ECANCELED, "canceled");
  return 0;
}

static int h_data(const uint8_t *p, size_t n, void *ud) {
  chat_op *op = ud;
  if (op->status != 200) {
    buf_append(&op->errbody, p, n); /* the cap truncates; fine for an error */
    return 0;
  }
  int rc = csse_feed(&op->sse, p, n, on_event, op);
  if (rc == GLOAM_ETOOBIG) err_set(op->err, rc, "an event in the stream is too large");
  return rc;
}

static int verify_end(chat_op *op) {
  if (!gloam_seal_client_done(op->sc))
    return err_set(op->err, GLOAM_ESTATE,
                   "the response stream was truncated (no final chunk); discard the output");
  if (!op->res.receipt_jws)
    return err_set(op->err, GLOAM_EAUTH, "the response came without a receipt");
  gloam_receipt_key *k = NULL;
  char e[GLOAM_ERR_LEN];
  int rc = gloam_receipt_key_parse(op->cur->receipt_jwk, strlen(op->cur->receipt_jwk), &k, e);
  if (rc == 0)
    rc = gloam_receipt_check_client(op->sc, k, op->res.receipt_jws, strlen(op->res.receipt_jws),
                                    &op->res.claims, e);
  gloam_receipt_key_free(k);
  if (rc < 0) return err_set(op->err, GLOAM_EAUTH, "the receipt does not verify: %s", e);
  if (strcmp(op->res.claims.weights_digest, op->cur->weights_digest) != 0)
    return err_set(op->err, GLOAM_EAUTH, "the receipt names other weights than the evidence");
  op->res.receipt_ok = 1;
  gloam_seal_client_transcript_hash(op->sc, op->res.transcript_sha256);
  return 0;
}

static int try_next(chat_op *op);

static void h_done(int rc, void *ud) {
  chat_op *op = ud;
  op->http = NULL;
  if (rc < 0) {
    if (!op->err[0] || rc == GLOAM_EIO || rc == GLOAM_ETIMEDOUT)
      err_set(op->err, rc, "connection to %s failed: %s", op->c->base_url, gloam_strerror(rc));
    finish(op, rc);
    return;
  }
  if (op->status != 200) {
    char msg[200];
    client_error_text((const char *)op->errbody.data, op->errbody.len, msg, sizeof msg,
                      op->res.error_code, sizeof op->res.error_code);
    if ((op->status == 429 || op->status == 503) && op->res.attempts < CHAT_MAX_ATTEMPTS &&
        op->next_node < op->n_nodes && op->nodes[op->next_node].accepted) {
      if (try_next(op) == 0) return;
      finish(op, GLOAM_EPROTO);
      return;
    }
    err_set(op->err, GLOAM_EPROTO, "coordinator answered %d %s: %s", op->status, op->res.error_code,
            msg[0] ? msg : "(no message)");
    finish(op, GLOAM_EPROTO);
    return;
  }
  if (!op->got_done && !gloam_seal_client_done(op->sc)) {
    err_set(op->err, GLOAM_ESTATE, "the response stream was truncated; discard the output");
    finish(op, GLOAM_ESTATE);
    return;
  }
  rc = verify_end(op);
  finish(op, rc);
}

/* Seals to op->nodes[op->next_node] and posts. */
static int try_next(chat_op *op) {
  attempt_reset(op);
  op->cur = &op->nodes[op->next_node++];
  op->res.attempts++;
  snprintf(op->res.node_id, sizeof op->res.node_id, "%s", op->cur->id);
  op->res.trust = op->cur->verified;
  snprintf(op->res.receipt_jwk, sizeof op->res.receipt_jwk, "%s", op->cur->receipt_jwk);
  csse_init(&op->sse, CHAT_MAX_EVENT);
  buf_init(&op->errbody, CLIENT_MAX_ERROR);
  gloam_seal_header h;
  memset(&h, 0, sizeof h);
  h.max_output_tokens = op->max_output;
  snprintf(h.node_id, sizeof h.node_id, "%s", op->cur->id);
  snprintf(h.model, sizeof h.model, "%s", op->model);
  snprintf(h.endpoint, sizeof h.endpoint, "%s", op->endpoint);
  h.audio_ms = op->audio_ms;
  h.n_images = op->n_images;
  char e[GLOAM_ERR_LEN];
  int rc = gloam_seal_request(&h, op->cur->hpke_pk, 32, (const uint8_t *)op->body, op->body_len,
                              &op->env, &op->env_len, &op->sc, e);
  if (rc < 0) return err_set(op->err, rc, "sealing failed: %s", e);
  char path[GLOAM_SEAL_ENDPOINT_MAX + 8];
  snprintf(path, sizeof path, "/v1/%s", op->endpoint);
  chttp_req_spec s = {.method = EVHTTP_REQ_POST,
                      .path = path,
                      .bearer = op->c->api_key,
                      .content_type = "application/gloam-sealed",
                      .accept = "text/event-stream",
                      .body = op->env,
                      .body_len = op->env_len,
                      .timeout_s = (int)op->c->timeout_s,
                      .max_body = CLIENT_MAX_STREAM};
  chttp_cbs cbs = {h_head, h_data, h_done};
  return chttp_start(op->base, op->c->ssl, &op->c->target, &s, &cbs, op, &op->http, op->err);
}

/* ---- discovery -------------------------------------------------------- */

static void nodes_done(int rc, int status, const char *body, size_t len, void *ud) {
  chat_op *op = ud;
  op->fetch = NULL;
  if (rc < 0) {
    err_set(op->err, rc, "cannot list nodes at %s: %s", op->c->base_url, gloam_strerror(rc));
    finish(op, rc);
    return;
  }
  if (status != 200) {
    char msg[200], code[64];
    client_error_text(body, len, msg, sizeof msg, code, sizeof code);
    op->res.http_status = status;
    snprintf(op->res.error_code, sizeof op->res.error_code, "%s", code);
    fail(op, GLOAM_EPROTO, "cannot list nodes", msg[0] ? msg : "HTTP error");
    return;
  }
  rc = client_parse_nodes(body, len, op->model, &op->policy, time_wall_ms(), &op->nodes,
                          &op->n_nodes, op->err);
  if (rc < 0) {
    finish(op, rc);
    return;
  }
  if (op->only_node[0])
    for (size_t i = 0; i < op->n_nodes; i++)
      if (op->nodes[i].accepted && strcmp(op->nodes[i].id, op->only_node) != 0) {
        op->nodes[i].accepted = 0;
        snprintf(op->nodes[i].reason, sizeof op->nodes[i].reason, "not the requested node");
      }
  client_rank_nodes(op->nodes, op->n_nodes);
  if (op->n_nodes == 0 || !op->nodes[0].accepted) {
    snprintf(op->res.error_code, sizeof op->res.error_code, "no_verified_node");
    if (op->n_nodes == 0)
      err_set(op->err, GLOAM_EPOLICY, "no node serves model '%s'", op->model);
    else
      err_set(op->err, GLOAM_EPOLICY,
              "no node for model '%s' meets the policy (minimum trust %s); %zu rejected, "
              "first: %s: %s",
              op->model, gloam_trust_name(op->policy.min_trust), op->n_nodes, op->nodes[0].id,
              op->nodes[0].reason);
    finish(op, GLOAM_EPOLICY);
    return;
  }
  rc = try_next(op);
  if (rc < 0) finish(op, rc);
}

/* ---- start ------------------------------------------------------------ */

static int parse_body(chat_op *op, const gloam_chat_opts *o, char *err) {
  if (o && o->model) { /* audio or images: the caller validated the body */
    if (!o->model[0] || strlen(o->model) > GLOAM_SEAL_MODEL_MAX ||
        (o->audio_ms == 0) == (o->n_images == 0))
      return err_set(err, GLOAM_EINVAL,
                     "an audio or image request needs a model and its duration or image count");
    snprintf(op->model, sizeof op->model, "%s", o->model);
    op->audio_ms = o->audio_ms;
    op->n_images = o->n_images;
    return 0;
  }
  json_t *j = NULL;
  int rc = json_parse_limited(op->body, op->body_len, CLIENT_MAX_BODY, 64, &j, err);
  if (rc < 0) return err_set(err, GLOAM_EINVAL, "the request body is not a JSON object");
  const char *m = json_string_value(json_object_get(j, "model"));
  size_t ml = json_string_length(json_object_get(j, "model"));
  json_t *mt = json_object_get(j, "max_completion_tokens");
  if (!json_is_integer(mt)) mt = json_object_get(j, "max_tokens");
  rc = 0;
  if (!m || ml == 0 || ml > GLOAM_SEAL_MODEL_MAX || strlen(m) != ml)
    rc = err_set(err, GLOAM_EINVAL, "the request needs a 'model' (1..128 characters)");
  for (size_t i = 0; rc == 0 && i < ml; i++)
    if (m[i] < 0x21 || m[i] > 0x7e || m[i] == '"' || m[i] == '\\')
      rc = err_set(err, GLOAM_EINVAL, "the model id has characters gloam cannot route");
  if (rc == 0) memcpy(op->model, m, ml + 1);
  op->max_output = GLOAM_CLIENT_DEFAULT_MAX_OUTPUT;
  if (json_is_integer(mt) && json_integer_value(mt) > 0 && json_integer_value(mt) <= 1048576)
    op->max_output = (uint32_t)json_integer_value(mt);
  if (o && o->max_output_tokens) op->max_output = o->max_output_tokens;
  json_decref(j);
  return rc;
}

int chat_op_start(struct event_base *base, const gloam_client *c, const char *body, size_t len,
                  const gloam_chat_opts *o, const chat_op_cbs *cbs, void *ud, chat_op **out,
                  char *err) {
  if (out) *out = NULL;
  if (!c->api_key) return err_set(err, GLOAM_EINVAL, "no API key configured (GLOAM_API_KEY)");
  if (!body || len == 0 || len > (o && o->model ? CLIENT_MAX_UPLOAD : CLIENT_MAX_BODY))
    return err_set(err, GLOAM_EINVAL, "the request body is empty or too large");
  chat_op *op = mem_calloc(1, sizeof *op);
  if (!op) return err_set(err, GLOAM_ENOMEM, "out of memory");
  op->base = base;
  op->c = c;
  op->cbs = *cbs;
  op->ud = ud;
  op->policy = c->policy;
  op->res.charged_micro_usd = -1;
  if (o && o->min_trust >= 0) op->policy.min_trust = (gloam_trust)o->min_trust;
  if (o && o->node_id) snprintf(op->only_node, sizeof op->only_node, "%s", o->node_id);
  snprintf(op->endpoint, sizeof op->endpoint, "%s",
           o && o->endpoint ? o->endpoint : "chat/completions");
  op->body = mem_dup(body, len);
  op->body_len = len;
  op->frame = mem_alloc(GLOAM_SEAL_MAX_CHUNK + 64);
  op->plain = mem_alloc(GLOAM_SEAL_MAX_CHUNK + 64);
  int rc = op->body && op->frame && op->plain ? 0 : err_set(err, GLOAM_ENOMEM, "out of memory");
  if (rc == 0) rc = parse_body(op, o, err);
  char path[64 + 3 * GLOAM_SEAL_MODEL_MAX];
  if (rc == 0) {
    char *enc = evhttp_encode_uri(op->model);
    if (!enc)
      rc = err_set(err, GLOAM_ENOMEM, "out of memory");
    else
      snprintf(path, sizeof path, "/v1/nodes?model=%s", enc);
    free(enc);
  }
  if (rc == 0) rc = cfetch_start(base, c, path, 0, nodes_done, op, &op->fetch, err);
  if (rc < 0) {
    op_free(op);
    return rc;
  }
  if (out) *out = op;
  return 0;
}

void chat_op_cancel(chat_op *op) {
  if (!op) return;
  if (op->fetch) cfetch_cancel(op->fetch);
  if (op->http) chttp_abort(op->http);
  op_free(op);
}
