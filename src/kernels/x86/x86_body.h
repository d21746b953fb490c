/* SPDX-License-Identifier: Apache-2.0
 *
 * kernels/x86/x86_body.h: the x86 SIMD kernels, included by avx2.c and
 * avx512.c, each compiled with its own ISA flags (never global -march).
 *
 * The includer defines KX_BACKEND (the kern_backend variable), KX_NAME, and
 * optionally KX_VNNI (AVX512-VNNI+VL: vpdpbusd/vpdpwssd on ymm) and KX_AVX512
 * (512-bit float kernels and AVX512-BF16 dot products).
 *
 * DESIGN:
 *  - Quantized weights are dotted against 8-bit activations with integer
 *    dot products, one 32-value block per ymm: u8 x s8 multiply-adds
 *    (vpmaddubsw+vpmaddwd on AVX2, vpdpbusd with VNNI). Q8_0 uses the
 *    sign trick (|w| x sign(x, w)); Q4_0, Q4_K and Q6_K quants are unsigned,
 *    so they multiply directly and their offsets (-8, -32) are applied
 *    through precomputed activation sums. Integer sums are converted to
 *    float once per block (Q8_0/Q4_0) or super-block (K-quants).
 *  - Each dot handles NX = 1..4 activation rows per weight row; the NX
 *    variants are instantiated from one always_inline body with NX constant
 *    so the per-row accumulators stay in registers.
 *  - Float weights (F32/F16/BF16) use FMA on float32 activations, 4
 *    accumulator chains for a single row so decode is not latency-bound.
 *  - exp() is a Cephes-style polynomial (rel. error ~2e-7) after
 *    range reduction; inputs below -87.3 give exactly 0 (masked softmax).
 *
 * Thread safety: pure functions.
 */
#include <immintrin.h>
#include <math.h>
#include <string.h>

#include "kernels/kern_impl.h"

#define KX_INLINE static inline __attribute__((always_inline))

/* ---------------- helpers ---------------- */

/* Software prefetch distance for streamed weight rows: the quantized kernels
 * do enough work per byte that the hardware prefetchers alone leave DRAM
 * bandwidth unused; fetching 4 KiB ahead measured +20-40% decode GB/s on
 * 2 threads (docs/kernels.md). Prefetches never fault past the end. */
#define KX_PF_DIST 4096

KX_INLINE void prefetch_span(const void *p, int bytes) {
  for (int o = 0; o < bytes; o += 64) _mm_prefetch((const char *)p + KX_PF_DIST + o, _MM_HINT_T0);
}

