/* SPDX-License-Identifier: Apache-2.0
 *
 * client/evidence.c: gloam_evidence_verify (gloam/client.h): a node's
 * evidence checked on the client with the attestation verifier
 * (gloam_attest_verify, src/attest), plus what only the client knows: the
 * node id, HPKE key, receipt key and model it is about to seal to.
 *
 * DESIGN: every cryptographic and format check is the attest module's; this
 * file maps the client's policy onto a gloam_attest_policy (the base64url
 * nonce the coordinator published -> raw bytes; the EK roots; the AK the
 * coordinator activated), then compares the statement's bindings with the
 * keys the listing gives. The verified level is the verifier's, never the
 * coordinator's "trust" field. An offline check (no nonce) skips the
 * verifier's freshness checks, so the age is checked here from issued_ms.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/codec.h"
#include "core/err.h"
#include "core/time.h"
#include "crypto/es256.h"
#include "gloam/attest.h"
#include "gloam/client.h"

#define FUTURE_SKEW_MS (5 * 60 * 1000)
#define NO_MAX_AGE_MS (INT64_C(100) * 365 * 86400 * 1000)

static void set_reason(gloam_node_info *o, const char *why) {
  size_t n = strnlen(why, sizeof o->reason - 1);
  memcpy(o->reason, why, n);
  o->reason[n] = 0;
}

static int reject(gloam_node_info *o, int code, const char *why) {
  o->accepted = 0;
  o->status = code;
  o->verified = GLOAM_TRUST_NONE;
  set_reason(o, why);
  return code;
}

/* The RFC 7638 thumbprint of a JWK text; -1 when it is not a P-256 key. */
static int thumb(const char *jwk, char out[ES256_THUMB_LEN + 1]) {
  es256_key *k = NULL;
  int rc = es256_public_parse(jwk, strlen(jwk), &k, NULL);
  if (rc == 0) rc = es256_thumbprint(k, out);
  es256_key_free(k);
  return rc < 0 ? -1 : 0;
}

static void fill_policy(gloam_attest_policy *ap, const gloam_policy *p, const char *model,
                        int64_t now_ms) {
  memset(ap, 0, sizeof *ap);
  ap->min_trust = GLOAM_TRUST_NONE; /* the minimum is checked below, with the bindings */
  ap->now_ms = now_ms;
  ap->model = model;
  if (!p) return;
  ap->binaries = p->allowed_binaries;
  ap->n_binaries = p->n_allowed_binaries;
  ap->ca_pem = p->ek_roots_pem;
  ap->ca_pem_len = p->ek_roots_len;
  ap->activated_aks = p->activated_ak ? &p->activated_ak : NULL;
  ap->n_activated_aks = p->activated_ak ? 1 : 0;
  ap->secure_boot_pcr7 = p->secure_boot_pcr7;
  ap->n_secure_boot_pcr7 = p->n_secure_boot_pcr7;
  ap->max_age_ms = p->max_age_s ? (int64_t)p->max_age_s * 1000 : NO_MAX_AGE_MS;
}

/* Compares the verified statement with what the caller will use. */
static int check_bindings(const gloam_attest_result *r, const char *node_id, const uint8_t *hpke_pk,
                          size_t hpke_pk_len, const char *receipt_jwk, const char *model,
                          gloam_node_info *o) {
  if (node_id && strcmp(r->node_id, node_id) != 0)
    return reject(o, GLOAM_EAUTH, "statement is for another node id");
  if (hpke_pk && (hpke_pk_len != 32 || memcmp(r->hpke_pk, hpke_pk, 32) != 0))
    return reject(o, GLOAM_EAUTH, "statement binds another HPKE key than the node publishes");
  char a[ES256_THUMB_LEN + 1], b[ES256_THUMB_LEN + 1];
  if (receipt_jwk && (thumb(receipt_jwk, a) < 0 || thumb(r->receipt_jwk, b) < 0 || strcmp(a, b)))
    return reject(o, GLOAM_EAUTH, "statement binds another receipt key");
  const gloam_attest_model *m = NULL;
  for (size_t i = 0; i < r->n_models && !m; i++)
    if (!model || strcmp(r->models[i].id, model) == 0) m = &r->models[i];
  if (!m || strlen(m->id) >= sizeof o->model ||
      strlen(m->weights_digest) >= sizeof o->weights_digest)
    return reject(o, GLOAM_ENOENT, "statement does not bind the requested model");
  memcpy(o->model, m->id, strlen(m->id) + 1);
  memcpy(o->weights_digest, m->weights_digest, strlen(m->weights_digest) + 1);
  memcpy(o->id, r->node_id, strnlen(r->node_id, sizeof o->id - 1));
  o->id[strnlen(r->node_id, sizeof o->id - 1)] = 0;
  return 0;
}

