/* SPDX-License-Identifier: Apache-2.0
 *
 * node/job.c: one job's life in a slot, on the engine thread: open the
 * envelope, parse the request, render the model's chat template, tokenize,
 * prefill, then one token per job_step(): sample, decode to text, split
 * content / reasoning / tool calls, seal the chunk, evaluate the token.
 * At the end: the FINAL frame, the receipt and job_done.
 *
 * The plaintext of the sealed stream is exactly what the client emits
 * (docs/node.md "Sealed stream"): with "stream": true, OpenAI SSE events
 * ("data: {chat.completion.chunk}\n\n" ... "data: [DONE]\n\n", the last one
 * in the FINAL frame); otherwise one chat.completion JSON object, split over
 * frames only when it exceeds GLOAM_SEAL_MAX_CHUNK.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/codec.h"
#include "core/err.h"
#include "core/log.h"
#include "core/time.h"
#include "node/engine_int.h"

#define JOB_SSE_MAX (GLOAM_SEAL_MAX_CHUNK - 64)
#define JOB_TEXT_MAX (64u << 20)

/* ------------------------------------------------------------ frames */

static int send_frame(node_engine *e, node_slot *s, size_t frame_len) {
  s->frame[0] = 0x02;
  memcpy(s->frame + 1, s->job->id, 16);
  return eng_emit(e, s->job, NODE_OUT_BINARY, s->frame, 17 + frame_len);
}

static int seal_send(node_engine *e, node_slot *s, const void *pt, size_t len, int final) {
  size_t fl;
  int rc =
      gloam_seal_responder_seal(s->resp, pt, len, final, s->frame + 17, NODE_FRAME_CAP - 17, &fl);
  return rc < 0 ? rc : send_frame(e, s, fl);
}

/* ------------------------------------------------------------ chunks */

static json_t *chunk_base(node_engine *e, node_slot *s, const char *object) {
  return json_pack("{s:s,s:s,s:I,s:s,s:s}", "id", s->chat_id, "object", object, "created",
                   (json_int_t)s->created_s, "model", s->hdr.model, "system_fingerprint",
                   e->fingerprint);
}

/* Appends one SSE event with a chat.completion.chunk carrying delta. */
static int sse_chunk(node_engine *e, node_slot *s, json_t *delta, const char *finish) {
  json_t *c = chunk_base(e, s, "chat.completion.chunk");
  json_t *choice = json_pack("{s:i,s:o,s:n,s:o}", "index", 0, "delta", delta, "logprobs",
                             "finish_reason", finish ? json_string(finish) : json_null());
  if (!c || !choice || json_object_set_new(c, "choices", json_pack("[o]", choice)) < 0) {
    json_decref(c);
    return GLOAM_ENOMEM;
  }
  char *t = json_dumps(c, JSON_COMPACT);
  json_decref(c);
  if (!t) return GLOAM_ENOMEM;
  int rc = buf_printf(&s->sse, "data: %s\n\n", t);
  free(t);
  return rc;
}

static int emit_cb(void *ud, enum outparse_kind kind, const char *a, size_t a_len, const char *b,
                   size_t b_len) {
  node_slot *s = ud;
  node_engine *e = s->eng;
  if (kind == OUT_TOOL_CALL) {
    char id[40];
    snprintf(id, sizeof id, "call_%.16s%02d", s->job->id_hex, (int)json_array_size(s->tool_calls));
    json_t *fn = json_pack("{s:s%,s:s%}", "name", a, a_len, "arguments", b, b_len);
    json_t *tc = json_pack("{s:s,s:s,s:o}", "id", id, "type", "function", "function", fn);
    if (!tc) return GLOAM_ENOMEM;
    int idx = (int)json_array_size(s->tool_calls);
    if (json_array_append(s->tool_calls, tc) < 0) {
      json_decref(tc);
      return GLOAM_ENOMEM;
    }
    if (!s->req.stream) {
      json_decref(tc);
      return 0;
    }
    json_object_set_new(tc, "index", json_integer(idx));
    return sse_chunk(e, s, json_pack("{s:[o]}", "tool_calls", tc), NULL);
  }
  if (!s->req.stream)
    return buf_append(kind == OUT_REASONING ? &s->reasoning : &s->content, a, a_len);
  const char *key = kind == OUT_REASONING ? "reasoning_content" : "content";
  return sse_chunk(e, s, json_pack("{s:s%}", key, a, a_len), NULL);
}