KX_INLINE float hsum256(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

KX_INLINE float hmax256(__m256 v) {
  __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_max_ps(s, _mm_movehl_ps(s, s));
  s = _mm_max_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

KX_INLINE float h2f(f16_bits h) {
  return _cvtsh_ss(h);
}

/* sum of 4 adjacent u8*s8 products per int32 lane */
KX_INLINE __m256i dot_u8s8(__m256i u, __m256i s) {
#if defined(KX_VNNI)
  return _mm256_dpbusd_epi32(_mm256_setzero_si256(), u, s);
#else
  return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
#endif
}

/* acc + pairwise int16 products summed to int32 */
KX_INLINE __m256i madd_acc(__m256i acc, __m256i a, __m256i b) {
#if defined(KX_VNNI)
  return _mm256_dpwssd_epi32(acc, a, b);
#else
  return _mm256_add_epi32(acc, _mm256_madd_epi16(a, b));
#endif
}

/* e^x for float lanes; 0 below -87.3, clamped at 88 above. */
KX_INLINE __m256 exp256(__m256 x) {
  const __m256 lo = _mm256_set1_ps(-87.3365447504f);
  __m256 under = _mm256_cmp_ps(x, lo, _CMP_LT_OQ);
  x = _mm256_min_ps(_mm256_max_ps(x, lo), _mm256_set1_ps(88.0f));
  __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                             _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
  __m256 p = _mm256_set1_ps(1.9875691500e-4f);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
  p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
  __m256i e =
      _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  __m256 y = _mm256_mul_ps(p, _mm256_castsi256_ps(e));
  return _mm256_andnot_ps(under, y);
}

/* ---------------- activation converters ---------------- */

/* float32 -> block_q8_0x (Q8_0 quantization with the f16-rounded scale). */
__attribute__((unused)) static void kx_xconv_q8_0x(const float *x, void *dst, int64_t n) {
  block_q8_0x *y = dst;
  const __m256 signbit = _mm256_set1_ps(-0.0f);
  for (int64_t b = 0; b < n / QK8_0; b++, x += QK8_0) {
    __m256 v0 = _mm256_loadu_ps(x), v1 = _mm256_loadu_ps(x + 8), v2 = _mm256_loadu_ps(x + 16),
           v3 = _mm256_loadu_ps(x + 24);
    __m256 m =
        _mm256_max_ps(_mm256_max_ps(_mm256_andnot_ps(signbit, v0), _mm256_andnot_ps(signbit, v1)),
                      _mm256_max_ps(_mm256_andnot_ps(signbit, v2), _mm256_andnot_ps(signbit, v3)));
    float amax = hmax256(m);
    float d = amax / 127.0f;
    float id = d != 0.0f ? 1.0f / d : 0.0f;
    y[b].d = h2f(f32_to_f16(d));
    __m256 vid = _mm256_set1_ps(id);
    __m256i i0 = _mm256_cvtps_epi32(_mm256_mul_ps(v0, vid));
    __m256i i1 = _mm256_cvtps_epi32(_mm256_mul_ps(v1, vid));
    __m256i i2 = _mm256_cvtps_epi32(_mm256_mul_ps(v2, vid));
    __m256i i3 = _mm256_cvtps_epi32(_mm256_mul_ps(v3, vid));
    __m256i sum = _mm256_add_epi32(_mm256_add_epi32(i0, i1), _mm256_add_epi32(i2, i3));
    __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(sum), _mm256_extracti128_si256(sum, 1));
    s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0x4e));
    s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0xb1));
    y[b].s = y[b].d * (float)_mm_cvtsi128_si32(s4);
    __m256i p01 = _mm256_packs_epi32(i0, i1), p23 = _mm256_packs_epi32(i2, i3);
    __m256i p = _mm256_packs_epi16(p01, p23);
    /* packs interleave 128-bit lanes: restore element order */
    p = _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    _mm256_storeu_si256((__m256i *)y[b].qs, p);
  }
}

/* float32 -> block_q8_K (as ggml's quantize_row_q8_K). */
static void kx_xconv_q8_K(const float *x, void *dst, int64_t n) {
  block_q8_K *y = dst;
  const __m256 signbit = _mm256_set1_ps(-0.0f);
  for (int64_t b = 0; b < n / QK_K; b++, x += QK_K) {
    __m256 m = _mm256_setzero_ps();
    for (int j = 0; j < QK_K; j += 8)
      m = _mm256_max_ps(m, _mm256_andnot_ps(signbit, _mm256_loadu_ps(x + j)));
    float amax = hmax256(m);
    if (amax == 0.0f) {
      memset(&y[b], 0, sizeof y[b]);
      continue;
    }
    float max = 0.0f; /* the signed value of largest magnitude (first one) */
    for (int j = 0; j < QK_K; j++) {
      if (fabsf(x[j]) == amax) {
        max = x[j];
        break;
      }
    }
    float iscale = -127.0f / max;
    __m256 vis = _mm256_set1_ps(iscale);
    for (int j = 0; j < QK_K; j += 32) {
      __m256i i0 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + j), vis));
      __m256i i1 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + j + 8), vis));
      __m256i i2 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + j + 16), vis));
      __m256i i3 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + j + 24), vis));
      __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(i0, i1), _mm256_packs_epi32(i2, i3));
      p = _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
      p = _mm256_min_epi8(p, _mm256_set1_epi8(127));
      _mm256_storeu_si256((__m256i *)(y[b].qs + j), p);
      /* group sums of 16: widen to int16 and add pairs */
      __m256i w = _mm256_maddubs_epi16(_mm256_set1_epi8(1), p); /* 16 sums of 2 */
      w = _mm256_madd_epi16(w, _mm256_set1_epi16(1));           /* 8 sums of 4 */
      int32_t t[8];
      _mm256_storeu_si256((__m256i *)t, w);
      y[b].bsums[j / 16] = (int16_t)(t[0] + t[1] + t[2] + t[3]);
      y[b].bsums[j / 16 + 1] = (int16_t)(t[4] + t[5] + t[6] + t[7]);
    }
    y[b].d = 1.0f / iscale;
  }
}

