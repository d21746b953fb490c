/* SPDX-License-Identifier: Apache-2.0
 *
 * fuzz/chunk/fuzz_chunk.c: everything a client parses from a sealed
 * response stream, on arbitrary bytes: frames, SSE data values, receipts.
 *
 * The input is a sequence of records, each prefixed by a 2-byte big-endian
 * length. Each is peeked as a frame (as the coordinator does), decoded as an
 * SSE data value (base64url), opened as a frame by a client whose request
 * was sealed to a fixed key (in order, a fresh client per input), verified
 * as a receipt JWS against a fixed key, and parsed as receipt claims (which
 * must re-encode to the same bytes when accepted). Checks memory safety and
 * that a rejected frame produces no output.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/receipt_claims.h"
#include "gloam/receipt.h"
#include "gloam/seal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t FUZZ_IKM[32] = "gloam fuzz chunk key ikm 000000";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static uint8_t pk[GLOAM_SEAL_MAX_PK];
  static size_t pk_len;
  if (!pk_len) {
    gloam_seal_keypair *kp = NULL;
    if (gloam_seal_keypair_derive(&kp, 0, FUZZ_IKM, sizeof FUZZ_IKM) < 0 ||
        gloam_seal_keypair_public(kp, pk, sizeof pk, &pk_len) < 0)
      abort();
    gloam_seal_keypair_free(kp);
  }
  static gloam_receipt_key *rkey;
  if (!rkey) {
    /* RFC 7515 A.3's P-256 key */
    static const char jwk[] =
        "{\"kty\":\"EC\",\"crv\":\"P-256\","
        "\"x\":\"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU\","
        "\"y\":\"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0\"}";
    if (gloam_receipt_key_parse(jwk, sizeof jwk - 1, &rkey, NULL) < 0) abort();
  }
  if (size > (1u << 20)) return 0;
  gloam_seal_header h;
  memset(&h, 0, sizeof h);
  memcpy(h.node_id, "n", 2);
  memcpy(h.model, "m", 2);
  memcpy(h.endpoint, "chat/completions", 17);
  uint8_t *env = NULL;
  size_t env_len = 0;
  gloam_seal_client *c = NULL;
  if (gloam_seal_request(&h, pk, pk_len, (const uint8_t *)"{}", 2, &env, &env_len, &c, NULL) < 0)
    abort();
  static uint8_t out[1u << 16], frame[1u << 16];
  size_t off = 0;
  while (size - off >= 2) {
    size_t n = (size_t)data[off] << 8 | data[off + 1];
    off += 2;
    if (n > size - off) n = size - off;
    const uint8_t *f = data + off;
    off += n;
    int type;
    uint32_t counter;
    gloam_seal_frame_peek(f, n, &type, &counter);
    size_t fl = 0, ol = 12345;
    if (gloam_seal_sse_decode((const char *)f, n, frame, sizeof frame, &fl) == 0 && fl > n) abort();
    int fin = 0;
    int rc = gloam_seal_client_open(c, f, n, out, sizeof out, &ol, &fin);
    if (rc < 0 && ol != 0) abort();
    if (rc == 0 && ol + 21 != n && !(ol == 0 && f[0] == GLOAM_SEAL_FRAME_START)) abort();
    gloam_receipt_claims claims;
    (void)gloam_receipt_verify(rkey, (const char *)f, n, &claims, NULL);
    if (receipt_claims_parse((const char *)f, n, &claims, NULL) == 0) {
      char again[RECEIPT_PAYLOAD_MAX];
      int m = receipt_claims_encode(&claims, again, sizeof again);
      if (m < 0 || (size_t)m != n || memcmp(again, f, n) != 0) abort();
    }
  }
  (void)gloam_seal_client_done(c);
  gloam_seal_client_free(c);
  gloam_seal_free(env, env_len);
  return 0;
}
