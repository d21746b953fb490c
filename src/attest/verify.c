/* SPDX-License-Identifier: Apache-2.0
 *
 * attest/verify.c: checking evidence v1 against a policy (gloam/attest.h).
 *
 * Order: shape and size limits, the JWS signature, then freshness (nonce,
 * age), allow-lists, then the identity: software statements are signed by
 * the identity key they carry; TPM statements need the EK chain, an
 * activated AK, a quote over the statement hash and PCR 23 holding the
 * binary hash. `measured` is granted only on top of a verified quote whose
 * PCR 7 is a configured Secure Boot golden value, plus the posture fields.
 * Each failure names its reason in out->reason.
 */
#include <jansson.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "attest/evidence.h"
#include "attest/tpm.h"
#include "core/buf.h"
#include "core/codec.h"
#include "core/err.h"
#include "core/secure.h"
#include "core/time.h"
#include "gloam/attest.h"

#define NCERTS 5
#define FUTURE_SKEW_MS 60000

static const char *const TRUST_NAMES[] = {"none", "software", "tpm", "measured", "confidential"};
#define N_TRUST (sizeof TRUST_NAMES / sizeof TRUST_NAMES[0])

const char *gloam_trust_name(gloam_trust t) {
  return (unsigned)t < N_TRUST ? TRUST_NAMES[t] : "?";
}

int gloam_trust_parse(const char *name, gloam_trust *out) {
  for (unsigned i = 0; name && i < N_TRUST; i++)
    if (strcmp(name, TRUST_NAMES[i]) == 0) {
      *out = (gloam_trust)i;
      return 0;
    }
  return GLOAM_EINVAL;
}

typedef struct vctx {
  const gloam_attest_policy *p;
  gloam_attest_result *out;
  json_t *doc, *hdr, *pl;
  es256_key *signer, *ak;
  buf parts[3]; /* decoded header, payload, signature */
  buf ak_pub, certs[NCERTS];
  size_t dot2; /* length of the signing input */
  const char *jws;
} vctx;

static int b64d(const char *s, size_t n, buf *b) {
  buf_reset(b);
  int rc = buf_reserve(b, n);
  if (rc < 0) return rc;
  long r = codec_b64_decode(s, n, b->data, n + 1, CODEC_B64_URL);
  if (r < 0) return GLOAM_EFORMAT;
  b->len = (size_t)r;
  b->data[b->len] = 0;
  return 0;
}

static int thumb_of(json_t *jwk, char out[ES256_THUMB_LEN + 1], es256_key **keep) {
  char *s = json_is_object(jwk) ? json_dumps(jwk, JSON_COMPACT) : NULL;
  es256_key *k = NULL;
  char e[GLOAM_ERR_LEN];
  int rc = s ? es256_public_parse(s, strlen(s), &k, e) : GLOAM_EFORMAT;
  free(s);
  if (rc == 0) rc = es256_thumbprint(k, out);
  if (rc == 0 && keep)
    *keep = k;
  else
    es256_key_free(k);
  return rc == GLOAM_ENOMEM ? rc : rc < 0 ? GLOAM_EFORMAT : 0;
}

/* Out of memory stays out of memory; any other failure is `msg`. */
static int fail_fmt(char *reason, int rc, const char *msg) {
  if (rc == GLOAM_ENOMEM || rc == GLOAM_ETOOBIG)
    return err_set(reason, rc, "%s", gloam_strerror(rc));
  return err_set(reason, GLOAM_EFORMAT, "%s", msg);
}

