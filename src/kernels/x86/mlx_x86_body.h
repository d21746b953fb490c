/* SPDX-License-Identifier: Apache-2.0
 *
 * kernels/x86/mlx_x86_body.h: the x86 dot kernel for MLX affine-quantized
 * weights (kernels/mlx.h) against 8-bit activations (one scale per group), included
 * by mlx_avx2.c (AVX2+FMA+F16C; the avx2 backend) and mlx_vnni.c (adds
 * AVX512-VNNI+VL on ymm; the avx512 backend), each compiled with its own
 * ISA flags. The includer defines MX_DOT_NAME (the exported dot), for VNNI
 * MX_VNNI, and optionally MX_XCONV_NAME (the activation converter). mlx_matmul.c picks the one
 * matching the backend.
 *
 * DESIGN: activations are quantized to 8 bits with one scale per weight
 * group (kern_mlx_x86_xconv; group sums beside them), so a group's integer
 * products accumulate in int32 (vpdpbusd with VNNI, vpmaddubsw + vpmaddwd +
 * vpaddd on AVX2) and go to float once per group, times scale * d. For
 * activation row x (scale d, x ~ d * xq) and a weight group with scale S and
 * bias B:  sum_j (S q_j + B) x_j  =  S * d * sum_j q_j xq_j  +  B * gsum.
 *  - 4 bits: the activations of each 32-value block are stored even
 *    elements first, then odd ones, so the low and high nibbles of the 16
 *    packed bytes line up with them (unpacking: load, shift, insert, and).
 *  - 8 bits without VNNI: q (0..255) would overflow vpmaddubsw's int16
 *    pairs, so q - 128 (a byte xor) is used with the sign trick of the Q8_0
 *    kernel, and B + 128 S replaces B. VNNI takes q unsigned directly.
 *  - The bias terms are one 8-wide dot product per row of the row's biases
 *    with the activation row's group sums.
 * NX = 1..4 activation rows share each unpacked weight block.
 *
 * Thread safety: pure functions.
 */
#include <immintrin.h>
#include <string.h>

#define MX_INLINE static inline __attribute__((always_inline))

#include "kernels/mlx_impl.h"

#if defined(MX_VNNI)
#define MX_WIDE 0 /* vpdpbusd: unsigned 8-bit values need no offset */
#else
#define MX_WIDE 1 /* vpmaddubsw: 8-bit values offset by -128 */
#endif

/* acc + sums of 4 adjacent u8 x s8 products per int32 lane */
MX_INLINE __m256i mx_dot_acc(__m256i acc, __m256i u, __m256i s) {
#if defined(MX_VNNI)
  return _mm256_dpbusd_epi32(acc, u, s);
#else
  return _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1)));
#endif
}

#define MX_PF_DIST 4096 /* software prefetch distance, as the other x86 kernels */

MX_INLINE float mx_hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

/* Scale or bias i as float (F16C for f16, a shift for bf16). */
MX_INLINE float mx_sb(const void *p, enum dtype t, int64_t i) {
  if (t == DT_F32) return ((const float *)p)[i];
  uint16_t h = ((const uint16_t *)p)[i];
  if (t == DT_F16) return _cvtsh_ss(h);
  uint32_t u = (uint32_t)h << 16;
  float f;
  memcpy(&f, &u, sizeof f);
  return f;
}

/* Scales or biases [i, i + 8) as floats. */
MX_INLINE __m256 mx_sb8(const void *p, enum dtype t, int64_t i) {
  if (t == DT_F32) return _mm256_loadu_ps((const float *)p + i);
  __m128i h = _mm_loadu_si128((const __m128i *)((const uint16_t *)p + i));
  if (t == DT_F16) return _mm256_cvtph_ps(h);
  return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}

/* 32 4-bit values (16 bytes) as bytes in the activations' nibble order
 * (even elements, then odd: see MX_XCONV_NAME). */
MX_INLINE __m256i mx_unpack4(const uint8_t *p) {
  __m128i v = _mm_loadu_si128((const __m128i *)p);
  return _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(v, 4), v), _mm256_set1_epi8(0x0f));
}

/* sum_g bias'[g] * gsum[g] for row base (bias' = bias + 128 scale when
 * the 8-bit values were offset). */
MX_INLINE float mx_bias_term(const kern_mlx *w, int64_t base, int64_t ng, const float *gsum,
                             const int OFFSET) {
  __m256 ab = _mm256_setzero_ps(), as = _mm256_setzero_ps();
  int64_t g = 0;
  for (; g + 8 <= ng; g += 8) {
    __m256 gs = _mm256_loadu_ps(gsum + g);
    ab = _mm256_fmadd_ps(mx_sb8(w->biases, w->sb_type, base + g), gs, ab);
    if (OFFSET) as = _mm256_fmadd_ps(mx_sb8(w->scales, w->sb_type, base + g), gs, as);
  }
  float t = mx_hsum(ab) + (OFFSET ? 128.0f * mx_hsum(as) : 0.0f);
  for (; g < ng; g++) {
    float b = mx_sb(w->biases, w->sb_type, base + g);
    if (OFFSET) b += 128.0f * mx_sb(w->scales, w->sb_type, base + g);
    t += b * gsum[g];
  }
  return t;
}

