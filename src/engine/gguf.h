/* SPDX-License-Identifier: Apache-2.0
 *
 * engine/gguf.h: the GGUF container (llama.cpp's model format, versions 2
 * and 3), parsed from a byte buffer: the caller mmaps the file; the fuzzer
 * passes arbitrary bytes.
 *
 *   gguf_ctx g;
 *   if (gguf_parse(map, map_len, &g, err) < 0) ...
 *   const gguf_kv *kv = gguf_find(&g, "general.architecture");
 *   const char *s; size_t n;
 *   if (kv && gguf_kv_str(kv, &s, &n) == 0) ...
 *   data of tensor i: map + g.data_offset + g.ti[i].offset
 *   gguf_ctx_deinit(&g);
 *
 * Layout (little-endian): "GGUF", u32 version, u64 n_tensors, u64 n_kv;
 * n_kv x {string key, u32 type, value}; n_tensors x {string name, u32 n_dims,
 * u64 ne[n_dims] (innermost first), u32 ggml type, u64 offset}; padding to
 * general.alignment (default 32); tensor data. A string is u64 length +
 * bytes (no NUL); an array is u32 element type + u64 count + elements.
 *
 * Checked before anything is returned: magic and version; counts against
 * GGUF_MAX_* and the bytes left; every string and array inside the buffer
 * (overflow-safe); no nested arrays; no duplicate keys or tensor names;
 * alignment a power of two; per tensor 1..4 dims, each in [1, 2^40), row
 * length a multiple of the type's block, byte size without overflow, offset
 * aligned, data inside the buffer and not overlapping another tensor. Tensor
 * types F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q6_K load; other ggml types give
 * GLOAM_EUNSUPPORTED.
 *
 * Ownership: the ctx owns its arrays; keys, names and string values point
 * into buf, which must outlive the ctx. Thread safety: a parsed ctx is
 * immutable and may be read from several threads.
 */
#ifndef GLOAM_ENGINE_GGUF_H
#define GLOAM_ENGINE_GGUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kernels/dtype.h"

#define GGUF_MAX_TENSORS (1 << 20)
#define GGUF_MAX_KV (1 << 20)
#define GGUF_MAX_KEY 65536
#define GGUF_MAX_NAME 512
#define GGUF_DEFAULT_ALIGNMENT 32

enum gguf_type {
  GGUF_U8 = 0,
  GGUF_I8 = 1,
  GGUF_U16 = 2,
  GGUF_I16 = 3,
  GGUF_U32 = 4,
  GGUF_I32 = 5,
  GGUF_F32 = 6,
  GGUF_BOOL = 7,
  GGUF_STRING = 8,
  GGUF_ARRAY = 9,
  GGUF_U64 = 10,
  GGUF_I64 = 11,
  GGUF_F64 = 12,
  GGUF_TYPE_COUNT
};

/* Bytes of one scalar of type t (0 for strings and arrays). */
size_t gguf_scalar_size(enum gguf_type t);

/* ggml tensor type ids used in GGUF files. */
enum ggml_type_id {
  GGML_F32 = 0,
  GGML_F16 = 1,
  GGML_Q4_0 = 2,
  GGML_Q8_0 = 8,
  GGML_Q4_K = 12,
  GGML_Q6_K = 14,
  GGML_BF16 = 30,
};

typedef struct gguf_kv {
  const char *key; /* into buf, key_len bytes, not NUL-terminated */
  size_t key_len;
  enum gguf_type type;
  enum gguf_type arr_type; /* arrays: element type */
  uint64_t n;              /* arrays: element count; scalars: 1 */
  const uint8_t *val;      /* the value (arrays: the first element) */
  uint64_t *str_off;       /* string arrays: offset of each element from val (owned) */
} gguf_kv;

typedef struct gguf_tensor_info {
  const char *name; /* into buf, name_len bytes */
  size_t name_len;
  int n_dims;
  int64_t ne[4]; /* innermost first: ne[0] is the row length */
  int ggml_type;
  enum dtype type;
  uint64_t offset; /* from data_offset */
  size_t n_bytes;
} gguf_tensor_info;

typedef struct gguf_ctx {
  const uint8_t *buf;
  size_t len;
  uint32_t version;
  gguf_kv *kv; /* sorted by key */
  size_t n_kv;
  gguf_tensor_info *ti; /* file order */
  size_t n_tensors;
  size_t alignment;
  size_t data_offset;
} gguf_ctx;

/* Parses and validates. OUT: *g (zeroed on failure). Returns 0,
 * GLOAM_EFORMAT, GLOAM_EUNSUPPORTED (version, tensor type), GLOAM_ENOMEM. */
int gguf_parse(const uint8_t *buf, size_t len, gguf_ctx *g, char *err);
void gguf_ctx_deinit(gguf_ctx *g);

/* The entry for a NUL-terminated key, or NULL. */
const gguf_kv *gguf_find(const gguf_ctx *g, const char *key);
/* Scalar values. Return 0 or GLOAM_EFORMAT when the type does not fit:
 * _int takes any integer type or bool; _float any float or integer type. */
int gguf_kv_int(const gguf_kv *kv, int64_t *out);
int gguf_kv_float(const gguf_kv *kv, double *out);
int gguf_kv_str(const gguf_kv *kv, const char **out, size_t *out_len);
/* Element i of an array (GLOAM_ERANGE past the end). */
int gguf_arr_int(const gguf_kv *kv, uint64_t i, int64_t *out);
int gguf_arr_float(const gguf_kv *kv, uint64_t i, double *out);
int gguf_arr_str(const gguf_kv *kv, uint64_t i, const char **out, size_t *out_len);

/* ggml type id <-> dtype; -1 / false when there is none. */
int gguf_ggml_type(enum dtype t);
const char *gguf_type_name(int ggml_type);

#endif
