/* SPDX-License-Identifier: Apache-2.0
 *
 * kernels/x86/mlx_avx2.c: the MLX affine dot kernel for the avx2 backend
 * (x86/mlx_x86_body.h), built with -mavx2 -mfma -mf16c for this file only.
 *
 * Thread safety: pure functions.
 */
#define MX_DOT_NAME kern_mlx_avx2_dot
#define MX_XCONV_NAME kern_mlx_x86_xconv
#include "kernels/x86/mlx_x86_body.h"
