/* SPDX-License-Identifier: Apache-2.0
 *
 * engine/make_random_janus.c: random-weight Janus-Pro checkpoints
 * (make_random_janus.h). The tensor list comes from the loaders
 * themselves: config_for_each_tensor() for the language model (renamed
 * under "model.language_model."), vq_decoder_walk() for the decoder, plus
 * the generation embeddings / aligner / head, so the file always matches
 * what gloam_image_model_load() binds.
 */
#include "engine/make_random_janus.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "core/alloc.h"
#include "core/err.h"
#include "engine/config.h"
#include "engine/janus.h"

#define MRJ_MAX_TENSORS 4096
#define MRJ_CHUNK ((size_t)1 << 20) /* values generated per write */

typedef struct jshape {
  const char *name;
  int layers, hidden, ffn, heads;
} jshape;

static const jshape k_jshapes[] = {
    {"janus-pro-1b", 24, 2048, 5632, 16},
    {"janus-pro-7b", 30, 4096, 11008, 32},
};

typedef struct mt {
  char *name;
  int nd;
  int64_t shape[4];
} mt;

typedef struct mt_list {
  mt *t;
  int n;
} mt_list;

static int collect(void *ctx, const char *name, int nd, const int64_t *shape) {
  mt_list *l = ctx;
  if (l->n == MRJ_MAX_TENSORS || nd < 1 || nd > 4) return GLOAM_EINVAL;
  mt *t = &l->t[l->n];
  const char *lm = strncmp(name, "model.", 6) == 0 && strncmp(name, "model.vqmodel.", 14) != 0 &&
                           strncmp(name, "model.generation_", 17) != 0
                       ? "model.language_model."
                       : "";
  size_t len = strlen(lm) + strlen(name) - (lm[0] ? 6 : 0) + 1;
  if (!(t->name = mem_alloc(len))) return GLOAM_ENOMEM;
  snprintf(t->name, len, "%s%s", lm, lm[0] ? name + 6 : name);
  t->nd = nd;
  memcpy(t->shape, shape, sizeof(int64_t) * (size_t)nd);
  l->n++;
  return 0;
}

static json_t *janus_config(const jshape *s) {
  return json_pack(
      "{s:[s], s:s, s:b, s:i,"
      " s:{s:s, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:f, s:{s:f, s:s}, s:b, s:b, s:i, s:i},"
      " s:{s:s, s:i, s:i, s:i},"
      " s:{s:s, s:i, s:i, s:i, s:i, s:i, s:[i,i,i,i,i], s:i, s:i, s:i, s:i, s:i, s:s, s:i}}",
      "architectures", "JanusForConditionalGeneration", "model_type", "janus",
      "tie_word_embeddings", 1, "image_token_id", 100581, "text_config", "model_type", "llama",
      "hidden_size", s->hidden, "intermediate_size", s->ffn, "num_hidden_layers", s->layers,
      "num_attention_heads", s->heads, "num_key_value_heads", s->heads, "head_dim",
      s->hidden / s->heads, "vocab_size", 102400, "max_position_embeddings", 16384, "rms_norm_eps",
      1e-6, "rope_parameters", "rope_theta", 10000.0, "rope_type", "default", "attention_bias", 0,
      "mlp_bias", 0, "bos_token_id", 100000, "eos_token_id", 100001, "vision_config", "model_type",
      "janus_vision_model", "image_size", 384, "patch_size", 16, "num_image_tokens", 576,
      "vq_config", "model_type", "janus_vqgan", "embed_dim", 8, "num_embeddings", 16384,
      "latent_channels", 256, "base_channels", 128, "num_res_blocks", 2, "channel_multiplier", 1, 1,
      2, 2, 4, "num_patches", 24, "out_channels", 3, "image_token_embed_dim", s->hidden,
      "projection_dim", s->hidden, "num_hidden_layers", 2, "hidden_act", "gelu", "in_channels", 3);
}

