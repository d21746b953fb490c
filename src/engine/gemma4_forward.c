/* SPDX-License-Identifier: Apache-2.0
 *
 * engine/gemma4_forward.c: one step of Gemma 4 over a set of rows (see
 * gemma4.h for the equations and engine_impl.h for rows). Every matrix
 * sees all rows of the step at once; each row's K/V go to its own
 * session's cache, whose layer l region is [n_ctx, kv heads(l) * head_dim(l)]
 * at n_ctx * kv_off(l). Scratch is the step's eng_work (ext holds the
 * per-layer inputs and the two FFN branches); nothing is allocated.
 */
#include <math.h>
#include <string.h>

#include "engine/attention.h"
#include "engine/gemma4.h"
#include "engine/moe.h"
#include "engine/rope.h"

static void mm(eng_work *w, const eng_mat *m, const float *x, float *y, int T) {
  kern_matmul(w->pool, m->type, m->data, x, y, T, m->rows, m->cols);
}

/* out[i] = rmsnorm(x[i]) * wt over n_vec vectors of n (gemma4: plain w). */
static void norm_vecs(const model_config *c, float *out, const float *x, const float *wt,
                      size_t n_vec, int n) {
  for (size_t i = 0; i < n_vec; i++) kern_rmsnorm(out + i * n, x + i * n, wt, n, c->rms_eps, 0.0f);
}

/* The same in place, through tmp [n]. */
static void norm_vecs_inplace(const model_config *c, float *x, const float *wt, size_t n_vec, int n,
                              float *tmp) {
  for (size_t i = 0; i < n_vec; i++) {
    kern_rmsnorm(tmp, x + i * n, wt, n, c->rms_eps, 0.0f);
    memcpy(x + i * n, tmp, sizeof(float) * (size_t)n);
  }
}

static void scale(float *x, size_t n, float s) {
  for (size_t i = 0; i < n; i++) x[i] *= s;
}

/* Step scratch carved from w->ext (gemma4_work_floats()). */
typedef struct g4_scratch {
  float *ple;     /* [n_rows, L * P] per-layer inputs */
  float *f1, *f2; /* [n_rows, H] FFN branches */
  float *gate;    /* [n_rows, P] */
  float *tok;     /* [L * P] one token's per-layer embedding */
} g4_scratch;

static g4_scratch scratch(const eng_work *w, const model_config *c) {
  size_t n = (size_t)w->n_rows, LP = (size_t)c->n_layers * (size_t)c->g4.ple_dim,
         H = (size_t)c->hidden;
  g4_scratch s = {.ple = w->ext};
  s.f1 = s.ple + n * LP;
  s.f2 = s.f1 + n * H;
  s.gate = s.f2 + n * H;
  s.tok = s.gate + n * (size_t)c->g4.ple_dim;
  return s;
}

/* ple = (norm(W x * H^-1/2) + embed_ple(tok) * sqrt(P)) * 2^-1/2 per layer. */
static void per_layer_inputs(eng_work *w, const gloam_model *m, const int32_t *tokens, int T,
                             const g4_scratch *s) {
  const model_config *c = m->cfg;
  const gemma4_model *G = m->g4;
  int P = c->g4.ple_dim;
  size_t LP = (size_t)c->n_layers * (size_t)P;
  mm(w, &G->ple_model_proj, w->x, s->ple, T);
  scale(s->ple, (size_t)T * LP, (float)pow((double)c->hidden, -0.5));
  norm_vecs_inplace(c, s->ple, G->ple_proj_norm, (size_t)T * (size_t)c->n_layers, P, s->gate);
  size_t row = dtype_row_bytes(G->ple_embed.type, (int64_t)LP);
  float es = sqrtf((float)P), mix = (float)pow(2.0, -0.5);
  for (int t = 0; t < T; t++) {
    kern_dequantize_row(G->ple_embed.type,
                        (const uint8_t *)G->ple_embed.data + (size_t)tokens[t] * row, s->tok,
                        (int64_t)LP);
    float *p = s->ple + (size_t)t * LP;
    for (size_t i = 0; i < LP; i++) p[i] = (p[i] + s->tok[i] * es) * mix;
  }
}

