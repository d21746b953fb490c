/* SPDX-License-Identifier: Apache-2.0
 *
 * engine/gemma4.c: loading a Gemma 4 text model (see gemma4.h): binds the
 * shared roles of eng_layer plus the g4_layer extras, checking every shape
 * against the per-layer config; builds the two rope tables (sliding:
 * default; full: proportional, i.e. the default frequencies over the full
 * head_dim of which only the first partial_rotary_factor * head_dim / 2
 * rotate, the rest are 0 so cos 1 / sin 0) and the per-layer KV cache
 * layout (layer-major, each layer its own row size; shared layers none).
 */
#include "engine/gemma4.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/err.h"
#include "engine/rope.h"
#include "engine/weights.h"

#define TRY(x) \
  if ((rc = (x)) < 0) return rc

void gemma4_work_dims(const model_config *c, size_t *hd, size_t *q_row, size_t *kv_row,
                      size_t *ff) {
  const gemma4_params *g = &c->g4;
  *hd = (size_t)g->max_head_dim;
  *q_row = (size_t)g->max_q_row;
  *kv_row = (size_t)g->max_kv_row;
  size_t f = (size_t)g->max_ffn;
  if ((size_t)c->moe_ffn_hidden > f) f = (size_t)c->moe_ffn_hidden;
  *ff = f;
}

size_t gemma4_work_floats(const model_config *c, size_t n_rows) {
  size_t LP = (size_t)c->n_layers * (size_t)c->g4.ple_dim, H = (size_t)c->hidden;
  /* per-layer inputs [n, L*P], two [n, H] branch buffers, gate [n, P],
   * one token's per-layer embedding [L*P] */
  return n_rows * (LP + 2 * H + (size_t)c->g4.ple_dim) + LP;
}

static int bind_moe(gloam_model *m, eng_layer *L, g4_layer *X, int l, char *err) {
  const model_config *c = m->cfg;
  int E = c->n_experts, H = c->hidden, F = c->moe_ffn_hidden, rc;
  const float *scale;
  TRY(weights_mat(m, &L->router, l, "router.proj.weight", E, H, err));
  TRY(weights_vec(m, &scale, l, "router.scale", H, true, err));
  TRY(weights_vec(m, &X->expert_scale, l, "router.per_expert_scale", E, true, err));
  TRY(weights_vec(m, &X->post_ffn_norm1, l, "post_feedforward_layernorm_1.weight", H, true, err));
  TRY(weights_vec(m, &X->pre_ffn_norm2, l, "pre_feedforward_layernorm_2.weight", H, true, err));
  TRY(weights_vec(m, &X->post_ffn_norm2, l, "post_feedforward_layernorm_2.weight", H, true, err));
  float *rw = arena_alloc(&m->ar, sizeof(float) * (size_t)H);
  L->egate = arena_zalloc(&m->ar, sizeof(eng_mat) * (size_t)E * 3);
  if (!rw || !L->egate) return err_set(err, GLOAM_ENOMEM, "out of memory");
  float root = (float)pow((double)H, -0.5);
  for (int i = 0; i < H; i++) rw[i] = scale[i] * root;
  X->router_w = rw;
  L->eup = L->egate + E;
  L->edown = L->eup + E;
  char what[96];
  for (int e = 0; e < E; e++) {
    static const char *const part[3] = {"gate_proj", "up_proj", "down_proj"};
    eng_mat *dst[3] = {&L->egate[e], &L->eup[e], &L->edown[e]};
    for (int p = 0; p < 3; p++) {
      snprintf(what, sizeof what, "mlp.experts.%d.%s.weight", e, part[p]);
      TRY(weights_mat(m, dst[p], l, what, p == 2 ? H : F, p == 2 ? F : H, err));
    }
  }
  return 0;
}

