/* SPDX-License-Identifier: Apache-2.0
 *
 * engine/session.c: gloam_session: the KV cache and every scratch buffer,
 * allocated once at creation; evaluation in steps of at most n_batch
 * tokens; reset, truncate, cancel. Also the step scratch (eng_work) that
 * sessions and batches share the layout of.
 *
 * DESIGN: the cache holds keys and values (float32, or IEEE half with
 * kv_f16) for every layer, KV head and position [n_layers, n_kv_heads,
 * n_ctx, head_dim] (only the layers with attention; one head's positions
 * are contiguous, so decode attention streams them instead of touching one
 * head_dim slice per page), and for Gated DeltaNet layers
 * their recurrent state (deltanet.h). n_past only advances when a whole
 * evaluation succeeded, so an error or cancel leaves the visible cache
 * unchanged (rows written past n_past are overwritten later); a recurrent
 * state cannot be rewound, so with one, cancel acts only before the first
 * step and truncate only to 0 (or n_past).
 */
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "engine/deltanet.h"
#include "engine/engine_impl.h"
#include "engine/gemma4.h"

gloam_session_params gloam_session_default_params(void) {
  gloam_session_params p = {
      .n_ctx = 0, .n_batch = 512, .n_threads = 0, .logits_all = false, .kv_f16 = true};
  return p;
}

static void *zalloc(size_t n, size_t size, bool *ok) {
  if (n == 0) n = 1;
  void *p = mem_calloc(n, size);
  if (!p) *ok = false;
  return p;
}

static size_t max3(size_t a, size_t b, size_t c) {
  size_t m = a > b ? a : b;
  return m > c ? m : c;
}

void kv_store(void *layer_cache, const gloam_session *s, int nkv, int hd, int p, const float *src) {
  size_t esz = s->kv_f16 ? sizeof(f16_bits) : sizeof(float);
  for (int h = 0; h < nkv; h++) {
    uint8_t *dst = (uint8_t *)layer_cache + ((size_t)h * s->n_ctx + (size_t)p) * hd * esz;
    const float *x = src + (size_t)h * hd;
    if (s->kv_f16)
      kern_f32_to_f16_row((f16_bits *)dst, x, hd);
    else
      memcpy(dst, x, sizeof(float) * (size_t)hd);
  }
}

/* A zeroed [rows, width] float buffer that eng_work_trim may shrink. */
static float *row_floats(eng_work *w, size_t rows, size_t width, bool *ok) {
  float *p = zalloc(rows * width, sizeof(float), ok);
  if (p && w->n_row_bufs < ENG_ROW_BUFS)
    w->row_bufs[w->n_row_bufs++] = (eng_row_buf){p, width * sizeof(float), rows};
  return p;
}

void eng_work_trim(eng_work *w, int keep_rows) {
  for (int i = 0; i < w->n_row_bufs; i++) {
    const eng_row_buf *b = &w->row_bufs[i];
    mem_release_pages(b->p, (size_t)keep_rows * b->row_bytes, b->rows * b->row_bytes);
  }
  kern_pool_trim(w->pool, 0);
}

