/* SPDX-License-Identifier: Apache-2.0
 *
 * tests/formats/test_formats.c: model loading -- config.json in both
 * styles, safetensors (fixtures, sharded indexes, hostile headers and
 * directories, fused experts, multimodal prefixes), quantize-on-load and
 * allocation-failure sweeps -- and main() of the `formats` binary, whose
 * GGUF half is test_gguf.c.
 *
 * References: the fixture config files themselves (values transcribed here
 * by hand), raw bf16 words read from the fixture files with Python's struct
 * module, and per-block quantization error bounds derived from the formats.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <jansson.h>

#include "core/alloc.h"
#include "core/err.h"
#include "engine/config.h"
#include "engine/convert.h"
#include "engine/gguf.h"
#include "engine/model_files.h"
#include "engine/safetensors.h"
#include "kernels/kernels.h"
#include "formats_test.h"
#include "test.h"

const char *const k_families[N_FAMILIES] = {"llama", "llama3-rope", "qwen2",
                                            "qwen3", "qwen3-moe",   "gemma3"};

char *fixture_dir(const char *fam) {
  char rel[128];
  snprintf(rel, sizeof rel, "models/%s", fam);
  char *p = test_fixture_path(rel);
  struct stat st;
  if (!p || stat(p, &st) != 0) {
    free(p);
    TEST_SKIP("fixtures missing");
  }
  return p;
}

void write_file(const char *path, const void *p, size_t n) {
  FILE *f = fopen(path, "wb");
  ASSERT_NOT_NULL(f);
  ASSERT_EQ_UINT(fwrite(p, 1, n, f), n);
  fclose(f);
}

void copy_file(const char *from, const char *to) {
  size_t n;
  void *p = test_read_file(from, &n);
  ASSERT_NOT_NULL(p);
  write_file(to, p, n);
  free(p);
}

/* ---- config ------------------------------------------------------------ */

static void assert_rope_eq(const rope_params *a, const rope_params *b) {
  ASSERT_EQ_INT(a->scaling, b->scaling);
  ASSERT_TRUE(a->theta == b->theta);
  ASSERT_TRUE(a->factor == b->factor);
  ASSERT_TRUE(a->low_freq_factor == b->low_freq_factor);
  ASSERT_TRUE(a->high_freq_factor == b->high_freq_factor);
  ASSERT_EQ_INT(a->original_max_pos, b->original_max_pos);
  ASSERT_TRUE(a->beta_fast == b->beta_fast && a->beta_slow == b->beta_slow);
  ASSERT_TRUE(a->attention_factor == b->attention_factor);
}

void assert_config_eq(const model_config *a, const model_config *b) {
  ASSERT_EQ_INT(a->arch, b->arch);
  ASSERT_EQ_STR(a->model_type, b->model_type);
  ASSERT_EQ_INT(a->n_layers, b->n_layers);
  ASSERT_EQ_INT(a->hidden, b->hidden);
  ASSERT_EQ_INT(a->n_heads, b->n_heads);
  ASSERT_EQ_INT(a->n_kv_heads, b->n_kv_heads);
  ASSERT_EQ_INT(a->head_dim, b->head_dim);
  ASSERT_EQ_INT(a->ffn_hidden, b->ffn_hidden);
  ASSERT_EQ_INT(a->vocab, b->vocab);
  ASSERT_EQ_INT(a->max_pos, b->max_pos);
  ASSERT_TRUE(a->rms_eps == b->rms_eps);
  ASSERT_EQ_INT(a->act, b->act);
  ASSERT_EQ_INT(a->tie_embeddings, b->tie_embeddings);
  ASSERT_EQ_INT(a->attn_bias, b->attn_bias);
  ASSERT_EQ_INT(a->qk_norm, b->qk_norm);
  assert_rope_eq(&a->rope, &b->rope);
  assert_rope_eq(&a->rope_local, &b->rope_local);
  ASSERT_EQ_INT(a->n_experts, b->n_experts);
  ASSERT_EQ_INT(a->n_experts_per_tok, b->n_experts_per_tok);
  ASSERT_EQ_INT(a->moe_ffn_hidden, b->moe_ffn_hidden);
  ASSERT_EQ_INT(a->norm_topk_prob, b->norm_topk_prob);
  ASSERT_EQ_INT(a->decoder_sparse_step, b->decoder_sparse_step);
  ASSERT_EQ_MEM(a->layer_moe, b->layer_moe, sizeof a->layer_moe);
  ASSERT_EQ_INT(a->sliding_window, b->sliding_window);
  ASSERT_EQ_MEM(a->layer_sliding, b->layer_sliding, sizeof a->layer_sliding);
  ASSERT_TRUE(a->query_pre_attn_scalar == b->query_pre_attn_scalar);
  ASSERT_TRUE(a->final_logit_softcap == b->final_logit_softcap);
  ASSERT_TRUE(a->attn_logit_softcap == b->attn_logit_softcap);
  ASSERT_TRUE(a->embed_scale == b->embed_scale);
  ASSERT_TRUE(a->norm_w_offset == b->norm_w_offset);
  ASSERT_EQ_INT(a->bos_id, b->bos_id);
  ASSERT_EQ_INT(a->n_eos, b->n_eos);
  ASSERT_EQ_MEM(a->eos_ids, b->eos_ids, sizeof a->eos_ids);
}

static void test_config_styles_equal(void) {
  for (int f = 0; f < N_FAMILIES; f++) {
    char *dir = fixture_dir(k_families[f]);
    char err[GLOAM_ERR_LEN];
    model_config v5, v4;
    int rc = config_load_dir(&v5, dir, NULL, err);
    if (rc < 0) test_fail(__FILE__, __LINE__, "%s: %s", k_families[f], err);
    rc = config_load_dir(&v4, dir, "config.v4.json", err);
    if (rc < 0) test_fail(__FILE__, __LINE__, "%s v4: %s", k_families[f], err);
    assert_config_eq(&v5, &v4);
    free(dir);
  }
}