static int write_text(const char *dir, const char *file, const char *text, char *err) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", dir, file);
  FILE *f = fopen(path, "wb");
  size_t n = strlen(text);
  bool ok = f && fwrite(text, 1, n, f) == n;
  if (f && fclose(f) != 0) ok = false;
  return ok ? 0 : err_set(err, GLOAM_EIO, "make-random: cannot write %s", path);
}

/* The tensors: heads, language model, VQ decoder. */
static int list_tensors(const char *cfg_text, mt_list *l, char *err) {
  model_config mc;
  janus_cfg jc;
  int rc;
  if ((rc = config_parse(&mc, cfg_text, strlen(cfg_text), NULL, 0, err)) < 0 ||
      (rc = janus_cfg_parse(&jc, cfg_text, strlen(cfg_text), err)) < 0)
    return rc;
  int64_t H = mc.hidden, V = jc.n_codes, E = jc.embed_dim;
  const struct {
    const char *name;
    int64_t r, c; /* c 0: a vector */
  } heads[] = {
      {"model.generation_embeddings.weight", V, E},
      {"model.generation_aligner.fc1.weight", H, E},
      {"model.generation_aligner.fc1.bias", H, 0},
      {"model.generation_aligner.hidden_layers.0.weight", H, H},
      {"model.generation_aligner.hidden_layers.0.bias", H, 0},
      {"model.generation_head.proj_out.weight", H, H},
      {"model.generation_head.proj_out.bias", H, 0},
      {"model.generation_head.vision_head.weight", V, H},
      {"model.generation_head.vision_head.bias", V, 0},
  };
  for (size_t i = 0; i < sizeof heads / sizeof heads[0]; i++) {
    int64_t sh[2] = {heads[i].r, heads[i].c};
    if ((rc = collect(l, heads[i].name, heads[i].c ? 2 : 1, sh)) < 0) return rc;
  }
  if ((rc = config_for_each_tensor(&mc, collect, l)) < 0 ||
      (rc = vq_decoder_walk(&jc, collect, l)) < 0)
    return err_set(err, rc, "make-random: listing tensors");
  return 0;
}

static size_t elems(const mt *t) {
  size_t n = 1;
  for (int i = 0; i < t->nd; i++) n *= (size_t)t->shape[i];
  return n;
}

static bool ends_with(const char *s, const char *suf) {
  size_t a = strlen(s), b = strlen(suf);
  return a >= b && strcmp(s + a - b, suf) == 0;
}