/* Layer X's cache region of a session: [nkv, n_ctx, hd] at n_ctx * kv_off. */
static uint8_t *cache_at(void *cache, const gloam_session *s, const g4_layer *X) {
  size_t esz = s->kv_f16 ? sizeof(f16_bits) : sizeof(float);
  return (uint8_t *)cache + (size_t)s->n_ctx * X->kv_off * esz;
}

/* Rope cos/sin of both layer types for the step's rows: type k's table at
 * k * n_rows * max_half, row t at t * half(k). */
static void rope_tables(eng_work *w, const gloam_model *m, int T) {
  size_t tab = (size_t)w->n_rows * (size_t)(m->cfg->g4.max_head_dim / 2);
  for (int k = 0; k < 2; k++) {
    const g4_rope *r = &m->g4->rope[k];
    if (!r->inv_freq) continue;
    for (int t = 0; t < T; t++) {
      size_t o = k * tab + (size_t)t * r->half;
      rope_table(w->rope_cos + o, w->rope_sin + o, r->inv_freq, r->mscale, r->half, w->pos[t], 1);
    }
  }
}

/* Attention of layer l; adds its normed output to x. */
static void attention(eng_work *w, const gloam_model *m, int l, int T) {
  const model_config *c = m->cfg;
  const eng_layer *L = &m->layers[l];
  const g4_layer *X = &m->g4->layers[l];
  int H = c->hidden, hd = X->hd, half = hd / 2, nh = X->nh, nkv = X->nkv;
  size_t q_row = (size_t)nh * hd, kv_row = (size_t)nkv * hd;
  size_t tab = L->sliding ? (size_t)w->n_rows * (size_t)(c->g4.max_head_dim / 2) : 0;
  const float *cs = w->rope_cos + tab, *sn = w->rope_sin + tab;
  norm_vecs(c, w->h, w->x, L->attn_norm, (size_t)T, H);
  mm(w, &L->wq, w->h, w->q, T);
  norm_vecs_inplace(c, w->q, L->q_norm, (size_t)T * nh, hd, w->o);
  for (int t = 0; t < T; t++)
    rope_apply(w->q + t * q_row, nh, hd, cs + (size_t)t * half, sn + (size_t)t * half);
  const g4_layer *S = &m->g4->layers[X->kv_src];
  if (X->kv_src == l) {
    mm(w, &L->wk, w->h, w->k, T);
    if (X->values_are_keys)
      memcpy(w->v, w->k, sizeof(float) * (size_t)T * kv_row);
    else
      mm(w, &L->wv, w->h, w->v, T);
    norm_vecs_inplace(c, w->k, L->k_norm, (size_t)T * nkv, hd, w->o);
    norm_vecs_inplace(c, w->v, m->g4->ones, (size_t)T * nkv, hd, w->o);
    for (int t = 0; t < T; t++) {
      rope_apply(w->k + t * kv_row, nkv, hd, cs + (size_t)t * half, sn + (size_t)t * half);
      const gloam_session *s = w->row_sess[t];
      kv_store(cache_at(s->k_cache, s, X), s, nkv, hd, w->pos[t], w->k + t * kv_row);
      kv_store(cache_at(s->v_cache, s, X), s, nkv, hd, w->pos[t], w->v + t * kv_row);
    }
  }
  for (int t = 0; t < T; t++) {
    const gloam_session *s = w->row_sess[t];
    w->krow[t] = cache_at(s->k_cache, s, S);
    w->vrow[t] = cache_at(s->v_cache, s, S);
    w->kv_ctx[t] = s->n_ctx;
  }
  attn_args a = {.q = w->q,
                 .k_rows = w->krow,
                 .v_rows = w->vrow,
                 .kv_ctx = w->kv_ctx,
                 .pos = w->pos,
                 .f16 = w->row_sess[0]->kv_f16,
                 .out = w->att,
                 .T = T,
                 .n_heads = nh,
                 .n_kv_heads = nkv,
                 .head_dim = hd,
                 .window = L->window,
                 .scale = 1.0f, /* q and k are RMS-normed: transformers' scaling 1 */
                 .softcap = 0.0f};
  attention_run(w->pool, &a);
  mm(w, &L->wo, w->att, w->o, T);
  norm_vecs(c, w->h, w->o, L->post_attn_norm, (size_t)T, H);
  kern_axpy_f32(w->x, 1.0f, w->h, (int64_t)T * H);
}

