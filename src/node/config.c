/* SPDX-License-Identifier: Apache-2.0
 *
 * node/config.c: gloam-node settings (see config.h and docs/node.md).
 */
#include "node/config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "gloam/engine.h"
#include "gloam/err.h"
#include "node/schedule.h"

#define CONFIG_MAX_FILE (64 * 1024)

void node_config_defaults(node_config *c) {
  memset(c, 0, sizeof *c);
  c->slots = 2;
  c->seccomp = true;
  c->batch = true;
  c->backoff_min_ms = 500;
  c->backoff_max_ms = 30000;
  memcpy(c->hf_endpoint, "https://huggingface.co", sizeof "https://huggingface.co");
  c->idle_resume_s = 300;
}

static int set_str(char *dst, size_t cap, const char *v, const char *key, char *err) {
  size_t n = strlen(v);
  if (n >= cap) return err_set(err, GLOAM_EINVAL, "%s: value longer than %zu bytes", key, cap - 1);
  memcpy(dst, v, n + 1);
  return 0;
}

static int set_long(long *out, const char *v, long lo, long hi, const char *key, char *err) {
  char *end;
  errno = 0;
  long x = strtol(v, &end, 10);
  if (errno || end == v || *end || x < lo || x > hi)
    return err_set(err, GLOAM_EINVAL, "%s: expected an integer in [%ld, %ld]", key, lo, hi);
  *out = x;
  return 0;
}

static int set_bool(bool *out, const char *v, const char *key, char *err) {
  if (!strcmp(v, "true") || !strcmp(v, "on") || !strcmp(v, "1") || !strcmp(v, "yes"))
    *out = true;
  else if (!strcmp(v, "false") || !strcmp(v, "off") || !strcmp(v, "0") || !strcmp(v, "no"))
    *out = false;
  else
    return err_set(err, GLOAM_EINVAL, "%s: expected true or false", key);
  return 0;
}

