/* SPDX-License-Identifier: Apache-2.0
 *
 * engine/weights.c: binds a model's named tensors to the roles of the
 * forward pass (engine_impl.h), checking every shape against the config so
 * the forward pass never reads outside a tensor. Norm and bias vectors are
 * converted once to float32 (into the model's arena); matrices stay in
 * their storage type (mmapped or quantized on load).
 */
#include "engine/weights.h"

#include <stdio.h>
#include <string.h>

#include "core/err.h"
#include "engine/mlx_load.h"

#define NAME_LEN 160

/* "model.layers.<l>.<what>", or just <what> when l < 0. */
static const tensor *find(const gloam_model *m, char *name, int l, const char *what) {
  if (l >= 0)
    snprintf(name, NAME_LEN, "model.layers.%d.%s", l, what);
  else
    snprintf(name, NAME_LEN, "%s", what);
  return model_files_tensor(m->mf, name);
}

/* A [rows, cols] matrix (or the e-th [rows, cols] slice of a stacked 3-D
 * tensor [n, rows_total, cols] starting at row r0 when e >= 0). */
static int bind_mat(eng_mat *out, const tensor *t, const char *name, int e, int64_t r0,
                    int64_t rows, int64_t cols, char *err) {
  if (t->type == DT_MLX) return mlx_bind_mat(out, t, name, e, rows, cols, err);
  size_t row = dtype_row_bytes(t->type, cols);
  if (t->type >= DT_COUNT || t->type == DT_Q8_K || t->type == DT_U32 || row == 0)
    return err_set(err, GLOAM_EFORMAT, "tensor %s: type %s cannot hold rows of %lld", name,
                   dtype_name(t->type), (long long)cols);
  int64_t n_rows;
  if (e < 0) {
    if (t->n_dims != 2 || t->shape[0] != rows || t->shape[1] != cols)
      return err_set(err, GLOAM_EFORMAT, "tensor %s: shape is not [%lld, %lld]", name,
                     (long long)rows, (long long)cols);
    n_rows = rows;
  } else {
    if (t->n_dims != 3 || t->shape[0] <= e || t->shape[1] < r0 + rows || t->shape[2] != cols)
      return err_set(err, GLOAM_EFORMAT, "tensor %s: bad stacked expert shape", name);
    n_rows = t->shape[0] * t->shape[1];
  }
  if (t->n_bytes / row < (size_t)n_rows)
    return err_set(err, GLOAM_EFORMAT, "tensor %s: %zu bytes is too short", name, t->n_bytes);
  size_t off = e < 0 ? 0 : ((size_t)e * (size_t)t->shape[1] + (size_t)r0) * row;
  out->type = t->type;
  out->data = (const uint8_t *)t->data + off;
  out->rows = rows;
  out->cols = cols;
  return 0;
}

static int get_mat(gloam_model *m, eng_mat *out, int l, const char *what, int64_t rows,
                   int64_t cols, char *err) {
  char name[NAME_LEN];
  const tensor *t = find(m, name, l, what);
  if (!t) return err_set(err, GLOAM_ENOENT, "missing tensor %s", name);
  return bind_mat(out, t, name, -1, 0, rows, cols, err);
}

/* A [n] vector as float32; *out stays NULL when absent and !required. */
static int get_vec(gloam_model *m, const float **out, int l, const char *what, int64_t n,
                   bool required, char *err) {
  char name[NAME_LEN];
  const tensor *t = find(m, name, l, what);
  *out = NULL;
  if (!t) return required ? err_set(err, GLOAM_ENOENT, "missing tensor %s", name) : 0;
  if (t->n_dims != 1 || t->shape[0] != n || t->type >= DT_COUNT || t->type == DT_Q8_K ||
      t->type == DT_U32 || dtype_row_bytes(t->type, n) == 0 ||
      t->n_bytes < dtype_row_bytes(t->type, n))
    return err_set(err, GLOAM_EFORMAT, "tensor %s: not a vector of %lld", name, (long long)n);
  float *v = arena_alloc(&m->ar, sizeof(float) * (size_t)n);
  if (!v) return err_set(err, GLOAM_ENOMEM, "out of memory");
  kern_dequantize_row(t->type, t->data, v, n);
  *out = v;
  return 0;
}

static int bind_experts(gloam_model *m, eng_layer *L, int l, char *err) {
  const model_config *c = m->cfg;
  int E = c->n_experts, H = c->hidden, F = c->moe_ffn_hidden;
  int rc = get_mat(m, &L->router, l, "mlp.gate.weight", E, H, err);
  if (rc < 0) return rc;
  L->egate = arena_zalloc(&m->ar, sizeof(eng_mat) * (size_t)E * 3);
  if (!L->egate) return err_set(err, GLOAM_ENOMEM, "out of memory");
  L->eup = L->egate + E;
  L->edown = L->eup + E;
  char name[NAME_LEN];
  for (int e = 0; e < E; e++) {
    static const char *const part[3] = {"gate_proj", "up_proj", "down_proj"};
    eng_mat *dst[3] = {&L->egate[e], &L->eup[e], &L->edown[e]};
    for (int p = 0; p < 3; p++) {
      int64_t rows = p == 2 ? H : F, cols = p == 2 ? F : H;
      snprintf(name, NAME_LEN, "model.layers.%d.mlp.experts.%d.%s.weight", l, e, part[p]);
      const tensor *t = model_files_tensor(m->mf, name);
      if (t) {
        rc = bind_mat(dst[p], t, name, -1, 0, rows, cols, err);
      } else {
        /* stacked [E, rows, cols], or gate and up fused [E, 2F, H] */
        snprintf(name, NAME_LEN, "model.layers.%d.mlp.experts.%s.weight", l, part[p]);
        t = model_files_tensor(m->mf, name);
        int64_t r0 = 0;
        if (!t && p < 2) {
          snprintf(name, NAME_LEN, "model.layers.%d.mlp.experts.gate_up_proj", l);
          t = model_files_tensor(m->mf, name);
          r0 = p == 1 ? F : 0;
        }
        if (!t && p == 2) {
          snprintf(name, NAME_LEN, "model.layers.%d.mlp.experts.down_proj", l);
          t = model_files_tensor(m->mf, name);
        }
        if (!t)
          return err_set(err, GLOAM_ENOENT, "missing expert %d %s of layer %d", e, part[p], l);
        rc = bind_mat(dst[p], t, name, e, r0, rows, cols, err);
      }
      if (rc < 0) return rc;
    }
  }
  return 0;
}

