/* SPDX-License-Identifier: Apache-2.0
 *
 * kernels/arm/neon_body.h: the AArch64 Advanced SIMD (NEON) kernels, shared
 * by two backends that differ only in compile flags: arm/neon.c (baseline
 * ARMv8.0-A, every 64-bit ARM CPU) and arm/neon_dotprod.c (ARMv8.2-A
 * +dotprod: Apple M1 and later, Graviton 2 and later, Cortex-A76 and
 * later), whose 8-bit dot products use SDOT. Define KN_NAME and KN_MLX_DOT
 * before including.
 *
 * What is here: float32, F16 and BF16 weights dotted against float32
 * activations (float32-exact widening, so the products equal the
 * reference's up to summation order); Q8_0 and Q4_0 weights dotted against
 * activations quantized to 8 bits per 32-value block (block_q8_0x, the same
 * activation format and rounding as the x86 backends); Q4_K and Q6_K
 * weights against block_q8_K activations (neon_kquants.h); MLX affine
 * weights (neon_mlx.h; the includer names the exported functions with
 * KN_MLX_DOT and, once, KN_MLX_XCONV); RMSNorm, dot, axpy and float32 <->
 * F16 rows. The exp-based elementwise ops (softmax, SiLU, GELU) use the
 * reference code.
 *
 * Thread safety: pure functions.
 */
#ifndef KN_NAME
#error "define KN_NAME before including neon_body.h"
#endif

#include <arm_neon.h>

#include "kernels/kern_impl.h"

#include <math.h>

#define KN_INLINE static inline __attribute__((always_inline))

KN_INLINE float32x4_t kn_f16x4(const f16_bits *p) {
  return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(p)));
}

KN_INLINE float32x4_t kn_bf16x4(const uint16_t *p) {
  return vreinterpretq_f32_u32(vshll_n_u16(vld1_u16(p), 16));
}

KN_INLINE float kn_h2f(f16_bits h) {
  return vgetq_lane_f32(vcvt_f32_f16(vreinterpret_f16_u16(vdup_n_u16(h))), 0);
}

/* ---------------- float weights x float32 activations ---------------- */

/* y_i = w . x_i for a weight row of float type T (loaded 4 at a time by
 * LOAD4, one value at a time by LOAD1), nx activation rows. */
#define KN_FLOAT_DOT(fname, T, LOAD4, LOAD1)                                                     \
  static void fname(int64_t cols, int nx, const void *w_row, const void *x, size_t xs, float *y, \
                    size_t ys) {                                                                 \
    const T *w = w_row;                                                                          \
    float32x4_t acc[KERN_MAX_NX][2];                                                             \
    for (int i = 0; i < nx; i++) acc[i][0] = acc[i][1] = vdupq_n_f32(0.0f);                      \
    int64_t k = 0;                                                                               \
    for (; k + 8 <= cols; k += 8) {                                                              \
      float32x4_t w0 = LOAD4(w + k), w1 = LOAD4(w + k + 4);                                      \
      for (int i = 0; i < nx; i++) {                                                             \
        const float *xi = (const float *)((const uint8_t *)x + (size_t)i * xs) + k;              \
        acc[i][0] = vfmaq_f32(acc[i][0], w0, vld1q_f32(xi));                                     \
        acc[i][1] = vfmaq_f32(acc[i][1], w1, vld1q_f32(xi + 4));                                 \
      }                                                                                          \
    }                                                                                            \
    for (int i = 0; i < nx; i++) {                                                               \
      const float *xi = (const float *)((const uint8_t *)x + (size_t)i * xs);                    \
      float s = vaddvq_f32(vaddq_f32(acc[i][0], acc[i][1]));                                     \
      for (int64_t t = k; t < cols; t++) s += LOAD1(w + t) * xi[t];                              \
      y[(size_t)i * ys] = s;                                                                     \
    }                                                                                            \
  }

#define KN_LOAD_F32(p) vld1q_f32(p)
#define KN_ONE_F32(p) (*(p))
#define KN_ONE_F16(p) kn_h2f(*(p))
#define KN_ONE_BF16(p) bf16_to_f32(*(p))
KN_FLOAT_DOT(kn_dot_f32, float, KN_LOAD_F32, KN_ONE_F32)
KN_FLOAT_DOT(kn_dot_f16, f16_bits, kn_f16x4, KN_ONE_F16)
KN_FLOAT_DOT(kn_dot_bf16, uint16_t, kn_bf16x4, KN_ONE_BF16)

/* ---------------- 8-bit activations ---------------- */

/* float32 -> block_q8_0x: scale amax / 127 rounded through f16 (as the
 * weights' scales are), round-to-nearest-even quantization, s = d * sum(q). */