#define STR_KEY(name) \
  if (!strcmp(key, #name)) return set_str(c->name, sizeof c->name, value, key, err)

int node_config_set(node_config *c, const char *key, const char *value, char *err) {
  long x;
  int rc;
  STR_KEY(coordinator);
  STR_KEY(token);
  STR_KEY(model);
  STR_KEY(model_id);
  STR_KEY(tokenizer);
  STR_KEY(state_dir);
  STR_KEY(ca_file);
  STR_KEY(node_id);
  STR_KEY(identity);
  STR_KEY(ek_chain);
  STR_KEY(models_dir);
  STR_KEY(hf_endpoint);
  if (!strcmp(key, "schedule")) {
    node_schedule tmp;
    if ((rc = node_schedule_parse(value, &tmp, err)) < 0) return rc;
    return set_str(c->schedule, sizeof c->schedule, value, key, err);
  }
  if (!strcmp(key, "idle_max_cpu")) {
    if ((rc = set_long(&x, value, 0, 100, key, err)) == 0) c->idle_max_cpu = (int)x;
    return rc;
  }
  if (!strcmp(key, "idle_resume_s")) {
    if ((rc = set_long(&x, value, 0, 86400, key, err)) == 0) c->idle_resume_s = (int)x;
    return rc;
  }
  if (!strcmp(key, "threads")) {
    if ((rc = set_long(&x, value, 0, 256, key, err)) == 0) c->threads = (int)x;
    return rc;
  }
  if (!strcmp(key, "slots")) {
    if ((rc = set_long(&x, value, 1, 64, key, err)) == 0) c->slots = (int)x;
    return rc;
  }
  if (!strcmp(key, "n_ctx")) {
    if ((rc = set_long(&x, value, 0, 1 << 20, key, err)) == 0) c->n_ctx = (int)x;
    return rc;
  }
  if (!strcmp(key, "backoff_min_ms")) {
    if ((rc = set_long(&x, value, 10, 600000, key, err)) == 0) c->backoff_min_ms = (uint32_t)x;
    return rc;
  }
  if (!strcmp(key, "backoff_max_ms")) {
    if ((rc = set_long(&x, value, 10, 3600000, key, err)) == 0) c->backoff_max_ms = (uint32_t)x;
    return rc;
  }
  if (!strcmp(key, "quantize")) {
    if (!strcmp(value, "none"))
      c->quantize = GLOAM_QUANT_NONE;
    else if (!strcmp(value, "q8_0"))
      c->quantize = GLOAM_QUANT_Q8_0;
    else if (!strcmp(value, "q4_0"))
      c->quantize = GLOAM_QUANT_Q4_0;
    else
      return err_set(err, GLOAM_EINVAL, "quantize: expected none, q8_0 or q4_0");
    return 0;
  }
  if (!strcmp(key, "seccomp")) return set_bool(&c->seccomp, value, key, err);
  if (!strcmp(key, "batch")) return set_bool(&c->batch, value, key, err);
  if (!strcmp(key, "clamp_token_ids")) return set_bool(&c->clamp_token_ids, value, key, err);
  if (!strcmp(key, "speech_max_tokens")) {
    if ((rc = set_long(&x, value, 0, 4096, key, err)) == 0) c->speech_max_tokens = (int)x;
    return rc;
  }
  return err_set(err, GLOAM_EINVAL, "unknown key '%.64s'", key);
}

static char *trim(char *s) {
  while (*s == ' ' || *s == '\t') s++;
  size_t n = strlen(s);
  while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r')) s[--n] = 0;
  return s;
}

int node_config_load_file(node_config *c, const char *path, char *err) {
  FILE *f = fopen(path, "r");
  if (!f) return err_set(err, errno == ENOENT ? GLOAM_ENOENT : GLOAM_EIO, "cannot open config");
  char line[4096];
  int lineno = 0, rc = 0;
  size_t total = 0;
  while (fgets(line, sizeof line, f)) {
    lineno++;
    size_t n = strlen(line);
    total += n;
    if (total > CONFIG_MAX_FILE) {
      rc = err_set(err, GLOAM_ETOOBIG, "config file over %d bytes", CONFIG_MAX_FILE);
      break;
    }
    if (n && line[n - 1] != '\n' && !feof(f)) {
      rc = err_set(err, GLOAM_ETOOBIG, "config line %d too long", lineno);
      break;
    }
    if (n && line[n - 1] == '\n') line[n - 1] = 0;
    char *s = trim(line);
    if (!*s || *s == '#') continue;
    char *eq = strchr(s, '=');
    if (!eq) {
      rc = err_set(err, GLOAM_EINVAL, "config line %d: expected key = value", lineno);
      break;
    }
    *eq = 0;
    char sub[GLOAM_ERR_LEN];
    if (node_config_set(c, trim(s), trim(eq + 1), sub) < 0) {
      rc = err_set(err, GLOAM_EINVAL, "config line %d: %s", lineno, sub);
      break;
    }
  }
  if (!rc && ferror(f)) rc = err_set(err, GLOAM_EIO, "reading config failed");
  fclose(f);
  return rc;
}

static void base_name(const char *path, char *out, size_t cap) {
  size_t n = strlen(path);
  while (n > 1 && path[n - 1] == '/') n--;
  size_t b = n;
  while (b > 0 && path[b - 1] != '/') b--;
  size_t len = n - b;
  const char *dot = NULL;
  for (size_t i = b; i < n; i++)
    if (path[i] == '.') dot = path + i;
  if (dot && !strncmp(dot, ".gguf", 5)) len = (size_t)(dot - (path + b));
  if (len >= cap) len = cap - 1;
  memcpy(out, path + b, len);
  out[len] = 0;
}

int node_config_state_dir(node_config *c, char *err) {
  if (!c->state_dir[0]) {
    const char *xdg = getenv("XDG_STATE_HOME"), *home = getenv("HOME");
    int n = xdg && *xdg ? snprintf(c->state_dir, sizeof c->state_dir, "%s/gloam-node", xdg)
            : home && *home
                ? snprintf(c->state_dir, sizeof c->state_dir, "%s/.local/state/gloam-node", home)
                : -1;
    if (n < 0 || (size_t)n >= sizeof c->state_dir)
      return err_set(err, GLOAM_EINVAL, "state_dir: set it (no HOME)");
  }
  return 0;
}

int node_config_check(node_config *c, char *err) {
  if (!c->coordinator[0]) return err_set(err, GLOAM_EINVAL, "coordinator is required");
  if (!c->token[0]) return err_set(err, GLOAM_EINVAL, "token is required");
  if (!c->model[0]) return err_set(err, GLOAM_EINVAL, "model is required");
  if (!c->model_id[0]) base_name(c->model, c->model_id, sizeof c->model_id);
  for (const char *p = c->model_id; *p; p++)
    if (*p < 0x21 || *p > 0x7e) return err_set(err, GLOAM_EINVAL, "model_id must be printable");
  if (!c->model_id[0]) return err_set(err, GLOAM_EINVAL, "model_id is empty");
  for (const char *p = c->node_id; *p; p++) {
    char ch = *p;
    bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '.' || ch == '_' || ch == ':' || ch == '-';
    if (!ok) return err_set(err, GLOAM_EINVAL, "node_id: only [A-Za-z0-9._:-]");
  }
  if (!c->tokenizer[0] && set_str(c->tokenizer, sizeof c->tokenizer, c->model, "tokenizer", err))
    return GLOAM_EINVAL;
  if (node_config_state_dir(c, err) < 0) return GLOAM_EINVAL;
  if (c->backoff_max_ms < c->backoff_min_ms) c->backoff_max_ms = c->backoff_min_ms;
  return 0;
}

int node_parse_ws_url(const char *url, char *host, size_t host_cap, uint16_t *port, char *path,
                      size_t path_cap, bool *tls, char *err) {
  static const struct {
    const char *scheme;
    bool tls;
  } schemes[] = {{"ws://", false}, {"wss://", true}, {"http://", false}, {"https://", true}};
  const char *p = NULL;
  for (size_t i = 0; i < sizeof schemes / sizeof schemes[0] && !p; i++)
    if (!strncmp(url, schemes[i].scheme, strlen(schemes[i].scheme))) {
      p = url + strlen(schemes[i].scheme);
      *tls = schemes[i].tls;
    }
  if (!p) return err_set(err, GLOAM_EINVAL, "coordinator URL must start with ws:// or wss://");
  const char *slash = strchr(p, '/');
  const char *hend = slash ? slash : p + strlen(p);
  const char *colon = NULL;
  for (const char *q = p; q < hend; q++)
    if (*q == ':') colon = q;
  const char *hstop = colon ? colon : hend;
  size_t hl = (size_t)(hstop - p);
  if (hl == 0 || hl >= host_cap) return err_set(err, GLOAM_EINVAL, "bad host in coordinator URL");
  memcpy(host, p, hl);
  host[hl] = 0;
  *port = *tls ? 443 : 80;
  if (colon) {
    long x = 0;
    char tmp[8];
    size_t pl = (size_t)(hend - colon - 1);
    if (pl == 0 || pl >= sizeof tmp) return err_set(err, GLOAM_EINVAL, "bad port");
    memcpy(tmp, colon + 1, pl);
    tmp[pl] = 0;
    if (set_long(&x, tmp, 1, 65535, "port", err) < 0) return GLOAM_EINVAL;
    *port = (uint16_t)x;
  }
  const char *pth = slash && slash[1] ? slash : "/v1/node/connect";
  if (strlen(pth) >= path_cap) return err_set(err, GLOAM_EINVAL, "path too long");
  memcpy(path, pth, strlen(pth) + 1);
  return 0;
}
