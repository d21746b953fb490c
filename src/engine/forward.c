/* SPDX-License-Identifier: Apache-2.0
 *
 * engine/forward.c: the transformer forward pass, written once for every
 * architecture (arch.h describes the differences; the layer's bound weights
 * say which optional parts exist). One call runs one step of up to n_batch
 * tokens, all rows at once through each matrix, in float32:
 *
 *   x = embed(tokens) * embed_scale
 *   per layer:  h = norm(x); q,k,v = h W (+b); q,k = norm_head(q,k); rope
 *               cache k,v; a = attention(q, cache) W_o; a = post_norm(a)?
 *               x += a; h = ffn_norm(x); f = ffn(h); f = post_norm(f)?; x += f
 *   logits = softcap(norm(x) W_lm)
 *
 * The cancel flag is checked before every layer.
 */
#include <math.h>
#include <string.h>

#include "engine/attention.h"
#include "engine/engine_impl.h"
#include "engine/moe.h"
#include "engine/rope.h"

static void mm(gloam_session *s, const eng_mat *w, const float *x, float *y, int T) {
  kern_matmul(s->pool, w->type, w->data, x, y, T, w->rows, w->cols);
}

static void norm_rows(const model_config *c, float *out, const float *x, const float *w, int T,
                      int n) {
  for (int t = 0; t < T; t++)
    kern_rmsnorm(out + (size_t)t * n, x + (size_t)t * n, w, n, c->rms_eps, c->norm_w_offset);
}

/* Per-head RMSNorm of rows [T, n_heads * hd] in place (tmp: hd floats). */
static void norm_heads(const model_config *c, float *x, const float *w, int T, int n_heads, int hd,
                       float *tmp) {
  for (size_t i = 0; i < (size_t)T * n_heads; i++) {
    float *v = x + i * hd;
    kern_rmsnorm(tmp, v, w, hd, c->rms_eps, c->norm_w_offset);
    memcpy(v, tmp, sizeof(float) * (size_t)hd);
  }
}

static void add_bias(float *y, const float *b, int T, int n) {
  if (!b) return;
  for (int t = 0; t < T; t++) kern_axpy_f32(y + (size_t)t * n, 1.0f, b, n);
}

static void capture(gloam_session *s, int idx, const float *x, int T) {
  if (!s->capture) return;
  size_t n = (size_t)T * s->m->cfg->hidden;
  memcpy(s->capture + (size_t)idx * n, x, sizeof(float) * n);
}

static void embed(gloam_session *s, const int32_t *tokens, int T) {
  const gloam_model *m = s->m;
  int H = m->cfg->hidden;
  size_t row = dtype_row_bytes(m->embed.type, H);
  float scale = m->cfg->embed_scale;
  for (int t = 0; t < T; t++) {
    float *x = s->x + (size_t)t * H;
    kern_dequantize_row(m->embed.type, (const uint8_t *)m->embed.data + (size_t)tokens[t] * row, x,
                        H);
    if (scale != 1.0f && scale != 0.0f)
      for (int i = 0; i < H; i++) x[i] *= scale;
  }
}

/* q, k, v for the step, normed and rotated, k and v stored in the cache. */
static void attn_qkv(gloam_session *s, int l, const eng_layer *L, int T, int pos0) {
  const model_config *c = s->m->cfg;
  int nh = c->n_heads, nkv = c->n_kv_heads, hd = c->head_dim, half = hd / 2;
  mm(s, &L->wq, s->h, s->q, T);
  mm(s, &L->wk, s->h, s->k, T);
  mm(s, &L->wv, s->h, s->v, T);
  add_bias(s->q, L->bq, T, nh * hd);
  add_bias(s->k, L->bk, T, nkv * hd);
  add_bias(s->v, L->bv, T, nkv * hd);
  if (L->q_norm) norm_heads(c, s->q, L->q_norm, T, nh, hd, s->o);
  if (L->k_norm) norm_heads(c, s->k, L->k_norm, T, nkv, hd, s->o);
  size_t tab = (size_t)s->n_batch * half * (L->sliding ? 1 : 0);
  const float *cs = s->rope_cos + tab, *sn = s->rope_sin + tab;
  for (int t = 0; t < T; t++) {
    rope_apply(s->q + (size_t)t * nh * hd, nh, hd, cs + (size_t)t * half, sn + (size_t)t * half);
    rope_apply(s->k + (size_t)t * nkv * hd, nkv, hd, cs + (size_t)t * half, sn + (size_t)t * half);
  }
  size_t layer_off = (size_t)l * s->n_ctx * s->kv_row;
  size_t bytes = sizeof(float) * s->kv_row * (size_t)T;
  memcpy(s->k_cache + layer_off + (size_t)pos0 * s->kv_row, s->k, bytes);
  memcpy(s->v_cache + layer_off + (size_t)pos0 * s->kv_row, s->v, bytes);
}