static void load_cfg(const char *fam, model_config *c) {
  char *dir = fixture_dir(fam);
  char err[GLOAM_ERR_LEN];
  int rc = config_load_dir(c, dir, NULL, err);
  if (rc < 0) test_fail(__FILE__, __LINE__, "%s: %s", fam, err);
  free(dir);
}

/* Values transcribed from the fixtures' config.json / generation_config.json. */
static void test_config_values(void) {
  model_config c;
  load_cfg("llama", &c);
  ASSERT_EQ_INT(c.arch, ARCH_LLAMA);
  ASSERT_EQ_INT(c.n_layers, 2);
  ASSERT_EQ_INT(c.hidden, 64);
  ASSERT_EQ_INT(c.n_heads, 4);
  ASSERT_EQ_INT(c.n_kv_heads, 2);
  ASSERT_EQ_INT(c.head_dim, 16);
  ASSERT_EQ_INT(c.ffn_hidden, 160);
  ASSERT_EQ_INT(c.vocab, 512);
  ASSERT_EQ_INT(c.max_pos, 256);
  ASSERT_TRUE(c.rms_eps == 1e-5f);
  ASSERT_FALSE(c.tie_embeddings);
  ASSERT_EQ_INT(c.rope.scaling, ROPE_SCALING_NONE);
  ASSERT_TRUE(c.rope.theta == 10000.0f);
  ASSERT_EQ_INT(c.bos_id, 1);
  ASSERT_EQ_INT(c.n_eos, 1);
  ASSERT_EQ_INT(c.eos_ids[0], 2);
  ASSERT_TRUE(c.embed_scale == 1.0f && c.norm_w_offset == 0.0f);
  ASSERT_EQ_INT(c.act, ACT_SILU);

  load_cfg("llama3-rope", &c);
  ASSERT_EQ_INT(c.rope.scaling, ROPE_SCALING_LLAMA3);
  ASSERT_TRUE(c.rope.theta == 500000.0f);
  ASSERT_TRUE(c.rope.factor == 8.0f);
  ASSERT_TRUE(c.rope.low_freq_factor == 1.0f);
  ASSERT_TRUE(c.rope.high_freq_factor == 4.0f);
  ASSERT_EQ_INT(c.rope.original_max_pos, 32);
  ASSERT_TRUE(c.tie_embeddings);

  load_cfg("qwen2", &c);
  ASSERT_EQ_INT(c.arch, ARCH_QWEN2);
  ASSERT_TRUE(c.attn_bias);
  ASSERT_FALSE(c.qk_norm);
  ASSERT_TRUE(c.rope.theta == 1e6f);
  ASSERT_EQ_INT(c.bos_id, -1);
  ASSERT_EQ_INT(c.n_eos, 0);
  ASSERT_EQ_INT(c.sliding_window, 0);

  load_cfg("qwen3", &c);
  ASSERT_EQ_INT(c.arch, ARCH_QWEN3);
  ASSERT_EQ_INT(c.head_dim, 32);
  ASSERT_TRUE(c.qk_norm);
  ASSERT_FALSE(c.attn_bias);

  load_cfg("qwen3-moe", &c);
  ASSERT_EQ_INT(c.arch, ARCH_QWEN3_MOE);
  ASSERT_EQ_INT(c.n_experts, 8);
  ASSERT_EQ_INT(c.n_experts_per_tok, 2);
  ASSERT_EQ_INT(c.moe_ffn_hidden, 32);
  ASSERT_TRUE(c.norm_topk_prob);
  ASSERT_TRUE(c.layer_moe[0] && c.layer_moe[1]);
  ASSERT_FALSE(c.tie_embeddings);

  load_cfg("gemma3", &c);
  ASSERT_EQ_INT(c.arch, ARCH_GEMMA3);
  ASSERT_EQ_INT(c.n_layers, 3);
  ASSERT_EQ_INT(c.act, ACT_GELU_TANH);
  ASSERT_TRUE(c.layer_sliding[0] && c.layer_sliding[1] && !c.layer_sliding[2]);
  ASSERT_EQ_INT(c.sliding_window, 4);
  ASSERT_TRUE(c.rope.theta == 1e6f && c.rope_local.theta == 1e4f);
  ASSERT_TRUE(c.query_pre_attn_scalar == 16.0f);
  ASSERT_TRUE(c.final_logit_softcap == 0.0f && c.attn_logit_softcap == 0.0f);
  ASSERT_TRUE(c.embed_scale == 8.0f);
  ASSERT_TRUE(c.norm_w_offset == 1.0f);
  ASSERT_TRUE(c.qk_norm && c.tie_embeddings);
  ASSERT_TRUE(c.rms_eps == 1e-6f);
  ASSERT_EQ_INT(c.bos_id, 2);
  ASSERT_EQ_INT(c.n_eos, 1);
  ASSERT_EQ_INT(c.eos_ids[0], 1);
}

static int parse_str(model_config *c, const char *json, char *err) {
  return config_parse(c, json, strlen(json), NULL, 0, err);
}

