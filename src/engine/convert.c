/* SPDX-License-Identifier: Apache-2.0
 *
 * engine/convert.c: Hugging Face directory -> GGUF (see convert.h).
 *
 * DESIGN: the model is opened through model_files (so the converter sees
 * exactly what the engine loads); every output tensor is registered with
 * the writer as a job that converts it row by row through float32 with the
 * kernels' reference quantizers when the writer reaches it, so only one
 * converted tensor is in memory; gguf_names.c gives the llama.cpp names.
 */
#include "engine/convert.h"

#include <ctype.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "engine/config.h"
#include "engine/gguf_names.h"
#include "engine/gguf_write.h"
#include "engine/model_files.h"
#include "kernels/kernels.h"

typedef struct cv {
  model_files *mf;
  const model_config *c;
  gguf_writer *w;
  enum dtype target;
  float *row; /* scratch: one row */
  bool keys_only;
  char *err;
} cv;

int convert_type_from_name(const char *s) {
  static const struct {
    const char *n;
    enum dtype t;
  } tab[] = {{"f32", DT_F32},   {"f16", DT_F16},   {"bf16", DT_BF16}, {"q8_0", DT_Q8_0},
             {"q4_0", DT_Q4_0}, {"q4_k", DT_Q4_K}, {"q6_k", DT_Q6_K}};
  for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++)
    if (strcasecmp(s, tab[i].n) == 0) return tab[i].t;
  return -1;
}

static bool is_quant(enum dtype t) {
  return t != DT_F32 && t != DT_F16 && t != DT_BF16;
}

/* The type a tensor is written in. */
static enum dtype pick_type(const cv *v, const tensor *t) {
  if (t->n_dims == 1) return DT_F32;
  size_t n = strlen(t->name);
  if (n > 16 && strcmp(t->name + n - 16, ".mlp.gate.weight") == 0 && is_quant(v->target))
    return DT_F32;
  int64_t cols = t->shape[t->n_dims - 1];
  if (dtype_row_bytes(v->target, cols)) return v->target;
  if ((v->target == DT_Q4_K || v->target == DT_Q6_K) && dtype_row_bytes(DT_Q8_0, cols))
    return DT_Q8_0;
  return DT_F16;
}

/* Converts all rows of t (any dims; rows along the last) to type `to`,
 * adding `add` to every value (Gemma's 1 + w). */
static void convert_rows(const cv *v, const tensor *t, enum dtype to, float add, uint8_t *dst) {
  int64_t cols = t->shape[t->n_dims - 1], rows = 1;
  for (int i = 0; i < t->n_dims - 1; i++) rows *= t->shape[i];
  size_t srb = dtype_row_bytes(t->type, cols), drb = dtype_row_bytes(to, cols);
  const uint8_t *src = t->data;
  for (int64_t r = 0; r < rows; r++) {
    kern_dequantize_row(t->type, src + (size_t)r * srb, v->row, cols);
    if (add != 0)
      for (int64_t i = 0; i < cols; i++) v->row[i] += add;
    if (to == DT_F32)
      memcpy(dst + (size_t)r * drb, v->row, (size_t)cols * sizeof(float));
    else
      kern_quantize_row(to, v->row, dst + (size_t)r * drb, cols);
  }
}

static bool gemma_norm(const cv *v, const char *name) {
  size_t n = strlen(name);
  return v->c->arch == ARCH_GEMMA3 && n > 11 && strcmp(name + n - 11, "norm.weight") == 0;
}

/* One output tensor, converted when the writer asks for its bytes. */
typedef struct job {
  cv *v;
  const tensor *t; /* the tensor, or expert 0 of a stacked group */
  enum gguf_name_kind kind;
  enum dtype to;
} job;

