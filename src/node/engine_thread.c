/* SPDX-License-Identifier: Apache-2.0
 *
 * node/engine_thread.c: the engine thread, its inbox and its output list
 * (see engine_thread.h). One job's life is in job.c.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <zlib.h>

#include "core/alloc.h"
#include "core/err.h"
#include "core/log.h"
#include "core/secure.h"
#include "node/engine_int.h"
#include "node/image_job.h"
#include "node/speech_job.h"

/* A strong reference that keeps libz linked: the tokenizer refers to it
 * weakly, and --as-needed drops a library only weakly referenced. */
void *node_zlib_anchor(void);
void *node_zlib_anchor(void) {
  return (void *)gzopen;
}

node_job *node_job_new(void) {
  node_job *j = mem_calloc(1, sizeof *j);
  if (!j) return NULL;
  atomic_init(&j->cancel, false);
  atomic_init(&j->slot, -1);
  return j;
}

void node_job_free(node_job *j) {
  if (!j) return;
  mem_free(j->env);
  mem_free(j);
}

void node_out_free(node_out *o) {
  if (!o) return;
  secure_zero(o->data, o->len);
  mem_free(o);
}

static void wake_loop(node_engine *e) {
  uint64_t one = 1;
  ssize_t n = write(e->efd, &one, sizeof one);
  (void)n; /* EAGAIN: the counter is already non-zero, the loop will wake */
}

int eng_emit(node_engine *e, node_job *j, enum node_out_kind kind, const void *data, size_t len) {
  node_out *o = mem_alloc(sizeof *o + len);
  if (!o) return GLOAM_ENOMEM;
  o->next = NULL;
  o->job = j;
  o->kind = kind;
  o->len = len;
  if (len) memcpy(o->data, data, len);
  pthread_mutex_lock(&e->mu);
  while (!e->stop && kind != NODE_OUT_RELEASE && e->out_bytes + len > NODE_OUT_MAX_BYTES)
    pthread_cond_wait(&e->out_cv, &e->mu);
  *e->out_tail = o;
  e->out_tail = &o->next;
  e->out_bytes += len;
  pthread_mutex_unlock(&e->mu);
  wake_loop(e);
  return 0;
}

int eng_emit_json(node_engine *e, node_job *j, json_t *msg) {
  char *s = msg ? json_dumps(msg, JSON_COMPACT) : NULL;
  json_decref(msg);
  if (!s) return GLOAM_ENOMEM;
  int rc = eng_emit(e, j, NODE_OUT_TEXT, s, strlen(s));
  free(s);
  return rc;
}

void eng_refuse(node_engine *e, node_job *j, const char *code, const char *message) {
  log_line l;
  if (log_begin(&l, LOG_INFO, "node.job_refused")) {
    log_str(&l, "job", j->id_hex);
    log_str(&l, "code", code);
    log_end(&l);
  }
  eng_emit_json(e, j,
                json_pack("{s:s,s:s,s:s,s:s}", "type", "job_error", "job", j->id_hex, "code", code,
                          "message", message));
  eng_emit(e, j, NODE_OUT_RELEASE, NULL, 0);
}

void eng_record(node_engine *e, double prefill_tps, double decode_tps, int tokens) {
  pthread_mutex_lock(&e->mu);
  if (prefill_tps > 0)
    e->prefill_tps = e->prefill_tps > 0 ? 0.8 * e->prefill_tps + 0.2 * prefill_tps : prefill_tps;
  if (decode_tps > 0)
    e->decode_tps = e->decode_tps > 0 ? 0.9 * e->decode_tps + 0.1 * decode_tps : decode_tps;
  e->tokens_out += (uint64_t)tokens;
  pthread_mutex_unlock(&e->mu);
}

static void set_busy(node_engine *e, int delta, bool done) {
  pthread_mutex_lock(&e->mu);
  e->busy_slots += delta;
  if (done) e->jobs_done++;
  pthread_mutex_unlock(&e->mu);
}

static node_slot *free_slot(node_engine *e) {
  for (int i = 0; i < e->n_slots; i++)
    if (!e->slots[i].job) return &e->slots[i];
  return NULL;
}

