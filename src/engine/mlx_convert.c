/* SPDX-License-Identifier: Apache-2.0
 *
 * engine/mlx_convert.c: Hugging Face directory -> MLX-quantized directory
 * (engine/mlx_convert.h).
 *
 * DESIGN: the input is opened through model_files, so the converter sees
 * the tensors the engine would load (canonical names, per-expert views),
 * and walked in config_for_each_tensor's order. Each output "item" is one
 * module: a float tensor copied as stored, or a quantized module written as
 * three tensors (packed weight, scales, biases) placed back to back in the
 * data section. The safetensors header is computed first, then each item's
 * bytes are produced and written, one item in memory at a time.
 */
#include "engine/mlx_convert.h"

#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "core/alloc.h"
#include "core/err.h"
#include "engine/config.h"
#include "engine/model_files.h"
#include "kernels/mlx.h"

#define MC_NAME 200
#define MC_MAX_COPY (64u << 20)
#define MC_ROUTER_BITS 8 /* mlx-lm's qwen3_moe quant_predicate for mlp.gate */
#define MC_ROUTER_GROUP 64

typedef struct mc_item {
  char name[MC_NAME]; /* output name of the (first) tensor, ends in .weight when quantized */
  const tensor **src; /* [n_src]: one, or one per expert (stacked) */
  int n_src;
  int bits, group; /* 0: stored as is */
  uint64_t off;    /* data offset of its first tensor */
} mc_item;

typedef struct mc {
  model_files *mf;
  const model_config *c;
  int bits, group;
  mc_item *items;
  int n_items, cap_items;
  json_t *quant; /* the config's "quantization" object */
  char *err;
} mc;

static bool ends_with(const char *s, const char *suffix) {
  size_t n = strlen(s), m = strlen(suffix);
  return n >= m && memcmp(s + n - m, suffix, m) == 0;
}

static const char *st_dtype_name(enum dtype t) {
  return t == DT_F32 ? "F32" : t == DT_F16 ? "F16" : "BF16";
}

static int64_t item_rows(const mc_item *it) {
  return it->src[0]->n_dims == 2 ? it->src[0]->shape[0] : 1;
}

static int64_t item_cols(const mc_item *it) {
  return it->src[0]->shape[it->src[0]->n_dims - 1];
}

static size_t sb_size(const mc_item *it) {
  return it->src[0]->type == DT_F32 ? 4 : 2;
}

/* Bytes of the packed weight and of the scales (= biases) of a quantized item. */
static size_t q_bytes(const mc_item *it) {
  return (size_t)it->n_src * (size_t)item_rows(it) * (size_t)item_cols(it) * (size_t)it->bits / 8;
}

static size_t s_bytes(const mc_item *it) {
  return (size_t)it->n_src * (size_t)item_rows(it) * (size_t)(item_cols(it) / it->group) *
         sb_size(it);
}

static size_t item_bytes(const mc_item *it) {
  if (it->bits) return q_bytes(it) + 2 * s_bytes(it);
  size_t n = 0;
  for (int i = 0; i < it->n_src; i++) n += it->src[i]->n_bytes;
  return n;
}

static int add_item(mc *v, const char *name, int n_src, mc_item **out) {
  if (v->n_items == v->cap_items) {
    int nc = v->cap_items ? v->cap_items * 2 : 64;
    mc_item *p = mem_reallocarray(v->items, (size_t)nc, sizeof *p);
    if (!p) return err_set(v->err, GLOAM_ENOMEM, "out of memory");
    v->items = p;
    v->cap_items = nc;
  }
  mc_item *it = &v->items[v->n_items];
  memset(it, 0, sizeof *it);
  it->src = mem_calloc((size_t)n_src, sizeof *it->src);
  if (!it->src) return err_set(v->err, GLOAM_ENOMEM, "out of memory");
  v->n_items++;
  snprintf(it->name, sizeof it->name, "%s", name);
  it->n_src = n_src;
  *out = it;
  return 0;
}

/* Decides how item it is stored (mlx-lm's default predicate: linear and
 * embedding layers whose input width the group divides). */
