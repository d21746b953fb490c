/* SPDX-License-Identifier: Apache-2.0
 *
 * coord/queue.c: the waiting line for requests whose node is busy
 * (DESIGN.md §4: bounded per-model queues, 429 when full, a deadline).
 * Coordinator-sealed requests wait for any node that can serve them;
 * client-sealed ones for the one node their envelope is sealed to (only it
 * can open them), and get 503 node_unavailable as soon as that node goes,
 * drains or stops being routable, so the client re-seals to another. Both
 * kinds share one FIFO and the per-model bound; a freed slot
 * (coord_queue_kick, deferred to a fresh loop iteration so callers may be
 * deep in job teardown) dispatches, in arrival order, every waiting request
 * that now has a node.
 *
 * A waiting client that leaves is noticed like a job's client before
 * streaming (peek watcher plus evhttp's close callback); its request is
 * dropped without reaching a node. Nothing is reserved while waiting.
 */
#include <event2/event.h>
#include <event2/http.h>
#include <string.h>

#include "core/alloc.h"
#include "core/log.h"
#include "core/time.h"
#include "coord/admit.h"
#include "coord/anthropic.h"
#include "coord/coord_impl.h"
#include "http/error.h"

struct cpend {
  cpend *next;
  coord *c;
  struct evhttp_request *req;
  struct evhttp_connection *evcon;
  struct event *watch;
  int64_t account;
  char model[GLOAM_SEAL_MODEL_MAX + 1];
  int format, need, api;
  uint64_t deadline_ms;
  /* client-sealed: the node connection the envelope waits for (compared,
   * never dereferenced: it may be gone); NULL for coordinator-sealed */
  const cnode *node;
  uint64_t node_since;
};

static void pend_unlink(cpend *p) {
  coord *c = p->c;
  for (cpend **pp = &c->pend_head; *pp; pp = &(*pp)->next)
    if (*pp == p) {
      *pp = p->next;
      c->n_pend--;
      break;
    }
  if (p->watch) event_free(p->watch);
  p->watch = NULL;
  evhttp_connection_set_closecb(p->evcon, NULL, NULL);
}

static void pend_reply(cpend *p, int status, const char *code, const char *msg) {
  pend_unlink(p);
  coord_count_status(p->c, status);
  p->c->m.chat_rejected++;
  if (p->api == API_ANTHROPIC)
    coord_anthropic_send_error(p->req, status, msg);
  else
    http_send_error_retry(p->req, status, 1, code, "%s", msg);
  mem_free(p);
}

static void on_gone(struct evhttp_connection *evcon, void *ud) {
  cpend *p = ud;
  pend_unlink(p);
  evhttp_send_reply_end(p->req); /* detached by evhttp: this frees it */
  mem_free(p);
}

static void on_watch(evutil_socket_t fd, short what, void *ud) {
  cpend *p = ud;
  enum coord_peer st = coord_peer_check(fd);
  if (st == COORD_PEER_GONE) {
    pend_reply(p, 499, "client_disconnected", "The client went away.");
    return;
  }
  if (st == COORD_PEER_IDLE) event_add(p->watch, NULL);
}

/* Appends a waiting request for model (GLOAM_EAGAIN when the model's queue
 * is full); the caller fills in what the request waits for. */
static int pend_add(coord *c, struct evhttp_request *req, int64_t account, const char *model,
                    int api, cpend **out) {
  int same = 0;
  for (cpend *p = c->pend_head; p; p = p->next) same += strcmp(p->model, model) == 0;
  if (same >= c->cfg.queue_max_per_model) return GLOAM_EAGAIN;
  cpend *p = mem_calloc(1, sizeof *p);
  if (!p) return GLOAM_ENOMEM;
  p->c = c;
  p->req = req;
  p->evcon = evhttp_request_get_connection(req);
  p->account = account;
  snprintf(p->model, sizeof p->model, "%s", model);
  p->api = api;
  p->deadline_ms = time_mono_ms() + (uint64_t)c->cfg.queue_timeout_ms;
  evhttp_connection_set_closecb(p->evcon, on_gone, p);
  p->watch = coord_peer_watch_new(c, p->evcon, on_watch, p);
  cpend **tail = &c->pend_head;
  while (*tail) tail = &(*tail)->next;
  *tail = p;
  c->n_pend++;
  *out = p;
  return 0;
}

