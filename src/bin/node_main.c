/* SPDX-License-Identifier: Apache-2.0
 *
 * gloam-node: the provider daemon (docs/node.md).
 *
 *   gloam-node serve --coordinator URL --token TOKEN --model PATH
 *                    [--model-id ID] [--threads N] [--slots N] [--config FILE]
 *                    [--state-dir DIR] [--tokenizer PATH] [--n-ctx N]
 *                    [--identity software|tpm|tpm:TCTI] [--ek-chain PEM]
 *   gloam-node doctor      prints this machine's protection posture as JSON
 *   gloam-node models list|pull ...   the model cache (node/models_cmd.h)
 *   gloam-node status [--json]        the running serve (node/status_cmd.h)
 *   gloam-node install-service [--user] [--print]   a systemd unit (node/service.h)
 *
 * Flags override the config file. The token may also come from the
 * environment (GLOAM_NODE_TOKEN) so it does not show in `ps`.
 * Exit: 0 clean shutdown, 1 failure, 2 usage.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/err.h"
#include "core/log.h"
#include "gloam/err.h"
#include "node/config.h"
#include "node/gpu.h"
#include "node/harden.h"
#include "node/models_cache.h"
#include "node/models_cmd.h"
#include "node/node.h"
#include "node/secmem.h"
#include "node/service.h"
#include "node/status_cmd.h"

static int usage(void) {
  fprintf(stderr,
          "usage: gloam-node serve --coordinator URL --token TOKEN --model PATH\n"
          "                        [--model-id ID] [--threads N] [--slots N] [--config FILE]\n"
          "                        [--state-dir DIR] [--tokenizer PATH] [--n-ctx N]\n"
          "                        [--identity software|tpm|tpm:TCTI] [--ek-chain PEM]\n"
          "       gloam-node doctor\n"
          "       gloam-node models list|pull ... (gloam-node models for details)\n"
          "       gloam-node status [--config FILE] [--state-dir DIR] [--json]\n"
          "       gloam-node install-service [--user] [--print] [--config FILE]\n");
  return 2;
}

/* --flag-name -> config key flag_name */
static int apply_flags(node_config *c, int argc, char **argv, char *err) {
  for (int i = 0; i < argc; i++) {
    if (strcmp(argv[i], "--config") == 0) {
      i++;
      continue;
    }
    if (strncmp(argv[i], "--", 2) != 0 || i + 1 >= argc)
      return err_set(err, GLOAM_EINVAL, "unexpected argument '%.64s'", argv[i]);
    char key[64];
    size_t n = strlen(argv[i] + 2);
    if (n == 0 || n >= sizeof key) return err_set(err, GLOAM_EINVAL, "bad flag");
    for (size_t k = 0; k <= n; k++) key[k] = argv[i][2 + k] == '-' ? '_' : argv[i][2 + k];
    int rc = node_config_set(c, key, argv[++i], err);
    if (rc < 0) return rc;
  }
  return 0;
}

/* --model ORG/NAME[@REV] that is not a path names a pulled snapshot; a
 * model with unfinished or failed downloads is refused. */
static int resolve_model(node_config *c, char *err) {
  char snap[NODE_PATH_MAX];
  if (access(c->model, F_OK) != 0 && strchr(c->model, '/') && c->model[0] != '/' &&
      c->model[0] != '.') {
    if (!c->models_dir[0] && models_default_dir(c->models_dir, sizeof c->models_dir, err) < 0)
      return GLOAM_EINVAL;
    char sub[GLOAM_ERR_LEN];
    int rc = models_resolve(c->models_dir, c->model, snap, sizeof snap, sub);
    if (rc < 0) return err_set(err, rc, "model %s: no such path, and %s", c->model, sub);
    if (!strcmp(c->tokenizer, c->model)) memcpy(c->tokenizer, snap, strlen(snap) + 1);
    memcpy(c->model, snap, strlen(snap) + 1);
  }
  return models_dir_servable(c->model, err);
}

