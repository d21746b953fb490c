/* SPDX-License-Identifier: Apache-2.0
 *
 * engine/safetensors.c: safetensors header parsing and validation.
 *
 * DESIGN: the header is parsed with jansson under a size cap; everything
 * that later becomes a pointer (offsets, shapes, sizes) is checked here with
 * overflow-safe arithmetic, so model_files.c only adds validated offsets to
 * the mapping's base.
 */
#include "engine/safetensors.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"

#define ST_MAX_DIM ((int64_t)1 << 40)

static uint64_t rd_u64le(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
  return v;
}

/* Element size of a safetensors dtype; 0 if unknown. *ok: one we load. */
static size_t st_dtype(const char *s, enum dtype *t, bool *ok) {
  static const struct {
    const char *name;
    size_t size;
    int type; /* -1: known but not loadable */
  } tab[] = {
      {"F32", 4, DT_F32}, {"F16", 2, DT_F16}, {"BF16", 2, DT_BF16}, {"F64", 8, -1},
      {"I64", 8, -1},     {"U64", 8, -1},     {"I32", 4, -1},       {"U32", 4, DT_U32},
      {"I16", 2, -1},     {"U16", 2, -1},     {"I8", 1, -1},        {"U8", 1, -1},
      {"BOOL", 1, -1},    {"F8_E4M3", 1, -1}, {"F8_E5M2", 1, -1},
  };
  for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++) {
    if (strcmp(s, tab[i].name) == 0) {
      *ok = tab[i].type >= 0;
      *t = tab[i].type >= 0 ? (enum dtype)tab[i].type : DT_F32;
      return tab[i].size;
    }
  }
  return 0;
}

static int cmp_begin(const void *a, const void *b) {
  const st_tensor *x = a, *y = b;
  if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
  if (x->end != y->end) return x->end < y->end ? -1 : 1;
  return 0;
}

static int get_u64(const json_t *v, uint64_t *out) {
  if (!json_is_integer(v)) return -1;
  json_int_t x = json_integer_value(v);
  if (x < 0) return -1;
  *out = (uint64_t)x;
  return 0;
}

static int parse_entry(const char *name, const json_t *e, size_t data_len, st_tensor *t,
                       char *err) {
  if (!json_is_object(e))
    return err_set(err, GLOAM_EFORMAT, "safetensors: %.80s: not an object", name);
  if (strlen(name) == 0 || strlen(name) > ST_MAX_NAME)
    return err_set(err, GLOAM_EFORMAT, "safetensors: bad tensor name length");
  const char *ds = json_string_value(json_object_get(e, "dtype"));
  const json_t *shape = json_object_get(e, "shape");
  const json_t *offs = json_object_get(e, "data_offsets");
  if (!ds || !json_is_array(shape) || !json_is_array(offs) || json_array_size(offs) != 2)
    return err_set(err, GLOAM_EFORMAT, "safetensors: %.80s: needs dtype, shape, data_offsets",
                   name);
  bool ok = false;
  size_t esize = st_dtype(ds, &t->type, &ok);
  if (!esize)
    return err_set(err, GLOAM_EFORMAT, "safetensors: %.80s: unknown dtype %.16s", name, ds);
  if (!ok)
    return err_set(err, GLOAM_EUNSUPPORTED,
                   "safetensors: %.80s: dtype %.16s not supported "
                   "(F32, F16, BF16, U32)",
                   name, ds);
  size_t nd = json_array_size(shape);
  if (nd > MODEL_MAX_DIMS)
    return err_set(err, GLOAM_EFORMAT, "safetensors: %.80s: %zu dims (max %d)", name, nd,
                   MODEL_MAX_DIMS);
  t->n_dims = (int)nd;
  uint64_t n = esize;
  for (size_t i = 0; i < nd; i++) {
    uint64_t d;
    if (get_u64(json_array_get(shape, i), &d) < 0 || d >= (uint64_t)ST_MAX_DIM)
      return err_set(err, GLOAM_EFORMAT, "safetensors: %.80s: bad dimension", name);
    t->shape[i] = (int64_t)d;
    if (__builtin_mul_overflow(n, d, &n))
      return err_set(err, GLOAM_EFORMAT, "safetensors: %.80s: size overflows", name);
  }
  if (get_u64(json_array_get(offs, 0), &t->begin) < 0 ||
      get_u64(json_array_get(offs, 1), &t->end) < 0 || t->begin > t->end || t->end > data_len)
    return err_set(err, GLOAM_EFORMAT, "safetensors: %.80s: data_offsets outside the file", name);
  if (t->end - t->begin != n)
    return err_set(err, GLOAM_EFORMAT, "safetensors: %.80s: %llu bytes for shape needing %llu",
                   name, (unsigned long long)(t->end - t->begin), (unsigned long long)n);
  t->name = mem_strdup(name);
  if (!t->name) return err_set(err, GLOAM_ENOMEM, "safetensors: out of memory");
  return 0;
}

