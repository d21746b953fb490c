/* SPDX-License-Identifier: Apache-2.0
 *
 * client/proxy_image.h: the image half of `gloam proxy`: POST
 * /v1/images/generations in client-sealed mode and GET
 * /v1/images/files/<id>.png (docs/images.md, "HTTP API"). proxy.c routes
 * the request through its sealed operation (chat_op with the endpoint
 * images/generations and n_images); what is specific to images is here:
 * validating the request before sealing, checking the node's answer
 * against the verified receipt (count and each PNG's SHA-256), and
 * `response_format: url`: the PNGs are kept in this process's memory and
 * served from a random, unguessable URL on the proxy itself, so images
 * never rest anywhere but the user's own machine.
 *
 * The store keeps at most PROXY_IMAGES_MAX images and PROXY_IMAGES_BYTES
 * bytes (the oldest go first) for PROXY_IMAGES_TTL_MS each.
 *
 * Ownership: the store owns its PNG copies. Thread safety: loop thread
 * only (evhttp).
 */
#ifndef GLOAM_CLIENT_PROXY_IMAGE_H
#define GLOAM_CLIENT_PROXY_IMAGE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "gloam/receipt.h"
#include "http/image_req.h"

#define PROXY_IMAGES_MAX 64
#define PROXY_IMAGES_BYTES (64u << 20)
#define PROXY_IMAGES_TTL_MS (10 * 60 * 1000)

struct evhttp_request;
typedef struct proxy_images proxy_images;

int proxy_images_new(proxy_images **out);
void proxy_images_free(proxy_images *st);

/* Validates the app's request (http/image_req.h). OUT: *r (image_req_free),
 * the body. On failure the app has been answered. */
int proxy_image_admit(struct evhttp_request *req, const uint8_t **body, size_t *len, image_req *r);

/* Answers a finished generation: the node's body (OpenAI JSON with
 * b64_json images) must hold exactly the receipt's images with its hashes
 * (else 502); with format url each PNG is stored and replaced by its URL on
 * this proxy (the request's Host). gloam (stolen) is added as "gloam". */
void proxy_image_send(struct evhttp_request *req, proxy_images *st, const uint8_t *body, size_t len,
                      enum image_format format, const gloam_receipt_claims *cl, json_t *gloam);

/* GET /v1/images/files/{name}: the stored PNG (image/png) or 404. */
void proxy_image_file(struct evhttp_request *req, proxy_images *st, const char *name);

#endif
