/* SPDX-License-Identifier: Apache-2.0
 *
 * http/router.c: segment-wise pattern matching (see router.h).
 */
#include "http/router.h"

#include <event2/http.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/err.h"
#include "http/error.h"

typedef struct route {
  unsigned methods;
  char *pattern; /* owned */
  http_handler h;
  void *ud;
} route;

struct http_router {
  route *routes;
  size_t n;
};

const char *http_param(const http_params *p, const char *name) {
  for (int i = 0; i < p->n; i++)
    if (strcmp(p->name[i], name) == 0) return p->value[i];
  return NULL;
}

int http_router_new(http_router **out) {
  *out = mem_calloc(1, sizeof **out);
  return *out ? 0 : GLOAM_ENOMEM;
}

void http_router_free(http_router *r) {
  if (!r) return;
  for (size_t i = 0; i < r->n; i++) mem_free(r->routes[i].pattern);
  mem_free(r->routes);
  mem_free(r);
}

int http_router_add(http_router *r, unsigned methods, const char *pattern, http_handler h,
                    void *ud) {
  if (!pattern || pattern[0] != '/' || !h || !methods) return GLOAM_EINVAL;
  int n_params = 0;
  for (const char *p = pattern; *p; p++) n_params += *p == '{';
  if (n_params > HTTP_PARAMS_MAX) return GLOAM_EINVAL;
  route *nr = mem_reallocarray(r->routes, r->n + 1, sizeof *nr);
  if (!nr) return GLOAM_ENOMEM;
  r->routes = nr;
  char *pat = mem_strdup(pattern);
  if (!pat) return GLOAM_ENOMEM;
  r->routes[r->n++] = (route){methods, pat, h, ud};
  return 0;
}

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* Percent-decodes s[0..n) into out; -1 on bad escapes, NUL or overflow. */
static int pct_decode(const char *s, size_t n, char *out, size_t cap) {
  size_t o = 0;
  for (size_t i = 0; i < n; i++) {
    int c = (unsigned char)s[i];
    if (c == '%') {
      if (i + 2 >= n) return -1;
      int hi = hexval(s[i + 1]), lo = hexval(s[i + 2]);
      if (hi < 0 || lo < 0) return -1;
      c = hi * 16 + lo;
      i += 2;
    }
    if (c == 0 || o + 1 >= cap) return -1;
    out[o++] = (char)c;
  }
  out[o] = '\0';
  return 0;
}

/* 1: match; 0: no match. */
static int match_one(const char *pat, const char *path, http_params *params) {
  params->n = 0;
  const char *p = pat, *s = path;
  while (*p && *s) {
    if (*p != '/' || *s != '/') return 0;
    p++;
    s++;
    const char *pe = strchr(p, '/'), *se = strchr(s, '/');
    size_t pl = pe ? (size_t)(pe - p) : strlen(p);
    size_t sl = se ? (size_t)(se - s) : strlen(s);
    if (pl >= 2 && p[0] == '{' && p[pl - 1] == '}') {
      int rest = pl >= 3 && p[pl - 2] == '*';
      if (rest) sl = strlen(s);
      if (sl == 0) return 0;
      int i = params->n;
      if (i >= HTTP_PARAMS_MAX) return 0;
      size_t nl = pl - 2 - (size_t)rest;
      if (nl >= sizeof params->name[i]) return 0;
      memcpy(params->name[i], p + 1, nl);
      params->name[i][nl] = '\0';
      if (pct_decode(s, sl, params->value[i], HTTP_PARAM_MAX) < 0) return 0;
      params->n++;
    } else if (pl != sl || memcmp(p, s, pl) != 0) {
      return 0;
    }
    p += pl;
    s += sl;
  }
  return *p == '\0' && *s == '\0';
}

int http_router_match(const http_router *r, unsigned method, const char *path, http_handler *out_h,
                      void **out_ud, http_params *params, unsigned *out_allowed) {
  unsigned allowed = 0;
  for (size_t i = 0; i < r->n; i++) {
    const route *rt = &r->routes[i];
    if (!match_one(rt->pattern, path, params)) continue;
    if (rt->methods & method) {
      *out_h = rt->h;
      *out_ud = rt->ud;
      return 0;
    }
    allowed |= rt->methods;
  }
  params->n = 0;
  if (out_allowed) *out_allowed = allowed;
  return allowed ? GLOAM_EPERM : GLOAM_ENOENT;
}

static unsigned method_bit(enum evhttp_cmd_type t) {
  switch (t) {
    case EVHTTP_REQ_GET:
    case EVHTTP_REQ_HEAD:
      return HTTP_GET;
    case EVHTTP_REQ_POST:
      return HTTP_POST;
    case EVHTTP_REQ_DELETE:
      return HTTP_DELETE;
    case EVHTTP_REQ_OPTIONS:
      return HTTP_OPTIONS;
    default:
      return 0;
  }
}

void http_router_evhttp_cb(struct evhttp_request *req, void *ud) {
  http_router *r = ud;
  const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
  const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
  if (!path || !*path || strlen(path) > HTTP_PATH_MAX) {
    http_send_error(req, 404, NULL, "not_found", NULL, "Not found.");
    return;
  }
  http_handler h;
  void *hud;
  http_params params;
  unsigned allowed = 0;
  int rc = http_router_match(r, method_bit(evhttp_request_get_command(req)), path, &h, &hud,
                             &params, &allowed);
  if (rc == 0) {
    h(req, &params, hud);
    return;
  }
  if (rc == GLOAM_EPERM) {
    char allow[64] = "";
    buf b;
    buf_init(&b, sizeof allow - 1);
    static const char *names[] = {"GET", "POST", "DELETE", "OPTIONS"};
    for (int i = 0; i < 4; i++)
      if (allowed & (1u << i)) buf_printf(&b, "%s%s", b.len ? ", " : "", names[i]);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", buf_cstr(&b));
    buf_deinit(&b);
    http_send_error(req, 405, NULL, "method_not_allowed", NULL, "Method not allowed for %s.", path);
    return;
  }
  http_send_error(req, 404, NULL, "not_found", NULL, "Unknown request URL: %s.", path);
}
