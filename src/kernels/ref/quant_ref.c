/* SPDX-License-Identifier: Apache-2.0
 *
 * kernels/ref/quant_ref.c: reference row (de)quantization for every dtype.
 *
 * The quantizers follow llama.cpp's reference quantizers (ggml-quants.c:
 * quantize_row_*_ref), including the K-quant scale searches (a weighted
 * least-squares fit over a sweep of candidate scales for Q4_K, an RMSE fit
 * of a symmetric scale for Q6_K), so files we quantize match llama.cpp's
 * bytes and its error levels. Written from the published algorithm, not
 * copied.
 *
 * DESIGN: nearest_int() rounds by adding 1.5 * 2^23, the same trick (and so
 * the same ties-to-even results) as ggml; Q8_0 uses roundf (ties away from
 * zero) as ggml does.
 *
 * Thread safety: pure functions.
 */
#include <math.h>
#include <string.h>

#include "kernels/kern_impl.h"

#define MINI(a, b) ((a) < (b) ? (a) : (b))
#define MAXI(a, b) ((a) > (b) ? (a) : (b))
#define GROUP_MAX_EPS 1e-15f

static int nearest_int(float f) {
  float v = f + 12582912.f;
  int32_t i;
  memcpy(&i, &v, sizeof i);
  return (i & 0x007fffff) - 0x00400000;
}

/* ---- Q8_0, Q4_0 ---- */

void ref_quantize_row_q8_0(const float *x, void *dst, int64_t n) {
  block_q8_0 *y = dst;
  for (int64_t i = 0; i < n / QK8_0; i++, x += QK8_0) {
    float amax = 0.0f;
    for (int j = 0; j < QK8_0; j++) amax = fmaxf(amax, fabsf(x[j]));
    float d = amax / 127.0f;
    float id = d != 0.0f ? 1.0f / d : 0.0f;
    y[i].d = f32_to_f16(d);
    for (int j = 0; j < QK8_0; j++) y[i].qs[j] = (int8_t)roundf(x[j] * id);
  }
}

static void dequantize_q8_0(const block_q8_0 *x, float *y, int64_t n) {
  for (int64_t i = 0; i < n / QK8_0; i++) {
    float d = f16_to_f32(x[i].d);
    for (int j = 0; j < QK8_0; j++) *y++ = (float)x[i].qs[j] * d;
  }
}

static void quantize_q4_0(const float *x, block_q4_0 *y, int64_t n) {
  for (int64_t i = 0; i < n / QK4_0; i++, x += QK4_0) {
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < QK4_0; j++) {
      if (amax < fabsf(x[j])) {
        amax = fabsf(x[j]);
        max = x[j];
      }
    }
    float d = max / -8.0f;
    float id = d != 0.0f ? 1.0f / d : 0.0f;
    y[i].d = f32_to_f16(d);
    for (int j = 0; j < QK4_0 / 2; j++) {
      int q0 = MINI(15, (int8_t)(x[j] * id + 8.5f));
      int q1 = MINI(15, (int8_t)(x[j + QK4_0 / 2] * id + 8.5f));
      y[i].qs[j] = (uint8_t)(q0 | (q1 << 4));
    }
  }
}

static void dequantize_q4_0(const block_q4_0 *x, float *y, int64_t n) {
  for (int64_t i = 0; i < n / QK4_0; i++, y += QK4_0) {
    float d = f16_to_f32(x[i].d);
    for (int j = 0; j < QK4_0 / 2; j++) {
      y[j] = (float)((x[i].qs[j] & 15) - 8) * d;
      y[j + QK4_0 / 2] = (float)((x[i].qs[j] >> 4) - 8) * d;
    }
  }
}

/* ---- Q4_K ---- */

/* Fits x ~ scale * L - min (L in 0..nmax, min >= 0) minimising the weighted
 * error, sweeping nstep+1 candidate inverse scales (llama.cpp's
 * make_qkx2_quants). Returns scale; *out_min gets min. */