static int fill_plain(void *ctx, void *dst, size_t n_bytes) {
  const job *j = ctx;
  const cv *v = j->v;
  const tensor *t = j->t;
  if (v->c->arch == ARCH_LLAMA && (j->kind == GN_Q || j->kind == GN_K)) {
    int nh = j->kind == GN_Q ? v->c->n_heads : v->c->n_kv_heads;
    if (t->shape[0] != (int64_t)nh * v->c->head_dim) return GLOAM_EFORMAT;
    uint8_t *tmp = mem_alloc(n_bytes);
    if (!tmp) return GLOAM_ENOMEM;
    convert_rows(v, t, j->to, 0, tmp);
    /* rows of a weight, elements of a bias */
    gguf_permute_rows(dst, tmp, nh, v->c->head_dim, n_bytes / (size_t)t->shape[0]);
    mem_free(tmp);
    return 0;
  }
  convert_rows(v, t, j->to, gemma_norm(v, t->name) ? 1.0f : 0.0f, dst);
  return 0;
}

/* Stacks experts 0..E-1 of one projection into [E, rows, cols]. */
static int fill_experts(void *ctx, void *dst, size_t n_bytes) {
  const job *j = ctx;
  const cv *v = j->v;
  const char *hf0 = j->t->name; /* "model.layers.L.mlp.experts.0.<part>" */
  const char *p = strstr(hf0, ".experts.0.");
  int E = v->c->n_experts;
  size_t per = n_bytes / (size_t)E;
  for (int e = 0; e < E; e++) {
    char name[256];
    snprintf(name, sizeof name, "%.*s.experts.%d.%s", (int)(p - hf0), hf0, e, p + 11);
    const tensor *t = model_files_tensor(v->mf, name);
    if (!t || t->n_dims != 2 || t->shape[0] != j->t->shape[0] || t->shape[1] != j->t->shape[1] ||
        t->type != j->t->type)
      return GLOAM_EFORMAT;
    convert_rows(v, t, j->to, 0, (uint8_t *)dst + (size_t)e * per);
  }
  return 0;
}

static int put_job(cv *v, job *j, const char *gname) {
  const tensor *t = j->t;
  j->v = v;
  j->to = pick_type(v, t);
  int64_t cols = t->shape[t->n_dims - 1], rows = 1, ne[4];
  for (int i = 0; i < t->n_dims - 1; i++) rows *= t->shape[i];
  size_t nb = (size_t)rows * dtype_row_bytes(j->to, cols);
  for (int i = 0; i < t->n_dims; i++) ne[i] = t->shape[t->n_dims - 1 - i];
  if (j->kind >= GN_EXPS_GATE && j->kind <= GN_EXPS_DOWN) {
    if (t->n_dims != 2) return err_set(v->err, GLOAM_EFORMAT, "convert: %s not 2-D", t->name);
    ne[2] = v->c->n_experts;
    return gguf_w_tensor_fill(v->w, gname, j->to, 3, ne, nb * (size_t)v->c->n_experts, fill_experts,
                              j);
  }
  return gguf_w_tensor_fill(v->w, gname, j->to, t->n_dims, ne, nb, fill_plain, j);
}

/* llama.cpp's rope_freqs for Llama 3 scaling (convert_hf_to_gguf.py). */
static int put_rope_freqs(cv *v) {
  const rope_params *r = &v->c->rope;
  int n = v->c->head_dim / 2;
  float *ff = mem_alloc((size_t)n * sizeof *ff);
  if (!ff) return err_set(v->err, GLOAM_ENOMEM, "out of memory");
  double lo_w = r->original_max_pos / r->low_freq_factor;
  double hi_w = r->original_max_pos / r->high_freq_factor;
  for (int i = 0; i < n; i++) {
    double freq = 1.0 / pow((double)r->theta, 2.0 * i / v->c->head_dim);
    double wl = 2 * M_PI / freq;
    if (wl < hi_w) {
      ff[i] = 1.0f;
    } else if (wl > lo_w) {
      ff[i] = r->factor;
    } else {
      double sm = (r->original_max_pos / wl - r->low_freq_factor) /
                  (r->high_freq_factor - r->low_freq_factor);
      ff[i] = (float)(1.0 / ((1 - sm) / r->factor + sm));
    }
  }
  int64_t ne[1] = {n};
  return gguf_w_tensor(v->w, "rope_freqs.weight", DT_F32, 1, ne, ff, (size_t)n * sizeof *ff, true);
}

