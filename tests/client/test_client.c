/* SPDX-License-Identifier: Apache-2.0
 *
 * tests/client/test_client.c: libgloam (src/client).
 *
 * - Evidence: an independent encoder here builds attestation statements in
 *   the format of docs/node.md (ES256 compact JWS, JWK in the header) with
 *   OpenSSL keys, and the verifier must accept the honest one and reject
 *   each defect: bad signature, foreign identity, wrong nonce, too old,
 *   from the future, wrong binary, trust below the minimum, other HPKE or
 *   receipt key, other node id, model not bound, garbage.
 * - Config precedence: flags > environment > file > defaults, and the file
 *   rules (unknown keys, an API key in a world-readable file).
 * - The SSE parser against the WHATWG rules, fed in every split.
 * - A fake coordinator (evhttp on its own thread) that opens the sealed
 *   envelope with the real node-side crypto and answers with real frames
 *   and receipts, honest or tampered: the client must deliver the honest
 *   stream with a verified receipt and refuse a flipped byte, a truncated
 *   stream, a receipt under another key, and nodes below the policy; the
 *   coordinator must never see the prompt. The proxy is driven by an
 *   independent raw-socket HTTP client (tests/http/rawhttp.c).
 */
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/thread.h>
#include <arpa/inet.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "client/client_impl.h"
#include "client/config.h"
#include "client/proxy.h"
#include "client/sse.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/codec.h"
#include "core/log.h"
#include "core/time.h"
#include "crypto/es256.h"
#include "gloam/client.h"
#include "gloam/receipt.h"
#include "gloam/seal.h"
#include "rawhttp.h"
#include "test.h"

#define WD "sha256:1111111111111111111111111111111111111111111111111111111111111111"
#define BIN_OK "sha256:2222222222222222222222222222222222222222222222222222222222222222"
#define BIN_OTHER "sha256:3333333333333333333333333333333333333333333333333333333333333333"
#define CANARY "canary-7f3a9c-do-not-log"
#define NONCE "bm9uY2Utbm9uY2Utbm9uY2U"       /* "nonce-nonce-nonce": 17 bytes */
#define OTHER_NONCE "b3RoZXItb3RoZXItb3RoZXI" /* "other-other-other" */

/* ---- an independent evidence encoder -------------------------------------- */

typedef struct ev_spec {
  es256_key *signer;   /* signs the JWS */
  es256_key *header;   /* jwk in the protected header */
  es256_key *identity; /* "identity" in the payload */
  const char *node_id, *nonce, *trust, *binary, *model;
  const uint8_t *hpke_pk;
  es256_key *receipt;
  int64_t issued_ms;
} ev_spec;

static json_t *jwk_of(es256_key *k) {
  char t[256];
  ASSERT_OK(es256_public_jwk(k, t, sizeof t));
  return json_loads(t, 0, NULL);
}

static void b64_append(buf *b, const void *p, size_t n) {
  char *t = malloc(codec_b64_len(n, CODEC_B64_URL) + 1);
  ASSERT_NOT_NULL(t);
  ASSERT_TRUE(codec_b64_encode(p, n, t, codec_b64_len(n, CODEC_B64_URL) + 1, CODEC_B64_URL) >= 0);
  ASSERT_OK(buf_append_str(b, t));
  free(t);
}

static char *make_evidence(const ev_spec *s) {
  char pk[64];
  codec_b64_encode(s->hpke_pk, 32, pk, sizeof pk, CODEC_B64_URL);
  json_t *pl = json_pack(
      "{s:s,s:i,s:s,s:s,s:s?,s:I,s:o,s:{s:{s:i,s:s},s:o},s:s,s:[{s:s,s:s}],s:{}}", "type",
      "gloam-attestation", "version", 1, "trust", s->trust, "node_id", s->node_id, "nonce",
      s->nonce, "issued_ms", (json_int_t)s->issued_ms, "identity", jwk_of(s->identity), "keys",
      "hpke", "kem_id", 32, "public_key", pk, "receipt", jwk_of(s->receipt), "binary", s->binary,
      "models", "id", s->model, "weights_digest", WD, "posture");
  json_t *hd = json_pack("{s:s,s:s,s:o}", "alg", "ES256", "typ", "gloam-attestation+jws", "jwk",
                         jwk_of(s->header));
  ASSERT_NOT_NULL(pl);
  ASSERT_NOT_NULL(hd);
  char *ps = json_dumps(pl, JSON_COMPACT | JSON_SORT_KEYS);
  char *hs = json_dumps(hd, JSON_COMPACT | JSON_SORT_KEYS);
  buf jws;
  buf_init(&jws, 1 << 20);
  b64_append(&jws, hs, strlen(hs));
  buf_putc(&jws, '.');
  b64_append(&jws, ps, strlen(ps));
  uint8_t sig[ES256_SIG_LEN];
  ASSERT_OK(es256_sign(s->signer, jws.data, jws.len, sig));
  buf_putc(&jws, '.');
  b64_append(&jws, sig, sizeof sig);
  json_t *doc = json_pack("{s:s,s:i}", "jws", buf_cstr(&jws), "v", 1);
  char *out = json_dumps(doc, JSON_COMPACT);
  json_decref(doc);
  buf_deinit(&jws);
  free(ps);
  free(hs);
  json_decref(pl);
  json_decref(hd);
  return out;
}

typedef struct keys {
  es256_key *id, *other, *receipt;
  uint8_t pk[32];
  char rjwk[256];
} keys;

static void keys_new(keys *k) {
  ASSERT_OK(es256_generate(&k->id));
  ASSERT_OK(es256_generate(&k->other));
  ASSERT_OK(es256_generate(&k->receipt));
  for (int i = 0; i < 32; i++) k->pk[i] = (uint8_t)(i * 7 + 1);
  ASSERT_OK(es256_public_jwk(k->receipt, k->rjwk, sizeof k->rjwk));
}

static void keys_free(keys *k) {
  es256_key_free(k->id);
  es256_key_free(k->other);
  es256_key_free(k->receipt);
}

static ev_spec honest(keys *k, int64_t now) {
  ev_spec s = {.signer = k->id,
               .header = k->id,
               .identity = k->id,
               .node_id = "n-1",
               .nonce = NONCE,
               .trust = "software",
               .binary = BIN_OK,
               .model = "m1",
               .hpke_pk = k->pk,
               .receipt = k->receipt,
               .issued_ms = now - 1000};
  return s;
}

/* Verifies s's evidence under p (as node n-1, model m1, keys k). */
static int check(keys *k, const ev_spec *s, const gloam_policy *p, int64_t now,
                 gloam_node_info *o) {
  char *ev = make_evidence(s);
  int rc = gloam_evidence_verify(ev, strlen(ev), "n-1", k->pk, 32, k->rjwk, "m1", p, now, o);
  free(ev);
  return rc;
}

