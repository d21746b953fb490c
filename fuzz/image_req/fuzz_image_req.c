/* SPDX-License-Identifier: Apache-2.0
 *
 * fuzz/image_req/fuzz_image_req.c: the /v1/images/generations request
 * validation (http/image_req.h) on arbitrary bytes, as the coordinator, the
 * proxy and the node (inside the sealed envelope) read them. Accepted
 * requests must hold what the validation promises.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http/image_req.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  image_req r;
  audio_req_error e;
  if (image_req_parse(data, size, &r, &e) == 0) {
    size_t n = strlen(r.prompt);
    if (n == 0 || n > IMAGE_MAX_PROMPT || r.n < 1 || r.n > IMAGE_MAX_N || !r.model[0]) abort();
    if (r.width && (r.width != 384 || r.height != 384)) abort();
    image_req_free(&r);
  } else if (e.status != 400 && e.status != 413 && e.status != 500) {
    abort();
  }
  return 0;
}
