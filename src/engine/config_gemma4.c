/* SPDX-License-Identifier: Apache-2.0
 *
 * engine/config_gemma4.c: Gemma 4's config.json fields (see gemma4_config.h
 * and config_json.h) and the tensors they imply.
 *
 * DESIGN: per-layer attention shapes come from "per_layer_config"
 * ({"<layer>": {"head_dim", "num_attention_heads", "num_key_value_heads"}},
 * transformers >= 5.15) over the flat head_dim / heads; the older flat
 * "global_head_dim" / "num_global_key_value_heads" (full layers) are read
 * when present. Defaults and derived values follow transformers'
 * Gemma4TextConfig and Gemma4TextAttention: the last layer is forced to
 * full attention, a K/V-shared layer reads the last unshared layer of its
 * type, keys double as values on full layers with attention_k_eq_v.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "engine/config_json.h"

_Static_assert(GEMMA4_MAX_LAYERS == MODEL_MAX_LAYERS, "gemma4_params layer arrays");

/* One per_layer_config entry over the layer's defaults. */
static int per_layer_entry(model_config *c, const char *key, const json_t *v, char *err) {
  char *end = NULL;
  long l = strtol(key, &end, 10);
  if (end == key || *end || l < 0 || l >= c->n_layers)
    return err_set(err, GLOAM_EFORMAT, "config: per_layer_config key \"%.20s\" is no layer", key);
  if (!json_is_object(v))
    return err_set(err, GLOAM_EFORMAT, "config: per_layer_config[%ld] not an object", l);
  gemma4_params *g = &c->g4;
  int rc;
  if ((rc = config_json_int(v, "head_dim", g->layer_head_dim[l], 2, CONFIG_MAX_HEAD_DIM,
                            &g->layer_head_dim[l], err)) < 0 ||
      (rc = config_json_int(v, "num_attention_heads", g->layer_heads[l], 1, CONFIG_MAX_HEADS,
                            &g->layer_heads[l], err)) < 0 ||
      (rc = config_json_int(v, "num_key_value_heads", g->layer_kv_heads[l], 1, CONFIG_MAX_HEADS,
                            &g->layer_kv_heads[l], err)) < 0)
    return rc;
  return 0;
}

/* Flat defaults, the older global_* fields, then per_layer_config. */
static int parse_shapes(model_config *c, const json_t *o, char *err) {
  gemma4_params *g = &c->g4;
  int rc, hd = c->head_dim > 0 ? c->head_dim : c->hidden / c->n_heads;
  int ghd = 0, gkv = 0;
  if ((rc = config_json_int(o, "global_head_dim", 0, 0, CONFIG_MAX_HEAD_DIM, &ghd, err)) < 0 ||
      (rc = config_json_int(o, "num_global_key_value_heads", 0, 0, CONFIG_MAX_HEADS, &gkv, err)) <
          0)
    return rc;
  for (int l = 0; l < c->n_layers; l++) {
    bool full = !c->layer_sliding[l];
    g->layer_head_dim[l] = full && ghd > 0 ? ghd : hd;
    g->layer_heads[l] = c->n_heads;
    g->layer_kv_heads[l] = full && g->k_eq_v && gkv > 0 ? gkv : c->n_kv_heads;
  }
  const json_t *plc = json_object_get(o, "per_layer_config");
  if (plc && !json_is_null(plc)) {
    if (!json_is_object(plc))
      return err_set(err, GLOAM_EFORMAT, "config: per_layer_config not an object");
    const char *key;
    const json_t *v;
    json_object_foreach((json_t *)plc, key, v) {
      if ((rc = per_layer_entry(c, key, v, err)) < 0) return rc;
    }
  }
  g->max_head_dim = g->max_q_row = g->max_kv_row = 0;
  int hd_type[2] = {0, 0}; /* full, sliding: one rope table each */
  for (int l = 0; l < c->n_layers; l++) {
    int d = g->layer_head_dim[l], nh = g->layer_heads[l], nkv = g->layer_kv_heads[l];
    if (d % 2 || nh % nkv)
      return err_set(err, GLOAM_EFORMAT, "config: layer %d: head_dim %d, %d heads, %d kv heads", l,
                     d, nh, nkv);
    int *t = &hd_type[c->layer_sliding[l] ? 1 : 0];
    if (*t && *t != d)
      return err_set(err, GLOAM_EUNSUPPORTED, "config: layers of one type with head_dim %d, %d", *t,
                     d);
    *t = d;
    if (d > g->max_head_dim) g->max_head_dim = d;
    if (nh * d > g->max_q_row) g->max_q_row = nh * d;
    if (nkv * d > g->max_kv_row) g->max_kv_row = nkv * d;
  }
  return 0;
}