static void test_config_errors(void) {
  model_config c;
  char err[GLOAM_ERR_LEN];
  ASSERT_EQ_INT(parse_str(&c, "{\"model_type\":\"mamba\",\"hidden_size\":8}", err),
                GLOAM_EUNSUPPORTED);
  ASSERT_TRUE(strstr(err, "mamba") != NULL);
  ASSERT_EQ_INT(parse_str(&c, "[1,2]", err), GLOAM_EFORMAT);
  ASSERT_EQ_INT(parse_str(&c, "{\"model_type\":\"llama\"", err), GLOAM_EFORMAT);
#define BASE                                                              \
  "{\"model_type\":\"llama\",\"num_hidden_layers\":2,\"hidden_size\":64," \
  "\"num_attention_heads\":4,\"intermediate_size\":128,\"vocab_size\":100%s}"
  char buf[1024];
  snprintf(buf, sizeof buf, BASE, "");
  ASSERT_EQ_INT(parse_str(&c, buf, err), 0);
  ASSERT_EQ_INT(c.n_kv_heads, 4);
  ASSERT_EQ_INT(c.head_dim, 16);
  static const struct {
    const char *extra;
    int rc;
  } bad[] = {
      {",\"num_key_value_heads\":3", GLOAM_EFORMAT},    /* does not divide */
      {",\"num_hidden_layers\":100000", GLOAM_EFORMAT}, /* too many layers */
      {",\"hidden_size\":-1", GLOAM_EFORMAT},
      {",\"hidden_size\":1e300", GLOAM_EFORMAT},
      {",\"hidden_size\":\"64\"", GLOAM_EFORMAT},
      {",\"vocab_size\":99999999999", GLOAM_EFORMAT},
      {",\"rope_scaling\":{\"rope_type\":\"longrope\"}", GLOAM_EUNSUPPORTED},
      {",\"rope_parameters\":{\"rope_type\":\"dynamic\"}", GLOAM_EUNSUPPORTED},
      {",\"hidden_act\":\"relu\"", GLOAM_EUNSUPPORTED},
      {",\"rms_norm_eps\":-1", GLOAM_EFORMAT},
      {",\"rope_theta\":0", GLOAM_EFORMAT},
      {",\"layer_types\":[\"full_attention\"]", GLOAM_EFORMAT},
      {",\"layer_types\":[\"sliding_attention\",\"full_attention\"]", GLOAM_EFORMAT},
      {",\"vocab_size\":5", GLOAM_EFORMAT}, /* duplicate key */
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    snprintf(buf, sizeof buf, BASE, bad[i].extra);
    err[0] = 0;
    int rc = parse_str(&c, buf, err);
    if (rc != bad[i].rc)
      test_fail(__FILE__, __LINE__, "case %zu (%s): rc %d (%s)", i, bad[i].extra, rc, err);
    ASSERT_TRUE(err[0] != 0);
  }
  /* a gemma3 wrapper with text_config and an eos list */
  const char *g =
      "{\"model_type\":\"gemma3\",\"eos_token_id\":[1,106],\"text_config\":{"
      "\"model_type\":\"gemma3_text\",\"num_hidden_layers\":12,\"hidden_size\":256,"
      "\"num_attention_heads\":4,\"num_key_value_heads\":1,\"head_dim\":64,"
      "\"intermediate_size\":512,\"vocab_size\":1000,\"sliding_window\":512,"
      "\"rope_scaling\":{\"rope_type\":\"linear\",\"factor\":8.0}}}";
  ASSERT_EQ_INT(parse_str(&c, g, err), 0);
  ASSERT_EQ_INT(c.n_layers, 12);
  ASSERT_EQ_INT(c.n_eos, 2);
  ASSERT_EQ_INT(c.eos_ids[1], 106);
  ASSERT_EQ_INT(c.rope.scaling, ROPE_SCALING_LINEAR);
  ASSERT_TRUE(c.rope.factor == 8.0f && c.rope.theta == 1e6f);
  ASSERT_TRUE(c.rope_local.theta == 1e4f && c.rope_local.scaling == ROPE_SCALING_NONE);
  /* default sliding_window_pattern 6: layers 5 and 11 are global */
  for (int i = 0; i < 12; i++) ASSERT_EQ_INT(c.layer_sliding[i], (i + 1) % 6 != 0);
  ASSERT_TRUE(c.query_pre_attn_scalar == 256.0f);
  ASSERT_TRUE(c.embed_scale == 16.0f);
}

/* ---- safetensors fixtures ------------------------------------------------ */

static const struct {
  const char *fam;
  int n_tensors;
  uint16_t embed[4]; /* first bf16 words of model.embed_tokens.weight */
  uint16_t norm[2];  /* of model.norm.weight */
} k_st_ref[] = {
    {"llama", 21, {0xbf03, 0x3f84, 0xbeb5, 0x3dfc}, {0x3f75, 0x3f82}},
    {"llama3-rope", 20, {0xbe07, 0xbe00, 0x3eb0, 0xbee7}, {0x3f72, 0x3f7d}},
    {"qwen2", 26, {0x3ee0, 0x3ebd, 0x3fca, 0xbe1f}, {0x3f83, 0x3f73}},
    {"qwen3", 24, {0xbeaf, 0xbdc4, 0x3fb3, 0x3f47}, {0x3f90, 0x3f82}},
    {"qwen3-moe", 69, {0xbf57, 0x3e18, 0xbf43, 0xbf41}, {0x3f82, 0x3f91}},
    {"gemma3", 41, {0xbeae, 0xbf45, 0x3fe5, 0xbf1f}, {0xbde0, 0x3db1}},
};

static void expect_shape(const model_files *mf, const char *name, int64_t a, int64_t b) {
  const tensor *t = model_files_tensor(mf, name);
  if (!t) test_fail(__FILE__, __LINE__, "missing %s", name);
  ASSERT_EQ_INT(t->n_dims, b ? 2 : 1);
  ASSERT_EQ_INT(t->shape[0], a);
  if (b) ASSERT_EQ_INT(t->shape[1], b);
  size_t esz = t->type == DT_F32 ? 4 : 2;
  ASSERT_EQ_UINT(t->n_bytes, (size_t)a * (size_t)(b ? b : 1) * esz);
}

