/* SPDX-License-Identifier: Apache-2.0
 *
 * gloam/engine.h: gloam's inference engine. Load a transformer language
 * model (a Hugging Face directory or a GGUF file), open sessions on it, each
 * with its own KV cache, evaluate tokens, read logits and sample.
 *
 * Usage:
 *
 *   gloam_model *m;
 *   char err[GLOAM_ERR_LEN];
 *   gloam_model_params mp = gloam_model_default_params();
 *   mp.quantize = GLOAM_QUANT_Q8_0;                 // optional
 *   if (gloam_model_load(&m, "/models/qwen3-0.6b", &mp, err) < 0) die(err);
 *
 *   gloam_session *s;
 *   gloam_session_params sp = gloam_session_default_params();
 *   sp.n_ctx = 4096;
 *   if (gloam_session_new(&s, m, &sp) < 0) die("no memory");
 *
 *   gloam_sampler *smp;
 *   gloam_sampler_params pp = gloam_sampler_default_params();
 *   pp.temperature = 0.7f; pp.top_p = 0.9f; pp.seed = 42;
 *   gloam_sampler_new(&smp, m, &pp);
 *
 *   int rc = gloam_session_eval(s, prompt, n_prompt);      // prefill
 *   while (rc == 0 && n_out < max) {
 *     int32_t tok;
 *     gloam_sampler_sample(smp, gloam_session_logits(s), &tok, NULL);
 *     if (gloam_model_is_eog(m, tok)) break;
 *     emit(tok);
 *     rc = gloam_session_eval(s, &tok, 1);                 // decode
 *   }
 *   if (rc < 0) fprintf(stderr, "%s\n", gloam_session_errmsg(s));
 *   gloam_sampler_free(smp); gloam_session_free(s); gloam_model_free(m);
 *
 * Ownership: whoever calls *_new / *_load frees with the matching *_free;
 * *_free(NULL) is a no-op. A model must outlive every session and sampler
 * made from it.
 *
 * Threads: a model is immutable after loading and may be shared by any
 * number of threads and sessions. A session or a sampler is used by one
 * thread at a time, except gloam_session_cancel(), which any thread may call
 * at any time. Each session owns its compute threads (n_threads) and all its
 * buffers (KV cache, activations, logits), allocated once in
 * gloam_session_new(); evaluation never allocates.
 *
 * Errors: functions return 0 or a negative GLOAM_E* code (gloam/err.h);
 * detail text is in gloam_session_errmsg() / gloam_sampler_errmsg(), or in
 * the caller's err buffer for gloam_model_load().
 */
#ifndef GLOAM_ENGINE_H
#define GLOAM_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gloam/err.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct gloam_model gloam_model;
typedef struct gloam_session gloam_session;
typedef struct gloam_sampler gloam_sampler;

/* ---------------------------------------------------------------- models */

enum gloam_quant {
  GLOAM_QUANT_NONE = 0, /* keep the file's types */
  GLOAM_QUANT_Q8_0 = 1, /* quantize float weight matrices to Q8_0 on load */
  GLOAM_QUANT_Q4_0 = 2, /* ... to Q4_0 */
};

typedef struct gloam_model_params {
  const char *config_name; /* config file in a model directory; NULL: "config.json"
                              (e.g. "config.v4.json"); ignored for .gguf */
  enum gloam_quant quantize;
  int n_threads; /* default compute threads of new sessions; <= 0: 1 */
} gloam_model_params;

/* Defaults: config.json, no quantization, 1 thread. Thread-safe. */
GLOAM_API gloam_model_params gloam_model_default_params(void);

/* Loads a model. path: a Hugging Face directory (config.json +
 * model.safetensors or sharded model.safetensors.index.json) or a .gguf
 * file. Weights are memory-mapped (or converted once when quantizing).
 * OUT: *out, owned by the caller (gloam_model_free). params may be NULL.
 * err: NULL or GLOAM_ERR_LEN bytes, filled with detail text on failure.
 *
 *   0                   loaded
 *   GLOAM_EINVAL        NULL out/path or bad params
 *   GLOAM_ENOENT        no such file, or a required tensor is missing
 *   GLOAM_EIO           read or mmap failed
 *   GLOAM_EFORMAT       malformed or hostile file, shapes that do not fit
 *                       the configuration
 *   GLOAM_EUNSUPPORTED  architecture, dtype or rope type not supported
 *   GLOAM_ENOMEM        out of memory
 * Thread-safe (touches no shared state). */
