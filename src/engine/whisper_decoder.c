/* SPDX-License-Identifier: Apache-2.0
 *
 * engine/whisper_decoder.c: Whisper's text decoder over a state: token +
 * learned position embeddings, per layer causal self-attention with a KV
 * cache, cross-attention over the encoder output (its K/V computed once by
 * whisper_encode), GELU MLP; final LayerNorm and the tied output projection.
 * Everything is allocated in whisper_state_new; decoding allocates nothing.
 */
#include <math.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "engine/whisper.h"

int whisper_state_new(whisper_state **out, const whisper_model *m, char *err) {
  *out = NULL;
  const whisper_hparams *hp = &m->hp;
  size_t d = (size_t)hp->d_model, A = (size_t)hp->n_audio_ctx, Tt = (size_t)hp->n_text_ctx;
  size_t L = (size_t)hp->dec_layers, ffn = (size_t)hp->dec_ffn;
  whisper_state *s = mem_calloc(1, sizeof *s);
  if (!s) return err_set(err, GLOAM_ENOMEM, "out of memory");
  s->m = m;
  s->enc_out = mem_alloc(A * d * sizeof(float));
  s->cross_k = mem_alloc(L * A * d * sizeof(float));
  s->cross_v = mem_alloc(L * A * d * sizeof(float));
  s->self_k = mem_alloc(L * Tt * d * sizeof(float));
  s->self_v = mem_alloc(L * Tt * d * sizeof(float));
  s->x = mem_alloc(Tt * d * sizeof(float));
  s->h = mem_alloc(Tt * d * sizeof(float));
  s->q = mem_alloc(Tt * d * sizeof(float));
  s->att = mem_alloc(Tt * d * sizeof(float));
  s->ff = mem_alloc(Tt * ffn * sizeof(float));
  s->scores = mem_alloc((A > Tt ? A : Tt) * sizeof(float));
  if (!s->enc_out || !s->cross_k || !s->cross_v || !s->self_k || !s->self_v || !s->x || !s->h ||
      !s->q || !s->att || !s->ff || !s->scores) {
    whisper_state_free(s);
    return err_set(err, GLOAM_ENOMEM, "out of memory for the decoder state");
  }
  *out = s;
  return 0;
}

void whisper_state_free(whisper_state *s) {
  if (!s) return;
  mem_free(s->enc_out);
  mem_free(s->cross_k);
  mem_free(s->cross_v);
  mem_free(s->self_k);
  mem_free(s->self_v);
  mem_free(s->x);
  mem_free(s->h);
  mem_free(s->q);
  mem_free(s->att);
  mem_free(s->ff);
  mem_free(s->scores);
  mem_free(s);
}

void whisper_state_reset(whisper_state *s) {
  s->n_past = 0;
}

/* att[r] = softmax(q[r] . K[0..n_keys(r))^T * scale) . V, per head. */
static void attend(whisper_state *s, const float *q, const float *K, const float *V, int rows,
                   int n_keys0, bool causal) {
  const whisper_hparams *hp = &s->m->hp;
  int64_t d = hp->d_model, H = hp->dec_heads, hd = d / H;
  float scale = 1.0f / sqrtf((float)hd);
  for (int r = 0; r < rows; r++) {
    int n_keys = causal ? n_keys0 + r + 1 : n_keys0;
    for (int64_t h = 0; h < H; h++) {
      const float *qh = q + r * d + h * hd;
      for (int j = 0; j < n_keys; j++)
        s->scores[j] = kern_dot_f32(qh, K + j * d + h * hd, hd) * scale;
      kern_softmax(s->scores, n_keys);
      float *o = s->att + r * d + h * hd;
      memset(o, 0, (size_t)hd * sizeof(float));
      for (int j = 0; j < n_keys; j++) kern_axpy_f32(o, s->scores[j], V + j * d + h * hd, hd);
    }
  }
}

static void add(float *x, const float *y, int64_t n) {
  for (int64_t i = 0; i < n; i++) x[i] += y[i];
}

static void dec_layer(whisper_state *s, int li, int n) {
  const whisper_model *m = s->m;
  const wlayer *l = &m->dec[li];
  int64_t d = m->hp.d_model, A = m->hp.n_audio_ctx, Tt = m->hp.n_text_ctx;
  float *kc = s->self_k + li * Tt * d, *vc = s->self_v + li * Tt * d;
  whisper_layernorm(s->h, s->x, &l->ln_attn, n, d);
  whisper_linear(m->pool, &l->attn.q, s->h, s->q, n);
  whisper_linear(m->pool, &l->attn.k, s->h, kc + s->n_past * d, n);
  whisper_linear(m->pool, &l->attn.v, s->h, vc + s->n_past * d, n);
  attend(s, s->q, kc, vc, n, s->n_past, true);
  whisper_linear(m->pool, &l->attn.o, s->att, s->h, n);
  add(s->x, s->h, n * d);

  whisper_layernorm(s->h, s->x, &l->ln_cross, n, d);
  whisper_linear(m->pool, &l->cross.q, s->h, s->q, n);
  attend(s, s->q, s->cross_k + li * A * d, s->cross_v + li * A * d, n, (int)A, false);
  whisper_linear(m->pool, &l->cross.o, s->att, s->h, n);
  add(s->x, s->h, n * d);

  whisper_layernorm(s->h, s->x, &l->ln_ffn, n, d);
  whisper_linear(m->pool, &l->fc1, s->h, s->ff, n);
  whisper_gelu(s->ff, n * l->fc1.out);
  whisper_linear(m->pool, &l->fc2, s->ff, s->h, n);
  add(s->x, s->h, n * d);
}

int whisper_decode(whisper_state *s, const int32_t *ids, int n, float *logits, bool all_rows) {
  const whisper_model *m = s->m;
  const whisper_hparams *hp = &m->hp;
  int64_t d = hp->d_model;
  if (!s->encoded) return GLOAM_ESTATE;
  if (n <= 0 || n > hp->n_text_ctx - s->n_past) return GLOAM_ERANGE;
  for (int i = 0; i < n; i++)
    if (ids[i] < 0 || ids[i] >= hp->vocab) return GLOAM_ERANGE;
  float emb_scale = hp->scale_embedding ? sqrtf((float)d) : 1.0f;
  size_t row_bytes = dtype_row_bytes(m->tok_type, d);
  for (int i = 0; i < n; i++) {
    float *x = s->x + i * d;
    kern_dequantize_row(m->tok_type, (const uint8_t *)m->tok_emb + (size_t)ids[i] * row_bytes, x,
                        d);
    const float *pos = m->dec_pos + (s->n_past + i) * d;
    for (int64_t j = 0; j < d; j++) x[j] = x[j] * emb_scale + pos[j];
  }
  for (int li = 0; li < hp->dec_layers; li++) dec_layer(s, li, n);
  s->n_past += n;
  int first = all_rows ? 0 : n - 1, rows = n - first;
  whisper_layernorm(s->h, s->x + first * d, &m->dec_ln, rows, d);
  kern_matmul(m->pool, m->tok_type, m->tok_emb, s->h, logits, rows, hp->vocab, d);
  return 0;
}
