/* SPDX-License-Identifier: Apache-2.0
 *
 * fuzz/safetensors/fuzz_safetensors.c: the safetensors header parser and
 * the config.json parser on arbitrary bytes.
 *
 * Checks memory safety and the parser's promises: every returned tensor's
 * byte range lies inside the data section and matches its shape, and the
 * ranges are sorted and disjoint. The same input is also fed to
 * config_parse() (as config.json and as generation_config.json), whose
 * accepted configs must satisfy config_finish()'s bounds (and Gemma 4's
 * per-layer shapes their maxima, K/V sources earlier layers).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "engine/config.h"
#include "engine/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char k_base[] =
    "{\"model_type\":\"llama\",\"num_hidden_layers\":2,\"hidden_size\":64,"
    "\"num_attention_heads\":4,\"intermediate_size\":128,\"vocab_size\":100}";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > (1u << 20)) return 0;
  char err[GLOAM_ERR_LEN];
  st_header h;
  if (st_parse(data, size, &h, err) == 0) {
    uint64_t prev = 0;
    volatile uint8_t sink = 0;
    for (int i = 0; i < h.n_tensors; i++) {
      const st_tensor *t = &h.tensors[i];
      if (t->begin > t->end || t->end > h.data_len || h.data_offset + h.data_len != size) abort();
      uint64_t n = dtype_block_bytes(t->type);
      for (int d = 0; d < t->n_dims; d++) n *= (uint64_t)t->shape[d];
      if (n != t->end - t->begin) abort();
      if (t->begin != t->end) {
        if (t->begin < prev) abort();
        prev = t->end;
        sink ^= data[h.data_offset + t->begin] ^ data[h.data_offset + t->end - 1];
      }
    }
    (void)sink;
    st_header_deinit(&h);
  }
  model_config c;
  if (config_parse(&c, (const char *)data, size, NULL, 0, err) == 0) {
    if (c.n_layers < 1 || c.n_layers > MODEL_MAX_LAYERS || c.head_dim < 1 ||
        c.n_heads % c.n_kv_heads != 0 || c.rope_dim < 2 || c.rope_dim > c.head_dim ||
        c.rope_dim % 2 != 0)
      abort();
    for (int l = 0; c.arch == ARCH_GEMMA4 && l < c.n_layers; l++) {
      const gemma4_params *g = &c.g4;
      int hd = g->layer_head_dim[l], src = g->layer_kv_src[l];
      if (hd < 2 || hd % 2 || hd > g->max_head_dim || src < 0 || src > l ||
          g->layer_heads[l] % g->layer_kv_heads[l] || g->layer_heads[l] * hd > g->max_q_row ||
          g->layer_kv_heads[src] * hd > g->max_kv_row)
        abort();
    }
  }
  config_parse(&c, k_base, sizeof k_base - 1, (const char *)data, size, err);
  return 0;
}
