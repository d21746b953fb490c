/* SPDX-License-Identifier: Apache-2.0
 *
 * node/identity.h: the node's long-term identity and its attestation
 * statement ("evidence" in docs/protocol.md).
 *
 *   node_identity *id;
 *   node_identity_open(&id, state_dir, err);   // loads or creates identity.pem (0600)
 *   node_evidence_in in = {.node_id = ..., .nonce = nonce_or_NULL, ...};
 *   char *ev; node_identity_evidence(id, &in, &ev, err);   // base64url text
 *   mem_free(ev); node_identity_free(id);
 *
 * This is the "software" trust level: the identity is a P-256 key kept in a
 * file only the node's user can read; nothing but that file protects it, and
 * the statement is self-signed, so a verifier can pin the key per node id
 * (trust on first use) but cannot tell a genuine node from a copy of its key
 * file. Issue 7 (attestation) replaces the key with a TPM-held one and adds
 * a TPM2_Quote; it does so behind this interface. The statement format is
 * in docs/node.md ("Evidence").
 *
 * Ownership: the identity owns its key (OpenSSL secure heap when enabled);
 * evidence strings are mem_alloc'd, the caller frees them.
 * Thread safety: read-only after open; evidence may be made from any thread.
 */
#ifndef GLOAM_NODE_IDENTITY_H
#define GLOAM_NODE_IDENTITY_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

typedef struct node_identity node_identity;

typedef struct node_evidence_in {
  const char *node_id;
  const char *nonce;      /* the coordinator's challenge (base64url) or NULL at registration */
  const uint8_t *hpke_pk; /* X25519 public key */
  size_t hpke_pk_len;
  const char *receipt_jwk;   /* JSON text of the receipt key's JWK */
  const char *binary_digest; /* "sha256:<hex>" of the executable */
  const char *model_id;
  const char *weights_digest; /* "sha256:<hex>" */
  const json_t *posture;      /* node_posture_json(); borrowed */
} node_evidence_in;

/* Loads <state_dir>/identity.pem or creates it (directory 0700, file 0600,
 * written atomically). Refuses a key file readable by group or others.
 * GLOAM_EIO, GLOAM_EPERM, GLOAM_EFORMAT, GLOAM_ECRYPTO with detail. */
int node_identity_open(node_identity **out, const char *state_dir, char *err);
void node_identity_free(node_identity *id);
/* The public JWK (RFC 7638 member order), NUL-terminated. */
int node_identity_jwk(const node_identity *id, char *out, size_t cap);
/* RFC 7638 thumbprint (base64url, 43 chars). */
const char *node_identity_thumbprint(const node_identity *id);
/* The trust level this identity provides: "software". */
const char *node_identity_trust(const node_identity *id);
/* A signed statement over *in, as base64url text. OUT: *out (mem_free). */
int node_identity_evidence(const node_identity *id, const node_evidence_in *in, char **out,
                           char *err);

#endif
