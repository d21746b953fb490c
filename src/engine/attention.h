/* SPDX-License-Identifier: Apache-2.0
 *
 * engine/attention.h: causal (optionally sliding-window) grouped-query
 * attention of a step's query rows over KV caches (float32 or IEEE half).
 *
 * Row t of the step sits at position pos[t] of the cache k_rows[t] /
 * v_rows[t] (each a layer's cache [n_ctx, n_kv_heads * head_dim]; rows of
 * one prefill share one cache, rows of a continuous batch each have their
 * own) and sees cache positions max(0, pos[t] - window + 1) .. pos[t]
 * (window 0: from 0), as transformers' causal and sliding-window masks do.
 * Query head h reads KV head h / (n_heads / n_kv_heads).
 *
 * DESIGN: one task per (row, KV head) computes the scores of all query
 * heads sharing that KV head, so each cached key and value row is loaded
 * once for the group; the softmax is the online (streaming) one over chunks
 * of positions, so scratch is a fixed stack buffer whatever n_ctx is. Dot
 * products and axpys are the kernels' SIMD ones (kern_dot_f32/f16,
 * kern_axpy_f32/f16).
 *
 * Ownership: all buffers are the caller's. Thread safety: reentrant; tasks
 * run across the pool's threads.
 */
#ifndef GLOAM_ENGINE_ATTENTION_H
#define GLOAM_ENGINE_ATTENTION_H

#include <stdbool.h>
#include <stdint.h>

#include "kernels/kernels.h"

typedef struct attn_args {
  const float *q;            /* [T, n_heads * head_dim], rope applied */
  const void *const *k_rows; /* [T] the row's layer key cache */
  const void *const *v_rows; /* [T] the row's layer value cache */
  const int32_t *kv_ctx;     /* [T] positions per head in the row's caches */
  const int32_t *pos;        /* [T] the row's position */
  bool f16;                  /* caches hold f16_bits, else float */
  float *out;                /* [T, n_heads * head_dim] */
  int T;
  int n_heads, n_kv_heads, head_dim;
  int window;    /* 0: full causal */
  float scale;   /* multiplies q.k */
  float softcap; /* 0: none; else scores = softcap * tanh(scores / softcap) */
} attn_args;

void attention_run(kern_pool *pool, const attn_args *a);

#endif