static int bind_layer(gloam_model *m, gemma4_model *G, int l, char *err) {
  const model_config *c = m->cfg;
  const gemma4_params *g = &c->g4;
  eng_layer *L = &m->layers[l];
  g4_layer *X = &G->layers[l];
  int H = c->hidden, P = g->ple_dim, F = g->layer_ffn[l], rc;
  X->hd = g->layer_head_dim[l];
  X->nh = g->layer_heads[l];
  X->nkv = g->layer_kv_heads[l];
  X->kv_src = g->layer_kv_src[l];
  L->sliding = c->layer_sliding[l];
  L->window = L->sliding ? c->sliding_window : 0;
  X->values_are_keys = g->k_eq_v && !L->sliding;
  int q = X->nh * X->hd, kv = X->nkv * X->hd;
  const float *scalar;
  TRY(weights_vec(m, &L->attn_norm, l, "input_layernorm.weight", H, true, err));
  TRY(weights_vec(m, &L->post_attn_norm, l, "post_attention_layernorm.weight", H, true, err));
  TRY(weights_vec(m, &L->ffn_norm, l, "pre_feedforward_layernorm.weight", H, true, err));
  TRY(weights_vec(m, &L->post_ffn_norm, l, "post_feedforward_layernorm.weight", H, true, err));
  TRY(weights_vec(m, &scalar, l, "layer_scalar", 1, true, err));
  X->layer_scalar = scalar[0];
  TRY(weights_mat(m, &L->wq, l, "self_attn.q_proj.weight", q, H, err));
  TRY(weights_vec(m, &L->q_norm, l, "self_attn.q_norm.weight", X->hd, true, err));
  TRY(weights_mat(m, &L->wo, l, "self_attn.o_proj.weight", H, q, err));
  if (X->kv_src == l) {
    TRY(weights_mat(m, &L->wk, l, "self_attn.k_proj.weight", kv, H, err));
    TRY(weights_vec(m, &L->k_norm, l, "self_attn.k_norm.weight", X->hd, true, err));
    if (!X->values_are_keys) TRY(weights_mat(m, &L->wv, l, "self_attn.v_proj.weight", kv, H, err));
  }
  TRY(weights_mat(m, &L->gate, l, "mlp.gate_proj.weight", F, H, err));
  TRY(weights_mat(m, &L->up, l, "mlp.up_proj.weight", F, H, err));
  TRY(weights_mat(m, &L->down, l, "mlp.down_proj.weight", H, F, err));
  if (P) {
    TRY(weights_mat(m, &X->ple_gate, l, "per_layer_input_gate.weight", P, H, err));
    TRY(weights_mat(m, &X->ple_proj, l, "per_layer_projection.weight", H, P, err));
    TRY(weights_vec(m, &X->ple_norm, l, "post_per_layer_input_norm.weight", H, true, err));
  }
  if (c->n_experts) TRY(bind_moe(m, L, X, l, err));
  return 0;
}

/* Rope table of one layer type (0 full, 1 sliding), sized by the head_dim
 * of its layers; none when no layer has the type. */
static int init_rope(gloam_model *m, gemma4_model *G, int type, char *err) {
  const model_config *c = m->cfg;
  int hd = 0;
  for (int l = 0; l < c->n_layers && !hd; l++)
    if (c->layer_sliding[l] == (type == 1)) hd = G->layers[l].hd;
  if (!hd) return 0;
  g4_rope *r = &G->rope[type];
  r->half = hd / 2;
  r->inv_freq = arena_alloc(&m->ar, sizeof(float) * (size_t)r->half);
  if (!r->inv_freq) return err_set(err, GLOAM_ENOMEM, "out of memory");
  rope_params p = type == 1 ? c->rope_local : c->rope;
  if (p.original_max_pos <= 0) p.original_max_pos = c->max_pos;
  int rc = rope_inv_freq(r->inv_freq, hd, &p, &r->mscale, err);
  if (rc < 0) return rc;
  if (p.scaling == ROPE_SCALING_PROPORTIONAL) {
    int n_rot = (int)floor((double)c->g4.rope_partial * hd / 2.0);
    for (int i = n_rot; i < r->half; i++) r->inv_freq[i] = 0.0f;
  }
  return 0;
}

int gemma4_bind(gloam_model *m, char *err) {
  const model_config *c = m->cfg;
  const gemma4_params *g = &c->g4;
  int H = c->hidden, L = c->n_layers, rc;
  int64_t LP = (int64_t)L * g->ple_dim;
  gemma4_model *G = arena_zalloc(&m->ar, sizeof *G);
  m->layers = arena_zalloc(&m->ar, sizeof(eng_layer) * (size_t)L);
  size_t n_ones = (size_t)(H > g->max_head_dim ? H : g->max_head_dim);
  float *ones = arena_alloc(&m->ar, sizeof(float) * n_ones);
  if (!G || !m->layers || !ones ||
      !(G->layers = arena_zalloc(&m->ar, sizeof(g4_layer) * (size_t)L)))
    return err_set(err, GLOAM_ENOMEM, "out of memory");
  for (size_t i = 0; i < n_ones; i++) ones[i] = 1.0f;
  G->ones = ones;
  TRY(weights_mat(m, &m->embed, -1, "model.embed_tokens.weight", c->vocab, H, err));
  TRY(weights_vec(m, &m->out_norm, -1, "model.norm.weight", H, true, err));
  if (c->tie_embeddings)
    m->lm_head = m->embed;
  else
    TRY(weights_mat(m, &m->lm_head, -1, "lm_head.weight", c->vocab, H, err));
  if (LP) {
    TRY(weights_mat(m, &G->ple_embed, -1, "model.embed_tokens_per_layer.weight", g->ple_vocab, LP,
                    err));
    TRY(weights_mat(m, &G->ple_model_proj, -1, "model.per_layer_model_projection.weight", LP, H,
                    err));
    TRY(weights_vec(m, &G->ple_proj_norm, -1, "model.per_layer_projection_norm.weight", g->ple_dim,
                    true, err));
  }
  size_t off = 0;
  for (int l = 0; l < L; l++) {
    TRY(bind_layer(m, G, l, err));
    g4_layer *X = &G->layers[l];
    if (X->kv_src == l) {
      X->kv_off = off;
      off += (size_t)X->nkv * (size_t)X->hd;
    } else {
      X->kv_off = G->layers[X->kv_src].kv_off;
    }
  }
  TRY(init_rope(m, G, 0, err));
  TRY(init_rope(m, G, 1, err));
  m->kv_per_pos = off;
  m->g4 = G;
  return 0;
}
