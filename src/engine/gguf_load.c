/* SPDX-License-Identifier: Apache-2.0
 *
 * engine/gguf_load.c: a .gguf file -> model_files (config from llama.cpp's
 * metadata keys, tensors under Hugging Face names and shapes).
 *
 * DESIGN: tensors stay in the mapping, except
 *  - llama's attn_q / attn_k, which llama.cpp's converter permutes for its
 *    interleaved rope: un-permuted into owned buffers (rows are whole
 *    blocks, so this works for every dtype);
 *  - stacked experts ffn_*_exps [E, F, H]: exposed as per-expert views
 *    model.layers.N.mlp.experts.E.*_proj.weight (no copy).
 * Gemma 3: llama.cpp stores RMSNorm weights as (1 + w); we keep them as
 * stored and set norm_w_offset = 0, so (w' + 0) == (1 + w).
 * Llama 3 rope: llama.cpp stores per-dimension factors (rope_freqs.weight)
 * instead of parameters; we read our own gloam.rope.llama3.* keys when
 * present, else fit factor/original context (low 1, high 4, as every
 * Llama 3.x) and check the fit reproduces the stored factors.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "engine/config.h"
#include "engine/gguf.h"
#include "engine/gguf_names.h"
#include "engine/model_files_int.h"

typedef struct gl {
  model_files *mf;
  gguf_ctx *g;
  const char *arch; /* general.architecture, NUL-terminated copy */
  char archbuf[32];
  char *err;
} gl;

static const gguf_kv *akey(const gl *s, const char *suffix) {
  char k[160];
  snprintf(k, sizeof k, "%s.%s", s->arch, suffix);
  return gguf_find(s->g, k);
}

/* Integer metadata <arch>.suffix in [lo, hi]; def when absent (INT64_MIN: required). */
static int meta_int(const gl *s, const char *suffix, int64_t def, int64_t lo, int64_t hi,
                    int *out) {
  const gguf_kv *kv = akey(s, suffix);
  int64_t v;
  if (!kv) {
    if (def == INT64_MIN)
      return err_set(s->err, GLOAM_EFORMAT, "gguf: missing %s.%s", s->arch, suffix);
    v = def;
  } else if (kv->type == GGUF_ARRAY && kv->n > 0 && gguf_arr_int(kv, 0, &v) == 0) {
    /* per-layer arrays (some converters): take the first value */
  } else if (gguf_kv_int(kv, &v) < 0) {
    return err_set(s->err, GLOAM_EFORMAT, "gguf: %s.%s is not an integer", s->arch, suffix);
  }
  if (v < lo || v > hi)
    return err_set(s->err, GLOAM_EFORMAT, "gguf: %s.%s = %lld out of range", s->arch, suffix,
                   (long long)v);
  *out = (int)v;
  return 0;
}

static int meta_float(const gl *s, const gguf_kv *kv, const char *what, double def, float *out) {
  double v = def;
  if (kv && gguf_kv_float(kv, &v) < 0)
    return err_set(s->err, GLOAM_EFORMAT, "gguf: %s is not a number", what);
  if (!isfinite(v) || fabs(v) > 3e38)
    return err_set(s->err, GLOAM_EFORMAT, "gguf: %s is not finite", what);
  *out = (float)v;
  return 0;
}

static const gguf_tensor_info *find_tensor(const gguf_ctx *g, const char *name) {
  size_t n = strlen(name);
  for (size_t i = 0; i < g->n_tensors; i++)
    if (g->ti[i].name_len == n && memcmp(g->ti[i].name, name, n) == 0) return &g->ti[i];
  return NULL;
}

static const uint8_t *tdata(const gl *s, const gguf_tensor_info *t) {
  return s->g->buf + s->g->data_offset + t->offset;
}

/* llama.cpp's llama 3 rope factors for (factor, low 1, high 4, orig). */
static float llama3_ff(double wavelen, double factor, double orig) {
  double lo_w = orig / 1.0, hi_w = orig / 4.0;
  if (wavelen < hi_w) return 1.0f;
  if (wavelen > lo_w) return (float)factor;
  double smooth = (orig / wavelen - 1.0) / 3.0;
  return (float)(1.0 / ((1 - smooth) / factor + smooth));
}

