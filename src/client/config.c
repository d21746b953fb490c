/* SPDX-License-Identifier: Apache-2.0
 *
 * client/config.c: CLI settings from flags, environment and a config file
 * (see config.h).
 */
#include "client/config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/err.h"

static int set_str(char *dst, size_t cap, const char *v, size_t n) {
  if (n >= cap) return -1;
  memcpy(dst, v, n);
  dst[n] = 0;
  return 0;
}

static int parse_u32(const char *v, uint32_t *out) {
  char *end;
  errno = 0;
  unsigned long long x = strtoull(v, &end, 10);
  if (errno || end == v || *end || x > 0xffffffffull || v[0] == '-') return -1;
  *out = (uint32_t)x;
  return 0;
}

static int set_binaries(client_conf *c, const char *v) {
  c->n_binaries = 0;
  while (*v) {
    while (*v == ' ' || *v == ',') v++;
    size_t n = strcspn(v, ", ");
    if (n == 0) break;
    if (c->n_binaries == GLOAM_CLIENT_MAX_BINARIES || strncmp(v, "sha256:", 7) != 0 ||
        set_str(c->binaries[c->n_binaries], sizeof c->binaries[0], v, n) < 0)
      return -1;
    c->n_binaries++;
    v += n;
  }
  return 0;
}

static int set_key(client_conf *c, const char *k, const char *v) {
  size_t n = strlen(v);
  if (strcmp(k, "base_url") == 0) return set_str(c->base_url, sizeof c->base_url, v, n);
  if (strcmp(k, "api_key") == 0) return set_str(c->api_key, sizeof c->api_key, v, n);
  if (strcmp(k, "model") == 0) return set_str(c->model, sizeof c->model, v, n);
  if (strcmp(k, "ca_file") == 0) return set_str(c->ca_file, sizeof c->ca_file, v, n);
  if (strcmp(k, "ek_roots") == 0) return set_str(c->ek_roots, sizeof c->ek_roots, v, n);
  if (strcmp(k, "min_trust") == 0) {
    gloam_trust t;
    if (gloam_trust_parse(v, &t) < 0) return -1;
    return set_str(c->min_trust, sizeof c->min_trust, v, n);
  }
  if (strcmp(k, "max_evidence_age_s") == 0) return parse_u32(v, &c->max_age_s);
  if (strcmp(k, "allowed_binaries") == 0) return set_binaries(c, v);
  return -2;
}

static char *trim(char *s) {
  while (*s == ' ' || *s == '\t') s++;
  size_t n = strlen(s);
  while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r')) s[--n] = 0;
  return s;
}

int client_conf_load_file(client_conf *c, const char *path, char *err) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return errno == ENOENT ? GLOAM_ENOENT
                           : err_set(err, GLOAM_EIO, "%s: %s", path, strerror(errno));
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > CLIENT_CONF_FILE_MAX) {
    close(fd);
    return err_set(err, GLOAM_ETOOBIG, "%s: not a regular file under 64 KiB", path);
  }
  char *text = mem_alloc((size_t)st.st_size + 1);
  if (!text) {
    close(fd);
    return err_set(err, GLOAM_ENOMEM, "out of memory");
  }
  ssize_t got = read(fd, text, (size_t)st.st_size);
  close(fd);
  if (got < 0) {
    mem_free(text);
    return err_set(err, GLOAM_EIO, "%s: read failed", path);
  }
  text[got] = 0;
  int rc = 0, lineno = 0, has_key = 0;
  char *save = text;
  while (rc == 0 && save && *save) {
    char *line = save;
    char *nl = strchr(line, '\n');
    save = nl ? nl + 1 : NULL;
    if (nl) *nl = 0;
    lineno++;
    char *s = trim(line);
    if (*s == 0 || *s == '#') continue;
    char *eq = strchr(s, '=');
    if (!eq) {
      rc = err_set(err, GLOAM_EFORMAT, "%s:%d: expected key = value", path, lineno);
      break;
    }
    *eq = 0;
    char *k = trim(s), *v = trim(eq + 1);
    if (strlen(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[strlen(v) - 1] == v[0]) {
      v[strlen(v) - 1] = 0;
      v++;
    }
    int r = set_key(c, k, v);
    if (r == -2)
      rc = err_set(err, GLOAM_EFORMAT, "%s:%d: unknown key '%.40s'", path, lineno, k);
    else if (r < 0)
      rc = err_set(err, GLOAM_EFORMAT, "%s:%d: bad value for %s", path, lineno, k);
    if (strcmp(k, "api_key") == 0) has_key = 1;
  }
  memset(text, 0, (size_t)got);
  mem_free(text);
  if (rc == 0 && has_key && (st.st_mode & 077))
    rc = err_set(err, GLOAM_EPERM, "%s holds an API key but others can read it (chmod 600 it)",
                 path);
  return rc;
}