static void layer_forward(gloam_session *s, int l, int T, int pos0) {
  const gloam_model *m = s->m;
  const model_config *c = m->cfg;
  const eng_layer *L = &m->layers[l];
  int H = c->hidden;
  size_t layer_off = (size_t)l * s->n_ctx * s->kv_row;

  norm_rows(c, s->h, s->x, L->attn_norm, T, H);
  attn_qkv(s, l, L, T, pos0);
  attn_args a = {
      .q = s->q,
      .k = s->k_cache + layer_off,
      .v = s->v_cache + layer_off,
      .out = s->att,
      .scores = s->scores,
      .n_work = s->n_work,
      .T = T,
      .pos0 = pos0,
      .n_heads = c->n_heads,
      .n_kv_heads = c->n_kv_heads,
      .head_dim = c->head_dim,
      .window = L->window,
      .scale = m->attn_scale,
      .softcap = c->attn_logit_softcap,
  };
  attention_run(s->pool, &a);
  mm(s, &L->wo, s->att, s->o, T);
  const float *branch = s->o;
  if (L->post_attn_norm) { /* into h (free now): kernels need not allow aliasing */
    norm_rows(c, s->h, s->o, L->post_attn_norm, T, H);
    branch = s->h;
  }
  kern_axpy_f32(s->x, 1.0f, branch, (int64_t)T * H);

  norm_rows(c, s->h, s->x, L->ffn_norm, T, H);
  ffn_forward(s, L, s->h, s->o, T);
  branch = s->o;
  if (L->post_ffn_norm) {
    norm_rows(c, s->h, s->o, L->post_ffn_norm, T, H);
    branch = s->h;
  }
  kern_axpy_f32(s->x, 1.0f, branch, (int64_t)T * H);
}

int forward_step(gloam_session *s, const int32_t *tokens, int T, int pos0, int logits) {
  const gloam_model *m = s->m;
  const model_config *c = m->cfg;
  int H = c->hidden, half = c->head_dim / 2;

  embed(s, tokens, T);
  capture(s, 0, s->x, T);
  rope_table(s->rope_cos, s->rope_sin, m->rope_global.inv_freq, m->rope_global.mscale, half, pos0,
             T);
  size_t tab = (size_t)s->n_batch * half;
  rope_table(s->rope_cos + tab, s->rope_sin + tab, m->rope_local.inv_freq, m->rope_local.mscale,
             half, pos0, T);

  for (int l = 0; l < c->n_layers; l++) {
    if (atomic_exchange(&s->cancel, false)) return GLOAM_ECANCELED;
    layer_forward(s, l, T, pos0);
    if (l + 1 < c->n_layers) capture(s, l + 1, s->x, T);
  }

  /* final norm: every row when all logits or capture want them */
  bool all_logits = logits == FORWARD_LOGITS_ALL;
  if (logits == FORWARD_LOGITS_NONE && !s->capture) return 0;
  int first = (all_logits || s->capture) ? 0 : T - 1;
  int rows = T - first;
  norm_rows(c, s->h, s->x + (size_t)first * H, m->out_norm, rows, H);
  capture(s, c->n_layers, s->h, T);
  if (logits == FORWARD_LOGITS_NONE) return 0;
  if (!all_logits) {
    first = rows - 1; /* the last row of h */
    rows = 1;
  } else {
    first = 0;
  }
  mm(s, &m->lm_head, s->h + (size_t)first * H, s->logits, rows);
  float cap = c->final_logit_softcap;
  if (cap > 0) {
    size_t n = (size_t)rows * c->vocab;
    for (size_t i = 0; i < n; i++) s->logits[i] = cap * tanhf(s->logits[i] / cap);
  }
  s->n_logits = rows;
  return 0;
}
