/* SPDX-License-Identifier: Apache-2.0
 *
 * engine/config.c: config.json / generation_config.json -> model_config.
 *
 * DESIGN: the two config styles differ only in where rope lives:
 *   transformers 5: "rope_parameters": {"rope_type", "rope_theta", ...}, or
 *                   per layer type {"full_attention": {...},
 *                   "sliding_attention": {...}} (gemma3);
 *   transformers 4: "rope_theta", "rope_scaling": {"rope_type"|"type", ...}
 *                   and gemma3's "rope_local_base_freq".
 * Every rope object goes through one parser with the same defaults, so
 * both styles give byte-identical rope_params. Fields absent or null take
 * the transformers defaults of the architecture's config class.
 */
#include "engine/config.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/err.h"
#include "engine/config_json.h"

#define NO_DEFAULT INT64_MIN

enum model_arch config_arch_from_name(const char *t) {
  if (!t) return ARCH_UNKNOWN;
  if (strcmp(t, "llama") == 0) return ARCH_LLAMA;
  if (strcmp(t, "qwen2") == 0) return ARCH_QWEN2;
  if (strcmp(t, "qwen3") == 0) return ARCH_QWEN3;
  if (strcmp(t, "qwen3_moe") == 0) return ARCH_QWEN3_MOE;
  if (strcmp(t, "gemma3") == 0 || strcmp(t, "gemma3_text") == 0) return ARCH_GEMMA3;
  if (strcmp(t, "qwen3_5") == 0 || strcmp(t, "qwen3_5_text") == 0) return ARCH_QWEN35;
  if (strcmp(t, "qwen3_5_moe") == 0 || strcmp(t, "qwen3_5_moe_text") == 0) return ARCH_QWEN35_MOE;
  if (strcmp(t, "qwen3_next") == 0) return ARCH_QWEN3_NEXT;
  if (strcmp(t, "gemma4") == 0 || strcmp(t, "gemma4_text") == 0) return ARCH_GEMMA4;
  if (strcmp(t, "minimax_m2") == 0) return ARCH_MINIMAX_M2;
  return ARCH_UNKNOWN;
}

/* An integer field: absent or null -> def (NO_DEFAULT: required). */
static int get_int(const json_t *o, const char *key, int64_t def, int64_t lo, int64_t hi, int *out,
                   char *err) {
  const json_t *v = json_object_get(o, key);
  int64_t x;
  if (!v || json_is_null(v)) {
    if (def == NO_DEFAULT) return err_set(err, GLOAM_EFORMAT, "config: missing \"%s\"", key);
    x = def;
  } else if (json_is_integer(v)) {
    x = json_integer_value(v);
  } else if (json_is_real(v)) {
    double d = json_real_value(v);
    if (!(d >= -9e15 && d <= 9e15) || d != floor(d))
      return err_set(err, GLOAM_EFORMAT, "config: \"%s\" is not an integer", key);
    x = (int64_t)d;
  } else {
    return err_set(err, GLOAM_EFORMAT, "config: \"%s\" is not a number", key);
  }
  if (x < lo || x > hi)
    return err_set(err, GLOAM_EFORMAT, "config: \"%s\" = %lld out of range [%lld, %lld]", key,
                   (long long)x, (long long)lo, (long long)hi);
  *out = (int)x;
  return 0;
}

/* A real field: absent or null -> def. */
static int get_float(const json_t *o, const char *key, double def, float *out, char *err) {
  const json_t *v = json_object_get(o, key);
  double d;
  if (!v || json_is_null(v)) {
    d = def;
  } else if (json_is_number(v)) {
    d = json_number_value(v);
  } else {
    return err_set(err, GLOAM_EFORMAT, "config: \"%s\" is not a number", key);
  }
  if (!isfinite(d) || fabs(d) > 3e38)
    return err_set(err, GLOAM_EFORMAT, "config: \"%s\" is not finite", key);
  *out = (float)d;
  return 0;
}

static int get_bool(const json_t *o, const char *key, bool def, bool *out, char *err) {
  const json_t *v = json_object_get(o, key);
  if (!v || json_is_null(v)) {
    *out = def;
    return 0;
  }
  if (!json_is_boolean(v)) return err_set(err, GLOAM_EFORMAT, "config: \"%s\" not a bool", key);
  *out = json_is_true(v);
  return 0;
}

int config_json_int(const json_t *o, const char *key, int64_t def, int64_t lo, int64_t hi, int *out,
                    char *err) {
  return get_int(o, key, def, lo, hi, out, err);
}
int config_json_float(const json_t *o, const char *key, double def, float *out, char *err) {
  return get_float(o, key, def, out, err);
}
int config_json_bool(const json_t *o, const char *key, bool def, bool *out, char *err) {
  return get_bool(o, key, def, out, err);
}

static void rope_defaults(rope_params *rp, float theta, int max_pos) {
  memset(rp, 0, sizeof *rp);
  rp->theta = theta;
  rp->scaling = ROPE_SCALING_NONE;
  rp->factor = 1.0f;
  rp->low_freq_factor = 1.0f;
  rp->high_freq_factor = 4.0f;
  rp->original_max_pos = max_pos;
  rp->beta_fast = 32.0f;
  rp->beta_slow = 1.0f;
  rp->attention_factor = 0.0f;
}

