/* SPDX-License-Identifier: Apache-2.0
 *
 * tests/engine/test_minimax.c: MiniMax M2 (model_type "minimax_m2") against
 * Hugging Face transformers (tests/fixtures/models/minimax-m2: 2 layers, 8
 * experts top-2, q/k RMSNorm over all heads, sigmoid routing with
 * e_score_correction_bias, made by transformers 5.17 in float32).
 *
 * Checks: logits at every position (1 and 3 threads) and every layer's
 * hidden states within the fixture tolerance; greedy ids up to the first
 * low-margin step; cached decode (and odd-sized steps, truncate) equal to
 * full recomputation; continuous batching equal to each sequence alone;
 * quantize-on-load top-1 agreement / KL printed and bounded; the routing
 * rule and partial rotary against their definitions; expert weights left in
 * the file mapping (no copy, safetensors and GGUF); corrupt or unsupported
 * configs rejected; GGUF conversion round trip (F16 within tolerance, Q8_0
 * / Q4_0 bounded); expert paging (moe_paging.h) forced on gives the same
 * logits.
 */
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/convert.h"
#include "engine/engine_impl.h"
#include "engine/model_files_int.h"
#include "engine/moe.h"
#include "engine/rope.h"
#include "fixture.h"
#include "gloam/engine.h"
#include "test.h"

#define FAMILY "minimax-m2"

static void test_logits_match_transformers(void) {
  fixture f;
  fixture_load(&f, FAMILY);
  static const int threads[] = {1, 3};
  for (int i = 0; i < 2; i++) {
    gloam_model *m = fixture_model_load(f.dir, NULL, GLOAM_QUANT_NONE, threads[i]);
    ASSERT_EQ_STR(gloam_model_arch(m), "minimax_m2");
    ASSERT_EQ_INT(gloam_model_n_experts(m), 8);
    ASSERT_EQ_INT(gloam_model_n_experts_used(m), 2);
    float *lg = fixture_prefill_logits(m, f.ids, f.n_ids);
    size_t n = (size_t)f.n_ids * f.vocab;
    double err = fixture_max_diff(lg, f.logits, n), tol = fixture_tolerance(f.logits, n);
    printf("    minimax-m2 %d thread(s): max|logit-ref| %.3g (tol %.3g)\n", threads[i], err, tol);
    ASSERT_TRUE(err <= tol);
    free(lg);
    gloam_model_free(m);
  }
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
  ASSERT_TRUE(steps >= 5);
  gloam_model_free(m);
  fixture_free(&f);
}

static void test_cached_decode_equals_full(void) {
  fixture f;
  fixture_load(&f, FAMILY);
  gloam_model *m = fixture_model_load(f.dir, NULL, GLOAM_QUANT_NONE, 2);
  int V = f.vocab, n = f.n_ids;
  float *full = fixture_prefill_logits(m, f.ids, n);
  double scale = fmax(1.0, fixture_max_abs(full, (size_t)n * V)), worst = 0;
  gloam_session *s = fixture_session(m, n, 8, false);
  ASSERT_OK(gloam_session_eval(s, f.ids, 2));
  for (int t = 2; t < n; t++) {
    ASSERT_OK(gloam_session_eval(s, &f.ids[t], 1));
    worst = fmax(worst, fixture_max_diff(gloam_session_logits(s), full + (size_t)t * V, V));
  }
  gloam_session_free(s);
  s = fixture_session(m, n, 3, false);
  ASSERT_OK(gloam_session_eval(s, f.ids, n));
  worst = fmax(worst, fixture_max_diff(gloam_session_logits(s), full + (size_t)(n - 1) * V, V));
  ASSERT_OK(gloam_session_truncate(s, 4));
  ASSERT_OK(gloam_session_eval(s, f.ids + 4, n - 4));
  worst = fmax(worst, fixture_max_diff(gloam_session_logits(s), full + (size_t)(n - 1) * V, V));
  gloam_session_free(s);
  printf("    cached vs full: %.3g (scale %.3g)\n", worst, scale);
  ASSERT_TRUE(worst <= 1e-4 * scale);
  free(full);
  gloam_model_free(m);
  fixture_free(&f);
}

/* Four sequences decoded together, one token each per step, after
 * prefills of different lengths in one step: each session's logits equal
 * its sequence's full-prefill logits at every step. */
