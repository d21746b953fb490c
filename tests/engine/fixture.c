/* SPDX-License-Identifier: Apache-2.0
 *
 * tests/engine/fixture.c: loading a model fixture (tests/fixtures/models/<family>,
 * made by Hugging Face transformers) and comparing the engine against it;
 * shared by the engine's test binaries (see fixture.h).
 */
#include <jansson.h>
#include <math.h>
#include <stdlib.h>

#include "core/alloc.h"
#include "engine/engine_impl.h"
#include "fixture.h"
#include "test.h"

float *fixture_read_f32(const char *dir, const char *name, size_t n) {
  char path[1024];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  size_t len = 0;
  float *v = test_read_file(path, &len);
  if (!v) test_fail(__FILE__, __LINE__, "cannot read %s", path);
  if (len != n * sizeof(float)) test_fail(__FILE__, __LINE__, "%s: %zu bytes", path, len);
  return v;
}

void fixture_load(fixture *f, const char *family) {
  memset(f, 0, sizeof *f);
  char rel[256];
  snprintf(rel, sizeof rel, "models/%s", family);
  f->dir = test_fixture_path(rel);
  char path[1024];
  snprintf(path, sizeof path, "%s/reference.json", f->dir);
  json_error_t je;
  json_t *r = json_load_file(path, 0, &je);
  if (!r) TEST_SKIP("fixture reference.json missing");
  json_t *ids = json_object_get(r, "input_ids");
  f->n_ids = (int)json_array_size(ids);
  ASSERT_TRUE(f->n_ids > 0 && f->n_ids <= FIX_MAX_IDS);
  for (int i = 0; i < f->n_ids; i++)
    f->ids[i] = (int32_t)json_integer_value(json_array_get(ids, (size_t)i));
  json_t *shape = json_object_get(r, "logits_shape");
  ASSERT_EQ_INT(json_integer_value(json_array_get(shape, 0)), f->n_ids);
  f->vocab = (int)json_integer_value(json_array_get(shape, 1));
  f->logits = fixture_read_f32(f->dir, json_string_value(json_object_get(r, "logits_file")),
                               (size_t)f->n_ids * f->vocab);
  json_t *hshape = json_object_get(r, "hidden_states_shape");
  f->n_hs = (int)json_integer_value(json_array_get(hshape, 0));
  f->hidden = (int)json_integer_value(json_array_get(hshape, 2));
  f->hs = fixture_read_f32(f->dir, json_string_value(json_object_get(r, "hidden_states_file")),
                           (size_t)f->n_hs * f->n_ids * f->hidden);
  json_t *g = json_object_get(r, "greedy_ids"), *mg = json_object_get(r, "greedy_top1_margin");
  f->n_greedy = (int)json_array_size(g);
  ASSERT_TRUE(f->n_greedy <= FIX_MAX_IDS && json_array_size(mg) == (size_t)f->n_greedy);
  for (int i = 0; i < f->n_greedy; i++) {
    f->greedy[i] = (int32_t)json_integer_value(json_array_get(g, (size_t)i));
    f->margin[i] = json_number_value(json_array_get(mg, (size_t)i));
  }
  json_decref(r);
}

void fixture_free(fixture *f) {
  free(f->dir);
  free(f->logits);
  free(f->hs);
}

gloam_model *fixture_model_load(const char *dir, const char *config, enum gloam_quant q,
                                int threads) {
  gloam_model_params mp = gloam_model_default_params();
  mp.config_name = config;
  mp.quantize = q;
  mp.n_threads = threads;
  gloam_model *m = NULL;
  char err[GLOAM_ERR_LEN];
  int rc = gloam_model_load(&m, dir, &mp, err);
  if (rc < 0)
    test_fail(__FILE__, __LINE__, "load %s (%s): %s", dir, config ? config : "config.json", err);
  return m;
}

gloam_session *fixture_session(gloam_model *m, int n_ctx, int n_batch, bool all) {
  gloam_session_params sp = gloam_session_default_params();
  sp.n_ctx = n_ctx;
  sp.n_batch = n_batch;
  sp.logits_all = all;
  sp.kv_f16 = false; /* fixture checks measure the float32 math; test_kv_f16 the f16 cache */
  gloam_session *s = NULL;
  ASSERT_OK(gloam_session_new(&s, m, &sp));
  return s;
}

