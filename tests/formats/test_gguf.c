/* SPDX-License-Identifier: Apache-2.0
 *
 * tests/formats/test_gguf.c: GGUF parsing, the llama.cpp name/permutation
 * conventions, the writer and converter (round trips for every fixture
 * family), hostile GGUF files, and tokenizer metadata. Part of the
 * `formats` test binary (main() is in test_formats.c).
 *
 * References: the fixtures, llama.cpp's permute() worked by hand, GGUF
 * files packed independently (a byte builder here and
 * fuzz/gguf/make_corpus.py), and Hugging Face's token ids (expected.json).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include <zlib.h>

#include "core/err.h"
#include "engine/convert.h"
#include "engine/gguf.h"
#include "engine/gguf_names.h"
#include "engine/gguf_write.h"
#include "engine/model_files.h"
#include "engine/model_files_int.h"
#include "engine/tokenizer_gguf.h"
#include "formats_test.h"
#include "gloam/tokenizer.h"
#include "kernels/kernels.h"
#include "test.h"

/* ---- GGUF ------------------------------------------------------------------ */

/* llama.cpp: permute(w, n_head) = w.reshape(n_head, 2, hd/2, ...).swapaxes(1, 2):
 * for hd = 8 one head's rows r0..r7 become r0 r4 r1 r5 r2 r6 r3 r7. */
void test_gguf_permutation(void) {
  uint8_t src[16], dst[16], back[16];
  for (int i = 0; i < 16; i++) src[i] = (uint8_t)i;
  gguf_permute_rows(dst, src, 2, 8, 1);
  static const uint8_t want[16] = {0, 4, 1, 5, 2, 6, 3, 7, 8, 12, 9, 13, 10, 14, 11, 15};
  ASSERT_EQ_MEM(dst, want, 16);
  gguf_unpermute_rows(back, dst, 2, 8, 1);
  ASSERT_EQ_MEM(back, src, 16);
  char out[128];
  int l, e;
  ASSERT_EQ_INT(gguf_name_to_hf(ARCH_GEMMA3, "blk.12.ffn_norm.weight", out, sizeof out, &l),
                GN_PLAIN);
  ASSERT_EQ_STR(out, "model.layers.12.pre_feedforward_layernorm.weight");
  ASSERT_EQ_INT(gguf_name_to_hf(ARCH_QWEN3, "blk.1.ffn_norm.weight", out, sizeof out, &l),
                GN_PLAIN);
  ASSERT_EQ_STR(out, "model.layers.1.post_attention_layernorm.weight");
  ASSERT_EQ_INT(gguf_name_to_hf(ARCH_QWEN2, "blk.0.attn_k.bias", out, sizeof out, &l), GN_K);
  ASSERT_EQ_STR(out, "model.layers.0.self_attn.k_proj.bias");
  ASSERT_EQ_INT(gguf_name_to_hf(ARCH_LLAMA, "blk.0.attn_q.weight", out, sizeof out, &l), GN_Q);
  ASSERT_EQ_INT(gguf_name_to_hf(ARCH_LLAMA, "blk.x.attn_q.weight", out, sizeof out, &l),
                GN_UNKNOWN);
  ASSERT_EQ_INT(gguf_name_to_hf(ARCH_LLAMA, "blk.99999999.attn_q.weight", out, sizeof out, &l),
                GN_UNKNOWN);
  ASSERT_EQ_INT(gguf_name_from_hf(ARCH_QWEN3_MOE, "model.layers.3.mlp.experts.7.down_proj.weight",
                                  out, sizeof out, &e),
                GN_EXPS_DOWN);
  ASSERT_EQ_STR(out, "blk.3.ffn_down_exps.weight");
  ASSERT_EQ_INT(e, 7);
  ASSERT_EQ_INT(gguf_name_from_hf(ARCH_GEMMA3, "model.layers.0.post_feedforward_layernorm.weight",
                                  out, sizeof out, &e),
                GN_PLAIN);
  ASSERT_EQ_STR(out, "blk.0.post_ffw_norm.weight");
}

char *convert_tmp(const char *fam, enum dtype t, const char *tag, bool keys_only) {
  char *dir = fixture_dir(fam);
  char *tmp = test_tmpdir();
  char *out = malloc(1024);
  snprintf(out, 1024, "%s/%s-%s.gguf", tmp, fam, tag);
  convert_opts o = {.type = t, .config_name = NULL, .llama_cpp_keys_only = keys_only};
  char err[GLOAM_ERR_LEN];
  int rc = gguf_convert(dir, out, &o, err);
  if (rc < 0) test_fail(__FILE__, __LINE__, "convert %s: %s", fam, err);
  free(tmp);
  free(dir);
  return out;
}

/* Compares every HF tensor of ref with the GGUF model g converted to type t. */
static void compare_gguf(const model_files *ref, const model_files *g, enum dtype t) {
  const model_config *c = model_files_config(ref);
  for (int i = 0; i < model_files_n_tensors(ref); i++) {
    const tensor *a = model_files_tensor_at(ref, i);
    if (c->tie_embeddings && strcmp(a->name, "lm_head.weight") == 0) continue;
    const tensor *b = model_files_tensor(g, a->name);
    if (!b) test_fail(__FILE__, __LINE__, "gguf lacks %s", a->name);
    ASSERT_EQ_INT(b->n_dims, a->n_dims);
    for (int d = 0; d < a->n_dims; d++) ASSERT_EQ_INT(b->shape[d], a->shape[d]);
    int64_t cols = a->shape[a->n_dims - 1], rows = a->n_dims == 2 ? a->shape[0] : 1;
    bool gnorm = c->arch == ARCH_GEMMA3 && strstr(a->name, "norm.weight");
    bool router = strstr(a->name, "mlp.gate.weight") != NULL;
    enum dtype want = a->n_dims == 1 || (router && t != DT_F16 && t != DT_F32) ? DT_F32 : t;
    ASSERT_EQ_INT(b->type, want);
    if (want == DT_Q8_0 || want == DT_Q4_0) {
      check_quantized(a, b, want == DT_Q8_0 ? 1.0 / 254 + 1.0 / 1024 : 1.0 / 8 + 1.0 / 1024);
      continue;
    }
    float *x = malloc((size_t)cols * sizeof *x), *y = malloc((size_t)cols * sizeof *y);
    for (int64_t r = 0; r < rows; r++) {
      row_f32(a, r, x);
      row_f32(b, r, y);
      for (int64_t j = 0; j < cols; j++) {
        float ref_v = gnorm ? x[j] + 1.0f : x[j];
        if (want == DT_F32) {
          if (memcmp(&ref_v, &y[j], 4) != 0)
            test_fail(__FILE__, __LINE__, "%s[%lld][%lld]: %a vs %a", a->name, (long long)r,
                      (long long)j, ref_v, y[j]);
        } else { /* f16: half an ulp (2^-11 relative), or 2^-25 in the subnormal range */
          double tol = fmax(fabs(ref_v) * (1.0 / 2048), 1.0 / (1 << 25));
          if (!(fabs((double)ref_v - y[j]) <= tol))
            test_fail(__FILE__, __LINE__, "%s[%lld][%lld]: %g vs %g", a->name, (long long)r,
                      (long long)j, ref_v, y[j]);
        }
      }
    }
    free(x);
    free(y);
  }
}

