/* SPDX-License-Identifier: Apache-2.0
 *
 * client/client_impl.h: libgloam's internal types and its asynchronous
 * core, shared by client.c (the blocking public API), chat.c (the sealed
 * chat operation), nodes.c (discovery) and proxy.c (gloam proxy). Not API.
 *
 * The core runs on a caller-given libevent loop: the blocking public calls
 * make a private loop per call (so a gloam_client can be shared by threads),
 * the proxy runs many operations on its one loop.
 *
 * Ownership: an operation owns its HTTP exchange, its sealing state and its
 * result until it reports on_done; it frees itself after on_done returns, or
 * in chat_op_cancel (which suppresses on_done). Loop thread only.
 */
#ifndef GLOAM_CLIENT_IMPL_H
#define GLOAM_CLIENT_IMPL_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "client/http.h"
#include "gloam/client.h"

struct event_base;

struct gloam_client {
  chttp_target target;
  char *base_url;
  char *api_key;
  char **binaries;
  char *ek_roots;      /* PEM, NUL-terminated, or NULL */
  gloam_policy policy; /* allowed_binaries points at binaries, ek_roots_pem at ek_roots */
  uint32_t timeout_s;
  SSL_CTX *ssl; /* read-only after creation; NULL for http:// */
};

#define CLIENT_MAX_JSON (8u << 20)    /* plain JSON responses */
#define CLIENT_MAX_ERROR (64u << 10)  /* error bodies we read */
#define CLIENT_MAX_STREAM (1u << 30)  /* one sealed response stream, in total */
#define CLIENT_MAX_BODY (4u << 20)    /* request body (the coordinator's cap) */
#define CLIENT_MAX_UPLOAD (26u << 20) /* audio uploads: 25 MiB file + fields */
#define CLIENT_MAX_NODES 256

/* ---- a JSON GET/POST, collected whole ---- */

/* on_done(rc, status, body (NUL-terminated, may be NULL), len, ud). */
typedef void (*cfetch_done_fn)(int rc, int status, const char *body, size_t len, void *ud);
typedef struct cfetch cfetch;
int cfetch_start(struct event_base *base, const gloam_client *c, const char *path, int auth,
                 cfetch_done_fn done, void *ud, cfetch **out, char *err);
void cfetch_cancel(cfetch *f);
/* Blocking: a private loop. OUT: *status, *out_body (mem_free). */
int cfetch_sync(const gloam_client *c, const char *path, int auth, int *status, char **out_body,
                size_t *out_len, char *err);
/* The OpenAI error body's message and code ("" when absent). */
void client_error_text(const char *body, size_t len, char *msg, size_t msg_cap, char *code,
                       size_t code_cap);

/* ---- nodes ---- */

/* Parses a /v1/nodes body and verifies each node (policy p, time now_ms).
 * OUT: *out (mem_free), *n. GLOAM_EPROTO for a body that is not a node list. */
int client_parse_nodes(const char *body, size_t len, const char *model, const gloam_policy *p,
                       int64_t now_ms, gloam_node_info **out, size_t *n, char *err);
/* Sorts accepted nodes first, then by verified trust, then free slots. */
void client_rank_nodes(gloam_node_info *v, size_t n);

/* ---- the sealed chat operation ---- */

typedef struct chat_op chat_op;
typedef struct chat_op_cbs {
  /* The coordinator accepted the envelope for node `ni` (before the first
   * chunk). Return < 0 to cancel. May be NULL. */
  int (*on_start)(const gloam_node_info *ni, void *ud);
  /* An opened chunk. Return non-zero to cancel. */
  int (*on_chunk)(const char *p, size_t n, void *ud);
  /* Exactly once unless canceled. res is the operation's (valid during the
   * call; the callee may take res->receipt_jws and set it to NULL). */
  void (*on_done)(int rc, gloam_chat_result *res, const char *err, void *ud);
} chat_op_cbs;

/* Starts discovery, verification, sealing and posting. body is copied. On
 * failure nothing runs. */
int chat_op_start(struct event_base *base, const gloam_client *c, const char *body, size_t len,
                  const gloam_chat_opts *o, const chat_op_cbs *cbs, void *ud, chat_op **out,
                  char *err);
/* Stops the operation (the coordinator sees the connection close and
 * cancels the node's job); on_done does not run. Not from its callbacks. */
void chat_op_cancel(chat_op *op);

#endif
