/* SPDX-License-Identifier: Apache-2.0
 *
 * engine/moe_paging.h: reading a MoE model that does not fit in memory.
 *
 * Weights stay in the file mapping, so the kernel pages them in on demand
 * and may drop them again under memory pressure. By default a page fault on
 * a file mapping reads around the faulting page (read_ahead_kb, 8 MiB on
 * the development VM), which for a MoE pulls in neighbouring experts that
 * no token chose: measured, 5 tokens of a 4.2 GB 64-expert model made 88%
 * of the file resident. With expert paging on, the mappings are advised
 * MADV_RANDOM (no read-around) and each layer, right after routing, asks
 * the kernel to read exactly the chosen experts' matrices (MADV_WILLNEED,
 * asynchronous, all experts of the layer at once) before computing them.
 *
 * Policy: on for MoE models whose weights exceed half the physical memory;
 * GLOAM_EXPERT_PAGING=1 / =0 forces it on / off (benchmarks).
 *
 * Ownership: sets m->expert_paging; advises m's mappings. Thread safety:
 * moe_paging_init during load; moe_paging_prefetch is reentrant.
 */
#ifndef GLOAM_ENGINE_MOE_PAGING_H
#define GLOAM_ENGINE_MOE_PAGING_H

#include "engine/engine_impl.h"

/* Decides the policy for m (weights bound) and advises its mappings. */
void moe_paging_init(gloam_model *m);

/* With paging on: starts reading the matrices of every expert e of layer L
 * with eoff[e + 1] > eoff[e] (the step's pairs sorted by expert). */
void moe_paging_prefetch(const gloam_model *m, const eng_layer *L, const int32_t *eoff);

#endif
