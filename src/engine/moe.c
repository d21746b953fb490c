/* SPDX-License-Identifier: Apache-2.0
 *
 * engine/moe.c: dense and routed feed-forward blocks (see moe.h).
 *
 * DESIGN (routed experts): after routing, the step's token-expert pairs are
 * sorted by expert (a counting sort), so a layer reads only the experts
 * some token chose, each once per step. An expert chosen by many tokens
 * (prefill) runs as one gated MLP over its gathered rows, each matmul split
 * across the pool. Experts chosen by at most MOE_SMALL tokens (decode, and
 * the long tail of a prefill) run together in one batched pass: one pool
 * dispatch computes gate and up of every such pair, split into tasks of
 * (expert, matrix, block of weight rows), a second computes down the same
 * way. So a decode layer's experts cost two dispatches instead of three
 * matmuls per expert, and every thread has work even when each expert sees a
 * single token (a [768, 2048] expert matrix alone is too small to keep many
 * threads busy between synchronisations).
 */
#include "engine/moe.h"

#include <math.h>
#include <string.h>

#include "engine/moe_paging.h"

#ifndef MOE_SMALL   /* -DMOE_SMALL=0 turns the batched pass off (A/B benchmarks) */
#define MOE_SMALL 4 /* experts with at most this many tokens are batched */
#endif
#define MOE_MIN_CHUNK 16 /* weight rows per task at least (X is re-converted per task) */
#define MOE_TASKS_PER_THREAD 4

static void act_mul(enum act_fn act, float *a, const float *b, int64_t n) {
  if (act == ACT_GELU_TANH)
    kern_gelu_tanh_mul(a, b, n);
  else
    kern_silu_mul(a, b, n);
}

static void mm(eng_work *w, const eng_mat *m, const float *x, float *y, int T) {
  kern_matmul(w->pool, m->type, m->data, x, y, T, m->rows, m->cols);
}

/* y = down(act(gate x) * up x) over T rows. */
static void gated_mlp(eng_work *w, enum act_fn act, const eng_mat *gate, const eng_mat *up,
                      const eng_mat *down, const float *x, float *y, int T) {
  int64_t ff = gate->rows;
  mm(w, gate, x, w->ff_a, T);
  mm(w, up, x, w->ff_b, T);
  act_mul(act, w->ff_a, w->ff_b, (int64_t)T * ff);
  mm(w, down, w->ff_a, y, T);
}

/* sel[k] = the k best of score[e] (+ bias[e] when bias), best first, ties
 * to the lower index. */
static void top_k(const float *score, const float *bias, int n, int k, int32_t *sel) {
  for (int j = 0; j < k; j++) {
    int best = -1;
    float best_v = 0;
    for (int e = 0; e < n; e++) {
      float v = bias ? score[e] + bias[e] : score[e];
      if (best >= 0 && !(v > best_v)) continue;
      bool taken = false;
      for (int q = 0; q < j && !taken; q++) taken = sel[q] == e;
      if (!taken) {
        best = e;
        best_v = v;
      }
    }
    sel[j] = best;
  }
}

/* Qwen3.5-MoE: out += sigmoid(h . g) * MLP_shared(h), row by row. */
static void shared_expert(eng_work *w, enum act_fn act, const eng_layer *L, const float *h,
                          float *out, int T) {
  int64_t H = L->sh_down.rows;
  gated_mlp(w, act, &L->sh_gate, &L->sh_up, &L->sh_down, h, w->gy, T);
  mm(w, &L->sh_router, h, w->gw, T);
  for (int t = 0; t < T; t++)
    kern_axpy_f32(out + (size_t)t * H, 1.0f / (1.0f + expf(-w->gw[t])), w->gy + (size_t)t * H, H);
}

static void gather_weights(const float *p, const int32_t *sel, int k, bool norm, float *w) {
  float sum = 0;
  for (int j = 0; j < k; j++) sum += w[j] = p[sel[j]];
  if (norm && sum > 0)
    for (int j = 0; j < k; j++) w[j] /= sum;
}

void moe_route(const float *logits, int n, int k, bool norm, float *p, int32_t *sel, float *w) {
  memcpy(p, logits, sizeof(float) * (size_t)n);
  kern_softmax(p, n);
  top_k(p, NULL, n, k, sel);
  gather_weights(p, sel, k, norm, w);
}

