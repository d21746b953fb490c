/* SPDX-License-Identifier: Apache-2.0
 *
 * kernels/arm/neon_dotprod.c: the NEON backend built for ARMv8.2-A with the
 * dot-product extension (-march=armv8.2-a+dotprod for this file only), so
 * the 8-bit block dots use SDOT. dispatch.c selects it only when the CPU
 * reports the extension (Linux: HWCAP_ASIMDDP; macOS: FEAT_DotProd).
 *
 * Thread safety: pure functions; the backend table is immutable.
 */
#define KN_NAME "neon_dotprod"
#define KN_MLX_DOT kern_mlx_neon_dotprod_dot
#include "kernels/arm/neon_body.h"

KN_BACKEND(kern_backend_neon_dotprod);