MX_INLINE void mx_dot_n(const kern_mlx *w, int64_t r, int64_t cols, const uint8_t *x, size_t xs,
                        float *y, size_t ys, const int NX, const int BITS) {
  const int64_t ng = cols / w->group, bpg = w->group / 32, base = r * ng;
  const size_t blk_bytes = (size_t)(32 * BITS / 8);
  const uint8_t *q = (const uint8_t *)w->q + (size_t)r * (size_t)(cols / 32) * blk_bytes;
  const int OFFSET = BITS == 8 && MX_WIDE;
  const float *xd[4];
  for (int i = 0; i < NX; i++) xd[i] = (const float *)(x + (size_t)i * xs + cols);
  __m256 acc[4][2]; /* two chains per row: groups alternate between them */
  for (int i = 0; i < NX; i++) acc[i][0] = acc[i][1] = _mm256_setzero_ps();
  for (int64_t g = 0; g < ng; g++) {
    float sc = mx_sb(w->scales, w->sb_type, base + g);
    for (int o = 0; o < (int)(bpg * (int64_t)blk_bytes); o += 64)
      _mm_prefetch((const char *)q + MX_PF_DIST + o, _MM_HINT_T0);
    __m256i ia[4];
    for (int i = 0; i < NX; i++) ia[i] = _mm256_setzero_si256();
    for (int64_t k = 0; k < bpg; k++, q += blk_bytes) {
      size_t off = (size_t)(g * bpg + k) * 32;
      __m256i wv, aw;
      if (BITS == 4) {
        wv = aw = mx_unpack4(q);
      } else if (OFFSET) {
        wv = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)q), _mm256_set1_epi8(-128));
        aw = _mm256_sign_epi8(wv, wv);
      } else {
        wv = aw = _mm256_loadu_si256((const __m256i *)q);
      }
      for (int i = 0; i < NX; i++) {
        __m256i xv = _mm256_loadu_si256((const __m256i *)(x + (size_t)i * xs + off));
        if (OFFSET) xv = _mm256_sign_epi8(xv, wv);
        ia[i] = mx_dot_acc(ia[i], aw, xv);
      }
    }
    for (int i = 0; i < NX; i++)
      acc[i][g & 1] =
          _mm256_fmadd_ps(_mm256_cvtepi32_ps(ia[i]), _mm256_set1_ps(sc * xd[i][g]), acc[i][g & 1]);
  }
  for (int i = 0; i < NX; i++)
    y[(size_t)i * ys] = mx_hsum(_mm256_add_ps(acc[i][0], acc[i][1])) +
                        mx_bias_term(w, base, ng, xd[i] + ng, OFFSET);
}

#define MX_DOT(nx, bits)                                                                         \
  static void mx_dot_##nx##_##bits(const kern_mlx *w, int64_t r, int64_t cols, const uint8_t *x, \
                                   size_t xs, float *y, size_t ys) {                             \
    mx_dot_n(w, r, cols, x, xs, y, ys, nx, bits);                                                \
  }
MX_DOT(1, 4)
MX_DOT(2, 4)
MX_DOT(3, 4)
MX_DOT(4, 4)
MX_DOT(1, 8)
MX_DOT(2, 8)
MX_DOT(3, 8)
MX_DOT(4, 8)

void MX_DOT_NAME(const kern_mlx *w, int64_t r, int64_t cols, int nx, const uint8_t *x,
                 size_t x_stride, float *y, size_t y_stride) {
  typedef void (*fn)(const kern_mlx *, int64_t, int64_t, const uint8_t *, size_t, float *, size_t);
  static const fn tab[2][4] = {{mx_dot_1_4, mx_dot_2_4, mx_dot_3_4, mx_dot_4_4},
                               {mx_dot_1_8, mx_dot_2_8, mx_dot_3_8, mx_dot_4_8}};
  tab[w->bits == 8][nx - 1](w, r, cols, x, x_stride, y, y_stride);
}

#if defined(MX_XCONV_NAME)
MX_INLINE float mx_hmax(__m256 v) {
  __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_max_ps(s, _mm_movehl_ps(s, s));
  s = _mm_max_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

void MX_XCONV_NAME(const float *x, int64_t cols, int group, int bits, uint8_t *dst) {
  /* per 128-bit lane: even bytes, then odd; then qwords 0, 2, 1, 3 */
  const __m256i even_odd = _mm256_setr_epi8(0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15, 0,
                                            2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15);
  const __m256 signbit = _mm256_set1_ps(-0.0f);
  const int64_t ng = cols / group;
  float *d = (float *)(dst + cols), *gs = d + ng;
  for (int64_t g = 0; g < ng; g++) {
    const float *xg = x + g * group;
    __m256 m = _mm256_setzero_ps();
    for (int j = 0; j < group; j += 8)
      m = _mm256_max_ps(m, _mm256_andnot_ps(signbit, _mm256_loadu_ps(xg + j)));
    float amax = mx_hmax(m), dg = amax / 127.0f, id = dg != 0.0f ? 1.0f / dg : 0.0f;
    __m256 vid = _mm256_set1_ps(id);
    __m256i isum = _mm256_setzero_si256();
    for (int j = 0; j < group; j += 32) {
      __m256i i0 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(xg + j), vid));
      __m256i i1 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(xg + j + 8), vid));
      __m256i i2 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(xg + j + 16), vid));
      __m256i i3 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(xg + j + 24), vid));
      isum = _mm256_add_epi32(isum,
                              _mm256_add_epi32(_mm256_add_epi32(i0, i1), _mm256_add_epi32(i2, i3)));
      __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(i0, i1), _mm256_packs_epi32(i2, i3));
      /* packs interleave 128-bit lanes: restore element order */
      p = _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
      if (bits == 4) p = _mm256_permute4x64_epi64(_mm256_shuffle_epi8(p, even_odd), 0xd8);
      _mm256_storeu_si256((__m256i *)(dst + g * group + j), p);
    }
    __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(isum), _mm256_extracti128_si256(isum, 1));
    s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0x4e));
    s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0xb1));
    d[g] = dg;
    gs[g] = dg * (float)_mm_cvtsi128_si32(s4);
  }
}
#endif
