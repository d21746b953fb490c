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
#include <math.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

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

/* e^x for x <= 0 (smaller than -87 gives 0 or a denormal): x = n ln2 + r
 * with |r| <= ln2 / 2 (ln2 split in two for an exact n ln2), e^r by its
 * Taylor polynomial to degree 7 (relative error < 3e-8 before rounding),
 * times 2^n by vscalefps. */
AVX512 static inline __m512 exp_neg512(__m512 x) {
  x = _mm512_max_ps(x, _mm512_set1_ps(-104.0f));
  __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504f)),
                                  _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693145752f), x); /* ln2 high bits */
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(1.42860677e-6f), r);      /* ln2 - high */
  __m512 p = _mm512_set1_ps(1.0f / 5040);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 720));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 120));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 24));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 6));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
  return _mm512_scalef_ps(p, n);
}

/* lanes l of the 16 starting at j with lo <= j + l < hi */
static inline __mmask16 lanes_in(int j, int lo, int hi) {
  int a = lo - j < 0 ? 0 : lo - j, b = hi - j > 16 ? 16 : hi - j;
  if (b <= a) return 0;
  return (__mmask16)((((uint32_t)1 << b) - 1) & ~(((uint32_t)1 << a) - 1));
}

/* att_softmax_fn without softcap (attention_simd keeps the portable one
 * for softcap models). */
AVX512 static float softmax_avx512(float *sc, int n, int j0, int j1, float scale, float softcap,
                                   float *mx, float *sum) {
  (void)softcap;
  __m512 vs = _mm512_set1_ps(scale), vmax = _mm512_set1_ps(-INFINITY);
  for (int j = j0 - j0 % 16; j < j1; j += 16) {
    __mmask16 k = lanes_in(j, j0, j1);
    __m512 v = _mm512_mul_ps(_mm512_maskz_loadu_ps(k, sc + j), vs);
    _mm512_mask_storeu_ps(sc + j, k, v);
    vmax = _mm512_mask_max_ps(vmax, k, vmax, v);
  }
  float cm = _mm512_reduce_max_ps(vmax), r = 1.0f;
  if (cm > *mx) {
    if (*sum > 0) {
      r = expf(*mx - cm);
      *sum *= r;
    }
    *mx = cm;
  }
  __m512 vm = _mm512_set1_ps(*mx), acc = _mm512_setzero_ps();
  for (int j = 0; j < n; j += 16) {
    __mmask16 all = lanes_in(j, 0, n), vis = lanes_in(j, j0, j1);
    __m512 p =
        _mm512_maskz_mov_ps(vis, exp_neg512(_mm512_sub_ps(_mm512_maskz_loadu_ps(vis, sc + j), vm)));
    _mm512_mask_storeu_ps(sc + j, all, p);
    acc = _mm512_add_ps(acc, p);
  }
  *sum += _mm512_reduce_add_ps(acc);
  return r;
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

void attention_simd(const att_block *b, float softcap, att_inner_fn *scores, att_inner_fn *values,
                    att_softmax_fn *softmax) {
  if (!cpu_ok()) return;
  if (softcap <= 0) *softmax = softmax_avx512;
  if (b->hd % 16 != 0) return;
  *scores = scores_avx512;
  *values = values_avx512;
}

#else

void attention_simd(const att_block *b, float softcap, att_inner_fn *scores, att_inner_fn *values,
                    att_softmax_fn *softmax) {
  (void)b;
  (void)softcap;
  (void)scores;
  (void)values;
  (void)softmax;
}

#endif
