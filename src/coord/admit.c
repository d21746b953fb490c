/* SPDX-License-Identifier: Apache-2.0
 *
 * coord/admit.c: the reservation at admission, off the event loop (see
 * admit.h). A pending admission is a small task owning the job: its
 * reservation runs on a ledger worker against the workers' SQLite
 * connection; meanwhile the loop watches the client (close callback plus a
 * peek at the socket). Back on the loop the task either continues admission
 * (funds held, client there) or undoes it.
 *
 * Exactly once: the store moves the request id into `reserved` once; a
 * reservation that committed for a client who left (or during shutdown) is
 * refunded through the ledger's refund path, so a balance is never left
 * short by an admission that did not reach a node.
 */
#include <errno.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <string.h>
#include <sys/socket.h>

#include "core/alloc.h"
#include "core/err.h"
#include "core/log.h"
#include "coord/admit.h"

typedef struct admit_task {
  coord *c;
  cjob *j;
  struct evhttp_request *req; /* NULL once the client is gone */
  struct evhttp_connection *evcon;
  struct event *watch;
  cnode *hold; /* compared, never dereferenced: the node may be gone */
  uint64_t hold_since;
  const char *what;
  coord_admit_next next;
  bool gone;
  int rc;
  char err[GLOAM_ERR_LEN];
} admit_task;

struct event *coord_peer_watch_new(coord *c, struct evhttp_connection *evcon,
                                   void (*cb)(evutil_socket_t, short, void *), void *ud) {
  struct bufferevent *bev = evhttp_connection_get_bufferevent(evcon);
  evutil_socket_t fd = bev ? bufferevent_getfd(bev) : -1;
  if (fd < 0) return NULL;
  struct event *ev = event_new(c->base, fd, EV_READ, cb, ud);
  if (ev && event_add(ev, NULL) < 0) {
    event_free(ev);
    ev = NULL;
  }
  return ev;
}

enum coord_peer coord_peer_check(evutil_socket_t fd) {
  char b;
  ssize_t r = recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
  if (r > 0) return COORD_PEER_DATA;
  if (r == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) return COORD_PEER_GONE;
  return COORD_PEER_IDLE;
}

static void stop_watching(admit_task *t) {
  if (t->watch) event_free(t->watch);
  t->watch = NULL;
  evhttp_connection_set_closecb(t->evcon, NULL, NULL);
}

/* evhttp saw the connection close: the request is detached, ending it frees it. */
static void on_close(struct evhttp_connection *evcon, void *ud) {
  admit_task *t = ud;
  (void)evcon;
  if (t->watch) event_free(t->watch);
  t->watch = NULL;
  t->gone = true;
  evhttp_send_reply_end(t->req);
  t->req = NULL;
}

static void on_watch(evutil_socket_t fd, short what, void *ud) {
  admit_task *t = ud;
  (void)what;
  enum coord_peer p = coord_peer_check(fd);
  if (p == COORD_PEER_IDLE) {
    event_add(t->watch, NULL);
  } else if (p == COORD_PEER_GONE) {
    stop_watching(t);
    t->gone = true;
    coord_chat_reject_api(t->c, t->req, t->j->api, 499, "client_disconnected", NULL,
                          "The client went away.");
    t->req = NULL;
  }
}

/* Gives back the slot held on the node, if that node is still connected;
 * unless next() takes it again at once, a queued request may have it
 * (the kick is deferred to a later loop iteration). */
static void release_hold(admit_task *t) {
  if (!t->hold) return;
  for (cnode *n = t->c->nodes; n; n = n->next)
    if (n == t->hold && n->connected_ms == t->hold_since && n->n_admitting > 0) {
      n->n_admitting--;
      break;
    }
  t->hold = NULL;
  coord_queue_kick(t->c);
}

static void reserve_work(void *arg) {
  admit_task *t = arg;
  t->rc = coord_ledger_reserve(t->c, t->j, t->err);
}

/* The client left, or the coordinator stops: nothing reaches a node. */
static void abandon(admit_task *t) {
  coord *c = t->c;
  cjob *j = t->j;
  if (t->rc == 0) coord_ledger_refund(c, j->id_hex, t->gone ? "client_disconnected" : "shutdown");
  if (t->gone) {
    c->m.chat_failed++;
    coord_chat_log_job(j, "chat.failed", "client_disconnected", 0);
  } else {
    coord_chat_reject_api(c, t->req, j->api, 503, "shutting_down", NULL,
                          "The coordinator is shutting down.");
  }
  coord_job_free(j);
}

static void reserve_done(void *arg) {
  admit_task *t = arg;
  coord *c = t->c;
  cjob *j = t->j;
  release_hold(t);
  if (!t->gone) stop_watching(t);
  if (t->gone || c->wq_closing) {
    abandon(t);
  } else if (t->rc == GLOAM_EPOLICY) {
    char msg[96];
    if (t->what)
      snprintf(msg, sizeof msg, "Your balance does not cover the cost of this %s.", t->what);
    else
      snprintf(msg, sizeof msg, "Your balance does not cover the maximum cost of this request.");
    coord_chat_reject_api(c, t->req, j->api, 402, "insufficient_balance", NULL, msg);
    coord_job_free(j);
  } else if (t->rc < 0) {
    log_event(LOG_ERROR, "ledger.reserve_failed", "error", t->err);
    coord_chat_reject_api(c, t->req, j->api, 500, "billing_error", NULL, "Cannot reserve funds.");
    coord_job_free(j);
  } else {
    t->next(j, t->req);
  }
  mem_free(t);
}

void coord_admit_reserve(cjob *j, struct evhttp_request *req, cnode *hold, const char *what,
                         coord_admit_next next) {
  coord *c = j->c;
  admit_task *t = j->reserved < 0 ? NULL : mem_calloc(1, sizeof *t);
  if (!t) {
    coord_chat_reject_api(c, req, j->api, 500, j->reserved < 0 ? "billing_error" : "internal", NULL,
                          j->reserved < 0 ? "Cannot reserve funds." : "Out of memory.");
    coord_job_free(j);
    return;
  }
  t->c = c;
  t->j = j;
  t->req = req;
  t->evcon = evhttp_request_get_connection(req);
  t->what = what;
  t->next = next;
  if (hold) {
    t->hold = hold;
    t->hold_since = hold->connected_ms;
    hold->n_admitting++;
  }
  evhttp_connection_set_closecb(t->evcon, on_close, t);
  t->watch = coord_peer_watch_new(c, t->evcon, on_watch, t);
  coord_offload(c, reserve_work, reserve_done, t);
}

void coord_admit_unwind(cjob *j, struct evhttp_request *req, const char *reason, int status,
                        const char *code, const char *param, const char *msg) {
  coord_ledger_refund(j->c, j->id_hex, reason);
  coord_chat_reject_api(j->c, req, j->api, status, code, param, msg);
  coord_job_free(j);
}
