/* SPDX-License-Identifier: Apache-2.0
 *
 * tests/kernels/test_mlx_kernels.c: the MLX affine-quantization kernels
 * (kernels/mlx.h). The bit order is checked against a matrix packed by hand
 * from MLX's documented layout (not by our quantizer); quantization against
 * MLX's algorithm worked by hand on a small group; the matmul of every
 * backend (ref, avx2, avx512, neon, neon_dotprod) for 4 and 8 bits, groups 32/64/128 and
 * f32/f16/bf16 scales against a float64 product of the dequantized weights
 * (= dequantize-then-float32 matmul), pools of 1 and 2 threads and none,
 * prefill shapes (AMX where available, with remainders).
 */
#include <stdlib.h>

#include "test.h"
#include "kernels/kern_impl.h"
#include "kernels/mlx.h"

static uint64_t rng_state = 0x243f6a8885a308d3ull;
static uint32_t rng_u32(void) {
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return (uint32_t)(rng_state >> 16);
}
static float rng_sym(void) { /* uniform in [-1, 1) */
  return (float)(rng_u32() & 0xffffff) / 8388608.0f - 1.0f;
}

/* MLX's layout written out by hand: a 2 x 64 matrix, 4 bits, group 32.
 * Row 0 values j = j % 16; row 1 values 15 - (j % 16). Word k of a row
 * holds values 8k..8k+7, value 8k+i in bits [4i, 4i+4). */
static void test_bit_order_4bit(void) {
  uint32_t q[2 * 8];
  for (int k = 0; k < 8; k++) {
    /* row 0, word k: values (8k % 16) .. +7 = 0..7 or 8..15 */
    q[k] = (k % 2 == 0) ? 0x76543210u : 0xfedcba98u;
    q[8 + k] = (k % 2 == 0) ? 0x89abcdefu : 0x01234567u;
  }
  float scales[4] = {1.0f, 2.0f, 0.5f, -1.0f}, biases[4] = {0.0f, -3.0f, 1.0f, 0.25f};
  kern_mlx w = {q, scales, biases, DT_F32, 4, 32};
  float row[64];
  for (int r = 0; r < 2; r++) {
    kern_mlx_dequantize_row(&w, r, 64, row);
    for (int j = 0; j < 64; j++) {
      float qv = r == 0 ? (float)(j % 16) : (float)(15 - j % 16);
      int g = r * 2 + j / 32;
      ASSERT_NEAR(row[j], scales[g] * qv + biases[g], 0.0);
    }
  }
}

/* 8 bits: word k holds values 4k..4k+3, value 4k+i in bits [8i, 8i+8). */
static void test_bit_order_8bit(void) {
  uint32_t q[8]; /* one row of 32 values: value j = 7j + 3 (mod 256) */
  for (int k = 0; k < 8; k++) {
    uint32_t word = 0;
    for (int i = 0; i < 4; i++) word |= (uint32_t)((7 * (4 * k + i) + 3) & 255) << (8 * i);
    q[k] = word;
  }
  ASSERT_EQ_UINT(q[0], 0x18110a03u); /* values 3, 10, 17, 24 */
  bf16_bits s = f32_to_bf16(0.5f), b = f32_to_bf16(-2.0f);
  kern_mlx w = {q, &s, &b, DT_BF16, 8, 32};
  float row[32];
  kern_mlx_dequantize_row(&w, 0, 32, row);
  for (int j = 0; j < 32; j++) ASSERT_NEAR(row[j], 0.5f * (float)((7 * j + 3) & 255) - 2.0f, 0.0);
}

/* MLX's affine quantization (mlx/backend/cpu/quantized.cpp) of one group
 * of 32, worked by hand. */
static void test_quantize_hand(void) {
  float x[32];
  /* max 1.5, min -0.5: |max| wins, scale = -(2 / 15), edge 1.5, q0 =
   * rint(1.5 / -0.1333) = rint(-11.25) = -11, scale = 1.5 / -11, bias 1.5 */
  for (int j = 0; j < 32; j++) x[j] = -0.5f + 2.0f * (float)j / 31.0f;
  uint32_t q[8]; /* 8 bits: 8 words */
  float s, b;
  kern_mlx_quantize_row(x, 32, 4, 32, DT_F32, q, &s, &b);
  ASSERT_NEAR(s, 1.5f / -11.0f, 1e-7);
  ASSERT_NEAR(b, 1.5f, 0.0);
  /* x = 1.5 -> level 0; x = -0.5 -> rint(-2 / s) = rint(14.67) = 15 */
  ASSERT_EQ_UINT((q[3] >> 28) & 15u, 0u);
  ASSERT_EQ_UINT(q[0] & 15u, 15u);
  kern_mlx w = {q, &s, &b, DT_F32, 4, 32};
  float back[32];
  kern_mlx_dequantize_row(&w, 0, 32, back);
  for (int j = 0; j < 32; j++) ASSERT_TRUE(fabsf(back[j] - x[j]) <= fabsf(s) * 0.5f + 1e-6f);
  /* an all-zero group stays zero */
  float z[32] = {0};
  kern_mlx_quantize_row(z, 32, 8, 32, DT_F32, q, &s, &b);
  kern_mlx_dequantize_row(&(kern_mlx){q, &s, &b, DT_F32, 8, 32}, 0, 32, back);
  for (int j = 0; j < 32; j++) ASSERT_NEAR(back[j], 0.0, 0.0);
}