static int fit_llama3(gl *s, const gguf_tensor_info *t, model_config *c) {
  int n = c->head_dim / 2;
  if (t->n_dims != 1 || t->ne[0] != n || t->type != DT_F32)
    return err_set(s->err, GLOAM_EFORMAT, "gguf: rope_freqs.weight must be f32 [%d]", n);
  float ff[CONFIG_MAX_HEAD_DIM / 2];
  memcpy(ff, tdata(s, t), (size_t)n * sizeof(float));
  double factor = 1, orig = 0, wl[CONFIG_MAX_HEAD_DIM / 2];
  for (int i = 0; i < n; i++) {
    if (!isfinite(ff[i]) || ff[i] < 1.0f)
      return err_set(s->err, GLOAM_EUNSUPPORTED, "gguf: rope_freqs not llama3 factors");
    if (ff[i] > factor) factor = ff[i];
    double freq = pow((double)c->rope.theta, -2.0 * i / c->head_dim);
    wl[i] = 2 * M_PI / freq;
  }
  if (factor == 1.0) return 0; /* all ones: no scaling */
  double w1 = 0, wf = INFINITY;
  for (int i = 0; i < n && orig == 0; i++) {
    if (ff[i] == 1.0f) w1 = fmax(w1, wl[i]);
    if ((double)ff[i] == factor) wf = fmin(wf, wl[i]);
    if (ff[i] > 1.0f && (double)ff[i] < factor) {
      double sm = (1.0 / ff[i] - 1.0 / factor) / (1.0 - 1.0 / factor);
      orig = wl[i] * (3 * sm + 1);
    }
  }
  if (orig == 0) { /* no smooth band: any orig in (4 w1, wf) fits; prefer a power of two */
    double lo = fmax(4 * w1, 1), hi = isfinite(wf) ? wf : lo * 4;
    orig = sqrt(lo * hi);
    for (double p2 = 1; p2 < hi; p2 *= 2)
      if (p2 > lo) orig = p2;
  }
  orig = round(orig);
  for (int i = 0; i < n; i++)
    if (fabsf(llama3_ff(wl[i], factor, orig) - ff[i]) > 1e-3f * ff[i])
      return err_set(s->err, GLOAM_EUNSUPPORTED, "gguf: rope_freqs not llama3 factors");
  c->rope.scaling = ROPE_SCALING_LLAMA3;
  c->rope.factor = (float)factor;
  c->rope.low_freq_factor = 1.0f;
  c->rope.high_freq_factor = 4.0f;
  c->rope.original_max_pos = (int)orig;
  return 0;
}

