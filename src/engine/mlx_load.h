/* SPDX-License-Identifier: Apache-2.0
 *
 * engine/mlx_load.h: MLX-quantized checkpoints (mlx-lm's `-4bit` / `-8bit`
 * directories) in the engine.
 *
 * Loading (mf_mlx_prepare, model_files_int.h, run on every safetensors
 * directory after its shards are read): with MLX quantization metadata in
 * config.json (engine/mlx_meta.h), each module with `<p>.scales` must have
 * `<p>.weight` (U32) and `<p>.biases` (scales' float type and shape); the
 * module's bits and group size (its override or the defaults) must give
 * scales [..., cols / group] for the packed width cols = words * 32 / bits,
 * and no override may mark it unquantized. `<p>.weight` then becomes a
 * DT_MLX tensor of the logical shape [..., rows, cols] whose data is a
 * kern_mlx descriptor (kernels/mlx.h) owned by the model_files; the scales
 * and biases tensors stay in the table. mlx-lm's stacked MoE experts
 * `model.layers.N.mlp.switch_mlp.{gate,up,down}_proj.weight` [E, R, C]
 * (quantized or not) get per-expert views under the Hugging Face names
 * `model.layers.N.mlp.experts.E.*.weight`. Overrides naming a module the
 * checkpoint lacks, packed weights without scales, scales without weights
 * and mismatched shapes are GLOAM_EFORMAT.
 *
 * Binding: weights.c calls mlx_bind_mat for a DT_MLX tensor; the eng_mat
 * gets type DT_MLX and data = the descriptor, so kern_matmul(m->type,
 * m->data, ...) runs the MLX kernels and forward.c's embedding lookup
 * dequantizes one row with kern_mlx_dequantize_row.
 *
 * Ownership: descriptors belong to the model_files. Thread safety: load
 * time only.
 */
#ifndef GLOAM_ENGINE_MLX_LOAD_H
#define GLOAM_ENGINE_MLX_LOAD_H

#include "engine/engine_impl.h"

/* Binds the DT_MLX tensor t (named name) as a [rows, cols] matrix; e >= 0
 * (a slice of a stacked tensor) is not supported for MLX tensors (the
 * loader exposes per-expert views instead). 0 or GLOAM_EFORMAT. */
int mlx_bind_mat(eng_mat *out, const tensor *t, const char *name, int e, int64_t rows, int64_t cols,
                 char *err);

#endif
