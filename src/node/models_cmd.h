/* SPDX-License-Identifier: Apache-2.0
 *
 * node/models_cmd.h: the `gloam-node models` subcommands (docs/node.md):
 *
 *   gloam-node models list [--models-dir DIR] [--config FILE]
 *   gloam-node models pull ORG/NAME[@REVISION] [--file F]... [--models-dir DIR]
 *                          [--endpoint URL] [--ca-file PEM] [--retries N] [--config FILE]
 *
 * The endpoint defaults to the config's hf_endpoint, then $HF_ENDPOINT, then
 * https://huggingface.co; a token comes from $HF_TOKEN only (never a flag,
 * so it does not show in `ps`). Progress bar on stderr when it is a
 * terminal; otherwise one line per file.
 *
 * Thread safety: a main()-level function.
 */
#ifndef GLOAM_NODE_MODELS_CMD_H
#define GLOAM_NODE_MODELS_CMD_H

/* argv[0] is "list" or "pull". Returns the process exit code (0, 1, 2 usage). */
int node_models_main(int argc, char **argv);

#endif
