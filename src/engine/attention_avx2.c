/* SPDX-License-Identifier: Apache-2.0
 *
 * engine/attention_avx2.c: attention blocks on AVX2 + FMA + F16C, for
 * x86-64 CPUs without AVX-512 (AMD Zen 2/3, Intel client cores before and
 * after AVX-512). The same design as attention_x86.c's AVX-512 block, with
 * 8 lanes: up to 8 queries live in the lanes of one vector; each key row is
 * loaded once per 8 queries and its scores come out as one vector (a 3-level
 * hadd tree); the online softmax is elementwise over queries (e^x by range
 * reduction and a degree-7 polynomial, 2^n built in the exponent bits);
 * values with the queries' output slices in registers. A block of more than
 * 8 queries runs as groups of 8 (the cache is then read once per group,
 * from L1/L2). Chosen by attention_x86.c when the CPU has AVX2, FMA and
 * F16C but not AVX-512F; float32 like the portable path.
 */
#include "engine/attention_impl.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#define AVX2 __attribute__((target("avx2,fma,f16c")))
#define A2_INLINE AVX2 static inline __attribute__((always_inline))

A2_INLINE __m256 load8(const uint8_t *base, size_t idx, bool f16) {
  if (f16) return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(base + idx * 2)));
  return _mm256_loadu_ps((const float *)(base + idx * 4));
}

/* e^x for x <= 0; x < -87 gives e^-87 (~1.6e-38, below any weight that
 * matters next to the block's maximum, which contributes 1). */
A2_INLINE __m256 exp_neg256(__m256 x) {
  x = _mm256_max_ps(x, _mm256_set1_ps(-87.0f));
  __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(ATT_LOG2E)),
                             _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(ATT_LN2_HI), x);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(ATT_LN2_LO), r);
  static const float c[8] = ATT_EXP_C;
  __m256 p = _mm256_set1_ps(c[0]);
  for (int i = 1; i < 8; i++) p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(c[i]));
  __m256i e =
      _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

/* Lane i = sum of the 8 lanes of v[i]. */
A2_INLINE __m256 sum_lanes8(const __m256 v[8]) {
  __m256 u0 = _mm256_hadd_ps(_mm256_hadd_ps(v[0], v[1]), _mm256_hadd_ps(v[2], v[3]));
  __m256 u1 = _mm256_hadd_ps(_mm256_hadd_ps(v[4], v[5]), _mm256_hadd_ps(v[6], v[7]));
  return _mm256_add_ps(_mm256_permute2f128_ps(u0, u1, 0x20), _mm256_permute2f128_ps(u0, u1, 0x31));
}

/* Lanes of the queries that see position pos: first <= pos <= last. */
A2_INLINE __m256 visible(__m256i first, __m256i last, int pos) {
  __m256i p = _mm256_set1_epi32(pos);
  __m256i no = _mm256_or_si256(_mm256_cmpgt_epi32(first, p), _mm256_cmpgt_epi32(p, last));
  return _mm256_castsi256_ps(_mm256_xor_si256(no, _mm256_set1_epi32(-1)));
}

