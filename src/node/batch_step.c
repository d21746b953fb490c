/* SPDX-License-Identifier: Apache-2.0
 *
 * node/batch_step.c: one generation step for every busy slot, with their
 * new tokens evaluated together in one forward pass (gloam_batch), so the
 * weights are read once per step for all concurrent requests instead of
 * once per request (docs/node.md, "Threads").
 *
 * DESIGN: each slot first runs job_next (cancel and deadline checks,
 * sampling, streaming the sampled token); the slots whose jobs continue
 * put their token into one gloam_batch_eval; then job_evaluated. Prefill
 * stays per session (job_begin). If the batched pass fails (it validates
 * everything before writing, so no session changed), the tokens are
 * evaluated one by one, which attributes the error to its job. Cancel stays
 * within one token: the flag is checked before every step, and a step is
 * one token per slot. With `batch = false` every slot is evaluated on its
 * own (the earlier interleaving), for comparison.
 *
 * Thread safety: engine thread only.
 */
#include <unistd.h>

#include "core/err.h"
#include "core/log.h"
#include "core/time.h"
#include "node/engine_int.h"

int eng_batch_new(node_engine *e, char *err) {
  if (!e->cfg->batch || e->n_slots < 2) return 0;
  /* an explicit `threads` is the compute threads of one forward pass, as for
   * a session; the default is every online CPU (the sessions' default, CPUs
   * / slots, would leave cores idle in the one batched pass) */
  long threads = e->cfg->threads > 0 ? e->cfg->threads : sysconf(_SC_NPROCESSORS_ONLN);
  int rc =
      gloam_batch_new(&e->batch, e->model, e->n_slots, e->n_slots, threads > 0 ? (int)threads : 1);
  return rc < 0 ? err_set(err, rc, "cannot create the decode batch") : 0;
}

int eng_step_all(node_engine *e) {
  enum { MAX = 64 };
  gloam_batch_item items[MAX];
  node_slot *who[MAX];
  int n = 0, ended = 0;
  for (int i = 0; i < e->n_slots && n < MAX; i++) {
    node_slot *s = &e->slots[i];
    if (!s->job) continue;
    if (job_next(e, s) == 1) {
      ended++;
      continue;
    }
    items[n] = (gloam_batch_item){s->session, &s->next_tok, 1};
    who[n++] = s;
  }
  if (n == 0) return ended;
  uint64_t t0 = time_mono_ns();
  if (e->batch && n > 1) {
    int rc = gloam_batch_eval(e->batch, items, n);
    double dt = (double)(time_mono_ns() - t0) / 1e9;
    if (rc == 0) {
      for (int k = 0; k < n; k++) ended += job_evaluated(e, who[k], 0, dt);
      return ended;
    }
    log_event(LOG_WARN, "node.batch_failed", "error", gloam_batch_errmsg(e->batch));
  }
  for (int k = 0; k < n; k++) {
    t0 = time_mono_ns();
    int rc = job_eval_one(who[k]);
    ended += job_evaluated(e, who[k], rc, (double)(time_mono_ns() - t0) / 1e9);
  }
  return ended;
}