void st_header_deinit(st_header *h) {
  if (!h) return;
  for (int i = 0; i < h->n_tensors; i++) mem_free(h->tensors[i].name);
  mem_free(h->tensors);
  memset(h, 0, sizeof *h);
}

int st_parse(const uint8_t *buf, size_t len, st_header *h, char *err) {
  memset(h, 0, sizeof *h);
  if (len < 8) return err_set(err, GLOAM_EFORMAT, "safetensors: file too short (%zu bytes)", len);
  uint64_t n = rd_u64le(buf);
  if (n > ST_MAX_HEADER)
    return err_set(err, GLOAM_EFORMAT, "safetensors: header length %llu over the %u cap",
                   (unsigned long long)n, ST_MAX_HEADER);
  if (n > len - 8)
    return err_set(err, GLOAM_EFORMAT, "safetensors: header length %llu past end of file",
                   (unsigned long long)n);
  if (n < 2 || buf[8] != '{')
    return err_set(err, GLOAM_EFORMAT, "safetensors: header is not a JSON object");
  h->data_offset = 8 + (size_t)n;
  h->data_len = len - h->data_offset;
  json_error_t je;
  json_t *j = json_loadb((const char *)buf + 8, (size_t)n, JSON_REJECT_DUPLICATES, &je);
  if (!j || !json_is_object(j)) {
    json_decref(j);
    return err_set(err, GLOAM_EFORMAT, "safetensors: header JSON: %.100s",
                   j ? "not an object" : je.text);
  }
  int rc = 0;
  size_t cap = json_object_size(j);
  if (cap > ST_MAX_TENSORS) {
    rc = err_set(err, GLOAM_EFORMAT, "safetensors: too many tensors (%zu)", cap);
    goto fail;
  }
  h->tensors = mem_calloc(cap ? cap : 1, sizeof *h->tensors);
  if (!h->tensors) {
    rc = err_set(err, GLOAM_ENOMEM, "safetensors: out of memory");
    goto fail;
  }
  const char *key;
  json_t *val;
  json_object_foreach(j, key, val) {
    if (strcmp(key, "__metadata__") == 0) {
      if (!json_is_object(val)) {
        rc = err_set(err, GLOAM_EFORMAT, "safetensors: __metadata__ not an object");
        goto fail;
      }
      continue;
    }
    st_tensor *t = &h->tensors[h->n_tensors];
    if ((rc = parse_entry(key, val, h->data_len, t, err)) < 0) goto fail;
    h->n_tensors++;
  }
  qsort(h->tensors, (size_t)h->n_tensors, sizeof *h->tensors, cmp_begin);
  uint64_t prev_end = 0;
  for (int i = 0; i < h->n_tensors; i++) {
    const st_tensor *t = &h->tensors[i];
    if (t->begin == t->end) continue; /* empty tensors occupy nothing */
    if (t->begin < prev_end) {
      rc = err_set(err, GLOAM_EFORMAT, "safetensors: tensor %.80s overlaps another", t->name);
      goto fail;
    }
    prev_end = t->end;
  }
  json_decref(j);
  return 0;
fail:
  json_decref(j);
  st_header_deinit(h);
  return rc;
}
