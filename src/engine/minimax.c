/* SPDX-License-Identifier: Apache-2.0
 *
 * engine/minimax.c: MiniMax M2 tensor names -> the engine's MoE names (see
 * minimax.h).
 */
#include "engine/minimax.h"

#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"

/* The new name of a block_sparse_moe tensor into out, or false. */
static bool minimax_name(const char *name, char *out, size_t out_len) {
  static const char *const key = ".block_sparse_moe.";
  static const char *const from[3] = {".w1.weight", ".w3.weight", ".w2.weight"};
  static const char *const to[3] = {".gate_proj.weight", ".up_proj.weight", ".down_proj.weight"};
  const char *k = strstr(name, key);
  if (!k) return false;
  const char *rest = k + strlen(key);
  size_t n = strlen(rest);
  for (int i = 0; i < 3; i++) {
    size_t m = strlen(from[i]);
    if (strncmp(rest, "experts.", 8) == 0 && n > m && strcmp(rest + n - m, from[i]) == 0) {
      int w = snprintf(out, out_len, "%.*s.mlp.%.*s%s", (int)(k - name), name, (int)(n - m), rest,
                       to[i]);
      return w > 0 && (size_t)w < out_len;
    }
  }
  int w = snprintf(out, out_len, "%.*s.mlp.%s", (int)(k - name), name, rest);
  return w > 0 && (size_t)w < out_len;
}

int minimax_rename_tensors(model_files *mf, char *err) {
  if (mf->cfg.arch != ARCH_MINIMAX_M2) return 0;
  char buf[256];
  for (int i = 0; i < mf->n_tensors; i++) {
    tensor *t = &mf->tensors[i];
    if (!minimax_name(t->name, buf, sizeof buf)) continue;
    char *nm = mem_strdup(buf);
    if (!nm) return err_set(err, GLOAM_ENOMEM, "out of memory");
    mem_free((char *)t->name);
    t->name = nm;
  }
  return 0;
}
