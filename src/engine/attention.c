/* SPDX-License-Identifier: Apache-2.0
 *
 * engine/attention.c: see attention.h. Scores, softmax and the weighted sum
 * of values use the kernels' dot/softmax/axpy so SIMD versions apply.
 */
#include "engine/attention.h"

#include <math.h>
#include <string.h>

static void attn_one(const attn_args *a, int t, int h, float *sc) {
  int hd = a->head_dim, group = a->n_heads / a->n_kv_heads;
  size_t q_row = (size_t)a->n_heads * hd, kv_row = (size_t)a->n_kv_heads * hd;
  const float *q = a->q + (size_t)t * q_row + (size_t)h * hd;
  float *out = a->out + (size_t)t * q_row + (size_t)h * hd;
  size_t kv_off = (size_t)(h / group) * hd;
  int last = a->pos0 + t;
  int first = 0;
  if (a->window > 0 && last - a->window + 1 > 0) first = last - a->window + 1;
  int n = last - first + 1;
  for (int j = 0; j < n; j++) {
    float s = kern_dot_f32(q, a->k + (size_t)(first + j) * kv_row + kv_off, hd) * a->scale;
    if (a->softcap > 0) s = a->softcap * tanhf(s / a->softcap);
    sc[j] = s;
  }
  kern_softmax(sc, n);
  memset(out, 0, sizeof(float) * (size_t)hd);
  for (int j = 0; j < n; j++)
    kern_axpy_f32(out, sc[j], a->v + (size_t)(first + j) * kv_row + kv_off, hd);
}

static void attn_work(void *ctx, int i, int n) {
  const attn_args *a = ctx;
  int total = a->T * a->n_heads;
  /* scores row per work item: the number of items equals n_work */
  float *sc = a->scores + (size_t)i * (size_t)(a->pos0 + a->T);
  for (int p = i; p < total; p += n) attn_one(a, p / a->n_heads, p % a->n_heads, sc);
}

void attention_run(kern_pool *pool, const attn_args *a) {
  int total = a->T * a->n_heads;
  int n = a->n_work < total ? a->n_work : total;
  if (n < 1) n = 1;
  if (pool == NULL || n == 1) {
    for (int i = 0; i < n; i++) attn_work((void *)a, i, n);
    return;
  }
  kern_pool_run(pool, attn_work, (void *)a, n);
}
