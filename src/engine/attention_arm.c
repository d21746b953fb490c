/* SPDX-License-Identifier: Apache-2.0
 *
 * engine/attention_arm.c: attention blocks on NEON (AArch64; see
 * attention_impl.h). Advanced SIMD is part of every AArch64 CPU, so there
 * is no run-time check; softcap models and head_dim not a multiple of 16
 * (or above ATT_SIMD_MAX_HD) keep the portable loops. Plain ARMv8.0-A, no
 * fp16 arithmetic: f16 caches are widened exactly with vcvt_f32_f16 and all
 * arithmetic is float32, as on x86.
 *
 * attention_x86.c's layout on 4-lane vectors: a block's up to 16 queries
 * are 1 .. 4 groups of 4 lanes. Scores: each key row is loaded once per
 * block and feeds an FMA per query (blocks of up to 4 queries keep 2 or 4
 * accumulators per query so enough FMAs are in flight); a group's 4 sums
 * come out as one vector by two levels of pairwise adds (vpaddq_f32). The
 * online softmax then runs elementwise over each group's lanes with a
 * vector e^x. Values: for each slice of head_dim (16, 8 or 4 floats for
 * blocks of up to 4, 8 or 16 queries) the block's output slices stay in at
 * most 16 of the 32 vector registers while the chunk's value rows stream
 * past, each weight taken straight from its score lane (vfmaq_laneq_f32).
 * The block size is a compile-time constant (1 .. 16 instantiated) so the
 * accumulators are registers, not stack arrays.
 *
 * Speed has never been measured (no ARM machine here; qemu says nothing
 * about it). CPUs with neither this nor attention_x86.c's AVX-512 build get
 * the stub at the end: one attention_block_simd per architecture.
 */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "engine/attention_impl.h"

#if defined(__aarch64__) && defined(__ARM_NEON)
#include <arm_neon.h>

#define ATT_INLINE static inline __attribute__((always_inline))

/* Four floats of a cache at element idx (f16 widened exactly). */
ATT_INLINE float32x4_t load4(const uint8_t *base, size_t idx, bool f16) {
  if (f16) return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16((const uint16_t *)(base + idx * 2))));
  return vld1q_f32((const float *)(base + idx * 4));
}

/* e^x for x <= 0, as exp_neg512 in attention_x86.c: x = n ln2 + r with
 * |r| <= ln2 / 2 (ln2 split in two for an exact n ln2), e^r by its Taylor
 * polynomial to degree 7, times 2^n as 2^(n >> 1) * 2^(n - (n >> 1)): both
 * factors are normal floats down to the clamp (n >= -150), so below -87
 * the result is the correctly scaled denormal or 0, like vscalefps. maxnm
 * also clamps a NaN (-inf - -inf), whose lane the caller discards. */
ATT_INLINE float32x4_t exp_neg4(float32x4_t x) {
  x = vmaxnmq_f32(x, vdupq_n_f32(-104.0f));
  float32x4_t n = vrndnq_f32(vmulq_n_f32(x, 1.44269504f));
  float32x4_t r = vfmsq_f32(x, n, vdupq_n_f32(0.693145752f)); /* ln2 high bits */
  r = vfmsq_f32(r, n, vdupq_n_f32(1.42860677e-6f));           /* ln2 - high */
  float32x4_t p = vdupq_n_f32(1.0f / 5040);
  p = vfmaq_f32(vdupq_n_f32(1.0f / 720), p, r);
  p = vfmaq_f32(vdupq_n_f32(1.0f / 120), p, r);
  p = vfmaq_f32(vdupq_n_f32(1.0f / 24), p, r);
  p = vfmaq_f32(vdupq_n_f32(1.0f / 6), p, r);
  p = vfmaq_f32(vdupq_n_f32(0.5f), p, r);
  p = vfmaq_f32(vdupq_n_f32(1.0f), p, r);
  p = vfmaq_f32(vdupq_n_f32(1.0f), p, r);
  int32x4_t ni = vcvtq_s32_f32(n), n1 = vshrq_n_s32(ni, 1), n2 = vsubq_s32(ni, n1);
  const int32x4_t bias = vdupq_n_s32(127);
  float32x4_t s1 = vreinterpretq_f32_s32(vshlq_n_s32(vaddq_s32(n1, bias), 23));
  float32x4_t s2 = vreinterpretq_f32_s32(vshlq_n_s32(vaddq_s32(n2, bias), 23));
  return vmulq_f32(vmulq_f32(p, s1), s2);
}

/* s[g] lane l = the dot of query 4g + l with the key whose row starts at
 * element row (0 in lanes past NQ); qb holds the queries as
 * [hd / 4][NQ][4]. */
