/* SPDX-License-Identifier: Apache-2.0
 *
 * engine/moe.c: dense and routed feed-forward blocks (see moe.h).
 */
#include "engine/moe.h"

#include <string.h>

static void act_mul(enum act_fn act, float *a, const float *b, int64_t n) {
  if (act == ACT_GELU_TANH)
    kern_gelu_tanh_mul(a, b, n);
  else
    kern_silu_mul(a, b, n);
}

static void mm(gloam_session *s, const eng_mat *w, const float *x, float *y, int T) {
  kern_matmul(s->pool, w->type, w->data, x, y, T, w->rows, w->cols);
}

/* y = down(act(gate x) * up x) over T rows. */
static void gated_mlp(gloam_session *s, const eng_mat *gate, const eng_mat *up, const eng_mat *down,
                      const float *x, float *y, int T) {
  int64_t ff = gate->rows;
  mm(s, gate, x, s->ff_a, T);
  mm(s, up, x, s->ff_b, T);
  act_mul(s->m->cfg->act, s->ff_a, s->ff_b, (int64_t)T * ff);
  mm(s, down, s->ff_a, y, T);
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

static void moe_forward(gloam_session *s, const eng_layer *L, const float *h, float *out, int T) {
  const model_config *c = s->m->cfg;
  int E = c->n_experts, k = c->n_experts_per_tok, H = c->hidden;
  mm(s, &L->router, h, s->router, T);
  for (int t = 0; t < T; t++)
    moe_route(s->router + (size_t)t * E, E, k, c->norm_topk_prob, s->probs, s->sel + (size_t)t * k,
              s->sel_w + (size_t)t * k);
  memset(out, 0, sizeof(float) * (size_t)T * H);
  for (int e = 0; e < E; e++) {
    int n = 0;
    for (int t = 0; t < T; t++)
      for (int j = 0; j < k; j++)
        if (s->sel[(size_t)t * k + j] == e) {
          s->gather[n] = t;
          s->gw[n] = s->sel_w[(size_t)t * k + j];
          memcpy(s->gx + (size_t)n * H, h + (size_t)t * H, sizeof(float) * (size_t)H);
          n++;
        }
    if (n == 0) continue;
    gated_mlp(s, &L->egate[e], &L->eup[e], &L->edown[e], s->gx, s->gy, n);
    for (int r = 0; r < n; r++)
      kern_axpy_f32(out + (size_t)s->gather[r] * H, s->gw[r], s->gy + (size_t)r * H, H);
  }
}

void ffn_forward(gloam_session *s, const eng_layer *L, const float *h, float *out, int T) {
  if (L->moe)
    moe_forward(s, L, h, out, T);
  else
    gated_mlp(s, &L->gate, &L->up, &L->down, h, out, T);
}
