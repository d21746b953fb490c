/* SPDX-License-Identifier: Apache-2.0
 *
 * engine/moe_paging.c: expert paging for MoE models larger than memory
 * (see moe_paging.h).
 */
#include "engine/moe_paging.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

void moe_paging_init(gloam_model *m) {
  const char *env = getenv("GLOAM_EXPERT_PAGING");
  long pages = sysconf(_SC_PHYS_PAGES), pg = sysconf(_SC_PAGESIZE);
  m->page_size = pg > 0 ? (size_t)pg : 4096;
  double ram = pages > 0 && pg > 0 ? (double)pages * (double)pg : 0;
  bool on = m->cfg->n_experts > 0 && ram > 0 && (double)m->n_bytes > ram / 2;
  if (env && (strcmp(env, "0") == 0 || strcmp(env, "1") == 0)) on = env[0] == '1';
  m->expert_paging = on && m->cfg->n_experts > 0;
  if (m->expert_paging) model_files_advise_random(m->mf);
}

static void willneed(const eng_mat *w, size_t page) {
  uintptr_t a = (uintptr_t)w->data, len = (uintptr_t)w->rows * dtype_row_bytes(w->type, w->cols);
  uintptr_t lo = a & ~(uintptr_t)(page - 1);
  (void)madvise((void *)lo, len + (a - lo), MADV_WILLNEED); /* a hint: errors are harmless */
}

void moe_paging_prefetch(const gloam_model *m, const eng_layer *L, const int32_t *eoff) {
  if (!m->expert_paging) return;
  for (int e = 0; e < m->cfg->n_experts; e++) {
    if (eoff[e + 1] == eoff[e]) continue;
    willneed(&L->egate[e], m->page_size);
    willneed(&L->eup[e], m->page_size);
    willneed(&L->edown[e], m->page_size);
  }
}