void test_gguf_roundtrip(void) {
  static const enum dtype types[] = {DT_F32, DT_F16, DT_Q8_0, DT_Q4_0};
  static const char *const tags[] = {"f32", "f16", "q8_0", "q4_0"};
  for (int f = 0; f < N_FAMILIES; f++) {
    char *dir = fixture_dir(k_families[f]);
    model_files *ref = open_ok(dir, NULL);
    for (int k = 0; k < 4; k++) {
      char *path = convert_tmp(k_families[f], types[k], tags[k], false);
      model_files *g = open_ok(path, NULL);
      ASSERT_EQ_STR(model_files_format(g), "gguf");
      model_config want = *model_files_config(ref);
      if (want.arch == ARCH_GEMMA3) want.norm_w_offset = 0; /* norms stored as 1 + w */
      assert_config_eq(model_files_config(g), &want);
      compare_gguf(ref, g, types[k]);
      model_files_close(g);
      remove(path);
      free(path);
    }
    model_files_close(ref);
    free(dir);
  }
}

/* The stored bytes follow llama.cpp's conventions, read with the parser
 * alone: Q rows permuted, dims innermost first, norms f32. */
void test_gguf_layout(void) {
  char *path = convert_tmp("llama", DT_F32, "layout", false);
  char *dir = fixture_dir("llama");
  model_files *ref = open_ok(dir, NULL);
  size_t len;
  uint8_t *b = test_read_file(path, &len);
  ASSERT_NOT_NULL(b);
  gguf_ctx g;
  char err[GLOAM_ERR_LEN];
  ASSERT_EQ_INT(gguf_parse(b, len, &g, err), 0);
  ASSERT_EQ_INT(g.version, 3);
  ASSERT_EQ_INT(g.alignment, 32);
  const gguf_tensor_info *q = NULL;
  for (size_t i = 0; i < g.n_tensors; i++)
    if (g.ti[i].name_len == 19 && memcmp(g.ti[i].name, "blk.0.attn_q.weight", 19) == 0)
      q = &g.ti[i];
  ASSERT_NOT_NULL(q);
  ASSERT_EQ_INT(q->n_dims, 2);
  ASSERT_EQ_INT(q->ne[0], 64); /* in_features */
  ASSERT_EQ_INT(q->ne[1], 64);
  ASSERT_EQ_INT(q->ggml_type, GGML_F32);
  const tensor *hq = model_files_tensor(ref, "model.layers.0.self_attn.q_proj.weight");
  const float *stored = (const float *)(b + g.data_offset + q->offset);
  /* GGUF row 2i + j of head h is HF row h*16 + j*8 + i */
  float hf_row[64];
  for (int h = 0; h < 4; h++)
    for (int i = 0; i < 8; i++)
      for (int j = 0; j < 2; j++) {
        row_f32(hq, h * 16 + j * 8 + i, hf_row);
        ASSERT_EQ_MEM(stored + (size_t)(h * 16 + 2 * i + j) * 64, hf_row, sizeof hf_row);
      }
  const gguf_kv *kv = gguf_find(&g, "llama.attention.head_count_kv");
  int64_t v;
  ASSERT_NOT_NULL(kv);
  ASSERT_EQ_INT(kv->type, GGUF_U32);
  ASSERT_EQ_INT(gguf_kv_int(kv, &v), 0);
  ASSERT_EQ_INT(v, 2);
  double d;
  ASSERT_EQ_INT(gguf_kv_float(gguf_find(&g, "llama.rope.freq_base"), &d), 0);
  ASSERT_TRUE(d == 10000.0);
  ASSERT_TRUE(gguf_find(&g, "output.weight") == NULL); /* keys, not tensors */
  gguf_ctx_deinit(&g);
  /* metadata through the public accessors */
  model_files *mf = open_ok(path, NULL);
  const char *s;
  size_t sl;
  ASSERT_EQ_INT(model_files_meta_str(mf, "general.architecture", &s, &sl), 0);
  ASSERT_TRUE(sl == 5 && memcmp(s, "llama", 5) == 0);
  ASSERT_EQ_INT(model_files_meta_int(mf, "llama.block_count", &v), 0);
  ASSERT_EQ_INT(v, 2);
  ASSERT_EQ_INT(model_files_meta_int(mf, "tokenizer.ggml.eos_token_id", &v), 0);
  ASSERT_EQ_INT(v, 2);
  ASSERT_EQ_INT(model_files_meta_int(mf, "no.such.key", &v), GLOAM_ENOENT);
  ASSERT_EQ_INT(model_files_meta_int(mf, "general.architecture", &v), GLOAM_EFORMAT);
  ASSERT_EQ_INT(model_files_meta_int(ref, "general.architecture", &v), GLOAM_ENOENT);
  model_files_close(mf);
  /* quantize-on-load of an F32 GGUF */
  model_open_opts qo = {.config_name = NULL, .quantize = DT_Q4_0};
  mf = open_ok(path, &qo);
  ASSERT_EQ_INT(model_files_tensor(mf, "model.layers.1.mlp.down_proj.weight")->type, DT_Q4_0);
  ASSERT_EQ_INT(model_files_tensor(mf, "model.embed_tokens.weight")->type, DT_F32);
  ASSERT_EQ_INT(model_files_tensor(mf, "model.norm.weight")->type, DT_F32);
  model_files_close(mf);
  model_files_close(ref);
  free(b);
  remove(path);
  free(path);
  free(dir);
  /* K-quant targets fall back to Q8_0 where rows are not 256-multiples */
  path = convert_tmp("qwen3", DT_Q4_K, "q4k", false);
  mf = open_ok(path, NULL);
  for (int i = 0; i < model_files_n_tensors(mf); i++) {
    const tensor *t = model_files_tensor_at(mf, i);
    ASSERT_EQ_INT(t->type, t->n_dims == 1 ? DT_F32 : DT_Q8_0);
  }
  ASSERT_EQ_INT(model_files_meta_int(mf, "general.file_type", &v), 0);
  ASSERT_EQ_INT(v, 14);
  model_files_close(mf);
  remove(path);
  free(path);
}