int coord_queue_add(coord *c, struct evhttp_request *req, int64_t account, const char *model,
                    int format, int need, int api) {
  cpend *p;
  int rc = pend_add(c, req, account, model, api, &p);
  if (rc < 0) return rc;
  p->format = format;
  p->need = need;
  return 0;
}

int coord_queue_add_sealed(coord *c, struct evhttp_request *req, int64_t account, const char *model,
                           const cnode *n) {
  cpend *p;
  int rc = pend_add(c, req, account, model, API_OPENAI, &p);
  if (rc < 0) return rc;
  p->node = n;
  p->node_since = n->connected_ms;
  return 0;
}

bool coord_queue_waits_for(coord *c, const cnode *n) {
  for (cpend *p = c->pend_head; p; p = p->next)
    if (p->node ? p->node == n : coord_node_serves(n, p->model)) return true;
  return false;
}

/* The node a client-sealed entry waits for, if that connection still lives
 * and can take requests; NULL when the entry must be refused. */
static cnode *sealed_node_of(const cpend *p) {
  for (cnode *n = p->c->nodes; n; n = n->next)
    if (n == p->node && n->connected_ms == p->node_since)
      return n->closing || n->draining || !coord_attest_routable(n) ? NULL : n;
  return NULL;
}

static void refuse_node_gone(cpend *p) {
  pend_reply(p, 503, "node_unavailable", COORD_MSG_SEALED_NODE_GONE);
}

void coord_queue_node_gone(const cnode *n) {
  cpend *next;
  for (cpend *p = n->c->pend_head; p; p = next) {
    next = p->next;
    if (p->node == n) refuse_node_gone(p);
  }
}

/* Takes p off the queue and admits its request again (from_queue). */
static void dispatch(cpend *p) {
  coord *c = p->c;
  struct evhttp_request *req = p->req;
  int64_t account = p->account;
  int api = p->api;
  bool sealed = p->node != NULL;
  pend_unlink(p);
  mem_free(p);
  if (sealed)
    coord_chat_sealed_handle(req, c, account, true);
  else
    coord_chat_plain_handle(req, c, account, true, api);
}

static void on_kick(evutil_socket_t fd, short what, void *ud) {
  coord *c = ud;
  cpend *next;
  for (cpend *p = c->pend_head; p; p = next) {
    next = p->next;
    if (p->node) {
      cnode *n = sealed_node_of(p);
      if (!n) {
        refuse_node_gone(p);
        continue;
      }
      if (n->n_jobs + n->n_admitting >= n->max_slots) continue;
    } else if (!coord_plain_pick(c, p->model, p->format, p->need)) {
      continue;
    }
    dispatch(p);
    next = c->pend_head; /* the list may have changed; restart (bounded) */
  }
}

void coord_queue_kick(coord *c) {
  if (c->kick && c->pend_head) event_active(c->kick, EV_TIMEOUT, 0);
}

void coord_queue_sweep(coord *c, uint64_t now) {
  cpend *next;
  for (cpend *p = c->pend_head; p; p = next) {
    next = p->next;
    if (now >= p->deadline_ms)
      pend_reply(p, 503, "queue_timeout",
                 p->node ? "The node this request is sealed to had no free slot in time; try "
                           "again or pick another from /v1/nodes."
                         : "No node became free in time; try again.");
  }
}

void coord_queue_close_all(coord *c) {
  while (c->pend_head)
    pend_reply(c->pend_head, 503, "shutting_down", "The coordinator is stopping.");
}

int coord_queue_init(coord *c) {
  c->kick = event_new(c->base, -1, 0, on_kick, c);
  return c->kick ? 0 : GLOAM_ENOMEM;
}
