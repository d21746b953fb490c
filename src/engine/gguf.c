/* SPDX-License-Identifier: Apache-2.0
 *
 * engine/gguf.c: GGUF parsing and validation over a byte buffer.
 *
 * DESIGN: a bounds-checked cursor reads every field; counts are checked
 * against the bytes that remain before anything is allocated, so a hostile
 * count cannot make us allocate more than a small multiple of the file size.
 */
#include "engine/gguf.h"

#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"

typedef struct cur {
  const uint8_t *p;
  size_t len, pos;
  char *err;
} cur;

static size_t left(const cur *c) {
  return c->len - c->pos;
}

static uint64_t rd_le(const uint8_t *p, int n) {
  uint64_t v = 0;
  for (int i = n - 1; i >= 0; i--) v = (v << 8) | p[i];
  return v;
}

static int need(cur *c, uint64_t n, const char *what) {
  if (n > left(c))
    return err_set(c->err, GLOAM_EFORMAT, "gguf: %s past end of file (offset %zu)", what, c->pos);
  return 0;
}

static int rd_u32(cur *c, uint32_t *v, const char *what) {
  if (need(c, 4, what) < 0) return GLOAM_EFORMAT;
  *v = (uint32_t)rd_le(c->p + c->pos, 4);
  c->pos += 4;
  return 0;
}

static int rd_u64(cur *c, uint64_t *v, const char *what) {
  if (need(c, 8, what) < 0) return GLOAM_EFORMAT;
  *v = rd_le(c->p + c->pos, 8);
  c->pos += 8;
  return 0;
}

static int rd_str(cur *c, const char **s, size_t *n, uint64_t max, const char *what) {
  uint64_t len;
  if (rd_u64(c, &len, what) < 0) return GLOAM_EFORMAT;
  if (len > max)
    return err_set(c->err, GLOAM_EFORMAT, "gguf: %s length %llu too large", what,
                   (unsigned long long)len);
  if (need(c, len, what) < 0) return GLOAM_EFORMAT;
  *s = (const char *)c->p + c->pos;
  *n = (size_t)len;
  c->pos += (size_t)len;
  return 0;
}

size_t gguf_scalar_size(enum gguf_type t) {
  switch (t) {
    case GGUF_U8:
    case GGUF_I8:
    case GGUF_BOOL:
      return 1;
    case GGUF_U16:
    case GGUF_I16:
      return 2;
    case GGUF_U32:
    case GGUF_I32:
    case GGUF_F32:
      return 4;
    case GGUF_U64:
    case GGUF_I64:
    case GGUF_F64:
      return 8;
    default:
      return 0;
  }
}

static int rd_kv(cur *c, gguf_kv *kv) {
  int rc;
  uint32_t t;
  if ((rc = rd_str(c, &kv->key, &kv->key_len, GGUF_MAX_KEY, "key")) < 0) return rc;
  if (kv->key_len == 0) return err_set(c->err, GLOAM_EFORMAT, "gguf: empty key");
  if ((rc = rd_u32(c, &t, "value type")) < 0) return rc;
  if (t >= GGUF_TYPE_COUNT)
    return err_set(c->err, GLOAM_EFORMAT, "gguf: key %.*s: bad value type %u",
                   (int)(kv->key_len > 64 ? 64 : kv->key_len), kv->key, t);
  kv->type = (enum gguf_type)t;
  kv->n = 1;
  if (kv->type == GGUF_STRING) {
    const char *s;
    size_t n;
    kv->val = c->p + c->pos;
    return rd_str(c, &s, &n, UINT64_MAX, "string value");
  }
  if (kv->type != GGUF_ARRAY) {
    size_t sz = gguf_scalar_size(kv->type);
    if ((rc = need(c, sz, "value")) < 0) return rc;
    kv->val = c->p + c->pos;
    c->pos += sz;
    return 0;
  }
  uint32_t at;
  if ((rc = rd_u32(c, &at, "array type")) < 0 || (rc = rd_u64(c, &kv->n, "array count")) < 0)
    return rc;
  if (at >= GGUF_TYPE_COUNT || at == GGUF_ARRAY)
    return err_set(c->err, GLOAM_EFORMAT, "gguf: key %.*s: bad array element type %u",
                   (int)(kv->key_len > 64 ? 64 : kv->key_len), kv->key, at);
  kv->arr_type = (enum gguf_type)at;
  kv->val = c->p + c->pos;
  if (kv->arr_type != GGUF_STRING) {
    uint64_t bytes;
    if (__builtin_mul_overflow(kv->n, (uint64_t)gguf_scalar_size(kv->arr_type), &bytes))
      return err_set(c->err, GLOAM_EFORMAT, "gguf: array size overflows");
    if ((rc = need(c, bytes, "array")) < 0) return rc;
    c->pos += (size_t)bytes;
    return 0;
  }
  /* each string takes at least its 8-byte length */
  if (kv->n > left(c) / 8) return need(c, UINT64_MAX, "string array");
  kv->str_off = mem_alloc((size_t)(kv->n ? kv->n : 1) * sizeof *kv->str_off);
  if (!kv->str_off) return err_set(c->err, GLOAM_ENOMEM, "gguf: out of memory");
  size_t base = c->pos;
  for (uint64_t i = 0; i < kv->n; i++) {
    const char *s;
    size_t n;
    kv->str_off[i] = c->pos - base;
    if ((rc = rd_str(c, &s, &n, UINT64_MAX, "array string")) < 0) return rc;
  }
  return 0;
}

