/* SPDX-License-Identifier: Apache-2.0
 *
 * engine/make_random.h: benchmark models: a GGUF with the real shapes of a
 * known model (Qwen3-0.6B, Llama-3.2-1B) or a MoE (moe-64x8, a Qwen3-MoE
 * with 64 experts, top-8) and the dense model of the same active size
 * (moe-64x8-dense), with random weights, since decode and prefill speed do
 * not depend on the values.
 *
 *   make_random_opts o = {.arch = "qwen3", .shape = "qwen3-0.6b",
 *                         .type = DT_Q8_0, .seed = 1};
 *   int rc = make_random_gguf("/tmp/q.gguf", &o, err);
 *
 * Weight matrices (embedding included, tied to the output) are stored in
 * o.type, written straight as random blocks (Q8_0/Q4_0/K-quants: random
 * quants and sub-block scales with a fixed super-block scale; F16: uniform
 * values), so generating is I/O bound. DT_Q4_K means llama.cpp's Q4_K_M
 * mix: Q4_K matrices, Q6_K for the embedding / output and for attn_v and
 * ffn_down in the layers llama.cpp gives more bits (the first and last
 * eighth and every third between); norms
 * are float32 ones. Values have the spread of trained weights (std ~0.02)
 * so activations stay finite. The file also carries a placeholder
 * tokenizer (token "<tN>" for id N) so other GGUF readers accept it.
 *
 * Tensors are streamed to disk one at a time (gguf_w_tensor_fill), so peak
 * memory is the largest tensor, not the model.
 *
 * make_demo_hf writes the demo model instead: a Hugging Face directory
 * (config.json, generation_config.json, model.safetensors in BF16,
 * tokenizer.json, tokenizer_config.json) with the Qwen3 architecture, the
 * real Qwen3 vocabulary size (151936) and seeded random weights (std ~0.02,
 * norms one), 2 layers of hidden 64, about 20 MB. Same seed, same bytes.
 * The tokenizer is copied from tok_dir (tokenizer.json or tokenizer.json.gz,
 * gunzipped; tokenizer_config.json), so any Qwen3 tokenizer id is in range.
 *
 * Ownership: nothing retained. Thread safety: reentrant.
 */
#ifndef GLOAM_ENGINE_MAKE_RANDOM_H
#define GLOAM_ENGINE_MAKE_RANDOM_H

#include <stdint.h>

#include "kernels/dtype.h"

typedef struct make_random_opts {
  const char *arch;  /* "qwen3" | "llama" | "qwen3_moe" */
  const char *shape; /* "qwen3-0.6b" | "llama-3.2-1b" | "moe-64x8-dense" (qwen3);
                        "moe-64x8" (qwen3_moe: 64 experts of 768, top-8) */
  enum dtype type;   /* DT_F16, DT_Q8_0, DT_Q4_0 or DT_Q4_K (the Q4_K_M mix) */
  uint64_t seed;
} make_random_opts;

/* Writes the model to path. 0, GLOAM_EINVAL (unknown arch/shape/type),
 * GLOAM_ENOMEM, GLOAM_EIO; detail in err (GLOAM_ERR_LEN bytes). */
int make_random_gguf(const char *path, const make_random_opts *o, char *err);

/* Writes the demo model into dir (created if missing). 0, GLOAM_EINVAL,
 * GLOAM_ENOENT (tokenizer files), GLOAM_ENOMEM, GLOAM_EIO; detail in err. */
int make_demo_hf(const char *dir, const char *tok_dir, uint64_t seed, char *err);

#endif
