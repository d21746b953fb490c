/* SPDX-License-Identifier: Apache-2.0
 *
 * engine/make_random.c: random-weight benchmark models (make_random.h),
 * written with the formats module's streaming GGUF writer; and the demo
 * model, a Hugging Face directory whose safetensors file is written here
 * (8-byte little-endian header length, JSON header padded with spaces to
 * 8 bytes, tensor data in header order).
 */
#include "engine/make_random.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/err.h"
#include "engine/gguf_write.h"

typedef struct shape_desc {
  const char *name;
  int n_layers, hidden, ffn, n_heads, n_kv_heads, head_dim, vocab, max_pos;
  float rms_eps, theta;
  bool llama3; /* Llama 3 rope scaling (factor 32, low 1, high 4, orig 8192) */
  int bos, eos;
  int n_experts, n_used, expert_ffn; /* qwen3_moe: routed experts instead of the MLP */
} shape_desc;

/* moe-64x8 is a Qwen3-MoE of 3.9 G parameters (0.73 G active per token: 8
 * of 64 experts of 768); moe-64x8-dense is the dense Qwen3 with the same
 * active parameters (the MLP of 6144 = 8 x 768), to compare decode speed. */
static const shape_desc k_shapes[] = {
    {"qwen3-0.6b", 28, 1024, 3072, 16, 8, 128, 151936, 40960, 1e-6f, 1e6f, false, 151643, 151645, 0,
     0, 0},
    {"llama-3.2-1b", 16, 2048, 8192, 32, 8, 64, 128256, 131072, 1e-5f, 5e5f, true, 128000, 128001,
     0, 0, 0},
    {"moe-64x8", 24, 1024, 0, 16, 4, 128, 151936, 40960, 1e-6f, 1e6f, false, 151643, 151645, 64, 8,
     768},
    {"moe-64x8-dense", 24, 1024, 6144, 16, 4, 128, 151936, 40960, 1e-6f, 1e6f, false, 151643,
     151645, 0, 0, 0},
};

enum t_kind { TK_ONES, TK_MATRIX, TK_ROPE_FREQS };

typedef struct t_job {
  enum t_kind kind;
  enum dtype type;
  uint64_t seed;
  const shape_desc *sh;
} t_job;

/* xorshift64*: fast, deterministic; quality is irrelevant here. */
static uint64_t rnd(uint64_t *s) {
  uint64_t x = *s;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  *s = x;
  return x * 0x2545F4914F6CDD1DULL;
}

static void fill_matrix(const t_job *j, uint8_t *dst, size_t n) {
  uint64_t s = j->seed * 0x9E3779B97F4A7C15ULL + 1;
  if (j->type == DT_F16) {
    f16_bits tab[256]; /* uniform in [-0.035, 0.035): std 0.02 */
    for (int i = 0; i < 256; i++) tab[i] = f32_to_f16(((float)i - 127.5f) * (0.035f / 128.0f));
    for (size_t i = 0; i + 2 <= n; i += 2) {
      f16_bits h = tab[rnd(&s) >> 56];
      memcpy(dst + i, &h, 2);
    }
    return;
  }
  size_t bs = dtype_block_bytes(j->type);
  /* where each block keeps its f16 scale(s): Q8_0/Q4_0 d first; Q4_K d and
   * dmin first (its 6-bit sub-block scales take any bits); Q6_K d last */
  size_t d_at = j->type == DT_Q6_K ? bs - 2 : 0, n_d = j->type == DT_Q4_K ? 2 : 1;
  float scale = j->type == DT_Q8_0   ? 0.02f / 73.0f
                : j->type == DT_Q4_0 ? 0.02f / 4.6f
                                     : 0.02f / 256.0f; /* K-quants: times a 6-bit scale */
  f16_bits d = f32_to_f16(scale);
  for (size_t off = 0; off + bs <= n; off += bs) {
    for (size_t b = 0; b < bs; b += 8) {
      uint64_t r = rnd(&s);
      size_t k = bs - b < 8 ? bs - b : 8;
      memcpy(dst + off + b, &r, k);
    }
    for (size_t i = 0; i < n_d; i++) memcpy(dst + off + d_at + 2 * i, &d, 2);
    if (j->type == DT_Q8_0) /* keep quants in [-127, 127] as real Q8_0 */
      for (size_t b = 2; b < bs; b++)
        if (dst[off + b] == 0x80) dst[off + b] = 0x81;
  }
}

