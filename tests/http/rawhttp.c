/* SPDX-License-Identifier: Apache-2.0
 *
 * tests/http/rawhttp.c: blocking raw-socket HTTP client for tests.
 */
#include "rawhttp.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

int raw_open(int port, const char *req, size_t n) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  struct timeval tv = {10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  struct sockaddr_in a = {0};
  a.sin_family = AF_INET;
  a.sin_port = htons((uint16_t)port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
    close(fd);
    return -1;
  }
  size_t off = 0;
  while (off < n) {
    ssize_t w = write(fd, req + off, n - off);
    if (w <= 0) break;
    off += (size_t)w;
  }
  return fd;
}

static int dechunk(const char *p, size_t n, char **out, size_t *out_len) {
  char *o = malloc(n + 1);
  size_t ol = 0, i = 0;
  while (i < n) {
    size_t sz = 0;
    int digits = 0;
    while (i < n && p[i] != '\r') {
      char c = p[i++];
      int v = c >= '0' && c <= '9'   ? c - '0'
              : c >= 'a' && c <= 'f' ? c - 'a' + 10
              : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                     : -1;
      if (v < 0) break;
      sz = sz * 16 + (size_t)v;
      digits++;
    }
    while (i < n && p[i] != '\n') i++;
    i++;
    if (!digits || sz == 0 || i + sz > n) break;
    memcpy(o + ol, p + i, sz);
    ol += sz;
    i += sz + 2;
  }
  o[ol] = '\0';
  *out = o;
  *out_len = ol;
  return 0;
}

static int read_reply(int fd, raw_resp *out) {
  memset(out, 0, sizeof *out);
  size_t cap = 1 << 16, len = 0;
  char *all = malloc(cap + 1);
  for (;;) {
    if (len == cap) {
      cap *= 2;
      all = realloc(all, cap + 1);
    }
    ssize_t r = read(fd, all + len, cap - len);
    if (r <= 0) break;
    len += (size_t)r;
  }
  all[len] = '\0';
  char *end = strstr(all, "\r\n\r\n");
  if (!end || sscanf(all, "HTTP/1.%*d %d", &out->status) != 1) {
    out->head = all;
    out->body = calloc(1, 1);
    return -1;
  }
  size_t hl = (size_t)(end - all) + 4;
  out->head = malloc(hl + 1);
  memcpy(out->head, all, hl);
  out->head[hl] = '\0';
  char te[32] = "";
  raw_header(out, "Transfer-Encoding", te, sizeof te);
  if (strcasecmp(te, "chunked") == 0) {
    dechunk(all + hl, len - hl, &out->body, &out->body_len);
  } else {
    out->body_len = len - hl;
    out->body = malloc(out->body_len + 1);
    memcpy(out->body, all + hl, out->body_len);
    out->body[out->body_len] = '\0';
  }
  free(all);
  return 0;
}

int raw_send(int port, const void *bytes, size_t n, raw_resp *out) {
  int fd = raw_open(port, bytes, n);
  if (fd < 0) return -1;
  int rc = read_reply(fd, out);
  close(fd);
  return rc;
}

int raw_http(int port, const char *method, const char *path, const char *extra_headers,
             const void *body, size_t body_len, raw_resp *out) {
  size_t cap = 1024 + (extra_headers ? strlen(extra_headers) : 0) + strlen(path) + body_len;
  char *req = malloc(cap);
  int n = snprintf(req, cap,
                   "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n%s"
                   "Content-Length: %zu\r\n\r\n",
                   method, path, extra_headers ? extra_headers : "", body_len);
  if (body_len) memcpy(req + n, body, body_len);
  int rc = raw_send(port, req, (size_t)n + body_len, out);
  free(req);
  return rc;
}

int raw_header(const raw_resp *r, const char *name, char *out, size_t cap) {
  size_t nl = strlen(name);
  for (const char *l = strstr(r->head, "\r\n"); l && l[2] != '\r'; l = strstr(l + 2, "\r\n")) {
    const char *h = l + 2;
    if (strncasecmp(h, name, nl) != 0 || h[nl] != ':') continue;
    h += nl + 1;
    while (*h == ' ') h++;
    const char *e = strstr(h, "\r\n");
    size_t vl = e ? (size_t)(e - h) : strlen(h);
    if (vl >= cap) return -1;
    memcpy(out, h, vl);
    out[vl] = '\0';
    return 0;
  }
  return -1;
}

void raw_free(raw_resp *r) {
  free(r->head);
  free(r->body);
  memset(r, 0, sizeof *r);
}
