/* SPDX-License-Identifier: Apache-2.0
 *
 * node/node.h: the gloam-node daemon: start-up, the network loop and the
 * coordinator connection (docs/protocol.md, docs/node.md).
 *
 *   node_harden_early(err);                 // first, before threads
 *   node_daemon *d;
 *   if (node_daemon_new(&d, &cfg, err) < 0) die(err);   // model, keys, seccomp
 *   node_daemon_run(d);                     // until SIGTERM / SIGINT
 *   node_daemon_free(d);
 *
 * Threads: the thread that calls run owns the libevent loop and the
 * WebSocket; the engine thread (engine_thread.h) owns the model. The daemon
 * installs SIGTERM/SIGINT handlers through libevent: the first drains
 * (finishes running jobs, takes no new ones) and exits, the second exits now.
 *
 * Ownership: the daemon borrows cfg for its lifetime.
 */
#ifndef GLOAM_NODE_NODE_H
#define GLOAM_NODE_NODE_H

#include "node/config.h"

typedef struct node_daemon node_daemon;

/* Everything up to (not including) the first connection: secure heap, keys,
 * identity, digests, model and sessions, the loop, then the seccomp filter
 * (when cfg->seccomp). Returns 0 or GLOAM_* with detail in err. */
int node_daemon_new(node_daemon **out, const node_config *cfg, char *err);
/* Connects and serves; returns 0 after a clean shutdown. */
int node_daemon_run(node_daemon *d);
void node_daemon_free(node_daemon *d);

#endif
