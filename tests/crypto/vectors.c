/* SPDX-License-Identifier: Apache-2.0
 *
 * tests/crypto/vectors.c: RFC 9180 test vectors against crypto/hpke.
 *
 * Reads tests/fixtures/vectors/hpke/rfc9180-test-vectors.json (the RFC's
 * final vectors) and, for every suite this code implements, checks
 * DeriveKeyPair (skEm/pkEm, skRm/pkRm), enc, shared_secret, the key schedule
 * (key_schedule_context, secret, key, base_nonce, exporter_secret), every
 * encryption at its sequence number (nonce and ciphertext), and the
 * receiver's open. The export values of RFC 9180 A.1.1.2 are checked too.
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "core/codec.h"
#include "crypto/hpke.h"
#include "crypto_tests.h"
#include "gloam/err.h"
#include "test.h"

typedef struct kv {
  char key[32];
  uint8_t val[256];
  long len;
} kv;

/* Parses "key: hex" lines into kvs; returns the count. */
static int parse_block(const char *text, kv *out, int max) {
  int n = 0;
  const char *p = text;
  while (*p && n < max) {
    const char *eol = strchr(p, '\n');
    size_t line_len = eol ? (size_t)(eol - p) : strlen(p);
    const char *colon = memchr(p, ':', line_len);
    if (colon && (size_t)(colon - p) < sizeof out[n].key) {
      memcpy(out[n].key, p, (size_t)(colon - p));
      out[n].key[colon - p] = 0;
      const char *v = colon + 1;
      size_t vlen = line_len - (size_t)(v - p);
      if (strcmp(out[n].key, "sequence number") == 0 || strstr(out[n].key, "_id") ||
          strcmp(out[n].key, "mode") == 0) {
        out[n].len = strtol(v, NULL, 10); /* decimal fields */
      } else {
        out[n].len = codec_hex_decode(v, vlen, out[n].val, sizeof out[n].val, 1);
      }
      n++;
    }
    p = eol ? eol + 1 : p + line_len;
  }
  return n;
}

static const kv *get(const kv *kvs, int n, const char *key) {
  for (int i = 0; i < n; i++)
    if (strcmp(kvs[i].key, key) == 0) return &kvs[i];
  test_fail(__FILE__, __LINE__, "vector field %s missing", key);
}

#define F(name) get(s, ns, name)
#define EQ(buf, name)                             \
  do {                                            \
    const kv *f_ = F(name);                       \
    ASSERT_CMP_INT(f_->len, >, 0);                \
    ASSERT_EQ_MEM(buf, f_->val, (size_t)f_->len); \
  } while (0)

