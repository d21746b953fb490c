/* SPDX-License-Identifier: Apache-2.0
 *
 * engine/tokenizer_gguf_mf.c: tokenizer_from_model_files(), the GGUF
 * tokenizer builder over model_files' metadata accessors. Kept apart from
 * tokenizer_gguf.c so programs that only parse GGUF bytes (tests, fuzzers)
 * need not link the model loader.
 */
#include "engine/tokenizer_gguf.h"

#include "core/err.h"

static int mf_str(const void *c, const char *key, const char **s, size_t *n) {
  return model_files_meta_str(c, key, s, n);
}
static int mf_i64(const void *c, const char *key, int64_t *v) {
  return model_files_meta_int(c, key, v);
}
static int mf_arr_len(const void *c, const char *key, uint64_t *n) {
  return model_files_meta_arr_len(c, key, n);
}
static int mf_arr_str(const void *c, const char *key, uint64_t i, const char **s, size_t *n) {
  return model_files_meta_arr_str(c, key, i, s, n);
}
static int mf_arr_int(const void *c, const char *key, uint64_t i, int64_t *v) {
  return model_files_meta_arr_int(c, key, i, v);
}
static int mf_arr_float(const void *c, const char *key, uint64_t i, double *v) {
  return model_files_meta_arr_float(c, key, i, v);
}

int tokenizer_from_model_files(gloam_tokenizer **out, const model_files *mf, char *err) {
  tok_meta m = {mf, mf_str, mf_i64, mf_arr_len, mf_arr_str, mf_arr_int, mf_arr_float};
  return tokenizer_from_meta(out, &m, err);
}
