/* SPDX-License-Identifier: Apache-2.0
 *
 * engine/mlx_load.c: turns the packed weights, scales and biases of an MLX
 * checkpoint into DT_MLX tensors and binds them (engine/mlx_load.h).
 *
 * DESIGN: the packed data stays where the safetensors mapping has it; only
 * a small kern_mlx descriptor per matrix (per expert for stacked experts) is
 * allocated. Every shape is checked here against the metadata, so the
 * kernels can index q, scales and biases from rows and cols alone.
 */
#include "engine/mlx_load.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "engine/config.h"
#include "engine/mlx_meta.h"
#include "engine/model_files_int.h"
#include "kernels/mlx.h"

#define MLX_NAME 320

static int cmp_name(const void *a, const void *b) {
  return strcmp(((const tensor *)a)->name, ((const tensor *)b)->name);
}

static bool ends_with(const char *s, const char *suffix) {
  size_t n = strlen(s), m = strlen(suffix);
  return n >= m && memcmp(s + n - m, suffix, m) == 0;
}

static const tensor *sibling(const model_files *mf, const char *prefix, size_t plen,
                             const char *suffix) {
  char name[MLX_NAME];
  snprintf(name, sizeof name, "%.*s%s", (int)plen, prefix, suffix);
  return model_files_tensor(mf, name);
}

/* Converts module `prefix` (its .scales is sc) into a DT_MLX weight. */
static int convert_module(model_files *mf, const mlx_meta *meta, const tensor *sc, char *err) {
  size_t plen = strlen(sc->name) - strlen(".scales");
  if (plen + 16 >= MLX_NAME) return err_set(err, GLOAM_EFORMAT, "mlx: tensor name too long");
  char path[MLX_NAME];
  snprintf(path, sizeof path, "%.*s", (int)plen, sc->name);
  tensor *w = (tensor *)sibling(mf, sc->name, plen, ".weight");
  const tensor *bi = sibling(mf, sc->name, plen, ".biases");
  int bits, group;
  if (!w || !bi)
    return err_set(err, GLOAM_EFORMAT, "mlx: %.200s has scales but no %s", path,
                   w ? "biases" : "weight");
  if (!mlx_meta_lookup(meta, path, &bits, &group))
    return err_set(err, GLOAM_EFORMAT, "mlx: %.200s is marked unquantized but has scales", path);
  if (w->type != DT_U32)
    return err_set(err, GLOAM_EFORMAT, "mlx: %.200s.weight is %s, not packed uint32", path,
                   dtype_name(w->type));
  if (!kern_mlx_supported(bits, group, sc->type) || bi->type != sc->type)
    return err_set(err, GLOAM_EFORMAT, "mlx: %.200s: scales %s / biases %s (need one float type)",
                   path, dtype_name(sc->type), dtype_name(bi->type));
  int nd = w->n_dims;
  bool same = (nd == 2 || nd == 3) && sc->n_dims == nd && bi->n_dims == nd;
  for (int d = 0; same && d < nd; d++) same = sc->shape[d] == bi->shape[d];
  for (int d = 0; same && d + 1 < nd; d++) same = sc->shape[d] == w->shape[d];
  int64_t words = w->shape[nd - 1], cols = words * 32 / bits;
  if (!same || words <= 0 || cols % group != 0 || sc->shape[nd - 1] != cols / group)
    return err_set(err, GLOAM_EFORMAT,
                   "mlx: %.200s: packed width %lld, scales [.., %lld] do not fit %d bits in "
                   "groups of %d",
                   path, (long long)words, (long long)sc->shape[sc->n_dims - 1], bits, group);
  int64_t n_mat = nd == 3 ? w->shape[0] : 1, rows = w->shape[nd - 2];
  if (n_mat > CONFIG_MAX_EXPERTS)
    return err_set(err, GLOAM_EFORMAT, "mlx: %.200s: %lld stacked matrices", path,
                   (long long)n_mat);
  kern_mlx *d = mf_own(mf, sizeof *d * (size_t)n_mat, err);
  if (!d) return GLOAM_ENOMEM;
  size_t sbsz = sc->type == DT_F32 ? 4 : 2, ng = (size_t)(cols / group);
  for (int64_t e = 0; e < n_mat; e++) {
    size_t r0 = (size_t)e * (size_t)rows;
    d[e] = (kern_mlx){.q = (const uint32_t *)w->data + r0 * (size_t)words,
                      .scales = (const uint8_t *)sc->data + r0 * ng * sbsz,
                      .biases = (const uint8_t *)bi->data + r0 * ng * sbsz,
                      .sb_type = sc->type,
                      .bits = bits,
                      .group = group};
  }
  w->type = DT_MLX;
  w->shape[nd - 1] = cols;
  w->data = d; /* n_bytes stays the packed size */
  return 0;
}

