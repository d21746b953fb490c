/* SPDX-License-Identifier: Apache-2.0
 *
 * kernels/kernels.h: the numeric operations the engine's forward pass calls.
 *
 * Every op has a plain C reference (kernels/ref/, the test oracle) and SIMD
 * variants (x86/, arm/) chosen once at run time from the CPU's features by
 * dispatch.c; GLOAM_KERNELS=ref forces the reference. Callers never #ifdef.
 *
 * Conventions: a weight matrix W is [rows, cols] row-major, each row stored
 * in W's dtype (cols a multiple of the block size), so a row is
 * dtype_row_bytes(t, cols) bytes. Activations are float32.
 *
 * Numerics: F32, F16 and BF16 weights are float32-accurate on every path:
 * weights are widened exactly to float32 and multiplied with float32 X in
 * float32 (on AMX, BF16 and F16 prefill split X into two bf16 parts, hi +
 * lo, which represent it to 16 bits, <= 2^-16, and F16 weights exactly into
 * bf16 hi + lo). GLOAM_FAST_BF16=1 opts into rounding X to bf16 for
 * BF16 weights (faster prefill, <= 2^-8 error per product). For quantized
 * weights SIMD backends quantize X to 8 bits (Q8_0/Q8_K blocks, as llama.cpp
 * does); on AMX CPUs their prefill (>= 32 X rows and W rows) rounds weights
 * and X to bf16 and accumulates in float32: normalised MSE vs the exact
 * product ~1e-5. GLOAM_AMX=0 disables AMX. See docs/kernels.md.
 *
 * Threading: ops that take a kern_pool split their rows across its threads;
 * pool may be NULL (run on the caller's thread). Ops are reentrant; a pool is
 * used by one caller at a time.
 *
 * Ownership: nothing here keeps pointers after returning.
 */
#ifndef GLOAM_KERNELS_KERNELS_H
#define GLOAM_KERNELS_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#include "kernels/dtype.h"

typedef struct kern_pool kern_pool;

/* A persistent pool of n_threads workers (including the caller's thread, so
 * n_threads = 1 creates no thread). NULL on failure. */
kern_pool *kern_pool_new(int n_threads);
void kern_pool_free(kern_pool *p);
/* Frees the pool's scratch buffer (packed activations) when it is larger
 * than keep bytes; the next large matmul allocates it again. Call between
 * jobs, e.g. after a prefill, so decoding does not keep it resident. */
void kern_pool_trim(kern_pool *p, size_t keep);
int kern_pool_threads(const kern_pool *p);
/* Runs fn(ctx, i, n) for i in [0, n) across the pool and waits. */
void kern_pool_run(kern_pool *p, void (*fn)(void *ctx, int i, int n), void *ctx, int n);

/* Y[n_rows_x, rows] = X[n_rows_x, cols] . W[rows, cols]^T
 * (n_rows_x = 1 is a matrix-vector product). For t == DT_MLX, W is a
 * `const kern_mlx *` (MLX affine groups, kernels/mlx.h), not row bytes. */
void kern_matmul(kern_pool *p, enum dtype t, const void *W, const float *X, float *Y,
                 int64_t n_rows_x, int64_t rows, int64_t cols);

/* Row conversions: n values (a multiple of the block size). */
void kern_dequantize_row(enum dtype t, const void *src, float *dst, int64_t n);
/* Quantizes as llama.cpp's reference quantizers do. t: F32, F16, BF16,
 * Q8_0, Q4_0, Q4_K, Q6_K, Q8_K. */
void kern_quantize_row(enum dtype t, const float *src, void *dst, int64_t n);

/* Elementwise and reductions (float32). */
void kern_rmsnorm(float *out, const float *x, const float *w, int64_t n, float eps,
                  float w_offset); /* out = x / rms(x) * (w + w_offset) */
void kern_softmax(float *x, int64_t n);
void kern_silu_mul(float *gate, const float *up, int64_t n);      /* gate = silu(gate)*up */
void kern_gelu_tanh_mul(float *gate, const float *up, int64_t n); /* gate = gelu(gate)*up */
float kern_dot_f32(const float *a, const float *b, int64_t n);
void kern_axpy_f32(float *y, float a, const float *x, int64_t n); /* y += a*x */

/* F16 KV-cache helpers (keys/values stored as IEEE half): */
float kern_dot_f16(const float *a, const f16_bits *b, int64_t n);     /* sum a[i]*b[i] */
void kern_axpy_f16(float *y, float a, const f16_bits *x, int64_t n);  /* y += a*x */
void kern_f32_to_f16_row(f16_bits *dst, const float *src, int64_t n); /* round to nearest even */

/* Which implementation dispatch chose ("ref", "avx2", "avx512", ...). */
const char *kern_backend_name(void);

#endif
