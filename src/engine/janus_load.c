/* SPDX-License-Identifier: Apache-2.0
 *
 * engine/janus_load.c: loading a Janus checkpoint for image generation
 * (gloam/image.h): the language model through gloam_model_load() (config.c
 * reads text_config), vq_config, the generation embeddings / aligner /
 * head bound from the same tensors, the VQ decoder (vq_decoder.c), the
 * optional tokenizer, and the special tokens of the unconditional branch.
 */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/err.h"
#include "engine/config.h"
#include "engine/janus.h"

#define NAME_LEN 160

gloam_image_model_params gloam_image_model_default_params(void) {
  gloam_image_model_params p = {.quantize = GLOAM_QUANT_NONE, .n_threads = 1, .kv_f16 = false};
  return p;
}

static int vq_int(const json_t *o, const char *key, int lo, int hi, int *out, char *err) {
  const json_t *v = json_object_get(o, key);
  if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
    return err_set(err, GLOAM_EFORMAT, "vq_config: \"%s\" missing or outside [%d, %d]", key, lo,
                   hi);
  *out = (int)json_integer_value(v);
  return 0;
}

static int parse_vq(janus_cfg *c, const json_t *vq, char *err) {
  const struct {
    const char *key;
    int *dst, lo, hi;
  } ints[] = {
      {"num_embeddings", &c->n_codes, 1, 1 << 20},
      {"embed_dim", &c->embed_dim, 1, 4096},
      {"latent_channels", &c->latent, 1, 4096},
      {"base_channels", &c->base, JANUS_GROUPS, 4096},
      {"num_res_blocks", &c->n_res, 1, JANUS_MAX_RES},
      {"out_channels", &c->out_ch, 3, 3},
      {"num_patches", &c->grid, 1, JANUS_MAX_GRID},
      {"image_token_embed_dim", &c->head_in, 1, CONFIG_MAX_HIDDEN},
      {"projection_dim", &c->proj, 1, CONFIG_MAX_HIDDEN},
      {"num_hidden_layers", &c->aligner_layers, 1, JANUS_MAX_ALIGNER},
  };
  int rc;
  for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++)
    if ((rc = vq_int(vq, ints[i].key, ints[i].lo, ints[i].hi, ints[i].dst, err)) < 0) return rc;
  const json_t *cm = json_object_get(vq, "channel_multiplier");
  size_t n = json_array_size(cm);
  if (!json_is_array(cm) || n < 1 || n > JANUS_MAX_LEVELS)
    return err_set(err, GLOAM_EFORMAT, "vq_config: bad channel_multiplier");
  c->n_levels = (int)n;
  for (size_t i = 0; i < n; i++) {
    const json_t *v = json_array_get(cm, i);
    if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 64 ||
        (c->base * json_integer_value(v)) % JANUS_GROUPS != 0)
      return err_set(err, GLOAM_EFORMAT, "vq_config: bad channel_multiplier[%zu]", i);
    c->mult[i] = (int)json_integer_value(v);
  }
  if (c->grid << (c->n_levels - 1) > 4096)
    return err_set(err, GLOAM_EFORMAT, "vq_config: image larger than 4096 pixels");
  const char *act = json_string_value(json_object_get(vq, "hidden_act"));
  if (act && strcmp(act, "gelu") != 0)
    return err_set(err, GLOAM_EUNSUPPORTED, "vq_config: hidden_act \"%.40s\" not supported", act);
  return 0;
}

int janus_cfg_parse(janus_cfg *c, const char *text, size_t len, char *err) {
  memset(c, 0, sizeof *c);
  json_error_t je;
  json_t *j = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
  if (!j) return err_set(err, GLOAM_EFORMAT, "config.json: line %d: %.80s", je.line, je.text);
  int rc;
  const char *mt = json_string_value(json_object_get(j, "model_type"));
  const json_t *vq = json_object_get(j, "vq_config");
  if (!mt || strcmp(mt, "janus") != 0 || !json_is_object(json_object_get(j, "text_config")))
    rc = err_set(err, GLOAM_EUNSUPPORTED, "config.json: not a Janus checkpoint (model_type %.40s)",
                 mt ? mt : "missing");
  else if (!json_is_object(vq))
    rc = err_set(err, GLOAM_EFORMAT, "config.json: no vq_config object");
  else
    rc = parse_vq(c, vq, err);
  json_decref(j);
  return rc;
}