static float fit_scale_min(int n, int nmax, const float *x, const float *w, uint8_t *L,
                           float *out_min, uint8_t *Laux, float rmin, float rdelta, int nstep) {
  float min = x[0], max = x[0], sum_w = w[0], sum_x = w[0] * x[0];
  for (int i = 1; i < n; i++) {
    if (x[i] < min) min = x[i];
    if (x[i] > max) max = x[i];
    sum_w += w[i];
    sum_x += w[i] * x[i];
  }
  if (min > 0) min = 0;
  if (max == min) {
    memset(L, 0, (size_t)n);
    *out_min = -min;
    return 0.0f;
  }
  float iscale = (float)nmax / (max - min);
  float scale = 1.0f / iscale;
  float best_error = 0;
  for (int i = 0; i < n; i++) {
    int l = nearest_int(iscale * (x[i] - min));
    L[i] = (uint8_t)MAXI(0, MINI(nmax, l));
    float diff = scale * L[i] + min - x[i];
    best_error += w[i] * diff * diff;
  }
  for (int is = 0; is <= nstep; is++) {
    iscale = (rmin + rdelta * (float)is + (float)nmax) / (max - min);
    float sum_l = 0, sum_l2 = 0, sum_xl = 0;
    for (int i = 0; i < n; i++) {
      int l = MAXI(0, MINI(nmax, nearest_int(iscale * (x[i] - min))));
      Laux[i] = (uint8_t)l;
      sum_l += w[i] * (float)l;
      sum_l2 += w[i] * (float)(l * l);
      sum_xl += w[i] * (float)l * x[i];
    }
    float D = sum_w * sum_l2 - sum_l * sum_l;
    if (D > 0) {
      float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
      float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
      if (this_min > 0) {
        this_min = 0;
        this_scale = sum_xl / sum_l2;
      }
      float err = 0;
      for (int i = 0; i < n; i++) {
        float diff = this_scale * Laux[i] + this_min - x[i];
        err += w[i] * diff * diff;
      }
      if (err < best_error) {
        memcpy(L, Laux, (size_t)n);
        best_error = err;
        scale = this_scale;
        min = this_min;
      }
    }
  }
  *out_min = -min;
  return scale;
}

