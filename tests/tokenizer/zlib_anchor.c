/* SPDX-License-Identifier: Apache-2.0
 *
 * tests/tokenizer/zlib_anchor.c: a strong reference to zlib, linked into the
 * tokenizer's test, fuzz and bench programs. tokenizer_load.c refers to zlib
 * weakly (until gloam_engine itself links zlib), and with --as-needed a
 * weak-only reference would let the linker drop libz.
 */
#include <zlib.h>

void *tokenizer_zlib_anchor(void);
void *tokenizer_zlib_anchor(void) {
  return (void *)gzopen;
}