/* K/V sharing sources and MLP widths. */
static int parse_sharing(model_config *c, char *err) {
  gemma4_params *g = &c->g4;
  int first = c->n_layers - g->n_kv_shared;
  g->max_ffn = 0;
  for (int l = 0; l < c->n_layers; l++) {
    bool shared = first > 0 && l >= first;
    g->layer_kv_src[l] = l;
    if (shared) {
      int src = -1;
      for (int j = first - 1; j >= 0 && src < 0; j--)
        if (c->layer_sliding[j] == c->layer_sliding[l]) src = j;
      if (src < 0)
        return err_set(err, GLOAM_EFORMAT, "config: shared layer %d has no source layer", l);
      if (g->layer_head_dim[src] != g->layer_head_dim[l] ||
          g->layer_kv_heads[src] != g->layer_kv_heads[l])
        return err_set(err, GLOAM_EFORMAT, "config: shared layer %d differs from layer %d", l, src);
      g->layer_kv_src[l] = src;
    }
    g->layer_ffn[l] = c->ffn_hidden * (g->double_wide_mlp && shared ? 2 : 1);
    if (g->layer_ffn[l] > g->max_ffn) g->max_ffn = g->layer_ffn[l];
  }
  return 0;
}

static int parse_moe(model_config *c, const json_t *o, char *err) {
  int rc;
  if ((rc = config_json_bool(o, "enable_moe_block", false, &c->g4.moe_block, err)) < 0) return rc;
  c->n_experts = 0;
  if (!c->g4.moe_block) return 0;
  if ((rc = config_json_int(o, "num_experts", CONFIG_NO_DEFAULT, 1, CONFIG_MAX_EXPERTS,
                            &c->n_experts, err)) < 0 ||
      (rc = config_json_int(o, "top_k_experts", CONFIG_NO_DEFAULT, 1, c->n_experts,
                            &c->n_experts_per_tok, err)) < 0 ||
      (rc = config_json_int(o, "moe_intermediate_size", CONFIG_NO_DEFAULT, 1, CONFIG_MAX_FFN,
                            &c->moe_ffn_hidden, err)) < 0)
    return rc;
  c->norm_topk_prob = true;
  return 0;
}

/* The full layers' proportional rope fraction; defaults when the config
 * has no rope_parameters (Gemma4TextConfig's). */
static int parse_rope(model_config *c, const json_t *o, char *err) {
  const json_t *rp = json_object_get(o, "rope_parameters");
  c->g4.rope_partial = 1.0f;
  if (!rp || json_is_null(rp)) {
    c->rope.theta = 1e6f;
    c->rope.scaling = ROPE_SCALING_PROPORTIONAL;
    c->rope.factor = 1.0f;
    c->rope_local = c->rope;
    c->rope_local.theta = 1e4f;
    c->rope_local.scaling = ROPE_SCALING_NONE;
    c->g4.rope_partial = 0.25f;
    return 0;
  }
  if (c->rope.scaling != ROPE_SCALING_PROPORTIONAL) return 0;
  const json_t *full = json_object_get(rp, "full_attention");
  int rc =
      config_json_float(full ? full : rp, "partial_rotary_factor", 1.0, &c->g4.rope_partial, err);
  if (rc < 0) return rc;
  if (!(c->g4.rope_partial > 0 && c->g4.rope_partial <= 1))
    return err_set(err, GLOAM_EFORMAT, "config: partial_rotary_factor out of (0, 1]");
  return 0;
}

int config_gemma4_parse(model_config *c, const json_t *o, char *err) {
  gemma4_params *g = &c->g4;
  int rc;
  memset(g, 0, sizeof *g);
  const json_t *bidi = json_object_get(o, "use_bidirectional_attention");
  if (json_is_string(bidi) && strcmp(json_string_value(bidi), "all") == 0)
    return err_set(err, GLOAM_EUNSUPPORTED, "config: bidirectional attention not supported");
  c->layer_sliding[c->n_layers - 1] = false; /* as transformers forces it */
  const json_t *ple = json_object_get(o, "hidden_size_per_layer_input");
  if ((rc = config_json_int(o, "hidden_size_per_layer_input", ple ? 0 : 256, 0, CONFIG_MAX_HIDDEN,
                            &g->ple_dim, err)) < 0 ||
      (rc = config_json_int(o, "vocab_size_per_layer_input", 262144, 1, CONFIG_MAX_VOCAB,
                            &g->ple_vocab, err)) < 0 ||
      (rc = config_json_bool(o, "attention_k_eq_v", false, &g->k_eq_v, err)) < 0 ||
      (rc = config_json_int(o, "num_kv_shared_layers", 0, 0, c->n_layers - 1, &g->n_kv_shared,
                            err)) < 0 ||
      (rc = config_json_bool(o, "use_double_wide_mlp", false, &g->double_wide_mlp, err)) < 0 ||
      (rc = config_json_float(o, "final_logit_softcapping", 0, &c->final_logit_softcap, err)) < 0)
    return rc;
  if ((int64_t)g->ple_dim * c->n_layers > CONFIG_MAX_FFN || c->final_logit_softcap < 0 ||
      (g->ple_dim && g->ple_vocab < c->vocab))
    return err_set(err, GLOAM_EFORMAT, "config: bad per-layer input sizes or softcap");
  if ((rc = parse_moe(c, o, err)) < 0 || (rc = parse_rope(c, o, err)) < 0 ||
      (rc = parse_shapes(c, o, err)) < 0 || (rc = parse_sharing(c, err)) < 0)
    return rc;
  return 0;
}

