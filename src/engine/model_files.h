/* SPDX-License-Identifier: Apache-2.0
 *
 * engine/model_files.h: a model on disk, opened and validated: its
 * configuration (from config.json or GGUF metadata) and its named tensors
 * (memory-mapped safetensors shards or a GGUF file).
 *
 * This is the seam between the loaders (safetensors.c, gguf.c, config.c)
 * and the forward pass (forward.c). Tensor names are always the Hugging Face
 * names ("model.layers.0.self_attn.q_proj.weight"); the GGUF loader maps
 * llama.cpp's names onto them. Shapes are outermost-first as in safetensors
 * and numpy: a linear layer's weight is [out_features, in_features], and
 * rows are contiguous (quantized blocks run along a row).
 *
 * Every loader checks sizes, offsets, shapes and dtypes against the file
 * length before any tensor data is touched; hostile files give an error.
 * After loading, every tensor the config implies (config_for_each_tensor)
 * is present with exactly its expected shape. Extra tensors are kept.
 *
 * GGUF specifics (docs/formats.md): llama's Q/K rows are un-permuted;
 * stacked experts appear as per-expert views
 * model.layers.N.mlp.experts.E.{gate,up,down}_proj.weight (so do the fused
 * transformers 5 tensors mlp.experts.gate_up_proj / down_proj); Gemma 3's
 * norm weights are stored by llama.cpp as (1 + w), so for GGUF gemma3
 * config.norm_w_offset is 0 (it is 1 for safetensors): always apply
 * (w + norm_w_offset), for every norm including q_norm / k_norm.
 *
 * Ownership: model_files_open() returns a handle that owns the mappings,
 * the config and every tensor (names and, for quantize-on-load or converted
 * data, the buffers). Pointers from it are valid until model_files_close().
 * The handle is immutable after open and safe to share between threads.
 */
#ifndef GLOAM_ENGINE_MODEL_FILES_H
#define GLOAM_ENGINE_MODEL_FILES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/gemma4_config.h"
#include "kernels/dtype.h"

#define MODEL_MAX_DIMS 4
#define MODEL_MAX_LAYERS 512

enum model_arch {
  ARCH_UNKNOWN = 0,
  ARCH_LLAMA,     /* model_type "llama" (incl. Llama 3 rope scaling) */
  ARCH_QWEN2,     /* "qwen2": q/k/v bias */
  ARCH_QWEN3,     /* "qwen3": q/k RMSNorm, explicit head_dim */
  ARCH_QWEN3_MOE, /* "qwen3_moe": top-k routed experts */
  ARCH_GEMMA3,    /* "gemma3_text" / "gemma3": sliding + full layers, (1+w) norms */

  /* Gated DeltaNet hybrids (config_is_hybrid) */
  ARCH_QWEN35,     /* "qwen3_5_text" / "qwen3_5": Gated DeltaNet + gated attention */
  ARCH_QWEN35_MOE, /* "qwen3_5_moe_text" / "qwen3_5_moe": the same with routed + shared experts */
  ARCH_QWEN3_NEXT, /* "qwen3_next": Qwen3.5-MoE's blocks, fused in_proj_qkvz / in_proj_ba */
  ARCH_GEMMA4,     /* "gemma4_text" / "gemma4": gemma4_params (gemma4_config.h) */
  /* "minimax_m2": q/k norm over all heads, partial rotary, sigmoid-routed experts */
  ARCH_MINIMAX_M2,
};

enum rope_scaling {
  ROPE_SCALING_NONE = 0,
  ROPE_SCALING_LINEAR,
  ROPE_SCALING_LLAMA3,
  ROPE_SCALING_YARN,
  ROPE_SCALING_PROPORTIONAL, /* gemma4 full layers: linear factor; partial in gemma4_params */
};

enum act_fn { ACT_SILU = 0, ACT_GELU_TANH };

typedef struct rope_params {
  float theta;
  enum rope_scaling scaling;
  float factor;           /* linear / llama3 / yarn */
  float low_freq_factor;  /* llama3 */
  float high_freq_factor; /* llama3 */
  int original_max_pos;   /* llama3 / yarn */
  float beta_fast;        /* yarn (default 32) */
  float beta_slow;        /* yarn (default 1) */
  float attention_factor; /* yarn; 0: derive from factor (0.1 ln(factor) + 1) */
} rope_params;

