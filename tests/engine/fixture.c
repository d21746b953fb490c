/* SPDX-License-Identifier: Apache-2.0
 *
 * tests/engine/fixture.c: loading a model fixture (tests/fixtures/models/<family>,
 * made by Hugging Face transformers) and comparing the engine against it;
 * shared by the engine's test binaries (see fixture.h).
 */
#include <jansson.h>
#include <math.h>
#include <stdlib.h>

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
