/* SPDX-License-Identifier: Apache-2.0
 *
 * kernels/arm/neon.c: the baseline AArch64 NEON backend (ARMv8.0-A, which
 * every 64-bit ARM CPU has), built with the default flags. The kernels live
 * in neon_body.h; dispatch.c prefers neon_dotprod where the CPU has SDOT.
 *
 * Thread safety: pure functions; the backend table is immutable.
 */
#define KN_NAME "neon"
#define KN_MLX_DOT kern_mlx_neon_dot
#define KN_MLX_XCONV kern_mlx_neon_xconv
#include "kernels/arm/neon_body.h"

KN_BACKEND(kern_backend_neon);