typedef struct model_config {
  enum model_arch arch;
  char model_type[32];
  int n_layers;
  int hidden;     /* hidden_size */
  int n_heads;    /* num_attention_heads */
  int n_kv_heads; /* num_key_value_heads */
  int head_dim;   /* explicit or hidden / n_heads */
  int ffn_hidden; /* intermediate_size */
  int vocab;
  int max_pos; /* max_position_embeddings */
  float rms_eps;
  enum act_fn act;
  bool tie_embeddings;
  bool attn_bias;         /* q/k/v projections have bias (qwen2) */
  bool qk_norm;           /* per-head RMSNorm on q and k (qwen3, gemma3) */
  rope_params rope;       /* global / full-attention layers */
  rope_params rope_local; /* sliding layers (gemma3), else same as rope */
  float rope_partial;     /* partial_rotary_factor; 0: none (all of head_dim) */
  int rope_dim;           /* dimensions rotated per head (the first rope_dim; even,
                             <= head_dim); config_finish sets it from rope_partial */
  bool qk_norm_whole;     /* q/k RMSNorm over all heads at once (minimax_m2) */
  /* MoE (qwen3_moe) */
  int n_experts; /* 0 for dense */
  int n_experts_per_tok;
  int moe_ffn_hidden; /* moe_intermediate_size */
  bool norm_topk_prob;
  bool moe_sigmoid; /* router scores are sigmoid(logits); a selection-only bias
                       (mlp.e_score_correction_bias) picks the top-k (minimax_m2) */
  int decoder_sparse_step;
  bool layer_moe[MODEL_MAX_LAYERS]; /* per layer: routed experts (else dense MLP);
                                       from decoder_sparse_step and mlp_only_layers */
  /* Gemma 3 */
  int sliding_window;                   /* 0: none */
  bool layer_sliding[MODEL_MAX_LAYERS]; /* per layer: sliding-window attention */
  float query_pre_attn_scalar;          /* 0: use head_dim */
  float final_logit_softcap;            /* 0: none */
  float attn_logit_softcap;             /* 0: none */
  float embed_scale;                    /* 1, or sqrt(hidden) for gemma */
  float norm_w_offset;                  /* 0, or 1 for gemma's (1 + w) RMSNorm */
  /* Qwen3.5 / Qwen3-Next (config.c parse_hybrid; it also sets rope_dim); 0 for other families */
  bool attn_out_gate;    /* q_proj yields [query | gate] per head; output *= sigmoid(gate) */
  int shared_ffn_hidden; /* shared expert (shared_expert_intermediate_size); 0: none */
  int lin_k_heads, lin_v_heads, lin_k_dim, lin_v_dim, lin_conv; /* Gated DeltaNet sizes */
  bool layer_linear[MODEL_MAX_LAYERS]; /* per layer: Gated DeltaNet instead of attention */
  gemma4_params g4;                    /* Gemma 4 only */
  /* Special tokens (from config / generation_config / GGUF); -1 if absent */
  int bos_id;
  int eos_ids[4];
  int n_eos;
} model_config;

typedef struct tensor {
  const char *name; /* Hugging Face name */
  enum dtype type;
  int n_dims;
  int64_t shape[MODEL_MAX_DIMS]; /* outermost first */
  const void *data;              /* mmapped or owned by the model_files */
  size_t n_bytes;
} tensor;

typedef struct model_files model_files;

typedef struct model_open_opts {
  const char *config_name; /* file in the directory; NULL: "config.json" */
  int quantize;            /* -1 or DT_F32: keep; DT_Q8_0, DT_Q4_0 (also DT_Q4_K,
                              DT_Q6_K where rows fit 256-blocks): quantize 2-D
                              weights (not norms/embeddings) on load */
} model_open_opts;

/* Opens a Hugging Face model directory (config.json + model.safetensors or
 * model.safetensors.index.json shards) or a .gguf file.
 * OUT: *out. opts may be NULL. err: GLOAM_ERR_LEN bytes for detail text.
 * Returns 0, GLOAM_ENOENT, GLOAM_EIO, GLOAM_EFORMAT (malformed or hostile
 * file), GLOAM_EUNSUPPORTED (architecture or dtype), GLOAM_ENOMEM. */
int model_files_open(model_files **out, const char *path, const model_open_opts *opts, char *err);
void model_files_close(model_files *mf);

const model_config *model_files_config(const model_files *mf);
/* NULL when absent. */
const tensor *model_files_tensor(const model_files *mf, const char *name);
int model_files_n_tensors(const model_files *mf);
const tensor *model_files_tensor_at(const model_files *mf, int i);
/* Advises every file mapping MADV_RANDOM (no read-around on page faults;
 * engine/moe_paging.h). A hint: failures are ignored. */
void model_files_advise_random(model_files *mf);
/* "safetensors" or "gguf". */
const char *model_files_format(const model_files *mf);
/* Directory of the model (for tokenizer.json etc.), or the .gguf's path. */
const char *model_files_path(const model_files *mf);

/* GGUF metadata, e.g. for building a tokenizer from a .gguf:
 *
 *   uint64_t n;
 *   if (model_files_meta_arr_len(mf, "tokenizer.ggml.tokens", &n) == 0)
 *     for (uint64_t i = 0; i < n; i++) {
 *       const char *s; size_t len;
 *       model_files_meta_arr_str(mf, "tokenizer.ggml.tokens", i, &s, &len);
 *     }
 *
 * Keys as llama.cpp writes them: tokenizer.ggml.model ("gpt2", "llama"),
 * .pre, .tokens (string array), .token_type (i32 array), .scores (f32
 * array), .merges (string array, "a b"), .bos_token_id, .eos_token_id,
 * .add_bos_token, tokenizer.chat_template, general.*, <arch>.*.
 * Strings are NOT NUL-terminated (use the length) and point into the
 * mapping: valid until model_files_close(). Lookups are O(log n_keys).
 * Returns 0; GLOAM_ENOENT when the model is not GGUF or the key is absent;
 * GLOAM_EFORMAT when the value has another type (_int accepts every integer
 * type and bool, _float every number); GLOAM_ERANGE for i past the end. */
int model_files_meta_str(const model_files *mf, const char *key, const char **out, size_t *out_len);
int model_files_meta_int(const model_files *mf, const char *key, int64_t *out);
int model_files_meta_float(const model_files *mf, const char *key, double *out);
int model_files_meta_arr_len(const model_files *mf, const char *key, uint64_t *out_n);
int model_files_meta_arr_str(const model_files *mf, const char *key, uint64_t i, const char **out,
                             size_t *out_len);
int model_files_meta_arr_int(const model_files *mf, const char *key, uint64_t i, int64_t *out);
int model_files_meta_arr_float(const model_files *mf, const char *key, uint64_t i, double *out);

#endif
