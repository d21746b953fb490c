/* SPDX-License-Identifier: Apache-2.0
 *
 * tests/kernels/test_kernels.c: numeric kernels against independent
 * references.
 *
 *  - f16/bf16 conversions: IEEE edge values with known bit patterns
 *    (subnormals, infinities, NaN, ties to even), an exhaustive half
 *    round trip, and the CPU's own F16C instruction as an oracle.
 *  - dequantization: hand-built blocks (scales and quants chosen here, packed
 *    by the documented ggml layout) against their exact expected floats.
 *  - quantize -> dequantize: per-element error bounds from the format's step
 *    size (Q8_0, Q4_0) and relative RMSE bounds on Gaussian data.
 *  - matmul: every backend and weight type against a float64 naive product
 *    of the dequantized weights, random shapes with odd row counts, 1 to 9
 *    X rows, pools of 1 and 2 threads; NMSE-bounded. Each SIMD backend must
 *    have its own kernel for every type, and its float32 -> Q8_K activation
 *    converter must give the reference's (ggml's) bytes.
 *  - elementwise ops against float64 formulas; the pool runs every task once.
 */
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/kern_impl.h"
#include "test.h"

#if defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>
#endif

/* ---- deterministic random numbers ---- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint32_t rng_u32(void) {
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return (uint32_t)(rng_state >> 16);
}
static float rng_uniform(void) {
  return (float)(rng_u32() & 0xffffff) / 16777216.0f;
}
static float rng_gauss(void) {
  float u1 = rng_uniform() + 1e-7f, u2 = rng_uniform();
  return sqrtf(-2.0f * logf(u1)) * cosf(6.2831853f * u2);
}

static float bits_f(uint32_t u) {
  float f;
  memcpy(&f, &u, 4);
  return f;
}
static uint32_t f_bits(float f) {
  uint32_t u;
  memcpy(&u, &f, 4);
  return u;
}

/* ---- dtype geometry ---- */

static void test_dtype_sizes(void) {
  ASSERT_EQ_INT(dtype_block_elems(DT_Q4_K), 256);
  ASSERT_EQ_UINT(dtype_block_bytes(DT_Q6_K), 210);
  ASSERT_EQ_UINT(dtype_row_bytes(DT_Q8_0, 64), 68);
  ASSERT_EQ_UINT(dtype_row_bytes(DT_Q4_0, 33), 0);
  ASSERT_EQ_UINT(dtype_row_bytes(DT_F16, 3), 6);
  ASSERT_EQ_UINT(dtype_row_bytes(DT_Q8_K, 512), 584);
  ASSERT_EQ_STR(dtype_name(DT_Q4_K), "q4_K");
  ASSERT_EQ_STR(dtype_name((enum dtype)99), "?");
}

/* ---- f16 / bf16 ---- */

static void test_f16_edges(void) {
  ASSERT_EQ_UINT(f32_to_f16(1.0f), 0x3c00);
  ASSERT_EQ_UINT(f32_to_f16(-2.0f), 0xc000);
  ASSERT_EQ_UINT(f32_to_f16(0.0f), 0x0000);
  ASSERT_EQ_UINT(f32_to_f16(-0.0f), 0x8000);
  ASSERT_EQ_UINT(f32_to_f16(65504.0f), 0x7bff);
  ASSERT_EQ_UINT(f32_to_f16(65519.0f), 0x7bff);
  ASSERT_EQ_UINT(f32_to_f16(65520.0f), 0x7c00); /* tie rounds to even = inf */
  ASSERT_EQ_UINT(f32_to_f16(1e10f), 0x7c00);
  ASSERT_EQ_UINT(f32_to_f16(-INFINITY), 0xfc00);
  ASSERT_EQ_UINT(f32_to_f16(0x1p-24f), 0x0001);           /* smallest subnormal */
  ASSERT_EQ_UINT(f32_to_f16(0x1p-25f), 0x0000);           /* tie -> even (0) */
  ASSERT_EQ_UINT(f32_to_f16(0x1.8p-24f), 0x0002);         /* 1.5 ulp: tie -> even (2) */
  ASSERT_EQ_UINT(f32_to_f16(0x1.000002p-25f), 1);         /* just above the tie */
  ASSERT_EQ_UINT(f32_to_f16(1023.5f * 0x1p-24f), 0x0400); /* tie -> smallest normal */
  ASSERT_EQ_UINT(f32_to_f16(0x1p-14f), 0x0400);
  ASSERT_EQ_UINT(f32_to_f16(1.0f + 0x1p-11f), 0x3c00);     /* tie -> even */
  ASSERT_EQ_UINT(f32_to_f16(1.0f + 3 * 0x1p-11f), 0x3c02); /* tie -> even */
  ASSERT_EQ_UINT(f32_to_f16(bits_f(0x3f801001u)), 0x3c01);
  f16_bits hn = f32_to_f16(NAN);
  ASSERT_TRUE((hn & 0x7c00) == 0x7c00 && (hn & 0x3ff) != 0);
  ASSERT_EQ_UINT(f_bits(f16_to_f32(0x0001)), f_bits(0x1p-24f));
  ASSERT_EQ_UINT(f_bits(f16_to_f32(0x03ff)), f_bits(1023.0f * 0x1p-24f));
  ASSERT_EQ_UINT(f_bits(f16_to_f32(0x8000)), 0x80000000u);
  ASSERT_EQ_UINT(f_bits(f16_to_f32(0x7bff)), f_bits(65504.0f));
  ASSERT_EQ_UINT(f_bits(f16_to_f32(0x7c00)), 0x7f800000u);
  ASSERT_TRUE(isnan(f16_to_f32(0x7e00)));
  ASSERT_EQ_UINT(f_bits(f16_to_f32(0x3555)), f_bits(0x1.554p-2f));
}