/* llama.cpp's rope_freqs for Llama 3 scaling (factor 32, 1, 4, 8192). */
static void fill_rope_freqs(const shape_desc *sh, float *ff) {
  const double factor = 32, lo = 1, hi = 4, orig = 8192;
  int n = sh->head_dim / 2;
  for (int i = 0; i < n; i++) {
    double freq = 1.0 / pow((double)sh->theta, 2.0 * i / sh->head_dim);
    double wl = 2 * M_PI / freq;
    if (wl < orig / hi) {
      ff[i] = 1.0f;
    } else if (wl > orig / lo) {
      ff[i] = (float)factor;
    } else {
      double sm = (orig / wl - lo) / (hi - lo);
      ff[i] = (float)(1.0 / ((1 - sm) / factor + sm));
    }
  }
}

static int fill(void *ctx, void *dst, size_t n_bytes) {
  const t_job *j = ctx;
  if (j->kind == TK_ONES) {
    float one = 1.0f;
    for (size_t i = 0; i + 4 <= n_bytes; i += 4) memcpy((uint8_t *)dst + i, &one, 4);
  } else if (j->kind == TK_ROPE_FREQS) {
    fill_rope_freqs(j->sh, dst);
  } else {
    fill_matrix(j, dst, n_bytes);
  }
  return 0;
}

/* A [cols] vector (rows 0), [rows, cols] matrix, or n_stack of them
 * stacked (GGUF experts [n_stack, rows, cols]) when n_stack > 0. */
static int add(gguf_writer *w, t_job *jobs, int *n_jobs, const char *name, enum t_kind kind,
               enum dtype t, int64_t n_stack, int64_t rows, int64_t cols, const shape_desc *sh,
               uint64_t seed) {
  t_job *j = &jobs[(*n_jobs)++];
  *j = (t_job){.kind = kind, .type = t, .seed = seed + (uint64_t)*n_jobs, .sh = sh};
  int64_t ne[3] = {cols, rows, n_stack};
  int n_dims = n_stack > 0 ? 3 : rows > 0 ? 2 : 1;
  size_t nb = dtype_row_bytes(t, cols) * (size_t)(rows > 0 ? rows : 1) *
              (size_t)(n_stack > 0 ? n_stack : 1);
  return gguf_w_tensor_fill(w, name, t, n_dims, ne, nb, fill, j);
}

/* Layer l's router (F16, as converters keep it unquantized) and stacked
 * experts: ffn_{gate,up}_exps [E, F, H], ffn_down_exps [E, H, F]. Errors
 * are the writer's (sticky). */
static void add_experts(gguf_writer *w, t_job *jobs, int *n_jobs, int l, const shape_desc *sh,
                        enum dtype t, uint64_t seed) {
  int E = sh->n_experts, F = sh->expert_ffn, H = sh->hidden;
  char name[64];
  snprintf(name, sizeof name, "blk.%d.ffn_gate_inp.weight", l);
  add(w, jobs, n_jobs, name, TK_MATRIX, DT_F16, 0, E, H, sh, seed);
  static const char *const exps[3] = {"gate", "up", "down"};
  for (int i = 0; i < 3; i++) {
    snprintf(name, sizeof name, "blk.%d.ffn_%s_exps.weight", l, exps[i]);
    add(w, jobs, n_jobs, name, TK_MATRIX, t, E, i == 2 ? H : F, i == 2 ? F : H, sh, seed);
  }
}

static uint32_t file_type(enum dtype t) {
  return t == DT_F16 ? 1 : t == DT_Q8_0 ? 7 : t == DT_Q4_K ? 15 /* MOSTLY_Q4_K_M */ : 2;
}

/* The type of a matrix in a model of type t: the Q4_K_M mix's Q6_K
 * layers (llama.cpp's "more bits": the first and last eighth of the
 * layers and every third one between) for attn_v and ffn_down. */