typedef struct mq {
  uint32_t *q;
  void *s, *b;
  kern_mlx w;
} mq;

static void mq_make(mq *m, int rows, int cols, int bits, int group, enum dtype sbt) {
  size_t sbsz = sbt == DT_F32 ? 4 : 2, ng = (size_t)(cols / group);
  m->q = malloc((size_t)rows * (size_t)cols * (size_t)bits / 8);
  m->s = malloc((size_t)rows * ng * sbsz);
  m->b = malloc((size_t)rows * ng * sbsz);
  ASSERT_TRUE(m->q && m->s && m->b);
  float *row = malloc(sizeof(float) * (size_t)cols);
  for (int r = 0; r < rows; r++) {
    for (int c = 0; c < cols; c++) row[c] = rng_sym() * 0.1f + (r % 3 == 0 ? 0.02f : 0.0f);
    kern_mlx_quantize_row(
        row, cols, bits, group, sbt, m->q + (size_t)r * (size_t)(cols * bits / 32),
        (uint8_t *)m->s + (size_t)r * ng * sbsz, (uint8_t *)m->b + (size_t)r * ng * sbsz);
  }
  free(row);
  m->w = (kern_mlx){m->q, m->s, m->b, sbt, bits, group};
}

static void mq_free(mq *m) {
  free(m->q);
  free(m->s);
  free(m->b);
}

/* NMSE of backend b's product against float64 over the dequantized rows. */
static double mlx_nmse(const kern_backend *b, kern_pool *p, mq *m, int nx, int rows, int cols) {
  float *X = malloc(sizeof(float) * (size_t)nx * (size_t)cols);
  float *Y = malloc(sizeof(float) * (size_t)nx * (size_t)rows);
  float *Wd = malloc(sizeof(float) * (size_t)rows * (size_t)cols);
  ASSERT_TRUE(X && Y && Wd);
  for (int i = 0; i < nx * cols; i++) X[i] = rng_sym();
  for (int r = 0; r < rows; r++) kern_mlx_dequantize_row(&m->w, r, cols, Wd + (size_t)r * cols);
  kern_matmul_on(b, p, DT_MLX, &m->w, X, Y, nx, rows, cols);
  double num = 0, den = 0;
  for (int i = 0; i < nx; i++)
    for (int r = 0; r < rows; r++) {
      double ref = 0;
      for (int c = 0; c < cols; c++)
        ref += (double)X[(size_t)i * cols + c] * Wd[(size_t)r * cols + c];
      double d = Y[(size_t)i * rows + r] - ref;
      num += d * d;
      den += ref * ref;
    }
  free(X);
  free(Y);
  free(Wd);
  return den > 0 ? num / den : num;
}

