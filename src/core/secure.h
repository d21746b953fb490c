/* SPDX-License-Identifier: Apache-2.0
 *
 * core/secure.h: wiping secrets and comparing them in constant time.
 *
 * Key material is wiped before it is freed (STYLE §4). secure_zero() cannot
 * be optimised away; secure_memeq() takes time independent of the contents.
 */
#ifndef GLOAM_CORE_SECURE_H
#define GLOAM_CORE_SECURE_H

#include <stddef.h>

void secure_zero(void *p, size_t n);

/* 1 when the n bytes at a and b are equal, else 0; constant time in n. */
int secure_memeq(const void *a, const void *b, size_t n);

#endif
