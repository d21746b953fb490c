/* SPDX-License-Identifier: Apache-2.0
 *
 * engine/attention_impl.h: the seam between attention.c (blocking, online
 * softmax) and its SIMD inner loops (attention_x86.c).
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
#define ATT_MAX_Q 8

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

typedef void (*att_inner_fn)(const att_block *b, int c0, int n, float sc[][ATT_CHUNK]);

/* Online softmax of one query over a chunk of n raw scores sc[0..n), of
 * which [j0, j1) are visible: scales them (and applies softcap > 0), raises
 * the running max *mx, rescales the running *sum to it, writes the weights
 * exp(s - *mx) (0 where masked) into sc and adds them to *sum. Returns the
 * factor the query's output must be multiplied by (1 when *mx did not move). */
typedef float (*att_softmax_fn)(float *sc, int n, int j0, int j1, float scale, float softcap,
                                float *mx, float *sum);

/* Replaces *scores / *values / *softmax with SIMD versions when this CPU,
 * the block (head_dim) and softcap allow; leaves them otherwise. */
void attention_simd(const att_block *b, float softcap, att_inner_fn *scores, att_inner_fn *values,
                    att_softmax_fn *softmax);

/* Test hook: true makes attention use the portable loops only. */
void attention_force_generic(bool on);

#endif
