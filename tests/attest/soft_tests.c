/* SPDX-License-Identifier: Apache-2.0
 *
 * tests/attest/soft_tests.c: the software identity and evidence path: key
 * file handling, a statement that verifies (also with the openssl CLI), and
 * the reject matrix (nonce, age, binary, model, signature, identity).
 */
#include <openssl/bn.h>
#include <openssl/ecdsa.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "attest/identity_int.h"
#include "attest_tests.h"
#include "core/alloc.h"
#include "core/codec.h"

static attest_identity *open_soft(const char *dir, const char *name) {
  char path[512], err[GLOAM_ERR_LEN] = "";
  snprintf(path, sizeof path, "%s/%s", dir, name);
  attest_identity *id = NULL;
  int rc = attest_identity_open_software(&id, path, err);
  if (rc < 0) test_fail(__FILE__, __LINE__, "open_software: %d %s", rc, err);
  return id;
}

void test_soft_key_file(void) {
  char *dir = test_tmpdir();
  char path[512], err[GLOAM_ERR_LEN];
  snprintf(path, sizeof path, "%s/id.pem", dir);
  attest_identity *a = open_soft(dir, "id.pem");
  struct stat st;
  ASSERT_OK(stat(path, &st));
  ASSERT_EQ_INT(st.st_mode & 0777, 0600);
  ASSERT_EQ_INT(attest_identity_level(a), GLOAM_TRUST_SOFTWARE);
  /* the same key comes back on reopen */
  attest_identity *b = open_soft(dir, "id.pem");
  ASSERT_EQ_STR(attest_identity_thumbprint(a), attest_identity_thumbprint(b));
  ASSERT_EQ_INT(strlen(attest_identity_thumbprint(a)), ES256_THUMB_LEN);
  attest_identity_free(b);
  /* the file holds a P-256 key openssl can read, and its public key is ours */
  ASSERT_EQ_INT(t_sh("openssl pkey -in %s -pubout -out %s/pub.pem 2>/dev/null", path, dir), 0);
  char pub[512];
  snprintf(pub, sizeof pub, "%s/pub.pem", dir);
  size_t pl = 0;
  char *pem = test_read_file(pub, &pl);
  ASSERT_NOT_NULL(pem);
  es256_key *k = NULL;
  ASSERT_OK(es256_public_parse(pem, pl, &k, err));
  char th[ES256_THUMB_LEN + 1];
  ASSERT_OK(es256_thumbprint(k, th));
  ASSERT_EQ_STR(th, attest_identity_thumbprint(a));
  es256_key_free(k);
  free(pem);
  attest_identity_free(a);
  /* group-readable: refused */
  ASSERT_OK(chmod(path, 0640));
  attest_identity *c = NULL;
  ASSERT_EQ_INT(attest_identity_open_software(&c, path, err), GLOAM_EPERM);
  ASSERT_TRUE(c == NULL);
  /* not a key: refused */
  snprintf(path, sizeof path, "%s/junk.pem", dir);
  ASSERT_OK(t_write(path, "hello\n", 6));
  ASSERT_OK(chmod(path, 0600));
  ASSERT_EQ_INT(attest_identity_open_software(&c, path, err), GLOAM_EFORMAT);
  /* an RSA key: refused */
  snprintf(path, sizeof path, "%s/rsa.pem", dir);
  ASSERT_EQ_INT(t_sh("openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:1024 -out %s "
                     "2>/dev/null && chmod 600 %s",
                     path, path),
                0);
  ASSERT_EQ_INT(attest_identity_open_software(&c, path, err), GLOAM_EFORMAT);
  /* software identities do no TPM work */
  uint8_t sig[ES256_SIG_LEN];
  attest_identity *d = open_soft(dir, "id2.pem");
  ASSERT_OK(attest_identity_sign(d, "x", 1, sig));
  attest_identity_free(d);
  free(dir);
}