static int read_rope(gl *s, model_config *c) {
  int rc;
  const gguf_kv *kv;
  if ((rc = meta_float(s, akey(s, "rope.freq_base"), "rope.freq_base",
                       c->arch == ARCH_GEMMA3 ? 1e6 : 1e4, &c->rope.theta)) < 0)
    return rc;
  c->rope.scaling = ROPE_SCALING_NONE;
  c->rope.factor = 1.0f;
  c->rope.low_freq_factor = 1.0f;
  c->rope.high_freq_factor = 4.0f;
  c->rope.original_max_pos = c->max_pos;
  c->rope.beta_fast = 32.0f;
  c->rope.beta_slow = 1.0f;
  const char *st = "none";
  size_t sl = 4;
  if ((kv = akey(s, "rope.scaling.type")) && gguf_kv_str(kv, &st, &sl) < 0)
    return err_set(s->err, GLOAM_EFORMAT, "gguf: rope.scaling.type not a string");
  if (sl == 6 && memcmp(st, "linear", 6) == 0)
    c->rope.scaling = ROPE_SCALING_LINEAR;
  else if (sl == 4 && memcmp(st, "yarn", 4) == 0)
    c->rope.scaling = ROPE_SCALING_YARN;
  else if (!(sl == 4 && memcmp(st, "none", 4) == 0))
    return err_set(s->err, GLOAM_EUNSUPPORTED, "gguf: rope scaling %.*s not supported",
                   (int)(sl > 32 ? 32 : sl), st);
  if (c->rope.scaling != ROPE_SCALING_NONE) {
    if ((rc = meta_float(s, akey(s, "rope.scaling.factor"), "rope.scaling.factor", 1.0,
                         &c->rope.factor)) < 0 ||
        (rc = meta_int(s, "rope.scaling.original_context_length", c->max_pos, 1, 1 << 30,
                       &c->rope.original_max_pos)) < 0 ||
        (rc = meta_float(s, akey(s, "rope.scaling.yarn_beta_fast"), "yarn_beta_fast", 32.0,
                         &c->rope.beta_fast)) < 0 ||
        (rc = meta_float(s, akey(s, "rope.scaling.yarn_beta_slow"), "yarn_beta_slow", 1.0,
                         &c->rope.beta_slow)) < 0)
      return rc;
    if (!(c->rope.factor > 0)) return err_set(s->err, GLOAM_EFORMAT, "gguf: bad rope factor");
  }
  if ((kv = gguf_find(s->g, "gloam.rope.llama3.factor"))) {
    float orig = 0;
    c->rope.scaling = ROPE_SCALING_LLAMA3;
    if ((rc = meta_float(s, kv, "llama3 factor", 1, &c->rope.factor)) < 0 ||
        (rc = meta_float(s, gguf_find(s->g, "gloam.rope.llama3.low_freq_factor"), "low", 1,
                         &c->rope.low_freq_factor)) < 0 ||
        (rc = meta_float(s, gguf_find(s->g, "gloam.rope.llama3.high_freq_factor"), "high", 4,
                         &c->rope.high_freq_factor)) < 0 ||
        (rc = meta_float(s, gguf_find(s->g, "gloam.rope.llama3.original_context_length"), "orig",
                         c->max_pos, &orig)) < 0)
      return rc;
    if (!(orig >= 1 && orig < 1e9) || !(c->rope.factor > 0) || !(c->rope.low_freq_factor > 0) ||
        !(c->rope.high_freq_factor > 0))
      return err_set(s->err, GLOAM_EFORMAT, "gguf: bad llama3 rope parameters");
    c->rope.original_max_pos = (int)orig;
  } else {
    const gguf_tensor_info *rf = find_tensor(s->g, "rope_freqs.weight");
    if (rf && c->rope.scaling == ROPE_SCALING_NONE && (rc = fit_llama3(s, rf, c)) < 0) return rc;
  }
  c->rope_local = c->rope;
  if (c->arch == ARCH_GEMMA3) {
    float lt = 1e4f;
    if ((rc = meta_float(s, akey(s, "rope.freq_base_swa"), "rope.freq_base_swa", 1e4, &lt)) < 0)
      return rc;
    c->rope_local = c->rope;
    c->rope_local.theta = lt;
    c->rope_local.scaling = ROPE_SCALING_NONE;
    c->rope_local.factor = 1.0f;
    c->rope_local.original_max_pos = c->max_pos;
  }
  return 0;
}

static int read_gemma(gl *s, model_config *c) {
  int rc;
  if ((rc = meta_int(s, "attention.sliding_window", 0, 0, 1 << 30, &c->sliding_window)) < 0)
    return rc;
  const gguf_kv *ls = gguf_find(s->g, "gloam.layer_sliding");
  if (ls) {
    if (ls->type != GGUF_ARRAY || ls->n != (uint64_t)c->n_layers)
      return err_set(s->err, GLOAM_EFORMAT, "gguf: gloam.layer_sliding must list every layer");
    for (int i = 0; i < c->n_layers; i++) {
      int64_t v;
      if (gguf_arr_int(ls, (uint64_t)i, &v) < 0)
        return err_set(s->err, GLOAM_EFORMAT, "gguf: bad gloam.layer_sliding");
      c->layer_sliding[i] = v != 0;
    }
  } else if (c->sliding_window > 0) {
    int pat;
    if ((rc = meta_int(s, "attention.sliding_window_pattern", 6, 1, 1 << 20, &pat)) < 0) return rc;
    for (int i = 0; i < c->n_layers; i++) c->layer_sliding[i] = (i % pat) < pat - 1;
  }
  bool any = false;
  for (int i = 0; i < c->n_layers; i++) any |= c->layer_sliding[i];
  if (any && c->sliding_window <= 0)
    return err_set(s->err, GLOAM_EFORMAT, "gguf: sliding layers but no sliding_window");
  if (!any) c->sliding_window = 0;
  /* llama.cpp: 1/sqrt(head_dim), except Gemma 3 27B (62 layers): hidden/heads */
  double qs = c->n_layers == 62 ? (double)c->hidden / c->n_heads : (double)c->head_dim;
  if ((rc = meta_float(s, gguf_find(s->g, "gloam.query_pre_attn_scalar"), "query_pre_attn_scalar",
                       qs, &c->query_pre_attn_scalar)) < 0 ||
      (rc = meta_float(s, akey(s, "final_logit_softcapping"), "final_logit_softcapping", 0,
                       &c->final_logit_softcap)) < 0 ||
      (rc = meta_float(s, akey(s, "attn_logit_softcapping"), "attn_logit_softcapping", 0,
                       &c->attn_logit_softcap)) < 0)
    return rc;
  if (!(c->query_pre_attn_scalar > 0) || c->final_logit_softcap < 0 || c->attn_logit_softcap < 0)
    return err_set(s->err, GLOAM_EFORMAT, "gguf: bad gemma3 scalars");
  return 0;
}