/* ---------------- Q8_0 x Q8_0 ---------------- */

KX_INLINE void q8_0_dot_n(int64_t cols, const void *w_row, const void *x, size_t xs, float *y,
                          size_t ys, const int NX) {
  const block_q8_0 *w = w_row;
  const int64_t nb = cols / QK8_0;
  __m256 acc[4][2];
  for (int i = 0; i < NX; i++) acc[i][0] = acc[i][1] = _mm256_setzero_ps();
  int64_t b = 0;
  for (; b + 1 < nb; b += 2) {
    prefetch_span(&w[b], 2 * (int)sizeof w[b]);
    for (int u = 0; u < 2; u++) {
      __m256i wv = _mm256_loadu_si256((const __m256i *)w[b + u].qs);
      __m256i aw = _mm256_sign_epi8(wv, wv);
      __m256 dw = _mm256_set1_ps(h2f(w[b + u].d));
      for (int i = 0; i < NX; i++) {
        const block_q8_0x *xb = (const block_q8_0x *)((const uint8_t *)x + (size_t)i * xs) + b + u;
        __m256i sx = _mm256_sign_epi8(_mm256_loadu_si256((const __m256i *)xb->qs), wv);
        __m256 p = _mm256_cvtepi32_ps(dot_u8s8(aw, sx));
        acc[i][u] = _mm256_fmadd_ps(p, _mm256_mul_ps(dw, _mm256_broadcast_ss(&xb->d)), acc[i][u]);
      }
    }
  }
  for (; b < nb; b++) {
    __m256i wv = _mm256_loadu_si256((const __m256i *)w[b].qs);
    __m256i aw = _mm256_sign_epi8(wv, wv);
    __m256 dw = _mm256_set1_ps(h2f(w[b].d));
    for (int i = 0; i < NX; i++) {
      const block_q8_0x *xb = (const block_q8_0x *)((const uint8_t *)x + (size_t)i * xs) + b;
      __m256i sx = _mm256_sign_epi8(_mm256_loadu_si256((const __m256i *)xb->qs), wv);
      __m256 p = _mm256_cvtepi32_ps(dot_u8s8(aw, sx));
      acc[i][0] = _mm256_fmadd_ps(p, _mm256_mul_ps(dw, _mm256_broadcast_ss(&xb->d)), acc[i][0]);
    }
  }
  for (int i = 0; i < NX; i++) y[(size_t)i * ys] = hsum256(_mm256_add_ps(acc[i][0], acc[i][1]));
}

/* ---------------- Q4_0 x Q8_0 ---------------- */

/* 32 nibbles of a Q4_0 block as bytes in element order (low nibbles = values
 * 0..15, high nibbles = 16..31). */
KX_INLINE __m256i q4_0_unpack(const uint8_t *qs) {
  __m128i v = _mm_loadu_si128((const __m128i *)qs);
  __m256i both = _mm256_set_m128i(_mm_srli_epi16(v, 4), v);
  return _mm256_and_si256(both, _mm256_set1_epi8(0x0f));
}