static void test_evidence_matrix(void) {
  keys k;
  keys_new(&k);
  int64_t now = 1800000000000;
  const char *allowed[] = {BIN_OK};
  gloam_policy p = {.min_trust = GLOAM_TRUST_SOFTWARE,
                    .allowed_binaries = allowed,
                    .n_allowed_binaries = 1,
                    .max_age_s = 3600,
                    .expected_nonce = NONCE};
  gloam_node_info o;
  ev_spec s = honest(&k, now);
  ASSERT_EQ_INT(check(&k, &s, &p, now, &o), 0);
  ASSERT_EQ_INT(o.accepted, 1);
  ASSERT_EQ_INT(o.verified, GLOAM_TRUST_SOFTWARE);
  ASSERT_EQ_STR(o.weights_digest, WD);
  ASSERT_EQ_STR(o.binary_digest, BIN_OK);
  ASSERT_EQ_MEM(o.hpke_pk, k.pk, 32);
  char thumb[ES256_THUMB_LEN + 1];
  es256_thumbprint(k.id, thumb);
  ASSERT_EQ_STR(o.identity_thumbprint, thumb);

  /* bad signature: signed by another key than the header's */
  s = honest(&k, now);
  s.signer = k.other;
  ASSERT_EQ_INT(check(&k, &s, &p, now, &o), GLOAM_EAUTH);
  ASSERT_EQ_INT(o.accepted, 0);
  ASSERT_EQ_INT(o.verified, GLOAM_TRUST_NONE);
  /* header key and payload identity differ */
  s = honest(&k, now);
  s.signer = s.header = k.other;
  ASSERT_EQ_INT(check(&k, &s, &p, now, &o), GLOAM_EAUTH);
  /* wrong nonce, no nonce */
  s = honest(&k, now);
  s.nonce = OTHER_NONCE;
  ASSERT_EQ_INT(check(&k, &s, &p, now, &o), GLOAM_EREPLAY);
  s.nonce = NULL;
  ASSERT_EQ_INT(check(&k, &s, &p, now, &o), GLOAM_EFORMAT);
  /* too old, at the edge, from the future */
  s = honest(&k, now);
  s.issued_ms = now - 3600 * 1000 - 1;
  ASSERT_EQ_INT(check(&k, &s, &p, now, &o), GLOAM_ESTALE);
  s.issued_ms = now - 3600 * 1000;
  ASSERT_EQ_INT(check(&k, &s, &p, now, &o), 0);
  s.issued_ms = now + 10 * 60 * 1000;
  ASSERT_EQ_INT(check(&k, &s, &p, now, &o), GLOAM_ESTALE);
  /* binary not allowed; allowed when the list is empty */
  s = honest(&k, now);
  s.binary = BIN_OTHER;
  ASSERT_EQ_INT(check(&k, &s, &p, now, &o), GLOAM_EPOLICY);
  gloam_policy any = p;
  any.n_allowed_binaries = 0;
  ASSERT_EQ_INT(check(&k, &s, &any, now, &o), 0);
  /* trust: a software statement re-labelled "tpm" is rejected (no quote
   * to show for it, and nothing to fall back on) */
  s = honest(&k, now);
  s.trust = "tpm";
  ASSERT_EQ_INT(check(&k, &s, &p, now, &o), GLOAM_EFORMAT);
  ASSERT_EQ_INT(o.claimed, GLOAM_TRUST_TPM);
  ASSERT_EQ_INT(o.verified, GLOAM_TRUST_NONE);
  ASSERT_EQ_INT(o.accepted, 0);
  /* an honest software statement is below a tpm minimum */
  s = honest(&k, now);
  gloam_policy tpm = p;
  tpm.min_trust = GLOAM_TRUST_TPM;
  ASSERT_EQ_INT(check(&k, &s, &tpm, now, &o), GLOAM_EPOLICY);
  ASSERT_TRUE(strstr(o.reason, "below the minimum") != NULL);
  s.trust = "none";
  ASSERT_EQ_INT(check(&k, &s, &p, now, &o), GLOAM_EFORMAT);
  s.trust = "platinum";
  ASSERT_EQ_INT(check(&k, &s, &p, now, &o), GLOAM_EFORMAT);
  /* bindings: other HPKE key, other receipt key, other node, model */
  s = honest(&k, now);
  uint8_t pk2[32];
  memcpy(pk2, k.pk, 32);
  pk2[31] ^= 1;
  s.hpke_pk = pk2;
  ASSERT_EQ_INT(check(&k, &s, &p, now, &o), GLOAM_EAUTH);
  s = honest(&k, now);
  s.receipt = k.other;
  ASSERT_EQ_INT(check(&k, &s, &p, now, &o), GLOAM_EAUTH);
  s = honest(&k, now);
  s.node_id = "n-2";
  ASSERT_EQ_INT(check(&k, &s, &p, now, &o), GLOAM_EAUTH);
  s = honest(&k, now);
  s.model = "m2";
  ASSERT_EQ_INT(check(&k, &s, &p, now, &o), GLOAM_ENOENT);
  /* garbage */
  ASSERT_EQ_INT(gloam_evidence_verify("ZXZpZGVuY2U", 11, "n-1", NULL, 0, NULL, NULL, &p, now, &o),
                GLOAM_EFORMAT);
  ASSERT_EQ_INT(gloam_evidence_verify("!!", 2, "n-1", NULL, 0, NULL, NULL, &p, now, &o),
                GLOAM_EFORMAT);
  ASSERT_EQ_INT(gloam_evidence_verify(NULL, 0, "n-1", NULL, 0, NULL, NULL, &p, now, &o),
                GLOAM_EFORMAT);
  /* every single-character change of the JWS text is rejected */
  s = honest(&k, now);
  char *ev = make_evidence(&s);
  json_t *doc = json_loads(ev, 0, NULL);
  char *jws = strdup(json_string_value(json_object_get(doc, "jws")));
  size_t n = strlen(jws);
  for (size_t i = 0; i < n; i += 7) {
    char save = jws[i];
    jws[i] = jws[i] == 'A' ? 'B' : jws[i] == '.' ? 'A' : 'A';
    json_object_set_new(doc, "jws", json_string(jws));
    char *re = json_dumps(doc, JSON_COMPACT);
    ASSERT_TRUE(gloam_evidence_verify(re, strlen(re), "n-1", k.pk, 32, k.rjwk, "m1", &p, now, &o) <
                0);
    free(re);
    jws[i] = save;
  }
  json_decref(doc);
  free(jws);
  free(ev);
  keys_free(&k);
}

/* A /v1/nodes body with one node per (evidence, evidence_nonce, draining). */
static char *listing(keys *k, const char *const ev[], const char *const nonce[], const int drain[],
                     int n) {
  json_t *data = json_array();
  char pk[64];
  codec_b64_encode(k->pk, 32, pk, sizeof pk, CODEC_B64_URL);
  for (int i = 0; i < n; i++) {
    json_t *o =
        json_pack("{s:s,s:[{s:s,s:s}],s:{s:{s:i,s:s},s:{s:o}},s:i,s:i,s:b,s:s}", "id", "n-1",
                  "models", "id", "m1", "weights_digest", WD, "keys", "hpke", "kem_id", 32,
                  "public_key", pk, "receipt", "jwk", json_loads(k->rjwk, 0, NULL), "max_slots", 2,
                  "free_slots", 2 - i, "draining", drain[i], "evidence", ev[i]);
    if (nonce[i]) json_object_set_new(o, "evidence_nonce", json_string(nonce[i]));
    json_array_append_new(data, o);
  }
  json_t *l = json_pack("{s:o}", "data", data);
  char *t = json_dumps(l, JSON_COMPACT);
  json_decref(l);
  return t;
}

static void test_node_listing(void) {
  keys k;
  keys_new(&k);
  int64_t now = time_wall_ms();
  ev_spec s = honest(&k, now);
  char *good = make_evidence(&s);
  const char *ev[] = {good, good, good, "ZXZpZGVuY2U"};
  const char *nonce[] = {NULL, NONCE, OTHER_NONCE, NULL};
  const int drain[] = {0, 0, 0, 0};
  char *body = listing(&k, ev, nonce, drain, 4);
  gloam_policy p = {.min_trust = GLOAM_TRUST_SOFTWARE, .max_age_s = 3600};
  gloam_node_info *v;
  size_t n;
  char err[GLOAM_ERR_LEN];
  ASSERT_OK(client_parse_nodes(body, strlen(body), "m1", &p, now, &v, &n, err));
  ASSERT_EQ_UINT(n, 4);
  ASSERT_EQ_INT(v[0].accepted, 1);           /* no published nonce: not checked */
  ASSERT_EQ_INT(v[1].accepted, 1);           /* the published nonce is the statement's */
  ASSERT_EQ_INT(v[2].status, GLOAM_EREPLAY); /* another nonce */
  ASSERT_EQ_INT(v[3].status, GLOAM_EFORMAT); /* no statement at all */
  ASSERT_EQ_INT(v[3].accepted, 0);
  client_rank_nodes(v, n);
  ASSERT_EQ_INT(v[0].accepted && v[1].accepted && !v[2].accepted && !v[3].accepted, 1);
  ASSERT_EQ_INT(v[0].free_slots, 2); /* more free slots first */
  free(v);
  /* level none accepts the unverifiable node, and says so */
  p.min_trust = GLOAM_TRUST_NONE;
  ASSERT_OK(client_parse_nodes(body, strlen(body), "m1", &p, now, &v, &n, err));
  ASSERT_EQ_INT(v[3].accepted, 1);
  ASSERT_EQ_INT(v[3].verified, GLOAM_TRUST_NONE);
  ASSERT_TRUE(strstr(v[3].reason, "nothing verified") != NULL);
  ASSERT_EQ_STR(v[3].weights_digest, WD);
  ASSERT_EQ_INT(v[2].accepted, 0); /* a failed nonce is never waved through */
  client_rank_nodes(v, n);
  ASSERT_EQ_INT(v[0].verified, GLOAM_TRUST_SOFTWARE); /* verified nodes rank first */
  free(v);
  free(body);
  /* draining nodes are not used; malformed listings are errors */
  const int drain1[] = {1};
  body = listing(&k, ev, nonce, drain1, 1);
  ASSERT_OK(client_parse_nodes(body, strlen(body), "m1", &p, now, &v, &n, err));
  ASSERT_EQ_INT(v[0].accepted, 0);
  free(v);
  free(body);
  ASSERT_EQ_INT(client_parse_nodes("{\"data\":{}}", 11, "m1", &p, now, &v, &n, err), GLOAM_EPROTO);
  ASSERT_EQ_INT(client_parse_nodes("[", 1, "m1", &p, now, &v, &n, err), GLOAM_EPROTO);
  free(good);
  keys_free(&k);
}