/* A GGUF carrying only llama.cpp's keys: Llama 3 rope comes back from the
 * rope_freqs factors alone. */
void test_gguf_llama3_fit(void) {
  char *path = convert_tmp("llama3-rope", DT_F32, "plain", true);
  model_files *mf = open_ok(path, NULL);
  const model_config *c = model_files_config(mf);
  ASSERT_EQ_INT(c->rope.scaling, ROPE_SCALING_LLAMA3);
  ASSERT_TRUE(c->rope.factor == 8.0f);
  ASSERT_TRUE(c->rope.low_freq_factor == 1.0f && c->rope.high_freq_factor == 4.0f);
  ASSERT_EQ_INT(c->rope.original_max_pos, 32);
  ASSERT_TRUE(c->rope.theta == 500000.0f);
  ASSERT_TRUE(model_files_tensor(mf, "rope_freqs.weight") == NULL);
  model_files_close(mf);
  remove(path);
  free(path);
}

/* Llama with attention biases: llama.cpp permutes q/k biases like the
 * weights (element 2i + j of head h is HF element j*hd/2 + i). */
void test_gguf_llama_bias(void) {
  char *src = fixture_dir("llama");
  model_files *ref = open_ok(src, NULL);
  char *dir = test_tmpdir();
  char p[1024];
  snprintf(p, sizeof p, "%s/config.json", src);
  json_error_t je;
  json_t *cfg = json_load_file(p, 0, &je);
  ASSERT_NOT_NULL(cfg);
  json_object_set_new(cfg, "attention_bias", json_true());
  snprintf(p, sizeof p, "%s/config.json", dir);
  ASSERT_EQ_INT(json_dump_file(cfg, p, 0), 0);
  json_decref(cfg);
  int n = model_files_n_tensors(ref);
  const tensor *all[64];
  ASSERT_TRUE(n + 8 <= 64);
  for (int i = 0; i < n; i++) all[i] = model_files_tensor_at(ref, i);
  static float bias[2][4][64];
  static char bnames[2][4][96];
  static const char *const proj[4] = {"q", "k", "v", "o"};
  static const int len[4] = {64, 32, 32, 64};
  tensor bt[8];
  for (int l = 0; l < 2; l++)
    for (int k = 0; k < 4; k++) {
      for (int i = 0; i < len[k]; i++) bias[l][k][i] = (float)(1000 * l + 100 * k + i);
      snprintf(bnames[l][k], sizeof bnames[l][k], "model.layers.%d.self_attn.%s_proj.bias", l,
               proj[k]);
      tensor *t = &bt[l * 4 + k];
      memset(t, 0, sizeof *t);
      t->name = bnames[l][k];
      t->type = DT_F32;
      t->n_dims = 1;
      t->shape[0] = len[k];
      t->data = bias[l][k];
      t->n_bytes = (size_t)len[k] * 4;
      all[n + l * 4 + k] = t;
    }
  snprintf(p, sizeof p, "%s/model.safetensors", dir);
  st_write(p, all, n + 8);
  char out[1024];
  snprintf(out, sizeof out, "%s/bias.gguf", dir);
  convert_opts o = {.type = DT_F32};
  char err[GLOAM_ERR_LEN];
  int rc = gguf_convert(dir, out, &o, err);
  if (rc < 0) test_fail(__FILE__, __LINE__, "convert: %s", err);
  size_t flen;
  uint8_t *b = test_read_file(out, &flen);
  gguf_ctx g;
  ASSERT_EQ_INT(gguf_parse(b, flen, &g, err), 0);
  const float *rq = NULL, *rv = NULL;
  for (size_t i = 0; i < g.n_tensors; i++) {
    if (g.ti[i].name_len == 17 && memcmp(g.ti[i].name, "blk.1.attn_q.bias", 17) == 0)
      rq = (const float *)(b + g.data_offset + g.ti[i].offset);
    if (g.ti[i].name_len == 17 && memcmp(g.ti[i].name, "blk.1.attn_v.bias", 17) == 0)
      rv = (const float *)(b + g.data_offset + g.ti[i].offset);
  }
  ASSERT_TRUE(rq && rv);
  for (int h = 0; h < 4; h++)
    for (int i = 0; i < 8; i++)
      for (int j = 0; j < 2; j++)
        ASSERT_TRUE(rq[h * 16 + 2 * i + j] == bias[1][0][h * 16 + j * 8 + i]);
  ASSERT_EQ_MEM(rv, bias[1][2], 32 * 4);
  gguf_ctx_deinit(&g);
  free(b);
  model_files *mf = open_ok(out, NULL);
  ASSERT_TRUE(model_files_config(mf)->attn_bias);
  for (int l = 0; l < 2; l++)
    for (int k = 0; k < 4; k++) {
      const tensor *t = model_files_tensor(mf, bnames[l][k]);
      if (!t) test_fail(__FILE__, __LINE__, "missing %s", bnames[l][k]);
      ASSERT_EQ_INT(t->type, DT_F32);
      ASSERT_EQ_MEM(t->data, bias[l][k], (size_t)len[k] * 4);
    }
  model_files_close(mf);
  model_files_close(ref);
  free(dir);
  free(src);
}

