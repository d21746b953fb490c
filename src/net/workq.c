/* SPDX-License-Identifier: Apache-2.0
 *
 * net/workq.c: worker threads plus an eventfd bridge back to the loop (see
 * workq.h for the design).
 */
#include "net/workq.h"

#include <errno.h>
#include <event2/event.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/err.h"

typedef struct wq_job {
  struct wq_job *next;
  net_work_fn work;
  net_done_fn done;
  void *arg;
} wq_job;

typedef struct wq_list {
  wq_job *head, *tail;
} wq_list;

struct net_workq {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  wq_list todo; /* guarded by mu */
  wq_list done; /* guarded by mu */
  int stopping; /* guarded by mu */
  size_t pending;
  size_t max_queued;
  int efd;
  struct event *ev;
  pthread_t *threads;
  int n_threads;
};

static void list_push(wq_list *l, wq_job *j) {
  j->next = NULL;
  if (l->tail)
    l->tail->next = j;
  else
    l->head = j;
  l->tail = j;
}

static wq_job *list_pop(wq_list *l) {
  wq_job *j = l->head;
  if (j) {
    l->head = j->next;
    if (!l->head) l->tail = NULL;
  }
  return j;
}

static void *worker_main(void *p) {
  net_workq *q = p;
  pthread_mutex_lock(&q->mu);
  for (;;) {
    wq_job *j;
    while (!(j = list_pop(&q->todo)) && !q->stopping) pthread_cond_wait(&q->cv, &q->mu);
    if (!j) break;
    pthread_mutex_unlock(&q->mu);
    j->work(j->arg);
    pthread_mutex_lock(&q->mu);
    list_push(&q->done, j);
    uint64_t one = 1;
    /* A full eventfd counter cannot happen (2^64-2); ignore EAGAIN anyway. */
    ssize_t w = write(q->efd, &one, sizeof one);
    (void)w;
  }
  pthread_mutex_unlock(&q->mu);
  return NULL;
}

static void drain_done(net_workq *q) {
  pthread_mutex_lock(&q->mu);
  wq_list l = q->done;
  q->done.head = q->done.tail = NULL;
  pthread_mutex_unlock(&q->mu);
  wq_job *j;
  while ((j = list_pop(&l))) {
    q->pending--;
    if (j->done) j->done(j->arg);
    mem_free(j);
  }
}

static void on_wake(evutil_socket_t fd, short what, void *p) {
  net_workq *q = p;
  uint64_t v;
  ssize_t r = read(fd, &v, sizeof v);
  (void)r;
  drain_done(q);
}

int net_workq_new(net_workq **out, struct event_base *base, int n_threads, size_t max_queued,
                  char *err) {
  *out = NULL;
  if (!base || n_threads < 1 || n_threads > 64 || max_queued < 1)
    return err_set(err, GLOAM_EINVAL, "workq: bad arguments");
  net_workq *q = mem_calloc(1, sizeof *q);
  if (!q) return err_set(err, GLOAM_ENOMEM, "workq: out of memory");
  q->efd = -1;
  q->max_queued = max_queued;
  pthread_mutex_init(&q->mu, NULL);
  pthread_cond_init(&q->cv, NULL);
  int rc;
  q->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (q->efd < 0) {
    rc = err_set(err, GLOAM_EIO, "workq: eventfd: errno %d", errno);
    goto fail;
  }
  q->ev = event_new(base, q->efd, EV_READ | EV_PERSIST, on_wake, q);
  if (!q->ev || event_add(q->ev, NULL) < 0) {
    rc = err_set(err, GLOAM_ENOMEM, "workq: event_new failed");
    goto fail;
  }
  q->threads = mem_calloc((size_t)n_threads, sizeof *q->threads);
  if (!q->threads) {
    rc = err_set(err, GLOAM_ENOMEM, "workq: out of memory");
    goto fail;
  }
  for (int i = 0; i < n_threads; i++) {
    if (pthread_create(&q->threads[i], NULL, worker_main, q) != 0) {
      rc = err_set(err, GLOAM_EIO, "workq: pthread_create failed");
      goto fail;
    }
    q->n_threads++;
  }
  *out = q;
  return 0;
fail:
  net_workq_free(q);
  return rc;
}

int net_workq_submit(net_workq *q, net_work_fn work, net_done_fn done, void *arg) {
  if (!q || !work) return GLOAM_EINVAL;
  if (q->pending >= q->max_queued) return GLOAM_EAGAIN;
  wq_job *j = mem_calloc(1, sizeof *j);
  if (!j) return GLOAM_ENOMEM;
  j->work = work;
  j->done = done;
  j->arg = arg;
  q->pending++;
  pthread_mutex_lock(&q->mu);
  list_push(&q->todo, j);
  pthread_cond_signal(&q->cv);
  pthread_mutex_unlock(&q->mu);
  return 0;
}

size_t net_workq_pending(const net_workq *q) {
  return q ? q->pending : 0;
}

void net_workq_free(net_workq *q) {
  if (!q) return;
  pthread_mutex_lock(&q->mu);
  q->stopping = 1;
  pthread_cond_broadcast(&q->cv);
  pthread_mutex_unlock(&q->mu);
  for (int i = 0; i < q->n_threads; i++) pthread_join(q->threads[i], NULL);
  drain_done(q);
  if (q->ev) event_free(q->ev);
  if (q->efd >= 0) close(q->efd);
  mem_free(q->threads);
  pthread_cond_destroy(&q->cv);
  pthread_mutex_destroy(&q->mu);
  mem_free(q);
}