static int run_suite(const char *setup, const char *encs) {
  kv s[24], e[8];
  int ns = parse_block(setup, s, 24);
  hpke_suite suite = {(uint16_t)F("kem_id")->len, (uint16_t)F("kdf_id")->len,
                      (uint16_t)F("aead_id")->len};
  if (F("mode")->len != 0 || !hpke_suite_ok(suite)) return 0;
  uint16_t kem = suite.kem_id;
  hpke_key *kE = NULL, *kR = NULL;
  uint8_t b[HPKE_MAX_PK], enc[HPKE_MAX_ENC];
  size_t bl = 0, enc_len = 0;
  /* DeriveKeyPair for both key pairs */
  ASSERT_OK(hpke_derive_keypair(kem, F("ikmE")->val, (size_t)F("ikmE")->len, &kE));
  ASSERT_OK(hpke_derive_keypair(kem, F("ikmR")->val, (size_t)F("ikmR")->len, &kR));
  ASSERT_OK(hpke_private_bytes(kem, kE, b));
  EQ(b, "skEm");
  ASSERT_OK(hpke_private_bytes(kem, kR, b));
  EQ(b, "skRm");
  ASSERT_OK(hpke_public_bytes(kem, kE, b, sizeof b, &bl));
  ASSERT_EQ_INT(bl, F("pkEm")->len);
  EQ(b, "pkEm");
  ASSERT_OK(hpke_public_bytes(kem, kR, b, sizeof b, &bl));
  EQ(b, "pkRm");
  /* sender with the vector's ephemeral ikm */
  hpke_ctx sc, rc;
  hpke_trace ts, tr;
  memset(&ts, 0, sizeof ts);
  memset(&tr, 0, sizeof tr);
  const kv *info = F("info");
  ASSERT_OK(hpke_setup_s(&sc, suite, F("pkRm")->val, (size_t)F("pkRm")->len, info->val,
                         (size_t)info->len, F("ikmE")->val, (size_t)F("ikmE")->len, enc, &enc_len,
                         &ts));
  ASSERT_EQ_INT(enc_len, F("enc")->len);
  EQ(enc, "enc");
  EQ(ts.shared_secret, "shared_secret");
  EQ(ts.key_schedule_context, "key_schedule_context");
  EQ(ts.secret, "secret");
  EQ(ts.key, "key");
  EQ(ts.base_nonce, "base_nonce");
  EQ(ts.exporter_secret, "exporter_secret");
  /* receiver from skRm bytes */
  hpke_key *kR2 = NULL;
  ASSERT_OK(hpke_private_from_bytes(kem, F("skRm")->val, (size_t)F("skRm")->len, &kR2));
  ASSERT_OK(hpke_setup_r(&rc, suite, kR2, enc, enc_len, info->val, (size_t)info->len, &tr));
  ASSERT_EQ_MEM(tr.shared_secret, ts.shared_secret, HPKE_NH);
  ASSERT_EQ_MEM(tr.key, ts.key, PRIM_AEAD_MAX_KEY);
  /* every encryption, at its own sequence number */
  const char *p = encs;
  int n_enc = 0;
  while (p && *p) {
    const char *next = strstr(p, "\n\n");
    size_t rec_len = next ? (size_t)(next - p) : strlen(p);
    char *rec = malloc(rec_len + 1);
    ASSERT_NOT_NULL(rec);
    memcpy(rec, p, rec_len);
    rec[rec_len] = 0;
    int ne = parse_block(rec, e, 8);
    free(rec);
    const kv *seq = get(e, ne, "sequence number"), *pt = get(e, ne, "pt"), *aad = get(e, ne, "aad"),
             *nonce = get(e, ne, "nonce"), *ct = get(e, ne, "ct");
    uint8_t got[300], nb[HPKE_NONCE_LEN];
    sc.seq = (uint64_t)seq->len;
    rc.seq = (uint64_t)seq->len;
    hpke_nonce(&sc, nb);
    ASSERT_EQ_MEM(nb, nonce->val, HPKE_NONCE_LEN);
    ASSERT_OK(hpke_seal(&sc, aad->val, (size_t)aad->len, pt->val, (size_t)pt->len, got));
    ASSERT_EQ_INT(pt->len + HPKE_TAG_LEN, ct->len);
    ASSERT_EQ_MEM(got, ct->val, (size_t)ct->len);
    ASSERT_OK(hpke_open(&rc, aad->val, (size_t)aad->len, ct->val, (size_t)ct->len, got));
    ASSERT_EQ_MEM(got, pt->val, (size_t)pt->len);
    /* single-shot OpenBase opens exactly the sequence-0 encryption */
    if (seq->len == 0) {
      ASSERT_OK(hpke_open_base(suite, kR2, enc, enc_len, info->val, (size_t)info->len, aad->val,
                               (size_t)aad->len, ct->val, (size_t)ct->len, got));
      ASSERT_EQ_MEM(got, pt->val, (size_t)pt->len);
      uint8_t enc2[HPKE_MAX_ENC], ct2[300];
      size_t enc2_len = 0;
      ASSERT_OK(hpke_seal_base(suite, F("pkRm")->val, (size_t)F("pkRm")->len, info->val,
                               (size_t)info->len, aad->val, (size_t)aad->len, pt->val,
                               (size_t)pt->len, enc2, &enc2_len, ct2));
      ASSERT_OK(hpke_open_base(suite, kR2, enc2, enc2_len, info->val, (size_t)info->len, aad->val,
                               (size_t)aad->len, ct2, (size_t)ct->len, got));
      ASSERT_EQ_MEM(got, pt->val, (size_t)pt->len);
      ASSERT_EQ_INT(hpke_open_base(suite, kR2, enc2, enc2_len, info->val, (size_t)info->len - 1,
                                   aad->val, (size_t)aad->len, ct2, (size_t)ct->len, got),
                    GLOAM_EAUTH);
    }
    /* a wrong sequence number does not open */
    rc.seq = (uint64_t)seq->len + 1;
    ASSERT_EQ_INT(hpke_open(&rc, aad->val, (size_t)aad->len, ct->val, (size_t)ct->len, got),
                  GLOAM_EAUTH);
    n_enc++;
    p = next ? next + 2 : NULL;
  }
  ASSERT_CMP_INT(n_enc, >=, 1);
  hpke_ctx_deinit(&sc);
  hpke_ctx_deinit(&rc);
  hpke_key_free(kE);
  hpke_key_free(kR);
  hpke_key_free(kR2);
  return n_enc;
}