void test_soft_roundtrip(void) {
  char *dir = test_tmpdir();
  attest_identity *id = open_soft(dir, "id.pem");
  es256_key *rk = NULL;
  ASSERT_OK(es256_generate(&rk));
  json_t *post = json_pack("{s:b,s:s,s:i,s:s,s:b}", "not_dumpable", 1, "seccomp", "filter",
                           "yama_ptrace_scope", 3, "lockdown", "integrity", "memfd_secret", 1);
  attest_statement_in in = t_input(rk, post);
  json_t *hw = json_pack("{s:s,s:I}", "cpu", "test-cpu", "ram_bytes", (json_int_t)1 << 34);
  in.hardware = hw;
  char *ev = t_make(id, rk, &in);
  json_decref(hw);
  gloam_attest_policy p = t_policy(GLOAM_TRUST_SOFTWARE);
  const char *bins[] = {T_BINARY_HEX};
  const char *ws[] = {T_WEIGHTS};
  p.binaries = bins;
  p.n_binaries = 1;
  p.weights = ws;
  p.n_weights = 1;
  gloam_attest_result r;
  int rc = gloam_attest_verify(ev, strlen(ev), &p, &r);
  if (rc) test_fail(__FILE__, __LINE__, "verify: %d %s", rc, r.reason);
  ASSERT_EQ_INT(r.trust, GLOAM_TRUST_SOFTWARE);
  ASSERT_EQ_INT(r.claimed, GLOAM_TRUST_SOFTWARE);
  ASSERT_EQ_STR(r.node_id, "node-1");
  ASSERT_EQ_STR(r.binary, T_BINARY_HEX);
  ASSERT_EQ_MEM(r.hpke_pk, T_HPKE_PK, 32);
  ASSERT_EQ_STR(r.identity_thumb, attest_identity_thumbprint(id));
  ASSERT_EQ_INT(r.issued_ms, T_NOW_MS - 1000);
  ASSERT_EQ_UINT(r.n_models, in.n_models);
  ASSERT_EQ_STR(r.models[0].id, in.models[0].id);
  ASSERT_EQ_STR(r.models[0].weights_digest, T_WEIGHTS);
  /* the model a caller asks about must be bound */
  p.model = in.models[0].id;
  ASSERT_EQ_INT(gloam_attest_verify(ev, strlen(ev), &p, &r), 0);
  p.model = "another-model";
  ASSERT_EQ_INT(gloam_attest_verify(ev, strlen(ev), &p, &r), GLOAM_ENOENT);
  p.model = NULL;
  ASSERT_EQ_INT(gloam_attest_verify(ev, strlen(ev), &p, &r), 0);
  t_corpus("software", ev);
  char rj[256];
  ASSERT_OK(es256_public_jwk(rk, rj, sizeof rj));
  ASSERT_EQ_STR(r.receipt_jwk, rj);
  /* a software identity never verifies as tpm, whatever its posture */
  p.min_trust = GLOAM_TRUST_TPM;
  ASSERT_EQ_INT(gloam_attest_verify(ev, strlen(ev), &p, &r), GLOAM_EPOLICY);
  ASSERT_EQ_INT(r.trust, GLOAM_TRUST_SOFTWARE);
  ASSERT_TRUE(strstr(r.reason, "below the required tpm") != NULL);
  /* nor when it claims tpm in a re-signed payload (no quote) */
  char *forged = t_tamper(ev, "trust", json_string("tpm"), NULL);
  p.min_trust = GLOAM_TRUST_NONE;
  ASSERT_EQ_INT(gloam_attest_verify(forged, strlen(forged), &p, &r), GLOAM_EAUTH);
  mem_free(forged);
  mem_free(ev);
  json_decref(post);
  es256_key_free(rk);
  attest_identity_free(id);
  free(dir);
}

/* The JWS checks with the openssl CLI: the documented command. */
/* attest_file_sha256 agrees with sha256sum (on the test binary itself). */
void test_file_sha256(void) {
  uint8_t d[32];
  char err[GLOAM_ERR_LEN], hex[65];
  ASSERT_OK(attest_file_sha256(NULL, d, err));
  codec_hex_encode(d, 32, hex, sizeof hex);
  ASSERT_EQ_INT(t_sh("sha256sum /proc/%d/exe | cut -c1-64 | grep -qx %s", (int)getpid(), hex), 0);
  ASSERT_EQ_INT(attest_file_sha256("/nonexistent/gloam", d, err), GLOAM_EIO);
}