/* One rope object (v5 rope_parameters entry or v4 rope_scaling); r may be
 * NULL or null. theta: the value when r has no "rope_theta". */
static int parse_rope(const json_t *r, float theta, int max_pos, rope_params *rp, char *err) {
  int rc;
  rope_defaults(rp, theta, max_pos);
  if (!r || json_is_null(r)) return 0;
  if (!json_is_object(r)) return err_set(err, GLOAM_EFORMAT, "config: rope entry not an object");
  if ((rc = get_float(r, "rope_theta", theta, &rp->theta, err)) < 0) return rc;
  const json_t *t = json_object_get(r, "rope_type");
  if (!t || json_is_null(t)) t = json_object_get(r, "type");
  const char *ts = (t && json_is_string(t)) ? json_string_value(t) : "default";
  if (t && !json_is_null(t) && !json_is_string(t))
    return err_set(err, GLOAM_EFORMAT, "config: rope_type not a string");
  if (strcmp(ts, "default") == 0)
    rp->scaling = ROPE_SCALING_NONE;
  else if (strcmp(ts, "linear") == 0)
    rp->scaling = ROPE_SCALING_LINEAR;
  else if (strcmp(ts, "llama3") == 0)
    rp->scaling = ROPE_SCALING_LLAMA3;
  else if (strcmp(ts, "yarn") == 0)
    rp->scaling = ROPE_SCALING_YARN;
  else if (strcmp(ts, "proportional") == 0)
    rp->scaling = ROPE_SCALING_PROPORTIONAL;
  else
    return err_set(err, GLOAM_EUNSUPPORTED, "config: rope_type \"%.40s\" not supported", ts);
  if (rp->scaling == ROPE_SCALING_NONE) return 0;
  if ((rc = get_float(r, "factor", 1.0, &rp->factor, err)) < 0) return rc;
  if ((rc = get_float(r, "low_freq_factor", 1.0, &rp->low_freq_factor, err)) < 0) return rc;
  if ((rc = get_float(r, "high_freq_factor", 4.0, &rp->high_freq_factor, err)) < 0) return rc;
  if ((rc = get_int(r, "original_max_position_embeddings", max_pos, 1, 1 << 30,
                    &rp->original_max_pos, err)) < 0)
    return rc;
  if ((rc = get_float(r, "beta_fast", 32.0, &rp->beta_fast, err)) < 0) return rc;
  if ((rc = get_float(r, "beta_slow", 1.0, &rp->beta_slow, err)) < 0) return rc;
  if ((rc = get_float(r, "attention_factor", 0.0, &rp->attention_factor, err)) < 0) return rc;
  if (!(rp->factor > 0) || !(rp->low_freq_factor > 0) || !(rp->high_freq_factor > 0))
    return err_set(err, GLOAM_EFORMAT, "config: rope factors must be positive");
  return 0;
}

/* Partial rotary: partial_rotary_factor in rope_parameters (transformers 5)
 * or at the top (4); MiniMax's own configs give rotary_dim instead. */
static int parse_partial_rotary(const json_t *o, model_config *c, char *err) {
  int rc;
  const json_t *rp = json_object_get(o, "rope_parameters");
  const json_t *src = json_is_object(rp) && json_object_get(rp, "partial_rotary_factor") ? rp : o;
  if ((rc = get_float(src, "partial_rotary_factor", 0.0, &c->rope_partial, err)) < 0) return rc;
  if (!(c->rope_partial >= 0 && c->rope_partial <= 1))
    return err_set(err, GLOAM_EFORMAT, "config: partial_rotary_factor out of range");
  if (c->arch == ARCH_MINIMAX_M2 && c->rope_partial == 0)
    return get_int(o, "rotary_dim", 0, 0, CONFIG_MAX_HEAD_DIM, &c->rope_dim, err);
  return 0;
}

/* rope / rope_local from either style. */
static int parse_rope_all(const json_t *o, model_config *c, char *err) {
  int rc;
  float def_theta = c->arch == ARCH_GEMMA3 || c->arch == ARCH_GEMMA4 ? 1e6f : 1e4f;
  float def_local = 1e4f;
  const json_t *rp = json_object_get(o, "rope_parameters");
  if (rp && json_is_object(rp)) {
    const json_t *full = json_object_get(rp, "full_attention");
    const json_t *slide = json_object_get(rp, "sliding_attention");
    if (full || slide) {
      if ((rc = parse_rope(full, def_theta, c->max_pos, &c->rope, err)) < 0) return rc;
      if ((rc = parse_rope(slide ? slide : full, slide ? def_local : def_theta, c->max_pos,
                           &c->rope_local, err)) < 0)
        return rc;
      return 0;
    }
    float theta;
    if ((rc = get_float(o, "rope_theta", def_theta, &theta, err)) < 0) return rc;
    if ((rc = parse_rope(rp, theta, c->max_pos, &c->rope, err)) < 0) return rc;
    c->rope_local = c->rope;
    if (c->arch == ARCH_GEMMA3) {
      float lt = 1e4f;
      if ((rc = get_float(o, "rope_local_base_freq", def_local, &lt, err)) < 0) return rc;
      rope_defaults(&c->rope_local, lt, c->max_pos);
    }
    return 0;
  }
  if (rp && !json_is_null(rp))
    return err_set(err, GLOAM_EFORMAT, "config: rope_parameters not an object");
  /* transformers 4 style */
  float theta;
  if ((rc = get_float(o, "rope_theta", def_theta, &theta, err)) < 0) return rc;
  if ((rc = parse_rope(json_object_get(o, "rope_scaling"), theta, c->max_pos, &c->rope, err)) < 0)
    return rc;
  /* the scaling object must not carry a different theta than rope_theta */
  c->rope.theta = theta;
  c->rope_local = c->rope;
  if (c->arch == ARCH_GEMMA3) {
    float lt = 1e4f;
    if ((rc = get_float(o, "rope_local_base_freq", def_local, &lt, err)) < 0) return rc;
    rope_defaults(&c->rope_local, lt, c->max_pos);
  }
  return 0;
}

