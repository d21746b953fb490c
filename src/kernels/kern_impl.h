/* SPDX-License-Identifier: Apache-2.0
 *
 * kernels/kern_impl.h: internal seams between the public ops (kernels.h), the
 * matmul driver, the thread pool and the per-ISA backends (ref/, x86/, arm/).
 *
 * A backend is a table of function pointers. For each weight type it gives
 * the activation format the weights are dotted against (float32 for the
 * reference and float weights, 8-bit blocks (block_q8_0x, block_q8_K) for
 * quantized weights in SIMD backends; bf16 only in the opt-in
 * GLOAM_FAST_BF16 kernels), a row converter into that format, and a dot kernel that multiplies one
 * weight row by up to KERN_MAX_NX activation rows at once (so a weight row loaded once serves
 * several tokens during prefill). matmul.c tiles, threads and calls it.
 *
 * Ownership: backends are static const tables; nothing here allocates.
 * Thread safety: all functions are reentrant.
 */
#ifndef GLOAM_KERNELS_KERN_IMPL_H
#define GLOAM_KERNELS_KERN_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "kernels/kernels.h"

#define KERN_MAX_NX 4

/* y[i * y_stride] = dot(w_row, x + i * x_stride) for i < nx (1..KERN_MAX_NX).
 * w_row: cols values of the weight type; x rows: cols values of vec_type,
 * x_stride in bytes. */
typedef void (*kern_dot_fn)(int64_t cols, int nx, const void *w_row, const void *x, size_t x_stride,
                            float *y, size_t y_stride);
/* Converts n float32 activations into the dot's activation format. */
typedef void (*kern_xconv_fn)(const float *src, void *dst, int64_t n);
/* Optional register-tiled product of nw (1..4) weight rows (w_stride bytes
 * apart) with nx (1..KERN_MAX_NX) activation rows:
 * y[i * y_stride + r] = dot(w_r, x_i). */
typedef void (*kern_gemm_fn)(int64_t cols, int nw, int nx, const void *w, size_t w_stride,
                             const void *x, size_t x_stride, float *y, size_t y_stride);

typedef struct kern_type_ops {
  int x_block_elems;   /* activation block: elements ... */
  int x_block_bytes;   /* ... and bytes (1 and 4 for float32) */
  kern_xconv_fn xconv; /* NULL: the dot reads float32 X directly */
  kern_dot_fn dot;
  kern_gemm_fn gemm;  /* NULL: prefill calls dot per weight row */
  kern_gemm_fn rows1; /* optional, decode: nw (1..4) weight rows against
                         one activation row (nx 1); NULL: dot per row */
} kern_type_ops;

/* Activations for Q8_0 / Q4_0 weights in the x86 backends: a Q8_0 block
 * with its (f16-rounded) scale as float and s = d * sum(qs) precomputed. */
typedef struct block_q8_0x {
  float d;
  float s;
  int8_t qs[QK8_0];
} block_q8_0x;
static_assert(sizeof(block_q8_0x) == 40, "block_q8_0x layout");

typedef struct kern_backend {
  const char *name;
  kern_type_ops types[DT_COUNT]; /* dot == NULL: type not supported as weights */
  void (*rmsnorm)(float *out, const float *x, const float *w, int64_t n, float eps, float w_offset);
  void (*softmax)(float *x, int64_t n);
  void (*silu_mul)(float *gate, const float *up, int64_t n);
  void (*gelu_tanh_mul)(float *gate, const float *up, int64_t n);
  float (*dot_f32)(const float *a, const float *b, int64_t n);
  void (*axpy_f32)(float *y, float a, const float *x, int64_t n);
  float (*dot_f16)(const float *a, const f16_bits *b, int64_t n);
  void (*axpy_f16)(float *y, float a, const f16_bits *x, int64_t n);
  void (*f32_to_f16)(f16_bits *dst, const float *src, int64_t n);
} kern_backend;

