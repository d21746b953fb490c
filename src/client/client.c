/* SPDX-License-Identifier: Apache-2.0
 *
 * client/client.c: gloam_client configuration and the blocking public API
 * (gloam/client.h). Each call runs the asynchronous core on a private
 * event loop, so one client can be used from many threads at once.
 */
#include <event2/event.h>
#include <event2/http.h>
#include <openssl/ssl.h>
#include <stdlib.h>
#include <string.h>

#include "client/client_impl.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/file.h"
#include "core/time.h"
#include "http/json.h"

void gloam_client_free(gloam_client *c) {
  if (!c) return;
  mem_free(c->base_url);
  if (c->api_key) {
    memset(c->api_key, 0, strlen(c->api_key));
    mem_free(c->api_key);
  }
  for (size_t i = 0; c->binaries && i < c->policy.n_allowed_binaries; i++) mem_free(c->binaries[i]);
  mem_free(c->binaries);
  mem_free(c->ek_roots);
  if (c->ssl) SSL_CTX_free(c->ssl);
  mem_free(c);
}

void gloam_client_free_str(char *s) {
  mem_free(s);
}

static int key_ok(const char *k) {
  size_t n = strlen(k);
  if (n == 0 || n > 1000) return 0;
  for (size_t i = 0; i < n; i++)
    if (k[i] <= 0x20 || k[i] > 0x7e) return 0;
  return 1;
}

/* The EK roots PEM bundle (at most 1 MiB). */
static int load_roots(gloam_client *c, const char *path, char *err) {
  buf b;
  buf_init(&b, 1u << 20);
  int rc = file_read_all(path, &b, err);
  if (rc == 0 && b.len == 0) rc = err_set(err, GLOAM_EINVAL, "%s is empty", path);
  if (rc < 0) {
    buf_deinit(&b);
    return rc == GLOAM_ENOMEM ? rc : GLOAM_EINVAL;
  }
  size_t n;
  c->ek_roots = (char *)buf_take(&b, &n);
  c->policy.ek_roots_pem = c->ek_roots;
  c->policy.ek_roots_len = n;
  return 0;
}

int gloam_client_new(gloam_client **out, const gloam_client_config *cfg, char *err) {
  *out = NULL;
  if (!cfg) return err_set(err, GLOAM_EINVAL, "no configuration");
  if ((unsigned)cfg->min_trust > GLOAM_TRUST_CONFIDENTIAL)
    return err_set(err, GLOAM_EINVAL, "unknown minimum trust level");
  if (cfg->n_allowed_binaries > GLOAM_CLIENT_MAX_BINARIES)
    return err_set(err, GLOAM_EINVAL, "at most %d allowed binaries", GLOAM_CLIENT_MAX_BINARIES);
  if (cfg->api_key && !key_ok(cfg->api_key))
    return err_set(err, GLOAM_EINVAL, "the API key has invalid characters");
  gloam_client *c = mem_calloc(1, sizeof *c);
  if (!c) return err_set(err, GLOAM_ENOMEM, "out of memory");
  int rc = chttp_parse_url(cfg->base_url, &c->target, err);
  if (rc < 0) goto fail;
  c->base_url = mem_strdup(cfg->base_url);
  c->api_key = cfg->api_key && cfg->api_key[0] ? mem_strdup(cfg->api_key) : NULL;
  if (!c->base_url || (cfg->api_key && cfg->api_key[0] && !c->api_key)) goto oom;
  if (cfg->n_allowed_binaries) {
    c->binaries = mem_calloc(cfg->n_allowed_binaries, sizeof *c->binaries);
    if (!c->binaries) goto oom;
    for (size_t i = 0; i < cfg->n_allowed_binaries; i++) {
      if (!cfg->allowed_binaries[i] || strncmp(cfg->allowed_binaries[i], "sha256:", 7) != 0) {
        c->policy.n_allowed_binaries = i;
        rc = err_set(err, GLOAM_EINVAL, "allowed binaries are written sha256:<hex>");
        goto fail;
      }
      c->binaries[i] = mem_strdup(cfg->allowed_binaries[i]);
      c->policy.n_allowed_binaries = i + 1;
      if (!c->binaries[i]) goto oom;
    }
  }
  if (cfg->ek_roots_file && (rc = load_roots(c, cfg->ek_roots_file, err)) < 0) goto fail;
  c->policy.allowed_binaries = (const char *const *)c->binaries;
  c->policy.min_trust = cfg->min_trust;
  c->policy.max_age_s =
      cfg->max_evidence_age_s ? cfg->max_evidence_age_s : GLOAM_CLIENT_DEFAULT_MAX_AGE_S;
  c->timeout_s = cfg->timeout_s ? cfg->timeout_s : GLOAM_CLIENT_DEFAULT_TIMEOUT_S;
  if (c->target.tls && !(c->ssl = chttp_ssl_ctx_new(cfg->ca_file, err))) {
    rc = GLOAM_EIO;
    goto fail;
  }
  *out = c;
  return 0;
oom:
  rc = err_set(err, GLOAM_ENOMEM, "out of memory");
fail:
  gloam_client_free(c);
  return rc;
}

