/* SPDX-License-Identifier: Apache-2.0
 *
 * kernels/arm/neon_kquants.h: NEON dot kernels for the K-quant weights Q4_K
 * and Q6_K (256-value super-blocks; the tensors of a Q4_K_M GGUF) against
 * activations quantized to 8 bits per 256 values in ggml's block_q8_K layout
 * (the x86 backends' format, converted here with the reference's rounding:
 * scale -127 / (the first value of largest magnitude), round to nearest
 * even, sums of 16).
 *
 * Included only by neon_body.h (it uses KN_INLINE, kn_h2f and kn_sdot16),
 * so it is compiled twice like the rest of the NEON kernels: the int8 dots
 * are SDOT in neon_dotprod and vmull_s8 + pairwise adds in neon.
 *
 * DESIGN:
 *  - Weights are unpacked once per super-block into signed int8 vectors in
 *    element order and reused for every activation row (nx <= 4).
 *  - Q4_K: x = d * sc[j] * q - dmin * mn[j] per 32-value sub-block j, q in
 *    0..15. The q part is an int8 dot per sub-block scaled by sc[j] in int32
 *    (|sum| <= 8 * 63 * 32 * 15 * 127); the min part uses the activation's
 *    16-value sums (bsums), paired to sub-blocks: dmin * sum_j mn[j] * bsum_j.
 *  - Q6_K: q - 32 (in -32..31) fits int8, so the offset is subtracted from
 *    the weights and no activation-sum correction is needed; each 16-value
 *    group is scaled by its signed 8-bit scale in int32
 *    (|sum| <= 16 * 128 * 16 * 32 * 127).
 *  - Integer sums become float once per super-block and activation row.
 *
 * Thread safety: pure functions.
 */
#ifndef KN_NAME
#error "include neon_kquants.h through neon_body.h"
#endif

#include <string.h>

/* ---------------- float32 -> block_q8_K ---------------- */

static void kn_xconv_q8_K(const float *x, void *dst, int64_t n) {
  block_q8_K *y = dst;
  for (int64_t b = 0; b < n / QK_K; b++, x += QK_K) {
    float32x4_t m = vdupq_n_f32(0.0f);
    for (int j = 0; j < QK_K; j += 4) m = vmaxq_f32(m, vabsq_f32(vld1q_f32(x + j)));
    float amax = vmaxvq_f32(m), max = 0.0f;
    if (amax == 0.0f) {
      memset(&y[b], 0, sizeof y[b]);
      continue;
    }
    for (int j = 0; j < QK_K; j++) {
      if (fabsf(x[j]) == amax) {
        max = x[j];
        break;
      }
    }
    const float iscale = -127.0f / max; /* |x * iscale| <= 127: no clamping needed */
    for (int j = 0; j < QK_K; j += 16) {
      int32x4_t q[4];
      for (int k = 0; k < 4; k++)
        q[k] = vcvtnq_s32_f32(vmulq_n_f32(vld1q_f32(x + j + 4 * k), iscale));
      int16x8_t h0 = vcombine_s16(vqmovn_s32(q[0]), vqmovn_s32(q[1]));
      int16x8_t h1 = vcombine_s16(vqmovn_s32(q[2]), vqmovn_s32(q[3]));
      int8x16_t q8 = vcombine_s8(vqmovn_s16(h0), vqmovn_s16(h1));
      vst1q_s8(y[b].qs + j, q8);
      y[b].bsums[j / 16] = vaddlvq_s8(q8);
    }
    y[b].d = 1.0f / iscale;
  }
}

/* ---------------- Q4_K x Q8_K ---------------- */

/* The 8 six-bit scales (sc) and mins (mn) of a Q4_K super-block (ggml's
 * packing: sub-blocks 0-3 in the low 6 bits of bytes 0-3 / 4-7, sub-blocks
 * 4-7 in the nibbles of bytes 8-11 with their top 2 bits in bits 6-7 of
 * bytes 0-3 / 4-7). */
KN_INLINE void kn_q4_K_scales(const uint8_t *s, int32_t *sc, int16_t *mn) {
  for (int j = 0; j < 4; j++) {
    sc[j] = s[j] & 63;
    mn[j] = (int16_t)(s[j + 4] & 63);
    sc[j + 4] = (s[j + 8] & 0xF) | ((s[j] >> 6) << 4);
    mn[j + 4] = (int16_t)((s[j + 8] >> 4) | ((s[j + 4] >> 6) << 4));
  }
}