static enum dtype layer_type(enum dtype t, const char *part, int l, int n_layers) {
  if (t != DT_Q4_K || (strcmp(part, "attn_v") != 0 && strcmp(part, "ffn_down") != 0)) return t;
  bool more = l < n_layers / 8 || l >= 7 * n_layers / 8 || (l - n_layers / 8) % 3 == 2;
  return more ? DT_Q6_K : DT_Q4_K;
}

static int put_tokenizer(gguf_writer *w, const shape_desc *sh, bool llama, char *err) {
  size_t n = (size_t)sh->vocab;
  char **strs = mem_calloc(n, sizeof *strs);
  int32_t *types = mem_calloc(n, sizeof *types);
  char *pool = mem_alloc(n * 24);
  int rc = GLOAM_ENOMEM;
  if (!strs || !types || !pool) goto done;
  for (size_t i = 0; i < n; i++) {
    strs[i] = pool + i * 24;
    snprintf(strs[i], 24, "<t%u>", (unsigned)i);
    types[i] = 1;
  }
  types[sh->bos] = types[sh->eos] = 3; /* control */
  const char *merge = "<t1> <t2>";
  gguf_w_str(w, "tokenizer.ggml.model", "gpt2");
  gguf_w_str(w, "tokenizer.ggml.pre", llama ? "llama-bpe" : "qwen2");
  gguf_w_arr_str(w, "tokenizer.ggml.tokens", (const char *const *)strs, NULL, n);
  gguf_w_arr(w, "tokenizer.ggml.token_type", GGUF_I32, types, n);
  gguf_w_arr_str(w, "tokenizer.ggml.merges", &merge, NULL, 1);
  gguf_w_u32(w, "tokenizer.ggml.bos_token_id", (uint32_t)sh->bos);
  rc = gguf_w_u32(w, "tokenizer.ggml.eos_token_id", (uint32_t)sh->eos);
done:
  mem_free(strs);
  mem_free(types);
  mem_free(pool);
  return rc < 0 ? err_set(err, rc, "make-random: tokenizer metadata") : 0;
}

