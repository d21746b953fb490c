/* SPDX-License-Identifier: Apache-2.0
 *
 * engine/moe.c: dense and routed feed-forward blocks (see moe.h).
 */
#include "engine/moe.h"

#include <math.h>
#include <string.h>

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

/* Qwen3.5-MoE: out += sigmoid(h . g) * MLP_shared(h), row by row. */
static void shared_expert(eng_work *w, enum act_fn act, const eng_layer *L, const float *h,
                          float *out, int T) {
  int64_t H = L->sh_down.rows;
  gated_mlp(w, act, &L->sh_gate, &L->sh_up, &L->sh_down, h, w->gy, T);
  mm(w, &L->sh_router, h, w->gw, T);
  for (int t = 0; t < T; t++)
    kern_axpy_f32(out + (size_t)t * H, 1.0f / (1.0f + expf(-w->gw[t])), w->gy + (size_t)t * H, H);
}

void moe_route(const float *logits, int n, int k, bool norm, float *p, int32_t *sel, float *w) {
  memcpy(p, logits, sizeof(float) * (size_t)n);
  kern_softmax(p, n);
  for (int j = 0; j < k; j++) {
    int best = -1;
    for (int e = 0; e < n; e++) {
      bool taken = false;
      for (int q = 0; q < j; q++) taken |= sel[q] == e;
      if (!taken && (best < 0 || p[e] > p[best])) best = e;
    }
    sel[j] = best;
    w[j] = p[best];
  }
  if (norm) {
    float sum = 0;
    for (int j = 0; j < k; j++) sum += w[j];
    if (sum > 0)
      for (int j = 0; j < k; j++) w[j] /= sum;
  }
}

void moe_experts(eng_work *w, const gloam_model *m, const eng_layer *L, const float *h, float *out,
                 int T) {
  const model_config *c = m->cfg;
  int E = c->n_experts, k = c->n_experts_per_tok, H = c->hidden;
  memset(out, 0, sizeof(float) * (size_t)T * H);
  for (int e = 0; e < E; e++) {
    int n = 0;
    for (int t = 0; t < T; t++)
      for (int j = 0; j < k; j++)
        if (w->sel[(size_t)t * k + j] == e) {
          w->gather[n] = t;
          w->gw[n] = w->sel_w[(size_t)t * k + j];
          memcpy(w->gx + (size_t)n * H, h + (size_t)t * H, sizeof(float) * (size_t)H);
          n++;
        }
    if (n == 0) continue;
    gated_mlp(w, c->act, &L->egate[e], &L->eup[e], &L->edown[e], w->gx, w->gy, n);
    for (int r = 0; r < n; r++)
      kern_axpy_f32(out + (size_t)w->gather[r] * H, w->gw[r], w->gy + (size_t)r * H, H);
  }
  if (L->sh_gate.data) shared_expert(w, c->act, L, h, out, T);
}

static void moe_forward(eng_work *w, const gloam_model *m, const eng_layer *L, const float *h,
                        float *out, int T) {
  const model_config *c = m->cfg;
  int E = c->n_experts, k = c->n_experts_per_tok;
  mm(w, &L->router, h, w->router, T);
  for (int t = 0; t < T; t++)
    moe_route(w->router + (size_t)t * E, E, k, c->norm_topk_prob, w->probs, w->sel + (size_t)t * k,
              w->sel_w + (size_t)t * k);
  moe_experts(w, m, L, h, out, T);
}

void ffn_forward(eng_work *w, const gloam_model *m, const eng_layer *L, const float *h, float *out,
                 int T) {
  if (L->moe)
    moe_forward(w, m, L, h, out, T);
  else
    gated_mlp(w, m->cfg->act, &L->gate, &L->up, &L->down, h, out, T);
}
