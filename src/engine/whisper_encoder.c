/* SPDX-License-Identifier: Apache-2.0
 *
 * engine/whisper_encoder.c: Whisper's audio encoder (two conv1d + GELU,
 * learned positions, pre-LN transformer layers, final LayerNorm) and the
 * building blocks the decoder shares (LayerNorm, linear, exact GELU).
 */
#include <math.h>
#include <string.h>

#include "core/alloc.h"
#include "engine/whisper.h"

void whisper_layernorm(float *out, const float *x, const wnorm *n, int64_t rows, int64_t d) {
  for (int64_t r = 0; r < rows; r++) {
    const float *xr = x + r * d;
    float *o = out + r * d;
    double mean = 0, var = 0;
    for (int64_t i = 0; i < d; i++) mean += xr[i];
    mean /= (double)d;
    for (int64_t i = 0; i < d; i++) var += (xr[i] - mean) * (xr[i] - mean);
    float inv = (float)(1.0 / sqrt(var / (double)d + 1e-5));
    for (int64_t i = 0; i < d; i++) o[i] = ((float)(xr[i] - mean)) * inv * n->w[i] + n->b[i];
  }
}

void whisper_linear(kern_pool *pool, const wlin *l, const float *x, float *y, int64_t rows) {
  kern_matmul(pool, l->type, l->w, x, y, rows, l->out, l->in);
  if (l->b)
    for (int64_t r = 0; r < rows; r++)
      for (int64_t i = 0; i < l->out; i++) y[r * l->out + i] += l->b[i];
}

void whisper_gelu(float *x, int64_t n) {
  for (int64_t i = 0; i < n; i++) x[i] = 0.5f * x[i] * (1.0f + erff(x[i] * 0.70710678118654752f));
}

/* out[t, c * 3 + k] = in[(t * stride + k - 1) * in_row + c * in_col], zero outside. */
static void im2col(float *out, const float *in, int64_t t_out, int64_t t_in, int64_t ch,
                   int64_t stride, int64_t in_row, int64_t in_col) {
  for (int64_t t = 0; t < t_out; t++)
    for (int64_t c = 0; c < ch; c++)
      for (int64_t k = 0; k < 3; k++) {
        int64_t s = t * stride + k - 1;
        out[(t * ch + c) * 3 + k] = s < 0 || s >= t_in ? 0.0f : in[s * in_row + c * in_col];
      }
}

typedef struct enc_scratch {
  float *q, *k, *v, *att, *h, *ff;
  float *qh, *kh, *vt, *oh, *s; /* one head */
} enc_scratch;

typedef struct softmax_job {
  float *s;
  int64_t n;
} softmax_job;

static void softmax_rows(void *ctx, int i, int n) {
  softmax_job *j = ctx;
  int64_t lo = j->n * i / n, hi = j->n * (i + 1) / n;
  for (int64_t r = lo; r < hi; r++) kern_softmax(j->s + r * j->n, j->n);
}

/* Full (non-causal) multi-head attention of x [N, d] into sc->att. */
static void enc_attention(const whisper_model *m, const wattn *a, const float *x, enc_scratch *sc) {
  int64_t N = m->hp.n_audio_ctx, d = m->hp.d_model, H = m->hp.enc_heads, hd = d / H;
  float scale = 1.0f / sqrtf((float)hd);
  whisper_linear(m->pool, &a->q, x, sc->q, N);
  whisper_linear(m->pool, &a->k, x, sc->k, N);
  whisper_linear(m->pool, &a->v, x, sc->v, N);
  for (int64_t h = 0; h < H; h++) {
    for (int64_t i = 0; i < N; i++)
      for (int64_t e = 0; e < hd; e++) {
        sc->qh[i * hd + e] = sc->q[i * d + h * hd + e] * scale;
        sc->kh[i * hd + e] = sc->k[i * d + h * hd + e];
        sc->vt[e * N + i] = sc->v[i * d + h * hd + e];
      }
    kern_matmul(m->pool, DT_F32, sc->kh, sc->qh, sc->s, N, N, hd); /* s[i, j] = q_i . k_j */
    softmax_job job = {sc->s, N};
    kern_pool_run(m->pool, softmax_rows, &job, kern_pool_threads(m->pool));
    kern_matmul(m->pool, DT_F32, sc->vt, sc->s, sc->oh, N, hd, N); /* oh[i, e] = s_i . v^e */
    for (int64_t i = 0; i < N; i++) memcpy(sc->att + i * d + h * hd, sc->oh + i * hd, 4 * hd);
  }
}

