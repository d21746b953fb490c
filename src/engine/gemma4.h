/* SPDX-License-Identifier: Apache-2.0
 *
 * engine/gemma4.h: the Gemma 4 text model (transformers' Gemma4TextModel,
 * model_type gemma4_text, or gemma4 with a text_config) over the engine's
 * blocks. Its layer differs enough from the shared one (forward.c) to have
 * its own pass over the same rows (engine_impl.h), so prefill, decode and
 * continuous batching work unchanged:
 *
 *   x = embed(tok) * sqrt(H)
 *   ple = (norm(W_ple x * H^-1/2) + embed_ple(tok) * sqrt(P)) * 2^-1/2  [L, P] per row
 *   per layer l (head_dim, heads, kv heads of the layer):
 *     h = norm(x); q = norm_head(W_q h); k = norm_head(W_k h);
 *     v = rms(W_v h or, with k_eq_v on full layers, the raw W_k h)
 *     rope(q, k) (sliding: default; full: proportional, partial rotation)
 *     K/V cached per layer (shared layers read their source layer's cache)
 *     x += norm(attention(q, K, V, scale 1, window on sliding) W_o)
 *     f = norm1(mlp(norm(x)))
 *     MoE: f += norm2(experts(norm(x)) routed by softmax-top-k of
 *          W_r (rms(x) * scale * H^-1/2), renormalised, * per_expert_scale)
 *     x += norm(f)
 *     x += norm(W_proj (gelu(W_gate x) * ple[l]))
 *     x *= layer_scalar
 *   logits = softcap(norm(x) W_embed)
 *
 * Ownership: the gemma4_model lives in the model's arena. Thread safety:
 * immutable after gemma4_bind(); a step writes only its eng_work.
 */
#ifndef GLOAM_ENGINE_GEMMA4_H
#define GLOAM_ENGINE_GEMMA4_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/engine_impl.h"

/* What Gemma 4 keeps beyond eng_layer, per layer. */
typedef struct g4_layer {
  int hd, nh, nkv;             /* head_dim, heads, kv heads */
  int kv_src;                  /* layer whose cache holds this layer's K/V */
  size_t kv_off;               /* first value of this layer's cache per position row */
  bool values_are_keys;        /* attention_k_eq_v on a full layer */
  float layer_scalar;          /* multiplies the layer's output */
  const float *post_ffn_norm1; /* MoE block: on the MLP output */
  const float *pre_ffn_norm2;  /* on the experts' input */
  const float *post_ffn_norm2; /* on the experts' output */
  const float *router_w;       /* router.scale * hidden^-1/2 */
  const float *expert_scale;   /* router.per_expert_scale [n_experts] */
  eng_mat ple_gate, ple_proj;  /* [P, H], [H, P] */
  const float *ple_norm;       /* post_per_layer_input_norm */
} g4_layer;

/* A layer type's rope: inverse frequencies [head_dim / 2]. */
typedef struct g4_rope {
  float *inv_freq;
  float mscale;
  int half;
} g4_rope;

typedef struct gemma4_model {
  g4_layer *layers;
  eng_mat ple_embed;          /* [ple_vocab, L * P] */
  eng_mat ple_model_proj;     /* [L * P, H] */
  const float *ple_proj_norm; /* [P] */
  const float *ones;          /* [max(hidden, head_dim)] for the unweighted norms */
  g4_rope rope[2];            /* full, sliding */
} gemma4_model;

/* The step scratch sizes eng_work_init() uses for Gemma 4 (the largest
 * layer's): head_dim, heads * head_dim, kv heads * head_dim, MLP width. */
void gemma4_work_dims(const model_config *c, size_t *hd, size_t *q_row, size_t *kv_row, size_t *ff);
/* Floats of eng_work.ext for n_rows rows. */
size_t gemma4_work_floats(const model_config *c, size_t n_rows);

/* Binds every tensor (checked against the config), builds the rope tables
 * and the per-layer cache layout (m->kv_per_pos). m->mf, m->cfg, m->arch
 * set. Returns 0, GLOAM_ENOENT, GLOAM_EFORMAT, GLOAM_ENOMEM. */
int gemma4_bind(gloam_model *m, char *err);

/* forward_rows() for Gemma 4 (same contract). */
int gemma4_forward_rows(eng_work *w, const gloam_model *m, const int32_t *tokens, int T, int n_out,
                        float *logits, float *capture, atomic_bool *cancel);

#endif
