/* SPDX-License-Identifier: Apache-2.0
 *
 * engine/attention.h: causal (optionally sliding-window) grouped-query
 * attention of a step's queries over a layer's KV cache, in float32.
 *
 * Query t of the step sits at position pos0 + t and sees cache positions
 * max(0, pos0 + t - window + 1) .. pos0 + t (window 0: from 0), as
 * transformers' causal and sliding-window masks do. Query head h reads KV
 * head h / (n_heads / n_kv_heads).
 *
 * Ownership: all buffers are the caller's. Thread safety: reentrant; the
 * work is split over the pool's threads, each with its own scores row.
 */
#ifndef GLOAM_ENGINE_ATTENTION_H
#define GLOAM_ENGINE_ATTENTION_H

#include "kernels/kernels.h"

typedef struct attn_args {
  const float *q;     /* [T, n_heads * head_dim], rope applied */
  const float *k, *v; /* the layer's cache [n_ctx, n_kv_heads * head_dim] */
  float *out;         /* [T, n_heads * head_dim] */
  float *scores;      /* [n_work, n_ctx] scratch */
  int n_work;         /* work items (scores rows) */
  int T, pos0;
  int n_heads, n_kv_heads, head_dim;
  int window;    /* 0: full causal */
  float scale;   /* multiplies q.k */
  float softcap; /* 0: none; else scores = softcap * tanh(scores / softcap) */
} attn_args;

void attention_run(kern_pool *pool, const attn_args *a);

#endif