double fixture_max_abs(const float *v, size_t n) {
  double m = 0;
  for (size_t i = 0; i < n; i++) m = fmax(m, fabs((double)v[i]));
  return m;
}

double fixture_max_diff(const float *a, const float *b, size_t n) {
  double m = 0;
  for (size_t i = 0; i < n; i++) m = fmax(m, fabs((double)a[i] - (double)b[i]));
  return m;
}

double fixture_tolerance(const float *ref, size_t n) {
  return 1e-3 * fmax(1.0, fixture_max_abs(ref, n));
}

/* All-position logits of one prefill (malloc'd [n_ids, vocab]). */
float *fixture_prefill_logits(gloam_model *m, const int32_t *ids, int n) {
  gloam_session *s = fixture_session(m, n, n, true);
  ASSERT_OK(gloam_session_eval(s, ids, n));
  int rows = 0;
  const float *lg = gloam_session_logits_all(s, &rows);
  ASSERT_NOT_NULL(lg);
  ASSERT_EQ_INT(rows, n);
  size_t bytes = sizeof(float) * (size_t)n * gloam_model_n_vocab(m);
  float *out = malloc(bytes);
  memcpy(out, lg, bytes);
  gloam_session_free(s);
  return out;
}

/* Quantized logits against the float32 reference: mean KL(ref || quant)
 * over every position, and top-1 agreement over the positions whose
 * reference top-1 margin exceeds twice that position's largest quantization
 * error (a near-tie inside the quantization noise may flip either way; with
 * 8-bit activations it does, e.g. llama's position 2 has a 0.035 margin). */
void fixture_quant_stats(const float *ref, const float *q, int n, int V, double *agree,
                         double *kl) {
  int same = 0, decidable = 0;
  double kl_sum = 0;
  for (int t = 0; t < n; t++) {
    const float *r = ref + (size_t)t * V, *x = q + (size_t)t * V;
    int ar = 0, ax = 0;
    double mr = r[0], mx = x[0], sr = 0, sx = 0, qerr = fabs((double)x[0] - r[0]);
    for (int i = 1; i < V; i++) {
      if (r[i] > r[ar]) ar = i;
      if (x[i] > x[ax]) ax = i;
      mr = fmax(mr, r[i]);
      mx = fmax(mx, x[i]);
      qerr = fmax(qerr, fabs((double)x[i] - r[i]));
    }
    double second = -INFINITY;
    for (int i = 0; i < V; i++)
      if (i != ar) second = fmax(second, r[i]);
    if (r[ar] - second > 2 * qerr) {
      decidable++;
      same += ar == ax;
    }
    for (int i = 0; i < V; i++) {
      sr += exp(r[i] - mr);
      sx += exp(x[i] - mx);
    }
    double lr = mr + log(sr), lx = mx + log(sx), k = 0;
    for (int i = 0; i < V; i++) {
      double pr = exp(r[i] - lr);
      k += pr * ((r[i] - lr) - (x[i] - lx));
    }
    kl_sum += k;
  }
  *agree = decidable ? (double)same / decidable : 1.0;
  *kl = kl_sum / n;
}

double fixture_check_hidden(gloam_model *m, const fixture *f, const char *what) {
  ASSERT_EQ_INT(f->n_hs, gloam_model_n_layers(m) + 1);
  ASSERT_EQ_INT(f->hidden, gloam_model_n_embd(m));
  size_t per = (size_t)f->n_ids * f->hidden;
  float *hs = calloc((size_t)f->n_hs * per, sizeof(float));
  gloam_session *s = fixture_session(m, f->n_ids, f->n_ids, false);
  engine_session_capture_hidden(s, hs);
  ASSERT_OK(gloam_session_eval(s, f->ids, f->n_ids));
  double worst = 0;
  for (int l = 0; l < f->n_hs; l++) {
    double err = fixture_max_diff(hs + l * per, f->hs + l * per, per);
    double tol = fixture_tolerance(f->hs + l * per, per);
    if (!(err <= tol))
      test_fail(__FILE__, __LINE__, "%s hidden state %d: err %.3g > %.3g", what, l, err, tol);
    worst = fmax(worst, err);
  }
  gloam_session_free(s);
  free(hs);
  return worst;
}

