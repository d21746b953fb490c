/* SPDX-License-Identifier: Apache-2.0
 *
 * attest/evidence.h: making an attestation statement (node side). The
 * format is docs/attestation.md ("Evidence v1"); gloam_attest_verify() in
 * gloam/attest.h checks it.
 *
 *   attest_statement_in in = {.node_id = "n1", .nonce = nonce, .nonce_len = 32,
 *       .hpke_pk = pk, .receipt_key = rk, .binary_sha256 = bin,
 *       .models = models, .n_models = 1, .posture = posture_json};
 *   char *ev; size_t n;
 *   attest_evidence_make(id, &in, &ev, &n, err);   // JSON text, mem_free
 *
 * Software identity: the JWS is signed by the identity key. TPM identity:
 * the JWS is signed by the per-process receipt key (proof of possession)
 * and a TPM2_Quote whose extraData is SHA-256 of the JWS signing input
 * binds it to the AK; attest_tpm_measure() must have run once before.
 *
 * Ownership: inputs borrowed; *out mem_alloc'd. Thread safety: as the
 * identity (one thread for a TPM).
 */
#ifndef GLOAM_ATTEST_EVIDENCE_H
#define GLOAM_ATTEST_EVIDENCE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "attest/identity.h"

#define ATTEST_EVIDENCE_MAX (256 * 1024)
#define ATTEST_MAX_MODELS GLOAM_ATTEST_MAX_MODELS

typedef struct attest_model {
  const char *id;
  const char *weights_digest; /* "sha256:<64 hex>" */
} attest_model;

typedef struct attest_statement_in {
  const char *node_id;
  const uint8_t *nonce; /* the verifier's challenge, 16..64 bytes */
  size_t nonce_len;
  const uint8_t *hpke_pk;       /* X25519 public key, 32 bytes */
  es256_key *receipt_key;       /* per-process receipt key (private: signs in TPM mode) */
  const uint8_t *binary_sha256; /* 32 bytes: SHA-256 of the node executable */
  const attest_model *models;
  size_t n_models;
  const json_t *posture;  /* node_posture_json() object; borrowed; NULL = {} */
  const json_t *hardware; /* optional hardware summary object (CPU, GPU, RAM); borrowed */
  int64_t issued_ms;      /* 0: now */
} attest_statement_in;

int attest_evidence_make(attest_identity *id, const attest_statement_in *in, char **out,
                         size_t *out_len, char *err);

/* SHA-256 of a file (NULL: /proc/self/exe), streamed. */
int attest_file_sha256(const char *path, uint8_t out[32], char *err);

#endif
