/* SPDX-License-Identifier: Apache-2.0
 *
 * tests/engine/test_gemma4.c: Gemma 4 text (tests/fixtures/models/gemma4,
 * made by transformers 5.17 in float32: MoE block beside the MLP, per-layer
 * inputs, a full layer with its own head_dim, proportional partial rope,
 * sliding window 4) against the reference: logits of every position and
 * every hidden state within the fixture tolerance, greedy ids, cached
 * decode (one token at a time, odd steps, truncate, f16 cache) equal to a
 * full recomputation, continuous batching equal to sequences alone, two
 * threads equal to one, quantize-on-load (top-1 agreement and KL printed
 * and bounded); corrupted configs and shapes refused; GGUF conversion
 * refused with GLOAM_EUNSUPPORTED.
 */
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/alloc.h"
#include "engine/config.h"
#include "engine/convert.h"
#include "engine/engine_impl.h"
#include "fixture.h"
#include "gloam/engine.h"
#include "test.h"

#define FAMILY "gemma4"

static void test_logits_match(void) {
  fixture f;
  fixture_load(&f, FAMILY);
  gloam_model *m = fixture_model_load(f.dir, NULL, GLOAM_QUANT_NONE, 1);
  ASSERT_EQ_STR(gloam_model_arch(m), "gemma4");
  ASSERT_EQ_INT(gloam_model_n_vocab(m), f.vocab);
  float *lg = fixture_prefill_logits(m, f.ids, f.n_ids);
  size_t n = (size_t)f.n_ids * f.vocab;
  double err = fixture_max_diff(lg, f.logits, n), tol = fixture_tolerance(f.logits, n);
  printf("    max|logit-ref| %.3g (tol %.3g) over %d positions\n", err, tol, f.n_ids);
  ASSERT_TRUE(err <= tol);
  free(lg);
  gloam_model_free(m);
  fixture_free(&f);
}

static void test_hidden_states_match(void) {
  fixture f;
  fixture_load(&f, FAMILY);
  gloam_model *m = fixture_model_load(f.dir, NULL, GLOAM_QUANT_NONE, 1);
  ASSERT_EQ_INT(f.n_hs, gloam_model_n_layers(m) + 1);
  fixture_check_hidden(m, &f, FAMILY);
  gloam_model_free(m);
  fixture_free(&f);
}

static void test_greedy_matches(void) {
  fixture f;
  fixture_load(&f, FAMILY);
  gloam_model *m = fixture_model_load(f.dir, NULL, GLOAM_QUANT_NONE, 1);
  int steps = fixture_check_greedy(m, &f);
  printf("    greedy ids equal for %d of %d steps\n", steps, f.n_greedy);
  ASSERT_TRUE(steps >= 3);
  gloam_model_free(m);
  fixture_free(&f);
}

/* Logits of the last token after evaluating ids in chunks of `chunk`
 * (after truncating to n_keep and re-evaluating when n_keep >= 0), at
 * every step against the full prefill. Returns the worst difference. */
static double cached_run(gloam_model *m, const fixture *f, const float *full, int chunk,
                         bool kv_f16) {
  gloam_session_params sp = gloam_session_default_params();
  sp.n_ctx = f->n_ids;
  sp.n_batch = chunk;
  sp.kv_f16 = kv_f16;
  gloam_session *s = NULL;
  ASSERT_OK(gloam_session_new(&s, m, &sp));
  double worst = 0;
  int V = f->vocab;
  for (int t = 0; t < f->n_ids; t += chunk) {
    int n = f->n_ids - t < chunk ? f->n_ids - t : chunk;
    ASSERT_OK(gloam_session_eval(s, f->ids + t, n));
    worst = fmax(worst, fixture_max_diff(gloam_session_logits(s), full + (size_t)(t + n - 1) * V,
                                         (size_t)V));
  }
  /* rewind past the sliding window and recompute the tail in one step */
  ASSERT_OK(gloam_session_truncate(s, 2));
  ASSERT_OK(gloam_session_eval(s, f->ids + 2, f->n_ids - 2));
  worst = fmax(worst, fixture_max_diff(gloam_session_logits(s), full + (size_t)(f->n_ids - 1) * V,
                                       (size_t)V));
  gloam_session_free(s);
  return worst;
}