static void read_special(gl *s, model_config *c) {
  int64_t v;
  const gguf_kv *kv = gguf_find(s->g, "tokenizer.ggml.bos_token_id");
  if (kv && gguf_kv_int(kv, &v) == 0 && v >= 0 && v < CONFIG_MAX_VOCAB) c->bos_id = (int)v;
  static const char *const eos_keys[] = {
      "tokenizer.ggml.eos_token_id", "tokenizer.ggml.eot_token_id", "tokenizer.ggml.eom_token_id"};
  for (size_t i = 0; i < 3 && c->n_eos < 4; i++) {
    kv = gguf_find(s->g, eos_keys[i]);
    if (!kv || gguf_kv_int(kv, &v) < 0 || v < 0 || v >= CONFIG_MAX_VOCAB) continue;
    bool dup = false;
    for (int j = 0; j < c->n_eos; j++) dup |= c->eos_ids[j] == v;
    if (!dup) c->eos_ids[c->n_eos++] = (int)v;
  }
}

static int read_config(gl *s, model_config *c) {
  int rc;
  memset(c, 0, sizeof *c);
  c->bos_id = -1;
  for (int i = 0; i < 4; i++) c->eos_ids[i] = -1;
  const gguf_kv *a = gguf_find(s->g, "general.architecture");
  const char *an;
  size_t al;
  if (!a || gguf_kv_str(a, &an, &al) < 0)
    return err_set(s->err, GLOAM_EFORMAT, "gguf: no general.architecture");
  c->arch = gguf_arch_from_name(an, al);
  if (c->arch == ARCH_UNKNOWN)
    return err_set(s->err, GLOAM_EUNSUPPORTED,
                   "gguf: architecture \"%.*s\" not supported (llama, qwen2, qwen3, qwen3moe, "
                   "gemma3, minimax-m2)",
                   (int)(al > 40 ? 40 : al), an);
  snprintf(s->archbuf, sizeof s->archbuf, "%s", gguf_arch_name(c->arch));
  s->arch = s->archbuf;
  snprintf(c->model_type, sizeof c->model_type, "%s", gguf_hf_model_type(c->arch));
  bool moe = c->arch == ARCH_QWEN3_MOE || c->arch == ARCH_MINIMAX_M2;
  if ((rc = meta_int(s, "block_count", INT64_MIN, 1, MODEL_MAX_LAYERS, &c->n_layers)) < 0 ||
      (rc = meta_int(s, "embedding_length", INT64_MIN, 1, CONFIG_MAX_HIDDEN, &c->hidden)) < 0 ||
      (rc = meta_int(s, "attention.head_count", INT64_MIN, 1, CONFIG_MAX_HEADS, &c->n_heads)) < 0 ||
      (rc = meta_int(s, "attention.head_count_kv", c->n_heads, 1, CONFIG_MAX_HEADS,
                     &c->n_kv_heads)) < 0 ||
      (rc = meta_int(s, "attention.key_length", c->hidden / c->n_heads, 1, CONFIG_MAX_HEAD_DIM,
                     &c->head_dim)) < 0 ||
      (rc = meta_int(s, "feed_forward_length", moe ? 0 : INT64_MIN, 0, CONFIG_MAX_FFN,
                     &c->ffn_hidden)) < 0 ||
      (rc = meta_int(s, "context_length", 2048, 1, 1 << 30, &c->max_pos)) < 0)
    return rc;
  if ((rc = meta_float(s, akey(s, "attention.layer_norm_rms_epsilon"), "rms epsilon", 1e-6,
                       &c->rms_eps)) < 0)
    return rc;
  const gguf_tensor_info *emb = find_tensor(s->g, "token_embd.weight");
  if (!emb || emb->n_dims != 2 || emb->ne[0] != c->hidden || emb->ne[1] > CONFIG_MAX_VOCAB)
    return err_set(s->err, GLOAM_EFORMAT, "gguf: token_embd.weight missing or not [vocab, %d]",
                   c->hidden);
  c->vocab = (int)emb->ne[1];
  c->tie_embeddings = find_tensor(s->g, "output.weight") == NULL;
  c->attn_bias = find_tensor(s->g, "blk.0.attn_q.bias") != NULL;
  c->act = c->arch == ARCH_GEMMA3 ? ACT_GELU_TANH : ACT_SILU;
  if ((rc = read_rope(s, c)) < 0) return rc;
  /* rotated dimensions (partial rotary when below head_dim; more is not
   * meaningful and read as all, as before this key was used) */
  if ((rc = meta_int(s, "rope.dimension_count", 0, 0, CONFIG_MAX_HEAD_DIM, &c->rope_dim)) < 0)
    return rc;
  if (c->rope_dim >= c->head_dim) c->rope_dim = 0;
  if (moe) {
    const gguf_kv *nk = akey(s, "expert_weights_norm");
    int64_t nv = 1;
    if ((rc = meta_int(s, "expert_count", INT64_MIN, 1, CONFIG_MAX_EXPERTS, &c->n_experts)) < 0 ||
        (rc = meta_int(s, "expert_used_count", INT64_MIN, 1, c->n_experts, &c->n_experts_per_tok)) <
            0 ||
        (rc = meta_int(s, "expert_feed_forward_length", INT64_MIN, 1, CONFIG_MAX_FFN,
                       &c->moe_ffn_hidden)) < 0)
      return rc;
    if (nk && gguf_kv_int(nk, &nv) < 0)
      return err_set(s->err, GLOAM_EFORMAT, "gguf: bad expert_weights_norm");
    c->norm_topk_prob = nv != 0;
    c->decoder_sparse_step = 1;
  }
  if (c->arch == ARCH_GEMMA3 && (rc = read_gemma(s, c)) < 0) return rc;
  read_special(s, c);
  if ((rc = config_finish(c, s->err)) < 0) return rc;
  if (c->n_experts) {
    for (int l = 0; l < c->n_layers; l++) {
      char n[64];
      snprintf(n, sizeof n, "blk.%d.ffn_gate_inp.weight", l);
      c->layer_moe[l] = find_tensor(s->g, n) != NULL;
    }
  }
  if (c->arch == ARCH_GEMMA3) c->norm_w_offset = 0.0f; /* stored as (1 + w) */
  return 0;
}