static void add(float *x, const float *y, int64_t n) {
  for (int64_t i = 0; i < n; i++) x[i] += y[i];
}

static void enc_layer(const whisper_model *m, const wlayer *l, float *x, enc_scratch *sc) {
  int64_t N = m->hp.n_audio_ctx, d = m->hp.d_model;
  whisper_layernorm(sc->h, x, &l->ln_attn, N, d);
  enc_attention(m, &l->attn, sc->h, sc);
  whisper_linear(m->pool, &l->attn.o, sc->att, sc->h, N);
  add(x, sc->h, N * d);
  whisper_layernorm(sc->h, x, &l->ln_ffn, N, d);
  whisper_linear(m->pool, &l->fc1, sc->h, sc->ff, N);
  whisper_gelu(sc->ff, N * l->fc1.out);
  whisper_linear(m->pool, &l->fc2, sc->ff, sc->h, N);
  add(x, sc->h, N * d);
}

int whisper_encode(whisper_state *s, const float *feat) {
  const whisper_model *m = s->m;
  const whisper_hparams *hp = &m->hp;
  int64_t N = hp->n_audio_ctx, T = 2 * N, d = hp->d_model, C = hp->n_mels, hd = d / hp->enc_heads;
  int64_t ffn = hp->enc_ffn, cols = (C > d ? C : d) * 3, wide = ffn > cols ? ffn : cols;
  enc_scratch sc = {0};
  float *col = mem_alloc((size_t)(T * cols) * sizeof(float));
  float *y1 = mem_alloc((size_t)(T * d) * sizeof(float));
  float *x = s->enc_out;
  sc.q = mem_alloc((size_t)(N * d) * sizeof(float));
  sc.k = mem_alloc((size_t)(N * d) * sizeof(float));
  sc.v = mem_alloc((size_t)(N * d) * sizeof(float));
  sc.att = mem_alloc((size_t)(N * d) * sizeof(float));
  sc.h = mem_alloc((size_t)(N * d) * sizeof(float));
  sc.ff = mem_alloc((size_t)(N * wide) * sizeof(float));
  sc.qh = mem_alloc((size_t)(N * hd) * sizeof(float));
  sc.kh = mem_alloc((size_t)(N * hd) * sizeof(float));
  sc.vt = mem_alloc((size_t)(N * hd) * sizeof(float));
  sc.oh = mem_alloc((size_t)(N * hd) * sizeof(float));
  sc.s = mem_alloc((size_t)(N * N) * sizeof(float));
  int rc = GLOAM_ENOMEM;
  if (!col || !y1 || !sc.q || !sc.k || !sc.v || !sc.att || !sc.h || !sc.ff || !sc.qh || !sc.kh ||
      !sc.vt || !sc.oh || !sc.s)
    goto out;
  im2col(col, feat, T, T, C, 1, 1, T); /* feat is [C, T] */
  whisper_linear(m->pool, &m->conv1, col, y1, T);
  whisper_gelu(y1, T * d);
  im2col(col, y1, N, T, d, 2, d, 1); /* y1 is [T, d] */
  whisper_linear(m->pool, &m->conv2, col, x, N);
  whisper_gelu(x, N * d);
  add(x, m->enc_pos, N * d);
  for (int i = 0; i < hp->enc_layers; i++) enc_layer(m, &m->enc[i], x, &sc);
  whisper_layernorm(x, x, &m->enc_ln, N, d);
  for (int i = 0; i < hp->dec_layers; i++) {
    whisper_linear(m->pool, &m->dec[i].cross.k, x, s->cross_k + (int64_t)i * N * d, N);
    whisper_linear(m->pool, &m->dec[i].cross.v, x, s->cross_v + (int64_t)i * N * d, N);
  }
  s->encoded = true;
  s->n_past = 0;
  rc = 0;
out:
  mem_free(col);
  mem_free(y1);
  mem_free(sc.q);
  mem_free(sc.k);
  mem_free(sc.v);
  mem_free(sc.att);
  mem_free(sc.h);
  mem_free(sc.ff);
  mem_free(sc.qh);
  mem_free(sc.kh);
  mem_free(sc.vt);
  mem_free(sc.oh);
  mem_free(sc.s);
  return rc;
}
