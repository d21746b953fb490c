/* SPDX-License-Identifier: Apache-2.0
 *
 * kernels/mlx_impl.h: internal seams of the MLX affine kernels (mlx.h)
 * between the matmul driver (mlx_matmul.c), the reference code
 * (ref/mlx_ref.c) and the SIMD kernels (x86/mlx_avx2.c, x86/mlx_vnni.c,
 * arm/neon_mlx.h).
 *
 * Ownership: nothing here allocates. Thread safety: reentrant functions.
 */
#ifndef GLOAM_KERNELS_MLX_IMPL_H
#define GLOAM_KERNELS_MLX_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "kernels/kern_impl.h"
#include "kernels/mlx.h"

/* Scale or bias i of an sb_type array. */
static inline float mlx_sb(const void *p, enum dtype t, int64_t i) {
  if (t == DT_F32) return ((const float *)p)[i];
  if (t == DT_F16) return f16_to_f32(((const f16_bits *)p)[i]);
  return bf16_to_f32(((const bf16_bits *)p)[i]);
}

/* Reference: y[i * y_stride] = dot(row r of w, x + i * x_stride) for
 * i < nx (1..KERN_MAX_NX), x float32 rows of cols values. */
void ref_mlx_dot(const kern_mlx *w, int64_t r, int64_t cols, int nx, const float *x,
                 size_t x_stride, float *y, size_t y_stride);

/* Activation rows for the SIMD MLX kernels (x86/mlx_x86_body.h,
 * arm/neon_mlx.h): int8 values [cols] (for 4 bits, each 32-value block
 * stored even elements first, then odd), then float d [cols / group] (one
 * scale per weight group), then float gsum [cols / group] (d * sum of the
 * group's values). */
static inline size_t mlx_q8_row_bytes(int64_t cols, int group) {
  return (size_t)cols + 2 * sizeof(float) * (size_t)(cols / group);
}

#if defined(GLOAM_KERNELS_X86)
/* Converts cols float32 values into that format for weights of bits/group. */
void kern_mlx_x86_xconv(const float *x, int64_t cols, int group, int bits, uint8_t *dst);
/* y[i * y_stride] = dot(row r of w, activation row i) for i < nx
 * (1..KERN_MAX_NX), rows x_stride bytes apart. avx2: vpmaddubsw; vnni:
 * vpdpbusd on ymm (the avx512 backend). */
void kern_mlx_avx2_dot(const kern_mlx *w, int64_t r, int64_t cols, int nx, const uint8_t *x,
                       size_t x_stride, float *y, size_t y_stride);
void kern_mlx_vnni_dot(const kern_mlx *w, int64_t r, int64_t cols, int nx, const uint8_t *x,
                       size_t x_stride, float *y, size_t y_stride);
#endif

#if defined(GLOAM_KERNELS_NEON)
/* The same for AArch64 (arm/neon_mlx.h, built into both NEON backends):
 * the converter (from neon.c, baseline NEON) and the dots of the neon and
 * neon_dotprod (SDOT) backends. */
void kern_mlx_neon_xconv(const float *x, int64_t cols, int group, int bits, uint8_t *dst);
void kern_mlx_neon_dot(const kern_mlx *w, int64_t r, int64_t cols, int nx, const uint8_t *x,
                       size_t x_stride, float *y, size_t y_stride);
void kern_mlx_neon_dotprod_dot(const kern_mlx *w, int64_t r, int64_t cols, int nx, const uint8_t *x,
                               size_t x_stride, float *y, size_t y_stride);
#endif

/* Y[n_rows_x, rows] = X . W^T on backend b (matmul.c routes DT_MLX here). */
void kern_mlx_matmul(const kern_backend *b, kern_pool *p, const kern_mlx *w, const float *X,
                     float *Y, int64_t n_rows_x, int64_t rows, int64_t cols);

#endif