static int check_jws(vctx *v) {
  const char *j = v->jws;
  size_t n = strlen(j);
  const char *d1 = memchr(j, '.', n);
  const char *d2 = d1 ? memchr(d1 + 1, '.', n - (size_t)(d1 + 1 - j)) : NULL;
  if (!d2 || memchr(d2 + 1, '.', n - (size_t)(d2 + 1 - j)))
    return err_set(v->out->reason, GLOAM_EFORMAT, "jws is not a compact JWS");
  v->dot2 = (size_t)(d2 - j);
  int rc = b64d(j, (size_t)(d1 - j), &v->parts[0]);
  if (rc == 0) rc = b64d(d1 + 1, (size_t)(d2 - d1 - 1), &v->parts[1]);
  if (rc == 0) rc = b64d(d2 + 1, n - v->dot2 - 1, &v->parts[2]);
  if (rc == 0 && v->parts[2].len != ES256_SIG_LEN) rc = GLOAM_EFORMAT;
  if (rc < 0) return fail_fmt(v->out->reason, rc, "JWS parts are not base64url");
  v->hdr =
      json_loadb((const char *)v->parts[0].data, v->parts[0].len, JSON_REJECT_DUPLICATES, NULL);
  v->pl = json_loadb((const char *)v->parts[1].data, v->parts[1].len, JSON_REJECT_DUPLICATES, NULL);
  if (!json_is_object(v->hdr) || !json_is_object(v->pl))
    return err_set(v->out->reason, GLOAM_EFORMAT, "JWS header or payload is not a JSON object");
  const char *alg = json_string_value(json_object_get(v->hdr, "alg"));
  const char *typ = json_string_value(json_object_get(v->hdr, "typ"));
  if (!alg || strcmp(alg, "ES256") || !typ || strcmp(typ, "gloam-attestation+jws") ||
      json_object_get(v->hdr, "crit"))
    return err_set(v->out->reason, GLOAM_EFORMAT, "header is not ES256 gloam-attestation+jws");
  char th[ES256_THUMB_LEN + 1];
  if ((rc = thumb_of(json_object_get(v->hdr, "jwk"), th, &v->signer)) < 0)
    return fail_fmt(v->out->reason, rc, "header has no P-256 jwk");
  if (es256_verify(v->signer, j, v->dot2, v->parts[2].data) != 0)
    return err_set(v->out->reason, GLOAM_EAUTH, "statement signature does not verify");
  return 0;
}

static int in_list(const char *s, const char *const *list, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (list[i] && strcmp(s, list[i]) == 0) return 1;
  return 0;
}

static int is_digest(const char *s) {
  if (!s || strncmp(s, "sha256:", 7) != 0 || strlen(s) != 71) return 0;
  for (const char *c = s + 7; *c; c++)
    if (!((*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'f'))) return 0;
  return 1;
}

