/* SPDX-License-Identifier: Apache-2.0
 *
 * tests/engine/test_mlx.c: MLX-quantized checkpoints (engine/mlx_load.h,
 * engine/mlx_convert.h, engine/mlx_meta.h).
 *
 * - Every fixture family converted to MLX 8-bit (groups of 64) and 4-bit
 *   (groups of 64 and 32), loaded, and its logits compared with the float32
 *   transformers reference: top-1 agreement and mean KL are printed and
 *   bounded; cached decode (one token per step, the decode kernels) equals
 *   the prefill.
 * - The loaded DT_MLX matrices dequantize to within half a quantization
 *   step of the source bf16 weights (the hand-packed bit-order check of the
 *   kernels is in tests/kernels/test_mlx_kernels.c).
 * - The converter's files as mlx-lm lays them out: config keys, U32 packed
 *   widths, switch_mlp stacks, the router override.
 * - Malformed metadata and tensors: clear GLOAM_EFORMAT / EUNSUPPORTED.
 *
 * CTest runs this binary twice: `engine_mlx` (dispatched kernels) and
 * `engine_mlx_ref` (GLOAM_KERNELS=ref, float32 activations).
 */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "core/alloc.h"
#include "core/err.h"
#include "engine/convert.h"
#include "engine/engine_impl.h"
#include "engine/mlx_convert.h"
#include "engine/mlx_meta.h"
#include "engine/model_files.h"
#include "fixture.h"
#include "kernels/mlx.h"
#include "test.h"

static const char *const families[] = {"llama", "llama3-rope", "qwen2",
                                       "qwen3", "qwen3-moe",   "gemma3"};
#define N_FAMILIES (int)(sizeof families / sizeof families[0])

/* bits, group, and the bounds the fixtures must meet (docs/formats.md:
 * measured worst cases with margin). */
static const struct {
  int bits, group;
  double min_agree, max_kl;
} variants[] = {{8, 64, 0.95, 0.005}, {4, 64, 0.5, 0.3}, {4, 32, 0.5, 0.3}};
#define N_VARIANTS (int)(sizeof variants / sizeof variants[0])

static char *g_tmp;

/* The fixture family converted (once per process) to variant v. */
static const char *converted(const char *family, int v) {
  static char paths[N_FAMILIES][N_VARIANTS][512];
  int fi = 0;
  while (fi < N_FAMILIES && strcmp(families[fi], family) != 0) fi++;
  GLOAM_ASSERT(fi < N_FAMILIES);
  char *p = paths[fi][v];
  if (p[0]) return p;
  if (!g_tmp) g_tmp = test_tmpdir();
  char rel[128], err[GLOAM_ERR_LEN];
  snprintf(rel, sizeof rel, "models/%s", family);
  char *in = test_fixture_path(rel);
  snprintf(p, 512, "%s/%s-%db-g%d", g_tmp, family, variants[v].bits, variants[v].group);
  mlx_convert_opts o = {.bits = variants[v].bits, .group = variants[v].group};
  if (mlx_convert(in, p, &o, err) < 0) test_fail(__FILE__, __LINE__, "convert %s: %s", in, err);
  free(in);
  return p;
}

static void test_fixture_logits(void) {
  for (int v = 0; v < N_VARIANTS; v++)
    for (int i = 0; i < N_FAMILIES; i++) {
      fixture f;
      fixture_load(&f, families[i]);
      gloam_model *m = fixture_model_load(converted(families[i], v), NULL, GLOAM_QUANT_NONE, 2);
      float *lg = fixture_prefill_logits(m, f.ids, f.n_ids);
      double agree, kl;
      fixture_quant_stats(f.logits, lg, f.n_ids, f.vocab, &agree, &kl);
      printf("  mlx %d-bit g%d %-12s (%s): top-1 %.3f  KL %.5f\n", variants[v].bits,
             variants[v].group, families[i], kern_backend_name(), agree, kl);
      if (agree < variants[v].min_agree || kl > variants[v].max_kl)
        test_fail(__FILE__, __LINE__, "%s %d-bit: agreement %.3f KL %.5f", families[i],
                  variants[v].bits, agree, kl);
      free(lg);
      gloam_model_free(m);
      fixture_free(&f);
    }
}

