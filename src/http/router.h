/* SPDX-License-Identifier: Apache-2.0
 *
 * http/router.h: method + path-pattern routing for evhttp requests.
 *
 *   http_router *r;
 *   http_router_new(&r);
 *   http_router_add(r, HTTP_GET, "/v1/models/{id*}", get_model, ctx);
 *   http_router_add(r, HTTP_POST, "/v1/chat/completions", chat, ctx);
 *   evhttp_set_gencb(http, http_router_evhttp_cb, r);
 *
 * Patterns are '/'-separated segments: a literal, `{name}` (exactly one
 * non-empty segment) or, last only, `{name*}` (the rest of the path, which
 * may contain '/', as model ids like "Qwen/Qwen3-0.6B" do). Parameter values
 * are percent-decoded and capped at HTTP_PARAM_MAX bytes. The query string
 * is ignored for matching. No match: 404; the path matches but not the
 * method: 405 with an Allow header; both as OpenAI error bodies.
 *
 * Ownership: the router copies patterns; `ud` is borrowed. Routes are added
 * before serving; dispatch is loop-thread only.
 */
#ifndef GLOAM_HTTP_ROUTER_H
#define GLOAM_HTTP_ROUTER_H

#include <stddef.h>

struct evhttp_request;

enum http_method {
  HTTP_GET = 1 << 0,
  HTTP_POST = 1 << 1,
  HTTP_DELETE = 1 << 2,
  HTTP_OPTIONS = 1 << 3,
};

#define HTTP_PARAMS_MAX 4
#define HTTP_PARAM_MAX 256
#define HTTP_PATH_MAX 2048

typedef struct http_params {
  int n;
  char name[HTTP_PARAMS_MAX][32];
  char value[HTTP_PARAMS_MAX][HTTP_PARAM_MAX];
} http_params;

/* The value of parameter `name`, or NULL. */
const char *http_param(const http_params *p, const char *name);

typedef void (*http_handler)(struct evhttp_request *req, const http_params *params, void *ud);
typedef struct http_router http_router;

int http_router_new(http_router **out);
void http_router_free(http_router *r);
/* methods: a mask of enum http_method. GLOAM_EINVAL for a bad pattern. */
int http_router_add(http_router *r, unsigned methods, const char *pattern, http_handler h,
                    void *ud);

/* Matches path (no query) and method against the routes. Returns 0 and
 * fills *out_h, *out_ud, params; GLOAM_ENOENT (no path matched) or
 * GLOAM_EPERM (path matched, method not; *out_allowed gets the mask). */
int http_router_match(const http_router *r, unsigned method, const char *path, http_handler *out_h,
                      void **out_ud, http_params *params, unsigned *out_allowed);

/* evhttp generic callback: dispatches or answers 404/405. ud is the router. */
void http_router_evhttp_cb(struct evhttp_request *req, void *ud);

#endif