static int parse_layers(const json_t *o, model_config *c, char *err) {
  int rc;
  const json_t *lt = json_object_get(o, "layer_types");
  int sw = 0;
  if ((rc = get_int(o, "sliding_window", 0, 0, 1 << 30, &sw, err)) < 0) return rc;
  if (lt && !json_is_null(lt)) {
    if (!json_is_array(lt) || json_array_size(lt) != (size_t)c->n_layers)
      return err_set(err, GLOAM_EFORMAT, "config: layer_types must list %d layers", c->n_layers);
    for (int i = 0; i < c->n_layers; i++) {
      const char *s = json_string_value(json_array_get(lt, (size_t)i));
      if (!s) return err_set(err, GLOAM_EFORMAT, "config: layer_types[%d] not a string", i);
      if (strcmp(s, "sliding_attention") == 0)
        c->layer_sliding[i] = true;
      else if (strcmp(s, "full_attention") == 0)
        c->layer_sliding[i] = false;
      else if (strcmp(s, "linear_attention") == 0 && config_is_hybrid(c->arch))
        c->layer_linear[i] = true;
      else
        return err_set(err, GLOAM_EUNSUPPORTED, "config: layer type \"%.40s\" not supported", s);
    }
  } else if (c->arch == ARCH_GEMMA3 || c->arch == ARCH_GEMMA4) {
    int pat;
    const char *key = json_object_get(o, "sliding_window_pattern") ? "sliding_window_pattern"
                                                                   : "_sliding_window_pattern";
    if ((rc = get_int(o, key, 6, 1, 1 << 20, &pat, err)) < 0) return rc;
    for (int i = 0; i < c->n_layers; i++) c->layer_sliding[i] = (i + 1) % pat != 0;
  }
  bool any = false;
  for (int i = 0; i < c->n_layers; i++) any |= c->layer_sliding[i];
  if (any && sw <= 0)
    return err_set(err, GLOAM_EFORMAT, "config: sliding layers but no sliding_window");
  c->sliding_window = any ? sw : 0;
  return 0;
}

/* bos_token_id / eos_token_id (int, list or null) from o, if present. */
static int parse_special(const json_t *o, model_config *c, char *err) {
  const json_t *b = json_object_get(o, "bos_token_id");
  if (b && json_is_integer(b)) {
    json_int_t v = json_integer_value(b);
    c->bos_id = (v >= 0 && v < CONFIG_MAX_VOCAB) ? (int)v : -1;
  }
  const json_t *e = json_object_get(o, "eos_token_id");
  if (!e || json_is_null(e)) return 0;
  int n = 0;
  int ids[4];
  if (json_is_integer(e)) {
    json_int_t v = json_integer_value(e);
    if (v >= 0 && v < CONFIG_MAX_VOCAB) ids[n++] = (int)v;
  } else if (json_is_array(e)) {
    for (size_t i = 0; i < json_array_size(e) && n < 4; i++) {
      const json_t *x = json_array_get(e, i);
      if (!json_is_integer(x)) return err_set(err, GLOAM_EFORMAT, "config: bad eos_token_id");
      json_int_t v = json_integer_value(x);
      if (v >= 0 && v < CONFIG_MAX_VOCAB) ids[n++] = (int)v;
    }
  } else {
    return err_set(err, GLOAM_EFORMAT, "config: bad eos_token_id");
  }
  memcpy(c->eos_ids, ids, sizeof ids);
  c->n_eos = n;
  return 0;
}

static int parse_act(const json_t *o, model_config *c, char *err) {
  const json_t *a = json_object_get(o, "hidden_activation");
  if (!a || json_is_null(a)) a = json_object_get(o, "hidden_act");
  const char *s = json_string_value(a);
  if (!s) s = c->arch == ARCH_GEMMA3 || c->arch == ARCH_GEMMA4 ? "gelu_pytorch_tanh" : "silu";
  if (strcmp(s, "silu") == 0 || strcmp(s, "swish") == 0)
    c->act = ACT_SILU;
  else if (strcmp(s, "gelu_pytorch_tanh") == 0 || strcmp(s, "gelu_tanh") == 0 ||
           strcmp(s, "gelu_new") == 0 || (c->arch == ARCH_GEMMA3 && strcmp(s, "gelu") == 0))
    c->act = ACT_GELU_TANH;
  else
    return err_set(err, GLOAM_EUNSUPPORTED, "config: activation \"%.40s\" not supported", s);
  return 0;
}