GLOAM_API int gloam_model_load(gloam_model **out, const char *path,
                               const gloam_model_params *params, char *err);
GLOAM_API void gloam_model_free(gloam_model *m);

/* Metadata. All are thread-safe and return values valid for the model's
 * lifetime. */
GLOAM_API const char *gloam_model_arch(const gloam_model *m);   /* "llama", "qwen2", "qwen3",
                                                                    "qwen3_moe", "gemma3",
                                                                    "minimax_m2" */
GLOAM_API const char *gloam_model_format(const gloam_model *m); /* "safetensors" | "gguf" */
GLOAM_API int gloam_model_n_vocab(const gloam_model *m);
GLOAM_API int gloam_model_n_ctx_train(const gloam_model *m); /* max_position_embeddings */
GLOAM_API int gloam_model_n_layers(const gloam_model *m);
GLOAM_API int gloam_model_n_embd(const gloam_model *m); /* hidden size */
GLOAM_API int gloam_model_n_heads(const gloam_model *m);
GLOAM_API int gloam_model_n_kv_heads(const gloam_model *m);
GLOAM_API int gloam_model_head_dim(const gloam_model *m);
GLOAM_API int gloam_model_n_ff(const gloam_model *m);      /* intermediate size */
GLOAM_API int gloam_model_n_experts(const gloam_model *m); /* 0: dense */
GLOAM_API int gloam_model_n_experts_used(const gloam_model *m);
GLOAM_API int gloam_model_n_tensors(const gloam_model *m);
GLOAM_API int64_t gloam_model_n_params(const gloam_model *m);  /* weights, elements */
GLOAM_API size_t gloam_model_size_bytes(const gloam_model *m); /* weights, bytes */
/* What one decode token reads: every layer matrix once, routed experts
 * counted n_experts_used / n_experts of them, the LM head (norms, biases
 * and the embedding rows left out); bytes as stored, and elements. */
GLOAM_API size_t gloam_model_active_bytes(const gloam_model *m);
GLOAM_API int64_t gloam_model_n_active_params(const gloam_model *m);
/* Token ids; -1 when the model does not define one. */
GLOAM_API int32_t gloam_model_bos(const gloam_model *m);
GLOAM_API int32_t gloam_model_eos(const gloam_model *m); /* the first eos id */
/* Whether tok ends generation (any of the model's eos ids). */
GLOAM_API bool gloam_model_is_eog(const gloam_model *m, int32_t tok);
/* The directory of a Hugging Face model (where tokenizer.json lives) or the
 * path of the .gguf. */
GLOAM_API const char *gloam_model_path(const gloam_model *m);

/* -------------------------------------------------------------- sessions */

typedef struct gloam_session_params {
  int n_ctx;       /* KV cache length in tokens; <= 0: the model's n_ctx_train,
                      capped at 4096 */
  int n_batch;     /* most tokens computed together in one step; longer
                      evaluations run in steps; <= 0: 512 */
  int n_threads;   /* compute threads; <= 0: the model's default */
  bool logits_all; /* keep the logits of every position of the last
                      gloam_session_eval() (then n_tokens <= n_batch) */
  bool kv_f16;     /* store the KV cache as IEEE half (half the memory and
                      bandwidth of float32; logits change by rounding,
                      ~2e-4 of the logit scale on the fixtures) */
} gloam_session_params;

/* Defaults: n_ctx 0 (model's, capped), n_batch 512, n_threads 0,
 * logits_all false, kv_f16 true (as llama.cpp's default f16 cache: decode
 * reads the whole cache every token). Thread-safe. */
GLOAM_API gloam_session_params gloam_session_default_params(void);

/* Creates a session on m with an empty KV cache; every buffer it will use is
 * allocated here. OUT: *out. params may be NULL. The session borrows m.
 *   0, GLOAM_EINVAL (NULL arguments, n_ctx above the engine's limit),
 *   GLOAM_ENOMEM.
 * Thread-safe with respect to m (other threads may use m meanwhile). */
GLOAM_API int gloam_session_new(gloam_session **out, gloam_model *m,
                                const gloam_session_params *params);
/* Frees the session. Not concurrently with any other call on s. */
GLOAM_API void gloam_session_free(gloam_session *s);