int make_random_gguf(const char *path, const make_random_opts *o, char *err) {
  char scratch[GLOAM_ERR_LEN];
  if (!err) err = scratch;
  err_clear(err);
  if (!path || !o || !o->arch || !o->shape) return err_set(err, GLOAM_EINVAL, "NULL argument");
  bool llama = strcmp(o->arch, "llama") == 0, moe = strcmp(o->arch, "qwen3_moe") == 0;
  if (!llama && !moe && strcmp(o->arch, "qwen3") != 0)
    return err_set(err, GLOAM_EINVAL, "make-random: arch must be qwen3, qwen3_moe or llama");
  if (o->type != DT_F16 && o->type != DT_Q8_0 && o->type != DT_Q4_0 && o->type != DT_Q4_K)
    return err_set(err, GLOAM_EINVAL, "make-random: dtype must be f16, q8_0, q4_0 or q4_k_m");
  if (o->type == DT_Q4_K && strcmp(o->arch, "qwen3_moe") == 0)
    return err_set(err, GLOAM_EINVAL, "make-random: q4_k_m is for the dense shapes");
  const shape_desc *sh = NULL;
  for (size_t i = 0; i < sizeof k_shapes / sizeof k_shapes[0]; i++)
    if (strcmp(o->shape, k_shapes[i].name) == 0) sh = &k_shapes[i];
  if (!sh) return err_set(err, GLOAM_EINVAL, "make-random: unknown shape %s", o->shape);
  if (moe != (sh->n_experts > 0))
    return err_set(err, GLOAM_EINVAL, "make-random: shape %s is %s", o->shape,
                   moe ? "dense (use --arch qwen3)" : "a MoE (use --arch qwen3_moe)");

  int max_jobs = sh->n_layers * 14 + 4, n_jobs = 0;
  t_job *jobs = mem_calloc((size_t)max_jobs, sizeof *jobs);
  gguf_writer *w = gguf_writer_new();
  int rc = GLOAM_ENOMEM;
  if (!jobs || !w) {
    rc = err_set(err, GLOAM_ENOMEM, "out of memory");
    goto done;
  }
  const char *a = llama ? "llama" : moe ? "qwen3moe" : "qwen3";
  char k[128];
#define AK(suffix) (snprintf(k, sizeof k, "%s.%s", a, suffix), k)
  gguf_w_str(w, "general.architecture", a);
  gguf_w_str(w, "general.name", sh->name);
  gguf_w_u32(w, "general.file_type", file_type(o->type));
  if (o->type != DT_F16) gguf_w_u32(w, "general.quantization_version", 2);
  gguf_w_u32(w, AK("context_length"), (uint32_t)sh->max_pos);
  gguf_w_u32(w, AK("embedding_length"), (uint32_t)sh->hidden);
  gguf_w_u32(w, AK("block_count"), (uint32_t)sh->n_layers);
  gguf_w_u32(w, AK("feed_forward_length"), (uint32_t)sh->ffn);
  gguf_w_u32(w, AK("attention.head_count"), (uint32_t)sh->n_heads);
  gguf_w_u32(w, AK("attention.head_count_kv"), (uint32_t)sh->n_kv_heads);
  gguf_w_u32(w, AK("attention.key_length"), (uint32_t)sh->head_dim);
  gguf_w_u32(w, AK("attention.value_length"), (uint32_t)sh->head_dim);
  gguf_w_f32(w, AK("attention.layer_norm_rms_epsilon"), sh->rms_eps);
  gguf_w_f32(w, AK("rope.freq_base"), sh->theta);
  gguf_w_u32(w, AK("rope.dimension_count"), (uint32_t)sh->head_dim);
  gguf_w_u32(w, AK("vocab_size"), (uint32_t)sh->vocab);
  if (moe) {
    gguf_w_u32(w, AK("expert_count"), (uint32_t)sh->n_experts);
    gguf_w_u32(w, AK("expert_used_count"), (uint32_t)sh->n_used);
    gguf_w_u32(w, AK("expert_feed_forward_length"), (uint32_t)sh->expert_ffn);
  }
#undef AK
  if ((rc = put_tokenizer(w, sh, llama, err)) < 0) goto done;

  int H = sh->hidden, F = sh->ffn, hd = sh->head_dim;
  int q_out = sh->n_heads * hd, kv_out = sh->n_kv_heads * hd;
  enum dtype t = o->type;
  if (sh->llama3)
    add(w, jobs, &n_jobs, "rope_freqs.weight", TK_ROPE_FREQS, DT_F32, 0, 0, hd / 2, sh, o->seed);
  add(w, jobs, &n_jobs, "token_embd.weight", TK_MATRIX, t == DT_Q4_K ? DT_Q6_K : t, 0, sh->vocab, H,
      sh, o->seed); /* tied: the output head, which Q4_K_M keeps in Q6_K */
  add(w, jobs, &n_jobs, "output_norm.weight", TK_ONES, DT_F32, 0, 0, H, sh, o->seed);
  for (int l = 0; l < sh->n_layers; l++) {
    static const struct {
      const char *name;
      int kind;       /* 0: norm [H], 1: norm [hd], 2: matrix */
      int rows, cols; /* 1: H, 2: F, 3: q_out, 4: kv_out */
    } parts[] = {
        {"attn_norm", 0, 0, 1},   {"attn_q", 2, 3, 1},      {"attn_k", 2, 4, 1},
        {"attn_v", 2, 4, 1},      {"attn_output", 2, 1, 3}, {"attn_q_norm", 1, 0, 0},
        {"attn_k_norm", 1, 0, 0}, {"ffn_norm", 0, 0, 1},    {"ffn_gate", 2, 2, 1},
        {"ffn_up", 2, 2, 1},      {"ffn_down", 2, 1, 2},
    };
    for (size_t p = 0; p < sizeof parts / sizeof parts[0]; p++) {
      if (parts[p].kind == 1 && llama) continue;
      if (moe && strncmp(parts[p].name, "ffn_", 4) == 0 && parts[p].kind == 2) continue;
      int dims[5] = {0, H, F, q_out, kv_out};
      char name[64];
      snprintf(name, sizeof name, "blk.%d.%s.weight", l, parts[p].name);
      if (parts[p].kind == 2)
        add(w, jobs, &n_jobs, name, TK_MATRIX, layer_type(t, parts[p].name, l, sh->n_layers), 0,
            dims[parts[p].rows], dims[parts[p].cols], sh, o->seed);
      else
        add(w, jobs, &n_jobs, name, TK_ONES, DT_F32, 0, 0, parts[p].kind == 1 ? hd : H, sh,
            o->seed);
    }
    if (moe) add_experts(w, jobs, &n_jobs, l, sh, t, o->seed);
  }
  rc = gguf_writer_write(w, path, err);
done:
  gguf_writer_free(w);
  mem_free(jobs);
  return rc;
}

