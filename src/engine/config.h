/* SPDX-License-Identifier: Apache-2.0
 *
 * engine/config.h: a model's hyper-parameters from a Hugging Face
 * config.json (transformers 5 `rope_parameters` or transformers 4
 * `rope_theta` / `rope_scaling` / `rope_local_base_freq`) plus the special
 * tokens of generation_config.json, into a model_config.
 *
 *   model_config c;
 *   char err[GLOAM_ERR_LEN];
 *   if (config_load_dir(&c, "/models/qwen3", NULL, err) < 0) ...
 *
 * Both styles yield the same model_config for the same model. Architectures
 * other than llama, qwen2, qwen3, qwen3_moe, gemma3(_text), gemma4(_text), qwen3_5(_moe)(_text),
 * qwen3_next and minimax_m2 give
 * GLOAM_EUNSUPPORTED; out-of-range sizes give GLOAM_EFORMAT.
 *
 * Ownership: fills a caller-owned model_config; keeps no pointers.
 * Thread safety: reentrant.
 */
#ifndef GLOAM_ENGINE_CONFIG_H
#define GLOAM_ENGINE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "engine/model_files.h"

/* Upper bounds accepted for any model (hostile files stay within them). */
#define CONFIG_MAX_HIDDEN (1 << 17)
#define CONFIG_MAX_HEADS 4096
#define CONFIG_MAX_HEAD_DIM 4096
#define CONFIG_MAX_FFN (1 << 20)
#define CONFIG_MAX_VOCAB (1 << 24)
#define CONFIG_MAX_EXPERTS 4096
#define CONFIG_MAX_JSON (16u << 20)

/* Parses config.json text (json, json_len bytes) and, when gen_json is not
 * NULL, generation_config.json text, whose bos/eos take precedence.
 * OUT: *cfg. Returns 0, GLOAM_EFORMAT (bad JSON, missing or out-of-range
 * field), GLOAM_EUNSUPPORTED (architecture, activation, rope type). */
int config_parse(model_config *cfg, const char *json, size_t json_len, const char *gen_json,
                 size_t gen_len, char *err);

/* Reads dir/config_name (NULL: "config.json") and, if present,
 * dir/generation_config.json, then config_parse(). Adds GLOAM_ENOENT and
 * GLOAM_EIO to config_parse()'s codes. */
int config_load_dir(model_config *cfg, const char *dir, const char *config_name, char *err);

/* Maps a model_type string ("llama", "qwen3_moe", "gemma3_text", ...) to
 * ARCH_*; ARCH_UNKNOWN if not supported. */
enum model_arch config_arch_from_name(const char *model_type);

/* Whether arch mixes Gated DeltaNet (linear attention) layers with gated
 * full attention (Qwen3.5): such models keep a recurrent state per session. */
bool config_is_hybrid(enum model_arch arch);

/* Fills the fields derived from the others (head_dim default, embed_scale,
 * norm_w_offset, act, layer_moe, rope_local default) and validates ranges.
 * cfg->arch and the sizes must be set. Used by config_parse() and by the
 * GGUF loader. Returns 0 or GLOAM_EFORMAT. */
int config_finish(model_config *cfg, char *err);

/* The tensors a model of this config needs, with Hugging Face names and
 * shapes (outermost first): fn(ctx, name, n_dims, shape) is called for each
 * in a fixed order (embeddings, layers, final norm, lm_head unless tied); a
 * negative return from fn stops the walk and is returned. Optional tensors
 * that a file may carry besides (lm_head when tied) are not listed. */
typedef int (*config_tensor_fn)(void *ctx, const char *name, int n_dims, const int64_t *shape);
int config_for_each_tensor(const model_config *cfg, config_tensor_fn fn, void *ctx);

/* Reads a small whole file (at most max bytes) into a mem_alloc'd,
 * NUL-terminated buffer. Returns 0, GLOAM_ENOENT, GLOAM_EIO, GLOAM_ETOOBIG,
 * GLOAM_ENOMEM. */
int config_read_file(const char *path, size_t max, char **out, size_t *out_len, char *err);

#endif