/* name.weight [rows, cols] in its stored type and name.bias [rows]. */
static int linear(gloam_image_model *im, janus_linear *l, const char *name, int64_t rows,
                  int64_t cols, char *err) {
  char n[NAME_LEN];
  snprintf(n, sizeof n, "%s.weight", name);
  const tensor *t = model_files_tensor(im->lm->mf, n);
  if (!t) return err_set(err, GLOAM_ENOENT, "missing tensor %s", n);
  size_t rb = t->type < DT_COUNT && t->type != DT_Q8_K ? dtype_row_bytes(t->type, cols) : 0;
  if (t->n_dims != 2 || t->shape[0] != rows || t->shape[1] != cols || rb == 0 ||
      t->n_bytes / rb < (size_t)rows)
    return err_set(err, GLOAM_EFORMAT, "tensor %s: not [%lld, %lld]", n, (long long)rows,
                   (long long)cols);
  l->w = (eng_mat){.type = t->type, .data = t->data, .rows = rows, .cols = cols};
  snprintf(n, sizeof n, "%s.bias", name);
  return janus_tensor_f32(&l->b, im->lm->mf, &im->ar, n, 1, &rows, err);
}

static int bind_heads(gloam_image_model *im, char *err) {
  const janus_cfg *c = &im->cfg;
  int H = im->lm->cfg->hidden, rc;
  if (c->head_in != H || c->proj != H)
    return err_set(err, GLOAM_EFORMAT,
                   "vq_config: image_token_embed_dim %d / projection_dim %d != hidden size %d",
                   c->head_in, c->proj, H);
  char n[NAME_LEN];
  const tensor *t = model_files_tensor(im->lm->mf, "model.generation_embeddings.weight");
  size_t rb =
      t && t->type < DT_COUNT && t->type != DT_Q8_K ? dtype_row_bytes(t->type, c->embed_dim) : 0;
  if (!t || t->n_dims != 2 || t->shape[0] != c->n_codes || t->shape[1] != c->embed_dim || rb == 0 ||
      t->n_bytes / rb < (size_t)c->n_codes)
    return err_set(err, t ? GLOAM_EFORMAT : GLOAM_ENOENT,
                   "tensor model.generation_embeddings.weight: missing or not [%d, %d]", c->n_codes,
                   c->embed_dim);
  im->gen_embed =
      (eng_mat){.type = t->type, .data = t->data, .rows = c->n_codes, .cols = c->embed_dim};
  if ((rc = linear(im, &im->aligner[0], "model.generation_aligner.fc1", c->proj, c->embed_dim,
                   err)) < 0)
    return rc;
  for (int i = 1; i < c->aligner_layers; i++) {
    snprintf(n, sizeof n, "model.generation_aligner.hidden_layers.%d", i - 1);
    if ((rc = linear(im, &im->aligner[i], n, c->proj, c->proj, err)) < 0) return rc;
  }
  if ((rc = linear(im, &im->head_proj, "model.generation_head.proj_out", c->proj, c->head_in,
                   err)) < 0)
    return rc;
  return linear(im, &im->head_out, "model.generation_head.vision_head", c->n_codes, c->proj, err);
}

/* pad_token_id and generation_kwargs.boi_token_id of generation_config.json
 * (the reference's generation mode), else the tokenizer's tokens. */