static void kn_dot_q4_K(int64_t cols, int nx, const void *w_row, const void *x, size_t xs, float *y,
                        size_t ys) {
  const block_q4_K *w = w_row;
  float acc[KERN_MAX_NX] = {0};
  const uint8x16_t m4 = vdupq_n_u8(0x0f);
  for (int64_t b = 0; b < cols / QK_K; b++) {
    int32_t sc[8];
    int16_t mn[8];
    kn_q4_K_scales(w[b].scales, sc, mn);
    const int16x8_t mins = vld1q_s16(mn);
    const float d = kn_h2f(w[b].d), dmin = kn_h2f(w[b].dmin);
    /* q[2c] = sub-block 2c (low nibbles of bytes 32c..32c+31), q[2c+1] =
     * sub-block 2c+1 (their high nibbles); two 16-byte halves each */
    int8x16_t q[8][2];
    for (int c = 0; c < 4; c++) {
      for (int h = 0; h < 2; h++) {
        uint8x16_t v = vld1q_u8(w[b].qs + 32 * c + 16 * h);
        q[2 * c][h] = vreinterpretq_s8_u8(vandq_u8(v, m4));
        q[2 * c + 1][h] = vreinterpretq_s8_u8(vshrq_n_u8(v, 4));
      }
    }
    for (int i = 0; i < nx; i++) {
      const block_q8_K *xb = (const block_q8_K *)((const uint8_t *)x + (size_t)i * xs) + b;
      int32x4_t sumi = vdupq_n_s32(0);
      for (int j = 0; j < 8; j++) {
        const int8_t *xq = xb->qs + 32 * j;
        int32x4_t p =
            kn_sdot16(kn_sdot16(vdupq_n_s32(0), q[j][0], vld1q_s8(xq)), q[j][1], vld1q_s8(xq + 16));
        sumi = vmlaq_n_s32(sumi, p, sc[j]);
      }
      /* sub-block sums of the activations: adjacent 16-value bsums paired */
      int16x8_t bs = vpaddq_s16(vld1q_s16(xb->bsums), vld1q_s16(xb->bsums + 8));
      int32x4_t summ = vmull_s16(vget_low_s16(bs), vget_low_s16(mins));
      summ = vmlal_high_s16(summ, bs, mins);
      acc[i] += xb->d * (d * (float)vaddvq_s32(sumi) - dmin * (float)vaddvq_s32(summ));
    }
  }
  for (int i = 0; i < nx; i++) y[(size_t)i * ys] = acc[i];
}

/* ---------------- Q6_K x Q8_K ---------------- */

/* The 128 values of half h of a Q6_K super-block as q - 32 in element order
 * (8 groups of 16). Value l (l < 32) of each quarter k: low 4 bits from the
 * low (k = 0, 1) or high (k = 2, 3) nibble of ql[l + 32 * (k & 1)], top 2
 * bits from bits 2k..2k+1 of qh[l]. */
KN_INLINE void kn_q6_K_unpack(const uint8_t *ql, const uint8_t *qh, int8x16_t *q) {
  const uint8x16_t m4 = vdupq_n_u8(0x0f), m2 = vdupq_n_u8(0x03), m30 = vdupq_n_u8(0x30);
  const int8x16_t off = vdupq_n_s8(32);
  for (int g = 0; g < 2; g++) { /* 16-value groups within each quarter */
    uint8x16_t l0 = vld1q_u8(ql + 16 * g), l1 = vld1q_u8(ql + 32 + 16 * g);
    uint8x16_t hb = vld1q_u8(qh + 16 * g);
    uint8x16_t v[4] = {
        vorrq_u8(vandq_u8(l0, m4), vshlq_n_u8(vandq_u8(hb, m2), 4)),
        vorrq_u8(vandq_u8(l1, m4), vshlq_n_u8(vandq_u8(vshrq_n_u8(hb, 2), m2), 4)),
        vorrq_u8(vshrq_n_u8(l0, 4), vandq_u8(hb, m30)),
        vorrq_u8(vshrq_n_u8(l1, 4), vandq_u8(vshrq_n_u8(hb, 2), m30)),
    };
    for (int k = 0; k < 4; k++) q[2 * k + g] = vsubq_s8(vreinterpretq_s8_u8(v[k]), off);
  }
}

static void kn_dot_q6_K(int64_t cols, int nx, const void *w_row, const void *x, size_t xs, float *y,
                        size_t ys) {
  const block_q6_K *w = w_row;
  float acc[KERN_MAX_NX] = {0};
  for (int64_t b = 0; b < cols / QK_K; b++) {
    int8x16_t q[16];
    kn_q6_K_unpack(w[b].ql, w[b].qh, q);
    kn_q6_K_unpack(w[b].ql + 64, w[b].qh + 32, q + 8);
    const int8_t *sc = w[b].scales;
    const float d = kn_h2f(w[b].d);
    for (int i = 0; i < nx; i++) {
      const block_q8_K *xb = (const block_q8_K *)((const uint8_t *)x + (size_t)i * xs) + b;
      int32x4_t sumi = vdupq_n_s32(0);
      for (int g = 0; g < 16; g++)
        sumi = vmlaq_n_s32(sumi, kn_sdot16(vdupq_n_s32(0), q[g], vld1q_s8(xb->qs + 16 * g)), sc[g]);
      acc[i] += d * xb->d * (float)vaddvq_s32(sumi);
    }
  }
  for (int i = 0; i < nx; i++) y[(size_t)i * ys] = acc[i];
}
