/* SPDX-License-Identifier: Apache-2.0
 *
 * fuzz/gguf/fuzz_gguf.c: the GGUF parser and the GGUF -> model mapping on
 * arbitrary bytes.
 *
 * Checks memory safety and the parser's promises: every tensor's data lies
 * inside the buffer, every metadata accessor stays in bounds; then the whole
 * model path (metadata -> config, names, Q/K un-permutation, expert views,
 * shape checks against the config) runs on the same bytes, and every tensor
 * of an accepted model is read end to end.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "engine/gguf.h"
#include "engine/model_files_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > (1u << 20)) return 0;
  char err[GLOAM_ERR_LEN];
  gguf_ctx g;
  volatile uint8_t sink = 0;
  if (gguf_parse(data, size, &g, err) == 0) {
    for (size_t i = 0; i < g.n_tensors; i++) {
      const gguf_tensor_info *t = &g.ti[i];
      if (g.data_offset > size || t->offset + t->n_bytes > size - g.data_offset) abort();
      if (t->n_bytes) sink ^= data[g.data_offset + t->offset + t->n_bytes - 1];
    }
    for (size_t i = 0; i < g.n_kv; i++) {
      const gguf_kv *kv = &g.kv[i];
      int64_t v;
      double d;
      const char *s;
      size_t n;
      gguf_kv_int(kv, &v);
      gguf_kv_float(kv, &d);
      if (gguf_kv_str(kv, &s, &n) == 0 && n) sink ^= (uint8_t)s[n - 1];
      for (uint64_t j = 0; kv->type == GGUF_ARRAY && j < kv->n && j < 4096; j++) {
        gguf_arr_int(kv, j, &v);
        gguf_arr_float(kv, j, &d);
        if (gguf_arr_str(kv, j, &s, &n) == 0 && n) sink ^= (uint8_t)s[n - 1];
      }
      char key[80];
      size_t kl = kv->key_len < sizeof key - 1 ? kv->key_len : sizeof key - 1;
      memcpy(key, kv->key, kl);
      key[kl] = 0;
      if (kl == kv->key_len && !memchr(key, 0, kl) && gguf_find(&g, key) == NULL) abort();
    }
    gguf_ctx_deinit(&g);
  }
  model_files *mf = NULL;
  if (model_files_open_gguf_buffer(&mf, data, size, err) == 0) {
    for (int i = 0; i < model_files_n_tensors(mf); i++) {
      const tensor *t = model_files_tensor_at(mf, i);
      const uint8_t *p = t->data;
      for (size_t j = 0; j < t->n_bytes; j += 64) sink ^= p[j];
      if (t->n_bytes) sink ^= p[t->n_bytes - 1];
    }
    model_files_close(mf);
  }
  (void)sink;
  return 0;
}