/* Prefill and token-by-token decode read the same weights through the
 * prefill (many rows) and decode (1 row) kernel paths. */
static void test_cached_decode(void) {
  fixture f;
  fixture_load(&f, "qwen3-moe");
  gloam_model *m = fixture_model_load(converted("qwen3-moe", 2), NULL, GLOAM_QUANT_NONE, 1);
  float *full = fixture_prefill_logits(m, f.ids, f.n_ids);
  gloam_session *s = fixture_session(m, f.n_ids, 1, false);
  double worst = 0, scale = fixture_max_abs(full, (size_t)f.n_ids * f.vocab);
  for (int t = 0; t < f.n_ids; t++) {
    ASSERT_OK(gloam_session_eval(s, &f.ids[t], 1));
    worst =
        fmax(worst, fixture_max_diff(gloam_session_logits(s), full + (size_t)t * f.vocab, f.vocab));
  }
  ASSERT_TRUE(worst <= 1e-4 * fmax(1.0, scale));
  gloam_session_free(s);
  free(full);
  gloam_model_free(m);
  fixture_free(&f);
}

/* Every DT_MLX matrix of a loaded conversion dequantizes to the source
 * weights within one step (max - min) / (2^bits - 1) of its group, plus
 * the bf16 rounding of scale and bias. (MLX makes the larger-magnitude edge
 * an exact level: rounding edge / step to an integer can shrink the scale
 * so that the other edge is clipped by up to n / (n + 1) of a step; the
 * values in between are within half a step.) */
static void test_dequantized_weights(void) {
  for (int v = 0; v < N_VARIANTS; v++) {
    char *src = test_fixture_path("models/qwen3-moe");
    model_files *a = NULL, *b = NULL;
    char err[GLOAM_ERR_LEN];
    ASSERT_OK(model_files_open(&a, src, NULL, err));
    if (model_files_open(&b, converted("qwen3-moe", v), NULL, err) < 0)
      test_fail(__FILE__, __LINE__, "open: %s", err);
    int n_mlx = 0;
    for (int i = 0; i < model_files_n_tensors(b); i++) {
      const tensor *t = model_files_tensor_at(b, i);
      if (t->type != DT_MLX || t->n_dims != 2) continue;
      const tensor *s = model_files_tensor(a, t->name);
      ASSERT_NOT_NULL(s);
      ASSERT_TRUE(s->shape[0] == t->shape[0] && s->shape[1] == t->shape[1]);
      const kern_mlx *w = t->data;
      ASSERT_EQ_INT(w->group, strstr(t->name, "mlp.gate.") ? 64 : variants[v].group);
      ASSERT_EQ_INT(w->bits, strstr(t->name, "mlp.gate.") ? 8 : variants[v].bits);
      int64_t cols = t->shape[1];
      float *x = malloc(sizeof(float) * (size_t)cols), *y = malloc(sizeof(float) * (size_t)cols);
      for (int64_t r = 0; r < t->shape[0]; r++) {
        kern_dequantize_row(s->type,
                            (const uint8_t *)s->data + (size_t)r * dtype_row_bytes(s->type, cols),
                            x, cols);
        kern_mlx_dequantize_row(w, r, cols, y);
        for (int64_t g = 0; g < cols / w->group; g++) {
          float lo = INFINITY, hi = -INFINITY;
          for (int j = 0; j < w->group; j++) {
            lo = fminf(lo, x[g * w->group + j]);
            hi = fmaxf(hi, x[g * w->group + j]);
          }
          double step = (hi - lo) / ((1 << w->bits) - 1);
          for (int j = 0; j < w->group; j++) {
            double d = fabs((double)y[g * w->group + j] - x[g * w->group + j]);
            if (d > step * 1.02 + 0.01 * fmax(fabs(lo), fabs(hi)) + 1e-7)
              test_fail(__FILE__, __LINE__, "%s row %lld: %g vs %g (step %g)", t->name,
                        (long long)r, y[g * w->group + j], x[g * w->group + j], step);
          }
        }
      }
      free(x);
      free(y);
      n_mlx++;
    }
    /* q/k/v/o, router, 8 x (gate, up[, down]) per layer, embeddings, lm_head */
    ASSERT_CMP_INT(n_mlx, >=, 2 * (4 + 1 + 16) + 2);
    model_files_close(a);
    model_files_close(b);
    free(src);
  }
}

