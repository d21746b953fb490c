/* SPDX-License-Identifier: Apache-2.0
 *
 * http/error.c: OpenAI-format error bodies and JSON replies.
 */
#include "http/error.h"

#include <event2/buffer.h>
#include <event2/http.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *http_error_type(int status) {
  switch (status) {
    case 401:
      return "authentication_error";
    case 402:
      return "insufficient_quota";
    case 403:
      return "permission_error";
    case 429:
      return "rate_limit_error";
    default:
      return status >= 500 ? "server_error" : "invalid_request_error";
  }
}

const char *http_reason(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 101:
      return "Switching Protocols";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 402:
      return "Payment Required";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 409:
      return "Conflict";
    case 413:
      return "Payload Too Large";
    case 415:
      return "Unsupported Media Type";
    case 422:
      return "Unprocessable Entity";
    case 429:
      return "Too Many Requests";
    case 500:
      return "Internal Server Error";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    default:
      return "Status";
  }
}

json_t *http_error_json(int status, const char *type, const char *code, const char *param,
                        const char *message) {
  json_t *e = json_object();
  json_t *o = json_object();
  if (!e || !o) goto fail;
  if (json_object_set_new(o, "message", json_string(message ? message : "")) < 0 ||
      json_object_set_new(o, "type", json_string(type ? type : http_error_type(status))) < 0 ||
      json_object_set_new(o, "param", param ? json_string(param) : json_null()) < 0 ||
      json_object_set_new(o, "code", code ? json_string(code) : json_null()) < 0)
    goto fail;
  if (json_object_set_new(e, "error", o) < 0) {
    o = NULL;
    goto fail;
  }
  return e;
fail:
  json_decref(o);
  json_decref(e);
  return NULL;
}

__attribute__((format(printf, 6, 0))) static void send_verror(struct evhttp_request *req,
                                                              int status, const char *type,
                                                              const char *code, const char *param,
                                                              const char *fmt, va_list ap) {
  char msg[512];
  vsnprintf(msg, sizeof msg, fmt, ap);
  json_t *e = http_error_json(status, type, code, param, msg);
  if (!e) {
    evhttp_send_reply(req, 500, "Internal Server Error", NULL);
    return;
  }
  http_send_json(req, status, e);
}

void http_send_error(struct evhttp_request *req, int status, const char *type, const char *code,
                     const char *param, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  send_verror(req, status, type, code, param, fmt, ap);
  va_end(ap);
}

void http_send_error_retry(struct evhttp_request *req, int status, int retry_after_s,
                           const char *code, const char *fmt, ...) {
  char v[16];
  snprintf(v, sizeof v, "%d", retry_after_s < 1 ? 1 : retry_after_s);
  evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After", v);
  va_list ap;
  va_start(ap, fmt);
  send_verror(req, status, NULL, code, NULL, fmt, ap);
  va_end(ap);
}

void http_send_text(struct evhttp_request *req, int status, const char *content_type,
                    const char *text, size_t len) {
  struct evbuffer *b = evbuffer_new();
  if (!b) {
    evhttp_send_reply(req, 500, "Internal Server Error", NULL);
    return;
  }
  evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", content_type);
  evbuffer_add(b, text, len);
  evhttp_send_reply(req, status, http_reason(status), b);
  evbuffer_free(b);
}

void http_send_json(struct evhttp_request *req, int status, json_t *body) {
  char *s = body ? json_dumps(body, JSON_COMPACT) : NULL;
  json_decref(body);
  if (!s) {
    evhttp_send_reply(req, 500, "Internal Server Error", NULL);
    return;
  }
  http_send_text(req, status, "application/json", s, strlen(s));
  free(s);
}