KX_INLINE void q4_0_dot_n(int64_t cols, const void *w_row, const void *x, size_t xs, float *y,
                          size_t ys, const int NX) {
  const block_q4_0 *w = w_row;
  const int64_t nb = cols / QK4_0;
  __m256 acc[4][2];
  float corr[4] = {0, 0, 0, 0};
  for (int i = 0; i < NX; i++) acc[i][0] = acc[i][1] = _mm256_setzero_ps();
  int64_t b = 0;
  for (; b + 1 < nb; b += 2) {
    prefetch_span(&w[b], 2 * (int)sizeof w[b]);
    for (int u = 0; u < 2; u++) {
      __m256i q = q4_0_unpack(w[b + u].qs);
      float dws = h2f(w[b + u].d);
      __m256 dw = _mm256_set1_ps(dws);
      for (int i = 0; i < NX; i++) {
        const block_q8_0x *xb = (const block_q8_0x *)((const uint8_t *)x + (size_t)i * xs) + b + u;
        __m256 p = _mm256_cvtepi32_ps(dot_u8s8(q, _mm256_loadu_si256((const __m256i *)xb->qs)));
        acc[i][u] = _mm256_fmadd_ps(p, _mm256_mul_ps(dw, _mm256_broadcast_ss(&xb->d)), acc[i][u]);
        corr[i] += dws * xb->s;
      }
    }
  }
  for (; b < nb; b++) {
    __m256i q = q4_0_unpack(w[b].qs);
    float dws = h2f(w[b].d);
    __m256 dw = _mm256_set1_ps(dws);
    for (int i = 0; i < NX; i++) {
      const block_q8_0x *xb = (const block_q8_0x *)((const uint8_t *)x + (size_t)i * xs) + b;
      __m256 p = _mm256_cvtepi32_ps(dot_u8s8(q, _mm256_loadu_si256((const __m256i *)xb->qs)));
      acc[i][0] = _mm256_fmadd_ps(p, _mm256_mul_ps(dw, _mm256_broadcast_ss(&xb->d)), acc[i][0]);
      corr[i] += dws * xb->s;
    }
  }
  for (int i = 0; i < NX; i++)
    y[(size_t)i * ys] = hsum256(_mm256_add_ps(acc[i][0], acc[i][1])) - 8.0f * corr[i];
}

/* ---------------- Q4_K x Q8_K ---------------- */

/* The 8 six-bit scales (sc) and mins (mn) of a Q4_K block. */
KX_INLINE void q4_K_scales(const uint8_t *s, uint8_t *sc, uint8_t *mn) {
  for (int j = 0; j < 4; j++) {
    sc[j] = s[j] & 63;
    mn[j] = s[j + 4] & 63;
    sc[j + 4] = (uint8_t)((s[j + 8] & 0xF) | ((s[j] >> 6) << 4));
    mn[j + 4] = (uint8_t)((s[j + 8] >> 4) | ((s[j + 4] >> 6) << 4));
  }
}

