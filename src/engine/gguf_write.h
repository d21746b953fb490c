/* SPDX-License-Identifier: Apache-2.0
 *
 * engine/gguf_write.h: writes GGUF v3 files (metadata + tensors) that
 * llama.cpp and gguf.c read.
 *
 *   gguf_writer *w = gguf_writer_new();
 *   gguf_w_str(w, "general.architecture", "llama");
 *   gguf_w_u32(w, "llama.block_count", 2);
 *   int64_t ne[2] = {64, 512};   // innermost first
 *   gguf_w_tensor(w, "token_embd.weight", DT_F16, 2, ne, data, n_bytes, false);
 *   int rc = gguf_writer_write(w, "out.gguf", err);
 *   gguf_writer_free(w);
 *
 * Errors are sticky: a failing gguf_w_* call (bad arguments, ENOMEM)
 * records its code and later calls do nothing; gguf_writer_write returns
 * the first error. Alignment is 32 (the GGUF default, not written).
 *
 * Ownership: metadata is copied. Tensor data is borrowed until
 * gguf_writer_write/free unless `owned` is true, in which case the writer
 * takes the mem_alloc'd buffer (also on failure). Not thread-safe.
 */
#ifndef GLOAM_ENGINE_GGUF_WRITE_H
#define GLOAM_ENGINE_GGUF_WRITE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/gguf.h"

typedef struct gguf_writer gguf_writer;

/* NULL on out-of-memory. */
gguf_writer *gguf_writer_new(void);
void gguf_writer_free(gguf_writer *w);

int gguf_w_u32(gguf_writer *w, const char *key, uint32_t v);
int gguf_w_i32(gguf_writer *w, const char *key, int32_t v);
int gguf_w_f32(gguf_writer *w, const char *key, float v);
int gguf_w_bool(gguf_writer *w, const char *key, bool v);
int gguf_w_str(gguf_writer *w, const char *key, const char *s);
/* Numeric array: n elements of type elem (not STRING/ARRAY), little-endian
 * host layout. */
int gguf_w_arr(gguf_writer *w, const char *key, enum gguf_type elem, const void *v, uint64_t n);
/* String array: strs[i] of lens[i] bytes (lens NULL: strlen). */
int gguf_w_arr_str(gguf_writer *w, const char *key, const char *const *strs, const size_t *lens,
                   uint64_t n);

/* A tensor: ne innermost first (ne[0] = row length, a multiple of the
 * type's block), n_bytes must match. */
int gguf_w_tensor(gguf_writer *w, const char *name, enum dtype t, int n_dims, const int64_t *ne,
                  const void *data, size_t n_bytes, bool owned);

/* A tensor whose bytes are produced at write time, one tensor at a time
 * (so a converter never holds the whole model): fill(ctx, dst, n_bytes)
 * writes n_bytes into a scratch buffer and returns 0 or a negative code,
 * which aborts gguf_writer_write (err: "tensor NAME: ..."). ctx is borrowed
 * until the write. */
typedef int (*gguf_fill_fn)(void *ctx, void *dst, size_t n_bytes);
int gguf_w_tensor_fill(gguf_writer *w, const char *name, enum dtype t, int n_dims,
                       const int64_t *ne, size_t n_bytes, gguf_fill_fn fill, void *ctx);

/* Writes the file. Returns 0, the first recorded error, a fill error,
 * GLOAM_ENOMEM, GLOAM_EIO. */
int gguf_writer_write(gguf_writer *w, const char *path, char *err);

#endif
