/* SPDX-License-Identifier: Apache-2.0
 *
 * coord/store.h: the coordinator's durable state behind one small interface
 * (accounts, API keys, node tokens, prices, the ledger, request records,
 * node identity pins).
 * SQLite (WAL) implements it in store_sqlite.c; a PostgreSQL store can
 * implement the same functions for multi-coordinator deployments.
 *
 *   coord_store *s;
 *   if (coord_store_open(&s, "gloam.db", err) < 0) ...;   // runs migrations
 *   coord_store_account_create(s, STORE_CONSUMER, "alice", &id);
 *   coord_store_credit(s, id, 5000000);                    // $5.00
 *   coord_store_reserve(s, "req-1", id, "m", 1200);        // GLOAM_EPOLICY if short
 *   coord_store_settle(s, "req-1", op_id, 800, 0, 10, 20, "node-1");
 *
 * MONEY: integer micro-USD in a double-entry ledger. Every movement is one
 * ledger transaction of exactly two entries (+x to one account, -x from
 * another) written in one SQL transaction together with the cached
 * balances. The system accounts are 'mint' (where credits come from; its
 * balance is minus everything ever credited), 'escrow' (reservations in
 * flight) and 'fees' (the platform fee). Consumer and operator balances can
 * never go negative (a CHECK constraint, besides the explicit test).
 * A request moves reserved -> settled | refunded exactly once.
 *
 * Nothing here stores prompts or responses: requests hold ids, model,
 * counts and amounts only.
 *
 * Thread safety: a store handle is used by one thread at a time: the loop's
 * handle on the loop thread; coord/ledger.c's second handle by its workers
 * under a mutex. WAL lets the two connections read while one writes.
 * Errors: 0 or GLOAM_E*; detail in coord_store_errmsg(s).
 */
#ifndef GLOAM_COORD_STORE_H
#define GLOAM_COORD_STORE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct coord_store coord_store;

enum store_kind { STORE_CONSUMER = 0, STORE_OPERATOR = 1, STORE_SYSTEM = 2 };

#define STORE_ACCOUNT_MINT 1
#define STORE_ACCOUNT_ESCROW 2
#define STORE_ACCOUNT_FEES 3

/* Opens (creating if needed) and migrates. WAL mode, foreign keys on. */
int coord_store_open(coord_store **out, const char *path, char *err);
void coord_store_close(coord_store *s);
const char *coord_store_errmsg(const coord_store *s);
/* The schema version after migrations. */
int coord_store_schema_version(coord_store *s);

int coord_store_account_create(coord_store *s, enum store_kind kind, const char *name,
                               int64_t *out_id);
/* GLOAM_ENOENT if no such account. OUT: kind. */
int coord_store_account_kind(coord_store *s, int64_t id, enum store_kind *out_kind);

/* Credentials are stored as SHA-256 hashes; prefix is a short non-secret
 * label ("gk_AbCd") for listings. */
int coord_store_api_key_add(coord_store *s, int64_t account, const uint8_t hash[32],
                            const char *prefix);
int coord_store_api_key_lookup(coord_store *s, const uint8_t hash[32], int64_t *out_account);
int coord_store_api_key_revoke(coord_store *s, const char *prefix);
int coord_store_node_token_add(coord_store *s, int64_t account, const uint8_t hash[32],
                               const char *prefix);
int coord_store_node_token_lookup(coord_store *s, const uint8_t hash[32], int64_t *out_account);

/* Prices in micro-USD per million tokens. */
int coord_store_price_set(coord_store *s, const char *model, int64_t in_per_mtok,
                          int64_t out_per_mtok);
int coord_store_price_get(coord_store *s, const char *model, int64_t *in_per_mtok,
                          int64_t *out_per_mtok);

/* Audio endpoints: micro-USD per minute of audio. _get: GLOAM_ENOENT when
 * the model has no (or a zero) audio price. */
int coord_store_audio_price_set(coord_store *s, const char *model, int64_t per_minute);
int coord_store_audio_price_get(coord_store *s, const char *model, int64_t *per_minute);
/* Image generation: micro-USD per image (same rules). */
int coord_store_image_price_set(coord_store *s, const char *model, int64_t per_image);
int coord_store_image_price_get(coord_store *s, const char *model, int64_t *per_image);

int coord_store_balance(coord_store *s, int64_t account, int64_t *out);
/* mint -> account. amount > 0. */
int coord_store_credit(coord_store *s, int64_t account, int64_t amount);

/* account -> escrow, and a request record in state reserved. GLOAM_EPOLICY
 * when the balance is below amount; GLOAM_EEXIST for a reused id. */
int coord_store_reserve(coord_store *s, const char *request_id, int64_t account, const char *model,
                        int64_t amount);
/* escrow -> operator (cost - fee), escrow -> fees (fee), escrow -> consumer
 * (reserved - cost). 0 <= fee <= cost <= reserved, else GLOAM_ERANGE.
 * GLOAM_ESTATE if the request is not reserved. */
int coord_store_settle(coord_store *s, const char *request_id, int64_t operator_account,
                       int64_t cost, int64_t fee, int64_t prompt_tokens, int64_t completion_tokens,
                       const char *node_id);
/* escrow -> consumer (everything reserved). GLOAM_ESTATE if not reserved. */
int coord_store_refund(coord_store *s, const char *request_id, const char *reason);
/* Refunds every request still reserved (crash recovery at start). */
int coord_store_refund_all_reserved(coord_store *s, int *out_n);

/* The account's last `limit` requests as a JSON array (new reference). */
int coord_store_usage(coord_store *s, int64_t account, int limit, json_t **out);
/* An operator's earnings: total settled to it. */
int coord_store_earnings(coord_store *s, int64_t account, int64_t *out_total,
                         int64_t *out_requests);

/* Checks the ledger: all entries sum to zero, each ledger transaction sums
 * to zero with two entries, cached balances equal sums of entries, no
 * consumer/operator balance is negative, escrow equals the sum of open
 * reservations. OUT: counts of requests by state. GLOAM_EINTERNAL with
 * detail on a violation. */
int coord_store_check(coord_store *s, int64_t *out_reserved, int64_t *out_settled,
                      int64_t *out_refunded);

/* Node identity pins (trust on first use, docs/attestation.md): a node id
 * is bound to the RFC 7638 thumbprint of the identity key (or TPM AK) it
 * first attested with, with the trust level last verified and first/last
 * seen times (Unix ms).
 * coord_store_pin: 0 when node_id had no pin (pinned now; *out_new = true)
 * or has this thumbprint; GLOAM_EAUTH when it is pinned to another one
 * (nothing written). touch: also record last_seen/trust for a known pin (a
 * write); without it a matching pin costs one read and no write lock.
 * out_new may be NULL. */
int coord_store_pin(coord_store *s, const char *node_id, const char *thumb, const char *trust,
                    bool touch, bool *out_new);
/* Every pin as a JSON array ordered by node id (new reference): objects
 * {node_id, identity_thumb, trust, first_seen_ms, last_seen_ms}. */
int coord_store_pin_list(coord_store *s, json_t **out);
/* Forgets node_id's pin, so its next verified key is pinned again;
 * GLOAM_ENOENT if it had none. */
int coord_store_pin_drop(coord_store *s, const char *node_id);

#endif
