/* SPDX-License-Identifier: Apache-2.0
 *
 * engine/gguf_names.c: GGUF <-> Hugging Face tensor names (see gguf_names.h).
 */
#include "engine/gguf_names.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Per-layer names: GGUF base (after "blk.N.") <-> HF base (after
 * "model.layers.N."). who: 0 all, 1 gemma3 only, 2 all but gemma3. */
static const struct {
  const char *g, *hf;
  int who;
  enum gguf_name_kind kind;
} k_layer[] = {
    {"attn_norm", "input_layernorm", 0, GN_PLAIN},
    {"attn_q", "self_attn.q_proj", 0, GN_Q},
    {"attn_k", "self_attn.k_proj", 0, GN_K},
    {"attn_v", "self_attn.v_proj", 0, GN_PLAIN},
    {"attn_output", "self_attn.o_proj", 0, GN_PLAIN},
    {"attn_q_norm", "self_attn.q_norm", 0, GN_PLAIN},
    {"attn_k_norm", "self_attn.k_norm", 0, GN_PLAIN},
    {"ffn_norm", "post_attention_layernorm", 2, GN_PLAIN},
    {"ffn_norm", "pre_feedforward_layernorm", 1, GN_PLAIN},
    {"post_attention_norm", "post_attention_layernorm", 1, GN_PLAIN},
    {"post_ffw_norm", "post_feedforward_layernorm", 1, GN_PLAIN},
    {"ffn_gate", "mlp.gate_proj", 0, GN_PLAIN},
    {"ffn_up", "mlp.up_proj", 0, GN_PLAIN},
    {"ffn_down", "mlp.down_proj", 0, GN_PLAIN},
    {"ffn_gate_inp", "mlp.gate", 0, GN_PLAIN},
    {"ffn_gate_exps", "mlp.experts.%d.gate_proj", 0, GN_EXPS_GATE},
    {"ffn_up_exps", "mlp.experts.%d.up_proj", 0, GN_EXPS_UP},
    {"ffn_down_exps", "mlp.experts.%d.down_proj", 0, GN_EXPS_DOWN},
};

static const struct {
  const char *g, *hf;
} k_global[] = {
    {"token_embd.weight", "model.embed_tokens.weight"},
    {"output_norm.weight", "model.norm.weight"},
    {"output.weight", "lm_head.weight"},
};

/* MiniMax M2's selection bias (llama.cpp: exp_probs_b). */
static const struct {
  const char *g, *hf;
} k_score_bias = {"exp_probs_b.bias", "mlp.e_score_correction_bias"};

static bool applies(int who, enum model_arch arch) {
  return who == 0 || (who == 1) == (arch == ARCH_GEMMA3);
}

/* Splits "<prefix><N>.<rest>" into N and rest; false if s does not match. */
static bool split_layer(const char *s, const char *prefix, int *layer, const char **rest) {
  size_t pl = strlen(prefix);
  if (strncmp(s, prefix, pl) != 0) return false;
  const char *p = s + pl;
  if (*p < '0' || *p > '9') return false;
  long v = 0;
  while (*p >= '0' && *p <= '9' && v < 100000) v = v * 10 + (*p++ - '0');
  if (*p != '.' || v >= MODEL_MAX_LAYERS) return false;
  *layer = (int)v;
  *rest = p + 1;
  return true;
}

enum gguf_name_kind gguf_name_to_hf(enum model_arch arch, const char *g, char *out, size_t out_len,
                                    int *layer) {
  *layer = -1;
  for (size_t i = 0; i < sizeof k_global / sizeof k_global[0]; i++)
    if (strcmp(g, k_global[i].g) == 0) {
      snprintf(out, out_len, "%s", k_global[i].hf);
      return GN_PLAIN;
    }
  if (strcmp(g, "rope_freqs.weight") == 0) return GN_ROPE_FREQS;
  const char *rest;
  int l;
  if (!split_layer(g, "blk.", &l, &rest)) return GN_UNKNOWN;
  if (strcmp(rest, k_score_bias.g) == 0) { /* the one HF name without a suffix */
    int n = snprintf(out, out_len, "model.layers.%d.%s", l, k_score_bias.hf);
    *layer = l;
    return n > 0 && (size_t)n < out_len ? GN_PLAIN : GN_UNKNOWN;
  }
  const char *dot = strrchr(rest, '.');
  if (!dot || (strcmp(dot, ".weight") != 0 && strcmp(dot, ".bias") != 0)) return GN_UNKNOWN;
  size_t bl = (size_t)(dot - rest);
  for (size_t i = 0; i < sizeof k_layer / sizeof k_layer[0]; i++) {
    if (!applies(k_layer[i].who, arch) || strlen(k_layer[i].g) != bl ||
        strncmp(rest, k_layer[i].g, bl) != 0)
      continue;
    enum gguf_name_kind k = k_layer[i].kind;
    if (k >= GN_EXPS_GATE && strcmp(dot, ".weight") != 0) return GN_UNKNOWN;
    int n = snprintf(out, out_len, "model.layers.%d.%s%s", l, k_layer[i].hf, dot);
    if (n < 0 || (size_t)n >= out_len) return GN_UNKNOWN;
    *layer = l;
    return k;
  }
  return GN_UNKNOWN;
}