static void test_f16_roundtrip_all(void) {
  for (uint32_t h = 0; h < 65536; h++) {
    float f = f16_to_f32((f16_bits)h);
    if ((h & 0x7c00) == 0x7c00 && (h & 0x3ff)) {
      ASSERT_TRUE(isnan(f));
      continue;
    }
    ASSERT_EQ_UINT(f32_to_f16(f), h);
  }
}

#if defined(__x86_64__)
__attribute__((target("f16c"))) static uint16_t hw_f32_to_f16(float f) {
  return (uint16_t)_cvtss_sh(f, 0);
}
static int cpu_has_f16c(void) {
  unsigned a, b, c, d;
  return __get_cpuid(1, &a, &b, &c, &d) && ((c >> 29) & 1);
}
#endif

static void test_f16_vs_hardware(void) {
#if defined(__x86_64__)
  if (!cpu_has_f16c()) TEST_SKIP("no F16C");
  for (int i = 0; i < 2000000; i++) {
    /* cover exponents around the half range, including subnormals */
    uint32_t u = rng_u32();
    uint32_t e = 100 + (u >> 24) % 50; /* 2^-27 .. 2^22 */
    uint32_t bits = ((u & 1) << 31) | (e << 23) | (rng_u32() & 0x7fffff);
    if (i % 7 == 0) bits = (bits & 0xffffe000u) | 0x1000u; /* exact ties */
    float f = bits_f(bits);
    uint16_t want = hw_f32_to_f16(f);
    if (f32_to_f16(f) != want)
      test_fail(__FILE__, __LINE__, "f16(%a): %04x != hw %04x", (double)f, f32_to_f16(f), want);
  }
#else
  TEST_SKIP("not x86");
#endif
}

static void test_bf16_edges(void) {
  ASSERT_EQ_UINT(f32_to_bf16(1.0f), 0x3f80);
  ASSERT_EQ_UINT(f32_to_bf16(bits_f(0x3f808000u)), 0x3f80); /* tie -> even */
  ASSERT_EQ_UINT(f32_to_bf16(bits_f(0x3f818000u)), 0x3f82); /* tie -> even */
  ASSERT_EQ_UINT(f32_to_bf16(bits_f(0x3f808001u)), 0x3f81);
  ASSERT_EQ_UINT(f32_to_bf16(INFINITY), 0x7f80);
  ASSERT_EQ_UINT(f32_to_bf16(-INFINITY), 0xff80);
  ASSERT_EQ_UINT(f32_to_bf16(bits_f(0x7f7fffffu)), 0x7f80); /* FLT_MAX rounds to inf */
  ASSERT_EQ_UINT(f32_to_bf16(bits_f(0x00008000u)), 0x0000); /* subnormal tie -> even */
  ASSERT_EQ_UINT(f32_to_bf16(bits_f(0x00018000u)), 0x0002);
  ASSERT_EQ_UINT(f32_to_bf16(-0.0f), 0x8000);
  bf16_bits n = f32_to_bf16(bits_f(0x7f800001u)); /* signalling NaN, payload in low bits */
  ASSERT_TRUE((n & 0x7f80) == 0x7f80 && (n & 0x7f) != 0);
  ASSERT_EQ_UINT(f_bits(bf16_to_f32(0x4049)), 0x40490000u);
  ASSERT_EQ_UINT(f_bits(bf16_to_f32(0x0001)), 0x00010000u);
}

/* ---- dequantization of hand-built blocks ---- */

static void test_dequant_q8_0(void) {
  block_q8_0 b[2];
  b[0].d = 0x3800; /* 0.5 */
  b[1].d = 0xc400; /* -4.0 */
  for (int j = 0; j < 32; j++) {
    b[0].qs[j] = (int8_t)(j - 16);
    b[1].qs[j] = (int8_t)(j == 0 ? -128 : 127 - j);
  }
  float y[64];
  kern_dequantize_row(DT_Q8_0, b, y, 64);
  for (int j = 0; j < 32; j++) {
    ASSERT_EQ_UINT(f_bits(y[j]), f_bits((float)(j - 16) * 0.5f));
    ASSERT_EQ_UINT(f_bits(y[32 + j]), f_bits((float)(j == 0 ? -128 : 127 - j) * -4.0f));
  }
}

static void test_dequant_q4_0(void) {
  block_q4_0 b;
  b.d = 0x4000; /* 2.0 */
  for (int j = 0; j < 16; j++) b.qs[j] = (uint8_t)(j | ((15 - j) << 4));
  float y[32];
  kern_dequantize_row(DT_Q4_0, &b, y, 32);
  for (int j = 0; j < 16; j++) {
    ASSERT_EQ_UINT(f_bits(y[j]), f_bits((float)(j - 8) * 2.0f));
    ASSERT_EQ_UINT(f_bits(y[j + 16]), f_bits((float)(7 - j) * 2.0f));
  }
}

