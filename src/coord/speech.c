/* SPDX-License-Identifier: Apache-2.0
 *
 * coord/speech.c: POST /v1/audio/transcriptions and /v1/audio/translations
 * (docs/speech.md), on the chat paths' machinery: the same job, dispatch,
 * relay, failover, receipt checks and ledger (chat.c, chat_plain.c,
 * ledger.c); what differs is admission and billing, which are here.
 *
 * Coordinator-sealed (a plain multipart/form-data upload): the form is
 * validated (http/audio_req.h), the audio's duration measured by decoding
 * it (engine/audio.h audio_measure, bounded by the upload and duration
 * limits) on a worker thread (coord_offload: FFmpeg never runs on the
 * event loop), the price reserved for that duration plus the settlement slack,
 * and the body sealed unchanged to a node serving the model with the
 * envelope's endpoint audio/transcriptions|translations and audio_ms the
 * measured duration. The node's sealed answer is opened here: a streamed
 * one is relayed as its SSE events, followed by a `gloam.usage` event; a
 * whole one is answered with the response_format's content type, with the
 * receipt in a `gloam` object for the JSON formats and in headers for all.
 *
 * Client-sealed (application/gloam-sealed): admitted by coord_chat_sealed
 * with the header's audio_ms, the duration the client measured
 * (coord_speech_sealed_price).
 *
 * Billing: price per audio minute (prices.audio_per_minute). The receipt
 * must carry audio_ms and the price audio_cost(audio_ms); a receipt whose
 * duration exceeds the claim by more than audio_claim_slack_ms is settled
 * at the claim and logged.
 */
#include <event2/buffer.h>
#include <event2/http.h>
#include <openssl/rand.h>
#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/log.h"
#include "core/time.h"
#include "coord/admit.h"
#include "coord/anthropic.h"
#include "coord/coord_impl.h"
#include "engine/audio.h"
#include "http/audio_fmt.h"
#include "http/audio_req.h"
#include "http/error.h"
#include "http/sse.h"

#define AUDIO_MAX_MS (4u * 3600u * 1000u) /* the node's decoder limit (4 h) */

static void reject(coord *c, struct evhttp_request *req, int status, const char *code,
                   const char *param, const char *msg) {
  coord_chat_reject(c, req, status, code, param, msg);
}

int coord_speech_sealed_price(coord *c, struct evhttp_request *req, const gloam_seal_header *h,
                              int64_t *per_minute, int64_t *max_cost) {
  if (h->audio_ms == 0 || h->audio_ms > AUDIO_MAX_MS) {
    reject(c, req, 400, "invalid_envelope", NULL,
           "An audio envelope must carry the audio duration (1 ms .. 4 h).");
    return GLOAM_EINVAL;
  }
  if (coord_store_audio_price_get(c->store, h->model, per_minute) < 0) {
    reject(c, req, 404, "model_not_found", "model", "The model is not offered for audio.");
    return GLOAM_ENOENT;
  }
  *max_cost = audio_cost(h->audio_ms + audio_claim_slack_ms(h->audio_ms), *per_minute);
  return *max_cost < 0 ? GLOAM_ERANGE : 0;
}

cjob *coord_unit_job(coord *c, const char *model, const char *endpoint, uint32_t audio_ms,
                     uint32_t n_images, const uint8_t *body, size_t len) {
  cjob *j = mem_calloc(1, sizeof *j);
  if (!j || RAND_bytes(j->id, sizeof j->id) != 1 || !(j->plain = mem_dup(body, len))) {
    if (j) coord_job_free(j);
    return NULL;
  }
  j->c = c;
  coord_node_job_hex(j->id, j->id_hex);
  j->plain_len = len;
  j->api = API_OPENAI;
  j->endpoint = endpoint;
  j->audio_ms = audio_ms;
  j->n_images = n_images;
  snprintf(j->model, sizeof j->model, "%s", model);
  j->max_output_tokens = UINT32_MAX; /* bounded by the billed units, not tokens */
  j->body_len = (uint32_t)len;
  j->start_ms = time_mono_ms();
  return j;
}

/* A coordinator-sealed upload between parsing and admission: its duration
 * is measured by decoding it (FFmpeg, bounded) on a worker thread, never on
 * the event loop; the worker reads its own copy of the file, so a client
 * that leaves meanwhile frees nothing the worker uses. */
typedef struct speech_admit {
  coord *c;
  struct evhttp_request *req;
  struct evhttp_connection *evcon;
  int64_t account, per_min;
  bool translate, gone;
  int need;
  uint8_t *file; /* copy of the audio part */
  size_t file_len;
  uint32_t audio_ms;
  int rc;
  char err[GLOAM_ERR_LEN];
} speech_admit;