static int parse_moe(const json_t *o, model_config *c, char *err) {
  int rc;
  const char *nk = json_object_get(o, "num_experts") ? "num_experts" : "num_local_experts";
  if ((rc = get_int(o, nk, 0, 0, CONFIG_MAX_EXPERTS, &c->n_experts, err)) < 0) return rc;
  bool minimax = c->arch == ARCH_MINIMAX_M2; /* experts of intermediate_size */
  if (c->arch != ARCH_QWEN3_MOE && c->arch != ARCH_QWEN35_MOE && c->arch != ARCH_QWEN3_NEXT &&
      !minimax) {
    c->n_experts = 0;
    return 0;
  }
  if (c->n_experts < 1)
    return err_set(err, GLOAM_EFORMAT, "config: %s needs experts", c->model_type);
  if ((rc = get_int(o, "num_experts_per_tok", NO_DEFAULT, 1, c->n_experts, &c->n_experts_per_tok,
                    err)) < 0)
    return rc;
  if ((rc = get_int(o, "moe_intermediate_size", minimax ? c->ffn_hidden : NO_DEFAULT, 1,
                    CONFIG_MAX_FFN, &c->moe_ffn_hidden, err)) < 0)
    return rc;
  bool norm_def = c->arch == ARCH_QWEN3_NEXT; /* Qwen3NextConfig: true */
  if ((rc = get_bool(o, "norm_topk_prob", norm_def, &c->norm_topk_prob, err)) < 0) return rc;
  if ((rc = get_int(o, "decoder_sparse_step", 1, 1, MODEL_MAX_LAYERS, &c->decoder_sparse_step,
                    err)) < 0)
    return rc;
  return 0;
}

static int apply_mlp_only(const json_t *o, model_config *c, char *err) {
  const json_t *m = json_object_get(o, "mlp_only_layers");
  if (!m || json_is_null(m) || c->n_experts == 0) return 0;
  if (!json_is_array(m)) return err_set(err, GLOAM_EFORMAT, "config: bad mlp_only_layers");
  for (size_t i = 0; i < json_array_size(m); i++) {
    const json_t *x = json_array_get(m, i);
    if (!json_is_integer(x)) return err_set(err, GLOAM_EFORMAT, "config: bad mlp_only_layers");
    json_int_t l = json_integer_value(x);
    if (l >= 0 && l < c->n_layers) c->layer_moe[l] = false;
  }
  return 0;
}

bool config_is_hybrid(enum model_arch a) {
  return a == ARCH_QWEN35 || a == ARCH_QWEN35_MOE || a == ARCH_QWEN3_NEXT;
}

/* Qwen3.5: Gated DeltaNet sizes, which layers are linear (layer_types, else
 * every full_attention_interval-th layer is full attention), partial rotary
 * and the shared expert. transformers' Qwen3_5(Moe)TextConfig defaults. */
static int parse_hybrid(const json_t *o, model_config *c, char *err) {
  int rc;
  if (!config_is_hybrid(c->arch)) return 0;
#define INT(key, def, lo, hi, dst) \
  if ((rc = get_int(o, key, def, lo, hi, dst, err)) < 0) return rc
  INT("linear_conv_kernel_dim", 4, 1, 64, &c->lin_conv);
  INT("linear_key_head_dim", 128, 1, CONFIG_MAX_HEAD_DIM, &c->lin_k_dim);
  INT("linear_value_head_dim", 128, 1, CONFIG_MAX_HEAD_DIM, &c->lin_v_dim);
  INT("linear_num_key_heads", 16, 1, CONFIG_MAX_HEADS, &c->lin_k_heads);
  INT("linear_num_value_heads", 32, 1, CONFIG_MAX_HEADS, &c->lin_v_heads);
  if (c->arch != ARCH_QWEN35)
    INT("shared_expert_intermediate_size", 0, 0, CONFIG_MAX_FFN, &c->shared_ffn_hidden);
  int interval = 4;
  INT("full_attention_interval", 4, 1, MODEL_MAX_LAYERS, &interval);
#undef INT
  if (c->lin_v_heads % c->lin_k_heads != 0)
    return err_set(err, GLOAM_EFORMAT, "config: linear value heads not a multiple of key heads");
  const json_t *lt = json_object_get(o, "layer_types");
  if (!lt || json_is_null(lt))
    for (int i = 0; i < c->n_layers; i++) c->layer_linear[i] = (i + 1) % interval != 0;
  float prf = 0.25f;
  const json_t *rp = json_object_get(o, "rope_parameters");
  if ((rc = get_float(o, "partial_rotary_factor", 0.25, &prf, err)) < 0) return rc;
  if (json_is_object(rp) && (rc = get_float(rp, "partial_rotary_factor", prf, &prf, err)) < 0)
    return rc;
  int hd = c->head_dim ? c->head_dim : c->hidden / c->n_heads;
  if (!(prf > 0 && prf <= 1)) /* before the conversion to int */
    return err_set(err, GLOAM_EFORMAT, "config: bad partial_rotary_factor");
  c->rope_dim = (int)((float)hd * prf);
  if (c->rope_dim < 2 || c->rope_dim % 2 != 0)
    return err_set(err, GLOAM_EFORMAT, "config: bad partial_rotary_factor");
  c->attn_out_gate = true;
  if (c->arch == ARCH_QWEN35_MOE)
    c->norm_topk_prob = true; /* Qwen3.5's router always renormalises the top k */
  return 0;
}

