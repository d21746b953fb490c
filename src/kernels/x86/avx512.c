/* SPDX-License-Identifier: Apache-2.0
 *
 * kernels/x86/avx512.c: the AVX-512 backend (F/BW/DQ/VL + VNNI + BF16:
 * Cooper Lake, Sapphire/Emerald Rapids, Zen 4 and later). Built with those
 * flags for this file only; dispatch.c selects it only when cpuid and XCR0
 * report them.
 *
 * Integer dot products use vpdpbusd/vpdpwssd (the shared bodies in
 * x86_body.h with KX_VNNI); float weights (F32, F16 and BF16, the latter two
 * widened exactly to float32) use 512-bit FMA on float32 activations with
 * masked tails. The older BF16 kernels (vdpbf16ps against activations
 * rounded to bf16, as llama.cpp does) remain as kern_avx512_bf16_fast, used
 * only with GLOAM_FAST_BF16=1.
 *
 * Thread safety: pure functions; the backend table is immutable.
 */
#define KX_NAME "avx512"
#define KX_VNNI 1
#define KX_AVX512 1
#include "kernels/x86/x86_body.h"

KX_INLINE float hsum512(__m512 v) {
  return _mm512_reduce_add_ps(v);
}

/* 16 weights as float (masked: lanes beyond m are 0). */
KX_INLINE __m512 load16_w(enum dtype t, const void *w, int64_t k, __mmask16 m) {
  if (t == DT_F32) return _mm512_maskz_loadu_ps(m, (const float *)w + k);
  __m256i h = _mm256_maskz_loadu_epi16(m, (const uint16_t *)w + k);
  if (t == DT_F16) return _mm512_cvtph_ps(h);
  /* bf16 -> float32 is exact: the bits shifted into the high half */
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

KX_INLINE void fw512_dot_n(enum dtype t, int64_t cols, const void *w, const void *x, size_t xs,
                           float *y, size_t ys, const int NX) {
  enum { U = 4 };
  const int uu = NX == 1 ? 4 : 2;
  __m512 acc[4][U];
  for (int i = 0; i < NX; i++)
    for (int u = 0; u < U; u++) acc[i][u] = _mm512_setzero_ps();
  int64_t k = 0;
  const int wsz = t == DT_F32 ? 4 : 2; /* F16 and BF16: 2 bytes */
  for (; k + 16 * uu <= cols; k += 16 * uu) {
    prefetch_span((const uint8_t *)w + k * wsz, 16 * uu * wsz);
    for (int u = 0; u < uu; u++) {
      __m512 wv = load16_w(t, w, k + 16 * u, 0xffff);
      for (int i = 0; i < NX; i++) {
        const float *xi = (const float *)((const uint8_t *)x + (size_t)i * xs);
        acc[i][u] = _mm512_fmadd_ps(wv, _mm512_loadu_ps(xi + k + 16 * u), acc[i][u]);
      }
    }
  }
  for (; k < cols; k += 16) {
    __mmask16 m = cols - k >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (cols - k)) - 1);
    __m512 wv = load16_w(t, w, k, m);
    for (int i = 0; i < NX; i++) {
      const float *xi = (const float *)((const uint8_t *)x + (size_t)i * xs);
      acc[i][0] = _mm512_fmadd_ps(wv, _mm512_maskz_loadu_ps(m, xi + k), acc[i][0]);
    }
  }
  for (int i = 0; i < NX; i++) {
    __m512 s = acc[i][0];
    for (int u = 1; u < uu; u++) s = _mm512_add_ps(s, acc[i][u]);
    y[(size_t)i * ys] = hsum512(s);
  }
}