static void test_cached_decode_equals_full(void) {
  fixture f;
  fixture_load(&f, FAMILY);
  gloam_model *m = fixture_model_load(f.dir, NULL, GLOAM_QUANT_NONE, 1);
  float *full = fixture_prefill_logits(m, f.ids, f.n_ids);
  double scale = fmax(1.0, fixture_max_abs(full, (size_t)f.n_ids * f.vocab));
  for (int chunk = 1; chunk <= 3; chunk++) {
    double worst = cached_run(m, &f, full, chunk, false);
    printf("    steps of %d: max|cached - full| %.3g (scale %.3g)\n", chunk, worst, scale);
    ASSERT_TRUE(worst <= 1e-4 * scale);
  }
  double w16 = cached_run(m, &f, full, 1, true);
  printf("    f16 cache, one token at a time: %.3g\n", w16);
  ASSERT_TRUE(w16 <= 1e-2 * scale);
  free(full);
  gloam_model_free(m);
  fixture_free(&f);
}

/* Two sequences (ids and ids reversed) through gloam_batch: a prefill
 * chunk of one beside decode steps of the other, then one leaving while the
 * other goes on; returns the worst difference of each step's logits from
 * its sequence's full prefill at that position (relative to its scale). */
static double batch_vs_alone(gloam_model *m, const int32_t *ids, int n, int V) {
  int32_t rev[FIX_MAX_IDS];
  for (int t = 0; t < n; t++) rev[t] = ids[n - 1 - t];
  const int32_t *seq[2] = {ids, rev};
  float *full[2] = {fixture_prefill_logits(m, ids, n), fixture_prefill_logits(m, rev, n)};
  double scale = fmax(1.0, fixture_max_abs(full[0], (size_t)n * V)), worst = 0;
  gloam_session *s[2] = {fixture_session(m, n, 4, false), fixture_session(m, n, 4, false)};
  gloam_batch *b = NULL;
  ASSERT_OK(gloam_batch_new(&b, m, 2, 6, 2));
  int done[2] = {0, 0};
  /* tokens per step for sequence 0 and 1 (0: absent) */
  static const int plan[][2] = {{5, 0}, {1, 4}, {1, 1}, {0, 3}, {1, 1}, {2, 0}, {0, 2}, {1, 0}};
  const size_t n_plan = sizeof plan / sizeof plan[0];
  for (size_t st = 0;; st++) { /* after the plan: one token each until done */
    gloam_batch_item it[2];
    int k = 0;
    for (int q = 1; q >= 0; q--) { /* sequence 1 first: rows out of session order */
      int want = st < n_plan ? plan[st][q] : 1;
      if (want > n - done[q]) want = n - done[q];
      if (want > 0) it[k++] = (gloam_batch_item){s[q], seq[q] + done[q], want};
    }
    if (!k && st >= n_plan) break;
    if (!k) continue;
    ASSERT_OK(gloam_batch_eval(b, it, k));
    for (int j = 0; j < k; j++) {
      int q = it[j].session == s[0] ? 0 : 1;
      done[q] += it[j].n_tokens;
      ASSERT_EQ_INT(gloam_session_n_past(s[q]), done[q]);
      worst = fmax(worst, fixture_max_diff(gloam_session_logits(s[q]),
                                           full[q] + (size_t)(done[q] - 1) * V, (size_t)V));
    }
  }
  ASSERT_EQ_INT(done[0], n);
  ASSERT_EQ_INT(done[1], n);
  /* a decode step allocates nothing */
  gloam_session_reset(s[0]);
  gloam_batch_item one = {s[0], ids, 1};
  mem_fail_after(0);
  int rc = gloam_batch_eval(b, &one, 1);
  mem_fail_after(-1);
  ASSERT_OK(rc);
  gloam_batch_free(b);
  for (int q = 0; q < 2; q++) {
    gloam_session_free(s[q]);
    free(full[q]);
  }
  return worst / scale;
}

