/* SPDX-License-Identifier: Apache-2.0
 *
 * client/fetch.c: a GET whose JSON answer is collected whole (models,
 * nodes, balance, usage), asynchronous and blocking, plus OpenAI error
 * body parsing.
 */
#include <event2/event.h>
#include <event2/http.h>
#include <string.h>

#include "client/client_impl.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/err.h"
#include "http/json.h"

struct cfetch {
  chttp *h;
  int status;
  buf body;
  cfetch_done_fn done;
  void *ud;
};

static int f_head(int status, struct evkeyvalq *hdrs, void *ud) {
  cfetch *f = ud;
  f->status = status;
  if (status != 200) f->body.max = CLIENT_MAX_ERROR;
  return 0;
}

static int f_data(const uint8_t *p, size_t n, void *ud) {
  cfetch *f = ud;
  return buf_append(&f->body, p, n);
}

static void f_done(int rc, void *ud) {
  cfetch *f = ud;
  f->done(rc, f->status, f->body.data ? buf_cstr(&f->body) : NULL, f->body.len, f->ud);
  buf_deinit(&f->body);
  mem_free(f);
}

int cfetch_start(struct event_base *base, const gloam_client *c, const char *path, int auth,
                 cfetch_done_fn done, void *ud, cfetch **out, char *err) {
  if (out) *out = NULL;
  if (auth && !c->api_key) return err_set(err, GLOAM_EINVAL, "no API key configured");
  cfetch *f = mem_calloc(1, sizeof *f);
  if (!f) return err_set(err, GLOAM_ENOMEM, "out of memory");
  buf_init(&f->body, CLIENT_MAX_JSON);
  f->done = done;
  f->ud = ud;
  chttp_req_spec s = {.method = EVHTTP_REQ_GET,
                      .path = path,
                      .bearer = auth ? c->api_key : NULL,
                      .accept = "application/json",
                      .timeout_s = (int)c->timeout_s,
                      .max_body = CLIENT_MAX_JSON};
  chttp_cbs cbs = {f_head, f_data, f_done};
  int rc = chttp_start(base, c->ssl, &c->target, &s, &cbs, f, &f->h, err);
  if (rc < 0) {
    buf_deinit(&f->body);
    mem_free(f);
    return rc;
  }
  if (out) *out = f;
  return 0;
}

void cfetch_cancel(cfetch *f) {
  if (!f) return;
  chttp_abort(f->h);
  buf_deinit(&f->body);
  mem_free(f);
}

typedef struct sync_res {
  int rc, status;
  char *body;
  size_t len;
} sync_res;

static void sync_done(int rc, int status, const char *body, size_t len, void *ud) {
  sync_res *r = ud;
  r->rc = rc;
  r->status = status;
  r->body = body ? mem_dup(body, len + 1) : NULL;
  r->len = len;
  if (body && !r->body && rc == 0) r->rc = GLOAM_ENOMEM;
}

int cfetch_sync(const gloam_client *c, const char *path, int auth, int *status, char **out_body,
                size_t *out_len, char *err) {
  *out_body = NULL;
  *out_len = 0;
  *status = 0;
  struct event_base *base = event_base_new();
  if (!base) return err_set(err, GLOAM_ENOMEM, "cannot create an event loop");
  sync_res r = {0};
  int rc = cfetch_start(base, c, path, auth, sync_done, &r, NULL, err);
  if (rc == 0) {
    event_base_dispatch(base);
    rc = r.rc;
    if (rc < 0) err_set(err, rc, "%s %s: %s", c->base_url, path, gloam_strerror(rc));
  }
  event_base_free(base);
  *status = r.status;
  if (rc < 0) {
    mem_free(r.body);
    return rc;
  }
  *out_body = r.body;
  *out_len = r.len;
  return 0;
}

static void copy_field(json_t *v, char *dst, size_t cap) {
  const char *s = json_string_value(v);
  if (cap) dst[0] = 0;
  if (s && cap) snprintf(dst, cap, "%s", s);
}

void client_error_text(const char *body, size_t len, char *msg, size_t msg_cap, char *code,
                       size_t code_cap) {
  if (msg_cap) msg[0] = 0;
  if (code_cap) code[0] = 0;
  json_t *j = NULL;
  if (!body || json_parse_limited(body, len, CLIENT_MAX_ERROR, 8, &j, NULL) < 0) return;
  json_t *e = json_object_get(j, "error");
  copy_field(json_object_get(e, "message"), msg, msg_cap);
  copy_field(json_object_get(e, "code"), code, code_cap);
  json_decref(j);
}