KX_INLINE void bf16_dot_n(int64_t cols, const void *w, const void *x, size_t xs, float *y,
                          size_t ys, const int NX) {
  enum { U = 4 };
  const int uu = NX == 1 ? 4 : 2;
  __m512 acc[4][U];
  for (int i = 0; i < NX; i++)
    for (int u = 0; u < U; u++) acc[i][u] = _mm512_setzero_ps();
  const uint16_t *wb = w;
  int64_t k = 0;
  for (; k + 32 * uu <= cols; k += 32 * uu) {
    prefetch_span(wb + k, 64 * uu);
    for (int u = 0; u < uu; u++) {
      __m512i wv = _mm512_loadu_si512(wb + k + 32 * u);
      for (int i = 0; i < NX; i++) {
        const uint16_t *xi = (const uint16_t *)((const uint8_t *)x + (size_t)i * xs);
        acc[i][u] = _mm512_dpbf16_ps(acc[i][u], (__m512bh)wv,
                                     (__m512bh)_mm512_loadu_si512(xi + k + 32 * u));
      }
    }
  }
  for (; k < cols; k += 32) {
    __mmask32 m = cols - k >= 32 ? (__mmask32)0xffffffffu : (__mmask32)((1u << (cols - k)) - 1);
    __m512i wv = _mm512_maskz_loadu_epi16(m, wb + k);
    for (int i = 0; i < NX; i++) {
      const uint16_t *xi = (const uint16_t *)((const uint8_t *)x + (size_t)i * xs);
      acc[i][0] =
          _mm512_dpbf16_ps(acc[i][0], (__m512bh)wv, (__m512bh)_mm512_maskz_loadu_epi16(m, xi + k));
    }
  }
  for (int i = 0; i < NX; i++) {
    __m512 s = acc[i][0];
    for (int u = 1; u < uu; u++) s = _mm512_add_ps(s, acc[i][u]);
    y[(size_t)i * ys] = hsum512(s);
  }
}

static void xconv_bf16(const float *src, void *dst, int64_t n) {
  uint16_t *d = dst;
  int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    _mm256_storeu_si256((__m256i *)(d + i), (__m256i)_mm512_cvtneps_pbh(_mm512_loadu_ps(src + i)));
  for (; i < n; i++) d[i] = f32_to_bf16(src[i]);
}

/* ---------------- Q8_0 / Q4_0 with 512-bit VNNI ----------------
 *
 * Activations for these kernels are stored struct-of-arrays per row:
 *   int8 qs[cols] | float d[nb] | float s[nb]      (nb = cols / 32; 40 B/block)
 * with s = d * sum(qs). For Q4_0 the quants of each full group of 4 blocks are
 * permuted to [b0 0-15, b1 0-15, b2 0-15, b3 0-15, b0 16-31, ..., b3 16-31],
 * matching the low and high nibbles of 4 weight blocks gathered into one zmm.
 * Weight blocks (34 or 18 bytes, unaligned) are gathered from two or three
 * zmm loads with vpermt2b (AVX512-VBMI), their f16 scales with vpermt2w. */

static int x8_block(const float *x, int8_t *lo, int8_t *hi, float *d_out, float *s_out) {
  __m512 v0 = _mm512_loadu_ps(x), v1 = _mm512_loadu_ps(x + 16);
  float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(v0), _mm512_abs_ps(v1)));
  float d = amax / 127.0f;
  float id = d != 0.0f ? 1.0f / d : 0.0f;
  float dr = h2f(f32_to_f16(d));
  __m512i i0 = _mm512_cvtps_epi32(_mm512_mul_ps(v0, _mm512_set1_ps(id)));
  __m512i i1 = _mm512_cvtps_epi32(_mm512_mul_ps(v1, _mm512_set1_ps(id)));
  _mm_storeu_si128((__m128i *)lo, _mm512_cvtsepi32_epi8(i0));
  _mm_storeu_si128((__m128i *)hi, _mm512_cvtsepi32_epi8(i1));
  int sum = _mm512_reduce_add_epi32(_mm512_add_epi32(i0, i1));
  *d_out = dr;
  *s_out = dr * (float)sum;
  return sum;
}

/* Q8_0 weights (72 bytes per block):
 *   uint8 qu[cols]    quants + 128 (so vpdpbusd takes them as the unsigned
 *                     operand against signed weights), in element order
 *   float dxe[nb/2][16]  scales of block pairs: d(2p) in lanes 0-7, d(2p+1) in 8-15
 *   float d[nb]       every block's scale (for the tail)
 * The +128 is removed by starting each dot from -128 * sum(weights). */