static int cmp_kv(const void *a, const void *b) {
  const gguf_kv *x = a, *y = b;
  size_t n = x->key_len < y->key_len ? x->key_len : y->key_len;
  int r = memcmp(x->key, y->key, n);
  if (r) return r;
  return x->key_len < y->key_len ? -1 : x->key_len > y->key_len;
}

static const struct {
  int id;
  const char *name;
  int dt; /* enum dtype, or -1 for types we do not load */
} k_types[] = {
    {0, "f32", DT_F32},    {1, "f16", DT_F16}, {2, "q4_0", DT_Q4_0},  {3, "q4_1", -1},
    {6, "q5_0", -1},       {7, "q5_1", -1},    {8, "q8_0", DT_Q8_0},  {9, "q8_1", -1},
    {10, "q2_K", -1},      {11, "q3_K", -1},   {12, "q4_K", DT_Q4_K}, {13, "q5_K", -1},
    {14, "q6_K", DT_Q6_K}, {15, "q8_K", -1},   {16, "iq2_xxs", -1},   {17, "iq2_xs", -1},
    {18, "iq3_xxs", -1},   {19, "iq1_s", -1},  {20, "iq4_nl", -1},    {21, "iq3_s", -1},
    {22, "iq2_s", -1},     {23, "iq4_xs", -1}, {24, "i8", -1},        {25, "i16", -1},
    {26, "i32", -1},       {27, "i64", -1},    {28, "f64", -1},       {29, "iq1_m", -1},
    {30, "bf16", DT_BF16}, {34, "tq1_0", -1},  {35, "tq2_0", -1},     {39, "mxfp4", -1},
};

const char *gguf_type_name(int id) {
  for (size_t i = 0; i < sizeof k_types / sizeof k_types[0]; i++)
    if (k_types[i].id == id) return k_types[i].name;
  return "?";
}

int gguf_ggml_type(enum dtype t) {
  for (size_t i = 0; i < sizeof k_types / sizeof k_types[0]; i++)
    if (k_types[i].dt == (int)t) return k_types[i].id;
  return -1;
}

