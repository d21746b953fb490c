/* SPDX-License-Identifier: Apache-2.0
 *
 * engine/weights.h: binding a model's tensors to the forward pass's roles.
 *
 * Ownership: fills m->layers, m->embed, m->lm_head, m->out_norm from
 * m->mf, allocating only from m->ar. Thread safety: during load only.
 */
#ifndef GLOAM_ENGINE_WEIGHTS_H
#define GLOAM_ENGINE_WEIGHTS_H

#include "engine/engine_impl.h"

/* m->mf, m->cfg and m->arch must be set. Returns 0, GLOAM_ENOENT (missing
 * tensor), GLOAM_EFORMAT (shape or type does not fit the config),
 * GLOAM_ENOMEM. */
int weights_bind(gloam_model *m, char *err);

/* One tensor for architectures that bind their own layers (gemma4.c):
 * "model.layers.<l>.<what>" (or <what> when l < 0) as a [rows, cols]
 * matrix in its storage type, or as a float32 vector of n in m's arena
 * (*out NULL when absent and !required). Same codes as weights_bind(). */
int weights_mat(gloam_model *m, eng_mat *out, int l, const char *what, int64_t rows, int64_t cols,
                char *err);
int weights_vec(gloam_model *m, const float **out, int l, const char *what, int64_t n,
                bool required, char *err);

#endif
