/* SPDX-License-Identifier: Apache-2.0
 *
 * coord/node_msg.h: parsing and validating what a node sends over its
 * WebSocket (docs/protocol.md): JSON control messages and binary frames.
 *
 *   node_msg m;
 *   if (coord_node_msg_parse(data, len, &m, err) < 0) close 4400;
 *   switch (m.type) { case NODE_MSG_HEARTBEAT: ... m.free_slots ... }
 *   coord_node_msg_free(&m);
 *
 * Everything here is untrusted input: sizes, types and ranges are checked,
 * strings are copied into fixed buffers, and nothing is asserted. Pointers in
 * the result (evidence, receipt, hardware) borrow from m.root and live until
 * coord_node_msg_free(). Thread safety: pure functions.
 */
#ifndef GLOAM_COORD_NODE_MSG_H
#define GLOAM_COORD_NODE_MSG_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NODE_PROTOCOL_VERSION 1
#define NODE_MSG_MAX (64 * 1024)
#define NODE_REGISTER_MAX (256 * 1024)
#define NODE_EVIDENCE_MAX (60 * 1024) /* evidence v1 text in a challenge_response */
#define NODE_AK_INFO_MAX (32 * 1024)
#define NODE_ACTIVATION_MAX 64
#define NODE_JSON_DEPTH 16
#define NODE_ID_MAX 64
#define NODE_MODELS_MAX 32
#define NODE_MODEL_ID_MAX 128
#define NODE_TEXT_MAX 256
#define NODE_JOB_ID_LEN 16
#define NODE_BIN_HEADER 17

enum node_msg_type {
  NODE_MSG_REGISTER = 1,
  NODE_MSG_CHALLENGE_RESPONSE,
  NODE_MSG_HEARTBEAT,
  NODE_MSG_JOB_DONE,
  NODE_MSG_JOB_ERROR,
  NODE_MSG_DRAIN,
};

enum node_bin_kind { NODE_BIN_ENVELOPE = 0x01, NODE_BIN_FRAME = 0x02 };

typedef struct node_model {
  char id[NODE_MODEL_ID_MAX + 1];
  char weights_digest[NODE_MODEL_ID_MAX + 1];
} node_model;

typedef struct node_msg {
  enum node_msg_type type;
  json_t *root; /* owned */

  /* register */
  char node_id[NODE_ID_MAX + 1];
  int n_models;
  node_model models[NODE_MODELS_MAX];
  int max_slots;
  bool json_object, json_schema; /* capabilities.response_format */
  uint16_t kem_id;
  uint8_t hpke_pk[32];
  char *receipt_jwk; /* owned, compact JSON text of keys.receipt.jwk */
  json_t *hardware;  /* borrowed, an object */
  bool tpm;          /* attestation.identity is "tpm" */
  char *ak_info;     /* owned, compact JSON of attestation.ak_info (TPM), or NULL */

  /* challenge_response */
  char nonce[64];
  const char *evidence; /* borrowed: evidence v1 JSON text (docs/attestation.md) */
  size_t evidence_len;
  uint8_t activation[NODE_ACTIVATION_MAX]; /* the credential activation answer */
  size_t activation_len;                   /* 0: none */

  /* heartbeat */
  double load, prefill_tps, decode_tps;
  int free_slots;

  /* job_done / job_error */
  uint8_t job[NODE_JOB_ID_LEN];
  const char *receipt; /* borrowed compact JWS */
  size_t receipt_len;
  int64_t prompt_tokens, completion_tokens;
  char code[64];
  char message[NODE_TEXT_MAX + 1];
} node_msg;

/* Parses one text frame. GLOAM_ETOOBIG over the limits, GLOAM_EFORMAT for
 * anything malformed (detail in err, never message content). On failure *m
 * holds nothing to free. */
int coord_node_msg_parse(const uint8_t *data, size_t len, node_msg *m, char *err);
void coord_node_msg_free(node_msg *m);

/* Splits a binary frame. OUT: kind, job id, payload (borrowed). */
int coord_node_bin_parse(const uint8_t *data, size_t len, int *out_kind,
                         uint8_t job[NODE_JOB_ID_LEN], const uint8_t **payload,
                         size_t *payload_len);

/* Job ids as 32 lowercase hex characters (+NUL) and back. */
void coord_node_job_hex(const uint8_t job[NODE_JOB_ID_LEN], char out[2 * NODE_JOB_ID_LEN + 1]);
int coord_node_job_parse(const char *hex, uint8_t job[NODE_JOB_ID_LEN]);

#endif