static void test_batch_equals_sequential(void) {
  enum { NS = 4 };
  fixture f;
  fixture_load(&f, FAMILY);
  gloam_model *m = fixture_model_load(f.dir, NULL, GLOAM_QUANT_NONE, 1);
  int n = f.n_ids, V = f.vocab;
  int32_t seq[NS][FIX_MAX_IDS];
  float *full[NS];
  double scale = 1, worst = 0;
  gloam_session *s[NS];
  for (int q = 0; q < NS; q++) {
    for (int t = 0; t < n; t++) seq[q][t] = f.ids[(t * (q + 1) + q) % n];
    full[q] = fixture_prefill_logits(m, seq[q], n);
    scale = fmax(scale, fixture_max_abs(full[q], (size_t)n * V));
    s[q] = fixture_session(m, n, 4, false);
  }
  gloam_batch *b = NULL;
  ASSERT_OK(gloam_batch_new(&b, m, NS, 16, 2));
  int done[NS];
  gloam_batch_item it[NS];
  for (int q = 0; q < NS; q++) { /* prefills of 1..4 tokens in one step */
    done[q] = q + 1;
    it[q] = (gloam_batch_item){s[q], seq[q], q + 1};
  }
  for (int step = 0;; step++) {
    if (step > 0) {
      int k = 0;
      for (int q = 0; q < NS; q++)
        if (done[q] < n) it[k++] = (gloam_batch_item){s[q], seq[q] + done[q]++, 1};
      if (k == 0) break;
      ASSERT_OK(gloam_batch_eval(b, it, k));
    } else {
      ASSERT_OK(gloam_batch_eval(b, it, NS));
    }
    for (int q = 0; q < NS; q++)
      worst = fmax(worst, fixture_max_diff(gloam_session_logits(s[q]),
                                           full[q] + (size_t)(done[q] - 1) * V, (size_t)V));
  }
  printf("    batched vs alone: %.3g (scale %.3g)\n", worst, scale);
  ASSERT_TRUE(worst <= 1e-4 * scale);
  gloam_batch_free(b);
  for (int q = 0; q < NS; q++) {
    gloam_session_free(s[q]);
    free(full[q]);
  }
  gloam_model_free(m);
  fixture_free(&f);
}

static void test_quantize_on_load(void) {
  static const struct {
    enum gloam_quant q;
    const char *name;
    double min_agree, max_kl;
  } qs[] = {{GLOAM_QUANT_Q8_0, "q8_0", 0.9, 0.01}, {GLOAM_QUANT_Q4_0, "q4_0", 0.4, 0.3}};
  fixture f;
  fixture_load(&f, FAMILY);
  for (int j = 0; j < 2; j++) {
    gloam_model *m = fixture_model_load(f.dir, NULL, qs[j].q, 1);
    float *lg = fixture_prefill_logits(m, f.ids, f.n_ids);
    double agree, kl;
    fixture_quant_stats(f.logits, lg, f.n_ids, f.vocab, &agree, &kl);
    printf("    %-5s minimax-m2 top-1 agreement %.3f  mean KL %.5f\n", qs[j].name, agree, kl);
    ASSERT_TRUE(agree >= qs[j].min_agree);
    ASSERT_TRUE(kl <= qs[j].max_kl);
    free(lg);
    gloam_model_free(m);
  }
  fixture_free(&f);
}

/* The routing rule of modeling_minimax_m2.py: scores sigmoid(logits), the
 * top-k by score + bias, weights the unbiased scores over their sum. */
static void test_sigmoid_routing(void) {
  const float logits[4] = {2.0f, 0.5f, -1.0f, 1.0f};
  const float bias[4] = {0.0f, 0.0f, 0.9f, 0.0f}; /* lifts expert 2 into the top 2 */
  float p[4], w[2];
  int32_t sel[2];
  moe_route_sigmoid(logits, bias, 4, 2, p, sel, w);
  ASSERT_EQ_INT(sel[0], 2); /* sigmoid(-1) + 0.9 = 1.169 > sigmoid(2) = 0.881 */
  ASSERT_EQ_INT(sel[1], 0);
  double s2 = 1 / (1 + exp(1.0)), s0 = 1 / (1 + exp(-2.0));
  ASSERT_NEAR(w[0], s2 / (s0 + s2), 1e-6);
  ASSERT_NEAR(w[1], s0 / (s0 + s2), 1e-6);
  moe_route_sigmoid(logits, NULL, 4, 2, p, sel, w);
  ASSERT_EQ_INT(sel[0], 0);
  ASSERT_EQ_INT(sel[1], 3);
}