/* Evaluates n_tokens tokens at positions n_past .. n_past + n_tokens - 1,
 * appending their keys and values to the cache (prefill when n_tokens > 1,
 * decode when 1). Afterwards the logits of the last position are available,
 * and those of every position when the session has logits_all.
 * tokens: borrowed for the call.
 *   0                   evaluated; n_past advanced by n_tokens
 *   GLOAM_EINVAL        NULL tokens, n_tokens <= 0, a token id outside
 *                       [0, n_vocab)
 *   GLOAM_ERANGE        the cache would overflow n_ctx, or logits_all and
 *                       n_tokens > n_batch
 *   GLOAM_ECANCELED     gloam_session_cancel() was called (before or during
 *                       the call); the request is consumed
 * On any error the cache is as it was before the call (n_past unchanged)
 * and the logits are undefined. Never allocates. */
GLOAM_API int gloam_session_eval(gloam_session *s, const int32_t *tokens, int n_tokens);

/* The logits [n_vocab] of the last evaluated position; NULL before the first
 * successful evaluation. Valid until the next eval, reset, truncate or free. */
GLOAM_API const float *gloam_session_logits(const gloam_session *s);
/* With logits_all: [*out_n, n_vocab], row i for the i-th token of the last
 * eval; NULL otherwise. Same validity as gloam_session_logits(). */
GLOAM_API const float *gloam_session_logits_all(const gloam_session *s, int *out_n);

GLOAM_API int gloam_session_n_past(const gloam_session *s); /* tokens in the cache */
GLOAM_API int gloam_session_n_ctx(const gloam_session *s);
/* Empties the cache. */
GLOAM_API void gloam_session_reset(gloam_session *s);
/* Keeps the first n_keep cached tokens and drops the rest, so generation can
 * resume from a shared prefix. 0, or GLOAM_ERANGE if n_keep is negative or
 * more than n_past. */
GLOAM_API int gloam_session_truncate(gloam_session *s, int n_keep);

/* Asks the evaluation in progress on s (or, if none is, the next one) to
 * stop: it returns GLOAM_ECANCELED at the next check (between layers and
 * steps), which consumes the request. Thread-safe and async-signal-safe. */
GLOAM_API void gloam_session_cancel(gloam_session *s);

/* Detail text of the last error on s; "" if none. Valid until the next call
 * on s. */
GLOAM_API const char *gloam_session_errmsg(const gloam_session *s);

/* ---------------------------------------------------- continuous batching */

/* A batch steps several sessions of one model together: one forward pass
 * over all their new tokens, so every weight is read once per step for all
 * of them (serving n users costs about as much memory traffic as serving
 * one). Sequences join and leave freely between steps: each step names the
 * sessions it advances, each with its own KV cache and position.
 *
 *   gloam_batch *b;
 *   gloam_batch_new(&b, m, 8, 512, 2);           // up to 512 rows a step
 *   gloam_batch_item it[2] = {{s1, &tok1, 1}, {s2, prompt2, n2}};
 *   gloam_batch_eval(b, it, 2);                   // s1 decodes, s2 prefills
 *   ... gloam_session_logits(s1), gloam_session_logits(s2) ...
 *
 * Ownership: the batch borrows m (which must outlive it) and, during a
 * call, the sessions and tokens. Thread safety: one thread at a time per
 * batch, and the sessions it steps must not be used by others meanwhile. */
typedef struct gloam_batch gloam_batch;

typedef struct gloam_batch_item {
  gloam_session *session; /* a session of the batch's model */
  const int32_t *tokens;  /* n_tokens new tokens at positions n_past .. */
  int n_tokens;           /* >= 1 (1: decode) */
} gloam_batch_item;

/* A batch for up to max_seqs sessions per step and max_tokens tokens per
 * step in all, computed with n_threads threads (<= 0: the model's
 * default); every buffer is allocated here. OUT: *out.
 *   0, GLOAM_EINVAL (NULL arguments, limits out of range), GLOAM_ENOMEM. */
GLOAM_API int gloam_batch_new(gloam_batch **out, gloam_model *m, int max_seqs, int max_tokens,
                              int n_threads);
GLOAM_API void gloam_batch_free(gloam_batch *b);