static int cmd_serve(int argc, char **argv) {
  char err[GLOAM_ERR_LEN];
  if (node_harden_early(err) < 0) {
    fprintf(stderr, "gloam-node: hardening failed: %s\n", err);
    return 1;
  }
  static node_config cfg;
  node_config_defaults(&cfg);
  for (int i = 0; i + 1 < argc; i++)
    if (strcmp(argv[i], "--config") == 0 && node_config_load_file(&cfg, argv[i + 1], err) < 0) {
      fprintf(stderr, "gloam-node: %s: %s\n", argv[i + 1], err);
      return 1;
    }
  const char *tok = getenv("GLOAM_NODE_TOKEN");
  if (tok && *tok && node_config_set(&cfg, "token", tok, err) < 0) {
    fprintf(stderr, "gloam-node: GLOAM_NODE_TOKEN: %s\n", err);
    return 1;
  }
  if (apply_flags(&cfg, argc, argv, err) < 0 || node_config_check(&cfg, err) < 0) {
    fprintf(stderr, "gloam-node: %s\n", err);
    return usage();
  }
  if (resolve_model(&cfg, err) < 0) {
    fprintf(stderr, "gloam-node: %s\n", err);
    return 1;
  }
  node_daemon *d;
  if (node_daemon_new(&d, &cfg, err) < 0) {
    fprintf(stderr, "gloam-node: %s\n", err);
    return 1;
  }
  int rc = node_daemon_run(d);
  node_daemon_free(d);
  return rc < 0 ? 1 : 0;
}

static int cmd_doctor(void) {
  node_posture p = {0};
  snprintf(p.key_memory, sizeof p.key_memory, "%s", secmem_init());
  char err[GLOAM_ERR_LEN];
  int hrc = node_harden_early(err);
  node_posture_read(&p);
  json_t *j = node_posture_json(&p);
  char *s = j ? json_dumps(j, JSON_INDENT(2)) : NULL;
  json_decref(j);
  if (!s) return 1;
  printf("%s\n", s);
  free(s);
  printf(
      "trust level reachable now: software (identity key in a 0600 file), or tpm with\n"
      "  identity = tpm (docs/node.md)\n");
  if (hrc < 0) printf("warning: %s\n", err);
  node_gpu gpus[NODE_GPU_MAX];
  json_t *gj = node_gpu_json(gpus, node_gpu_detect(gpus, NODE_GPU_MAX));
  char *gs = gj ? json_dumps(gj, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
  printf("gpus: %s (the engine runs on the CPU)\n", gs ? gs : "null");
  free(gs);
  json_decref(gj);
  if (!p.memfd_secret) printf("to raise: a kernel with memfd_secret (secretmem.enable=1)\n");
  if (p.yama_ptrace_scope < 3) printf("to raise: Yama ptrace_scope 3\n");
  if (strcmp(p.lockdown, "none") == 0 || strcmp(p.lockdown, "unknown") == 0)
    printf("to raise: kernel lockdown (lockdown=integrity or confidentiality)\n");
  if (strcmp(p.secure_boot, "enabled") != 0) printf("to raise: UEFI Secure Boot\n");
  printf("to raise: a TPM 2.0 identity (identity = tpm[:TCTI], ek_chain = PEM)\n");
  return 0;
}

int main(int argc, char **argv) {
  log_configure_from_env();
  if (argc < 2) return usage();
  if (strcmp(argv[1], "serve") == 0) return cmd_serve(argc - 2, argv + 2);
  if (strcmp(argv[1], "doctor") == 0) return cmd_doctor();
  if (strcmp(argv[1], "models") == 0) return node_models_main(argc - 2, argv + 2);
  if (strcmp(argv[1], "status") == 0) return node_status_main(argc - 2, argv + 2);
  if (strcmp(argv[1], "install-service") == 0) return node_service_main(argc - 2, argv + 2);
  return usage();
}
