/* SPDX-License-Identifier: Apache-2.0
 *
 * engine/session.c: gloam_session: the KV cache and every scratch buffer,
 * allocated once at creation; evaluation in steps of at most n_batch
 * tokens; reset, truncate, cancel.
 *
 * DESIGN: the cache holds float32 keys and values for every layer and
 * position [n_layers, n_ctx, n_kv_heads * head_dim]. n_past only advances
 * when a whole evaluation succeeded, so an error or cancel leaves the
 * visible cache unchanged (rows written past n_past are overwritten later).
 */
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "engine/engine_impl.h"

gloam_session_params gloam_session_default_params(void) {
  gloam_session_params p = {.n_ctx = 0, .n_batch = 512, .n_threads = 0, .logits_all = false};
  return p;
}

static float *falloc(size_t n, bool *ok) {
  if (n == 0) n = 1;
  float *p = mem_calloc(n, sizeof(float));
  if (!p) *ok = false;
  return p;
}

static size_t max3(size_t a, size_t b, size_t c) {
  size_t m = a > b ? a : b;
  return m > c ? m : c;
}

static int alloc_buffers(gloam_session *s) {
  const model_config *c = s->m->cfg;
  size_t B = (size_t)s->n_batch, H = (size_t)c->hidden, hd = (size_t)c->head_dim;
  size_t qrow = (size_t)c->n_heads * hd,
         ff = max3((size_t)c->ffn_hidden, (size_t)c->moe_ffn_hidden, 1);
  size_t E = (size_t)c->n_experts, K = (size_t)(E ? c->n_experts_per_tok : 0);
  size_t kv = (size_t)c->n_layers * (size_t)s->n_ctx * s->kv_row;
  bool ok = true;
  s->k_cache = falloc(kv, &ok);
  s->v_cache = falloc(kv, &ok);
  s->x = falloc(B * H, &ok);
  s->h = falloc(B * H, &ok);
  s->q = falloc(B * qrow, &ok);
  s->k = falloc(B * s->kv_row, &ok);
  s->v = falloc(B * s->kv_row, &ok);
  s->att = falloc(B * qrow, &ok);
  s->o = falloc(B * max3(H, qrow, hd), &ok);
  s->ff_a = falloc(B * ff, &ok);
  s->ff_b = falloc(B * ff, &ok);
  s->scores = falloc((size_t)s->n_work * (size_t)s->n_ctx, &ok);
  s->rope_cos = falloc(2 * B * (hd / 2), &ok);
  s->rope_sin = falloc(2 * B * (hd / 2), &ok);
  if (E) {
    s->router = falloc(B * E, &ok);
    s->probs = falloc(E, &ok);
    s->sel_w = falloc(B * K, &ok);
    s->gw = falloc(B, &ok);
    s->gx = falloc(B * H, &ok);
    s->gy = falloc(B * H, &ok);
    s->sel = mem_calloc(B * K, sizeof(int32_t));
    s->gather = mem_calloc(B, sizeof(int32_t));
    if (!s->sel || !s->gather) ok = false;
  }
  s->logits = falloc((s->logits_all ? B : 1) * (size_t)c->vocab, &ok);
  return ok ? 0 : GLOAM_ENOMEM;
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
  s->kv_row = (size_t)m->cfg->n_kv_heads * (size_t)m->cfg->head_dim;
  s->n_work = s->n_threads;
  atomic_init(&s->cancel, false);
  int rc = GLOAM_ENOMEM;
  if (s->n_threads > 1 && !(s->pool = kern_pool_new(s->n_threads))) goto fail;
  if ((rc = alloc_buffers(s)) < 0) goto fail;
  *out = s;
  return 0;
fail:
  gloam_session_free(s);
  return rc;
}

void gloam_session_free(gloam_session *s) {
  if (!s) return;
  float *bufs[] = {s->k_cache, s->v_cache, s->x,     s->h,    s->q,      s->k,        s->v,
                   s->att,     s->o,       s->ff_a,  s->ff_b, s->scores, s->rope_cos, s->rope_sin,
                   s->router,  s->probs,   s->sel_w, s->gw,   s->gx,     s->gy,       s->logits};
  for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) mem_free(bufs[i]);
  mem_free(s->sel);
  mem_free(s->gather);
  kern_pool_free(s->pool);
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
  int done = 0;
  while (done < n_tokens) {
    int T = n_tokens - done < s->n_batch ? n_tokens - done : s->n_batch;
    bool last = done + T == n_tokens;
    int mode = !last           ? FORWARD_LOGITS_NONE
               : s->logits_all ? FORWARD_LOGITS_ALL
                               : FORWARD_LOGITS_LAST;
    int rc = forward_step(s, tokens + done, T, s->n_past + done, mode);
    if (rc < 0) {
      s->n_logits = 0;
      s->capture = NULL;
      return err_set(s->err, rc,
                     rc == GLOAM_ECANCELED ? "evaluation canceled" : "evaluation failed");
    }
    done += T;
  }
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