static void xconv_x8s(const float *x, void *dst, int64_t n) {
  uint8_t *qu = dst;
  int64_t nb = n / QK8_0, np = nb / 2;
  float *dxe = (float *)(qu + n), *d = dxe + 16 * np;
  for (int64_t b = 0; b < nb; b++) {
    int8_t *q = (int8_t *)(qu + 32 * b);
    float sd;
    x8_block(x + 32 * b, q, q + 16, d + b, &sd);
    __m256i v = _mm256_loadu_si256((const __m256i *)q);
    _mm256_storeu_si256((__m256i *)q, _mm256_xor_si256(v, _mm256_set1_epi8((char)0x80)));
    if (b < 2 * np)
      for (int l = 0; l < 8; l++) dxe[16 * (b / 2) + 8 * (b % 2) + l] = d[b];
  }
}

/* Q4_0 weights (64 bytes per block):
 *   int8 qs[cols]  full groups of 4 blocks permuted (see above), tail in order
 *   per full group g: float dexp[16] (d of block r in lanes 4r..4r+3) and
 *                     int32 init[16] (-8 * sum(qs of block r) in lane 4r, else 0)
 *   per tail block:   float d, float s (s = d * sum(qs))
 * so a group's dot is vpdpbusd started from init (the -8 offset of the
 * nibbles) and one multiply by dexp * the weights' expanded scales. */
static void xconv_x8p(const float *x, void *dst, int64_t n) {
  int8_t *qs = dst;
  int64_t nb = n / QK8_0, ng = nb / 4;
  uint8_t *meta = (uint8_t *)dst + n;
  float *tail = (float *)(meta + 128 * ng);
  for (int64_t g = 0; g < ng; g++) {
    float *dexp = (float *)(meta + 128 * g);
    int32_t *init = (int32_t *)(meta + 128 * g + 64);
    for (int r = 0; r < 4; r++) {
      float d, sd;
      int8_t *lo = qs + 128 * g + 16 * r;
      int sum = x8_block(x + 32 * (4 * g + r), lo, lo + 64, &d, &sd);
      for (int l = 0; l < 4; l++) {
        dexp[4 * r + l] = d;
        init[4 * r + l] = l == 0 ? -8 * sum : 0;
      }
    }
  }
  for (int64_t b = 4 * ng; b < nb; b++) {
    int64_t t = b - 4 * ng;
    x8_block(x + 32 * b, qs + 32 * b, qs + 32 * b + 16, tail + 2 * t, tail + 2 * t + 1);
  }
}

static const int8_t q8_idx01[64] = {2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14, 15, 16, 17,
                                    18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33,
                                    36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51,
                                    52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 62, 63, 64, 65, 66, 67};
/* block r of 4 (18 bytes each): quants at 18r+2 .. 18r+17 */
static const int8_t q4_idx[64] = {2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14, 15, 16, 17,
                                  20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35,
                                  38, 39, 40, 41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, 52, 53,
                                  56, 57, 58, 59, 60, 61, 62, 63, 64, 65, 66, 67, 68, 69, 70, 71};

/* 4 Q8_0 blocks (136 bytes) against NX activation rows. */
KX_INLINE void q8_0_g4(const uint8_t *wb, int64_t b, const uint8_t *const *xq,
                       const float *const *xe, __m512 *acc, const int NX) {
  const __m512i idx01 = _mm512_loadu_si512(q8_idx01);
  const __m512i idx23 = _mm512_add_epi8(idx01, _mm512_set1_epi8(4)); /* 70.. relative to 64 */
  const __m512i idxd =
      _mm512_setr_epi32(0 | (17 << 16), 34 | (51 << 16), 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
  const __m512i sidx01 = _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1);
  const __m512i sidx23 = _mm512_setr_epi32(2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3);
  const __m512i zero = _mm512_setzero_si512(), ones = _mm512_set1_epi8(1);
  __m512i A = _mm512_loadu_si512(wb), B = _mm512_loadu_si512(wb + 64);
  __m512i C = _mm512_maskz_loadu_epi8(0xff, wb + 128);
  __m512i q01 = _mm512_permutex2var_epi8(A, idx01, B);
  __m512i q23 = _mm512_permutex2var_epi8(B, idx23, C);
  __m512 dw = _mm512_castps128_ps512(
      _mm_cvtph_ps(_mm512_castsi512_si128(_mm512_permutex2var_epi16(A, idxd, B))));
  __m512 dwe01 = _mm512_permutexvar_ps(sidx01, dw), dwe23 = _mm512_permutexvar_ps(sidx23, dw);
  /* -128 * (sum of 4 weights) per lane: cancels the +128 of the activations */
  __m512i i01 = _mm512_sub_epi32(zero, _mm512_slli_epi32(_mm512_dpbusd_epi32(zero, ones, q01), 7));
  __m512i i23 = _mm512_sub_epi32(zero, _mm512_slli_epi32(_mm512_dpbusd_epi32(zero, ones, q23), 7));
  for (int i = 0; i < NX; i++) {
    __m512i p01 = _mm512_dpbusd_epi32(i01, _mm512_loadu_si512(xq[i] + 32 * b), q01);
    __m512i p23 = _mm512_dpbusd_epi32(i23, _mm512_loadu_si512(xq[i] + 32 * b + 64), q23);
    __m512 s01 = _mm512_mul_ps(dwe01, _mm512_loadu_ps(xe[i] + 8 * b));
    __m512 s23 = _mm512_mul_ps(dwe23, _mm512_loadu_ps(xe[i] + 8 * b + 16));
    acc[i] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p01), s01, acc[i]);
    acc[i] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p23), s23, acc[i]);
  }
}

