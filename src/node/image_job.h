/* SPDX-License-Identifier: Apache-2.0
 *
 * node/image_job.h: a node serving an image generation model (Janus-Pro,
 * gloam/image.h) on its engine thread: `gloam-node serve --model DIR` with
 * a Janus checkpoint loads it instead of a chat model, and every job is an
 * OpenAI /v1/images/generations request (envelope endpoint
 * images/generations).
 *
 * A job runs to completion on the engine thread inside the hardened
 * process: open the envelope, validate the JSON body (http/image_req.h; its
 * n must equal the envelope's n_images, its size the model's), generate n
 * images with a seed taken from the request id, encode each as PNG
 * (libpng, in memory), seal the answer {"created","data":[{"b64_json"}]},
 * and sign a receipt with `images`, each PNG's SHA-256 and the price
 * n x image_price.
 *
 * Thread safety: engine thread only, except image_model_detect (pure).
 */
#ifndef GLOAM_NODE_IMAGE_JOB_H
#define GLOAM_NODE_IMAGE_JOB_H

#include <stdbool.h>

#include "node/engine_int.h"

/* true when dir holds a Janus checkpoint (config.json with vq_config). */
bool image_model_detect(const char *dir);
/* Loads the image model into e->image. GLOAM_* with detail in err. */
int image_engine_load(node_engine *e, char *err);
void image_engine_free(node_engine *e);
/* Runs job j in slot s to its end: frames, then job_done or job_error, then
 * its release. */
void image_job_run(node_engine *e, node_slot *s, node_job *j);

#endif