static void special_tokens(gloam_image_model *im, const char *dir) {
  im->pad_id = im->boi_id = -1;
  im->bos_id = gloam_model_bos(im->lm);
  char path[4096], *text = NULL, err[GLOAM_ERR_LEN];
  size_t len = 0;
  snprintf(path, sizeof path, "%s/generation_config.json", dir);
  if (config_read_file(path, CONFIG_MAX_JSON, &text, &len, err) == 0) {
    json_t *j = json_loadb(text, len, 0, NULL);
    const json_t *pad = json_object_get(j, "pad_token_id");
    const json_t *boi = json_object_get(json_object_get(j, "generation_kwargs"), "boi_token_id");
    if (json_is_integer(pad)) im->pad_id = (int32_t)json_integer_value(pad);
    if (json_is_integer(boi)) im->boi_id = (int32_t)json_integer_value(boi);
    json_decref(j);
    mem_free(text);
  }
  if (im->tok) {
    if (im->boi_id < 0) im->boi_id = gloam_tokenizer_token_to_id(im->tok, "<begin_of_image>");
    if (im->pad_id < 0) im->pad_id = gloam_tokenizer_role_id(im->tok, GLOAM_TOK_PAD);
    if (im->bos_id < 0) im->bos_id = gloam_tokenizer_role_id(im->tok, GLOAM_TOK_BOS);
  }
  int V = im->lm->cfg->vocab;
  if (im->pad_id >= V) im->pad_id = -1;
  if (im->boi_id >= V) im->boi_id = -1;
}

int gloam_image_model_load(gloam_image_model **out, const char *dir,
                           const gloam_image_model_params *params, char *err) {
  char scratch[GLOAM_ERR_LEN];
  if (!err) err = scratch;
  err_clear(err);
  if (!out || !dir) return err_set(err, GLOAM_EINVAL, "NULL argument");
  *out = NULL;
  gloam_image_model_params p = params ? *params : gloam_image_model_default_params();
  char path[4096], *text = NULL;
  size_t len = 0;
  if (snprintf(path, sizeof path, "%s/config.json", dir) >= (int)sizeof path)
    return err_set(err, GLOAM_EINVAL, "path too long");
  gloam_image_model *im = mem_calloc(1, sizeof *im);
  if (!im) return err_set(err, GLOAM_ENOMEM, "out of memory");
  arena_init(&im->ar, 64 * 1024, SIZE_MAX);
  im->n_threads = p.n_threads > 0 ? p.n_threads : 1;
  im->kv_f16 = p.kv_f16;
  int rc = config_read_file(path, CONFIG_MAX_JSON, &text, &len, err);
  if (rc < 0 || (rc = janus_cfg_parse(&im->cfg, text, len, err)) < 0) goto fail;
  gloam_model_params mp = gloam_model_default_params();
  mp.quantize = p.quantize;
  mp.n_threads = im->n_threads;
  if ((rc = gloam_model_load(&im->lm, dir, &mp, err)) < 0) goto fail;
  if ((rc = bind_heads(im, err)) < 0 ||
      (rc = vq_decoder_bind(&im->vq, &im->cfg, im->lm->mf, &im->ar, err)) < 0)
    goto fail;
  snprintf(path, sizeof path, "%s/tokenizer.json", dir);
  bool has_tok = access(path, R_OK) == 0;
  snprintf(path, sizeof path, "%s/tokenizer.json.gz", dir);
  has_tok = has_tok || access(path, R_OK) == 0;
  if (has_tok && (rc = gloam_tokenizer_load(&im->tok, dir, err)) < 0) goto fail;
  special_tokens(im, dir);
  mem_free(text);
  *out = im;
  return 0;
fail:
  mem_free(text);
  gloam_image_model_free(im);
  return rc;
}

void gloam_image_model_free(gloam_image_model *im) {
  if (!im) return;
  gloam_tokenizer_free(im->tok);
  gloam_model_free(im->lm);
  arena_deinit(&im->ar);
  mem_free(im);
}

int gloam_image_model_width(const gloam_image_model *im) {
  return im ? im->vq.out_res : 0;
}

int gloam_image_model_height(const gloam_image_model *im) {
  return im ? im->vq.out_res : 0;
}

int gloam_image_model_n_tokens(const gloam_image_model *im) {
  return im ? im->cfg.grid * im->cfg.grid : 0;
}

bool gloam_image_model_has_tokenizer(const gloam_image_model *im) {
  return im && im->tok;
}

void janus_gelu(float *x, size_t n) {
  for (size_t i = 0; i < n; i++) x[i] = 0.5f * x[i] * (1.0f + erff(x[i] * (float)M_SQRT1_2));
}