static void test_trust_names(void) {
  gloam_trust t;
  ASSERT_OK(gloam_trust_parse("measured", &t));
  ASSERT_EQ_INT(t, GLOAM_TRUST_MEASURED);
  ASSERT_EQ_INT(gloam_trust_parse("Software", &t), GLOAM_EINVAL);
  ASSERT_EQ_STR(gloam_trust_name(GLOAM_TRUST_CONFIDENTIAL), "confidential");
  ASSERT_EQ_STR(gloam_trust_name((gloam_trust)9), "?");
}

/* ---- config precedence ---------------------------------------------------- */

static const char *fake_env_vals[8][2];
static const char *fake_env(const char *name) {
  for (int i = 0; i < 8 && fake_env_vals[i][0]; i++)
    if (strcmp(fake_env_vals[i][0], name) == 0) return fake_env_vals[i][1];
  return NULL;
}

static void write_text(const char *path, const char *text, int mode) {
  FILE *f = fopen(path, "w");
  ASSERT_NOT_NULL(f);
  fputs(text, f);
  fclose(f);
  chmod(path, (mode_t)mode);
}

static void test_config_precedence(void) {
  char *dir = test_tmpdir();
  char path[1024], err[GLOAM_ERR_LEN];
  snprintf(path, sizeof path, "%s/config", dir);
  write_text(path,
             "# gloam\nbase_url = http://file:1\napi_key = gk_file\nmodel = file-model\n"
             "min_trust = tpm\nallowed_binaries = " BIN_OK ", " BIN_OTHER
             "\n"
             "max_evidence_age_s = 60\n",
             0600);
  client_conf flags, out;
  memset(&flags, 0, sizeof flags);
  memset(fake_env_vals, 0, sizeof fake_env_vals);
  /* file only */
  ASSERT_OK(client_conf_resolve(&out, &flags, fake_env, path, err));
  ASSERT_EQ_STR(out.base_url, "http://file:1");
  ASSERT_EQ_STR(out.api_key, "gk_file");
  ASSERT_EQ_STR(out.min_trust, "tpm");
  ASSERT_EQ_UINT(out.n_binaries, 2);
  ASSERT_EQ_STR(out.binaries[1], BIN_OTHER);
  ASSERT_EQ_UINT(out.max_age_s, 60);
  /* env over file */
  fake_env_vals[0][0] = "GLOAM_BASE_URL";
  fake_env_vals[0][1] = "http://env:2";
  fake_env_vals[1][0] = "GLOAM_MODEL";
  fake_env_vals[1][1] = "env-model";
  ASSERT_OK(client_conf_resolve(&out, &flags, fake_env, path, err));
  ASSERT_EQ_STR(out.base_url, "http://env:2");
  ASSERT_EQ_STR(out.model, "env-model");
  ASSERT_EQ_STR(out.api_key, "gk_file");
  /* flags over env */
  snprintf(flags.model, sizeof flags.model, "flag-model");
  snprintf(flags.min_trust, sizeof flags.min_trust, "none");
  ASSERT_OK(client_conf_resolve(&out, &flags, fake_env, path, err));
  ASSERT_EQ_STR(out.model, "flag-model");
  ASSERT_EQ_STR(out.base_url, "http://env:2");
  ASSERT_EQ_STR(out.min_trust, "none");
  /* GLOAM_CONFIG names the file; defaults without any file */
  fake_env_vals[2][0] = "GLOAM_CONFIG";
  fake_env_vals[2][1] = path;
  ASSERT_OK(client_conf_resolve(&out, NULL, fake_env, NULL, err));
  ASSERT_EQ_STR(out.api_key, "gk_file");
  memset(fake_env_vals, 0, sizeof fake_env_vals);
  fake_env_vals[0][0] = "HOME";
  fake_env_vals[0][1] = dir; /* no .config/gloam/config there */
  ASSERT_OK(client_conf_resolve(&out, NULL, fake_env, NULL, err));
  ASSERT_EQ_STR(out.base_url, CLIENT_CONF_DEFAULT_URL);
  ASSERT_EQ_STR(out.api_key, "");
  /* an explicit file must exist */
  char missing[1100];
  snprintf(missing, sizeof missing, "%s/nope", dir);
  ASSERT_EQ_INT(client_conf_resolve(&out, NULL, fake_env, missing, err), GLOAM_ENOENT);
  /* file rules */
  write_text(path, "api_key = gk_x\n", 0644);
  ASSERT_EQ_INT(client_conf_resolve(&out, NULL, fake_env, path, err), GLOAM_EPERM);
  write_text(path, "base_url = http://x\n", 0644);
  ASSERT_OK(client_conf_resolve(&out, NULL, fake_env, path, err));
  write_text(path, "colour = blue\n", 0600);
  ASSERT_EQ_INT(client_conf_resolve(&out, NULL, fake_env, path, err), GLOAM_EFORMAT);
  ASSERT_TRUE(strstr(err, ":1:") != NULL);
  write_text(path, "min_trust = gold\n", 0600);
  ASSERT_EQ_INT(client_conf_resolve(&out, NULL, fake_env, path, err), GLOAM_EFORMAT);
  write_text(path, "allowed_binaries = md5:00\n", 0600);
  ASSERT_EQ_INT(client_conf_resolve(&out, NULL, fake_env, path, err), GLOAM_EFORMAT);
  write_text(path, "model = m\n", 0600);
  fake_env_vals[1][0] = "GLOAM_MIN_TRUST";
  fake_env_vals[1][1] = "gold";
  ASSERT_EQ_INT(client_conf_resolve(&out, NULL, fake_env, path, err), GLOAM_EINVAL);
  /* to gloam_client_config */
  memset(&out, 0, sizeof out);
  snprintf(out.base_url, sizeof out.base_url, "https://coord.example");
  snprintf(out.min_trust, sizeof out.min_trust, "software");
  gloam_client_config cfg;
  const char *bins[GLOAM_CLIENT_MAX_BINARIES];
  ASSERT_OK(client_conf_to_config(&out, &cfg, bins, err));
  ASSERT_EQ_INT(cfg.min_trust, GLOAM_TRUST_SOFTWARE);
  ASSERT_TRUE(cfg.api_key == NULL);
  free(dir);
}

static void test_client_new_validates(void) {
  char err[GLOAM_ERR_LEN];
  gloam_client *c = NULL;
  gloam_client_config cfg = {0};
  ASSERT_EQ_INT(gloam_client_new(&c, &cfg, err), GLOAM_EINVAL);
  cfg.base_url = "ftp://x";
  ASSERT_EQ_INT(gloam_client_new(&c, &cfg, err), GLOAM_EINVAL);
  cfg.base_url = "http://host:99999";
  ASSERT_EQ_INT(gloam_client_new(&c, &cfg, err), GLOAM_EINVAL);
  cfg.base_url = "http://user@host";
  ASSERT_EQ_INT(gloam_client_new(&c, &cfg, err), GLOAM_EINVAL);
  cfg.base_url = "http://[::1]:8080/prefix/";
  cfg.api_key = "gk_a b";
  ASSERT_EQ_INT(gloam_client_new(&c, &cfg, err), GLOAM_EINVAL);
  cfg.api_key = "gk_ok";
  ASSERT_OK(gloam_client_new(&c, &cfg, err));
  gloam_client_free(c);
  cfg.base_url = "https://coord.example";
  ASSERT_OK(gloam_client_new(&c, &cfg, err));
  gloam_client_free(c);
  gloam_client_free(NULL);
}

