/* SPDX-License-Identifier: Apache-2.0
 *
 * bin/engine_mlx_cmd.c: `gloam-engine convert --to mlx --bits 4|8
 * [--group-size 64] [--config FILE] IN_DIR OUT_DIR`, a Hugging Face
 * directory -> an MLX-quantized one (engine/mlx_convert.h).
 *
 * Thread safety: a command; runs once on the main thread.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "engine/mlx_convert.h"
#include "engine_cli.h"

static int usage(void) {
  fprintf(stderr,
          "gloam-engine: convert --to mlx --bits 4|8 [--group-size 32|64|128] [--config FILE] "
          "IN_DIR OUT_DIR\n");
  return 2;
}

static int parse_int(const char *s, int *out) {
  char *end;
  long v = s ? strtol(s, &end, 10) : 0;
  if (!s || *s == '\0' || *end != '\0' || v <= 0 || v > 1024) return -1;
  *out = (int)v;
  return 0;
}

int cmd_convert_mlx(int argc, char **argv); /* called by engine_main.c's convert */

int cmd_convert_mlx(int argc, char **argv) {
  const char *to = cli_opt(argc, argv, "--to"), *pos[2] = {NULL, NULL};
  int n_pos = 0;
  for (int i = 0; i < argc; i++) {
    if (strncmp(argv[i], "--", 2) == 0) {
      i++; /* every option takes a value */
      continue;
    }
    if (n_pos == 2) return usage();
    pos[n_pos++] = argv[i];
  }
  mlx_convert_opts o = {.group = 64, .config_name = cli_opt(argc, argv, "--config")};
  const char *gs = cli_opt(argc, argv, "--group-size");
  if (!to || strcmp(to, "mlx") != 0 || n_pos != 2 ||
      parse_int(cli_opt(argc, argv, "--bits"), &o.bits) < 0 || (gs && parse_int(gs, &o.group) < 0))
    return usage();
  char err[GLOAM_ERR_LEN];
  int rc = mlx_convert(pos[0], pos[1], &o, err);
  if (rc < 0) {
    fprintf(stderr, "gloam-engine: convert: %s (%s)\n", err, gloam_strerror(rc));
    return 1;
  }
  return 0;
}