/* Writer metadata of every type through the parser. */
void test_gguf_kv_types(void) {
  gguf_writer *w = gguf_writer_new();
  ASSERT_NOT_NULL(w);
  gguf_w_u32(w, "a.u32", 4000000000u);
  gguf_w_i32(w, "a.i32", -7);
  gguf_w_f32(w, "a.f32", 0.5f);
  gguf_w_bool(w, "a.bool", true);
  gguf_w_str(w, "a.str", "h\xc3\xa9llo");
  int32_t ia[3] = {1, -2, 3};
  gguf_w_arr(w, "a.iarr", GGUF_I32, ia, 3);
  float fa[2] = {1.5f, -2.25f};
  gguf_w_arr(w, "a.farr", GGUF_F32, fa, 2);
  const char *sa[3] = {"x", "", "zz"};
  gguf_w_arr_str(w, "a.sarr", sa, NULL, 3);
  float data[64];
  for (int i = 0; i < 64; i++) data[i] = (float)i;
  int64_t ne[2] = {32, 2};
  ASSERT_EQ_INT(gguf_w_tensor(w, "t", DT_F32, 2, ne, data, sizeof data, false), 0);
  int64_t bad_ne[1] = {33};
  ASSERT_EQ_INT(gguf_w_tensor(w, "q", DT_Q8_0, 1, bad_ne, data, 34, false), GLOAM_EINVAL);
  char *tmp = test_tmpdir();
  char p[1024];
  snprintf(p, sizeof p, "%s/kv.gguf", tmp);
  char err[GLOAM_ERR_LEN];
  ASSERT_EQ_INT(gguf_writer_write(w, p, err), GLOAM_EINVAL); /* sticky error */
  gguf_writer_free(w);
  w = gguf_writer_new();
  gguf_w_u32(w, "a.u32", 4000000000u);
  gguf_w_i32(w, "a.i32", -7);
  gguf_w_f32(w, "a.f32", 0.5f);
  gguf_w_bool(w, "a.bool", true);
  gguf_w_str(w, "a.str", "h\xc3\xa9llo");
  gguf_w_arr(w, "a.iarr", GGUF_I32, ia, 3);
  gguf_w_arr(w, "a.farr", GGUF_F32, fa, 2);
  gguf_w_arr_str(w, "a.sarr", sa, NULL, 3);
  gguf_w_tensor(w, "t", DT_F32, 2, ne, data, sizeof data, false);
  ASSERT_EQ_INT(gguf_writer_write(w, p, err), 0);
  gguf_writer_free(w);
  size_t len;
  uint8_t *b = test_read_file(p, &len);
  gguf_ctx g;
  ASSERT_EQ_INT(gguf_parse(b, len, &g, err), 0);
  ASSERT_EQ_UINT(g.n_kv, 8);
  ASSERT_EQ_UINT(g.n_tensors, 1);
  int64_t v;
  double d;
  const char *s;
  size_t sl;
  ASSERT_EQ_INT(gguf_kv_int(gguf_find(&g, "a.u32"), &v), 0);
  ASSERT_EQ_INT(v, 4000000000LL);
  ASSERT_EQ_INT(gguf_kv_int(gguf_find(&g, "a.i32"), &v), 0);
  ASSERT_EQ_INT(v, -7);
  ASSERT_EQ_INT(gguf_kv_float(gguf_find(&g, "a.f32"), &d), 0);
  ASSERT_TRUE(d == 0.5);
  ASSERT_EQ_INT(gguf_kv_int(gguf_find(&g, "a.bool"), &v), 0);
  ASSERT_EQ_INT(v, 1);
  ASSERT_EQ_INT(gguf_kv_str(gguf_find(&g, "a.str"), &s, &sl), 0);
  ASSERT_TRUE(sl == 6 && memcmp(s, "h\xc3\xa9llo", 6) == 0);
  ASSERT_EQ_INT(gguf_kv_str(gguf_find(&g, "a.u32"), &s, &sl), GLOAM_EFORMAT);
  const gguf_kv *ia_kv = gguf_find(&g, "a.iarr");
  ASSERT_EQ_UINT(ia_kv->n, 3);
  ASSERT_EQ_INT(gguf_arr_int(ia_kv, 1, &v), 0);
  ASSERT_EQ_INT(v, -2);
  ASSERT_EQ_INT(gguf_arr_int(ia_kv, 3, &v), GLOAM_ERANGE);
  ASSERT_EQ_INT(gguf_arr_float(gguf_find(&g, "a.farr"), 1, &d), 0);
  ASSERT_TRUE(d == -2.25);
  const gguf_kv *sk = gguf_find(&g, "a.sarr");
  ASSERT_EQ_INT(gguf_arr_str(sk, 1, &s, &sl), 0);
  ASSERT_EQ_UINT(sl, 0);
  ASSERT_EQ_INT(gguf_arr_str(sk, 2, &s, &sl), 0);
  ASSERT_TRUE(sl == 2 && memcmp(s, "zz", 2) == 0);
  ASSERT_EQ_INT(gguf_arr_int(sk, 0, &v), GLOAM_EFORMAT);
  ASSERT_EQ_MEM(b + g.data_offset + g.ti[0].offset, data, sizeof data);
  ASSERT_EQ_INT(g.data_offset % 32, 0);
  gguf_ctx_deinit(&g);
  free(b);

  /* K-quant containers: [2, 256] in Q4_K and Q6_K */
  float x[512];
  for (int i = 0; i < 512; i++) x[i] = sinf((float)i * 0.37f);
  static uint8_t q4[2 * 144], q6[2 * 210];
  kern_quantize_row(DT_Q4_K, x, q4, 256);
  kern_quantize_row(DT_Q4_K, x + 256, q4 + 144, 256);
  kern_quantize_row(DT_Q6_K, x, q6, 256);
  kern_quantize_row(DT_Q6_K, x + 256, q6 + 210, 256);
  w = gguf_writer_new();
  int64_t kne[2] = {256, 2};
  gguf_w_tensor(w, "k4", DT_Q4_K, 2, kne, q4, sizeof q4, false);
  gguf_w_tensor(w, "k6", DT_Q6_K, 2, kne, q6, sizeof q6, false);
  ASSERT_EQ_INT(gguf_writer_write(w, p, err), 0);
  gguf_writer_free(w);
  b = test_read_file(p, &len);
  ASSERT_EQ_INT(gguf_parse(b, len, &g, err), 0);
  ASSERT_EQ_INT(g.ti[0].ggml_type, GGML_Q4_K);
  ASSERT_EQ_INT(g.ti[0].type, DT_Q4_K);
  ASSERT_EQ_UINT(g.ti[0].n_bytes, sizeof q4);
  ASSERT_EQ_INT(g.ti[1].ggml_type, GGML_Q6_K);
  ASSERT_EQ_UINT(g.ti[1].n_bytes, sizeof q6);
  ASSERT_EQ_MEM(b + g.data_offset + g.ti[0].offset, q4, sizeof q4);
  ASSERT_EQ_MEM(b + g.data_offset + g.ti[1].offset, q6, sizeof q6);
  ASSERT_EQ_INT(g.ti[1].offset % 32, 0);
  gguf_ctx_deinit(&g);
  free(b);
  free(tmp);
}