/* ---- SSE parser ----------------------------------------------------------- */

typedef struct ev_log {
  char text[4096];
} ev_log;

static int log_event_cb(const char *name, const char *data, size_t len, void *ud) {
  ev_log *l = ud;
  size_t n = strlen(l->text);
  snprintf(l->text + n, sizeof l->text - n, "[%s|%.*s]", name, (int)len, data);
  return 0;
}

static void test_sse_parser(void) {
  const char *in =
      ": comment\r\n"
      "data: a\r\n\r\n"
      "event: gloam.receipt\n"
      "data: x.y.z\n\n"
      "data:one\ndata: two\rid: 7\rretry: 9\r\r"
      "event: skipped\n\n"
      "data\n\n"
      "data: [DONE]\n\n"
      "data: tail-without-end";
  const char *want = "[|a][gloam.receipt|x.y.z][|one\ntwo][|][|[DONE]]";
  size_t n = strlen(in);
  for (size_t split = 0; split <= n; split++) {
    csse p;
    ev_log l = {""};
    csse_init(&p, 1024);
    ASSERT_OK(csse_feed(&p, (const uint8_t *)in, split, log_event_cb, &l));
    ASSERT_OK(csse_feed(&p, (const uint8_t *)in + split, n - split, log_event_cb, &l));
    ASSERT_EQ_STR(l.text, want);
    csse_deinit(&p);
  }
  /* byte by byte */
  csse p;
  ev_log l = {""};
  csse_init(&p, 1024);
  for (size_t i = 0; i < n; i++)
    ASSERT_OK(csse_feed(&p, (const uint8_t *)in + i, 1, log_event_cb, &l));
  ASSERT_EQ_STR(l.text, want);
  csse_deinit(&p);
  /* limits */
  csse_init(&p, 8);
  ASSERT_EQ_INT(csse_feed(&p, (const uint8_t *)"data: 0123456789\n\n", 18, log_event_cb, &l),
                GLOAM_ETOOBIG);
  ASSERT_EQ_INT(csse_feed(&p, (const uint8_t *)"\n", 1, log_event_cb, &l), GLOAM_ESTATE);
  csse_deinit(&p);
}

/* Every failed allocation gives a clean GLOAM_ENOMEM (the ASan build checks
 * for leaks), in the evidence verifier, the SSE parser and the config
 * reader. */
static void test_alloc_failure_sweep(void) {
  keys k;
  keys_new(&k);
  int64_t now = 1800000000000;
  ev_spec s = honest(&k, now);
  char *ev = make_evidence(&s);
  gloam_policy p = {.min_trust = GLOAM_TRUST_SOFTWARE, .max_age_s = 3600};
  gloam_node_info o;
  int done = 0;
  for (long n = 0; n < 1000 && !done; n++) {
    mem_fail_after(n);
    int rc = gloam_evidence_verify(ev, strlen(ev), "n-1", k.pk, 32, k.rjwk, "m1", &p, now, &o);
    long attempts = mem_fail_after(-1);
    if (rc == 0)
      done = attempts <= n;
    else
      ASSERT_EQ_INT(rc, GLOAM_ENOMEM);
  }
  ASSERT_TRUE(done);
  const char *in = "event: e\ndata: 0123456789\n\n";
  done = 0;
  for (long n = 0; n < 100 && !done; n++) {
    csse c;
    ev_log l = {""};
    csse_init(&c, 1024);
    mem_fail_after(n);
    int rc = csse_feed(&c, (const uint8_t *)in, strlen(in), log_event_cb, &l);
    long attempts = mem_fail_after(-1);
    csse_deinit(&c);
    if (rc == 0)
      done = attempts <= n;
    else
      ASSERT_EQ_INT(rc, GLOAM_ENOMEM);
  }
  ASSERT_TRUE(done);
  free(ev);
  keys_free(&k);
}

/* ---- a fake coordinator --------------------------------------------------- */

enum fake_mode {
  FM_OK,
  FM_FLIP,
  FM_TRUNCATE,
  FM_BAD_RECEIPT,
  FM_BUSY_FIRST,
  FM_OTHER_WEIGHTS,
  FM_HANG,        /* never answers; counts the client closing the connection */
  FM_HANG_STREAM, /* streams START and one chunk, then hangs the same way */
};

typedef struct fake_node {
  char id[16];
  gloam_seal_node *sn;
  gloam_receipt_signer *rs, *wrong;
  char jwk[256];
  uint8_t pk[32];
  char *evidence;
} fake_node;

typedef struct fakec {
  struct event_base *base;
  struct evhttp *http;
  int port;
  pthread_t th;
  fake_node nodes[2];
  es256_key *idk;
  _Atomic int mode, posts, node_lists, hung_closed;
  struct evhttp_request *hung;
  int hung_streaming;
  pthread_mutex_t mu;
  buf seen; /* every request body the coordinator received */
  gloam_client *pc;
  client_proxy *proxy;
  SSL_CTX *tls; /* when set, the coordinator speaks https */
  int proxy_port;
} fakec;

static const char *answer_parts_stream[3] = {
    "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m1\","
    "\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"Hel\"}}]}\n\n",
    "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m1\","
    "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"lo\"}}]}\n\n",
    "data: [DONE]\n\n"};
static const char *answer_whole =
    "{\"id\":\"c1\",\"object\":\"chat.completion\",\"created\":1,\"model\":\"m1\",\"choices\":[{"
    "\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"Hello\"},\"finish_reason\":"
    "\"stop\"}],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":2,\"total_tokens\":7}}";

static void send_event(struct evbuffer *out, const char *event, const uint8_t *frame, size_t n) {
  char sse[8192];
  size_t sl;
  if (event) evbuffer_add_printf(out, "event: %s\n", event);
  ASSERT_OK(gloam_seal_sse_encode(frame, n, sse, sizeof sse, &sl));
  evbuffer_add(out, sse, sl);
}

/* evhttp does not read a connection while its request is pending, so a
 * closed client is noticed by peeking at the socket. */
static void on_hung_readable(evutil_socket_t fd, short what, void *ud) {
  fakec *f = ud;
  char b;
  if (recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) != 0) return;
  if (f->hung_streaming) evhttp_send_reply_end(f->hung); /* frees it */
  f->hung_streaming = 0;
  f->hung = NULL;
  f->hung_closed++;
}

/* Starts an SSE reply with the START frame and the first chunk, then
 * waits for the client to close. */
static void hang_streaming(fakec *f, struct evhttp_request *req, gloam_seal_responder *r,
                           const char *node) {
  struct evbuffer *out = evbuffer_new();
  uint8_t frame[8192];
  size_t fl;
  ASSERT_OK(gloam_seal_responder_start(r, frame, sizeof frame, &fl));
  send_event(out, NULL, frame, fl);
  const char *part = answer_parts_stream[0];
  ASSERT_OK(gloam_seal_responder_seal(r, (const uint8_t *)part, strlen(part), 0, frame,
                                      sizeof frame, &fl));
  send_event(out, NULL, frame, fl);
  gloam_seal_responder_free(r);
  evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "text/event-stream");
  evhttp_add_header(evhttp_request_get_output_headers(req), "Gloam-Node", node);
  evhttp_send_reply_start(req, 200, "OK");
  evhttp_send_reply_chunk(req, out);
  evbuffer_free(out);
  f->hung = req;
  f->hung_streaming = 1;
  struct bufferevent *bev = evhttp_connection_get_bufferevent(evhttp_request_get_connection(req));
  event_base_once(f->base, bufferevent_getfd(bev), EV_READ, on_hung_readable, f, NULL);
}

