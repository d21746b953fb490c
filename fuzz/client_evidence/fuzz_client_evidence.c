/* SPDX-License-Identifier: Apache-2.0
 *
 * fuzz/client_evidence/fuzz_client_evidence.c: the client's attestation statement
 * verifier (gloam_evidence_verify, src/client/evidence.c) on arbitrary
 * text, under a permissive policy, with and without the bindings to
 * compare. It must never crash; an accepted node must carry what it binds.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gloam/client.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  gloam_policy p = {0};
  gloam_node_info o;
  uint8_t pk[32] = {1};
  int a = gloam_evidence_verify((const char *)data, size, NULL, NULL, 0, NULL, NULL, &p,
                                1800000000000, &o);
  int b = gloam_evidence_verify((const char *)data, size, "n-1", pk, 32, NULL, "m1", &p,
                                1800000000000, &o);
  if ((b == 0) != (o.accepted == 1) ||
      (b == 0 && (strcmp(o.id, "n-1") != 0 || memcmp(o.hpke_pk, pk, 32) != 0)))
    abort();
  (void)a;
  return 0;
}