ATT_INLINE void key_scores(float32x4_t s[4], const float *qb, const uint8_t *K, size_t row, int hd,
                           bool f16, const int NQ) {
  const int NA = NQ <= 2 ? 4 : NQ <= 4 ? 2 : 1; /* accumulators per query */
  float32x4_t acc[4][ATT_MAX_Q];
  for (int a = 0; a < NA; a++)
    for (int i = 0; i < NQ; i++) acc[a][i] = vdupq_n_f32(0.0f);
  for (int d = 0; d < hd; d += 16) {
    float32x4_t k[4];
    for (int v = 0; v < 4; v++) k[v] = load4(K, row + (size_t)(d + 4 * v), f16);
    for (int v = 0; v < 4; v++, qb += 4 * NQ)
      for (int i = 0; i < NQ; i++)
        acc[v % NA][i] = vfmaq_f32(acc[v % NA][i], vld1q_f32(qb + 4 * i), k[v]);
  }
  for (int a = 1; a < NA; a++)
    for (int i = 0; i < NQ; i++) acc[0][i] = vaddq_f32(acc[0][i], acc[a][i]);
  for (int g = 0; 4 * g < NQ; g++) {
    float32x4_t t[4];
    for (int l = 0; l < 4; l++) t[l] = 4 * g + l < NQ ? acc[0][4 * g + l] : vdupq_n_f32(0.0f);
    /* [t0 t0 t1 t1 | ...] pairwise, then again: lane l = sum of t[l] */
    s[g] = vpaddq_f32(vpaddq_f32(t[0], t[1]), vpaddq_f32(t[2], t[3]));
  }
}

/* Lane masks of the queries of group g that see position pos. */
ATT_INLINE float32x4_t visible(float32x4_t x, const int32x4_t first, const int32x4_t last,
                               int32x4_t pos) {
  uint32x4_t vis = vandq_u32(vcleq_s32(first, pos), vcleq_s32(pos, last));
  return vreinterpretq_f32_u32(vandq_u32(vis, vreinterpretq_u32_f32(x)));
}

/* out[i][d .. d + 4 SV) = rs[i] * out + sum_j sc[j][i] * V[c0 + j][d ..]:
 * the block's output slices in registers, the weight of query 4g + l from
 * lane l of its group's score vector. */
ATT_INLINE void values_slice(const att_block *b, int c0, int n, int d, const float (*sc)[ATT_MAX_Q],
                             const float *rs, const int NQ) {
  const int NG = (NQ + 3) / 4, SV = NQ <= 4 ? 4 : NQ <= 8 ? 2 : 1;
  float32x4_t acc[ATT_MAX_Q][4];
  for (int i = 0; i < NQ; i++)
    for (int s = 0; s < SV; s++) acc[i][s] = vmulq_n_f32(vld1q_f32(b->out[i] + d + 4 * s), rs[i]);
  for (int j = 0; j < n; j++) {
    size_t row = (size_t)(c0 + j) * b->stride + b->off + (size_t)d;
    float32x4_t v[4];
    for (int s = 0; s < SV; s++) v[s] = load4(b->V, row + (size_t)(4 * s), b->f16);
    for (int g = 0; g < NG; g++) {
      float32x4_t w = vld1q_f32(sc[j] + 4 * g);
      for (int s = 0; s < SV; s++) {
        acc[4 * g][s] = vfmaq_laneq_f32(acc[4 * g][s], v[s], w, 0);
        if (4 * g + 1 < NQ) acc[4 * g + 1][s] = vfmaq_laneq_f32(acc[4 * g + 1][s], v[s], w, 1);
        if (4 * g + 2 < NQ) acc[4 * g + 2][s] = vfmaq_laneq_f32(acc[4 * g + 2][s], v[s], w, 2);
        if (4 * g + 3 < NQ) acc[4 * g + 3][s] = vfmaq_laneq_f32(acc[4 * g + 3][s], v[s], w, 3);
      }
    }
  }
  for (int i = 0; i < NQ; i++)
    for (int s = 0; s < SV; s++) vst1q_f32(b->out[i] + d + 4 * s, acc[i][s]);
}

/* The whole block (see the file comment); sc[j] holds position c0 + j's
 * scores, then weights (lane 4g + l = query 4g + l). */
