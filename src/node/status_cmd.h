/* SPDX-License-Identifier: Apache-2.0
 *
 * node/status_cmd.h: `gloam-node status [--config FILE] [--state-dir DIR]
 * [--json]`: asks the running serve over its status socket (status.h), then
 * the coordinator for the operator's earnings (GET /v1/operator/earnings
 * with the node token from $GLOAM_NODE_TOKEN or the config), and prints
 * both. Exit: 0 running, 3 not running (as `systemctl status`), 1 failure,
 * 2 usage. The earnings part is best effort: an unreachable coordinator is
 * reported, not fatal.
 *
 * Thread safety: a main()-level function.
 */
#ifndef GLOAM_NODE_STATUS_CMD_H
#define GLOAM_NODE_STATUS_CMD_H

int node_status_main(int argc, char **argv);

#endif