/* Shapes from the config by hand: q = heads * head_dim, kv = kv_heads * head_dim. */
static void check_shapes(const model_files *mf) {
  const model_config *c = model_files_config(mf);
  int64_t h = c->hidden, q = (int64_t)c->n_heads * c->head_dim,
          kv = (int64_t)c->n_kv_heads * c->head_dim;
  char n[128];
  expect_shape(mf, "model.embed_tokens.weight", c->vocab, h);
  expect_shape(mf, "model.norm.weight", h, 0);
  if (!c->tie_embeddings) expect_shape(mf, "lm_head.weight", c->vocab, h);
  for (int l = 0; l < c->n_layers; l++) {
#define X(suffix, a, b)                                   \
  snprintf(n, sizeof n, "model.layers.%d.%s", l, suffix); \
  expect_shape(mf, n, a, b)
    X("self_attn.q_proj.weight", q, h);
    X("self_attn.k_proj.weight", kv, h);
    X("self_attn.v_proj.weight", kv, h);
    X("self_attn.o_proj.weight", h, q);
    X("input_layernorm.weight", h, 0);
    X("post_attention_layernorm.weight", h, 0);
    if (c->attn_bias) {
      X("self_attn.q_proj.bias", q, 0);
      X("self_attn.k_proj.bias", kv, 0);
    }
    if (c->qk_norm) {
      X("self_attn.q_norm.weight", c->head_dim, 0);
      X("self_attn.k_norm.weight", c->head_dim, 0);
    }
    if (c->n_experts) {
      X("mlp.gate.weight", c->n_experts, h);
      for (int e = 0; e < c->n_experts; e++) {
        snprintf(n, sizeof n, "model.layers.%d.mlp.experts.%d.down_proj.weight", l, e);
        expect_shape(mf, n, h, c->moe_ffn_hidden);
        snprintf(n, sizeof n, "model.layers.%d.mlp.experts.%d.up_proj.weight", l, e);
        expect_shape(mf, n, c->moe_ffn_hidden, h);
      }
    } else {
      X("mlp.gate_proj.weight", c->ffn_hidden, h);
      X("mlp.down_proj.weight", h, c->ffn_hidden);
    }
#undef X
  }
}

model_files *open_ok(const char *path, const model_open_opts *o) {
  model_files *mf = NULL;
  char err[GLOAM_ERR_LEN];
  int rc = model_files_open(&mf, path, o, err);
  if (rc < 0) test_fail(__FILE__, __LINE__, "open %s: %s (%s)", path, gloam_errname(rc), err);
  return mf;
}

static void test_safetensors_fixtures(void) {
  for (int f = 0; f < N_FAMILIES; f++) {
    char *dir = fixture_dir(k_st_ref[f].fam);
    model_files *mf = open_ok(dir, NULL);
    ASSERT_EQ_STR(model_files_format(mf), "safetensors");
    ASSERT_EQ_STR(model_files_path(mf), dir);
    ASSERT_EQ_INT(model_files_n_tensors(mf), k_st_ref[f].n_tensors);
    check_shapes(mf);
    const tensor *e = model_files_tensor(mf, "model.embed_tokens.weight");
    ASSERT_EQ_INT(e->type, DT_BF16);
    ASSERT_EQ_MEM(e->data, k_st_ref[f].embed, 8);
    const tensor *nw = model_files_tensor(mf, "model.norm.weight");
    ASSERT_EQ_MEM(nw->data, k_st_ref[f].norm, 4);
    ASSERT_TRUE(model_files_tensor(mf, "no.such.tensor") == NULL);
    for (int i = 1; i < model_files_n_tensors(mf); i++)
      ASSERT_TRUE(
          strcmp(model_files_tensor_at(mf, i - 1)->name, model_files_tensor_at(mf, i)->name) < 0);
    ASSERT_TRUE(model_files_tensor_at(mf, -1) == NULL);
    model_files_close(mf);
    free(dir);
  }
}

/* ---- safetensors writer (test side) and hostile headers ---------------- */

/* Writes the tensors t[0..n) as a safetensors file (little-endian host). */
void st_write(const char *path, const tensor *const *t, int n) {
  size_t cap = 1 << 16, len = 0;
  char *h = malloc(cap);
  ASSERT_NOT_NULL(h);
  uint64_t off = 0;
  len += (size_t)snprintf(h + len, cap - len, "{\"__metadata__\":{\"format\":\"pt\"}");
  for (int i = 0; i < n; i++) {
    const char *ds = t[i]->type == DT_F32 ? "F32" : t[i]->type == DT_F16 ? "F16" : "BF16";
    len += (size_t)snprintf(h + len, cap - len, ",\"%s\":{\"dtype\":\"%s\",\"shape\":[", t[i]->name,
                            ds);
    for (int d = 0; d < t[i]->n_dims; d++)
      len +=
          (size_t)snprintf(h + len, cap - len, "%s%lld", d ? "," : "", (long long)t[i]->shape[d]);
    len += (size_t)snprintf(h + len, cap - len, "],\"data_offsets\":[%llu,%llu]}",
                            (unsigned long long)off, (unsigned long long)(off + t[i]->n_bytes));
    off += t[i]->n_bytes;
    ASSERT_TRUE(len < cap - 256);
  }
  len += (size_t)snprintf(h + len, cap - len, "}");
  while (len % 8) h[len++] = ' ';
  FILE *f = fopen(path, "wb");
  ASSERT_NOT_NULL(f);
  uint8_t n8[8];
  for (int i = 0; i < 8; i++) n8[i] = (uint8_t)((uint64_t)len >> (8 * i));
  fwrite(n8, 1, 8, f);
  fwrite(h, 1, len, f);
  for (int i = 0; i < n; i++) fwrite(t[i]->data, 1, t[i]->n_bytes, f);
  fclose(f);
  free(h);
}

