/* SPDX-License-Identifier: Apache-2.0
 *
 * kernels/dtype.h: element and block types of weights and activations, and
 * the byte layout of the quantized blocks, defined once for the whole tree.
 *
 * Quantized formats are llama.cpp's (ggml) block formats, bit for bit, so
 * GGUF files map directly onto them: a row of `n` values (n a multiple of
 * the block size) is n / block_elems consecutive blocks.
 *
 * Ownership: types only; nothing here allocates.
 */
#ifndef GLOAM_KERNELS_DTYPE_H
#define GLOAM_KERNELS_DTYPE_H

#include <assert.h>
#include <stddef.h>
#include <stdint.h>

enum dtype {
  DT_F32 = 0,
  DT_F16,
  DT_BF16,
  DT_Q8_0,
  DT_Q4_0,
  DT_Q4_K,
  DT_Q6_K,
  DT_Q8_K, /* activations only (K-quant dot products), as in ggml */
  DT_U32,  /* storage only: MLX's packed quantized weights (safetensors U32) */
  DT_MLX,  /* a matrix given as a kern_mlx descriptor (kernels/mlx.h), not bytes */
  DT_COUNT
};

/* IEEE half and bfloat16 storage. */
typedef uint16_t f16_bits;
typedef uint16_t bf16_bits;

#define QK8_0 32
typedef struct block_q8_0 {
  f16_bits d;       /* scale */
  int8_t qs[QK8_0]; /* x = d * q */
} block_q8_0;
static_assert(sizeof(block_q8_0) == 34, "block_q8_0 layout");

#define QK4_0 32
typedef struct block_q4_0 {
  f16_bits d;            /* scale */
  uint8_t qs[QK4_0 / 2]; /* x[j] = d * ((qs[j] & 15) - 8), x[j+16] from the high nibble */
} block_q4_0;
static_assert(sizeof(block_q4_0) == 18, "block_q4_0 layout");

#define QK_K 256
#define K_SCALE_SIZE 12
typedef struct block_q4_K {
  f16_bits d;                   /* super-block scale for quantized scales */
  f16_bits dmin;                /* super-block scale for quantized mins */
  uint8_t scales[K_SCALE_SIZE]; /* 8 scales and 8 mins, 6 bits each */
  uint8_t qs[QK_K / 2];         /* 4-bit quants */
} block_q4_K;
static_assert(sizeof(block_q4_K) == 144, "block_q4_K layout");

typedef struct block_q6_K {
  uint8_t ql[QK_K / 2];     /* low 4 bits */
  uint8_t qh[QK_K / 4];     /* high 2 bits */
  int8_t scales[QK_K / 16]; /* 8-bit scales */
  f16_bits d;               /* super-block scale */
} block_q6_K;
static_assert(sizeof(block_q6_K) == 210, "block_q6_K layout");

typedef struct block_q8_K {
  float d;                  /* delta */
  int8_t qs[QK_K];          /* quants */
  int16_t bsums[QK_K / 16]; /* sum of quants in groups of 16 */
} block_q8_K;
static_assert(sizeof(block_q8_K) == 292, "block_q8_K layout");

/* Elements per block (1 for F32/F16/BF16) and bytes per block. */
int dtype_block_elems(enum dtype t);
size_t dtype_block_bytes(enum dtype t);
/* Bytes of a row of n elements; 0 when n is not a multiple of the block. */
size_t dtype_row_bytes(enum dtype t, int64_t n);
/* "f32", "q4_K", ...; "?" for out-of-range values. */
const char *dtype_name(enum dtype t);

/* Scalar conversions (exact round-to-nearest-even for the narrowing ones). */
float f16_to_f32(f16_bits h);
f16_bits f32_to_f16(float f);
float bf16_to_f32(bf16_bits h);
bf16_bits f32_to_bf16(float f);

#endif
