/* SPDX-License-Identifier: Apache-2.0
 *
 * coord/image.c: POST /v1/images/generations (docs/images.md, "HTTP API")
 * on the non-chat job path audio built (speech.c coord_unit_job /
 * coord_unit_dispatch, chat.c relay, failover and ledger); what is here is
 * admission and billing per image.
 *
 * Coordinator-sealed (a plain JSON request): the body is validated
 * (http/image_req.h), `response_format: url` refused (the coordinator never
 * stores images: use b64_json, or `gloam proxy`, which serves URLs from the
 * user's own machine), n x the model's image price reserved, and the body
 * sealed unchanged to a node serving the model with the envelope endpoint
 * images/generations and n_images = n. The node's sealed answer (OpenAI's
 * {"created","data":[{"b64_json"}]}) is opened here and answered with a
 * `gloam` object (mode, node, trust, job, receipt, charge) and the
 * Gloam-Receipt / Gloam-Charged-Micro-Usd headers.
 *
 * Client-sealed (application/gloam-sealed): admitted by coord_chat_sealed
 * with the header's n_images (coord_image_sealed_price).
 *
 * Billing: the receipt must carry `images` (1 .. n_images, with each PNG's
 * SHA-256) and the price images x image_price; that amount is charged.
 */
#include <event2/buffer.h>
#include <event2/http.h>
#include <jansson.h>
#include <string.h>

#include "core/buf.h"
#include "core/err.h"
#include "coord/admit.h"
#include "coord/coord_impl.h"
#include "http/error.h"
#include "http/image_req.h"

int coord_image_sealed_price(coord *c, struct evhttp_request *req, const gloam_seal_header *h,
                             int64_t *per_image, int64_t *max_cost) {
  if (h->n_images == 0 || h->n_images > IMAGE_MAX_N || h->audio_ms != 0) {
    coord_chat_reject(c, req, 400, "invalid_envelope", NULL,
                      "An image envelope must carry the number of images (1 .. 4).");
    return GLOAM_EINVAL;
  }
  if (coord_store_image_price_get(c->store, h->model, per_image) < 0) {
    coord_chat_reject(c, req, 404, "model_not_found", "model",
                      "The model is not offered for images.");
    return GLOAM_ENOENT;
  }
  *max_cost = image_cost(h->n_images, *per_image);
  return *max_cost < 0 ? GLOAM_ERANGE : 0;
}

static void plain(struct evhttp_request *req, coord *c, int64_t account) {
  struct evbuffer *in = evhttp_request_get_input_buffer(req);
  size_t len = evbuffer_get_length(in);
  const uint8_t *body = len ? evbuffer_pullup(in, (ev_ssize_t)len) : (const uint8_t *)"";
  image_req r;
  audio_req_error e;
  if (image_req_parse(body, len, &r, &e) < 0) {
    coord_chat_reject(c, req, e.status, e.code, e.param[0] ? e.param : NULL, e.message);
    return;
  }
  cjob *j = NULL;
  int64_t per_image = 0;
  cnode *n = NULL;
  int need = coord_plain_min_trust(req, NULL), st = 0;
  const char *code = NULL;
  if (r.format == IMAGE_FMT_URL) {
    coord_chat_reject(c, req, 400, "invalid_value", "response_format",
                      "The coordinator does not store images, so it cannot serve URLs: use "
                      "response_format b64_json, or `gloam proxy`, which serves URLs from your "
                      "own machine.");
  } else if (need < 0) {
    coord_chat_reject(c, req, 400, "invalid_value", "min_trust",
                      "Gloam-Min-Trust must be none, software, tpm, measured or confidential.");
  } else if (!coord_chat_model_served(c, r.model)) {
    coord_chat_reject(c, req, 404, "model_not_found", "model",
                      "The model does not exist or is not served right now.");
  } else if (coord_store_image_price_get(c->store, r.model, &per_image) < 0) {
    coord_chat_reject(c, req, 404, "model_not_found", "model",
                      "The model is not offered for images.");
  } else if (!(n = coord_plain_pick_why(c, r.model, 0, need, &st, &code))) {
    coord_chat_reject(c, req, st, code, NULL,
                      st == 503 ? "No node serving this model meets the requested trust level."
                                : "All nodes serving this model are busy.");
  } else if (!(j = coord_unit_job(c, r.model, IMAGE_ENDPOINT, 0, (uint32_t)r.n, body, len))) {
    coord_chat_reject(c, req, 500, "internal", NULL, "Out of memory.");
  } else {
    j->account = account;
    j->need_trust = need; /* failover keeps the policy */
    j->image_price = per_image;
    j->reserved = image_cost((uint64_t)r.n, per_image);
    coord_admit_reserve(j, req, n, "image request", coord_plain_place); /* takes j */
  }
  image_req_free(&r);
}

void coord_image_handle(struct evhttp_request *req, coord *c, int64_t account) {
  const char *ct = evhttp_find_header(evhttp_request_get_input_headers(req), "Content-Type");
  if (ct && strncmp(ct, "application/gloam-sealed", 24) == 0)
    coord_chat_sealed(req, c, account); /* checks the envelope's endpoint and n_images */
  else
    plain(req, c, account);
}

int coord_image_receipt_cost(const cjob *j, const gloam_receipt_claims *cl, int64_t *out_cost,
                             char *err) {
  if (cl->images == 0 || cl->images > j->n_images || cl->audio_ms != 0)
    return err_set(err, GLOAM_EAUTH, "image receipt without a valid image count");
  int64_t cost = image_cost(cl->images, j->image_price);
  if (cost < 0 || (uint64_t)cost != cl->price_micro_usd)
    return err_set(err, GLOAM_EAUTH, "receipt price differs from the price list");
  *out_cost = cost;
  return 0;
}

void coord_image_on_done(cjob *j, const char *receipt, int64_t cost) {
  if (!j->req) return;
  json_error_t je;
  json_t *o = j->acc ? json_loadb((const char *)j->acc->data, j->acc->len, 0, &je) : NULL;
  char charged[32];
  snprintf(charged, sizeof charged, "%lld", (long long)cost);
  coord_chat_add_headers(j);
  struct evkeyvalq *h = evhttp_request_get_output_headers(j->req);
  evhttp_add_header(h, "Gloam-Receipt", receipt);
  evhttp_add_header(h, "Gloam-Charged-Micro-Usd", charged);
  coord_chat_stop_watch(j);
  evhttp_connection_set_closecb(j->evcon, NULL, NULL);
  json_t *g = json_pack("{s:s,s:s,s:s,s:s,s:s,s:I,s:I}", "mode", "coordinator-sealed", "node",
                        j->node_id, "trust", j->node_trust, "job", j->id_hex, "receipt", receipt,
                        "images", (json_int_t)j->n_images, "charged_micro_usd", (json_int_t)cost);
  bool ok = json_is_object(o) && json_is_array(json_object_get(o, "data")) && g;
  if (ok && json_object_set_new(o, "gloam", g) == 0) { /* takes g */
    coord_count_status(j->c, 200);
    http_send_json(j->req, 200, o); /* takes o */
  } else {
    json_decref(o);
    if (!ok) json_decref(g);
    coord_count_status(j->c, 502);
    http_send_error(j->req, 502, NULL, "bad_node_output", NULL, "The node's answer is malformed.");
  }
  j->req = NULL;
}
