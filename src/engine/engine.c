/* SPDX-License-Identifier: Apache-2.0
 *
 * engine/engine.c: gloam_model: loading (model_files + weight binding +
 * rope tables) and the metadata queries of gloam/engine.h.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/err.h"
#include "engine/engine_impl.h"
#include "engine/gemma4.h"
#include "engine/moe_paging.h"
#include "engine/rope.h"
#include "engine/weights.h"

gloam_model_params gloam_model_default_params(void) {
  gloam_model_params p = {.config_name = NULL, .quantize = GLOAM_QUANT_NONE, .n_threads = 1};
  return p;
}

static int init_rope(gloam_model *m, char *err) {
  const model_config *c = m->cfg;
  size_t half = (size_t)c->rope_dim / 2; /* rope_dim <= head_dim */
  m->rope_global.inv_freq = arena_alloc(&m->ar, sizeof(float) * half);
  m->rope_local.inv_freq = arena_alloc(&m->ar, sizeof(float) * half);
  if (!m->rope_global.inv_freq || !m->rope_local.inv_freq)
    return err_set(err, GLOAM_ENOMEM, "out of memory");
  /* as transformers: original_max_position_embeddings defaults to
   * max_position_embeddings */
  rope_params global = c->rope, local = c->rope_local.theta > 0 ? c->rope_local : c->rope;
  if (global.original_max_pos <= 0) global.original_max_pos = c->max_pos;
  if (local.original_max_pos <= 0) local.original_max_pos = c->max_pos;
  int rc =
      rope_inv_freq(m->rope_global.inv_freq, c->rope_dim, &global, &m->rope_global.mscale, err);
  if (rc < 0) return rc;
  return rope_inv_freq(m->rope_local.inv_freq, c->rope_dim, &local, &m->rope_local.mscale, err);
}

static void count_params(gloam_model *m) {
  int n = model_files_n_tensors(m->mf);
  for (int i = 0; i < n; i++) {
    const tensor *t = model_files_tensor_at(m->mf, i);
    int64_t e = 1;
    for (int d = 0; d < t->n_dims; d++) e *= t->shape[d];
    m->n_params += e;
    m->n_bytes += t->n_bytes;
  }
}

int gloam_model_load(gloam_model **out, const char *path, const gloam_model_params *params,
                     char *err) {
  char scratch[GLOAM_ERR_LEN];
  if (!err) err = scratch;
  err_clear(err);
  if (!out || !path) return err_set(err, GLOAM_EINVAL, "NULL argument");
  *out = NULL;
  gloam_model_params p = params ? *params : gloam_model_default_params();
  model_open_opts opts = {.config_name = p.config_name, .quantize = -1};
  if (p.quantize == GLOAM_QUANT_Q8_0)
    opts.quantize = DT_Q8_0;
  else if (p.quantize == GLOAM_QUANT_Q4_0)
    opts.quantize = DT_Q4_0;
  else if (p.quantize != GLOAM_QUANT_NONE)
    return err_set(err, GLOAM_EINVAL, "unknown quantization %d", (int)p.quantize);

  gloam_model *m = mem_calloc(1, sizeof *m);
  if (!m) return err_set(err, GLOAM_ENOMEM, "out of memory");
  arena_init(&m->ar, 64 * 1024, SIZE_MAX);
  m->n_threads = p.n_threads > 0 ? p.n_threads : 1;
  int rc = model_files_open(&m->mf, path, &opts, err);
  if (rc < 0) goto fail;
  m->cfg = model_files_config(m->mf);
  m->arch = arch_find(m->cfg->arch);
  if (!m->arch) {
    rc = err_set(err, GLOAM_EUNSUPPORTED, "architecture %s not supported", m->cfg->model_type);
    goto fail;
  }
  if (m->cfg->arch == ARCH_GEMMA4) {
    if ((rc = gemma4_bind(m, err)) < 0) goto fail;
  } else {
    if ((rc = weights_bind(m, err)) < 0) goto fail;
    if ((rc = init_rope(m, err)) < 0) goto fail;
  }
  float qpas = m->cfg->query_pre_attn_scalar;
  m->attn_scale = (float)(1.0 / sqrt(qpas > 0 ? (double)qpas : (double)m->cfg->head_dim));
  count_params(m);
  moe_paging_init(m);
  *out = m;
  return 0;
fail:
  gloam_model_free(m);
  return rc;
}

void gloam_model_free(gloam_model *m) {
  if (!m) return;
  arena_deinit(&m->ar);
  model_files_close(m->mf);
  mem_free(m);
}

