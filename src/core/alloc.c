/* SPDX-License-Identifier: Apache-2.0
 *
 * core/alloc.c: allocation hooks with failure injection for tests.
 */
#include "core/alloc.h"

#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static atomic_long fail_countdown = -1; /* < 0: never fail */
static atomic_long n_attempts = 0;

static int should_fail(void) {
  atomic_fetch_add(&n_attempts, 1);
  long c = atomic_load(&fail_countdown);
  while (c >= 0) {
    if (atomic_compare_exchange_weak(&fail_countdown, &c, c - 1)) return c == 0;
  }
  return 0;
}

long mem_fail_after(long n) {
  atomic_store(&fail_countdown, n < 0 ? -1 : n);
  return atomic_exchange(&n_attempts, 0);
}

void *mem_alloc(size_t n) {
  if (should_fail()) return NULL;
  return malloc(n ? n : 1);
}

void *mem_calloc(size_t count, size_t size) {
  if (should_fail()) return NULL;
  if (count == 0 || size == 0) return calloc(1, 1);
  return calloc(count, size);
}

void *mem_realloc(void *p, size_t n) {
  if (should_fail()) return NULL;
  return realloc(p, n ? n : 1);
}

void *mem_reallocarray(void *p, size_t count, size_t size) {
  if (size && count > SIZE_MAX / size) return NULL;
  return mem_realloc(p, count * size);
}

void mem_release_pages(void *p, size_t keep, size_t len) {
  if (!p || keep >= len) return;
  uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
  uintptr_t lo = ((uintptr_t)p + keep + page - 1) & ~(page - 1);
  uintptr_t hi = ((uintptr_t)p + len) & ~(page - 1);
  if (hi > lo) (void)madvise((void *)lo, hi - lo, MADV_DONTNEED);
}

void mem_free(void *p) {
  free(p);
}

void *mem_dup(const void *p, size_t n) {
  void *q = mem_alloc(n);
  if (q && n) memcpy(q, p, n);
  return q;
}

char *mem_strndup(const char *s, size_t n) {
  size_t len = strnlen(s, n);
  char *q = mem_alloc(len + 1);
  if (!q) return NULL;
  memcpy(q, s, len);
  q[len] = '\0';
  return q;
}

char *mem_strdup(const char *s) {
  return mem_strndup(s, SIZE_MAX);
}
