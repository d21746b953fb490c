/* SPDX-License-Identifier: Apache-2.0
 *
 * tests/kernels/test_conv.c: the im2col + matmul convolution on every
 * backend this CPU runs (ref, avx2, avx512) against the direct-summation
 * reference on random shapes (1 x 1 and 3 x 3, borders, tiles, threads),
 * NMSE-bounded; and GroupNorm against a direct two-pass computation.
 */
#include <stdlib.h>

#include "kernels/conv.h"
#include "kernels/kern_impl.h"
#include "test.h"

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static float frand(void) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return (float)((double)(rng >> 11) / (double)(1ull << 53) * 2.0 - 1.0);
}

static float *rand_vec(size_t n) {
  float *v = malloc(sizeof(float) * n);
  for (size_t i = 0; i < n; i++) v[i] = frand();
  return v;
}

static double nmse(const float *a, const float *b, size_t n) {
  double num = 0, den = 0;
  for (size_t i = 0; i < n; i++) {
    double d = (double)a[i] - b[i];
    num += d * d;
    den += (double)b[i] * b[i];
  }
  return den > 0 ? num / den : num;
}

static void test_conv_backends(void) {
  static const struct {
    int h, w, cin, cout, k;
  } cases[] = {
      {1, 1, 3, 5, 3},   {4, 4, 32, 64, 3}, {7, 5, 17, 9, 3},
      {8, 8, 64, 32, 1}, {40, 33, 8, 3, 3}, /* > one tile of KERN_CONV_TILE pixels */
      {3, 3, 4, 4, 5},
  };
  static const char *names[] = {"ref", "avx2", "avx512"};
  kern_pool *pool = kern_pool_new(2);
  ASSERT_NOT_NULL(pool);
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    kern_conv c = {.h = cases[i].h,
                   .w = cases[i].w,
                   .cin = cases[i].cin,
                   .cout = cases[i].cout,
                   .k = cases[i].k};
    size_t kk = (size_t)c.k * (size_t)c.k, npix = (size_t)c.h * (size_t)c.w;
    float *w_oihw = rand_vec((size_t)c.cout * (size_t)c.cin * kk);
    float *w = malloc(sizeof(float) * (size_t)c.cout * (size_t)c.cin * kk);
    kern_conv_weight_ohwi(w, w_oihw, c.cout, c.cin, c.k);
    float *b = rand_vec((size_t)c.cout), *x = rand_vec(npix * (size_t)c.cin);
    c.wt = w;
    c.b = i % 2 ? NULL : b;
    float *want = malloc(sizeof(float) * npix * (size_t)c.cout);
    float *got = malloc(sizeof(float) * npix * (size_t)c.cout);
    float *scratch = malloc(sizeof(float) * (kern_conv2d_scratch(&c) + 1));
    kern_conv2d_ref(&c, x, want);
    /* the OHWI reorder: spot-check one output against PyTorch's layout */
    if (c.k == 3 && c.h >= 3 && c.w >= 3) {
      double s = c.b ? c.b[0] : 0.0;
      for (int ci = 0; ci < c.cin; ci++)
        for (int ky = 0; ky < 3; ky++)
          for (int kx = 0; kx < 3; kx++)
            s += (double)x[((size_t)ky * (size_t)c.w + (size_t)kx) * (size_t)c.cin + (size_t)ci] *
                 w_oihw[((size_t)ci * 3 + (size_t)ky) * 3 + (size_t)kx];
      ASSERT_NEAR(want[((size_t)1 * (size_t)c.w + 1) * (size_t)c.cout], s, 1e-4);
    }
    for (size_t j = 0; j < sizeof names / sizeof names[0]; j++) {
      const kern_backend *be = kern_backend_find(names[j]);
      if (!be) continue;
      for (int t = 0; t < 2; t++) {
        kern_conv2d_on(be, t ? pool : NULL, &c, x, got, scratch);
        double e = nmse(got, want, npix * (size_t)c.cout);
        if (!(e < 1e-10))
          test_fail(__FILE__, __LINE__, "%s case %zu threads %d: nmse %.3g", names[j], i, t + 1, e);
      }
    }
    kern_conv2d(pool, &c, x, got, scratch);
    ASSERT_TRUE(nmse(got, want, npix * (size_t)c.cout) < 1e-10);
    free(w_oihw);
    free(w);
    free(b);
    free(x);
    free(want);
    free(got);
    free(scratch);
  }
  kern_pool_free(pool);
}

static void test_groupnorm(void) {
  enum { HW = 13, C = 64, G = 32 };
  float *x = rand_vec(HW * C), *g = rand_vec(C), *b = rand_vec(C), y[HW * C];
  for (int i = 0; i < HW * C; i++) x[i] = x[i] * 3.0f + 1.5f;
  kern_groupnorm(y, x, HW, C, G, g, b, 1e-6f);
  int cg = C / G;
  for (int grp = 0; grp < G; grp++) {
    double m = 0, v = 0;
    for (int p = 0; p < HW; p++)
      for (int j = 0; j < cg; j++) m += x[p * C + grp * cg + j];
    m /= HW * cg;
    for (int p = 0; p < HW; p++)
      for (int j = 0; j < cg; j++)
        v += (x[p * C + grp * cg + j] - m) * (x[p * C + grp * cg + j] - m);
    v /= HW * cg;
    for (int p = 0; p < HW; p++)
      for (int j = 0; j < cg; j++) {
        int ch = grp * cg + j;
        double want = (x[p * C + ch] - m) / sqrt(v + 1e-6) * g[ch] + b[ch];
        ASSERT_NEAR(y[p * C + ch], want, 1e-4);
      }
  }
  kern_groupnorm(x, x, HW, C, G, g, b, 1e-6f); /* in place */
  ASSERT_EQ_MEM(x, y, sizeof y);
  free(x);
  free(g);
  free(b);
}

int main(int argc, char **argv) {
  static const test_case tests[] = {TEST(test_conv_backends), TEST(test_groupnorm), {0}};
  return test_main(argc, argv, tests);
}
