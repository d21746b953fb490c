/* SPDX-License-Identifier: Apache-2.0
 *
 * tests/engine/test_qwen35.c: Qwen3.5 dense and MoE (Gated DeltaNet linear
 * attention + gated full attention, partial rotary, shared expert) against
 * Hugging Face transformers (tests/fixtures/models/qwen3_5, qwen3_5-moe):
 * logits at every position and hidden states of every layer within the
 * fixtures' tolerance, greedy ids; a session's recurrent state: decode one
 * token at a time and prefills split over several evals and steps equal one
 * full prefill over 90 tokens (recurrent vs chunked delta rule, the conv
 * state across evals), truncate, reset and cancel rules; threads; the F16
 * KV cache; continuous batching equal to sequences alone; no allocation in
 * the token loop; quantize-on-load (top-1 agreement and KL printed and
 * bounded); the multimodal wrapper / transformers 4 config form; Qwen3-Next
 * (the MoE fixture rewritten into its fused checkpoint layout, against the
 * same reference); the GGUF converter's refusal; corrupted configs and
 * tensors rejected at load.
 */
#include <math.h>
#include <stdlib.h>

#include "core/alloc.h"
#include "engine/convert.h"
#include "engine/engine_impl.h"
#include "engine/gguf_write.h"
#include "fixture.h"
#include "gloam/engine.h"
#include "test.h"

static const char *const families[] = {"qwen3_5", "qwen3_5-moe"};
#define N_FAMILIES 2

static void test_logits_and_hidden_states(void) {
  for (int i = 0; i < N_FAMILIES; i++) {
    fixture f;
    fixture_load(&f, families[i]);
    gloam_model *m = fixture_model_load(f.dir, NULL, GLOAM_QUANT_NONE, 1);
    ASSERT_EQ_STR(gloam_model_arch(m), i == 0 ? "qwen3_5" : "qwen3_5_moe");
    float *lg = fixture_prefill_logits(m, f.ids, f.n_ids);
    size_t n = (size_t)f.n_ids * f.vocab;
    double err = fixture_max_diff(lg, f.logits, n), tol = fixture_tolerance(f.logits, n);
    printf("    %-12s max|logit-ref| %.3g (tol %.3g)\n", families[i], err, tol);
    ASSERT_TRUE(err <= tol);
    free(lg);
    double worst = fixture_check_hidden(m, &f, families[i]);
    printf("    %-12s hidden states of %d layers: max err %.3g\n", families[i], f.n_hs - 1, worst);
    gloam_model_free(m);
    fixture_free(&f);
  }
}

static void test_greedy_matches(void) {
  for (int i = 0; i < N_FAMILIES; i++) {
    fixture f;
    fixture_load(&f, families[i]);
    gloam_model *m = fixture_model_load(f.dir, NULL, GLOAM_QUANT_NONE, 1);
    int compared = fixture_check_greedy(m, &f);
    printf("    %-12s greedy ids equal for %d steps (first margin %.3f)\n", families[i], compared,
           f.margin[0]);
    /* qwen3_5's first step has margin 0.0098: nothing is decidable there */
    ASSERT_TRUE(compared >= (f.margin[0] > 0.05 ? 3 : 0));
    gloam_model_free(m);
    fixture_free(&f);
  }
}

/* A longer sequence than the fixture's (its ids, then its greedy ids, then
 * a fixed pattern), so a prefill spans more than one chunk of the chunked
 * delta rule (64 tokens). */
#define LONG_N 90
static void long_ids(const fixture *f, int32_t *ids) {
  int n = 0;
  for (int i = 0; i < f->n_ids && n < LONG_N; i++) ids[n++] = f->ids[i];
  for (int i = 0; i < f->n_greedy && n < LONG_N; i++) ids[n++] = f->greedy[i];
  for (uint32_t x = 12345; n < LONG_N;) {
    x = x * 1103515245u + 12345u;
    ids[n++] = (int32_t)((x >> 8) % (uint32_t)f->vocab);
  }
}

/* Logits of every position of ids[0..n) evaluated in pieces of the given
 * sizes (cycled), one eval per piece, with n_batch rows per step. */