/* The 6-bit scale and min of sub-block j (0..7) from the packed 12 bytes. */
static void q4k_scale_min(int j, const uint8_t *q, uint8_t *d, uint8_t *m) {
  if (j < 4) {
    *d = q[j] & 63;
    *m = q[j + 4] & 63;
  } else {
    *d = (uint8_t)((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
    *m = (uint8_t)((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
  }
}

static void quantize_q4_K(const float *x, block_q4_K *y, int64_t n) {
  uint8_t L[QK_K], Laux[32];
  float weights[32], mins[QK_K / 32], scales[QK_K / 32];
  for (int64_t i = 0; i < n / QK_K; i++, x += QK_K) {
    float max_scale = 0, max_min = 0;
    for (int j = 0; j < QK_K / 32; j++) {
      const float *xs = x + 32 * j;
      float sum_x2 = 0;
      for (int l = 0; l < 32; l++) sum_x2 += xs[l] * xs[l];
      float av_x = sqrtf(sum_x2 / 32);
      for (int l = 0; l < 32; l++) weights[l] = av_x + fabsf(xs[l]);
      scales[j] = fit_scale_min(32, 15, xs, weights, L + 32 * j, &mins[j], Laux, -1.0f, 0.1f, 20);
      if (scales[j] > max_scale) max_scale = scales[j];
      if (mins[j] > max_min) max_min = mins[j];
    }
    float inv_scale = max_scale > 0 ? 63.0f / max_scale : 0.0f;
    float inv_min = max_min > 0 ? 63.0f / max_min : 0.0f;
    memset(y[i].scales, 0, sizeof y[i].scales);
    for (int j = 0; j < QK_K / 32; j++) {
      uint8_t ls = (uint8_t)MINI(63, (uint8_t)nearest_int(inv_scale * scales[j]));
      uint8_t lm = (uint8_t)MINI(63, (uint8_t)nearest_int(inv_min * mins[j]));
      if (j < 4) {
        y[i].scales[j] = ls;
        y[i].scales[j + 4] = lm;
      } else {
        y[i].scales[j + 4] = (uint8_t)((ls & 0xF) | ((lm & 0xF) << 4));
        y[i].scales[j - 4] |= (uint8_t)((ls >> 4) << 6);
        y[i].scales[j] |= (uint8_t)((lm >> 4) << 6);
      }
    }
    y[i].d = f32_to_f16(max_scale / 63.0f);
    y[i].dmin = f32_to_f16(max_min / 63.0f);
    for (int j = 0; j < QK_K / 32; j++) {
      uint8_t sc, m;
      q4k_scale_min(j, y[i].scales, &sc, &m);
      float d = f16_to_f32(y[i].d) * sc;
      if (d == 0.0f) continue;
      float dm = f16_to_f32(y[i].dmin) * m;
      for (int l = 0; l < 32; l++) {
        int q = nearest_int((x[32 * j + l] + dm) / d);
        L[32 * j + l] = (uint8_t)MAXI(0, MINI(15, q));
      }
    }
    for (int j = 0; j < QK_K; j += 64) {
      for (int l = 0; l < 32; l++) {
        y[i].qs[j / 2 + l] = (uint8_t)(L[j + l] | (L[j + l + 32] << 4));
      }
    }
  }
}

static void dequantize_q4_K(const block_q4_K *x, float *y, int64_t n) {
  for (int64_t i = 0; i < n / QK_K; i++) {
    const uint8_t *q = x[i].qs;
    float d = f16_to_f32(x[i].d), dmin = f16_to_f32(x[i].dmin);
    for (int j = 0; j < QK_K / 64; j++, q += 32) {
      uint8_t sc, m;
      q4k_scale_min(2 * j, x[i].scales, &sc, &m);
      float d1 = d * sc, m1 = dmin * m;
      q4k_scale_min(2 * j + 1, x[i].scales, &sc, &m);
      float d2 = d * sc, m2 = dmin * m;
      for (int l = 0; l < 32; l++) *y++ = d1 * (float)(q[l] & 0xF) - m1;
      for (int l = 0; l < 32; l++) *y++ = d2 * (float)(q[l] >> 4) - m2;
    }
  }
}

/* ---- Q6_K ---- */

/* Symmetric fit x ~ scale * (L - nmax), L - nmax in [-nmax, nmax-1], weights
 * x^2, refined over 18 nearby inverse scales (make_qx_quants, rmse_type 1). */
static float fit_scale_sym(int n, int nmax, const float *x, int8_t *L) {
  float max = 0, amax = 0;
  for (int i = 0; i < n; i++) {
    if (fabsf(x[i]) > amax) {
      amax = fabsf(x[i]);
      max = x[i];
    }
  }
  if (amax < GROUP_MAX_EPS) {
    memset(L, 0, (size_t)n);
    return 0.0f;
  }
  float iscale = -(float)nmax / max;
  float sumlx = 0, suml2 = 0;
  for (int i = 0; i < n; i++) {
    int l = MAXI(-nmax, MINI(nmax - 1, nearest_int(iscale * x[i])));
    L[i] = (int8_t)(l + nmax);
    float w = x[i] * x[i];
    sumlx += w * x[i] * (float)l;
    suml2 += w * (float)(l * l);
  }
  float scale = suml2 != 0.0f ? sumlx / suml2 : 0.0f;
  float best = scale * sumlx;
  for (int is = -9; is <= 9; is++) {
    if (is == 0) continue;
    iscale = -((float)nmax + 0.1f * (float)is) / max;
    sumlx = suml2 = 0;
    for (int i = 0; i < n; i++) {
      int l = MAXI(-nmax, MINI(nmax - 1, nearest_int(iscale * x[i])));
      float w = x[i] * x[i];
      sumlx += w * x[i] * (float)l;
      suml2 += w * (float)(l * l);
    }
    if (suml2 > 0 && sumlx * sumlx > best * suml2) {
      for (int i = 0; i < n; i++) {
        int l = nearest_int(iscale * x[i]);
        L[i] = (int8_t)(nmax + MAXI(-nmax, MINI(nmax - 1, l)));
      }
      scale = sumlx / suml2;
      best = scale * sumlx;
    }
  }
  return scale;
}

static void quantize_q6_K(const float *x, block_q6_K *y, int64_t n) {
  int8_t L[QK_K];
  float scales[QK_K / 16];
  for (int64_t i = 0; i < n / QK_K; i++, x += QK_K) {
    float max_scale = 0, max_abs_scale = 0;
    for (int ib = 0; ib < QK_K / 16; ib++) {
      scales[ib] = fit_scale_sym(16, 32, x + 16 * ib, L + 16 * ib);
      if (fabsf(scales[ib]) > max_abs_scale) {
        max_abs_scale = fabsf(scales[ib]);
        max_scale = scales[ib];
      }
    }
    if (max_abs_scale < GROUP_MAX_EPS) {
      memset(&y[i], 0, sizeof y[i]);
      continue;
    }
    float iscale = -128.0f / max_scale;
    y[i].d = f32_to_f16(1.0f / iscale);
    for (int ib = 0; ib < QK_K / 16; ib++) {
      y[i].scales[ib] = (int8_t)MINI(127, nearest_int(iscale * scales[ib]));
    }
    for (int j = 0; j < QK_K / 16; j++) {
      float d = f16_to_f32(y[i].d) * y[i].scales[j];
      if (d == 0.0f) continue;
      for (int l = 0; l < 16; l++) {
        int q = MAXI(-32, MINI(31, nearest_int(x[16 * j + l] / d)));
        L[16 * j + l] = (int8_t)(q + 32);
      }
    }
    uint8_t *ql = y[i].ql, *qh = y[i].qh;
    for (int j = 0; j < QK_K; j += 128, ql += 64, qh += 32) {
      for (int l = 0; l < 32; l++) {
        int q1 = L[j + l], q2 = L[j + l + 32], q3 = L[j + l + 64], q4 = L[j + l + 96];
        ql[l] = (uint8_t)((q1 & 0xF) | ((q3 & 0xF) << 4));
        ql[l + 32] = (uint8_t)((q2 & 0xF) | ((q4 & 0xF) << 4));
        qh[l] = (uint8_t)((q1 >> 4) | ((q2 >> 4) << 2) | ((q3 >> 4) << 4) | ((q4 >> 4) << 6));
      }
    }
  }
}

static void dequantize_q6_K(const block_q6_K *x, float *y, int64_t n) {
  for (int64_t i = 0; i < n / QK_K; i++) {
    float d = f16_to_f32(x[i].d);
    const uint8_t *ql = x[i].ql, *qh = x[i].qh;
    const int8_t *sc = x[i].scales;
    for (int j = 0; j < QK_K; j += 128, y += 128, ql += 64, qh += 32, sc += 8) {
      for (int l = 0; l < 32; l++) {
        int is = l / 16;
        int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
        int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
        int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
        int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
        y[l] = d * (float)sc[is] * (float)q1;
        y[l + 32] = d * (float)sc[is + 2] * (float)q2;
        y[l + 64] = d * (float)sc[is + 4] * (float)q3;
        y[l + 96] = d * (float)sc[is + 6] * (float)q4;
      }
    }
  }
}

/* ---- Q8_K (activations) ---- */

void ref_quantize_row_q8_K(const float *x, void *dst, int64_t n) {
  block_q8_K *y = dst;
  for (int64_t i = 0; i < n / QK_K; i++, x += QK_K) {
    float max = 0, amax = 0;
    for (int j = 0; j < QK_K; j++) {
      if (fabsf(x[j]) > amax) {
        amax = fabsf(x[j]);
        max = x[j];
      }
    }
    if (amax == 0.0f) {
      memset(&y[i], 0, sizeof y[i]);
      continue;
    }
    float iscale = -127.0f / max;
    for (int j = 0; j < QK_K; j++) y[i].qs[j] = (int8_t)MINI(127, nearest_int(iscale * x[j]));
    for (int j = 0; j < QK_K / 16; j++) {
      int sum = 0;
      for (int l = 0; l < 16; l++) sum += y[i].qs[16 * j + l];
      y[i].bsums[j] = (int16_t)sum;
    }
    y[i].d = 1.0f / iscale;
  }
}

static void dequantize_q8_K(const block_q8_K *x, float *y, int64_t n) {
  for (int64_t i = 0; i < n / QK_K; i++) {
    for (int j = 0; j < QK_K; j++) *y++ = x[i].d * (float)x[i].qs[j];
  }
}

/* ---- dispatch on type ---- */

void ref_dequantize_row(enum dtype t, const void *src, float *dst, int64_t n) {
  switch (t) {
    case DT_F32:
      memcpy(dst, src, (size_t)n * sizeof(float));
      break;
    case DT_F16: {
      const f16_bits *s = src;
      for (int64_t i = 0; i < n; i++) dst[i] = f16_to_f32(s[i]);
      break;
    }
    case DT_BF16: {
      const bf16_bits *s = src;
      for (int64_t i = 0; i < n; i++) dst[i] = bf16_to_f32(s[i]);
      break;
    }
    case DT_Q8_0:
      dequantize_q8_0(src, dst, n);
      break;
    case DT_Q4_0:
      dequantize_q4_0(src, dst, n);
      break;
    case DT_Q4_K:
      dequantize_q4_K(src, dst, n);
      break;
    case DT_Q6_K:
      dequantize_q6_K(src, dst, n);
      break;
    case DT_Q8_K:
      dequantize_q8_K(src, dst, n);
      break;
    default:
      break;
  }
}

void ref_quantize_row(enum dtype t, const float *src, void *dst, int64_t n) {
  switch (t) {
    case DT_F32:
      memcpy(dst, src, (size_t)n * sizeof(float));
      break;
    case DT_F16: {
      f16_bits *d = dst;
      for (int64_t i = 0; i < n; i++) d[i] = f32_to_f16(src[i]);
      break;
    }
    case DT_BF16: {
      bf16_bits *d = dst;
      for (int64_t i = 0; i < n; i++) d[i] = f32_to_bf16(src[i]);
      break;
    }
    case DT_Q8_0:
      ref_quantize_row_q8_0(src, dst, n);
      break;
    case DT_Q4_0:
      quantize_q4_0(src, dst, n);
      break;
    case DT_Q4_K:
      quantize_q4_K(src, dst, n);
      break;
    case DT_Q6_K:
      quantize_q6_K(src, dst, n);
      break;
    case DT_Q8_K:
      ref_quantize_row_q8_K(src, dst, n);
      break;
    default:
      break;
  }
}