/* rope_apply_partial against transformers' apply_rotary_pos_emb with
 * rotary_dim < head_dim: rotate_half over the first rotary_dim values,
 * inv_freq = theta^(-2i / rotary_dim), the rest untouched. */
static void test_partial_rotary(void) {
  enum { HD = 16, RD = 6, NH = 2, POS = 7 };
  rope_params rp = {.theta = 5e6f, .scaling = ROPE_SCALING_NONE, .factor = 1};
  float inv[RD / 2], cs[RD / 2], sn[RD / 2], ms = 0, x[NH * HD], ref[NH * HD];
  char err[GLOAM_ERR_LEN];
  ASSERT_OK(rope_inv_freq(inv, RD, &rp, &ms, err));
  rope_table(cs, sn, inv, ms, RD / 2, POS, 1);
  for (int i = 0; i < NH * HD; i++) x[i] = ref[i] = (float)sin(0.37 * i + 0.1);
  for (int h = 0; h < NH; h++)
    for (int i = 0; i < RD; i++) {
      int j = i % (RD / 2);
      double ang = POS * pow(5e6, -2.0 * j / RD);
      const float *v = x + h * HD;
      double rot = i < RD / 2 ? -v[i + RD / 2] : v[i - RD / 2];
      ref[h * HD + i] = (float)(v[i] * cos(ang) + rot * sin(ang));
    }
  rope_apply_part(x, NH, HD, RD, cs, sn);
  for (int i = 0; i < NH * HD; i++) ASSERT_NEAR(x[i], ref[i], 1e-5);
}

/* A copy of the fixture directory (model.safetensors linked) whose
 * config.json has key set to val (NULL: removed), in rope_parameters when
 * in_rope. */
static char *config_variant(const fixture *f, const char *key, json_t *val, bool in_rope) {
  char *tmp = test_tmpdir(), src[1024], dst[1024];
  json_error_t je;
  snprintf(src, sizeof src, "%s/config.json", f->dir);
  json_t *cfg = json_load_file(src, 0, &je);
  ASSERT_NOT_NULL(cfg);
  json_t *o = in_rope ? json_object_get(cfg, "rope_parameters") : cfg;
  if (val)
    json_object_set_new(o, key, val);
  else
    json_object_del(o, key);
  snprintf(dst, sizeof dst, "%s/config.json", tmp);
  ASSERT_EQ_INT(json_dump_file(cfg, dst, 0), 0);
  json_decref(cfg);
  snprintf(src, sizeof src, "%s/model.safetensors", f->dir);
  snprintf(dst, sizeof dst, "%s/model.safetensors", tmp);
  ASSERT_EQ_INT(symlink(src, dst), 0);
  return tmp;
}

static void test_rejects_bad_configs(void) {
  static const struct {
    const char *key;
    const char *json; /* NULL: removed */
    bool in_rope;
    int code;
  } cases[] = {
      {"rotary_dim", "17", false, GLOAM_EFORMAT}, /* odd */
      {"rotary_dim", "32", false, GLOAM_EFORMAT}, /* > head_dim */
      {"partial_rotary_factor", "1.5", true, GLOAM_EFORMAT},
      {"partial_rotary_factor", "\"half\"", true, GLOAM_EFORMAT},
      {"num_experts_per_tok", "9", false, GLOAM_EFORMAT}, /* > experts */
      {"num_local_experts", "0", false, GLOAM_EFORMAT},
      {"num_local_experts", "16", false, GLOAM_EFORMAT}, /* experts 8.. missing */
      {"intermediate_size", NULL, false, GLOAM_EFORMAT},
      {"num_attention_heads", "2", false, GLOAM_EFORMAT}, /* q_proj / q_norm shapes */
      {"hidden_act", "\"relu\"", false, GLOAM_EUNSUPPORTED},
      {"model_type", "\"minimax\"", false, GLOAM_EUNSUPPORTED}, /* MiniMax-Text-01 */
  };
  fixture f;
  fixture_load(&f, FAMILY);
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    json_error_t je;
    json_t *v = cases[i].json ? json_loads(cases[i].json, JSON_DECODE_ANY, &je) : NULL;
    char *dir = config_variant(&f, cases[i].key, v, cases[i].in_rope);
    gloam_model *m = NULL;
    char err[GLOAM_ERR_LEN] = "";
    int rc = gloam_model_load(&m, dir, NULL, err);
    printf("    %s = %s: %s: %s\n", cases[i].key, cases[i].json ? cases[i].json : "(none)",
           gloam_errname(rc), err);
    ASSERT_TRUE(m == NULL);
    ASSERT_EQ_INT(rc, cases[i].code);
    free(dir);
  }
  fixture_free(&f);
}