static float *piecewise_logits(gloam_model *m, const int32_t *ids, int n, const int *sizes,
                               int n_sizes, int n_batch) {
  int V = gloam_model_n_vocab(m);
  float *out = calloc((size_t)n * V, sizeof(float));
  gloam_session *s = fixture_session(m, n, n_batch, true);
  for (int done = 0, k = 0; done < n; k++) {
    int len = sizes[k % n_sizes];
    if (len > n - done) len = n - done;
    if (len > n_batch) len = n_batch;
    ASSERT_OK(gloam_session_eval(s, ids + done, len));
    int got = 0;
    const float *lg = gloam_session_logits_all(s, &got);
    ASSERT_EQ_INT(got, len);
    memcpy(out + (size_t)done * V, lg, sizeof(float) * (size_t)len * V);
    done += len;
    ASSERT_EQ_INT(gloam_session_n_past(s), done);
  }
  gloam_session_free(s);
  return out;
}

/* Stateful decode (recurrent rule, conv state carried token to token) and
 * prefills split over several evals and steps give the logits of one full
 * prefill (chunked rule) at every position. */
static void test_state_equals_full(void) {
  static const struct {
    const char *what;
    int sizes[3], n_sizes, n_batch;
  } plans[] = {
      {"one token at a time", {1}, 1, 8},    {"prefill 3, then decode", {3, 1, 1}, 3, 8},
      {"evals of 30 + 60", {30, 60}, 2, 96}, {"evals of 17, 2, 40", {17, 2, 40}, 3, 64},
      {"evals of 20", {20}, 1, 20},
  };
  for (int i = 0; i < N_FAMILIES; i++) {
    fixture f;
    fixture_load(&f, families[i]);
    gloam_model *m = fixture_model_load(f.dir, NULL, GLOAM_QUANT_NONE, 1);
    int32_t ids[LONG_N];
    long_ids(&f, ids);
    int V = f.vocab;
    size_t n = (size_t)LONG_N * V;
    float *full = fixture_prefill_logits(m, ids, LONG_N);
    double scale = fmax(1.0, fixture_max_abs(full, n));
    /* the first positions against the reference too (same ids) */
    ASSERT_TRUE(fixture_max_diff(full, f.logits, (size_t)f.n_ids * V) <=
                fixture_tolerance(f.logits, (size_t)f.n_ids * V));
    for (size_t p = 0; p < sizeof plans / sizeof plans[0]; p++) {
      float *lg =
          piecewise_logits(m, ids, LONG_N, plans[p].sizes, plans[p].n_sizes, plans[p].n_batch);
      double d = fixture_max_diff(lg, full, n);
      printf("    %-12s %-26s max|x - full prefill| %.3g (scale %.3g)\n", families[i],
             plans[p].what, d, scale);
      if (!(d <= 1e-4 * scale))
        test_fail(__FILE__, __LINE__, "%s %s: %.3g", families[i], plans[p].what, d);
      free(lg);
    }
    /* n_batch smaller than the eval: the steps of one eval continue */
    gloam_session *s = fixture_session(m, LONG_N, 7, false);
    ASSERT_OK(gloam_session_eval(s, ids, LONG_N));
    ASSERT_TRUE(fixture_max_diff(gloam_session_logits(s), full + n - V, V) <= 1e-4 * scale);
    /* truncate: only to 0 (then recompute) or to n_past */
    ASSERT_EQ_INT(gloam_session_truncate(s, 5), GLOAM_EUNSUPPORTED);
    ASSERT_EQ_INT(gloam_session_n_past(s), LONG_N);
    ASSERT_OK(gloam_session_truncate(s, LONG_N));
    ASSERT_OK(gloam_session_truncate(s, 0));
    ASSERT_OK(gloam_session_eval(s, ids, 12));
    ASSERT_TRUE(fixture_max_diff(gloam_session_logits(s), full + 11 * V, V) <= 1e-4 * scale);
    gloam_session_reset(s);
    ASSERT_OK(gloam_session_eval(s, ids, 4));
    ASSERT_TRUE(fixture_max_diff(gloam_session_logits(s), full + 3 * V, V) <= 1e-4 * scale);
    /* a cancel before the call is consumed and changes nothing */
    gloam_session_cancel(s);
    ASSERT_EQ_INT(gloam_session_eval(s, ids + 4, 20), GLOAM_ECANCELED);
    ASSERT_EQ_INT(gloam_session_n_past(s), 4);
    ASSERT_OK(gloam_session_eval(s, ids + 4, 20));
    ASSERT_TRUE(fixture_max_diff(gloam_session_logits(s), full + 23 * V, V) <= 1e-4 * scale);
    gloam_session_free(s);
    free(full);
    gloam_model_free(m);
    fixture_free(&f);
  }
}

