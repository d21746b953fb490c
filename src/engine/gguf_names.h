/* SPDX-License-Identifier: Apache-2.0
 *
 * engine/gguf_names.h: llama.cpp's GGUF tensor and architecture names
 * <-> Hugging Face names, for the reader (gguf_load.c) and the writer
 * (convert.c), from one table so the two cannot drift apart.
 *
 *   blk.3.attn_q.weight        <-> model.layers.3.self_attn.q_proj.weight
 *   blk.3.ffn_gate_exps.weight  -> model.layers.3.mlp.experts.E.gate_proj.weight
 *                                  (one 3-D tensor [E, F, H] per layer)
 *
 * Gemma 3 differs: its ffn_norm is pre_feedforward_layernorm (other
 * architectures: post_attention_layernorm) and post_attention_norm is
 * post_attention_layernorm.
 *
 * Ownership: static tables; callers provide output buffers. Reentrant.
 */
#ifndef GLOAM_ENGINE_GGUF_NAMES_H
#define GLOAM_ENGINE_GGUF_NAMES_H

#include <stddef.h>

#include "engine/model_files.h"

enum gguf_name_kind {
  GN_UNKNOWN = -1, /* no mapping: keep the GGUF name */
  GN_PLAIN = 0,
  GN_Q,         /* attention q weight or bias (llama.cpp permutes it for llama) */
  GN_K,         /* attention k weight or bias (ditto, with the kv head count) */
  GN_EXPS_GATE, /* 3-D stacked experts: out gets "model.layers.N.mlp.experts.%d.gate_proj.weight" */
  GN_EXPS_UP,
  GN_EXPS_DOWN,
  GN_ROPE_FREQS, /* llama 3 rope factors (no HF tensor) */
};

/* GGUF name -> HF name (for GN_EXPS_*: a pattern with one %d for the
 * expert, and *layer set). out: out_len bytes. */
enum gguf_name_kind gguf_name_to_hf(enum model_arch arch, const char *gname, char *out,
                                    size_t out_len, int *layer);
/* HF name -> GGUF name; GN_UNKNOWN when it has none. Per-expert HF names
 * map to GN_EXPS_* with *expert set and out the stacked tensor's name. */
enum gguf_name_kind gguf_name_from_hf(enum model_arch arch, const char *hf, char *out,
                                      size_t out_len, int *expert);

/* "llama", "qwen2", "qwen3", "qwen3moe", "gemma3" (general.architecture). */
const char *gguf_arch_name(enum model_arch arch);
enum model_arch gguf_arch_from_name(const char *s, size_t len);
/* The Hugging Face model_type of an architecture ("qwen3_moe", "gemma3_text"). */
const char *gguf_hf_model_type(enum model_arch arch);

/* llama.cpp's Q/K row permutation for llama (interleaved <-> half rotary):
 * within each of n_head heads of hd rows, HF row j*hd/2 + i is GGUF row
 * 2i + j. Rows are row_bytes each (any dtype). dst and src must not overlap. */
void gguf_permute_rows(void *dst, const void *src, int n_head, int hd, size_t row_bytes);
void gguf_unpermute_rows(void *dst, const void *src, int n_head, int hd, size_t row_bytes);

#endif