int fixture_check_greedy(gloam_model *m, const fixture *f) {
  gloam_session *s = fixture_session(m, f->n_ids + f->n_greedy, 64, false);
  gloam_sampler_params pp = gloam_sampler_default_params();
  pp.temperature = 0;
  gloam_sampler *smp = NULL;
  ASSERT_OK(gloam_sampler_new(&smp, m, &pp));
  ASSERT_OK(gloam_session_eval(s, f->ids, f->n_ids));
  int compared = 0;
  for (int t = 0; t < f->n_greedy && f->margin[t] > 0.05; t++) {
    int32_t tok;
    ASSERT_OK(gloam_sampler_sample(smp, gloam_session_logits(s), &tok, NULL));
    ASSERT_EQ_INT(tok, f->greedy[t]);
    compared++;
    ASSERT_OK(gloam_session_eval(s, &tok, 1));
  }
  gloam_sampler_free(smp);
  gloam_session_free(s);
  return compared;
}

void fixture_quant_on_load(const fixture *f, enum gloam_quant q, double *agree, double *kl) {
  gloam_model *m = fixture_model_load(f->dir, NULL, q, 1);
  float *lg = fixture_prefill_logits(m, f->ids, f->n_ids);
  fixture_quant_stats(f->logits, lg, f->n_ids, f->vocab, agree, kl);
  free(lg);
  gloam_model_free(m);
}

double fixture_batch_vs_alone(gloam_model *m, const int32_t *const seq[3], int n, int max_tokens,
                              const int (*plan)[3], int n_plan, int *out_steps, double *out_scale) {
  int V = gloam_model_n_vocab(m);
  float *full[3];
  double scale = 1.0, worst = 0;
  for (int q = 0; q < 3; q++) {
    full[q] = fixture_prefill_logits(m, seq[q], n);
    scale = fmax(scale, fixture_max_abs(full[q], (size_t)n * V));
  }
  gloam_session *s[3];
  /* caches of different lengths: a row must find its positions in its own
   * session's cache layout, whatever the others' n_ctx */
  for (int q = 0; q < 3; q++) s[q] = fixture_session(m, n + 5 * q, 1, q == 2);
  gloam_batch *b = NULL;
  ASSERT_OK(gloam_batch_new(&b, m, 3, max_tokens, 2));
  int done[3] = {0, 0, 0}, n_steps = 0;
  for (;;) {
    gloam_batch_item it[3];
    int k = 0, order = n_steps % 2; /* alternate the item order */
    for (int j = 0; j < 3; j++) {
      int q = order ? 2 - j : j;
      int want = n_steps < n_plan ? plan[n_steps][q] : 1;
      if (want > n - done[q]) want = n - done[q];
      if (want > 0) it[k++] = (gloam_batch_item){s[q], seq[q] + done[q], want};
    }
    if (k == 0) break;
    ASSERT_OK(gloam_batch_eval(b, it, k));
    for (int j = 0; j < k; j++) {
      int q = it[j].session == s[0] ? 0 : it[j].session == s[1] ? 1 : 2;
      done[q] += it[j].n_tokens;
      ASSERT_EQ_INT(gloam_session_n_past(s[q]), done[q]);
      worst = fmax(worst, fixture_max_diff(gloam_session_logits(s[q]),
                                           full[q] + (size_t)(done[q] - 1) * V, (size_t)V));
    }
    n_steps++;
  }
  /* a reset sequence restarts in a batch step that allocates nothing */
  gloam_session_reset(s[0]);
  gloam_batch_item one = {s[0], seq[0], 1};
  mem_fail_after(0);
  int rc = gloam_batch_eval(b, &one, 1);
  mem_fail_after(-1);
  ASSERT_OK(rc);
  worst = fmax(worst, fixture_max_diff(gloam_session_logits(s[0]), full[0], (size_t)V));
  gloam_batch_free(b);
  for (int q = 0; q < 3; q++) {
    gloam_session_free(s[q]);
    free(full[q]);
  }
  *out_steps = n_steps;
  *out_scale = scale;
  return worst;
}

