/* SPDX-License-Identifier: Apache-2.0
 *
 * engine/mlx_meta.c: parsing and validating MLX quantization metadata from
 * config.json (engine/mlx_meta.h). Untrusted input: every value is checked
 * for type and range before it is stored; the fuzzer drives this file
 * (fuzz/mlx_meta).
 */
#include "engine/mlx_meta.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "engine/config.h"
#include "engine/model_files_int.h"

/* bits / group_size / mode of one quantization object q (the top level or
 * an override); `what` names it in errors. */
static int parse_params(const json_t *q, const char *what, int *bits, int *group, char *err) {
  const json_t *b = json_object_get(q, "bits"), *g = json_object_get(q, "group_size");
  const json_t *mode = json_object_get(q, "mode");
  if (mode && !json_is_null(mode)) {
    const char *m = json_string_value(mode);
    if (!m)
      return err_set(err, GLOAM_EFORMAT, "mlx quantization %.80s: mode is not a string", what);
    if (strcmp(m, "affine") != 0)
      return err_set(err, GLOAM_EUNSUPPORTED,
                     "mlx quantization %.80s: mode \"%.32s\" not supported (affine only)", what, m);
  }
  if (!json_is_integer(b) || !json_is_integer(g))
    return err_set(err, GLOAM_EFORMAT,
                   "mlx quantization %.80s: bits and group_size must be integers", what);
  json_int_t bv = json_integer_value(b), gv = json_integer_value(g);
  if (bv == 2 || bv == 3 || bv == 5 || bv == 6)
    return err_set(err, GLOAM_EUNSUPPORTED,
                   "mlx quantization %.80s: %lld-bit weights not supported (4 and 8)", what,
                   (long long)bv);
  if (bv != 4 && bv != 8)
    return err_set(err, GLOAM_EFORMAT, "mlx quantization %.80s: bits %lld is not an MLX width",
                   what, (long long)bv);
  if (gv != 32 && gv != 64 && gv != 128)
    return err_set(err, GLOAM_EFORMAT,
                   "mlx quantization %.80s: group_size %lld (must be 32, 64 or 128)", what,
                   (long long)gv);
  *bits = (int)bv;
  *group = (int)gv;
  return 0;
}

static int add_override(mlx_meta *m, const char *key, const json_t *v, char *err) {
  size_t kl = strlen(key);
  if (kl == 0 || kl > MLX_META_MAX_PATH)
    return err_set(err, GLOAM_EFORMAT, "mlx quantization: bad override path length %zu", kl);
  if (m->n_ov == MLX_META_MAX_OVERRIDES)
    return err_set(err, GLOAM_EFORMAT, "mlx quantization: more than %d overrides",
                   MLX_META_MAX_OVERRIDES);
  mlx_override o = {0};
  int rc;
  if (json_is_false(v)) {
    o.quantized = false;
  } else if (json_is_true(v)) { /* mlx-lm's predicate may return True: the defaults */
    o.quantized = true;
    o.bits = m->bits;
    o.group = m->group;
  } else if (json_is_object(v)) {
    if ((rc = parse_params(v, key, &o.bits, &o.group, err)) < 0) return rc;
    o.quantized = true;
  } else {
    return err_set(err, GLOAM_EFORMAT,
                   "mlx quantization: override %.80s is neither an object nor a bool", key);
  }
  o.path = mem_strdup(key);
  if (!o.path) return err_set(err, GLOAM_ENOMEM, "out of memory");
  mf_canonical_name(o.path);
  m->ov[m->n_ov++] = o;
  return 0;
}

static int cmp_path(const void *a, const void *b) {
  return strcmp(((const mlx_override *)a)->path, ((const mlx_override *)b)->path);
}

/* The quantization object of the config, or NULL when it has none
 * (mlx-lm also takes quantization_config from text_config). */
static const json_t *find_quant(const json_t *top) {
  const json_t *q = json_object_get(top, "quantization");
  if (q && !json_is_null(q)) return q;
  q = json_object_get(top, "quantization_config");
  if (!q || json_is_null(q)) {
    const json_t *tc = json_object_get(top, "text_config");
    q = json_is_object(tc) ? json_object_get(tc, "quantization_config") : NULL;
  }
  if (!q || json_is_null(q)) return NULL;
  /* another tool's scheme (gptq, awq, fp8, bitsandbytes ...) is not MLX */
  if (json_is_object(q) && json_object_get(q, "quant_method")) return NULL;
  return q;
}

int mlx_meta_parse(mlx_meta *m, const char *json, size_t len, char *err) {
  memset(m, 0, sizeof *m);
  if (len > CONFIG_MAX_JSON) return err_set(err, GLOAM_EFORMAT, "config.json: too large");
  json_error_t je;
  json_t *j = json_loadb(json, len, JSON_REJECT_DUPLICATES, &je);
  if (!j) return err_set(err, GLOAM_EFORMAT, "config.json: line %d: %.80s", je.line, je.text);
  int rc = 0;
  const json_t *q = json_is_object(j) ? find_quant(j) : NULL;
  if (!q) goto done;
  if (!json_is_object(q)) {
    rc = err_set(err, GLOAM_EFORMAT, "mlx quantization: not an object");
    goto done;
  }
  if ((rc = parse_params(q, "defaults", &m->bits, &m->group, err)) < 0) goto done;
  size_t n = json_object_size(q);
  m->ov = mem_calloc(n ? n : 1, sizeof *m->ov);
  if (!m->ov) {
    rc = err_set(err, GLOAM_ENOMEM, "out of memory");
    goto done;
  }
  const char *key;
  json_t *v;
  json_object_foreach((json_t *)q, key, v) {
    if (strcmp(key, "bits") == 0 || strcmp(key, "group_size") == 0 || strcmp(key, "mode") == 0)
      continue;
    if ((rc = add_override(m, key, v, err)) < 0) goto done;
  }
  qsort(m->ov, (size_t)m->n_ov, sizeof *m->ov, cmp_path);
  for (int i = 1; i < m->n_ov; i++)
    if (strcmp(m->ov[i].path, m->ov[i - 1].path) == 0) {
      rc = err_set(err, GLOAM_EFORMAT, "mlx quantization: override %.80s given twice",
                   m->ov[i].path);
      goto done;
    }
  m->present = true;
done:
  json_decref(j);
  if (rc < 0) mlx_meta_deinit(m);
  return rc;
}

void mlx_meta_deinit(mlx_meta *m) {
  if (!m) return;
  for (int i = 0; i < m->n_ov; i++) mem_free(m->ov[i].path);
  mem_free(m->ov);
  memset(m, 0, sizeof *m);
}

const mlx_override *mlx_meta_override(const mlx_meta *m, const char *path) {
  mlx_override k = {.path = (char *)path};
  return m->n_ov ? bsearch(&k, m->ov, (size_t)m->n_ov, sizeof k, cmp_path) : NULL;
}

int mlx_meta_lookup(const mlx_meta *m, const char *path, int *bits, int *group) {
  const mlx_override *o = mlx_meta_override(m, path);
  if (o && !o->quantized) return 0;
  *bits = o ? o->bits : m->bits;
  *group = o ? o->group : m->group;
  return 1;
}
