/* SPDX-License-Identifier: Apache-2.0
 *
 * engine/attention_x86.c: attention blocks on AVX-512 (see
 * attention_impl.h), compiled with per-function target attributes (no
 * global -march) and chosen at run time from cpuid; other CPUs, softcap
 * models and head_dim not a multiple of 16 keep the portable loops.
 *
 * A block's up to 16 queries live in the 16 lanes of a vector: each key
 * row is loaded once per block and its scores for all queries come out as
 * one vector (sum_lanes16); the online softmax then runs elementwise over
 * queries; values: for each 16-float slice of head_dim the block's output
 * slices live in registers while the chunk's value rows stream past. On
 * one core a 2,048-token Qwen3-0.6B prefill went from 48 to 174 tok/s
 * with this against per-query loops (docs/engine.md). AArch64 has the NEON
 * version (attention_arm.c, which also holds the stub for other CPUs).
 */
#include <math.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "engine/attention_impl.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

#define AVX512 __attribute__((target("avx512f")))

AVX512 static inline __m512 load16(const uint8_t *base, size_t idx, bool f16) {
  if (f16) return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(base + idx * 2)));
  return _mm512_loadu_ps((const float *)(base + idx * 4));
}

/* e^x for x <= 0 as attention_impl.h describes (x below -87 gives 0 or a
 * denormal), times 2^n by vscalefps. */
AVX512 static inline __m512 exp_neg512(__m512 x) {
  x = _mm512_max_ps(x, _mm512_set1_ps(-104.0f));
  __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(ATT_LOG2E)),
                                  _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(ATT_LN2_HI), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(ATT_LN2_LO), r);
  static const float c[8] = ATT_EXP_C;
  __m512 p = _mm512_set1_ps(c[0]);
  for (int i = 1; i < 8; i++) p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(c[i]));
  return _mm512_scalef_ps(p, n);
}

/* Lane i = sum of the 16 lanes of v[i], for 16 vectors: pairwise
 * unpack/shuffle + add in four levels (45 instructions instead of 16
 * horizontal reductions of ~9 each). */
AVX512 static inline __m512 sum_lanes16(const __m512 v[16]) {
  __m512 a[8], c[4];
  for (int k = 0; k < 8; k++) /* lanes: v2k, v2k+1 partials, per 128 bits */
    a[k] = _mm512_add_ps(_mm512_unpacklo_ps(v[2 * k], v[2 * k + 1]),
                         _mm512_unpackhi_ps(v[2 * k], v[2 * k + 1]));
  for (int k = 0; k < 4; k++) { /* v4k .. v4k+3, per 128 bits */
    __m512d x = _mm512_castps_pd(a[2 * k]), y = _mm512_castps_pd(a[2 * k + 1]);
    c[k] = _mm512_add_ps(_mm512_castpd_ps(_mm512_unpacklo_pd(x, y)),
                         _mm512_castpd_ps(_mm512_unpackhi_pd(x, y)));
  }
  __m512 u = _mm512_add_ps(_mm512_shuffle_f32x4(c[0], c[1], _MM_SHUFFLE(2, 0, 2, 0)),
                           _mm512_shuffle_f32x4(c[0], c[1], _MM_SHUFFLE(3, 1, 3, 1)));
  __m512 w = _mm512_add_ps(_mm512_shuffle_f32x4(c[2], c[3], _MM_SHUFFLE(2, 0, 2, 0)),
                           _mm512_shuffle_f32x4(c[2], c[3], _MM_SHUFFLE(3, 1, 3, 1)));
  return _mm512_add_ps(_mm512_shuffle_f32x4(u, w, _MM_SHUFFLE(2, 0, 2, 0)),
                       _mm512_shuffle_f32x4(u, w, _MM_SHUFFLE(3, 1, 3, 1)));
}

#define ATT_INLINE AVX512 static inline __attribute__((always_inline))

/* Lane i (< NQ) = the dot of query i with the key whose row is at k. */
ATT_INLINE __m512 key_scores(const float *qb, const uint8_t *K, size_t row, int hd, bool f16,
                             const int NQ) {
  __m512 acc[16];
  for (int i = 0; i < NQ; i++) acc[i] = _mm512_setzero_ps();
  for (int d = 0; d < hd; d += 16, qb += 16 * NQ) {
    __m512 k = load16(K, row + (size_t)d, f16);
    for (int i = 0; i < NQ; i++) acc[i] = _mm512_fmadd_ps(_mm512_loadu_ps(qb + 16 * i), k, acc[i]);
  }
  if (NQ <= 4) {
    float t[16] = {0};
    for (int i = 0; i < NQ; i++) t[i] = _mm512_reduce_add_ps(acc[i]);
    return _mm512_loadu_ps(t);
  }
  for (int i = NQ; i < 16; i++) acc[i] = _mm512_setzero_ps();
  return sum_lanes16(acc);
}

