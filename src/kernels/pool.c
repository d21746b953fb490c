/* SPDX-License-Identifier: Apache-2.0
 *
 * kernels/pool.c: the persistent compute thread pool (kern_pool).
 *
 * DESIGN: n_threads - 1 workers are created once; the caller's thread is the
 * n-th. A job is published in one 64-bit word, (task count << 32) | next
 * task, and a generation counter is bumped to wake sleepers. Workers notice
 * a new generation by spinning briefly (a decode step issues a few hundred
 * small matmuls, and a futex wake per matmul would cost more than the
 * matmul) and then sleep on a condition variable. Every thread, the caller
 * included, claims tasks with a compare-and-swap on the word (dynamic
 * scheduling, so a core slowed by another tenant takes fewer tasks), and the
 * caller returns as soon as every task has *finished* (a completion count),
 * without waiting for a descheduled worker to notice the job at all: on a
 * loaded machine a 2-thread decode no longer stalls on the slower thread's
 * wake-up.
 *
 * Why that is race-free without a per-job epoch: a successful claim of task
 * i < n means the job in the word is the current one and is not finished
 * (task i has not run), so the caller cannot yet be writing the next job's
 * description; the claimer reads fn/ctx only after its claim (acquire),
 * which pairs with the caller's release of the word. A worker that slept
 * through a job finds i == n (or a later job's word, whose tasks it may
 * then legitimately run). The caller writes the next description only after
 * seeing the completion count reach n (acquire), which pairs with each
 * task's release increment, so no read of the old description can overlap
 * the write. All shared state is atomics or mutex-protected, so the pool is
 * ThreadSanitizer-clean. n_threads = 1 creates no thread and runs inline.
 *
 * Ownership: kern_pool_new allocates; kern_pool_free joins and frees.
 * Thread safety: one caller at a time per pool (kernels.h).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "core/alloc.h"
#include "kernels/kern_impl.h"

#define POOL_SPIN 20000

struct kern_pool {
  int n_threads;
  pthread_t *threads;
  pthread_mutex_t mu;
  pthread_cond_t cv_work, cv_done;
  atomic_uint gen;
  _Atomic uint64_t work; /* (n_tasks << 32) | next task to claim */
  atomic_int done;       /* tasks of the current job finished */
  atomic_int stop;
  /* job description: written by the caller before the release of work,
   * read by a thread only after it claimed a task of that job */
  void (*fn)(void *ctx, int i, int n);
  void *ctx;
  void *scratch;
  size_t scratch_len;
};

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ __volatile__("yield");
#endif
}

/* Claims the next task of the current job: its index and the job's task
 * count, or false when every task is taken. */
static bool claim(kern_pool *p, int *i, int *n) {
  uint64_t v = atomic_load_explicit(&p->work, memory_order_acquire);
  for (;;) {
    uint32_t tasks = (uint32_t)(v >> 32), next = (uint32_t)v;
    if (next >= tasks) return false;
    if (atomic_compare_exchange_weak_explicit(&p->work, &v, v + 1, memory_order_acq_rel,
                                              memory_order_acquire)) {
      *i = (int)next;
      *n = (int)tasks;
      return true;
    }
  }
}

static void run_tasks(kern_pool *p) {
  int i, n;
  while (claim(p, &i, &n)) {
    p->fn(p->ctx, i, n);
    if (atomic_fetch_add_explicit(&p->done, 1, memory_order_acq_rel) + 1 == n) {
      pthread_mutex_lock(&p->mu);
      pthread_cond_signal(&p->cv_done);
      pthread_mutex_unlock(&p->mu);
    }
  }
}

static void *worker_main(void *arg) {
  kern_pool *p = arg;
  unsigned seen = 0;
  for (;;) {
    unsigned g = atomic_load_explicit(&p->gen, memory_order_acquire);
    for (int s = 0; g == seen && s < POOL_SPIN; s++) {
      cpu_relax();
      g = atomic_load_explicit(&p->gen, memory_order_acquire);
    }
    if (g == seen) {
      pthread_mutex_lock(&p->mu);
      while ((g = atomic_load_explicit(&p->gen, memory_order_acquire)) == seen)
        pthread_cond_wait(&p->cv_work, &p->mu);
      pthread_mutex_unlock(&p->mu);
    }
    seen = g;
    if (atomic_load_explicit(&p->stop, memory_order_acquire)) break;
    run_tasks(p);
  }
  return NULL;
}

