/* SPDX-License-Identifier: Apache-2.0
 *
 * engine/whisper.c: loading a Hugging Face Whisper checkpoint (see
 * whisper.h): config.json -> whisper_hparams, model.safetensors mapped and
 * every tensor checked for presence, dtype and exact shape before use.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/err.h"
#include "engine/whisper.h"

#define WHISPER_MAX_FILE ((size_t)64 << 30)

static int cfg_int(json_t *root, const char *key, int lo, int hi, int dflt, int *out, char *err) {
  json_t *v = json_object_get(root, key);
  if (!v || json_is_null(v)) {
    if (dflt < lo) return err_set(err, GLOAM_EFORMAT, "config.json: %s missing", key);
    *out = dflt;
    return 0;
  }
  if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
    return err_set(err, GLOAM_EUNSUPPORTED, "config.json: %s out of range", key);
  *out = (int)json_integer_value(v);
  return 0;
}

static int cfg_ids(json_t *root, const char *key, int vocab, int *ids, int *n, char *err) {
  json_t *a = json_object_get(root, key);
  *n = 0;
  if (!a || json_is_null(a)) return 0;
  if (!json_is_array(a) || json_array_size(a) > WHISPER_MAX_SUPPRESS)
    return err_set(err, GLOAM_EFORMAT, "config.json: %s must be a short array", key);
  for (size_t i = 0; i < json_array_size(a); i++) {
    json_t *v = json_array_get(a, i);
    if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) >= vocab)
      return err_set(err, GLOAM_EFORMAT, "config.json: %s has a bad id", key);
    ids[(*n)++] = (int)json_integer_value(v);
  }
  return 0;
}

static int parse_config(whisper_hparams *hp, json_t *root, char *err) {
  json_t *mt = json_object_get(root, "model_type");
  if (!json_is_string(mt) || strcmp(json_string_value(mt), "whisper") != 0)
    return err_set(err, GLOAM_EUNSUPPORTED, "config.json: model_type is not \"whisper\"");
  json_t *act = json_object_get(root, "activation_function");
  if (act && (!json_is_string(act) || strcmp(json_string_value(act), "gelu") != 0))
    return err_set(err, GLOAM_EUNSUPPORTED, "config.json: only activation \"gelu\" is supported");
  int rc;
  if ((rc = cfg_int(root, "d_model", 1, 8192, -1, &hp->d_model, err)) < 0 ||
      (rc = cfg_int(root, "num_mel_bins", 1, 512, 80, &hp->n_mels, err)) < 0 ||
      (rc = cfg_int(root, "max_source_positions", 1, 1 << 16, 1500, &hp->n_audio_ctx, err)) < 0 ||
      (rc = cfg_int(root, "max_target_positions", 8, 1 << 16, 448, &hp->n_text_ctx, err)) < 0 ||
      (rc = cfg_int(root, "vocab_size", 51864, 1 << 20, -1, &hp->vocab, err)) < 0 ||
      (rc = cfg_int(root, "encoder_layers", 1, WHISPER_MAX_LAYERS, -1, &hp->enc_layers, err)) < 0 ||
      (rc = cfg_int(root, "decoder_layers", 1, WHISPER_MAX_LAYERS, -1, &hp->dec_layers, err)) < 0 ||
      (rc = cfg_int(root, "encoder_attention_heads", 1, 256, -1, &hp->enc_heads, err)) < 0 ||
      (rc = cfg_int(root, "decoder_attention_heads", 1, 256, -1, &hp->dec_heads, err)) < 0 ||
      (rc = cfg_int(root, "encoder_ffn_dim", 1, 65536, -1, &hp->enc_ffn, err)) < 0 ||
      (rc = cfg_int(root, "decoder_ffn_dim", 1, 65536, -1, &hp->dec_ffn, err)) < 0 ||
      (rc = cfg_int(root, "decoder_start_token_id", 0, hp->vocab - 1, 50258, &hp->sot, err)) < 0 ||
      (rc = cfg_int(root, "eos_token_id", 0, hp->vocab - 1, 50257, &hp->eot, err)) < 0)
    return rc;
  if (hp->d_model % hp->enc_heads || hp->d_model % hp->dec_heads)
    return err_set(err, GLOAM_EUNSUPPORTED, "config.json: d_model not divisible by heads");
  hp->scale_embedding = json_is_true(json_object_get(root, "scale_embedding"));
  /* The multilingual layout: <|startoftranscript|>, languages, translate,
   * transcribe, startoflm, startofprev, nospeech, notimestamps, timestamps. */
  hp->multilingual = hp->vocab >= 51865;
  hp->n_langs = hp->vocab >= 51866 ? 100 : 99;
  hp->lang_base = hp->sot + 1;
  hp->translate = hp->lang_base + hp->n_langs;
  hp->transcribe = hp->translate + 1;
  hp->sot_prev = hp->translate + 3;
  hp->no_speech = hp->translate + 4;
  hp->no_timestamps = hp->translate + 5;
  hp->ts_begin = hp->translate + 6;
  if (hp->ts_begin + 1501 > hp->vocab)
    return err_set(err, GLOAM_EUNSUPPORTED, "config.json: not a Whisper vocabulary");
  if ((rc = cfg_ids(root, "begin_suppress_tokens", hp->vocab, hp->begin_suppress,
                    &hp->n_begin_suppress, err)) < 0 ||
      (rc = cfg_ids(root, "suppress_tokens", hp->vocab, hp->suppress, &hp->n_suppress, err)) < 0)
    return rc;
  return 0;
}

