/* SPDX-License-Identifier: Apache-2.0
 *
 * kernels/x86/avx2.c: the AVX2 + FMA + F16C backend (Haswell and later).
 * Built with -mavx2 -mfma -mf16c for this file only; dispatch.c selects it
 * only when cpuid reports those features. The kernels live in x86_body.h.
 *
 * Thread safety: pure functions; the backend table is immutable.
 */
#define KX_NAME "avx2"
#include "kernels/x86/x86_body.h"

const kern_backend kern_backend_avx2 = {
    .name = KX_NAME,
    .types =
        {
            [DT_F32] = {1, 4, NULL, kx_dot_f32_256, NULL, NULL},
            [DT_F16] = {1, 4, NULL, kx_dot_f16_256, NULL, NULL},
            [DT_BF16] = {1, 4, NULL, kx_dot_bf16_256, NULL, NULL},
            [DT_Q8_0] = {QK8_0, sizeof(block_q8_0x), kx_xconv_q8_0x, kx_dot_q8_0, NULL, NULL},
            [DT_Q4_0] = {QK8_0, sizeof(block_q8_0x), kx_xconv_q8_0x, kx_dot_q4_0, NULL, NULL},
            [DT_Q4_K] = {QK_K, sizeof(block_q8_K), kx_xconv_q8_K, kx_dot_q4_K, NULL, NULL},
            [DT_Q6_K] = {QK_K, sizeof(block_q8_K), kx_xconv_q8_K, kx_dot_q6_K, NULL, NULL},
        },
    .rmsnorm = kx_rmsnorm,
    .softmax = kx_softmax,
    .silu_mul = kx_silu_mul,
    .gelu_tanh_mul = kx_gelu_tanh_mul,
    .dot_f32 = kx_dot_f32,
    .axpy_f32 = kx_axpy_f32,
    .dot_f16 = kx_dot_f16v,
    .axpy_f16 = kx_axpy_f16,
    .f32_to_f16 = kx_f32_to_f16,
};