int eng_work_init(eng_work *w, const gloam_model *m, int n_rows, int n_threads) {
  const model_config *c = m->cfg;
  memset(w, 0, sizeof *w);
  w->n_rows = n_rows;
  size_t B = (size_t)n_rows, H = (size_t)c->hidden, hd = (size_t)c->head_dim;
  size_t qrow = (size_t)c->n_heads * hd, kv_row = (size_t)c->n_kv_heads * hd,
         ff = max3((size_t)c->ffn_hidden, (size_t)c->moe_ffn_hidden, 1);
  if ((size_t)c->shared_ffn_hidden > ff) ff = (size_t)c->shared_ffn_hidden;
  size_t lin = deltanet_work_floats(c, n_rows, n_threads);
  size_t E = (size_t)c->n_experts, K = (size_t)(E ? c->n_experts_per_tok : 0);
  if (c->arch == ARCH_GEMMA4) gemma4_work_dims(c, &hd, &qrow, &kv_row, &ff);
  /* MoE: pairs of the batched small-expert pass (moe.c), at least n_rows */
  size_t G = B * K < 64 ? B * K : 64;
  if (G < B) G = B;
  w->n_moe_rows = (int)G;
  bool ok = true;
  const size_t F = sizeof(float);
  /* a pool even for one thread (it then runs tasks inline): its scratch
   * holds the packed activations between calls and is trimmed with the rest */
  if (!(w->pool = kern_pool_new(n_threads > 1 ? n_threads : 1))) ok = false;
  w->x = row_floats(w, B, H, &ok);
  w->h = row_floats(w, B, H, &ok);
  w->q = row_floats(w, B, qrow * (c->attn_out_gate ? 2 : 1), &ok);
  if (c->attn_out_gate) w->gate = row_floats(w, B, qrow, &ok);
  if (lin) w->lin = zalloc(lin, F, &ok);
  w->k = row_floats(w, B, kv_row, &ok);
  w->v = row_floats(w, B, kv_row, &ok);
  w->att = row_floats(w, B, qrow, &ok);
  w->o = row_floats(w, B, max3(H, qrow, hd), &ok);
  w->ff_a = row_floats(w, G, ff, &ok);
  w->ff_b = row_floats(w, G, ff, &ok);
  w->rope_cos = zalloc(2 * B * (hd / 2), F, &ok);
  w->rope_sin = zalloc(2 * B * (hd / 2), F, &ok);
  w->row_sess = zalloc(B, sizeof *w->row_sess, &ok);
  w->pos = zalloc(B, sizeof *w->pos, &ok);
  w->krow = zalloc(B, sizeof *w->krow, &ok);
  w->vrow = zalloc(B, sizeof *w->vrow, &ok);
  w->kv_ctx = zalloc(B, sizeof *w->kv_ctx, &ok);
  w->out_rows = zalloc(B, sizeof *w->out_rows, &ok);
  w->tokens = zalloc(B, sizeof *w->tokens, &ok);
  if (E) {
    w->router = zalloc(B * E, F, &ok);
    w->probs = zalloc(E, F, &ok);
    w->sel_w = zalloc(B * K, F, &ok);
    w->gw = zalloc(B, F, &ok);
    w->gx = zalloc(B * H, F, &ok);
    w->gy = zalloc(G * H, F, &ok);
    w->moe_pw = zalloc(G, F, &ok);
    w->moe_ord = zalloc(B * K + E + 1 + 4 * G, sizeof(int32_t), &ok);
    w->sel = zalloc(B * K, sizeof(int32_t), &ok);
    w->gather = zalloc(B, sizeof(int32_t), &ok);
  }
  if (c->arch == ARCH_GEMMA4) w->ext = zalloc(gemma4_work_floats(c, B), F, &ok);
  if (ok) return 0;
  eng_work_deinit(w);
  return GLOAM_ENOMEM;
}

void eng_work_deinit(eng_work *w) {
  void *bufs[] = {w->x,
                  w->h,
                  w->q,
                  w->k,
                  w->v,
                  w->att,
                  w->o,
                  w->ff_a,
                  w->ff_b,
                  w->gate,
                  w->lin,
                  w->rope_cos,
                  w->rope_sin,
                  w->row_sess,
                  w->pos,
                  (void *)w->krow,
                  (void *)w->vrow,
                  w->kv_ctx,
                  w->out_rows,
                  w->tokens,
                  w->router,
                  w->probs,
                  w->sel_w,
                  w->gw,
                  w->gx,
                  w->gy,
                  w->sel,
                  w->gather,
                  w->ext,
                  w->moe_pw,
                  w->moe_ord};
  for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) mem_free(bufs[i]);
  kern_pool_free(w->pool);
  memset(w, 0, sizeof *w);
}

int gloam_session_new(gloam_session **out, gloam_model *m, const gloam_session_params *params) {
  if (!out || !m) return GLOAM_EINVAL;
  *out = NULL;
  gloam_session_params p = params ? *params : gloam_session_default_params();
  int n_ctx = p.n_ctx;
  if (n_ctx <= 0) n_ctx = m->cfg->max_pos > 0 && m->cfg->max_pos < 4096 ? m->cfg->max_pos : 4096;
  int n_batch = p.n_batch > 0 ? p.n_batch : 512;
  if (n_ctx > ENGINE_MAX_CTX || n_batch > ENGINE_MAX_BATCH) return GLOAM_EINVAL;
  if (n_batch > n_ctx) n_batch = n_ctx;
  gloam_session *s = mem_calloc(1, sizeof *s);
  if (!s) return GLOAM_ENOMEM;
  s->m = m;
  s->n_ctx = n_ctx;
  s->n_batch = n_batch;
  s->n_threads = p.n_threads > 0 ? p.n_threads : m->n_threads;
  s->logits_all = p.logits_all;
  s->kv_f16 = p.kv_f16;
  s->kv_row = (size_t)m->cfg->n_kv_heads * (size_t)m->cfg->head_dim;
  atomic_init(&s->cancel, false);
  bool ok = true;
  size_t kv = (m->kv_per_pos ? m->kv_per_pos : (size_t)m->n_kv_layers * s->kv_row) * (size_t)n_ctx;
  size_t esz = s->kv_f16 ? sizeof(f16_bits) : sizeof(float);
  s->k_cache = zalloc(kv, esz, &ok);
  if (m->n_lin_layers)
    s->lin_state = zalloc((size_t)m->n_lin_layers * m->lin_state, sizeof(float), &ok);
  s->v_cache = zalloc(kv, esz, &ok);
  s->logits =
      zalloc((s->logits_all ? (size_t)n_batch : 1) * (size_t)m->cfg->vocab, sizeof(float), &ok);
  int rc = GLOAM_ENOMEM;
  if (!ok || (rc = eng_work_init(&s->w, m, n_batch, s->n_threads)) < 0) {
    gloam_session_free(s);
    return GLOAM_ENOMEM;
  }
  *out = s;
  return 0;
}