/* One step: appends items[i].tokens to items[i].session for every i, as
 * gloam_session_eval() would, then leaves each session's logits of its last
 * token in gloam_session_logits() (the logits of a session with logits_all
 * are the last token's only). The result equals evaluating the sessions one
 * after another, up to float rounding.
 *   0                   every session advanced
 *   GLOAM_EINVAL        NULL arguments, n_items outside [1, max_seqs], a
 *                       session twice or of another model, sessions with
 *                       different kv_f16, no tokens, a token id outside
 *                       [0, n_vocab)
 *   GLOAM_ERANGE        more than max_tokens tokens in all, or a session's
 *                       cache would overflow its n_ctx
 * On error no session changes. Cancel flags are not consulted (a step is
 * short). Never allocates. Detail text: gloam_batch_errmsg(). */
GLOAM_API int gloam_batch_eval(gloam_batch *b, const gloam_batch_item *items, int n_items);
GLOAM_API const char *gloam_batch_errmsg(const gloam_batch *b);

/* The number of physical CPU cores (not hyper-threads) this process may
 * use, at least 1: a good n_threads. Thread-safe. */
GLOAM_API int gloam_physical_cores(void);

/* -------------------------------------------------------------- sampling */

#define GLOAM_MAX_TOP_LOGPROBS 20
#define GLOAM_SEED_RANDOM UINT64_MAX

typedef struct gloam_sampler_params {
  float temperature;        /* <= 0: greedy (argmax after penalties) */
  int top_k;                /* <= 0: off */
  float top_p;              /* >= 1: off */
  float min_p;              /* <= 0: off; keeps p >= min_p * p_max */
  float repetition_penalty; /* 1: off; > 1 divides positive logits of seen
                               tokens and multiplies negative ones (CTRL / HF) */
  float presence_penalty;   /* 0: off; subtracted once from seen tokens (OpenAI) */
  float frequency_penalty;  /* 0: off; subtracted count times (OpenAI) */
  int penalty_last_n;       /* tokens of history the penalties see; <= 0: all
                               accepted tokens, up to 4096 */
  uint64_t seed;            /* GLOAM_SEED_RANDOM: from the OS */
  int n_top_logprobs;       /* 0 .. GLOAM_MAX_TOP_LOGPROBS */
} gloam_sampler_params;

/* Defaults: temperature 1, no truncation, no penalties, random seed,
 * no logprobs. Thread-safe. */
GLOAM_API gloam_sampler_params gloam_sampler_default_params(void);

typedef struct gloam_logprob {
  int32_t id;
  float logprob;
} gloam_logprob;

/* What gloam_sampler_sample() can report besides the token. Log-probs are
 * the log-softmax of the model's raw logits (before penalties, temperature
 * and truncation), as OpenAI reports them. */
typedef struct gloam_sample_info {
  float logprob;                             /* of the chosen token */
  int n_top;                                 /* entries of top[] filled */
  gloam_logprob top[GLOAM_MAX_TOP_LOGPROBS]; /* most likely first */
} gloam_sample_info;

/* Creates a sampler for m's vocabulary; its buffers are allocated here.
 * OUT: *out. params may be NULL (defaults). Borrows nothing after return
 * except that m must outlive it (it reads n_vocab only).
 *   0, GLOAM_EINVAL (NULL out/m, params out of range: temperature, top_p,
 *   min_p or penalties NaN, n_top_logprobs out of range), GLOAM_ENOMEM. */
GLOAM_API int gloam_sampler_new(gloam_sampler **out, const gloam_model *m,
                                const gloam_sampler_params *params);
GLOAM_API void gloam_sampler_free(gloam_sampler *smp);

/* Picks the next token from logits [n_vocab] (borrowed, not modified) and
 * records it in the penalty history (as gloam_sampler_accept()).
 * OUT: *out_token; info may be NULL.
 *   0, GLOAM_EINVAL (NULL arguments, logits all NaN or -inf).
 * Never allocates. Deterministic for a given seed, history and logits. */
GLOAM_API int gloam_sampler_sample(gloam_sampler *smp, const float *logits, int32_t *out_token,
                                   gloam_sample_info *info);
/* Adds tok to the penalty history without sampling (e.g. the prompt).
 * Ids outside the vocabulary are ignored. */
GLOAM_API void gloam_sampler_accept(gloam_sampler *smp, int32_t tok);
/* Clears the penalty history and re-seeds the generator from the seed. */
GLOAM_API void gloam_sampler_reset(gloam_sampler *smp);

#ifdef __cplusplus
}
#endif

/* The rest of the engine's public API: tokenizers and chat templates. */
#include "gloam/tokenizer.h"
#include "gloam/chat.h"

#endif /* GLOAM_ENGINE_H */
