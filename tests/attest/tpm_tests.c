/* SPDX-License-Identifier: Apache-2.0
 *
 * tests/attest/tpm_tests.c: the TPM path against a real software TPM.
 *
 * The test manufactures a swtpm with tests/attest/swtpm.sh (`swtpm_setup
 * --create-ek-cert`, the EK certificate issued by a local CA: root CA ->
 * intermediate -> EK cert) in a temporary directory, then runs `swtpm
 * socket` on a free local port as its child. Independent checks: `openssl verify`
 * on the EK chain and `tpm2_checkquote` on the quote. Skipped (not failed)
 * when swtpm is not installed.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "attest/tpm.h"
#include "attest_tests.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/codec.h"

static pid_t swtpm_pid;
static char *tpm_dir;
static char tcti[128];
static char *ca_root, *ca_chain;
static size_t ca_root_len, ca_chain_len;

static void stop_swtpm(void) {
  if (swtpm_pid > 0) {
    kill(swtpm_pid, SIGTERM);
    waitpid(swtpm_pid, NULL, 0);
    swtpm_pid = 0;
  }
}

static int port_free(int port) {
  int s = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int ok = s >= 0 && bind(s, (struct sockaddr *)&a, sizeof a) == 0;
  if (s >= 0) close(s);
  return ok;
}

static int connects(int port) {
  int s = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int ok = s >= 0 && connect(s, (struct sockaddr *)&a, sizeof a) == 0;
  if (s >= 0) close(s);
  return ok;
}

/* Manufactures and starts the swtpm once per process. */
static void need_swtpm(void) {
  if (swtpm_pid > 0) return;
  tpm_dir = test_tmpdir();
  const char *d = tpm_dir;
  int rc = t_sh("%s make %s", GLOAM_SWTPM_SH, d);
  if (rc == 77)
    TEST_SKIP("swtpm, swtpm_setup or swtpm_localca not installed (scripts/install-deps)");
  if (rc != 0) test_fail(__FILE__, __LINE__, "swtpm_setup failed (see %s/setup.log)", d);
  char path[600];
  snprintf(path, sizeof path, "%s/ca/swtpm-localca-rootca-cert.pem", d);
  ca_root = test_read_file(path, &ca_root_len);
  snprintf(path, sizeof path, "%s/ca/issuercert.pem", d);
  ca_chain = test_read_file(path, &ca_chain_len);
  ASSERT_NOT_NULL(ca_root);
  ASSERT_NOT_NULL(ca_chain);
  srand((unsigned)time(NULL) ^ (unsigned)getpid());
  for (int tries = 0; tries < 20; tries++) {
    int port = 20000 + rand() % 30000;
    if (!port_free(port) || !port_free(port + 1)) continue;
    pid_t pid = fork();
    if (pid == 0) {
      prctl(PR_SET_PDEATHSIG, SIGTERM); /* never outlive a crashed test */
      char st[700], srv[64], ctl[64];
      snprintf(st, sizeof st, "dir=%s/state", d);
      snprintf(srv, sizeof srv, "type=tcp,port=%d,bindaddr=127.0.0.1", port);
      snprintf(ctl, sizeof ctl, "type=tcp,port=%d,bindaddr=127.0.0.1", port + 1);
      execlp("swtpm", "swtpm", "socket", "--tpmstate", st, "--tpm2", "--server", srv, "--ctrl", ctl,
             "--flags", "not-need-init,startup-clear", (char *)NULL);
      _exit(127);
    }
    ASSERT_TRUE(pid > 0);
    swtpm_pid = pid;
    atexit(stop_swtpm);
    for (int i = 0; i < 200 && !connects(port); i++) {
      int status;
      if (waitpid(pid, &status, WNOHANG) == pid) {
        swtpm_pid = 0;
        break;
      }
      usleep(10000);
    }
    if (swtpm_pid == 0) continue;
    snprintf(tcti, sizeof tcti, "swtpm:host=127.0.0.1,port=%d", port);
    return;
  }
  test_fail(__FILE__, __LINE__, "could not start swtpm on a free port");
}