static void start_jobs(node_engine *e, node_job *in, bool stopping) {
  while (in) {
    node_job *j = in;
    in = in->next;
    j->next = NULL;
    node_slot *s = stopping ? NULL : free_slot(e);
    if (!s) {
      eng_refuse(e, j, stopping ? "shutting_down" : "busy", "no free slot");
      continue;
    }
    set_busy(e, 1, false);
    if (e->speech || e->image) { /* runs to its end here (speech_job.c, image_job.c) */
      if (e->image)
        image_job_run(e, s, j);
      else
        speech_job_run(e, s, j);
      set_busy(e, -1, true);
    } else if (job_begin(e, s, j) < 0) {
      set_busy(e, -1, false);
    }
  }
}

static void *engine_main(void *arg) {
  node_engine *e = arg;
  for (;;) {
    int active = 0;
    for (int i = 0; i < e->n_slots; i++) active += e->slots[i].job != NULL;
    pthread_mutex_lock(&e->mu);
    while (!e->stop && !e->inbox && active == 0) pthread_cond_wait(&e->cv, &e->mu);
    node_job *in = e->inbox;
    e->inbox = NULL;
    e->inbox_tail = &e->inbox;
    bool stopping = e->stop;
    pthread_mutex_unlock(&e->mu);
    start_jobs(e, in, stopping);
    if (stopping) {
      for (int i = 0; i < e->n_slots; i++)
        if (e->slots[i].job) {
          job_abort(e, &e->slots[i], "shutting_down", "the node is stopping");
          set_busy(e, -1, false);
        }
      break;
    }
    for (int ended = eng_step_all(e); ended > 0; ended--) set_busy(e, -1, true);
  }
  return NULL;
}

/* Loads model, tokenizer, template. */
static int load_all(node_engine *e, char *err) {
  const node_config *c = e->cfg;
  if (speech_model_detect(c->model)) return speech_engine_load(e, err);
  if (image_model_detect(c->model)) return image_engine_load(e, err);
  gloam_model_params mp = gloam_model_default_params();
  mp.quantize = (enum gloam_quant)c->quantize;
  int rc = gloam_model_load(&e->model, c->model, &mp, err);
  if (rc < 0) return rc;
  e->n_vocab = gloam_model_n_vocab(e->model);
  if ((rc = gloam_tokenizer_load(&e->tok, c->tokenizer, err)) < 0) return rc;
  const char *src = gloam_tokenizer_chat_template(e->tok);
  if (!src) return err_set(err, GLOAM_EUNSUPPORTED, "the tokenizer has no chat template");
  if ((rc = gloam_chat_template_new(&e->tmpl, src, strlen(src), NULL, err)) < 0) return rc;
  e->tmpl_think = strstr(src, "<think>") != NULL;
  e->tmpl_tools = strstr(src, "<tool_call>") != NULL;
  e->eos_id = gloam_tokenizer_role_id(e->tok, GLOAM_TOK_EOS);
  return 0;
}

static int make_slots(node_engine *e, char *err) {
  const node_config *c = e->cfg;
  e->n_slots = c->slots;
  if (!(e->slots = mem_calloc((size_t)e->n_slots, sizeof *e->slots)))
    return err_set(err, GLOAM_ENOMEM, "out of memory");
  int threads = c->threads;
  if (threads <= 0) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    threads = n > 0 ? (int)(n / e->n_slots) : 1;
    if (threads < 1) threads = 1;
  }
  for (int i = 0; i < e->n_slots; i++) {
    node_slot *s = &e->slots[i];
    s->index = i;
    s->eng = e;
    gloam_session_params sp = gloam_session_default_params();
    sp.n_ctx = c->n_ctx;
    sp.n_threads = threads;
    int rc = e->speech || e->image ? 0 : gloam_session_new(&s->session, e->model, &sp);
    if (rc < 0) return err_set(err, rc, "cannot create session %d", i);
    if (!(s->frame = mem_alloc(NODE_FRAME_CAP))) return err_set(err, GLOAM_ENOMEM, "no memory");
  }
  return 0;
}

