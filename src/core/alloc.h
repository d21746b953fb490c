/* SPDX-License-Identifier: Apache-2.0
 *
 * core/alloc.h: the allocation hooks every gloam library allocates through.
 *
 * Going through one place lets tests fail the Nth allocation (the
 * alloc-failure sweep, as in curl's torture tests and SQLite) and check that
 * every caller returns GLOAM_ENOMEM cleanly without leaking. Sizes that could
 * overflow are checked here (mem_calloc, mem_reallocarray).
 */
#ifndef GLOAM_CORE_ALLOC_H
#define GLOAM_CORE_ALLOC_H

#include <stddef.h>

/* Like malloc/calloc/realloc/free; return NULL on failure (or injected
 * failure). mem_free(NULL) is a no-op. Thread-safe. */
void *mem_alloc(size_t n);
void *mem_calloc(size_t count, size_t size);
void *mem_realloc(void *p, size_t n);
void *mem_reallocarray(void *p, size_t count, size_t size);
void mem_free(void *p);

/* Hands the whole pages inside p[keep, len) back to the operating system
 * (madvise MADV_DONTNEED): the memory stays allocated and reads back as
 * zeros when next touched. For large scratch buffers after a big step, so
 * resident memory follows what is in use. p == NULL is a no-op. */
void mem_release_pages(void *p, size_t keep, size_t len);

/* Copies of memory and C strings (NUL-terminated); NULL on failure. */
void *mem_dup(const void *p, size_t n);
char *mem_strdup(const char *s);
char *mem_strndup(const char *s, size_t n);

/* Test hook: the allocation after `n` more succeed fails (n = 0 fails the
 * next). n < 0 disables injection. Returns how many allocations have been
 * attempted since the last call, so a sweep knows when it has covered all. */
long mem_fail_after(long n);

#endif