static void test_dequant_q4_K(void) {
  /* sub-block j (32 values): x = d * sc[j] * q - dmin * m[j]; 6-bit sc/m,
   * packed: j<4 in the low 6 bits of bytes j and j+4; j>=4 low nibbles in
   * byte j+4 (scale low, min high), top 2 bits in bits 6-7 of bytes j-4
   * (scale) and j (min). */
  static const uint8_t sc[8] = {1, 2, 3, 4, 17, 33, 50, 63};
  static const uint8_t mn[8] = {0, 5, 10, 63, 20, 40, 1, 62};
  block_q4_K b;
  memset(&b, 0, sizeof b);
  b.d = 0x3c00;    /* 1.0 */
  b.dmin = 0x3800; /* 0.5 */
  for (int j = 0; j < 4; j++) {
    b.scales[j] = (uint8_t)(sc[j] | ((sc[j + 4] >> 4) << 6));
    b.scales[j + 4] = (uint8_t)(mn[j] | ((mn[j + 4] >> 4) << 6));
    b.scales[j + 8] = (uint8_t)((sc[j + 4] & 15) | ((mn[j + 4] & 15) << 4));
  }
  /* 64-value chunk c: byte 32c+l holds value 64c+l (low nibble) and 64c+32+l */
  uint8_t q[256];
  for (int e = 0; e < 256; e++) q[e] = (uint8_t)((e * 5 + e / 64) & 15);
  for (int c = 0; c < 4; c++)
    for (int l = 0; l < 32; l++)
      b.qs[32 * c + l] = (uint8_t)(q[64 * c + l] | (q[64 * c + 32 + l] << 4));
  float y[256];
  kern_dequantize_row(DT_Q4_K, &b, y, 256);
  for (int e = 0; e < 256; e++) {
    int j = e / 32;
    float want = 1.0f * (float)sc[j] * (float)q[e] - 0.5f * (float)mn[j];
    ASSERT_NEAR(y[e], want, 1e-6);
  }
}

static void test_dequant_q6_K(void) {
  /* x = d * scales[e/16] * (q - 32), q 6 bits: in each 128-value half, byte
   * l of ql holds q[l] (low nibble) and q[l+64] (high), byte l+32 holds q[l+32]
   * and q[l+96]; qh[l] holds the top 2 bits of q[l], q[l+32], q[l+64], q[l+96]. */
  block_q6_K b;
  uint8_t q[256];
  for (int e = 0; e < 256; e++) q[e] = (uint8_t)((e * 7 + 3) % 64);
  for (int i = 0; i < 16; i++) b.scales[i] = (int8_t)(i * 9 - 70);
  b.d = 0x3400; /* 0.25 */
  for (int h = 0; h < 2; h++) {
    const uint8_t *qq = q + 128 * h;
    for (int l = 0; l < 32; l++) {
      b.ql[64 * h + l] = (uint8_t)((qq[l] & 15) | ((qq[l + 64] & 15) << 4));
      b.ql[64 * h + l + 32] = (uint8_t)((qq[l + 32] & 15) | ((qq[l + 96] & 15) << 4));
      b.qh[32 * h + l] = (uint8_t)((qq[l] >> 4) | ((qq[l + 32] >> 4) << 2) |
                                   ((qq[l + 64] >> 4) << 4) | ((qq[l + 96] >> 4) << 6));
    }
  }
  float y[256];
  kern_dequantize_row(DT_Q6_K, &b, y, 256);
  for (int e = 0; e < 256; e++) {
    float want = 0.25f * (float)b.scales[e / 16] * (float)(q[e] - 32);
    ASSERT_NEAR(y[e], want, 1e-6);
  }
}

static void test_dequant_q8_K(void) {
  block_q8_K b;
  memset(&b, 0, sizeof b);
  b.d = 0.125f;
  for (int e = 0; e < 256; e++) b.qs[e] = (int8_t)(e - 128);
  float y[256];
  kern_dequantize_row(DT_Q8_K, &b, y, 256);
  for (int e = 0; e < 256; e++) ASSERT_EQ_UINT(f_bits(y[e]), f_bits((float)(e - 128) * 0.125f));
}

/* ---- quantize -> dequantize ---- */

static double rel_rmse(const float *a, const float *b, int64_t n) {
  double se = 0, ss = 0;
  for (int64_t i = 0; i < n; i++) {
    se += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
    ss += (double)a[i] * a[i];
  }
  return sqrt(se / (ss > 0 ? ss : 1));
}

static void test_quant_roundtrip(void) {
  enum { N = 4096 };
  static float x[N], y[N];
  static uint8_t q[N * 2 + 1024];
  for (int i = 0; i < N; i++) x[i] = rng_gauss();
  /* relative RMSE bounds for Gaussian data: a uniform quantizer of step s
   * has RMS error s / sqrt(12); Q8_0 s ~ amax/127 ~ 0.02 sigma (0.006),
   * Q4_0 s ~ amax/8 (~0.09), Q4_K (4-bit, fitted scale+min over 32 values,
   * ~0.07), Q6_K (6-bit over 16, ~0.018), Q8_K (amax/127 over 256, ~0.008),
   * F16 2^-11 relative, BF16 2^-8; the bounds leave ~25% margin. */
  static const struct {
    enum dtype t;
    double bound;
  } cases[] = {{DT_Q8_0, 0.0075}, {DT_Q4_0, 0.11},  {DT_Q4_K, 0.09}, {DT_Q6_K, 0.023},
               {DT_Q8_K, 0.011},  {DT_F16, 0.0004}, {DT_BF16, 0.003}};
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    kern_quantize_row(cases[c].t, x, q, N);
    kern_dequantize_row(cases[c].t, q, y, N);
    double e = rel_rmse(x, y, N);
    if (!(e < cases[c].bound))
      test_fail(__FILE__, __LINE__, "%s: rel rmse %.5f >= %.5f", dtype_name(cases[c].t), e,
                cases[c].bound);
  }
  /* per element: Q8_0 within ~half a step, Q4_0 within one step (the
   * positive end clamps at +7 when the block's extreme is negative) */
  kern_quantize_row(DT_Q8_0, x, q, N);
  kern_dequantize_row(DT_Q8_0, q, y, N);
  for (int i = 0; i < N; i++) {
    float d = f16_to_f32(((block_q8_0 *)q)[i / 32].d);
    ASSERT_TRUE(fabsf(x[i] - y[i]) <= 0.57f * d);
  }
  kern_quantize_row(DT_Q4_0, x, q, N);
  kern_dequantize_row(DT_Q4_0, q, y, N);
  for (int i = 0; i < N; i++) {
    float d = fabsf(f16_to_f32(((block_q4_0 *)q)[i / 32].d));
    ASSERT_TRUE(fabsf(x[i] - y[i]) <= 1.01f * d);
  }
  /* an all-zero row quantizes to exact zeros */
  memset(x, 0, sizeof x);
  static const enum dtype all[] = {DT_Q8_0, DT_Q4_0, DT_Q4_K, DT_Q6_K, DT_Q8_K};
  for (size_t c = 0; c < sizeof all / sizeof all[0]; c++) {
    kern_quantize_row(all[c], x, q, 512);
    kern_dequantize_row(all[c], q, y, 512);
    for (int i = 0; i < 512; i++) ASSERT_TRUE(y[i] == 0.0f);
  }
}

