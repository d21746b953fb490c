/* SPDX-License-Identifier: Apache-2.0
 *
 * tests/http/rawhttp.h: a deliberately independent, blocking HTTP/1.1
 * client over raw sockets for tests (it shares no code with the server):
 * one request per connection (Connection: close), response read to EOF,
 * chunked bodies decoded by hand.
 */
#ifndef GLOAM_TESTS_RAWHTTP_H
#define GLOAM_TESTS_RAWHTTP_H

#include <stddef.h>

typedef struct raw_resp {
  int status;
  char *head; /* status line + headers, NUL-terminated (malloc) */
  char *body; /* decoded body, NUL-terminated (malloc) */
  size_t body_len;
} raw_resp;

/* extra_headers: "Name: value\r\n..." or NULL. Returns 0 or -1. */
int raw_http(int port, const char *method, const char *path, const char *extra_headers,
             const void *body, size_t body_len, raw_resp *out);
/* Sends raw bytes and reads the reply to EOF (for malformed requests). */
int raw_send(int port, const void *bytes, size_t n, raw_resp *out);
/* A header's value (case-insensitive name) copied into out; 0 or -1. */
int raw_header(const raw_resp *r, const char *name, char *out, size_t cap);
void raw_free(raw_resp *r);
/* Opens a connection and sends the request without reading; returns fd. */
int raw_open(int port, const char *req, size_t n);

#endif
