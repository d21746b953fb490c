/* SPDX-License-Identifier: Apache-2.0
 *
 * kernels/mlx.h: MLX's affine group quantization (mlx.core.quantize, mode
 * "affine"), read in place: the matrix products and row lookups of weights
 * stored the way mlx-lm saves them, without widening them to float32.
 *
 *   kern_mlx w = {.q = packed, .scales = s, .biases = b, .sb_type = DT_BF16,
 *                 .bits = 4, .group = 64};
 *   kern_matmul(pool, DT_MLX, &w, X, Y, n_rows_x, rows, cols);   // Y = X . W^T
 *   kern_mlx_dequantize_row(&w, token, cols, x);                  // embedding row
 *
 * Layout of a [rows, cols] matrix (MLX, bits 4 or 8):
 *   q       uint32 [rows, cols * bits / 32]: value j of a row sits in word
 *           j / (32 / bits) at bit (j % (32 / bits)) * bits, i.e. packed
 *           little-end first (for 4 bits: byte k holds value 2k in its low
 *           nibble and 2k + 1 in its high nibble);
 *   scales, biases  [rows, cols / group] in sb_type (F32, F16 or BF16);
 *   w[r][j] = scales[r][j / group] * q[r][j] + biases[r][j / group].
 * group is 32, 64 or 128 (a multiple of 32), cols a multiple of group.
 *
 * kern_matmul() with DT_MLX takes W as a `const kern_mlx *`. The reference
 * backend dequantizes a group at a time and takes float dot products with
 * float32 X (the oracle); the SIMD backends (avx2, avx512 through the
 * same AVX2 code, neon, neon_dotprod) quantize X to 8 bits with one scale
 * per weight group and use integer dot products: per block, scale * sum(q * xq) * d plus
 * bias * sum(x) (8-bit weights are offset by -128 for the signed multiply).
 *
 * Ownership: a kern_mlx borrows its three arrays. Thread safety: reentrant;
 * kern_matmul uses the pool as for other types.
 */
#ifndef GLOAM_KERNELS_MLX_H
#define GLOAM_KERNELS_MLX_H

#include <stdint.h>

#include "kernels/kernels.h"

#define KERN_MLX_MIN_GROUP 32

typedef struct kern_mlx {
  const uint32_t *q;  /* [rows, cols * bits / 32] */
  const void *scales; /* [rows, cols / group] */
  const void *biases; /* [rows, cols / group] */
  enum dtype sb_type; /* DT_F32, DT_F16 or DT_BF16 */
  int bits;           /* 4 or 8 */
  int group;          /* 32, 64 or 128 */
} kern_mlx;

/* 1 when bits, group and sb_type are a combination these kernels run. */
int kern_mlx_supported(int bits, int group, enum dtype sb_type);

/* dst[0..cols) = row r of w, dequantized. */
void kern_mlx_dequantize_row(const kern_mlx *w, int64_t r, int64_t cols, float *dst);

/* Quantizes one row of cols float32 values as mlx.core.quantize does
 * (per group: the edge of larger magnitude maps exactly to a level, scale
 * (max - min) / (2^bits - 1), at least 1e-7), writing cols * bits / 32
 * words to q and cols / group values (rounded to sb_type) to scales and
 * biases. */
void kern_mlx_quantize_row(const float *src, int64_t cols, int bits, int group, enum dtype sb_type,
                           uint32_t *q, void *scales, void *biases);

#endif
