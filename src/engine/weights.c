/* SPDX-License-Identifier: Apache-2.0
 *
 * engine/weights.c: binds a model's named tensors to the roles of the
 * forward pass (engine_impl.h), checking every shape against the config so
 * the forward pass never reads outside a tensor. Norm and bias vectors are
 * converted once to float32 (into the model's arena); matrices stay in
 * their storage type (mmapped or quantized on load).
 */
#include "engine/weights.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/err.h"
#include "engine/config.h"
#include "engine/deltanet.h"
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
  if (c->moe_sigmoid &&
      (rc = get_vec(m, &L->router_bias, l, "mlp.e_score_correction_bias", E, true, err)) < 0)
    return rc;
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

/* The depthwise conv1d weight [C, 1, K] (or [C, K]) as float32 [K, C]. */
static int get_conv(gloam_model *m, eng_deltanet *D, int l, int64_t C, int64_t K, char *err) {
  char name[NAME_LEN];
  const tensor *t = find(m, name, l, "linear_attn.conv1d.weight");
  if (!t) return err_set(err, GLOAM_ENOENT, "missing tensor %s", name);
  bool shape = (t->n_dims == 3 && t->shape[0] == C && t->shape[1] == 1 && t->shape[2] == K) ||
               (t->n_dims == 2 && t->shape[0] == C && t->shape[1] == K);
  bool type = t->type == DT_F32 || t->type == DT_F16 || t->type == DT_BF16;
  if (!shape || !type || t->n_bytes < dtype_row_bytes(t->type, C * K))
    return err_set(err, GLOAM_EFORMAT, "tensor %s: not a float [%lld, 1, %lld]", name, (long long)C,
                   (long long)K);
  float *tmp = arena_alloc(&m->ar, sizeof(float) * (size_t)(C * K));
  float *w = arena_alloc(&m->ar, sizeof(float) * (size_t)(C * K));
  if (!tmp || !w) return err_set(err, GLOAM_ENOMEM, "out of memory");
  kern_dequantize_row(t->type, t->data, tmp, C * K);
  for (int64_t c = 0; c < C; c++)
    for (int64_t j = 0; j < K; j++) w[j * C + c] = tmp[c * K + j];
  D->conv = w;
  return 0;
}

/* A Gated DeltaNet layer (Qwen3.5 linear_attn.*). */
static int bind_linear(gloam_model *m, eng_layer *L, int l, char *err) {
  const model_config *c = m->cfg;
  int64_t H = c->hidden, nv = c->lin_v_heads, kd = (int64_t)c->lin_k_heads * c->lin_k_dim,
          vd = nv * c->lin_v_dim;
  eng_deltanet *D = &L->lin;
  const float *a_log;
  int rc;
  D->fused = c->arch == ARCH_QWEN3_NEXT;
  if (D->fused) {
    if ((rc = get_mat(m, &D->qkvz, l, "linear_attn.in_proj_qkvz.weight", 2 * kd + 2 * vd, H, err)) <
            0 ||
        (rc = get_mat(m, &D->ba, l, "linear_attn.in_proj_ba.weight", 2 * nv, H, err)) < 0)
      return rc;
  } else if ((rc = get_mat(m, &D->qkv, l, "linear_attn.in_proj_qkv.weight", 2 * kd + vd, H, err)) <
                 0 ||
             (rc = get_mat(m, &D->z, l, "linear_attn.in_proj_z.weight", vd, H, err)) < 0 ||
             (rc = get_mat(m, &D->b, l, "linear_attn.in_proj_b.weight", nv, H, err)) < 0 ||
             (rc = get_mat(m, &D->a, l, "linear_attn.in_proj_a.weight", nv, H, err)) < 0) {
    return rc;
  }
  if ((rc = get_mat(m, &D->out, l, "linear_attn.out_proj.weight", H, vd, err)) < 0 ||
      (rc = get_vec(m, &a_log, l, "linear_attn.A_log", nv, true, err)) < 0 ||
      (rc = get_vec(m, &D->dt_bias, l, "linear_attn.dt_bias", nv, true, err)) < 0 ||
      (rc = get_vec(m, &D->norm, l, "linear_attn.norm.weight", c->lin_v_dim, true, err)) < 0 ||
      (rc = get_conv(m, D, l, 2 * kd + vd, c->lin_conv, err)) < 0)
    return rc;
  float *na = arena_alloc(&m->ar, sizeof(float) * (size_t)nv);
  if (!na) return err_set(err, GLOAM_ENOMEM, "out of memory");
  for (int64_t i = 0; i < nv; i++) na[i] = -expf(a_log[i]);
  D->neg_a = na;
  L->linear = true;
  return 0;
}

