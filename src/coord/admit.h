/* SPDX-License-Identifier: Apache-2.0
 *
 * coord/admit.h: admission's "reserve, then continue" step, shared by every
 * request that reserves funds (client-sealed chat/audio/images in chat.c,
 * coordinator-sealed chat and the Anthropic endpoint in chat_plain.c, audio
 * and images through the same path). The balance reservation is the one
 * SQLite write at admission; it runs on the ledger's worker threads
 * (coord_offload, the second connection under c->wlock), so a slow disk or
 * a busy database never stalls the event loop, and admission continues in
 * a callback back on the loop.
 *
 *   cjob *j = ...;                  // id, account, model, reserved, api set
 *   coord_admit_reserve(j, req, NULL, my_continue);
 *   // later, on the loop, only when the funds are reserved and the client
 *   // still waits: my_continue(j, req) dispatches j, or undoes it with
 *   // coord_admit_unwind (refund + refusal)
 *
 * Outcomes, all answered here except the reserved one: short balance 402
 * insufficient_balance (OpenAI or Anthropic error body after j->api); store
 * error 500 billing_error; shutting down 503 (the reservation refunded); a
 * client that leaves while the reservation is pending (noticed by evhttp's
 * close callback, or by peeking at the socket since evhttp does not read
 * it meanwhile) gets its reservation refunded when it commits and never
 * reaches a node.
 *
 * Ownership: coord_admit_reserve takes j; next() owns it after. Loop thread
 * only. If the work queue is full the reservation runs inline (ledger.c).
 */
#ifndef GLOAM_COORD_ADMIT_H
#define GLOAM_COORD_ADMIT_H

#include <event2/util.h>

#include "coord/coord_impl.h"

struct event;
struct evhttp_connection;
struct evhttp_request;

/* Continues admission on the loop once j->reserved is held in escrow; owns
 * j (dispatch it, or coord_admit_unwind it). */
typedef void (*coord_admit_next)(cjob *j, struct evhttp_request *req);

/* Reserves j->reserved for j->account under j->id_hex off the loop, then
 * calls next(j, req) on the loop. hold: the node admission found a free
 * slot on (or NULL); that slot counts as taken (n_admitting) until next
 * runs, so requests admitted meanwhile, or the queue, do not count on it
 * too, exactly as when the reservation was synchronous; next() picks or
 * checks the node again (it may have gone). what: NULL for "the maximum
 * cost of this request" in the 402 message, else the thing priced
 * ("audio"). Takes j; req is answered here on every outcome but success. */
void coord_admit_reserve(cjob *j, struct evhttp_request *req, cnode *hold, const char *what,
                         coord_admit_next next);

/* Undoes an admission after its reservation: refunds j (reason is logged in
 * the ledger), refuses req in j's API format, frees j. */
void coord_admit_unwind(cjob *j, struct evhttp_request *req, const char *reason, int status,
                        const char *code, const char *param, const char *msg);

/* Client watching before any byte of an answer is written: evhttp does not
 * read the connection then, so a client that leaves is seen by peeking at
 * its socket. coord_peer_watch_new arms a one-shot read event on evcon's
 * socket (NULL when it has none); coord_peer_check tells what the socket
 * holds: COORD_PEER_GONE (EOF or error), COORD_PEER_IDLE (nothing yet:
 * re-arm the event) or COORD_PEER_DATA (a pipelined request: stop watching). */
enum coord_peer { COORD_PEER_IDLE = 0, COORD_PEER_DATA = 1, COORD_PEER_GONE = 2 };
struct event *coord_peer_watch_new(coord *c, struct evhttp_connection *evcon,
                                   void (*cb)(evutil_socket_t, short, void *), void *ud);
enum coord_peer coord_peer_check(evutil_socket_t fd);

#endif
