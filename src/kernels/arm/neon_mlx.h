/* SPDX-License-Identifier: Apache-2.0
 *
 * kernels/arm/neon_mlx.h: the NEON dot kernel for MLX affine-quantized
 * weights (kernels/mlx.h, 4 or 8 bits, groups of 32/64/128) against 8-bit
 * activations with one scale per weight group, in the activation format of
 * the x86 kernels (mlx_impl.h: int8 values, 4-bit blocks stored even
 * elements first; then the group scales d and group sums d * sum(xq)).
 *
 * Included only by neon_body.h (uses KN_INLINE, kn_h2f and kn_sdot16), so built
 * twice: the includer defines KN_MLX_DOT (the exported dot: SDOT in
 * neon_dotprod, vmull_s8 + pairwise adds in neon) and, in neon.c only,
 * KN_MLX_XCONV (the activation converter, plain ARMv8.0 NEON).
 *
 * DESIGN: for activation row x (x ~ d * xq per group) and a weight group
 * with scale S and bias B:
 *   sum_j (S q_j + B) x_j = S * d * sum_j q_j xq_j + B * gsum.
 * A group's integer products accumulate in int32 and go to float once.
 *  - 4 bits: the low nibbles of a 32-value block's 16 bytes are its even
 *    values and the high nibbles its odd ones, matching the activations'
 *    even-then-odd order, so unpacking is one AND and one shift.
 *  - 8 bits: q (0..255) does not fit int8, so q - 128 (a XOR) is multiplied
 *    and B + 128 S replaces B (|(q - 128) xq| <= 128 * 127 fits the int16
 *    products of the baseline path).
 *  - The bias terms are one dot per activation row of the row's biases with
 *    its group sums, after the integer part.
 * NX = 1..4 activation rows share each unpacked weight block.
 *
 * Thread safety: pure functions.
 */
#ifndef KN_MLX_DOT
#error "include neon_mlx.h through neon_body.h with KN_MLX_DOT defined"
#endif

#include "kernels/mlx_impl.h"

/* Scale or bias i as float (FCVT for f16; mlx_sb for the others). */
KN_INLINE float kn_mlx_sb(const void *p, enum dtype t, int64_t i) {
  return t == DT_F16 ? kn_h2f(((const f16_bits *)p)[i]) : mlx_sb(p, t, i);
}

void KN_MLX_DOT(const kern_mlx *w, int64_t r, int64_t cols, int nx, const uint8_t *x,
                size_t x_stride, float *y, size_t y_stride) {
  const int64_t ng = cols / w->group, bpg = w->group / 32, base = r * ng;
  const int bits = w->bits;
  const size_t blk_bytes = (size_t)(32 * bits / 8);
  const uint8_t *q = (const uint8_t *)w->q + (size_t)r * (size_t)(cols / 32) * blk_bytes;
  const float *xd[KERN_MAX_NX];
  float acc[KERN_MAX_NX] = {0};
  for (int i = 0; i < nx; i++) xd[i] = (const float *)(x + (size_t)i * x_stride + cols);
  for (int64_t g = 0; g < ng; g++) {
    const float sc = kn_mlx_sb(w->scales, w->sb_type, base + g);
    int32x4_t ia[KERN_MAX_NX];
    for (int i = 0; i < nx; i++) ia[i] = vdupq_n_s32(0);
    for (int64_t k = 0; k < bpg; k++, q += blk_bytes) {
      int8x16_t a0, a1;
      if (bits == 4) {
        uint8x16_t v = vld1q_u8(q);
        a0 = vreinterpretq_s8_u8(vandq_u8(v, vdupq_n_u8(0x0f))); /* even values */
        a1 = vreinterpretq_s8_u8(vshrq_n_u8(v, 4));              /* odd values */
      } else {
        a0 = vreinterpretq_s8_u8(veorq_u8(vld1q_u8(q), vdupq_n_u8(0x80)));
        a1 = vreinterpretq_s8_u8(veorq_u8(vld1q_u8(q + 16), vdupq_n_u8(0x80)));
      }
      const size_t off = (size_t)(g * bpg + k) * 32;
      for (int i = 0; i < nx; i++) {
        const int8_t *xq = (const int8_t *)(x + (size_t)i * x_stride + off);
        ia[i] = kn_sdot16(kn_sdot16(ia[i], a0, vld1q_s8(xq)), a1, vld1q_s8(xq + 16));
      }
    }
    for (int i = 0; i < nx; i++) acc[i] += sc * xd[i][g] * (float)vaddvq_s32(ia[i]);
  }
  for (int i = 0; i < nx; i++) {
    const float *gsum = xd[i] + ng;
    float t = 0.0f;
    for (int64_t g = 0; g < ng; g++) {
      float b = kn_mlx_sb(w->biases, w->sb_type, base + g);
      if (bits == 8) b += 128.0f * kn_mlx_sb(w->scales, w->sb_type, base + g);
      t += b * gsum[g];
    }
    y[(size_t)i * y_stride] = acc[i] + t;
  }
}

#if defined(KN_MLX_XCONV)
/* Per weight group: d = amax / 127, xq = round-to-nearest-even(x / d) (as
 * the x86 converter), gsum = d * sum(xq); 4-bit blocks are stored even
 * values first, then odd. */
void KN_MLX_XCONV(const float *x, int64_t cols, int group, int bits, uint8_t *dst) {
  const int64_t ng = cols / group;
  float *d = (float *)(dst + cols), *gs = d + ng;
  for (int64_t g = 0; g < ng; g++) {
    const float *xg = x + g * group;
    float32x4_t m = vdupq_n_f32(0.0f);
    for (int j = 0; j < group; j += 4) m = vmaxq_f32(m, vabsq_f32(vld1q_f32(xg + j)));
    const float dg = vmaxvq_f32(m) / 127.0f, id = dg != 0.0f ? 1.0f / dg : 0.0f;
    int32x4_t isum = vdupq_n_s32(0);
    for (int j = 0; j < group; j += 16) {
      int32x4_t q[4];
      for (int k = 0; k < 4; k++) {
        q[k] = vcvtnq_s32_f32(vmulq_n_f32(vld1q_f32(xg + j + 4 * k), id));
        isum = vaddq_s32(isum, q[k]);
      }
      int16x8_t h0 = vcombine_s16(vqmovn_s32(q[0]), vqmovn_s32(q[1]));
      int16x8_t h1 = vcombine_s16(vqmovn_s32(q[2]), vqmovn_s32(q[3]));
      vst1q_s8((int8_t *)dst + g * group + j, vcombine_s8(vqmovn_s16(h0), vqmovn_s16(h1)));
    }
    if (bits == 4) { /* each 32-value block: even values, then odd */
      for (int j = 0; j < group; j += 32) {
        int8_t *p = (int8_t *)dst + g * group + j;
        int8x16_t lo = vld1q_s8(p), hi = vld1q_s8(p + 16);
        vst1q_s8(p, vuzp1q_s8(lo, hi));
        vst1q_s8(p + 16, vuzp2q_s8(lo, hi));
      }
    }
    d[g] = dg;
    gs[g] = dg * (float)vaddvq_s32(isum);
  }
}
#endif