int config_finish(model_config *c, char *err) {
  if (c->arch == ARCH_UNKNOWN) return err_set(err, GLOAM_EUNSUPPORTED, "config: no architecture");
  if (c->n_layers < 1 || c->n_layers > MODEL_MAX_LAYERS)
    return err_set(err, GLOAM_EFORMAT, "config: %d layers out of range", c->n_layers);
  if (c->hidden < 1 || c->hidden > CONFIG_MAX_HIDDEN)
    return err_set(err, GLOAM_EFORMAT, "config: hidden size %d out of range", c->hidden);
  if (c->n_heads < 1 || c->n_heads > CONFIG_MAX_HEADS)
    return err_set(err, GLOAM_EFORMAT, "config: %d heads out of range", c->n_heads);
  if (c->n_kv_heads == 0) c->n_kv_heads = c->n_heads;
  if (c->n_kv_heads < 1 || c->n_kv_heads > c->n_heads || c->n_heads % c->n_kv_heads != 0)
    return err_set(err, GLOAM_EFORMAT, "config: %d kv heads do not divide %d heads", c->n_kv_heads,
                   c->n_heads);
  if (c->head_dim == 0) c->head_dim = c->hidden / c->n_heads;
  if (c->head_dim < 2 || c->head_dim > CONFIG_MAX_HEAD_DIM || c->head_dim % 2 != 0)
    return err_set(err, GLOAM_EFORMAT, "config: head_dim %d invalid", c->head_dim);
  if (c->rope_dim == 0) /* as transformers: int(head_dim * partial_rotary_factor) */
    c->rope_dim = c->rope_partial > 0 ? (int)((double)c->head_dim * c->rope_partial) : c->head_dim;
  if (c->rope_dim < 2 || c->rope_dim > c->head_dim || c->rope_dim % 2 != 0)
    return err_set(err, GLOAM_EFORMAT, "config: rotary dimension %d invalid", c->rope_dim);
  if (c->ffn_hidden < (c->n_experts ? 0 : 1) || c->ffn_hidden > CONFIG_MAX_FFN)
    return err_set(err, GLOAM_EFORMAT, "config: intermediate size %d out of range", c->ffn_hidden);
  if (c->vocab < 1 || c->vocab > CONFIG_MAX_VOCAB)
    return err_set(err, GLOAM_EFORMAT, "config: vocab %d out of range", c->vocab);
  if (c->max_pos < 1) return err_set(err, GLOAM_EFORMAT, "config: bad max_position_embeddings");
  if (!(c->rms_eps > 0 && c->rms_eps < 1))
    return err_set(err, GLOAM_EFORMAT, "config: bad rms_norm_eps");
  if (!(c->rope.theta > 0) || !(c->rope_local.theta > 0))
    return err_set(err, GLOAM_EFORMAT, "config: bad rope theta");
  if (c->n_experts) {
    if (c->n_experts > CONFIG_MAX_EXPERTS || c->n_experts_per_tok < 1 ||
        c->n_experts_per_tok > c->n_experts || c->moe_ffn_hidden < 1 ||
        c->moe_ffn_hidden > CONFIG_MAX_FFN)
      return err_set(err, GLOAM_EFORMAT, "config: bad MoE sizes");
    if (c->decoder_sparse_step < 1) c->decoder_sparse_step = 1;
    for (int i = 0; i < c->n_layers; i++) c->layer_moe[i] = (i + 1) % c->decoder_sparse_step == 0;
  } else {
    memset(c->layer_moe, 0, sizeof c->layer_moe);
  }
  bool gemma = c->arch == ARCH_GEMMA3;
  c->embed_scale = gemma || c->arch == ARCH_GEMMA4 ? sqrtf((float)c->hidden) : 1.0f;
  c->norm_w_offset = gemma ? 1.0f : 0.0f; /* gemma4's RMSNorm multiplies by w itself */
  bool minimax = c->arch == ARCH_MINIMAX_M2;
  c->qk_norm = c->arch == ARCH_QWEN3 || c->arch == ARCH_QWEN3_MOE || gemma ||
               c->arch == ARCH_GEMMA4 || config_is_hybrid(c->arch) || minimax;
  c->qk_norm_whole = minimax;
  if (minimax) { /* sigmoid scores, top-k weights always renormalised */
    c->moe_sigmoid = true;
    c->norm_topk_prob = true;
  }
  if (config_is_hybrid(c->arch)) c->norm_w_offset = 1.0f; /* (1 + w) RMSNorm */
  if (c->arch == ARCH_QWEN2) c->attn_bias = true;
  if (gemma && c->query_pre_attn_scalar <= 0) c->query_pre_attn_scalar = (float)c->head_dim;
  if (c->bos_id >= c->vocab) c->bos_id = -1;
  int n = 0;
  for (int i = 0; i < c->n_eos; i++)
    if (c->eos_ids[i] >= 0 && c->eos_ids[i] < c->vocab) c->eos_ids[n++] = c->eos_ids[i];
  c->n_eos = n;
  for (int i = n; i < 4; i++) c->eos_ids[i] = -1;
  return 0;
}

