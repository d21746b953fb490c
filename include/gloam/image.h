/* SPDX-License-Identifier: Apache-2.0
 *
 * gloam/image.h: text-to-image generation with autoregressive image models
 * (Janus-Pro: Hugging Face JanusForConditionalGeneration checkpoints), and
 * PNG encoding of the result.
 *
 *   gloam_image_model *im;
 *   char err[GLOAM_ERR_LEN];
 *   gloam_image_model_params mp = gloam_image_model_default_params();
 *   mp.n_threads = 4;
 *   if (gloam_image_model_load(&im, "/models/Janus-Pro-1B", &mp, err) < 0) die(err);
 *
 *   gloam_image_params p = gloam_image_default_params();
 *   p.prompt = "a red fox in the snow";   // needs the model's tokenizer.json
 *   p.seed = 42;
 *   p.n = 2;
 *   gloam_image_result r;
 *   if (gloam_image_generate(im, &p, &r, err) < 0) die(err);
 *   for (int i = 0; i < r.n; i++) {
 *     uint8_t *png; size_t len;
 *     gloam_png_encode(gloam_image_result_rgb(&r, i), r.width, r.height, &png, &len, err);
 *     write(fd, png, len);
 *     gloam_png_free(png);
 *   }
 *   gloam_image_result_free(&r);
 *   gloam_image_model_free(im);
 *
 * Generation follows the reference (transformers' Janus generate in image
 * mode): the prompt in the Janus chat format "<|User|>: TEXT\n\n<|Assistant|>:"
 * followed by <begin_of_image>, tokenized with BOS; a conditional and an
 * unconditional branch (every prompt token except BOS and <begin_of_image>
 * replaced by the pad token) run together in one batched forward pass with
 * KV caches; each step's image-token logits come from the generation head
 * on the language model's last hidden state, mixed as
 * uncond + cfg_weight * (cond - uncond) when cfg_weight > 1, then
 * temperature / top-k sampling with the seed; the chosen token is fed back
 * through the generation embeddings and aligner. The n_tokens image tokens
 * (576 for Janus-Pro: a 24 x 24 grid) are decoded by the VQ-GAN decoder into
 * pixels, converted to 8-bit as the reference's post-processing does
 * ((x + 1) / 2 * 255 clamped to [0, 255], truncated to an integer).
 *
 * Ownership: whoever loads or receives frees with the matching *_free;
 * *_free(NULL) is a no-op. Results own their pixels.
 *
 * Threads: a model is immutable after loading; any number of threads may
 * call gloam_image_generate() on it at once (each call allocates its own KV
 * caches, scratch and compute threads up front; no allocation per token).
 * Callbacks run on the calling thread. gloam_png_encode() is reentrant.
 *
 * Errors: 0 or a negative GLOAM_E* code (gloam/err.h), detail text in the
 * caller's err buffer (NULL or GLOAM_ERR_LEN bytes).
 */
#ifndef GLOAM_IMAGE_H
#define GLOAM_IMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gloam/engine.h"
#include "gloam/err.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct gloam_image_model gloam_image_model;

/* Most images one gloam_image_generate() call produces. */
#define GLOAM_IMAGE_MAX_N 16
/* Longest prompt accepted, in bytes of text and in tokens. */
#define GLOAM_IMAGE_MAX_PROMPT_BYTES (64 * 1024)
#define GLOAM_IMAGE_MAX_PROMPT_TOKENS 4096

typedef struct gloam_image_model_params {
  enum gloam_quant quantize; /* language model and heads (not the VQ decoder) */
  int n_threads;             /* compute threads per generation; <= 0: 1 */
  bool kv_f16;               /* KV caches as IEEE half */
} gloam_image_model_params;

/* No quantization, 1 thread, float32 KV cache. Thread-safe. */
GLOAM_API gloam_image_model_params gloam_image_model_default_params(void);

/* Loads a Hugging Face JanusForConditionalGeneration directory (config.json
 * with text_config, vision_config, vq_config; model.safetensors or shards;
 * optionally tokenizer.json and generation_config.json). params may be NULL.
 *   0, GLOAM_EINVAL, GLOAM_ENOENT (file or tensor missing), GLOAM_EIO,
 *   GLOAM_EFORMAT (malformed file, shapes that do not fit the config),
 *   GLOAM_EUNSUPPORTED (not a Janus checkpoint, unsupported options),
 *   GLOAM_ENOMEM. */
GLOAM_API int gloam_image_model_load(gloam_image_model **out, const char *dir,
                                     const gloam_image_model_params *params, char *err);
GLOAM_API void gloam_image_model_free(gloam_image_model *im);

