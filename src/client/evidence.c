/* SPDX-License-Identifier: Apache-2.0
 *
 * client/evidence.c: verifying a node's attestation statement on the
 * client (gloam_evidence_verify in gloam/client.h; format in docs/node.md
 * "Evidence" and docs/client.md).
 *
 * The evidence is base64url text of a compact JWS (ES256) whose protected
 * header carries the signer's JWK: {"alg":"ES256","jwk":{..},"typ":
 * "gloam-attestation+jws"}. Its payload binds node_id, the per-process
 * HPKE key and receipt key, the binary digest, the served models with
 * their weights digests, the coordinator's nonce and the issue time.
 *
 * DESIGN: what can be verified today is a software statement: the
 * signature by the identity key it carries and its bindings. Nothing ties
 * that key to hardware, so the verified level is at most "software",
 * whatever the statement claims. Every field is untrusted: sizes are capped
 * before decoding, the JSON depth is limited, strings are length-checked.
 */
#include <jansson.h>
#include <string.h>

#include "core/alloc.h"
#include "core/codec.h"
#include "core/err.h"
#include "core/time.h"
#include "crypto/es256.h"
#include "gloam/client.h"
#include "http/json.h"

#define EVIDENCE_TEXT_MAX (192 * 1024) /* docs/protocol.md limit */
#define CLOCK_SKEW_MS (5 * 60 * 1000)

static const char *const trust_names[] = {"none", "software", "tpm", "measured", "confidential"};

const char *gloam_trust_name(gloam_trust t) {
  return (unsigned)t < sizeof trust_names / sizeof trust_names[0] ? trust_names[t] : "?";
}

int gloam_trust_parse(const char *s, gloam_trust *out) {
  for (unsigned i = 0; s && i < sizeof trust_names / sizeof trust_names[0]; i++)
    if (strcmp(s, trust_names[i]) == 0) {
      *out = (gloam_trust)i;
      return 0;
    }
  return GLOAM_EINVAL;
}

static int reject(gloam_node_info *o, int code, const char *why) {
  o->accepted = 0;
  o->status = code;
  o->verified = GLOAM_TRUST_NONE;
  snprintf(o->reason, sizeof o->reason, "%s", why);
  return code;
}

/* base64url-decodes [s, s+n) into a fresh NUL-terminated buffer *out.
 * GLOAM_ENOMEM or GLOAM_EFORMAT. */
static int b64_dup(const char *s, size_t n, char **out, size_t *out_len) {
  *out = NULL;
  size_t cap = n / 4 * 3 + 4;
  char *b = mem_alloc(cap + 1);
  if (!b) return GLOAM_ENOMEM;
  long w = codec_b64_decode(s, n, (uint8_t *)b, cap, CODEC_B64_URL);
  if (w < 0) {
    mem_free(b);
    return GLOAM_EFORMAT;
  }
  b[w] = 0;
  *out = b;
  *out_len = (size_t)w;
  return 0;
}

static int copy_str(char *dst, size_t cap, json_t *v) {
  const char *s = json_string_value(v);
  if (!s || json_string_length(v) == 0 || json_string_length(v) >= cap) return -1;
  memcpy(dst, s, json_string_length(v) + 1);
  return 0;
}

/* The key in a JWK JSON object, and its thumbprint. */
static int jwk_key(json_t *jwk, es256_key **k, char thumb[ES256_THUMB_LEN + 1]) {
  if (!json_is_object(jwk)) return -1;
  char *t = json_dumps(jwk, JSON_COMPACT);
  int rc = t ? es256_public_parse(t, strlen(t), k, NULL) : -1;
  free(t);
  if (rc < 0) return -1;
  if (es256_thumbprint(*k, thumb) < 0) {
    es256_key_free(*k);
    *k = NULL;
    return -1;
  }
  return 0;
}

static int binary_allowed(const gloam_policy *p, const char *digest) {
  if (!p || p->n_allowed_binaries == 0) return 1;
  for (size_t i = 0; i < p->n_allowed_binaries; i++)
    if (p->allowed_binaries[i] && strcmp(p->allowed_binaries[i], digest) == 0) return 1;
  return 0;
}