/* ------------------------------------------------------------ setup */

static void slot_clear(node_slot *s) {
  node_request_deinit(&s->req);
  gloam_seal_responder_free(s->resp);
  gloam_sampler_free(s->smp);
  gloam_tok_stream_free(s->ts);
  outparse_deinit(&s->op);
  buf_deinit(&s->sse);
  buf_deinit(&s->content);
  buf_deinit(&s->reasoning);
  json_decref(s->tool_calls);
  if (s->job) atomic_store(&s->job->slot, -1);
  s->resp = NULL;
  s->smp = NULL;
  s->ts = NULL;
  s->tool_calls = NULL;
  s->job = NULL;
}

/* Renders the chat template and tokenizes. OUT: *ids (gloam_tokenizer_buf_free). */
static int render_prompt(node_engine *e, node_slot *s, int32_t **ids, size_t *n, char *err) {
  char *msgs = json_dumps(s->req.messages, JSON_COMPACT);
  char *tools = s->req.tools ? json_dumps(s->req.tools, JSON_COMPACT) : NULL;
  if (!msgs || (s->req.tools && !tools)) {
    free(msgs);
    free(tools);
    return err_set(err, GLOAM_ENOMEM, "out of memory");
  }
  gloam_chat_request cr = {.messages_json = msgs,
                           .tools_json = tools,
                           .add_generation_prompt = 1,
                           .bos_token = gloam_tokenizer_role_token(e->tok, GLOAM_TOK_BOS),
                           .eos_token = gloam_tokenizer_role_token(e->tok, GLOAM_TOK_EOS)};
  char *text = NULL;
  size_t len = 0;
  int rc = gloam_chat_template_render(e->tmpl, &cr, &text, &len, err);
  free(msgs);
  free(tools);
  if (rc < 0) return rc;
  s->in_reasoning = gloam_chat_prompt_in_reasoning(text, len) == 1;
  rc = gloam_tokenizer_encode(e->tok, text, len, 0, ids, n);
  gloam_chat_free(text);
  if (rc < 0) return err_set(err, rc, "tokenizing the prompt failed");
  if (*n == 0) return err_set(err, GLOAM_EINVAL, "empty prompt");
  for (size_t i = 0; i < *n; i++) {
    if ((*ids)[i] >= 0 && (*ids)[i] < e->n_vocab) continue;
    if (!e->cfg->clamp_token_ids)
      return err_set(err, GLOAM_EINVAL, "the tokenizer produced an id the model does not have");
    (*ids)[i] = (int32_t)((uint32_t)(*ids)[i] % (uint32_t)e->n_vocab);
  }
  return 0;
}

static int make_sampler(node_engine *e, node_slot *s) {
  gloam_sampler_params p = gloam_sampler_default_params();
  p.temperature = (float)s->req.temperature;
  p.top_p = (float)s->req.top_p;
  p.top_k = s->req.top_k;
  p.min_p = (float)s->req.min_p;
  p.presence_penalty = (float)s->req.presence_penalty;
  p.frequency_penalty = (float)s->req.frequency_penalty;
  p.repetition_penalty = (float)s->req.repetition_penalty;
  p.seed = s->req.has_seed ? s->req.seed : GLOAM_SEED_RANDOM;
  return gloam_sampler_new(&s->smp, e->model, &p);
}