KX_INLINE void q8_0_dot512_n(int64_t cols, const void *w_row, const void *x, size_t xs, float *y,
                             size_t ys, const int NX) {
  const uint8_t *w = w_row;
  const int64_t nb = cols / QK8_0, nb4 = nb & ~(int64_t)3;
  const uint8_t *xq[4];
  const float *xe[4], *xd[4];
  __m512 acc0[4], acc1[4];
  __m256 tail[4];
  for (int i = 0; i < NX; i++) {
    xq[i] = (const uint8_t *)x + (size_t)i * xs;
    xe[i] = (const float *)(xq[i] + cols);
    xd[i] = xe[i] + 16 * (nb / 2);
    acc0[i] = acc1[i] = _mm512_setzero_ps();
    tail[i] = _mm256_setzero_ps();
  }
  int64_t b = 0;
  for (; b + 8 <= nb4; b += 8) {
    prefetch_span(w + 34 * b, 8 * 34);
    q8_0_g4(w + 34 * b, b, xq, xe, acc0, NX);
    q8_0_g4(w + 34 * (b + 4), b + 4, xq, xe, acc1, NX);
  }
  for (; b < nb4; b += 4) q8_0_g4(w + 34 * b, b, xq, xe, acc0, NX);
  for (; b < nb; b++) {
    const block_q8_0 *wb = (const block_q8_0 *)(w + 34 * b);
    __m256i wv = _mm256_loadu_si256((const __m256i *)wb->qs);
    __m256i init = _mm256_sub_epi32(
        _mm256_setzero_si256(),
        _mm256_slli_epi32(_mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_set1_epi8(1), wv), 7));
    float dw = h2f(wb->d);
    for (int i = 0; i < NX; i++) {
      __m256i p =
          _mm256_dpbusd_epi32(init, _mm256_loadu_si256((const __m256i *)(xq[i] + 32 * b)), wv);
      tail[i] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_set1_ps(dw * xd[i][b]), tail[i]);
    }
  }
  for (int i = 0; i < NX; i++)
    y[(size_t)i * ys] = _mm512_reduce_add_ps(_mm512_add_ps(acc0[i], acc1[i])) + hsum256(tail[i]);
}

/* 4 Q4_0 blocks (72 bytes) against NX activation rows. */
KX_INLINE void q4_0_g4(const uint8_t *wb, int64_t g, const int8_t *const *xq,
                       const uint8_t *const *xm, __m512 *acc, const int NX) {
  const __m512i idxq = _mm512_loadu_si512(q4_idx);
  const __m512i idxd =
      _mm512_setr_epi32(0 | (9 << 16), 18 | (27 << 16), 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
  const __m512i sidx = _mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3);
  const __m512i m4 = _mm512_set1_epi8(0x0f);
  __m512i A = _mm512_loadu_si512(wb), B = _mm512_maskz_loadu_epi8(0xff, wb + 64);
  __m512i q = _mm512_permutex2var_epi8(A, idxq, B);
  __m512i lo = _mm512_and_si512(q, m4), hi = _mm512_and_si512(_mm512_srli_epi16(q, 4), m4);
  __m128 dw = _mm_cvtph_ps(_mm512_castsi512_si128(_mm512_permutexvar_epi16(idxd, A)));
  __m512 dwe = _mm512_permutexvar_ps(sidx, _mm512_castps128_ps512(dw));
  for (int i = 0; i < NX; i++) {
    const uint8_t *m = xm[i] + 128 * g;
    __m512i p = _mm512_loadu_si512(m + 64);
    p = _mm512_dpbusd_epi32(p, lo, _mm512_loadu_si512(xq[i] + 128 * g));
    p = _mm512_dpbusd_epi32(p, hi, _mm512_loadu_si512(xq[i] + 128 * g + 64));
    __m512 sv = _mm512_mul_ps(dwe, _mm512_loadu_ps((const float *)m));
    acc[i] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p), sv, acc[i]);
  }
}