static int rd_tensor(cur *c, gguf_tensor_info *ti) {
  int rc;
  uint32_t nd, type;
  if ((rc = rd_str(c, &ti->name, &ti->name_len, GGUF_MAX_NAME, "tensor name")) < 0) return rc;
  int nl = (int)(ti->name_len > 64 ? 64 : ti->name_len);
  if (ti->name_len == 0 || memchr(ti->name, 0, ti->name_len))
    return err_set(c->err, GLOAM_EFORMAT, "gguf: bad tensor name");
  if ((rc = rd_u32(c, &nd, "n_dims")) < 0) return rc;
  if (nd < 1 || nd > 4)
    return err_set(c->err, GLOAM_EFORMAT, "gguf: tensor %.*s: %u dims", nl, ti->name, nd);
  ti->n_dims = (int)nd;
  uint64_t nelem = 1;
  for (uint32_t i = 0; i < nd; i++) {
    uint64_t d;
    if ((rc = rd_u64(c, &d, "dim")) < 0) return rc;
    if (d < 1 || d >= ((uint64_t)1 << 40) || __builtin_mul_overflow(nelem, d, &nelem) ||
        nelem >= ((uint64_t)1 << 50))
      return err_set(c->err, GLOAM_EFORMAT, "gguf: tensor %.*s: bad dimension", nl, ti->name);
    ti->ne[i] = (int64_t)d;
  }
  if ((rc = rd_u32(c, &type, "tensor type")) < 0 || (rc = rd_u64(c, &ti->offset, "offset")) < 0)
    return rc;
  ti->ggml_type = (int)type;
  int dt = -2;
  for (size_t i = 0; i < sizeof k_types / sizeof k_types[0]; i++)
    if (k_types[i].id == (int)type) dt = k_types[i].dt;
  if (dt == -2)
    return err_set(c->err, GLOAM_EFORMAT, "gguf: tensor %.*s: unknown type %u", nl, ti->name, type);
  if (dt == -1)
    return err_set(c->err, GLOAM_EUNSUPPORTED,
                   "gguf: tensor %.*s: type %s not supported (f32, f16, bf16, q8_0, q4_0, q4_K, "
                   "q6_K)",
                   nl, ti->name, gguf_type_name((int)type));
  ti->type = (enum dtype)dt;
  size_t rb = dtype_row_bytes(ti->type, ti->ne[0]);
  if (rb == 0)
    return err_set(c->err, GLOAM_EFORMAT, "gguf: tensor %.*s: row of %lld not a multiple of %d", nl,
                   ti->name, (long long)ti->ne[0], dtype_block_elems(ti->type));
  uint64_t rows = nelem / (uint64_t)ti->ne[0], nb;
  if (__builtin_mul_overflow(rows, (uint64_t)rb, &nb) || nb > SIZE_MAX)
    return err_set(c->err, GLOAM_EFORMAT, "gguf: tensor %.*s: size overflows", nl, ti->name);
  ti->n_bytes = (size_t)nb;
  return 0;
}

static int cmp_off(const void *a, const void *b) {
  const gguf_tensor_info *x = *(const gguf_tensor_info *const *)a;
  const gguf_tensor_info *y = *(const gguf_tensor_info *const *)b;
  return x->offset < y->offset ? -1 : x->offset > y->offset;
}

static int cmp_tname(const void *a, const void *b) {
  const gguf_tensor_info *x = *(const gguf_tensor_info *const *)a;
  const gguf_tensor_info *y = *(const gguf_tensor_info *const *)b;
  size_t n = x->name_len < y->name_len ? x->name_len : y->name_len;
  int r = memcmp(x->name, y->name, n);
  if (r) return r;
  return x->name_len < y->name_len ? -1 : x->name_len > y->name_len;
}

/* Data section: offsets aligned, in bounds, no overlap, no duplicate names. */
static int check_data(gguf_ctx *g, char *err) {
  size_t n = g->n_tensors;
  if (n == 0) return 0;
  size_t avail = g->len - g->data_offset;
  const gguf_tensor_info **v = mem_alloc(n * sizeof *v);
  if (!v) return err_set(err, GLOAM_ENOMEM, "gguf: out of memory");
  int rc = 0;
  for (size_t i = 0; i < n; i++) {
    const gguf_tensor_info *t = &g->ti[i];
    int nl = (int)(t->name_len > 64 ? 64 : t->name_len);
    if (t->offset % g->alignment != 0) {
      rc = err_set(err, GLOAM_EFORMAT, "gguf: tensor %.*s: offset not aligned", nl, t->name);
      goto done;
    }
    if (t->offset > avail || t->n_bytes > avail - t->offset) {
      rc = err_set(err, GLOAM_EFORMAT, "gguf: tensor %.*s: data past end of file", nl, t->name);
      goto done;
    }
    v[i] = t;
  }
  qsort(v, n, sizeof *v, cmp_off);
  for (size_t i = 1; i < n; i++)
    if (v[i]->offset < v[i - 1]->offset + v[i - 1]->n_bytes) {
      rc = err_set(err, GLOAM_EFORMAT, "gguf: tensor %.*s overlaps another",
                   (int)(v[i]->name_len > 64 ? 64 : v[i]->name_len), v[i]->name);
      goto done;
    }
  qsort(v, n, sizeof *v, cmp_tname);
  for (size_t i = 1; i < n; i++)
    if (cmp_tname(&v[i - 1], &v[i]) == 0) {
      rc = err_set(err, GLOAM_EFORMAT, "gguf: tensor %.*s appears twice",
                   (int)(v[i]->name_len > 64 ? 64 : v[i]->name_len), v[i]->name);
      goto done;
    }
done:
  mem_free(v);
  return rc;
}

