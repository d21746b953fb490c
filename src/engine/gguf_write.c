/* SPDX-License-Identifier: Apache-2.0
 *
 * engine/gguf_write.c: the GGUF v3 writer (see gguf_write.h).
 *
 * DESIGN: metadata is serialized into a capped buffer as it is added;
 * tensor infos and data are laid out at write time, each tensor's data
 * aligned to 32 bytes as llama.cpp's gguf writer does.
 */
#include "engine/gguf_write.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/err.h"
#include "engine/gguf.h"

#define W_ALIGN 32
#define W_MAX_META ((size_t)1 << 30)

typedef struct w_tensor {
  char *name;
  enum dtype type;
  int n_dims;
  int64_t ne[4];
  const void *data;
  size_t n_bytes;
  bool owned;
  gguf_fill_fn fill; /* or NULL: data */
  void *ctx;
} w_tensor;

struct gguf_writer {
  buf kv;
  uint64_t n_kv;
  w_tensor *t;
  size_t n_t, cap_t;
  int rc; /* first error */
  char msg[GLOAM_ERR_LEN];
};

gguf_writer *gguf_writer_new(void) {
  gguf_writer *w = mem_calloc(1, sizeof *w);
  if (w) buf_init(&w->kv, W_MAX_META);
  return w;
}

void gguf_writer_free(gguf_writer *w) {
  if (!w) return;
  buf_deinit(&w->kv);
  for (size_t i = 0; i < w->n_t; i++) {
    mem_free(w->t[i].name);
    if (w->t[i].owned) mem_free((void *)w->t[i].data);
  }
  mem_free(w->t);
  mem_free(w);
}

static int fail(gguf_writer *w, int rc, const char *what) {
  if (w->rc == 0) {
    w->rc = rc;
    snprintf(w->msg, sizeof w->msg, "gguf write: %s", what);
  }
  return rc;
}

static int put_le(gguf_writer *w, uint64_t v, int n) {
  uint8_t b[8];
  for (int i = 0; i < n; i++) b[i] = (uint8_t)(v >> (8 * i));
  int rc = buf_append(&w->kv, b, (size_t)n);
  return rc < 0 ? fail(w, rc, "metadata too large") : 0;
}

static int put_str(gguf_writer *w, const char *s, size_t n) {
  if (put_le(w, n, 8) < 0) return w->rc;
  int rc = buf_append(&w->kv, s, n);
  return rc < 0 ? fail(w, rc, "metadata too large") : 0;
}

static int put_key(gguf_writer *w, const char *key, enum gguf_type t) {
  if (w->rc) return w->rc;
  if (!key || !*key) return fail(w, GLOAM_EINVAL, "empty key");
  if (put_str(w, key, strlen(key)) < 0 || put_le(w, (uint64_t)t, 4) < 0) return w->rc;
  w->n_kv++;
  return 0;
}

int gguf_w_u32(gguf_writer *w, const char *key, uint32_t v) {
  return put_key(w, key, GGUF_U32) ? w->rc : put_le(w, v, 4);
}

int gguf_w_i32(gguf_writer *w, const char *key, int32_t v) {
  return put_key(w, key, GGUF_I32) ? w->rc : put_le(w, (uint32_t)v, 4);
}

int gguf_w_f32(gguf_writer *w, const char *key, float v) {
  uint32_t u;
  memcpy(&u, &v, 4);
  return put_key(w, key, GGUF_F32) ? w->rc : put_le(w, u, 4);
}

int gguf_w_bool(gguf_writer *w, const char *key, bool v) {
  return put_key(w, key, GGUF_BOOL) ? w->rc : put_le(w, v ? 1 : 0, 1);
}

int gguf_w_str(gguf_writer *w, const char *key, const char *s) {
  return put_key(w, key, GGUF_STRING) ? w->rc : put_str(w, s, strlen(s));
}

int gguf_w_arr(gguf_writer *w, const char *key, enum gguf_type elem, const void *v, uint64_t n) {
  size_t es = gguf_scalar_size(elem);
  if (!es) return fail(w, GLOAM_EINVAL, "bad array element type");
  if (put_key(w, key, GGUF_ARRAY) || put_le(w, (uint64_t)elem, 4) || put_le(w, n, 8)) return w->rc;
  const uint8_t *p = v;
  for (uint64_t i = 0; i < n; i++) { /* host -> little-endian, element by element */
    uint64_t x = 0;
    memcpy(&x, p + i * es, es); /* little-endian hosts only (as ggml) */
    if (put_le(w, x, (int)es) < 0) return w->rc;
  }
  return 0;
}

int gguf_w_arr_str(gguf_writer *w, const char *key, const char *const *strs, const size_t *lens,
                   uint64_t n) {
  if (put_key(w, key, GGUF_ARRAY) || put_le(w, GGUF_STRING, 4) || put_le(w, n, 8)) return w->rc;
  for (uint64_t i = 0; i < n; i++)
    if (put_str(w, strs[i], lens ? lens[i] : strlen(strs[i])) < 0) return w->rc;
  return 0;
}