static void test_batch_equals_sequential(void) {
  fixture f;
  fixture_load(&f, FAMILY);
  gloam_model *m = fixture_model_load(f.dir, NULL, GLOAM_QUANT_NONE, 1);
  double rel = batch_vs_alone(m, f.ids, f.n_ids, f.vocab);
  printf("    max|batched - alone| / scale %.3g\n", rel);
  ASSERT_TRUE(rel <= 1e-4);
  gloam_model_free(m);
  fixture_free(&f);
}

static void test_threads_agree(void) {
  fixture f;
  fixture_load(&f, FAMILY);
  gloam_model *m1 = fixture_model_load(f.dir, NULL, GLOAM_QUANT_NONE, 1);
  gloam_model *m2 = fixture_model_load(f.dir, NULL, GLOAM_QUANT_NONE, 2);
  float *a = fixture_prefill_logits(m1, f.ids, f.n_ids),
        *b = fixture_prefill_logits(m2, f.ids, f.n_ids);
  ASSERT_TRUE(fixture_max_diff(a, b, (size_t)f.n_ids * f.vocab) <= 1e-5);
  free(a);
  free(b);
  gloam_model_free(m1);
  gloam_model_free(m2);
  fixture_free(&f);
}

static void test_quantize_on_load(void) {
  static const struct {
    enum gloam_quant q;
    const char *name;
    double min_agree, max_kl, max_diff; /* max_diff: of logits scaled ~63 */
  } qs[] = {{GLOAM_QUANT_Q8_0, "q8_0", 0.9, 0.01, 1.0}, {GLOAM_QUANT_Q4_0, "q4_0", 0.6, 0.1, 8.0}};
  fixture f;
  fixture_load(&f, FAMILY);
  for (int j = 0; j < 2; j++) {
    gloam_model *m = fixture_model_load(f.dir, NULL, qs[j].q, 1);
    float *lg = fixture_prefill_logits(m, f.ids, f.n_ids);
    double agree, kl;
    fixture_quant_stats(f.logits, lg, f.n_ids, f.vocab, &agree, &kl);
    double diff = fixture_max_diff(lg, f.logits, (size_t)f.n_ids * f.vocab);
    printf("    %-5s top-1 agreement %.3f  mean KL %.2g  max|logit-ref| %.3g\n", qs[j].name, agree,
           kl, diff);
    ASSERT_TRUE(diff <= qs[j].max_diff);
    ASSERT_TRUE(agree >= qs[j].min_agree);
    ASSERT_TRUE(kl <= qs[j].max_kl);
    free(lg);
    gloam_model_free(m);
  }
  fixture_free(&f);
}

/* config_parse() of the fixture's config.json with key set to the JSON
 * value text (NULL: removed). */
static int parse_modified(const char *key, const char *value, model_config *c, char *err) {
  char *path = test_fixture_path("models/" FAMILY "/config.json");
  json_error_t je;
  json_t *j = json_load_file(path, 0, &je);
  free(path);
  ASSERT_NOT_NULL(j);
  if (value) {
    json_t *v = json_loads(value, JSON_DECODE_ANY, &je);
    ASSERT_NOT_NULL(v);
    json_object_set_new(j, key, v);
  } else {
    json_object_del(j, key);
  }
  char *text = json_dumps(j, 0);
  int rc = config_parse(c, text, strlen(text), NULL, 0, err);
  free(text);
  json_decref(j);
  return rc;
}

