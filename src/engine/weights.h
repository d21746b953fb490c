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

#endif