static int check_result(const gloam_attest_result *r, const gloam_policy *p, bool offline,
                        int64_t now_ms, gloam_node_info *o) {
  o->claimed = r->claimed;
  o->issued_ms = r->issued_ms;
  memcpy(o->hpke_pk, r->hpke_pk, 32);
  memcpy(o->receipt_jwk, r->receipt_jwk, sizeof o->receipt_jwk);
  memcpy(o->binary_digest, r->binary, strnlen(r->binary, sizeof o->binary_digest - 1));
  memcpy(o->identity_thumbprint, r->identity_thumb, sizeof o->identity_thumbprint);
  if (offline && r->issued_ms > now_ms + FUTURE_SKEW_MS)
    return reject(o, GLOAM_ESTALE, "statement is dated in the future");
  if (offline && p && p->max_age_s && now_ms - r->issued_ms > (int64_t)p->max_age_s * 1000)
    return reject(o, GLOAM_ESTALE, "statement is older than the maximum evidence age");
  if (p && r->trust < p->min_trust) {
    char why[GLOAM_ERR_LEN];
    snprintf(why, sizeof why, "verified trust %s is below the minimum %s%s%.120s",
             gloam_trust_name(r->trust), gloam_trust_name(p->min_trust), r->reason[0] ? ": " : "",
             r->reason);
    return reject(o, GLOAM_EPOLICY, why);
  }
  o->verified = r->trust;
  o->accepted = 1;
  o->status = 0;
  set_reason(o, r->reason); /* why not a higher level, if anything */
  return 0;
}

int gloam_evidence_verify(const char *evidence, size_t len, const char *node_id,
                          const uint8_t *hpke_pk, size_t hpke_pk_len, const char *receipt_jwk,
                          const char *model, const gloam_policy *policy, int64_t now_ms,
                          gloam_node_info *o) {
  memset(o, 0, sizeof *o);
  if (node_id) snprintf(o->id, sizeof o->id, "%.*s", (int)(sizeof o->id - 1), node_id);
  if (!evidence || len == 0) return reject(o, GLOAM_EFORMAT, "no evidence");
  if (now_ms == 0) now_ms = time_wall_ms();
  gloam_attest_policy ap;
  fill_policy(&ap, policy, model, now_ms);
  uint8_t nonce[64];
  bool offline = !policy || !policy->expected_nonce;
  if (offline) {
    ap.flags = GLOAM_ATTEST_NO_FRESHNESS;
  } else {
    const char *n64 = policy->expected_nonce;
    size_t nl = strnlen(n64, 128);
    long n = nl < 128 ? codec_b64_decode(n64, nl, nonce, sizeof nonce, CODEC_B64_URL) : -1;
    if (n < 16 || n > 64)
      return reject(o, GLOAM_EREPLAY, "the published nonce is not 16..64 bytes of base64url");
    ap.nonce = nonce;
    ap.nonce_len = (size_t)n;
  }
  gloam_attest_result *r = mem_alloc(sizeof *r);
  if (!r) return reject(o, GLOAM_ENOMEM, "out of memory");
  int rc = gloam_attest_verify(evidence, len, &ap, r);
  if (rc < 0) {
    int code = rc == GLOAM_EINVAL ? GLOAM_EFORMAT : rc;
    o->claimed = r->claimed;
    rc = reject(o, code, r->reason);
  } else {
    rc = check_result(r, policy, offline, now_ms, o);
    if (rc == 0) rc = check_bindings(r, node_id, hpke_pk, hpke_pk_len, receipt_jwk, model, o);
  }
  mem_free(r);
  return rc;
}
