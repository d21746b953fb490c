/* SPDX-License-Identifier: Apache-2.0
 *
 * node/speech_job.c: transcription jobs on the node's engine thread
 * (speech_job.h). The sealed plaintext of an audio request is its
 * multipart/form-data body exactly as the client posted it; the boundary
 * is read from its first line. The sealed answer is exactly what the client
 * hands to its caller: the body in the requested response_format, or the
 * SSE events of a streamed transcription ending with `data: [DONE]`.
 */
#include "node/speech_job.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/log.h"
#include "core/time.h"
#include "gloam/speech.h"
#include "http/audio_fmt.h"
#include "http/audio_req.h"

#define SPEECH_OUT_MAX (64u << 20)

bool speech_model_detect(const char *dir) {
  char path[NODE_PATH_MAX + 16];
  snprintf(path, sizeof path, "%s/config.json", dir);
  json_t *cfg = json_load_file(path, 0, NULL);
  const char *mt = json_string_value(json_object_get(cfg, "model_type"));
  bool yes = mt && strcmp(mt, "whisper") == 0;
  json_decref(cfg);
  return yes;
}

int speech_engine_load(node_engine *e, char *err) {
  return gloam_speech_load(&e->speech, e->cfg->model, e->cfg->threads, err);
}

void speech_engine_free(node_engine *e) {
  gloam_speech_free(e->speech);
  e->speech = NULL;
}

/* ------------------------------------------------------------ one job */

typedef struct sjob {
  node_engine *e;
  node_slot *s;
  node_job *j;
  audio_req req;
  buf out; /* the plaintext waiting to be sealed */
  size_t n_tokens;
  bool cancelled;
  const char *why; /* static: why on_segment stopped the job */
} sjob;

/* Sends the sealed frame in s->frame + 17 as a 0x02 binary message. */
static int send_frame(sjob *sj, size_t frame_len) {
  sj->s->frame[0] = 0x02;
  memcpy(sj->s->frame + 1, sj->j->id, 16);
  return eng_emit(sj->e, sj->j, NODE_OUT_BINARY, sj->s->frame, 17 + frame_len);
}

static int seal_send(sjob *sj, const void *pt, size_t len, int final) {
  node_slot *s = sj->s;
  size_t fl;
  int rc =
      gloam_seal_responder_seal(s->resp, pt, len, final, s->frame + 17, NODE_FRAME_CAP - 17, &fl);
  return rc < 0 ? rc : send_frame(sj, fl);
}

/* Seals sj->out in chunks; the last one is FINAL when final. */
static int flush(sjob *sj, int final) {
  size_t off = 0, n = sj->out.len;
  int rc = 0;
  while (rc == 0 && n - off > GLOAM_SEAL_MAX_CHUNK) {
    rc = seal_send(sj, sj->out.data + off, GLOAM_SEAL_MAX_CHUNK, 0);
    off += GLOAM_SEAL_MAX_CHUNK;
  }
  if (rc == 0 && (final || n > off)) rc = seal_send(sj, sj->out.data + off, n - off, final);
  buf_reset(&sj->out);
  return rc;
}

static int on_segment(void *ctx, const gloam_speech_segment *seg) {
  sjob *sj = ctx;
  sj->n_tokens += seg->n_ids;
  pthread_mutex_lock(&sj->e->mu);
  bool stopping = sj->e->stop; /* node_engine_stop: end the job between segments */
  pthread_mutex_unlock(&sj->e->mu);
  if (stopping || atomic_load(&sj->j->cancel) ||
      (sj->j->deadline_ms > 0 && time_wall_ms() > sj->j->deadline_ms)) {
    sj->cancelled = true;
    sj->why = stopping ? "shutting_down" : "deadline_exceeded";
    return 1;
  }
  if (!sj->req.stream || !seg->text[0]) return 0;
  int rc = audio_fmt_delta(seg->text, strlen(seg->text), &sj->out);
  return rc < 0 || flush(sj, 0) < 0;
}

