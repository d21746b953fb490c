/* SPDX-License-Identifier: Apache-2.0
 *
 * fuzz/client_sse/fuzz_client_sse.c: the client's event-stream parser
 * (src/client/sse.c) on arbitrary bytes, fed whole and then split at a
 * position taken from the input; both feedings must yield the same events.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "client/sse.h"
#include "core/buf.h"

static int on_event(const char *name, const char *data, size_t len, void *ud) {
  buf *b = ud;
  if (strlen(name) > CSSE_NAME_MAX || data[len] != 0) abort();
  buf_append_str(b, name);
  buf_putc(b, 0);
  buf_append(b, data, len);
  buf_putc(b, 0);
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size == 0) return 0;
  size_t split = data[0] % size;
  data++;
  size--;
  if (split > size) split = size;
  buf a, b;
  buf_init(&a, 1 << 24);
  buf_init(&b, 1 << 24);
  csse p;
  csse_init(&p, 4096);
  int ra = csse_feed(&p, data, size, on_event, &a);
  csse_deinit(&p);
  csse_init(&p, 4096);
  int rb = csse_feed(&p, data, split, on_event, &b);
  if (rb == 0) rb = csse_feed(&p, data + split, size - split, on_event, &b);
  csse_deinit(&p);
  if ((ra == 0) != (rb == 0)) abort();
  if (ra == 0 && (a.len != b.len || (a.len && memcmp(a.data, b.data, a.len) != 0))) abort();
  buf_deinit(&a);
  buf_deinit(&b);
  return 0;
}