static const char *env_default(const char *n) {
  return getenv(n);
}

int client_conf_resolve(client_conf *out, const client_conf *flags, client_getenv_fn getenv_fn,
                        const char *file_path, char *err) {
  memset(out, 0, sizeof *out);
  if (!getenv_fn) getenv_fn = env_default;
  snprintf(out->base_url, sizeof out->base_url, "%s", CLIENT_CONF_DEFAULT_URL);
  char def[1024];
  const char *path = file_path ? file_path : getenv_fn("GLOAM_CONFIG");
  int must_exist = path != NULL;
  if (!path) {
    const char *xdg = getenv_fn("XDG_CONFIG_HOME"), *home = getenv_fn("HOME");
    if (xdg && xdg[0])
      snprintf(def, sizeof def, "%s/gloam/config", xdg);
    else if (home && home[0])
      snprintf(def, sizeof def, "%s/.config/gloam/config", home);
    else
      def[0] = 0;
    path = def[0] ? def : NULL;
  }
  if (path) {
    int rc = client_conf_load_file(out, path, err);
    if (rc == GLOAM_ENOENT && must_exist) return err_set(err, rc, "%s: no such file", path);
    if (rc < 0 && rc != GLOAM_ENOENT) return rc;
  }
  static const struct {
    const char *env, *key;
  } envs[] = {{"GLOAM_BASE_URL", "base_url"},
              {"GLOAM_API_KEY", "api_key"},
              {"GLOAM_MODEL", "model"},
              {"GLOAM_MIN_TRUST", "min_trust"}};
  for (size_t i = 0; i < sizeof envs / sizeof envs[0]; i++) {
    const char *v = getenv_fn(envs[i].env);
    if (v && v[0] && set_key(out, envs[i].key, v) < 0)
      return err_set(err, GLOAM_EINVAL, "bad value in %s", envs[i].env);
  }
  if (flags) {
    if (flags->base_url[0]) memcpy(out->base_url, flags->base_url, sizeof out->base_url);
    if (flags->api_key[0]) memcpy(out->api_key, flags->api_key, sizeof out->api_key);
    if (flags->model[0]) memcpy(out->model, flags->model, sizeof out->model);
    if (flags->min_trust[0]) memcpy(out->min_trust, flags->min_trust, sizeof out->min_trust);
    if (flags->ca_file[0]) memcpy(out->ca_file, flags->ca_file, sizeof out->ca_file);
    if (flags->ek_roots[0]) memcpy(out->ek_roots, flags->ek_roots, sizeof out->ek_roots);
    if (flags->max_age_s) out->max_age_s = flags->max_age_s;
    if (flags->n_binaries) {
      memcpy(out->binaries, flags->binaries, sizeof out->binaries);
      out->n_binaries = flags->n_binaries;
    }
  }
  return 0;
}

int client_conf_to_config(const client_conf *c, gloam_client_config *cfg,
                          const char *bins[GLOAM_CLIENT_MAX_BINARIES], char *err) {
  memset(cfg, 0, sizeof *cfg);
  cfg->base_url = c->base_url;
  cfg->api_key = c->api_key[0] ? c->api_key : NULL;
  cfg->min_trust = GLOAM_TRUST_SOFTWARE;
  if (c->min_trust[0] && gloam_trust_parse(c->min_trust, &cfg->min_trust) < 0)
    return err_set(err, GLOAM_EINVAL, "unknown trust level '%s'", c->min_trust);
  for (size_t i = 0; i < c->n_binaries; i++) bins[i] = c->binaries[i];
  cfg->allowed_binaries = bins;
  cfg->n_allowed_binaries = c->n_binaries;
  cfg->max_evidence_age_s = c->max_age_s;
  cfg->ca_file = c->ca_file[0] ? c->ca_file : NULL;
  cfg->ek_roots_file = c->ek_roots[0] ? c->ek_roots : NULL;
  return 0;
}