void test_rfc9180_vectors(void) {
  char *path = test_fixture_path("vectors/hpke/rfc9180-test-vectors.json");
  json_error_t jerr;
  json_t *root = json_load_file(path, 0, &jerr);
  free(path);
  if (!root) TEST_SKIP("HPKE vectors missing");
  ASSERT_TRUE(json_is_array(root));
  int n_suites = 0, n_x25519 = 0, n_enc = 0;
  size_t i;
  json_t *v;
  json_array_foreach(root, i, v) {
    const char *setup = json_string_value(json_object_get(v, "Setup"));
    const char *encs = json_string_value(json_object_get(v, "Encryptions"));
    const char *name = json_string_value(json_object_get(v, "Name"));
    ASSERT_NOT_NULL(setup);
    ASSERT_NOT_NULL(encs);
    int n = run_suite(setup, encs);
    if (n > 0) {
      n_suites++;
      n_enc += n;
      if (strstr(name, "X25519")) n_x25519++;
    }
  }
  json_decref(root);
  /* both X25519 suites and both P-256/HKDF-SHA256 suites of the file */
  ASSERT_EQ_INT(n_x25519, 2);
  ASSERT_EQ_INT(n_suites, 4);
  ASSERT_CMP_INT(n_enc, >=, 4 * 6);
}

/* RFC 9180 A.1.1.2: exported values of the X25519/AES-128-GCM vector. */
void test_rfc9180_exports(void) {
  static const char *skR = "4612c550263fc8ad58375df3f557aac531d26850903e55a9f23f21d8534e8ac8";
  static const char *encx = "37fda3567bdbd628e88668c3c8d7e97d1d1253b6d4ea6d44c150f741f1bf4431";
  static const char *info = "4f6465206f6e2061204772656369616e2055726e";
  static const struct {
    const char *ctx, *val;
  } exp[] = {
      {"", "3853fe2b4035195a573ffc53856e77058e15d9ea064de3e59f4961d0095250ee"},
      {"00", "2e8f0b54673c7029649d4eb9d5e33bf1872cf76d623ff164ac185da9e88c21a5"},
      {"54657374436f6e74657874",
       "e9e43065102c3836401bed8c3c3c75ae46be1639869391d62c61f1ec7af54931"},
  };
  uint8_t sk[32], enc[32], inf[32], c[32], want[32], got[32];
  ASSERT_EQ_INT(codec_hex_decode(skR, strlen(skR), sk, sizeof sk, 0), 32);
  ASSERT_EQ_INT(codec_hex_decode(encx, strlen(encx), enc, sizeof enc, 0), 32);
  long il = codec_hex_decode(info, strlen(info), inf, sizeof inf, 0);
  hpke_key *k = NULL;
  hpke_ctx r;
  ASSERT_OK(hpke_private_from_bytes(HPKE_KEM_X25519, sk, 32, &k));
  hpke_suite suite = {HPKE_KEM_X25519, HPKE_KDF_SHA256, HPKE_AEAD_AES128GCM};
  ASSERT_OK(hpke_setup_r(&r, suite, k, enc, 32, inf, (size_t)il, NULL));
  for (size_t i = 0; i < sizeof exp / sizeof exp[0]; i++) {
    long cl = codec_hex_decode(exp[i].ctx, strlen(exp[i].ctx), c, sizeof c, 0);
    ASSERT_EQ_INT(codec_hex_decode(exp[i].val, 64, want, sizeof want, 0), 32);
    ASSERT_OK(hpke_export(&r, c, (size_t)cl, got, 32));
    ASSERT_EQ_MEM(got, want, 32);
  }
  hpke_ctx_deinit(&r);
  hpke_key_free(k);
}