/* A safetensors buffer: 8-byte length (hdr_len_override unless 0), JSON, data. */
static size_t st_buf(uint8_t *out, size_t cap, const char *json, uint64_t len_override,
                     size_t data_len) {
  size_t n = strlen(json);
  uint64_t hl = len_override ? len_override : n;
  ASSERT_TRUE(8 + n + data_len <= cap);
  for (int i = 0; i < 8; i++) out[i] = (uint8_t)(hl >> (8 * i));
  memcpy(out + 8, json, n);
  memset(out + 8 + n, 0, data_len);
  return 8 + n + data_len;
}

static void test_safetensors_hostile(void) {
  static const struct {
    const char *json;
    uint64_t len_override;
    size_t data;
    int rc;
  } cases[] = {
      {"{}", 0, 0, 0},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]}}", 0, 16, 0},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]}}", 0, 4, 0},
      /* header length lies */
      {"{}", 1000, 0, GLOAM_EFORMAT},
      {"{}", (uint64_t)1 << 62, 0, GLOAM_EFORMAT},
      {"{}", UINT64_MAX, 0, GLOAM_EFORMAT},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 10, 4, GLOAM_EFORMAT},
      {"[]", 0, 0, GLOAM_EFORMAT},
      {"{abc", 0, 0, GLOAM_EFORMAT},
      {"{\"a\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[0,8]}}", 0, 8,
       GLOAM_EUNSUPPORTED},
      {"{\"a\":{\"dtype\":\"Q9\",\"shape\":[1],\"data_offsets\":[0,4]}}", 0, 4, GLOAM_EFORMAT},
      {"{\"a\":{\"dtype\":7,\"shape\":[1],\"data_offsets\":[0,4]}}", 0, 4, GLOAM_EFORMAT},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1],\"data_offsets\":[0,4]}}", 0, 4,
       GLOAM_EFORMAT},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 0, 4, GLOAM_EFORMAT},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}", 0, 4, GLOAM_EFORMAT},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[549755813887,549755813887,549755813887],"
       "\"data_offsets\":[0,4]}}",
       0, 4, GLOAM_EFORMAT},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[4611686018427387904],\"data_offsets\":[0,4]}}", 0, 4,
       GLOAM_EFORMAT},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,8]}}", 0, 4, GLOAM_EFORMAT},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,0]}}", 0, 4, GLOAM_EFORMAT},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}", 0, 8, GLOAM_EFORMAT},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[18446744073709551612,"
       "18446744073709551616]}}",
       0, 8, GLOAM_EFORMAT},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
       "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[2,6]}}",
       0, 8, GLOAM_EFORMAT},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
       "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
       0, 8, GLOAM_EFORMAT},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
       "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
       0, 8, GLOAM_EFORMAT},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0.0,4]}}", 0, 4, GLOAM_EFORMAT},
      {"{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", 0, 4, GLOAM_EFORMAT},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}", 0, 4, GLOAM_EFORMAT},
      {"{\"__metadata__\":[]}", 0, 0, GLOAM_EFORMAT},
      {"{\"a\":5}", 0, 0, GLOAM_EFORMAT},
      {"{\"\xff\xfe\":5}", 0, 0, GLOAM_EFORMAT},
  };
  static uint8_t b[4096];
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    size_t n = st_buf(b, sizeof b, cases[i].json, cases[i].len_override, cases[i].data);
    st_header h;
    char err[GLOAM_ERR_LEN] = "";
    int rc = st_parse(b, n, &h, err);
    if (rc != cases[i].rc) test_fail(__FILE__, __LINE__, "case %zu: rc %d (%s)", i, rc, err);
    if (rc < 0) {
      ASSERT_TRUE(err[0] != 0);
      ASSERT_EQ_INT(h.n_tensors, 0);
    }
    st_header_deinit(&h);
  }
  st_header h;
  char err[GLOAM_ERR_LEN];
  ASSERT_EQ_INT(st_parse(b, 4, &h, err), GLOAM_EFORMAT);
  ASSERT_EQ_INT(st_parse(b, 0, &h, err), GLOAM_EFORMAT);
}

void setup_dir(const char *fam, const char *dir) {
  char *src = fixture_dir(fam);
  char a[1024], b[1024];
  static const char *const files[] = {"config.json", "generation_config.json"};
  for (int i = 0; i < 2; i++) {
    snprintf(a, sizeof a, "%s/%s", src, files[i]);
    snprintf(b, sizeof b, "%s/%s", dir, files[i]);
    copy_file(a, b);
  }
  free(src);
}

int open_err(const char *path, char *err) {
  model_files *mf = NULL;
  int rc = model_files_open(&mf, path, NULL, err);
  model_files_close(mf);
  if (rc < 0) ASSERT_TRUE(err[0] != 0);
  return rc;
}

