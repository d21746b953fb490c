/* SPDX-License-Identifier: Apache-2.0
 *
 * fuzz/evidence/fuzz_evidence.c: the evidence verifier on arbitrary bytes.
 *
 * The first byte picks a mode, so mutations reach past the signature:
 *   0x01  the rest is a JWS payload; the target signs it with its own key
 *         and verifies, exercising the claim checks;
 *   0x02  the rest is len16 || TPM2B_PUBLIC || len16 || TPMS_ATTEST || TPMT_SIGNATURE,
 *         fed to the AK and quote parsers (tss2-mu unmarshaling);
 *   else  the whole input is an evidence document for gloam_attest_verify().
 * The policy expects the fixed nonce and time the committed corpus was made
 * with (`GLOAM_ATTEST_CORPUS=dir test_attest` writes software.json and
 * tpm.json). Checks memory safety and that a rejection never reports a
 * trust level, nor an acceptance more than was claimed.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "attest/tpm.h"
#include "core/codec.h"
#include "gloam/attest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t NONCE[32] = "challenge nonce from verifier 01";
static const char ROOT[] = "no root configured";

static void check(const char *ev, size_t n) {
  static const char *aks[] = {
      "000b0000000000000000000000000000000000000000000000000000000000000000"};
  gloam_attest_policy p = {.min_trust = GLOAM_TRUST_NONE,
                           .nonce = NONCE,
                           .nonce_len = sizeof NONCE,
                           .now_ms = 1795000000000LL,
                           .max_age_ms = 60000,
                           .ca_pem = ROOT,
                           .ca_pem_len = sizeof ROOT - 1,
                           .activated_aks = aks,
                           .n_activated_aks = 1};
  gloam_attest_result r;
  int rc = gloam_attest_verify(ev, n, &p, &r);
  if (rc < 0 && rc != GLOAM_EPOLICY && r.trust != GLOAM_TRUST_NONE) abort();
  if (rc == 0 && r.trust > r.claimed) abort();
}

static void b64(char *out, size_t cap, const void *p, size_t n) {
  if (codec_b64_encode(p, n, out, cap, CODEC_B64_URL) < 0) out[0] = 0;
}

static void signed_payload(const uint8_t *pl, size_t n) {
  static es256_key *k;
  static char hdr[512];
  if (!k) {
    char jwk[256], h[400];
    if (es256_generate(&k) < 0 || es256_public_jwk(k, jwk, sizeof jwk) < 0) abort();
    snprintf(h, sizeof h, "{\"alg\":\"ES256\",\"jwk\":%s,\"typ\":\"gloam-attestation+jws\"}", jwk);
    b64(hdr, sizeof hdr, h, strlen(h));
  }
  if (n > 16384) return;
  static char jws[32768], doc[33000];
  size_t hl = strlen(hdr);
  memcpy(jws, hdr, hl);
  jws[hl] = '.';
  b64(jws + hl + 1, sizeof jws - hl - 1, pl, n);
  size_t l = strlen(jws);
  uint8_t sig[ES256_SIG_LEN];
  if (es256_sign(k, jws, l, sig) < 0) abort();
  jws[l] = '.';
  b64(jws + l + 1, sizeof jws - l - 1, sig, sizeof sig);
  int dl = snprintf(doc, sizeof doc, "{\"v\":1,\"jws\":\"%s\"}", jws);
  if (dl > 0 && (size_t)dl < sizeof doc) check(doc, (size_t)dl);
}

static void tpm_structs(const uint8_t *d, size_t n) {
  if (n < 2) return;
  size_t al = (size_t)d[0] << 8 | d[1];
  if (2 + al + 2 > n) return;
  const uint8_t *ak = d + 2, *rest = d + 2 + al;
  size_t ql = (size_t)rest[0] << 8 | rest[1];
  if (2 + al + 2 + ql > n) return;
  const uint8_t *q = rest + 2, *sig = q + ql;
  size_t sl = n - (2 + al + 2 + ql);
  char err[GLOAM_ERR_LEN];
  es256_key *key = NULL;
  uint8_t name[34], extra[32] = {0}, pcr[24][32] = {{0}};
  if (tpm_ak_parse(ak, al, &key, name, err) < 0) {
    static es256_key *fallback;
    if (!fallback && es256_generate(&fallback) < 0) abort();
    key = es256_key_ref(fallback);
  }
  tpm_quote_check(key, q, ql, sig, sl, extra, ATTEST_PCR_MASK, (const uint8_t(*)[32])pcr, err);
  es256_key_free(key);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > 0 && data[0] == 1)
    signed_payload(data + 1, size - 1);
  else if (size > 0 && data[0] == 2)
    tpm_structs(data + 1, size - 1);
  else
    check((const char *)data, size);
  return 0;
}