void test_soft_openssl_verifies_jws(void) {
  char *dir = test_tmpdir();
  attest_identity *id = open_soft(dir, "id.pem");
  es256_key *rk = NULL;
  ASSERT_OK(es256_generate(&rk));
  attest_statement_in in = t_input(rk, NULL);
  char *ev = t_make(id, rk, &in);
  json_t *doc = json_loads(ev, 0, NULL);
  const char *jws = json_string_value(json_object_get(doc, "jws"));
  const char *d2 = strrchr(jws, '.');
  char path[600], pem[512];
  snprintf(path, sizeof path, "%s/input", dir);
  ASSERT_OK(t_write(path, jws, (size_t)(d2 - jws)));
  uint8_t rs[64];
  ASSERT_EQ_INT(codec_b64_decode(d2 + 1, strlen(d2 + 1), rs, sizeof rs, CODEC_B64_URL), 64);
  ECDSA_SIG *s = ECDSA_SIG_new();
  ECDSA_SIG_set0(s, BN_bin2bn(rs, 32, NULL), BN_bin2bn(rs + 32, 32, NULL));
  unsigned char *der = NULL;
  int dl = i2d_ECDSA_SIG(s, &der);
  snprintf(path, sizeof path, "%s/sig.der", dir);
  ASSERT_OK(t_write(path, der, (size_t)dl));
  char err[GLOAM_ERR_LEN];
  es256_key *ik = NULL;
  ASSERT_OK(es256_public_parse(attest_identity_jwk(id), strlen(attest_identity_jwk(id)), &ik, err));
  ASSERT_OK(es256_public_pem(ik, pem, sizeof pem));
  snprintf(path, sizeof path, "%s/id.pub", dir);
  ASSERT_OK(t_write(path, pem, strlen(pem)));
  ASSERT_EQ_INT(t_sh("cd %s && openssl dgst -sha256 -verify id.pub -signature sig.der input "
                     ">/dev/null",
                     dir),
                0);
  /* and rejects a flipped byte */
  ASSERT_EQ_INT(t_sh("cd %s && printf x >> input && openssl dgst -sha256 -verify id.pub "
                     "-signature sig.der input >/dev/null 2>&1",
                     dir),
                1);
  OPENSSL_free(der);
  ECDSA_SIG_free(s);
  es256_key_free(ik);
  json_decref(doc);
  mem_free(ev);
  es256_key_free(rk);
  attest_identity_free(id);
  free(dir);
}

static int verify_rc(const char *ev, const gloam_attest_policy *p, const char *want_reason) {
  gloam_attest_result r;
  int rc = gloam_attest_verify(ev, strlen(ev), p, &r);
  if (want_reason && !strstr(r.reason, want_reason))
    test_fail(__FILE__, __LINE__, "reason \"%s\" lacks \"%s\"", r.reason, want_reason);
  if (rc < 0 && rc != GLOAM_EPOLICY) ASSERT_EQ_INT(r.trust, GLOAM_TRUST_NONE);
  return rc;
}