static void kn_xconv_q8_0x(const float *x, void *dst, int64_t n) {
  block_q8_0x *y = dst;
  for (int64_t b = 0; b < n / QK8_0; b++, x += QK8_0) {
    float32x4_t v[8], m = vdupq_n_f32(0.0f);
    for (int j = 0; j < 8; j++) {
      v[j] = vld1q_f32(x + 4 * j);
      m = vmaxq_f32(m, vabsq_f32(v[j]));
    }
    float d = vmaxvq_f32(m) / 127.0f;
    float id = d != 0.0f ? 1.0f / d : 0.0f;
    y[b].d = kn_h2f(f32_to_f16(d));
    int32x4_t sum = vdupq_n_s32(0);
    for (int j = 0; j < 8; j += 2) {
      int32x4_t q0 = vcvtnq_s32_f32(vmulq_n_f32(v[j], id));
      int32x4_t q1 = vcvtnq_s32_f32(vmulq_n_f32(v[j + 1], id));
      sum = vaddq_s32(sum, vaddq_s32(q0, q1));
      int16x8_t h = vcombine_s16(vqmovn_s32(q0), vqmovn_s32(q1));
      vst1_s8(y[b].qs + 4 * j, vqmovn_s16(h));
    }
    y[b].s = y[b].d * (float)vaddvq_s32(sum);
  }
}

/* acc + the 16 products a * b, summed in groups of 4 (SDOT's lanes; the
 * baseline adds the same products pairwise, so the lanes differ but the
 * total is the same). */
KN_INLINE int32x4_t kn_sdot16(int32x4_t acc, int8x16_t a, int8x16_t b) {
#if defined(__ARM_FEATURE_DOTPROD)
  return vdotq_s32(acc, a, b);
#else
  /* |a * b| <= 128 * 128 fits the int16 products */
  acc = vpadalq_s16(acc, vmull_s8(vget_low_s8(a), vget_low_s8(b)));
  return vpadalq_s16(acc, vmull_high_s8(a, b));
#endif
}

/* Sum of the 32 products of two int8 blocks. */
KN_INLINE int32_t kn_dot32(int8x16_t a0, int8x16_t a1, const int8_t *b) {
  return vaddvq_s32(kn_sdot16(kn_sdot16(vdupq_n_s32(0), a0, vld1q_s8(b)), a1, vld1q_s8(b + 16)));
}

/* Q8_0 and Q4_0 weight blocks as two int8x16 halves of signed values. */
KN_INLINE void kn_q8_0_load(const block_q8_0 *w, int8x16_t *a0, int8x16_t *a1) {
  *a0 = vld1q_s8(w->qs);
  *a1 = vld1q_s8(w->qs + 16);
}

KN_INLINE void kn_q4_0_load(const block_q4_0 *w, int8x16_t *a0, int8x16_t *a1) {
  uint8x16_t q = vld1q_u8(w->qs);
  int8x16_t eight = vdupq_n_s8(8);
  *a0 = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(q, vdupq_n_u8(0x0f))), eight); /* values 0..15 */
  *a1 = vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(q, 4)), eight);              /* values 16..31 */
}

#define KN_BLOCK_DOT(fname, BLOCK, LOAD)                                                         \
  static void fname(int64_t cols, int nx, const void *w_row, const void *x, size_t xs, float *y, \
                    size_t ys) {                                                                 \
    const BLOCK *w = w_row;                                                                      \
    float acc[KERN_MAX_NX] = {0};                                                                \
    for (int64_t b = 0; b < cols / QK8_0; b++) {                                                 \
      int8x16_t a0, a1;                                                                          \
      LOAD(&w[b], &a0, &a1);                                                                     \
      float dw = kn_h2f(w[b].d);                                                                 \
      for (int i = 0; i < nx; i++) {                                                             \
        const block_q8_0x *xb = (const block_q8_0x *)((const uint8_t *)x + (size_t)i * xs) + b;  \
        acc[i] += (float)kn_dot32(a0, a1, xb->qs) * (dw * xb->d);                                \
      }                                                                                          \
    }                                                                                            \
    for (int i = 0; i < nx; i++) y[(size_t)i * ys] = acc[i];                                     \
  }
KN_BLOCK_DOT(kn_dot_q8_0, block_q8_0, kn_q8_0_load)
KN_BLOCK_DOT(kn_dot_q4_0, block_q4_0, kn_q4_0_load)

#include "kernels/arm/neon_kquants.h"
#include "kernels/arm/neon_mlx.h"

/* ---------------- elementwise ---------------- */

static float kn_dot_f32v(const float *a, const float *b, int64_t n) {
  float32x4_t s0 = vdupq_n_f32(0.0f), s1 = vdupq_n_f32(0.0f);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    s0 = vfmaq_f32(s0, vld1q_f32(a + i), vld1q_f32(b + i));
    s1 = vfmaq_f32(s1, vld1q_f32(a + i + 4), vld1q_f32(b + i + 4));
  }
  float s = vaddvq_f32(vaddq_f32(s0, s1));
  for (; i < n; i++) s += a[i] * b[i];
  return s;
}