static int load_config(whisper_hparams *hp, const char *dir, char *err) {
  char path[4096];
  int n = snprintf(path, sizeof path, "%s/config.json", dir);
  if (n < 0 || (size_t)n >= sizeof path) return err_set(err, GLOAM_EINVAL, "path too long");
  json_error_t je;
  json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
  if (!root) {
    if (access(path, R_OK) != 0) return err_set(err, GLOAM_ENOENT, "%s: not found", path);
    return err_set(err, GLOAM_EFORMAT, "%s: line %d: %s", path, je.line, je.text);
  }
  int rc = json_is_object(root) ? parse_config(hp, root, err)
                                : err_set(err, GLOAM_EFORMAT, "config.json: not an object");
  json_decref(root);
  return rc;
}

static int map_file(whisper_model *m, const char *dir, char *err) {
  char path[4096];
  int n = snprintf(path, sizeof path, "%s/model.safetensors", dir);
  if (n < 0 || (size_t)n >= sizeof path) return err_set(err, GLOAM_EINVAL, "path too long");
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return err_set(err, errno == ENOENT ? GLOAM_ENOENT : GLOAM_EIO, "%s: %s", path,
                   strerror(errno));
  struct stat st;
  int rc = 0;
  if (fstat(fd, &st) != 0 || st.st_size <= 8 || (size_t)st.st_size > WHISPER_MAX_FILE) {
    rc = err_set(err, GLOAM_EFORMAT, "%s: bad size", path);
    goto out;
  }
  void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
  if (p == MAP_FAILED) {
    rc = err_set(err, GLOAM_EIO, "%s: mmap: %s", path, strerror(errno));
    goto out;
  }
  m->map = p;
  m->map_len = (size_t)st.st_size;
out:
  close(fd);
  return rc;
}

/* The tensor `name` with exactly the given shape (shape[n_dims]). */
static const void *find(const whisper_model *m, const char *name, int n_dims, const int64_t *shape,
                        enum dtype *type, char *err, int *rc) {
  for (int i = 0; i < m->st.n_tensors; i++) {
    const st_tensor *t = &m->st.tensors[i];
    if (strcmp(t->name, name) != 0) continue;
    bool ok = t->n_dims == n_dims;
    for (int d = 0; ok && d < n_dims; d++) ok = t->shape[d] == shape[d];
    if (!ok) break;
    if (t->type != DT_F32 && t->type != DT_F16 && t->type != DT_BF16) {
      *rc = err_set(err, GLOAM_EUNSUPPORTED, "tensor %s: unsupported dtype", name);
      return NULL;
    }
    *type = t->type;
    return m->map + m->st.data_offset + t->begin;
  }
  *rc = err_set(err, GLOAM_EFORMAT, "tensor %s: missing or wrong shape", name);
  return NULL;
}