static uint32_t file_type(enum dtype t) {
  switch (t) {
    case DT_F32:
      return 0;
    case DT_F16:
      return 1;
    case DT_Q4_0:
      return 2;
    case DT_Q8_0:
      return 7;
    case DT_Q4_K:
      return 14; /* Q4_K_S */
    case DT_Q6_K:
      return 18;
    case DT_BF16:
      return 32;
    default:
      return 0;
  }
}

static void put_meta(cv *v, const char *model_dir) {
  const model_config *c = v->c;
  gguf_writer *w = v->w;
  const char *a = gguf_arch_name(c->arch);
  char k[128];
#define AK(suffix) (snprintf(k, sizeof k, "%s.%s", a, suffix), k)
  gguf_w_str(w, "general.architecture", a);
  const char *base = strrchr(model_dir, '/');
  gguf_w_str(w, "general.name", base && base[1] ? base + 1 : model_dir);
  gguf_w_u32(w, "general.file_type", file_type(v->target));
  if (is_quant(v->target)) gguf_w_u32(w, "general.quantization_version", 2);
  gguf_w_u32(w, AK("context_length"), (uint32_t)c->max_pos);
  gguf_w_u32(w, AK("embedding_length"), (uint32_t)c->hidden);
  gguf_w_u32(w, AK("block_count"), (uint32_t)c->n_layers);
  gguf_w_u32(w, AK("feed_forward_length"), (uint32_t)c->ffn_hidden);
  gguf_w_u32(w, AK("attention.head_count"), (uint32_t)c->n_heads);
  gguf_w_u32(w, AK("attention.head_count_kv"), (uint32_t)c->n_kv_heads);
  gguf_w_u32(w, AK("attention.key_length"), (uint32_t)c->head_dim);
  gguf_w_u32(w, AK("attention.value_length"), (uint32_t)c->head_dim);
  gguf_w_f32(w, AK("attention.layer_norm_rms_epsilon"), c->rms_eps);
  gguf_w_f32(w, AK("rope.freq_base"), c->rope.theta);
  gguf_w_u32(w, AK("rope.dimension_count"), (uint32_t)c->rope_dim);
  gguf_w_u32(w, AK("vocab_size"), (uint32_t)c->vocab);
  if (c->rope.scaling == ROPE_SCALING_LINEAR || c->rope.scaling == ROPE_SCALING_YARN) {
    gguf_w_str(w, AK("rope.scaling.type"),
               c->rope.scaling == ROPE_SCALING_LINEAR ? "linear" : "yarn");
    gguf_w_f32(w, AK("rope.scaling.factor"), c->rope.factor);
    gguf_w_u32(w, AK("rope.scaling.original_context_length"), (uint32_t)c->rope.original_max_pos);
    if (c->rope.scaling == ROPE_SCALING_YARN) {
      gguf_w_f32(w, AK("rope.scaling.yarn_beta_fast"), c->rope.beta_fast);
      gguf_w_f32(w, AK("rope.scaling.yarn_beta_slow"), c->rope.beta_slow);
    }
  } else if (c->rope.scaling == ROPE_SCALING_LLAMA3 && !v->keys_only) {
    gguf_w_f32(w, "gloam.rope.llama3.factor", c->rope.factor);
    gguf_w_f32(w, "gloam.rope.llama3.low_freq_factor", c->rope.low_freq_factor);
    gguf_w_f32(w, "gloam.rope.llama3.high_freq_factor", c->rope.high_freq_factor);
    gguf_w_f32(w, "gloam.rope.llama3.original_context_length", (float)c->rope.original_max_pos);
  }
  if (c->n_experts) {
    gguf_w_u32(w, AK("expert_count"), (uint32_t)c->n_experts);
    gguf_w_u32(w, AK("expert_used_count"), (uint32_t)c->n_experts_per_tok);
    gguf_w_u32(w, AK("expert_feed_forward_length"), (uint32_t)c->moe_ffn_hidden);
    gguf_w_bool(w, AK("expert_weights_norm"), c->norm_topk_prob);
    if (c->moe_sigmoid) gguf_w_u32(w, AK("expert_gating_func"), 2); /* llama.cpp: sigmoid */
  }
  if (c->arch == ARCH_GEMMA3) {
    gguf_w_u32(w, AK("attention.sliding_window"), (uint32_t)c->sliding_window);
    gguf_w_f32(w, AK("rope.freq_base_swa"), c->rope_local.theta);
    if (!v->keys_only) {
      gguf_w_arr(w, "gloam.layer_sliding", GGUF_BOOL, c->layer_sliding, (uint64_t)c->n_layers);
      gguf_w_f32(w, "gloam.query_pre_attn_scalar", c->query_pre_attn_scalar);
    }
    if (c->final_logit_softcap > 0)
      gguf_w_f32(w, AK("final_logit_softcapping"), c->final_logit_softcap);
    if (c->attn_logit_softcap > 0)
      gguf_w_f32(w, AK("attn_logit_softcapping"), c->attn_logit_softcap);
  }
  if (c->bos_id >= 0) gguf_w_u32(w, "tokenizer.ggml.bos_token_id", (uint32_t)c->bos_id);
  if (c->n_eos > 0) gguf_w_u32(w, "tokenizer.ggml.eos_token_id", (uint32_t)c->eos_ids[0]);
  if (c->n_eos > 1) gguf_w_u32(w, "tokenizer.ggml.eot_token_id", (uint32_t)c->eos_ids[1]);
#undef AK
}

