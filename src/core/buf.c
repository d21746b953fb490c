/* SPDX-License-Identifier: Apache-2.0
 *
 * core/buf.c: capped growable buffers.
 */
#include "core/buf.h"

#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/secure.h"
#include "gloam/err.h"

void buf_init(buf *b, size_t max) {
  b->data = NULL;
  b->len = 0;
  b->cap = 0;
  b->max = max;
}

void buf_deinit(buf *b) {
  mem_free(b->data);
  buf_init(b, b->max);
}

void buf_deinit_wipe(buf *b) {
  if (b->data) secure_zero(b->data, b->cap + 1);
  buf_deinit(b);
}

void buf_reset(buf *b) {
  b->len = 0;
  if (b->data) b->data[0] = '\0';
}

int buf_reserve(buf *b, size_t extra) {
  if (extra > b->max || b->len > b->max - extra) return GLOAM_ETOOBIG;
  size_t need = b->len + extra;
  if (need <= b->cap && b->data) return GLOAM_OK;
  size_t ncap = b->cap ? b->cap : 64;
  while (ncap < need) ncap = ncap > b->max / 2 ? b->max : ncap * 2;
  if (ncap < need) ncap = need;
  uint8_t *p = mem_realloc(b->data, ncap + 1);
  if (!p) return GLOAM_ENOMEM;
  if (!b->data) p[0] = '\0';
  b->data = p;
  b->cap = ncap;
  return GLOAM_OK;
}

int buf_append(buf *b, const void *p, size_t n) {
  int rc = buf_reserve(b, n);
  if (rc < 0) return rc;
  if (n) memcpy(b->data + b->len, p, n);
  b->len += n;
  b->data[b->len] = '\0';
  return GLOAM_OK;
}

int buf_append_str(buf *b, const char *s) {
  return buf_append(b, s, strlen(s));
}

int buf_putc(buf *b, uint8_t c) {
  return buf_append(b, &c, 1);
}

int buf_vprintf(buf *b, const char *fmt, va_list ap) {
  va_list ap2;
  va_copy(ap2, ap);
  int n = vsnprintf(NULL, 0, fmt, ap2);
  va_end(ap2);
  if (n < 0) return GLOAM_EINVAL;
  int rc = buf_reserve(b, (size_t)n);
  if (rc < 0) return rc;
  vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
  b->len += (size_t)n;
  return GLOAM_OK;
}

int buf_printf(buf *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int rc = buf_vprintf(b, fmt, ap);
  va_end(ap);
  return rc;
}

const char *buf_cstr(const buf *b) {
  return b->data ? (const char *)b->data : "";
}

uint8_t *buf_take(buf *b, size_t *out_len) {
  uint8_t *p = b->data;
  if (out_len) *out_len = b->len;
  buf_init(b, b->max);
  return p;
}