/* what of layer l ("model.layers.<l>.<what>"), or the global what (l < 0). */
static int emit(config_tensor_fn fn, void *ctx, int64_t a, int64_t b, int l, const char *what) {
  char name[160];
  if (l >= 0)
    snprintf(name, sizeof name, "model.layers.%d.%s", l, what);
  else
    snprintf(name, sizeof name, "%s", what);
  int64_t shape[2] = {a, b};
  return fn(ctx, name, b ? 2 : 1, shape);
}

static int layer_tensors(const model_config *c, int l, config_tensor_fn fn, void *ctx) {
  const gemma4_params *g = &c->g4;
  const int64_t h = c->hidden, hd = g->layer_head_dim[l], q = g->layer_heads[l] * hd,
                kv = g->layer_kv_heads[l] * hd, f = g->layer_ffn[l], P = g->ple_dim;
  int rc;
#define E(a, b, what) \
  if ((rc = emit(fn, ctx, a, b, l, what)) < 0) return rc
  static const char *const norms[] = {"input_layernorm.weight", "post_attention_layernorm.weight",
                                      "pre_feedforward_layernorm.weight",
                                      "post_feedforward_layernorm.weight"};
  for (size_t i = 0; i < sizeof norms / sizeof norms[0]; i++) E(h, 0, norms[i]);
  E(1, 0, "layer_scalar");
  E(q, h, "self_attn.q_proj.weight");
  E(hd, 0, "self_attn.q_norm.weight");
  E(h, q, "self_attn.o_proj.weight");
  if (g->layer_kv_src[l] == l) {
    E(kv, h, "self_attn.k_proj.weight");
    E(hd, 0, "self_attn.k_norm.weight");
    if (!(g->k_eq_v && !c->layer_sliding[l])) E(kv, h, "self_attn.v_proj.weight");
  }
  E(f, h, "mlp.gate_proj.weight");
  E(f, h, "mlp.up_proj.weight");
  E(h, f, "mlp.down_proj.weight");
  if (P) {
    E(P, h, "per_layer_input_gate.weight");
    E(h, P, "per_layer_projection.weight");
    E(h, 0, "post_per_layer_input_norm.weight");
  }
  if (c->n_experts) {
    const int64_t E_ = c->n_experts, mf = c->moe_ffn_hidden;
    E(E_, h, "router.proj.weight");
    E(h, 0, "router.scale");
    E(E_, 0, "router.per_expert_scale");
    E(h, 0, "post_feedforward_layernorm_1.weight");
    E(h, 0, "post_feedforward_layernorm_2.weight");
    E(h, 0, "pre_feedforward_layernorm_2.weight");
    char what[96];
    for (int e = 0; e < c->n_experts; e++) {
      static const char *const part[3] = {"gate_proj", "up_proj", "down_proj"};
      for (int k = 0; k < 3; k++) {
        snprintf(what, sizeof what, "mlp.experts.%d.%s.weight", e, part[k]);
        E(k == 2 ? h : mf, k == 2 ? mf : h, what);
      }
    }
  }
#undef E
  return 0;
}

int config_gemma4_tensors(const model_config *c, config_tensor_fn fn, void *ctx) {
  const int64_t h = c->hidden, LP = (int64_t)c->n_layers * c->g4.ple_dim;
  int rc;
  if ((rc = emit(fn, ctx, c->vocab, h, -1, "model.embed_tokens.weight")) < 0) return rc;
  if (LP) {
    if ((rc = emit(fn, ctx, c->g4.ple_vocab, LP, -1, "model.embed_tokens_per_layer.weight")) < 0 ||
        (rc = emit(fn, ctx, LP, h, -1, "model.per_layer_model_projection.weight")) < 0 ||
        (rc = emit(fn, ctx, c->g4.ple_dim, 0, -1, "model.per_layer_projection_norm.weight")) < 0)
      return rc;
  }
  for (int l = 0; l < c->n_layers; l++)
    if ((rc = layer_tensors(c, l, fn, ctx)) < 0) return rc;
  if ((rc = emit(fn, ctx, h, 0, -1, "model.norm.weight")) < 0) return rc;
  if (!c->tie_embeddings && (rc = emit(fn, ctx, c->vocab, h, -1, "lm_head.weight")) < 0) return rc;
  return 0;
}