/* ------------------------------------------------------------ demo model */

/* The demo model's shape: Qwen3 with the real vocabulary, tiny otherwise. */
enum { D_LAYERS = 2, D_H = 64, D_F = 128, D_HEADS = 4, D_KV = 2, D_HD = 16, D_V = 151936 };
enum { D_BOS = 151643, D_EOS = 151645, D_MAX_POS = 4096 };
#define D_MAX_TOKENIZER ((size_t)64 << 20)

typedef struct demo_tensor {
  char name[64];
  int64_t rows, cols; /* cols 0: a vector of rows */
  bool ones;
} demo_tensor;

static int demo_tensors(demo_tensor *t) {
  int n = 0;
#define T(r, c, o, ...)                                                                  \
  (snprintf(t[n].name, sizeof t[n].name, __VA_ARGS__), t[n].rows = (r), t[n].cols = (c), \
   t[n++].ones = (o))
  T(D_V, D_H, false, "model.embed_tokens.weight");
  for (int l = 0; l < D_LAYERS; l++) {
    T(D_H, 0, true, "model.layers.%d.input_layernorm.weight", l);
    T(D_HEADS * D_HD, D_H, false, "model.layers.%d.self_attn.q_proj.weight", l);
    T(D_KV * D_HD, D_H, false, "model.layers.%d.self_attn.k_proj.weight", l);
    T(D_KV * D_HD, D_H, false, "model.layers.%d.self_attn.v_proj.weight", l);
    T(D_H, D_HEADS * D_HD, false, "model.layers.%d.self_attn.o_proj.weight", l);
    T(D_HD, 0, true, "model.layers.%d.self_attn.q_norm.weight", l);
    T(D_HD, 0, true, "model.layers.%d.self_attn.k_norm.weight", l);
    T(D_H, 0, true, "model.layers.%d.post_attention_layernorm.weight", l);
    T(D_F, D_H, false, "model.layers.%d.mlp.gate_proj.weight", l);
    T(D_F, D_H, false, "model.layers.%d.mlp.up_proj.weight", l);
    T(D_H, D_F, false, "model.layers.%d.mlp.down_proj.weight", l);
  }
  T(D_H, 0, true, "model.norm.weight");
#undef T
  return n;
}

#define D_MAX_TENSORS (2 + D_LAYERS * 11)

static size_t demo_elems(const demo_tensor *t) {
  return (size_t)t->rows * (size_t)(t->cols ? t->cols : 1);
}

/* BF16 values: ones, or uniform in [-0.0346, 0.0346) (std 0.02, like
 * initializer_range); integer steps times one constant, so the bytes do not
 * depend on the compiler's floating-point contraction. */
static void demo_fill(const demo_tensor *t, uint64_t seed, uint8_t *dst) {
  size_t n = demo_elems(t);
  uint64_t s = seed * 0x9E3779B97F4A7C15ULL + 1;
  for (size_t i = 0; i < n; i++) {
    float v = 1.0f;
    if (!t->ones) v = (float)((int32_t)(rnd(&s) >> 48) - 32768) * (0.0346f / 32768.0f);
    bf16_bits b = f32_to_bf16(v);
    dst[2 * i] = (uint8_t)(b & 0xff);
    dst[2 * i + 1] = (uint8_t)(b >> 8);
  }
}

static int write_file(const char *path, const void *p, size_t n, char *err) {
  FILE *f = fopen(path, "wb");
  if (!f) return err_set(err, GLOAM_EIO, "make-demo: cannot create %s", path);
  size_t w = fwrite(p, 1, n, f);
  if (fclose(f) != 0 || w != n) return err_set(err, GLOAM_EIO, "make-demo: writing %s", path);
  return 0;
}