/* Registers every tensor; jobs (n_tensors entries) must outlive the write. */
static int put_tensors(cv *v, job *jobs) {
  int rc = 0;
  if (v->c->rope.scaling == ROPE_SCALING_LLAMA3 && (rc = put_rope_freqs(v)) < 0) return rc;
  for (int i = 0; i < model_files_n_tensors(v->mf); i++) {
    const tensor *t = model_files_tensor_at(v->mf, i);
    char gname[256];
    int expert;
    enum gguf_name_kind k = gguf_name_from_hf(v->c->arch, t->name, gname, sizeof gname, &expert);
    if (k == GN_UNKNOWN) continue; /* e.g. fused expert originals, exposed as views */
    if (v->c->tie_embeddings && strcmp(t->name, "lm_head.weight") == 0) continue;
    if (k >= GN_EXPS_GATE && k <= GN_EXPS_DOWN && expert != 0) continue;
    jobs[i].t = t;
    jobs[i].kind = k;
    if ((rc = put_job(v, &jobs[i], gname)) < 0) return rc;
  }
  return 0;
}

/* ---- tokenizer metadata (tokenizer.json -> tokenizer.ggml.*) ---- */

#define TOK_MAX_JSON ((size_t)512 << 20)

enum { TT_NORMAL = 1, TT_UNKNOWN = 2, TT_CONTROL = 3, TT_USER = 4, TT_UNUSED = 5, TT_BYTE = 6 };

/* Whether any object under j has "type": name. */
static bool has_type(const json_t *j, const char *name, int depth) {
  if (!j || depth > 8) return false;
  if (json_is_object(j)) {
    const char *t = json_string_value(json_object_get(j, "type"));
    if (t && strcmp(t, name) == 0) return true;
    const char *k;
    json_t *x;
    json_object_foreach((json_t *)j, k, x) if (has_type(x, name, depth + 1)) return true;
  } else if (json_is_array(j)) {
    for (size_t i = 0; i < json_array_size(j); i++)
      if (has_type(json_array_get(j, i), name, depth + 1)) return true;
  }
  return false;
}