void test_soft_rejects(void) {
  char *dir = test_tmpdir();
  attest_identity *id = open_soft(dir, "id.pem");
  attest_identity *other = open_soft(dir, "other.pem");
  es256_key *rk = NULL, *stranger = NULL;
  ASSERT_OK(es256_generate(&rk));
  ASSERT_OK(es256_generate(&stranger));
  attest_statement_in in = t_input(rk, NULL);
  char *ev = t_make(id, rk, &in);
  gloam_attest_policy p = t_policy(GLOAM_TRUST_SOFTWARE);
  ASSERT_EQ_INT(verify_rc(ev, &p, NULL), 0);

  /* wrong nonce: a replay of an answer to another challenge */
  uint8_t n2[32];
  memcpy(n2, T_NONCE, 32);
  n2[31] ^= 1;
  p.nonce = n2;
  ASSERT_EQ_INT(verify_rc(ev, &p, "nonce"), GLOAM_EREPLAY);
  p.nonce_len = 0;
  ASSERT_EQ_INT(verify_rc(ev, &p, "policy has no valid nonce"), GLOAM_EINVAL);
  p = t_policy(GLOAM_TRUST_SOFTWARE);
  /* old evidence, and evidence from the future */
  p.now_ms = T_NOW_MS + 60000;
  ASSERT_EQ_INT(verify_rc(ev, &p, "old"), GLOAM_ESTALE);
  p.now_ms = T_NOW_MS - 200000;
  ASSERT_EQ_INT(verify_rc(ev, &p, "future"), GLOAM_ESTALE);
  p = t_policy(GLOAM_TRUST_SOFTWARE);
  /* wrong binary hash, unlisted model */
  const char *bins[] = {"sha256:0000000000000000000000000000000000000000000000000000000000000000"};
  p.binaries = bins;
  p.n_binaries = 1;
  ASSERT_EQ_INT(verify_rc(ev, &p, "allow-list"), GLOAM_EPOLICY);
  p = t_policy(GLOAM_TRUST_SOFTWARE);
  p.weights = bins;
  p.n_weights = 1;
  ASSERT_EQ_INT(verify_rc(ev, &p, "weights digest"), GLOAM_EPOLICY);
  p = t_policy(GLOAM_TRUST_SOFTWARE);

  /* bad signature: payload changed after signing */
  char *t = t_tamper(ev, "binary", json_string(bins[0]), NULL);
  ASSERT_EQ_INT(verify_rc(t, &p, "signature does not verify"), GLOAM_EAUTH);
  mem_free(t);
  /* re-signed by a key other than the header's */
  t = t_tamper(ev, "binary", json_string(bins[0]), stranger);
  ASSERT_EQ_INT(verify_rc(t, &p, "signature does not verify"), GLOAM_EAUTH);
  mem_free(t);
  /* validly signed by its header key, but claiming another node's identity */
  t = t_tamper(ev, "identity", json_loads(attest_identity_jwk(other), 0, NULL), id->soft);
  ASSERT_EQ_INT(verify_rc(t, &p, "not signed by its identity key"), GLOAM_EAUTH);
  mem_free(t);
  /* the same payload re-signed by its real key still verifies (the tamper
   * helper itself is sound) */
  t = t_tamper(ev, "node_id", json_string("node-1"), id->soft);
  ASSERT_EQ_INT(verify_rc(t, &p, NULL), 0);
  mem_free(t);
  char *ev3 = t_make(other, rk, &in);
  /* a flipped signature byte */
  size_t l = strlen(ev3);
  char *q = strstr(ev3, "\",\"v\":1}");
  ASSERT_NOT_NULL(q);
  ASSERT_TRUE(l > 30);
  q[-20] = q[-20] == 'A' ? 'B' : 'A';
  ASSERT_EQ_INT(verify_rc(ev3, &p, NULL), GLOAM_EAUTH);
  mem_free(ev3);
  mem_free(ev);
  es256_key_free(rk);
  es256_key_free(stranger);
  attest_identity_free(id);
  attest_identity_free(other);
  free(dir);
}

void test_soft_malformed(void) {
  gloam_attest_policy p = t_policy(GLOAM_TRUST_NONE);
  gloam_attest_result r;
  const char *cases[] = {
      "",
      "{",
      "[]",
      "{\"v\":2,\"jws\":\"a.b.c\"}",
      "{\"v\":1}",
      "{\"v\":1,\"jws\":\"a.b\"}",
      "{\"v\":1,\"jws\":\"a.b.c.d\"}",
      "{\"v\":1,\"jws\":\"!!.b.c\"}",
      "{\"v\":1,\"jws\":\"e30.e30.AAAA\"}",
      "{\"v\":1,\"v\":1,\"jws\":\"a.b.c\"}",
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    int rc = gloam_attest_verify(cases[i], strlen(cases[i]), &p, &r);
    if (rc != GLOAM_EFORMAT) test_fail(__FILE__, __LINE__, "case %zu: %d (%s)", i, rc, r.reason);
    ASSERT_EQ_INT(r.trust, GLOAM_TRUST_NONE);
  }
  static char big[ATTEST_EVIDENCE_MAX + 2];
  memset(big, ' ', sizeof big);
  ASSERT_EQ_INT(gloam_attest_verify(big, sizeof big, &p, &r), GLOAM_ETOOBIG);
  gloam_trust t;
  ASSERT_EQ_INT(gloam_trust_parse("measured", &t), 0);
  ASSERT_EQ_INT(t, GLOAM_TRUST_MEASURED);
  /* one name table for the verifier, the client and the coordinator */
  ASSERT_EQ_INT(gloam_trust_parse("confidential", &t), 0);
  ASSERT_EQ_INT(t, GLOAM_TRUST_CONFIDENTIAL);
  ASSERT_EQ_INT(gloam_trust_parse("Software", &t), GLOAM_EINVAL);
  ASSERT_EQ_STR(gloam_trust_name(GLOAM_TRUST_TPM), "tpm");
  ASSERT_EQ_STR(gloam_trust_name((gloam_trust)9), "?");
}

