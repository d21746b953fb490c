/* SPDX-License-Identifier: Apache-2.0
 *
 * fuzz/envelope/fuzz_envelope.c: the sealed request envelope parser and the
 * node's open path on arbitrary bytes.
 *
 * Checks memory safety, that a header which parses re-encodes to exactly the
 * bytes it came from (the format has one encoding), and drives
 * gloam_seal_node_open() with a fixed X25519 key, at the envelope's own
 * timestamp so the window check does not stop it before decryption. The
 * committed corpus holds envelopes sealed to that key.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/envelope.h"
#include "gloam/seal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Shared with the corpus generator: the fuzz node's key and id. */
static const uint8_t FUZZ_IKM[32] = "gloam fuzz envelope key ikm 000";

static gloam_seal_node *fuzz_node(void) {
  static gloam_seal_node *node;
  if (!node) {
    gloam_seal_keypair *kp = NULL;
    gloam_seal_node_opts o = {.replay_slots = 64};
    if (gloam_seal_keypair_derive(&kp, GLOAM_SEAL_KEM_X25519, FUZZ_IKM, sizeof FUZZ_IKM) < 0 ||
        gloam_seal_node_new(&node, kp, "fuzz-node", &o, NULL) < 0)
      abort();
  }
  return node;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  gloam_seal_header h;
  env_view v;
  char err[GLOAM_ERR_LEN];
  if (size > (1u << 20)) return 0;
  if (env_parse(data, size, &h, &v, err) == 0) {
    uint8_t again[ENV_MAX_HEADER];
    if (v.header_len > sizeof again || env_header_len(&h) != v.header_len) abort();
    env_header_write(&h, again);
    if (memcmp(again, data, v.header_len) != 0) abort();
    if (v.enc + v.enc_len != v.ct || v.ct + v.ct_len != data + size) abort();
  }
  gloam_seal_header p;
  int rc = gloam_seal_parse_header(data, size, &p, err);
  int64_t now = rc == 0 && p.timestamp_ms < INT64_MAX / 2 ? (int64_t)p.timestamp_ms : 1;
  uint8_t *body = NULL;
  size_t body_len = 0;
  gloam_seal_responder *r = NULL;
  rc = gloam_seal_node_open(fuzz_node(), data, size, now ? now : 1, &h, &body, &body_len, &r, err);
  if (rc == 0) {
    uint8_t frame[64];
    size_t fl;
    if (gloam_seal_responder_start(r, frame, sizeof frame, &fl) < 0) abort();
    if (gloam_seal_responder_seal(r, body, body_len < 16 ? body_len : 16, 1, frame, sizeof frame,
                                  &fl) < 0)
      abort();
  } else if (body || r) {
    abort();
  }
  gloam_seal_responder_free(r);
  gloam_seal_free(body, body_len);
  return 0;
}