/* An IEEE half KV cache (the full-attention layers; the recurrent state
 * stays float32) stays within the F16 cache bound of test_engine. */
static void test_kv_f16(void) {
  for (int i = 0; i < N_FAMILIES; i++) {
    fixture f;
    fixture_load(&f, families[i]);
    gloam_model *m = fixture_model_load(f.dir, NULL, GLOAM_QUANT_NONE, 1);
    gloam_session_params sp = gloam_session_default_params();
    sp.n_ctx = f.n_ids;
    sp.n_batch = f.n_ids;
    sp.logits_all = true;
    sp.kv_f16 = true;
    gloam_session *s = NULL;
    ASSERT_OK(gloam_session_new(&s, m, &sp));
    ASSERT_OK(gloam_session_eval(s, f.ids, f.n_ids));
    int rows = 0;
    const float *lg = gloam_session_logits_all(s, &rows);
    size_t n = (size_t)f.n_ids * f.vocab;
    double err = fixture_max_diff(lg, f.logits, n), scale = fmax(1.0, fixture_max_abs(f.logits, n));
    printf("    kv f16 %-12s max|logit-ref| %.3g (%.2g of scale)\n", families[i], err, err / scale);
    ASSERT_TRUE(rows == f.n_ids && err <= 1e-2 * scale);
    gloam_session_free(s);
    gloam_model_free(m);
    fixture_free(&f);
  }
}

/* Two compute threads (value heads and matmul rows split) agree with one. */
static void test_threads_agree(void) {
  fixture f;
  fixture_load(&f, "qwen3_5-moe");
  int32_t ids[LONG_N];
  long_ids(&f, ids);
  gloam_model *m1 = fixture_model_load(f.dir, NULL, GLOAM_QUANT_NONE, 1);
  gloam_model *m2 = fixture_model_load(f.dir, NULL, GLOAM_QUANT_NONE, 2);
  float *a = fixture_prefill_logits(m1, ids, LONG_N), *b = fixture_prefill_logits(m2, ids, LONG_N);
  ASSERT_TRUE(fixture_max_diff(a, b, (size_t)LONG_N * f.vocab) <= 1e-5);
  free(a);
  free(b);
  gloam_model_free(m1);
  gloam_model_free(m2);
  fixture_free(&f);
}

/* Continuous batching: three sequences join, leave and decode together,
 * each session with its own KV cache and recurrent state; after every step
 * each session's logits equal its sequence's full prefill. */
static void test_batch_equals_sequential(void) {
  for (int fi = 0; fi < N_FAMILIES; fi++) {
    fixture f;
    fixture_load(&f, families[fi]);
    gloam_model *m = fixture_model_load(f.dir, NULL, GLOAM_QUANT_NONE, 1);
    int n = 40;
    int32_t base[LONG_N], seq[3][LONG_N];
    long_ids(&f, base);
    for (int t = 0; t < n; t++) {
      seq[0][t] = base[t];
      seq[1][t] = base[(t + 7) % LONG_N];
      seq[2][t] = base[LONG_N - 1 - t];
    }
    /* tokens per sequence and step (0: not in this step); 18 and 20 rows
     * of one session take the chunked rule inside a batch */
    static const int plan[][3] = {{4, 0, 0}, {1, 18, 0}, {1, 1, 2},
                                  {1, 0, 1}, {0, 2, 20}, {1, 1, 1}};
    const int32_t *const seqs[3] = {seq[0], seq[1], seq[2]};
    fixture_check_batch(m, seqs, n, 32, plan, 6, families[fi]);
    gloam_model_free(m);
    fixture_free(&f);
  }
}

