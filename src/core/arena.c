/* SPDX-License-Identifier: Apache-2.0
 *
 * core/arena.c: bump allocation over a chain of blocks, with cleanup hooks.
 * DESIGN: allocations larger than a quarter block get a block of their own,
 * so a big allocation does not waste the tail of the current block.
 */
#include "core/arena.h"

#include <stdint.h>
#include <string.h>

#include "core/alloc.h"
#include "gloam/err.h"

#define ARENA_ALIGN 16

struct arena_block {
  arena_block *next;
  size_t size; /* payload bytes */
  size_t off;  /* bytes used */
  _Alignas(ARENA_ALIGN) unsigned char data[];
};

struct arena_cleanup {
  arena_cleanup *next;
  void (*fn)(void *ctx);
  void *ctx;
};

void arena_init(arena *a, size_t block_size, size_t max) {
  a->head = NULL;
  a->cleanups = NULL;
  a->block_size = block_size ? block_size : 4096;
  a->used = 0;
  a->max = max;
}

void arena_deinit(arena *a) {
  while (a->cleanups) {
    arena_cleanup *c = a->cleanups;
    a->cleanups = c->next;
    c->fn(c->ctx); /* c itself lives in a block, freed below */
  }
  while (a->head) {
    arena_block *b = a->head;
    a->head = b->next;
    mem_free(b);
  }
  a->used = 0;
}

static arena_block *arena_new_block(arena *a, size_t payload) {
  size_t total = sizeof(arena_block) + payload;
  if (total < payload || total > a->max || a->used > a->max - total) return NULL;
  arena_block *b = mem_alloc(total);
  if (!b) return NULL;
  b->size = payload;
  b->off = 0;
  a->used += total;
  return b;
}

void *arena_alloc(arena *a, size_t n) {
  if (n > SIZE_MAX - ARENA_ALIGN) return NULL;
  size_t need = (n + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
  if (need == 0) need = ARENA_ALIGN;
  arena_block *b = a->head;
  if (b && b->size - b->off >= need) {
    void *p = b->data + b->off;
    b->off += need;
    return p;
  }
  if (need > a->block_size / 4) { /* a block of its own, behind the current */
    arena_block *big = arena_new_block(a, need);
    if (!big) return NULL;
    big->off = need;
    if (a->head) {
      big->next = a->head->next;
      a->head->next = big;
    } else {
      big->next = NULL;
      a->head = big;
    }
    return big->data;
  }
  arena_block *nb = arena_new_block(a, a->block_size);
  if (!nb) return NULL;
  nb->next = a->head;
  a->head = nb;
  nb->off = need;
  return nb->data;
}

void *arena_zalloc(arena *a, size_t n) {
  void *p = arena_alloc(a, n);
  if (p) memset(p, 0, n);
  return p;
}

void *arena_memdup(arena *a, const void *p, size_t n) {
  void *q = arena_alloc(a, n);
  if (q && n) memcpy(q, p, n);
  return q;
}

char *arena_strndup(arena *a, const char *s, size_t n) {
  size_t len = strnlen(s, n);
  char *q = arena_alloc(a, len + 1);
  if (!q) return NULL;
  memcpy(q, s, len);
  q[len] = '\0';
  return q;
}

char *arena_strdup(arena *a, const char *s) {
  return arena_strndup(a, s, SIZE_MAX);
}

int arena_on_cleanup(arena *a, void (*fn)(void *ctx), void *ctx) {
  arena_cleanup *c = arena_alloc(a, sizeof *c);
  if (!c) return a->used >= a->max ? GLOAM_ETOOBIG : GLOAM_ENOMEM;
  c->fn = fn;
  c->ctx = ctx;
  c->next = a->cleanups;
  a->cleanups = c;
  return GLOAM_OK;
}