int node_engine_start(node_engine **out, const node_engine_params *p, char *err) {
  *out = NULL;
  node_engine *e = mem_calloc(1, sizeof *e);
  if (!e) {
    gloam_seal_node_free(p->opener);
    return err_set(err, GLOAM_ENOMEM, "out of memory");
  }
  e->cfg = p->cfg;
  e->opener = p->opener;
  e->signer = p->signer;
  e->efd = -1;
  snprintf(e->node_id, sizeof e->node_id, "%s", p->node_id);
  snprintf(e->weights_digest, sizeof e->weights_digest, "%s", p->weights_digest);
  snprintf(e->fingerprint, sizeof e->fingerprint, "gloam-%.12s",
           strlen(p->weights_digest) > 7 ? p->weights_digest + 7 : "unknown");
  pthread_mutex_init(&e->mu, NULL);
  pthread_cond_init(&e->cv, NULL);
  pthread_cond_init(&e->out_cv, NULL);
  e->inbox_tail = &e->inbox;
  e->out_tail = &e->out;
  int rc = load_all(e, err);
  if (rc == 0) rc = make_slots(e, err);
  if (rc == 0) rc = eng_batch_new(e, err);
  if (rc == 0 && (e->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0)
    rc = err_set(err, GLOAM_EIO, "eventfd: %s", strerror(errno));
  if (rc == 0 && pthread_create(&e->thread, NULL, engine_main, e) != 0)
    rc = err_set(err, GLOAM_EIO, "cannot start the engine thread");
  if (rc < 0) {
    node_engine_stop(e);
    return rc;
  }
  e->thread_started = true;
  *out = e;
  return 0;
}

int node_engine_fd(const node_engine *e) {
  return e->efd;
}

bool node_engine_is_speech(const node_engine *e) {
  return e->speech != NULL;
}

bool node_engine_is_image(const node_engine *e) {
  return e->image != NULL;
}

int node_engine_submit(node_engine *e, node_job *j) {
  pthread_mutex_lock(&e->mu);
  bool stopping = e->stop;
  if (!stopping) {
    j->next = NULL;
    *e->inbox_tail = j;
    e->inbox_tail = &j->next;
    pthread_cond_signal(&e->cv);
  }
  pthread_mutex_unlock(&e->mu);
  return stopping ? GLOAM_ESTATE : 0;
}

void node_engine_cancel(node_engine *e, node_job *j) {
  atomic_store(&j->cancel, true);
  int s = atomic_load(&j->slot);
  /* A stale slot index only makes another job's eval return ECANCELED,
   * which job.c retries when its own job was not cancelled. */
  if (s >= 0 && s < e->n_slots) gloam_session_cancel(e->slots[s].session);
}

node_out *node_engine_take(node_engine *e) {
  uint64_t v;
  ssize_t n = read(e->efd, &v, sizeof v);
  (void)n;
  pthread_mutex_lock(&e->mu);
  node_out *o = e->out;
  e->out = NULL;
  e->out_tail = &e->out;
  e->out_bytes = 0;
  pthread_cond_broadcast(&e->out_cv);
  pthread_mutex_unlock(&e->mu);
  return o;
}

void node_engine_stats_get(node_engine *e, node_engine_stats *s) {
  pthread_mutex_lock(&e->mu);
  s->max_slots = e->n_slots;
  s->busy_slots = e->busy_slots;
  s->prefill_tps = e->prefill_tps;
  s->decode_tps = e->decode_tps;
  s->jobs_done = e->jobs_done;
  s->tokens_out = e->tokens_out;
  pthread_mutex_unlock(&e->mu);
}

void node_engine_stop(node_engine *e) {
  if (!e) return;
  if (e->thread_started) {
    pthread_mutex_lock(&e->mu);
    e->stop = true;
    pthread_cond_broadcast(&e->cv);
    pthread_cond_broadcast(&e->out_cv);
    pthread_mutex_unlock(&e->mu);
    for (int i = 0; i < e->n_slots; i++) gloam_session_cancel(e->slots[i].session);
    pthread_join(e->thread, NULL);
  }
  /* what the loop never took: free released jobs with their items */
  for (node_out *o = e->out, *nx; o; o = nx) {
    nx = o->next;
    if (o->kind == NODE_OUT_RELEASE) node_job_free(o->job);
    node_out_free(o);
  }
  for (node_job *j = e->inbox, *nx; j; j = nx) {
    nx = j->next;
    node_job_free(j);
  }
  for (int i = 0; e->slots && i < e->n_slots; i++) {
    gloam_session_free(e->slots[i].session);
    mem_free(e->slots[i].frame);
  }
  mem_free(e->slots);
  gloam_batch_free(e->batch);
  if (e->efd >= 0) close(e->efd);
  gloam_chat_template_free(e->tmpl);
  gloam_tokenizer_free(e->tok);
  gloam_model_free(e->model);
  speech_engine_free(e);
  image_engine_free(e);
  gloam_seal_node_free(e->opener);
  pthread_cond_destroy(&e->out_cv);
  pthread_cond_destroy(&e->cv);
  pthread_mutex_destroy(&e->mu);
  mem_free(e);
}