KX_INLINE void q4_K_dot_n(int64_t cols, const void *w_row, const void *x, size_t xs, float *y,
                          size_t ys, const int NX) {
  const block_q4_K *w = w_row;
  const int64_t nb = cols / QK_K;
  __m256 acc[4], accm[4];
  for (int i = 0; i < NX; i++) acc[i] = accm[i] = _mm256_setzero_ps();
  const __m256i m4 = _mm256_set1_epi8(0x0f);
  for (int64_t b = 0; b < nb; b++) {
    prefetch_span(&w[b], (int)sizeof w[b]);
    uint8_t sc[8], mn[8];
    q4_K_scales(w[b].scales, sc, mn);
    float d = h2f(w[b].d), dmin = h2f(w[b].dmin);
    /* mins per group of 16 (bsums granularity): mn[j] twice */
    __m128i mn8 = _mm_loadl_epi64((const __m128i *)mn);
    __m256i mins16 = _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(mn8, mn8));
    __m256i lo[4], hi[4];
    for (int c = 0; c < 4; c++) {
      __m256i q = _mm256_loadu_si256((const __m256i *)(w[b].qs + 32 * c));
      lo[c] = _mm256_and_si256(q, m4);
      hi[c] = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
    }
    for (int i = 0; i < NX; i++) {
      const block_q8_K *xb = (const block_q8_K *)((const uint8_t *)x + (size_t)i * xs) + b;
      __m256i summ = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)xb->bsums), mins16);
      accm[i] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(summ), _mm256_set1_ps(dmin * xb->d), accm[i]);
      __m256i sumi = _mm256_setzero_si256();
      for (int c = 0; c < 4; c++) {
        __m256i p0 =
            _mm256_maddubs_epi16(lo[c], _mm256_loadu_si256((const __m256i *)(xb->qs + 64 * c)));
        __m256i p1 = _mm256_maddubs_epi16(
            hi[c], _mm256_loadu_si256((const __m256i *)(xb->qs + 64 * c + 32)));
        sumi = madd_acc(sumi, p0, _mm256_set1_epi16(sc[2 * c]));
        sumi = madd_acc(sumi, p1, _mm256_set1_epi16(sc[2 * c + 1]));
      }
      acc[i] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sumi), _mm256_set1_ps(d * xb->d), acc[i]);
    }
  }
  for (int i = 0; i < NX; i++) y[(size_t)i * ys] = hsum256(acc[i]) - hsum256(accm[i]);
}

/* ---------------- Q6_K x Q8_K ---------------- */

/* shuffle masks: low lane picks int16 word 2k, high lane word 2k+1 (k=0..3) */
static const int8_t q6_scale_shuf[4][32] = {
    {0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1,
     2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3},
    {4, 5, 4, 5, 4, 5, 4, 5, 4, 5, 4, 5, 4, 5, 4, 5,
     6, 7, 6, 7, 6, 7, 6, 7, 6, 7, 6, 7, 6, 7, 6, 7},
    {8,  9,  8,  9,  8,  9,  8,  9,  8,  9,  8,  9,  8,  9,  8,  9,
     10, 11, 10, 11, 10, 11, 10, 11, 10, 11, 10, 11, 10, 11, 10, 11},
    {12, 13, 12, 13, 12, 13, 12, 13, 12, 13, 12, 13, 12, 13, 12, 13,
     14, 15, 14, 15, 14, 15, 14, 15, 14, 15, 14, 15, 14, 15, 14, 15},
};