/* Opens and validates; on failure fills code/msg and returns < 0. */
static int open_request(node_engine *e, node_slot *s, const char **code, char *msg) {
  node_job *j = s->job;
  uint8_t *body = NULL;
  size_t body_len = 0;
  int rc = gloam_seal_node_open(e->opener, j->env, j->env_len, 0, &s->hdr, &body, &body_len,
                                &s->resp, msg);
  if (rc < 0) {
    *code = "bad_envelope";
    return rc;
  }
  if (strcmp(s->hdr.model, e->cfg->model_id) != 0 || strcmp(j->model, s->hdr.model) != 0) {
    *code = "model_not_found";
    return err_set(msg, GLOAM_ENOENT, "this node does not serve the requested model");
  }
  if (strcmp(s->hdr.endpoint, "chat/completions") != 0) {
    *code = "invalid_request";
    return err_set(msg, GLOAM_EUNSUPPORTED, "endpoint not served by this node");
  }
  rc = node_request_parse(body, body_len, &s->req, msg);
  gloam_seal_free(body, body_len);
  if (rc < 0) {
    *code = node_request_error_code(&s->req);
    return rc;
  }
  if (s->req.model && strcmp(s->req.model, s->hdr.model) != 0) {
    *code = "invalid_request";
    return err_set(msg, GLOAM_EINVAL, "the body's model differs from the envelope's");
  }
  return 0;
}

/* The output limit; < 0 when the context cannot hold the request. */
static int plan_limit(node_engine *e, node_slot *s, char *msg) {
  int n_ctx = gloam_session_n_ctx(s->session);
  if (s->n_prompt >= n_ctx)
    return err_set(msg, GLOAM_ERANGE, "prompt of %d tokens exceeds the context of %d", s->n_prompt,
                   n_ctx);
  int64_t room = n_ctx - s->n_prompt, lim = room;
  if (s->req.max_tokens > 0) {
    if (s->req.max_tokens > room)
      return err_set(msg, GLOAM_ERANGE, "prompt (%d) + max_tokens (%lld) exceed the context of %d",
                     s->n_prompt, (long long)s->req.max_tokens, n_ctx);
    lim = s->req.max_tokens;
  }
  if (s->hdr.max_output_tokens > 0 && s->hdr.max_output_tokens < lim)
    lim = s->hdr.max_output_tokens;
  if (s->job->max_output_tokens > 0 && s->job->max_output_tokens < lim)
    lim = s->job->max_output_tokens;
  s->limit = (int)lim;
  return 0;
}

static int prefill(node_engine *e, node_slot *s, const int32_t *ids, char *msg) {
  gloam_session_reset(s->session);
  uint64_t t0 = time_mono_ns();
  int rc;
  do {
    rc = gloam_session_eval(s->session, ids, s->n_prompt);
  } while (rc == GLOAM_ECANCELED && !atomic_load(&s->job->cancel));
  if (rc < 0) return err_set(msg, rc, "prefill failed");
  double dt = (double)(time_mono_ns() - t0) / 1e9;
  eng_record(e, dt > 0 ? s->n_prompt / dt : 0, 0, 0);
  for (int i = 0; i < s->n_prompt; i++) gloam_sampler_accept(s->smp, ids[i]);
  return 0;
}