static void test_sharded_and_hostile_dirs(void) {
  char *src = fixture_dir("llama");
  model_files *ref = open_ok(src, NULL);
  char *dir = test_tmpdir();
  setup_dir("llama", dir);
  int n = model_files_n_tensors(ref);
  const tensor *all[64] = {0};
  ASSERT_TRUE(n <= 64);
  for (int i = 0; i < n; i++) all[i] = model_files_tensor_at(ref, i);
  char p[1024];
  int half = n / 2;
  snprintf(p, sizeof p, "%s/model-00001-of-00002.safetensors", dir);
  st_write(p, all, half);
  snprintf(p, sizeof p, "%s/model-00002-of-00002.safetensors", dir);
  st_write(p, all + half, n - half);
  char idx[8192];
  size_t il = (size_t)snprintf(idx, sizeof idx, "{\"metadata\":{},\"weight_map\":{");
  for (int i = 0; i < n; i++)
    il += (size_t)snprintf(idx + il, sizeof idx - il,
                           "%s\"%s\":\"model-0000%d-of-00002.safetensors\"", i ? "," : "",
                           all[i]->name, i < half ? 1 : 2);
  il += (size_t)snprintf(idx + il, sizeof idx - il, "}}");
  snprintf(p, sizeof p, "%s/model.safetensors.index.json", dir);
  write_file(p, idx, il);
  model_files *mf = open_ok(dir, NULL);
  ASSERT_EQ_INT(model_files_n_tensors(mf), n);
  for (int i = 0; i < n; i++) {
    const tensor *a = model_files_tensor_at(ref, i), *b = model_files_tensor_at(mf, i);
    ASSERT_EQ_STR(a->name, b->name);
    ASSERT_EQ_UINT(a->n_bytes, b->n_bytes);
    ASSERT_EQ_MEM(a->data, b->data, a->n_bytes);
  }
  model_files_close(mf);
  char err[GLOAM_ERR_LEN];

  /* index names a tensor that no shard has */
  char bad[8300];
  snprintf(bad, sizeof bad, "{\"weight_map\":{\"ghost\":\"model-00001-of-00002.safetensors\",%s",
           idx + strlen("{\"metadata\":{},\"weight_map\":{"));
  write_file(p, bad, strlen(bad));
  ASSERT_EQ_INT(open_err(dir, err), GLOAM_EFORMAT);
  ASSERT_TRUE(strstr(err, "ghost") != NULL);
  /* shard path escaping the directory */
  const char *esc = "{\"weight_map\":{\"x\":\"../model.safetensors\"}}";
  write_file(p, esc, strlen(esc));
  ASSERT_EQ_INT(open_err(dir, err), GLOAM_EFORMAT);
  write_file(p, "{]", 2);
  ASSERT_EQ_INT(open_err(dir, err), GLOAM_EFORMAT);
  remove(p);

  /* single file missing a tensor */
  snprintf(p, sizeof p, "%s/model.safetensors", dir);
  st_write(p, all, n - 1);
  ASSERT_EQ_INT(open_err(dir, err), GLOAM_EFORMAT);
  ASSERT_TRUE(strstr(err, "missing") != NULL);
  /* a tensor with the wrong shape (same bytes) */
  tensor wrong = *all[0];
  wrong.shape[0] = all[0]->shape[1];
  wrong.shape[1] = all[0]->shape[0];
  const tensor *mixed[64] = {0};
  for (int i = 0; i < n; i++) mixed[i] = all[i];
  mixed[0] = &wrong;
  st_write(p, mixed, n);
  ASSERT_EQ_INT(open_err(dir, err), GLOAM_EFORMAT);
  ASSERT_TRUE(strstr(err, "shape") != NULL);
  /* truncated copies of the real file */
  char *fsrc = test_fixture_path("models/llama/model.safetensors");
  size_t flen;
  uint8_t *fb = test_read_file(fsrc, &flen);
  ASSERT_NOT_NULL(fb);
  size_t cuts[] = {0, 3, 8, 100, 2000, flen / 2, flen - 1};
  for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
    write_file(p, fb, cuts[i]);
    int rc = open_err(dir, err);
    if (rc != GLOAM_EFORMAT) test_fail(__FILE__, __LINE__, "cut %zu: %d %s", cuts[i], rc, err);
  }
  write_file(p, fb, flen);
  mf = open_ok(dir, NULL);
  model_files_close(mf);
  /* unknown architecture */
  snprintf(p, sizeof p, "%s/config.json", dir);
  const char *mamba = "{\"model_type\":\"mamba\"}";
  write_file(p, mamba, strlen(mamba));
  ASSERT_EQ_INT(open_err(dir, err), GLOAM_EUNSUPPORTED);
  snprintf(p, sizeof p, "%s/nonexistent", dir);
  ASSERT_EQ_INT(open_err(p, err), GLOAM_ENOENT);
  free(fb);
  free(fsrc);
  model_files_close(ref);
  free(dir);
  free(src);
}

/* Gemma 3 multimodal layout: config under text_config, text tensors under
 * "model.language_model." (transformers 5) or "language_model.model.". */
static void test_multimodal_prefix(void) {
  char *src = fixture_dir("gemma3");
  model_files *ref = open_ok(src, NULL);
  for (int style = 0; style < 2; style++) {
    char *dir = test_tmpdir();
    char p[1024];
    snprintf(p, sizeof p, "%s/config.json", src);
    json_error_t je;
    json_t *tc = json_load_file(p, 0, &je);
    ASSERT_NOT_NULL(tc);
    json_t *top = json_pack("{s:s, s:o}", "model_type", "gemma3", "text_config", tc);
    snprintf(p, sizeof p, "%s/config.json", dir);
    ASSERT_EQ_INT(json_dump_file(top, p, 0), 0);
    json_decref(top);
    int n = model_files_n_tensors(ref);
    tensor renamed[64];
    char names[64][160];
    const tensor *all[65];
    ASSERT_TRUE(n < 64);
    for (int i = 0; i < n; i++) {
      renamed[i] = *model_files_tensor_at(ref, i);
      const char *nm = renamed[i].name;
      if (strncmp(nm, "model.", 6) == 0)
        snprintf(names[i], sizeof names[i], "%s%s",
                 style ? "language_model.model." : "model.language_model.", nm + 6);
      else
        snprintf(names[i], sizeof names[i], "%s", nm);
      renamed[i].name = names[i];
      all[i] = &renamed[i];
    }
    tensor vis = renamed[0]; /* a vision tower tensor rides along */
    vis.name = "vision_tower.patch_embed.weight";
    all[n] = &vis;
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    st_write(p, all, n + 1);
    model_files *mf = open_ok(dir, NULL);
    model_config want = *model_files_config(ref);
    snprintf(want.model_type, sizeof want.model_type, "gemma3");
    assert_config_eq(model_files_config(mf), &want);
    for (int i = 0; i < n; i++) {
      const tensor *a = model_files_tensor_at(ref, i);
      const tensor *b = model_files_tensor(mf, a->name);
      if (!b) test_fail(__FILE__, __LINE__, "missing %s", a->name);
      ASSERT_EQ_MEM(a->data, b->data, a->n_bytes);
    }
    ASSERT_NOT_NULL(model_files_tensor(mf, "vision_tower.patch_embed.weight"));
    model_files_close(mf);
    free(dir);
  }
  model_files_close(ref);
  free(src);
}

