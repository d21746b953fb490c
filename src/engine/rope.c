/* SPDX-License-Identifier: Apache-2.0
 *
 * engine/rope.c: rotary embeddings (see rope.h). The frequency schedules
 * follow transformers' ROPE_INIT_FUNCTIONS; frequencies are computed in
 * double and rounded to float, angles in float as transformers does
 * (inv_freq * position in float32), cos/sin of that float angle.
 */
#include "engine/rope.h"

#include <math.h>

#include "core/err.h"

static void rope_llama3(float *inv, int half, const rope_params *p) {
  double old_ctx = p->original_max_pos;
  double lo = p->low_freq_factor, hi = p->high_freq_factor, f = p->factor;
  double lo_wavelen = old_ctx / lo, hi_wavelen = old_ctx / hi;
  for (int i = 0; i < half; i++) {
    double fr = inv[i], wavelen = 2.0 * M_PI / fr;
    double out = wavelen > lo_wavelen ? fr / f : fr;
    if (!(wavelen < hi_wavelen) && !(wavelen > lo_wavelen)) {
      double smooth = (old_ctx / wavelen - lo) / (hi - lo);
      out = (1.0 - smooth) * out / f + smooth * out;
    }
    inv[i] = (float)out;
  }
}

static double yarn_corr_dim(double n_rot, int dim, double base, double max_pos) {
  return (dim * log(max_pos / (n_rot * 2.0 * M_PI))) / (2.0 * log(base));
}

static void rope_yarn(float *inv, int head_dim, const rope_params *p, float *mscale) {
  int half = head_dim / 2;
  double base = p->theta, f = p->factor;
  double beta_fast = p->beta_fast > 0 ? p->beta_fast : 32.0;
  double beta_slow = p->beta_slow > 0 ? p->beta_slow : 1.0;
  double lo = floor(yarn_corr_dim(beta_fast, head_dim, base, p->original_max_pos));
  double hi = ceil(yarn_corr_dim(beta_slow, head_dim, base, p->original_max_pos));
  if (lo < 0) lo = 0;
  if (hi > head_dim - 1) hi = head_dim - 1;
  if (lo == hi) hi += 0.001;
  for (int i = 0; i < half; i++) {
    double pos_freq = pow(base, (2.0 * i) / head_dim);
    double extra = 1.0 / pos_freq, inter = 1.0 / (f * pos_freq);
    double ramp = (i - lo) / (hi - lo);
    ramp = ramp < 0 ? 0 : ramp > 1 ? 1 : ramp;
    double extra_factor = 1.0 - ramp;
    inv[i] = (float)(inter * (1.0 - extra_factor) + extra * extra_factor);
  }
  if (p->attention_factor > 0)
    *mscale = p->attention_factor;
  else
    *mscale = f > 1 ? (float)(0.1 * log(f) + 1.0) : 1.0f;
}

int rope_inv_freq(float *inv, int head_dim, const rope_params *p, float *mscale, char *err) {
  int half = head_dim / 2;
  *mscale = 1.0f;
  if (head_dim < 2 || head_dim % 2 || !(p->theta > 1.0f))
    return err_set(err, GLOAM_EFORMAT, "rope: bad head_dim %d or theta %g", head_dim,
                   (double)p->theta);
  for (int i = 0; i < half; i++) inv[i] = (float)(1.0 / pow(p->theta, (2.0 * i) / head_dim));
  switch (p->scaling) {
    case ROPE_SCALING_NONE:
      return 0;
    case ROPE_SCALING_LINEAR:
      if (!(p->factor > 0)) return err_set(err, GLOAM_EFORMAT, "rope: bad linear factor");
      for (int i = 0; i < half; i++) inv[i] = (float)((double)inv[i] / p->factor);
      return 0;
    case ROPE_SCALING_LLAMA3:
      if (!(p->factor > 0) || p->original_max_pos <= 0 ||
          !(p->high_freq_factor > p->low_freq_factor) || !(p->low_freq_factor > 0))
        return err_set(err, GLOAM_EFORMAT, "rope: bad llama3 scaling parameters");
      rope_llama3(inv, half, p);
      return 0;
    case ROPE_SCALING_YARN:
      if (!(p->factor > 0) || p->original_max_pos <= 0)
        return err_set(err, GLOAM_EFORMAT, "rope: bad yarn scaling parameters");
      rope_yarn(inv, head_dim, p, mscale);
      return 0;
  }
  return err_set(err, GLOAM_EUNSUPPORTED, "rope: unsupported scaling %d", (int)p->scaling);
}

void rope_table(float *cos_out, float *sin_out, const float *inv, float mscale, int half, int pos0,
                int T) {
  for (int t = 0; t < T; t++) {
    float pos = (float)(pos0 + t);
    for (int i = 0; i < half; i++) {
      float ang = pos * inv[i];
      cos_out[(size_t)t * half + i] = (float)cos((double)ang) * mscale;
      sin_out[(size_t)t * half + i] = (float)sin((double)ang) * mscale;
    }
  }
}

void rope_apply(float *x, int n_heads, int head_dim, const float *c, const float *s) {
  rope_apply_partial(x, n_heads, head_dim, head_dim, c, s);
}

void rope_apply_partial(float *x, int n_heads, int head_dim, int rot_dim, const float *c,
                        const float *s) {
  int half = rot_dim / 2;
  for (int h = 0; h < n_heads; h++) {
    float *v = x + (size_t)h * head_dim;
    for (int i = 0; i < half; i++) {
      float x0 = v[i], x1 = v[i + half];
      v[i] = x0 * c[i] - x1 * s[i];
      v[i + half] = x1 * c[i] + x0 * s[i];
    }
  }
}