/* Checks the payload's bindings; fills o. */
static int check_payload(json_t *pl, const char *id_thumb, const char *node_id,
                         const uint8_t *hpke_pk, size_t hpke_pk_len, const char *receipt_jwk,
                         const char *model, gloam_node_info *o) {
  if (!json_is_object(pl) || !json_is_string(json_object_get(pl, "type")) ||
      strcmp(json_string_value(json_object_get(pl, "type")), "gloam-attestation") != 0 ||
      json_integer_value(json_object_get(pl, "version")) != 1)
    return reject(o, GLOAM_EFORMAT, "not a gloam attestation statement v1");
  gloam_trust claimed;
  if (gloam_trust_parse(json_string_value(json_object_get(pl, "trust")), &claimed) < 0)
    return reject(o, GLOAM_EFORMAT, "statement has an unknown trust level");
  o->claimed = claimed;
  if (copy_str(o->id, sizeof o->id, json_object_get(pl, "node_id")) < 0)
    return reject(o, GLOAM_EFORMAT, "statement has no valid node_id");
  if (node_id && strcmp(o->id, node_id) != 0)
    return reject(o, GLOAM_EAUTH, "statement is for another node id");
  es256_key *ik = NULL;
  char thumb[ES256_THUMB_LEN + 1];
  if (jwk_key(json_object_get(pl, "identity"), &ik, thumb) < 0)
    return reject(o, GLOAM_EFORMAT, "statement has no valid identity key");
  es256_key_free(ik);
  if (strcmp(thumb, id_thumb) != 0)
    return reject(o, GLOAM_EAUTH, "statement signed by a key other than its identity");
  json_t *keys = json_object_get(pl, "keys");
  json_t *hp = json_object_get(keys, "hpke");
  const char *pk64 = json_string_value(json_object_get(hp, "public_key"));
  uint8_t pk[64];
  long pkl = pk64 && json_string_length(json_object_get(hp, "public_key")) < 64
                 ? codec_b64_decode(pk64, strlen(pk64), pk, sizeof pk, CODEC_B64_URL)
                 : -1;
  if (json_integer_value(json_object_get(hp, "kem_id")) != GLOAM_SEAL_KEM_X25519 || pkl != 32)
    return reject(o, GLOAM_EFORMAT, "statement has no valid X25519 HPKE key");
  if (hpke_pk && (hpke_pk_len != 32 || memcmp(pk, hpke_pk, 32) != 0))
    return reject(o, GLOAM_EAUTH, "statement binds another HPKE key than the node publishes");
  memcpy(o->hpke_pk, pk, 32);
  es256_key *rk = NULL;
  char rthumb[ES256_THUMB_LEN + 1];
  json_t *rj = json_object_get(keys, "receipt");
  if (jwk_key(rj, &rk, rthumb) < 0)
    return reject(o, GLOAM_EFORMAT, "statement has no valid receipt key");
  int n = es256_public_jwk(rk, o->receipt_jwk, sizeof o->receipt_jwk);
  es256_key_free(rk);
  if (n < 0) return reject(o, GLOAM_EFORMAT, "statement has no valid receipt key");
  if (receipt_jwk) {
    es256_key *lk = NULL;
    char lthumb[ES256_THUMB_LEN + 1];
    int ok = es256_public_parse(receipt_jwk, strlen(receipt_jwk), &lk, NULL) == 0 &&
             es256_thumbprint(lk, lthumb) == 0 && strcmp(lthumb, rthumb) == 0;
    es256_key_free(lk);
    if (!ok) return reject(o, GLOAM_EAUTH, "statement binds another receipt key");
  }
  if (copy_str(o->binary_digest, sizeof o->binary_digest, json_object_get(pl, "binary")) < 0)
    return reject(o, GLOAM_EFORMAT, "statement has no binary digest");
  json_t *models = json_object_get(pl, "models"), *m;
  size_t i;
  int found = 0;
  if (!json_is_array(models)) return reject(o, GLOAM_EFORMAT, "statement has no models");
  json_array_foreach(models, i, m) {
    const char *mid = json_string_value(json_object_get(m, "id"));
    if (!mid || (model && strcmp(mid, model) != 0)) continue;
    if (copy_str(o->model, sizeof o->model, json_object_get(m, "id")) < 0 ||
        copy_str(o->weights_digest, sizeof o->weights_digest,
                 json_object_get(m, "weights_digest")) < 0)
      return reject(o, GLOAM_EFORMAT, "statement has a malformed model entry");
    found = 1;
    break;
  }
  if (!found) return reject(o, GLOAM_ENOENT, "statement does not bind the requested model");
  json_t *t = json_object_get(pl, "issued_ms");
  if (!json_is_integer(t) || json_integer_value(t) <= 0)
    return reject(o, GLOAM_EFORMAT, "statement has no issue time");
  o->issued_ms = (int64_t)json_integer_value(t);
  return 0;
}

