/* SPDX-License-Identifier: Apache-2.0
 *
 * engine/attention.c: see attention.h.
 *
 * A task is a block of up to ATT_MAX_Q query vectors that read the same KV
 * head of the same cache: the group's query heads of one to a few
 * consecutive rows (rows of one prefill share the cache). For each chunk of
 * ATT_CHUNK cached positions it computes all block scores (each key loaded
 * once for the block), then the online softmax update
 *   m' = max(m, max chunk); out *= exp(m - m'); l *= exp(m - m');
 *   out += sum_j exp(s_j - m') v_j;  l += sum_j exp(s_j - m')
 * and finally out /= l, which equals softmax(scores) . V. Positions a
 * query must not see (causal / window) are masked to weight 0.
 *
 * This file is the portable version (scores and values over the kernels'
 * dot/axpy, one query at a time); attention_x86.c computes whole blocks
 * with AVX-512 when the CPU has it (chosen at run time), attention_arm.c
 * with NEON on AArch64.
 */
#include "engine/attention.h"

#include <math.h>
#include <stdatomic.h>
#include <string.h>

#include "engine/attention_impl.h"

static void scores_generic(const att_block *b, int c0, int n, float sc[][ATT_CHUNK]) {
  size_t esz = b->f16 ? sizeof(f16_bits) : sizeof(float);
  for (int j = 0; j < n; j++) {
    const uint8_t *k = b->K + ((size_t)(c0 + j) * b->stride + b->off) * esz;
    for (int i = 0; i < b->nq; i++)
      sc[i][j] = b->f16 ? kern_dot_f16(b->q[i], (const f16_bits *)k, b->hd)
                        : kern_dot_f32(b->q[i], (const float *)k, b->hd);
  }
}

static void values_generic(const att_block *b, int c0, int n, float sc[][ATT_CHUNK]) {
  size_t esz = b->f16 ? sizeof(f16_bits) : sizeof(float);
  for (int j = 0; j < n; j++) {
    const uint8_t *v = b->V + ((size_t)(c0 + j) * b->stride + b->off) * esz;
    for (int i = 0; i < b->nq; i++) {
      if (sc[i][j] == 0.0f) continue;
      if (b->f16)
        kern_axpy_f16(b->out[i], sc[i][j], (const f16_bits *)v, b->hd);
      else
        kern_axpy_f32(b->out[i], sc[i][j], (const float *)v, b->hd);
    }
  }
}

/* Online softmax of one query over a chunk of n raw scores sc[0..n), of
 * which [j0, j1) are visible: scales them (and applies softcap > 0), raises
 * the running max *mx, rescales the running *sum to it, writes the weights
 * exp(s - *mx) (0 where masked) into sc and adds them to *sum. Returns the
 * factor the query's output must be multiplied by (1 when *mx did not move). */
static float softmax_chunk(float *sc, int n, int j0, int j1, float scale, float softcap, float *mx,
                           float *sum) {
  float cm = *mx, r = 1.0f;
  for (int j = j0; j < j1; j++) {
    float s = sc[j] * scale;
    if (softcap > 0) s = softcap * tanhf(s / softcap);
    sc[j] = s;
    cm = s > cm ? s : cm;
  }
  if (cm > *mx) {
    if (*sum > 0) {
      r = expf(*mx - cm);
      *sum *= r;
    }
    *mx = cm;
  }
  float s = 0;
  for (int j = 0; j < n; j++) {
    float p = j >= j0 && j < j1 ? expf(sc[j] - *mx) : 0.0f;
    sc[j] = p;
    s += p;
  }
  *sum += s;
  return r;
}

static atomic_bool g_generic_only;

void attention_force_generic(bool on) {
  atomic_store(&g_generic_only, on);
}