static int read_alignment(gguf_ctx *g, char *err) {
  g->alignment = GGUF_DEFAULT_ALIGNMENT;
  const gguf_kv *a = gguf_find(g, "general.alignment");
  if (!a) return 0;
  int64_t v;
  if (a->type != GGUF_U32 || gguf_kv_int(a, &v) < 0 || v < 1 || v > 65536 || (v & (v - 1)))
    return err_set(err, GLOAM_EFORMAT, "gguf: general.alignment must be a power of two u32");
  g->alignment = (size_t)v;
  return 0;
}

void gguf_ctx_deinit(gguf_ctx *g) {
  if (!g) return;
  for (size_t i = 0; g->kv && i < g->n_kv; i++) mem_free(g->kv[i].str_off);
  mem_free(g->kv);
  mem_free(g->ti);
  memset(g, 0, sizeof *g);
}

int gguf_parse(const uint8_t *buf, size_t len, gguf_ctx *g, char *err) {
  memset(g, 0, sizeof *g);
  cur c = {buf, len, 0, err};
  int rc;
  uint32_t magic;
  uint64_t n_t, n_kv;
  if ((rc = rd_u32(&c, &magic, "magic")) < 0) return rc;
  if (memcmp(buf, "GGUF", 4) != 0) return err_set(err, GLOAM_EFORMAT, "gguf: bad magic");
  if ((rc = rd_u32(&c, &g->version, "version")) < 0) return rc;
  if (g->version != 2 && g->version != 3)
    return err_set(err, GLOAM_EUNSUPPORTED, "gguf: version %u not supported (2, 3)", g->version);
  if ((rc = rd_u64(&c, &n_t, "tensor count")) < 0 || (rc = rd_u64(&c, &n_kv, "kv count")) < 0)
    return rc;
  /* a kv takes >= 8 + 1 + 4 + 1 bytes, a tensor info >= 8 + 1 + 4 + 8 + 4 + 8 */
  if (n_kv > GGUF_MAX_KV || n_kv > left(&c) / 14)
    return err_set(err, GLOAM_EFORMAT, "gguf: kv count %llu too large", (unsigned long long)n_kv);
  if (n_t > GGUF_MAX_TENSORS || n_t > left(&c) / 33)
    return err_set(err, GLOAM_EFORMAT, "gguf: tensor count %llu too large",
                   (unsigned long long)n_t);
  g->buf = buf;
  g->len = len;
  g->kv = mem_calloc(n_kv ? (size_t)n_kv : 1, sizeof *g->kv);
  g->ti = mem_calloc(n_t ? (size_t)n_t : 1, sizeof *g->ti);
  if (!g->kv || !g->ti) {
    rc = err_set(err, GLOAM_ENOMEM, "gguf: out of memory");
    goto fail;
  }
  for (uint64_t i = 0; i < n_kv; i++) {
    g->n_kv = (size_t)i + 1;
    if ((rc = rd_kv(&c, &g->kv[i])) < 0) goto fail;
  }
  qsort(g->kv, g->n_kv, sizeof *g->kv, cmp_kv);
  for (size_t i = 1; i < g->n_kv; i++)
    if (cmp_kv(&g->kv[i - 1], &g->kv[i]) == 0) {
      rc = err_set(err, GLOAM_EFORMAT, "gguf: key %.*s appears twice",
                   (int)(g->kv[i].key_len > 64 ? 64 : g->kv[i].key_len), g->kv[i].key);
      goto fail;
    }
  if ((rc = read_alignment(g, err)) < 0) goto fail;
  for (uint64_t i = 0; i < n_t; i++) {
    if ((rc = rd_tensor(&c, &g->ti[i])) < 0) goto fail;
    g->n_tensors = (size_t)i + 1;
  }
  size_t pad = (g->alignment - c.pos % g->alignment) % g->alignment;
  if (n_t > 0 && pad > left(&c)) {
    rc = err_set(err, GLOAM_EFORMAT, "gguf: data section past end of file");
    goto fail;
  }
  g->data_offset = c.pos + (pad > left(&c) ? left(&c) : pad);
  if ((rc = check_data(g, err)) < 0) goto fail;
  return 0;
fail:
  gguf_ctx_deinit(g);
  return rc;
}