/* Prefill and decode allocate nothing once the session exists. */
static void test_no_alloc_in_token_loop(void) {
  char *dir = test_fixture_path("models/qwen3_5-moe");
  gloam_model *m = fixture_model_load(dir, NULL, GLOAM_QUANT_NONE, 2);
  free(dir);
  gloam_session *s = fixture_session(m, 64, 32, false);
  int32_t ids[24];
  for (int i = 0; i < 24; i++) ids[i] = i * 7 + 1;
  ASSERT_OK(gloam_session_eval(s, ids, 24));
  gloam_session_reset(s);
  mem_fail_after(0);
  int rc = gloam_session_eval(s, ids, 24);
  for (int i = 0; i < 8 && rc == 0; i++) rc = gloam_session_eval(s, ids + i, 1);
  mem_fail_after(-1);
  ASSERT_OK(rc);
  gloam_session_free(s);
  gloam_model_free(m);
}

/* Q8_0 / Q4_0 on load: the projections quantized, the conv, A_log,
 * dt_bias, norms, router and shared-expert gate kept. */
static void test_quantize_on_load(void) {
  static const struct {
    enum gloam_quant q;
    const char *name;
    double min_agree, max_kl;
  } qs[] = {{GLOAM_QUANT_Q8_0, "q8_0", 0.9, 0.01}, {GLOAM_QUANT_Q4_0, "q4_0", 0.4, 0.3}};
  for (int j = 0; j < 2; j++)
    for (int i = 0; i < N_FAMILIES; i++) {
      fixture f;
      fixture_load(&f, families[i]);
      gloam_model *m = fixture_model_load(f.dir, NULL, qs[j].q, 1);
      const eng_layer *L0 = &m->layers[0];
      ASSERT_EQ_INT(L0->lin.qkv.type, j == 0 ? DT_Q8_0 : DT_Q4_0);
      ASSERT_EQ_INT(L0->lin.b.type, j == 0 ? DT_Q8_0 : DT_Q4_0);
      if (L0->moe) ASSERT_EQ_INT(L0->sh_router.type, DT_BF16);
      gloam_model_free(m);
      double agree, kl;
      fixture_quant_on_load(&f, qs[j].q, &agree, &kl);
      printf("    %-5s %-12s top-1 agreement %.3f  mean KL %.5f\n", qs[j].name, families[i], agree,
             kl);
      ASSERT_TRUE(agree >= qs[j].min_agree);
      ASSERT_TRUE(kl <= qs[j].max_kl);
      fixture_free(&f);
    }
}

/* ------------------------------------------------- hostile model files */

static void edit_conv_shape(json_t *hdr, json_t *cfg) {
  (void)cfg;
  json_t *t = json_object_get(hdr, "model.layers.1.linear_attn.conv1d.weight");
  json_object_set_new(t, "shape", json_pack("[III]", (json_int_t)64, (json_int_t)2, (json_int_t)4));
}
static void edit_missing_a_log(json_t *hdr, json_t *cfg) {
  (void)cfg;
  fixture_rename_tensor(hdr, "model.layers.2.linear_attn.A_log");
}
static void edit_missing_shared(json_t *hdr, json_t *cfg) {
  (void)cfg;
  fixture_rename_tensor(hdr, "model.layers.0.mlp.shared_expert_gate.weight");
}
static void edit_qkv_shape(json_t *hdr, json_t *cfg) {
  (void)cfg;
  fixture_set_shape(hdr, "model.layers.0.linear_attn.in_proj_qkv.weight", 64, 128);
}
static void edit_gate_rows(json_t *hdr, json_t *cfg) {
  (void)cfg; /* q_proj without its output-gate half */
  fixture_set_shape(hdr, "model.layers.3.self_attn.q_proj.weight", 128, 128);
}
static void edit_layer_type(json_t *hdr, json_t *cfg) {
  (void)hdr;
  json_array_set_new(json_object_get(cfg, "layer_types"), 1, json_string("mamba"));
}
static void edit_layer_swap(json_t *hdr, json_t *cfg) {
  (void)hdr; /* layer 0 claims full attention: its self_attn tensors are missing */
  json_array_set_new(json_object_get(cfg, "layer_types"), 0, json_string("full_attention"));
}
static void edit_v_heads(json_t *hdr, json_t *cfg) {
  (void)hdr;
  json_object_set_new(cfg, "linear_num_value_heads", json_integer(3));
}
static void edit_rotary(json_t *hdr, json_t *cfg) {
  (void)hdr;
  json_object_set_new(json_object_get(cfg, "rope_parameters"), "partial_rotary_factor",
                      json_real(0.0));
}
static void edit_conv_kernel(json_t *hdr, json_t *cfg) {
  (void)hdr;
  json_object_set_new(cfg, "linear_conv_kernel_dim", json_integer(1000));
}