static int check_claims(vctx *v) {
  const gloam_attest_policy *p = v->p;
  gloam_attest_result *o = v->out;
  json_t *pl = v->pl;
  const char *type = json_string_value(json_object_get(pl, "type"));
  const char *trust = json_string_value(json_object_get(pl, "trust"));
  const char *node = json_string_value(json_object_get(pl, "node_id"));
  const char *nonce = json_string_value(json_object_get(pl, "nonce"));
  const char *bin = json_string_value(json_object_get(pl, "binary"));
  json_t *issued = json_object_get(pl, "issued_ms");
  if (!type || strcmp(type, "gloam-attestation") ||
      json_integer_value(json_object_get(pl, "version")) != 1 ||
      !json_is_integer(json_object_get(pl, "version")))
    return err_set(o->reason, GLOAM_EFORMAT, "not a gloam attestation statement v1");
  if (gloam_trust_parse(trust, &o->claimed) < 0 || o->claimed == GLOAM_TRUST_NONE ||
      o->claimed > GLOAM_TRUST_MEASURED)
    return err_set(o->reason, GLOAM_EFORMAT, "unknown claimed trust level");
  if (!node || strlen(node) >= sizeof o->node_id || !nonce || !json_is_integer(issued) ||
      !is_digest(bin))
    return err_set(o->reason, GLOAM_EFORMAT, "statement lacks node_id, nonce, issued_ms or binary");
  snprintf(o->node_id, sizeof o->node_id, "%s", node);
  snprintf(o->binary, sizeof o->binary, "%s", bin);
  o->issued_ms = json_integer_value(issued);
  /* freshness: the verifier's own nonce, and the age */
  if (!(p->flags & GLOAM_ATTEST_NO_FRESHNESS)) {
    uint8_t nb[96];
    long nl = codec_b64_decode(nonce, strlen(nonce), nb, sizeof nb, CODEC_B64_URL);
    if (!p->nonce || p->nonce_len < 16 || p->nonce_len > 64)
      return err_set(o->reason, GLOAM_EINVAL, "policy has no valid nonce");
    if (nl != (long)p->nonce_len || !secure_memeq(nb, p->nonce, p->nonce_len))
      return err_set(o->reason, GLOAM_EREPLAY, "nonce is not this verifier's challenge");
    int64_t now = p->now_ms ? p->now_ms : time_wall_ms();
    int64_t max_age = p->max_age_ms > 0 ? p->max_age_ms : GLOAM_ATTEST_DEFAULT_MAX_AGE_MS;
    if (o->issued_ms > now + FUTURE_SKEW_MS)
      return err_set(o->reason, GLOAM_ESTALE, "statement is from the future");
    if (o->issued_ms < now - max_age)
      return err_set(o->reason, GLOAM_ESTALE, "statement is %lld ms old (max %lld)",
                     (long long)(now - o->issued_ms), (long long)max_age);
  }
  if (p->n_binaries && !in_list(bin, p->binaries, p->n_binaries))
    return err_set(o->reason, GLOAM_EPOLICY, "binary %.20s... is not on the allow-list", bin);
  json_t *models = json_object_get(pl, "models");
  if (!json_is_array(models) || json_array_size(models) > ATTEST_MAX_MODELS)
    return err_set(o->reason, GLOAM_EFORMAT, "models is not a list");
  int found = !p->model;
  for (size_t i = 0; i < json_array_size(models); i++) {
    json_t *id = json_object_get(json_array_get(models, i), "id");
    json_t *w = json_object_get(json_array_get(models, i), "weights_digest");
    gloam_attest_model *m = &o->models[i];
    if (!json_is_string(id) || !json_is_string(w) || json_string_length(id) == 0 ||
        json_string_length(id) >= sizeof m->id || json_string_length(w) >= sizeof m->weights_digest)
      return err_set(o->reason, GLOAM_EFORMAT, "model %zu lacks id or weights_digest", i);
    memcpy(m->id, json_string_value(id), json_string_length(id) + 1);
    memcpy(m->weights_digest, json_string_value(w), json_string_length(w) + 1);
    o->n_models = i + 1;
    if (strlen(m->id) != json_string_length(id))
      return err_set(o->reason, GLOAM_EFORMAT, "model %zu id holds a NUL", i);
    if (p->n_weights && !in_list(m->weights_digest, p->weights, p->n_weights))
      return err_set(o->reason, GLOAM_EPOLICY, "model %zu weights digest is not on the allow-list",
                     i);
    found |= p->model && strcmp(p->model, m->id) == 0;
  }
  if (!found) return err_set(o->reason, GLOAM_ENOENT, "the statement does not bind the model");
  json_t *keys = json_object_get(pl, "keys");
  json_t *hpke = json_object_get(keys, "hpke");
  const char *pk = json_string_value(json_object_get(hpke, "public_key"));
  json_t *rjwk = json_object_get(keys, "receipt");
  char th[ES256_THUMB_LEN + 1];
  int rc = GLOAM_EFORMAT;
  if (json_integer_value(json_object_get(hpke, "kem_id")) != 32 || !pk ||
      codec_b64_decode(pk, strlen(pk), o->hpke_pk, sizeof o->hpke_pk, CODEC_B64_URL) != 32 ||
      (rc = thumb_of(rjwk, th, NULL)) < 0)
    return fail_fmt(o->reason, rc, "keys.hpke or keys.receipt is malformed");
  char *rs = json_dumps(rjwk, JSON_COMPACT);
  int fits = rs && strlen(rs) < sizeof o->receipt_jwk;
  if (fits) snprintf(o->receipt_jwk, sizeof o->receipt_jwk, "%s", rs);
  free(rs);
  if (!fits) return err_set(o->reason, GLOAM_EFORMAT, "receipt key too large");
  if (!json_is_object(json_object_get(pl, "posture")))
    return err_set(o->reason, GLOAM_EFORMAT, "posture is not an object");
  return 0;
}

static int check_software(vctx *v) {
  char a[ES256_THUMB_LEN + 1], b[ES256_THUMB_LEN + 1];
  int rc = thumb_of(json_object_get(v->pl, "identity"), a, NULL);
  if (rc == 0 && es256_thumbprint(v->signer, b) < 0) rc = GLOAM_ECRYPTO;
  if (rc < 0) return fail_fmt(v->out->reason, rc, "identity is not a P-256 JWK");
  if (strcmp(a, b) != 0)
    return err_set(v->out->reason, GLOAM_EAUTH, "statement is not signed by its identity key");
  snprintf(v->out->identity_thumb, sizeof v->out->identity_thumb, "%s", a);
  v->out->trust = GLOAM_TRUST_SOFTWARE;
  return 0;
}

