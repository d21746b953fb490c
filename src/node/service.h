/* SPDX-License-Identifier: Apache-2.0
 *
 * node/service.h: `gloam-node install-service`: a systemd unit that runs
 * `gloam-node serve` with systemd's sandboxing on top of the node's own
 * hardening (docs/node.md, "Running as a service").
 *
 *   gloam-node install-service [--user] [--print] [--config FILE]
 *                              [--unit-dir DIR] [--no-enable]
 *
 * System unit (/etc/systemd/system/gloam-node.service): a DynamicUser,
 * state in /var/lib/gloam-node (StateDirectory), models in
 * /var/cache/gloam/models (CacheDirectory), config /etc/gloam/node.conf, the
 * token in /etc/gloam/node.env (GLOAM_NODE_TOKEN=..., root-only), and
 * ProtectSystem=strict, ProtectHome, PrivateTmp, PrivateDevices, the
 * Protect* kernel options, MemoryDenyWriteExecute, LockPersonality,
 * RestrictAddressFamilies (inet, inet6, unix), RestrictNamespaces, an empty
 * capability set, Nice=10 and idle I/O (it runs on an owner's machine).
 * The --user unit (~/.config/systemd/user) keeps only the options that need
 * no mount or user namespace (NoNewPrivileges, MemoryDenyWriteExecute,
 * LockPersonality, RestrictAddressFamilies, RestrictRealtime, ...), since a
 * per-user manager can apply the others only with unprivileged user
 * namespaces.
 *
 * Thread safety: main()-level functions.
 */
#ifndef GLOAM_NODE_SERVICE_H
#define GLOAM_NODE_SERVICE_H

#include "core/buf.h"

typedef struct node_service_opts {
  int user;           /* a systemd --user unit */
  const char *binary; /* absolute path of gloam-node */
  const char *config; /* absolute path of the config file (NULL: the default) */
} node_service_opts;

/* Appends the unit text to out. GLOAM_EINVAL for a path systemd would
 * misread (relative, or with spaces, quotes, '%', '\\' or control bytes). */
int node_service_unit(const node_service_opts *o, buf *out, char *err);

/* The subcommand; returns the exit code. */
int node_service_main(int argc, char **argv);

#endif
