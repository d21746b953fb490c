/* SPDX-License-Identifier: Apache-2.0
 *
 * engine/config_json.h: config.c's config.json field readers, shared with
 * the per-architecture parsers that live in their own files
 * (config_gemma4.c), and those parsers' entry points.
 *
 * Readers: an absent or null field takes def (CONFIG_NO_DEFAULT: required);
 * a present one must have the right type and lie in range. They return 0
 * or GLOAM_EFORMAT with text in err.
 *
 * Ownership: borrow the JSON; keep no pointers. Thread safety: reentrant.
 */
#ifndef GLOAM_ENGINE_CONFIG_JSON_H
#define GLOAM_ENGINE_CONFIG_JSON_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "engine/config.h"

#define CONFIG_NO_DEFAULT INT64_MIN

int config_json_int(const json_t *o, const char *key, int64_t def, int64_t lo, int64_t hi, int *out,
                    char *err);
int config_json_float(const json_t *o, const char *key, double def, float *out, char *err);
int config_json_bool(const json_t *o, const char *key, bool def, bool *out, char *err);

/* Gemma 4: fills c->g4, the experts and the final softcap from the text
 * config object o, after the common fields (sizes, rope, layer_types).
 * Returns 0, GLOAM_EFORMAT or GLOAM_EUNSUPPORTED. */
int config_gemma4_parse(model_config *c, const json_t *o, char *err);

/* Gemma 4's tensors for config_for_each_tensor(). */
int config_gemma4_tensors(const model_config *c, config_tensor_fn fn, void *ctx);

#endif
