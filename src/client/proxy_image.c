/* SPDX-License-Identifier: Apache-2.0
 *
 * client/proxy_image.c: image generation in `gloam proxy` (proxy_image.h).
 */
#include "client/proxy_image.h"

#include <event2/buffer.h>
#include <event2/http.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/codec.h"
#include "core/err.h"
#include "core/time.h"
#include "http/error.h"

typedef struct stored {
  char id[33]; /* 128 random bits, hex; "" when free */
  uint8_t *png;
  size_t len;
  int64_t expires_ms;
} stored;

struct proxy_images {
  stored s[PROXY_IMAGES_MAX];
  size_t bytes;
};

int proxy_images_new(proxy_images **out) {
  *out = mem_calloc(1, sizeof **out);
  return *out ? 0 : GLOAM_ENOMEM;
}

static void drop(proxy_images *st, stored *e) {
  st->bytes -= e->len;
  mem_free(e->png);
  memset(e, 0, sizeof *e);
}

void proxy_images_free(proxy_images *st) {
  if (!st) return;
  for (int i = 0; i < PROXY_IMAGES_MAX; i++)
    if (st->s[i].id[0]) drop(st, &st->s[i]);
  mem_free(st);
}

static void expire(proxy_images *st) {
  int64_t now = time_mono_ms();
  for (int i = 0; i < PROXY_IMAGES_MAX; i++)
    if (st->s[i].id[0] && st->s[i].expires_ms <= now) drop(st, &st->s[i]);
}

/* Stores a copy of png; its id into id (33 bytes). */
static int put(proxy_images *st, const uint8_t *png, size_t len, char *id) {
  if (len > PROXY_IMAGES_BYTES) return GLOAM_ETOOBIG;
  expire(st);
  for (;;) { /* the oldest go first until it fits */
    stored *free_e = NULL, *oldest = NULL;
    for (int i = 0; i < PROXY_IMAGES_MAX; i++) {
      stored *e = &st->s[i];
      if (!e->id[0] && !free_e) free_e = e;
      if (e->id[0] && (!oldest || e->expires_ms < oldest->expires_ms)) oldest = e;
    }
    if (free_e && st->bytes + len <= PROXY_IMAGES_BYTES) {
      uint8_t rnd[16];
      if (RAND_bytes(rnd, sizeof rnd) != 1 || !(free_e->png = mem_dup(png, len)))
        return GLOAM_ENOMEM;
      codec_hex_encode(rnd, sizeof rnd, free_e->id, sizeof free_e->id);
      free_e->len = len;
      free_e->expires_ms = time_mono_ms() + PROXY_IMAGES_TTL_MS;
      st->bytes += len;
      memcpy(id, free_e->id, sizeof free_e->id);
      return 0;
    }
    drop(st, oldest);
  }
}

int proxy_image_admit(struct evhttp_request *req, const uint8_t **body, size_t *len, image_req *r) {
  struct evbuffer *in = evhttp_request_get_input_buffer(req);
  *len = evbuffer_get_length(in);
  *body = *len ? evbuffer_pullup(in, (ev_ssize_t)*len) : (const uint8_t *)"";
  audio_req_error e;
  if (image_req_parse(*body, *len, r, &e) < 0) {
    http_send_error(req, e.status, NULL, e.code, e.param[0] ? e.param : NULL, "%s", e.message);
    return GLOAM_EINVAL;
  }
  return 0;
}

/* The request's Host when it is a plain host[:port], else "localhost". */
static const char *host_of(struct evhttp_request *req) {
  const char *h = evhttp_find_header(evhttp_request_get_input_headers(req), "Host");
  size_t n = h ? strlen(h) : 0;
  if (n == 0 || n > 255) return "localhost";
  for (size_t i = 0; i < n; i++)
    if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-:[]", h[i]))
      return "localhost";
  return h;
}

/* Replaces data item i's b64_json by the URL of its stored PNG. */
static int to_url(struct evhttp_request *req, proxy_images *st, json_t *d, size_t i,
                  const gloam_receipt_claims *cl) {
  uint8_t *png;
  size_t len;
  char id[33], url[512];
  int rc = image_item_png(d, cl->images_sha256[i], &png, &len);
  if (rc == 0 && (rc = put(st, png, len, id)) == 0) {
    snprintf(url, sizeof url, "http://%s/v1/images/files/%s.png", host_of(req), id);
    json_object_del(d, "b64_json");
    json_object_set_new(d, "url", json_string(url));
  }
  mem_free(png);
  return rc;
}

void proxy_image_send(struct evhttp_request *req, proxy_images *st, const uint8_t *body, size_t len,
                      enum image_format format, const gloam_receipt_claims *cl, json_t *gloam) {
  json_t *o = NULL;
  int rc = image_resp_check(body, len, cl, &o);
  json_t *data = json_object_get(o, "data");
  for (size_t i = 0; rc == 0 && format == IMAGE_FMT_URL && i < json_array_size(data); i++)
    rc = to_url(req, st, json_array_get(data, i), i, cl);
  if (rc == 0 && json_object_set_new(o, "gloam", gloam) == 0) {
    http_send_json(req, 200, o);
    return;
  }
  if (rc < 0) json_decref(gloam);
  json_decref(o);
  http_send_error(req, 502, NULL, rc == GLOAM_EAUTH ? "receipt_mismatch" : "bad_node_output", NULL,
                  "%s",
                  rc == GLOAM_EAUTH ? "An image differs from the one the node's receipt signs."
                                    : "The node's answer does not match its receipt.");
}

void proxy_image_file(struct evhttp_request *req, proxy_images *st, const char *name) {
  expire(st);
  size_t n = name ? strlen(name) : 0;
  for (int i = 0; n == 36 && i < PROXY_IMAGES_MAX; i++) {
    stored *e = &st->s[i];
    if (e->id[0] && memcmp(name, e->id, 32) == 0 && strcmp(name + 32, ".png") == 0) {
      struct evbuffer *b = evbuffer_new();
      if (!b || evbuffer_add(b, e->png, e->len) < 0) {
        if (b) evbuffer_free(b);
        break;
      }
      evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "image/png");
      evhttp_send_reply(req, 200, "OK", b);
      evbuffer_free(b);
      return;
    }
  }
  http_send_error(req, 404, NULL, "not_found", NULL, "%s", "No such image (they expire).");
}
