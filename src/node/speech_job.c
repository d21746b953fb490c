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
#include "node/unit_out.h"

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

/* Seals sj->out in chunks; the last one is FINAL when final. */
static int flush(sjob *sj, int final) {
  return unit_seal_all(sj->e, sj->s, sj->j, &sj->out, final);
}

static int on_segment(void *ctx, const gloam_speech_segment *seg) {
  sjob *sj = ctx;
  sj->n_tokens += seg->n_ids;
  if (unit_should_stop(sj->e, sj->j, &sj->why)) { /* between segments */
    sj->cancelled = true;
    return 1;
  }
  if (!sj->req.stream || !seg->text[0]) return 0;
  int rc = audio_fmt_delta(seg->text, strlen(seg->text), &sj->out);
  return rc < 0 || flush(sj, 0) < 0;
}

/* Opens the envelope and parses the request; code/msg on failure. */
static int open_request(sjob *sj, uint8_t **body, size_t *body_len, const char **code, char *msg) {
  node_slot *s = sj->s;
  int rc = unit_open(sj->e, s, sj->j, body, body_len, code, msg);
  if (rc < 0) return rc;
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
  gloam_receipt_claims c;
  int rc = unit_claims_init(sj->e, sj->s, &c);
  if (rc < 0) return rc;
  c.completion_tokens = sj->n_tokens;
  double ms = ceil(r->duration * 1000.0);
  c.audio_ms = ms < 1 ? 1 : (uint64_t)ms;
  int64_t price = audio_cost(c.audio_ms, sj->j->audio_price);
  c.price_micro_usd = price < 0 ? 0 : (uint64_t)price;
  return unit_done(sj->e, sj->j, &c,
                   json_pack("{s:i,s:I,s:I}", "prompt_tokens", 0, "completion_tokens",
                             (json_int_t)c.completion_tokens, "audio_ms", (json_int_t)c.audio_ms));
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
  size_t body_len = 0;
  gloam_speech_result res;
  memset(&res, 0, sizeof res);
  buf_init(&sj.out, SPEECH_OUT_MAX);
  s->job = j;
  s->started_ms = time_wall_ms();
  atomic_store(&j->slot, s->index);
  int rc = open_request(&sj, &body, &body_len, &code, msg);
  if (rc == 0 && (rc = unit_start(e, s, j)) < 0) {
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
  if (rc == 0) eng_record(e, 0, 0, (int)sj.n_tokens);
  gloam_speech_result_free(&res);
  audio_req_free(&sj.req);
  buf_deinit(&sj.out);
  gloam_seal_free(body, body_len);
  unit_end(e, s, j, rc, code, msg, sj.cancelled ? sj.why : NULL);
}