/* ---- matmul vs float64 ---- */

typedef struct mm_case {
  enum dtype t;
  int64_t nx, rows, cols;
} mm_case;

/* NMSE of got vs a float64 product of the dequantized W with X. */
static double mm_nmse(const kern_backend *b, kern_pool *pool, const mm_case *c) {
  int64_t nx = c->nx, rows = c->rows, cols = c->cols;
  size_t rb = dtype_row_bytes(c->t, cols);
  float *wf = malloc(sizeof(float) * (size_t)(rows * cols));
  float *X = malloc(sizeof(float) * (size_t)(nx * cols));
  float *Y = malloc(sizeof(float) * (size_t)(nx * rows));
  uint8_t *W = malloc(rb * (size_t)rows);
  ASSERT_TRUE(wf && X && Y && W);
  for (int64_t i = 0; i < rows * cols; i++) wf[i] = rng_gauss();
  for (int64_t i = 0; i < nx * cols; i++) X[i] = rng_gauss();
  for (int64_t r = 0; r < rows; r++) {
    kern_quantize_row(c->t, wf + r * cols, W + (size_t)r * rb, cols);
    kern_dequantize_row(c->t, W + (size_t)r * rb, wf + r * cols, cols);
  }
  kern_matmul_on(b, pool, c->t, W, X, Y, nx, rows, cols);
  double se = 0, ss = 0;
  for (int64_t i = 0; i < nx; i++) {
    for (int64_t r = 0; r < rows; r++) {
      double s = 0;
      for (int64_t k = 0; k < cols; k++) s += (double)wf[r * cols + k] * X[i * cols + k];
      double d = Y[i * rows + r] - s;
      se += d * d;
      ss += s * s;
    }
  }
  free(wf);
  free(X);
  free(Y);
  free(W);
  return se / (ss > 0 ? ss : 1);
}

/* A SIMD backend's float32 -> Q8_K activation converter (for Q4_K and Q6_K
 * weights) gives the bytes of ggml's quantize_row_q8_K (the reference one):
 * Gaussian rows, a block whose scale is exactly 1 with values on the
 * rounding ties (round to nearest even), a block whose largest magnitude
 * occurs with both signs (the first one sets the sign), and a zero block. */
static void check_xconv_q8_K(const kern_backend *b) {
  enum { NB = 6 };
  static float x[NB * QK_K];
  static block_q8_K want[NB], got[NB];
  for (int i = 0; i < NB * QK_K; i++) x[i] = rng_gauss() * (1.0f + (float)(i / QK_K));
  float *t = x + 3 * QK_K, *s = x + 4 * QK_K;
  t[0] = -127.0f; /* iscale = 1 */
  for (int j = 1; j < QK_K; j++) t[j] = (float)(j % 200) - 100.5f;
  for (int j = 0; j < QK_K; j++) s[j] = fminf(fmaxf(s[j], -14.0f), 14.0f);
  s[7] = 15.0f;
  s[9] = -15.0f;
  memset(x + 5 * QK_K, 0, sizeof(float) * QK_K);
  ref_quantize_row_q8_K(x, want, NB * QK_K);
  static const enum dtype kq[] = {DT_Q4_K, DT_Q6_K};
  for (int k = 0; k < 2; k++) {
    const kern_type_ops *o = &b->types[kq[k]];
    ASSERT_TRUE(o->xconv != NULL && o->x_block_elems == QK_K &&
                o->x_block_bytes == (int)sizeof(block_q8_K));
    memset(got, 0x55, sizeof got);
    o->xconv(x, got, NB * QK_K);
    for (int bl = 0; bl < NB; bl++) {
      if (memcmp(&got[bl], &want[bl], sizeof want[bl]) != 0)
        test_fail(__FILE__, __LINE__, "%s %s: q8_K block %d differs from the reference", b->name,
                  dtype_name(kq[k]), bl);
    }
  }
}

