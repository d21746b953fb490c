/* SPDX-License-Identifier: Apache-2.0
 *
 * fuzz/chat_request/fuzz_chat_request.c: OpenAI chat request validation
 * (coord/chat_req.c) on arbitrary bytes: memory safety, no leaks, and every
 * rejection carries a 400/413 status and an error code. The same bytes, read
 * as an Anthropic Messages request, go through the translation to OpenAI
 * (coord/anthropic.c), whose output must then be a JSON object.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "coord/anthropic.h"
#include "coord/chat_req.h"
#include "core/err.h"
#include "http/json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  chat_req r;
  chat_req_error e;
  if (coord_chat_req_parse((const char *)data, size, 1 << 20, &r, &e) == 0) {
    if (!r.model[0] || r.n_messages == 0 || r.max_tokens > CHAT_MAX_OUTPUT_TOKENS) abort();
    coord_chat_req_free(&r);
  } else {
    if ((e.status != 400 && e.status != 413) || !e.code[0]) abort();
  }
  char err[GLOAM_ERR_LEN], msg[200];
  json_t *a = NULL, *o = NULL;
  if (json_parse_limited((const char *)data, size, 1 << 20, 64, &a, err) == 0) {
    if (coord_anthropic_to_openai(a, &o, msg, sizeof msg) == 0) {
      if (!json_is_object(o)) abort();
      char *text = json_dumps(o, JSON_COMPACT);
      if (text && coord_chat_req_parse(text, strlen(text), 1 << 20, &r, &e) == 0)
        coord_chat_req_free(&r);
      free(text);
      json_decref(o);
    }
    json_decref(a);
  }
  return 0;
}