void fixture_check_batch(gloam_model *m, const int32_t *const seq[3], int n, int max_tokens,
                         const int (*plan)[3], int n_plan, const char *what) {
  int n_steps;
  double scale,
      worst = fixture_batch_vs_alone(m, seq, n, max_tokens, plan, n_plan, &n_steps, &scale);
  printf("    batch %-12s %d steps, max|batched - alone| %.3g (scale %.3g)\n", what, n_steps, worst,
         scale);
  if (!(worst <= 1e-4 * scale))
    test_fail(__FILE__, __LINE__, "%s: batched vs alone %.3g", what, worst);
}

char *fixture_edited_copy_ex(const char *family, fixture_edit_fn edit, void *ctx) {
  char rel[256], path[1024];
  snprintf(rel, sizeof rel, "models/%s", family);
  char *dir = test_fixture_path(rel), *tmp = test_tmpdir();
  snprintf(path, sizeof path, "%s/model.safetensors", dir);
  size_t len = 0;
  unsigned char *st = test_read_file(path, &len);
  ASSERT_TRUE(st && len > 8);
  uint64_t hlen = 0;
  for (int i = 7; i >= 0; i--) hlen = hlen << 8 | st[i];
  ASSERT_TRUE(hlen <= len - 8);
  json_error_t je;
  json_t *hdr = json_loadb((const char *)st + 8, (size_t)hlen, 0, &je);
  snprintf(path, sizeof path, "%s/config.json", dir);
  json_t *cfg = json_load_file(path, 0, &je);
  ASSERT_TRUE(hdr && cfg);
  fixture_data data = {.data = st + 8 + hlen, .len = len - 8 - hlen};
  edit(hdr, cfg, &data, ctx);
  char *h = json_dumps(hdr, JSON_COMPACT);
  size_t hl = strlen(h), pad = (8 - hl % 8) % 8;
  snprintf(path, sizeof path, "%s/model.safetensors", tmp);
  FILE *f = fopen(path, "wb");
  ASSERT_NOT_NULL(f);
  unsigned char le[8];
  for (int i = 0; i < 8; i++) le[i] = (unsigned char)((hl + pad) >> (8 * i));
  fwrite(le, 1, 8, f);
  fwrite(h, 1, hl, f);
  fwrite("        ", 1, pad, f);
  fwrite(data.data, 1, data.len, f);
  if (data.extra) fwrite(data.extra, 1, data.extra_len, f);
  fclose(f);
  snprintf(path, sizeof path, "%s/config.json", tmp);
  ASSERT_EQ_INT(json_dump_file(cfg, path, 0), 0);
  free(h);
  json_decref(hdr);
  json_decref(cfg);
  free(data.extra);
  free(st);
  free(dir);
  return tmp;
}

static void simple_edit(json_t *hdr, json_t *cfg, fixture_data *data, void *ctx) {
  (void)data;
  void (**fn)(json_t *, json_t *) = ctx;
  (*fn)(hdr, cfg);
}

char *fixture_edited_copy(const char *family, void (*edit)(json_t *hdr, json_t *cfg)) {
  return fixture_edited_copy_ex(family, simple_edit, &edit);
}

void fixture_set_shape(json_t *hdr, const char *name, int64_t a, int64_t b) {
  json_t *t = json_object_get(hdr, name);
  ASSERT_NOT_NULL(t);
  json_object_set_new(t, "shape", json_pack("[II]", (json_int_t)a, (json_int_t)b));
}

void fixture_rename_tensor(json_t *hdr, const char *name) {
  json_t *t = json_object_get(hdr, name);
  ASSERT_NOT_NULL(t);
  char other[256];
  snprintf(other, sizeof other, "%s.renamed", name);
  json_object_set(hdr, other, t);
  json_object_del(hdr, name);
}
