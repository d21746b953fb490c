/* SPDX-License-Identifier: Apache-2.0
 *
 * kernels/ref/conv_ref.c: the reference 2-D convolution (direct summation,
 * the oracle of kern_conv2d), weight reordering and GroupNorm
 * (kernels/conv.h). Sums run in double so the oracle is exact to float
 * rounding of the result.
 */
#include <math.h>

#include "kernels/conv.h"

void kern_conv2d_ref(const kern_conv *c, const float *x, float *y) {
  int pad = c->k / 2;
  for (int oy = 0; oy < c->h; oy++)
    for (int ox = 0; ox < c->w; ox++)
      for (int co = 0; co < c->cout; co++) {
        double s = c->b ? (double)c->b[co] : 0.0;
        for (int ky = 0; ky < c->k; ky++) {
          int iy = oy + ky - pad;
          if (iy < 0 || iy >= c->h) continue;
          for (int kx = 0; kx < c->k; kx++) {
            int ix = ox + kx - pad;
            if (ix < 0 || ix >= c->w) continue;
            const float *xp = x + ((size_t)iy * (size_t)c->w + (size_t)ix) * (size_t)c->cin;
            const float *wp =
                c->wt + (((size_t)co * (size_t)c->k + (size_t)ky) * (size_t)c->k + (size_t)kx) *
                            (size_t)c->cin;
            for (int ci = 0; ci < c->cin; ci++) s += (double)xp[ci] * (double)wp[ci];
          }
        }
        y[((size_t)oy * (size_t)c->w + (size_t)ox) * (size_t)c->cout + (size_t)co] = (float)s;
      }
}

void kern_conv_weight_ohwi(float *dst, const float *src, int cout, int cin, int k) {
  size_t kk = (size_t)k * (size_t)k;
  for (size_t co = 0; co < (size_t)cout; co++)
    for (size_t ci = 0; ci < (size_t)cin; ci++)
      for (size_t j = 0; j < kk; j++)
        dst[(co * kk + j) * (size_t)cin + ci] = src[(co * (size_t)cin + ci) * kk + j];
}

void kern_groupnorm(float *y, const float *x, int64_t hw, int c, int groups, const float *gamma,
                    const float *beta, float eps) {
  int cg = c / groups;
  for (int g = 0; g < groups; g++) {
    int c0 = g * cg;
    double sum = 0, sq = 0;
    for (int64_t i = 0; i < hw; i++) {
      const float *p = x + (size_t)i * (size_t)c + (size_t)c0;
      for (int j = 0; j < cg; j++) sum += p[j];
    }
    double n = (double)hw * cg, mean = sum / n;
    for (int64_t i = 0; i < hw; i++) {
      const float *p = x + (size_t)i * (size_t)c + (size_t)c0;
      for (int j = 0; j < cg; j++) {
        double d = p[j] - mean;
        sq += d * d;
      }
    }
    float inv = (float)(1.0 / sqrt(sq / n + (double)eps)), m = (float)mean;
    for (int64_t i = 0; i < hw; i++) {
      size_t o = (size_t)i * (size_t)c + (size_t)c0;
      for (int j = 0; j < cg; j++)
        y[o + (size_t)j] = (x[o + (size_t)j] - m) * inv * gamma[c0 + j] + beta[c0 + j];
    }
  }
}
