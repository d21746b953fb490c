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

/* e^x in the SIMD blocks: x = n ln2 + r, |r| <= ln2 / 2, with ln2 split in
 * a high part exact in float (n ln2_hi is exact for |n| < 2^8) and the
 * rest; e^r by its Taylor polynomial to degree 7 (relative error < 3e-8
 * before rounding), evaluated as Horner steps over ATT_EXP_C. */
#define ATT_LOG2E 1.44269504f
#define ATT_LN2_HI 0.693145752f
#define ATT_LN2_LO 1.42860677e-6f
#define ATT_EXP_C \
  { 1.0f / 5040, 1.0f / 720, 1.0f / 120, 1.0f / 24, 1.0f / 6, 0.5f, 1.0f, 1.0f }

/* Computes the whole block (outputs softmax(scale * q.K) . V into out[i])
 * with SIMD when this CPU, head_dim (a multiple of 16, at most
 * ATT_SIMD_MAX_HD) and softcap (none) allow; false leaves it to the
 * portable path. */
bool attention_block_simd(const att_block *b, float scale, float softcap);

/* The AVX2 block (attention_avx2.c): x86-64 with AVX2, FMA and F16C,
 * head_dim a multiple of 8 up to ATT_SIMD_MAX_HD. */
void attention_block_avx2(const att_block *b, float scale);

/* Test hook: true makes AVX-512 CPUs take the AVX2 block. */
void attention_force_avx2(bool on);

/* Test hook: true makes attention use the portable loops only. */
void attention_force_generic(bool on);

#endif