/* Per-expert views "model.layers.L.mlp.experts.E.<proj>.weight" of a
 * stacked switch_mlp tensor t [E, R, C] (DT_MLX or a float type). */
static int add_switch_views(model_files *mf, const tensor *t, char *err) {
  int l, n = 0;
  char proj[32];
  if (t->n_dims != 3 ||
      sscanf(t->name, "model.layers.%d.mlp.switch_mlp.%31[a-z_].weight%n", &l, proj, &n) != 2 ||
      t->name[n] != '\0')
    return 0;
  int64_t E = t->shape[0], R = t->shape[1], C = t->shape[2];
  size_t mat_bytes = t->type == DT_MLX ? 0 : (size_t)R * dtype_row_bytes(t->type, C);
  if (t->type != DT_MLX && !mat_bytes)
    return err_set(err, GLOAM_EFORMAT, "mlx: %.200s: type %s cannot hold experts", t->name,
                   dtype_name(t->type));
  for (int64_t e = 0; e < E; e++) {
    char name[MLX_NAME];
    snprintf(name, sizeof name, "model.layers.%d.mlp.experts.%lld.%s.weight", l, (long long)e,
             proj);
    char *nm = mem_strdup(name);
    if (!nm) return err_set(err, GLOAM_ENOMEM, "out of memory");
    const void *data = t->type == DT_MLX
                           ? (const void *)((const kern_mlx *)t->data + e)
                           : (const void *)((const uint8_t *)t->data + (size_t)e * mat_bytes);
    int64_t shape[2] = {R, C};
    int rc = mf_add(mf, nm, t->type, 2, shape, data, t->type == DT_MLX ? 0 : mat_bytes, err);
    if (rc < 0) return rc;
  }
  return 0;
}

static int check_leftovers(const model_files *mf, const mlx_meta *meta, char *err) {
  for (int i = 0; i < mf->n_tensors; i++) {
    const tensor *t = &mf->tensors[i];
    size_t plen = strlen(t->name);
    if (t->type == DT_U32)
      return err_set(err, GLOAM_EFORMAT, "mlx: %.200s is packed uint32 without scales", t->name);
    if (ends_with(t->name, ".biases") && !sibling(mf, t->name, plen - strlen(".biases"), ".scales"))
      return err_set(err, GLOAM_EFORMAT, "mlx: %.200s without scales", t->name);
  }
  for (int i = 0; i < meta->n_ov; i++)
    if (!sibling(mf, meta->ov[i].path, strlen(meta->ov[i].path), ".weight"))
      return err_set(err, GLOAM_EFORMAT, "mlx quantization names unknown layer %.200s",
                     meta->ov[i].path);
  return 0;
}

int mf_mlx_prepare(model_files *mf, const char *config_path, char *err) {
  char *text = NULL;
  size_t len = 0;
  mlx_meta meta;
  memset(&meta, 0, sizeof meta);
  int rc = config_read_file(config_path, CONFIG_MAX_JSON, &text, &len, err);
  if (rc < 0) return rc;
  if ((rc = mlx_meta_parse(&meta, text, len, err)) < 0) goto done;
  qsort(mf->tensors, (size_t)mf->n_tensors, sizeof *mf->tensors, cmp_name);
  int n0 = mf->n_tensors;
  for (int i = 0; i < n0; i++) {
    const tensor *t = &mf->tensors[i];
    if (!ends_with(t->name, ".scales")) continue;
    if (!meta.present) {
      const tensor *w = sibling(mf, t->name, strlen(t->name) - strlen(".scales"), ".weight");
      if (w && w->type == DT_U32) {
        rc = err_set(err, GLOAM_EFORMAT,
                     "mlx: %.200s is packed but config.json has no quantization", w->name);
        goto done;
      }
      continue;
    }
    if ((rc = convert_module(mf, &meta, t, err)) < 0) goto done;
  }
  for (int i = 0; i < n0; i++) {
    tensor t = mf->tensors[i]; /* a copy: the table grows */
    if ((rc = add_switch_views(mf, &t, err)) < 0) goto done;
  }
  if (mf->n_tensors != n0) qsort(mf->tensors, (size_t)mf->n_tensors, sizeof *mf->tensors, cmp_name);
  if (meta.present) rc = check_leftovers(mf, &meta, err);
done:
  mlx_meta_deinit(&meta);
  mem_free(text);
  return rc;
}

int mlx_bind_mat(eng_mat *out, const tensor *t, const char *name, int e, int64_t rows, int64_t cols,
                 char *err) {
  if (e >= 0 || t->n_dims != 2 || t->shape[0] != rows || t->shape[1] != cols)
    return err_set(err, GLOAM_EFORMAT, "MLX tensor %s: not a [%lld, %lld] matrix", name,
                   (long long)rows, (long long)cols);
  out->type = DT_MLX;
  out->data = t->data;
  out->rows = rows;
  out->cols = cols;
  return 0;
}