KX_INLINE void q4_0_dot512_n(int64_t cols, const void *w_row, const void *x, size_t xs, float *y,
                             size_t ys, const int NX) {
  const uint8_t *w = w_row;
  const int64_t nb = cols / QK4_0, ng = nb / 4;
  const int8_t *xq[4];
  const uint8_t *xm[4];
  const float *xt[4];
  __m512 acc0[4], acc1[4];
  float tacc[4] = {0, 0, 0, 0};
  for (int i = 0; i < NX; i++) {
    xq[i] = (const int8_t *)((const uint8_t *)x + (size_t)i * xs);
    xm[i] = (const uint8_t *)(xq[i] + cols);
    xt[i] = (const float *)(xm[i] + 128 * ng);
    acc0[i] = acc1[i] = _mm512_setzero_ps();
  }
  int64_t g = 0;
  for (; g + 2 <= ng; g += 2) {
    prefetch_span(w + 72 * g, 144);
    q4_0_g4(w + 72 * g, g, xq, xm, acc0, NX);
    q4_0_g4(w + 72 * (g + 1), g + 1, xq, xm, acc1, NX);
  }
  for (; g < ng; g++) q4_0_g4(w + 72 * g, g, xq, xm, acc0, NX);
  for (int64_t b = 4 * ng; b < nb; b++) {
    const block_q4_0 *wb = (const block_q4_0 *)(w + 18 * b);
    __m256i q = q4_0_unpack(wb->qs);
    float dw = h2f(wb->d);
    int64_t t = b - 4 * ng;
    for (int i = 0; i < NX; i++) {
      __m256i xv = _mm256_loadu_si256((const __m256i *)(xq[i] + 32 * b));
      float dot = hsum256(_mm256_cvtepi32_ps(dot_u8s8(q, xv)));
      tacc[i] += dw * (xt[i][2 * t] * dot - 8.0f * xt[i][2 * t + 1]);
    }
  }
  for (int i = 0; i < NX; i++)
    y[(size_t)i * ys] = _mm512_reduce_add_ps(_mm512_add_ps(acc0[i], acc1[i])) + tacc[i];
}

KX_DOT_SWITCH(kx_dot_q8_0_512, q8_0_dot512_n)
KX_DOT_SWITCH(kx_dot_q4_0_512, q4_0_dot512_n)

/* Decode: 4 Q4_0 weight rows against one activation row (kern_type_ops
 * rows1). Each row's groups are the dot's, but the 4 rows run interleaved:
 * 4 independent accumulator chains, the activation group loaded once from
 * L1 for all 4, and one reduction pass per 4 rows. With 1,024-column rows
 * (Qwen3-0.6B) the per-row setup and reduction of the one-row dot cost
 * ~20% of a row's work; this keeps decode on such models at memory speed. */
