/* SPDX-License-Identifier: Apache-2.0
 *
 * kernels/conv.c: 2-D convolution as im2col + kern_matmul (kernels/conv.h):
 * output pixels in tiles of KERN_CONV_TILE; each tile's rows hold the k * k
 * input neighbourhoods (zeros outside the image), laid out like the OHWI
 * weight rows, so Y_tile = cols . W^T is one matrix product on the
 * dispatched backend and the pool's threads.
 */
#include <string.h>

#include "kernels/conv.h"
#include "kernels/kern_impl.h"

size_t kern_conv2d_scratch(const kern_conv *c) {
  if (c->k == 1) return 0;
  return (size_t)KERN_CONV_TILE * (size_t)c->k * (size_t)c->k * (size_t)c->cin;
}

/* Rows [p0, p0 + n) of the im2col matrix: cols [n, k * k * cin]. */
static void im2col(const kern_conv *c, const float *x, int64_t p0, int64_t n, float *cols) {
  int pad = c->k / 2;
  size_t cin = (size_t)c->cin, row = (size_t)c->k * (size_t)c->k * cin;
  for (int64_t i = 0; i < n; i++) {
    int64_t pix = p0 + i;
    int oy = (int)(pix / c->w), ox = (int)(pix % c->w);
    float *r = cols + (size_t)i * row;
    for (int ky = 0; ky < c->k; ky++) {
      int iy = oy + ky - pad;
      for (int kx = 0; kx < c->k; kx++, r += cin) {
        int ix = ox + kx - pad;
        if (iy < 0 || iy >= c->h || ix < 0 || ix >= c->w)
          memset(r, 0, sizeof(float) * cin);
        else
          memcpy(r, x + ((size_t)iy * (size_t)c->w + (size_t)ix) * cin, sizeof(float) * cin);
      }
    }
  }
}

void kern_conv2d(kern_pool *p, const kern_conv *c, const float *x, float *y, float *scratch) {
  kern_conv2d_on(kern_backend_active(), p, c, x, y, scratch);
}

void kern_conv2d_on(const kern_backend *b, kern_pool *p, const kern_conv *c, const float *x,
                    float *y, float *scratch) {
  int64_t n_pix = (int64_t)c->h * c->w, cols = (int64_t)c->k * c->k * c->cin;
  for (int64_t p0 = 0; p0 < n_pix; p0 += KERN_CONV_TILE) {
    int64_t n = n_pix - p0 < KERN_CONV_TILE ? n_pix - p0 : KERN_CONV_TILE;
    const float *xs = x + (size_t)p0 * (size_t)c->cin;
    if (c->k != 1) {
      im2col(c, x, p0, n, scratch);
      xs = scratch;
    }
    float *ys = y + (size_t)p0 * (size_t)c->cout;
    kern_matmul_on(b, p, DT_F32, c->wt, xs, ys, n, c->cout, cols);
    if (c->b)
      for (int64_t i = 0; i < n; i++)
        b->axpy_f32(ys + (size_t)i * (size_t)c->cout, 1.0f, c->b, c->cout);
  }
}
