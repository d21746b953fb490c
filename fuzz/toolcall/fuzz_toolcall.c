/* SPDX-License-Identifier: Apache-2.0
 *
 * fuzz/toolcall/fuzz_toolcall.c: arbitrary model output through the
 * incremental reasoning / tool-call parser. The first byte picks the format
 * and whether the output starts inside <think>; the rest is fed whole, one
 * byte at a time, and in chunks sized by the data itself. All three must
 * produce the same final message (chunking invariance), and every streamed
 * delta must be valid JSON.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gloam/chat.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int check_delta(void *ctx, const gloam_tp_event *ev) {
  (void)ctx;
  char *s = NULL;
  if (gloam_toolparse_delta_json(ev, &s) < 0 || !s) __builtin_trap();
  gloam_chat_free(s);
  return 0;
}

/* mode 0 whole, 1 bytes, 2 chunk sizes from the data. */
static char *run(const gloam_toolparse_opts *o, const uint8_t *d, size_t n, int mode) {
  gloam_toolparse *p;
  if (gloam_toolparse_new(&p, o) < 0) return NULL;
  int rc = 0;
  for (size_t off = 0, k = 0; rc == 0 && off < n; k++) {
    size_t step = mode == 0 ? n : mode == 1 ? 1 : 1 + (size_t)(d[k % n] % 13);
    if (step > n - off) step = n - off;
    rc = gloam_toolparse_feed(p, (const char *)d + off, step, check_delta, NULL);
    off += step;
  }
  char *msg = NULL;
  if (rc == 0) rc = gloam_toolparse_finish(p, check_delta, NULL);
  if (rc == 0) rc = gloam_toolparse_message_json(p, &msg);
  gloam_toolparse_free(p);
  return msg;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  gloam_toolparse_opts o = {
      .format = data[0] & 3, .start_in_reasoning = (data[0] >> 2) & 1, .id_seed = 1};
  const uint8_t *d = data + 1;
  size_t n = size - 1;
  char *a = run(&o, d, n, 0), *b = run(&o, d, n, 1), *c = run(&o, d, n, 2);
  if (!a || !b || !c || strcmp(a, b) != 0 || strcmp(a, c) != 0) __builtin_trap();
  gloam_chat_free(a);
  gloam_chat_free(b);
  gloam_chat_free(c);
  return 0;
}