/* The converter's output as mlx-lm writes it, read with jansson alone. */
static json_t *read_json(const char *path) {
  json_error_t je;
  json_t *j = json_load_file(path, 0, &je);
  if (!j) test_fail(__FILE__, __LINE__, "%s: %s", path, je.text);
  return j;
}

static json_t *st_header(const char *path) {
  size_t len = 0;
  uint8_t *b = test_read_file(path, &len);
  ASSERT_TRUE(b && len > 8);
  uint64_t n = 0;
  for (int i = 7; i >= 0; i--) n = (n << 8) | b[i];
  json_error_t je;
  json_t *h = json_loadb((const char *)b + 8, (size_t)n, 0, &je);
  free(b);
  ASSERT_NOT_NULL(h);
  return h;
}

static void expect_shape(json_t *h, const char *name, const char *dtype, int n, const int *dims) {
  json_t *e = json_object_get(h, name);
  if (!e) test_fail(__FILE__, __LINE__, "no tensor %s", name);
  ASSERT_EQ_STR(json_string_value(json_object_get(e, "dtype")), dtype);
  json_t *s = json_object_get(e, "shape");
  ASSERT_EQ_INT((int)json_array_size(s), n);
  for (int i = 0; i < n; i++)
    ASSERT_EQ_INT((int)json_integer_value(json_array_get(s, (size_t)i)), dims[i]);
}

static void test_converter_layout(void) {
  const char *d = converted("qwen3-moe", 1); /* 4 bits, groups of 64 */
  char p[1024];
  snprintf(p, sizeof p, "%s/config.json", d);
  json_t *c = read_json(p);
  json_t *q = json_object_get(c, "quantization"), *qc = json_object_get(c, "quantization_config");
  ASSERT_TRUE(json_equal(q, qc));
  ASSERT_EQ_INT((int)json_integer_value(json_object_get(q, "bits")), 4);
  ASSERT_EQ_INT((int)json_integer_value(json_object_get(q, "group_size")), 64);
  ASSERT_EQ_STR(json_string_value(json_object_get(q, "mode")), "affine");
  json_t *ov = json_object_get(q, "model.layers.1.mlp.gate");
  ASSERT_EQ_INT((int)json_integer_value(json_object_get(ov, "bits")), 8);
  json_decref(c);
  snprintf(p, sizeof p, "%s/model.safetensors", d);
  json_t *h = st_header(p);
  ASSERT_EQ_STR(json_string_value(json_object_get(json_object_get(h, "__metadata__"), "format")),
                "mlx");
  /* hidden 64 at 4 bits: 8 words per row; one group of 64 */
  expect_shape(h, "model.layers.0.self_attn.q_proj.weight", "U32", 2, (int[]){64, 8});
  expect_shape(h, "model.layers.0.self_attn.q_proj.scales", "BF16", 2, (int[]){64, 1});
  expect_shape(h, "model.layers.0.self_attn.q_proj.biases", "BF16", 2, (int[]){64, 1});
  expect_shape(h, "model.embed_tokens.weight", "U32", 2, (int[]){512, 8});
  /* router at 8 bits: 16 words */
  expect_shape(h, "model.layers.0.mlp.gate.weight", "U32", 2, (int[]){8, 16});
  /* experts stacked; down_proj (32 inputs) is not a multiple of 64: float */
  expect_shape(h, "model.layers.0.mlp.switch_mlp.up_proj.weight", "U32", 3, (int[]){8, 32, 8});
  expect_shape(h, "model.layers.0.mlp.switch_mlp.down_proj.weight", "BF16", 3, (int[]){8, 64, 32});
  ASSERT_TRUE(json_object_get(h, "model.layers.0.mlp.experts.0.up_proj.weight") == NULL);
  expect_shape(h, "model.norm.weight", "BF16", 1, (int[]){64});
  json_decref(h);
  snprintf(p, sizeof p, "%s/model.safetensors.index.json", d);
  json_t *ix = read_json(p);
  ASSERT_EQ_STR(json_string_value(json_object_get(json_object_get(ix, "weight_map"),
                                                  "model.layers.0.mlp.gate.scales")),
                "model.safetensors");
  json_decref(ix);
  /* a tied model writes no lm_head */
  snprintf(p, sizeof p, "%s/model.safetensors", converted("qwen3", 1));
  h = st_header(p);
  ASSERT_TRUE(json_object_get(h, "lm_head.weight") == NULL);
  json_decref(h);
}