void gloam_session_free(gloam_session *s) {
  if (!s) return;
  mem_free(s->k_cache);
  mem_free(s->v_cache);
  mem_free(s->lin_state);
  mem_free(s->logits);
  eng_work_deinit(&s->w);
  mem_free(s);
}

int gloam_session_eval(gloam_session *s, const int32_t *tokens, int n_tokens) {
  if (!s) return GLOAM_EINVAL;
  err_clear(s->err);
  s->n_logits = 0;
  if (!tokens || n_tokens <= 0) return err_set(s->err, GLOAM_EINVAL, "no tokens to evaluate");
  int n_vocab = s->m->cfg->vocab;
  for (int i = 0; i < n_tokens; i++)
    if (tokens[i] < 0 || tokens[i] >= n_vocab)
      return err_set(s->err, GLOAM_EINVAL, "token %d at %d outside the vocabulary (%d)",
                     (int)tokens[i], i, n_vocab);
  if (n_tokens > s->n_ctx - s->n_past)
    return err_set(s->err, GLOAM_ERANGE, "context full: %d cached + %d new > n_ctx %d", s->n_past,
                   n_tokens, s->n_ctx);
  if (s->logits_all && n_tokens > s->n_batch)
    return err_set(s->err, GLOAM_ERANGE, "logits_all: %d tokens > n_batch %d", n_tokens,
                   s->n_batch);
  eng_work *w = &s->w;
  int done = 0;
  bool trimmed = true; /* false once a step used more than ENG_TRIM_ROWS rows */
  while (done < n_tokens) {
    int T = n_tokens - done < s->n_batch ? n_tokens - done : s->n_batch;
    bool last = done + T == n_tokens;
    for (int t = 0; t < T; t++) {
      w->row_sess[t] = s;
      w->pos[t] = s->n_past + done + t;
    }
    int n_out = 0;
    if (last && s->logits_all) {
      for (int t = 0; t < T; t++) w->out_rows[t] = t;
      n_out = T;
    } else if (last) {
      w->out_rows[0] = T - 1;
      n_out = 1;
    }
    /* a recurrent state (linear-attention layers) cannot be rewound: once
     * the first step has run, later steps are not canceled */
    atomic_bool *cancel = done == 0 || s->m->n_lin_layers == 0 ? &s->cancel : NULL;
    int rc = forward_rows(w, s->m, tokens + done, T, n_out, s->logits, s->capture, cancel);
    if (rc < 0) {
      s->n_logits = 0;
      s->capture = NULL;
      return err_set(s->err, rc,
                     rc == GLOAM_ECANCELED ? "evaluation canceled" : "evaluation failed");
    }
    s->n_logits = n_out;
    if (T > ENG_TRIM_ROWS) trimmed = false;
    done += T;
  }
  if (!trimmed) eng_work_trim(w, ENG_TRIM_ROWS);
  s->capture = NULL;
  s->n_past += n_tokens;
  return 0;
}

const float *gloam_session_logits(const gloam_session *s) {
  if (!s || s->n_logits == 0) return NULL;
  return s->logits + (size_t)(s->n_logits - 1) * (size_t)s->m->cfg->vocab;
}

const float *gloam_session_logits_all(const gloam_session *s, int *out_n) {
  if (out_n) *out_n = 0;
  if (!s || !s->logits_all || s->n_logits == 0) return NULL;
  if (out_n) *out_n = s->n_logits;
  return s->logits;
}

int gloam_session_n_past(const gloam_session *s) {
  return s->n_past;
}
int gloam_session_n_ctx(const gloam_session *s) {
  return s->n_ctx;
}

void gloam_session_reset(gloam_session *s) {
  s->n_past = 0;
  s->n_logits = 0;
}

int gloam_session_truncate(gloam_session *s, int n_keep) {
  if (n_keep < 0 || n_keep > s->n_past)
    return err_set(s->err, GLOAM_ERANGE, "truncate to %d of %d cached tokens", n_keep, s->n_past);
  if (s->m->n_lin_layers && n_keep != 0 && n_keep != s->n_past)
    return err_set(s->err, GLOAM_EUNSUPPORTED,
                   "truncate: the recurrent state of %s cannot rewind (only to 0 or %d)",
                   s->m->arch->name, s->n_past);
  s->n_past = n_keep;
  s->n_logits = 0;
  return 0;
}

void gloam_session_cancel(gloam_session *s) {
  if (s) atomic_store(&s->cancel, true);
}

const char *gloam_session_errmsg(const gloam_session *s) {
  return s ? s->err : "";
}

void engine_session_capture_hidden(gloam_session *s, float *buf) {
  s->capture = buf;
}