int job_begin(node_engine *e, node_slot *s, node_job *j) {
  char msg[GLOAM_ERR_LEN] = "";
  const char *code = "internal_error";
  int32_t *ids = NULL;
  size_t n_ids = 0;
  memset(&s->req, 0, sizeof s->req);
  s->job = j;
  atomic_store(&j->slot, s->index);
  outparse_init(&s->op, false, false, NULL, NULL, 0);
  buf_init(&s->sse, JOB_SSE_MAX);
  buf_init(&s->content, JOB_TEXT_MAX);
  buf_init(&s->reasoning, JOB_TEXT_MAX);
  s->n_out = 0;
  s->sent_role = false;
  s->started_ms = time_wall_ms();
  s->created_s = s->started_ms / 1000;
  int rc = open_request(e, s, &code, msg);
  if (rc < 0) goto fail;
  code = "invalid_request";
  if ((rc = render_prompt(e, s, &ids, &n_ids, msg)) < 0) goto fail;
  s->n_prompt = n_ids > (size_t)INT32_MAX ? INT32_MAX : (int)n_ids;
  code = "context_length_exceeded";
  if ((rc = plan_limit(e, s, msg)) < 0) goto fail;
  code = "internal_error";
  if (!(s->tool_calls = json_array()) || (rc = make_sampler(e, s)) < 0 ||
      (rc = gloam_tok_stream_new(e->tok, GLOAM_TOK_SKIP_SPECIAL, &s->ts)) < 0) {
    err_set(msg, rc < 0 ? rc : GLOAM_ENOMEM, "cannot set up the job");
    goto fail;
  }
  outparse_deinit(&s->op);
  outparse_init(&s->op, e->tmpl_think, e->tmpl_tools && s->req.tools,
                (const char *const *)s->req.stop, s->req.stop_len, s->req.n_stop);
  if (e->tmpl_think && s->in_reasoning) s->op.mode = 1; /* the prompt opened <think> */
  char hex[33];
  codec_hex_encode(s->hdr.request_id, sizeof s->hdr.request_id, hex, sizeof hex);
  snprintf(s->chat_id, sizeof s->chat_id, "chatcmpl-%s", hex);
  size_t fl;
  if ((rc = gloam_seal_responder_start(s->resp, s->frame + 17, NODE_FRAME_CAP - 17, &fl)) < 0 ||
      (rc = send_frame(e, s, fl)) < 0) {
    err_set(msg, rc, "cannot start the sealed stream");
    goto fail;
  }
  if ((rc = prefill(e, s, ids, msg)) < 0) {
    gloam_tokenizer_buf_free(ids);
    if (rc == GLOAM_ECANCELED)
      job_abort(e, s, NULL, NULL);
    else
      job_abort(e, s, "internal_error", msg);
    return rc;
  }
  gloam_tokenizer_buf_free(ids);
  log_line l;
  if (log_begin(&l, LOG_INFO, "node.job_started")) {
    log_str(&l, "job", j->id_hex);
    log_int(&l, "slot", s->index);
    log_int(&l, "prompt_tokens", s->n_prompt);
    log_int(&l, "limit", s->limit);
    log_end(&l);
  }
  return 0;
fail:
  gloam_tokenizer_buf_free(ids);
  slot_clear(s);
  eng_refuse(e, j, code, msg);
  return rc < 0 ? rc : GLOAM_EINTERNAL;
}

/* ------------------------------------------------------------ finish */

static json_t *usage_json(node_slot *s) {
  return json_pack("{s:i,s:i,s:i}", "prompt_tokens", s->n_prompt, "completion_tokens", s->n_out,
                   "total_tokens", s->n_prompt + s->n_out);
}

static const char *finish_reason(node_slot *s, bool length) {
  if (json_array_size(s->tool_calls) > 0) return "tool_calls";
  return length ? "length" : "stop";
}

/* The non-streamed response: one chat.completion object. */
static char *completion_json(node_engine *e, node_slot *s, const char *reason) {
  json_t *m = json_pack("{s:s}", "role", "assistant");
  if (!m) return NULL;
  bool tools = json_array_size(s->tool_calls) > 0;
  json_object_set_new(
      m, "content",
      s->content.len || !tools
          ? json_stringn((const char *)s->content.data ? (const char *)s->content.data : "",
                         s->content.len)
          : json_null());
  if (s->reasoning.len)
    json_object_set_new(m, "reasoning_content",
                        json_stringn((const char *)s->reasoning.data, s->reasoning.len));
  if (tools) json_object_set(m, "tool_calls", s->tool_calls);
  json_t *c = chunk_base(e, s, "chat.completion");
  if (!c) {
    json_decref(m);
    return NULL;
  }
  json_object_set_new(c, "choices",
                      json_pack("[{s:i,s:o,s:n,s:s}]", "index", 0, "message", m, "logprobs",
                                "finish_reason", reason));
  json_object_set_new(c, "usage", usage_json(s));
  char *t = json_dumps(c, JSON_COMPACT);
  json_decref(c);
  return t;
}

