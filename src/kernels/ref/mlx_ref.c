/* SPDX-License-Identifier: Apache-2.0
 *
 * kernels/ref/mlx_ref.c: plain C for MLX's affine group quantization
 * (kernels/mlx.h): row dequantization, quantization as mlx.core.quantize
 * does it, and the reference dot (the oracle the SIMD kernel is tested
 * against): each group is dequantized into a stack buffer and multiplied
 * with float32 X in float32.
 *
 * Thread safety: pure functions.
 */
#include <math.h>
#include <stdbool.h>

#include "kernels/mlx_impl.h"

#define MLX_MAX_GROUP 128

int kern_mlx_supported(int bits, int group, enum dtype sb_type) {
  return (bits == 4 || bits == 8) && (group == 32 || group == 64 || group == 128) &&
         (sb_type == DT_F32 || sb_type == DT_F16 || sb_type == DT_BF16);
}

/* Values [j0, j0 + n) of row r (n a multiple of 32 / bits, j0 too). */
static void unpack(const kern_mlx *w, int64_t r, int64_t cols, int64_t j0, int64_t n, float *dst) {
  int per = 32 / w->bits;
  uint32_t mask = (1u << w->bits) - 1;
  const uint32_t *q = w->q + (size_t)r * (size_t)(cols / per) + j0 / per;
  for (int64_t j = 0; j < n; j++) dst[j] = (float)((q[j / per] >> ((j % per) * w->bits)) & mask);
}

void kern_mlx_dequantize_row(const kern_mlx *w, int64_t r, int64_t cols, float *dst) {
  int64_t ng = cols / w->group;
  unpack(w, r, cols, 0, cols, dst);
  for (int64_t g = 0; g < ng; g++) {
    float s = mlx_sb(w->scales, w->sb_type, r * ng + g);
    float b = mlx_sb(w->biases, w->sb_type, r * ng + g);
    for (int64_t j = g * w->group; j < (g + 1) * w->group; j++) dst[j] = s * dst[j] + b;
  }
}

static void put_sb(void *p, enum dtype t, int64_t i, float v) {
  if (t == DT_F32)
    ((float *)p)[i] = v;
  else if (t == DT_F16)
    ((f16_bits *)p)[i] = f32_to_f16(v);
  else
    ((bf16_bits *)p)[i] = f32_to_bf16(v);
}

void kern_mlx_quantize_row(const float *src, int64_t cols, int bits, int group, enum dtype sb_type,
                           uint32_t *q, void *scales, void *biases) {
  float n_bins = (float)((1 << bits) - 1);
  int per = 32 / bits;
  for (int64_t g = 0; g < cols / group; g++) {
    const float *x = src + g * group;
    float lo = INFINITY, hi = -INFINITY;
    for (int j = 0; j < group; j++) {
      lo = fminf(lo, x[j]);
      hi = fmaxf(hi, x[j]);
    }
    /* the edge of larger magnitude becomes an exact level (MLX) */
    bool neg = fabsf(lo) > fabsf(hi);
    float scale = fmaxf((hi - lo) / n_bins, 1e-7f);
    if (!neg) scale = -scale;
    float edge = neg ? lo : hi;
    float q0 = rintf(edge / scale), bias = 0.0f;
    if (q0 != 0.0f) {
      scale = edge / q0;
      bias = edge;
    }
    for (int j = 0; j < group; j += per) {
      uint32_t word = 0;
      for (int k = 0; k < per; k++) {
        float v = fminf(fmaxf(rintf((x[j + k] - bias) / scale), 0.0f), n_bins);
        word |= (uint32_t)v << (k * bits);
      }
      q[(g * group + j) / per] = word;
    }
    put_sb(scales, sb_type, g, scale);
    put_sb(biases, sb_type, g, bias);
  }
}

void ref_mlx_dot(const kern_mlx *w, int64_t r, int64_t cols, int nx, const float *x,
                 size_t x_stride, float *y, size_t y_stride) {
  float tmp[MLX_MAX_GROUP];
  float acc[KERN_MAX_NX] = {0};
  int64_t ng = cols / w->group;
  for (int64_t g = 0; g < ng; g++) {
    float s = mlx_sb(w->scales, w->sb_type, r * ng + g);
    float b = mlx_sb(w->biases, w->sb_type, r * ng + g);
    unpack(w, r, cols, g * w->group, w->group, tmp);
    for (int k = 0; k < w->group; k++) tmp[k] = s * tmp[k] + b;
    for (int i = 0; i < nx; i++) {
      const float *xi = x + (size_t)i * x_stride + g * w->group;
      float sum = 0.0f;
      for (int k = 0; k < w->group; k++) sum += tmp[k] * xi[k];
      acc[i] += sum;
    }
  }
  for (int i = 0; i < nx; i++) y[(size_t)i * y_stride] = acc[i];
}
