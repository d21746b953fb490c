/* SPDX-License-Identifier: Apache-2.0
 *
 * http/error.h: OpenAI-format error replies and JSON replies.
 *
 *   http_send_error(req, 404, NULL, "model_not_found", "model",
 *                   "The model '%s' does not exist.", id);
 *
 * Body: {"error":{"message":...,"type":...,"param":...|null,"code":...|null}}
 * with Content-Type application/json. When `type` is NULL it follows the
 * status as OpenAI does: 400/404/405/409/413/422 invalid_request_error, 401
 * authentication_error, 402 insufficient_quota, 403 permission_error, 429
 * rate_limit_error, 5xx server_error. The message is formatted text: never
 * put prompts, keys or bodies in it.
 *
 * Thread safety: loop thread only (evhttp).
 */
#ifndef GLOAM_HTTP_ERROR_H
#define GLOAM_HTTP_ERROR_H

#include <jansson.h>

struct evhttp_request;

/* The OpenAI error type for a status. Static string. */
const char *http_error_type(int status);

/* Builds the error object (new reference) or NULL on OOM. */
json_t *http_error_json(int status, const char *type, const char *code, const char *param,
                        const char *message);

void http_send_error(struct evhttp_request *req, int status, const char *type, const char *code,
                     const char *param, const char *fmt, ...) __attribute__((format(printf, 6, 7)));

/* Like http_send_error, plus a Retry-After header (seconds, >= 1); for 429
 * and 503. */
void http_send_error_retry(struct evhttp_request *req, int status, int retry_after_s,
                           const char *code, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* Sends `body` (stolen: the reference is released) as JSON with status. */
void http_send_json(struct evhttp_request *req, int status, json_t *body);
/* Sends text with the given content type. */
void http_send_text(struct evhttp_request *req, int status, const char *content_type,
                    const char *text, size_t len);

/* The reason phrase for a status ("Not Found"); "Status" if unknown. */
const char *http_reason(int status);

#endif