const char *gloam_model_arch(const gloam_model *m) {
  return m->arch->name;
}
const char *gloam_model_format(const gloam_model *m) {
  return model_files_format(m->mf);
}
const char *gloam_model_path(const gloam_model *m) {
  return model_files_path(m->mf);
}
int gloam_model_n_vocab(const gloam_model *m) {
  return m->cfg->vocab;
}
int gloam_model_n_ctx_train(const gloam_model *m) {
  return m->cfg->max_pos;
}
int gloam_model_n_layers(const gloam_model *m) {
  return m->cfg->n_layers;
}
int gloam_model_n_embd(const gloam_model *m) {
  return m->cfg->hidden;
}
int gloam_model_n_heads(const gloam_model *m) {
  return m->cfg->n_heads;
}
int gloam_model_n_kv_heads(const gloam_model *m) {
  return m->cfg->n_kv_heads;
}
int gloam_model_head_dim(const gloam_model *m) {
  return m->cfg->head_dim;
}
int gloam_model_n_ff(const gloam_model *m) {
  return m->cfg->ffn_hidden;
}
int gloam_model_n_experts(const gloam_model *m) {
  return m->cfg->n_experts;
}
int gloam_model_n_experts_used(const gloam_model *m) {
  return m->cfg->n_experts > 0 ? m->cfg->n_experts_per_tok : 0;
}
/* Adds mat's bytes and elements, scaled by num / den, to the sums. */
static void mat_cost(const eng_mat *w, double num, double den, double *bytes, double *params) {
  if (!w->data) return;
  *bytes += (double)w->rows * (double)dtype_row_bytes(w->type, w->cols) * num / den;
  *params += (double)w->rows * (double)w->cols * num / den;
}

static void active_cost(const gloam_model *m, double *bytes, double *params) {
  const model_config *c = m->cfg;
  *bytes = *params = 0;
  mat_cost(&m->lm_head, 1, 1, bytes, params);
  for (int l = 0; l < c->n_layers; l++) {
    const eng_layer *L = &m->layers[l];
    const eng_mat *dense[] = {&L->wq, &L->wk, &L->wv, &L->wo, &L->gate, &L->up, &L->down};
    for (size_t i = 0; i < sizeof dense / sizeof dense[0]; i++)
      mat_cost(dense[i], 1, 1, bytes, params);
    if (!L->moe) continue;
    mat_cost(&L->router, 1, 1, bytes, params);
    for (int e = 0; e < c->n_experts; e++) {
      mat_cost(&L->egate[e], c->n_experts_per_tok, c->n_experts, bytes, params);
      mat_cost(&L->eup[e], c->n_experts_per_tok, c->n_experts, bytes, params);
      mat_cost(&L->edown[e], c->n_experts_per_tok, c->n_experts, bytes, params);
    }
  }
}

size_t gloam_model_active_bytes(const gloam_model *m) {
  double b, p;
  active_cost(m, &b, &p);
  return (size_t)b;
}
int64_t gloam_model_n_active_params(const gloam_model *m) {
  double b, p;
  active_cost(m, &b, &p);
  return (int64_t)p;
}
int gloam_model_n_tensors(const gloam_model *m) {
  return model_files_n_tensors(m->mf);
}
int64_t gloam_model_n_params(const gloam_model *m) {
  return m->n_params;
}
size_t gloam_model_size_bytes(const gloam_model *m) {
  return m->n_bytes;
}
int32_t gloam_model_bos(const gloam_model *m) {
  return m->cfg->bos_id;
}
int32_t gloam_model_eos(const gloam_model *m) {
  return m->cfg->n_eos > 0 ? m->cfg->eos_ids[0] : -1;
}
bool gloam_model_is_eog(const gloam_model *m, int32_t tok) {
  for (int i = 0; i < m->cfg->n_eos && i < 4; i++)
    if (m->cfg->eos_ids[i] == tok && tok >= 0) return true;
  return false;
}

/* Distinct (package, core) pairs of the online CPUs in sysfs; the online
 * CPU count where sysfs is unavailable. */
int gloam_physical_cores(void) {
  long n_cpu = sysconf(_SC_NPROCESSORS_ONLN);
  if (n_cpu < 1) n_cpu = 1;
  if (n_cpu > 4096) n_cpu = 4096;
  enum { MAX_CORES = 1024 };
  long seen[MAX_CORES];
  int n_seen = 0;
  for (long cpu = 0; cpu < n_cpu; cpu++) {
    long id[2];
    static const char *const what[2] = {"physical_package_id", "core_id"};
    for (int k = 0; k < 2; k++) {
      char path[128];
      snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu%ld/topology/%s", cpu, what[k]);
      FILE *f = fopen(path, "r");
      if (!f) return (int)n_cpu;
      int ok = fscanf(f, "%ld", &id[k]) == 1;
      fclose(f);
      if (!ok) return (int)n_cpu;
    }
    long key = id[0] * 65536 + id[1];
    bool dup = false;
    for (int i = 0; i < n_seen && !dup; i++) dup = seen[i] == key;
    if (!dup && n_seen < MAX_CORES) seen[n_seen++] = key;
  }
  return n_seen > 0 ? n_seen : (int)n_cpu;
}