static void fake_chat(fakec *f, struct evhttp_request *req) {
  struct evbuffer *in = evhttp_request_get_input_buffer(req);
  size_t len = evbuffer_get_length(in);
  const uint8_t *env = evbuffer_pullup(in, (ev_ssize_t)len);
  const char *ct = evhttp_find_header(evhttp_request_get_input_headers(req), "Content-Type");
  const char *au = evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization");
  pthread_mutex_lock(&f->mu);
  buf_append(&f->seen, env, len);
  pthread_mutex_unlock(&f->mu);
  int post = ++f->posts;
  gloam_seal_header h;
  char err[GLOAM_ERR_LEN];
  if (!ct || strcmp(ct, "application/gloam-sealed") != 0 || !au ||
      strcmp(au, "Bearer gk_test") != 0 || gloam_seal_parse_header(env, len, &h, err) < 0) {
    evhttp_send_reply(req, 400, "Bad", NULL);
    return;
  }
  fake_node *n = strcmp(h.node_id, f->nodes[0].id) == 0 ? &f->nodes[0] : &f->nodes[1];
  int mode = f->mode;
  if (mode == FM_HANG) {
    f->hung = req;
    struct bufferevent *bev = evhttp_connection_get_bufferevent(evhttp_request_get_connection(req));
    event_base_once(f->base, bufferevent_getfd(bev), EV_READ, on_hung_readable, f, NULL);
    return;
  }
  struct evbuffer *out = evbuffer_new();
  if (mode == FM_BUSY_FIRST && post == 1) {
    evbuffer_add_printf(out,
                        "{\"error\":{\"message\":\"busy\",\"type\":\"server_error\","
                        "\"param\":null,\"code\":\"node_unavailable\"}}");
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "application/json");
    evhttp_send_reply(req, 503, "Unavailable", out);
    evbuffer_free(out);
    return;
  }
  uint8_t *body;
  size_t bl;
  gloam_seal_responder *r;
  ASSERT_OK(gloam_seal_node_open(n->sn, env, len, 0, &h, &body, &bl, &r, err));
  if (mode == FM_HANG_STREAM) {
    gloam_seal_free(body, bl);
    hang_streaming(f, req, r, n->id);
    evbuffer_free(out);
    return;
  }
  int stream = memmem(body, bl, "\"stream\":true", 13) != NULL;
  gloam_seal_free(body, bl);
  evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "text/event-stream");
  evhttp_add_header(evhttp_request_get_output_headers(req), "Gloam-Node", n->id);
  uint8_t frame[8192];
  size_t fl;
  ASSERT_OK(gloam_seal_responder_start(r, frame, sizeof frame, &fl));
  send_event(out, NULL, frame, fl);
  const char *parts[3] = {answer_whole, "", ""};
  if (stream) memcpy(parts, answer_parts_stream, sizeof parts);
  int nparts = stream ? 3 : 1;
  for (int i = 0; i < nparts; i++) {
    int final = i == nparts - 1;
    if (mode == FM_TRUNCATE && final) break;
    ASSERT_OK(gloam_seal_responder_seal(r, (const uint8_t *)parts[i], strlen(parts[i]), final,
                                        frame, sizeof frame, &fl));
    if (mode == FM_FLIP && i == nparts - 1) frame[fl / 2] ^= 0x04;
    send_event(out, NULL, frame, fl);
  }
  if (mode != FM_TRUNCATE) {
    gloam_receipt_claims c = {0};
    c.version = GLOAM_RECEIPT_VERSION;
    memcpy(c.node_id, n->id, sizeof n->id); /* 16 < sizeof c.node_id */
    memcpy(c.request_id, h.request_id, sizeof c.request_id);
    gloam_seal_responder_request_hash(r, c.request_sha256);
    gloam_seal_responder_transcript_hash(r, c.transcript_sha256);
    snprintf(c.model, sizeof c.model, "%s", h.model);
    snprintf(c.weights_digest, sizeof c.weights_digest, "%s",
             mode == FM_OTHER_WEIGHTS ? BIN_OTHER : WD);
    c.prompt_tokens = 5;
    c.completion_tokens = 2;
    c.price_micro_usd = 7;
    c.started_ms = c.finished_ms = (uint64_t)time_wall_ms();
    char *jws;
    size_t jl;
    ASSERT_OK(gloam_receipt_sign(mode == FM_BAD_RECEIPT ? n->wrong : n->rs, &c, &jws, &jl, err));
    evbuffer_add_printf(out, "event: gloam.receipt\ndata: %s\n\n", jws);
    gloam_receipt_free_jws(jws);
    evbuffer_add_printf(out, "event: gloam.usage\ndata: {\"charged_micro_usd\":7}\n\n");
  }
  evbuffer_add_printf(out, "data: [DONE]\n\n");
  gloam_seal_responder_free(r);
  evhttp_send_reply(req, 200, "OK", out);
  evbuffer_free(out);
}

static void fake_nodes(fakec *f, struct evhttp_request *req) {
  f->node_lists++;
  json_t *data = json_array();
  for (int i = 0; i < 2; i++) {
    fake_node *n = &f->nodes[i];
    char pk[64];
    codec_b64_encode(n->pk, 32, pk, sizeof pk, CODEC_B64_URL);
    json_array_append_new(
        data, json_pack("{s:s,s:s,s:[{s:s,s:s}],s:{s:{s:i,s:s},s:{s:o}},s:i,s:i,s:s,s:s}", "id",
                        n->id, "trust", "confidential", "models", "id", "m1", "weights_digest", WD,
                        "keys", "hpke", "kem_id", 32, "public_key", pk, "receipt", "jwk",
                        json_loads(n->jwk, 0, NULL), "max_slots", 4, "free_slots", 4 - i,
                        "evidence", n->evidence, "evidence_nonce", NONCE));
  }
  json_t *o = json_pack("{s:s,s:o}", "object", "list", "data", data);
  char *s = json_dumps(o, JSON_COMPACT);
  struct evbuffer *out = evbuffer_new();
  evbuffer_add(out, s, strlen(s));
  evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "application/json");
  evhttp_send_reply(req, 200, "OK", out);
  evbuffer_free(out);
  free(s);
  json_decref(o);
}

static void fake_cb(struct evhttp_request *req, void *ud) {
  fakec *f = ud;
  const char *uri = evhttp_request_get_uri(req);
  if (strncmp(uri, "/v1/nodes", 9) == 0) {
    fake_nodes(f, req);
  } else if (strcmp(uri, "/v1/chat/completions") == 0) {
    fake_chat(f, req);
  } else if (strcmp(uri, "/v1/models") == 0) {
    struct evbuffer *out = evbuffer_new();
    evbuffer_add_printf(out,
                        "{\"object\":\"list\",\"data\":[{\"id\":\"m1\",\"object\":\"model\"}]}");
    evhttp_send_reply(req, 200, "OK", out);
    evbuffer_free(out);
  } else {
    evhttp_send_reply(req, 404, "Not Found", NULL);
  }
}

static void *fake_thread(void *p) {
  fakec *f = p;
  event_base_dispatch(f->base);
  return NULL;
}

static struct bufferevent *tls_bev(struct event_base *base, void *ud) {
  fakec *f = ud;
  return bufferevent_openssl_socket_new(base, -1, SSL_new(f->tls), BUFFEREVENT_SSL_ACCEPTING,
                                        BEV_OPT_CLOSE_ON_FREE);
}

/* A self-signed P-256 certificate for IP 127.0.0.1, written to cert_path;
 * returns a server context using it. */
static SSL_CTX *tls_server(const char *cert_path) {
  EVP_PKEY *k = EVP_EC_gen("P-256");
  X509 *x = X509_new();
  ASSERT_TRUE(k && x);
  ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
  X509_gmtime_adj(X509_getm_notBefore(x), -60);
  X509_gmtime_adj(X509_getm_notAfter(x), 3600);
  X509_set_pubkey(x, k);
  X509_NAME *nm = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(nm, "CN", MBSTRING_ASC, (const unsigned char *)"gloam test", -1, -1,
                             0);
  X509_set_issuer_name(x, nm);
  X509V3_CTX v3;
  X509V3_set_ctx_nodb(&v3);
  X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
  X509_EXTENSION *san = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name, "IP:127.0.0.1");
  X509_EXTENSION *bc = X509V3_EXT_conf_nid(NULL, &v3, NID_basic_constraints, "critical,CA:TRUE");
  ASSERT_TRUE(san && bc);
  X509_add_ext(x, san, -1);
  X509_add_ext(x, bc, -1);
  X509_EXTENSION_free(san);
  X509_EXTENSION_free(bc);
  ASSERT_TRUE(X509_sign(x, k, EVP_sha256()) > 0);
  FILE *fp = fopen(cert_path, "w");
  ASSERT_NOT_NULL(fp);
  PEM_write_X509(fp, x);
  fclose(fp);
  SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
  ASSERT_TRUE(SSL_CTX_use_certificate(ctx, x) == 1 && SSL_CTX_use_PrivateKey(ctx, k) == 1);
  X509_free(x);
  EVP_PKEY_free(k);
  return ctx;
}

