/* SPDX-License-Identifier: Apache-2.0
 *
 * http/json.h: reading request bodies as JSON under limits.
 *
 *   json_t *body;
 *   int rc = http_json_body(req, 1 << 20, 64, &body, err);
 *   if (rc == GLOAM_ETOOBIG) 413; else if (rc < 0) 400 with err;
 *
 * The body must be at most max_bytes, valid UTF-8 JSON (jansson, which
 * rejects invalid UTF-8 and NUL in strings), an object at the top, nested at
 * most max_depth deep (checked by a scan before parsing, so a deeply nested
 * input cannot exhaust the stack), with no duplicate keys.
 *
 * Thread safety: pure functions, except http_json_body (loop thread).
 */
#ifndef GLOAM_HTTP_JSON_H
#define GLOAM_HTTP_JSON_H

#include <jansson.h>
#include <stddef.h>

struct evhttp_request;

/* 0 when the nesting depth of the JSON text is at most max_depth (strings
 * are skipped); GLOAM_ETOOBIG otherwise. Does not validate. */
int json_depth_ok(const char *s, size_t n, int max_depth);

/* Parses text under the limits above. OUT: *out (new reference). Errors:
 * GLOAM_ETOOBIG (size or depth), GLOAM_EFORMAT (not JSON or not an object),
 * GLOAM_ENOMEM; detail (with the parse position, never content) in err. */
int json_parse_limited(const char *s, size_t n, size_t max_bytes, int max_depth, json_t **out,
                       char *err);

/* The request body, parsed as above. */
int http_json_body(struct evhttp_request *req, size_t max_bytes, int max_depth, json_t **out,
                   char *err);

#endif