/* Partial rotary through the whole model: rotary_dim = head_dim (and
 * partial_rotary_factor 1) reproduce the reference; rotary_dim 8 changes
 * every position but the first (position 0 rotates by zero), and survives
 * conversion to GGUF. */
static void test_rotary_dim_config(void) {
  fixture f;
  fixture_load(&f, FAMILY);
  size_t V = (size_t)f.vocab, n = (size_t)f.n_ids * V;
  double tol = fixture_tolerance(f.logits, n);
  static const struct {
    const char *key, *json;
    bool in_rope, same;
  } cases[] = {{"rotary_dim", "16", false, true},
               {"partial_rotary_factor", "1.0", true, true},
               {"rotary_dim", "8", false, false},
               {"partial_rotary_factor", "0.5", true, false}};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    json_error_t je;
    char *dir = config_variant(&f, cases[i].key, json_loads(cases[i].json, JSON_DECODE_ANY, &je),
                               cases[i].in_rope);
    gloam_model *m = fixture_model_load(dir, NULL, GLOAM_QUANT_NONE, 1);
    ASSERT_EQ_INT(m->cfg->rope_dim, cases[i].same ? 16 : 8);
    float *lg = fixture_prefill_logits(m, f.ids, f.n_ids);
    double first = fixture_max_diff(lg, f.logits, V), all = fixture_max_diff(lg, f.logits, n);
    printf("    %s = %s: pos 0 %.3g, all %.3g\n", cases[i].key, cases[i].json, first, all);
    ASSERT_TRUE(first <= tol);
    ASSERT_TRUE(cases[i].same ? all <= tol : all > 100 * tol);
    if (!cases[i].same) { /* GGUF keeps it (rope.dimension_count) */
      char out[1024], err[GLOAM_ERR_LEN] = "";
      snprintf(out, sizeof out, "%s/m.gguf", dir);
      convert_opts o = {.type = DT_F16};
      ASSERT_OK(gguf_convert(dir, out, &o, err));
      gloam_model *g = fixture_model_load(out, NULL, GLOAM_QUANT_NONE, 1);
      ASSERT_EQ_INT(g->cfg->rope_dim, 8);
      float *lg2 = fixture_prefill_logits(g, f.ids, f.n_ids);
      ASSERT_TRUE(fixture_max_diff(lg, lg2, n) <= tol);
      free(lg2);
      gloam_model_free(g);
    }
    free(lg);
    gloam_model_free(m);
    free(dir);
  }
  fixture_free(&f);
}

/* The loader leaves expert weights in the file mapping: every expert
 * matrix of the model at path points into one of its mmapped files, and
 * nothing was copied. */
static void check_experts_mapped(const char *path) {
  model_files *mf = NULL;
  char err[GLOAM_ERR_LEN];
  ASSERT_OK(model_files_open(&mf, path, NULL, err));
  int n_exp = 0;
  for (int i = 0; i < model_files_n_tensors(mf); i++) {
    const tensor *t = model_files_tensor_at(mf, i);
    if (!strstr(t->name, ".mlp.experts.")) continue;
    bool inside = false;
    for (int k = 0; k < mf->n_maps && !inside; k++) {
      const uint8_t *p = mf->maps[k].p, *d = t->data;
      inside = d >= p && d + t->n_bytes <= p + mf->maps[k].len;
    }
    ASSERT_TRUE(inside);
    n_exp++;
  }
  ASSERT_EQ_INT(n_exp, 2 * 8 * 3);
  ASSERT_EQ_INT(mf->n_owned, 0);
  ASSERT_NOT_NULL(model_files_tensor(mf, "model.layers.1.mlp.e_score_correction_bias"));
  model_files_close(mf);
}

