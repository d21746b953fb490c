/* SPDX-License-Identifier: Apache-2.0
 *
 * net/workq.h: a bounded work queue that runs slow jobs off the event loop
 * and hands their results back to it (uv_async_send, nginx thread tasks).
 *
 *   net_workq *q;
 *   net_workq_new(&q, base, 2, 1024, err);
 *   net_workq_submit(q, verify_fn, verify_done, job);   // job owns its inputs
 *   ... work(job) runs on a worker thread; done(job) later runs on the loop
 *
 * DESIGN: workers pop jobs from a mutex-protected FIFO; finished jobs go to a
 * second FIFO and an eventfd wakes the loop, whose read event drains it and
 * calls each done() on the loop thread. The queue is bounded: submit answers
 * GLOAM_EAGAIN when max_queued jobs are waiting or running, so a flood of
 * requests turns into 429/503 rather than memory growth.
 *
 * Ownership: the queue never touches `arg` except to pass it to work() and
 * done(). net_workq_submit() is called on the loop thread only; work() must
 * not touch loop-owned state. net_workq_free() waits for running and queued
 * jobs, then calls the pending done() callbacks before it returns.
 */
#ifndef GLOAM_NET_WORKQ_H
#define GLOAM_NET_WORKQ_H

#include <stddef.h>

struct event_base;
typedef struct net_workq net_workq;

typedef void (*net_work_fn)(void *arg); /* on a worker thread */
typedef void (*net_done_fn)(void *arg); /* on the loop thread */

/* n_threads in 1..64; max_queued >= 1. Returns 0, GLOAM_EINVAL, GLOAM_ENOMEM
 * or GLOAM_EIO (eventfd/thread creation), with detail in err. */
int net_workq_new(net_workq **out, struct event_base *base, int n_threads, size_t max_queued,
                  char *err);
/* Queues work(arg) then done(arg). GLOAM_EAGAIN when full, GLOAM_ENOMEM; on
 * failure neither callback runs. done may be NULL. */
int net_workq_submit(net_workq *q, net_work_fn work, net_done_fn done, void *arg);
/* Jobs queued or running (loop thread). */
size_t net_workq_pending(const net_workq *q);
/* Drains, joins the workers and frees. NULL is a no-op. */
void net_workq_free(net_workq *q);

#endif