static size_t align_of(enum dtype t) {
  return t == DT_F32 ? 4 : 2;
}

static int add_tensor(gl *s, const gguf_tensor_info *t) {
  model_files *mf = s->mf;
  const model_config *c = &mf->cfg;
  char gname[GGUF_MAX_NAME + 1], hf[GGUF_MAX_NAME + 64];
  memcpy(gname, t->name, t->name_len);
  gname[t->name_len] = 0;
  int layer;
  enum gguf_name_kind k = gguf_name_to_hf(c->arch, gname, hf, sizeof hf, &layer);
  if (k == GN_ROPE_FREQS) return 0;
  if (k == GN_UNKNOWN) snprintf(hf, sizeof hf, "%s", gname);
  int64_t shape[4];
  for (int i = 0; i < t->n_dims; i++) shape[i] = t->ne[t->n_dims - 1 - i];
  const uint8_t *data = tdata(s, t);
  size_t rb = dtype_row_bytes(t->type, t->ne[0]);
  if (k >= GN_EXPS_GATE && k <= GN_EXPS_DOWN) {
    if (t->n_dims != 3)
      return err_set(s->err, GLOAM_EFORMAT, "gguf: %s: experts tensor not 3-D", gname);
    size_t per = (size_t)shape[1] * rb;
    if ((uintptr_t)data % align_of(t->type) || per % align_of(t->type)) {
      uint8_t *copy = mf_own(mf, t->n_bytes, s->err);
      if (!copy) return GLOAM_ENOMEM;
      memcpy(copy, data, t->n_bytes);
      data = copy;
    }
    for (int64_t e = 0; e < shape[0]; e++) {
      char en[sizeof hf + 16];
      int rc;
      const char *pct = strstr(hf, "%d");
      if (!pct) return err_set(s->err, GLOAM_EINTERNAL, "gguf: expert name pattern");
      snprintf(en, sizeof en, "%.*s%d%s", (int)(pct - hf), hf, (int)e, pct + 2);
      char *nm = mem_strdup(en);
      if (!nm) return err_set(s->err, GLOAM_ENOMEM, "out of memory");
      if ((rc = mf_add(mf, nm, t->type, 2, shape + 1, data + (size_t)e * per, per, s->err)) < 0)
        return rc;
    }
    return 0;
  }
  bool permute = c->arch == ARCH_LLAMA && (k == GN_Q || k == GN_K);
  if (permute || (uintptr_t)data % align_of(t->type)) {
    uint8_t *copy = mf_own(mf, t->n_bytes, s->err);
    if (!copy) return GLOAM_ENOMEM;
    if (permute) {
      int nh = k == GN_Q ? c->n_heads : c->n_kv_heads;
      if (t->n_dims > 2 || shape[0] != (int64_t)nh * c->head_dim)
        return err_set(s->err, GLOAM_EFORMAT, "gguf: %s: bad shape", gname);
      /* rows of a weight, elements of a bias */
      gguf_unpermute_rows(copy, data, nh, c->head_dim, t->n_bytes / (size_t)shape[0]);
    } else {
      memcpy(copy, data, t->n_bytes);
    }
    data = copy;
  }
  char *nm = mem_strdup(hf);
  if (!nm) return err_set(s->err, GLOAM_ENOMEM, "out of memory");
  return mf_add(mf, nm, t->type, t->n_dims, shape, data, t->n_bytes, s->err);
}