/* Opens the envelope and parses the request; code/msg on failure. */
static int open_request(sjob *sj, uint8_t **body, size_t *body_len, const char **code, char *msg) {
  node_engine *e = sj->e;
  node_slot *s = sj->s;
  int rc = gloam_seal_node_open(e->opener, sj->j->env, sj->j->env_len, 0, &s->hdr, body, body_len,
                                &s->resp, msg);
  if (rc < 0) {
    *code = "bad_envelope";
    return rc;
  }
  if (strcmp(s->hdr.model, e->cfg->model_id) != 0 || strcmp(sj->j->model, s->hdr.model) != 0) {
    *code = "model_not_found";
    return err_set(msg, GLOAM_ENOENT, "this node does not serve the requested model");
  }
  bool translate = strcmp(s->hdr.endpoint, audio_req_endpoint(true)) == 0;
  if (!translate && strcmp(s->hdr.endpoint, audio_req_endpoint(false)) != 0) {
    *code = "invalid_request";
    return err_set(msg, GLOAM_EUNSUPPORTED, "this node serves only audio transcriptions");
  }
  audio_req_error ae;
  *code = "invalid_request";
  if ((rc = audio_req_parse(*body, *body_len, NULL, translate, NULL, &sj->req, &ae)) < 0)
    return err_set(msg, rc, "%s", ae.message);
  if (strcmp(sj->req.model, s->hdr.model) != 0)
    return err_set(msg, GLOAM_EINVAL, "the body's model differs from the envelope's");
  return 0;
}

static int send_receipt(sjob *sj, const gloam_speech_result *r) {
  node_engine *e = sj->e;
  node_slot *s = sj->s;
  gloam_receipt_claims c;
  memset(&c, 0, sizeof c);
  c.version = GLOAM_RECEIPT_VERSION;
  snprintf(c.node_id, sizeof c.node_id, "%s", e->node_id);
  memcpy(c.request_id, s->hdr.request_id, sizeof c.request_id);
  gloam_seal_responder_request_hash(s->resp, c.request_sha256);
  int rc = gloam_seal_responder_transcript_hash(s->resp, c.transcript_sha256);
  if (rc < 0) return rc;
  snprintf(c.model, sizeof c.model, "%s", s->hdr.model);
  snprintf(c.weights_digest, sizeof c.weights_digest, "%s", e->weights_digest);
  c.completion_tokens = sj->n_tokens;
  double ms = ceil(r->duration * 1000.0);
  c.audio_ms = ms < 1 ? 1 : (uint64_t)ms;
  int64_t price = audio_cost(c.audio_ms, sj->j->audio_price);
  c.price_micro_usd = price < 0 ? 0 : (uint64_t)price;
  c.started_ms = (uint64_t)s->started_ms;
  c.finished_ms = (uint64_t)time_wall_ms();
  char *jws = NULL, err[GLOAM_ERR_LEN];
  size_t jl = 0;
  if ((rc = gloam_receipt_sign(e->signer, &c, &jws, &jl, err)) < 0) return rc;
  rc = eng_emit_json(
      e, sj->j,
      json_pack("{s:s,s:s,s:s%,s:{s:i,s:I,s:I}}", "type", "job_done", "job", sj->j->id_hex,
                "receipt", jws, jl, "usage", "prompt_tokens", 0, "completion_tokens",
                (json_int_t)c.completion_tokens, "audio_ms", (json_int_t)c.audio_ms));
  gloam_receipt_free_jws(jws);
  return rc;
}

/* The answer after the transcription: the body, or the stream's end. */
static int finish(sjob *sj, const gloam_speech_result *r) {
  int rc;
  if (sj->req.stream) {
    rc = audio_fmt_done(r, &sj->out);
    if (rc == 0) rc = buf_append_str(&sj->out, "data: [DONE]\n\n");
  } else {
    rc =
        audio_fmt_body(r, sj->req.translate ? "translate" : "transcribe", sj->req.format, &sj->out);
  }
  if (rc == 0) rc = flush(sj, 1);
  return rc == 0 ? send_receipt(sj, r) : rc;
}