static int choose_quant(mc *v, mc_item *it) {
  const tensor *t = it->src[0];
  if (t->type != DT_F32 && t->type != DT_F16 && t->type != DT_BF16)
    return err_set(v->err, GLOAM_EUNSUPPORTED, "mlx convert: %s is %s (float input only)", t->name,
                   dtype_name(t->type));
  for (int i = 1; i < it->n_src; i++)
    if (it->src[i]->type != t->type || it->src[i]->shape[0] != t->shape[0] ||
        it->src[i]->shape[1] != t->shape[1])
      return err_set(v->err, GLOAM_EFORMAT, "mlx convert: experts of %s differ", it->name);
  int64_t cols = item_cols(it);
  if (t->n_dims != 2 || !ends_with(it->name, ".weight") || cols % v->group != 0) return 0;
  if (ends_with(it->name, ".mlp.gate.weight")) {
    if (cols % MC_ROUTER_GROUP != 0) return 0;
    char path[MC_NAME];
    snprintf(path, sizeof path, "%.*s", (int)(strlen(it->name) - 7), it->name);
    json_t *o = json_pack("{s:i, s:i}", "group_size", MC_ROUTER_GROUP, "bits", MC_ROUTER_BITS);
    if (!o || json_object_set_new(v->quant, path, o) < 0)
      return err_set(v->err, GLOAM_ENOMEM, "out of memory");
    it->bits = MC_ROUTER_BITS;
    it->group = MC_ROUTER_GROUP;
    return 0;
  }
  it->bits = v->bits;
  it->group = v->group;
  return 0;
}

static int on_tensor(void *ctx, const char *name, int n_dims, const int64_t *shape) {
  (void)n_dims;
  (void)shape;
  mc *v = ctx;
  mc_item *it;
  int l, e, n = 0, rc;
  char proj[32], tn[MC_NAME];
  if (sscanf(name, "model.layers.%d.mlp.experts.%d.%31[a-z_].weight%n", &l, &e, proj, &n) == 3 &&
      name[n] == '\0') {
    if (e != 0) return 0; /* the whole stack is added with expert 0 */
    snprintf(tn, sizeof tn, "model.layers.%d.mlp.switch_mlp.%s.weight", l, proj);
    if ((rc = add_item(v, tn, v->c->n_experts, &it)) < 0) return rc;
    for (int x = 0; x < v->c->n_experts; x++) {
      snprintf(tn, sizeof tn, "model.layers.%d.mlp.experts.%d.%s.weight", l, x, proj);
      if (!(it->src[x] = model_files_tensor(v->mf, tn)))
        return err_set(v->err, GLOAM_ENOENT, "mlx convert: missing %s", tn);
    }
  } else {
    if ((rc = add_item(v, name, 1, &it)) < 0) return rc;
    if (!(it->src[0] = model_files_tensor(v->mf, name)))
      return err_set(v->err, GLOAM_ENOENT, "mlx convert: missing %s", name);
  }
  return choose_quant(v, it);
}

static json_t *shape_json(const mc_item *it, int64_t last) {
  json_t *a = json_array();
  if (!a) return NULL;
  if (it->n_src > 1) json_array_append_new(a, json_integer(it->n_src));
  if (it->src[0]->n_dims == 2) json_array_append_new(a, json_integer(item_rows(it)));
  json_array_append_new(a, json_integer(last));
  return a;
}

static int put_entry(json_t *hdr, json_t *map, const char *name, const char *dtype, json_t *shape,
                     uint64_t b, uint64_t e) {
  json_t *x = json_pack("{s:s, s:o, s:[I,I]}", "dtype", dtype, "shape", shape, "data_offsets",
                        (json_int_t)b, (json_int_t)e);
  if (!x || json_object_set_new(hdr, name, x) < 0) return -1;
  return json_object_set_new(map, name, json_string("model.safetensors"));
}

/* The safetensors header (and the index's weight map) for all items. */
static int build_header(mc *v, json_t *hdr, json_t *map, uint64_t *total) {
  uint64_t off = 0;
  for (int i = 0; i < v->n_items; i++) {
    mc_item *it = &v->items[i];
    it->off = off;
    int rc;
    if (!it->bits) {
      rc = put_entry(hdr, map, it->name, st_dtype_name(it->src[0]->type),
                     shape_json(it, item_cols(it)), off, off + item_bytes(it));
    } else {
      char path[MC_NAME], nm[MC_NAME + 8];
      snprintf(path, sizeof path, "%.*s", (int)(strlen(it->name) - 7), it->name);
      uint64_t q = q_bytes(it), s = s_bytes(it);
      const char *sbt = st_dtype_name(it->src[0]->type);
      int64_t cols = item_cols(it);
      snprintf(nm, sizeof nm, "%s.weight", path);
      rc = put_entry(hdr, map, nm, "U32", shape_json(it, cols * it->bits / 32), off, off + q);
      snprintf(nm, sizeof nm, "%s.scales", path);
      if (rc == 0)
        rc = put_entry(hdr, map, nm, sbt, shape_json(it, cols / it->group), off + q, off + q + s);
      snprintf(nm, sizeof nm, "%s.biases", path);
      if (rc == 0)
        rc = put_entry(hdr, map, nm, sbt, shape_json(it, cols / it->group), off + q + s,
                       off + q + 2 * s);
    }
    if (rc < 0) return err_set(v->err, GLOAM_ENOMEM, "out of memory");
    off += item_bytes(it);
  }
  *total = off;
  json_t *meta = json_pack("{s:s}", "format", "mlx");
  if (!meta || json_object_set_new(hdr, "__metadata__", meta) < 0)
    return err_set(v->err, GLOAM_ENOMEM, "out of memory");
  return 0;
}