/* Header JSON: dtype, shape, data_offsets per tensor, in list order. */
static char *st_header(const mt_list *l, enum dtype t, size_t *data_len) {
  json_t *h = json_object();
  size_t off = 0;
  for (int i = 0; h && i < l->n; i++) {
    json_t *shape = json_array();
    for (int d = 0; d < l->t[i].nd; d++)
      json_array_append_new(shape, json_integer(l->t[i].shape[d]));
    size_t nb = elems(&l->t[i]) * 2;
    json_t *e = json_pack("{s:s, s:o, s:[I,I]}", "dtype", t == DT_BF16 ? "BF16" : "F16", "shape",
                          shape, "data_offsets", (json_int_t)off, (json_int_t)(off + nb));
    if (!e || json_object_set_new(h, l->t[i].name, e) < 0) {
      json_decref(h);
      return NULL;
    }
    off += nb;
  }
  char *s = h ? json_dumps(h, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
  json_decref(h);
  *data_len = off;
  return s;
}

static uint64_t mix64(uint64_t *x) {
  uint64_t z = (*x += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

/* One tensor's values: 1-D weights one (norms), biases zero, the rest
 * uniform in [-0.0346, 0.0346) (std 0.02). */
static bool write_values(FILE *f, const mt *t, enum dtype dt, uint64_t seed, uint16_t *buf) {
  size_t n = elems(t);
  bool ones = t->nd == 1 && ends_with(t->name, ".weight"), zeros = ends_with(t->name, ".bias");
  uint64_t s = seed;
  for (size_t done = 0; done < n;) {
    size_t k = n - done < MRJ_CHUNK ? n - done : MRJ_CHUNK;
    for (size_t i = 0; i < k; i++) {
      float v = ones    ? 1.0f
                : zeros ? 0.0f
                        : (float)((int32_t)(mix64(&s) >> 48) - 32768) * (0.0346f / 32768.0f);
      buf[i] = dt == DT_BF16 ? f32_to_bf16(v) : f32_to_f16(v);
    }
    if (fwrite(buf, 2, k, f) != k) return false; /* little-endian hosts only (x86, arm64) */
    done += k;
  }
  return true;
}

static int write_st(const char *dir, const mt_list *l, enum dtype t, uint64_t seed, char *err) {
  char path[4096];
  snprintf(path, sizeof path, "%s/model.safetensors", dir);
  size_t data_len;
  char *hs = st_header(l, t, &data_len);
  uint16_t *buf = mem_alloc(MRJ_CHUNK * sizeof(uint16_t));
  FILE *f = hs && buf ? fopen(path, "wb") : NULL;
  int rc = 0;
  if (!hs || !buf)
    rc = err_set(err, GLOAM_ENOMEM, "make-random: out of memory");
  else if (!f)
    rc = err_set(err, GLOAM_EIO, "make-random: cannot create %s", path);
  if (rc == 0) {
    size_t hl = strlen(hs), padded = (hl + 7) & ~(size_t)7;
    uint64_t h8 = padded; /* little-endian length */
    bool ok = fwrite(&h8, 8, 1, f) == 1 && fwrite(hs, 1, hl, f) == hl;
    for (size_t i = hl; ok && i < padded; i++) ok = fputc(' ', f) != EOF;
    for (int i = 0; ok && i < l->n; i++)
      ok = write_values(f, &l->t[i], t, seed * 7919 + (uint64_t)i, buf);
    if (fclose(f) != 0) ok = false;
    f = NULL;
    if (!ok) rc = err_set(err, GLOAM_EIO, "make-random: writing %s", path);
  }
  if (f) fclose(f);
  free(hs);
  mem_free(buf);
  return rc;
}

int make_random_janus(const char *dir, const char *shape, enum dtype t, uint64_t seed, char *err) {
  char scratch[GLOAM_ERR_LEN];
  if (!err) err = scratch;
  err_clear(err);
  if (!dir || !shape || strlen(dir) > 3000) return err_set(err, GLOAM_EINVAL, "bad arguments");
  if (t != DT_BF16 && t != DT_F16)
    return err_set(err, GLOAM_EINVAL, "make-random: janus weights are bf16 or f16");
  const jshape *s = NULL;
  for (size_t i = 0; i < sizeof k_jshapes / sizeof k_jshapes[0]; i++)
    if (strcmp(shape, k_jshapes[i].name) == 0) s = &k_jshapes[i];
  if (!s) return err_set(err, GLOAM_EINVAL, "make-random: shape janus-pro-1b or janus-pro-7b");
  if (mkdir(dir, 0755) != 0 && errno != EEXIST)
    return err_set(err, GLOAM_EIO, "make-random: cannot create %s", dir);
  json_t *cj = janus_config(s);
  char *cfg = cj ? json_dumps(cj, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
  json_decref(cj);
  mt_list l = {.t = mem_calloc(MRJ_MAX_TENSORS, sizeof(mt))};
  int rc = 0;
  if (!cfg || !l.t) rc = err_set(err, GLOAM_ENOMEM, "out of memory");
  if (rc == 0) rc = write_text(dir, "config.json", cfg, err);
  if (rc == 0)
    rc = write_text(dir, "generation_config.json",
                    "{\"bos_token_id\": 100000, \"eos_token_id\": 100001, \"pad_token_id\": 100015,"
                    " \"generation_kwargs\": {\"boi_token_id\": 100016}}\n",
                    err);
  if (rc == 0) rc = list_tensors(cfg, &l, err);
  if (rc == 0) rc = write_st(dir, &l, t, seed, err);
  for (int i = 0; l.t && i < l.n; i++) mem_free(l.t[i].name);
  mem_free(l.t);
  free(cfg);
  return rc;
}