static void admit_free(speech_admit *a) {
  mem_free(a->file);
  mem_free(a);
}

/* The client left while its upload was being measured (evhttp detached the
 * request: ending it frees it). */
static void admit_gone(struct evhttp_connection *evcon, void *ud) {
  speech_admit *a = ud;
  (void)evcon;
  a->gone = true;
  evhttp_send_reply_end(a->req);
  a->req = NULL;
}

static void measure_work(void *ud) {
  speech_admit *a = ud;
  audio_limits lim = {a->file_len, AUDIO_MAX_MS / 1000.0};
  a->rc = audio_measure_ms(a->file, a->file_len, &lim, &a->audio_ms, a->err);
}

/* Parses the request's multipart body into r (r borrows the body); body
 * and len are the raw body for sealing. On failure e says why. */
static int parse_upload(coord *c, struct evhttp_request *req, bool translate, audio_req *r,
                        audio_req_error *e, const uint8_t **body, size_t *len) {
  struct evbuffer *in = evhttp_request_get_input_buffer(req);
  *len = evbuffer_get_length(in);
  *body = *len ? evbuffer_pullup(in, (ev_ssize_t)*len) : (const uint8_t *)"";
  const char *ct = evhttp_find_header(evhttp_request_get_input_headers(req), "Content-Type");
  mp_limits lim;
  mp_limits_init(&lim);
  lim.max_body = c->cfg.max_upload_bytes;
  return audio_req_parse(*body, *len, ct, translate, &lim, r, e);
}

/* On the loop: route, seal, reserve and dispatch the measured request. */
static void admit(speech_admit *a) {
  coord *c = a->c;
  struct evhttp_request *req = a->req;
  const uint8_t *body;
  size_t len;
  audio_req r;
  audio_req_error e;
  if (parse_upload(c, req, a->translate, &r, &e, &body, &len) < 0) { /* parsed before */
    reject(c, req, 500, "internal", NULL, "The upload changed while it was measured.");
    return;
  }
  cjob *j = NULL;
  uint32_t audio_ms = a->audio_ms;
  cnode *n = NULL;
  int st = 0;
  const char *code = NULL;
  if (!(n = coord_plain_pick_why(c, r.model, 0, a->need, &st, &code))) {
    reject(c, req, st, code, NULL,
           st == 503 ? "No node serving this model meets the requested trust level."
                     : "All nodes serving this model are busy.");
  } else if (!(j = coord_unit_job(c, r.model, audio_req_endpoint(r.translate), audio_ms, 0, body,
                                  len))) {
    reject(c, req, 500, "internal", NULL, "Out of memory.");
  } else {
    j->audio_format = (int)r.format;
    j->stream = r.stream;
    j->account = a->account;
    j->need_trust = a->need; /* failover keeps the policy */
    j->audio_price = a->per_min;
    j->reserved = audio_cost(audio_ms + audio_claim_slack_ms(audio_ms), a->per_min);
    coord_admit_reserve(j, req, n, "audio", coord_plain_place); /* takes j */
  }
  audio_req_free(&r);
}

static void measure_done(void *ud) {
  speech_admit *a = ud;
  if (!a->gone) {
    evhttp_connection_set_closecb(a->evcon, NULL, NULL);
    if (a->c->wq_closing)
      reject(a->c, a->req, 503, "shutting_down", NULL, "The coordinator is shutting down.");
    else if (a->rc < 0)
      reject(a->c, a->req, a->rc == GLOAM_ENOMEM ? 500 : 400,
             a->rc == GLOAM_EUNSUPPORTED ? "unsupported_file" : "invalid_file", "file", a->err);
    else
      admit(a);
  }
  admit_free(a);
}

static void plain(struct evhttp_request *req, coord *c, int64_t account, bool translate) {
  const uint8_t *body;
  size_t len;
  audio_req r;
  audio_req_error e;
  if (parse_upload(c, req, translate, &r, &e, &body, &len) < 0) {
    reject(c, req, e.status, e.code, e.param[0] ? e.param : NULL, e.message);
    return;
  }
  int64_t per_min = 0;
  int need = coord_plain_min_trust(req, NULL);
  speech_admit *a = NULL;
  if (need < 0) {
    reject(c, req, 400, "invalid_value", "min_trust",
           "Gloam-Min-Trust must be none, software, tpm, measured or confidential.");
  } else if (!coord_chat_model_served(c, r.model)) {
    reject(c, req, 404, "model_not_found", "model",
           "The model does not exist or is not served right now.");
  } else if (coord_store_audio_price_get(c->store, r.model, &per_min) < 0) {
    reject(c, req, 404, "model_not_found", "model", "The model is not offered for audio.");
  } else if (!(a = mem_calloc(1, sizeof *a)) || !(a->file = mem_dup(r.file, r.file_len))) {
    if (a) mem_free(a);
    reject(c, req, 500, "internal", NULL, "Out of memory.");
  } else {
    *a = (speech_admit){.c = c,
                        .req = req,
                        .evcon = evhttp_request_get_connection(req),
                        .account = account,
                        .per_min = per_min,
                        .translate = translate,
                        .need = need,
                        .file = a->file,
                        .file_len = r.file_len};
    evhttp_connection_set_closecb(a->evcon, admit_gone, a);
    coord_offload(c, measure_work, measure_done, a);
  }
  audio_req_free(&r);
}