const gguf_kv *gguf_find(const gguf_ctx *g, const char *key) {
  gguf_kv k = {.key = key, .key_len = strlen(key)};
  return bsearch(&k, g->kv, g->n_kv, sizeof k, cmp_kv);
}

static int scalar_int(enum gguf_type t, const uint8_t *p, int64_t *out) {
  switch (t) {
    case GGUF_U8:
    case GGUF_BOOL:
      *out = p[0];
      return 0;
    case GGUF_I8:
      *out = (int8_t)p[0];
      return 0;
    case GGUF_U16:
      *out = (int64_t)rd_le(p, 2);
      return 0;
    case GGUF_I16:
      *out = (int16_t)rd_le(p, 2);
      return 0;
    case GGUF_U32:
      *out = (int64_t)rd_le(p, 4);
      return 0;
    case GGUF_I32:
      *out = (int32_t)rd_le(p, 4);
      return 0;
    case GGUF_I64:
      *out = (int64_t)rd_le(p, 8);
      return 0;
    case GGUF_U64: {
      uint64_t v = rd_le(p, 8);
      if (v > INT64_MAX) return GLOAM_ERANGE;
      *out = (int64_t)v;
      return 0;
    }
    default:
      return GLOAM_EFORMAT;
  }
}

static int scalar_float(enum gguf_type t, const uint8_t *p, double *out) {
  if (t == GGUF_F32) {
    uint32_t u = (uint32_t)rd_le(p, 4);
    float f;
    memcpy(&f, &u, 4);
    *out = f;
    return 0;
  }
  if (t == GGUF_F64) {
    uint64_t u = rd_le(p, 8);
    memcpy(out, &u, 8);
    return 0;
  }
  int64_t v;
  int rc = scalar_int(t, p, &v);
  if (rc == 0) *out = (double)v;
  return rc;
}

int gguf_kv_int(const gguf_kv *kv, int64_t *out) {
  return scalar_int(kv->type, kv->val, out);
}

int gguf_kv_float(const gguf_kv *kv, double *out) {
  return scalar_float(kv->type, kv->val, out);
}

int gguf_kv_str(const gguf_kv *kv, const char **out, size_t *out_len) {
  if (kv->type != GGUF_STRING) return GLOAM_EFORMAT;
  *out_len = (size_t)rd_le(kv->val, 8);
  *out = (const char *)kv->val + 8;
  return 0;
}

int gguf_arr_int(const gguf_kv *kv, uint64_t i, int64_t *out) {
  if (kv->type != GGUF_ARRAY || kv->arr_type == GGUF_STRING) return GLOAM_EFORMAT;
  if (i >= kv->n) return GLOAM_ERANGE;
  return scalar_int(kv->arr_type, kv->val + i * gguf_scalar_size(kv->arr_type), out);
}

int gguf_arr_float(const gguf_kv *kv, uint64_t i, double *out) {
  if (kv->type != GGUF_ARRAY || kv->arr_type == GGUF_STRING) return GLOAM_EFORMAT;
  if (i >= kv->n) return GLOAM_ERANGE;
  return scalar_float(kv->arr_type, kv->val + i * gguf_scalar_size(kv->arr_type), out);
}

int gguf_arr_str(const gguf_kv *kv, uint64_t i, const char **out, size_t *out_len) {
  if (kv->type != GGUF_ARRAY || kv->arr_type != GGUF_STRING) return GLOAM_EFORMAT;
  if (i >= kv->n) return GLOAM_ERANGE;
  const uint8_t *p = kv->val + kv->str_off[i];
  *out_len = (size_t)rd_le(p, 8);
  *out = (const char *)p + 8;
  return 0;
}
