/* SPDX-License-Identifier: Apache-2.0
 *
 * tests/tokenizer/zlib_anchor.c: strong references to the zlib functions
 * tokenizer_load.c uses, linked into the tokenizer's test, fuzz and bench
 * programs. tokenizer_load.c refers to them weakly (until gloam_engine itself
 * links zlib); with --as-needed, or a static libz.a, weak-only references
 * would let the linker leave zlib out.
 */
#include <zlib.h>

void *tokenizer_zlib_anchor(int i);
void *tokenizer_zlib_anchor(int i) {
  return i == 0 ? (void *)gzopen : i == 1 ? (void *)gzread : (void *)gzclose;
}
