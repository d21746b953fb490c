/* SPDX-License-Identifier: Apache-2.0
 *
 * engine/model_quant.c: quantize-on-load. Rewrites the 2-D weight matrices
 * of an opened model into Q8_0 / Q4_0 (or Q4_K / Q6_K) owned buffers, row by
 * row through the kernels' reference quantizers (llama.cpp's formats).
 *
 * DESIGN: like llama.cpp's quantizer, the token embeddings, every 1-D
 * tensor (norms, biases), the MoE router (mlp.gate / router.proj), the
 * shared-expert gate (Qwen3.5) and every 3-D tensor (Qwen3.5's conv1d) keep their
 * type; so does a matrix whose row length is not a multiple of the block,
 * and one that is already quantized (GGUF). Each converted tensor takes one
 * owned buffer; the mapping it came from stays mapped (other tensors of the
 * same file still point into it).
 */
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "engine/model_files_int.h"
#include "kernels/kernels.h"

static bool ends_with(const char *s, const char *suffix) {
  size_t n = strlen(s), m = strlen(suffix);
  return n >= m && memcmp(s + n - m, suffix, m) == 0;
}

/* Whether quantize-on-load converts this tensor to t. */
static bool quantizable(const tensor *x, enum dtype t) {
  if (x->n_dims != 2 || !ends_with(x->name, ".weight")) return false;
  if (x->type != DT_F32 && x->type != DT_F16 && x->type != DT_BF16) return false;
  if (strstr(x->name, "embed_tokens") || ends_with(x->name, ".mlp.gate.weight") ||
      ends_with(x->name, ".shared_expert_gate.weight") || ends_with(x->name, ".router.proj.weight"))
    return false;
  return x->shape[1] % dtype_block_elems(t) == 0 && x->shape[0] > 0;
}

int mf_quantize(model_files *mf, enum dtype t, char *err) {
  int64_t max_cols = 0;
  for (int i = 0; i < mf->n_tensors; i++)
    if (quantizable(&mf->tensors[i], t) && mf->tensors[i].shape[1] > max_cols)
      max_cols = mf->tensors[i].shape[1];
  if (max_cols == 0) return 0;
  float *row = mem_calloc((size_t)max_cols, sizeof *row);
  if (!row) return err_set(err, GLOAM_ENOMEM, "out of memory");
  int rc = 0;
  for (int i = 0; i < mf->n_tensors; i++) {
    tensor *x = &mf->tensors[i];
    if (!quantizable(x, t)) continue;
    int64_t rows = x->shape[0], cols = x->shape[1];
    size_t src_rb = dtype_row_bytes(x->type, cols), dst_rb = dtype_row_bytes(t, cols);
    uint8_t *dst = mf_own(mf, (size_t)rows * dst_rb, err);
    if (!dst) {
      rc = GLOAM_ENOMEM;
      break;
    }
    const uint8_t *src = x->data;
    for (int64_t r = 0; r < rows; r++) {
      kern_dequantize_row(x->type, src + (size_t)r * src_rb, row, cols);
      kern_quantize_row(t, row, dst + (size_t)r * dst_rb, cols);
    }
    x->type = t;
    x->data = dst;
    x->n_bytes = (size_t)rows * dst_rb;
  }
  mem_free(row);
  return rc;
}