void moe_route_sigmoid(const float *logits, const float *bias, int n, int k, float *p, int32_t *sel,
                       float *w) {
  for (int e = 0; e < n; e++) p[e] = 1.0f / (1.0f + expf(-logits[e]));
  top_k(p, bias, n, k, sel);
  gather_weights(p, sel, k, true, w);
}

/* The batched pass over experts with few tokens: slot s is expert slot_e[s]
 * with pairs [slot_p0[s], slot_p0[s] + slot_n[s]); pair p is token row
 * tok[p] of h. Outputs: a, b [n_pairs, F] (gate, up), y [n_pairs, H]. */
typedef struct moe_small {
  const eng_layer *L;
  const float *h;
  const int32_t *tok, *slot_e, *slot_p0, *slot_n;
  float *a, *b, *y;
  int H, F, n_slots, chunk_up, n_up, chunk_down, n_down;
} moe_small;

/* Rows [r0, r0 + n) of W times one activation row x into y[0..n). */
static void mat_rows(const eng_mat *W, int64_t r0, int64_t n, const float *x, float *y) {
  const uint8_t *base = (const uint8_t *)W->data + (size_t)r0 * dtype_row_bytes(W->type, W->cols);
  kern_matmul(NULL, W->type, base, x, y, 1, n, W->cols);
}

static void small_up_task(void *ctx, int i, int n) {
  (void)n;
  const moe_small *j = ctx;
  int s = i / (2 * j->n_up), mat = (i / j->n_up) % 2, e = j->slot_e[s];
  int64_t r0 = (int64_t)(i % j->n_up) * j->chunk_up;
  int64_t rows = j->F - r0 < j->chunk_up ? j->F - r0 : j->chunk_up;
  const eng_mat *W = mat ? &j->L->eup[e] : &j->L->egate[e];
  float *out = mat ? j->b : j->a;
  for (int p = j->slot_p0[s]; p < j->slot_p0[s] + j->slot_n[s]; p++)
    mat_rows(W, r0, rows, j->h + (size_t)j->tok[p] * j->H, out + (size_t)p * j->F + r0);
}

static void small_down_task(void *ctx, int i, int n) {
  (void)n;
  const moe_small *j = ctx;
  int s = i / j->n_down, e = j->slot_e[s];
  int64_t r0 = (int64_t)(i % j->n_down) * j->chunk_down;
  int64_t rows = j->H - r0 < j->chunk_down ? j->H - r0 : j->chunk_down;
  for (int p = j->slot_p0[s]; p < j->slot_p0[s] + j->slot_n[s]; p++)
    mat_rows(&j->L->edown[e], r0, rows, j->a + (size_t)p * j->F, j->y + (size_t)p * j->H + r0);
}

/* Rows per task so that n_slots * per matrices of `rows` rows make about
 * MOE_TASKS_PER_THREAD tasks per thread. */
static int chunk_rows(int n_threads, int n_mats, int rows) {
  if (n_threads <= 1) return rows;
  int64_t want = (int64_t)n_threads * MOE_TASKS_PER_THREAD;
  int64_t c = ((int64_t)n_mats * rows + want - 1) / want;
  if (c < MOE_MIN_CHUNK) c = MOE_MIN_CHUNK;
  return c < rows ? (int)c : rows;
}

static void small_run(eng_work *w, moe_small *j, enum act_fn act, const float *pw, int n_pairs,
                      float *out) {
  if (j->n_slots == 0) return;
  int nt = kern_pool_threads(w->pool);
  j->chunk_up = chunk_rows(nt, 2 * j->n_slots, j->F);
  j->n_up = (j->F + j->chunk_up - 1) / j->chunk_up;
  j->chunk_down = chunk_rows(nt, j->n_slots, j->H);
  j->n_down = (j->H + j->chunk_down - 1) / j->chunk_down;
  kern_pool_run(w->pool, small_up_task, j, j->n_slots * 2 * j->n_up);
  act_mul(act, j->a, j->b, (int64_t)n_pairs * j->F);
  kern_pool_run(w->pool, small_down_task, j, j->n_slots * j->n_down);
  for (int p = 0; p < n_pairs; p++)
    kern_axpy_f32(out + (size_t)j->tok[p] * j->H, pw[p], j->y + (size_t)p * j->H, j->H);
  j->n_slots = 0;
}

/* Sorts the T * k pairs (t * k + j) by expert into ord; eoff[e] .. eoff[e+1]
 * are expert e's (stable: ascending token order). */