/* ------------------------------------------------------------ malformed */

/* A copy of converted dir src (config.json and model.safetensors, no
 * index) as dst, with the config's "quantization" replaced by quant_json
 * (NULL: kept; "-": removed) and the safetensors header passed through
 * edit (may be NULL). */
static void make_variant(const char *src, const char *dst, const char *quant_json,
                         void (*edit)(json_t *hdr)) {
  char p[1024];
  ASSERT_TRUE(snprintf(p, sizeof p, "mkdir -p '%s'", dst) < (int)sizeof p);
  ASSERT_EQ_INT(system(p), 0);
  snprintf(p, sizeof p, "%s/config.json", src);
  json_t *c = read_json(p);
  if (quant_json && strcmp(quant_json, "-") == 0) {
    json_object_del(c, "quantization");
    json_object_del(c, "quantization_config");
  } else if (quant_json) {
    json_error_t je;
    json_t *q = json_loads(quant_json, JSON_DECODE_ANY, &je);
    if (!q) test_fail(__FILE__, __LINE__, "bad test json %s", quant_json);
    json_object_set(c, "quantization", q);
    json_object_set_new(c, "quantization_config", q);
  }
  snprintf(p, sizeof p, "%s/config.json", dst);
  ASSERT_EQ_INT(json_dump_file(c, p, 0), 0);
  json_decref(c);
  size_t len = 0;
  snprintf(p, sizeof p, "%s/model.safetensors", src);
  uint8_t *b = test_read_file(p, &len);
  ASSERT_NOT_NULL(b);
  uint64_t n = 0;
  for (int i = 7; i >= 0; i--) n = (n << 8) | b[i];
  json_error_t je;
  json_t *h = json_loadb((const char *)b + 8, (size_t)n, 0, &je);
  ASSERT_NOT_NULL(h);
  if (edit) edit(h);
  char *hs = json_dumps(h, JSON_COMPACT);
  size_t hl = strlen(hs), padded = (hl + 7) & ~(size_t)7;
  snprintf(p, sizeof p, "%s/model.safetensors", dst);
  FILE *f = fopen(p, "wb");
  ASSERT_NOT_NULL(f);
  for (int i = 0; i < 8; i++) fputc((int)((padded >> (8 * i)) & 255), f);
  fwrite(hs, 1, hl, f);
  for (size_t i = hl; i < padded; i++) fputc(' ', f);
  fwrite(b + 8 + n, 1, len - 8 - n, f);
  ASSERT_EQ_INT(fclose(f), 0);
  free(hs);
  free(b);
  json_decref(h);
}

static void set_shape(json_t *h, const char *name, int d0, int d1) {
  json_t *e = json_object_get(h, name);
  ASSERT_NOT_NULL(e);
  json_object_set_new(e, "shape", json_pack("[i,i]", d0, d1));
}

static void rename_tensor(json_t *h, const char *from, const char *to) {
  json_t *e = json_object_get(h, from);
  ASSERT_NOT_NULL(e);
  json_object_set(h, to, e);
  json_object_del(h, from);
}