/* ---- quantize on load ----------------------------------------------------- */

/* Row r of a F32/F16/BF16 tensor as float32 (conversions are the kernels'). */
void row_f32(const tensor *t, int64_t r, float *out) {
  int64_t n = t->shape[t->n_dims - 1];
  const uint8_t *p = (const uint8_t *)t->data + (size_t)r * dtype_row_bytes(t->type, n);
  for (int64_t i = 0; i < n; i++) {
    uint16_t h;
    if (t->type == DT_F32) {
      memcpy(&out[i], p + 4 * i, 4);
      continue;
    }
    memcpy(&h, p + 2 * i, 2);
    out[i] = t->type == DT_BF16 ? bf16_to_f32(h) : f16_to_f32(h);
  }
}

/* Max error of a quantized tensor q against the original o, per 32-block
 * relative to the block's max |x|: Q8_0 rounds to amax/127 steps (error
 * <= amax/254) with an f16 scale; Q4_0 uses steps of amax/8 and clips the
 * +amax side to 7 steps (error <= amax/8). */
void check_quantized(const tensor *o, const tensor *q, double rel_bound) {
  int64_t rows = o->shape[0], cols = o->shape[1];
  float *a = malloc((size_t)cols * sizeof *a), *b = malloc((size_t)cols * sizeof *b);
  size_t qrb = dtype_row_bytes(q->type, cols);
  for (int64_t r = 0; r < rows; r++) {
    row_f32(o, r, a);
    kern_dequantize_row(q->type, (const uint8_t *)q->data + (size_t)r * qrb, b, cols);
    for (int64_t j = 0; j < cols; j += 32) {
      float amax = 0;
      for (int k = 0; k < 32; k++) amax = fmaxf(amax, fabsf(a[j + k]));
      for (int k = 0; k < 32; k++)
        if (!(fabs((double)a[j + k] - b[j + k]) <= rel_bound * amax + 1e-7))
          test_fail(__FILE__, __LINE__, "%s[%lld][%lld]: %g vs %g (amax %g)", q->name, (long long)r,
                    (long long)(j + k), a[j + k], b[j + k], amax);
    }
  }
  free(a);
  free(b);
}

static void test_quantize_on_load(void) {
  static const struct {
    int type;
    double bound;
  } qs[] = {{DT_Q8_0, 1.0 / 254 + 1.0 / 1024}, {DT_Q4_0, 1.0 / 8 + 1.0 / 1024}};
  for (int f = 0; f < N_FAMILIES; f++) {
    char *dir = fixture_dir(k_families[f]);
    model_files *ref = open_ok(dir, NULL);
    for (size_t k = 0; k < 2; k++) {
      model_open_opts o = {.config_name = NULL, .quantize = qs[k].type};
      model_files *mf = open_ok(dir, &o);
      ASSERT_EQ_INT(model_files_n_tensors(mf), model_files_n_tensors(ref));
      int n_q = 0;
      for (int i = 0; i < model_files_n_tensors(mf); i++) {
        const tensor *a = model_files_tensor_at(ref, i), *b = model_files_tensor_at(mf, i);
        ASSERT_EQ_STR(a->name, b->name);
        bool want = a->n_dims == 2 && !strstr(a->name, "embed_tokens") &&
                    !strstr(a->name, "mlp.gate.weight");
        if (!want) {
          ASSERT_EQ_INT(b->type, a->type);
          ASSERT_EQ_MEM(a->data, b->data, a->n_bytes);
          continue;
        }
        ASSERT_EQ_INT(b->type, qs[k].type);
        ASSERT_EQ_UINT(b->n_bytes, (size_t)a->shape[0] * dtype_row_bytes(b->type, a->shape[1]));
        check_quantized(a, b, qs[k].bound);
        n_q++;
      }
      ASSERT_CMP_INT(n_q, >=, 7 * model_files_config(mf)->n_layers);
      model_files_close(mf);
    }
    char err[GLOAM_ERR_LEN];
    model_files *mf = NULL;
    model_open_opts bad = {.config_name = NULL, .quantize = DT_Q8_K};
    ASSERT_EQ_INT(model_files_open(&mf, dir, &bad, err), GLOAM_EINVAL);
    ASSERT_TRUE(mf == NULL);
    model_files_close(ref);
    free(dir);
  }
}

