/* SPDX-License-Identifier: Apache-2.0
 *
 * coord/ledger.c: the coordinator's slow work, off the event loop (STYLE §7):
 * receipt signature checks, settlements, refunds and (for admit.c) the
 * reservation at admission run on net_workq
 * workers against a second SQLite connection (WAL lets the loop's own
 * connection keep reading meanwhile); results come back to the loop through
 * the queue's eventfd.
 *
 * Exactly once: a job is unlinked from its node and marked `settling` when
 * its settle task is queued; until the task's done() runs on the loop,
 * nothing else may end the job (a client that leaves only drops its
 * request, see chat.c client_gone). The store itself moves a request
 * reserved -> settled | refunded once, so a stray second write fails rather
 * than double-charging. When the queue is full (or the coordinator is
 * shutting down) the write runs inline on the loop instead of being lost.
 *
 * Thread safety: c->wstore is used only under c->wlock. A settle task reads
 * its job's immutable fields (ids, prices, the sealing client) while the
 * loop leaves the job alone.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "coord/coord_impl.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/log.h"
#include "http/image_req.h"
#include "net/workq.h"

#define LEDGER_THREADS 2
#define LEDGER_MAX_QUEUED 8192

int coord_ledger_init(coord *c, char *err) {
  if (pthread_mutex_init(&c->wlock, NULL) != 0) return err_set(err, GLOAM_EIO, "mutex init failed");
  c->wlock_ok = true;
  int rc = coord_store_open(&c->wstore, c->cfg.db_path, err);
  if (rc < 0) return rc;
  return net_workq_new(&c->wq, c->base, LEDGER_THREADS, LEDGER_MAX_QUEUED, err);
}

void coord_ledger_shutdown(coord *c) {
  c->wq_closing = true;
  net_workq_free(c->wq); /* runs pending done() callbacks here */
  c->wq = NULL;
}

void coord_ledger_free(coord *c) {
  if (c->wq) coord_ledger_shutdown(c);
  coord_store_close(c->wstore);
  c->wstore = NULL;
  if (c->wlock_ok) pthread_mutex_destroy(&c->wlock);
  c->wlock_ok = false;
}

void coord_offload(coord *c, net_work_fn work, net_done_fn done, void *t) {
  if (c->wq && !c->wq_closing && net_workq_submit(c->wq, work, done, t) == 0) return;
  if (c->wq && !c->wq_closing) c->m.workq_rejected++;
  work(t);
  done(t);
}

/* ---- refunds ---------------------------------------------------------- */

typedef struct refund_task {
  coord *c;
  cjob *j; /* NULL, or the failed job whose client waits for the refund */
  int status;
  char code[64];
  char message[256];
  int rc;
  char job[2 * NODE_JOB_ID_LEN + 1];
  char reason[64];
  char err[GLOAM_ERR_LEN];
} refund_task;