static attest_identity *open_tpm(void) {
  need_swtpm();
  attest_identity *id = NULL;
  char err[GLOAM_ERR_LEN] = "";
  int rc = attest_identity_open_tpm(&id, tcti, err);
  if (rc < 0) test_fail(__FILE__, __LINE__, "open_tpm: %d %s", rc, err);
  rc = attest_tpm_set_ek_chain(id, ca_chain, ca_chain_len, err);
  if (rc < 0) test_fail(__FILE__, __LINE__, "set_ek_chain: %d %s", rc, err);
  return id;
}

/* Runs credential activation; fills name (hex). */
static void activate(attest_identity *id, char name[72]) {
  char err[GLOAM_ERR_LEN] = "", *info = NULL, *chal = NULL;
  int rc = attest_tpm_ak_info(id, &info, err);
  if (rc < 0) test_fail(__FILE__, __LINE__, "ak_info: %d %s", rc, err);
  uint8_t secret[32], got[64];
  size_t n = 0;
  rc = gloam_attest_make_challenge(info, strlen(info), ca_root, ca_root_len, &chal, secret, name,
                                   err);
  if (rc < 0) test_fail(__FILE__, __LINE__, "make_challenge: %d %s", rc, err);
  rc = attest_tpm_activate(id, chal, strlen(chal), got, sizeof got, &n, err);
  if (rc < 0) test_fail(__FILE__, __LINE__, "activate: %d %s", rc, err);
  ASSERT_OK(gloam_attest_activation_check(secret, got, n));
  gloam_attest_free(info);
  gloam_attest_free(chal);
}

static gloam_attest_policy tpm_policy(const char **aks, gloam_trust min) {
  gloam_attest_policy p = t_policy(min);
  p.ca_pem = ca_root;
  p.ca_pem_len = ca_root_len;
  p.activated_aks = aks;
  p.n_activated_aks = 1;
  return p;
}

static char *make_tpm(attest_identity *id, es256_key *rk, const json_t *post) {
  attest_statement_in in = t_input(rk, post);
  char err[GLOAM_ERR_LEN] = "";
  ASSERT_OK(attest_tpm_measure(id, in.binary_sha256, err));
  return t_make(id, rk, &in);
}

static int vrc(const char *ev, const gloam_attest_policy *p, const char *want) {
  gloam_attest_result r;
  int rc = gloam_attest_verify(ev, strlen(ev), p, &r);
  if (want && !strstr(r.reason, want))
    test_fail(__FILE__, __LINE__, "rc %d reason \"%s\" lacks \"%s\"", rc, r.reason, want);
  return rc;
}

static const char *tpm_str(json_t *doc, const char *k) {
  return json_string_value(json_object_get(json_object_get(doc, "tpm"), k));
}

static void write_b64(const char *dir, const char *file, const char *b64) {
  static uint8_t raw[16384];
  long n = codec_b64_decode(b64, strlen(b64), raw, sizeof raw, CODEC_B64_URL);
  ASSERT_CMP_INT(n, >, 0);
  char path[700];
  snprintf(path, sizeof path, "%s/%s", dir, file);
  ASSERT_OK(t_write(path, raw, (size_t)n));
}

