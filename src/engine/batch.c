/* SPDX-License-Identifier: Apache-2.0
 *
 * engine/batch.c: continuous batching (gloam_batch, see gloam/engine.h).
 *
 * DESIGN: a step lays the items' tokens out as consecutive rows of one
 * forward pass (forward_rows), row r tagged with its session and position,
 * so the matmuls see n_rows = all tokens of the step and read each weight
 * once; attention and the KV writes go to each row's own session. The
 * logits of every item's last row land in the batch's buffer and are copied
 * to the sessions. Validation happens before anything is written, so an
 * invalid step changes nothing.
 *
 * Ownership: gloam_batch owns its scratch (eng_work, with the thread pool)
 * and logits buffer; it borrows the model. Thread safety: one caller at a
 * time.
 */
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "engine/engine_impl.h"

#define BATCH_MAX_SEQS 4096

struct gloam_batch {
  gloam_model *m;
  int max_seqs, max_tokens;
  eng_work w;
  float *logits; /* [max_seqs, vocab] */
  char err[GLOAM_ERR_LEN];
};

int gloam_batch_new(gloam_batch **out, gloam_model *m, int max_seqs, int max_tokens,
                    int n_threads) {
  if (!out || !m) return GLOAM_EINVAL;
  *out = NULL;
  if (max_seqs < 1 || max_seqs > BATCH_MAX_SEQS || max_tokens < max_seqs ||
      max_tokens > ENGINE_MAX_BATCH)
    return GLOAM_EINVAL;
  gloam_batch *b = mem_calloc(1, sizeof *b);
  if (!b) return GLOAM_ENOMEM;
  b->m = m;
  b->max_seqs = max_seqs;
  b->max_tokens = max_tokens;
  b->logits = mem_calloc((size_t)max_seqs * (size_t)m->cfg->vocab, sizeof(float));
  if (!b->logits ||
      eng_work_init(&b->w, m, max_tokens, n_threads > 0 ? n_threads : m->n_threads) < 0) {
    mem_free(b->logits);
    mem_free(b);
    return GLOAM_ENOMEM;
  }
  *out = b;
  return 0;
}

void gloam_batch_free(gloam_batch *b) {
  if (!b) return;
  eng_work_deinit(&b->w);
  mem_free(b->logits);
  mem_free(b);
}

static int check(gloam_batch *b, const gloam_batch_item *items, int n, int *out_total) {
  if (!items || n < 1 || n > b->max_seqs)
    return err_set(b->err, GLOAM_EINVAL, "%d items (batch holds 1 .. %d)", n, b->max_seqs);
  int total = 0, vocab = b->m->cfg->vocab;
  for (int i = 0; i < n; i++) {
    const gloam_batch_item *it = &items[i];
    gloam_session *s = it->session;
    if (!s || s->m != b->m)
      return err_set(b->err, GLOAM_EINVAL, "item %d: no session of this model", i);
    if (s->kv_f16 != items[0].session->kv_f16)
      return err_set(b->err, GLOAM_EINVAL, "item %d: sessions differ in kv_f16", i);
    for (int j = 0; j < i; j++)
      if (items[j].session == s) return err_set(b->err, GLOAM_EINVAL, "item %d: session twice", i);
    if (!it->tokens || it->n_tokens <= 0)
      return err_set(b->err, GLOAM_EINVAL, "item %d: no tokens", i);
    if (it->n_tokens > b->max_tokens - total)
      return err_set(b->err, GLOAM_ERANGE, "more than %d tokens in one step", b->max_tokens);
    if (it->n_tokens > s->n_ctx - s->n_past)
      return err_set(b->err, GLOAM_ERANGE, "item %d: context full (%d + %d > %d)", i, s->n_past,
                     it->n_tokens, s->n_ctx);
    for (int t = 0; t < it->n_tokens; t++)
      if (it->tokens[t] < 0 || it->tokens[t] >= vocab)
        return err_set(b->err, GLOAM_EINVAL, "item %d: token %d outside the vocabulary", i,
                       (int)it->tokens[t]);
    total += it->n_tokens;
  }
  *out_total = total;
  return 0;
}

int gloam_batch_eval(gloam_batch *b, const gloam_batch_item *items, int n_items) {
  if (!b) return GLOAM_EINVAL;
  err_clear(b->err);
  int total = 0, rc = check(b, items, n_items, &total);
  if (rc < 0) return rc;
  eng_work *w = &b->w;
  int r = 0;
  for (int i = 0; i < n_items; i++) {
    gloam_session *s = items[i].session;
    for (int t = 0; t < items[i].n_tokens; t++, r++) {
      w->row_sess[r] = s;
      w->pos[r] = s->n_past + t;
      w->tokens[r] = items[i].tokens[t];
    }
    w->out_rows[i] = r - 1;
  }
  rc = forward_rows(w, b->m, w->tokens, total, n_items, b->logits, NULL, NULL);
  /* a step this long is a prefill (decode batches of 128+ sequences do not
   * run on a CPU): hand its scratch rows back, as sessions do */
  if (total > 4 * ENG_TRIM_ROWS) eng_work_trim(w, ENG_TRIM_ROWS);
  if (rc < 0) return err_set(b->err, rc, "evaluation failed");
  size_t vocab = (size_t)b->m->cfg->vocab;
  for (int i = 0; i < n_items; i++) {
    gloam_session *s = items[i].session;
    memcpy(s->logits, b->logits + (size_t)i * vocab, sizeof(float) * vocab);
    s->n_logits = 1;
    s->n_past += items[i].n_tokens;
  }
  return 0;
}

const char *gloam_batch_errmsg(const gloam_batch *b) {
  return b ? b->err : "";
}
