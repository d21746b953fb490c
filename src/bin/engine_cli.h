/* SPDX-License-Identifier: Apache-2.0
 *
 * bin/engine_cli.h: argument and file helpers shared by gloam-engine's
 * subcommands (engine_*_cmd.c), so each command file holds only its command.
 *
 * Ownership: cli_read_file returns a malloc'd buffer the caller frees.
 * Thread safety: the helpers keep no state.
 */
#ifndef GLOAM_BIN_ENGINE_CLI_H
#define GLOAM_BIN_ENGINE_CLI_H

#include <stddef.h>
#include <stdint.h>

/* The value after `--name` in argv, or NULL (borrowed from argv). */
const char *cli_opt(int argc, char **argv, const char *name);
/* 1 when `--name` appears in argv. */
int cli_flag(int argc, char **argv, const char *name);
/* The whole file, NUL-terminated (not counted in *out_len), or NULL after
 * printing why to stderr (cannot open, read error, more than max bytes,
 * out of memory). */
char *cli_read_file(const char *path, size_t max, size_t *out_len);
/* A comma-separated list of non-negative ids ("1,2,3"), at most max of
 * them, into *out (malloc'd). Returns the count, or -1 (syntax, range,
 * count, memory). */
int cli_ids(const char *s, int max, int32_t **out);

#endif