/* Queries q0 .. q0 + NQ - 1 of block b (NQ constant, <= 8). */
A2_INLINE void group_n(const att_block *b, int q0, float scale, const int NQ) {
  _Alignas(32) float qb[ATT_SIMD_MAX_HD * 8];
  _Alignas(32) float sc[ATT_CHUNK][8];
  _Alignas(32) float rs[8];
  _Alignas(32) int32_t first[8], last[8];
  int hd = b->hd, lo = b->first[q0], hi = b->last[q0];
  for (int i = 0; i < 8; i++) {
    first[i] = i < NQ ? b->first[q0 + i] : INT32_MAX; /* padding lanes see nothing */
    last[i] = i < NQ ? b->last[q0 + i] : -1;
  }
  for (int i = 0; i < NQ; i++) {
    lo = first[i] < lo ? first[i] : lo;
    hi = last[i] > hi ? last[i] : hi;
    for (int d = 0; d < hd; d += 8)
      _mm256_store_ps(qb + (size_t)(d / 8) * 8 * NQ + 8 * i, _mm256_loadu_ps(b->q[q0 + i] + d));
    memset(b->out[q0 + i], 0, sizeof(float) * (size_t)hd);
  }
  const __m256i vfirst = _mm256_load_si256((const __m256i *)first),
                vlast = _mm256_load_si256((const __m256i *)last);
  const __m256 vscale = _mm256_set1_ps(scale), ninf = _mm256_set1_ps(-INFINITY);
  __m256 mx = ninf, sum = _mm256_setzero_ps();
  for (int c0 = lo; c0 <= hi; c0 += ATT_CHUNK) {
    int n = hi + 1 - c0 < ATT_CHUNK ? hi + 1 - c0 : ATT_CHUNK;
    __m256 cm = mx;
    for (int j = 0; j < n; j++) {
      size_t row = (size_t)(c0 + j) * b->stride + b->off;
      __m256 acc[8];
      for (int i = 0; i < 8; i++) acc[i] = _mm256_setzero_ps();
      const float *qp = qb;
      for (int d = 0; d < hd; d += 8, qp += 8 * NQ) {
        __m256 k = load8(b->K, row + (size_t)d, b->f16);
        for (int i = 0; i < NQ; i++)
          acc[i] = _mm256_fmadd_ps(_mm256_load_ps(qp + 8 * i), k, acc[i]);
      }
      __m256 s = _mm256_mul_ps(sum_lanes8(acc), vscale);
      cm = _mm256_max_ps(cm, _mm256_blendv_ps(ninf, s, visible(vfirst, vlast, c0 + j)));
      _mm256_store_ps(sc[j], s);
    }
    /* rescale what was summed under the old max (lanes where it grew) */
    __m256 grew = _mm256_cmp_ps(cm, mx, _CMP_GT_OQ);
    __m256 r = _mm256_blendv_ps(_mm256_set1_ps(1.0f), exp_neg256(_mm256_sub_ps(mx, cm)), grew);
    sum = _mm256_mul_ps(sum, r);
    mx = cm;
    _mm256_store_ps(rs, r);
    for (int j = 0; j < n; j++) {
      __m256 p = _mm256_and_ps(visible(vfirst, vlast, c0 + j),
                               exp_neg256(_mm256_sub_ps(_mm256_load_ps(sc[j]), mx)));
      _mm256_store_ps(sc[j], p);
      sum = _mm256_add_ps(sum, p);
    }
    for (int d = 0; d < hd; d += 8) {
      __m256 acc[8];
      for (int i = 0; i < NQ; i++)
        acc[i] = _mm256_mul_ps(_mm256_loadu_ps(b->out[q0 + i] + d), _mm256_set1_ps(rs[i]));
      for (int j = 0; j < n; j++) {
        __m256 v = load8(b->V, (size_t)(c0 + j) * b->stride + b->off + (size_t)d, b->f16);
        for (int i = 0; i < NQ; i++)
          acc[i] = _mm256_fmadd_ps(_mm256_broadcast_ss(&sc[j][i]), v, acc[i]);
      }
      for (int i = 0; i < NQ; i++) _mm256_storeu_ps(b->out[q0 + i] + d, acc[i]);
    }
  }
  _mm256_store_ps(rs, sum);
  for (int i = 0; i < NQ; i++) {
    __m256 inv = _mm256_set1_ps(rs[i] > 0 ? 1.0f / rs[i] : 0.0f);
    for (int d = 0; d < hd; d += 8)
      _mm256_storeu_ps(b->out[q0 + i] + d, _mm256_mul_ps(_mm256_loadu_ps(b->out[q0 + i] + d), inv));
  }
}

AVX2 void attention_block_avx2(const att_block *b, float scale) {
  for (int q0 = 0; q0 < b->nq; q0 += 8) {
    switch (b->nq - q0 < 8 ? b->nq - q0 : 8) {
      case 1:
        group_n(b, q0, scale, 1);
        break;
      case 2:
        group_n(b, q0, scale, 2);
        break;
      case 3:
        group_n(b, q0, scale, 3);
        break;
      case 4:
        group_n(b, q0, scale, 4);
        break;
      case 5:
        group_n(b, q0, scale, 5);
        break;
      case 6:
        group_n(b, q0, scale, 6);
        break;
      case 7:
        group_n(b, q0, scale, 7);
        break;
      default:
        group_n(b, q0, scale, 8);
        break;
    }
  }
}

#endif