static int add_tensor(gguf_writer *w, const char *name, enum dtype t, int n_dims, const int64_t *ne,
                      size_t n_bytes, w_tensor **out) {
  if (w->rc) return w->rc;
  if (gguf_ggml_type(t) < 0 || n_dims < 1 || n_dims > 4 || !name || !*name ||
      strlen(name) > GGUF_MAX_NAME)
    return fail(w, GLOAM_EINVAL, "bad tensor arguments");
  uint64_t rows = 1;
  for (int i = 1; i < n_dims; i++) rows *= (uint64_t)ne[i];
  size_t rb = dtype_row_bytes(t, ne[0]);
  if (!rb || rows * rb != n_bytes)
    return fail(w, GLOAM_EINVAL, "tensor size does not match its shape");
  if (w->n_t == w->cap_t) {
    size_t nc = w->cap_t ? w->cap_t * 2 : 64;
    w_tensor *nt = mem_reallocarray(w->t, nc, sizeof *nt);
    if (!nt) return fail(w, GLOAM_ENOMEM, "out of memory");
    w->t = nt;
    w->cap_t = nc;
  }
  w_tensor *x = &w->t[w->n_t];
  memset(x, 0, sizeof *x);
  x->name = mem_strdup(name);
  if (!x->name) return fail(w, GLOAM_ENOMEM, "out of memory");
  x->type = t;
  x->n_dims = n_dims;
  for (int i = 0; i < n_dims; i++) x->ne[i] = ne[i];
  x->n_bytes = n_bytes;
  w->n_t++;
  *out = x;
  return 0;
}

int gguf_w_tensor(gguf_writer *w, const char *name, enum dtype t, int n_dims, const int64_t *ne,
                  const void *data, size_t n_bytes, bool owned) {
  w_tensor *x;
  int rc = add_tensor(w, name, t, n_dims, ne, n_bytes, &x);
  if (rc < 0) {
    if (owned) mem_free((void *)data);
    return rc;
  }
  x->data = data;
  x->owned = owned;
  return 0;
}

int gguf_w_tensor_fill(gguf_writer *w, const char *name, enum dtype t, int n_dims,
                       const int64_t *ne, size_t n_bytes, gguf_fill_fn fill, void *ctx) {
  w_tensor *x;
  int rc = add_tensor(w, name, t, n_dims, ne, n_bytes, &x);
  if (rc < 0) return rc;
  x->fill = fill;
  x->ctx = ctx;
  return 0;
}

static size_t pad_to(size_t n) {
  return (W_ALIGN - n % W_ALIGN) % W_ALIGN;
}

static int wr(FILE *f, const void *p, size_t n) {
  return fwrite(p, 1, n, f) == n ? 0 : -1;
}

static int wr_le(FILE *f, uint64_t v, int n) {
  uint8_t b[8];
  for (int i = 0; i < n; i++) b[i] = (uint8_t)(v >> (8 * i));
  return wr(f, b, (size_t)n);
}

int gguf_writer_write(gguf_writer *w, const char *path, char *err) {
  if (w->rc) return err_set(err, w->rc, "%s", w->msg);
  FILE *f = fopen(path, "wb");
  if (!f) return err_set(err, GLOAM_EIO, "%s: %s", path, strerror(errno));
  static const uint8_t zeros[W_ALIGN];
  int bad = wr(f, "GGUF", 4) | wr_le(f, 3, 4) | wr_le(f, w->n_t, 8) | wr_le(f, w->n_kv, 8);
  if (w->kv.len) bad |= wr(f, w->kv.data, w->kv.len);
  size_t pos = 24 + w->kv.len, off = 0;
  for (size_t i = 0; i < w->n_t; i++) {
    const w_tensor *x = &w->t[i];
    size_t nl = strlen(x->name);
    bad |= wr_le(f, nl, 8) | wr(f, x->name, nl) | wr_le(f, (uint64_t)x->n_dims, 4);
    for (int d = 0; d < x->n_dims; d++) bad |= wr_le(f, (uint64_t)x->ne[d], 8);
    bad |= wr_le(f, (uint64_t)gguf_ggml_type(x->type), 4) | wr_le(f, off, 8);
    pos += 8 + nl + 4 + 8 * (size_t)x->n_dims + 4 + 8;
    off += x->n_bytes + pad_to(x->n_bytes);
  }
  bad |= wr(f, zeros, pad_to(pos));
  int rc = 0;
  for (size_t i = 0; i < w->n_t && !bad && rc == 0; i++) {
    const w_tensor *x = &w->t[i];
    const void *data = x->data;
    void *scratch = NULL;
    if (x->fill) {
      scratch = mem_alloc(x->n_bytes ? x->n_bytes : 1);
      if (!scratch)
        rc = err_set(err, GLOAM_ENOMEM, "tensor %s: out of memory", x->name);
      else if ((rc = x->fill(x->ctx, scratch, x->n_bytes)) < 0)
        rc = err_set(err, rc, "tensor %s: %s", x->name, gloam_strerror(rc));
      data = scratch;
    }
    if (rc == 0) bad |= wr(f, data, x->n_bytes) | wr(f, zeros, pad_to(x->n_bytes));
    mem_free(scratch);
  }
  if (fclose(f) != 0) bad = -1;
  if (bad || rc < 0) {
    remove(path);
    return rc < 0 ? rc : err_set(err, GLOAM_EIO, "%s: write failed", path);
  }
  return 0;
}
