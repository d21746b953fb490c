/* SPDX-License-Identifier: Apache-2.0
 *
 * core/err.h: filling a handle's error-detail buffer.
 *
 * Each handle embeds `char err[GLOAM_ERR_LEN]`; err_set() formats detail
 * text into it and returns the code, so call sites read
 *     return err_set(h->err, GLOAM_EFORMAT, "tensor %s: bad offset", name);
 * Never put secrets, prompts or request bodies in detail text.
 */
#ifndef GLOAM_CORE_ERR_H
#define GLOAM_CORE_ERR_H

#include <stddef.h>

#include "gloam/err.h"

/* Formats into err (GLOAM_ERR_LEN bytes, truncating) and returns code. */
int err_set(char *err, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Clears err to the empty string. */
void err_clear(char *err);

/* Always-on assertion for programming errors (never for untrusted input). */
#define GLOAM_ASSERT(cond) ((cond) ? (void)0 : gloam_assert_fail(#cond, __FILE__, __LINE__))
_Noreturn void gloam_assert_fail(const char *expr, const char *file, int line);

#endif