static void ed_scales_shape(json_t *h) { /* [64, 1] -> [1, 64]: same bytes */
  set_shape(h, "model.layers.0.self_attn.q_proj.scales", 1, 64);
}
static void ed_weight_width(json_t *h) { /* [64, 8] -> [128, 4] */
  set_shape(h, "model.layers.0.self_attn.q_proj.weight", 128, 4);
}
static void ed_no_biases(json_t *h) {
  rename_tensor(h, "model.layers.0.self_attn.q_proj.biases", "model.layers.0.self_attn.q_proj.b");
}
static void ed_no_scales(json_t *h) {
  rename_tensor(h, "model.layers.0.self_attn.q_proj.scales", "model.layers.0.self_attn.q_proj.s");
  rename_tensor(h, "model.layers.0.self_attn.q_proj.biases", "model.layers.0.self_attn.q_proj.b");
}
static void ed_weight_f32(json_t *h) {
  json_object_set_new(json_object_get(h, "model.layers.0.self_attn.q_proj.weight"), "dtype",
                      json_string("F32"));
}
static void ed_scales_f16(json_t *h) {
  json_object_set_new(json_object_get(h, "model.layers.0.self_attn.q_proj.scales"), "dtype",
                      json_string("F16"));
}
static void ed_orphan_weight(json_t *h) { /* weight left packed without scales */
  json_object_del(h, "model.layers.0.self_attn.q_proj.scales");
  json_object_del(h, "model.layers.0.self_attn.q_proj.biases");
}

static void test_malformed(void) {
  const char *src = converted("llama", 1); /* 4 bits, groups of 64 */
  static const struct {
    const char *quant;
    void (*edit)(json_t *);
    int rc;
    const char *msg;
  } cases[] = {
      {"{\"bits\": 3, \"group_size\": 64}", NULL, GLOAM_EUNSUPPORTED, "3-bit"},
      {"{\"bits\": 7, \"group_size\": 64}", NULL, GLOAM_EFORMAT, "bits 7"},
      {"{\"bits\": 4000000000, \"group_size\": 64}", NULL, GLOAM_EFORMAT, "bits"},
      {"{\"bits\": -4, \"group_size\": 64}", NULL, GLOAM_EFORMAT, "bits"},
      {"{\"bits\": \"4\", \"group_size\": 64}", NULL, GLOAM_EFORMAT, "integers"},
      {"{\"bits\": 4}", NULL, GLOAM_EFORMAT, "integers"},
      {"{\"bits\": 4, \"group_size\": 48}", NULL, GLOAM_EFORMAT, "group_size 48"},
      {"{\"bits\": 4, \"group_size\": 0}", NULL, GLOAM_EFORMAT, "group_size 0"},
      {"{\"bits\": 4, \"group_size\": 64, \"mode\": \"mxfp4\"}", NULL, GLOAM_EUNSUPPORTED, "mxfp4"},
      {"[4, 64]", NULL, GLOAM_EFORMAT, "not an object"},
      /* group 128 does not divide the 64 inputs */
      {"{\"bits\": 4, \"group_size\": 128}", NULL, GLOAM_EFORMAT, "groups of 128"},
      /* 8-bit metadata for 4-bit packed weights: width 32 != 64 */
      {"{\"bits\": 8, \"group_size\": 64}", NULL, GLOAM_EFORMAT, "8 bits"},
      {"{\"bits\": 4, \"group_size\": 64, \"model.layers.9.mlp.gate\": {\"bits\": 8, "
       "\"group_size\": 64}}",
       NULL, GLOAM_EFORMAT, "unknown layer model.layers.9.mlp.gate"},
      {"{\"bits\": 4, \"group_size\": 64, \"model.layers.0.self_attn.q_proj\": false}", NULL,
       GLOAM_EFORMAT, "marked unquantized"},
      {"{\"bits\": 4, \"group_size\": 64, \"model.layers.0.self_attn.q_proj\": 12}", NULL,
       GLOAM_EFORMAT, "neither"},
      {"{\"bits\": 4, \"group_size\": 64, \"model.layers.0.mlp.gate\": {\"bits\": 9, "
       "\"group_size\": 64}}",
       NULL, GLOAM_EFORMAT, "bits 9"},
      {"-", NULL, GLOAM_EFORMAT, "no quantization"},
      {NULL, ed_scales_shape, GLOAM_EFORMAT, "q_proj"},
      {NULL, ed_weight_width, GLOAM_EFORMAT, "q_proj"},
      {NULL, ed_no_biases, GLOAM_EFORMAT, "no biases"},
      {NULL, ed_no_scales, GLOAM_EFORMAT, "without scales"},
      {NULL, ed_weight_f32, GLOAM_EFORMAT, "not packed uint32"},
      {NULL, ed_scales_f16, GLOAM_EFORMAT, "scales f16 / biases bf16"},
      {NULL, ed_orphan_weight, GLOAM_EFORMAT, "without scales"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char dst[600], err[GLOAM_ERR_LEN];
    snprintf(dst, sizeof dst, "%s/bad%zu", g_tmp, i);
    make_variant(src, dst, cases[i].quant, cases[i].edit);
    model_files *mf = NULL;
    int rc = model_files_open(&mf, dst, NULL, err);
    if (rc != cases[i].rc || !strstr(err, cases[i].msg))
      test_fail(__FILE__, __LINE__, "case %zu: rc %d (%s), want %d with \"%s\"", i, rc, err,
                cases[i].rc, cases[i].msg);
    ASSERT_TRUE(mf == NULL);
  }
  /* the unedited copy loads, and so do overrides that agree with the
   * tensors: false on a layer left in bf16 (down_proj: 160 inputs), an
   * explicit object, true, quantization_config alone */
  static const char *const good[] = {
      NULL,
      "{\"bits\": 4, \"group_size\": 64, \"model.layers.0.mlp.down_proj\": false, "
      "\"model.layers.1.self_attn.q_proj\": {\"bits\": 4, \"group_size\": 64}, "
      "\"lm_head\": true}",
  };
  for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
    char dst[600], err[GLOAM_ERR_LEN];
    snprintf(dst, sizeof dst, "%s/good%zu", g_tmp, i);
    make_variant(src, dst, good[i], NULL);
    model_files *mf = NULL;
    if (model_files_open(&mf, dst, NULL, err) < 0) test_fail(__FILE__, __LINE__, "%s", err);
    const tensor *t = model_files_tensor(mf, "model.layers.1.self_attn.q_proj.weight");
    ASSERT_TRUE(t && t->type == DT_MLX && t->shape[1] == 64);
    t = model_files_tensor(mf, "model.layers.0.mlp.down_proj.weight");
    ASSERT_TRUE(t && t->type == DT_BF16);
    model_files_close(mf);
  }
}