static void check_backend(const char *name) {
  const kern_backend *b = kern_backend_find(name);
  if (!b) TEST_SKIP("backend not available on this CPU");
  static const enum dtype types[] = {DT_F32, DT_F16, DT_BF16, DT_Q8_0, DT_Q4_0, DT_Q4_K, DT_Q6_K};
  /* activation quantization (8-bit) adds ~1e-4 relative RMS error per
   * product (GLOAM_FAST_BF16's bf16 activations ~1e-5); float weights are
   * float32-exact: rounding alone stays < 1e-10 */
  int is_ref = strcmp(name, "ref") == 0;
  if (!is_ref) check_xconv_q8_K(b);
  for (int threads = 1; threads <= 2; threads++) {
    kern_pool *pool = kern_pool_new(threads);
    ASSERT_NOT_NULL(pool);
    for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++) {
      enum dtype t = types[ti];
      /* every backend has its own kernel for every type (matmul would
       * otherwise fall back to the reference silently, and this would test
       * the reference twice) */
      if (!b->types[t].dot)
        test_fail(__FILE__, __LINE__, "%s has no %s kernel", name, dtype_name(t));
      int be = dtype_block_elems(t);
      int64_t base = be >= 256 ? 256 : 32;
      for (int rep = 0; rep < 8; rep++) {
        /* block-32 types: 1..23 blocks, covering the 8-block unrolled loop,
         * a 4-block group and the per-block tail of the SIMD kernels */
        int64_t nblk = base == 32 ? 1 + (int64_t)(rng_u32() % 23) : 1 + (int64_t)(rng_u32() % 5);
        mm_case c = {t, 1 + (int64_t)(rng_u32() % 9), 1 + (int64_t)(rng_u32() % 37), base * nblk};
        if (be == 1 && rep % 2) c.cols = 1 + (int64_t)(rng_u32() % 300); /* odd tails */
        if (rep == 3) c.nx = 1;
        double nmse = mm_nmse(b, pool, &c);
        double bound = is_ref || t == DT_F32 || t == DT_F16 || t == DT_BF16 ? 1e-10 : 5e-4;
        if (t == DT_BF16 && !is_ref && kern_fast_bf16()) bound = 2e-5; /* bf16 activations */
        if (!(nmse < bound))
          test_fail(__FILE__, __LINE__, "%s %s nx=%lld rows=%lld cols=%lld threads=%d: nmse %.3g",
                    name, dtype_name(t), (long long)c.nx, (long long)c.rows, (long long)c.cols,
                    threads, nmse);
      }
    }
    kern_pool_free(pool);
  }
}

static void test_matmul_ref(void) {
  check_backend("ref");
}
static void test_matmul_avx2(void) {
  check_backend("avx2");
}
static void test_matmul_avx512(void) {
  check_backend("avx512");
}
static void test_matmul_neon(void) {
  check_backend("neon");
}
static void test_matmul_neon_dotprod(void) {
  check_backend("neon_dotprod");
}

static void check_elementwise(const kern_backend *b);
static void test_elementwise_simd(void) {
  static const char *names[] = {"avx2", "avx512", "neon", "neon_dotprod"};
  int ran = 0;
  for (int i = 0; i < 4; i++) {
    const kern_backend *b = kern_backend_find(names[i]);
    if (b) {
      check_elementwise(b);
      ran++;
    }
  }
  if (!ran) TEST_SKIP("no SIMD backend on this CPU");
}

/* Larger shapes through every tiling path (prefill tiles, chunking). */
static void test_matmul_prefill_shapes(void) {
  const kern_backend *b = kern_backend_active();
  kern_pool *pool = kern_pool_new(2);
  ASSERT_NOT_NULL(pool);
  mm_case cs[] = {{DT_Q8_0, 67, 45, 512},
                  {DT_Q4_0, 130, 9, 256},
                  {DT_F16, 33, 70, 96},
                  {DT_Q4_K, 17, 23, 512},
                  {DT_Q6_K, 9, 31, 256}};
  for (size_t i = 0; i < sizeof cs / sizeof cs[0]; i++) {
    double nmse = mm_nmse(b, pool, &cs[i]);
    double bound = strcmp(b->name, "ref") == 0 || cs[i].t == DT_F16 ? 1e-10 : 5e-4;
    if (!(nmse < bound))
      test_fail(__FILE__, __LINE__, "%s %s: nmse %.3g", b->name, dtype_name(cs[i].t), nmse);
    double nmse0 = mm_nmse(b, NULL, &cs[i]); /* no pool: stack-buffer chunks */
    ASSERT_TRUE(nmse0 < bound);
  }
  kern_pool_free(pool);
}

/* AMX prefill (avx512 backend, >= 32 X and W rows): every AMX type, with
 * remainders in both dimensions, a column count that is not a multiple of
 * the 512-column dequantization chunk, and more than 256 X rows. BF16 and
 * F16 are float32-accurate (hi + lo splits, three tile passes for F16):
 * measured NMSE 1.2-1.4e-11 for F16 (max error 3.5e-6 of sum |w x|); without
 * the lo weight pass 2.7e-6, so the 1e-10 bound catches a lost pass. */
