/* SPDX-License-Identifier: Apache-2.0
 *
 * engine/attention_impl.h: the seam between attention.c (blocking, online
 * softmax) and its SIMD inner loops (attention_x86.c, attention_arm.c).
 *
 * A block is up to ATT_MAX_Q query vectors reading the same KV head of one
 * cache. Inner loops over a chunk of n <= ATT_CHUNK positions c0 ..:
 *   scores: sc[i][j] = q[i] . K[c0 + j]          (raw, unscaled)
 *   values: out[i] += sum_j sc[i][j] * V[c0 + j]
 * K/V position p of the block's head starts at element p * stride + off.
 *
 * Ownership: borrowed pointers only. Thread safety: reentrant.
 */
#ifndef GLOAM_ENGINE_ATTENTION_IMPL_H
#define GLOAM_ENGINE_ATTENTION_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ATT_CHUNK 64
#define ATT_MAX_Q 16

typedef struct att_block {
  const float *q[ATT_MAX_Q];
  float *out[ATT_MAX_Q];
  int first[ATT_MAX_Q], last[ATT_MAX_Q]; /* visible positions of each query */
  int nq;
  const uint8_t *K, *V;
  size_t stride, off; /* in elements */
  int hd;
  bool f16;
} att_block;

#define ATT_SIMD_MAX_HD 512 /* larger heads take the portable path */

/* Computes the whole block (outputs softmax(scale * q.K) . V into out[i])
 * with SIMD when this CPU, head_dim (a multiple of 16, at most
 * ATT_SIMD_MAX_HD) and softcap (none) allow; false leaves it to the
 * portable path. */
bool attention_block_simd(const att_block *b, float scale, float softcap);

/* Test hook: true makes attention use the portable loops only. */
void attention_force_generic(bool on);

#endif
