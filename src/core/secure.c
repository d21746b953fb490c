/* SPDX-License-Identifier: Apache-2.0
 *
 * core/secure.c: secret wiping (explicit_bzero) and constant-time compare.
 */
#include "core/secure.h"

#include <stdint.h>
#include <string.h>

void secure_zero(void *p, size_t n) {
  if (p && n) explicit_bzero(p, n);
}

int secure_memeq(const void *a, const void *b, size_t n) {
  const volatile uint8_t *x = a, *y = b;
  uint8_t acc = 0;
  for (size_t i = 0; i < n; i++) acc |= (uint8_t)(x[i] ^ y[i]);
  return acc == 0;
}