static void test_delay(const coord *c) {
  if (c->cfg.ledger_delay_ms > 0) {
    struct timespec ts = {c->cfg.ledger_delay_ms / 1000,
                          (c->cfg.ledger_delay_ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
  }
}

static void refund_work(void *arg) {
  refund_task *t = arg;
  test_delay(t->c);
  pthread_mutex_lock(&t->c->wlock);
  t->rc = coord_store_refund(t->c->wstore, t->job, t->reason);
  if (t->rc < 0) snprintf(t->err, sizeof t->err, "%s", coord_store_errmsg(t->c->wstore));
  pthread_mutex_unlock(&t->c->wlock);
}

static void refund_done(void *arg) {
  refund_task *t = arg;
  if (t->rc < 0) {
    log_line l;
    if (log_begin(&l, LOG_ERROR, "ledger.refund_failed")) {
      log_str(&l, "job", t->job);
      log_str(&l, "error", t->err);
      log_end(&l);
    }
  }
  if (t->j) {
    t->j->settling = false;
    coord_job_refunded(t->j, t->status, t->code, t->message);
  }
  mem_free(t);
}

void coord_ledger_refund(coord *c, const char *job_id_hex, const char *reason) {
  refund_task *t = mem_calloc(1, sizeof *t);
  if (!t) { /* out of memory: the write itself must still happen */
    pthread_mutex_lock(&c->wlock);
    int rc = coord_store_refund(c->wstore, job_id_hex, reason);
    pthread_mutex_unlock(&c->wlock);
    if (rc < 0) log_event(LOG_ERROR, "ledger.refund_failed", "job", job_id_hex);
    return;
  }
  t->c = c;
  snprintf(t->job, sizeof t->job, "%s", job_id_hex);
  snprintf(t->reason, sizeof t->reason, "%s", reason);
  coord_offload(c, refund_work, refund_done, t);
}

void coord_ledger_refund_job(cjob *j, int status, const char *code, const char *message) {
  coord *c = j->c;
  refund_task *t = mem_calloc(1, sizeof *t);
  if (!t) {
    pthread_mutex_lock(&c->wlock);
    int rc = coord_store_refund(c->wstore, j->id_hex, code);
    pthread_mutex_unlock(&c->wlock);
    if (rc < 0) log_event(LOG_ERROR, "ledger.refund_failed", "job", j->id_hex);
    coord_job_refunded(j, status, code, message);
    return;
  }
  t->c = c;
  t->j = j;
  t->status = status;
  snprintf(t->job, sizeof t->job, "%s", j->id_hex);
  snprintf(t->reason, sizeof t->reason, "%s", code);
  snprintf(t->code, sizeof t->code, "%s", code);
  snprintf(t->message, sizeof t->message, "%s", message);
  j->settling = true;
  coord_offload(c, refund_work, refund_done, t);
}

/* ---- reservation (admit.c) -------------------------------------------- */

int coord_ledger_reserve(coord *c, const cjob *j, char *err) {
  test_delay(c);
  pthread_mutex_lock(&c->wlock);
  int rc = coord_store_reserve(c->wstore, j->id_hex, j->account, j->model, j->reserved);
  if (rc < 0) snprintf(err, GLOAM_ERR_LEN, "%s", coord_store_errmsg(c->wstore));
  pthread_mutex_unlock(&c->wlock);
  return rc;
}

/* ---- settlement ------------------------------------------------------- */

typedef struct settle_task {
  coord *c;
  cjob *j;
  /* copied from the node and its done message on the loop */
  char node_id[NODE_ID_MAX + 1];
  char digest[NODE_MODEL_ID_MAX + 1];
  bool have_digest;
  int64_t operator_id;
  char *jwk;
  char *receipt;
  size_t receipt_len;
  int64_t prompt_tokens, completion_tokens;
  /* results */
  int rc;
  const char *why; /* static: "receipt_invalid", "bad_node_output", "billing_error" */
  int64_t cost;
  json_t *body;
  char err[GLOAM_ERR_LEN];
} settle_task;

/* Checks the receipt against what the coordinator itself knows. */
static int check_receipt(const settle_task *t, gloam_receipt_claims *cl, int64_t *out_cost,
                         char *err) {
  const cjob *j = t->j;
  gloam_receipt_key *key = NULL;
  int rc = gloam_receipt_key_parse(t->jwk, strlen(t->jwk), &key, err);
  if (rc < 0) return rc;
  /* coordinator-sealed: the coordinator opened the stream, so it also checks
   * the transcript hash, as a client does */
  rc = j->sc ? gloam_receipt_check_client(j->sc, key, t->receipt, t->receipt_len, cl, err)
             : gloam_receipt_verify(key, t->receipt, t->receipt_len, cl, err);
  gloam_receipt_key_free(key);
  if (rc < 0) return rc;
  if (strcmp(cl->node_id, t->node_id) != 0)
    return err_set(err, GLOAM_EAUTH, "receipt names another node");
  if (memcmp(cl->request_id, j->request_id, sizeof cl->request_id) != 0)
    return err_set(err, GLOAM_EAUTH, "receipt names another request");
  if (memcmp(cl->request_sha256, j->env_sha256, 32) != 0)
    return err_set(err, GLOAM_EAUTH, "receipt request hash differs");
  if (strcmp(cl->model, j->model) != 0 || !t->have_digest ||
      strcmp(cl->weights_digest, t->digest) != 0)
    return err_set(err, GLOAM_EAUTH, "receipt model or weights differ");
  if ((int64_t)cl->prompt_tokens != t->prompt_tokens ||
      (int64_t)cl->completion_tokens != t->completion_tokens)
    return err_set(err, GLOAM_EAUTH, "receipt token counts differ from usage");
  if (cl->completion_tokens > j->max_output_tokens || cl->prompt_tokens > j->body_len)
    return err_set(err, GLOAM_EAUTH, "token counts exceed what the request allows");
  if (j->n_images) { /* images: priced per image (image.c) */
    rc = coord_image_receipt_cost(j, cl, out_cost, err);
    if (rc < 0) return rc;
  } else if (j->endpoint) { /* audio: priced per minute (speech.c) */
    rc = coord_speech_receipt_cost(j, cl, out_cost, err);
    if (rc < 0) return rc;
  } else {
    int64_t cost =
        coord_chat_cost(t->prompt_tokens, t->completion_tokens, j->in_price, j->out_price);
    if (cost < 0 || (uint64_t)cost != cl->price_micro_usd || cl->audio_ms != 0)
      return err_set(err, GLOAM_EAUTH, "receipt price differs from the price list");
    *out_cost = cost;
  }
  if (!j->got_final) return err_set(err, GLOAM_ESTATE, "stream ended without its final frame");
  return 0;
}

static void settle_work(void *arg) {
  settle_task *t = arg;
  const cjob *j = t->j;
  coord *c = t->c;
  test_delay(c);
  gloam_receipt_claims cl;
  int64_t cost = 0;
  t->rc = check_receipt(t, &cl, &cost, t->err);
  if (t->rc < 0) {
    t->why = "receipt_invalid";
    return;
  }
  if (j->sc && j->n_images) { /* the PNGs opened here are the receipt's (image.c) */
    json_t *o = NULL;
    t->rc = j->acc ? image_resp_check(j->acc->data, j->acc->len, &cl, &o) : GLOAM_EFORMAT;
    json_decref(o);
    if (t->rc < 0) {
      t->why = "receipt_invalid";
      return;
    }
  }
  if (j->sc && !j->stream && !j->endpoint) {
    json_error_t je;
    t->body = j->acc ? json_loadb((const char *)j->acc->data, j->acc->len, 0, &je) : NULL;
    if (!json_is_object(t->body)) {
      json_decref(t->body);
      t->body = NULL;
      t->rc = GLOAM_EFORMAT;
      t->why = "bad_node_output";
      return;
    }
  }
  int64_t bps = c->cfg.fee_bps;
  /* floor(cost * fee_bps / 10000) without overflow */
  int64_t fee = cost / 10000 * bps + cost % 10000 * bps / 10000;
  pthread_mutex_lock(&c->wlock);
  t->rc = coord_store_settle(c->wstore, j->id_hex, t->operator_id, cost, fee, t->prompt_tokens,
                             t->completion_tokens, t->node_id);
  if (t->rc < 0) snprintf(t->err, sizeof t->err, "%s", coord_store_errmsg(c->wstore));
  pthread_mutex_unlock(&c->wlock);
  if (t->rc < 0) {
    json_decref(t->body);
    t->body = NULL;
    t->why = "billing_error";
    return;
  }
  t->cost = cost;
}

static void settle_free(settle_task *t) {
  json_decref(t->body);
  free(t->jwk);
  mem_free(t->receipt);
  mem_free(t);
}

static void settle_done(void *arg) {
  settle_task *t = arg;
  cjob *j = t->j;
  j->settling = false;
  if (t->rc < 0) {
    log_line l;
    if (log_begin(
            &l, LOG_WARN,
            strcmp(t->why, "billing_error") == 0 ? "ledger.settle_failed" : "receipt.rejected")) {
      log_str(&l, "job", j->id_hex);
      log_str(&l, "node_id", t->node_id);
      log_str(&l, "why", t->err);
      log_end(&l);
    }
  }
  json_t *body = t->body;
  t->body = NULL;
  coord_job_settled(j, t->rc, t->why, t->receipt, t->prompt_tokens, t->completion_tokens, t->cost,
                    body);
  settle_free(t);
}

void coord_ledger_settle(cjob *j, const node_msg *m) {
  coord *c = j->c;
  cnode *n = j->node;
  settle_task *t = mem_calloc(1, sizeof *t);
  if (t) t->receipt = mem_alloc(m->receipt_len + 1);
  if (t) t->jwk = n->receipt_jwk ? strdup(n->receipt_jwk) : NULL;
  if (!t || !t->receipt || !t->jwk) {
    if (t) settle_free(t);
    coord_job_fail(j, 500, "internal", "Out of memory; nothing was charged.", false);
    return;
  }
  t->c = c;
  t->j = j;
  snprintf(t->node_id, sizeof t->node_id, "%s", n->id);
  for (int i = 0; i < n->n_models; i++)
    if (strcmp(n->models[i].id, j->model) == 0) {
      snprintf(t->digest, sizeof t->digest, "%s", n->models[i].weights_digest);
      t->have_digest = true;
    }
  t->operator_id = n->operator_id;
  memcpy(t->receipt, m->receipt, m->receipt_len);
  t->receipt[m->receipt_len] = '\0';
  t->receipt_len = m->receipt_len;
  t->prompt_tokens = m->prompt_tokens;
  t->completion_tokens = m->completion_tokens;
  /* the node is done with it: free its slot now */
  coord_chat_stop_watch(j);
  coord_job_unlink(j);
  coord_queue_kick(c);
  j->settling = true;
  coord_offload(c, settle_work, settle_done, t);
}