void test_tpm_end_to_end(void) {
  attest_identity *id = open_tpm();
  /* no TPM behind a TCTI: a clean error, not a hang */
  attest_identity *none = NULL;
  char e0[GLOAM_ERR_LEN];
  ASSERT_EQ_INT(attest_identity_open_tpm(&none, "device:/nonexistent/tpm", e0), GLOAM_EIO);
  ASSERT_TRUE(none == NULL);
  ASSERT_EQ_INT(attest_identity_level(id), GLOAM_TRUST_TPM);
  uint8_t sig[ES256_SIG_LEN];
  ASSERT_EQ_INT(attest_identity_sign(id, "x", 1, sig), GLOAM_EUNSUPPORTED);
  char name[72];
  activate(id, name);
  ASSERT_EQ_INT(strlen(name), 68);
  ASSERT_TRUE(strncmp(name, "000b", 4) == 0);
  es256_key *rk = NULL;
  ASSERT_OK(es256_generate(&rk));
  json_t *post =
      json_pack("{s:s,s:s,s:i,s:b,s:s}", "secure_boot", "enabled", "lockdown", "integrity",
                "yama_ptrace_scope", 3, "memfd_secret", 1, "seccomp", "filter");
  char *ev = make_tpm(id, rk, post);
  const char *aks[] = {name};
  gloam_attest_policy p = tpm_policy(aks, GLOAM_TRUST_TPM);
  gloam_attest_result r;
  int rc = gloam_attest_verify(ev, strlen(ev), &p, &r);
  if (rc) test_fail(__FILE__, __LINE__, "verify: %d %s", rc, r.reason);
  ASSERT_EQ_INT(r.trust, GLOAM_TRUST_TPM);
  ASSERT_EQ_STR(r.ak_name, name);
  ASSERT_EQ_STR(r.identity_thumb, attest_identity_thumbprint(id));
  ASSERT_EQ_MEM(r.hpke_pk, T_HPKE_PK, 32);

  /* independent: PCR 23 = SHA256(0^32 || binary), computed by openssl */
  json_t *doc = json_loads(ev, 0, NULL);
  const char *p23 = json_string_value(
      json_object_get(json_object_get(json_object_get(doc, "tpm"), "pcrs"), "23"));
  const char *dir = tpm_dir;
  uint8_t zb[64] = {0};
  char zpath[700];
  ASSERT_EQ_INT(codec_hex_decode(T_BINARY_HEX + 7, 64, zb + 32, 32, 0), 32);
  snprintf(zpath, sizeof zpath, "%s/pcr23.in", dir);
  ASSERT_OK(t_write(zpath, zb, sizeof zb));
  ASSERT_EQ_INT(
      t_sh("cd %s && openssl dgst -sha256 -r pcr23.in | cut -c1-64 | grep -qx %s", dir, p23), 0);
  t_corpus("tpm", ev);
  /* independent: openssl verifies the EK chain to the local root */
  write_b64(dir, "ek.der", tpm_str(doc, "ek_cert"));
  ASSERT_EQ_INT(t_sh("cd %s && openssl x509 -inform DER -in ek.der -out ek.pem && openssl verify "
                     "-CAfile ca/swtpm-localca-rootca-cert.pem -untrusted ca/issuercert.pem "
                     "ek.pem >/dev/null",
                     dir),
                0);
  /* independent: tpm2_checkquote verifies the AK signature and extraData */
  if (t_sh("command -v tpm2_checkquote >/dev/null") == 0) {
    write_b64(dir, "quote.msg", tpm_str(doc, "quote"));
    write_b64(dir, "quote.sig", tpm_str(doc, "signature"));
    char pem[512], hex[65], path[700];
    es256_key *ak = NULL;
    char err[GLOAM_ERR_LEN];
    ASSERT_OK(
        es256_public_parse(attest_identity_jwk(id), strlen(attest_identity_jwk(id)), &ak, err));
    ASSERT_OK(es256_public_pem(ak, pem, sizeof pem));
    es256_key_free(ak);
    snprintf(path, sizeof path, "%s/ak.pem", dir);
    ASSERT_OK(t_write(path, pem, strlen(pem)));
    const char *jws = json_string_value(json_object_get(doc, "jws"));
    uint8_t h[32];
    ASSERT_EQ_INT(EVP_Digest(jws, (size_t)(strrchr(jws, '.') - jws), h, NULL, EVP_sha256(), NULL),
                  1);
    codec_hex_encode(h, 32, hex, sizeof hex);
    ASSERT_EQ_INT(t_sh("cd %s && tpm2_checkquote -u ak.pem -m quote.msg -s quote.sig -g sha256 "
                       "-q %s >checkquote.log 2>&1",
                       dir, hex),
                  0);
    h[0] ^= 1;
    codec_hex_encode(h, 32, hex, sizeof hex);
    ASSERT_NE_INT(t_sh("cd %s && tpm2_checkquote -u ak.pem -m quote.msg -s quote.sig -g sha256 "
                       "-q %s >checkquote.log 2>&1",
                       dir, hex),
                  0);
  }
#ifdef GLOAM_ATTEST_BIN
  /* the CLI on a fresh TPM statement, with the root and the activated AK */
  {
    attest_statement_in now_in = t_input(rk, post);
    now_in.issued_ms = 0;
    char *evn = t_make(id, rk, &now_in), path[700], hex[65];
    snprintf(path, sizeof path, "%s/ev-now.json", dir);
    ASSERT_OK(t_write(path, evn, strlen(evn)));
    codec_hex_encode(T_NONCE, 32, hex, sizeof hex);
    ASSERT_EQ_INT(t_sh("%s verify --evidence %s --nonce %s --min-trust tpm --ca "
                       "%s/ca/swtpm-localca-rootca-cert.pem --ak %s > %s/cli.json",
                       GLOAM_ATTEST_BIN, path, hex, dir, name, dir),
                  0);
    ASSERT_EQ_INT(t_sh("grep -q '\"trust\": \"tpm\"' %s/cli.json", dir), 0);
    ASSERT_EQ_INT(t_sh("%s verify --evidence %s --nonce %s --min-trust tpm --ca "
                       "%s/ca/swtpm-localca-rootca-cert.pem >/dev/null 2>&1",
                       GLOAM_ATTEST_BIN, path, hex, dir),
                  1);
    mem_free(evn);
  }
#endif
  /* measured: only with a Secure Boot PCR 7 golden value from the policy */
  ASSERT_EQ_INT(r.trust, GLOAM_TRUST_TPM);
  const char *p7 =
      json_string_value(json_object_get(json_object_get(json_object_get(doc, "tpm"), "pcrs"), "7"));
  const char *golden[] = {p7};
  p.secure_boot_pcr7 = golden;
  p.n_secure_boot_pcr7 = 1;
  p.min_trust = GLOAM_TRUST_MEASURED;
  rc = gloam_attest_verify(ev, strlen(ev), &p, &r);
  if (rc) test_fail(__FILE__, __LINE__, "verify measured: %d %s", rc, r.reason);
  ASSERT_EQ_INT(r.trust, GLOAM_TRUST_MEASURED);
  /* ... and the posture must say so: Yama 1 keeps it at tpm */
  json_object_set_new(post, "yama_ptrace_scope", json_integer(1));
  char *ev2 = make_tpm(id, rk, post);
  ASSERT_EQ_INT(vrc(ev2, &p, "Yama"), GLOAM_EPOLICY);
  p.min_trust = GLOAM_TRUST_TPM;
  ASSERT_EQ_INT(vrc(ev2, &p, NULL), 0);
  mem_free(ev2);
  json_decref(doc);
  json_decref(post);
  mem_free(ev);
  es256_key_free(rk);
  attest_identity_free(id);
}