/* The first Split regex under the pre-tokenizer, or "". */
static const char *split_regex(const json_t *j, int depth) {
  if (!j || depth > 8) return "";
  if (json_is_object(j)) {
    const char *r = json_string_value(json_object_get(json_object_get(j, "pattern"), "Regex"));
    if (r) return r;
    const json_t *ps = json_object_get(j, "pretokenizers");
    for (size_t i = 0; i < json_array_size(ps); i++) {
      const char *x = split_regex(json_array_get(ps, i), depth + 1);
      if (*x) return x;
    }
  }
  return "";
}

typedef struct tokv {
  const char **s; /* n strings (borrowed from the JSON or pads) */
  size_t *len;
  int32_t *type;
  float *score;
  char **pads; /* owned "[PADn]" strings */
  size_t n;
} tokv;

static void tokv_free(tokv *t) {
  for (size_t i = 0; t->pads && i < t->n; i++) mem_free(t->pads[i]);
  mem_free(t->pads);
  mem_free(t->s);
  mem_free(t->len);
  mem_free(t->type);
  mem_free(t->score);
}

static int put_str_json(cv *v, const char *key, const json_t *x) {
  const char *s = json_string_value(x);
  if (s) gguf_w_str(v->w, key, s);
  return 0;
}

/* Builds the id-indexed token table from model.vocab and added_tokens. */
static int build_vocab(cv *v, const json_t *vocab, const json_t *added, bool spm, tokv *t) {
  size_t n = 0;
  const char *k;
  json_t *x;
  json_object_foreach((json_t *)vocab, k, x) {
    json_int_t id = json_integer_value(x);
    if (!json_is_integer(x) || id < 0 || id >= CONFIG_MAX_VOCAB)
      return err_set(v->err, GLOAM_EFORMAT, "tokenizer.json: bad id for %.40s", k);
    if ((size_t)id + 1 > n) n = (size_t)id + 1;
  }
  for (size_t i = 0; i < json_array_size(added); i++) {
    json_int_t id = json_integer_value(json_object_get(json_array_get(added, i), "id"));
    if (id < 0 || id >= CONFIG_MAX_VOCAB)
      return err_set(v->err, GLOAM_EFORMAT, "tokenizer.json: bad added token id");
    if ((size_t)id + 1 > n) n = (size_t)id + 1;
  }
  if (n == 0) return err_set(v->err, GLOAM_EFORMAT, "tokenizer.json: empty vocabulary");
  t->n = n;
  t->s = mem_calloc(n, sizeof *t->s);
  t->len = mem_calloc(n, sizeof *t->len);
  t->type = mem_calloc(n, sizeof *t->type);
  t->score = mem_calloc(n, sizeof *t->score);
  t->pads = mem_calloc(n, sizeof *t->pads);
  if (!t->s || !t->len || !t->type || !t->score || !t->pads)
    return err_set(v->err, GLOAM_ENOMEM, "out of memory");
  json_object_foreach((json_t *)vocab, k, x) {
    size_t id = (size_t)json_integer_value(x);
    t->s[id] = k;
    t->len[id] = strlen(k);
    unsigned byte;
    char tail;
    t->type[id] = spm && t->len[id] == 6 && sscanf(k, "<0x%2X%c", &byte, &tail) == 2 && tail == '>'
                      ? TT_BYTE
                      : TT_NORMAL;
  }
  for (size_t i = 0; i < json_array_size(added); i++) {
    const json_t *a = json_array_get(added, i);
    size_t id = (size_t)json_integer_value(json_object_get(a, "id"));
    const char *c = json_string_value(json_object_get(a, "content"));
    if (!c) return err_set(v->err, GLOAM_EFORMAT, "tokenizer.json: added token without content");
    t->s[id] = c;
    t->len[id] = strlen(c);
    t->type[id] = json_is_true(json_object_get(a, "special")) ? TT_CONTROL : TT_USER;
  }
  for (size_t i = 0; i < n; i++) {
    if (t->s[i]) continue;
    char pad[32];
    snprintf(pad, sizeof pad, "[PAD%zu]", i);
    if (!(t->pads[i] = mem_strdup(pad))) return err_set(v->err, GLOAM_ENOMEM, "out of memory");
    t->s[i] = t->pads[i];
    t->len[i] = strlen(pad);
    t->type[i] = TT_UNUSED;
  }
  return 0;
}