/* ---- hostile GGUF --------------------------------------------------------- */

/* A GGUF byte builder independent of gguf_write.c. */
typedef struct gb {
  uint8_t b[4096];
  size_t n;
} gb;

static void gb_le(gb *g, uint64_t v, int n) {
  ASSERT_TRUE(g->n + (size_t)n <= sizeof g->b);
  for (int i = 0; i < n; i++) g->b[g->n++] = (uint8_t)(v >> (8 * i));
}
static void gb_str(gb *g, const char *s) {
  size_t n = strlen(s);
  gb_le(g, n, 8);
  ASSERT_TRUE(g->n + n <= sizeof g->b);
  memcpy(g->b + g->n, s, n);
  g->n += n;
}
static void gb_head(gb *g, uint32_t version, uint64_t n_t, uint64_t n_kv) {
  g->n = 0;
  memcpy(g->b, "GGUF", 4);
  g->n = 4;
  gb_le(g, version, 4);
  gb_le(g, n_t, 8);
  gb_le(g, n_kv, 8);
}
static void gb_tensor(gb *g, const char *name, int nd, const uint64_t *ne, uint32_t type,
                      uint64_t off) {
  gb_str(g, name);
  gb_le(g, (uint64_t)nd, 4);
  for (int i = 0; i < nd; i++) gb_le(g, ne[i], 8);
  gb_le(g, type, 4);
  gb_le(g, off, 8);
}
static void gb_pad(gb *g, size_t data) {
  while (g->n % 32) g->b[g->n++] = 0;
  ASSERT_TRUE(g->n + data <= sizeof g->b);
  memset(g->b + g->n, 0, data);
  g->n += data;
}

static int gparse(const gb *g, char *err) {
  gguf_ctx c;
  err[0] = 0;
  int rc = gguf_parse(g->b, g->n, &c, err);
  if (rc < 0) {
    ASSERT_TRUE(err[0] != 0);
    ASSERT_EQ_UINT(c.n_kv + c.n_tensors, 0);
  }
  gguf_ctx_deinit(&c);
  return rc;
}

/* A small valid file: two keys (one string array), two f32 tensors. */
static void gb_valid(gb *g) {
  gb_head(g, 3, 2, 2);
  gb_str(g, "general.architecture");
  gb_le(g, GGUF_STRING, 4);
  gb_str(g, "llama");
  gb_str(g, "tokenizer.ggml.tokens");
  gb_le(g, GGUF_ARRAY, 4);
  gb_le(g, GGUF_STRING, 4);
  gb_le(g, 2, 8);
  gb_str(g, "a");
  gb_str(g, "bc");
  uint64_t ne[2] = {4, 2};
  gb_tensor(g, "x", 2, ne, GGML_F32, 0);
  gb_tensor(g, "y", 1, ne, GGML_F32, 32);
  gb_pad(g, 48);
}

