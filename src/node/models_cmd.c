/* SPDX-License-Identifier: Apache-2.0
 *
 * node/models_cmd.c: argument handling for `gloam-node models list|pull`
 * (see models_cmd.h); the work is in models_pull.c and models_cache.c.
 */
#include "node/models_cmd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/err.h"
#include "gloam/err.h"
#include "node/config.h"
#include "node/models_cache.h"
#include "node/models_pull.h"

#define MAX_FILES 64

static int usage(void) {
  fprintf(stderr,
          "usage: gloam-node models list [--models-dir DIR] [--config FILE]\n"
          "       gloam-node models pull ORG/NAME[@REVISION] [--file F]... [--models-dir DIR]\n"
          "                              [--endpoint URL] [--ca-file PEM] [--retries N]\n"
          "                              [--config FILE]\n");
  return 2;
}

typedef struct args {
  node_config cfg;
  const char *ref;
  const char *files[MAX_FILES];
  size_t n_files;
  const char *ca_file;
  int retries;
  int endpoint_set;
} args;

static int parse(args *a, int argc, char **argv, char *err) {
  for (int i = 1; i + 1 < argc; i++)
    if (!strcmp(argv[i], "--config") && node_config_load_file(&a->cfg, argv[i + 1], err) < 0)
      return GLOAM_EINVAL;
  for (int i = 1; i < argc; i++) {
    const char *k = argv[i];
    if (k[0] != '-') {
      if (a->ref) return err_set(err, GLOAM_EINVAL, "more than one repository");
      a->ref = k;
      continue;
    }
    if (i + 1 >= argc) return err_set(err, GLOAM_EINVAL, "%.64s needs a value", k);
    const char *v = argv[++i];
    if (!strcmp(k, "--config")) continue;
    if (!strcmp(k, "--file")) {
      if (a->n_files == MAX_FILES) return err_set(err, GLOAM_EINVAL, "too many --file");
      a->files[a->n_files++] = v;
    } else if (!strcmp(k, "--ca-file")) {
      a->ca_file = v;
    } else if (!strcmp(k, "--retries")) {
      char *end;
      long r = strtol(v, &end, 10);
      if (*end || end == v || r < 0 || r > 100)
        return err_set(err, GLOAM_EINVAL, "--retries: 0 to 100");
      a->retries = (int)r;
    } else if (!strcmp(k, "--models-dir")) {
      if (node_config_set(&a->cfg, "models_dir", v, err) < 0) return GLOAM_EINVAL;
    } else if (!strcmp(k, "--endpoint")) {
      if (node_config_set(&a->cfg, "hf_endpoint", v, err) < 0) return GLOAM_EINVAL;
      a->endpoint_set = 1;
    } else {
      return err_set(err, GLOAM_EINVAL, "unknown flag %.64s", k);
    }
  }
  if (!a->cfg.models_dir[0] &&
      models_default_dir(a->cfg.models_dir, sizeof a->cfg.models_dir, err) < 0)
    return GLOAM_EINVAL;
  return 0;
}

static int cmd_pull(args *a) {
  char err[GLOAM_ERR_LEN], snap[4096];
  const char *env_ep = getenv("HF_ENDPOINT");
  static const char def_ep[] = "https://huggingface.co";
  const char *ep = a->cfg.hf_endpoint;
  /* $HF_ENDPOINT applies when neither the flag nor the config changed it */
  if (!a->endpoint_set && env_ep && *env_ep && !strcmp(ep, def_ep)) ep = env_ep;
  models_pull_opts o = {.endpoint = ep,
                        .models_dir = a->cfg.models_dir,
                        .ref = a->ref,
                        .files = a->n_files ? a->files : NULL,
                        .n_files = a->n_files,
                        .ca_file = a->ca_file,
                        .token = getenv("HF_TOKEN"),
                        .progress = isatty(2),
                        .retries = a->retries,
                        .log = stderr};
  if (models_pull(&o, snap, sizeof snap, err) < 0) {
    fprintf(stderr, "gloam-node: models pull: %s\n", err);
    return 1;
  }
  printf("%s\n", snap);
  return 0;
}

int node_models_main(int argc, char **argv) {
  char err[GLOAM_ERR_LEN];
  static args a;
  memset(&a, 0, sizeof a);
  node_config_defaults(&a.cfg);
  a.retries = 5;
  if (argc < 1) return usage();
  int is_list = !strcmp(argv[0], "list"), is_pull = !strcmp(argv[0], "pull");
  if (!is_list && !is_pull) return usage();
  if (parse(&a, argc, argv, err) < 0) {
    fprintf(stderr, "gloam-node: models: %s\n", err);
    return usage();
  }
  if (is_list) {
    if (a.ref || a.n_files) return usage();
    if (models_list(a.cfg.models_dir, stdout, err) < 0) {
      fprintf(stderr, "gloam-node: models list: %s\n", err);
      return 1;
    }
    return 0;
  }
  if (!a.ref) return usage();
  return cmd_pull(&a);
}
