/* SPDX-License-Identifier: Apache-2.0
 *
 * node/attestor.h: the node's identity and its answers to the
 * coordinator's challenges, made with the attestation module (src/attest,
 * docs/attestation.md) on a worker thread so a slow TPM never stalls the
 * network loop.
 *
 *   node_attestor *a;
 *   node_attestor_open(&a, cfg, err);        // software key file or TPM (cfg->identity)
 *   ... node_attestor_thumbprint(a) names the node by default ...
 *   node_attestor_start(a, base, send_cb, ud, err);   // after the loop exists
 *   json_t *att = node_attestor_register_json(a);    // "attestation" of register
 *   node_attestor_challenge(a, &st, nonce, credential, gen, err);
 *       // later, on the loop: send_cb(ud, gen, "{\"type\":\"challenge_response\",...}")
 *   node_attestor_free(a);
 *
 * Identity: `identity = software` (default; <state_dir>/identity.pem, 0600)
 * or `identity = tpm` / `tpm:TCTI` (TCTI as tpm2-tss takes it; default
 * device:/dev/tpmrm0). A TPM identity measures the node binary into PCR 23
 * at open, answers the coordinator's credential activation challenge, and
 * quotes for every statement.
 *
 * Ownership: the attestor owns the identity and its worker; the statement
 * inputs are copied per challenge. Thread safety: every call on the loop
 * thread; the identity is used by the one worker only after start.
 */
#ifndef GLOAM_NODE_ATTESTOR_H
#define GLOAM_NODE_ATTESTOR_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "gloam/attest.h"
#include "gloam/receipt.h"
#include "node/config.h"

struct event_base;
typedef struct node_attestor node_attestor;

/* What the node binds into each statement (borrowed for the call). */
typedef struct node_statement {
  const char *node_id;
  const uint8_t *hpke_pk; /* 32 bytes, X25519 */
  const gloam_receipt_signer *receipt;
  const char *model_id;
  const char *weights_digest; /* "sha256:<hex>" */
  const json_t *posture;      /* node_posture_json() */
  const json_t *hardware;     /* or NULL */
} node_statement;

/* Called on the loop with the message to send (NUL-terminated JSON text,
 * borrowed) for the connection generation the challenge came on. */
typedef void (*node_attest_send_fn)(void *ud, uint64_t gen, const char *msg);

/* GLOAM_EINVAL (bad identity setting), GLOAM_EIO (no TPM), GLOAM_EPERM
 * (key file readable by others), GLOAM_EFORMAT, GLOAM_ECRYPTO. */
int node_attestor_open(node_attestor **out, const node_config *cfg, char *err);
int node_attestor_start(node_attestor *a, struct event_base *base, node_attest_send_fn send,
                        void *ud, char *err);
void node_attestor_free(node_attestor *a);

gloam_trust node_attestor_level(const node_attestor *a);
const char *node_attestor_thumbprint(const node_attestor *a);
/* {"identity":"software"} or {"identity":"tpm","ak_info":{...}}; new reference. */
json_t *node_attestor_register_json(const node_attestor *a);
/* Queues the answer to a challenge: nonce is the coordinator's base64url
 * text, credential its activation challenge object or NULL. GLOAM_EINVAL
 * for a nonce that is not 16..64 bytes, GLOAM_EAGAIN when a previous
 * answer is still being made, GLOAM_ENOMEM. */
int node_attestor_challenge(node_attestor *a, const node_statement *st, const char *nonce,
                            const json_t *credential, uint64_t gen, char *err);

#endif