static int write_json(const char *path, json_t *j, char *err) {
  if (!j) return err_set(err, GLOAM_ENOMEM, "make-demo: out of memory");
  char *s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
  json_decref(j);
  if (!s) return err_set(err, GLOAM_ENOMEM, "make-demo: out of memory");
  size_t n = strlen(s);
  s[n] = '\n'; /* json_dumps leaves the NUL; write it as the final newline */
  int rc = write_file(path, s, n + 1, err);
  free(s);
  return rc;
}

static json_t *demo_config(void) {
  return json_pack(
      "{s:[s], s:b, s:f, s:i, s:i, s:s, s:i, s:f, s:i, s:i, s:i, s:s, s:i, s:i, s:i, s:f, s:f,"
      " s:n, s:b, s:s, s:b, s:b, s:i}",
      "architectures", "Qwen3ForCausalLM", "attention_bias", 0, "attention_dropout", 0.0,
      "bos_token_id", D_BOS, "eos_token_id", D_EOS, "hidden_act", "silu", "hidden_size", D_H,
      "initializer_range", 0.02, "intermediate_size", D_F, "max_position_embeddings", D_MAX_POS,
      "max_window_layers", D_LAYERS, "model_type", "qwen3", "num_attention_heads", D_HEADS,
      "num_hidden_layers", D_LAYERS, "num_key_value_heads", D_KV, "rms_norm_eps", 1e-6,
      "rope_theta", 1000000.0, "rope_scaling", "tie_word_embeddings", 1, "torch_dtype", "bfloat16",
      "use_cache", 1, "use_sliding_window", 0, "vocab_size", D_V);
}

static int demo_safetensors(const char *path, uint64_t seed, char *err) {
  demo_tensor t[D_MAX_TENSORS];
  int n = demo_tensors(t);
  json_t *hdr = json_object();
  int rc = GLOAM_ENOMEM;
  char *hs = NULL;
  uint8_t *data = NULL;
  FILE *f = NULL;
  if (!hdr) goto fail;
  size_t off = 0, max_bytes = 0;
  for (int i = 0; i < n; i++) {
    size_t bytes = demo_elems(&t[i]) * 2;
    json_t *e = t[i].cols ? json_pack("{s:s, s:[I,I], s:[I,I]}", "dtype", "BF16", "shape",
                                      (json_int_t)t[i].rows, (json_int_t)t[i].cols, "data_offsets",
                                      (json_int_t)off, (json_int_t)(off + bytes))
                          : json_pack("{s:s, s:[I], s:[I,I]}", "dtype", "BF16", "shape",
                                      (json_int_t)t[i].rows, "data_offsets", (json_int_t)off,
                                      (json_int_t)(off + bytes));
    if (!e || json_object_set_new(hdr, t[i].name, e) < 0) goto fail;
    off += bytes;
    if (bytes > max_bytes) max_bytes = bytes;
  }
  json_t *meta = json_pack("{s:s}", "format", "pt");
  if (!meta || json_object_set_new(hdr, "__metadata__", meta) < 0) goto fail;
  hs = json_dumps(hdr, JSON_COMPACT | JSON_PRESERVE_ORDER);
  data = mem_alloc(max_bytes);
  if (!hs || !data) goto fail;
  size_t hl = strlen(hs), padded = (hl + 7) & ~(size_t)7; /* data 8-byte aligned */
  f = fopen(path, "wb");
  if (!f) {
    rc = err_set(err, GLOAM_EIO, "make-demo: cannot create %s", path);
    goto fail;
  }
  uint8_t len8[8];
  for (int i = 0; i < 8; i++) len8[i] = (uint8_t)((uint64_t)padded >> (8 * i));
  bool ok = fwrite(len8, 1, 8, f) == 8 && fwrite(hs, 1, hl, f) == hl;
  for (size_t i = hl; ok && i < padded; i++) ok = fputc(' ', f) != EOF;
  for (int i = 0; ok && i < n; i++) {
    size_t bytes = demo_elems(&t[i]) * 2;
    demo_fill(&t[i], seed + (uint64_t)i, data);
    ok = fwrite(data, 1, bytes, f) == bytes;
  }
  int cl = fclose(f);
  f = NULL;
  rc = ok && cl == 0 ? 0 : err_set(err, GLOAM_EIO, "make-demo: writing %s", path);
  if (rc == 0) goto done;
fail:
  if (rc == GLOAM_ENOMEM) err_set(err, rc, "make-demo: out of memory");
done:
  if (f) fclose(f);
  json_decref(hdr);
  free(hs);
  mem_free(data);
  return rc;
}