/* Merges as "a b" strings (tokenizer.json has either form). For SPM models
 * the merged piece's score is minus the merge's rank. */
static int put_merges(cv *v, const json_t *merges, const json_t *vocab, tokv *t, bool spm) {
  size_t n = json_array_size(merges);
  if (n == 0) return 0;
  char **m = mem_calloc(n, sizeof *m);
  if (!m) return err_set(v->err, GLOAM_ENOMEM, "out of memory");
  int rc = 0;
  for (size_t i = 0; i < n; i++) {
    const json_t *x = json_array_get(merges, i);
    const char *a = NULL, *b = NULL;
    if (json_is_string(x)) {
      m[i] = mem_strdup(json_string_value(x));
    } else if (json_is_array(x) && json_array_size(x) == 2) {
      a = json_string_value(json_array_get(x, 0));
      b = json_string_value(json_array_get(x, 1));
      if (a && b && (m[i] = mem_alloc(strlen(a) + strlen(b) + 2)))
        snprintf(m[i], strlen(a) + strlen(b) + 2, "%s %s", a, b);
    }
    if (!m[i]) {
      rc = err_set(v->err, json_is_string(x) || (a && b) ? GLOAM_ENOMEM : GLOAM_EFORMAT,
                   "tokenizer.json: bad merge %zu", i);
      goto done;
    }
    if (spm) { /* score of the merged piece */
      char *sp = strchr(m[i], ' ');
      if (!sp) continue;
      *sp = 0;
      size_t la = strlen(m[i]);
      char *joined = mem_alloc(strlen(m[i]) + strlen(sp + 1) + 1);
      if (!joined) {
        *sp = ' ';
        rc = err_set(v->err, GLOAM_ENOMEM, "out of memory");
        goto done;
      }
      memcpy(joined, m[i], la);
      memcpy(joined + la, sp + 1, strlen(sp + 1) + 1);
      *sp = ' ';
      const json_t *id = json_object_get(vocab, joined);
      mem_free(joined);
      if (json_is_integer(id) && (size_t)json_integer_value(id) < t->n)
        t->score[json_integer_value(id)] = -(float)i;
    }
  }
  gguf_w_arr_str(v->w, "tokenizer.ggml.merges", (const char *const *)m, NULL, n);
done:
  for (size_t i = 0; i < n; i++) mem_free(m[i]);
  mem_free(m);
  return rc;
}

static int32_t token_id(const tokv *t, const char *s) {
  if (!s) return -1;
  size_t n = strlen(s);
  for (size_t i = 0; i < t->n; i++)
    if (t->len[i] == n && memcmp(t->s[i], s, n) == 0) return (int32_t)i;
  return -1;
}

/* tokenizer_config.json's special-token fields are strings or {"content"}. */
static const char *tok_cfg_str(const json_t *cfg, const char *key) {
  const json_t *x = json_object_get(cfg, key);
  return json_is_object(x) ? json_string_value(json_object_get(x, "content"))
                           : json_string_value(x);
}