/* Produces and writes the bytes of a quantized item. */
static int write_quant(mc *v, const mc_item *it, FILE *f) {
  int64_t rows = item_rows(it), cols = item_cols(it);
  size_t qb = q_bytes(it), sb = s_bytes(it);
  size_t row_q = (size_t)cols * (size_t)it->bits / 8,
         row_s = (size_t)(cols / it->group) * sb_size(it);
  uint8_t *buf = mem_alloc(qb + 2 * sb);
  float *row = mem_alloc(sizeof(float) * (size_t)cols);
  int rc = 0;
  if (!buf || !row) {
    rc = err_set(v->err, GLOAM_ENOMEM, "out of memory");
    goto done;
  }
  size_t src_rb = dtype_row_bytes(it->src[0]->type, cols), k = 0;
  for (int e = 0; e < it->n_src; e++)
    for (int64_t r = 0; r < rows; r++, k++) {
      kern_dequantize_row(it->src[e]->type, (const uint8_t *)it->src[e]->data + (size_t)r * src_rb,
                          row, cols);
      kern_mlx_quantize_row(row, cols, it->bits, it->group, it->src[0]->type,
                            (uint32_t *)(buf + k * row_q), buf + qb + k * row_s,
                            buf + qb + sb + k * row_s);
    }
  if (fwrite(buf, 1, qb + 2 * sb, f) != qb + 2 * sb)
    rc = err_set(v->err, GLOAM_EIO, "mlx convert: write failed");
done:
  mem_free(buf);
  mem_free(row);
  return rc;
}

static int write_text(const char *path, const char *s, size_t n, char *err) {
  FILE *f = fopen(path, "wb");
  if (!f) return err_set(err, GLOAM_EIO, "mlx convert: cannot create %s", path);
  bool ok = fwrite(s, 1, n, f) == n;
  if (fclose(f) != 0 || !ok) return err_set(err, GLOAM_EIO, "mlx convert: writing %s", path);
  return 0;
}

static int write_json(const char *path, json_t *j, char *err) {
  char *s = j ? json_dumps(j, JSON_INDENT(4) | JSON_SORT_KEYS) : NULL;
  if (!s) return err_set(err, GLOAM_ENOMEM, "out of memory");
  int rc = write_text(path, s, strlen(s), err);
  free(s);
  return rc;
}

static int write_weights(mc *v, const char *out_dir) {
  json_t *hdr = json_object(), *map = json_object(), *index = NULL;
  char *hs = NULL, path[4096];
  FILE *f = NULL;
  uint64_t total = 0;
  int rc = hdr && map ? build_header(v, hdr, map, &total)
                      : err_set(v->err, GLOAM_ENOMEM, "out of memory");
  if (rc < 0) goto done;
  hs = json_dumps(hdr, JSON_COMPACT | JSON_SORT_KEYS);
  if (!hs) {
    rc = err_set(v->err, GLOAM_ENOMEM, "out of memory");
    goto done;
  }
  size_t hl = strlen(hs), padded = (hl + 7) & ~(size_t)7;
  snprintf(path, sizeof path, "%s/model.safetensors", out_dir);
  if (!(f = fopen(path, "wb"))) {
    rc = err_set(v->err, GLOAM_EIO, "mlx convert: cannot create %s", path);
    goto done;
  }
  uint8_t len8[8];
  for (int i = 0; i < 8; i++) len8[i] = (uint8_t)((uint64_t)padded >> (8 * i));
  bool ok = fwrite(len8, 1, 8, f) == 8 && fwrite(hs, 1, hl, f) == hl;
  for (size_t i = hl; ok && i < padded; i++) ok = fputc(' ', f) != EOF;
  if (!ok) rc = err_set(v->err, GLOAM_EIO, "mlx convert: writing %s", path);
  for (int i = 0; rc == 0 && i < v->n_items; i++) {
    const mc_item *it = &v->items[i];
    if (it->bits) {
      rc = write_quant(v, it, f);
      continue;
    }
    for (int e = 0; rc == 0 && e < it->n_src; e++)
      if (fwrite(it->src[e]->data, 1, it->src[e]->n_bytes, f) != it->src[e]->n_bytes)
        rc = err_set(v->err, GLOAM_EIO, "mlx convert: writing %s", path);
  }
  if (fclose(f) != 0 && rc == 0) rc = err_set(v->err, GLOAM_EIO, "mlx convert: writing %s", path);
  f = NULL;
  if (rc < 0) goto done;
  index =
      json_pack("{s:{s:I}, s:O}", "metadata", "total_size", (json_int_t)total, "weight_map", map);
  snprintf(path, sizeof path, "%s/model.safetensors.index.json", out_dir);
  rc = write_json(path, index, v->err);
done:
  if (f) fclose(f);
  free(hs);
  json_decref(index);
  json_decref(map);
  json_decref(hdr);
  return rc;
}

