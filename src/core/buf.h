/* SPDX-License-Identifier: Apache-2.0
 *
 * core/buf.h: a growable byte buffer with a hard cap (curl's dynbuf).
 *
 * Every growable buffer in gloam states its maximum at init, so hostile input
 * can never make one grow without bound: appends past the cap fail with
 * GLOAM_ETOOBIG and leave the contents unchanged.
 *
 *   buf b; buf_init(&b, 1 << 20);
 *   if (buf_append(&b, p, n) < 0) ...;
 *   ... b.data, b.len ...
 *   buf_deinit(&b);
 *
 * The data is always followed by a NUL byte (not counted in len), so text
 * can be used as a C string. Not thread-safe; the caller embeds and owns it.
 */
#ifndef GLOAM_CORE_BUF_H
#define GLOAM_CORE_BUF_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

typedef struct buf {
  uint8_t *data; /* owned; NULL until the first append */
  size_t len;    /* bytes in use */
  size_t cap;    /* bytes allocated (excluding the NUL) */
  size_t max;    /* hard cap on len */
} buf;

void buf_init(buf *b, size_t max);
/* Frees the storage. buf_deinit_wipe() zeroes it first (for key material). */
void buf_deinit(buf *b);
void buf_deinit_wipe(buf *b);
/* Sets len to 0, keeping the storage. */
void buf_reset(buf *b);

/* Ensures room for `extra` more bytes. GLOAM_ETOOBIG past max, GLOAM_ENOMEM. */
int buf_reserve(buf *b, size_t extra);
int buf_append(buf *b, const void *p, size_t n);
int buf_append_str(buf *b, const char *s);
int buf_putc(buf *b, uint8_t c);
int buf_printf(buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int buf_vprintf(buf *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

/* The contents as a NUL-terminated string ("" when empty). Borrowed; valid
 * until the next change to b. */
const char *buf_cstr(const buf *b);

/* Hands the storage to the caller (free with mem_free) and resets b.
 * *out_len gets the length; the result is NUL-terminated. NULL if empty. */
uint8_t *buf_take(buf *b, size_t *out_len);

#endif