static void test_experts_stay_mapped(void) {
  fixture f;
  fixture_load(&f, FAMILY);
  check_experts_mapped(f.dir);
  fixture_free(&f);
}

/* Converted to GGUF (llama.cpp's minimax-m2 names: exp_probs_b.bias for
 * the selection bias, stacked ffn_*_exps) and loaded back: F16 within the
 * float32 tolerance with its experts left in the mapping, Q8_0 / Q4_0
 * judged by top-1 agreement and KL. */
static void test_gguf_roundtrip(void) {
  static const struct {
    enum dtype t;
    const char *name;
    double min_agree, max_kl;
  } ts[] = {{DT_F16, "f16", 1, 0}, {DT_Q8_0, "q8_0", 0.9, 0.01}, {DT_Q4_0, "q4_0", 0.4, 0.3}};
  fixture f;
  fixture_load(&f, FAMILY);
  char *tmp = test_tmpdir();
  size_t n = (size_t)f.n_ids * f.vocab;
  for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++) {
    char out[1024], err[GLOAM_ERR_LEN] = "";
    snprintf(out, sizeof out, "%s/m-%s.gguf", tmp, ts[i].name);
    convert_opts o = {.type = ts[i].t};
    if (gguf_convert(f.dir, out, &o, err) < 0) test_fail(__FILE__, __LINE__, "convert: %s", err);
    gloam_model *m = fixture_model_load(out, NULL, GLOAM_QUANT_NONE, 2);
    ASSERT_EQ_STR(gloam_model_arch(m), "minimax_m2");
    float *lg = fixture_prefill_logits(m, f.ids, f.n_ids);
    if (ts[i].t == DT_F16) {
      double e = fixture_max_diff(lg, f.logits, n);
      printf("    gguf f16: max|logit-ref| %.3g\n", e);
      ASSERT_TRUE(e <= fixture_tolerance(f.logits, n));
      check_experts_mapped(out);
    } else {
      double agree, kl;
      fixture_quant_stats(f.logits, lg, f.n_ids, f.vocab, &agree, &kl);
      printf("    gguf %-5s top-1 agreement %.3f  mean KL %.5f\n", ts[i].name, agree, kl);
      ASSERT_TRUE(agree >= ts[i].min_agree && kl <= ts[i].max_kl);
    }
    free(lg);
    gloam_model_free(m);
  }
  free(tmp);
  fixture_free(&f);
}

/* Expert paging forced on (MADV_RANDOM mappings, MADV_WILLNEED of the
 * chosen experts before each MoE layer) changes no logit. */
static void test_expert_paging_same_logits(void) {
  fixture f;
  fixture_load(&f, FAMILY);
  setenv("GLOAM_EXPERT_PAGING", "1", 1);
  gloam_model *m = fixture_model_load(f.dir, NULL, GLOAM_QUANT_NONE, 2);
  unsetenv("GLOAM_EXPERT_PAGING");
  ASSERT_TRUE(m->expert_paging);
  float *lg = fixture_prefill_logits(m, f.ids, f.n_ids);
  size_t n = (size_t)f.n_ids * f.vocab;
  ASSERT_TRUE(fixture_max_diff(lg, f.logits, n) <= fixture_tolerance(f.logits, n));
  free(lg);
  gloam_model_free(m);
  fixture_free(&f);
}

int main(int argc, char **argv) {
  static const test_case tests[] = {
      TEST(test_logits_match_transformers),
      TEST(test_hidden_states_match),
      TEST(test_greedy_matches),
      TEST(test_cached_decode_equals_full),
      TEST(test_batch_equals_sequential),
      TEST(test_quantize_on_load),
      TEST(test_sigmoid_routing),
      TEST(test_partial_rotary),
      TEST(test_rejects_bad_configs),
      TEST(test_rotary_dim_config),
      TEST(test_experts_stay_mapped),
      TEST(test_gguf_roundtrip),
      TEST(test_expert_paging_same_logits),
      {0},
  };
  return test_main(argc, argv, tests);
}
