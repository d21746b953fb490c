/* SPDX-License-Identifier: Apache-2.0
 *
 * tests/attest/test_attest.c: the attest module's test binary: shared
 * helpers and the test list. The software path is in soft_tests.c, the TPM
 * path (against a real swtpm) in tpm_tests.c.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attest_tests.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/codec.h"

const uint8_t T_NONCE[32] = "challenge nonce from verifier 01";
const uint8_t T_HPKE_PK[32] = "x25519 public key of this node..";
/* SHA-256("gloam-node test binary\n"), from `printf 'gloam-node test binary\n' | sha256sum` */
const char T_BINARY_HEX[] =
    "sha256:2fe4441ca057acf9e355ff872cfbd4fbbc1c7262ba703f17747050f2d8bb300b";
const char T_WEIGHTS[] = "sha256:1111111111111111111111111111111111111111111111111111111111111111";

static const attest_model MODELS[1] = {{"qwen3-0.6b", T_WEIGHTS}};

attest_statement_in t_input(es256_key *receipt, const json_t *posture) {
  static uint8_t bin[32];
  codec_hex_decode(T_BINARY_HEX + 7, 64, bin, 32, 0);
  attest_statement_in in = {.node_id = "node-1",
                            .nonce = T_NONCE,
                            .nonce_len = sizeof T_NONCE,
                            .hpke_pk = T_HPKE_PK,
                            .receipt_key = receipt,
                            .binary_sha256 = bin,
                            .models = MODELS,
                            .n_models = 1,
                            .posture = posture,
                            .issued_ms = T_NOW_MS - 1000};
  return in;
}

gloam_attest_policy t_policy(gloam_trust min) {
  gloam_attest_policy p = {.min_trust = min,
                           .nonce = T_NONCE,
                           .nonce_len = sizeof T_NONCE,
                           .now_ms = T_NOW_MS,
                           .max_age_ms = 60000};
  return p;
}

char *t_make(attest_identity *id, es256_key *receipt, const attest_statement_in *in) {
  (void)receipt;
  char err[GLOAM_ERR_LEN] = "", *ev = NULL;
  size_t n = 0;
  int rc = attest_evidence_make(id, in, &ev, &n, err);
  if (rc < 0) test_fail(__FILE__, __LINE__, "attest_evidence_make: %d %s", rc, err);
  ASSERT_EQ_UINT(strlen(ev), n);
  return ev;
}

static void b64_append(buf *b, const void *p, size_t n) {
  char tmp[65536];
  long w = codec_b64_encode(p, n, tmp, sizeof tmp, CODEC_B64_URL);
  ASSERT_CMP_INT(w, >=, 0);
  ASSERT_OK(buf_append(b, tmp, (size_t)w));
}

char *t_tamper(const char *ev, const char *key, json_t *val, es256_key *resign) {
  json_t *doc = json_loads(ev, 0, NULL);
  ASSERT_NOT_NULL(doc);
  const char *jws = json_string_value(json_object_get(doc, "jws"));
  const char *d1 = strchr(jws, '.'), *d2 = strrchr(jws, '.');
  static uint8_t pl[65536];
  long n = codec_b64_decode(d1 + 1, (size_t)(d2 - d1 - 1), pl, sizeof pl, CODEC_B64_URL);
  ASSERT_CMP_INT(n, >, 0);
  json_t *p = json_loadb((const char *)pl, (size_t)n, 0, NULL);
  ASSERT_NOT_NULL(p);
  json_object_set_new(p, key, val);
  char *ps = json_dumps(p, JSON_COMPACT | JSON_SORT_KEYS);
  buf b;
  buf_init(&b, 1 << 20);
  ASSERT_OK(buf_append(&b, jws, (size_t)(d1 - jws + 1)));
  b64_append(&b, ps, strlen(ps));
  if (resign) {
    uint8_t sig[ES256_SIG_LEN];
    ASSERT_OK(es256_sign(resign, b.data, b.len, sig));
    ASSERT_OK(buf_putc(&b, '.'));
    b64_append(&b, sig, sizeof sig);
  } else {
    ASSERT_OK(buf_append_str(&b, d2));
  }
  json_object_set_new(doc, "jws", json_string(buf_cstr(&b)));
  char *ds = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);
  char *out = mem_strdup(ds);
  free(ds);
  free(ps);
  json_decref(p);
  json_decref(doc);
  buf_deinit(&b);
  return out;
}

int t_sh(const char *fmt, ...) {
  char cmd[4096];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(cmd, sizeof cmd, fmt, ap);
  va_end(ap);
  int st = system(cmd);
  return st == -1 ? -1 : (st >> 8) & 0xff;
}

int t_write(const char *path, const void *p, size_t n) {
  FILE *f = fopen(path, "wb");
  if (!f) return -1;
  size_t w = fwrite(p, 1, n, f);
  return fclose(f) == 0 && w == n ? 0 : -1;
}

void t_corpus(const char *name, const char *ev) {
  const char *dir = getenv("GLOAM_ATTEST_CORPUS");
  if (!dir) return;
  char path[512];
  snprintf(path, sizeof path, "%s/%s.json", dir, name);
  ASSERT_OK(t_write(path, ev, strlen(ev)));
}

int main(int argc, char **argv) {
  setenv("TSS2_LOG", "all+none", 0); /* expected TPM errors stay quiet */
  static const test_case tests[] = {
      TEST(test_soft_key_file),
      TEST(test_soft_roundtrip),
      TEST(test_soft_openssl_verifies_jws),
      TEST(test_soft_rejects),
      TEST(test_soft_malformed),
      TEST(test_cli_verify),
      TEST(test_file_sha256),
      TEST(test_secure_enclave_elsewhere),
      TEST(test_verify_alloc_sweep),
      TEST(test_tpm_end_to_end),
      TEST(test_tpm_rejects),
      TEST(test_tpm_activation_binding),
      {0},
  };
  return test_main(argc, argv, tests);
}