/* The gloam-attest CLI on a fresh software statement. */
void test_cli_verify(void) {
#ifndef GLOAM_ATTEST_BIN
  TEST_SKIP("gloam-attest not built");
#else
  char *dir = test_tmpdir();
  attest_identity *id = open_soft(dir, "id.pem");
  es256_key *rk = NULL;
  ASSERT_OK(es256_generate(&rk));
  attest_statement_in in = t_input(rk, NULL);
  in.issued_ms = 0; /* now: the CLI checks age against the wall clock */
  char *ev = t_make(id, rk, &in);
  char path[600], hex[65];
  snprintf(path, sizeof path, "%s/ev.json", dir);
  ASSERT_OK(t_write(path, ev, strlen(ev)));
  codec_hex_encode(T_NONCE, 32, hex, sizeof hex);
  ASSERT_EQ_INT(t_sh("%s verify --evidence %s --nonce %s --binary %s > %s/out.json",
                     GLOAM_ATTEST_BIN, path, hex, T_BINARY_HEX, dir),
                0);
  ASSERT_EQ_INT(t_sh("grep -q '\"trust\": \"software\"' %s/out.json", dir), 0);
  hex[0] = hex[0] == '0' ? '1' : '0';
  ASSERT_EQ_INT(
      t_sh("%s verify --evidence %s --nonce %s >/dev/null 2>&1", GLOAM_ATTEST_BIN, path, hex), 1);
  ASSERT_EQ_INT(
      t_sh("%s verify --evidence %s --min-trust tpm >/dev/null 2>&1", GLOAM_ATTEST_BIN, path), 1);
  ASSERT_EQ_INT(t_sh("%s verify >/dev/null 2>&1", GLOAM_ATTEST_BIN), 2);
  mem_free(ev);
  es256_key_free(rk);
  attest_identity_free(id);
  free(dir);
#endif
}

/* Failing each gloam allocation in turn: a clean error, never a crash, a
 * leak (ASan) or a granted level. (OpenSSL and jansson allocate on their
 * own, so this covers gloam's buffers only.) */
void test_verify_alloc_sweep(void) {
  char *dir = test_tmpdir();
  attest_identity *id = open_soft(dir, "id.pem");
  es256_key *rk = NULL;
  ASSERT_OK(es256_generate(&rk));
  attest_statement_in in = t_input(rk, NULL);
  char *ev = t_make(id, rk, &in);
  gloam_attest_policy p = t_policy(GLOAM_TRUST_SOFTWARE);
  gloam_attest_result r;
  int ok_seen = 0;
  for (long n = 0; n < 200 && !ok_seen; n++) {
    mem_fail_after(n);
    int rc = gloam_attest_verify(ev, strlen(ev), &p, &r);
    mem_fail_after(-1);
    if (rc == 0)
      ok_seen = 1;
    else {
      ASSERT_EQ_INT(rc, GLOAM_ENOMEM);
      ASSERT_EQ_INT(r.trust, GLOAM_TRUST_NONE);
    }
  }
  ASSERT_TRUE(ok_seen);
  for (long n = 0; n < 200; n++) {
    char err[GLOAM_ERR_LEN], *e2 = NULL;
    size_t l = 0;
    mem_fail_after(n);
    int rc = attest_evidence_make(id, &in, &e2, &l, err);
    mem_fail_after(-1);
    mem_free(e2);
    if (rc == 0) break;
    ASSERT_CMP_INT(rc, <, 0);
  }
  mem_free(ev);
  es256_key_free(rk);
  attest_identity_free(id);
  free(dir);
}

/* The Secure Enclave identity exists only on macOS: elsewhere opening it is
 * a clear GLOAM_EUNSUPPORTED naming the alternatives, never a silent
 * software key under another name. */
void test_secure_enclave_elsewhere(void) {
#if defined(__APPLE__)
  TEST_SKIP("on macOS the enclave path is live (not exercised by CI)");
#else
  attest_identity *id = (attest_identity *)1;
  char err[GLOAM_ERR_LEN] = "";
  ASSERT_EQ_INT(attest_identity_open_se(&id, "org.gloam.test", err), GLOAM_EUNSUPPORTED);
  ASSERT_TRUE(id == NULL);
  ASSERT_TRUE(strstr(err, "macOS") != NULL);
#endif
}
