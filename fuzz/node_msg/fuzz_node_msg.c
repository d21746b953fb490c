/* SPDX-License-Identifier: Apache-2.0
 *
 * fuzz/node_msg/fuzz_node_msg.c: the coordinator's parser of node control
 * messages and binary frames (docs/protocol.md) on arbitrary bytes. Checks
 * memory safety and that accepted messages satisfy the documented limits.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "coord/node_msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char err[GLOAM_ERR_LEN];
  node_msg m;
  if (coord_node_msg_parse(data, size, &m, err) == 0) {
    if (m.type == NODE_MSG_REGISTER) {
      if (m.n_models < 1 || m.n_models > NODE_MODELS_MAX) abort();
      if (strlen(m.node_id) == 0 || strlen(m.node_id) > NODE_ID_MAX) abort();
      if (m.max_slots < 1 || !m.receipt_jwk) abort();
      if (m.tpm != (m.ak_info != NULL) || (m.ak_info && strlen(m.ak_info) > NODE_AK_INFO_MAX))
        abort();
    }
    if (m.type == NODE_MSG_CHALLENGE_RESPONSE &&
        (!m.evidence || m.evidence_len == 0 || m.evidence_len > NODE_EVIDENCE_MAX ||
         m.activation_len > NODE_ACTIVATION_MAX))
      abort();
    if (m.type == NODE_MSG_JOB_DONE && (!m.receipt || m.prompt_tokens < 0)) abort();
    if (strlen(m.message) > NODE_TEXT_MAX) abort();
    coord_node_msg_free(&m);
  }
  int kind;
  uint8_t job[NODE_JOB_ID_LEN];
  const uint8_t *p;
  size_t pl;
  if (coord_node_bin_parse(data, size, &kind, job, &p, &pl) == 0 && pl + NODE_BIN_HEADER != size)
    abort();
  return 0;
}