ATT_INLINE void block_n(const att_block *b, float scale, const int NQ) {
  const int NG = (NQ + 3) / 4, SV = NQ <= 4 ? 4 : NQ <= 8 ? 2 : 1;
  _Alignas(16) float qb[ATT_SIMD_MAX_HD * ATT_MAX_Q];
  _Alignas(16) float sc[ATT_CHUNK][ATT_MAX_Q];
  _Alignas(16) float rs[ATT_MAX_Q];
  _Alignas(16) int32_t first[ATT_MAX_Q], last[ATT_MAX_Q];
  int hd = b->hd, lo = b->first[0], hi = b->last[0];
  for (int i = 0; i < 4 * NG; i++) {
    first[i] = i < NQ ? b->first[i] : INT32_MAX; /* padding lanes see nothing */
    last[i] = i < NQ ? b->last[i] : -1;
  }
  for (int i = 0; i < NQ; i++) {
    lo = b->first[i] < lo ? b->first[i] : lo;
    hi = b->last[i] > hi ? b->last[i] : hi;
    for (int d = 0; d < hd; d += 4)
      vst1q_f32(qb + ((size_t)(d / 4) * NQ + i) * 4, vld1q_f32(b->q[i] + d));
    memset(b->out[i], 0, sizeof(float) * (size_t)hd);
  }
  int32x4_t vfirst[4], vlast[4];
  float32x4_t mx[4], sum[4];
  for (int g = 0; g < NG; g++) {
    vfirst[g] = vld1q_s32(first + 4 * g);
    vlast[g] = vld1q_s32(last + 4 * g);
    mx[g] = vdupq_n_f32(-INFINITY);
    sum[g] = vdupq_n_f32(0.0f);
  }
  for (int c0 = lo; c0 <= hi; c0 += ATT_CHUNK) {
    int n = hi + 1 - c0 < ATT_CHUNK ? hi + 1 - c0 : ATT_CHUNK;
    float32x4_t cm[4];
    for (int g = 0; g < NG; g++) cm[g] = mx[g];
    for (int j = 0; j < n; j++) {
      float32x4_t s[4];
      key_scores(s, qb, b->K, (size_t)(c0 + j) * b->stride + b->off, hd, b->f16, NQ);
      int32x4_t pos = vdupq_n_s32(c0 + j);
      for (int g = 0; g < NG; g++) {
        s[g] = vmulq_n_f32(s[g], scale);
        uint32x4_t vis = vandq_u32(vcleq_s32(vfirst[g], pos), vcleq_s32(pos, vlast[g]));
        cm[g] = vbslq_f32(vis, vmaxq_f32(cm[g], s[g]), cm[g]);
        vst1q_f32(sc[j] + 4 * g, s[g]);
      }
    }
    /* rescale what was summed under the old max (0 * tiny where nothing was) */
    for (int g = 0; g < NG; g++) {
      float32x4_t r =
          vbslq_f32(vcgtq_f32(cm[g], mx[g]), exp_neg4(vsubq_f32(mx[g], cm[g])), vdupq_n_f32(1.0f));
      sum[g] = vmulq_f32(sum[g], r);
      mx[g] = cm[g];
      vst1q_f32(rs + 4 * g, r);
    }
    for (int j = 0; j < n; j++) {
      int32x4_t pos = vdupq_n_s32(c0 + j);
      for (int g = 0; g < NG; g++) {
        float32x4_t p =
            visible(exp_neg4(vsubq_f32(vld1q_f32(sc[j] + 4 * g), mx[g])), vfirst[g], vlast[g], pos);
        vst1q_f32(sc[j] + 4 * g, p);
        sum[g] = vaddq_f32(sum[g], p);
      }
    }
    for (int d = 0; d < hd; d += 4 * SV)
      values_slice(b, c0, n, d, (const float(*)[ATT_MAX_Q])sc, rs, NQ);
  }
  for (int g = 0; g < NG; g++) vst1q_f32(rs + 4 * g, sum[g]);
  for (int i = 0; i < NQ; i++) {
    float32x4_t inv = vdupq_n_f32(rs[i] > 0 ? 1.0f / rs[i] : 0.0f);
    for (int d = 0; d < hd; d += 4)
      vst1q_f32(b->out[i] + d, vmulq_f32(vld1q_f32(b->out[i] + d), inv));
  }
}

typedef void (*block_fn)(const att_block *b, float scale);
#define BLOCK_FN(N)                                        \
  static void block_##N(const att_block *b, float scale) { \
    block_n(b, scale, N);                                  \
  }
BLOCK_FN(1)
BLOCK_FN(2)
BLOCK_FN(3)
BLOCK_FN(4)
BLOCK_FN(5)
BLOCK_FN(6)
BLOCK_FN(7)
BLOCK_FN(8)
BLOCK_FN(9)
BLOCK_FN(10)
BLOCK_FN(11)
BLOCK_FN(12)
BLOCK_FN(13)
BLOCK_FN(14)
BLOCK_FN(15)
BLOCK_FN(16)
static const block_fn blocks[ATT_MAX_Q] = {
    block_1, block_2,  block_3,  block_4,  block_5,  block_6,  block_7,  block_8,
    block_9, block_10, block_11, block_12, block_13, block_14, block_15, block_16};
_Static_assert(ATT_MAX_Q == 16, "blocks covers 1 .. 16 queries");

bool attention_block_simd(const att_block *b, float scale, float softcap) {
  if (softcap > 0 || b->hd % 16 != 0 || b->hd > ATT_SIMD_MAX_HD || b->nq < 1) return false;
  blocks[(b->nq > ATT_MAX_Q ? ATT_MAX_Q : b->nq) - 1](b, scale);
  return true;
}

#elif !(defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)))

/* Neither NEON nor attention_x86.c's AVX-512 build: the portable loops. */
bool attention_block_simd(const att_block *b, float scale, float softcap) {
  (void)b;
  (void)scale;
  (void)softcap;
  return false;
}

#endif

#if !(defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)))
void attention_force_avx2(bool on) { /* the AVX2 block exists on x86-64 only */
  (void)on;
}
#endif
