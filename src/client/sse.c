/* SPDX-License-Identifier: Apache-2.0
 *
 * client/sse.c: incremental text/event-stream parser (see sse.h).
 */
#include "client/sse.h"

#include <string.h>

#include "gloam/err.h"

void csse_init(csse *p, size_t max_event) {
  memset(p, 0, sizeof *p);
  p->max_event = max_event;
  buf_init(&p->line, max_event + 16);
  buf_init(&p->data, max_event);
}

void csse_deinit(csse *p) {
  buf_deinit(&p->line);
  buf_deinit(&p->data);
}

static int dispatch(csse *p, csse_event_fn fn, void *ud) {
  int rc = 0;
  if (p->has_data) {
    size_t n = p->data.len;
    if (n > 0 && p->data.data[n - 1] == '\n') n--; /* the last data line's LF */
    p->data.len = n;
    if (p->data.data) p->data.data[n] = 0;
    rc = fn(p->name, buf_cstr(&p->data), n, ud);
  }
  buf_reset(&p->data);
  p->name[0] = 0;
  p->has_data = 0;
  return rc;
}

/* One complete line (without its end). */
static int line(csse *p, const char *s, size_t n, csse_event_fn fn, void *ud) {
  if (n == 0) return dispatch(p, fn, ud);
  if (s[0] == ':') return 0;
  const char *colon = memchr(s, ':', n);
  size_t fl = colon ? (size_t)(colon - s) : n;
  const char *v = colon ? colon + 1 : s + n;
  size_t vl = colon ? n - fl - 1 : 0;
  if (vl > 0 && v[0] == ' ') v++, vl--;
  if (fl == 4 && memcmp(s, "data", 4) == 0) {
    int rc = buf_append(&p->data, v, vl);
    if (rc == 0) rc = buf_putc(&p->data, '\n');
    p->has_data = 1;
    return rc;
  }
  if (fl == 5 && memcmp(s, "event", 5) == 0) {
    if (vl > CSSE_NAME_MAX) return GLOAM_ETOOBIG;
    memcpy(p->name, v, vl);
    p->name[vl] = 0;
  }
  return 0; /* id, retry and unknown fields are ignored */
}

int csse_feed(csse *p, const uint8_t *s, size_t n, csse_event_fn fn, void *ud) {
  if (p->failed) return GLOAM_ESTATE;
  size_t i = 0;
  int rc = 0;
  if (p->skip_lf && n > 0) {
    if (s[0] == '\n') i = 1;
    p->skip_lf = 0;
  }
  while (i < n && rc == 0) {
    size_t j = i;
    while (j < n && s[j] != '\n' && s[j] != '\r') j++;
    if (j == n) {
      rc = buf_append(&p->line, s + i, n - i);
      break;
    }
    if (p->line.len) {
      rc = buf_append(&p->line, s + i, j - i);
      if (rc == 0) rc = line(p, (const char *)p->line.data, p->line.len, fn, ud);
      buf_reset(&p->line);
    } else {
      rc = line(p, (const char *)s + i, j - i, fn, ud);
    }
    if (s[j] == '\r') {
      if (j + 1 < n && s[j + 1] == '\n')
        j++;
      else if (j + 1 == n)
        p->skip_lf = 1;
    }
    i = j + 1;
  }
  if (rc < 0) p->failed = 1;
  return rc;
}