static const float *to_f32(whisper_model *m, const char *name, int n_dims, const int64_t *shape,
                           char *err, int *rc) {
  enum dtype t;
  const void *src = find(m, name, n_dims, shape, &t, err, rc);
  if (!src) return NULL;
  int64_t n = 1;
  for (int d = 0; d < n_dims; d++) n *= shape[d];
  float *dst = arena_alloc(&m->mem, (size_t)n * sizeof(float));
  if (!dst) {
    *rc = err_set(err, GLOAM_ENOMEM, "out of memory");
    return NULL;
  }
  kern_dequantize_row(t, src, dst, n);
  return dst;
}

static int bind_lin(whisper_model *m, wlin *l, const char *pfx, const char *nm, int64_t out,
                    int64_t in, bool bias, char *err) {
  char name[256];
  int rc = 0;
  int64_t shape[2] = {out, in};
  snprintf(name, sizeof name, "%s.%s.weight", pfx, nm);
  l->w = find(m, name, 2, shape, &l->type, err, &rc);
  l->out = out;
  l->in = in;
  if (!l->w) return rc;
  l->b = NULL;
  if (bias) {
    snprintf(name, sizeof name, "%s.%s.bias", pfx, nm);
    if (!(l->b = to_f32(m, name, 1, &out, err, &rc))) return rc;
  }
  return 0;
}

static int bind_norm(whisper_model *m, wnorm *n, const char *pfx, const char *nm, char *err) {
  char name[256];
  int rc = 0;
  int64_t d = m->hp.d_model;
  snprintf(name, sizeof name, "%s%s.weight", pfx, nm);
  if (!(n->w = to_f32(m, name, 1, &d, err, &rc))) return rc;
  snprintf(name, sizeof name, "%s%s.bias", pfx, nm);
  if (!(n->b = to_f32(m, name, 1, &d, err, &rc))) return rc;
  return 0;
}

static int bind_attn(whisper_model *m, wattn *a, const char *pfx, char *err) {
  int64_t d = m->hp.d_model;
  int rc;
  if ((rc = bind_lin(m, &a->q, pfx, "q_proj", d, d, true, err)) < 0 ||
      (rc = bind_lin(m, &a->k, pfx, "k_proj", d, d, false, err)) < 0 ||
      (rc = bind_lin(m, &a->v, pfx, "v_proj", d, d, true, err)) < 0 ||
      (rc = bind_lin(m, &a->o, pfx, "out_proj", d, d, true, err)) < 0)
    return rc;
  return 0;
}

static int bind_layer(whisper_model *m, wlayer *l, const char *side, int i, int ffn, char *err) {
  char pfx[128], sub[160];
  int rc;
  snprintf(pfx, sizeof pfx, "model.%s.layers.%d.", side, i);
  snprintf(sub, sizeof sub, "%sself_attn", pfx);
  if ((rc = bind_norm(m, &l->ln_attn, pfx, "self_attn_layer_norm", err)) < 0 ||
      (rc = bind_attn(m, &l->attn, sub, err)) < 0 ||
      (rc = bind_norm(m, &l->ln_ffn, pfx, "final_layer_norm", err)) < 0)
    return rc;
  snprintf(sub, sizeof sub, "model.%s.layers.%d", side, i);
  if ((rc = bind_lin(m, &l->fc1, sub, "fc1", ffn, m->hp.d_model, true, err)) < 0 ||
      (rc = bind_lin(m, &l->fc2, sub, "fc2", m->hp.d_model, ffn, true, err)) < 0)
    return rc;
  if (strcmp(side, "decoder") == 0) {
    snprintf(sub, sizeof sub, "%sencoder_attn", pfx);
    if ((rc = bind_norm(m, &l->ln_cross, pfx, "encoder_attn_layer_norm", err)) < 0 ||
        (rc = bind_attn(m, &l->cross, sub, err)) < 0)
      return rc;
  }
  return 0;
}

