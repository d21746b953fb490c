/* SPDX-License-Identifier: Apache-2.0
 *
 * core/arena.h: region allocation with cleanup hooks (nginx pools, h2o).
 *
 * Each connection and request owns an arena: headers, parsed JSON, SSE
 * frames are allocated from it and die with it in one arena_deinit(). Things
 * that are not memory (fds, timers, library handles) register a cleanup hook,
 * run in reverse order of registration. The arena has a byte cap, so a
 * request cannot make it grow without bound.
 *
 * Never keep arena pointers in longer-lived objects; copy out. Never put key
 * material in an arena. Not thread-safe; the owner embeds it.
 */
#ifndef GLOAM_CORE_ARENA_H
#define GLOAM_CORE_ARENA_H

#include <stddef.h>

typedef struct arena_block arena_block;
typedef struct arena_cleanup arena_cleanup;

typedef struct arena {
  arena_block *head;       /* owned chain of blocks, newest first */
  arena_cleanup *cleanups; /* owned, newest first */
  size_t block_size;       /* default block payload size */
  size_t used;             /* bytes handed out plus block overhead */
  size_t max;              /* cap on used */
} arena;

/* block_size: bytes per block (0 picks 4 KiB); max: cap on total bytes. */
void arena_init(arena *a, size_t block_size, size_t max);
/* Runs cleanups (newest first), then frees every block. Safe to call twice. */
void arena_deinit(arena *a);

/* n bytes aligned to 16, or NULL when out of memory or over the cap.
 * Valid until arena_deinit(). arena_zalloc() zero-fills. */
void *arena_alloc(arena *a, size_t n);
void *arena_zalloc(arena *a, size_t n);
void *arena_memdup(arena *a, const void *p, size_t n);
/* NUL-terminated copies. */
char *arena_strdup(arena *a, const char *s);
char *arena_strndup(arena *a, const char *s, size_t n);

/* Registers fn(ctx) to run at arena_deinit(). GLOAM_ENOMEM/ETOOBIG on
 * failure, in which case fn is never called (the caller cleans up). */
int arena_on_cleanup(arena *a, void (*fn)(void *ctx), void *ctx);

#endif
