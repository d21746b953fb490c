/* SPDX-License-Identifier: Apache-2.0
 *
 * kernels/x86/mlx_vnni.c: the MLX affine dot kernel for the avx512 backend
 * (x86/mlx_x86_body.h with vpdpbusd on ymm), built with AVX2 + AVX512-VNNI
 * + AVX512-VL for this file only; used only when dispatch chose avx512.
 *
 * Thread safety: pure functions.
 */
#define MX_DOT_NAME kern_mlx_vnni_dot
#define MX_VNNI 1
#include "kernels/x86/mlx_x86_body.h"
