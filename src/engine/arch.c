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
    /* Qwen3.5: Gated DeltaNet layers (deltanet.c) between gated full
     * attention layers; (1+w) norms, partial rotary, from the config. */
    {ARCH_QWEN35, "qwen3_5", "post_attention_layernorm", NULL, NULL, true, false, false, false},
    /* Qwen3.5-MoE: the same with routed experts and a gated shared expert. */
    {ARCH_QWEN35_MOE, "qwen3_5_moe", "post_attention_layernorm", NULL, NULL, true, false, true,
     false},
    /* Qwen3-Next: Qwen3.5-MoE's blocks with the fused, head-grouped
     * in_proj_qkvz / in_proj_ba (deltanet.c splits them). */
    {ARCH_QWEN3_NEXT, "qwen3_next", "post_attention_layernorm", NULL, NULL, true, false, true,
     false},
    /* Gemma 4: its own layer (gemma4.c): per-layer head sizes, per-layer
     * inputs, the MoE block beside the MLP, K/V sharing. */
    {ARCH_GEMMA4, "gemma4", "pre_feedforward_layernorm", "post_attention_layernorm",
     "post_feedforward_layernorm", true, false, true, true},
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
