/* SPDX-License-Identifier: Apache-2.0
 *
 * fuzz/job_request/fuzz_job_request.c: the node's OpenAI chat request parser
 * (src/node/request.c) on arbitrary bytes, and the output splitter
 * (src/node/outparse.c) on the same bytes as generated text. Checks memory
 * safety and invariants: a parsed request has 1.. messages, stop strings
 * within limits, sampling values in range; a refused one is fully released.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "node/outparse.h"
#include "node/request.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int sink(void *ud, enum outparse_kind k, const char *a, size_t al, const char *b,
                size_t bl) {
  size_t *total = ud;
  *total += al + bl;
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > (1u << 20)) return 0;
  node_request r;
  char err[256];
  if (node_request_parse(data, size, &r, err) == 0) {
    if (json_array_size(r.messages) < 1 || r.n_stop > NODE_REQ_MAX_STOP) abort();
    if (r.temperature < 0 || r.temperature > 2 || r.top_p < 0 || r.top_p > 1) abort();
    for (int i = 0; i < r.n_stop; i++)
      if (r.stop_len[i] == 0 || r.stop_len[i] > NODE_REQ_MAX_STOP_LEN) abort();
  }
  node_request_deinit(&r);
  /* the same bytes as model output, split into 3-byte pieces */
  static const char *const stops[] = {"</s>", "\n\n"};
  static const size_t lens[] = {4, 2};
  outparse p;
  size_t total = 0;
  outparse_init(&p, true, true, stops, lens, 2);
  for (size_t i = 0; i < size && !p.stopped; i += 3) {
    size_t n = size - i < 3 ? size - i : 3;
    if (outparse_push(&p, (const char *)data + i, n, false, sink, &total) < 0) break;
  }
  outparse_push(&p, NULL, 0, true, sink, &total);
  outparse_deinit(&p);
  return 0;
}
