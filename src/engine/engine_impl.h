/* SPDX-License-Identifier: Apache-2.0
 *
 * engine/engine_impl.h: the engine's internal objects behind the opaque
 * handles of gloam/engine.h: a loaded model (its weights bound to the roles
 * the forward pass needs), a session (KV cache and scratch buffers) and the
 * hooks the tests use (hidden-state capture).
 *
 * DESIGN: an architecture is data (arch.h: which norms sit where, which
 * optional tensors exist); the forward pass (forward.c) is written once over
 * building blocks (rope.c, attention.c, moe.c and the kernels). It runs over
 * "rows": each row is one token of some session at some position, so one
 * pass serves a prefill (many rows of one session) or a continuous batch
 * (rows of several sessions, batch.c) alike, reading every weight once per
 * step. Everything a session or batch needs is allocated when it is
 * created; the token loop only reads weights and writes their buffers.
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

/* A Gated DeltaNet (linear attention) block's weights (deltanet.h). */
typedef struct eng_deltanet {
  eng_mat qkv;      /* in_proj_qkv [2 * k_heads * k_dim + v_heads * v_dim, hidden] */
  eng_mat z, b, a;  /* in_proj_z [v_heads * v_dim, hidden], in_proj_b/a [v_heads, hidden] */
  eng_mat out;      /* out_proj [hidden, v_heads * v_dim] */
  eng_mat qkvz, ba; /* Qwen3-Next: the four fused, grouped by key head (fused = true) */
  bool fused;
  const float *conv;    /* [kernel, conv_dim] depthwise causal conv1d (transposed) */
  const float *neg_a;   /* [v_heads] -exp(A_log) */
  const float *dt_bias; /* [v_heads] */
  const float *norm;    /* [v_dim] gated RMSNorm weight (plain w, no offset) */
} eng_deltanet;

typedef struct eng_layer {
  const float *attn_norm;       /* [hidden] before attention */
  const float *ffn_norm;        /* [hidden] before the MLP */
  const float *post_attn_norm;  /* [hidden] on the attention output, or NULL */
  const float *post_ffn_norm;   /* [hidden] on the MLP output, or NULL */
  const float *q_norm, *k_norm; /* [head_dim] per-head RMSNorm (all heads: [nh*hd] /
                                   [nkv*hd] with qk_norm_whole), or NULL */
  const float *bq, *bk, *bv;    /* biases or NULL */
  eng_mat wq, wk, wv, wo;       /* [nh*hd, hidden] [nkv*hd, hidden] x2, [hidden, nh*hd] */
  eng_mat gate, up, down;       /* dense MLP: [ffn, hidden] x2, [hidden, ffn] */
  eng_mat router;               /* MoE: [n_experts, hidden] */
  const float *router_bias;     /* MoE: [n_experts] selection-only bias (moe_sigmoid), or NULL */
  eng_mat *egate, *eup, *edown; /* MoE: [n_experts] each [moe_ffn, hidden] / [hidden, moe_ffn] */

  /* Qwen3.5 / Qwen3-Next */
  eng_mat sh_gate, sh_up, sh_down; /* MoE shared expert (data NULL: none) */
  eng_mat sh_router;               /* [1, hidden]: sigmoid gate of the shared expert */
  eng_deltanet lin;                /* linear-attention layers */
  bool linear;                     /* Gated DeltaNet instead of self-attention */
  int kv_slot;                     /* index among the layers with a KV cache, or -1 */
  int lin_slot;                    /* index among the layers with a recurrent state, or -1 */

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
  int n_kv_layers;  /* layers with a KV cache (all but the linear-attention ones) */
  int n_lin_layers; /* linear-attention layers, each with a recurrent state */
  size_t lin_state; /* floats of one layer's state (deltanet.h) */

  size_t kv_per_pos;       /* cache values per position over all layers; 0: n_layers * kv_row */
  struct gemma4_model *g4; /* Gemma 4's extra weights and tables (gemma4.h), else NULL */
  int n_threads;
  int64_t n_params;
  size_t n_bytes;
  bool expert_paging; /* moe_paging.h: prefetch chosen experts, no read-around */
  size_t page_size;
};

/* Upper bounds a session accepts (buffers are allocated up front). */
#define ENGINE_MAX_CTX (1 << 20)
#define ENGINE_MAX_BATCH 8192

/* Compute scratch for one step of up to n_rows token rows, and the thread
 * pool that runs it. A session owns one for its own evaluations (n_rows =
 * n_batch); a gloam_batch owns one for the sequences it steps together.
 * Row r of a step belongs to session row_sess[r] at position pos[r]. */
/* A per-row scratch buffer: rows x row_bytes at p. */
typedef struct eng_row_buf {
  void *p;
  size_t row_bytes, rows;
} eng_row_buf;
#define ENG_ROW_BUFS 16
#define ENG_TRIM_ROWS 32 /* rows kept resident after a longer step */

