/* SPDX-License-Identifier: Apache-2.0
 *
 * engine/deltanet.h: the Gated DeltaNet linear-attention block of Qwen3.5
 * (transformers' Qwen3_5GatedDeltaNet), over a step's rows:
 *
 *   qkv = h W_qkv; z = h W_z; b = h W_b; a = h W_a
 *   qkv = silu(causal depthwise conv1d(qkv))          (kernel K, per channel)
 *   q, k = l2norm(q), l2norm(k) per key head; q /= sqrt(k_dim)
 *   beta = sigmoid(b); g = -exp(A_log) * softplus(a + dt_bias)
 *   per value head (key head = value head / (v_heads / k_heads)), per token:
 *     S = exp(g) S;  S += k (beta (v - S^T k))^T;  o = S^T q
 *   o = rmsnorm(o) * w_norm * silu(z) per value head;  out = o W_out
 *
 * State (per session and linear layer, deltanet_state_floats()): the last
 * K-1 inputs of the convolution [K-1, conv_dim] (conv_dim = 2 k_heads k_dim
 * + v_heads v_dim), then the delta-rule matrices transposed, S^T [v_heads,
 * v_dim, k_dim] (so S^T k and S^T q are rows-times-vector products).
 * A row at position 0 starts from a zero state, so a reset session needs no
 * clearing; every other row continues its session's state, so the rows of
 * one session in a step must be consecutive and in position order (a
 * prefill, or one item of a continuous batch).
 *
 * DESIGN: runs of 16 or more rows of one session use the chunked form of the
 * delta rule (chunks of 64 tokens: intra-chunk terms by a unit lower
 * triangular solve, the state read and written once per chunk through
 * float32 kern_matmul products), shorter runs and decode the recurrent form;
 * both are the same function of the inputs (transformers'
 * torch_chunk_gated_delta_rule and torch_recurrent_gated_delta_rule). Value
 * heads are split over the pool's threads, one chunk scratch per thread.
 *
 * Ownership: writes the step's scratch (eng_work.lin) and the rows'
 * sessions' lin_state. Thread safety: one caller per eng_work.
 */
#ifndef GLOAM_ENGINE_DELTANET_H
#define GLOAM_ENGINE_DELTANET_H

#include <stddef.h>

#include "engine/engine_impl.h"

/* Floats of one linear layer's state; 0 for models without such layers. */
size_t deltanet_state_floats(const model_config *c);

/* Floats of the scratch (eng_work.lin) for n_rows rows computed by
 * n_threads threads; 0 without linear layers. */
size_t deltanet_work_floats(const model_config *c, int n_rows, int n_threads);

/* w->o[T, hidden] = the block of layer L over w->h[T, hidden], reading and
 * advancing the state of each row's session. Never allocates. */
void deltanet_forward(eng_work *w, const gloam_model *m, const eng_layer *L, int T);

#endif