static void put_tok_config(cv *v, const json_t *cfg, const tokv *t, const json_t *tok) {
  if (!cfg) return;
  const json_t *ab = json_object_get(cfg, "add_bos_token");
  if (json_is_boolean(ab)) gguf_w_bool(v->w, "tokenizer.ggml.add_bos_token", json_is_true(ab));
  const json_t *ae = json_object_get(cfg, "add_eos_token");
  if (json_is_boolean(ae)) gguf_w_bool(v->w, "tokenizer.ggml.add_eos_token", json_is_true(ae));
  int32_t pad = token_id(t, tok_cfg_str(cfg, "pad_token"));
  if (pad >= 0) gguf_w_u32(v->w, "tokenizer.ggml.padding_token_id", (uint32_t)pad);
  int32_t unk =
      token_id(t, json_string_value(json_object_get(json_object_get(tok, "model"), "unk_token")));
  if (unk >= 0) gguf_w_u32(v->w, "tokenizer.ggml.unknown_token_id", (uint32_t)unk);
  const json_t *ct = json_object_get(cfg, "chat_template");
  if (json_is_array(ct)) /* [{"name", "template"}]: the default one */
    for (size_t i = 0; i < json_array_size(ct); i++) {
      const json_t *e = json_array_get(ct, i);
      const char *nm = json_string_value(json_object_get(e, "name"));
      if (nm && strcmp(nm, "default") == 0) ct = json_object_get(e, "template");
    }
  put_str_json(v, "tokenizer.chat_template", ct);
}

static int read_json(cv *v, const char *dir, const char *name, bool need, size_t flags,
                     json_t **out) {
  char path[4096];
  char *text = NULL;
  size_t len = 0;
  *out = NULL;
  snprintf(path, sizeof path, "%s/%s", dir, name);
  int rc = config_read_file(path, TOK_MAX_JSON, &text, &len, v->err);
  if (rc == GLOAM_ENOENT && !need) return 0;
  if (rc < 0) return rc;
  json_error_t je;
  *out = json_loadb(text, len, flags, &je);
  mem_free(text);
  if (!*out || !json_is_object(*out)) {
    json_decref(*out);
    *out = NULL;
    return err_set(v->err, GLOAM_EFORMAT, "%s: line %d: %.80s", path, je.line, je.text);
  }
  return 0;
}

static int put_tokenizer(cv *v, const char *dir) {
  json_t *tok = NULL, *cfg = NULL;
  tokv t = {0};
  int rc;
  if ((rc = read_json(v, dir, "tokenizer.json", true, 0, &tok)) < 0 ||
      (rc = read_json(v, dir, "tokenizer_config.json", false, JSON_DECODE_INT_AS_REAL, &cfg)) < 0)
    goto done;
  const json_t *model = json_object_get(tok, "model");
  const char *mt = json_string_value(json_object_get(model, "type"));
  const json_t *vocab = json_object_get(model, "vocab");
  if (!mt || strcmp(mt, "BPE") != 0 || !json_is_object(vocab)) {
    rc = err_set(v->err, GLOAM_EUNSUPPORTED, "tokenizer.json: only BPE models convert");
    goto done;
  }
  bool byte_level = has_type(json_object_get(tok, "pre_tokenizer"), "ByteLevel", 0) ||
                    has_type(json_object_get(tok, "decoder"), "ByteLevel", 0);
  bool spm = !byte_level && json_is_true(json_object_get(model, "byte_fallback"));
  if (!byte_level && !spm) {
    rc = err_set(v->err, GLOAM_EUNSUPPORTED,
                 "tokenizer.json: neither byte-level nor byte-fallback BPE");
    goto done;
  }
  if ((rc = build_vocab(v, vocab, json_object_get(tok, "added_tokens"), spm, &t)) < 0) goto done;
  int32_t unk = token_id(&t, json_string_value(json_object_get(model, "unk_token")));
  if (spm && unk >= 0) t.type[unk] = TT_UNKNOWN;
  gguf_w_str(v->w, "tokenizer.ggml.model", spm ? "llama" : "gpt2");
  if (byte_level) {
    const char *re = split_regex(json_object_get(tok, "pre_tokenizer"), 0);
    const char *pre = strstr(re, "\\p{N}{1,3}")                     ? "llama-bpe"
                      : strstr(re, "[^\\r\\n\\p{L}\\p{N}]?\\p{L}+") ? "qwen2"
                                                                    : "default";
    gguf_w_str(v->w, "tokenizer.ggml.pre", pre);
  } else {
    bool prefix = has_type(json_object_get(tok, "normalizer"), "Prepend", 0) ||
                  has_type(json_object_get(tok, "pre_tokenizer"), "Metaspace", 0);
    gguf_w_str(v->w, "tokenizer.ggml.pre", "default");
    gguf_w_bool(v->w, "tokenizer.ggml.add_space_prefix", prefix);
  }
  gguf_w_arr_str(v->w, "tokenizer.ggml.tokens", t.s, t.len, t.n);
  if ((rc = put_merges(v, json_object_get(model, "merges"), vocab, &t, spm)) < 0) goto done;
  gguf_w_arr(v->w, "tokenizer.ggml.token_type", GGUF_I32, t.type, t.n);
  if (spm) gguf_w_arr(v->w, "tokenizer.ggml.scores", GGUF_F32, t.score, t.n);
  put_tok_config(v, cfg, &t, tok);
  rc = 0;
done:
  tokv_free(&t);
  json_decref(cfg);
  json_decref(tok);
  return rc;
}