static int bind_all(whisper_model *m, char *err) {
  const whisper_hparams *hp = &m->hp;
  int64_t d = hp->d_model;
  int rc = 0;
  /* conv weights [out, in, 3] are bound as [out, in * 3] matrices */
  int64_t c1[3] = {d, hp->n_mels, 3}, c2[3] = {d, d, 3};
  enum dtype t;
  if (!(m->conv1.w = find(m, "model.encoder.conv1.weight", 3, c1, &t, err, &rc))) return rc;
  m->conv1.type = t;
  if (!(m->conv2.w = find(m, "model.encoder.conv2.weight", 3, c2, &t, err, &rc))) return rc;
  m->conv2.type = t;
  m->conv1.out = m->conv2.out = d;
  m->conv1.in = hp->n_mels * 3;
  m->conv2.in = d * 3;
  if (!(m->conv1.b = to_f32(m, "model.encoder.conv1.bias", 1, &d, err, &rc)) ||
      !(m->conv2.b = to_f32(m, "model.encoder.conv2.bias", 1, &d, err, &rc)))
    return rc;
  int64_t ep[2] = {hp->n_audio_ctx, d}, dp[2] = {hp->n_text_ctx, d}, te[2] = {hp->vocab, d};
  if (!(m->enc_pos = to_f32(m, "model.encoder.embed_positions.weight", 2, ep, err, &rc)) ||
      !(m->dec_pos = to_f32(m, "model.decoder.embed_positions.weight", 2, dp, err, &rc)) ||
      !(m->tok_emb = find(m, "model.decoder.embed_tokens.weight", 2, te, &m->tok_type, err, &rc)))
    return rc;
  if ((rc = bind_norm(m, &m->enc_ln, "model.encoder.", "layer_norm", err)) < 0 ||
      (rc = bind_norm(m, &m->dec_ln, "model.decoder.", "layer_norm", err)) < 0)
    return rc;
  for (int i = 0; i < hp->enc_layers; i++)
    if ((rc = bind_layer(m, &m->enc[i], "encoder", i, hp->enc_ffn, err)) < 0) return rc;
  for (int i = 0; i < hp->dec_layers; i++)
    if ((rc = bind_layer(m, &m->dec[i], "decoder", i, hp->dec_ffn, err)) < 0) return rc;
  return 0;
}

int whisper_model_load(whisper_model **out, const char *dir, int n_threads, char *err) {
  *out = NULL;
  whisper_model *m = mem_calloc(1, sizeof *m);
  if (!m) return err_set(err, GLOAM_ENOMEM, "out of memory");
  arena_init(&m->mem, 1 << 20, SIZE_MAX);
  int rc;
  whisper_mel_params mp;
  if ((rc = load_config(&m->hp, dir, err)) < 0 || (rc = map_file(m, dir, err)) < 0 ||
      (rc = st_parse(m->map, m->map_len, &m->st, err)) < 0 || (rc = bind_all(m, err)) < 0 ||
      (rc = whisper_mel_params_load(&mp, dir, err)) < 0)
    goto fail;
  if (mp.n_mels != m->hp.n_mels || mp.n_frames != 2 * m->hp.n_audio_ctx) {
    rc = err_set(err, GLOAM_EFORMAT, "preprocessor_config.json does not match config.json");
    goto fail;
  }
  if ((rc = whisper_mel_new(&m->mel, &mp, err)) < 0) goto fail;
  m->pool = kern_pool_new(n_threads > 0 ? n_threads : 1);
  if (!m->pool) {
    rc = err_set(err, GLOAM_ENOMEM, "cannot start the thread pool");
    goto fail;
  }
  *out = m;
  return 0;
fail:
  whisper_model_free(m);
  return rc;
}

void whisper_model_free(whisper_model *m) {
  if (!m) return;
  kern_pool_free(m->pool);
  whisper_mel_free(m->mel);
  st_header_deinit(&m->st);
  if (m->map) munmap(m->map, m->map_len);
  arena_deinit(&m->mem);
  mem_free(m);
}