static void test_matmul_amx(void) {
#if defined(GLOAM_KERNELS_X86)
  const kern_backend *b = kern_backend_find("avx512");
  if (!b || !kern_amx_ready()) TEST_SKIP("no AMX (or GLOAM_AMX=0)");
  mm_case cs[] = {{DT_Q8_0, 70, 67, 544}, {DT_Q4_0, 64, 40, 1056}, {DT_BF16, 33, 96, 160},
                  {DT_Q8_0, 300, 64, 64}, {DT_Q4_0, 32, 32, 32},   {DT_Q4_K, 40, 33, 768},
                  {DT_Q6_K, 33, 64, 256}, {DT_F16, 33, 96, 160},   {DT_F16, 70, 67, 544},
                  {DT_F16, 300, 64, 64},  {DT_F16, 95, 33, 1056}};
  for (int threads = 1; threads <= 2; threads++) {
    kern_pool *pool = kern_pool_new(threads);
    ASSERT_NOT_NULL(pool);
    for (size_t i = 0; i < sizeof cs / sizeof cs[0]; i++) {
      double nmse = mm_nmse(b, pool, &cs[i]);
      int exact = cs[i].t == DT_F16 || (cs[i].t == DT_BF16 && !kern_fast_bf16());
      double bound = exact ? 1e-10 : 5e-4;
      if (!(nmse < bound))
        test_fail(__FILE__, __LINE__, "amx %s nx=%lld rows=%lld: nmse %.3g", dtype_name(cs[i].t),
                  (long long)cs[i].nx, (long long)cs[i].rows, nmse);
    }
    kern_pool_free(pool);
  }
  ASSERT_TRUE(mm_nmse(b, NULL, &cs[0]) < 5e-4); /* no pool: per-call buffer */
  ASSERT_TRUE(mm_nmse(b, NULL, &cs[8]) < 1e-10);
#else
  TEST_SKIP("not x86");
#endif
}

/* F16 weights over the whole half range on AMX: each W row has its own
 * scale 2^e, e from -24 (subnormal halves, a few bits each) to 13 (values up
 * to ~65504, whose bf16 hi part may round up to 65536), so the hi + lo split
 * must be exact at every exponent. Each output within 1e-5 * sum_k |w_k x_k|
 * of a float64 sum of the exact half values (measured <= 3.5e-6). */
static void test_matmul_amx_f16_range(void) {
#if defined(GLOAM_KERNELS_X86)
  const kern_backend *b = kern_backend_find("avx512");
  if (!b || !kern_amx_ready()) TEST_SKIP("no AMX (or GLOAM_AMX=0)");
  enum { NX = 37, ROWS = 76, COLS = 96 };
  static f16_bits W[ROWS * COLS];
  static float X[NX * COLS], Y[NX * ROWS];
  for (int r = 0; r < ROWS; r++) {
    float scale = ldexpf(1.0f, -24 + r % 38);
    for (int k = 0; k < COLS; k++) {
      float v = rng_gauss() * scale;
      W[r * COLS + k] = f32_to_f16(fabsf(v) < 65504.0f ? v : copysignf(65504.0f, v));
    }
  }
  for (int i = 0; i < NX * COLS; i++) X[i] = rng_gauss();
  kern_pool *pool = kern_pool_new(2);
  ASSERT_NOT_NULL(pool);
  kern_matmul_on(b, pool, DT_F16, W, X, Y, NX, ROWS, COLS);
  kern_pool_free(pool);
  for (int i = 0; i < NX; i++) {
    for (int r = 0; r < ROWS; r++) {
      double s = 0, a = 0;
      for (int k = 0; k < COLS; k++) {
        double p = (double)f16_to_f32(W[r * COLS + k]) * X[i * COLS + k];
        s += p;
        a += fabs(p);
      }
      if (!(fabs(Y[i * ROWS + r] - s) <= 1e-5 * a))
        test_fail(__FILE__, __LINE__, "f16 x=%d row=%d (2^%d): y %.9g, float64 %.9g", i, r,
                  -24 + r % 38, (double)Y[i * ROWS + r], s);
    }
  }
#else
  TEST_SKIP("not x86");
#endif
}

/* ---- float weights: float32-accurate on every backend ----
 *
 * For F32, F16 and BF16 weights every backend must compute the float32
 * product of the exactly widened weights with the float32 activations (no
 * bf16 rounding of X). Checked per output element against a float64 sum:
 * |y - s| <= 1e-5 * sum_k |w_k x_k|, the float32-accumulation bound with
 * margin (gamma_n = n 2^-24 for the worst case; the AMX hi+lo activation
 * split adds <= 2^-16 per term, of random sign). With GLOAM_FAST_BF16=1 (its own CTest run)
 * BF16 is held to twice the bf16-activation bound 2^-8 instead. Shapes cover
 * decode (1-4 rows), the register-tiled prefill path, odd column tails, AMX
 * tiles (>= 32 rows and W rows, columns a multiple of 32, with remainders),
 * and no pool (stack-buffer chunks). CTest also runs this binary with
 * GLOAM_AMX=0 (AVX-512 prefill paths) and with GLOAM_FAST_BF16=1. */
static double mm_max_rel(const kern_backend *b, kern_pool *pool, const mm_case *c) {
  int64_t nx = c->nx, rows = c->rows, cols = c->cols;
  size_t rb = dtype_row_bytes(c->t, cols);
  float *wf = malloc(sizeof(float) * (size_t)(rows * cols));
  float *X = malloc(sizeof(float) * (size_t)(nx * cols));
  float *Y = malloc(sizeof(float) * (size_t)(nx * rows));
  uint8_t *W = malloc(rb * (size_t)rows);
  ASSERT_TRUE(wf && X && Y && W);
  for (int64_t i = 0; i < rows * cols; i++) wf[i] = rng_gauss();
  for (int64_t i = 0; i < nx * cols; i++) X[i] = rng_gauss() * (1.0f + 0.01f * (float)(i % 97));
  for (int64_t r = 0; r < rows; r++) {
    kern_quantize_row(c->t, wf + r * cols, W + (size_t)r * rb, cols);
    kern_dequantize_row(c->t, W + (size_t)r * rb, wf + r * cols, cols);
  }
  kern_matmul_on(b, pool, c->t, W, X, Y, nx, rows, cols);
  double worst = 0;
  for (int64_t i = 0; i < nx; i++) {
    for (int64_t r = 0; r < rows; r++) {
      double s = 0, a = 0;
      for (int64_t k = 0; k < cols; k++) {
        double p = (double)wf[r * cols + k] * X[i * cols + k];
        s += p;
        a += fabs(p);
      }
      double rel = fabs(Y[i * rows + r] - s) / (a > 0 ? a : 1);
      if (!(rel <= worst)) worst = rel; /* NaN propagates as a failure */
    }
  }
  free(wf);
  free(X);
  free(Y);
  free(W);
  return worst;
}

