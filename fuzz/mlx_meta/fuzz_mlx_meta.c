/* SPDX-License-Identifier: Apache-2.0
 *
 * fuzz/mlx_meta/fuzz_mlx_meta.c: the MLX quantization metadata parser
 * (engine/mlx_meta.h) on arbitrary config.json bytes, both as the whole
 * config and as the value of its "quantization" key.
 *
 * Checks memory safety and the parser's promises: an accepted config has
 * bits 4 or 8 and group 32, 64 or 128 for the defaults and every quantized
 * override, override paths are non-empty, bounded and unique, and each
 * override is what mlx_meta_lookup() returns for its path.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "engine/mlx_meta.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool valid(int bits, int group) {
  return (bits == 4 || bits == 8) && (group == 32 || group == 64 || group == 128);
}

static void check(const char *json, size_t len) {
  char err[GLOAM_ERR_LEN];
  mlx_meta m;
  if (mlx_meta_parse(&m, json, len, err) != 0) return;
  if (m.present && !valid(m.bits, m.group)) abort();
  if (!m.present && m.n_ov != 0) abort();
  for (int i = 0; i < m.n_ov; i++) {
    const mlx_override *o = &m.ov[i];
    size_t pl = strlen(o->path);
    if (pl == 0 || pl > MLX_META_MAX_PATH) abort();
    if (i > 0 && strcmp(m.ov[i - 1].path, o->path) >= 0) abort();
    int bits = 0, group = 0;
    int q = mlx_meta_lookup(&m, o->path, &bits, &group);
    if (q != (o->quantized ? 1 : 0)) abort();
    if (q && (bits != o->bits || group != o->group || !valid(bits, group))) abort();
  }
  mlx_meta_deinit(&m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > (1u << 16)) return 0;
  check((const char *)data, size);
  static const char pre[] = "{\"model_type\":\"qwen3\",\"quantization\":", post[] = "}";
  char *buf = malloc(sizeof pre + size + sizeof post);
  if (!buf) return 0;
  memcpy(buf, pre, sizeof pre - 1);
  memcpy(buf + sizeof pre - 1, data, size);
  memcpy(buf + sizeof pre - 1 + size, post, sizeof post - 1);
  check(buf, sizeof pre - 1 + size + sizeof post - 1);
  free(buf);
  return 0;
}