/* A GET whose 200 answer must be a JSON object. */
static int get_json(gloam_client *c, const char *path, int auth, char **out, char *err) {
  *out = NULL;
  if (!c) return err_set(err, GLOAM_EINVAL, "no client");
  int status;
  char *body;
  size_t len;
  int rc = cfetch_sync(c, path, auth, &status, &body, &len, err);
  if (rc < 0) return rc;
  if (status != 200) {
    char msg[200], code[64];
    client_error_text(body, len, msg, sizeof msg, code, sizeof code);
    mem_free(body);
    return err_set(err, GLOAM_EPROTO, "%s answered %d%s%s: %s", path, status, code[0] ? " " : "",
                   code, msg[0] ? msg : "(no message)");
  }
  json_t *j = NULL;
  if (!body || json_parse_limited(body, len, CLIENT_MAX_JSON, 32, &j, NULL) < 0) {
    mem_free(body);
    return err_set(err, GLOAM_EPROTO, "%s did not answer with a JSON object", path);
  }
  json_decref(j);
  *out = body;
  return 0;
}

int gloam_client_models(gloam_client *c, char **out, char *err) {
  return get_json(c, "/v1/models", 0, out, err);
}

int gloam_client_balance(gloam_client *c, char **out, char *err) {
  if (c && !c->api_key) return err_set(err, GLOAM_EINVAL, "no API key configured");
  return get_json(c, "/v1/balance", 1, out, err);
}

int gloam_client_usage(gloam_client *c, char **out, char *err) {
  if (c && !c->api_key) return err_set(err, GLOAM_EINVAL, "no API key configured");
  return get_json(c, "/v1/usage", 1, out, err);
}

int gloam_client_nodes(gloam_client *c, const char *model, gloam_node_info **out, size_t *n_out,
                       char *err) {
  *out = NULL;
  *n_out = 0;
  char path[64 + 3 * GLOAM_SEAL_MODEL_MAX] = "/v1/nodes";
  if (model) {
    if (strlen(model) > GLOAM_SEAL_MODEL_MAX) return err_set(err, GLOAM_EINVAL, "model too long");
    char *enc = evhttp_encode_uri(model);
    if (!enc) return err_set(err, GLOAM_ENOMEM, "out of memory");
    snprintf(path, sizeof path, "/v1/nodes?model=%s", enc);
    free(enc);
  }
  char *body = NULL;
  int rc = get_json(c, path, 0, &body, err);
  if (rc == 0) {
    rc = client_parse_nodes(body, strlen(body), model, &c->policy, time_wall_ms(), out, n_out, err);
    if (rc == 0) client_rank_nodes(*out, *n_out);
  }
  mem_free(body);
  return rc;
}

void gloam_node_list_free(gloam_node_info *v) {
  mem_free(v);
}

/* ---- chat ----------------------------------------------------------------- */

typedef struct sync_chat {
  gloam_chunk_cb cb;
  void *ud;
  gloam_chat_result *res;
  int rc, done;
  char *err;
} sync_chat;

static int s_chunk(const char *p, size_t n, void *ud) {
  sync_chat *s = ud;
  return s->cb ? s->cb(p, n, s->ud) : 0;
}

static void s_done(int rc, gloam_chat_result *res, const char *e, void *ud) {
  sync_chat *s = ud;
  *s->res = *res;
  res->receipt_jws = NULL; /* moved */
  s->rc = rc;
  s->done = 1;
  if (rc < 0) err_set(s->err, rc, "%s", e);
}

int gloam_client_chat(gloam_client *c, const char *body, size_t body_len,
                      const gloam_chat_opts *opts, gloam_chunk_cb cb, void *ud,
                      gloam_chat_result *res, char *err) {
  memset(res, 0, sizeof *res);
  res->charged_micro_usd = -1;
  if (!c) return err_set(err, GLOAM_EINVAL, "no client");
  struct event_base *base = event_base_new();
  if (!base) return err_set(err, GLOAM_ENOMEM, "cannot create an event loop");
  sync_chat s = {cb, ud, res, 0, 0, err};
  chat_op_cbs cbs = {NULL, s_chunk, s_done};
  int rc = chat_op_start(base, c, body, body_len, opts, &cbs, &s, NULL, err);
  if (rc == 0) {
    event_base_dispatch(base);
    rc = s.done ? s.rc : err_set(err, GLOAM_EINTERNAL, "the event loop ended early");
  }
  event_base_free(base);
  return rc;
}

void gloam_chat_result_deinit(gloam_chat_result *res) {
  if (!res) return;
  mem_free(res->receipt_jws);
  res->receipt_jws = NULL;
}