static void test_matmul_float_weights_exact(void) {
  static const char *names[] = {"ref", "avx2", "avx512", "neon", "neon_dotprod"};
  static const enum dtype types[] = {DT_F32, DT_F16, DT_BF16};
  static const mm_case fixed[] = {
      {DT_F32, 1, 37, 4096}, /* decode, long rows */
      {DT_F32, 4, 33, 1000}, /* decode batch */
      {DT_F32, 33, 96, 160}, /* AMX tiles + remainders */
      {DT_F32, 64, 64, 544}, /* AMX, > 512-column chunk */
      {DT_F32, 70, 67, 96},  /* tiles in both dims */
      {DT_F32, 40, 45, 250}, /* prefill, column tail */
  };
  int ran = 0;
  for (size_t bi = 0; bi < sizeof names / sizeof names[0]; bi++) {
    const kern_backend *b = kern_backend_find(names[bi]);
    if (!b) continue;
    ran++;
    for (int threads = 0; threads <= 2; threads++) { /* 0: no pool */
      kern_pool *pool = threads ? kern_pool_new(threads) : NULL;
      if (threads) ASSERT_NOT_NULL(pool);
      for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++) {
        enum dtype t = types[ti];
        double bound =
            t == DT_BF16 && kern_fast_bf16() && strcmp(b->name, "avx512") == 0 ? 1.0 / 128 : 1e-5;
        for (size_t ci = 0; ci < sizeof fixed / sizeof fixed[0] + 6; ci++) {
          mm_case c;
          if (ci < sizeof fixed / sizeof fixed[0]) {
            c = fixed[ci];
          } else { /* random shapes */
            c.nx = 1 + (int64_t)(rng_u32() % 72);
            c.rows = 1 + (int64_t)(rng_u32() % 80);
            c.cols = ci % 2 ? 32 * (1 + (int64_t)(rng_u32() % 20)) : 1 + (int64_t)(rng_u32() % 700);
          }
          c.t = t;
          double rel = mm_max_rel(b, pool, &c);
          if (!(rel <= bound))
            test_fail(
                __FILE__, __LINE__,
                "%s %s nx=%lld rows=%lld cols=%lld threads=%d amx=%d: max rel err %.3g > %.3g",
                b->name, dtype_name(t), (long long)c.nx, (long long)c.rows, (long long)c.cols,
                threads,
#if defined(GLOAM_KERNELS_X86)
                kern_amx_ready(),
#else
                0,
#endif
                rel, bound);
        }
      }
      kern_pool_free(pool);
    }
  }
  ASSERT_TRUE(ran >= 1);
}

/* ---- elementwise ---- */

static void check_elementwise(const kern_backend *b) {
  enum { N = 1000 };
  static float x[N], w[N], up[N], out[N], g[N];
  for (int n = 1; n <= N; n += 37) {
    for (int i = 0; i < n; i++) {
      x[i] = rng_gauss() * 3;
      w[i] = rng_gauss();
      up[i] = rng_gauss();
    }
    double ss = 0;
    for (int i = 0; i < n; i++) ss += (double)x[i] * x[i];
    double inv = 1.0 / sqrt(ss / n + 1e-6);
    b->rmsnorm(out, x, w, n, 1e-6f, 1.0f);
    for (int i = 0; i < n; i++)
      ASSERT_NEAR(out[i], x[i] * inv * (w[i] + 1.0), 1e-5 * (1 + fabs(out[i])));
    memcpy(g, x, sizeof(float) * (size_t)n);
    b->silu_mul(g, up, n);
    for (int i = 0; i < n; i++) {
      double v = x[i] / (1 + exp(-(double)x[i])) * up[i];
      ASSERT_NEAR(g[i], v, 1e-5 * (1 + fabs(v)));
    }
    memcpy(g, x, sizeof(float) * (size_t)n);
    b->gelu_tanh_mul(g, up, n);
    for (int i = 0; i < n; i++) {
      double xi = x[i];
      double v = 0.5 * xi * (1 + tanh(sqrt(2 / M_PI) * (xi + 0.044715 * xi * xi * xi))) * up[i];
      ASSERT_NEAR(g[i], v, 1e-5 * (1 + fabs(v)));
    }
    memcpy(g, x, sizeof(float) * (size_t)n);
    if (n > 3) g[1] = -INFINITY; /* a masked position */
    b->softmax(g, n);
    double mx = -INFINITY, sum = 0;
    for (int i = 0; i < n; i++)
      if (!(n > 3 && i == 1) && x[i] > mx) mx = x[i];
    for (int i = 0; i < n; i++) sum += (n > 3 && i == 1) ? 0 : exp(x[i] - mx);
    for (int i = 0; i < n; i++) {
      double v = (n > 3 && i == 1) ? 0 : exp(x[i] - mx) / sum;
      ASSERT_NEAR(g[i], v, 1e-6 + 1e-5 * v);
    }
    double dot = 0;
    for (int i = 0; i < n; i++) dot += (double)x[i] * w[i];
    ASSERT_NEAR(b->dot_f32(x, w, n), dot, 1e-4 * (1 + sqrt(ss)));
    memcpy(g, up, sizeof(float) * (size_t)n);
    b->axpy_f32(g, 0.5f, x, n);
    for (int i = 0; i < n; i++) ASSERT_NEAR(g[i], up[i] + 0.5 * x[i], 1e-6 * (1 + fabs(g[i])));
  }
  /* F16 KV-cache helpers: conversion matches the scalar RNE conversion
   * (itself checked against F16C above); dot/axpy against float64 */
  static f16_bits h[N];
  for (int n = 1; n <= N; n += 111) {
    for (int i = 0; i < n; i++) x[i] = rng_gauss() * 100;
    b->f32_to_f16(h, x, n);
    for (int i = 0; i < n; i++) ASSERT_EQ_UINT(h[i], f32_to_f16(x[i]));
    for (int i = 0; i < n; i++) w[i] = rng_gauss();
    double dot = 0, sa = 0;
    for (int i = 0; i < n; i++) {
      dot += (double)w[i] * f16_to_f32(h[i]);
      sa += fabs((double)w[i] * f16_to_f32(h[i]));
    }
    ASSERT_NEAR(b->dot_f16(w, h, n), dot, 1e-5 * (1 + sa));
    memcpy(g, w, sizeof(float) * (size_t)n);
    b->axpy_f16(g, -0.25f, h, n);
    for (int i = 0; i < n; i++)
      ASSERT_NEAR(g[i], w[i] - 0.25 * f16_to_f32(h[i]), 1e-5 * (1 + fabs(g[i])));
  }
  /* large inputs do not overflow to NaN */
  float big[4] = {100.0f, -100.0f, 1000.0f, -1000.0f}, one[4] = {1, 1, 1, 1};
  b->silu_mul(big, one, 4);
  ASSERT_NEAR(big[0], 100.0, 1e-3);
  ASSERT_NEAR(big[1], 0.0, 1e-6);
  ASSERT_NEAR(big[2], 1000.0, 1e-2);
  ASSERT_NEAR(big[3], 0.0, 1e-6);
}