static int parse_obj(model_config *c, const json_t *top, char *err) {
  int rc;
  const char *mt = json_string_value(json_object_get(top, "model_type"));
  if (!mt) return err_set(err, GLOAM_EFORMAT, "config: missing \"model_type\"");
  const json_t *tc = json_object_get(top, "text_config");
  /* Janus (image generation, janus_load.c) wraps a Llama: load that */
  bool janus = strcmp(mt, "janus") == 0 && json_is_object(tc);
  if (janus && !(mt = json_string_value(json_object_get(tc, "model_type")))) mt = "llama";
  c->arch = config_arch_from_name(mt);
  if (c->arch == ARCH_UNKNOWN)
    return err_set(err, GLOAM_EUNSUPPORTED,
                   "config: model_type \"%.40s\" not supported (llama, qwen2, qwen3, qwen3_moe, "
                   "gemma3, gemma3_text, gemma4, gemma4_text, qwen3_5(_text), qwen3_5_moe(_text), "
                   "qwen3_next, minimax_m2)",
                   mt);
  snprintf(c->model_type, sizeof c->model_type, "%s", mt);
  const json_t *o = top;
  bool wrapper = janus || strcmp(mt, "gemma3") == 0 || strcmp(mt, "gemma4") == 0 ||
                 strcmp(mt, "qwen3_5") == 0 || strcmp(mt, "qwen3_5_moe") == 0;
  if (wrapper && json_is_object(tc)) o = tc; /* multimodal wrapper */
  if ((rc = get_int(o, "num_hidden_layers", NO_DEFAULT, 1, MODEL_MAX_LAYERS, &c->n_layers, err)) <
      0)
    return rc;
  if ((rc = get_int(o, "hidden_size", NO_DEFAULT, 1, CONFIG_MAX_HIDDEN, &c->hidden, err)) < 0)
    return rc;
  if ((rc = get_int(o, "num_attention_heads", NO_DEFAULT, 1, CONFIG_MAX_HEADS, &c->n_heads, err)) <
      0)
    return rc;
  if ((rc = get_int(o, "num_key_value_heads", c->n_heads, 1, CONFIG_MAX_HEADS, &c->n_kv_heads,
                    err)) < 0)
    return rc;
  if ((rc = get_int(o, "head_dim", 0, 0, CONFIG_MAX_HEAD_DIM, &c->head_dim, err)) < 0) return rc;
  bool moe = c->arch == ARCH_QWEN3_MOE || c->arch == ARCH_QWEN35_MOE || c->arch == ARCH_QWEN3_NEXT;
  if ((rc = get_int(o, "intermediate_size", moe ? 0 : NO_DEFAULT, 0, CONFIG_MAX_FFN, &c->ffn_hidden,
                    err)) < 0)
    return rc;
  if ((rc = get_int(o, "vocab_size", NO_DEFAULT, 1, CONFIG_MAX_VOCAB, &c->vocab, err)) < 0)
    return rc;
  if ((rc = get_int(o, "max_position_embeddings", 2048, 1, 1 << 30, &c->max_pos, err)) < 0)
    return rc;
  if ((rc = get_float(o, "rms_norm_eps", 1e-6, &c->rms_eps, err)) < 0) return rc;
  if ((rc = parse_act(o, c, err)) < 0) return rc;
  bool tie_def = c->arch == ARCH_GEMMA3 || c->arch == ARCH_GEMMA4;
  if ((rc = get_bool(o, "tie_word_embeddings", tie_def, &c->tie_embeddings, err)) < 0) return rc;
  /* the wrapper's tie_word_embeddings applies when the text config has none
   * or, for Janus (whose lm_head belongs to the wrapper), whenever present */
  bool top_tie = janus ? json_object_get(top, "tie_word_embeddings") != NULL
                       : !json_object_get(o, "tie_word_embeddings");
  if (o != top && top_tie &&
      (rc = get_bool(top, "tie_word_embeddings", tie_def, &c->tie_embeddings, err)) < 0)
    return rc;
  if ((rc = get_bool(o, "attention_bias", false, &c->attn_bias, err)) < 0) return rc;
  if ((rc = parse_rope_all(o, c, err)) < 0) return rc;
  if ((rc = parse_partial_rotary(o, c, err)) < 0) return rc;
  if ((rc = parse_moe(o, c, err)) < 0) return rc;
  if ((rc = parse_layers(o, c, err)) < 0) return rc;
  if ((rc = parse_hybrid(o, c, err)) < 0) return rc;
  if (c->arch == ARCH_GEMMA4 && (rc = config_gemma4_parse(c, o, err)) < 0) return rc;
  if (c->arch == ARCH_GEMMA3) {
    if ((rc = get_float(o, "query_pre_attn_scalar", 256, &c->query_pre_attn_scalar, err)) < 0)
      return rc;
    if ((rc = get_float(o, "final_logit_softcapping", 0, &c->final_logit_softcap, err)) < 0)
      return rc;
    if ((rc = get_float(o, "attn_logit_softcapping", 0, &c->attn_logit_softcap, err)) < 0)
      return rc;
    if (c->query_pre_attn_scalar <= 0 || c->final_logit_softcap < 0 || c->attn_logit_softcap < 0)
      return err_set(err, GLOAM_EFORMAT, "config: bad gemma3 scalars");
  }
  if ((rc = parse_special(o, c, err)) < 0) return rc;
  if (o != top && (rc = parse_special(top, c, err)) < 0) return rc;
  return 0;
}