KX_INLINE void q6_K_dot_n(int64_t cols, const void *w_row, const void *x, size_t xs, float *y,
                          size_t ys, const int NX) {
  const block_q6_K *w = w_row;
  const int64_t nb = cols / QK_K;
  __m256 acc[4];
  for (int i = 0; i < NX; i++) acc[i] = _mm256_setzero_ps();
  const __m256i m4 = _mm256_set1_epi8(0x0f);
  for (int64_t b = 0; b < nb; b++) {
    prefetch_span(&w[b], (int)sizeof w[b]);
    float d = h2f(w[b].d);
    __m128i s8 = _mm_loadu_si128((const __m128i *)w[b].scales);
    __m256i s16 = _mm256_cvtepi8_epi16(s8); /* 16 group scales */
    __m256i q[8], scv[8];
    const __m256i halves[2] = {_mm256_permute2x128_si256(s16, s16, 0x00),
                               _mm256_permute2x128_si256(s16, s16, 0x11)};
    for (int h = 0; h < 2; h++) {
      const uint8_t *ql = w[b].ql + 64 * h, *qh = w[b].qh + 32 * h;
      __m256i l0 = _mm256_loadu_si256((const __m256i *)ql);
      __m256i l1 = _mm256_loadu_si256((const __m256i *)(ql + 32));
      __m256i hb = _mm256_loadu_si256((const __m256i *)qh);
      q[4 * h + 0] =
          _mm256_or_si256(_mm256_and_si256(l0, m4),
                          _mm256_slli_epi16(_mm256_and_si256(hb, _mm256_set1_epi8(0x03)), 4));
      q[4 * h + 1] =
          _mm256_or_si256(_mm256_and_si256(l1, m4),
                          _mm256_slli_epi16(_mm256_and_si256(hb, _mm256_set1_epi8(0x0c)), 2));
      q[4 * h + 2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4),
                                     _mm256_and_si256(hb, _mm256_set1_epi8(0x30)));
      q[4 * h + 3] =
          _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
                          _mm256_srli_epi16(_mm256_and_si256(hb, _mm256_set1_epi8((char)0xc0)), 2));
      __m256i half = halves[h];
      for (int k = 0; k < 4; k++)
        scv[4 * h + k] =
            _mm256_shuffle_epi8(half, _mm256_loadu_si256((const __m256i *)q6_scale_shuf[k]));
    }
    for (int i = 0; i < NX; i++) {
      const block_q8_K *xb = (const block_q8_K *)((const uint8_t *)x + (size_t)i * xs) + b;
      /* q - 32 offset: 32 * sum_g scale_g * bsum_g */
      __m256i corr = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)xb->bsums), s16);
      __m256i sumi = _mm256_setzero_si256();
      for (int k = 0; k < 8; k++) {
        __m256i p =
            _mm256_maddubs_epi16(q[k], _mm256_loadu_si256((const __m256i *)(xb->qs + 32 * k)));
        sumi = madd_acc(sumi, p, scv[k]);
      }
      sumi = _mm256_sub_epi32(sumi, _mm256_slli_epi32(corr, 5));
      acc[i] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sumi), _mm256_set1_ps(d * xb->d), acc[i]);
    }
  }
  for (int i = 0; i < NX; i++) y[(size_t)i * ys] = hsum256(acc[i]);
}

/* ---------------- float weights (256-bit) ---------------- */

/* 8 weights as float: F32, F16 or BF16 */
KX_INLINE __m256 load8_w(enum dtype t, const void *w, int64_t k) {
  if (t == DT_F32) return _mm256_loadu_ps((const float *)w + k);
  __m128i h = _mm_loadu_si128((const __m128i *)((const uint16_t *)w + k));
  if (t == DT_F16) return _mm256_cvtph_ps(h);
  return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}

KX_INLINE float load1_w(enum dtype t, const void *w, int64_t k) {
  if (t == DT_F32) return ((const float *)w)[k];
  if (t == DT_F16) return h2f(((const uint16_t *)w)[k]);
  return bf16_to_f32(((const uint16_t *)w)[k]);
}

KX_INLINE void fw_dot_n(enum dtype t, int64_t cols, const void *w, const void *x, size_t xs,
                        float *y, size_t ys, const int NX) {
  enum { U = 4 };
  const int uu = NX == 1 ? 4 : 2; /* independent chains per row */
  __m256 acc[4][U];
  for (int i = 0; i < NX; i++)
    for (int u = 0; u < U; u++) acc[i][u] = _mm256_setzero_ps();
  int64_t k = 0;
  for (; k + 8 * uu <= cols; k += 8 * uu) {
    prefetch_span((const uint8_t *)w + k * (t == DT_F32 ? 4 : 2), 8 * uu * (t == DT_F32 ? 4 : 2));
    for (int u = 0; u < uu; u++) {
      __m256 wv = load8_w(t, w, k + 8 * u);
      for (int i = 0; i < NX; i++) {
        const float *xi = (const float *)((const uint8_t *)x + (size_t)i * xs);
        acc[i][u] = _mm256_fmadd_ps(wv, _mm256_loadu_ps(xi + k + 8 * u), acc[i][u]);
      }
    }
  }
  for (; k + 8 <= cols; k += 8) {
    __m256 wv = load8_w(t, w, k);
    for (int i = 0; i < NX; i++) {
      const float *xi = (const float *)((const uint8_t *)x + (size_t)i * xs);
      acc[i][0] = _mm256_fmadd_ps(wv, _mm256_loadu_ps(xi + k), acc[i][0]);
    }
  }
  for (int i = 0; i < NX; i++) {
    const float *xi = (const float *)((const uint8_t *)x + (size_t)i * xs);
    __m256 s = acc[i][0];
    for (int u = 1; u < uu; u++) s = _mm256_add_ps(s, acc[i][u]);
    float r = hsum256(s);
    for (int64_t kk = k; kk < cols; kk++) r += load1_w(t, w, kk) * xi[kk];
    y[(size_t)i * ys] = r;
  }
}

