/* SPDX-License-Identifier: Apache-2.0
 *
 * kernels/dtype.c: block geometry and names of the element types, and exact
 * scalar conversions between float32 and IEEE half / bfloat16.
 *
 * The narrowing conversions round to nearest, ties to even, handle
 * subnormals, saturate to infinity on overflow and keep NaNs quiet NaNs, so
 * they agree bit for bit with hardware F16C (vcvtps2ph, rounding imm 0) and
 * with AVX512-BF16's vcvtneps2bf16.
 *
 * Thread safety: pure functions.
 */
#include <math.h>
#include <string.h>

#include "kernels/dtype.h"

static const struct {
  const char *name;
  int elems;
  size_t bytes;
} dtype_info[DT_COUNT] = {
    [DT_F32] = {"f32", 1, 4},
    [DT_F16] = {"f16", 1, 2},
    [DT_BF16] = {"bf16", 1, 2},
    [DT_Q8_0] = {"q8_0", QK8_0, sizeof(block_q8_0)},
    [DT_Q4_0] = {"q4_0", QK4_0, sizeof(block_q4_0)},
    [DT_Q4_K] = {"q4_K", QK_K, sizeof(block_q4_K)},
    [DT_Q6_K] = {"q6_K", QK_K, sizeof(block_q6_K)},
    [DT_Q8_K] = {"q8_K", QK_K, sizeof(block_q8_K)},
    [DT_U32] = {"u32", 1, 4},
    [DT_MLX] = {"mlx", 1, 0}, /* no byte layout: dtype_row_bytes() is 0 */
};

static int dtype_valid(enum dtype t) {
  return (int)t >= 0 && t < DT_COUNT;
}

int dtype_block_elems(enum dtype t) {
  return dtype_valid(t) ? dtype_info[t].elems : 0;
}

size_t dtype_block_bytes(enum dtype t) {
  return dtype_valid(t) ? dtype_info[t].bytes : 0;
}

size_t dtype_row_bytes(enum dtype t, int64_t n) {
  if (!dtype_valid(t) || n < 0) return 0;
  int64_t be = dtype_info[t].elems;
  if (n % be != 0) return 0;
  return (size_t)(n / be) * dtype_info[t].bytes;
}

const char *dtype_name(enum dtype t) {
  return dtype_valid(t) ? dtype_info[t].name : "?";
}

static uint32_t f32_bits(float f) {
  uint32_t u;
  memcpy(&u, &f, sizeof u);
  return u;
}

static float bits_f32(uint32_t u) {
  float f;
  memcpy(&f, &u, sizeof f);
  return f;
}

float f16_to_f32(f16_bits h) {
  uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
  uint32_t e = (h >> 10) & 0x1fu, m = h & 0x3ffu;
  if (e == 0) {
    /* zero or subnormal: m * 2^-24, exact in float32 */
    float v = (float)m * 0x1p-24f;
    return bits_f32(f32_bits(v) | sign);
  }
  if (e == 31) return bits_f32(sign | 0x7f800000u | (m << 13));
  return bits_f32(sign | ((e + 112u) << 23) | (m << 13));
}

f16_bits f32_to_f16(float f) {
  uint32_t x = f32_bits(f);
  uint16_t sign = (uint16_t)((x >> 16) & 0x8000u);
  x &= 0x7fffffffu;
  if (x >= 0x7f800000u) { /* inf or NaN (NaN stays a quiet NaN) */
    if (x == 0x7f800000u) return (f16_bits)(sign | 0x7c00u);
    return (f16_bits)(sign | 0x7e00u | ((x >> 13) & 0x3ffu));
  }
  if (x >= 0x477ff000u) return (f16_bits)(sign | 0x7c00u); /* >= 65520: rounds to inf */
  if (x < 0x38800000u) {
    /* below 2^-14: the result is subnormal (or the smallest normal after
     * rounding). Adding 0.5 puts the half's LSB (2^-24) at float's LSB, so
     * the FPU's own round-to-nearest-even does the rounding. */
    float v = bits_f32(x) + 0.5f;
    return (f16_bits)(sign | (uint16_t)(f32_bits(v) - 0x3f000000u));
  }
  /* normal: rebias the exponent (127 -> 15) and round on bit 13, ties to even */
  uint32_t odd = (x >> 13) & 1u;
  x += 0xc8000fffu + odd; /* (15 - 127) << 23, plus the rounding bias */
  return (f16_bits)(sign | (uint16_t)(x >> 13));
}

float bf16_to_f32(bf16_bits h) {
  return bits_f32((uint32_t)h << 16);
}

bf16_bits f32_to_bf16(float f) {
  uint32_t x = f32_bits(f);
  if ((x & 0x7fffffffu) > 0x7f800000u) return (bf16_bits)((x >> 16) | 0x40u); /* quiet NaN */
  x += 0x7fffu + ((x >> 16) & 1u);
  return (bf16_bits)(x >> 16);
}