static int pcr_values(json_t *pcrs, uint8_t pcr[24][32]) {
  if (!json_is_object(pcrs) || json_object_size(pcrs) != 9) return GLOAM_EFORMAT;
  for (unsigned i = 0; i < 24; i++) {
    if (!(ATTEST_PCR_MASK & (1u << i))) continue;
    char k[4];
    snprintf(k, sizeof k, "%u", i);
    const char *h = json_string_value(json_object_get(pcrs, k));
    if (!h || strlen(h) != 64 || codec_hex_decode(h, 64, pcr[i], 32, 0) != 32) return GLOAM_EFORMAT;
  }
  return 0;
}

static int check_tpm(vctx *v) {
  gloam_attest_result *o = v->out;
  char *r = o->reason;
  json_t *t = json_object_get(v->doc, "tpm");
  if (!json_is_object(t))
    return err_set(r, GLOAM_EFORMAT, "TPM level claimed without a tpm section");
  size_t nc = 0;
  int rc = cred_decode_identity(t, &v->ak_pub, v->certs, NCERTS, &nc);
  if (rc < 0) return err_set(r, rc, "tpm section: malformed ak_pub, ek_cert or ek_chain");
  uint8_t name[34];
  if ((rc = tpm_ak_parse(v->ak_pub.data, v->ak_pub.len, &v->ak, name, r)) < 0) return rc;
  codec_hex_encode(name, 34, o->ak_name, sizeof o->ak_name);
  char a[ES256_THUMB_LEN + 1], b[ES256_THUMB_LEN + 1], c[ES256_THUMB_LEN + 1];
  if (thumb_of(json_object_get(v->pl, "identity"), a, NULL) < 0 || es256_thumbprint(v->ak, b) < 0 ||
      strcmp(a, b) != 0)
    return err_set(r, GLOAM_EAUTH, "statement identity is not the quoting AK");
  snprintf(o->identity_thumb, sizeof o->identity_thumb, "%s", a);
  if (thumb_of(json_object_get(json_object_get(v->pl, "keys"), "receipt"), a, NULL) < 0 ||
      es256_thumbprint(v->signer, c) < 0 || strcmp(a, c) != 0)
    return err_set(r, GLOAM_EAUTH, "TPM statement is not signed by its receipt key");
  EVP_PKEY *ek = NULL;
  rc = tpm_ek_chain_check(v->certs[0].data, v->certs[0].len, v->certs + 1, nc - 1, v->p->ca_pem,
                          v->p->ca_pem_len, &ek, r);
  EVP_PKEY_free(ek);
  if (rc < 0) return rc;
  if (!in_list(o->ak_name, v->p->activated_aks, v->p->n_activated_aks))
    return err_set(r, GLOAM_EAUTH, "AK %.16s... has not passed credential activation", o->ak_name);
  uint8_t pcr[24][32], extra[32];
  buf qa, qs;
  buf_init(&qa, 8192);
  buf_init(&qs, 1024);
  const char *q = json_string_value(json_object_get(t, "quote"));
  const char *s = json_string_value(json_object_get(t, "signature"));
  rc = q && s && strlen(q) < 8192 && strlen(s) < 1024 ? 0 : GLOAM_EFORMAT;
  if (rc == 0) rc = b64d(q, strlen(q), &qa);
  if (rc == 0) rc = b64d(s, strlen(s), &qs);
  if (rc == 0) rc = pcr_values(json_object_get(t, "pcrs"), pcr);
  if (rc < 0) rc = err_set(r, GLOAM_EFORMAT, "tpm section: malformed quote, signature or pcrs");
  if (rc == 0 && EVP_Digest(v->jws, v->dot2, extra, NULL, EVP_sha256(), NULL) != 1)
    rc = err_set(r, GLOAM_ECRYPTO, "sha256");
  if (rc == 0)
    rc = tpm_quote_check(v->ak, qa.data, qa.len, qs.data, qs.len, extra, ATTEST_PCR_MASK, pcr, r);
  buf_deinit(&qa);
  buf_deinit(&qs);
  if (rc < 0) return rc;
  /* PCR 23 = SHA256(0^32 || binary) after attest_tpm_measure() */
  uint8_t zb[64] = {0}, want[32];
  if (codec_hex_decode(o->binary + 7, 64, zb + 32, 32, 0) != 32 ||
      EVP_Digest(zb, 64, want, NULL, EVP_sha256(), NULL) != 1 || memcmp(want, pcr[23], 32) != 0)
    return err_set(r, GLOAM_EAUTH, "PCR 23 does not hold the claimed binary hash");
  o->trust = GLOAM_TRUST_TPM;
  /* measured: Secure Boot seen in the quote (PCR 7 golden value), and posture */
  char p7[65];
  codec_hex_encode(pcr[7], 32, p7, sizeof p7);
  json_t *post = json_object_get(v->pl, "posture");
  const char *lock = json_string_value(json_object_get(post, "lockdown"));
  json_t *sb = json_object_get(post, "secure_boot");
  const char *why = NULL;
  if (!in_list(p7, v->p->secure_boot_pcr7, v->p->n_secure_boot_pcr7))
    why = "quoted PCR 7 is not a configured Secure Boot value";
  else if (!(json_is_true(sb) || (json_is_string(sb) && !strcmp(json_string_value(sb), "enabled"))))
    why = "posture: Secure Boot off";
  else if (!lock || !(strcmp(lock, "integrity") == 0 || strcmp(lock, "confidentiality") == 0))
    why = "posture: kernel lockdown off";
  else if (json_integer_value(json_object_get(post, "yama_ptrace_scope")) != 3)
    why = "posture: Yama ptrace_scope is not 3";
  else if (!json_is_true(json_object_get(post, "memfd_secret")))
    why = "posture: no memfd_secret";
  if (!why)
    o->trust = GLOAM_TRUST_MEASURED;
  else
    err_set(r, 0, "not measured: %s", why);
  return 0;
}