void test_tpm_rejects(void) {
  attest_identity *id = open_tpm();
  char name[72], err[GLOAM_ERR_LEN];
  activate(id, name);
  es256_key *rk = NULL;
  ASSERT_OK(es256_generate(&rk));
  char *ev = make_tpm(id, rk, NULL);
  const char *aks[] = {name};
  gloam_attest_policy p = tpm_policy(aks, GLOAM_TRUST_TPM);
  ASSERT_EQ_INT(vrc(ev, &p, NULL), 0);

  /* AK not activated */
  const char *other[] = {"000b0000000000000000000000000000000000000000000000000000000000000000"};
  p.activated_aks = other;
  ASSERT_EQ_INT(vrc(ev, &p, "credential activation"), GLOAM_EAUTH);
  p.n_activated_aks = 0;
  ASSERT_EQ_INT(vrc(ev, &p, "credential activation"), GLOAM_EAUTH);
  p = tpm_policy(aks, GLOAM_TRUST_TPM);
  /* EK chain against the wrong root: the intermediate is no trust anchor */
  p.ca_pem = ca_chain;
  p.ca_pem_len = ca_chain_len;
  ASSERT_EQ_INT(vrc(ev, &p, "EK certificate chain"), GLOAM_EAUTH);
  p.ca_pem = NULL;
  ASSERT_EQ_INT(vrc(ev, &p, "no EK root CA"), GLOAM_EPOLICY);
  p = tpm_policy(aks, GLOAM_TRUST_TPM);
  /* wrong nonce, old evidence */
  uint8_t n2[32];
  memcpy(n2, T_NONCE, 32);
  n2[0] ^= 0x80;
  p.nonce = n2;
  ASSERT_EQ_INT(vrc(ev, &p, "nonce"), GLOAM_EREPLAY);
  p = tpm_policy(aks, GLOAM_TRUST_TPM);
  p.now_ms = T_NOW_MS + 120000;
  ASSERT_EQ_INT(vrc(ev, &p, "old"), GLOAM_ESTALE);
  p = tpm_policy(aks, GLOAM_TRUST_TPM);

  /* wrong binary hash: PCR 23 measured another binary than the claim */
  attest_statement_in in = t_input(rk, NULL);
  uint8_t wrong[32] = {1};
  ASSERT_OK(attest_tpm_measure(id, wrong, err));
  char *evb = t_make(id, rk, &in);
  ASSERT_EQ_INT(vrc(evb, &p, "PCR 23"), GLOAM_EAUTH);
  mem_free(evb);

  /* a PCR value changed after quoting */
  json_t *doc = json_loads(ev, 0, NULL);
  json_t *pcrs = json_object_get(json_object_get(doc, "tpm"), "pcrs");
  json_object_set_new(pcrs, "0",
                      json_string("11111111111111111111111111111111"
                                  "11111111111111111111111111111111"));
  char *s = json_dumps(doc, JSON_COMPACT);
  ASSERT_EQ_INT(vrc(s, &p, "PCR digest"), GLOAM_EAUTH);
  free(s);
  json_decref(doc);

  /* a quote over different PCRs (0-7 only), for the same statement */
  doc = json_loads(ev, 0, NULL);
  const char *jws = json_string_value(json_object_get(doc, "jws"));
  uint8_t extra[32];
  ASSERT_EQ_INT(EVP_Digest(jws, (size_t)(strrchr(jws, '.') - jws), extra, NULL, EVP_sha256(), NULL),
                1);
  attest_quote q;
  attest_quote_init(&q);
  ASSERT_OK(tpm_quote_mask(id, extra, 0xff, &q, err));
  char b1[8192], b2[1024];
  codec_b64_encode(q.attest.data, q.attest.len, b1, sizeof b1, CODEC_B64_URL);
  codec_b64_encode(q.sig.data, q.sig.len, b2, sizeof b2, CODEC_B64_URL);
  json_t *t = json_object_get(doc, "tpm");
  json_object_set_new(t, "quote", json_string(b1));
  json_object_set_new(t, "signature", json_string(b2));
  s = json_dumps(doc, JSON_COMPACT);
  ASSERT_EQ_INT(vrc(s, &p, "quote covers PCRs"), GLOAM_EAUTH);
  free(s);
  attest_quote_deinit(&q);

  /* a genuine quote for another statement (replayed into this one) */
  in.nonce = n2;
  ASSERT_OK(attest_tpm_measure(id, in.binary_sha256, err));
  char *evn = t_make(id, rk, &in);
  json_t *dn = json_loads(evn, 0, NULL);
  json_object_set(doc, "tpm", json_object_get(dn, "tpm"));
  s = json_dumps(doc, JSON_COMPACT);
  ASSERT_EQ_INT(vrc(s, &p, "extraData"), GLOAM_EAUTH);
  free(s);
  /* a bad quote signature */
  json_decref(doc);
  doc = json_loads(ev, 0, NULL);
  t = json_object_get(doc, "tpm");
  char sg[1024];
  snprintf(sg, sizeof sg, "%s", json_string_value(json_object_get(t, "signature")));
  size_t sl = strlen(sg);
  sg[sl - 10] = sg[sl - 10] == 'A' ? 'B' : 'A';
  json_object_set_new(t, "signature", json_string(sg));
  s = json_dumps(doc, JSON_COMPACT);
  ASSERT_EQ_INT(vrc(s, &p, "signature"), GLOAM_EAUTH);
  free(s);
  /* a TPM statement re-signed by another key (payload changed) */
  es256_key *stranger = NULL;
  ASSERT_OK(es256_generate(&stranger));
  char *ts = t_tamper(ev, "binary", json_string(T_WEIGHTS), stranger);
  ASSERT_EQ_INT(vrc(ts, &p, "signature does not verify"), GLOAM_EAUTH);
  mem_free(ts);
  es256_key_free(stranger);
  json_decref(dn);
  mem_free(evn);
  json_decref(doc);
  mem_free(ev);
  es256_key_free(rk);
  attest_identity_free(id);
}

