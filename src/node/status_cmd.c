/* SPDX-License-Identifier: Apache-2.0
 *
 * node/status_cmd.c: `gloam-node status` (see status_cmd.h).
 */
#include "node/status_cmd.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/err.h"
#include "gloam/err.h"
#include "http/json.h"
#include "node/config.h"
#include "node/status.h"

static int usage(void) {
  fprintf(stderr, "usage: gloam-node status [--config FILE] [--state-dir DIR] [--json]\n");
  return 2;
}

static size_t on_body(char *p, size_t sz, size_t n, void *ud) {
  return buf_append(ud, p, sz * n) < 0 ? 0 : sz * n;
}

/* GET <coordinator as http(s)>/v1/operator/earnings. */
static int fetch_earnings(const node_config *c, const char *coordinator, json_t **out, char *err) {
  char host[256], path[256], url[640];
  uint16_t port;
  bool tls;
  int rc = node_parse_ws_url(coordinator, host, sizeof host, &port, path, sizeof path, &tls, err);
  if (rc < 0) return rc;
  snprintf(url, sizeof url, "%s://%s:%u/v1/operator/earnings", tls ? "https" : "http", host,
           (unsigned)port);
  char auth[300];
  snprintf(auth, sizeof auth, "Authorization: Bearer %s", c->token);
  struct curl_slist *h = curl_slist_append(NULL, auth);
  CURL *cu = curl_easy_init();
  buf body;
  buf_init(&body, 64 * 1024);
  long status = 0;
  CURLcode cc = CURLE_FAILED_INIT;
  if (h && cu) {
    curl_easy_setopt(cu, CURLOPT_URL, url);
    curl_easy_setopt(cu, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(cu, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(cu, CURLOPT_TIMEOUT, 5L);
    curl_easy_setopt(cu, CURLOPT_NOSIGNAL, 1L);
    if (c->ca_file[0]) curl_easy_setopt(cu, CURLOPT_CAINFO, c->ca_file);
    curl_easy_setopt(cu, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(cu, CURLOPT_WRITEDATA, &body);
    cc = curl_easy_perform(cu);
    curl_easy_getinfo(cu, CURLINFO_RESPONSE_CODE, &status);
  }
  curl_easy_cleanup(cu);
  curl_slist_free_all(h);
  if (cc != CURLE_OK)
    rc = err_set(err, GLOAM_EIO, "coordinator unreachable: %s", curl_easy_strerror(cc));
  else if (status != 200)
    rc = err_set(err, status == 401 ? GLOAM_EAUTH : GLOAM_EIO, "coordinator: HTTP %ld", status);
  else
    rc = json_parse_limited((const char *)body.data, body.len, 64 * 1024, 8, out, err);
  buf_deinit(&body);
  return rc;
}

static int parse(node_config *c, int *as_json, int argc, char **argv, char *err) {
  for (int i = 0; i < argc; i++) {
    if (!strcmp(argv[i], "--json")) {
      *as_json = 1;
    } else if (i + 1 < argc && !strcmp(argv[i], "--config")) {
      if (node_config_load_file(c, argv[++i], err) < 0) return GLOAM_EINVAL;
    } else if (i + 1 < argc && !strcmp(argv[i], "--state-dir")) {
      if (node_config_set(c, "state_dir", argv[++i], err) < 0) return GLOAM_EINVAL;
    } else {
      return err_set(err, GLOAM_EINVAL, "unexpected argument %.64s", argv[i]);
    }
  }
  const char *tok = getenv("GLOAM_NODE_TOKEN");
  if (tok && *tok && node_config_set(c, "token", tok, err) < 0) return GLOAM_EINVAL;
  return node_config_state_dir(c, err);
}

static void print_human(json_t *st, json_t *earn, const char *earn_err) {
  const char *keys[] = {"state", "node_id", "model", "coordinator", "trust", "pid"};
  for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
    json_t *v = json_object_get(st, keys[i]);
    if (json_is_string(v)) printf("%-12s %s\n", keys[i], json_string_value(v));
    if (json_is_integer(v)) printf("%-12s %lld\n", keys[i], (long long)json_integer_value(v));
  }
  printf("%-12s %lld of %lld slots busy%s\n", "jobs",
         (long long)json_integer_value(json_object_get(st, "jobs_active")),
         (long long)json_integer_value(json_object_get(st, "slots")),
         json_is_true(json_object_get(st, "draining")) ? " (draining)" : "");
  printf("%-12s %lld jobs, %lld tokens since start\n", "served",
         (long long)json_integer_value(json_object_get(st, "jobs_done")),
         (long long)json_integer_value(json_object_get(st, "tokens_out")));
  if (earn) {
    json_int_t e = json_integer_value(json_object_get(earn, "earned_micro_usd"));
    printf("%-12s %lld.%06lld USD over %lld requests (operator account)\n", "earnings",
           (long long)(e / 1000000), (long long)(e % 1000000),
           (long long)json_integer_value(json_object_get(earn, "requests")));
  } else {
    printf("%-12s unknown (%s)\n", "earnings", earn_err);
  }
}

int node_status_main(int argc, char **argv) {
  char err[GLOAM_ERR_LEN], earn_err[GLOAM_ERR_LEN] = "no node token";
  static node_config c;
  node_config_defaults(&c);
  int as_json = 0;
  if (parse(&c, &as_json, argc, argv, err) < 0) {
    fprintf(stderr, "gloam-node: status: %s\n", err);
    return usage();
  }
  char path[NODE_PATH_MAX + 16];
  snprintf(path, sizeof path, "%s/status.sock", c.state_dir);
  json_t *st = NULL, *earn = NULL;
  int rc = node_status_query(path, &st, err);
  if (rc == GLOAM_ENOENT || rc == GLOAM_ECLOSED) {
    if (as_json)
      printf("{\"state\":\"not running\"}\n");
    else
      printf("state        not running (no serve answers on %s)\n", path);
    return 3;
  }
  if (rc < 0) {
    fprintf(stderr, "gloam-node: status: %s\n", err);
    return 1;
  }
  const char *coord = json_string_value(json_object_get(st, "coordinator"));
  if (c.token[0] && coord) fetch_earnings(&c, coord, &earn, earn_err);
  if (as_json) {
    json_object_set(st, "earnings", earn ? earn : json_null());
    if (!earn) json_object_set_new(st, "earnings_error", json_string(earn_err));
    char *s = json_dumps(st, JSON_INDENT(2));
    if (s) printf("%s\n", s);
    free(s);
  } else {
    print_human(st, earn, earn_err);
  }
  json_decref(st);
  json_decref(earn);
  return 0;
}
