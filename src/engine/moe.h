/* SPDX-License-Identifier: Apache-2.0
 *
 * engine/moe.h: the feed-forward blocks: the dense gated MLP and the routed
 * mixture of experts (Qwen3-MoE: softmax over the router logits, top-k,
 * optional renormalisation of the k weights), run over a step's tokens.
 *
 * MiniMax M2 routing: sigmoid scores, the top-k chosen by score + a
 * selection-only bias (e_score_correction_bias), the k weights (the plain
 * sigmoid scores) divided by their sum.
 *
 * Only the experts some token chose are read, each once per step: experts
 * with many tokens run over their gathered rows, the ones with few tokens
 * (decode) together in one pool dispatch per matrix kind (moe.c).
 *
 * Ownership: writes the step's scratch (eng_work) only. Thread safety: one
 * caller per eng_work.
 */
#ifndef GLOAM_ENGINE_MOE_H
#define GLOAM_ENGINE_MOE_H

#include <stdbool.h>
#include <stdint.h>

#include "engine/engine_impl.h"

/* Top-k of softmax(logits[n]) into sel[k] / w[k], best first (ties: lower
 * index first); with norm the k weights are divided by their sum. */
void moe_route(const float *logits, int n, int k, bool norm, float *probs_scratch, int32_t *sel,
               float *w);

/* out[T, hidden] = the routed experts of layer L over h[T, hidden], with
 * the routing already in w->sel / w->sel_w ([T, n_experts_per_tok]). */
void moe_experts(eng_work *w, const gloam_model *m, const eng_layer *L, const float *h, float *out,
                 int T);
/* MiniMax M2: top-k of sigmoid(logits[n]) + bias[n] (bias may be NULL)
 * into sel[k], weights sigmoid(logits[sel]) normalised to sum 1. */
void moe_route_sigmoid(const float *logits, const float *bias, int n, int k, float *probs_scratch,
                       int32_t *sel, float *w);

/* out[T, hidden] = MLP(h[T, hidden]) for layer L (dense or routed). */
void ffn_forward(eng_work *w, const gloam_model *m, const eng_layer *L, const float *h, float *out,
                 int T);

#endif