/* Size of the generated images in pixels (384 x 384 for Janus-Pro). */
GLOAM_API int gloam_image_model_width(const gloam_image_model *im);
GLOAM_API int gloam_image_model_height(const gloam_image_model *im);
/* Image tokens generated per image (576 for Janus-Pro). */
GLOAM_API int gloam_image_model_n_tokens(const gloam_image_model *im);
/* Whether tokenizer.json was found (text prompts available). */
GLOAM_API bool gloam_image_model_has_tokenizer(const gloam_image_model *im);

typedef struct gloam_image_params {
  /* The prompt: text (UTF-8, NUL-terminated; needs the model's tokenizer),
   * formatted in the Janus chat format by the engine; or, when prompt is
   * NULL, prompt_ids: the complete formatted prompt as token ids (BOS first,
   * <begin_of_image> last), used as given. */
  const char *prompt;
  const int32_t *prompt_ids;
  int n_prompt_ids;
  int n;             /* images, 1 .. GLOAM_IMAGE_MAX_N; 0: 1 */
  uint64_t seed;     /* image i samples with seed + i */
  float cfg_weight;  /* classifier-free guidance scale; <= 1: no guidance
                        (the conditional branch alone); default 5 */
  float temperature; /* 0 .. 100, 0: greedy; default 1 */
  int top_k;         /* 0: the whole image vocabulary; default 0 */
  /* Token ids for the unconditional branch; -1: the model's (tokenizer or
   * generation_config.json: pad_token_id, generation_kwargs.boi_token_id;
   * for prompt_ids without them: boi = the last prompt id). */
  int32_t pad_id, boi_id;
  /* Set non-zero from any thread to stop the generation (checked after
   * every image-token step): the call returns GLOAM_ECANCELED. May be
   * NULL. */
  const volatile int *cancel;
  /* Called after each image-token step (done of total steps) and once after
   * decoding (done == total); a non-zero return stops with
   * GLOAM_ECANCELED. May be NULL. */
  int (*progress)(void *ctx, int done, int total);
  void *ctx;
} gloam_image_params;

/* The defaults above (prompt NULL, n 1, seed 0, cfg 5, temperature 1,
 * top_k 0, pad_id / boi_id -1). Thread-safe. */
GLOAM_API gloam_image_params gloam_image_default_params(void);

typedef struct gloam_image_result {
  uint8_t *rgb; /* [n, height, width, 3] 8-bit RGB, rows top to bottom */
  int n, width, height;
  int32_t *tokens; /* [n, n_tokens] the generated image tokens */
  int n_tokens;
} gloam_image_result;

/* Generates p->n images. OUT: *out (zeroed on failure).
 *   0                   done
 *   GLOAM_EINVAL        NULL arguments, empty prompt, n out of range, bad
 *                       temperature / top_k, prompt ids outside the
 *                       vocabulary, no pad token known for guidance
 *   GLOAM_ETOOBIG       prompt over the limits
 *   GLOAM_EUNSUPPORTED  a text prompt without tokenizer.json
 *   GLOAM_ECANCELED     *cancel was set or progress returned non-zero
 *   GLOAM_ENOMEM */
GLOAM_API int gloam_image_generate(const gloam_image_model *im, const gloam_image_params *p,
                                   gloam_image_result *out, char *err);

/* Image i's pixels in r ([height, width, 3]); NULL if i is out of range. */
GLOAM_API const uint8_t *gloam_image_result_rgb(const gloam_image_result *r, int i);
GLOAM_API void gloam_image_result_free(gloam_image_result *r);

/* Decodes n_tokens image tokens (n_tokens == gloam_image_model_n_tokens)
 * with the VQ-GAN decoder. OUT: rgb [height, width, 3] 8-bit, caller's
 * buffer. Returns 0, GLOAM_EINVAL (wrong count, id out of range),
 * GLOAM_ENOMEM. */
GLOAM_API int gloam_image_decode_tokens(const gloam_image_model *im, const int32_t *tokens,
                                        int n_tokens, uint8_t *rgb, char *err);

/* Encodes 8-bit RGB [height, width, 3] as PNG (libpng, default
 * compression). OUT: *png (owned, gloam_png_free) and *len.
 * Returns 0, GLOAM_EINVAL (NULL or sizes outside 1 .. 16384), GLOAM_ENOMEM,
 * GLOAM_EINTERNAL (libpng failed). */
GLOAM_API int gloam_png_encode(const uint8_t *rgb, int width, int height, uint8_t **png,
                               size_t *len, char *err);
GLOAM_API void gloam_png_free(uint8_t *png);

#ifdef __cplusplus
}
#endif
#endif
