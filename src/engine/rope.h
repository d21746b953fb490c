/* SPDX-License-Identifier: Apache-2.0
 *
 * engine/rope.h: rotary position embeddings as Hugging Face computes them
 * (rotate_half layout: dimension i pairs with i + head_dim/2), with the
 * default, linear, Llama 3 and YaRN frequency schedules.
 *
 *   rope_inv_freq(inv, hd, &cfg->rope, &mscale);        // once, at load
 *   rope_table(cos, sin, inv, mscale, hd / 2, pos0, T);  // per step
 *   rope_apply(q_row, n_heads, hd, cos + t * hd / 2, sin + t * hd / 2);
 *
 * Ownership: caller's buffers. Thread safety: reentrant.
 */
#ifndef GLOAM_ENGINE_ROPE_H
#define GLOAM_ENGINE_ROPE_H

#include "engine/model_files.h"

/* Fills inv_freq[head_dim / 2] for p and the factor *out_mscale on cos/sin
 * (YaRN's attention factor; 1 otherwise). Returns 0 or GLOAM_EUNSUPPORTED
 * (unknown scaling) / GLOAM_EFORMAT (parameters out of range). */
int rope_inv_freq(float *inv_freq, int head_dim, const rope_params *p, float *out_mscale,
                  char *err);

/* cos/sin [T, half] for positions pos0 .. pos0 + T - 1. */
void rope_table(float *cos_out, float *sin_out, const float *inv_freq, float mscale, int half,
                int pos0, int T);

/* Rotates n_heads consecutive heads of head_dim values in place with one
 * position's cos/sin [head_dim / 2]. */
void rope_apply(float *x, int n_heads, int head_dim, const float *cos_t, const float *sin_t);

/* Partial rotary: rotates only the first rot_dim (even, <= head_dim) values
 * of each head (rotate_half within them; cos/sin [rot_dim / 2], frequencies
 * from rope_inv_freq(inv, rot_dim, ...)); the rest pass through. */
void rope_apply_partial(float *x, int n_heads, int head_dim, int rot_dim, const float *cos_t,
                        const float *sin_t);

#endif
