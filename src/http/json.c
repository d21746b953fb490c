/* SPDX-License-Identifier: Apache-2.0
 *
 * http/json.c: bounded JSON parsing of request bodies (see json.h).
 */
#include "http/json.h"

#include <event2/buffer.h>
#include <event2/http.h>

#include "core/err.h"

int json_depth_ok(const char *s, size_t n, int max_depth) {
  int depth = 0, in_str = 0;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if (in_str) {
      if (c == '\\')
        i++;
      else if (c == '"')
        in_str = 0;
    } else if (c == '"') {
      in_str = 1;
    } else if (c == '{' || c == '[') {
      if (++depth > max_depth) return GLOAM_ETOOBIG;
    } else if (c == '}' || c == ']') {
      depth--;
    }
  }
  return 0;
}

int json_parse_limited(const char *s, size_t n, size_t max_bytes, int max_depth, json_t **out,
                       char *err) {
  *out = NULL;
  if (n > max_bytes) return err_set(err, GLOAM_ETOOBIG, "body exceeds %zu bytes", max_bytes);
  if (json_depth_ok(s, n, max_depth) < 0)
    return err_set(err, GLOAM_ETOOBIG, "JSON nested deeper than %d", max_depth);
  json_error_t je;
  json_t *j = json_loadb(s, n, JSON_REJECT_DUPLICATES, &je);
  if (!j)
    return err_set(err, GLOAM_EFORMAT, "invalid JSON at line %d column %d", je.line, je.column);
  if (!json_is_object(j)) {
    json_decref(j);
    return err_set(err, GLOAM_EFORMAT, "the body must be a JSON object");
  }
  *out = j;
  return 0;
}

int http_json_body(struct evhttp_request *req, size_t max_bytes, int max_depth, json_t **out,
                   char *err) {
  *out = NULL;
  struct evbuffer *in = evhttp_request_get_input_buffer(req);
  size_t n = evbuffer_get_length(in);
  if (n > max_bytes) return err_set(err, GLOAM_ETOOBIG, "body exceeds %zu bytes", max_bytes);
  if (n == 0) return err_set(err, GLOAM_EFORMAT, "the request body is empty");
  const char *p = (const char *)evbuffer_pullup(in, (ev_ssize_t)n);
  if (!p) return err_set(err, GLOAM_ENOMEM, "out of memory");
  return json_parse_limited(p, n, max_bytes, max_depth, out, err);
}