static json_t *load_json(const char *text, size_t len, const char *what, char *err) {
  json_error_t je;
  if (len > CONFIG_MAX_JSON) {
    err_set(err, GLOAM_EFORMAT, "%s: too large", what);
    return NULL;
  }
  json_t *j = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
  if (!j) {
    err_set(err, GLOAM_EFORMAT, "%s: line %d: %.80s", what, je.line, je.text);
    return NULL;
  }
  if (!json_is_object(j)) {
    json_decref(j);
    err_set(err, GLOAM_EFORMAT, "%s: not a JSON object", what);
    return NULL;
  }
  return j;
}

int config_parse(model_config *c, const char *json, size_t json_len, const char *gen_json,
                 size_t gen_len, char *err) {
  memset(c, 0, sizeof *c);
  c->bos_id = -1;
  for (int i = 0; i < 4; i++) c->eos_ids[i] = -1;
  json_t *g = NULL;
  json_t *j = load_json(json, json_len, "config.json", err);
  if (!j) return GLOAM_EFORMAT;
  int rc = parse_obj(c, j, err);
  if (rc < 0) goto done;
  if (gen_json) {
    g = load_json(gen_json, gen_len, "generation_config.json", err);
    if (!g) {
      rc = GLOAM_EFORMAT;
      goto done;
    }
    if ((rc = parse_special(g, c, err)) < 0) goto done;
  }
  if ((rc = config_finish(c, err)) < 0) goto done;
  const json_t *tc = json_object_get(j, "text_config");
  rc = apply_mlp_only(c->arch != ARCH_LLAMA && json_is_object(tc) ? tc : j, c, err);
done:
  json_decref(g);
  json_decref(j);
  return rc;
}

int config_read_file(const char *path, size_t max, char **out, size_t *out_len, char *err) {
  *out = NULL;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int e = errno;
    return err_set(err, e == ENOENT ? GLOAM_ENOENT : GLOAM_EIO, "%s: %s", path, strerror(e));
  }
  struct stat st;
  int rc = 0;
  char *p = NULL;
  if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
    rc = err_set(err, GLOAM_EIO, "%s: not a regular file", path);
    goto fail;
  }
  if ((uint64_t)st.st_size > max) {
    rc = err_set(err, GLOAM_ETOOBIG, "%s: larger than %zu bytes", path, max);
    goto fail;
  }
  size_t n = (size_t)st.st_size, got = 0;
  p = mem_alloc(n + 1);
  if (!p) {
    rc = err_set(err, GLOAM_ENOMEM, "%s: out of memory", path);
    goto fail;
  }
  while (got < n) {
    ssize_t r = read(fd, p + got, n - got);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      rc = err_set(err, GLOAM_EIO, "%s: read failed", path);
      goto fail;
    }
    got += (size_t)r;
  }
  p[n] = 0;
  close(fd);
  *out = p;
  *out_len = n;
  return 0;
fail:
  mem_free(p);
  close(fd);
  return rc;
}

int config_load_dir(model_config *c, const char *dir, const char *name, char *err) {
  char path[4096];
  char *cj = NULL, *gj = NULL;
  size_t cl = 0, gl = 0;
  int rc;
  if (snprintf(path, sizeof path, "%s/%s", dir, name ? name : "config.json") >= (int)sizeof path)
    return err_set(err, GLOAM_EINVAL, "path too long");
  if ((rc = config_read_file(path, CONFIG_MAX_JSON, &cj, &cl, err)) < 0) return rc;
  if (snprintf(path, sizeof path, "%s/generation_config.json", dir) < (int)sizeof path) {
    rc = config_read_file(path, CONFIG_MAX_JSON, &gj, &gl, err);
    if (rc < 0 && rc != GLOAM_ENOENT) goto done;
  }
  rc = config_parse(c, cj, cl, gj, gl, err);
done:
  mem_free(cj);
  mem_free(gj);
  return rc;
}