/* out[i] = out[i] * rs[i] + sum_j sc[j][i] V[c0 + j], one 16-float slice of
 * head_dim at a time with the block's slices in registers (any NQ, hd). */
ATT_INLINE void values_by_slice(const att_block *b, int c0, int n, const float (*sc)[16],
                                const float *rs, const int NQ) {
  for (int d = 0; d < b->hd; d += 16) {
    __m512 acc[16];
    for (int i = 0; i < NQ; i++)
      acc[i] = _mm512_mul_ps(_mm512_loadu_ps(b->out[i] + d), _mm512_set1_ps(rs[i]));
    for (int j = 0; j < n; j++) {
      __m512 v = load16(b->V, (size_t)(c0 + j) * b->stride + b->off + (size_t)d, b->f16);
      for (int i = 0; i < NQ; i++) acc[i] = _mm512_fmadd_ps(_mm512_set1_ps(sc[j][i]), v, acc[i]);
    }
    for (int i = 0; i < NQ; i++) _mm512_storeu_ps(b->out[i] + d, acc[i]);
  }
}

/* The same with whole rows in registers (NQ * HD / 16 <= 16 accumulators):
 * each value row is read once, front to back, which is what decoding (a
 * group's 1-4 queries over a long cache) needs to stream at full speed;
 * the slice order above walks the chunk's rows hd / 16 times. */
ATT_INLINE void values_by_row(const att_block *b, int c0, int n, const float (*sc)[16],
                              const float *rs, const int NQ, const int HD) {
  __m512 acc[4][8];
  for (int i = 0; i < NQ; i++)
    for (int s = 0; s < HD / 16; s++)
      acc[i][s] = _mm512_mul_ps(_mm512_loadu_ps(b->out[i] + 16 * s), _mm512_set1_ps(rs[i]));
  for (int j = 0; j < n; j++) {
    size_t row = (size_t)(c0 + j) * b->stride + b->off;
    for (int s = 0; s < HD / 16; s++) {
      __m512 v = load16(b->V, row + 16 * (size_t)s, b->f16);
      for (int i = 0; i < NQ; i++)
        acc[i][s] = _mm512_fmadd_ps(_mm512_set1_ps(sc[j][i]), v, acc[i][s]);
    }
  }
  for (int i = 0; i < NQ; i++)
    for (int s = 0; s < HD / 16; s++) _mm512_storeu_ps(b->out[i] + 16 * s, acc[i][s]);
}

/* The whole block with the queries in the lanes of one vector: scores of a
 * key for all queries at once (sum_lanes16), the online softmax elementwise
 * over queries (no horizontal work), values with the block's output slices
 * in registers. NQ is a constant (block_avx512 instantiates 1 .. 16), so
 * the accumulators stay in registers; with a run-time count they lived on
 * the stack and every FMA waited for a store-to-load round trip. sc[j]
 * holds position c0 + j's scores (lane = query); qb the queries as
 * [hd / 16][NQ][16]. */