void test_gguf_hostile(void) {
  gb g;
  char err[GLOAM_ERR_LEN];
  gb_valid(&g);
  ASSERT_EQ_INT(gparse(&g, err), 0);
  /* every truncation fails cleanly */
  size_t full = g.n;
  for (size_t n = 0; n < full; n++) {
    g.n = n;
    int rc = gparse(&g, err);
    if (rc != GLOAM_EFORMAT) test_fail(__FILE__, __LINE__, "cut at %zu: rc %d", n, rc);
  }
  g.n = full;
  g.b[0] = 'X';
  ASSERT_EQ_INT(gparse(&g, err), GLOAM_EFORMAT);
  ASSERT_TRUE(strstr(err, "magic") != NULL);
  gb_head(&g, 1, 0, 0);
  ASSERT_EQ_INT(gparse(&g, err), GLOAM_EUNSUPPORTED);
  gb_head(&g, 4, 0, 0);
  ASSERT_EQ_INT(gparse(&g, err), GLOAM_EUNSUPPORTED);
  gb_head(&g, 3, 0, 0);
  ASSERT_EQ_INT(gparse(&g, err), 0); /* empty but valid */
  gb_head(&g, 3, 0, UINT64_MAX);     /* huge counts */
  ASSERT_EQ_INT(gparse(&g, err), GLOAM_EFORMAT);
  gb_head(&g, 3, (uint64_t)1 << 40, 0);
  ASSERT_EQ_INT(gparse(&g, err), GLOAM_EFORMAT);
  gb_head(&g, 3, 0, 1); /* key longer than the file */
  gb_le(&g, (uint64_t)1 << 62, 8);
  gb_le(&g, 0, 8);
  ASSERT_EQ_INT(gparse(&g, err), GLOAM_EFORMAT);
  gb_head(&g, 3, 0, 1); /* string value length lies */
  gb_str(&g, "k");
  gb_le(&g, GGUF_STRING, 4);
  gb_le(&g, UINT64_MAX, 8);
  ASSERT_EQ_INT(gparse(&g, err), GLOAM_EFORMAT);
  gb_head(&g, 3, 0, 1); /* array count overflows size */
  gb_str(&g, "k");
  gb_le(&g, GGUF_ARRAY, 4);
  gb_le(&g, GGUF_U64, 4);
  gb_le(&g, (uint64_t)1 << 61, 8);
  gb_le(&g, 0, 8);
  ASSERT_EQ_INT(gparse(&g, err), GLOAM_EFORMAT);
  gb_head(&g, 3, 0, 1); /* string array count past the end */
  gb_str(&g, "k");
  gb_le(&g, GGUF_ARRAY, 4);
  gb_le(&g, GGUF_STRING, 4);
  gb_le(&g, (uint64_t)1 << 40, 8);
  gb_le(&g, 0, 8);
  ASSERT_EQ_INT(gparse(&g, err), GLOAM_EFORMAT);
  gb_head(&g, 3, 0, 1); /* nested array */
  gb_str(&g, "k");
  gb_le(&g, GGUF_ARRAY, 4);
  gb_le(&g, GGUF_ARRAY, 4);
  gb_le(&g, 1, 8);
  gb_le(&g, 0, 8);
  ASSERT_EQ_INT(gparse(&g, err), GLOAM_EFORMAT);
  gb_head(&g, 3, 0, 1); /* bad value type */
  gb_str(&g, "k");
  gb_le(&g, 13, 4);
  gb_le(&g, 0, 8);
  ASSERT_EQ_INT(gparse(&g, err), GLOAM_EFORMAT);
  gb_head(&g, 3, 0, 2); /* duplicate keys */
  for (int i = 0; i < 2; i++) {
    gb_str(&g, "k");
    gb_le(&g, GGUF_U8, 4);
    gb_le(&g, 1, 1);
  }
  ASSERT_EQ_INT(gparse(&g, err), GLOAM_EFORMAT);
  gb_head(&g, 3, 0, 1); /* empty key */
  gb_str(&g, "");
  gb_le(&g, GGUF_U8, 4);
  gb_le(&g, 1, 8);
  ASSERT_EQ_INT(gparse(&g, err), GLOAM_EFORMAT);
  static const uint32_t aligns[] = {0, 3, 48, 1u << 20};
  for (int i = 0; i < 4; i++) { /* alignment not a sane power of two */
    gb_head(&g, 3, 0, 1);
    gb_str(&g, "general.alignment");
    gb_le(&g, GGUF_U32, 4);
    gb_le(&g, aligns[i], 4);
    gb_le(&g, 0, 8);
    ASSERT_EQ_INT(gparse(&g, err), GLOAM_EFORMAT);
  }
  /* tensor infos */
  static const struct {
    int nd;
    uint64_t ne[4];
    uint32_t type;
    uint64_t off;
    int rc;
  } tc[] = {
      {1, {8}, GGML_F32, 0, 0},
      {0, {8}, GGML_F32, 0, GLOAM_EFORMAT},
      {5, {1, 1, 1, 1}, GGML_F32, 0, GLOAM_EFORMAT},
      {1, {0}, GGML_F32, 0, GLOAM_EFORMAT},
      {4, {1u << 30, 1u << 30, 1u << 30, 1u << 30}, GGML_F32, 0, GLOAM_EFORMAT},
      {2, {(uint64_t)1 << 39, (uint64_t)1 << 39}, GGML_F32, 0, GLOAM_EFORMAT},
      {1, {8}, 99, 0, GLOAM_EFORMAT},
      {1, {256}, 13, 0, GLOAM_EUNSUPPORTED}, /* q5_K */
      {1, {33}, GGML_Q8_0, 0, GLOAM_EFORMAT},
      {1, {8}, GGML_F32, 4, GLOAM_EFORMAT},  /* misaligned */
      {1, {8}, GGML_F32, 64, GLOAM_EFORMAT}, /* past the end */
      {1, {8}, GGML_F32, UINT64_MAX - 31, GLOAM_EFORMAT},
      {1, {16}, GGML_F32, 0, GLOAM_EFORMAT}, /* longer than the data */
  };
  for (size_t i = 0; i < sizeof tc / sizeof tc[0]; i++) {
    gb_head(&g, 3, 1, 0);
    gb_tensor(&g, "t", tc[i].nd, tc[i].ne, tc[i].type, tc[i].off);
    gb_pad(&g, 32);
    int rc = gparse(&g, err);
    if (rc != tc[i].rc) test_fail(__FILE__, __LINE__, "tensor case %zu: rc %d (%s)", i, rc, err);
  }
  uint64_t ne8[1] = {8}, ne16[1] = {16};
  gb_head(&g, 3, 2, 0); /* overlapping tensors */
  gb_tensor(&g, "a", 1, ne16, GGML_F32, 0);
  gb_tensor(&g, "b", 1, ne8, GGML_F32, 32);
  gb_pad(&g, 64);
  ASSERT_EQ_INT(gparse(&g, err), GLOAM_EFORMAT);
  ASSERT_TRUE(strstr(err, "overlap") != NULL);
  gb_head(&g, 3, 2, 0); /* duplicate tensor names */
  gb_tensor(&g, "a", 1, ne8, GGML_F32, 0);
  gb_tensor(&g, "a", 1, ne8, GGML_F32, 32);
  gb_pad(&g, 64);
  ASSERT_EQ_INT(gparse(&g, err), GLOAM_EFORMAT);
  gb_head(&g, 3, 1, 0); /* tensor name too long */
  char longname[700];
  memset(longname, 'a', sizeof longname - 1);
  longname[sizeof longname - 1] = 0;
  gb_tensor(&g, longname, 1, ne8, GGML_F32, 0);
  gb_pad(&g, 32);
  ASSERT_EQ_INT(gparse(&g, err), GLOAM_EFORMAT);

  /* model level: a valid container that is not a model we know */
  char *tmp = test_tmpdir();
  char p[1024];
  snprintf(p, sizeof p, "%s/x.gguf", tmp);
  gb_valid(&g);
  g.b[4 + 4 + 8 + 8 + 8 + 20 + 4 + 8] = 'X'; /* "llama" -> "Xlama" */
  write_file(p, g.b, g.n);
  ASSERT_EQ_INT(open_err(p, err), GLOAM_EUNSUPPORTED);
  gb_valid(&g);
  write_file(p, g.b, g.n);
  ASSERT_EQ_INT(open_err(p, err), GLOAM_EFORMAT); /* llama without its metadata */
  write_file(p, "GGU", 3);
  ASSERT_EQ_INT(open_err(p, err), GLOAM_EFORMAT);
  /* a real conversion with a tensor's bytes cut off */
  char *conv = convert_tmp("qwen3", DT_Q8_0, "cut", false);
  size_t len;
  uint8_t *b = test_read_file(conv, &len);
  size_t cuts[] = {len - 1, len / 2, len / 4, 100};
  for (int i = 0; i < 4; i++) {
    write_file(p, b, cuts[i]);
    ASSERT_EQ_INT(open_err(p, err), GLOAM_EFORMAT);
  }
  free(b);
  remove(conv);
  free(conv);
  free(tmp);
}