/* The metadata parser on its own (the fuzzer's entry point). */
static void test_meta_parse(void) {
  mlx_meta m;
  char err[GLOAM_ERR_LEN];
  const char *cfg =
      "{\"model_type\":\"qwen3\",\"quantization_config\":{\"bits\":8,"
      "\"group_size\":32,\"language_model.model.layers.0.mlp.down_proj\":false,"
      "\"lm_head\":{\"bits\":4,\"group_size\":128}}}";
  ASSERT_OK(mlx_meta_parse(&m, cfg, strlen(cfg), err));
  ASSERT_TRUE(m.present);
  ASSERT_EQ_INT(m.bits, 8);
  ASSERT_EQ_INT(m.group, 32);
  int bits = 0, group = 0;
  ASSERT_EQ_INT(mlx_meta_lookup(&m, "model.layers.0.mlp.down_proj", &bits, &group), 0);
  ASSERT_EQ_INT(mlx_meta_lookup(&m, "lm_head", &bits, &group), 1);
  ASSERT_EQ_INT(bits, 4);
  ASSERT_EQ_INT(group, 128);
  ASSERT_EQ_INT(mlx_meta_lookup(&m, "model.layers.1.mlp.up_proj", &bits, &group), 1);
  ASSERT_EQ_INT(bits, 8);
  mlx_meta_deinit(&m);
  const char *tc = "{\"text_config\":{\"quantization_config\":{\"bits\":4,\"group_size\":64}}}";
  ASSERT_OK(mlx_meta_parse(&m, tc, strlen(tc), err));
  ASSERT_TRUE(m.present && m.bits == 4 && m.group == 64);
  mlx_meta_deinit(&m);
  /* other tools' quantization_config is not MLX; neither is a plain config */
  const char *gptq = "{\"quantization_config\":{\"quant_method\":\"gptq\",\"bits\":4}}";
  ASSERT_OK(mlx_meta_parse(&m, gptq, strlen(gptq), err));
  ASSERT_FALSE(m.present);
  ASSERT_OK(mlx_meta_parse(&m, "{}", 2, err));
  ASSERT_FALSE(m.present);
  /* duplicates after prefix rewriting */
  const char *dup =
      "{\"quantization\":{\"bits\":4,\"group_size\":64,\"model.x\":false,"
      "\"language_model.model.x\":false}}";
  ASSERT_EQ_INT(mlx_meta_parse(&m, dup, strlen(dup), err), GLOAM_EFORMAT);
  ASSERT_TRUE(strstr(err, "twice") != NULL);
  ASSERT_EQ_INT(mlx_meta_parse(&m, "{", 1, err), GLOAM_EFORMAT);
}