enum gguf_name_kind gguf_name_from_hf(enum model_arch arch, const char *hf, char *out,
                                      size_t out_len, int *expert) {
  *expert = -1;
  for (size_t i = 0; i < sizeof k_global / sizeof k_global[0]; i++)
    if (strcmp(hf, k_global[i].hf) == 0) {
      snprintf(out, out_len, "%s", k_global[i].g);
      return GN_PLAIN;
    }
  const char *rest;
  int l;
  if (!split_layer(hf, "model.layers.", &l, &rest)) return GN_UNKNOWN;
  if (strcmp(rest, k_score_bias.hf) == 0) {
    int n = snprintf(out, out_len, "blk.%d.%s", l, k_score_bias.g);
    return n > 0 && (size_t)n < out_len ? GN_PLAIN : GN_UNKNOWN;
  }
  const char *dot = strrchr(rest, '.');
  if (!dot || (strcmp(dot, ".weight") != 0 && strcmp(dot, ".bias") != 0)) return GN_UNKNOWN;
  size_t bl = (size_t)(dot - rest);
  int e = -1;
  const char *er;
  char base[96];
  if (bl >= sizeof base) return GN_UNKNOWN;
  memcpy(base, rest, bl);
  base[bl] = 0;
  char norm[96];
  if (split_layer(base, "mlp.experts.", &e, &er)) { /* experts.E.x -> experts.%d.x */
    snprintf(norm, sizeof norm, "mlp.experts.%%d.%s", er);
  } else {
    snprintf(norm, sizeof norm, "%s", base);
  }
  for (size_t i = 0; i < sizeof k_layer / sizeof k_layer[0]; i++) {
    if (!applies(k_layer[i].who, arch) || strcmp(norm, k_layer[i].hf) != 0) continue;
    enum gguf_name_kind k = k_layer[i].kind;
    if (k >= GN_EXPS_GATE) {
      if (e < 0 || strcmp(dot, ".weight") != 0) return GN_UNKNOWN;
      *expert = e;
    }
    int n = snprintf(out, out_len, "blk.%d.%s%s", l, k_layer[i].g, dot);
    if (n < 0 || (size_t)n >= out_len) return GN_UNKNOWN;
    return k;
  }
  return GN_UNKNOWN;
}

static const struct {
  enum model_arch arch;
  const char *gguf, *hf;
} k_arch[] = {
    {ARCH_LLAMA, "llama", "llama"},         {ARCH_QWEN2, "qwen2", "qwen2"},
    {ARCH_QWEN3, "qwen3", "qwen3"},         {ARCH_QWEN3_MOE, "qwen3moe", "qwen3_moe"},
    {ARCH_GEMMA3, "gemma3", "gemma3_text"}, {ARCH_MINIMAX_M2, "minimax-m2", "minimax_m2"},
};

const char *gguf_arch_name(enum model_arch a) {
  for (size_t i = 0; i < sizeof k_arch / sizeof k_arch[0]; i++)
    if (k_arch[i].arch == a) return k_arch[i].gguf;
  return NULL;
}

const char *gguf_hf_model_type(enum model_arch a) {
  for (size_t i = 0; i < sizeof k_arch / sizeof k_arch[0]; i++)
    if (k_arch[i].arch == a) return k_arch[i].hf;
  return NULL;
}

enum model_arch gguf_arch_from_name(const char *s, size_t len) {
  for (size_t i = 0; i < sizeof k_arch / sizeof k_arch[0]; i++)
    if (strlen(k_arch[i].gguf) == len && memcmp(k_arch[i].gguf, s, len) == 0) return k_arch[i].arch;
  return ARCH_UNKNOWN;
}

void gguf_permute_rows(void *dst, const void *src, int n_head, int hd, size_t rb) {
  uint8_t *d = dst;
  const uint8_t *s = src;
  for (int h = 0; h < n_head; h++)
    for (int i = 0; i < hd / 2; i++)
      for (int j = 0; j < 2; j++)
        memcpy(d + ((size_t)h * hd + 2 * i + j) * rb, s + ((size_t)h * hd + j * hd / 2 + i) * rb,
               rb);
}

void gguf_unpermute_rows(void *dst, const void *src, int n_head, int hd, size_t rb) {
  uint8_t *d = dst;
  const uint8_t *s = src;
  for (int h = 0; h < n_head; h++)
    for (int i = 0; i < hd / 2; i++)
      for (int j = 0; j < 2; j++)
        memcpy(d + ((size_t)h * hd + j * hd / 2 + i) * rb, s + ((size_t)h * hd + 2 * i + j) * rb,
               rb);
}
