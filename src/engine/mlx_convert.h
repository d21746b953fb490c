/* SPDX-License-Identifier: Apache-2.0
 *
 * engine/mlx_convert.h: Hugging Face directory -> MLX-quantized directory,
 * laid out as mlx-lm's `convert -q` writes it (`gloam-engine convert --to
 * mlx`), for tests and for serving MLX-format models made from float ones.
 *
 *   mlx_convert_opts o = {.bits = 4, .group = 64};
 *   char err[GLOAM_ERR_LEN];
 *   if (mlx_convert("/models/qwen3", "/models/qwen3-mlx-4bit", &o, err) < 0) ...
 *
 * Output: config.json (the input's, plus "quantization" and
 * "quantization_config": {group_size, bits, mode: "affine", per-layer
 * overrides}), model.safetensors (metadata {"format": "mlx"}) and
 * model.safetensors.index.json, and the input's other small files
 * (tokenizer, generation config: *.json, *.txt, *.model, *.jinja) copied.
 * As mlx-lm: every linear layer and the token embedding whose input width
 * is a multiple of the group is quantized (packed uint32 weight, scales and
 * biases in the weight's float type) with mlx.core.quantize's rounding
 * (kern_mlx_quantize_row); others, norms and biases stay as stored; a tied
 * lm_head is not written; MoE experts are stacked into
 * model.layers.N.mlp.switch_mlp.{gate,up,down}_proj [E, R, C]; the
 * qwen3_moe router (mlp.gate) uses 8 bits in groups of 64 (mlx-lm's
 * quant_predicate), recorded as an override. Tensor names are the text
 * model's (model.*, lm_head.*).
 *
 * Memory: one output module (packed weight, scales, biases) at a time.
 * Ownership: nothing is kept. Thread safety: reentrant.
 */
#ifndef GLOAM_ENGINE_MLX_CONVERT_H
#define GLOAM_ENGINE_MLX_CONVERT_H

typedef struct mlx_convert_opts {
  int bits;                /* 4 or 8 */
  int group;               /* 32, 64 or 128; 0: 64 */
  const char *config_name; /* NULL: "config.json" */
} mlx_convert_opts;

/* Converts the safetensors model in in_dir into out_dir (created if
 * absent). Returns 0, GLOAM_EINVAL (options), the loader's codes for the
 * input, GLOAM_EIO (writing), GLOAM_ENOMEM. */
int mlx_convert(const char *in_dir, const char *out_dir, const mlx_convert_opts *o, char *err);

#endif