/* The input's config with the quantization keys added. */
static int write_config(mc *v, const char *in_dir, const char *config_name, const char *out_dir) {
  char path[4096], *text = NULL;
  size_t len = 0;
  snprintf(path, sizeof path, "%s/%s", in_dir, config_name);
  int rc = config_read_file(path, CONFIG_MAX_JSON, &text, &len, v->err);
  if (rc < 0) return rc;
  json_error_t je;
  json_t *j = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
  mem_free(text);
  if (!json_is_object(j)) {
    json_decref(j);
    return err_set(v->err, GLOAM_EFORMAT, "mlx convert: %s is not a JSON object", path);
  }
  if (json_object_set(j, "quantization", v->quant) < 0 ||
      json_object_set_new(j, "quantization_config", json_deep_copy(v->quant)) < 0) {
    json_decref(j);
    return err_set(v->err, GLOAM_ENOMEM, "out of memory");
  }
  snprintf(path, sizeof path, "%s/config.json", out_dir);
  rc = write_json(path, j, v->err);
  json_decref(j);
  return rc;
}

/* Copies the input's small side files (tokenizer, generation config). */
static int copy_side_files(const char *in_dir, const char *config_name, const char *out_dir,
                           char *err) {
  DIR *d = opendir(in_dir);
  if (!d) return err_set(err, GLOAM_EIO, "mlx convert: cannot list %s", in_dir);
  int rc = 0;
  struct dirent *de;
  while (rc == 0 && (de = readdir(d)) != NULL) {
    const char *n = de->d_name;
    if (n[0] == '.' || strcmp(n, config_name) == 0 || strncmp(n, "config", 6) == 0 ||
        strcmp(n, "model.safetensors.index.json") == 0 ||
        !(ends_with(n, ".json") || ends_with(n, ".txt") || ends_with(n, ".model") ||
          ends_with(n, ".jinja")))
      continue;
    char src[4096], dst[4096], *text = NULL;
    size_t len = 0;
    snprintf(src, sizeof src, "%s/%s", in_dir, n);
    snprintf(dst, sizeof dst, "%s/%s", out_dir, n);
    struct stat st;
    if (stat(src, &st) < 0 || !S_ISREG(st.st_mode)) continue;
    if ((rc = config_read_file(src, MC_MAX_COPY, &text, &len, err)) < 0) break;
    rc = write_text(dst, text, len, err);
    mem_free(text);
  }
  closedir(d);
  return rc;
}

int mlx_convert(const char *in_dir, const char *out_dir, const mlx_convert_opts *o, char *err) {
  err_clear(err);
  mc v = {.bits = o ? o->bits : 0, .group = o && o->group ? o->group : 64, .err = err};
  const char *config_name = o && o->config_name ? o->config_name : "config.json";
  if (!kern_mlx_supported(v.bits, v.group, DT_F32))
    return err_set(err, GLOAM_EINVAL, "mlx convert: bits %d / group %d (need 4|8, 32|64|128)",
                   v.bits, v.group);
  model_open_opts mo = {.config_name = o ? o->config_name : NULL, .quantize = -1};
  int rc = model_files_open(&v.mf, in_dir, &mo, err);
  if (rc < 0) return rc;
  v.c = model_files_config(v.mf);
  v.quant = json_pack("{s:i, s:i, s:s}", "group_size", v.group, "bits", v.bits, "mode", "affine");
  if (!v.quant) {
    rc = err_set(err, GLOAM_ENOMEM, "out of memory");
    goto done;
  }
  if (strcmp(model_files_format(v.mf), "safetensors") != 0) {
    rc = err_set(err, GLOAM_EINVAL, "mlx convert: input must be a Hugging Face directory");
    goto done;
  }
  if ((rc = config_for_each_tensor(v.c, on_tensor, &v)) < 0) goto done;
  if (mkdir(out_dir, 0755) < 0 && errno != EEXIST) {
    rc = err_set(err, GLOAM_EIO, "mlx convert: mkdir %s: %s", out_dir, strerror(errno));
    goto done;
  }
  if ((rc = write_weights(&v, out_dir)) < 0 ||
      (rc = write_config(&v, in_dir, config_name, out_dir)) < 0)
    goto done;
  rc = copy_side_files(in_dir, config_name, out_dir, err);
done:
  for (int i = 0; i < v.n_items; i++) mem_free(v.items[i].src);
  mem_free(v.items);
  json_decref(v.quant);
  model_files_close(v.mf);
  return rc;
}