static const char *audio_error_code(int rc) {
  switch (rc) {
    case GLOAM_EFORMAT:
    case GLOAM_EUNSUPPORTED:
    case GLOAM_ETOOBIG:
    case GLOAM_EINVAL:
      return "invalid_request";
    default:
      return "internal_error";
  }
}

static int transcribe(sjob *sj, gloam_speech_result *res, const char **code, char *msg) {
  gloam_speech_opts o;
  gloam_speech_opts_init(&o);
  o.language = sj->req.language[0] ? sj->req.language : NULL;
  o.task = sj->req.translate ? GLOAM_SPEECH_TRANSLATE : GLOAM_SPEECH_TRANSCRIBE;
  o.prompt = sj->req.prompt;
  o.temperature = (float)sj->req.temperature;
  o.fallback = true; /* as OpenAI's transcribe() */
  o.timestamps = sj->req.format == AUDIO_FMT_SRT || sj->req.format == AUDIO_FMT_VTT ||
                 sj->req.format == AUDIO_FMT_VERBOSE_JSON;
  o.max_tokens = sj->e->cfg->speech_max_tokens;
  o.on_segment = on_segment;
  o.ctx = sj;
  gloam_audio_limits lim = {MP_DEFAULT_MAX_FILE, 0};
  int rc = gloam_speech_transcribe_audio(sj->e->speech, sj->req.file, sj->req.file_len, &lim, &o,
                                         res, msg);
  if (rc < 0) *code = audio_error_code(rc);
  return rc;
}

void speech_job_run(node_engine *e, node_slot *s, node_job *j) {
  sjob sj = {.e = e, .s = s, .j = j};
  char msg[GLOAM_ERR_LEN] = "";
  const char *code = "internal_error";
  uint8_t *body = NULL;
  size_t body_len = 0, fl;
  gloam_speech_result res;
  memset(&res, 0, sizeof res);
  buf_init(&sj.out, SPEECH_OUT_MAX);
  s->job = j;
  s->started_ms = time_wall_ms();
  atomic_store(&j->slot, s->index);
  int rc = open_request(&sj, &body, &body_len, &code, msg);
  if (rc == 0 &&
      ((rc = gloam_seal_responder_start(s->resp, s->frame + 17, NODE_FRAME_CAP - 17, &fl)) < 0 ||
       (rc = send_frame(&sj, fl)) < 0)) {
    code = "internal_error";
    err_set(msg, rc, "cannot start the sealed stream");
  }
  if (rc == 0) rc = transcribe(&sj, &res, &code, msg);
  if (rc == 0 && (rc = finish(&sj, &res)) < 0) {
    code = "internal_error";
    err_set(msg, rc, "finishing the response failed");
  }
  log_line l;
  if (log_begin(&l, rc == 0 ? LOG_INFO : LOG_WARN, "node.speech_job_done")) {
    log_str(&l, "job", j->id_hex);
    log_int(&l, "rc", rc);
    log_int(&l, "audio_ms", (int64_t)(res.duration * 1000.0));
    log_int(&l, "tokens", (int64_t)sj.n_tokens);
    log_int(&l, "ms", time_wall_ms() - s->started_ms);
    log_end(&l);
  }
  if (rc < 0 && !atomic_load(&j->cancel) && !sj.cancelled)
    eng_emit_json(e, j,
                  json_pack("{s:s,s:s,s:s,s:s}", "type", "job_error", "job", j->id_hex, "code",
                            code, "message", msg));
  else if (rc < 0 && sj.cancelled && !atomic_load(&j->cancel))
    eng_emit_json(e, j,
                  json_pack("{s:s,s:s,s:s,s:s}", "type", "job_error", "job", j->id_hex, "code",
                            sj.why, "message", "the job was stopped between segments"));
  if (rc == 0) eng_record(e, 0, 0, (int)sj.n_tokens);
  gloam_speech_result_free(&res);
  audio_req_free(&sj.req);
  buf_deinit(&sj.out);
  gloam_seal_free(body, body_len);
  gloam_seal_responder_free(s->resp);
  s->resp = NULL;
  s->job = NULL;
  atomic_store(&j->slot, -1);
  eng_emit(e, j, NODE_OUT_RELEASE, NULL, 0);
}