int gguf_convert(const char *model_dir, const char *out_path, const convert_opts *o, char *err) {
  enum dtype target = o ? o->type : DT_F16;
  if (target != DT_F32 && target != DT_F16 && target != DT_BF16 && target != DT_Q8_0 &&
      target != DT_Q4_0 && target != DT_Q4_K && target != DT_Q6_K)
    return err_set(err, GLOAM_EINVAL, "convert: unsupported output type %d", (int)target);
  model_open_opts mo = {.config_name = o ? o->config_name : NULL, .quantize = -1};
  cv v = {.target = target, .err = err, .keys_only = o && o->llama_cpp_keys_only};
  job *jobs = NULL;
  int rc = model_files_open(&v.mf, model_dir, &mo, err);
  if (rc < 0) return rc;
  if (strcmp(model_files_format(v.mf), "safetensors") != 0) {
    rc = err_set(err, GLOAM_EINVAL, "convert: %s is not a Hugging Face directory", model_dir);
    goto done;
  }
  v.c = model_files_config(v.mf);
  if (!gguf_arch_name(v.c->arch)) { /* e.g. Qwen3.5: no GGUF tensor mapping yet */
    rc = err_set(err, GLOAM_EUNSUPPORTED, "convert: no GGUF mapping for model_type %s",
                 v.c->model_type);
    goto done;
  }
  int64_t max_cols = 1;
  for (int i = 0; i < model_files_n_tensors(v.mf); i++) {
    const tensor *t = model_files_tensor_at(v.mf, i);
    if (t->shape[t->n_dims - 1] > max_cols) max_cols = t->shape[t->n_dims - 1];
    if (t->type == DT_MLX || t->type == DT_U32) {
      rc = err_set(err, GLOAM_EUNSUPPORTED,
                   "convert: %s is MLX-quantized (convert the float model)", model_dir);
      goto done;
    }
  }
  v.row = mem_alloc((size_t)max_cols * sizeof *v.row);
  v.w = gguf_writer_new();
  jobs = mem_calloc((size_t)model_files_n_tensors(v.mf) + 1, sizeof *jobs);
  if (!v.row || !v.w || !jobs) {
    rc = err_set(err, GLOAM_ENOMEM, "out of memory");
    goto done;
  }
  put_meta(&v, model_dir);
  if (o && o->tokenizer_dir && (rc = put_tokenizer(&v, o->tokenizer_dir)) < 0) goto done;
  if ((rc = put_tensors(&v, jobs)) < 0) goto done;
  rc = gguf_writer_write(v.w, out_path, err);
done:
  gguf_writer_free(v.w);
  mem_free(jobs);
  mem_free(v.row);
  model_files_close(v.mf);
  return rc;
}
