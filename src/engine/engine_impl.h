/* SPDX-License-Identifier: Apache-2.0
 *
 * engine/engine_impl.h: the engine's internal objects behind the opaque
 * handles of gloam/engine.h: a loaded model (its weights bound to the roles
 * the forward pass needs), a session (KV cache and scratch buffers) and the
 * hooks the tests use (hidden-state capture).
 *
 * DESIGN: an architecture is data (arch.h: which norms sit where, which
 * optional tensors exist); the forward pass (forward.c) is written once over
 * building blocks (rope.c, attention.c, moe.c and the kernels). Everything a
 * session needs is allocated in gloam_session_new(); the token loop only
 * reads weights and writes session buffers.
 *
 * Ownership: a gloam_model owns its model_files, its arena (float32 copies
 * of norms and biases, per-layer tables). A gloam_session borrows its model.
 * Thread safety: a model is immutable after load; a session belongs to one
 * thread, except its atomic cancel flag.
 */
#ifndef GLOAM_ENGINE_ENGINE_IMPL_H
#define GLOAM_ENGINE_ENGINE_IMPL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/arena.h"
#include "engine/arch.h"
#include "engine/model_files.h"
#include "gloam/engine.h"
#include "kernels/kernels.h"

/* A weight matrix [rows, cols] in its storage type (rows contiguous). */
typedef struct eng_mat {
  enum dtype type;
  const void *data;
  int64_t rows, cols;
} eng_mat;

typedef struct eng_layer {
  const float *attn_norm;       /* [hidden] before attention */
  const float *ffn_norm;        /* [hidden] before the MLP */
  const float *post_attn_norm;  /* [hidden] on the attention output, or NULL */
  const float *post_ffn_norm;   /* [hidden] on the MLP output, or NULL */
  const float *q_norm, *k_norm; /* [head_dim] per-head RMSNorm, or NULL */
  const float *bq, *bk, *bv;    /* biases or NULL */
  eng_mat wq, wk, wv, wo;       /* [nh*hd, hidden] [nkv*hd, hidden] x2, [hidden, nh*hd] */
  eng_mat gate, up, down;       /* dense MLP: [ffn, hidden] x2, [hidden, ffn] */
  eng_mat router;               /* MoE: [n_experts, hidden] */
  eng_mat *egate, *eup, *edown; /* MoE: [n_experts] each [moe_ffn, hidden] / [hidden, moe_ffn] */
  bool moe;
  bool sliding;
  int window; /* tokens a query sees (itself included) on sliding layers; 0: all */
} eng_layer;

/* The rope of one layer type: inverse frequencies [head_dim / 2] and the
 * factor applied to cos and sin (yarn's attention factor, else 1). */
typedef struct eng_rope {
  float *inv_freq;
  float mscale;
} eng_rope;

struct gloam_model {
  model_files *mf;
  const model_config *cfg;
  const arch_desc *arch;
  arena ar; /* everything below that is not in mf */
  eng_layer *layers;
  eng_mat embed;   /* [vocab, hidden] */
  eng_mat lm_head; /* [vocab, hidden] (the embedding when tied) */
  const float *out_norm;
  eng_rope rope_global, rope_local;
  float attn_scale; /* softmax scale of q.k */
  int n_threads;
  int64_t n_params;
  size_t n_bytes;
};

/* Upper bounds a session accepts (buffers are allocated up front). */
#define ENGINE_MAX_CTX (1 << 20)
#define ENGINE_MAX_BATCH 8192

struct gloam_session {
  gloam_model *m;
  int n_ctx, n_batch, n_past, n_threads;
  bool logits_all;
  kern_pool *pool; /* NULL when n_threads == 1 */
  atomic_bool cancel;
  size_t kv_row;  /* floats per position per layer: n_kv_heads * head_dim */
  float *k_cache; /* [n_layers, n_ctx, kv_row] */
  float *v_cache; /* [n_layers, n_ctx, kv_row] */
  /* scratch, [n_batch, ...] */
  float *x, *h, *q, *k, *v, *att, *o; /* hidden, hidden, nh*hd, kv_row x2, nh*hd, hidden */
  float *ff_a, *ff_b;                 /* [n_batch, max(ffn, moe_ffn)] */
  float *scores;                      /* [n_work, n_ctx] attention weights per worker */
  int n_work;                         /* attention work items run at once */
  float *rope_cos, *rope_sin;         /* [2 (global, local), n_batch, head_dim / 2] */
  /* MoE scratch */
  float *router;   /* [n_batch, n_experts] */
  float *probs;    /* [n_experts] */
  int32_t *sel;    /* [n_batch, n_experts_per_tok] */
  float *sel_w;    /* [n_batch, n_experts_per_tok] */
  int32_t *gather; /* [n_batch] token rows routed to one expert */
  float *gx, *gy;  /* [n_batch, hidden] gathered inputs / expert outputs */
  float *gw;       /* [n_batch] gathered routing weights */
  /* outputs */
  float *logits;  /* [logits_all ? n_batch : 1, vocab] */
  int n_logits;   /* rows valid in logits; 0: none */
  float *capture; /* test hook: [n_layers + 1, T, hidden] of the next eval */
  char err[GLOAM_ERR_LEN];
};

enum { FORWARD_LOGITS_NONE = 0, FORWARD_LOGITS_LAST = 1, FORWARD_LOGITS_ALL = 2 };

/* forward.c: runs tokens[0..T) (T <= n_batch) at positions pos0.. through the
 * model, writing K/V at those positions and, per `logits` (FORWARD_LOGITS_*),
 * the logits of no row, the last row or every row into s->logits (setting
 * s->n_logits). Returns 0 or GLOAM_ECANCELED. */
int forward_step(gloam_session *s, const int32_t *tokens, int T, int pos0, int logits);

/* Test hook: the next gloam_session_eval() (which must run in one step)
 * writes its hidden states [n_layers + 1, T, hidden] to buf, as Hugging
 * Face's output_hidden_states: embeddings, each layer's output, the last
 * entry after the final norm. buf is borrowed until that eval returns. */
void engine_session_capture_hidden(gloam_session *s, float *buf);

#endif
