/* SPDX-License-Identifier: Apache-2.0
 *
 * node/engine_thread.h: the node's engine thread. It owns the model, the
 * tokenizer, the chat template and one session (KV cache) per slot, opens
 * sealed requests, runs them, and hands sealed frames and control messages
 * back to the network loop.
 *
 *   node_engine *e;
 *   node_engine_start(&e, &params, err);       // loads everything, starts the thread
 *   event on node_engine_fd(e) (EV_READ|EV_PERSIST):
 *     node_out *o = node_engine_take(e);        // loop thread: drain, then
 *     for (...) { send o->data; if o->kind == NODE_OUT_RELEASE: forget o->job; node_out_free(o) }
 *   node_engine_submit(e, job);                  // loop -> engine; engine owns job until RELEASE
 *   node_engine_cancel(e, job);                  // loop thread, any time before RELEASE
 *   node_engine_stop(e);                          // cancels everything, joins, frees
 *
 * DESIGN (STYLE §7): one engine thread runs all slots, interleaving one decode
 * step per active slot per round, so several requests progress at once (true
 * batched forward passes are the engine's job). Results go back through a
 * mutex-protected list and an eventfd the loop watches; the list is bounded
 * in bytes and the engine waits when it is full (a slow link slows
 * generation rather than growing memory). Jobs own copies of their inputs.
 *
 * Ownership: a node_job passed to submit belongs to the engine until the
 * loop receives its NODE_OUT_RELEASE, after which the loop frees it with
 * node_job_free(). node_out items belong to the loop once taken.
 * Thread safety: submit, cancel, take and stats are called on the loop
 * thread; everything else is internal to the engine thread.
 */
#ifndef GLOAM_NODE_ENGINE_THREAD_H
#define GLOAM_NODE_ENGINE_THREAD_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gloam/receipt.h"
#include "gloam/seal.h"
#include "node/config.h"

typedef struct node_engine node_engine;

typedef struct node_job {
  uint8_t id[16];
  char id_hex[33];
  char model[GLOAM_SEAL_MODEL_MAX + 1];
  uint32_t max_output_tokens;  /* from the job message; 0: none */
  int64_t in_price, out_price; /* micro-USD per million tokens */
  int64_t audio_price;         /* audio endpoints: micro-USD per audio minute */
  int64_t image_price;         /* images/generations: micro-USD per image */
  int64_t deadline_ms;         /* Unix ms; 0: none */
  uint8_t *env;                /* the sealed envelope (owned) */
  size_t env_len;
  uint64_t conn_gen; /* the loop's connection generation when it arrived */
  atomic_bool cancel;
  atomic_int slot;        /* -1 while not running */
  struct node_job *next;  /* engine inbox link */
  struct node_job *lnext; /* loop's list link */
} node_job;

/* A new job (cancel false, slot -1). NULL on ENOMEM. */
node_job *node_job_new(void);
void node_job_free(node_job *j);

enum node_out_kind {
  NODE_OUT_BINARY = 1,  /* a binary WebSocket message (0x02 frame) */
  NODE_OUT_TEXT = 2,    /* a JSON text message (job_done, job_error) */
  NODE_OUT_RELEASE = 3, /* the engine is done with job */
};

typedef struct node_out {
  struct node_out *next;
  node_job *job;
  enum node_out_kind kind;
  size_t len;
  uint8_t data[];
} node_out;

void node_out_free(node_out *o);

typedef struct node_engine_params {
  const node_config *cfg;
  const char *node_id;
  const char *weights_digest;
  gloam_seal_node *opener;      /* taken over (freed by node_engine_stop, also on failure) */
  gloam_receipt_signer *signer; /* borrowed; outlives the engine */
} node_engine_params;

typedef struct node_engine_stats {
  int max_slots, busy_slots;
  double prefill_tps, decode_tps; /* moving averages of measured rates; 0 before any */
  uint64_t jobs_done, tokens_out;
} node_engine_stats;

/* Loads model, tokenizer and template, makes the slots' sessions and starts
 * the thread (a Whisper checkpoint loads a speech model instead:
 * node/speech_job.h). GLOAM_* with detail in err. */
int node_engine_start(node_engine **out, const node_engine_params *p, char *err);
int node_engine_fd(const node_engine *e);
/* true when the engine serves a Whisper model (audio endpoints only). */
bool node_engine_is_speech(const node_engine *e);
/* Whether it serves an image model (image_job.c). */
bool node_engine_is_image(const node_engine *e);
int node_engine_submit(node_engine *e, node_job *j);
void node_engine_cancel(node_engine *e, node_job *j);
/* Takes every pending output item, oldest first; NULL when none. Also
 * clears the eventfd. */
node_out *node_engine_take(node_engine *e);
void node_engine_stats_get(node_engine *e, node_engine_stats *s);
/* Cancels running jobs (their RELEASE items are dropped and the jobs freed),
 * joins the thread, frees everything. NULL is a no-op. */
void node_engine_stop(node_engine *e);

#endif