static void test_rejects_corrupted(void) {
  static const struct {
    const char *family;
    void (*edit)(json_t *, json_t *);
    int code; /* 0: any error */
    const char *what;
  } cases[] = {
      {"qwen3_5", edit_conv_shape, GLOAM_EFORMAT, "conv1d"},
      {"qwen3_5", edit_missing_a_log, 0, "A_log"},
      {"qwen3_5-moe", edit_missing_shared, 0, "shared_expert_gate"},
      {"qwen3_5", edit_qkv_shape, GLOAM_EFORMAT, "in_proj_qkv"},
      {"qwen3_5-moe", edit_gate_rows, GLOAM_EFORMAT, "q_proj"},
      {"qwen3_5", edit_layer_type, GLOAM_EUNSUPPORTED, "mamba"},
      {"qwen3_5", edit_layer_swap, 0, "layers.0.self_attn"},
      {"qwen3_5", edit_v_heads, GLOAM_EFORMAT, NULL},
      {"qwen3_5", edit_rotary, GLOAM_EFORMAT, "partial_rotary_factor"},
      {"qwen3_5-moe", edit_conv_kernel, GLOAM_EFORMAT, "linear_conv_kernel_dim"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char *dir = fixture_edited_copy(cases[i].family, cases[i].edit);
    gloam_model *m = NULL;
    char err[GLOAM_ERR_LEN] = "";
    int rc = gloam_model_load(&m, dir, NULL, err);
    printf("    hostile case %zu (%s): %s: %s\n", i, cases[i].family, gloam_errname(rc), err);
    ASSERT_TRUE(rc < 0 && m == NULL);
    if (cases[i].code) ASSERT_EQ_INT(rc, cases[i].code);
    if (cases[i].what) ASSERT_TRUE(strstr(err, cases[i].what) != NULL);
    free(dir);
  }
}

/* The multimodal wrapper's form: model_type "qwen3_5" with the text model
 * in text_config, written in the transformers 4 style (top-level
 * rope_theta and partial_rotary_factor). */
static void wrap_v4(json_t *hdr, json_t *cfg) {
  (void)hdr;
  json_t *text = json_deep_copy(cfg), *rp = json_object_get(text, "rope_parameters");
  json_object_set(text, "rope_theta", json_object_get(rp, "rope_theta"));
  json_object_set(text, "partial_rotary_factor", json_object_get(rp, "partial_rotary_factor"));
  json_object_del(text, "rope_parameters");
  json_object_clear(cfg);
  json_object_set_new(cfg, "model_type", json_string("qwen3_5"));
  json_object_set_new(cfg, "text_config", text);
}

static void test_wrapper_config(void) {
  fixture f;
  fixture_load(&f, "qwen3_5");
  char *dir = fixture_edited_copy("qwen3_5", wrap_v4);
  gloam_model *m = fixture_model_load(dir, NULL, GLOAM_QUANT_NONE, 1);
  size_t n = (size_t)f.n_ids * f.vocab;
  float *lg = fixture_prefill_logits(m, f.ids, f.n_ids);
  double err = fixture_max_diff(lg, f.logits, n), tol = fixture_tolerance(f.logits, n);
  printf("    qwen3_5 wrapper + v4 config: max|logit-ref| %.3g (tol %.3g)\n", err, tol);
  ASSERT_TRUE(err <= tol);
  free(lg);
  gloam_model_free(m);
  free(dir);
  fixture_free(&f);
}

/* ---------------------------------------------------------- Qwen3-Next */

static const unsigned char *tensor_rows(json_t *hdr, const fixture_data *d, const char *name,
                                        int64_t rows, int64_t cols) {
  json_t *t = json_object_get(hdr, name);
  ASSERT_NOT_NULL(t);
  ASSERT_EQ_STR(json_string_value(json_object_get(t, "dtype")), "BF16");
  json_t *off = json_object_get(t, "data_offsets");
  json_int_t a = json_integer_value(json_array_get(off, 0)),
             b = json_integer_value(json_array_get(off, 1));
  ASSERT_TRUE(b - a == rows * cols * 2 && (size_t)b <= d->len);
  return d->data + a;
}

/* Appends n rows of rb bytes from src to the edit's extra data. */
static void put_rows(fixture_data *d, const unsigned char *src, size_t n, size_t rb) {
  d->extra = realloc(d->extra, d->extra_len + n * rb);
  ASSERT_NOT_NULL(d->extra);
  memcpy(d->extra + d->extra_len, src, n * rb);
  d->extra_len += n * rb;
}

static void add_tensor(json_t *hdr, const char *name, const fixture_data *d, size_t start,
                       int64_t rows, int64_t cols) {
  json_object_set_new(hdr, name,
                      json_pack("{s:s, s:[I,I], s:[I,I]}", "dtype", "BF16", "shape",
                                (json_int_t)rows, (json_int_t)cols, "data_offsets",
                                (json_int_t)(d->len + start), (json_int_t)(d->len + d->extra_len)));
}

/* qwen3_5-moe rewritten as the same model in the Qwen3-Next checkpoint
 * layout: per linear layer, in_proj_qkv / _z / _b / _a fused into
 * in_proj_qkvz [per key head: q, k, v of its r value heads, z of them] and
 * in_proj_ba [per key head: b (r), a (r)], as transformers'
 * Qwen3NextGatedDeltaNet.fix_query_key_value_ordering reads them. */
static void to_qwen3_next(json_t *hdr, json_t *cfg, fixture_data *d, void *ctx) {
  (void)ctx;
  int64_t H = json_integer_value(json_object_get(cfg, "hidden_size")),
          nk = json_integer_value(json_object_get(cfg, "linear_num_key_heads")),
          nv = json_integer_value(json_object_get(cfg, "linear_num_value_heads")),
          kd = json_integer_value(json_object_get(cfg, "linear_key_head_dim")),
          vd = json_integer_value(json_object_get(cfg, "linear_value_head_dim")), r = nv / nk;
  size_t rb = (size_t)H * 2;
  json_t *types = json_object_get(cfg, "layer_types");
  for (size_t l = 0; l < json_array_size(types); l++) {
    if (strcmp(json_string_value(json_array_get(types, l)), "linear_attention") != 0) continue;
    char n[4][128], out[160];
    static const char *const part[4] = {"qkv", "z", "b", "a"};
    for (int i = 0; i < 4; i++)
      snprintf(n[i], sizeof n[i], "model.layers.%zu.linear_attn.in_proj_%s.weight", l, part[i]);
    const unsigned char *qkv = tensor_rows(hdr, d, n[0], 2 * nk * kd + nv * vd, H),
                        *z = tensor_rows(hdr, d, n[1], nv * vd, H),
                        *b = tensor_rows(hdr, d, n[2], nv, H),
                        *a = tensor_rows(hdr, d, n[3], nv, H);
    size_t start = d->extra_len;
    for (int64_t g = 0; g < nk; g++) {
      put_rows(d, qkv + (size_t)(g * kd) * rb, (size_t)kd, rb);
      put_rows(d, qkv + (size_t)(nk * kd + g * kd) * rb, (size_t)kd, rb);
      put_rows(d, qkv + (size_t)(2 * nk * kd + g * r * vd) * rb, (size_t)(r * vd), rb);
      put_rows(d, z + (size_t)(g * r * vd) * rb, (size_t)(r * vd), rb);
    }
    snprintf(out, sizeof out, "model.layers.%zu.linear_attn.in_proj_qkvz.weight", l);
    add_tensor(hdr, out, d, start, 2 * nk * kd + 2 * nv * vd, H);
    start = d->extra_len;
    for (int64_t g = 0; g < nk; g++) {
      put_rows(d, b + (size_t)(g * r) * rb, (size_t)r, rb);
      put_rows(d, a + (size_t)(g * r) * rb, (size_t)r, rb);
    }
    snprintf(out, sizeof out, "model.layers.%zu.linear_attn.in_proj_ba.weight", l);
    add_tensor(hdr, out, d, start, 2 * nv, H);
    for (int i = 0; i < 4; i++) json_object_del(hdr, n[i]);
  }
  json_object_set_new(cfg, "model_type", json_string("qwen3_next"));
  json_object_set_new(cfg, "architectures", json_pack("[s]", "Qwen3NextForCausalLM"));
  json_object_set_new(cfg, "norm_topk_prob", json_true());
  json_object_set_new(cfg, "decoder_sparse_step", json_integer(1));
  json_object_set_new(cfg, "mlp_only_layers", json_array());
  json_object_del(cfg, "layer_types"); /* the same layers from the interval */
  json_object_set_new(cfg, "full_attention_interval", json_integer(4));
}

/* The fused Qwen3-Next layout gives the Qwen3.5-MoE reference's logits, in
 * a prefill and one token at a time. */
static void test_qwen3_next_layout(void) {
  fixture f;
  fixture_load(&f, "qwen3_5-moe");
  char *dir = fixture_edited_copy_ex("qwen3_5-moe", to_qwen3_next, NULL);
  gloam_model *m = fixture_model_load(dir, NULL, GLOAM_QUANT_NONE, 1);
  ASSERT_EQ_STR(gloam_model_arch(m), "qwen3_next");
  size_t n = (size_t)f.n_ids * f.vocab;
  double tol = fixture_tolerance(f.logits, n);
  float *lg = fixture_prefill_logits(m, f.ids, f.n_ids);
  double err = fixture_max_diff(lg, f.logits, n);
  static const int one[1] = {1};
  float *dec = piecewise_logits(m, f.ids, f.n_ids, one, 1, 4);
  double err1 = fixture_max_diff(dec, f.logits, n);
  printf("    qwen3_next (from qwen3_5-moe) max|logit-ref| prefill %.3g, decode %.3g (tol %.3g)\n",
         err, err1, tol);
  ASSERT_TRUE(err <= tol && err1 <= tol);
  free(lg);
  free(dec);
  gloam_model_free(m);
  free(dir);
  fixture_free(&f);
}

/* No GGUF mapping for Qwen3.5 yet: the converter refuses clearly, and so
 * does the loader for a llama.cpp file of that architecture. */
static void test_gguf_refused(void) {
  char *dir = test_fixture_path("models/qwen3_5"), *tmp = test_tmpdir(), path[1024];
  char err[GLOAM_ERR_LEN] = "";
  snprintf(path, sizeof path, "%s/q.gguf", tmp);
  convert_opts o = {.type = DT_F16};
  ASSERT_EQ_INT(gguf_convert(dir, path, &o, err), GLOAM_EUNSUPPORTED);
  ASSERT_TRUE(strstr(err, "qwen3_5_text") != NULL);
  gguf_writer *w = gguf_writer_new();
  ASSERT_OK(gguf_w_str(w, "general.architecture", "qwen35"));
  ASSERT_OK(gguf_w_u32(w, "qwen35.block_count", 4));
  ASSERT_OK(gguf_writer_write(w, path, err));
  gguf_writer_free(w);
  gloam_model *m = NULL;
  ASSERT_EQ_INT(gloam_model_load(&m, path, NULL, err), GLOAM_EUNSUPPORTED);
  ASSERT_TRUE(m == NULL && strstr(err, "qwen35") != NULL);
  free(dir);
  free(tmp);
}

int main(int argc, char **argv) {
  static const test_case tests[] = {
      TEST(test_logits_and_hidden_states),
      TEST(test_greedy_matches),
      TEST(test_state_equals_full),
      TEST(test_threads_agree),
      TEST(test_kv_f16),
      TEST(test_batch_equals_sequential),
      TEST(test_no_alloc_in_token_loop),
      TEST(test_quantize_on_load),
      TEST(test_rejects_corrupted),
      TEST(test_wrapper_config),
      TEST(test_qwen3_next_layout),
      TEST(test_gguf_refused),
      {0},
  };
  return test_main(argc, argv, tests);
}