/* One exported-to-table function per (type, NX) via a switch. */
#define KX_DOT_SWITCH(fname, body)                                                              \
  __attribute__((unused)) static void fname(int64_t cols, int nx, const void *w, const void *x, \
                                            size_t xs, float *y, size_t ys) {                   \
    switch (nx) {                                                                               \
      case 1:                                                                                   \
        body(cols, w, x, xs, y, ys, 1);                                                         \
        break;                                                                                  \
      case 2:                                                                                   \
        body(cols, w, x, xs, y, ys, 2);                                                         \
        break;                                                                                  \
      case 3:                                                                                   \
        body(cols, w, x, xs, y, ys, 3);                                                         \
        break;                                                                                  \
      default:                                                                                  \
        body(cols, w, x, xs, y, ys, 4);                                                         \
        break;                                                                                  \
    }                                                                                           \
  }

KX_DOT_SWITCH(kx_dot_q8_0, q8_0_dot_n)
KX_DOT_SWITCH(kx_dot_q4_0, q4_0_dot_n)
KX_DOT_SWITCH(kx_dot_q4_K, q4_K_dot_n)
KX_DOT_SWITCH(kx_dot_q6_K, q6_K_dot_n)

#define KX_FW_BODY(T)                                                                        \
  KX_INLINE void fw_##T##_n(int64_t cols, const void *w, const void *x, size_t xs, float *y, \
                            size_t ys, const int NX) {                                       \
    fw_dot_n(DT_##T, cols, w, x, xs, y, ys, NX);                                             \
  }
#if !defined(KX_AVX512)
KX_FW_BODY(F32)
KX_FW_BODY(F16)
KX_FW_BODY(BF16)
KX_DOT_SWITCH(kx_dot_f32_256, fw_F32_n)
KX_DOT_SWITCH(kx_dot_f16_256, fw_F16_n)
KX_DOT_SWITCH(kx_dot_bf16_256, fw_BF16_n)
#endif

/* ---------------- elementwise (256-bit) ---------------- */

static float kx_dot_f32(const float *a, const float *b, int64_t n) {
  __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
    s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
  }
  float r = hsum256(_mm256_add_ps(s0, s1));
  for (; i < n; i++) r += a[i] * b[i];
  return r;
}

static void kx_axpy_f32(float *y, float a, const float *x, int64_t n) {
  __m256 va = _mm256_set1_ps(a);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
  for (; i < n; i++) y[i] += a * x[i];
}

static void kx_rmsnorm(float *out, const float *x, const float *w, int64_t n, float eps,
                       float w_offset) {
  __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    __m256 a = _mm256_loadu_ps(x + i), b = _mm256_loadu_ps(x + i + 8);
    s0 = _mm256_fmadd_ps(a, a, s0);
    s1 = _mm256_fmadd_ps(b, b, s1);
  }
  double ss = hsum256(_mm256_add_ps(s0, s1));
  for (; i < n; i++) ss += (double)x[i] * x[i];
  float scale = (float)(1.0 / sqrt(ss / (double)n + (double)eps));
  __m256 vs = _mm256_set1_ps(scale), vo = _mm256_set1_ps(w_offset);
  for (i = 0; i + 8 <= n; i += 8) {
    __m256 wv = _mm256_add_ps(_mm256_loadu_ps(w + i), vo);
    _mm256_storeu_ps(out + i, _mm256_mul_ps(_mm256_mul_ps(_mm256_loadu_ps(x + i), vs), wv));
  }
  for (; i < n; i++) out[i] = x[i] * scale * (w[i] + w_offset);
}

