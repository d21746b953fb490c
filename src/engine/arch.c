/* SPDX-License-Identifier: Apache-2.0
 *
 * engine/arch.c: the architecture table (see arch.h). Adding a family that
 * is built from the same blocks is one row here.
 */
#include "engine/arch.h"

#include <stddef.h>

static const arch_desc arch_table[] = {
    /* Llama 1-3: pre-norm, SwiGLU, GQA; optional attention bias is picked
     * up from the config (attention_bias). */
    {ARCH_LLAMA, "llama", "post_attention_layernorm", NULL, NULL, false, false, false, false},
    /* Qwen2: Llama plus q/k/v biases (and optional sliding layers). */
    {ARCH_QWEN2, "qwen2", "post_attention_layernorm", NULL, NULL, false, true, false, true},
    /* Qwen3: q/k RMSNorm per head, head_dim independent of hidden. */
    {ARCH_QWEN3, "qwen3", "post_attention_layernorm", NULL, NULL, true, false, false, true},
    /* Qwen3-MoE: Qwen3 attention, routed experts on sparse layers. */
    {ARCH_QWEN3_MOE, "qwen3_moe", "post_attention_layernorm", NULL, NULL, true, false, true, true},
    /* Gemma 3: sandwich norms around both branches ((1+w) RMSNorm from the
     * config), q/k norms, GELU-tanh, sliding and full layers. */
    {ARCH_GEMMA3, "gemma3", "pre_feedforward_layernorm", "post_attention_layernorm",
     "post_feedforward_layernorm", true, false, false, true},
    /* MiniMax M2: q/k RMSNorm over all heads (config.qk_norm_whole), partial
     * rotary, every layer sigmoid-routed experts (config.moe_sigmoid). */
    {ARCH_MINIMAX_M2, "minimax_m2", "post_attention_layernorm", NULL, NULL, true, false, true,
     false},
};

const arch_desc *arch_find(enum model_arch arch) {
  for (size_t i = 0; i < sizeof arch_table / sizeof arch_table[0]; i++)
    if (arch_table[i].arch == arch) return &arch_table[i];
  return NULL;
}