ATT_INLINE void block_n(const att_block *b, float scale, const int NQ) {
  _Alignas(64) float qb[ATT_SIMD_MAX_HD * ATT_MAX_Q];
  _Alignas(64) float sc[ATT_CHUNK][16];
  _Alignas(64) float rs[16];
  _Alignas(64) int32_t first[16], last[16];
  int hd = b->hd, lo = b->first[0], hi = b->last[0];
  for (int i = 0; i < 16; i++) {
    first[i] = i < NQ ? b->first[i] : INT32_MAX; /* padding lanes see nothing */
    last[i] = i < NQ ? b->last[i] : -1;
  }
  for (int i = 0; i < NQ; i++) {
    lo = b->first[i] < lo ? b->first[i] : lo;
    hi = b->last[i] > hi ? b->last[i] : hi;
    for (int d = 0; d < hd; d += 16)
      _mm512_store_ps(qb + (size_t)(d / 16) * 16 * NQ + 16 * i, _mm512_loadu_ps(b->q[i] + d));
    memset(b->out[i], 0, sizeof(float) * (size_t)hd);
  }
  const __m512i vfirst = _mm512_load_si512(first), vlast = _mm512_load_si512(last);
  const __m512 vscale = _mm512_set1_ps(scale);
  __m512 mx = _mm512_set1_ps(-INFINITY), sum = _mm512_setzero_ps();
  for (int c0 = lo; c0 <= hi; c0 += ATT_CHUNK) {
    int n = hi + 1 - c0 < ATT_CHUNK ? hi + 1 - c0 : ATT_CHUNK;
    __m512 cm = mx;
    for (int j = 0; j < n; j++) {
      __m512 s = _mm512_mul_ps(
          key_scores(qb, b->K, (size_t)(c0 + j) * b->stride + b->off, hd, b->f16, NQ), vscale);
      __m512i pos = _mm512_set1_epi32(c0 + j);
      __mmask16 vis = _mm512_cmple_epi32_mask(vfirst, pos) & _mm512_cmple_epi32_mask(pos, vlast);
      cm = _mm512_mask_max_ps(cm, vis, cm, s);
      _mm512_store_ps(sc[j], s);
    }
    /* rescale what was summed under the old max (0 * tiny where nothing was) */
    __m512 r = _mm512_mask_mov_ps(_mm512_set1_ps(1.0f), _mm512_cmp_ps_mask(cm, mx, _CMP_GT_OQ),
                                  exp_neg512(_mm512_sub_ps(mx, cm)));
    sum = _mm512_mul_ps(sum, r);
    mx = cm;
    _mm512_store_ps(rs, r);
    for (int j = 0; j < n; j++) {
      __m512i pos = _mm512_set1_epi32(c0 + j);
      __mmask16 vis = _mm512_cmple_epi32_mask(vfirst, pos) & _mm512_cmple_epi32_mask(pos, vlast);
      __m512 p = _mm512_maskz_mov_ps(vis, exp_neg512(_mm512_sub_ps(_mm512_load_ps(sc[j]), mx)));
      _mm512_store_ps(sc[j], p);
      sum = _mm512_add_ps(sum, p);
    }
    if (NQ <= 2 && hd == 128)
      values_by_row(b, c0, n, sc, rs, NQ, 128);
    else if (NQ <= 4 && hd == 64)
      values_by_row(b, c0, n, sc, rs, NQ, 64);
    else
      values_by_slice(b, c0, n, sc, rs, NQ);
  }
  _mm512_store_ps(rs, sum);
  for (int i = 0; i < NQ; i++) {
    __m512 inv = _mm512_set1_ps(rs[i] > 0 ? 1.0f / rs[i] : 0.0f);
    for (int d = 0; d < hd; d += 16)
      _mm512_storeu_ps(b->out[i] + d, _mm512_mul_ps(_mm512_loadu_ps(b->out[i] + d), inv));
  }
}

AVX512 static void block_avx512(const att_block *b, float scale) {
  switch (b->nq) {
    case 1:
      block_n(b, scale, 1);
      break;
    case 2:
      block_n(b, scale, 2);
      break;
    case 3:
      block_n(b, scale, 3);
      break;
    case 4:
      block_n(b, scale, 4);
      break;
    case 5:
      block_n(b, scale, 5);
      break;
    case 6:
      block_n(b, scale, 6);
      break;
    case 7:
      block_n(b, scale, 7);
      break;
    case 8:
      block_n(b, scale, 8);
      break;
    case 9:
      block_n(b, scale, 9);
      break;
    case 10:
      block_n(b, scale, 10);
      break;
    case 11:
      block_n(b, scale, 11);
      break;
    case 12:
      block_n(b, scale, 12);
      break;
    case 13:
      block_n(b, scale, 13);
      break;
    case 14:
      block_n(b, scale, 14);
      break;
    case 15:
      block_n(b, scale, 15);
      break;
    default:
      block_n(b, scale, 16);
      break;
  }
}
_Static_assert(ATT_MAX_Q == 16, "block_avx512 covers 1 .. 16 queries");

/* 2: AVX-512F (vcvtph2ps zmm is AVX-512F), 1: AVX2 + FMA + F16C, 0: neither */
static int cpu_level(void) {
  static atomic_int level = -1; /* every thread computes the same value */
  int v = atomic_load_explicit(&level, memory_order_relaxed);
  if (v < 0) {
    __builtin_cpu_init();
    v = __builtin_cpu_supports("avx512f")                                 ? 2
        : __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") ? 1
                                                                          : 0;
    /* F16C comes with every AVX2 CPU we know of; GCC's builtin cannot ask */
    atomic_store_explicit(&level, v, memory_order_relaxed);
  }
  return v;
}

static atomic_bool g_force_avx2;

void attention_force_avx2(bool on) {
  atomic_store(&g_force_avx2, on);
}

bool attention_block_simd(const att_block *b, float scale, float softcap) {
  if (softcap > 0 || b->hd > ATT_SIMD_MAX_HD) return false;
  int level = cpu_level();
  if (level == 2 && b->hd % 16 == 0 && !atomic_load_explicit(&g_force_avx2, memory_order_relaxed)) {
    block_avx512(b, scale);
    return true;
  }
  if (level >= 1 && b->hd % 8 == 0) {
    attention_block_avx2(b, scale);
    return true;
  }
  return false;
}

#endif