static void test_config(void) {
  model_config *c = calloc(1, sizeof *c);
  char err[GLOAM_ERR_LEN];
  ASSERT_OK(parse_modified("unused", "0", c, err));
  ASSERT_EQ_INT(c->arch, ARCH_GEMMA4);
  ASSERT_EQ_INT(c->g4.layer_head_dim[0], 16);
  ASSERT_EQ_INT(c->g4.layer_head_dim[3], 32);
  ASSERT_EQ_INT(c->g4.ple_dim, 16);
  ASSERT_EQ_INT(c->n_experts, 8);
  ASSERT_EQ_INT(c->n_experts_per_tok, 2);
  ASSERT_TRUE(c->layer_sliding[0] && !c->layer_sliding[3]);
  ASSERT_EQ_INT(c->rope.scaling, ROPE_SCALING_PROPORTIONAL);
  ASSERT_NEAR(c->g4.rope_partial, 0.25, 1e-7);
  ASSERT_NEAR(c->embed_scale, 8.0, 1e-6);
  ASSERT_NEAR(c->norm_w_offset, 0.0, 0);
  static const struct {
    const char *key, *value;
    int rc;
  } bad[] = {
      {"per_layer_config", "{\"3\": {\"head_dim\": 33}}", GLOAM_EFORMAT},
      {"per_layer_config", "{\"9\": {\"head_dim\": 32}}", GLOAM_EFORMAT},
      {"per_layer_config", "{\"x\": {}}", GLOAM_EFORMAT},
      {"per_layer_config", "[1]", GLOAM_EFORMAT},
      {"per_layer_config", "{\"3\": {\"num_key_value_heads\": 3}}", GLOAM_EFORMAT},
      {"per_layer_config", "{\"1\": {\"head_dim\": 32}}", GLOAM_EUNSUPPORTED},
      {"num_kv_shared_layers", "4", GLOAM_EFORMAT},
      {"num_kv_shared_layers", "1", GLOAM_EFORMAT}, /* the one full layer has no source */
      {"top_k_experts", "9", GLOAM_EFORMAT},
      {"num_experts", NULL, GLOAM_EFORMAT},
      {"enable_moe_block", "\"yes\"", GLOAM_EFORMAT},
      {"hidden_size_per_layer_input", "-1", GLOAM_EFORMAT},
      {"vocab_size_per_layer_input", "100", GLOAM_EFORMAT}, /* < vocab_size */
      {"final_logit_softcapping", "-2", GLOAM_EFORMAT},
      {"use_bidirectional_attention", "\"all\"", GLOAM_EUNSUPPORTED},
      {"rope_parameters",
       "{\"full_attention\": {\"rope_type\": \"proportional\", "
       "\"partial_rotary_factor\": 1.5}}",
       GLOAM_EFORMAT},
      {"layer_types", "[\"sliding_attention\"]", GLOAM_EFORMAT},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    int rc = parse_modified(bad[i].key, bad[i].value, c, err);
    if (rc != bad[i].rc)
      test_fail(__FILE__, __LINE__, "%s = %s: rc %d, want %d (%s)", bad[i].key,
                bad[i].value ? bad[i].value : "(removed)", rc, bad[i].rc, err);
  }
  free(c);
}

/* A config whose shapes do not fit the weights is refused at load. */
static void test_shape_mismatch_refused(void) {
  fixture f;
  fixture_load(&f, FAMILY);
  char *dir = test_tmpdir();
  char src[PATH_MAX + 64], dst[PATH_MAX + 64], abs_dir[PATH_MAX];
  ASSERT_NOT_NULL(realpath(f.dir, abs_dir));
  snprintf(src, sizeof src, "%s/model.safetensors", abs_dir);
  snprintf(dst, sizeof dst, "%s/model.safetensors", dir);
  ASSERT_TRUE(symlink(src, dst) == 0);
  snprintf(src, sizeof src, "%s/config.json", f.dir);
  json_error_t je;
  json_t *j = json_load_file(src, 0, &je);
  ASSERT_NOT_NULL(j);
  json_object_set_new(j, "per_layer_config", json_pack("{s{si}}", "3", "head_dim", 16));
  snprintf(dst, sizeof dst, "%s/config.json", dir);
  ASSERT_OK(json_dump_file(j, dst, 0));
  json_decref(j);
  gloam_model *m = NULL;
  char err[GLOAM_ERR_LEN];
  ASSERT_EQ_INT(gloam_model_load(&m, dir, NULL, err), GLOAM_EFORMAT);
  printf("    refused: %s\n", err);
  ASSERT_TRUE(m == NULL);
  /* the wrapper: model_type gemma4 with the text config nested */
  j = json_load_file(src, 0, &je);
  json_t *top = json_pack("{s:s, s:O}", "model_type", "gemma4", "text_config", j);
  ASSERT_OK(json_dump_file(top, dst, 0));
  json_decref(top);
  json_decref(j);
  ASSERT_OK(gloam_model_load(&m, dir, NULL, err));
  ASSERT_EQ_INT(gloam_model_n_layers(m), 4);
  gloam_model_free(m);
  /* GGUF has no Gemma 4 mapping here: conversion says so */
  snprintf(dst, sizeof dst, "%s/out.gguf", dir);
  convert_opts co = {.type = DT_F16};
  ASSERT_EQ_INT(gguf_convert(dir, dst, &co, err), GLOAM_EUNSUPPORTED);
  printf("    convert: %s\n", err);
  free(dir);
  fixture_free(&f);
}