/* transformers 5 fused experts: gate_up_proj [E, 2F, H], down_proj [E, H, F]. */
static void test_fused_experts(void) {
  char *src = fixture_dir("qwen3-moe");
  model_files *ref = open_ok(src, NULL);
  const model_config *c = model_files_config(ref);
  char *dir = test_tmpdir();
  setup_dir("qwen3-moe", dir);
  int E = c->n_experts, F = c->moe_ffn_hidden, H = c->hidden;
  const tensor *keep[128] = {0};
  int nk = 0;
  tensor fused[2 * 8];
  uint8_t *bufs[2 * 8];
  int nf = 0;
  for (int i = 0; i < model_files_n_tensors(ref); i++) {
    const tensor *t = model_files_tensor_at(ref, i);
    if (!strstr(t->name, ".experts.")) keep[nk++] = t;
  }
  char names[16][96];
  for (int l = 0; l < c->n_layers; l++) {
    for (int which = 0; which < 2; which++) {
      size_t eb = (size_t)(which ? H * F : 2 * F * H) * 2;
      uint8_t *b = malloc(eb * (size_t)E);
      for (int e = 0; e < E; e++) {
        char n[128];
        static const char *const parts[3] = {"gate_proj", "up_proj", "down_proj"};
        for (int p = which ? 2 : 0; p < (which ? 3 : 2); p++) {
          snprintf(n, sizeof n, "model.layers.%d.mlp.experts.%d.%s.weight", l, e, parts[p]);
          const tensor *t = model_files_tensor(ref, n);
          ASSERT_NOT_NULL(t);
          memcpy(b + (size_t)e * eb + (p == 1 ? t->n_bytes : 0), t->data, t->n_bytes);
        }
      }
      snprintf(names[nf], sizeof names[nf], "model.layers.%d.mlp.experts.%s", l,
               which ? "down_proj" : "gate_up_proj");
      tensor *ft = &fused[nf];
      memset(ft, 0, sizeof *ft);
      ft->name = names[nf];
      ft->type = DT_BF16;
      ft->n_dims = 3;
      ft->shape[0] = E;
      ft->shape[1] = which ? H : 2 * F;
      ft->shape[2] = which ? F : H;
      ft->data = b;
      ft->n_bytes = eb * (size_t)E;
      bufs[nf] = b;
      keep[nk++] = ft;
      nf++;
    }
  }
  char p[1024];
  snprintf(p, sizeof p, "%s/model.safetensors", dir);
  st_write(p, keep, nk);
  model_files *mf = open_ok(dir, NULL);
  for (int i = 0; i < model_files_n_tensors(ref); i++) {
    const tensor *a = model_files_tensor_at(ref, i);
    const tensor *b = model_files_tensor(mf, a->name);
    if (!b) test_fail(__FILE__, __LINE__, "missing %s", a->name);
    ASSERT_EQ_INT(b->n_dims, a->n_dims);
    ASSERT_EQ_INT(b->shape[0], a->shape[0]);
    ASSERT_EQ_UINT(b->n_bytes, a->n_bytes);
    ASSERT_EQ_MEM(b->data, a->data, a->n_bytes);
  }
  model_files_close(mf);
  for (int i = 0; i < nf; i++) free(bufs[i]);
  model_files_close(ref);
  free(dir);
  free(src);
}

/* ---- allocation failures -------------------------------------------------- */

/* Fails the n-th allocation for n = 0, 1, ... until the call succeeds: each
 * failure must be a clean GLOAM_ENOMEM (the ASan build checks for leaks). */
static void sweep_open(const char *path, int quantize) {
  model_open_opts o = {.config_name = NULL, .quantize = quantize};
  for (long n = 0; n < 100000; n++) {
    model_files *mf = NULL;
    char err[GLOAM_ERR_LEN];
    mem_fail_after(n);
    int rc = model_files_open(&mf, path, &o, err);
    mem_fail_after(-1);
    if (rc == 0) {
      model_files_close(mf);
      ASSERT_CMP_INT(n, >, 3);
      return;
    }
    if (rc != GLOAM_ENOMEM)
      test_fail(__FILE__, __LINE__, "%s: fail at %ld: %s (%s)", path, n, gloam_errname(rc), err);
    ASSERT_TRUE(mf == NULL);
  }
  test_fail(__FILE__, __LINE__, "sweep did not finish");
}

static void test_alloc_failures(void) {
  char *dir = fixture_dir("qwen3-moe");
  sweep_open(dir, -1);
  sweep_open(dir, DT_Q8_0);
  char *g = convert_tmp("qwen3-moe", DT_Q8_0, "sweep", false);
  sweep_open(g, -1);
  char *tmp = test_tmpdir();
  char out[1024];
  snprintf(out, sizeof out, "%s/sweep.gguf", tmp);
  convert_opts o = {.type = DT_Q4_0, .config_name = NULL, .llama_cpp_keys_only = false};
  for (long n = 0;; n++) {
    char err[GLOAM_ERR_LEN];
    mem_fail_after(n);
    int rc = gguf_convert(dir, out, &o, err);
    mem_fail_after(-1);
    if (rc == 0) break;
    if (rc != GLOAM_ENOMEM) test_fail(__FILE__, __LINE__, "convert fail at %ld: %s", n, err);
    ASSERT_CMP_INT(n, <, 100000);
  }
  remove(out);
  remove(g);
  free(g);
  free(tmp);
  free(dir);
}

int main(int argc, char **argv) {
  static const test_case tests[] = {
      TEST(test_config_styles_equal),
      TEST(test_config_values),
      TEST(test_config_errors),
      TEST(test_safetensors_fixtures),
      TEST(test_safetensors_hostile),
      TEST(test_sharded_and_hostile_dirs),
      TEST(test_quantize_on_load),
      TEST(test_fused_experts),
      TEST(test_gguf_permutation),
      TEST(test_gguf_roundtrip),
      TEST(test_gguf_layout),
      TEST(test_gguf_llama3_fit),
      TEST(test_gguf_llama_bias),
      TEST(test_gguf_kv_types),
      TEST(test_gguf_hostile),
      TEST(test_gguf_foreign_files),
      TEST(test_alloc_failures),
      TEST(test_multimodal_prefix),
      TEST(test_gguf_hostile_metadata),
      TEST(test_gguf_tokenizer),
      {0},
  };
  return test_main(argc, argv, tests);
}
