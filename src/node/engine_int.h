/* SPDX-License-Identifier: Apache-2.0
 *
 * node/engine_int.h: internals shared by engine_thread.c (the thread, its
 * queues) and job.c (one job's life in a slot). Not an API.
 *
 * Everything in node_slot and the immutable part of node_engine belongs to
 * the engine thread; the fields under `mu` are shared with the loop.
 */
#ifndef GLOAM_NODE_ENGINE_INT_H
#define GLOAM_NODE_ENGINE_INT_H

#include <jansson.h>
#include <pthread.h>

#include "core/buf.h"
#include "gloam/chat.h"
#include "gloam/engine.h"
#include "gloam/image.h"
#include "gloam/speech.h"
#include "gloam/tokenizer.h"
#include "node/engine_thread.h"
#include "node/outparse.h"
#include "node/request.h"

#define NODE_OUT_MAX_BYTES (32u << 20) /* queued for the loop before the engine waits */
#define NODE_FRAME_CAP (GLOAM_SEAL_MAX_CHUNK + GLOAM_SEAL_FRAME_OVERHEAD + 17)

typedef struct node_slot {
  struct node_engine *eng;
  int index;
  gloam_session *session;
  uint8_t *frame; /* NODE_FRAME_CAP bytes: 17-byte binary header + sealed frame */
  /* the running job (NULL when free) */
  node_job *job;
  node_request req;
  gloam_seal_header hdr;
  gloam_seal_responder *resp;
  gloam_sampler *smp;
  gloam_tok_stream *ts;
  outparse op;
  buf sse;     /* stream mode: SSE events of the current token */
  buf content; /* non-stream mode: accumulated message */
  buf reasoning;
  json_t *tool_calls; /* array of OpenAI tool_call objects */
  char chat_id[48];
  int64_t created_s, started_ms;
  int n_prompt, n_out, limit;
  int32_t next_tok; /* sampled, not yet evaluated */
  bool sent_role;
  bool in_reasoning; /* the rendered prompt ends inside <think> */
} node_slot;

struct node_engine {
  /* immutable after start */
  const node_config *cfg;
  char node_id[GLOAM_SEAL_NODE_ID_MAX + 1];
  char weights_digest[GLOAM_RECEIPT_WEIGHTS_MAX + 1];
  char fingerprint[32];
  gloam_model *model;
  gloam_speech_model *speech; /* a Whisper node (speech_job.c); model is NULL then */
  gloam_image_model *image;   /* a Janus node (image_job.c); model is NULL then */
  gloam_tokenizer *tok;
  gloam_chat_template *tmpl;
  gloam_seal_node *opener;
  gloam_receipt_signer *signer;
  bool tmpl_think, tmpl_tools;
  int32_t eos_id; /* the tokenizer's eos, -1 if none */
  int n_vocab;
  int n_slots;
  node_slot *slots;
  gloam_batch *batch; /* decode steps of all slots in one pass; NULL: one by one */
  int efd;
  pthread_t thread;
  bool thread_started;
  /* shared with the loop, under mu */
  pthread_mutex_t mu;
  pthread_cond_t cv;     /* engine waits for work */
  pthread_cond_t out_cv; /* engine waits for room in the output list */
  node_job *inbox, **inbox_tail;
  node_out *out, **out_tail;
  size_t out_bytes;
  bool stop;
  int busy_slots;
  double prefill_tps, decode_tps;
  uint64_t jobs_done, tokens_out;
};

/* engine_thread.c: queue an output item (copies data); waits while the
 * output list is full. 0 or GLOAM_ENOMEM. */
int eng_emit(node_engine *e, node_job *j, enum node_out_kind kind, const void *data, size_t len);
/* A JSON text message (takes the reference). */
int eng_emit_json(node_engine *e, node_job *j, json_t *msg);
/* job_error for j, then its release. */
void eng_refuse(node_engine *e, node_job *j, const char *code, const char *message);
void eng_record(node_engine *e, double prefill_tps, double decode_tps, int tokens);

/* job.c: starts j in slot s (open, parse, render, tokenize, prefill).
 * 0: running; < 0: the job ended (refused/failed, already reported and
 * released) and the slot is free again. */
int job_begin(node_engine *e, node_slot *s, node_job *j);
/* One generation step (job_next, job_eval_one, job_evaluated). 1 when the
 * job ended (slot free), 0 otherwise. */
int job_step(node_engine *e, node_slot *s);
/* The step in parts, so several slots can be evaluated in one batch
 * (batch_step.c): job_next checks cancel and deadline, samples, streams
 * the token and leaves it in s->next_tok (1: the job ended); the caller
 * evaluates next_tok (job_eval_one, or gloam_batch_eval); job_evaluated
 * takes that result and the step's seconds (1: the job ended). */
int job_next(node_engine *e, node_slot *s);
int job_eval_one(node_slot *s);
int job_evaluated(node_engine *e, node_slot *s, int rc, double dt);

/* batch_step.c: makes e->batch when cfg->batch and there are 2+ slots. */
int eng_batch_new(node_engine *e, char *err);
/* One step for every busy slot (decodes batched); returns how many jobs ended. */
int eng_step_all(node_engine *e);
/* Ends the job in s without job_done (cancelled or engine stopping). */
void job_abort(node_engine *e, node_slot *s, const char *code, const char *message);

#endif