static void run_block(const att_block *b, float scale, float softcap) {
  if (!atomic_load_explicit(&g_generic_only, memory_order_relaxed) &&
      attention_block_simd(b, scale, softcap))
    return;
  float sc[ATT_MAX_Q][ATT_CHUNK];
  float mx[ATT_MAX_Q], sum[ATT_MAX_Q];
  int lo = b->first[0], hi = b->last[0];
  for (int i = 0; i < b->nq; i++) {
    memset(b->out[i], 0, sizeof(float) * (size_t)b->hd);
    mx[i] = -INFINITY;
    sum[i] = 0;
    lo = b->first[i] < lo ? b->first[i] : lo;
    hi = b->last[i] > hi ? b->last[i] : hi;
  }
  for (int c0 = lo; c0 <= hi; c0 += ATT_CHUNK) {
    int n = hi + 1 - c0 < ATT_CHUNK ? hi + 1 - c0 : ATT_CHUNK;
    scores_generic(b, c0, n, sc);
    for (int i = 0; i < b->nq; i++) {
      int j0 = b->first[i] - c0, j1 = b->last[i] + 1 - c0; /* visible [j0, j1) */
      if (j0 < 0) j0 = 0;
      if (j1 > n) j1 = n;
      float r = softmax_chunk(sc[i], n, j0, j1, scale, softcap, &mx[i], &sum[i]);
      if (r != 1.0f)
        for (int d = 0; d < b->hd; d++) b->out[i][d] *= r;
    }
    values_generic(b, c0, n, sc);
  }
  for (int i = 0; i < b->nq; i++) {
    float inv = sum[i] > 0 ? 1.0f / sum[i] : 0.0f;
    for (int d = 0; d < b->hd; d++) b->out[i][d] *= inv;
  }
}

/* Rows per task: as many as fit ATT_MAX_Q query vectors with the group. */
static int rows_per_task(const attn_args *a) {
  int group = a->n_heads / a->n_kv_heads;
  int r = ATT_MAX_Q / group;
  return r < 1 ? 1 : r;
}

static void attn_task(void *ctx, int i, int n) {
  (void)n;
  const attn_args *a = ctx;
  int hd = a->head_dim, group = a->n_heads / a->n_kv_heads, R = rows_per_task(a);
  /* head-major task order: one thread's consecutive tasks reread the same
   * head's cache while it is still in L2 */
  int n_blocks = (a->T + R - 1) / R;
  int g = i / n_blocks, t0 = (i % n_blocks) * R;
  int t1 = t0 + R < a->T ? t0 + R : a->T;
  size_t q_row = (size_t)a->n_heads * hd;
  for (int t = t0; t < t1;) {
    /* rows t .. te - 1 share one cache */
    int te = t + 1;
    while (te < t1 && a->k_rows[te] == a->k_rows[t]) te++;
    for (int h = 0; h < group;) {
      att_block b = {.K = a->k_rows[t],
                     .V = a->v_rows[t],
                     .stride = (size_t)hd,
                     .off = (size_t)g * (size_t)a->kv_ctx[t] * hd,
                     .hd = hd,
                     .f16 = a->f16};
      int h_end = h;
      for (int r = t; r < te && b.nq < ATT_MAX_Q; r++) {
        for (h_end = h; h_end < group && b.nq < ATT_MAX_Q; h_end++) {
          size_t off = (size_t)r * q_row + (size_t)(g * group + h_end) * hd;
          b.q[b.nq] = a->q + off;
          b.out[b.nq] = a->out + off;
          b.last[b.nq] = a->pos[r];
          b.first[b.nq] =
              a->window > 0 && a->pos[r] - a->window + 1 > 0 ? a->pos[r] - a->window + 1 : 0;
          b.nq++;
        }
        if (group > ATT_MAX_Q) break; /* one row's heads in several blocks */
      }
      run_block(&b, a->scale, a->softcap);
      if (group > ATT_MAX_Q) {
        h = h_end;
      } else {
        h = group;
      }
    }
    t = te;
  }
}

void attention_run(kern_pool *pool, const attn_args *a) {
  int R = rows_per_task(a);
  int total = ((a->T + R - 1) / R) * a->n_kv_heads;
  if (pool == NULL || total == 1) {
    for (int i = 0; i < total; i++) attn_task((void *)a, i, total);
    return;
  }
  kern_pool_run(pool, attn_task, (void *)a, total);
}