/* The credential is released only to the AK it was made for, and only
 * against an EK chain that verifies. */
void test_tpm_activation_binding(void) {
  attest_identity *id = open_tpm();
  char err[GLOAM_ERR_LEN] = "", *info = NULL, *chal = NULL, name[72];
  ASSERT_OK(attest_tpm_ak_info(id, &info, err));
  uint8_t secret[32], got[64];
  size_t n = 0;
  /* untrusted root: no challenge at all */
  ASSERT_EQ_INT(gloam_attest_make_challenge(info, strlen(info), ca_chain, ca_chain_len, &chal,
                                            secret, name, err),
                GLOAM_EAUTH);
  /* a credential bound to another name fails inside the TPM */
  json_t *o = json_loads(info, 0, NULL);
  buf ak, certs[5];
  buf_init(&ak, 1024);
  for (int i = 0; i < 5; i++) buf_init(&certs[i], 16384);
  size_t nc = 0;
  ASSERT_OK(cred_decode_identity(o, &ak, certs, 5, &nc));
  EVP_PKEY *ek = NULL;
  ASSERT_OK(tpm_ek_chain_check(certs[0].data, certs[0].len, certs + 1, nc - 1, ca_root, ca_root_len,
                               &ek, err));
  uint8_t nm[34];
  es256_key *akk = NULL;
  ASSERT_OK(tpm_ak_parse(ak.data, ak.len, &akk, nm, err));
  nm[33] ^= 1;
  buf blob, sec;
  buf_init(&blob, 1024);
  buf_init(&sec, 1024);
  ASSERT_OK(tpm_make_credential(ek, nm, (const uint8_t *)"0123456789abcdef0123456789abcdef", 32,
                                &blob, &sec, err));
  char b1[512], b2[1024], cj[1700];
  codec_b64_encode(blob.data, blob.len, b1, sizeof b1, CODEC_B64_URL);
  codec_b64_encode(sec.data, sec.len, b2, sizeof b2, CODEC_B64_URL);
  snprintf(cj, sizeof cj, "{\"credential_blob\":\"%s\",\"secret\":\"%s\"}", b1, b2);
  ASSERT_EQ_INT(attest_tpm_activate(id, cj, strlen(cj), got, sizeof got, &n, err), GLOAM_EAUTH);
  /* the right name works, through the same code path */
  nm[33] ^= 1;
  ASSERT_OK(tpm_make_credential(ek, nm, (const uint8_t *)"0123456789abcdef0123456789abcdef", 32,
                                &blob, &sec, err));
  codec_b64_encode(blob.data, blob.len, b1, sizeof b1, CODEC_B64_URL);
  codec_b64_encode(sec.data, sec.len, b2, sizeof b2, CODEC_B64_URL);
  snprintf(cj, sizeof cj, "{\"credential_blob\":\"%s\",\"secret\":\"%s\"}", b1, b2);
  int rc = attest_tpm_activate(id, cj, strlen(cj), got, sizeof got, &n, err);
  if (rc < 0) test_fail(__FILE__, __LINE__, "activate: %d %s", rc, err);
  ASSERT_EQ_UINT(n, 32);
  ASSERT_EQ_MEM(got, "0123456789abcdef0123456789abcdef", 32);
  /* a wrong answer is not accepted */
  got[0] ^= 1;
  ASSERT_EQ_INT(
      gloam_attest_activation_check((const uint8_t *)"0123456789abcdef0123456789abcdef", got, 32),
      GLOAM_EAUTH);
  ASSERT_EQ_INT(attest_tpm_activate(id, "{}", 2, got, sizeof got, &n, err), GLOAM_EFORMAT);
  buf_deinit(&blob);
  buf_deinit(&sec);
  buf_deinit(&ak);
  for (int i = 0; i < 5; i++) buf_deinit(&certs[i]);
  es256_key_free(akk);
  EVP_PKEY_free(ek);
  json_decref(o);
  gloam_attest_free(info);
  attest_identity_free(id);
}
