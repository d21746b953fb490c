/* SPDX-License-Identifier: Apache-2.0
 *
 * engine/minimax.h: what MiniMax M2 (model_type "minimax_m2") needs beyond
 * the shared blocks. Its checkpoints name the MoE tensors as MiniMax's own
 * code does:
 *
 *   model.layers.N.block_sparse_moe.gate.weight              [E, hidden]
 *   model.layers.N.block_sparse_moe.e_score_correction_bias  [E]
 *   model.layers.N.block_sparse_moe.experts.E.w1.weight      [ffn, hidden]  gate
 *   model.layers.N.block_sparse_moe.experts.E.w3.weight      [ffn, hidden]  up
 *   model.layers.N.block_sparse_moe.experts.E.w2.weight      [hidden, ffn]  down
 *
 * The loader renames them to the names every MoE of the engine uses
 * (mlp.gate.weight, mlp.e_score_correction_bias,
 * mlp.experts.E.{gate,up,down}_proj.weight), so weight binding,
 * quantize-on-load and the config's tensor list are shared. The rest of the
 * architecture is data: q/k RMSNorm over all heads (qk_norm_whole), partial
 * rotary (rope_dim), sigmoid routing with a selection-only bias
 * (moe_sigmoid, moe.c).
 *
 * Ownership: renames in place (the old names are freed). Thread safety:
 * during load only.
 */
#ifndef GLOAM_ENGINE_MINIMAX_H
#define GLOAM_ENGINE_MINIMAX_H

#include "engine/model_files_int.h"

/* Renames the block_sparse_moe tensors of a minimax_m2 model (no-op for
 * other architectures); the table must be re-sorted afterwards. Returns 0 or
 * GLOAM_ENOMEM. */
int minimax_rename_tensors(model_files *mf, char *err);

#endif
