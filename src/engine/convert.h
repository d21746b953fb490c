/* SPDX-License-Identifier: Apache-2.0
 *
 * engine/convert.h: Hugging Face model directory -> GGUF file, the way
 * llama.cpp's convert_hf_to_gguf.py + llama-quantize lay it out, so that
 * llama.cpp and gloam both read the result.
 *
 *   convert_opts o = {.type = DT_Q8_0};
 *   char err[GLOAM_ERR_LEN];
 *   if (gguf_convert("/models/qwen3", "/tmp/qwen3-q8_0.gguf", &o, err) < 0) ...
 *
 * Per tensor: 1-D tensors (norms, biases) are written as F32; the MoE
 * router (ffn_gate_inp) as F32 when the target is quantized; other
 * matrices in o->type, or -- when their row length is not a multiple of
 * the type's block -- Q8_0 (K-quants) or F16. Llama's attn_q/attn_k rows are
 * permuted as llama.cpp does; experts are stacked into ffn_*_exps; Gemma 3
 * norms are stored as (1 + w); Llama 3 rope scaling becomes a
 * rope_freqs.weight tensor plus gloam.rope.llama3.* keys. Metadata uses
 * llama.cpp's key names; gloam.* keys carry what llama.cpp hard-codes
 * (Gemma 3 layer pattern and query scale).
 *
 * Tokenizer (o->tokenizer_dir): a byte-level BPE tokenizer.json becomes
 * tokenizer.ggml.model "gpt2" with .pre "qwen2", "llama-bpe" or "default"
 * (from its split regex); a byte-fallback BPE (Gemma) becomes "llama" with
 * .scores (minus the rank of the merge producing each piece) and
 * .add_space_prefix. Both get .tokens (ids without a token become "[PADn]",
 * type unused), .token_type (added: 3 special / 4 user; <0xXX>: 6), .merges
 * ("a b"), and from tokenizer_config.json .add_bos_token, .add_eos_token,
 * .padding_token_id, .unknown_token_id, tokenizer.chat_template.
 *
 * Thread safety: reentrant. Memory: tensors are converted while the file
 * is written, one at a time (a stacked expert group counts as one), so the
 * converter needs the mapped source plus one converted tensor.
 */
#ifndef GLOAM_ENGINE_CONVERT_H
#define GLOAM_ENGINE_CONVERT_H

#include <stdbool.h>

#include "kernels/dtype.h"

typedef struct convert_opts {
  enum dtype type;           /* DT_F32, DT_F16, DT_BF16, DT_Q8_0, DT_Q4_0, DT_Q4_K, DT_Q6_K */
  const char *config_name;   /* NULL: "config.json" */
  bool llama_cpp_keys_only;  /* omit the gloam.* keys (tests the reader's fallbacks) */
  const char *tokenizer_dir; /* NULL: no tokenizer; else a directory with a plain
                                tokenizer.json (+ tokenizer_config.json) */
} convert_opts;

/* Returns 0 or the model_files_open / gguf_writer_write codes,
 * GLOAM_EINVAL for an unsupported type. The output is written in place
 * (removed on a write error). */
int gguf_convert(const char *model_dir, const char *out_path, const convert_opts *o, char *err);

/* "f32", "f16", "bf16", "q8_0", "q4_0", "q4_k", "q6_k" (any case) -> dtype;
 * -1 when unknown. For the CLI's --type. */
int convert_type_from_name(const char *s);

#endif