static void fake_start_tls(fakec *f, gloam_trust proxy_min, SSL_CTX *tls);
static void fake_start(fakec *f, gloam_trust proxy_min) {
  fake_start_tls(f, proxy_min, NULL);
}

static void fake_start_tls(fakec *f, gloam_trust proxy_min, SSL_CTX *tls) {
  memset(f, 0, sizeof *f);
  f->tls = tls;
  pthread_mutex_init(&f->mu, NULL);
  buf_init(&f->seen, 64 << 20);
  char err[GLOAM_ERR_LEN];
  ASSERT_OK(es256_generate(&f->idk));
  for (int i = 0; i < 2; i++) {
    fake_node *n = &f->nodes[i];
    snprintf(n->id, sizeof n->id, "n-%d", i + 1);
    gloam_seal_keypair *kp;
    ASSERT_OK(gloam_seal_keypair_new(&kp, 0));
    size_t pl;
    ASSERT_OK(gloam_seal_keypair_public(kp, n->pk, sizeof n->pk, &pl));
    ASSERT_OK(gloam_seal_node_new(&n->sn, kp, n->id, NULL, err));
    ASSERT_OK(gloam_receipt_signer_new(&n->rs, err));
    ASSERT_OK(gloam_receipt_signer_new(&n->wrong, err));
    ASSERT_OK(gloam_receipt_signer_public_jwk(n->rs, n->jwk, sizeof n->jwk));
    es256_key *rk;
    ASSERT_OK(es256_public_parse(n->jwk, strlen(n->jwk), &rk, err));
    ev_spec s = {.signer = f->idk,
                 .header = f->idk,
                 .identity = f->idk,
                 .node_id = n->id,
                 .nonce = NONCE,
                 .trust = "software",
                 .binary = BIN_OK,
                 .model = "m1",
                 .hpke_pk = n->pk,
                 .receipt = rk,
                 .issued_ms = time_wall_ms() - 5000};
    n->evidence = make_evidence(&s);
    es256_key_free(rk);
  }
  f->base = event_base_new();
  f->http = evhttp_new(f->base);
  struct evhttp_bound_socket *bs = evhttp_bind_socket_with_handle(f->http, "127.0.0.1", 0);
  ASSERT_NOT_NULL(bs);
  struct sockaddr_storage ss;
  socklen_t sl = sizeof ss;
  getsockname(evhttp_bound_socket_get_fd(bs), (struct sockaddr *)&ss, &sl);
  f->port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
  evhttp_set_gencb(f->http, fake_cb, f);
  if (f->tls) evhttp_set_bevcb(f->http, tls_bev, f);
  /* the proxy runs on the same loop, as a client of this coordinator */
  if (!tls) {
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d", f->port);
    gloam_client_config cfg = {.base_url = url, .api_key = "gk_test", .min_trust = proxy_min};
    ASSERT_OK(gloam_client_new(&f->pc, &cfg, err));
    ASSERT_OK(client_proxy_new(&f->proxy, f->base, f->pc, "127.0.0.1:0", &f->proxy_port, err));
  }
  pthread_create(&f->th, NULL, fake_thread, f);
}

static void fake_stop(fakec *f) {
  event_base_loopbreak(f->base);
  pthread_join(f->th, NULL);
  client_proxy_free(f->proxy);
  gloam_client_free(f->pc);
  evhttp_free(f->http);
  event_base_free(f->base);
  for (int i = 0; i < 2; i++) {
    gloam_seal_node_free(f->nodes[i].sn);
    gloam_receipt_signer_free(f->nodes[i].rs);
    gloam_receipt_signer_free(f->nodes[i].wrong);
    free(f->nodes[i].evidence);
  }
  es256_key_free(f->idk);
  if (f->tls) SSL_CTX_free(f->tls);
  buf_deinit(&f->seen);
  pthread_mutex_destroy(&f->mu);
}

static gloam_client *client_for(fakec *f, gloam_trust min) {
  char url[64], err[GLOAM_ERR_LEN];
  snprintf(url, sizeof url, "http://127.0.0.1:%d", f->port);
  const char *bins[] = {BIN_OK};
  gloam_client_config cfg = {.base_url = url,
                             .api_key = "gk_test",
                             .min_trust = min,
                             .allowed_binaries = bins,
                             .n_allowed_binaries = 1,
                             .max_evidence_age_s = 600};
  gloam_client *c;
  ASSERT_OK(gloam_client_new(&c, &cfg, err));
  return c;
}

static int stop_at_first(const char *p, size_t n, void *ud) {
  return 1;
}

static int wait_for(_Atomic int *v, int want, int ms) {
  for (int i = 0; i < ms / 10 && *v < want; i++) {
    struct timespec ts = {0, 10 * 1000 * 1000};
    nanosleep(&ts, NULL);
  }
  return *v >= want ? 0 : -1;
}

/* Reads from fd until `needle` has arrived. */
static int read_until(int fd, const char *needle, int ms) {
  char got[65536];
  size_t n = 0;
  uint64_t end = time_mono_ms() + (uint64_t)ms;
  while (time_mono_ms() < end && n + 1 < sizeof got) {
    struct pollfd pfd = {fd, POLLIN, 0};
    if (poll(&pfd, 1, 50) <= 0) continue;
    ssize_t r = read(fd, got + n, sizeof got - n - 1);
    if (r <= 0) return -1;
    n += (size_t)r;
    got[n] = 0;
    if (strstr(got, needle)) return 0;
  }
  return -1;
}

static int collect(const char *p, size_t n, void *ud) {
  buf_append(ud, p, n);
  return 0;
}

static const char *body_stream =
    "{\"model\":\"m1\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"" CANARY
    "\"}]}";

static int chat(gloam_client *c, const char *body, buf *out, gloam_chat_result *r, char *err) {
  return gloam_client_chat(c, body, strlen(body), NULL, collect, out, r, err);
}