/* The corpus models of fuzz/gguf, written by fuzz/gguf/make_corpus.py with
 * plain struct packing (not our writer). */
static char *corpus_path(const char *name) {
  const char *src = getenv("GLOAM_SOURCE_DIR");
  if (!src) TEST_SKIP("GLOAM_SOURCE_DIR not set");
  char *p = malloc(1024);
  snprintf(p, 1024, "%s/fuzz/gguf/corpus/%s", src, name);
  return p;
}

static const uint8_t *raw_tensor(const gguf_ctx *g, const char *name) {
  for (size_t i = 0; i < g->n_tensors; i++)
    if (g->ti[i].name_len == strlen(name) && memcmp(g->ti[i].name, name, strlen(name)) == 0)
      return g->buf + g->data_offset + g->ti[i].offset;
  return NULL;
}

void test_gguf_foreign_files(void) {
  char err[GLOAM_ERR_LEN];
  char *p = corpus_path("llama_tiny.gguf");
  model_files *mf = open_ok(p, NULL);
  const model_config *c = model_files_config(mf);
  ASSERT_EQ_INT(c->arch, ARCH_LLAMA);
  ASSERT_EQ_INT(c->n_layers, 1);
  ASSERT_EQ_INT(c->hidden, 32);
  ASSERT_EQ_INT(c->n_kv_heads, 1);
  ASSERT_EQ_INT(c->vocab, 4);
  ASSERT_FALSE(c->tie_embeddings);
  ASSERT_EQ_INT(c->n_eos, 1);
  const tensor *q = model_files_tensor(mf, "model.layers.0.self_attn.q_proj.weight");
  ASSERT_NOT_NULL(q);
  ASSERT_EQ_INT(q->type, DT_Q8_0);
  ASSERT_EQ_INT(q->shape[0], 32);
  size_t len;
  uint8_t *b = test_read_file(p, &len);
  gguf_ctx g;
  ASSERT_EQ_INT(gguf_parse(b, len, &g, err), 0);
  const uint8_t *rq = raw_tensor(&g, "blk.0.attn_q.weight");
  for (int h = 0; h < 2; h++) /* HF row h*16 + j*8 + i is GGUF row h*16 + 2i + j */
    for (int i = 0; i < 8; i++)
      for (int j = 0; j < 2; j++)
        ASSERT_EQ_MEM((const uint8_t *)q->data + (size_t)(h * 16 + j * 8 + i) * 34,
                      rq + (size_t)(h * 16 + 2 * i + j) * 34, 34);
  const tensor *v = model_files_tensor(mf, "model.layers.0.self_attn.v_proj.weight");
  ASSERT_EQ_MEM(v->data, raw_tensor(&g, "blk.0.attn_v.weight"), v->n_bytes);
  gguf_ctx_deinit(&g);
  free(b);
  model_files_close(mf);
  free(p);

  p = corpus_path("qwen3moe_tiny.gguf");
  mf = open_ok(p, NULL);
  c = model_files_config(mf);
  ASSERT_EQ_INT(c->arch, ARCH_QWEN3_MOE);
  ASSERT_EQ_INT(c->n_experts, 2);
  ASSERT_TRUE(c->norm_topk_prob && c->layer_moe[0]);
  b = test_read_file(p, &len);
  ASSERT_EQ_INT(gguf_parse(b, len, &g, err), 0);
  const tensor *e1 = model_files_tensor(mf, "model.layers.0.mlp.experts.1.down_proj.weight");
  ASSERT_NOT_NULL(e1);
  ASSERT_EQ_INT(e1->shape[0], 32);
  ASSERT_EQ_INT(e1->shape[1], 32);
  ASSERT_EQ_MEM(e1->data, raw_tensor(&g, "blk.0.ffn_down_exps.weight") + 32 * 34, 32 * 34);
  ASSERT_NOT_NULL(model_files_tensor(mf, "model.layers.0.mlp.gate.weight"));
  gguf_ctx_deinit(&g);
  free(b);
  model_files_close(mf);
  free(p);

  p = corpus_path("gemma3_tiny.gguf");
  mf = open_ok(p, NULL);
  c = model_files_config(mf);
  ASSERT_EQ_INT(c->arch, ARCH_GEMMA3);
  ASSERT_TRUE(c->layer_sliding[0] && !c->layer_sliding[1]);
  ASSERT_EQ_INT(c->sliding_window, 4);
  ASSERT_TRUE(c->norm_w_offset == 0.0f && c->embed_scale == sqrtf(32.0f));
  ASSERT_TRUE(c->rope_local.theta == 10000.0f);
  ASSERT_TRUE(c->query_pre_attn_scalar == 16.0f);
  ASSERT_NOT_NULL(model_files_tensor(mf, "model.layers.1.pre_feedforward_layernorm.weight"));
  ASSERT_NOT_NULL(model_files_tensor(mf, "model.layers.1.post_attention_layernorm.weight"));
  uint64_t n;
  ASSERT_EQ_INT(model_files_meta_arr_len(mf, "tokenizer.ggml.tokens", &n), 0);
  ASSERT_EQ_UINT(n, 4);
  const char *s;
  size_t sl;
  ASSERT_EQ_INT(model_files_meta_arr_str(mf, "tokenizer.ggml.tokens", 3, &s, &sl), 0);
  ASSERT_TRUE(sl == 1 && s[0] == 'd');
  model_files_close(mf);
  free(p);
}

/* Hostile metadata in an otherwise valid model: patch one value of the
 * tiny llama corpus file and expect a clean error. */
static void patch_u32(uint8_t *b, size_t len, const char *key, uint32_t v) {
  gguf_ctx g;
  char err[GLOAM_ERR_LEN];
  ASSERT_EQ_INT(gguf_parse(b, len, &g, err), 0);
  const gguf_kv *kv = gguf_find(&g, key);
  ASSERT_NOT_NULL(kv);
  ASSERT_EQ_INT(kv->type, GGUF_U32);
  uint8_t *p = b + (kv->val - b);
  for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
  gguf_ctx_deinit(&g);
}

