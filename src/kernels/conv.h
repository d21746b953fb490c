/* SPDX-License-Identifier: Apache-2.0
 *
 * kernels/conv.h: 2-D convolution and GroupNorm over channels-last images,
 * for convolutional decoders (the Janus VQ-GAN decoder, engine/vq_decoder.c).
 *
 * Layout: an image is [H * W, C] float32, pixels in row-major order and each
 * pixel's C channels contiguous ("HWC"), so a 1 x 1 convolution is a plain
 * matrix product. Convolution weights are [cout, k, k, cin] ("OHWI");
 * kern_conv_weight_ohwi() reorders PyTorch's [cout, cin, k, k] once at load.
 * Stride 1, zero padding k / 2 ("same"), odd k.
 *
 * kern_conv2d() lowers the convolution to matrix products: a tile of output
 * pixels gathers its k * k input neighbourhoods into rows (im2col) and one
 * kern_matmul() multiplies them with the weights, on the dispatched SIMD
 * backend (AVX2, AVX-512, ...) and the pool's threads. kern_conv2d_ref() is
 * the direct loop nest, the test oracle.
 *
 * Ownership: nothing is kept after a call; the caller provides the output
 * and scratch. Threading: reentrant; a pool serves one caller at a time.
 */
#ifndef GLOAM_KERNELS_CONV_H
#define GLOAM_KERNELS_CONV_H

#include <stddef.h>
#include <stdint.h>

#include "kernels/kernels.h"

/* Output pixels per im2col tile of kern_conv2d(). */
#define KERN_CONV_TILE 1024

typedef struct kern_conv {
  int h, w;        /* image size (input = output) */
  int cin, cout;   /* channels */
  int k;           /* kernel size, odd */
  const float *wt; /* [cout, k, k, cin] */
  const float *b;  /* [cout] or NULL */
} kern_conv;

/* Floats of scratch kern_conv2d() needs for c (0 for k == 1). */
size_t kern_conv2d_scratch(const kern_conv *c);

/* y [h * w, cout] = conv(x [h * w, cin]). x and y must not overlap.
 * scratch: kern_conv2d_scratch(c) floats. */
void kern_conv2d(kern_pool *p, const kern_conv *c, const float *x, float *y, float *scratch);
/* kern_conv2d() on an explicit backend (kern_impl.h; tests compare them). */
struct kern_backend;
void kern_conv2d_on(const struct kern_backend *b, kern_pool *p, const kern_conv *c, const float *x,
                    float *y, float *scratch);
/* The same by direct summation (reference). */
void kern_conv2d_ref(const kern_conv *c, const float *x, float *y);

/* dst [cout, k, k, cin] = src [cout, cin, k, k]. */
void kern_conv_weight_ohwi(float *dst, const float *src, int cout, int cin, int k);

/* GroupNorm of x [hw, c] into y (may alias x): channels split into groups
 * of c / groups consecutive channels; each group is normalised by its mean
 * and (biased) variance over all hw pixels, then y = norm * gamma + beta per
 * channel. c % groups == 0. */
void kern_groupnorm(float *y, const float *x, int64_t hw, int c, int groups, const float *gamma,
                    const float *beta, float eps);

#endif