static void test_sealed_chat_against_fake_coordinator(void) {
  fakec f;
  fake_start(&f, GLOAM_TRUST_SOFTWARE);
  gloam_client *c = client_for(&f, GLOAM_TRUST_SOFTWARE);
  char err[GLOAM_ERR_LEN];
  gloam_chat_result r;
  buf out;
  buf_init(&out, 1 << 20);

  /* honest, streaming */
  ASSERT_OK(chat(c, body_stream, &out, &r, err));
  char want[1024];
  snprintf(want, sizeof want, "%s%s%s", answer_parts_stream[0], answer_parts_stream[1],
           answer_parts_stream[2]);
  ASSERT_EQ_STR(buf_cstr(&out), want);
  ASSERT_EQ_INT(r.receipt_ok, 1);
  ASSERT_EQ_STR(r.node_id, "n-1");              /* more free slots */
  ASSERT_EQ_INT(r.trust, GLOAM_TRUST_SOFTWARE); /* not the listing's "confidential" */
  ASSERT_EQ_INT(r.http_status, 200);
  ASSERT_EQ_INT((int)r.charged_micro_usd, 7);
  ASSERT_EQ_UINT(r.claims.completion_tokens, 2);
  uint8_t th[32];
  SHA256((const uint8_t *)want, strlen(want), th);
  ASSERT_EQ_MEM(r.transcript_sha256, th, 32);
  gloam_chat_result_deinit(&r);

  /* nodes listing: both verified at software */
  gloam_node_info *v;
  size_t n;
  ASSERT_OK(gloam_client_nodes(c, "m1", &v, &n, err));
  ASSERT_EQ_UINT(n, 2);
  ASSERT_EQ_INT(v[0].accepted && v[1].accepted, 1);
  ASSERT_EQ_INT(v[0].verified, GLOAM_TRUST_SOFTWARE);
  gloam_node_list_free(v);
  char *models;
  ASSERT_OK(gloam_client_models(c, &models, err));
  ASSERT_TRUE(strstr(models, "\"m1\"") != NULL);
  gloam_client_free_str(models);

  /* a flipped byte in the last chunk: refused, the chunk never delivered */
  f.mode = FM_FLIP;
  buf_reset(&out);
  ASSERT_EQ_INT(chat(c, body_stream, &out, &r, err), GLOAM_EAUTH);
  ASSERT_TRUE(strstr(err, "tampered") != NULL);
  ASSERT_TRUE(strstr(buf_cstr(&out), "[DONE]") == NULL);
  ASSERT_EQ_INT(r.receipt_ok, 0);
  gloam_chat_result_deinit(&r);

  /* truncated: no final chunk, no receipt */
  f.mode = FM_TRUNCATE;
  buf_reset(&out);
  ASSERT_EQ_INT(chat(c, body_stream, &out, &r, err), GLOAM_ESTATE);
  gloam_chat_result_deinit(&r);

  /* a receipt under another key, or naming other weights */
  f.mode = FM_BAD_RECEIPT;
  ASSERT_EQ_INT(chat(c, body_stream, &out, &r, err), GLOAM_EAUTH);
  ASSERT_TRUE(strstr(err, "receipt") != NULL);
  gloam_chat_result_deinit(&r);
  f.mode = FM_OTHER_WEIGHTS;
  ASSERT_EQ_INT(chat(c, body_stream, &out, &r, err), GLOAM_EAUTH);
  gloam_chat_result_deinit(&r);

  /* the first node is busy: the second one answers */
  f.mode = FM_BUSY_FIRST;
  f.posts = 0;
  buf_reset(&out);
  ASSERT_OK(chat(c, body_stream, &out, &r, err));
  ASSERT_EQ_STR(r.node_id, "n-2");
  ASSERT_EQ_INT(r.attempts, 2);
  gloam_chat_result_deinit(&r);

  /* policy: nobody is tpm; nothing is posted */
  f.mode = FM_OK;
  f.posts = 0;
  gloam_chat_opts o = GLOAM_CHAT_OPTS_INIT;
  o.min_trust = GLOAM_TRUST_TPM;
  ASSERT_EQ_INT(gloam_client_chat(c, body_stream, strlen(body_stream), &o, collect, &out, &r, err),
                GLOAM_EPOLICY);
  ASSERT_TRUE(strstr(err, "below the minimum tpm") != NULL);
  ASSERT_EQ_INT(f.posts, 0);
  gloam_chat_result_deinit(&r);
  /* pinning a node */
  o.min_trust = -1;
  o.node_id = "n-2";
  ASSERT_OK(gloam_client_chat(c, body_stream, strlen(body_stream), &o, collect, &out, &r, err));
  ASSERT_EQ_STR(r.node_id, "n-2");
  gloam_chat_result_deinit(&r);

  /* the callback stops the stream */
  ASSERT_EQ_INT(
      gloam_client_chat(c, body_stream, strlen(body_stream), NULL, stop_at_first, NULL, &r, err),
      GLOAM_ECANCELED);
  ASSERT_EQ_INT(r.receipt_ok, 0);
  gloam_chat_result_deinit(&r);

  /* bad requests never leave the machine */
  ASSERT_EQ_INT(chat(c, "{\"messages\":[]}", &out, &r, err), GLOAM_EINVAL);
  gloam_chat_result_deinit(&r);
  ASSERT_EQ_INT(chat(c, "not json", &out, &r, err), GLOAM_EINVAL);
  gloam_chat_result_deinit(&r);

  /* the coordinator only ever saw ciphertext */
  pthread_mutex_lock(&f.mu);
  ASSERT_TRUE(memmem(f.seen.data, f.seen.len, CANARY, strlen(CANARY)) == NULL);
  ASSERT_TRUE(f.seen.len > 0);
  pthread_mutex_unlock(&f.mu);
  buf_deinit(&out);
  gloam_client_free(c);
  fake_stop(&f);
}

static void test_tls(void) {
  char *dir = test_tmpdir();
  char cert[1100], url[64], err[GLOAM_ERR_LEN];
  snprintf(cert, sizeof cert, "%s/cert.pem", dir);
  fakec f;
  fake_start_tls(&f, GLOAM_TRUST_SOFTWARE, tls_server(cert));
  gloam_chat_result r;
  buf out;
  buf_init(&out, 1 << 20);
  /* trusted through ca_file: models and a sealed chat over https */
  snprintf(url, sizeof url, "https://127.0.0.1:%d", f.port);
  gloam_client_config cfg = {
      .base_url = url, .api_key = "gk_test", .ca_file = cert, .min_trust = GLOAM_TRUST_SOFTWARE};
  gloam_client *c;
  ASSERT_OK(gloam_client_new(&c, &cfg, err));
  char *models;
  ASSERT_OK(gloam_client_models(c, &models, err));
  gloam_client_free_str(models);
  ASSERT_OK(chat(c, body_stream, &out, &r, err));
  ASSERT_EQ_INT(r.receipt_ok, 1);
  gloam_chat_result_deinit(&r);
  gloam_client_free(c);
  /* the system store does not know this certificate */
  cfg.ca_file = NULL;
  ASSERT_OK(gloam_client_new(&c, &cfg, err));
  ASSERT_EQ_INT(gloam_client_models(c, &models, err), GLOAM_EIO);
  gloam_client_free(c);
  /* the certificate names 127.0.0.1, not localhost */
  snprintf(url, sizeof url, "https://localhost:%d", f.port);
  cfg.ca_file = cert;
  ASSERT_OK(gloam_client_new(&c, &cfg, err));
  ASSERT_EQ_INT(gloam_client_models(c, &models, err), GLOAM_EIO);
  gloam_client_free(c);
  buf_deinit(&out);
  fake_stop(&f);
  free(dir);
}

typedef struct thread_arg {
  gloam_client *c;
  _Atomic int *ok;
} thread_arg;

static void *chat_thread(void *p) {
  thread_arg *a = p;
  for (int i = 0; i < 5; i++) {
    char err[GLOAM_ERR_LEN];
    gloam_chat_result r;
    buf out;
    buf_init(&out, 1 << 20);
    if (gloam_client_chat(a->c, body_stream, strlen(body_stream), NULL, collect, &out, &r, err) ==
            0 &&
        r.receipt_ok && strstr(buf_cstr(&out), "[DONE]"))
      (*a->ok)++;
    gloam_chat_result_deinit(&r);
    buf_deinit(&out);
  }
  return NULL;
}

/* One client shared by four threads (the handle is immutable). */
static void test_client_shared_by_threads(void) {
  fakec f;
  fake_start(&f, GLOAM_TRUST_SOFTWARE);
  gloam_client *c = client_for(&f, GLOAM_TRUST_SOFTWARE);
  _Atomic int ok = 0;
  thread_arg a = {c, &ok};
  pthread_t th[4];
  for (int i = 0; i < 4; i++) pthread_create(&th[i], NULL, chat_thread, &a);
  for (int i = 0; i < 4; i++) pthread_join(th[i], NULL);
  ASSERT_EQ_INT(ok, 20);
  gloam_client_free(c);
  fake_stop(&f);
}

static void test_unreachable_coordinator(void) {
  char err[GLOAM_ERR_LEN];
  gloam_client_config cfg = {.base_url = "http://127.0.0.1:1", .api_key = "gk_test"};
  gloam_client *c;
  ASSERT_OK(gloam_client_new(&c, &cfg, err));
  gloam_chat_result r;
  ASSERT_EQ_INT(gloam_client_chat(c, body_stream, strlen(body_stream), NULL, NULL, NULL, &r, err),
                GLOAM_EIO);
  gloam_chat_result_deinit(&r);
  char *s;
  ASSERT_EQ_INT(gloam_client_models(c, &s, err), GLOAM_EIO);
  gloam_client_free(c);
}

/* ---- the proxy, through an independent HTTP client ---------------------- */