/* tokenizer.json (or .gz, gunzipped: gzread passes plain files through). */
static int demo_tokenizer(const char *tok_dir, const char *out_dir, char *err) {
  char in[4096], out[4096];
  snprintf(in, sizeof in, "%s/tokenizer.json.gz", tok_dir);
  struct stat st;
  if (stat(in, &st) != 0) snprintf(in, sizeof in, "%s/tokenizer.json", tok_dir);
  gzFile g = gzopen(in, "rb");
  if (!g) return err_set(err, GLOAM_ENOENT, "make-demo: cannot open %s", in);
  buf b;
  buf_init(&b, D_MAX_TOKENIZER);
  int rc = 0;
  char chunk[65536];
  int k;
  while ((k = gzread(g, chunk, sizeof chunk)) > 0)
    if ((rc = buf_append(&b, chunk, (size_t)k)) < 0) break;
  if (k < 0)
    rc = err_set(err, GLOAM_EFORMAT, "make-demo: %s: corrupt gzip data", in);
  else if (rc < 0)
    rc = err_set(err, rc, "make-demo: %s: too large", in);
  gzclose(g);
  snprintf(out, sizeof out, "%s/tokenizer.json", out_dir);
  if (rc == 0) rc = write_file(out, b.data, b.len, err);
  buf_reset(&b);
  snprintf(in, sizeof in, "%s/tokenizer_config.json", tok_dir);
  FILE *f = rc == 0 ? fopen(in, "rb") : NULL;
  if (rc == 0 && !f) rc = err_set(err, GLOAM_ENOENT, "make-demo: cannot open %s", in);
  size_t r;
  while (f && rc == 0 && (r = fread(chunk, 1, sizeof chunk, f)) > 0)
    rc = buf_append(&b, chunk, r) < 0 ? err_set(err, GLOAM_ETOOBIG, "make-demo: %s", in) : 0;
  if (f) {
    if (ferror(f) && rc == 0) rc = err_set(err, GLOAM_EIO, "make-demo: reading %s", in);
    fclose(f);
  }
  snprintf(out, sizeof out, "%s/tokenizer_config.json", out_dir);
  if (rc == 0) rc = write_file(out, b.data, b.len, err);
  buf_deinit(&b);
  return rc;
}

int make_demo_hf(const char *dir, const char *tok_dir, uint64_t seed, char *err) {
  char scratch[GLOAM_ERR_LEN], p[4096];
  if (!err) err = scratch;
  err_clear(err);
  if (!dir || !tok_dir) return err_set(err, GLOAM_EINVAL, "NULL argument");
  if (strlen(dir) > 3000 || strlen(tok_dir) > 3000)
    return err_set(err, GLOAM_EINVAL, "make-demo: path too long");
  if (mkdir(dir, 0755) != 0 && errno != EEXIST)
    return err_set(err, GLOAM_EIO, "make-demo: cannot create %s", dir);
  int rc;
  snprintf(p, sizeof p, "%s/config.json", dir);
  if ((rc = write_json(p, demo_config(), err)) < 0) return rc;
  snprintf(p, sizeof p, "%s/generation_config.json", dir);
  if ((rc = write_json(p,
                       json_pack("{s:i, s:[i,i], s:i}", "bos_token_id", D_BOS, "eos_token_id",
                                 D_EOS, D_BOS, "pad_token_id", D_BOS),
                       err)) < 0)
    return rc;
  snprintf(p, sizeof p, "%s/model.safetensors", dir);
  if ((rc = demo_safetensors(p, seed, err)) < 0) return rc;
  return demo_tokenizer(tok_dir, dir, err);
}
