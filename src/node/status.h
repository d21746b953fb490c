/* SPDX-License-Identifier: Apache-2.0
 *
 * node/status.h: the running serve's status socket and the `gloam-node
 * status` client (docs/node.md, "Status").
 *
 *   serve:  node_status_open(&st, base, "<state_dir>/status.sock", fill, d, err);
 *           ... every connection gets one JSON object (from fill) and EOF;
 *           node_status_close(st);
 *   client: json_t *j; node_status_query("<state_dir>/status.sock", &j, err);
 *
 * DESIGN: a unix stream socket in the state directory (itself 0700), made
 * 0600 before it listens, so only the node's user can ask. Clients send
 * nothing; the server answers with one JSON document (a few hundred bytes,
 * written with one non-blocking send) and closes. No request parsing means
 * nothing to attack; the answer has no prompt or response text. The socket
 * is made before the seccomp filter; afterwards the node only needs
 * accept4 (listen, bind and unlink stay forbidden). A socket file left by a
 * dead serve is replaced at the next start; one that still answers means
 * another serve uses this state directory, and start-up refuses.
 *
 * Ownership: node_status owns its fd and listener event; fill's result is
 * freed here. Thread safety: loop thread (open, close, callbacks);
 * node_status_query blocks and is for the CLI.
 */
#ifndef GLOAM_NODE_STATUS_H
#define GLOAM_NODE_STATUS_H

#include <jansson.h>

struct event_base;
typedef struct node_status node_status;

/* Returns a new JSON object describing the daemon now (or NULL). */
typedef json_t *(*node_status_fill_fn)(void *ud);

/* GLOAM_EBUSY when another process answers on path, GLOAM_EIO otherwise. */
int node_status_open(node_status **out, struct event_base *base, const char *path,
                     node_status_fill_fn fill, void *ud, char *err);
void node_status_close(node_status *st);

/* Connects to path and reads the JSON (up to 64 KiB, 2 s). GLOAM_ENOENT or
 * GLOAM_ECLOSED when nothing listens (not running), GLOAM_EFORMAT,
 * GLOAM_ETIMEDOUT. OUT: *out (new reference). */
int node_status_query(const char *path, json_t **out, char *err);

#endif