/* Routes each row of x: softmax top-k of W_r (rms(x) * scale / sqrt(H)),
 * renormalised, times per_expert_scale; into w->sel / w->sel_w. */
static void route(eng_work *w, const gloam_model *m, const eng_layer *L, const g4_layer *X, int T) {
  const model_config *c = m->cfg;
  int E = c->n_experts, k = c->n_experts_per_tok;
  norm_vecs(c, w->h, w->x, X->router_w, (size_t)T, c->hidden);
  mm(w, &L->router, w->h, w->router, T);
  for (int t = 0; t < T; t++) {
    int32_t *sel = w->sel + (size_t)t * k;
    float *sw = w->sel_w + (size_t)t * k;
    moe_route(w->router + (size_t)t * E, E, k, true, w->probs, sel, sw);
    for (int j = 0; j < k; j++) sw[j] *= X->expert_scale[sel[j]];
  }
}

/* The feed-forward part of layer l (MLP, MoE beside it, per-layer input,
 * layer scalar). */
static void feed_forward(eng_work *w, const gloam_model *m, int l, int T, const g4_scratch *s) {
  const model_config *c = m->cfg;
  const eng_layer *L = &m->layers[l];
  const g4_layer *X = &m->g4->layers[l];
  int H = c->hidden, P = c->g4.ple_dim;
  size_t n = (size_t)T * H;
  norm_vecs(c, w->h, w->x, L->ffn_norm, (size_t)T, H);
  ffn_forward(w, m, L, w->h, w->o, T); /* L->moe is false: the dense MLP */
  const float *f = w->o;
  if (c->n_experts) {
    norm_vecs(c, s->f1, w->o, X->post_ffn_norm1, (size_t)T, H);
    route(w, m, L, X, T);
    norm_vecs(c, w->h, w->x, X->pre_ffn_norm2, (size_t)T, H);
    moe_experts(w, m, L, w->h, w->o, T);
    norm_vecs(c, s->f2, w->o, X->post_ffn_norm2, (size_t)T, H);
    kern_axpy_f32(s->f1, 1.0f, s->f2, (int64_t)n);
    f = s->f1;
  }
  norm_vecs(c, w->h, f, L->post_ffn_norm, (size_t)T, H);
  kern_axpy_f32(w->x, 1.0f, w->h, (int64_t)n);
  if (P) {
    size_t LP = (size_t)c->n_layers * (size_t)P;
    mm(w, &X->ple_gate, w->x, s->gate, T);
    for (int t = 0; t < T; t++)
      kern_gelu_tanh_mul(s->gate + (size_t)t * P, s->ple + t * LP + (size_t)l * P, P);
    mm(w, &X->ple_proj, s->gate, w->o, T);
    norm_vecs(c, w->h, w->o, X->ple_norm, (size_t)T, H);
    kern_axpy_f32(w->x, 1.0f, w->h, (int64_t)n);
  }
  if (X->layer_scalar != 1.0f) scale(w->x, n, X->layer_scalar);
}

int gemma4_forward_rows(eng_work *w, const gloam_model *m, const int32_t *tokens, int T, int n_out,
                        float *logits, float *capture, atomic_bool *cancel) {
  const model_config *c = m->cfg;
  size_t per = (size_t)T * (size_t)c->hidden;
  g4_scratch s = scratch(w, c);
  forward_embed(w, m, tokens, T);
  if (capture) memcpy(capture, w->x, sizeof(float) * per);
  if (c->g4.ple_dim) per_layer_inputs(w, m, tokens, T, &s);
  rope_tables(w, m, T);
  for (int l = 0; l < c->n_layers; l++) {
    if (cancel && atomic_exchange(cancel, false)) return GLOAM_ECANCELED;
    attention(w, m, l, T);
    feed_forward(w, m, l, T, &s);
    if (capture && l + 1 < c->n_layers) memcpy(capture + (l + 1) * per, w->x, sizeof(float) * per);
  }
  return forward_finish(w, m, T, n_out, logits, capture);
}
