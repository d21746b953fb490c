/* SPDX-License-Identifier: Apache-2.0
 *
 * node/unit_out.c: sealed frames and receipts of the non-chat jobs
 * (unit_out.h).
 */
#include "node/unit_out.h"

#include <stdio.h>
#include <string.h>

#include "core/err.h"
#include "core/time.h"

int unit_open(node_engine *e, node_slot *s, node_job *j, uint8_t **body, size_t *body_len,
              const char **code, char *msg) {
  int rc = gloam_seal_node_open(e->opener, j->env, j->env_len, 0, &s->hdr, body, body_len, &s->resp,
                                msg);
  if (rc < 0) {
    *code = "bad_envelope";
    return rc;
  }
  if (strcmp(s->hdr.model, e->cfg->model_id) != 0 || strcmp(j->model, s->hdr.model) != 0) {
    *code = "model_not_found";
    return err_set(msg, GLOAM_ENOENT, "this node does not serve the requested model");
  }
  return 0;
}

int unit_send_frame(node_engine *e, node_slot *s, node_job *j, size_t frame_len) {
  s->frame[0] = 0x02;
  memcpy(s->frame + 1, j->id, 16);
  return eng_emit(e, j, NODE_OUT_BINARY, s->frame, 17 + frame_len);
}

int unit_start(node_engine *e, node_slot *s, node_job *j) {
  size_t fl;
  int rc = gloam_seal_responder_start(s->resp, s->frame + 17, NODE_FRAME_CAP - 17, &fl);
  return rc < 0 ? rc : unit_send_frame(e, s, j, fl);
}

static int seal_send(node_engine *e, node_slot *s, node_job *j, const void *pt, size_t len,
                     int final) {
  size_t fl;
  int rc =
      gloam_seal_responder_seal(s->resp, pt, len, final, s->frame + 17, NODE_FRAME_CAP - 17, &fl);
  return rc < 0 ? rc : unit_send_frame(e, s, j, fl);
}

int unit_seal_all(node_engine *e, node_slot *s, node_job *j, buf *out, int final) {
  size_t off = 0, n = out->len;
  int rc = 0;
  while (rc == 0 && n - off > GLOAM_SEAL_MAX_CHUNK) {
    rc = seal_send(e, s, j, out->data + off, GLOAM_SEAL_MAX_CHUNK, 0);
    off += GLOAM_SEAL_MAX_CHUNK;
  }
  if (rc == 0 && (final || n > off)) rc = seal_send(e, s, j, out->data + off, n - off, final);
  buf_reset(out);
  return rc;
}

int unit_claims_init(node_engine *e, node_slot *s, gloam_receipt_claims *c) {
  memset(c, 0, sizeof *c);
  c->version = GLOAM_RECEIPT_VERSION;
  snprintf(c->node_id, sizeof c->node_id, "%s", e->node_id);
  memcpy(c->request_id, s->hdr.request_id, sizeof c->request_id);
  gloam_seal_responder_request_hash(s->resp, c->request_sha256);
  int rc = gloam_seal_responder_transcript_hash(s->resp, c->transcript_sha256);
  snprintf(c->model, sizeof c->model, "%s", s->hdr.model);
  snprintf(c->weights_digest, sizeof c->weights_digest, "%s", e->weights_digest);
  c->started_ms = (uint64_t)s->started_ms;
  c->finished_ms = (uint64_t)time_wall_ms();
  return rc;
}

int unit_done(node_engine *e, node_job *j, const gloam_receipt_claims *c, json_t *usage) {
  char *jws = NULL, err[GLOAM_ERR_LEN];
  size_t jl = 0;
  int rc = gloam_receipt_sign(e->signer, c, &jws, &jl, err);
  if (rc < 0 || !usage) {
    json_decref(usage);
    return rc < 0 ? rc : GLOAM_ENOMEM;
  }
  rc = eng_emit_json(e, j,
                     json_pack("{s:s,s:s,s:s%,s:o}", "type", "job_done", "job", j->id_hex,
                               "receipt", jws, jl, "usage", usage));
  gloam_receipt_free_jws(jws);
  return rc;
}

bool unit_should_stop(node_engine *e, node_job *j, const char **why) {
  pthread_mutex_lock(&e->mu);
  bool stopping = e->stop; /* node_engine_stop */
  pthread_mutex_unlock(&e->mu);
  if (!stopping && !atomic_load(&j->cancel) &&
      !(j->deadline_ms > 0 && time_wall_ms() > j->deadline_ms))
    return false;
  *why = stopping ? "shutting_down" : "deadline_exceeded";
  return true;
}

void unit_end(node_engine *e, node_slot *s, node_job *j, int rc, const char *code, const char *msg,
              const char *why) {
  if (rc < 0 && !atomic_load(&j->cancel))
    eng_emit_json(
        e, j,
        json_pack("{s:s,s:s,s:s,s:s}", "type", "job_error", "job", j->id_hex, "code",
                  why ? why : code, "message", why ? "the job was stopped before its end" : msg));
  gloam_seal_responder_free(s->resp);
  s->resp = NULL;
  s->job = NULL;
  atomic_store(&j->slot, -1);
  eng_emit(e, j, NODE_OUT_RELEASE, NULL, 0);
}