int mf_load_gguf(model_files *mf, const uint8_t *p, size_t len, char *err) {
  int rc;
  mf->gguf = mem_calloc(1, sizeof *mf->gguf);
  if (!mf->gguf) return err_set(err, GLOAM_ENOMEM, "out of memory");
  if ((rc = gguf_parse(p, len, mf->gguf, err)) < 0) return rc;
  gl s = {.mf = mf, .g = mf->gguf, .err = err};
  if ((rc = read_config(&s, &mf->cfg)) < 0) return rc;
  for (size_t i = 0; i < s.g->n_tensors; i++)
    if ((rc = add_tensor(&s, &s.g->ti[i])) < 0) return rc;
  return 0;
}

int mf_open_gguf(model_files *mf, const char *path, char *err) {
  const uint8_t *p;
  size_t len;
  int rc = mf_map_file(mf, path, &p, &len, err);
  if (rc < 0) return rc;
  return mf_load_gguf(mf, p, len, err);
}

void mf_gguf_free(model_files *mf) {
  if (!mf->gguf) return;
  gguf_ctx_deinit(mf->gguf);
  mem_free(mf->gguf);
  mf->gguf = NULL;
}

/* ---- public metadata accessors (model_files.h) ---- */

static const gguf_kv *meta(const model_files *mf, const char *key) {
  return mf && mf->gguf ? gguf_find(mf->gguf, key) : NULL;
}

int model_files_meta_str(const model_files *mf, const char *key, const char **out,
                         size_t *out_len) {
  const gguf_kv *kv = meta(mf, key);
  return kv ? gguf_kv_str(kv, out, out_len) : GLOAM_ENOENT;
}

int model_files_meta_int(const model_files *mf, const char *key, int64_t *out) {
  const gguf_kv *kv = meta(mf, key);
  return kv ? gguf_kv_int(kv, out) : GLOAM_ENOENT;
}

int model_files_meta_float(const model_files *mf, const char *key, double *out) {
  const gguf_kv *kv = meta(mf, key);
  return kv ? gguf_kv_float(kv, out) : GLOAM_ENOENT;
}

int model_files_meta_arr_len(const model_files *mf, const char *key, uint64_t *out_n) {
  const gguf_kv *kv = meta(mf, key);
  if (!kv) return GLOAM_ENOENT;
  if (kv->type != GGUF_ARRAY) return GLOAM_EFORMAT;
  *out_n = kv->n;
  return 0;
}

int model_files_meta_arr_str(const model_files *mf, const char *key, uint64_t i, const char **out,
                             size_t *out_len) {
  const gguf_kv *kv = meta(mf, key);
  return kv ? gguf_arr_str(kv, i, out, out_len) : GLOAM_ENOENT;
}

int model_files_meta_arr_int(const model_files *mf, const char *key, uint64_t i, int64_t *out) {
  const gguf_kv *kv = meta(mf, key);
  return kv ? gguf_arr_int(kv, i, out) : GLOAM_ENOENT;
}

int model_files_meta_arr_float(const model_files *mf, const char *key, uint64_t i, double *out) {
  const gguf_kv *kv = meta(mf, key);
  return kv ? gguf_arr_float(kv, i, out) : GLOAM_ENOENT;
}