/* ------------------------------------------- options the fixture has off */

/* A synthetic Gemma 4 with every option the fixture leaves off: K/V
 * sharing (layers 2 and 3 read layers 0 and 1), keys as values on full
 * layers, the double-wide MLP on shared layers, a final softcap, full
 * layers twice as wide as sliding ones. Random float32 weights, written
 * as a safetensors file from the engine's own tensor list. */
static const char synth_config[] =
    "{\"model_type\": \"gemma4_text\", \"hidden_size\": 32, \"intermediate_size\": 24,"
    " \"num_hidden_layers\": 4, \"num_attention_heads\": 2, \"num_key_value_heads\": 1,"
    " \"head_dim\": 8, \"vocab_size\": 64, \"max_position_embeddings\": 64,"
    " \"layer_types\": [\"sliding_attention\", \"full_attention\", \"sliding_attention\","
    " \"full_attention\"], \"sliding_window\": 3,"
    " \"per_layer_config\": {\"1\": {\"head_dim\": 16}, \"3\": {\"head_dim\": 16}},"
    " \"num_kv_shared_layers\": 2, \"attention_k_eq_v\": true, \"use_double_wide_mlp\": true,"
    " \"hidden_size_per_layer_input\": 4, \"vocab_size_per_layer_input\": 64,"
    " \"enable_moe_block\": true, \"num_experts\": 4, \"top_k_experts\": 2,"
    " \"moe_intermediate_size\": 8, \"final_logit_softcapping\": 5.0,"
    " \"rope_parameters\": {\"full_attention\": {\"rope_type\": \"proportional\","
    " \"partial_rotary_factor\": 0.5, \"rope_theta\": 1000000.0}, \"sliding_attention\":"
    " {\"rope_type\": \"default\", \"rope_theta\": 10000.0}}}";

#define SYNTH_MAX 256

typedef struct synth_list {
  int n;
  char *name[SYNTH_MAX];
  int64_t shape[SYNTH_MAX][2];
  int n_dims[SYNTH_MAX];
} synth_list;

static int synth_collect(void *ctx, const char *name, int n_dims, const int64_t *shape) {
  synth_list *l = ctx;
  ASSERT_TRUE(l->n < SYNTH_MAX);
  l->name[l->n] = strdup(name);
  l->n_dims[l->n] = n_dims;
  l->shape[l->n][0] = shape[0];
  l->shape[l->n][1] = n_dims > 1 ? shape[1] : 1;
  l->n++;
  return 0;
}

