/* SPDX-License-Identifier: Apache-2.0
 *
 * attest/evidence.c: building evidence v1 (see evidence.h and
 * docs/attestation.md). The payload is jansson's compact, key-sorted JSON;
 * verifiers check the signature over the exact bytes, so no
 * canonicalisation is needed on their side.
 */
#include "attest/evidence.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <string.h>
#include <unistd.h>

#include "attest/tpm.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/codec.h"
#include "core/err.h"
#include "core/time.h"

int attest_file_sha256(const char *path, uint8_t out[32], char *err) {
  const char *p = path ? path : "/proc/self/exe";
  int fd = open(p, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return err_set(err, GLOAM_EIO, "open %s: %s", p, strerror(errno));
  EVP_MD_CTX *md = EVP_MD_CTX_new();
  int ok = md && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1;
  uint8_t b[65536];
  ssize_t n;
  while (ok && (n = read(fd, b, sizeof b)) != 0) {
    if (n < 0 && errno == EINTR) continue;
    ok = n > 0 && EVP_DigestUpdate(md, b, (size_t)n) == 1;
  }
  ok = ok && EVP_DigestFinal_ex(md, out, NULL) == 1;
  EVP_MD_CTX_free(md);
  close(fd);
  return ok ? 0 : err_set(err, GLOAM_EIO, "hashing %s failed", p);
}

static int b64url(buf *b, const void *p, size_t n) {
  size_t need = codec_b64_len(n, CODEC_B64_URL);
  int rc = buf_reserve(b, need + 1);
  if (rc < 0) return rc;
  long w = codec_b64_encode(p, n, (char *)b->data + b->len, need + 1, CODEC_B64_URL);
  if (w < 0) return (int)w;
  b->len += (size_t)w;
  b->data[b->len] = 0;
  return 0;
}

static json_t *jwk_json(es256_key *k) {
  char s[256];
  return es256_public_jwk(k, s, sizeof s) < 0 ? NULL : json_loads(s, 0, NULL);
}

static json_t *payload(attest_identity *id, const attest_statement_in *in) {
  char nonce[96], pk[48], bin[72] = "sha256:";
  if (in->nonce_len < 16 || in->nonce_len > 64 ||
      codec_b64_encode(in->nonce, in->nonce_len, nonce, sizeof nonce, CODEC_B64_URL) < 0 ||
      codec_b64_encode(in->hpke_pk, 32, pk, sizeof pk, CODEC_B64_URL) < 0 ||
      codec_hex_encode(in->binary_sha256, 32, bin + 7, sizeof bin - 7) < 0)
    return NULL;
  json_t *models = json_array();
  for (size_t i = 0; models && i < in->n_models; i++)
    if (json_array_append_new(models, json_pack("{s:s,s:s}", "id", in->models[i].id,
                                                "weights_digest", in->models[i].weights_digest)) !=
        0) {
      json_decref(models);
      models = NULL;
    }
  json_t *post = in->posture ? json_deep_copy(in->posture) : json_object();
  json_t *rjwk = jwk_json(in->receipt_key);
  json_t *ijwk = json_loads(attest_identity_jwk(id), 0, NULL);
  if (!models || !post || !rjwk || !ijwk) {
    json_decref(models);
    json_decref(post);
    json_decref(rjwk);
    json_decref(ijwk);
    return NULL;
  }
  json_t *pl = json_pack(
      "{s:s,s:i,s:s,s:s,s:s,s:I,s:o,s:{s:{s:i,s:s},s:o},s:s,s:o,s:o}", "type", "gloam-attestation",
      "version", 1, "trust", gloam_trust_name(attest_identity_level(id)), "node_id", in->node_id,
      "nonce", nonce, "issued_ms", (json_int_t)(in->issued_ms ? in->issued_ms : time_wall_ms()),
      "identity", ijwk, "keys", "hpke", "kem_id", 32, "public_key", pk, "receipt", rjwk, "binary",
      bin, "models", models, "posture", post);
  if (pl && in->hardware &&
      (!json_is_object(in->hardware) ||
       json_object_set_new(pl, "hardware", json_deep_copy(in->hardware)) != 0)) {
    json_decref(pl);
    return NULL;
  }
  return pl;
}

static int tpm_section(attest_identity *id, const buf *signing_input, json_t *tpm, char *err) {
  uint8_t extra[32];
  if (EVP_Digest(signing_input->data, signing_input->len, extra, NULL, EVP_sha256(), NULL) != 1)
    return err_set(err, GLOAM_ECRYPTO, "sha256");
  attest_quote q;
  attest_quote_init(&q);
  int rc = attest_tpm_quote(id, extra, &q, err);
  json_t *pcrs = rc == 0 ? json_object() : NULL;
  buf b;
  buf_init(&b, 8192);
  if (rc == 0 && (!pcrs || json_object_set_new(tpm, "pcrs", pcrs) != 0))
    rc = err_set(err, GLOAM_ENOMEM, "out of memory");
  for (unsigned i = 0; rc == 0 && i < 24; i++) {
    if (!(q.pcr_mask & (1u << i))) continue;
    char k[4], h[65];
    snprintf(k, sizeof k, "%u", i);
    codec_hex_encode(q.pcr[i], 32, h, sizeof h);
    if (json_object_set_new(pcrs, k, json_string(h)) != 0) rc = GLOAM_ENOMEM;
  }
  if (rc == 0 && (b64url(&b, q.attest.data, q.attest.len) < 0 ||
                  json_object_set_new(tpm, "quote", json_string(buf_cstr(&b))) != 0))
    rc = GLOAM_ENOMEM;
  buf_reset(&b);
  if (rc == 0 && (b64url(&b, q.sig.data, q.sig.len) < 0 ||
                  json_object_set_new(tpm, "signature", json_string(buf_cstr(&b))) != 0))
    rc = GLOAM_ENOMEM;
  if (rc == 0 && tpm_put_identity(id, tpm) < 0) rc = GLOAM_ENOMEM;
  if (rc == GLOAM_ENOMEM) err_set(err, rc, "out of memory");
  buf_deinit(&b);
  attest_quote_deinit(&q);
  return rc;
}

int attest_evidence_make(attest_identity *id, const attest_statement_in *in, char **out,
                         size_t *out_len, char *err) {
  *out = NULL;
  *out_len = 0;
  if (!in->node_id || !in->nonce || !in->hpke_pk || !in->receipt_key || !in->binary_sha256 ||
      in->n_models > ATTEST_MAX_MODELS)
    return err_set(err, GLOAM_EINVAL, "statement input incomplete");
  int tpm = attest_identity_level(id) >= GLOAM_TRUST_TPM;
  es256_key *signer = tpm ? in->receipt_key : NULL;
  json_t *pl = payload(id, in);
  json_t *hdr =
      json_pack("{s:s,s:s,s:o}", "alg", "ES256", "typ", "gloam-attestation+jws", "jwk",
                tpm ? jwk_json(in->receipt_key) : json_loads(attest_identity_jwk(id), 0, NULL));
  char *ps = pl ? json_dumps(pl, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
  char *hs = hdr ? json_dumps(hdr, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
  json_decref(pl);
  json_decref(hdr);
  json_t *doc = NULL;
  buf jws;
  buf_init(&jws, ATTEST_EVIDENCE_MAX);
  uint8_t sig[ES256_SIG_LEN];
  int rc = ps && hs ? 0 : err_set(err, GLOAM_EINVAL, "cannot build the statement (bad input?)");
  if (rc == 0 && (b64url(&jws, hs, strlen(hs)) < 0 || buf_putc(&jws, '.') < 0 ||
                  b64url(&jws, ps, strlen(ps)) < 0))
    rc = err_set(err, GLOAM_ETOOBIG, "statement too large");
  if (rc == 0) {
    rc = signer ? es256_sign(signer, jws.data, jws.len, sig)
                : attest_identity_sign(id, jws.data, jws.len, sig);
    if (rc < 0) rc = err_set(err, GLOAM_ECRYPTO, "signing the statement failed");
  }
  json_t *tsec = NULL;
  if (rc == 0 && tpm) {
    tsec = json_object();
    rc = tsec ? tpm_section(id, &jws, tsec, err) : err_set(err, GLOAM_ENOMEM, "out of memory");
  }
  if (rc == 0 && (buf_putc(&jws, '.') < 0 || b64url(&jws, sig, sizeof sig) < 0))
    rc = err_set(err, GLOAM_ETOOBIG, "statement too large");
  if (rc == 0) {
    doc = json_pack("{s:i,s:s}", "v", 1, "jws", buf_cstr(&jws));
    if (!doc || (tsec && json_object_set(doc, "tpm", tsec) != 0))
      rc = err_set(err, GLOAM_ENOMEM, "out of memory");
  }
  char *ds = rc == 0 ? json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
  if (rc == 0 && !ds) rc = err_set(err, GLOAM_ENOMEM, "out of memory");
  if (rc == 0) {
    *out_len = strlen(ds);
    *out = mem_strdup(ds);
    if (!*out) rc = err_set(err, GLOAM_ENOMEM, "out of memory");
  }
  free(ds);
  free(ps);
  free(hs);
  json_decref(doc);
  json_decref(tsec);
  buf_deinit(&jws);
  return rc;
}