static void kx_rows1_q4_0_512(int64_t cols, int nw, int nx, const void *w, size_t w_stride,
                              const void *x, size_t x_stride, float *y, size_t y_stride) {
  (void)nx; /* always 1 */
  (void)x_stride;
  (void)y_stride;
  if (nw < 4) {
    for (int r = 0; r < nw; r++)
      q4_0_dot512_n(cols, (const uint8_t *)w + (size_t)r * w_stride, x, 0, y + r, 0, 1);
    return;
  }
  const int64_t nb = cols / QK4_0, ng = nb / 4;
  const int8_t *xq = x;
  const uint8_t *xm = (const uint8_t *)(xq + cols);
  const float *xt = (const float *)(xm + 128 * ng);
  const uint8_t *wr[4];
  __m512 acc[4];
  for (int r = 0; r < 4; r++) {
    wr[r] = (const uint8_t *)w + (size_t)r * w_stride;
    acc[r] = _mm512_setzero_ps();
  }
  for (int64_t g = 0; g < ng; g++)
    for (int r = 0; r < 4; r++) {
      if ((g & 1) == 0) prefetch_span(wr[r] + 72 * g, 144);
      q4_0_g4(wr[r] + 72 * g, g, &xq, &xm, &acc[r], 1);
    }
  for (int r = 0; r < 4; r++) {
    float tail = 0;
    for (int64_t b = 4 * ng; b < nb; b++) {
      const block_q4_0 *wb = (const block_q4_0 *)(wr[r] + 18 * b);
      __m256i xv = _mm256_loadu_si256((const __m256i *)(xq + 32 * b));
      float dot = hsum256(_mm256_cvtepi32_ps(dot_u8s8(q4_0_unpack(wb->qs), xv)));
      int64_t t = b - 4 * ng;
      tail += h2f(wb->d) * (xt[2 * t] * dot - 8.0f * xt[2 * t + 1]);
    }
    y[r] = _mm512_reduce_add_ps(acc[r]) + tail;
  }
}

/* ---------------- Q4_K x Q8_K, 512-bit ----------------
 * One zmm holds the 64 quants of sub-blocks 2c and 2c+1 (low nibbles, then
 * high nibbles of 32 bytes), matching 64 consecutive activations; the two
 * 6-bit scales are spread over the matching int16 lanes with vpermw and
 * applied by vpdpwssd. Scales/mins are unpacked with 32-bit masks. */
static const int16_t q4k_sidx[4][32] = {
    {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
     1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1},
    {2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
     3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3},
    {4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4,
     5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5},
    {6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6,
     7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7},
};

KX_INLINE void q4_K_dot512_n(int64_t cols, const void *w_row, const void *x, size_t xs, float *y,
                             size_t ys, const int NX) {
  const block_q4_K *w = w_row;
  const int64_t nb = cols / QK_K;
  __m512 acc[4];
  __m256 accm[4];
  for (int i = 0; i < NX; i++) {
    acc[i] = _mm512_setzero_ps();
    accm[i] = _mm256_setzero_ps();
  }
  const __m512i m4 = _mm512_set1_epi8(0x0f);
  for (int64_t b = 0; b < nb; b++) {
    prefetch_span(&w[b], (int)sizeof w[b]);
    uint32_t u[3];
    memcpy(u, w[b].scales, sizeof u);
    uint64_t scv = (uint64_t)(u[0] & 0x3f3f3f3fu) |
                   (uint64_t)((u[2] & 0x0f0f0f0fu) | (((u[0] >> 6) & 0x03030303u) << 4)) << 32;
    uint64_t mnv = (uint64_t)(u[1] & 0x3f3f3f3fu) |
                   (uint64_t)(((u[2] >> 4) & 0x0f0f0f0fu) | (((u[1] >> 6) & 0x03030303u) << 4))
                       << 32;
    __m512i sc16 = _mm512_castsi128_si512(_mm_cvtepu8_epi16(_mm_cvtsi64_si128((long long)scv)));
    __m128i mn8 = _mm_cvtsi64_si128((long long)mnv);
    __m256i mins16 = _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(mn8, mn8));
    float d = h2f(w[b].d), dmin = h2f(w[b].dmin);
    __m512i q[4], sv[4];
    for (int c = 0; c < 4; c++) {
      __m256i qq = _mm256_loadu_si256((const __m256i *)(w[b].qs + 32 * c));
      __m512i z = _mm512_inserti64x4(_mm512_castsi256_si512(qq), _mm256_srli_epi16(qq, 4), 1);
      q[c] = _mm512_and_si512(z, m4);
      sv[c] = _mm512_permutexvar_epi16(_mm512_loadu_si512(q4k_sidx[c]), sc16);
    }
    for (int i = 0; i < NX; i++) {
      const block_q8_K *xb = (const block_q8_K *)((const uint8_t *)x + (size_t)i * xs) + b;
      __m256i summ = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)xb->bsums), mins16);
      accm[i] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(summ), _mm256_set1_ps(dmin * xb->d), accm[i]);
      __m512i sumi = _mm512_setzero_si512();
      for (int c = 0; c < 4; c++) {
        __m512i p = _mm512_maddubs_epi16(q[c], _mm512_loadu_si512(xb->qs + 64 * c));
        sumi = _mm512_dpwssd_epi32(sumi, p, sv[c]);
      }
      acc[i] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sumi), _mm512_set1_ps(d * xb->d), acc[i]);
    }
  }
  for (int i = 0; i < NX; i++) y[(size_t)i * ys] = hsum512(acc[i]) - hsum256(accm[i]);
}
KX_DOT_SWITCH(kx_dot_q4_K_512, q4_K_dot512_n)

