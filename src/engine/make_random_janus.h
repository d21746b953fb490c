/* SPDX-License-Identifier: Apache-2.0
 *
 * engine/make_random_janus.h: random-weight Janus-Pro checkpoints for the
 * image-generation benchmark (docs/images.md): a Hugging Face directory
 * (config.json, generation_config.json, model.safetensors) with the shapes
 * of Janus-Pro-1B or -7B (language model, generation embeddings / aligner /
 * head, VQ decoder; no vision encoder, which generation does not use).
 *
 *   make_random_janus("/tmp/janus-1b", "janus-pro-1b", DT_BF16, 1, err);
 *
 * Weights are uniform with std ~0.02 (norm weights one, biases zero) in
 * BF16 or F16, streamed to disk in chunks; quantize on load (gloam-engine
 * imagine --quant q8_0) for smaller working sets. Same seed, same bytes.
 *
 * Ownership: nothing retained. Thread safety: reentrant.
 */
#ifndef GLOAM_ENGINE_MAKE_RANDOM_JANUS_H
#define GLOAM_ENGINE_MAKE_RANDOM_JANUS_H

#include <stdint.h>

#include "kernels/dtype.h"

/* Writes the checkpoint into dir (created if missing). shape:
 * "janus-pro-1b" | "janus-pro-7b"; t: DT_BF16 or DT_F16.
 * 0, GLOAM_EINVAL, GLOAM_ENOMEM, GLOAM_EIO; detail in err. */
int make_random_janus(const char *dir, const char *shape, enum dtype t, uint64_t seed, char *err);

#endif
