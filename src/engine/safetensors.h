/* SPDX-License-Identifier: Apache-2.0
 *
 * engine/safetensors.h: the safetensors container, parsed from a byte
 * buffer (the caller mmaps the file; the fuzzer passes arbitrary bytes).
 *
 *   st_header h;
 *   if (st_parse(map, map_len, &h, err) < 0) ...
 *   for (int i = 0; i < h.n_tensors; i++)
 *     data = map + h.data_offset + h.tensors[i].begin;
 *   st_header_deinit(&h);
 *
 * Layout: u64 little-endian header length N, N bytes of JSON
 * {"name": {"dtype": "BF16", "shape": [..], "data_offsets": [b, e]}, ...,
 * "__metadata__": {str: str}}, then the data section; offsets are relative
 * to the data section.
 *
 * Checked before anything is returned: N <= ST_MAX_HEADER and N + 8 <= len;
 * valid UTF-8 JSON without duplicate keys; dtype one of F32, F16, BF16, U32
 * (MLX's packed weights; other safetensors dtypes: GLOAM_EUNSUPPORTED); at
 * most MODEL_MAX_DIMS dims, each < 2^40, product * element size without overflow and equal to
 * e - b; b <= e <= data length; ranges do not overlap. Tensors come back
 * sorted by begin offset.
 *
 * Ownership: st_header owns its array and names; st_header_deinit frees
 * them. Nothing points into buf. Thread safety: reentrant.
 */
#ifndef GLOAM_ENGINE_SAFETENSORS_H
#define GLOAM_ENGINE_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "engine/model_files.h"

#define ST_MAX_HEADER (100u << 20) /* as the reference implementation */
#define ST_MAX_TENSORS (1 << 20)
#define ST_MAX_NAME 1024

typedef struct st_tensor {
  char *name; /* owned */
  enum dtype type;
  int n_dims;
  int64_t shape[MODEL_MAX_DIMS]; /* outermost first */
  uint64_t begin, end;           /* byte range within the data section */
} st_tensor;

typedef struct st_header {
  st_tensor *tensors; /* owned, sorted by begin */
  int n_tensors;
  size_t data_offset; /* 8 + N: where the data section starts in buf */
  size_t data_len;    /* len - data_offset */
} st_header;

/* Parses and validates the header of a safetensors file held in buf.
 * OUT: *out (zeroed on failure). Returns 0, GLOAM_EFORMAT, GLOAM_EUNSUPPORTED
 * (dtype), GLOAM_ENOMEM. err gets the detail. */
int st_parse(const uint8_t *buf, size_t len, st_header *out, char *err);
void st_header_deinit(st_header *h);

#endif