static void kn_axpy_f32(float *y, float a, const float *x, int64_t n) {
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) vst1q_f32(y + i, vfmaq_n_f32(vld1q_f32(y + i), vld1q_f32(x + i), a));
  for (; i < n; i++) y[i] += a * x[i];
}

static float kn_dot_f16v(const float *a, const f16_bits *b, int64_t n) {
  float32x4_t s0 = vdupq_n_f32(0.0f), s1 = vdupq_n_f32(0.0f);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    s0 = vfmaq_f32(s0, vld1q_f32(a + i), kn_f16x4(b + i));
    s1 = vfmaq_f32(s1, vld1q_f32(a + i + 4), kn_f16x4(b + i + 4));
  }
  float s = vaddvq_f32(vaddq_f32(s0, s1));
  for (; i < n; i++) s += a[i] * kn_h2f(b[i]);
  return s;
}

static void kn_axpy_f16(float *y, float a, const f16_bits *x, int64_t n) {
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) vst1q_f32(y + i, vfmaq_n_f32(vld1q_f32(y + i), kn_f16x4(x + i), a));
  for (; i < n; i++) y[i] += a * kn_h2f(x[i]);
}

/* IEEE round-to-nearest-even conversion (FCVTN), NaN and Inf preserved. */
static void kn_f32_to_f16(f16_bits *dst, const float *src, int64_t n) {
  int64_t i = 0;
  for (; i + 4 <= n; i += 4)
    vst1_u16(dst + i, vreinterpret_u16_f16(vcvt_f16_f32(vld1q_f32(src + i))));
  for (; i < n; i++) dst[i] = f32_to_f16(src[i]);
}

static void kn_rmsnorm(float *out, const float *x, const float *w, int64_t n, float eps,
                       float w_offset) {
  float32x4_t s0 = vdupq_n_f32(0.0f), s1 = vdupq_n_f32(0.0f);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    float32x4_t a = vld1q_f32(x + i), b = vld1q_f32(x + i + 4);
    s0 = vfmaq_f32(s0, a, a);
    s1 = vfmaq_f32(s1, b, b);
  }
  double ss = (double)vaddvq_f32(vaddq_f32(s0, s1));
  for (; i < n; i++) ss += (double)x[i] * x[i];
  float scale = (float)(1.0 / sqrt(ss / (double)n + (double)eps));
  float32x4_t off = vdupq_n_f32(w_offset);
  for (i = 0; i + 4 <= n; i += 4)
    vst1q_f32(out + i,
              vmulq_f32(vmulq_n_f32(vld1q_f32(x + i), scale), vaddq_f32(vld1q_f32(w + i), off)));
  for (; i < n; i++) out[i] = x[i] * scale * (w[i] + w_offset);
}

#define KN_BACKEND(var)                                                                          \
  const kern_backend var = {                                                                     \
      .name = KN_NAME,                                                                           \
      .types =                                                                                   \
          {                                                                                      \
              [DT_F32] = {1, 4, NULL, kn_dot_f32, NULL, NULL},                                   \
              [DT_F16] = {1, 4, NULL, kn_dot_f16, NULL, NULL},                                   \
              [DT_BF16] = {1, 4, NULL, kn_dot_bf16, NULL, NULL},                                 \
              [DT_Q8_0] = {QK8_0, sizeof(block_q8_0x), kn_xconv_q8_0x, kn_dot_q8_0, NULL, NULL}, \
              [DT_Q4_0] = {QK8_0, sizeof(block_q8_0x), kn_xconv_q8_0x, kn_dot_q4_0, NULL, NULL}, \
              [DT_Q4_K] = {QK_K, sizeof(block_q8_K), kn_xconv_q8_K, kn_dot_q4_K, NULL, NULL},    \
              [DT_Q6_K] = {QK_K, sizeof(block_q8_K), kn_xconv_q8_K, kn_dot_q6_K, NULL, NULL},    \
          },                                                                                     \
      .rmsnorm = kn_rmsnorm,                                                                     \
      .softmax = ref_softmax,                                                                    \
      .silu_mul = ref_silu_mul,                                                                  \
      .gelu_tanh_mul = ref_gelu_tanh_mul,                                                        \
      .dot_f32 = kn_dot_f32v,                                                                    \
      .axpy_f32 = kn_axpy_f32,                                                                   \
      .dot_f16 = kn_dot_f16v,                                                                    \
      .axpy_f16 = kn_axpy_f16,                                                                   \
      .f32_to_f16 = kn_f32_to_f16,                                                               \
  }