/* The backends compiled in (NULL where not built for this architecture). */
extern const kern_backend kern_backend_ref;
#if defined(GLOAM_KERNELS_X86)
extern const kern_backend kern_backend_avx2;
extern const kern_backend kern_backend_avx512;
/* avx512's BF16 kernels on bf16-rounded activations (vdpbf16ps), used in
 * place of its float32-accurate ones only when kern_fast_bf16(). */
extern const kern_type_ops kern_avx512_bf16_fast;

/* AMX-BF16 prefill (x86/amx.c). kern_amx_ready(): this CPU has AMX-TILE and
 * AMX-BF16, the kernel granted tile data (arch_prctl), and GLOAM_AMX is not
 * "0"; decided once. kern_amx_matmul(): Y[i * ldy + r] = X[i] . W[r] for
 * i < nx, r < rows, where nx and rows are multiples of 32 and cols of 32,
 * t is BF16, F16, Q8_0, Q4_0, Q4_K, Q6_K or DT_MLX (W then a kern_mlx *, groups
 * dividing 512); quantized weights are dequantized to
 * bf16, activations are rounded to bf16, products accumulate in float32.
 * For BF16 weights the activations are split into hi + lo bf16 parts (two
 * tile passes, <= 2^-16 relative error per product) unless kern_fast_bf16();
 * F16 weights are split exactly into bf16 hi + lo as well (three passes,
 * always float32-accurate).
 * Returns 0, or -1 (nothing written) when it cannot
 * run (no AMX, or no memory for the packed activations). */
int kern_amx_ready(void);
int kern_amx_matmul(kern_pool *p, enum dtype t, const uint8_t *W, const float *X, float *Y,
                    int64_t nx, int64_t rows, int64_t cols, size_t ldy);
#endif
#if defined(GLOAM_KERNELS_NEON)
/* AArch64 (arm/): baseline ARMv8.0 NEON, and the same kernels built with
 * +dotprod (SDOT) for CPUs that report it (kern_neon_dotprod_ok). */
extern const kern_backend kern_backend_neon;
extern const kern_backend kern_backend_neon_dotprod;
#endif

/* GLOAM_FAST_BF16=1: BF16 weights are dotted against activations rounded
 * to bf16 (faster, <= 2^-8 relative error per product). Decided once. */
int kern_fast_bf16(void);

/* Backend by name ("ref", "avx2", "avx512", "neon", "neon_dotprod") if compiled in and this
 * CPU can run it; NULL otherwise. */
const kern_backend *kern_backend_find(const char *name);
/* The backend dispatch chose (once, from cpuid and GLOAM_KERNELS). */
const kern_backend *kern_backend_active(void);

/* kern_matmul on an explicit backend (tests compare backends with this). */
void kern_matmul_on(const kern_backend *b, kern_pool *p, enum dtype t, const void *W,
                    const float *X, float *Y, int64_t n_rows_x, int64_t rows, int64_t cols);

/* A scratch buffer of at least len bytes (64-byte aligned) owned by the pool,
 * valid until the next call; NULL if the pool is NULL or allocation fails.
 * Only the pool's current caller may use it. */
void *kern_pool_scratch(kern_pool *p, size_t len);

/* Reference row conversions (ref/quant_ref.c), used by every backend for the
 * formats it has no SIMD version of. */
void ref_dequantize_row(enum dtype t, const void *src, float *dst, int64_t n);
void ref_quantize_row(enum dtype t, const float *src, void *dst, int64_t n);
void ref_quantize_row_q8_0(const float *src, void *dst, int64_t n);
void ref_quantize_row_q8_K(const float *src, void *dst, int64_t n);
/* Reference elementwise ops (ref/ops_ref.c), used by backends without a
 * SIMD version of them. */
void ref_softmax(float *x, int64_t n);
void ref_silu_mul(float *gate, const float *up, int64_t n);
void ref_gelu_tanh_mul(float *gate, const float *up, int64_t n);

#endif