static void check_backend(const char *name, double bound) {
  const kern_backend *b = kern_backend_find(name);
  if (!b) TEST_SKIP("backend not available on this CPU");
  static const int bits[2] = {4, 8}, groups[3] = {32, 64, 128};
  static const enum dtype sbts[3] = {DT_F32, DT_F16, DT_BF16};
  kern_pool *pools[3] = {NULL, kern_pool_new(1), kern_pool_new(2)};
  double worst = 0;
  for (int bi = 0; bi < 2; bi++)
    for (int gi = 0; gi < 3; gi++)
      for (int si = 0; si < 3; si++) {
        int rows = 1 + (int)(rng_u32() % 37), cols = groups[gi] * (1 + (int)(rng_u32() % 12));
        int nx = 1 + (int)(rng_u32() % 9);
        mq m;
        mq_make(&m, rows, cols, bits[bi], groups[gi], sbts[si]);
        for (int pi = 0; pi < 3; pi++) {
          double e = mlx_nmse(b, pools[pi], &m, nx, rows, cols);
          if (e > worst) worst = e;
          if (!(e < bound))
            test_fail(__FILE__, __LINE__, "%s bits %d group %d sb %s: nmse %g", name, bits[bi],
                      groups[gi], dtype_name(sbts[si]), e);
        }
        mq_free(&m);
      }
  /* 9 and 17 groups per row (the 8-wide bias dot and its tail) for every
   * scale type */
  for (int si = 0; si < 3; si++)
    for (int bi = 0; bi < 2; bi++) {
      mq m9;
      int cols = bi ? 17 * 32 : 9 * 64;
      mq_make(&m9, 5, cols, bits[bi], bi ? 32 : 64, sbts[si]);
      double e9 = mlx_nmse(b, pools[1], &m9, 3, 5, cols);
      if (!(e9 < bound)) test_fail(__FILE__, __LINE__, "%s wide rows: nmse %g", name, e9);
      mq_free(&m9);
    }
  /* prefill shapes with remainders in both dimensions (on AMX CPUs the
   * 32-aligned part runs on tiles, the rest on the dot kernels) */
  for (int bi = 0; bi < 2; bi++)
    for (int gi = 0; gi < 3; gi++) {
      mq mp;
      int cols = 4 * groups[gi];
      mq_make(&mp, 45, cols, bits[bi], groups[gi], sbts[gi]);
      double ep = mlx_nmse(b, pools[2], &mp, 40, 45, cols);
      if (!(ep < bound)) test_fail(__FILE__, __LINE__, "%s prefill: nmse %g", name, ep);
      if (ep > worst) worst = ep;
      mq_free(&mp);
    }
  /* a prefill-sized product (many X rows, model-like width) */
  mq m;
  mq_make(&m, 96, 1024, 4, 64, DT_BF16);
  double e = mlx_nmse(b, pools[2], &m, 70, 96, 1024);
  ASSERT_TRUE(e < bound);
  mq_free(&m);
  printf("  mlx %s: worst nmse %.3g\n", name, worst > e ? worst : e);
  /* a SIMD backend runs its own 8-bit-activation kernel, whose rounding
   * shows (the reference path would be float32-exact, < 1e-10) */
  if (bound > 1e-10 && !(worst > 1e-9))
    test_fail(__FILE__, __LINE__, "%s: nmse %g, the float reference path?", name, worst);
  for (int pi = 1; pi < 3; pi++) kern_pool_free(pools[pi]);
}

/* ref: float32 products of the exact weights; SIMD: 8-bit activations
 * (the bound of the Q8_0/Q4_0 kernels, docs/kernels.md). */
static void test_matmul_ref(void) {
  check_backend("ref", 1e-10);
}
static void test_matmul_avx2(void) {
  check_backend("avx2", 5e-4);
}
static void test_matmul_avx512(void) {
  check_backend("avx512", 5e-4);
}
static void test_matmul_neon(void) {
  check_backend("neon", 5e-4);
}
static void test_matmul_neon_dotprod(void) {
  check_backend("neon_dotprod", 5e-4);
}

/* the SIMD kernels (avx2, avx512's VNNI one, neon, neon_dotprod's SDOT
 * one) against ref on the same data: equal up to the 8-bit activation
 * rounding, element by element. */
static void test_simd_vs_ref(void) {
  static const char *names[] = {"avx2", "avx512", "neon", "neon_dotprod"};
  int ran = 0;
  for (int k = 0; k < 8; k++) {
    int bits = k % 2 ? 8 : 4;
    const kern_backend *b = kern_backend_find(names[k / 2]);
    if (!b) continue;
    ran++;
    mq m;
    mq_make(&m, 33, 256, bits, 64, DT_F16);
    float X[3 * 256], Yr[3 * 33], Ys[3 * 33];
    for (int i = 0; i < 3 * 256; i++) X[i] = rng_sym();
    kern_matmul_on(&kern_backend_ref, NULL, DT_MLX, &m.w, X, Yr, 3, 33, 256);
    kern_matmul_on(b, NULL, DT_MLX, &m.w, X, Ys, 3, 33, 256);
    for (int i = 0; i < 3 * 33; i++) ASSERT_NEAR(Ys[i], Yr[i], 0.02 * (1.0 + fabs(Yr[i])));
    mq_free(&m);
  }
  if (!ran) TEST_SKIP("no SIMD backend on this CPU");
}

static void test_supported(void) {
  ASSERT_TRUE(kern_mlx_supported(4, 64, DT_BF16));
  ASSERT_TRUE(kern_mlx_supported(8, 128, DT_F32));
  ASSERT_FALSE(kern_mlx_supported(3, 64, DT_F16));
  ASSERT_FALSE(kern_mlx_supported(4, 16, DT_F16));
  ASSERT_FALSE(kern_mlx_supported(4, 64, DT_Q8_0));
  ASSERT_EQ_UINT(dtype_row_bytes(DT_MLX, 64), 0u);
  ASSERT_EQ_UINT(dtype_row_bytes(DT_U32, 3), 12u);
}

int main(int argc, char **argv) {
  static const test_case tests[] = {
      TEST(test_bit_order_4bit),
      TEST(test_bit_order_8bit),
      TEST(test_quantize_hand),
      TEST(test_matmul_ref),
      TEST(test_matmul_avx2),
      TEST(test_matmul_avx512),
      TEST(test_matmul_neon),
      TEST(test_matmul_neon_dotprod),
      TEST(test_simd_vs_ref),
      TEST(test_supported),
      {0},
  };
  return test_main(argc, argv, tests);
}
