/* SPDX-License-Identifier: Apache-2.0
 *
 * engine/gemma4_config.h: the Gemma 4 text model's hyper-parameters beyond
 * the shared model_config (which embeds one gemma4_params): per-layer
 * attention shapes (per_layer_config, or transformers <= 5.14's
 * global_head_dim / num_global_key_value_heads), per-layer input
 * embeddings, the MoE block beside the dense MLP, K/V sharing, keys as
 * values, the double-wide MLP and the proportional rope of full layers.
 *
 * config_gemma4_parse() (config_gemma4.c) fills it from config.json;
 * config_gemma4_tensors() lists the tensors the config implies.
 *
 * Ownership: plain data inside model_config. Thread safety: read-only after
 * parsing.
 */
#ifndef GLOAM_ENGINE_GEMMA4_CONFIG_H
#define GLOAM_ENGINE_GEMMA4_CONFIG_H

#include <stdbool.h>

#define GEMMA4_MAX_LAYERS 512 /* == MODEL_MAX_LAYERS (checked in config_gemma4.c) */

typedef struct gemma4_params {
  int ple_dim;          /* hidden_size_per_layer_input; 0: no per-layer inputs */
  int ple_vocab;        /* vocab_size_per_layer_input */
  bool moe_block;       /* enable_moe_block: routed experts beside the dense MLP */
  bool k_eq_v;          /* attention_k_eq_v: full layers use their keys as values */
  int n_kv_shared;      /* num_kv_shared_layers: the last n layers reuse earlier K/V */
  bool double_wide_mlp; /* use_double_wide_mlp: 2 x intermediate on shared layers */
  float rope_partial;   /* partial_rotary_factor of the full layers' proportional rope */
  int max_head_dim;     /* max over layers of layer_head_dim */
  int max_q_row;        /* max over layers of heads * head_dim */
  int max_kv_row;       /* max over layers of kv heads * head_dim */
  int max_ffn;          /* max over layers of layer_ffn */
  int layer_head_dim[GEMMA4_MAX_LAYERS];
  int layer_heads[GEMMA4_MAX_LAYERS];
  int layer_kv_heads[GEMMA4_MAX_LAYERS];
  int layer_ffn[GEMMA4_MAX_LAYERS];    /* dense MLP width (doubled on shared layers) */
  int layer_kv_src[GEMMA4_MAX_LAYERS]; /* layer whose K/V cache this layer reads */
} gemma4_params;

#endif
