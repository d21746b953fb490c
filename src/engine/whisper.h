/* SPDX-License-Identifier: Apache-2.0
 *
 * engine/whisper.h: a Hugging Face WhisperForConditionalGeneration
 * checkpoint (config.json + model.safetensors) in the engine: loader,
 * encoder and decoder with self-attention KV cache and a cross-attention
 * cache computed once per audio window.
 *
 *   whisper_model *m;  whisper_model_load(&m, dir, n_threads, err);
 *   whisper_state *s;  whisper_state_new(&s, m, err);
 *   whisper_encode(s, feat);                 // feat [n_mels, 2 * n_audio_ctx]
 *   whisper_decode(s, ids, n, logits, false);  // appends n tokens, logits of the last
 *   whisper_state_reset(s);                  // new prompt, same audio
 *   whisper_state_free(s); whisper_model_free(m);
 *
 * DESIGN: linear layers keep the checkpoint's dtype (BF16/F16/F32) and run
 * through kern_matmul on the model's thread pool; biases, norms and position
 * tables are float32 copies. The encoder's conv1d layers are im2col + matmul
 * (the [out, in, 3] kernel is already a row-major [out, in * 3] matrix).
 * Encoder attention runs per head as two matmuls (Q.K^T, P.V); decoder
 * attention walks the cache with dot/axpy kernels. Activation "gelu" is the
 * exact erf form, LayerNorm eps 1e-5, as in transformers.
 *
 * Ownership: the model owns the mapping, its float32 copies and its pool;
 * a state borrows its model (free states first). Thread safety: a model is
 * immutable after load but its kern_pool serves one caller at a time, so
 * run one state at a time per model; a state belongs to one thread.
 */
#ifndef GLOAM_ENGINE_WHISPER_H
#define GLOAM_ENGINE_WHISPER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/arena.h"
#include "engine/safetensors.h"
#include "engine/whisper_mel.h"
#include "gloam/err.h"
#include "kernels/kernels.h"

#define WHISPER_MAX_LAYERS 64
#define WHISPER_MAX_SUPPRESS 256

typedef struct whisper_hparams {
  int d_model, n_mels, n_audio_ctx, n_text_ctx, vocab;
  int enc_layers, dec_layers, enc_heads, dec_heads, enc_ffn, dec_ffn;
  bool scale_embedding;
  bool multilingual; /* vocab >= 51865; English-only models take no language/task tokens */
  /* special tokens (derived from decoder_start_token_id and the vocab size,
   * as in the multilingual tokenizer's layout) */
  int sot, eot, lang_base, n_langs, translate, transcribe, sot_prev, no_speech, no_timestamps,
      ts_begin;
  int begin_suppress[WHISPER_MAX_SUPPRESS], n_begin_suppress;
  int suppress[WHISPER_MAX_SUPPRESS], n_suppress;
} whisper_hparams;

typedef struct wlin {
  enum dtype type;
  const void *w;  /* [out, in] in the checkpoint's dtype, in the mapping */
  const float *b; /* [out] or NULL */
  int64_t out, in;
} wlin;

typedef struct wnorm {
  const float *w, *b;
} wnorm;

typedef struct wattn {
  wlin q, k, v, o;
} wattn;

typedef struct wlayer {
  wnorm ln_attn; /* self_attn_layer_norm */
  wattn attn;
  wnorm ln_cross; /* decoder only: encoder_attn_layer_norm */
  wattn cross;
  wnorm ln_ffn; /* final_layer_norm */
  wlin fc1, fc2;
} wlayer;

typedef struct whisper_model {
  whisper_hparams hp;
  uint8_t *map;
  size_t map_len;
  st_header st;
  arena mem; /* float32 copies */
  wlin conv1, conv2;
  const float *enc_pos; /* [n_audio_ctx, d] */
  const float *dec_pos; /* [n_text_ctx, d] */
  enum dtype tok_type;
  const void *tok_emb; /* [vocab, d], also the output projection */
  wnorm enc_ln, dec_ln;
  wlayer enc[WHISPER_MAX_LAYERS], dec[WHISPER_MAX_LAYERS];
  whisper_mel *mel;
  kern_pool *pool;
} whisper_model;

typedef struct whisper_state {
  const whisper_model *m;
  float *enc_out;           /* [n_audio_ctx, d] */
  float *cross_k, *cross_v; /* [dec_layers][n_audio_ctx, d] */
  float *self_k, *self_v;   /* [dec_layers][n_text_ctx, d] */
  int n_past;
  bool encoded;
  float *x, *h, *q, *att, *ff; /* decoder scratch, rows up to n_text_ctx */
  float *scores;               /* [max(n_audio_ctx, n_text_ctx)] */
} whisper_state;

/* Loads dir/config.json, dir/model.safetensors, dir/preprocessor_config.json.
 * n_threads <= 0: one. Returns 0, GLOAM_ENOENT, GLOAM_EIO, GLOAM_EFORMAT
 * (missing or mis-shaped tensor), GLOAM_EUNSUPPORTED, GLOAM_ENOMEM. */
int whisper_model_load(whisper_model **out, const char *dir, int n_threads, char *err);
void whisper_model_free(whisper_model *m);

int whisper_state_new(whisper_state **out, const whisper_model *m, char *err);
void whisper_state_free(whisper_state *s);
/* Forgets the decoded tokens; keeps the encoded audio. */
void whisper_state_reset(whisper_state *s);

/* Runs the encoder on feat [n_mels, 2 * n_audio_ctx] and fills the
 * cross-attention K/V of every decoder layer; resets the decoder. */
int whisper_encode(whisper_state *s, const float *feat);

/* Feeds ids[0..n) at positions n_past.. . OUT: logits [n, vocab] when
 * all_rows, else [vocab] for the last id. Returns 0, GLOAM_ESTATE (not
 * encoded), GLOAM_ERANGE (past n_text_ctx or an id outside the vocab). */
int whisper_decode(whisper_state *s, const int32_t *ids, int n, float *logits, bool all_rows);

/* Shared blocks (whisper_encoder.c). */
void whisper_layernorm(float *out, const float *x, const wnorm *n, int64_t rows, int64_t d);
void whisper_linear(kern_pool *pool, const wlin *l, const float *x, float *y, int64_t rows);
void whisper_gelu(float *x, int64_t n);

#endif