static int send_tail(node_engine *e, node_slot *s, const char *reason) {
  int rc = 0;
  if (s->req.stream) {
    if ((rc = sse_chunk(e, s, json_object(), reason)) < 0) return rc;
    if (s->req.include_usage) {
      json_t *c = chunk_base(e, s, "chat.completion.chunk");
      json_object_set_new(c, "choices", json_array());
      json_object_set_new(c, "usage", usage_json(s));
      char *t = c ? json_dumps(c, JSON_COMPACT) : NULL;
      json_decref(c);
      if (!t) return GLOAM_ENOMEM;
      rc = buf_printf(&s->sse, "data: %s\n\n", t);
      free(t);
      if (rc < 0) return rc;
    }
    if ((rc = seal_send(e, s, s->sse.data, s->sse.len, 0)) < 0) return rc;
    buf_reset(&s->sse);
    return seal_send(e, s, "data: [DONE]\n\n", 14, 1);
  }
  char *t = completion_json(e, s, reason);
  if (!t) return GLOAM_ENOMEM;
  size_t n = strlen(t), off = 0;
  while (rc == 0 && n - off > GLOAM_SEAL_MAX_CHUNK) {
    rc = seal_send(e, s, t + off, GLOAM_SEAL_MAX_CHUNK, 0);
    off += GLOAM_SEAL_MAX_CHUNK;
  }
  if (rc == 0) rc = seal_send(e, s, t + off, n - off, 1);
  free(t);
  return rc;
}

static int send_receipt(node_engine *e, node_slot *s) {
  node_job *j = s->job;
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
  c.prompt_tokens = (uint64_t)s->n_prompt;
  c.completion_tokens = (uint64_t)s->n_out;
  __int128 t = (__int128)s->n_prompt * j->in_price + (__int128)s->n_out * j->out_price;
  t = (t + 999999) / 1000000;
  c.price_micro_usd = t < 0 || t > (__int128)GLOAM_RECEIPT_MAX_INT ? 0 : (uint64_t)t;
  c.started_ms = (uint64_t)s->started_ms;
  c.finished_ms = (uint64_t)time_wall_ms();
  char *jws = NULL;
  size_t jl = 0;
  char err[GLOAM_ERR_LEN];
  if ((rc = gloam_receipt_sign(e->signer, &c, &jws, &jl, err)) < 0) return rc;
  rc = eng_emit_json(
      e, j,
      json_pack("{s:s,s:s,s:s%,s:{s:i,s:i}}", "type", "job_done", "job", j->id_hex, "receipt", jws,
                jl, "usage", "prompt_tokens", s->n_prompt, "completion_tokens", s->n_out));
  gloam_receipt_free_jws(jws);
  return rc;
}

static void job_finish(node_engine *e, node_slot *s, bool length) {
  node_job *j = s->job;
  int rc = outparse_push(&s->op, NULL, 0, true, emit_cb, s);
  const char *pending = NULL;
  size_t plen = 0;
  if (rc == 0 && (rc = gloam_tok_stream_flush(s->ts, &pending, &plen)) == 0 && plen &&
      !s->op.stopped)
    rc = outparse_push(&s->op, pending, plen, true, emit_cb, s);
  if (rc == 0) rc = send_tail(e, s, finish_reason(s, length));
  if (rc == 0) rc = send_receipt(e, s);
  log_line l;
  if (log_begin(&l, rc == 0 ? LOG_INFO : LOG_WARN, "node.job_done")) {
    log_str(&l, "job", j->id_hex);
    log_int(&l, "prompt_tokens", s->n_prompt);
    log_int(&l, "completion_tokens", s->n_out);
    log_int(&l, "ms", time_wall_ms() - s->started_ms);
    log_end(&l);
  }
  if (rc < 0) {
    job_abort(e, s, "internal_error", "finishing the response failed");
    return;
  }
  slot_clear(s);
  eng_emit(e, j, NODE_OUT_RELEASE, NULL, 0);
}