/* ---------------- float weights: 4 x 4 register tiles (prefill) ----------------
 * Each 16-value step loads NW weight vectors and NX activation vectors for
 * NW * NX FMAs, so float activations (16 KiB per 4096-value row) are read
 * from L1/L2 once per 4 weight rows instead of once per row. */
KX_INLINE void fw512_gemm_t(enum dtype t, int64_t cols, const void *w, size_t wst, const void *x,
                            size_t xs, float *y, size_t ys, const int NW, const int NX) {
  __m512 acc[4][4];
  for (int r = 0; r < NW; r++)
    for (int i = 0; i < NX; i++) acc[r][i] = _mm512_setzero_ps();
  const uint8_t *wb = w, *xb = x;
  for (int64_t k = 0; k < cols; k += 16) {
    __mmask16 m = cols - k >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (cols - k)) - 1);
    __m512 wv[4];
    for (int r = 0; r < NW; r++) {
      prefetch_span(wb + (size_t)r * wst + k * (t == DT_F32 ? 4 : 2), 1);
      wv[r] = load16_w(t, wb + (size_t)r * wst, k, m);
    }
    for (int i = 0; i < NX; i++) {
      __m512 xv = _mm512_maskz_loadu_ps(m, (const float *)(xb + (size_t)i * xs) + k);
      for (int r = 0; r < NW; r++) acc[r][i] = _mm512_fmadd_ps(wv[r], xv, acc[r][i]);
    }
  }
  for (int i = 0; i < NX; i++)
    for (int r = 0; r < NW; r++) y[(size_t)i * ys + (size_t)r] = hsum512(acc[r][i]);
}

KX_INLINE void bf16_gemm_t(int64_t cols, const void *w, size_t wst, const void *x, size_t xs,
                           float *y, size_t ys, const int NW, const int NX) {
  __m512 acc[4][4];
  for (int r = 0; r < NW; r++)
    for (int i = 0; i < NX; i++) acc[r][i] = _mm512_setzero_ps();
  const uint8_t *wb = w, *xb = x;
  for (int64_t k = 0; k < cols; k += 32) {
    __mmask32 m = cols - k >= 32 ? (__mmask32)0xffffffffu : (__mmask32)((1u << (cols - k)) - 1);
    __m512i wv[4];
    for (int r = 0; r < NW; r++) {
      prefetch_span(wb + (size_t)r * wst + 2 * k, 1);
      wv[r] = _mm512_maskz_loadu_epi16(m, (const uint16_t *)(wb + (size_t)r * wst) + k);
    }
    for (int i = 0; i < NX; i++) {
      __m512i xv = _mm512_maskz_loadu_epi16(m, (const uint16_t *)(xb + (size_t)i * xs) + k);
      for (int r = 0; r < NW; r++)
        acc[r][i] = _mm512_dpbf16_ps(acc[r][i], (__m512bh)wv[r], (__m512bh)xv);
    }
  }
  for (int i = 0; i < NX; i++)
    for (int r = 0; r < NW; r++) y[(size_t)i * ys + (size_t)r] = hsum512(acc[r][i]);
}

#define KX_GEMM_NX(call, NW) \
  switch (nx) {              \
    case 1:                  \
      call(NW, 1);           \
      break;                 \
    case 2:                  \
      call(NW, 2);           \
      break;                 \
    case 3:                  \
      call(NW, 3);           \
      break;                 \
    default:                 \
      call(NW, 4);           \
      break;                 \
  }
