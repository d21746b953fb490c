/* SPDX-License-Identifier: Apache-2.0
 *
 * engine/whisper_rules.h: Whisper's logit rules and token choice, as OpenAI's
 * whisper (decoding.py) and transformers' Whisper logits processors apply
 * them: suppressed tokens, tokens suppressed at the first step, and the
 * timestamp rules (timestamps come in pairs, never decrease, the first
 * token is a timestamp <= 1 s, and a timestamp is forced when their total
 * probability beats every text token).
 *
 * Thread safety: pure functions, except whisper_rng which is the caller's.
 */
#ifndef GLOAM_ENGINE_WHISPER_RULES_H
#define GLOAM_ENGINE_WHISPER_RULES_H

#include <stdbool.h>
#include <stdint.h>

#include "engine/whisper.h"

/* Applies the rules to logits [vocab] in place. sampled[0..n): the tokens
 * chosen so far in this window (after the special prompt). */
void whisper_apply_rules(const whisper_hparams *hp, float *logits, const int32_t *sampled, int n,
                         bool timestamps);

/* Picks a token: argmax at temperature 0, else a sample from
 * softmax(logits / temperature). OUT: *logprob, the token's log-probability
 * under softmax(logits). rng: xorshift state (non-zero). */
int32_t whisper_pick(const float *logits, int vocab, float temperature, uint64_t *rng,
                     double *logprob);

/* Index of lang ("en") in Whisper's language list, or -1. n_langs: 99 or 100. */
int whisper_lang_index(const char *lang, int n_langs);
/* The code of language index i (borrowed, static). */
const char *whisper_lang_code(int i);

#endif