void job_abort(node_engine *e, node_slot *s, const char *code, const char *message) {
  node_job *j = s->job;
  if (code && !atomic_load(&j->cancel))
    eng_emit_json(e, j,
                  json_pack("{s:s,s:s,s:s,s:s}", "type", "job_error", "job", j->id_hex, "code",
                            code, "message", message ? message : ""));
  log_event(LOG_INFO, "node.job_aborted", "job", j->id_hex);
  slot_clear(s);
  eng_emit(e, j, NODE_OUT_RELEASE, NULL, 0);
}

/* ------------------------------------------------------------ step */

static bool is_eog(node_engine *e, int32_t tok) {
  return gloam_model_is_eog(e->model, tok) || (e->eos_id >= 0 && tok == e->eos_id);
}

int job_next(node_engine *e, node_slot *s) {
  node_job *j = s->job;
  if (atomic_load(&j->cancel)) {
    job_abort(e, s, NULL, NULL);
    return 1;
  }
  if (j->deadline_ms > 0 && time_wall_ms() > j->deadline_ms) {
    job_abort(e, s, "deadline_exceeded", "the job's deadline passed");
    return 1;
  }
  int32_t tok;
  if (gloam_sampler_sample(s->smp, gloam_session_logits(s->session), &tok, NULL) < 0) {
    job_abort(e, s, "internal_error", "sampling failed");
    return 1;
  }
  if (is_eog(e, tok)) {
    job_finish(e, s, false);
    return 1;
  }
  s->n_out++;
  const char *piece = NULL;
  size_t plen = 0;
  int rc = gloam_tok_stream_push(s->ts, tok, &piece, &plen);
  if (rc == 0 && s->req.stream && !s->sent_role) {
    rc = sse_chunk(e, s, json_pack("{s:s,s:s}", "role", "assistant", "content", ""), NULL);
    s->sent_role = true;
  }
  if (rc == 0 && plen) rc = outparse_push(&s->op, piece, plen, false, emit_cb, s);
  if (rc == 0 && s->sse.len) {
    rc = seal_send(e, s, s->sse.data, s->sse.len, 0);
    buf_reset(&s->sse);
  }
  if (rc < 0) {
    job_abort(e, s, "internal_error", "streaming the response failed");
    return 1;
  }
  if (s->op.stopped || s->n_out >= s->limit) {
    eng_record(e, 0, 0, 1);
    job_finish(e, s, !s->op.stopped);
    return 1;
  }
  s->next_tok = tok;
  return 0;
}

int job_evaluated(node_engine *e, node_slot *s, int rc, double dt) {
  if (rc == GLOAM_ECANCELED) {
    job_abort(e, s, NULL, NULL);
    return 1;
  }
  if (rc < 0) {
    job_abort(e, s, rc == GLOAM_ERANGE ? "context_length_exceeded" : "internal_error",
              "decoding failed");
    return 1;
  }
  eng_record(e, 0, dt > 0 ? 1.0 / dt : 0, 1);
  return 0;
}

int job_eval_one(node_slot *s) {
  int rc;
  do {
    rc = gloam_session_eval(s->session, &s->next_tok, 1);
  } while (rc == GLOAM_ECANCELED && !atomic_load(&s->job->cancel));
  return rc;
}

int job_step(node_engine *e, node_slot *s) {
  if (job_next(e, s)) return 1;
  uint64_t t0 = time_mono_ns();
  int rc = job_eval_one(s);
  return job_evaluated(e, s, rc, (double)(time_mono_ns() - t0) / 1e9);
}
