/* SPDX-License-Identifier: Apache-2.0
 *
 * engine/forward.c: the transformer forward pass, written once for every
 * architecture (arch.h describes the differences; the layer's bound weights
 * say which optional parts exist). One call runs one step of up to n_rows
 * token rows, all rows at once through each matrix (so each weight is read
 * once per step), in float32; each row belongs to some session at some
 * position (engine_impl.h), so a prefill and a continuous batch are the
 * same code:
 *
 *   x = embed(tokens) * embed_scale
 *   per layer:  h = norm(x); q,k,v = h W (+b); q,k = norm_head(q,k); rope
 *               cache k,v; a = attention(q, cache) W_o; a = post_norm(a)?
 *               x += a; h = ffn_norm(x); f = ffn(h); f = post_norm(f)?; x += f
 *   logits = softcap(norm(x) W_lm)   (only the rows asked for)
 *
 * The cancel flag is checked before every layer.
 */
#include <math.h>
#include <string.h>

#include "engine/attention.h"
#include "engine/deltanet.h"
#include "engine/engine_impl.h"
#include "engine/gemma4.h"
#include "engine/moe.h"
#include "engine/rope.h"
#include "kernels/mlx.h"

static void mm(eng_work *w, const eng_mat *m, const float *x, float *y, int T) {
  kern_matmul(w->pool, m->type, m->data, x, y, T, m->rows, m->cols);
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

static void capture(float *buf, int H, int idx, const float *x, int T) {
  if (!buf) return;
  size_t n = (size_t)T * H;
  memcpy(buf + (size_t)idx * n, x, sizeof(float) * n);
}

void forward_embed(eng_work *w, const gloam_model *m, const int32_t *tokens, int T) {
  int H = m->cfg->hidden;
  size_t row = dtype_row_bytes(m->embed.type, H);
  float scale = m->cfg->embed_scale;
  for (int t = 0; t < T; t++) {
    float *x = w->x + (size_t)t * H;
    if (m->embed.type == DT_MLX) /* an MLX QuantizedEmbedding (kernels/mlx.h) */
      kern_mlx_dequantize_row(m->embed.data, tokens[t], H, x);
    else
      kern_dequantize_row(m->embed.type, (const uint8_t *)m->embed.data + (size_t)tokens[t] * row,
                          x, H);
    if (scale != 1.0f && scale != 0.0f)
      for (int i = 0; i < H; i++) x[i] *= scale;
  }
}

/* The cache of KV slot l (eng_layer.kv_slot) of a session. */
static uint8_t *cache_at(void *cache, const gloam_session *s, int l) {
  size_t esz = s->kv_f16 ? sizeof(f16_bits) : sizeof(float);
  return (uint8_t *)cache + (size_t)l * s->n_ctx * s->kv_row * esz;
}

/* The gated q projection [T, nh, (query | gate)] into query q [T, nh, hd]
 * (in place, moving left) and gate [T, nh * hd]. */
static void split_gate(float *q, float *gate, int T, int nh, int hd) {
  for (size_t i = 0; i < (size_t)T * nh; i++) {
    memcpy(gate + i * hd, q + (2 * i + 1) * hd, sizeof(float) * (size_t)hd);
    memmove(q + i * hd, q + 2 * i * hd, sizeof(float) * (size_t)hd);
  }
}

/* x *= sigmoid(gate). */
static void apply_gate(float *x, const float *gate, size_t n) {
  for (size_t i = 0; i < n; i++) x[i] *= 1.0f / (1.0f + expf(-gate[i]));
}

/* q, k, v for the step, normed and rotated, k and v stored in the caches. */
static void attn_qkv(eng_work *w, const gloam_model *m, int l, const eng_layer *L, int T) {
  const model_config *c = m->cfg;
  int nh = c->n_heads, nkv = c->n_kv_heads, hd = c->head_dim, half = c->rope_dim / 2;
  size_t kv_row = (size_t)nkv * hd;
  mm(w, &L->wq, w->h, w->q, T);
  add_bias(w->q, L->bq, T, (int)L->wq.rows);
  if (c->attn_out_gate) split_gate(w->q, w->gate, T, nh, hd);
  mm(w, &L->wk, w->h, w->k, T);
  mm(w, &L->wv, w->h, w->v, T);
  add_bias(w->k, L->bk, T, nkv * hd);
  add_bias(w->v, L->bv, T, nkv * hd);
  bool whole = c->qk_norm_whole; /* one norm over all heads (tmp o holds a q row) */
  if (L->q_norm) norm_heads(c, w->q, L->q_norm, T, whole ? 1 : nh, whole ? nh * hd : hd, w->o);
  if (L->k_norm) norm_heads(c, w->k, L->k_norm, T, whole ? 1 : nkv, whole ? nkv * hd : hd, w->o);
  size_t tab = (size_t)w->n_rows * half * (L->sliding ? 1 : 0);
  const float *cs = w->rope_cos + tab, *sn = w->rope_sin + tab;
  for (int t = 0; t < T; t++) {
    rope_apply_part(w->q + (size_t)t * nh * hd, nh, hd, c->rope_dim, cs + (size_t)t * half,
                    sn + (size_t)t * half);
    rope_apply_part(w->k + (size_t)t * kv_row, nkv, hd, c->rope_dim, cs + (size_t)t * half,
                    sn + (size_t)t * half);
  }
  for (int t = 0; t < T; t++) {
    const gloam_session *s = w->row_sess[t];
    int slot = L->kv_slot;
    uint8_t *kc = cache_at(s->k_cache, s, slot), *vc = cache_at(s->v_cache, s, slot);
    kv_store(kc, s, nkv, hd, w->pos[t], w->k + (size_t)t * kv_row);
    kv_store(vc, s, nkv, hd, w->pos[t], w->v + (size_t)t * kv_row);
    w->krow[t] = kc;
    w->vrow[t] = vc;
    w->kv_ctx[t] = s->n_ctx;
  }
}

/* Self-attention of layer l over w->h into w->o. */
static void attn_block(eng_work *w, const gloam_model *m, int l, const eng_layer *L, int T) {
  const model_config *c = m->cfg;
  attn_qkv(w, m, l, L, T);
  attn_args a = {
      .q = w->q,
      .k_rows = w->krow,
      .v_rows = w->vrow,
      .kv_ctx = w->kv_ctx,
      .pos = w->pos,
      .f16 = w->row_sess[0]->kv_f16,
      .out = w->att,
      .T = T,
      .n_heads = c->n_heads,
      .n_kv_heads = c->n_kv_heads,
      .head_dim = c->head_dim,
      .window = L->window,
      .scale = m->attn_scale,
      .softcap = c->attn_logit_softcap,
  };
  attention_run(w->pool, &a);
  if (c->attn_out_gate) apply_gate(w->att, w->gate, (size_t)T * c->n_heads * c->head_dim);
  mm(w, &L->wo, w->att, w->o, T);
}

static void layer_forward(eng_work *w, const gloam_model *m, int l, int T) {
  const model_config *c = m->cfg;
  const eng_layer *L = &m->layers[l];
  int H = c->hidden;

  norm_rows(c, w->h, w->x, L->attn_norm, T, H);
  if (L->linear)
    deltanet_forward(w, m, L, T);
  else
    attn_block(w, m, l, L, T);
  const float *branch = w->o;
  if (L->post_attn_norm) { /* into h (free now): kernels need not allow aliasing */
    norm_rows(c, w->h, w->o, L->post_attn_norm, T, H);
    branch = w->h;
  }
  kern_axpy_f32(w->x, 1.0f, branch, (int64_t)T * H);

  norm_rows(c, w->h, w->x, L->ffn_norm, T, H);
  ffn_forward(w, m, L, w->h, w->o, T);
  branch = w->o;
  if (L->post_ffn_norm) {
    norm_rows(c, w->h, w->o, L->post_ffn_norm, T, H);
    branch = w->h;
  }
  kern_axpy_f32(w->x, 1.0f, branch, (int64_t)T * H);
}

int forward_rows(eng_work *w, const gloam_model *m, const int32_t *tokens, int T, int n_out,
                 float *logits, float *capture_buf, atomic_bool *cancel) {
  const model_config *c = m->cfg;
  int H = c->hidden, half = c->rope_dim / 2;
  if (m->g4) return gemma4_forward_rows(w, m, tokens, T, n_out, logits, capture_buf, cancel);

  if (tokens) forward_embed(w, m, tokens, T); /* else the caller filled w->x (input embeddings) */
  capture(capture_buf, H, 0, w->x, T);
  size_t tab = (size_t)w->n_rows * half;
  for (int t = 0; t < T; t++) {
    size_t o = (size_t)t * half;
    rope_table(w->rope_cos + o, w->rope_sin + o, m->rope_global.inv_freq, m->rope_global.mscale,
               half, w->pos[t], 1);
    rope_table(w->rope_cos + tab + o, w->rope_sin + tab + o, m->rope_local.inv_freq,
               m->rope_local.mscale, half, w->pos[t], 1);
  }

  for (int l = 0; l < c->n_layers; l++) {
    /* a recurrent state cannot be rewound: cancel only before it changes */
    if (cancel && (l == 0 || m->n_lin_layers == 0) && atomic_exchange(cancel, false))
      return GLOAM_ECANCELED;
    layer_forward(w, m, l, T);
    if (l + 1 < c->n_layers) capture(capture_buf, H, l + 1, w->x, T);
  }
  return forward_finish(w, m, T, n_out, logits, capture_buf);
}

int forward_finish(eng_work *w, const gloam_model *m, int T, int n_out, float *logits,
                   float *capture_buf) {
  const model_config *c = m->cfg;
  int H = c->hidden;
  /* final norm of the rows whose logits are wanted (of all rows for the
   * capture hook), gathered into o */
  if (capture_buf) {
    norm_rows(c, w->h, w->x, m->out_norm, T, H);
    capture(capture_buf, H, c->n_layers, w->h, T);
    for (int i = 0; i < n_out; i++)
      memcpy(w->o + (size_t)i * H, w->h + (size_t)w->out_rows[i] * H, sizeof(float) * (size_t)H);
  } else {
    for (int i = 0; i < n_out; i++)
      kern_rmsnorm(w->o + (size_t)i * H, w->x + (size_t)w->out_rows[i] * H, m->out_norm, H,
                   c->rms_eps, c->norm_w_offset);
  }
  if (n_out == 0 || !logits) return 0; /* !logits: the normed rows stay in w->o */
  mm(w, &m->lm_head, w->o, logits, n_out);
  float cap = c->final_logit_softcap;
  if (cap > 0) {
    size_t n = (size_t)n_out * c->vocab;
    for (size_t i = 0; i < n; i++) logits[i] = cap * tanhf(logits[i] / cap);
  }
  return 0;
}
