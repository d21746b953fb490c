/* SPDX-License-Identifier: Apache-2.0
 *
 * engine/mlx_meta.h: the quantization metadata of an MLX checkpoint's
 * config.json, as mlx-lm writes and reads it:
 *
 *   "quantization": {"group_size": 64, "bits": 4, "mode": "affine",
 *                    "model.layers.0.mlp.gate": {"group_size": 64, "bits": 8},
 *                    "lm_head": false}
 *
 * (mlx-lm also writes the same object as "quantization_config"; that key,
 * or text_config's, is read when "quantization" is absent and it carries no
 * "quant_method", which marks other tools' formats.) Keys other than group_size, bits and
 * mode are per-layer overrides keyed by module path: an object with its own
 * group_size / bits, or false for a layer left unquantized. Which layers are
 * quantized at all is decided by the checkpoint (a layer is quantized when
 * it has `<path>.scales`), as mlx-lm's loader does.
 *
 *   mlx_meta m;
 *   if (mlx_meta_parse(&m, json, len, err) < 0) ...
 *   if (m.present && mlx_meta_lookup(&m, "model.layers.0.mlp.gate", &bits, &group)) ...
 *   mlx_meta_deinit(&m);
 *
 * Accepted: mode "affine" (absent means affine), bits 4 or 8, group_size 32,
 * 64 or 128 (the combinations the kernels run); MLX's other modes and bits
 * (mxfp4, 2/3/5/6 bits) are GLOAM_EUNSUPPORTED; anything else, wrong JSON
 * types, more than MLX_META_MAX_OVERRIDES overrides or a path longer than
 * MLX_META_MAX_PATH is GLOAM_EFORMAT. Override paths are stored with the
 * multimodal prefixes rewritten as tensor names are (model_files_int.h).
 *
 * Ownership: mlx_meta owns its override array and paths (mlx_meta_deinit).
 * Thread safety: reentrant; a parsed mlx_meta is read-only.
 */
#ifndef GLOAM_ENGINE_MLX_META_H
#define GLOAM_ENGINE_MLX_META_H

#include <stdbool.h>
#include <stddef.h>

#define MLX_META_MAX_OVERRIDES 65536
#define MLX_META_MAX_PATH 256

typedef struct mlx_override {
  char *path; /* module path, e.g. "model.layers.3.mlp.gate" */
  bool quantized;
  int bits, group; /* when quantized */
} mlx_override;

typedef struct mlx_meta {
  bool present;    /* the config has MLX quantization metadata */
  int bits, group; /* defaults */
  mlx_override *ov;
  int n_ov;
} mlx_meta;

/* Parses config.json text (len bytes). OUT: *out (zeroed first; present is
 * false when the config has no MLX quantization). Returns 0, GLOAM_EFORMAT,
 * GLOAM_EUNSUPPORTED, GLOAM_ENOMEM; err gets the detail. */
int mlx_meta_parse(mlx_meta *out, const char *json, size_t len, char *err);
void mlx_meta_deinit(mlx_meta *m);

/* The parameters of module path: 1 with *bits / *group (its override or
 * the defaults), 0 when an override marks it unquantized. */
int mlx_meta_lookup(const mlx_meta *m, const char *path, int *bits, int *group);
/* The override of path, or NULL. */
const mlx_override *mlx_meta_override(const mlx_meta *m, const char *path);

#endif
