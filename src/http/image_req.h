/* SPDX-License-Identifier: Apache-2.0
 *
 * http/image_req.h: OpenAI's POST /v1/images/generations request (JSON),
 * validated the way the coordinator, `gloam proxy` and the node all read it
 * (docs/images.md, "HTTP API"), its per-image cost and the answer body.
 *
 *   image_req r;
 *   audio_req_error e;
 *   if (image_req_parse(body, len, &r, &e) < 0)
 *     reply e.status {"error":{"message":e.message,"param":e.param,"code":e.code}};
 *   ... r.model, r.prompt, r.n, r.format ...
 *   image_req_free(&r);
 *
 * Fields: `prompt` (required, 1 .. IMAGE_MAX_PROMPT bytes of text),
 * `model` (required here: gloam has no default image model), `n` (1 ..
 * IMAGE_MAX_N, default 1), `size` (one of the supported sizes; default the
 * model's own), `response_format` (b64_json | url, default b64_json),
 * `user` (a string, ignored). `quality`, `style`, `background`,
 * `output_format` and other fields OpenAI defines for other models are
 * ignored, as unknown fields are; wrong types are refused.
 *
 * Ownership: the strings in r are owned (image_req_free). Thread safety:
 * pure.
 */
#ifndef GLOAM_HTTP_IMAGE_REQ_H
#define GLOAM_HTTP_IMAGE_REQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "gloam/receipt.h"
#include "http/audio_req.h" /* audio_req_error: the shared OpenAI error shape */

#define IMAGE_MAX_N 4
#define IMAGE_MAX_PROMPT 4000 /* bytes; OpenAI's limit for dall-e-3 */
#define IMAGE_MAX_BODY (64u << 10)
/* The sizes gloam's image models generate (Janus-Pro), as the 400 lists them. */
#define IMAGE_SIZES "384x384"
#define IMAGE_ENDPOINT "images/generations"

enum image_format { IMAGE_FMT_B64_JSON = 0, IMAGE_FMT_URL };

typedef struct image_req {
  char model[129];
  char *prompt;      /* owned, NUL-terminated, non-empty */
  int n;             /* 1 .. IMAGE_MAX_N */
  int width, height; /* 0 when size was not given (the model's own) */
  enum image_format format;
} image_req;

/* Parses and validates a JSON body. Returns 0, or GLOAM_EFORMAT /
 * GLOAM_EINVAL / GLOAM_ETOOBIG / GLOAM_ENOMEM with *e filled (400, or 413
 * over IMAGE_MAX_BODY) and *out freed. */
int image_req_parse(const uint8_t *body, size_t len, image_req *out, audio_req_error *e);
void image_req_free(image_req *r);

/* n * per_image micro-USD; -1 on overflow (above 2^53-1) or a negative price. */
int64_t image_cost(uint64_t n, int64_t per_image);

/* The OpenAI answer {"created":T,"data":[{"b64_json":"..."}...]} for n PNGs
 * (base64, RFC 4648 §4) as a NUL-terminated string (*out owned, mem_free).
 * 0 or GLOAM_ENOMEM / GLOAM_EINVAL. */
int image_resp_body(const uint8_t *const *png, const size_t *png_len, int n, int64_t created,
                    char **out, size_t *out_len);

/* Decodes an answer's data item (its b64_json) and checks the PNG's SHA-256
 * equals want. OUT: *png (owned, mem_free), *len. 0, GLOAM_EFORMAT (no or
 * bad base64), GLOAM_EAUTH (another hash), GLOAM_ENOMEM. */
int image_item_png(const json_t *item, const uint8_t want[32], uint8_t **png, size_t *len);
/* Parses a node's answer and checks that it holds exactly the receipt's
 * cl->images images, each with its SHA-256 from cl->images_sha256: what
 * binds the delivered PNGs to the signed receipt. OUT: *out (owned) or
 * NULL. 0, GLOAM_EFORMAT, GLOAM_EAUTH, GLOAM_ENOMEM. */
int image_resp_check(const uint8_t *body, size_t len, const gloam_receipt_claims *cl, json_t **out);

#endif