typedef struct eng_work {
  int n_rows;
  kern_pool *pool; /* one thread runs its tasks inline */
  float *x, *h, *q, *k, *v, *att,
      *o;                     /* hidden, hidden, nh*hd, kv_row x2, nh*hd, max(hidden, nh*hd) */
  float *ff_a, *ff_b;         /* [n_rows, max(ffn, moe_ffn, shared_ffn)] */
  float *gate;                /* [n_rows, nh*hd] attention output gate (attn_out_gate) */
  float *lin;                 /* Gated DeltaNet scratch (deltanet_work_floats), or NULL */
  float *rope_cos, *rope_sin; /* [2 (global, local), n_rows, head_dim / 2] */
  gloam_session **row_sess;   /* [n_rows] */
  int32_t *pos;               /* [n_rows] */
  const void **krow, **vrow;  /* [n_rows] the row's layer cache (attention) */
  int32_t *kv_ctx;            /* [n_rows] the row's cache positions per head (its n_ctx) */
  int32_t *out_rows;          /* [n_rows] rows whose logits are wanted */
  int32_t *tokens;            /* [n_rows] a batch step's tokens */
  /* MoE scratch */
  float *router;   /* [n_rows, n_experts] */
  float *probs;    /* [n_experts] */
  int32_t *sel;    /* [n_rows, n_experts_per_tok] */
  float *sel_w;    /* [n_rows, n_experts_per_tok] */
  int32_t *gather; /* [n_rows] token rows routed to one expert */
  float *gx, *gy;  /* [n_rows, hidden] gathered inputs / expert outputs */
  float *gw;       /* [n_rows] gathered routing weights */
  float *ext;      /* architecture-specific scratch (gemma4.c), or NULL */

  /* MoE batched small-expert pass (moe.c): n_moe_rows token-expert pairs
   * (>= n_rows; ff_a, ff_b and gy have this many rows); moe_ord holds
   * [n_rows * k] pairs sorted by expert, [n_experts + 1] offsets and
   * [4 * n_moe_rows] slots; moe_pw [n_moe_rows] the pairs' weights. */
  int n_moe_rows;
  int32_t *moe_ord;
  float *moe_pw;

  /* the per-row buffers above that eng_work_trim shrinks */
  eng_row_buf row_bufs[ENG_ROW_BUFS];
  int n_row_bufs;
} eng_work;

/* Returns the pages of the per-row scratch beyond keep_rows rows, and the
 * pool's packed-activation scratch, to the operating system: a long prefill
 * touches n_rows rows of every buffer, decoding one; without this, resident
 * memory while decoding would keep the prefill's peak. */
void eng_work_trim(eng_work *w, int keep_rows);

/* Allocates w for n_rows rows of m with n_threads threads (a pool when > 1).
 * 0 or GLOAM_ENOMEM (w is then deinitialised). */
int eng_work_init(eng_work *w, const gloam_model *m, int n_rows, int n_threads);
void eng_work_deinit(eng_work *w);

/* Stores one position's keys or values src [nkv, hd] at position p of a
 * layer's cache region [nkv, s->n_ctx, hd] (float or f16 per s->kv_f16). */
void kv_store(void *layer_cache, const gloam_session *s, int nkv, int hd, int p, const float *src);

struct gloam_session {
  gloam_model *m;
  int n_ctx, n_batch, n_past, n_threads;
  bool logits_all;
  bool kv_f16; /* cache holds IEEE half instead of float32 */
  atomic_bool cancel;
  size_t kv_row; /* values per position per layer: n_kv_heads * head_dim */
  /* [n_kv_layers, n_kv_heads, n_ctx, head_dim] float or f16_bits: one
   * head's positions are contiguous, so attention streams them. */
  void *k_cache;
  void *v_cache;
  eng_work w; /* scratch and pool of this session's own evaluations */

  /* [n_lin_layers, lin_state]: each linear-attention layer's conv and delta
   * state (deltanet.h) */
  float *lin_state;
  /* outputs */
  float *logits;  /* [logits_all ? n_batch : 1, vocab] */
  int n_logits;   /* rows valid in logits; 0: none */
  float *capture; /* test hook: [n_layers + 1, T, hidden] of the next eval */
  char err[GLOAM_ERR_LEN];
};

/* One step of the forward pass over w->row_sess[0..T) / w->pos[0..T)
 * (filled by the caller) with tokens[0..T), T <= w->n_rows: writes each
 * row's K/V into its session's cache at its position (row r sees its
 * session's cache up to pos[r]), then the logits of the n_out rows
 * w->out_rows[0..n_out) into logits [n_out, vocab]. capture: NULL or the
 * hidden-state hook buffer. cancel: NULL or a flag checked (and consumed)
 * before every layer. Returns 0 or GLOAM_ECANCELED. Never allocates.
 * Hooks for image generation (janus_gen.c): tokens NULL takes the input
 * embeddings [T, hidden] the caller wrote into w->x; logits NULL stops after
 * the final norm, leaving the n_out normed rows [n_out, hidden] in w->o. */
int forward_rows(eng_work *w, const gloam_model *m, const int32_t *tokens, int T, int n_out,
                 float *logits, float *capture, atomic_bool *cancel);

/* The parts of forward_rows() that other passes (gemma4.c) share: the
 * scaled token embeddings into w->x; the final norm of w->x (every row into
 * the capture hook's last entry when capture is not NULL), the LM head for
 * the rows w->out_rows[0..n_out) and the final softcap. */
void forward_embed(eng_work *w, const gloam_model *m, const int32_t *tokens, int T);
int forward_finish(eng_work *w, const gloam_model *m, int T, int n_out, float *logits,
                   float *capture);
/* gloam_sampler_new() for logits of n_vocab values that are not the model's
 * vocabulary (image tokens, janus_gen.c). 0, GLOAM_EINVAL, GLOAM_ENOMEM. */
int sampler_new_vocab(gloam_sampler **out, int n_vocab, const gloam_sampler_params *params);

/* Test hook: the next gloam_session_eval() (which must run in one step)
 * writes its hidden states [n_layers + 1, T, hidden] to buf, as Hugging
 * Face's output_hidden_states: embeddings, each layer's output, the last
 * entry after the final norm. buf is borrowed until that eval returns. */
void engine_session_capture_hidden(gloam_session *s, float *buf);

#endif