static int check_policy(json_t *pl, const gloam_policy *p, int64_t now_ms, gloam_node_info *o) {
  if (p && p->expected_nonce) {
    const char *nonce = json_string_value(json_object_get(pl, "nonce"));
    if (!nonce || strcmp(nonce, p->expected_nonce) != 0)
      return reject(o, GLOAM_EREPLAY, "statement does not carry the expected nonce");
  }
  if (o->issued_ms > now_ms + CLOCK_SKEW_MS)
    return reject(o, GLOAM_ESTALE, "statement is dated in the future");
  if (p && p->max_age_s && now_ms - o->issued_ms > (int64_t)p->max_age_s * 1000)
    return reject(o, GLOAM_ESTALE, "statement is older than the maximum evidence age");
  if (!binary_allowed(p, o->binary_digest))
    return reject(o, GLOAM_EPOLICY, "node binary is not in the allowed list");
  /* Only the signature and bindings were checked: software at most. */
  gloam_trust v = o->claimed < GLOAM_TRUST_SOFTWARE ? o->claimed : GLOAM_TRUST_SOFTWARE;
  if (p && v < p->min_trust) {
    char why[160];
    snprintf(why, sizeof why, "verified trust %s is below the minimum %s", gloam_trust_name(v),
             gloam_trust_name(p->min_trust));
    return reject(o, GLOAM_EPOLICY, why);
  }
  o->verified = v;
  o->accepted = 1;
  o->status = 0;
  o->reason[0] = 0;
  return 0;
}

int gloam_evidence_verify(const char *evidence, size_t len, const char *node_id,
                          const uint8_t *hpke_pk, size_t hpke_pk_len, const char *receipt_jwk,
                          const char *model, const gloam_policy *policy, int64_t now_ms,
                          gloam_node_info *o) {
  memset(o, 0, sizeof *o);
  if (node_id) snprintf(o->id, sizeof o->id, "%s", node_id);
  if (!evidence || len == 0) return reject(o, GLOAM_EFORMAT, "no evidence");
  if (len > EVIDENCE_TEXT_MAX) return reject(o, GLOAM_ETOOBIG, "evidence too large");
  if (now_ms == 0) now_ms = time_wall_ms();
  size_t jl = 0, hl = 0, pl_len = 0;
  char *jws = NULL, *hdr = NULL, *pay = NULL;
  json_t *hj = NULL, *pj = NULL;
  es256_key *ik = NULL;
  char thumb[ES256_THUMB_LEN + 1];
  uint8_t sig[ES256_SIG_LEN + 4];
  int rc = b64_dup(evidence, len, &jws, &jl);
  if (rc == GLOAM_ENOMEM) goto oom;
  if (rc < 0 || strlen(jws) != jl) {
    rc = reject(o, GLOAM_EFORMAT, "evidence is not base64url text");
    goto done;
  }
  char *d1 = strchr(jws, '.'), *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
  if (!d1 || !d2 || strchr(d2 + 1, '.')) {
    rc = reject(o, GLOAM_EFORMAT, "evidence is not a compact JWS");
    goto done;
  }
  int rh = b64_dup(jws, (size_t)(d1 - jws), &hdr, &hl);
  int rp = b64_dup(d1 + 1, (size_t)(d2 - d1 - 1), &pay, &pl_len);
  if (rh == GLOAM_ENOMEM || rp == GLOAM_ENOMEM) goto oom;
  long sl = codec_b64_decode(d2 + 1, strlen(d2 + 1), sig, sizeof sig, CODEC_B64_URL);
  int rj = hdr && pay && sl == ES256_SIG_LEN ? json_parse_limited(hdr, hl, 4096, 4, &hj, NULL)
                                             : GLOAM_EFORMAT;
  if (rj == 0) rj = json_parse_limited(pay, pl_len, EVIDENCE_TEXT_MAX, 8, &pj, NULL);
  if (rj == GLOAM_ENOMEM) goto oom;
  if (rj < 0) {
    rc = reject(o, GLOAM_EFORMAT, "evidence JWS parts are malformed");
    goto done;
  }
  const char *alg = json_string_value(json_object_get(hj, "alg"));
  const char *typ = json_string_value(json_object_get(hj, "typ"));
  if (!alg || strcmp(alg, "ES256") != 0 || !typ || strcmp(typ, "gloam-attestation+jws") != 0 ||
      json_object_get(hj, "crit")) {
    rc = reject(o, GLOAM_EFORMAT, "evidence header is not ES256 gloam-attestation+jws");
    goto done;
  }
  if (jwk_key(json_object_get(hj, "jwk"), &ik, thumb) < 0) {
    rc = reject(o, GLOAM_EFORMAT, "evidence header has no valid P-256 jwk");
    goto done;
  }
  snprintf(o->identity_thumbprint, sizeof o->identity_thumbprint, "%s", thumb);
  if (es256_verify(ik, jws, (size_t)(d2 - jws), sig) != 0) {
    rc = reject(o, GLOAM_EAUTH, "evidence signature does not verify");
    goto done;
  }
  rc = check_payload(pj, thumb, node_id, hpke_pk, hpke_pk_len, receipt_jwk, model, o);
  if (rc == 0) rc = check_policy(pj, policy, now_ms, o);
  goto done;
oom:
  rc = reject(o, GLOAM_ENOMEM, "out of memory");
done:
  es256_key_free(ik);
  json_decref(hj);
  json_decref(pj);
  mem_free(jws);
  mem_free(hdr);
  mem_free(pay);
  return rc;
}