kern_pool *kern_pool_new(int n_threads) {
  if (n_threads < 1 || n_threads > 1024) return NULL;
  kern_pool *p = mem_calloc(1, sizeof *p);
  if (!p) return NULL;
  p->n_threads = 1;
  if (pthread_mutex_init(&p->mu, NULL) != 0) goto fail_mu;
  if (pthread_cond_init(&p->cv_work, NULL) != 0) goto fail_cw;
  if (pthread_cond_init(&p->cv_done, NULL) != 0) goto fail_cd;
  if (n_threads > 1) {
    p->threads = mem_calloc((size_t)n_threads - 1, sizeof *p->threads);
    if (!p->threads) goto fail;
    for (int i = 0; i < n_threads - 1; i++) {
      if (pthread_create(&p->threads[i], NULL, worker_main, p) != 0) goto fail;
      p->n_threads++;
    }
  }
  return p;
fail:
  kern_pool_free(p);
  return NULL;
fail_cd:
  pthread_cond_destroy(&p->cv_work);
fail_cw:
  pthread_mutex_destroy(&p->mu);
fail_mu:
  mem_free(p);
  return NULL;
}

void kern_pool_free(kern_pool *p) {
  if (!p) return;
  atomic_store_explicit(&p->stop, 1, memory_order_release);
  pthread_mutex_lock(&p->mu);
  atomic_fetch_add_explicit(&p->gen, 1, memory_order_release);
  pthread_cond_broadcast(&p->cv_work);
  pthread_mutex_unlock(&p->mu);
  for (int i = 0; i < p->n_threads - 1; i++) pthread_join(p->threads[i], NULL);
  pthread_cond_destroy(&p->cv_done);
  pthread_cond_destroy(&p->cv_work);
  pthread_mutex_destroy(&p->mu);
  mem_free(p->threads);
  free(p->scratch);
  mem_free(p);
}

int kern_pool_threads(const kern_pool *p) {
  return p ? p->n_threads : 1;
}

void kern_pool_run(kern_pool *p, void (*fn)(void *ctx, int i, int n), void *ctx, int n) {
  if (n <= 0) return;
  if (!p || p->n_threads == 1 || n == 1) {
    for (int i = 0; i < n; i++) fn(ctx, i, n);
    return;
  }
  p->fn = fn;
  p->ctx = ctx;
  atomic_store_explicit(&p->done, 0, memory_order_relaxed);
  atomic_store_explicit(&p->work, (uint64_t)(uint32_t)n << 32, memory_order_release);
  pthread_mutex_lock(&p->mu);
  atomic_fetch_add_explicit(&p->gen, 1, memory_order_release);
  pthread_cond_broadcast(&p->cv_work);
  pthread_mutex_unlock(&p->mu);
  run_tasks(p);
  for (int s = 0; s < POOL_SPIN; s++) {
    if (atomic_load_explicit(&p->done, memory_order_acquire) == n) return;
    cpu_relax();
  }
  pthread_mutex_lock(&p->mu);
  while (atomic_load_explicit(&p->done, memory_order_acquire) != n)
    pthread_cond_wait(&p->cv_done, &p->mu);
  pthread_mutex_unlock(&p->mu);
}

void kern_pool_trim(kern_pool *p, size_t keep) {
  if (!p || p->scratch_len <= keep) return;
  free(p->scratch);
  p->scratch = NULL;
  p->scratch_len = 0;
}

void *kern_pool_scratch(kern_pool *p, size_t len) {
  if (!p) return NULL;
  if (p->scratch_len >= len) return p->scratch;
  size_t want = (len + 63) & ~(size_t)63;
  void *s = NULL;
  if (posix_memalign(&s, 64, want) != 0) return NULL;
  free(p->scratch);
  p->scratch = s;
  p->scratch_len = want;
  return s;
}
