/* SPDX-License-Identifier: Apache-2.0
 *
 * fuzz/janus_config/fuzz_janus_config.c: the Janus config.json reader
 * (janus_cfg_parse: model_type, vq_config) on arbitrary bytes.
 *
 * Checks memory safety and the parser's promises: an accepted config has
 * every size inside its documented bounds (so the decoder's buffer sizes
 * cannot overflow), and walking the decoder's tensors for it terminates
 * with names and positive shapes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/janus.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int check_tensor(void *ctx, const char *name, int nd, const int64_t *shape) {
  int *n = ctx;
  if (!name[0] || nd < 1 || nd > 4) abort();
  for (int i = 0; i < nd; i++)
    if (shape[i] < 1) abort();
  return ++*n > 100000 ? -1 : 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > (1u << 20)) return 0;
  char err[GLOAM_ERR_LEN];
  janus_cfg c;
  if (janus_cfg_parse(&c, (const char *)data, size, err) != 0) return 0;
  if (c.n_levels < 1 || c.n_levels > JANUS_MAX_LEVELS || c.grid < 1 || c.grid > JANUS_MAX_GRID ||
      c.n_res < 1 || c.n_res > JANUS_MAX_RES || c.aligner_layers < 1 ||
      c.aligner_layers > JANUS_MAX_ALIGNER || c.out_ch != 3 || c.n_codes < 1 || c.embed_dim < 1)
    abort();
  for (int i = 0; i < c.n_levels; i++)
    if (c.mult[i] < 1 || (c.base * c.mult[i]) % JANUS_GROUPS != 0) abort();
  int n = 0;
  if (vq_decoder_walk(&c, check_tensor, &n) == 0 && n < 10) abort();
  return 0;
}