/* The other load paths meet MLX tensors cleanly: GGUF conversion refuses
 * them; quantize-on-load converts only the float matrices and keeps the
 * MLX ones (logits stay close). */
static void test_other_paths(void) {
  const char *d = converted("llama", 0);
  char path[700], err[GLOAM_ERR_LEN];
  snprintf(path, sizeof path, "%s/x.gguf", g_tmp);
  convert_opts o = {.type = DT_F16};
  ASSERT_EQ_INT(gguf_convert(d, path, &o, err), GLOAM_EUNSUPPORTED);
  ASSERT_TRUE(strstr(err, "MLX") != NULL);
  fixture f;
  fixture_load(&f, "llama");
  gloam_model *m = fixture_model_load(d, NULL, GLOAM_QUANT_Q8_0, 1);
  float *lg = fixture_prefill_logits(m, f.ids, f.n_ids);
  double agree, kl;
  fixture_quant_stats(f.logits, lg, f.n_ids, f.vocab, &agree, &kl);
  ASSERT_TRUE(agree >= 0.95 && kl <= 0.005);
  free(lg);
  gloam_model_free(m);
  fixture_free(&f);
}

/* gloam-engine convert --to mlx: converts, and rejects bad arguments with
 * exit status 2. */
static void test_cli(void) {
#if defined(GLOAM_ENGINE_BIN)
  char *src = test_fixture_path("models/qwen3");
  char cmd[2048], out[700];
  if (!g_tmp) g_tmp = test_tmpdir();
  snprintf(out, sizeof out, "%s/cli-8", g_tmp);
  snprintf(cmd, sizeof cmd, "'%s' convert --to mlx --bits 8 --group-size 32 '%s' '%s'",
           GLOAM_ENGINE_BIN, src, out);
  ASSERT_EQ_INT(system(cmd), 0);
  gloam_model *m = fixture_model_load(out, NULL, GLOAM_QUANT_NONE, 1);
  gloam_model_free(m);
  static const char *const bad[] = {"--bits 5", "--bits 4 --group-size 16", "--bits x",
                                    "--bits 4 extra-positional"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    snprintf(cmd, sizeof cmd, "'%s' convert --to mlx %s '%s' '%s/cli-bad' 2>/dev/null",
             GLOAM_ENGINE_BIN, bad[i], src, g_tmp);
    int st = system(cmd);
    ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) != 0);
  }
  free(src);
#else
  TEST_SKIP("gloam-engine not built");
#endif
}

/* Every allocation failure while opening an MLX directory is a clean
 * GLOAM_ENOMEM (no leak under ASan). */
static void test_alloc_failures(void) {
  const char *d = converted("llama", 1);
  char err[GLOAM_ERR_LEN];
  for (long n = 0;; n++) {
    mem_fail_after(n);
    model_files *mf = NULL;
    int rc = model_files_open(&mf, d, NULL, err);
    mem_fail_after(-1);
    if (rc == 0) {
      model_files_close(mf);
      break;
    }
    ASSERT_EQ_INT(rc, GLOAM_ENOMEM);
    ASSERT_TRUE(n < 100000);
  }
}

int main(int argc, char **argv) {
  static const test_case tests[] = {TEST(test_fixture_logits),
                                    TEST(test_cached_decode),
                                    TEST(test_dequantized_weights),
                                    TEST(test_converter_layout),
                                    TEST(test_malformed),
                                    TEST(test_meta_parse),
                                    TEST(test_other_paths),
                                    TEST(test_alloc_failures),
                                    TEST(test_cli),
                                    {0}};
  return test_main(argc, argv, tests);
}
