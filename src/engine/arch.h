/* SPDX-License-Identifier: Apache-2.0
 *
 * engine/arch.h: each supported architecture as a small description over
 * the shared forward pass: where the norms sit, which optional tensors it
 * has, which blocks it may use. The numeric hyper-parameters (sizes, rope,
 * eps, softcaps, window, experts) come from the model_config; the table says
 * what the tensors are called and how the blocks are wired.
 *
 *   const arch_desc *a = arch_find(cfg->arch);
 *   if (!a) return GLOAM_EUNSUPPORTED;
 *
 * Ownership: static tables. Thread safety: read-only.
 */
#ifndef GLOAM_ENGINE_ARCH_H
#define GLOAM_ENGINE_ARCH_H

#include <stdbool.h>

#include "engine/model_files.h"

typedef struct arch_desc {
  enum model_arch arch;
  const char *name;           /* public name ("llama", "gemma3", ...) */
  const char *ffn_norm;       /* tensor of the norm before the MLP */
  const char *post_attn_norm; /* norm of the attention output, or NULL */
  const char *post_ffn_norm;  /* norm of the MLP output, or NULL */
  bool qk_norm;               /* per-head RMSNorm on q and k (always) */
  bool qkv_bias;              /* q/k/v projections have biases (always) */
  bool moe;                   /* layers may route to experts */
  bool sliding;               /* layers may use a sliding window */
} arch_desc;

/* The description of arch, or NULL when unsupported. */
const arch_desc *arch_find(enum model_arch arch);

#endif