static void test_proxy(void) {
  fakec f;
  fake_start(&f, GLOAM_TRUST_SOFTWARE);
  raw_resp r;
  char hv[128];
  /* non-streaming */
  const char *body =
      "{\"model\":\"m1\",\"messages\":[{\"role\":\"user\",\"content\":\"" CANARY "\"}]}";
  ASSERT_OK(raw_http(f.proxy_port, "POST", "/v1/chat/completions",
                     "Content-Type: application/json\r\n", body, strlen(body), &r));
  ASSERT_EQ_INT(r.status, 200);
  ASSERT_OK(raw_header(&r, "Gloam-Mode", hv, sizeof hv));
  ASSERT_EQ_STR(hv, "client-sealed");
  ASSERT_OK(raw_header(&r, "Gloam-Trust", hv, sizeof hv));
  ASSERT_EQ_STR(hv, "software");
  ASSERT_OK(raw_header(&r, "Gloam-Node", hv, sizeof hv));
  ASSERT_EQ_STR(hv, "n-1");
  json_t *j = json_loads(r.body, 0, NULL);
  ASSERT_NOT_NULL(j);
  ASSERT_EQ_STR(
      json_string_value(json_object_get(
          json_object_get(json_array_get(json_object_get(j, "choices"), 0), "message"), "content")),
      "Hello");
  json_t *g = json_object_get(j, "gloam");
  ASSERT_TRUE(json_is_true(json_object_get(g, "receipt_verified")));
  ASSERT_EQ_STR(json_string_value(json_object_get(g, "mode")), "client-sealed");
  /* the receipt in the answer verifies with the key beside it, by itself */
  char *jwk = json_dumps(json_object_get(g, "receipt_jwk"), JSON_COMPACT);
  const char *jws = json_string_value(json_object_get(g, "receipt"));
  gloam_receipt_key *k;
  gloam_receipt_claims cl;
  char err[GLOAM_ERR_LEN];
  ASSERT_OK(gloam_receipt_key_parse(jwk, strlen(jwk), &k, err));
  ASSERT_OK(gloam_receipt_verify(k, jws, strlen(jws), &cl, err));
  uint8_t th[32];
  SHA256((const uint8_t *)answer_whole, strlen(answer_whole), th);
  ASSERT_EQ_MEM(cl.transcript_sha256, th, 32);
  gloam_receipt_key_free(k);
  free(jwk);
  json_decref(j);
  raw_free(&r);

  /* streaming: the node's events, then a gloam chunk, then [DONE] */
  ASSERT_OK(raw_http(f.proxy_port, "POST", "/v1/chat/completions",
                     "Content-Type: application/json\r\n", body_stream, strlen(body_stream), &r));
  ASSERT_EQ_INT(r.status, 200);
  ASSERT_OK(raw_header(&r, "Content-Type", hv, sizeof hv));
  ASSERT_TRUE(strncmp(hv, "text/event-stream", 17) == 0);
  ASSERT_TRUE(strstr(r.body, "\"content\":\"Hel\"") != NULL);
  const char *gl = strstr(r.body, "\"receipt_verified\":true");
  const char *done = strstr(r.body, "data: [DONE]");
  ASSERT_TRUE(gl && done && gl < done);
  ASSERT_TRUE(strstr(done + 12, "[DONE]") == NULL);
  raw_free(&r);

  /* tampered stream: an error event, no [DONE] */
  f.mode = FM_FLIP;
  ASSERT_OK(raw_http(f.proxy_port, "POST", "/v1/chat/completions", NULL, body_stream,
                     strlen(body_stream), &r));
  ASSERT_TRUE(strstr(r.body, "\"error\"") != NULL);
  ASSERT_TRUE(strstr(r.body, "verification_failed") != NULL);
  ASSERT_TRUE(strstr(r.body, "[DONE]") == NULL);
  raw_free(&r);
  ASSERT_OK(raw_http(f.proxy_port, "POST", "/v1/chat/completions", NULL, body, strlen(body), &r));
  ASSERT_EQ_INT(r.status, 502);
  ASSERT_TRUE(strstr(r.body, "verification_failed") != NULL);
  ASSERT_TRUE(strstr(r.body, "Hello") == NULL);
  raw_free(&r);
  f.mode = FM_OK;

  /* an app that goes away before the answer: the coordinator connection closes */
  f.mode = FM_HANG;
  char req[1024];
  int rl = snprintf(req, sizeof req,
                    "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: "
                    "application/json\r\nContent-Length: %zu\r\n\r\n%s",
                    strlen(body_stream), body_stream);
  int posts0 = f.posts;
  int fd = raw_open(f.proxy_port, req, (size_t)rl);
  ASSERT_TRUE(fd >= 0);
  ASSERT_OK(wait_for(&f.posts, posts0 + 1, 5000));
  close(fd);
  ASSERT_OK(wait_for(&f.hung_closed, 1, 5000));
  /* ... and one that goes away in the middle of a stream */
  f.mode = FM_HANG_STREAM;
  fd = raw_open(f.proxy_port, req, (size_t)rl);
  ASSERT_TRUE(fd >= 0);
  ASSERT_OK(read_until(fd, "\"Hel\"", 5000));
  close(fd);
  ASSERT_OK(wait_for(&f.hung_closed, 2, 5000));
  f.mode = FM_OK;

  /* bad JSON, models, unknown route */
  ASSERT_OK(raw_http(f.proxy_port, "POST", "/v1/chat/completions", NULL, "{", 1, &r));
  ASSERT_EQ_INT(r.status, 400);
  ASSERT_TRUE(strstr(r.body, "\"error\"") != NULL);
  raw_free(&r);
  ASSERT_OK(raw_http(f.proxy_port, "GET", "/v1/models", NULL, NULL, 0, &r));
  ASSERT_EQ_INT(r.status, 200);
  ASSERT_TRUE(strstr(r.body, "\"m1\"") != NULL);
  raw_free(&r);
  int lists = f.node_lists;
  ASSERT_OK(raw_http(f.proxy_port, "GET", "/v1/nodes?model=m1", NULL, NULL, 0, &r));
  ASSERT_EQ_INT(r.status, 200);
  ASSERT_TRUE(strstr(r.body, "\"n-2\"") != NULL);
  ASSERT_EQ_INT(f.node_lists, lists + 1);
  raw_free(&r);
  ASSERT_OK(raw_http(f.proxy_port, "GET", "/v1/balance", NULL, NULL, 0, &r));
  ASSERT_EQ_INT(r.status, 404); /* the fake has no balance: passed through */
  raw_free(&r);
  ASSERT_OK(raw_http(f.proxy_port, "GET", "/v1/nope", NULL, NULL, 0, &r));
  ASSERT_EQ_INT(r.status, 404);
  raw_free(&r);
  pthread_mutex_lock(&f.mu);
  ASSERT_TRUE(memmem(f.seen.data, f.seen.len, CANARY, strlen(CANARY)) == NULL);
  pthread_mutex_unlock(&f.mu);
  fake_stop(&f);

  /* a proxy whose policy nobody meets: an OpenAI error, nothing posted */
  fake_start(&f, GLOAM_TRUST_MEASURED);
  ASSERT_OK(raw_http(f.proxy_port, "POST", "/v1/chat/completions", NULL, body, strlen(body), &r));
  ASSERT_EQ_INT(r.status, 503);
  j = json_loads(r.body, 0, NULL);
  ASSERT_EQ_STR(json_string_value(json_object_get(json_object_get(j, "error"), "code")),
                "no_verified_node");
  json_decref(j);
  raw_free(&r);
  ASSERT_EQ_INT(f.posts, 0);
  fake_stop(&f);
}

int main(int argc, char **argv) {
  evthread_use_pthreads();
  log_configure(LOG_ERROR, LOG_FORMAT_KV);
  static const test_case tests[] = {
      TEST(test_evidence_matrix),
      TEST(test_node_listing),
      TEST(test_trust_names),
      TEST(test_alloc_failure_sweep),
      TEST(test_config_precedence),
      TEST(test_client_new_validates),
      TEST(test_sse_parser),
      TEST(test_sealed_chat_against_fake_coordinator),
      TEST(test_client_shared_by_threads),
      TEST(test_unreachable_coordinator),
      TEST(test_tls),
      TEST(test_proxy),
      {NULL, NULL},
  };
  return test_main(argc, argv, tests);
}
