/* SPDX-License-Identifier: Apache-2.0
 *
 * core/err.c: the error-code table's strings, handle error text, asserts.
 */
#include "core/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

const char *gloam_strerror(int code) {
  switch (code) {
#define GLOAM_ERR_STR_(name, val, msg) \
  case (val):                          \
    return (msg);
    GLOAM_ERRNO_MAP(GLOAM_ERR_STR_)
#undef GLOAM_ERR_STR_
    default:
      return "unknown error";
  }
}

const char *gloam_errname(int code) {
  switch (code) {
#define GLOAM_ERR_NAME_(name, val, msg) \
  case (val):                           \
    return "GLOAM_" #name;
    GLOAM_ERRNO_MAP(GLOAM_ERR_NAME_)
#undef GLOAM_ERR_NAME_
    default:
      return "GLOAM_E?";
  }
}

int err_set(char *err, int code, const char *fmt, ...) {
  if (err) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, GLOAM_ERR_LEN, fmt, ap);
    va_end(ap);
  }
  return code;
}

void err_clear(char *err) {
  if (err) err[0] = '\0';
}

void gloam_assert_fail(const char *expr, const char *file, int line) {
  fprintf(stderr, "gloam: assertion failed: %s (%s:%d)\n", expr, file, line);
  abort();
}