int gloam_attest_verify(const char *evidence, size_t len, const gloam_attest_policy *policy,
                        gloam_attest_result *out) {
  memset(out, 0, sizeof *out);
  if (!evidence || !policy) return err_set(out->reason, GLOAM_EINVAL, "no evidence or policy");
  if (len > ATTEST_EVIDENCE_MAX) return err_set(out->reason, GLOAM_ETOOBIG, "evidence too large");
  vctx v;
  memset(&v, 0, sizeof v);
  v.p = policy;
  v.out = out;
  for (int i = 0; i < 3; i++) buf_init(&v.parts[i], ATTEST_EVIDENCE_MAX);
  buf_init(&v.ak_pub, 1024);
  for (int i = 0; i < NCERTS; i++) buf_init(&v.certs[i], 16384);
  int rc = 0;
  v.doc = json_loadb(evidence, len, JSON_REJECT_DUPLICATES, NULL);
  v.jws = json_string_value(json_object_get(v.doc, "jws"));
  if (!json_is_object(v.doc) || json_integer_value(json_object_get(v.doc, "v")) != 1 || !v.jws)
    rc = err_set(out->reason, GLOAM_EFORMAT, "not gloam evidence v1");
  if (rc == 0) rc = check_jws(&v);
  if (rc == 0) rc = check_claims(&v);
  if (rc == 0) rc = out->claimed >= GLOAM_TRUST_TPM ? check_tpm(&v) : check_software(&v);
  if (rc == 0 && out->trust < policy->min_trust) {
    char why[GLOAM_ERR_LEN];
    snprintf(why, sizeof why, "%s", out->reason);
    rc = err_set(out->reason, GLOAM_EPOLICY, "trust %s is below the required %s%s%s",
                 gloam_trust_name(out->trust), gloam_trust_name(policy->min_trust),
                 why[0] ? ": " : "", why);
  }
  if (rc < 0 && rc != GLOAM_EPOLICY) out->trust = GLOAM_TRUST_NONE;
  json_decref(v.doc);
  json_decref(v.hdr);
  json_decref(v.pl);
  es256_key_free(v.signer);
  es256_key_free(v.ak);
  for (int i = 0; i < 3; i++) buf_deinit(&v.parts[i]);
  buf_deinit(&v.ak_pub);
  for (int i = 0; i < NCERTS; i++) buf_deinit(&v.certs[i]);
  return rc;
}