static void kx_softmax(float *x, int64_t n) {
  __m256 m = _mm256_set1_ps(-INFINITY);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) m = _mm256_max_ps(m, _mm256_loadu_ps(x + i));
  float max = hmax256(m);
  for (; i < n; i++) max = fmaxf(max, x[i]);
  __m256 vmax = _mm256_set1_ps(max), s = _mm256_setzero_ps();
  for (i = 0; i + 8 <= n; i += 8) {
    __m256 e = exp256(_mm256_sub_ps(_mm256_loadu_ps(x + i), vmax));
    _mm256_storeu_ps(x + i, e);
    s = _mm256_add_ps(s, e);
  }
  double sum = hsum256(s);
  for (; i < n; i++) {
    x[i] = expf(x[i] - max);
    sum += x[i];
  }
  __m256 inv = _mm256_set1_ps((float)(1.0 / sum));
  for (i = 0; i + 8 <= n; i += 8)
    _mm256_storeu_ps(x + i, _mm256_mul_ps(_mm256_loadu_ps(x + i), inv));
  for (; i < n; i++) x[i] *= (float)(1.0 / sum);
}

/* gate = gate * sigmoid(k * u(gate)) * up: silu has u = gate, k = 1; gelu
 * (tanh form) is x * sigmoid(2 * sqrt(2/pi) * (x + 0.044715 x^3)). */
KX_INLINE void sigmoid_mul(float *gate, const float *up, int64_t n, const int gelu) {
  const __m256 one = _mm256_set1_ps(1.0f);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256 g = _mm256_loadu_ps(gate + i), t = g;
    if (gelu) {
      __m256 g3 = _mm256_mul_ps(_mm256_mul_ps(g, g), g);
      t = _mm256_mul_ps(_mm256_fmadd_ps(g3, _mm256_set1_ps(0.044715f), g),
                        _mm256_set1_ps(2.0f * 0.7978845608028654f));
    }
    __m256 e = exp256(_mm256_sub_ps(_mm256_setzero_ps(), t));
    __m256 r = _mm256_div_ps(g, _mm256_add_ps(one, e));
    _mm256_storeu_ps(gate + i, _mm256_mul_ps(r, _mm256_loadu_ps(up + i)));
  }
  for (; i < n; i++) {
    float g = gate[i], t = g;
    if (gelu) t = 2.0f * 0.7978845608028654f * (g + 0.044715f * g * g * g);
    gate[i] = g / (1.0f + expf(-t)) * up[i];
  }
}

static void kx_silu_mul(float *gate, const float *up, int64_t n) {
  sigmoid_mul(gate, up, n, 0);
}
static void kx_gelu_tanh_mul(float *gate, const float *up, int64_t n) {
  sigmoid_mul(gate, up, n, 1);
}

/* ---------------- F16 KV-cache helpers ---------------- */

static float kx_dot_f16v(const float *a, const f16_bits *b, int64_t n) {
  __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i),
                         _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(b + i))), s0);
    s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8),
                         _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(b + i + 8))), s1);
  }
  float r = hsum256(_mm256_add_ps(s0, s1));
  for (; i < n; i++) r += a[i] * h2f(b[i]);
  return r;
}

static void kx_axpy_f16(float *y, float a, const f16_bits *x, int64_t n) {
  __m256 va = _mm256_set1_ps(a);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(y + i,
                     _mm256_fmadd_ps(va, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(x + i))),
                                     _mm256_loadu_ps(y + i)));
  for (; i < n; i++) y[i] += a * h2f(x[i]);
}

static void kx_f32_to_f16(f16_bits *dst, const float *src, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm_storeu_si128(
        (__m128i *)(dst + i),
        _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
  for (; i < n; i++) dst[i] = f32_to_f16(src[i]);
}