#define KX_GEMM_FN(fname, call)                                                             \
  static void fname(int64_t cols, int nw, int nx, const void *w, size_t wst, const void *x, \
                    size_t xs, float *y, size_t ys) {                                       \
    switch (nw) {                                                                           \
      case 1:                                                                               \
        KX_GEMM_NX(call, 1);                                                                \
        break;                                                                              \
      case 2:                                                                               \
        KX_GEMM_NX(call, 2);                                                                \
        break;                                                                              \
      case 3:                                                                               \
        KX_GEMM_NX(call, 3);                                                                \
        break;                                                                              \
      default:                                                                              \
        KX_GEMM_NX(call, 4);                                                                \
        break;                                                                              \
    }                                                                                       \
  }
#define KX_CALL_F32(NW, NX) fw512_gemm_t(DT_F32, cols, w, wst, x, xs, y, ys, NW, NX)
#define KX_CALL_F16(NW, NX) fw512_gemm_t(DT_F16, cols, w, wst, x, xs, y, ys, NW, NX)
#define KX_CALL_BF16F(NW, NX) fw512_gemm_t(DT_BF16, cols, w, wst, x, xs, y, ys, NW, NX)
#define KX_CALL_BF16(NW, NX) bf16_gemm_t(cols, w, wst, x, xs, y, ys, NW, NX)
KX_GEMM_FN(kx_gemm_f32, KX_CALL_F32)
KX_GEMM_FN(kx_gemm_f16, KX_CALL_F16)
KX_GEMM_FN(kx_gemm_bf16f, KX_CALL_BF16F)
KX_GEMM_FN(kx_gemm_bf16, KX_CALL_BF16)

#define KX_FW512_BODY(T)                                                                        \
  KX_INLINE void fw512_##T##_n(int64_t cols, const void *w, const void *x, size_t xs, float *y, \
                               size_t ys, const int NX) {                                       \
    fw512_dot_n(DT_##T, cols, w, x, xs, y, ys, NX);                                             \
  }
KX_FW512_BODY(F32)
KX_FW512_BODY(F16)
KX_FW512_BODY(BF16)
KX_DOT_SWITCH(kx_dot_f32_512, fw512_F32_n)
KX_DOT_SWITCH(kx_dot_f16_512, fw512_F16_n)
KX_DOT_SWITCH(kx_dot_bf16f_512, fw512_BF16_n)
KX_DOT_SWITCH(kx_dot_bf16_512, bf16_dot_n)

/* BF16 weights against bf16-rounded activations (GLOAM_FAST_BF16=1). */
const kern_type_ops kern_avx512_bf16_fast = {1, 2, xconv_bf16, kx_dot_bf16_512, kx_gemm_bf16, NULL};

const kern_backend kern_backend_avx512 = {
    .name = KX_NAME,
    .types =
        {
            [DT_F32] = {1, 4, NULL, kx_dot_f32_512, kx_gemm_f32, NULL},
            [DT_F16] = {1, 4, NULL, kx_dot_f16_512, kx_gemm_f16, NULL},
            [DT_BF16] = {1, 4, NULL, kx_dot_bf16f_512, kx_gemm_bf16f, NULL},
            [DT_Q8_0] = {QK8_0, 72, xconv_x8s, kx_dot_q8_0_512, NULL, NULL},
            [DT_Q4_0] = {QK8_0, 64, xconv_x8p, kx_dot_q4_0_512, NULL, kx_rows1_q4_0_512},
            [DT_Q4_K] = {QK_K, sizeof(block_q8_K), kx_xconv_q8_K, kx_dot_q4_K_512, NULL, NULL},
            [DT_Q6_K] = {QK_K, sizeof(block_q8_K), kx_xconv_q8_K, kx_dot_q6_K, NULL, NULL},
        },
    .rmsnorm = kx_rmsnorm,
    .softmax = kx_softmax,
    .silu_mul = kx_silu_mul,
    .gelu_tanh_mul = kx_gelu_tanh_mul,
    .dot_f32 = kx_dot_f32,
    .axpy_f32 = kx_axpy_f32,
    .dot_f16 = kx_dot_f16v,
    .axpy_f16 = kx_axpy_f16,
    .f32_to_f16 = kx_f32_to_f16,
};