void test_gguf_hostile_metadata(void) {
  char *p = corpus_path("llama_tiny.gguf");
  size_t len;
  uint8_t *orig = test_read_file(p, &len);
  ASSERT_NOT_NULL(orig);
  uint8_t *b = malloc(len);
  static const struct {
    const char *key;
    uint32_t v;
    int rc;
  } cases[] = {
      {"llama.block_count", 0, GLOAM_EFORMAT},
      {"llama.block_count", 1000000, GLOAM_EFORMAT},
      {"llama.block_count", 2, GLOAM_EFORMAT}, /* layer 1's tensors missing */
      {"llama.embedding_length", 64, GLOAM_EFORMAT},
      {"llama.attention.head_count", 0, GLOAM_EFORMAT},
      {"llama.attention.head_count", 3, GLOAM_EFORMAT},
      {"llama.attention.head_count_kv", 4, GLOAM_EFORMAT},
      {"llama.attention.key_length", 0, GLOAM_EFORMAT},
      {"llama.attention.key_length", 8, GLOAM_EFORMAT}, /* q rows != heads * 8 */
      {"llama.feed_forward_length", 4000000000u, GLOAM_EFORMAT},
      {"llama.feed_forward_length", 64, GLOAM_EFORMAT},
      {"llama.context_length", 0, GLOAM_EFORMAT},
      {"tokenizer.ggml.eos_token_id", 4000000000u, 0}, /* ignored, not trusted */
      {"llama.context_length", 4096, 0},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    memcpy(b, orig, len);
    patch_u32(b, len, cases[i].key, cases[i].v);
    model_files *mf = NULL;
    char err[GLOAM_ERR_LEN] = "";
    int rc = model_files_open_gguf_buffer(&mf, b, len, err);
    if (rc != cases[i].rc)
      test_fail(__FILE__, __LINE__, "case %zu (%s=%u): rc %d (%s)", i, cases[i].key, cases[i].v, rc,
                err);
    if (rc == 0) {
      ASSERT_TRUE(model_files_config(mf)->n_eos == 0 || model_files_config(mf)->eos_ids[0] < 4);
      model_files_close(mf);
    } else {
      ASSERT_TRUE(err[0] != 0);
      ASSERT_TRUE(mf == NULL);
    }
  }
  free(b);
  free(orig);
  free(p);
}

/* ---- tokenizer metadata ---------------------------------------------------- */

static void gunzip_to(const char *from, const char *to) {
  gzFile z = gzopen(from, "rb");
  ASSERT_NOT_NULL(z);
  FILE *f = fopen(to, "wb");
  ASSERT_NOT_NULL(f);
  static char chunk[1 << 16];
  int n;
  while ((n = gzread(z, chunk, sizeof chunk)) > 0) fwrite(chunk, 1, (size_t)n, f);
  ASSERT_EQ_INT(n, 0);
  gzclose(z);
  fclose(f);
}

/* Converts the qwen3 model with each fixture tokenizer and checks the
 * tokenizer built from the GGUF metadata (the tokenizer module's reader)
 * against the ids Hugging Face produced (expected.json). */
void test_gguf_tokenizer(void) {
  if (!getenv("GLOAM_SLOW")) TEST_SKIP("slow (ctest -L slow, or GLOAM_SLOW=1)");
  static const char *const toks[] = {"qwen3", "llama3", "gemma3"};
  char *model = fixture_dir("qwen3");
  char *tmp = test_tmpdir();
  for (int k = 0; k < 3; k++) {
    char rel[128], a[1024], b[1024];
    snprintf(rel, sizeof rel, "tokenizers/%s", toks[k]);
    char *src = test_fixture_path(rel);
    snprintf(a, sizeof a, "%s/tokenizer.json.gz", src);
    snprintf(b, sizeof b, "%s/tokenizer.json", tmp);
    gunzip_to(a, b);
    snprintf(a, sizeof a, "%s/tokenizer_config.json", src);
    snprintf(b, sizeof b, "%s/tokenizer_config.json", tmp);
    copy_file(a, b);
    char out[1024];
    snprintf(out, sizeof out, "%s/tok-%s.gguf", tmp, toks[k]);
    convert_opts o = {.type = DT_Q8_0, .tokenizer_dir = tmp};
    char err[GLOAM_ERR_LEN];
    int rc = gguf_convert(model, out, &o, err);
    if (rc < 0) test_fail(__FILE__, __LINE__, "%s: %s", toks[k], err);
    model_files *mf = open_ok(out, NULL);
    gloam_tokenizer *tok = NULL;
    rc = tokenizer_from_model_files(&tok, mf, err);
    if (rc < 0) test_fail(__FILE__, __LINE__, "%s: tokenizer: %s", toks[k], err);
    snprintf(a, sizeof a, "%s/expected.json", src);
    json_error_t je;
    json_t *exp = json_load_file(a, 0, &je);
    ASSERT_NOT_NULL(exp);
    const json_t *enc = json_object_get(exp, "encode");
    ASSERT_CMP_INT(json_array_size(enc), >, 5);
    for (size_t i = 0; i < json_array_size(enc); i++) {
      const json_t *c = json_array_get(enc, i);
      const char *text = json_string_value(json_object_get(c, "text"));
      const json_t *ids = json_object_get(c, "ids");
      int32_t *got = NULL;
      size_t n = 0;
      ASSERT_EQ_INT(gloam_tokenizer_encode(tok, text, strlen(text), 0, &got, &n), 0);
      bool same = n == json_array_size(ids);
      for (size_t j = 0; same && j < n; j++)
        same = got[j] == json_integer_value(json_array_get(ids, j));
      if (!same)
        test_fail(__FILE__, __LINE__, "%s: case %zu (%.40s): %zu ids, want %zu", toks[k], i, text,
                  n, json_array_size(ids));
      gloam_tokenizer_buf_free(got);
    }
    json_decref(exp);
    gloam_tokenizer_free(tok);
    model_files_close(mf);
    remove(out);
    free(src);
  }
  free(tmp);
  free(model);
}