static int emit(config_tensor_fn fn, void *ctx, int64_t a, int64_t b, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static int emit(config_tensor_fn fn, void *ctx, int64_t a, int64_t b, const char *fmt, ...) {
  char name[160];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(name, sizeof name, fmt, ap);
  va_end(ap);
  int64_t shape[2] = {a, b};
  return fn(ctx, name, b ? 2 : 1, shape);
}

int config_for_each_tensor(const model_config *c, config_tensor_fn fn, void *ctx) {
  int rc;
  const int64_t h = c->hidden, hd = c->head_dim;
  const int64_t q = c->n_heads * hd, kv = c->n_kv_heads * hd;
  const bool gemma = c->arch == ARCH_GEMMA3;
  if (c->arch == ARCH_GEMMA4) return config_gemma4_tensors(c, fn, ctx);
#define E(a, b, ...) \
  if ((rc = emit(fn, ctx, a, b, __VA_ARGS__)) < 0) return rc
  E(c->vocab, h, "model.embed_tokens.weight");
  for (int l = 0; l < c->n_layers; l++) {
    const char *p = "model.layers";
    E(h, 0, "%s.%d.input_layernorm.weight", p, l);
    if (c->layer_linear[l]) {
      const int64_t kd = (int64_t)c->lin_k_heads * c->lin_k_dim,
                    vd = (int64_t)c->lin_v_heads * c->lin_v_dim, nv = c->lin_v_heads;
      const char *la = "linear_attn";
      if (c->arch == ARCH_QWEN3_NEXT) { /* fused, grouped by key head */
        E(2 * kd + 2 * vd, h, "%s.%d.%s.in_proj_qkvz.weight", p, l, la);
        E(2 * nv, h, "%s.%d.%s.in_proj_ba.weight", p, l, la);
      } else {
        E(2 * kd + vd, h, "%s.%d.%s.in_proj_qkv.weight", p, l, la);
        E(vd, h, "%s.%d.%s.in_proj_z.weight", p, l, la);
        E(nv, h, "%s.%d.%s.in_proj_b.weight", p, l, la);
        E(nv, h, "%s.%d.%s.in_proj_a.weight", p, l, la);
      }
      E(nv, 0, "%s.%d.%s.A_log", p, l, la);
      E(nv, 0, "%s.%d.%s.dt_bias", p, l, la);
      E(c->lin_v_dim, 0, "%s.%d.%s.norm.weight", p, l, la);
      E(h, vd, "%s.%d.%s.out_proj.weight", p, l, la);
      /* conv1d.weight [conv_dim, 1, kernel] is 3-D: weights.c checks it */
    } else {
      E(c->attn_out_gate ? 2 * q : q, h, "%s.%d.self_attn.q_proj.weight", p, l);
      E(kv, h, "%s.%d.self_attn.k_proj.weight", p, l);
      E(kv, h, "%s.%d.self_attn.v_proj.weight", p, l);
      E(h, q, "%s.%d.self_attn.o_proj.weight", p, l);
      if (c->attn_bias) {
        E(q, 0, "%s.%d.self_attn.q_proj.bias", p, l);
        E(kv, 0, "%s.%d.self_attn.k_proj.bias", p, l);
        E(kv, 0, "%s.%d.self_attn.v_proj.bias", p, l);
        if (c->arch == ARCH_LLAMA) E(h, 0, "%s.%d.self_attn.o_proj.bias", p, l);
      }
      if (c->qk_norm) {
        E(c->qk_norm_whole ? q : hd, 0, "%s.%d.self_attn.q_norm.weight", p, l);
        E(c->qk_norm_whole ? kv : hd, 0, "%s.%d.self_attn.k_norm.weight", p, l);
      }
    }
    E(h, 0, "%s.%d.post_attention_layernorm.weight", p, l);
    if (gemma) {
      E(h, 0, "%s.%d.pre_feedforward_layernorm.weight", p, l);
      E(h, 0, "%s.%d.post_feedforward_layernorm.weight", p, l);
    }
    if (c->n_experts && c->layer_moe[l]) {
      const int64_t f = c->moe_ffn_hidden;
      E(c->n_experts, h, "%s.%d.mlp.gate.weight", p, l);
      if (c->moe_sigmoid) E(c->n_experts, 0, "%s.%d.mlp.e_score_correction_bias", p, l);
      for (int e = 0; e < c->n_experts; e++) {
        E(f, h, "%s.%d.mlp.experts.%d.gate_proj.weight", p, l, e);
        E(f, h, "%s.%d.mlp.experts.%d.up_proj.weight", p, l, e);
        E(h, f, "%s.%d.mlp.experts.%d.down_proj.weight", p, l, e);
      }
      if (c->shared_ffn_hidden) {
        const int64_t sf = c->shared_ffn_hidden;
        E(sf, h, "%s.%d.mlp.shared_expert.gate_proj.weight", p, l);
        E(sf, h, "%s.%d.mlp.shared_expert.up_proj.weight", p, l);
        E(h, sf, "%s.%d.mlp.shared_expert.down_proj.weight", p, l);
        E(1, h, "%s.%d.mlp.shared_expert_gate.weight", p, l);
      }
    } else {
      const int64_t f = c->ffn_hidden;
      E(f, h, "%s.%d.mlp.gate_proj.weight", p, l);
      E(f, h, "%s.%d.mlp.up_proj.weight", p, l);
      E(h, f, "%s.%d.mlp.down_proj.weight", p, l);
    }
  }
  E(h, 0, "model.norm.weight");
  if (!c->tie_embeddings) E(c->vocab, h, "lm_head.weight");
#undef E
  return 0;
}
