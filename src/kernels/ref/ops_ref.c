/* SPDX-License-Identifier: Apache-2.0
 *
 * kernels/ref/ops_ref.c: the reference backend, plain C and the test oracle.
 *
 * The matmul dot dequantizes the weight row in 256-value pieces into a stack
 * buffer and takes float dot products with the float32 activations (no
 * activation quantization), so it is the exact product of the stored weights
 * with X up to float rounding. Reductions in rmsnorm/softmax use double.
 *
 * Thread safety: pure functions; the backend table is immutable.
 */
#include <math.h>

#include "kernels/kern_impl.h"

#define REF_PIECE 256

static void ref_dot(enum dtype t, int64_t cols, int nx, const void *w_row, const void *x,
                    size_t x_stride, float *y, size_t y_stride) {
  float tmp[REF_PIECE];
  float acc[KERN_MAX_NX] = {0};
  int64_t piece = dtype_block_elems(t) > REF_PIECE ? dtype_block_elems(t) : REF_PIECE;
  const uint8_t *w = w_row;
  for (int64_t c = 0; c < cols; c += piece) {
    int64_t len = cols - c < piece ? cols - c : piece;
    ref_dequantize_row(t, w + dtype_row_bytes(t, c), tmp, len);
    for (int i = 0; i < nx; i++) {
      const float *xi = (const float *)((const uint8_t *)x + (size_t)i * x_stride) + c;
      float s = 0.0f;
      for (int64_t k = 0; k < len; k++) s += tmp[k] * xi[k];
      acc[i] += s;
    }
  }
  for (int i = 0; i < nx; i++) y[(size_t)i * y_stride] = acc[i];
}

#define REF_DOT_FN(name, T)                                                                 \
  static void name(int64_t cols, int nx, const void *w, const void *x, size_t xs, float *y, \
                   size_t ys) {                                                             \
    ref_dot(T, cols, nx, w, x, xs, y, ys);                                                  \
  }
REF_DOT_FN(ref_dot_f32, DT_F32)
REF_DOT_FN(ref_dot_f16, DT_F16)
REF_DOT_FN(ref_dot_bf16, DT_BF16)
REF_DOT_FN(ref_dot_q8_0, DT_Q8_0)
REF_DOT_FN(ref_dot_q4_0, DT_Q4_0)
REF_DOT_FN(ref_dot_q4_K, DT_Q4_K)
REF_DOT_FN(ref_dot_q6_K, DT_Q6_K)

static void ref_rmsnorm(float *out, const float *x, const float *w, int64_t n, float eps,
                        float w_offset) {
  double ss = 0.0;
  for (int64_t i = 0; i < n; i++) ss += (double)x[i] * x[i];
  float scale = (float)(1.0 / sqrt(ss / (double)n + (double)eps));
  for (int64_t i = 0; i < n; i++) out[i] = x[i] * scale * (w[i] + w_offset);
}

void ref_softmax(float *x, int64_t n) {
  float max = -INFINITY;
  for (int64_t i = 0; i < n; i++) max = fmaxf(max, x[i]);
  double sum = 0.0;
  for (int64_t i = 0; i < n; i++) {
    x[i] = expf(x[i] - max);
    sum += x[i];
  }
  float inv = (float)(1.0 / sum);
  for (int64_t i = 0; i < n; i++) x[i] *= inv;
}

void ref_silu_mul(float *gate, const float *up, int64_t n) {
  for (int64_t i = 0; i < n; i++) gate[i] = gate[i] / (1.0f + expf(-gate[i])) * up[i];
}

void ref_gelu_tanh_mul(float *gate, const float *up, int64_t n) {
  const float k = 0.7978845608028654f; /* sqrt(2/pi) */
  for (int64_t i = 0; i < n; i++) {
    float g = gate[i];
    gate[i] = 0.5f * g * (1.0f + tanhf(k * (g + 0.044715f * g * g * g))) * up[i];
  }
}

static float ref_dot_f32v(const float *a, const float *b, int64_t n) {
  float s = 0.0f;
  for (int64_t i = 0; i < n; i++) s += a[i] * b[i];
  return s;
}

static void ref_axpy_f32(float *y, float a, const float *x, int64_t n) {
  for (int64_t i = 0; i < n; i++) y[i] += a * x[i];
}

static float ref_dot_f16v(const float *a, const f16_bits *b, int64_t n) {
  float s = 0.0f;
  for (int64_t i = 0; i < n; i++) s += a[i] * f16_to_f32(b[i]);
  return s;
}

static void ref_axpy_f16(float *y, float a, const f16_bits *x, int64_t n) {
  for (int64_t i = 0; i < n; i++) y[i] += a * f16_to_f32(x[i]);
}

static void ref_f32_to_f16(f16_bits *dst, const float *src, int64_t n) {
  for (int64_t i = 0; i < n; i++) dst[i] = f32_to_f16(src[i]);
}

const kern_backend kern_backend_ref = {
    .name = "ref",
    .types =
        {
            [DT_F32] = {1, 4, NULL, ref_dot_f32, NULL, NULL},
            [DT_F16] = {1, 4, NULL, ref_dot_f16, NULL, NULL},
            [DT_BF16] = {1, 4, NULL, ref_dot_bf16, NULL, NULL},
            [DT_Q8_0] = {1, 4, NULL, ref_dot_q8_0, NULL, NULL},
            [DT_Q4_0] = {1, 4, NULL, ref_dot_q4_0, NULL, NULL},
            [DT_Q4_K] = {1, 4, NULL, ref_dot_q4_K, NULL, NULL},
            [DT_Q6_K] = {1, 4, NULL, ref_dot_q6_K, NULL, NULL},
        },
    .rmsnorm = ref_rmsnorm,
    .softmax = ref_softmax,
    .silu_mul = ref_silu_mul,
    .gelu_tanh_mul = ref_gelu_tanh_mul,
    .dot_f32 = ref_dot_f32v,
    .axpy_f32 = ref_axpy_f32,
    .dot_f16 = ref_dot_f16v,
    .axpy_f16 = ref_axpy_f16,
    .f32_to_f16 = ref_f32_to_f16,
};