static float synth_rand(uint64_t *st) {
  *st ^= *st << 13;
  *st ^= *st >> 7;
  *st ^= *st << 17;
  return (float)((double)(*st >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

/* Writes dir/config.json and dir/model.safetensors. */
static void synth_write(const char *dir) {
  char path[PATH_MAX + 64], err[GLOAM_ERR_LEN];
  model_config *c = calloc(1, sizeof *c);
  ASSERT_OK(config_parse(c, synth_config, strlen(synth_config), NULL, 0, err));
  synth_list *l = calloc(1, sizeof *l);
  ASSERT_OK(config_for_each_tensor(c, synth_collect, l));
  json_t *hdr = json_object();
  size_t off = 0;
  for (int i = 0; i < l->n; i++) {
    size_t bytes = (size_t)(l->shape[i][0] * l->shape[i][1]) * sizeof(float);
    json_t *shape = l->n_dims[i] > 1 ? json_pack("[II]", l->shape[i][0], l->shape[i][1])
                                     : json_pack("[I]", l->shape[i][0]);
    json_object_set_new(hdr, l->name[i],
                        json_pack("{s:s, s:o, s:[II]}", "dtype", "F32", "shape", shape,
                                  "data_offsets", (json_int_t)off, (json_int_t)(off + bytes)));
    off += bytes;
  }
  char *h = json_dumps(hdr, JSON_COMPACT);
  uint64_t hl = strlen(h);
  snprintf(path, sizeof path, "%s/model.safetensors", dir);
  FILE *fp = fopen(path, "wb");
  ASSERT_NOT_NULL(fp);
  ASSERT_TRUE(fwrite(&hl, 8, 1, fp) == 1 && fwrite(h, 1, hl, fp) == hl);
  uint64_t st = 0x9e3779b97f4a7c15ull;
  for (int i = 0; i < l->n; i++) {
    bool vec = l->n_dims[i] == 1;
    float amp = vec ? 0.2f : 1.0f / sqrtf((float)l->shape[i][1]);
    for (int64_t k = 0; k < l->shape[i][0] * l->shape[i][1]; k++) {
      float v = (vec ? 1.0f : 0.0f) + amp * synth_rand(&st);
      ASSERT_TRUE(fwrite(&v, sizeof v, 1, fp) == 1);
    }
    free(l->name[i]);
  }
  ASSERT_TRUE(fclose(fp) == 0);
  free(h);
  json_decref(hdr);
  snprintf(path, sizeof path, "%s/config.json", dir);
  fp = fopen(path, "w");
  ASSERT_NOT_NULL(fp);
  ASSERT_TRUE(fputs(synth_config, fp) >= 0 && fclose(fp) == 0);
  free(l);
  free(c);
}

static void test_synthetic_options(void) {
  char *dir = test_tmpdir();
  synth_write(dir);
  gloam_model *m = fixture_model_load(dir, NULL, GLOAM_QUANT_NONE, 1);
  /* layers 0 and 1 own caches of 1 x 8 and 1 x 16 values; 2 and 3 share */
  ASSERT_EQ_INT((int)m->kv_per_pos, 24);
  fixture f = {.n_ids = 12, .vocab = 64};
  for (int t = 0; t < f.n_ids; t++) f.ids[t] = (int32_t)((t * 37 + 5) % 64);
  float *full = fixture_prefill_logits(m, f.ids, f.n_ids);
  size_t n = (size_t)f.n_ids * f.vocab;
  double mx = fixture_max_abs(full, n);
  ASSERT_TRUE(mx < 5.0 && mx > 0.1); /* softcapped, not degenerate */
  for (int chunk = 1; chunk <= 2; chunk++) {
    double worst = cached_run(m, &f, full, chunk, false);
    printf("    synthetic, steps of %d: max|cached - full| %.3g\n", chunk, worst);
    ASSERT_TRUE(worst <= 1e-5);
  }
  double rel = batch_vs_alone(m, f.ids, f.n_ids, f.vocab);
  printf("    synthetic: max|batched - alone| / scale %.3g\n", rel);
  ASSERT_TRUE(rel <= 1e-5);
  gloam_model *q = fixture_model_load(dir, NULL, GLOAM_QUANT_Q8_0, 2);
  float *lq = fixture_prefill_logits(q, f.ids, f.n_ids);
  printf("    synthetic Q8_0: max|logit - f32| %.3g (softcap 5)\n", fixture_max_diff(lq, full, n));
  ASSERT_TRUE(fixture_max_diff(lq, full, n) < 0.5);
  free(lq);
  gloam_model_free(q);
  free(full);
  gloam_model_free(m);
  free(dir);
}

int main(int argc, char **argv) {
  static const test_case tests[] = {
      TEST(test_logits_match),
      TEST(test_hidden_states_match),
      TEST(test_greedy_matches),
      TEST(test_cached_decode_equals_full),
      TEST(test_batch_equals_sequential),
      TEST(test_threads_agree),
      TEST(test_quantize_on_load),
      TEST(test_config),
      TEST(test_shape_mismatch_refused),
      TEST(test_synthetic_options),
      {0},
  };
  return test_main(argc, argv, tests);
}