static int bind_layer(gloam_model *m, int l, char *err) {
  const model_config *c = m->cfg;
  const arch_desc *a = m->arch;
  eng_layer *L = &m->layers[l];
  int H = c->hidden, hd = c->head_dim, q_out = c->n_heads * hd, kv_out = c->n_kv_heads * hd;
  int rc;
  bool bias = a->qkv_bias || c->attn_bias, qk = a->qk_norm || c->qk_norm;
#define TRY(x) \
  if ((rc = (x)) < 0) return rc
  TRY(get_vec(m, &L->attn_norm, l, "input_layernorm.weight", H, true, err));
  char what[NAME_LEN];
  snprintf(what, sizeof what, "%s.weight", a->ffn_norm);
  TRY(get_vec(m, &L->ffn_norm, l, what, H, true, err));
  if (a->post_attn_norm) {
    snprintf(what, sizeof what, "%s.weight", a->post_attn_norm);
    TRY(get_vec(m, &L->post_attn_norm, l, what, H, true, err));
  }
  if (a->post_ffn_norm) {
    snprintf(what, sizeof what, "%s.weight", a->post_ffn_norm);
    TRY(get_vec(m, &L->post_ffn_norm, l, what, H, true, err));
  }
  TRY(get_mat(m, &L->wq, l, "self_attn.q_proj.weight", q_out, H, err));
  TRY(get_mat(m, &L->wk, l, "self_attn.k_proj.weight", kv_out, H, err));
  TRY(get_mat(m, &L->wv, l, "self_attn.v_proj.weight", kv_out, H, err));
  TRY(get_mat(m, &L->wo, l, "self_attn.o_proj.weight", H, q_out, err));
  TRY(get_vec(m, &L->bq, l, "self_attn.q_proj.bias", q_out, bias, err));
  TRY(get_vec(m, &L->bk, l, "self_attn.k_proj.bias", kv_out, bias, err));
  TRY(get_vec(m, &L->bv, l, "self_attn.v_proj.bias", kv_out, bias, err));
  TRY(get_vec(m, &L->q_norm, l, "self_attn.q_norm.weight", hd, qk, err));
  TRY(get_vec(m, &L->k_norm, l, "self_attn.k_norm.weight", hd, qk, err));
  L->moe = a->moe && c->n_experts > 0 && c->layer_moe[l];
  if (L->moe) {
    TRY(bind_experts(m, L, l, err));
  } else {
    int F = c->ffn_hidden;
    TRY(get_mat(m, &L->gate, l, "mlp.gate_proj.weight", F, H, err));
    TRY(get_mat(m, &L->up, l, "mlp.up_proj.weight", F, H, err));
    TRY(get_mat(m, &L->down, l, "mlp.down_proj.weight", H, F, err));
  }
#undef TRY
  L->sliding = c->sliding_window > 0 && c->layer_sliding[l];
  L->window = L->sliding ? c->sliding_window : 0;
  return 0;
}

static int check_config(const model_config *c, char *err) {
  if (c->n_layers <= 0 || c->n_layers > MODEL_MAX_LAYERS || c->hidden <= 0 || c->n_heads <= 0 ||
      c->n_kv_heads <= 0 || c->n_heads % c->n_kv_heads != 0 || c->head_dim <= 1 ||
      c->head_dim % 2 != 0 || c->vocab <= 0 || c->sliding_window < 0 ||
      (c->n_experts > 0 && (c->n_experts_per_tok <= 0 || c->n_experts_per_tok > c->n_experts ||
                            c->moe_ffn_hidden <= 0)) ||
      (c->n_experts == 0 && c->ffn_hidden <= 0) || !(c->rms_eps >= 0))
    return err_set(err, GLOAM_EFORMAT, "model config out of range");
  return 0;
}

int weights_bind(gloam_model *m, char *err) {
  const model_config *c = m->cfg;
  int rc = check_config(c, err);
  if (rc < 0) return rc;
  int H = c->hidden;
  m->layers = arena_zalloc(&m->ar, sizeof(eng_layer) * (size_t)c->n_layers);
  if (!m->layers) return err_set(err, GLOAM_ENOMEM, "out of memory");
  if ((rc = get_mat(m, &m->embed, -1, "model.embed_tokens.weight", c->vocab, H, err)) < 0)
    return rc;
  if ((rc = get_vec(m, &m->out_norm, -1, "model.norm.weight", H, true, err)) < 0) return rc;
  if (c->tie_embeddings)
    m->lm_head = m->embed;
  else if ((rc = get_mat(m, &m->lm_head, -1, "lm_head.weight", c->vocab, H, err)) < 0)
    return rc;
  for (int l = 0; l < c->n_layers; l++)
    if ((rc = bind_layer(m, l, err)) < 0) return rc;
  return 0;
}
