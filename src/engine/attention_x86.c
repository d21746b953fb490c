/* SPDX-License-Identifier: Apache-2.0
 *
 * engine/attention_x86.c: AVX-512 inner loops of attention (see
 * attention_impl.h), compiled with per-function target attributes (no
 * global -march) and chosen at run time from cpuid; other CPUs and
 * head_dim not a multiple of 16 keep the portable loops.
 *
 * scores: each key row is loaded once per chunk position and dotted with
 * every query of the block (queries stay in L1); values: for each 16-float
 * slice of head_dim the block's output slices live in registers while the
 * chunk's value rows stream past, so each value element is loaded once per
 * block.
 */
#include <stdatomic.h>
#include <stdbool.h>

#include "engine/attention_impl.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

#define AVX512 __attribute__((target("avx512f")))

AVX512 static inline __m512 load16(const uint8_t *base, size_t idx, bool f16) {
  if (f16) return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(base + idx * 2)));
  return _mm512_loadu_ps((const float *)(base + idx * 4));
}

/* Rows of one head are stride elements apart (a page or more for f32
 * caches of 8+ KV heads), which the hardware prefetchers do not follow;
 * fetch the row ATT_PF positions ahead by hand. */
#define ATT_PF 4

static inline void prefetch_row(const uint8_t *base, size_t idx, int hd, bool f16) {
  const char *p = (const char *)(base + idx * (f16 ? 2 : 4));
  int bytes = hd * (f16 ? 2 : 4);
  for (int o = 0; o < bytes; o += 64) __builtin_prefetch(p + o, 0, 3);
}

AVX512 static void scores_avx512(const att_block *b, int c0, int n, float sc[][ATT_CHUNK]) {
  int hd = b->hd, nq = b->nq;
  for (int j = 0; j < n; j++) {
    size_t row = (size_t)(c0 + j) * b->stride + b->off;
    prefetch_row(b->K, row + ATT_PF * b->stride, hd, b->f16);
    __m512 acc[ATT_MAX_Q];
    for (int i = 0; i < nq; i++) acc[i] = _mm512_setzero_ps();
    for (int d = 0; d < hd; d += 16) {
      __m512 k = load16(b->K, row + (size_t)d, b->f16);
      for (int i = 0; i < nq; i++)
        acc[i] = _mm512_fmadd_ps(_mm512_loadu_ps(b->q[i] + d), k, acc[i]);
    }
    for (int i = 0; i < nq; i++) sc[i][j] = _mm512_reduce_add_ps(acc[i]);
  }
}

AVX512 static void values_avx512(const att_block *b, int c0, int n, float sc[][ATT_CHUNK]) {
  int hd = b->hd, nq = b->nq;
  for (int j = 0; j < ATT_PF && j < n; j++)
    prefetch_row(b->V, (size_t)(c0 + j) * b->stride + b->off, hd, b->f16);
  for (int d = 0; d < hd; d += 16) {
    __m512 acc[ATT_MAX_Q];
    for (int i = 0; i < nq; i++) acc[i] = _mm512_loadu_ps(b->out[i] + d);
    for (int j = 0; j < n; j++) {
      size_t row = (size_t)(c0 + j) * b->stride + b->off;
      if (d == 0) prefetch_row(b->V, row + ATT_PF * b->stride, hd, b->f16);
      __m512 v = load16(b->V, row + (size_t)d, b->f16);
      for (int i = 0; i < nq; i++) acc[i] = _mm512_fmadd_ps(_mm512_set1_ps(sc[i][j]), v, acc[i]);
    }
    for (int i = 0; i < nq; i++) _mm512_storeu_ps(b->out[i] + d, acc[i]);
  }
}

static int cpu_ok(void) {
  static atomic_int ok = -1; /* every thread computes the same value */
  int v = atomic_load_explicit(&ok, memory_order_relaxed);
  if (v < 0) {
    __builtin_cpu_init();
    v = __builtin_cpu_supports("avx512f") != 0; /* vcvtph2ps zmm is AVX-512F */
    atomic_store_explicit(&ok, v, memory_order_relaxed);
  }
  return v;
}

void attention_simd(const att_block *b, att_inner_fn *scores, att_inner_fn *values) {
  if (b->hd % 16 != 0 || !cpu_ok()) return;
  *scores = scores_avx512;
  *values = values_avx512;
}

#else

void attention_simd(const att_block *b, att_inner_fn *scores, att_inner_fn *values) {
  (void)b;
  (void)scores;
  (void)values;
}

#endif
