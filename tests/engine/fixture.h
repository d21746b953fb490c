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

#include <jansson.h>

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
/* The fixtures' tolerance for values ref[0..n): 1e-3 * max(1, max |ref|). */
double fixture_tolerance(const float *ref, size_t n);
/* All-position logits of one prefill of ids (malloc'd [n, vocab]). */
float *fixture_prefill_logits(gloam_model *m, const int32_t *ids, int n);
/* The hidden states of one prefill of f's ids against the reference, every
 * layer within the tolerance (fails the test naming `what`); returns the
 * largest error. */
double fixture_check_hidden(gloam_model *m, const fixture *f, const char *what);
/* Greedy decode after f's prompt against its greedy ids, up to the first
 * step with top-1 margin <= 0.05; returns the steps compared. */
int fixture_check_greedy(gloam_model *m, const fixture *f);
/* f's model quantized on load by q: top-1 agreement and mean KL of its
 * prefill logits against the reference. */
void fixture_quant_on_load(const fixture *f, enum gloam_quant q, double *agree, double *kl);
/* Continuous batching of three sequences seq[q][0..n) against each alone:
 * plan[step][q] tokens per step (0: not in the step; after n_plan steps one
 * each), batches of up to max_tokens rows, item order alternating; then a
 * reset sequence restarts in a step that must not allocate. Returns the
 * largest |batched - alone| logit difference; *out_steps, *out_scale (the
 * largest |logit|). */
double fixture_batch_vs_alone(gloam_model *m, const int32_t *const seq[3], int n, int max_tokens,
                              const int (*plan)[3], int n_plan, int *out_steps, double *out_scale);
/* fixture_batch_vs_alone(), printed under `what`, failing the test when
 * the difference exceeds 1e-4 of the logit scale. */
void fixture_check_batch(gloam_model *m, const int32_t *const seq[3], int n, int max_tokens,
                         const int (*plan)[3], int n_plan, const char *what);
/* Quantized logits q against the reference ref ([n, V] each): top-1
 * agreement over the decidable positions and mean KL(ref || q). */
void fixture_quant_stats(const float *ref, const float *q, int n, int V, double *agree, double *kl);

/* Copies models/<family> into a fresh temp dir (returned, malloc'd),
 * letting edit() change the safetensors header (tensor name -> {dtype,
 * shape, data_offsets}) and config.json first. */
char *fixture_edited_copy(const char *family, void (*edit)(json_t *hdr, json_t *cfg));

/* The tensor data of a fixture being copied (data, len: the original, after
 * the header); an edit may append bytes in extra (malloc'd, extra_len;
 * freed by the copier) that tensors it adds point into, at data_offsets
 * from len upward. */
typedef struct fixture_data {
  const unsigned char *data;
  size_t len;
  unsigned char *extra;
  size_t extra_len;
} fixture_data;
typedef void (*fixture_edit_fn)(json_t *hdr, json_t *cfg, fixture_data *data, void *ctx);
char *fixture_edited_copy_ex(const char *family, fixture_edit_fn edit, void *ctx);
/* In such a header: give tensor name the 2-D shape [a, b]; rename it to
 * "<name>.renamed" (so the model lacks it). */
void fixture_set_shape(json_t *hdr, const char *name, int64_t a, int64_t b);
void fixture_rename_tensor(json_t *hdr, const char *name);

#endif