static void test_elementwise_ref(void) {
  check_elementwise(&kern_backend_ref);
}

/* ---- pool ---- */

typedef struct pool_ctx {
  atomic_int hits[257];
  atomic_int calls;
} pool_ctx;

static void pool_fn(void *ctx, int i, int n) {
  pool_ctx *c = ctx;
  atomic_fetch_add(&c->hits[i], 1);
  atomic_fetch_add(&c->calls, 1);
  (void)n;
}

/* Every task of every job runs exactly once, and never touches an earlier
 * job's (stack) context: more threads than cores, so workers are often
 * descheduled through whole jobs and wake up late, and many consecutive
 * jobs have the same task count (the claim word then repeats). */
static void test_pool(void) {
  for (int nt = 1; nt <= 5; nt++) {
    kern_pool *p = kern_pool_new(nt);
    ASSERT_NOT_NULL(p);
    ASSERT_EQ_INT(kern_pool_threads(p), nt);
    for (int round = 0; round < 2000; round++) {
      int n = round % 7 == 0 ? round % 257 : round % 4;
      pool_ctx c;
      for (int i = 0; i < 257; i++) atomic_init(&c.hits[i], 0);
      atomic_init(&c.calls, 0);
      kern_pool_run(p, pool_fn, &c, n);
      ASSERT_EQ_INT(atomic_load(&c.calls), n);
      for (int i = 0; i < n; i++) ASSERT_EQ_INT(atomic_load(&c.hits[i]), 1);
    }
    kern_pool_free(p);
  }
  kern_pool_free(NULL);
  ASSERT_TRUE(kern_pool_new(0) == NULL);
  ASSERT_EQ_INT(kern_pool_threads(NULL), 1);
}

static void test_backend_choice(void) {
  const char *env = getenv("GLOAM_KERNELS");
  const char *name = kern_backend_name();
  ASSERT_NOT_NULL(name);
  if (env && strcmp(env, "ref") == 0) ASSERT_EQ_STR(name, "ref");
  ASSERT_NOT_NULL(kern_backend_find("ref"));
  ASSERT_TRUE(kern_backend_find("nonsense") == NULL);
#if defined(GLOAM_KERNELS_NEON)
  ASSERT_NOT_NULL(kern_backend_find("neon")); /* every AArch64 CPU */
  if (!env || !*env)
    ASSERT_EQ_STR(name, kern_backend_find("neon_dotprod") ? "neon_dotprod" : "neon");
#endif
}

int main(int argc, char **argv) {
  static const test_case tests[] = {TEST(test_dtype_sizes),
                                    TEST(test_f16_edges),
                                    TEST(test_f16_roundtrip_all),
                                    TEST(test_f16_vs_hardware),
                                    TEST(test_bf16_edges),
                                    TEST(test_dequant_q8_0),
                                    TEST(test_dequant_q4_0),
                                    TEST(test_dequant_q4_K),
                                    TEST(test_dequant_q6_K),
                                    TEST(test_dequant_q8_K),
                                    TEST(test_quant_roundtrip),
                                    TEST(test_matmul_ref),
                                    TEST(test_matmul_avx2),
                                    TEST(test_matmul_avx512),
                                    TEST(test_matmul_neon),
                                    TEST(test_matmul_neon_dotprod),
                                    TEST(test_elementwise_simd),
                                    TEST(test_matmul_prefill_shapes),
                                    TEST(test_matmul_amx),
                                    TEST(test_matmul_amx_f16_range),
                                    TEST(test_matmul_float_weights_exact),
                                    TEST(test_elementwise_ref),
                                    TEST(test_pool),
                                    TEST(test_backend_choice),
                                    {0}};
  return test_main(argc, argv, tests);
}