void coord_speech_handle(struct evhttp_request *req, coord *c, int64_t account, bool translate) {
  const char *ct = evhttp_find_header(evhttp_request_get_input_headers(req), "Content-Type");
  if (ct && strncmp(ct, "application/gloam-sealed", 24) == 0)
    coord_chat_sealed(req, c, account); /* checks the envelope's endpoint and audio_ms */
  else
    plain(req, c, account, translate);
}

int coord_speech_receipt_cost(const cjob *j, const gloam_receipt_claims *cl, int64_t *out_cost,
                              char *err) {
  if (cl->audio_ms == 0 || cl->prompt_tokens != 0)
    return err_set(err, GLOAM_EAUTH, "audio receipt without a duration");
  int64_t cost = audio_cost(cl->audio_ms, j->audio_price);
  if (cost < 0 || (uint64_t)cost != cl->price_micro_usd)
    return err_set(err, GLOAM_EAUTH, "receipt price differs from the price list");
  if (cl->audio_ms > (uint64_t)j->audio_ms + audio_claim_slack_ms(j->audio_ms)) {
    log_line l;
    if (log_begin(&l, LOG_WARN, "speech.duration_over_claim")) {
      log_str(&l, "job", j->id_hex);
      log_uint(&l, "claimed_ms", j->audio_ms);
      log_uint(&l, "receipt_ms", cl->audio_ms);
      log_end(&l);
    }
    cost = audio_cost(j->audio_ms, j->audio_price);
  }
  *out_cost = cost;
  return 0;
}

/* The usage/receipt object every answer carries. */
static json_t *gloam_info(const cjob *j, const char *receipt, int64_t cost) {
  return json_pack("{s:s,s:s,s:s,s:s,s:s,s:I,s:I}", "mode", "coordinator-sealed", "node",
                   j->node_id, "trust", j->node_trust, "job", j->id_hex, "receipt", receipt,
                   "audio_ms_claimed", (json_int_t)j->audio_ms, "charged_micro_usd",
                   (json_int_t)cost);
}

static void send_whole(cjob *j, const char *receipt, int64_t cost) {
  enum audio_format f = (enum audio_format)j->audio_format;
  const char *text = j->acc && j->acc->len ? (const char *)j->acc->data : "";
  size_t len = j->acc ? j->acc->len : 0;
  struct evkeyvalq *h = evhttp_request_get_output_headers(j->req);
  char charged[32];
  snprintf(charged, sizeof charged, "%lld", (long long)cost);
  coord_chat_add_headers(j);
  evhttp_add_header(h, "Gloam-Receipt", receipt);
  evhttp_add_header(h, "Gloam-Charged-Micro-Usd", charged);
  coord_chat_stop_watch(j);
  evhttp_connection_set_closecb(j->evcon, NULL, NULL);
  coord_count_status(j->c, 200);
  json_t *g = gloam_info(j, receipt, cost);
  buf out;
  buf_init(&out, len + 4096);
  if (audio_fmt_with_gloam(text, len, f, g, &out) == 0)
    http_send_text(j->req, 200, audio_format_content_type(f), (const char *)out.data, out.len);
  else
    http_send_error(j->req, 500, NULL, "internal", NULL, "Out of memory.");
  json_decref(g);
  buf_deinit(&out);
  j->req = NULL;
}

void coord_speech_on_done(cjob *j, const char *receipt, int64_t cost) {
  if (!j->req) return;
  if (!j->stream) {
    send_whole(j, receipt, cost);
    return;
  }
  /* nothing was streamed yet when every segment's text was empty */
  if (!j->sse && coord_plain_start_stream(j) < 0) return;
  json_t *g = gloam_info(j, receipt, cost);
  buf ev;
  buf_init(&ev, 8192);
  if (audio_fmt_gloam_event(g, &ev) == 0)
    http_sse_send(j->sse, NULL, (const char *)ev.data, ev.len);
  json_decref(g);
  buf_deinit(&ev);
  http_sse_send(j->sse, NULL, "[DONE]", 6);
  http_sse_end(j->sse);
  j->sse = NULL;
  j->req = NULL;
}
