/* SPDX-License-Identifier: Apache-2.0
 *
 * tests/engine/fixture.h: the model fixtures' reference outputs
 * (reference.json, logits, hidden states, greedy ids with their top-1
 * margins) and the comparisons every engine test makes against them.
 * Tolerance (tests/fixtures/README.md): max |logit - ref| <=
 * 1e-3 * max(1, max |ref|) at every position.
 *
 * Ownership: fixture_load() fills a caller-owned fixture whose buffers
 * fixture_free() releases; the float buffers returned are malloc'd and the
 * caller frees them. Failures abort the test (test_fail), a missing fixture
 * skips it. Thread safety: test code, one thread.
 */
#ifndef GLOAM_TESTS_ENGINE_FIXTURE_H
#define GLOAM_TESTS_ENGINE_FIXTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gloam/engine.h"

#define FIX_MAX_IDS 256

typedef struct fixture {
  char *dir;
  int32_t ids[FIX_MAX_IDS];
  int n_ids;
  int vocab;
  float *logits; /* [n_ids, vocab] */
  int n_hs, hidden;
  float *hs; /* [n_hs, n_ids, hidden] */
  int32_t greedy[FIX_MAX_IDS];
  double margin[FIX_MAX_IDS];
  int n_greedy;
} fixture;

/* dir/name as n float32 values (malloc'd); fails the test otherwise. */
float *fixture_read_f32(const char *dir, const char *name, size_t n);
/* Loads models/<family>: reference ids, logits, hidden states, greedy ids. */
void fixture_load(fixture *f, const char *family);
void fixture_free(fixture *f);
/* The model in dir (config: NULL for config.json), quantized on load by q. */
gloam_model *fixture_model_load(const char *dir, const char *config, enum gloam_quant q,
                                int threads);
gloam_session *fixture_session(gloam_model *m, int n_ctx, int n_batch, bool all);
double fixture_max_abs(const float *v, size_t n);
double fixture_max_diff(const float *a, const float *b, size_t n);
/* All-position logits of one prefill of ids (malloc'd [n, vocab]). */
float *fixture_prefill_logits(gloam_model *m, const int32_t *ids, int n);
/* Quantized logits q against the reference ref ([n, V] each): top-1
 * agreement over the decidable positions and mean KL(ref || q). */
void fixture_quant_stats(const float *ref, const float *q, int n, int V, double *agree, double *kl);

#endif