/* The shared expert of a Qwen3.5 MoE layer and its sigmoid gate. */
static int bind_shared_expert(gloam_model *m, eng_layer *L, int l, char *err) {
  int64_t H = m->cfg->hidden, F = m->cfg->shared_ffn_hidden;
  int rc;
  if ((rc = get_mat(m, &L->sh_gate, l, "mlp.shared_expert.gate_proj.weight", F, H, err)) < 0 ||
      (rc = get_mat(m, &L->sh_up, l, "mlp.shared_expert.up_proj.weight", F, H, err)) < 0 ||
      (rc = get_mat(m, &L->sh_down, l, "mlp.shared_expert.down_proj.weight", H, F, err)) < 0)
    return rc;
  return get_mat(m, &L->sh_router, l, "mlp.shared_expert_gate.weight", 1, H, err);
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
  if (c->layer_linear[l]) {
    TRY(bind_linear(m, L, l, err));
  } else {
    int q_rows = c->attn_out_gate ? 2 * q_out : q_out; /* [query | gate] per head */
    TRY(get_mat(m, &L->wq, l, "self_attn.q_proj.weight", q_rows, H, err));
    TRY(get_mat(m, &L->wk, l, "self_attn.k_proj.weight", kv_out, H, err));
    TRY(get_mat(m, &L->wv, l, "self_attn.v_proj.weight", kv_out, H, err));
    TRY(get_mat(m, &L->wo, l, "self_attn.o_proj.weight", H, q_out, err));
    TRY(get_vec(m, &L->bq, l, "self_attn.q_proj.bias", q_rows, bias, err));
    TRY(get_vec(m, &L->bk, l, "self_attn.k_proj.bias", kv_out, bias, err));
    TRY(get_vec(m, &L->bv, l, "self_attn.v_proj.bias", kv_out, bias, err));
    bool whole = c->qk_norm_whole;
    TRY(get_vec(m, &L->q_norm, l, "self_attn.q_norm.weight", whole ? q_out : hd, qk, err));
    TRY(get_vec(m, &L->k_norm, l, "self_attn.k_norm.weight", whole ? kv_out : hd, qk, err));
  }
  L->moe = a->moe && c->n_experts > 0 && c->layer_moe[l];
  if (L->moe) {
    TRY(bind_experts(m, L, l, err));
    if (c->shared_ffn_hidden > 0) TRY(bind_shared_expert(m, L, l, err));
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

int weights_mat(gloam_model *m, eng_mat *out, int l, const char *what, int64_t rows, int64_t cols,
                char *err) {
  return get_mat(m, out, l, what, rows, cols, err);
}

int weights_vec(gloam_model *m, const float **out, int l, const char *what, int64_t n,
                bool required, char *err) {
  return get_vec(m, out, l, what, n, required, err);
}

static int check_config(const model_config *c, char *err) {
  if (c->n_layers <= 0 || c->n_layers > MODEL_MAX_LAYERS || c->hidden <= 0 || c->n_heads <= 0 ||
      c->n_kv_heads <= 0 || c->n_heads % c->n_kv_heads != 0 || c->head_dim <= 1 ||
      c->head_dim % 2 != 0 || c->vocab <= 0 || c->sliding_window < 0 ||
      (c->n_experts > 0 && (c->n_experts_per_tok <= 0 || c->n_experts_per_tok > c->n_experts ||
                            c->moe_ffn_hidden <= 0)) ||
      (c->n_experts == 0 && c->ffn_hidden <= 0) || !(c->rms_eps >= 0) || c->rope_dim < 0 ||
      c->rope_dim > c->head_dim || c->rope_dim % 2 != 0 ||
      (config_is_hybrid(c->arch) &&
       (c->lin_k_heads <= 0 || c->lin_v_heads <= 0 || c->lin_v_heads % c->lin_k_heads != 0 ||
        c->lin_k_dim <= 0 || c->lin_k_dim > CONFIG_MAX_HEAD_DIM || c->lin_v_dim <= 0 ||
        c->lin_v_dim > CONFIG_MAX_HEAD_DIM || c->lin_conv < 1 || c->lin_conv > 64)))
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
  for (int l = 0; l < c->n_layers; l++) {
    if ((rc = bind_layer(m, l, err)) < 0) return rc;
    eng_layer *L = &m->layers[l];
    L->kv_slot = L->linear ? -1 : m->n_kv_layers++;
    L->lin_slot = L->linear ? m->n_lin_layers++ : -1;
  }
  m->lin_state = deltanet_state_floats(c);
  return 0;
}