static void sort_pairs(const int32_t *sel, int n_pairs, int E, int32_t *ord, int32_t *eoff) {
  memset(eoff, 0, sizeof(int32_t) * (size_t)(E + 1));
  for (int p = 0; p < n_pairs; p++) eoff[sel[p]]++;
  for (int e = 1; e < E; e++) eoff[e] += eoff[e - 1];
  for (int p = n_pairs - 1; p >= 0; p--) ord[--eoff[sel[p]]] = p;
  eoff[E] = n_pairs;
}

void moe_experts(eng_work *w, const gloam_model *m, const eng_layer *L, const float *h, float *out,
                 int T) {
  const model_config *c = m->cfg;
  int E = c->n_experts, k = c->n_experts_per_tok, H = c->hidden, G = w->n_moe_rows;
  int32_t *ord = w->moe_ord, *eoff = ord + (size_t)w->n_rows * k;
  int32_t *slots = eoff + E + 1;
  sort_pairs(w->sel, T * k, E, ord, eoff);
  moe_paging_prefetch(m, L, eoff);
  memset(out, 0, sizeof(float) * (size_t)T * H);
  /* experts with many tokens: one gathered MLP each */
  for (int e = 0; e < E; e++) {
    int n = eoff[e + 1] - eoff[e];
    if (n <= MOE_SMALL) continue;
    for (int r = 0; r < n; r++) {
      int p = ord[eoff[e] + r];
      w->gather[r] = p / k;
      w->gw[r] = w->sel_w[p];
      memcpy(w->gx + (size_t)r * H, h + (size_t)(p / k) * H, sizeof(float) * (size_t)H);
    }
    gated_mlp(w, c->act, &L->egate[e], &L->eup[e], &L->edown[e], w->gx, w->gy, n);
    for (int r = 0; r < n; r++)
      kern_axpy_f32(out + (size_t)w->gather[r] * H, w->gw[r], w->gy + (size_t)r * H, H);
  }

  /* experts with few tokens: batched, up to G pairs per pass */
  moe_small j = {.L = L,
                 .h = h,
                 .tok = slots + 3 * (size_t)G,
                 .slot_e = slots,
                 .slot_p0 = slots + G,
                 .slot_n = slots + 2 * (size_t)G,
                 .a = w->ff_a,
                 .b = w->ff_b,
                 .y = w->gy,
                 .H = H,
                 .F = c->moe_ffn_hidden};
  int32_t *tok = slots + 3 * (size_t)G, *se = slots, *sp0 = slots + G, *sn = slots + 2 * (size_t)G;
  int n_pairs = 0;
  for (int e = 0; e < E; e++) {
    int n = eoff[e + 1] - eoff[e];
    if (n == 0 || n > MOE_SMALL) continue;
    if (n_pairs + n > G) {
      small_run(w, &j, c->act, w->moe_pw, n_pairs, out);
      n_pairs = 0;
    }
    se[j.n_slots] = e;
    sp0[j.n_slots] = n_pairs;
    sn[j.n_slots] = n;
    j.n_slots++;
    for (int r = 0; r < n; r++, n_pairs++) {
      int p = ord[eoff[e] + r];
      tok[n_pairs] = p / k;
      w->moe_pw[n_pairs] = w->sel_w[p];
    }
  }
  small_run(w, &j, c->act, w->moe_pw, n_pairs, out);
  if (L->sh_gate.data) shared_expert(w, c->act, L, h, out, T);
}

static void moe_forward(eng_work *w, const gloam_model *m, const eng_layer *L, const float *h,
                        float *out, int T) {
  const model_config *c = m->cfg;
  int E = c->n_experts, k = c->n_experts_per_tok;
  mm(w, &L->router, h, w->router, T);
  for (int t = 0; t < T; t++) {
    const float *lg = w->router + (size_t)t * E;
    int32_t *sel = w->sel + (size_t)t * k;
    float *sw = w->sel_w + (size_t)t * k;
    if (c->moe_sigmoid)
      moe_route_sigmoid(lg, L->router_bias, E, k, w->probs, sel, sw);
    else
      moe_route(lg, E, k, c->norm_topk_prob, w->probs, sel, sw);
  }
  moe_experts(w, m, L, h, out, T);
}

void ffn_forward(eng_work *w, const gloam_model *m, const eng_layer *L, const float *h, float *out,
                 int T) {
  if (L->moe)
    moe_forward(w, m, L, h, out, T);
  else
    gated_mlp(w, m->cfg->act, &L->gate, &L->up, &L->down, h, out, T);
}
