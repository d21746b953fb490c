/* SPDX-License-Identifier: Apache-2.0
 *
 * tests/coord/test_coord.c: the coordinator end to end. A real coordinator
 * (in-process, its own thread and loop, a real SQLite file, a real port)
 * is driven by an independent raw-socket HTTP client and by a
 * protocol-level test node over a real WebSocket (testnode.c), with the
 * real crypto module sealing requests, sealing responses and signing
 * receipts. Checks: status codes and OpenAI error bodies (401, 402, 404,
 * 405, 413, 429, 503), the sealed chat path (the client opens exactly what
 * the node sealed and verifies the receipt), billing by hand-computed
 * prices, lying and failing nodes not being paid, cancellation reaching the
 * node, eviction of a silent node, the ledger invariants after a random
 * workload, a canary prompt absent from the log and the database, and the
 * reservation at admission off the event loop (a write-locked database
 * does not stall other requests; a client that leaves meanwhile is
 * refunded; the slot it was admitted for stays held), client-sealed
 * requests waiting for their busy node (arrival order, queue limits, the
 * client or the node leaving), node identity pins surviving a restart of
 * the coordinator on the same database, and the migration of a database
 * made by the previous schema.
 */
#include <event2/event.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/codec.h"
#include "core/err.h"
#include "core/log.h"
#include "coord/admin.h"
#include "coord/anthropic.h"
#include "coord/chat_req.h"
#include "coord/coord.h"
#include "coord/store.h"
#include "gloam/attest.h"
#include "gloam/client.h"
#include "gloam/receipt.h"
#include "gloam/seal.h"
#include "net/server.h"
#include "net/tls.h"
#include "net/ws.h"
#include "rawhttp.h"
#include "test.h"
#include "testcert.h"
#include "testnode.h"

#define CANARY "CANARY-pq7Zx3-never-log-me"
#define MODEL "test/tiny-1"
#define PRICE_IN 150000  /* micro-USD per million prompt tokens */
#define PRICE_OUT 600000 /* micro-USD per million completion tokens */

/* ---- fixture: a coordinator on its own thread ------------------------------ */

static const char *g_tls_cert, *g_tls_key;  /* set: the next fx_start serves TLS */
static int g_queue_max, g_queue_timeout_ms; /* set: the next fx_start's queue */
static int g_ledger_delay_ms;               /* set: the next fx_start's slow ledger */
static int g_min_trust;                     /* set: the next fx_start's routing minimum */

typedef struct fx {
  char *dir;
  char db[512], log[512];
  int log_fd;
  struct event_base *base;
  coord *c;
  pthread_t th;
  int port;
  int64_t consumer, op;
  char key[80], token[80];
} fx;

static json_t *admin(fx *f, const char *cmd, const char *a1, const char *v1, const char *a2,
                     const char *v2) {
  char *outp = NULL, *errp = NULL;
  size_t outn = 0, errn = 0;
  FILE *out = open_memstream(&outp, &outn), *errf = open_memstream(&errp, &errn);
  char *argv[8] = {"--db",     f->db,      (char *)cmd, (char *)a1,
                   (char *)v1, (char *)a2, (char *)v2,  NULL};
  int argc = 3 + (a1 ? 2 : 0) + (a2 ? 2 : 0);
  int rc = coord_admin_main(argc, argv, out, errf);
  fclose(out);
  fclose(errf);
  json_error_t je;
  json_t *j = rc == 0 ? json_loads(outp, 0, &je) : NULL;
  if (rc != 0) fprintf(stderr, "admin %s failed: %s\n", cmd, errp);
  free(outp);
  free(errp);
  return j;
}

static void *coord_thread(void *p) {
  fx *f = p;
  event_base_dispatch(f->base);
  return NULL;
}

/* A fresh directory for the database and the log (the log goes there). */
static void fx_dir(fx *f) {
  memset(f, 0, sizeof *f);
  f->dir = test_tmpdir();
  snprintf(f->db, sizeof f->db, "%s/coord.db", f->dir);
  snprintf(f->log, sizeof f->log, "%s/coord.log", f->dir);
  f->log_fd = open(f->log, O_WRONLY | O_CREAT | O_APPEND, 0600);
  log_set_fd(f->log_fd);
  log_configure(LOG_DEBUG, LOG_FORMAT_KV);
}

/* Starts a coordinator on f->db (its own thread); fx_close stops it and
 * keeps the database, so a test can start another on it. */
static void fx_open(fx *f, int hb_timeout_ms);
static void fx_close(fx *f);

static void fx_start(fx *f, int64_t credit, int hb_timeout_ms) {
  fx_dir(f);
  char credit_s[32];
  snprintf(credit_s, sizeof credit_s, "%lld", (long long)credit);
  json_t *j = admin(f, "create-consumer", "--name", "alice", "--credit", credit_s);
  ASSERT_NOT_NULL(j);
  f->consumer = json_integer_value(json_object_get(j, "account"));
  snprintf(f->key, sizeof f->key, "%s", json_string_value(json_object_get(j, "api_key")));
  json_decref(j);
  j = admin(f, "create-operator", "--name", "op", NULL, NULL);
  ASSERT_NOT_NULL(j);
  f->op = json_integer_value(json_object_get(j, "account"));
  snprintf(f->token, sizeof f->token, "%s", json_string_value(json_object_get(j, "node_token")));
  json_decref(j);
  char in[32], out[32];
  snprintf(in, sizeof in, "%d", PRICE_IN);
  snprintf(out, sizeof out, "%d", PRICE_OUT);
  char *argv[] = {"--db", f->db, "set-price", "--model", MODEL, "--input", in, "--output", out};
  FILE *dn = fopen("/dev/null", "w");
  ASSERT_EQ_INT(coord_admin_main(9, argv, dn, stderr), 0);
  fclose(dn);
  fx_open(f, hb_timeout_ms);
}

static void fx_open(fx *f, int hb_timeout_ms) {
  coord_config cfg;
  coord_config_default(&cfg);
  cfg.listen = "127.0.0.1:0";
  cfg.db_path = f->db;
  cfg.heartbeat_timeout_ms = hb_timeout_ms;
  cfg.tls_cert = g_tls_cert;
  cfg.tls_key = g_tls_key;
  if (g_queue_max) cfg.queue_max_per_model = g_queue_max;
  if (g_queue_timeout_ms) cfg.queue_timeout_ms = g_queue_timeout_ms;
  cfg.ledger_delay_ms = g_ledger_delay_ms;
  cfg.attest_min_trust = g_min_trust;
  cfg.max_body_bytes = 64 * 1024;
  char err[GLOAM_ERR_LEN];
  f->base = event_base_new();
  ASSERT_OK(coord_new(&f->c, f->base, &cfg, err));
  f->port = coord_port(f->c);
  pthread_create(&f->th, NULL, coord_thread, f);
}

static void fx_close(fx *f) {
  coord_stop(f->c);
  pthread_join(f->th, NULL);
  coord_free(f->c);
  event_base_free(f->base);
  f->c = NULL;
  f->base = NULL;
}

static void fx_stop(fx *f) {
  fx_close(f);
  log_set_fd(2);
  close(f->log_fd);
  free(f->dir);
  f->dir = NULL;
}

static json_t *get_json(fx *f, const char *path, const char *headers, int *status);

/* The node named id as /v1/nodes lists it (new reference), or NULL. */
static json_t *listed_node(fx *f, const char *id) {
  int st;
  json_t *j = get_json(f, "/v1/nodes", NULL, &st), *n, *found = NULL;
  size_t i;
  json_array_foreach(json_object_get(j, "data"), i, n) {
    if (strcmp(json_string_value(json_object_get(n, "id")), id) == 0) found = json_incref(n);
  }
  json_decref(j);
  return found;
}

/* Waits until the coordinator verified the node's evidence (its listing
 * shows a trust level), or until it is gone (want_gone). */
static void wait_listed(fx *f, const char *id, int want_gone) {
  for (int i = 0; i < 300; i++) {
    json_t *n = listed_node(f, id);
    const char *t = json_string_value(json_object_get(n, "trust"));
    int done = want_gone ? !n : t && strcmp(t, "none") != 0;
    json_decref(n);
    if (done) return;
    usleep(10 * 1000);
  }
  test_fail(__FILE__, __LINE__, "node %s not %s in time", id, want_gone ? "gone" : "attested");
}

static void node_start(fx *f, testnode *n, const char *id, int slots, int mode) {
  memset(n, 0, sizeof *n);
  n->port = f->port;
  snprintf(n->token, sizeof n->token, "%s", f->token);
  snprintf(n->node_id, sizeof n->node_id, "%s", id);
  snprintf(n->model, sizeof n->model, "%s", MODEL);
  n->max_slots = slots;
  atomic_store(&n->mode, mode);
  ASSERT_OK(tn_start(n));
  ASSERT_OK(tn_wait(&n->registered, 1, 3000));
  ASSERT_OK(tn_wait(&n->challenges_answered, 1, 3000));
  wait_listed(f, id, 0);
}

static json_t *get_json(fx *f, const char *path, const char *headers, int *status) {
  raw_resp r;
  ASSERT_OK(raw_http(f->port, "GET", path, headers, NULL, 0, &r));
  *status = r.status;
  json_error_t je;
  json_t *j = json_loadb(r.body, r.body_len, 0, &je);
  raw_free(&r);
  return j;
}

/* What a client does with a listing: re-verifies the published evidence
 * against the published nonce with the attest verifier. */
static void check_published(json_t *node, gloam_trust want) {
  const char *ev = json_string_value(json_object_get(node, "evidence"));
  const char *n64 = json_string_value(json_object_get(node, "evidence_nonce"));
  ASSERT_NOT_NULL(ev);
  ASSERT_NOT_NULL(n64);
  ASSERT_EQ_STR(json_string_value(json_object_get(node, "trust")), gloam_trust_name(want));
  uint8_t nonce[64];
  long nl = codec_b64_decode(n64, strlen(n64), nonce, sizeof nonce, CODEC_B64_URL);
  ASSERT_EQ_INT(nl, 32);
  gloam_attest_policy p = {.min_trust = want, .nonce = nonce, .nonce_len = (size_t)nl};
  gloam_attest_result r;
  ASSERT_EQ_INT(gloam_attest_verify(ev, strlen(ev), &p, &r), 0);
  ASSERT_EQ_INT(r.trust, want);
  ASSERT_EQ_STR(r.node_id, json_string_value(json_object_get(node, "id")));
  nonce[0] ^= 1;
  ASSERT_EQ_INT(gloam_attest_verify(ev, strlen(ev), &p, &r), GLOAM_EREPLAY);
}

static const char *err_code(json_t *j) {
  return json_string_value(json_object_get(json_object_get(j, "error"), "code"));
}

static int64_t balance_of(fx *f, int64_t account) {
  char a[32];
  snprintf(a, sizeof a, "%lld", (long long)account);
  json_t *j = admin(f, "balance", "--account", a, NULL, NULL);
  int64_t b = json_integer_value(json_object_get(j, "balance_micro_usd"));
  json_decref(j);
  return b;
}

/* ---- a sealing client --------------------------------------------------------- */

typedef struct chat_res {
  int status;
  char mode[32], node[80], trust[32], retry_after[16];
  char text[4096];
  int n_frames, open_errors, receipt_ok, done;
  char error_code[64];
  int64_t charged;
} chat_res;

/* Looks the node up in /v1/nodes; fills pk and jwk text. */
static int node_keys(fx *f, const char *node_id, uint8_t pk[32], char *jwk, size_t cap) {
  int st;
  char path[256];
  snprintf(path, sizeof path, "/v1/nodes?model=%s", MODEL);
  json_t *j = get_json(f, path, NULL, &st);
  int found = -1;
  size_t i;
  json_t *n;
  json_array_foreach(json_object_get(j, "data"), i, n) {
    if (strcmp(json_string_value(json_object_get(n, "id")), node_id) != 0) continue;
    json_t *keys = json_object_get(n, "keys");
    const char *p = json_string_value(json_object_get(json_object_get(keys, "hpke"), "public_key"));
    if (codec_b64_decode(p, strlen(p), pk, 32, CODEC_B64_URL) != 32) break;
    char *s = json_dumps(json_object_get(json_object_get(keys, "receipt"), "jwk"), JSON_COMPACT);
    snprintf(jwk, cap, "%s", s);
    free(s);
    found = 0;
  }
  json_decref(j);
  return found;
}

static void parse_events(const raw_resp *r, gloam_seal_client *sc, const char *jwk, chat_res *out) {
  const char *p = r->body;
  while (p && *p) {
    const char *end = strstr(p, "\n\n");
    if (!end) break;
    char ev[64] = "";
    const char *data = NULL;
    size_t dl = 0;
    for (const char *l = p; l < end;) {
      const char *nl = memchr(l, '\n', (size_t)(end - l));
      if (!nl) nl = end;
      if (strncmp(l, "event: ", 7) == 0) snprintf(ev, sizeof ev, "%.*s", (int)(nl - l - 7), l + 7);
      if (strncmp(l, "data: ", 6) == 0) {
        data = l + 6;
        dl = (size_t)(nl - l - 6);
      }
      l = nl + 1;
    }
    if (data && dl == 6 && memcmp(data, "[DONE]", 6) == 0) {
      out->done = 1;
    } else if (data && !ev[0]) { /* a sealed frame (docs/sealing.md §4) */
      uint8_t frame[4096], pt[4096];
      long fl = codec_b64_decode(data, dl, frame, sizeof frame, CODEC_B64_URL);
      size_t ptl = 0;
      int fin = 0;
      if (fl < 0 || gloam_seal_client_open(sc, frame, (size_t)fl, pt, sizeof pt, &ptl, &fin) < 0) {
        out->open_errors++;
      } else {
        size_t have = strlen(out->text);
        if (have + ptl < sizeof out->text) {
          memcpy(out->text + have, pt, ptl);
          out->text[have + ptl] = '\0';
        }
        out->n_frames++;
      }
    } else if (data && strcmp(ev, "gloam.receipt") == 0) {
      gloam_receipt_key *k = NULL;
      gloam_receipt_claims cl;
      char err[GLOAM_ERR_LEN];
      if (gloam_receipt_key_parse(jwk, strlen(jwk), &k, err) == 0 &&
          gloam_receipt_check_client(sc, k, data, dl, &cl, err) == 0)
        out->receipt_ok = 1;
      gloam_receipt_key_free(k);
    } else if (data && strcmp(ev, "gloam.usage") == 0) {
      json_error_t je;
      json_t *u = json_loadb(data, dl, 0, &je);
      out->charged = json_integer_value(json_object_get(u, "charged_micro_usd"));
      json_decref(u);
    } else if (data && strcmp(ev, "gloam.error") == 0) {
      json_error_t je;
      json_t *e = json_loadb(data, dl, 0, &je);
      snprintf(out->error_code, sizeof out->error_code, "%s", err_code(e) ? err_code(e) : "?");
      json_decref(e);
    }
    p = end + 2;
  }
}

/* Seals `prompt` for node_id (whose keys come from /v1/nodes, or a random
 * key if it is not listed) and posts it. */
static void sealed_chat(fx *f, const char *key, const char *node_id, const char *model,
                        uint32_t max_out, const char *prompt, chat_res *out) {
  memset(out, 0, sizeof *out);
  uint8_t pk[32];
  char jwk[512] = "";
  if (node_keys(f, node_id, pk, jwk, sizeof jwk) < 0) {
    gloam_seal_keypair *kp;
    size_t pl;
    gloam_seal_keypair_new(&kp, 0);
    gloam_seal_keypair_public(kp, pk, 32, &pl);
    gloam_seal_keypair_free(kp);
  }
  char body[2048];
  int bl = snprintf(body, sizeof body,
                    "{\"model\":\"%s\",\"messages\":[{\"role\":\"user\",\"content\":\"%s\"}]}",
                    model, prompt);
  gloam_seal_header h;
  memset(&h, 0, sizeof h);
  snprintf(h.model, sizeof h.model, "%s", model);
  snprintf(h.node_id, sizeof h.node_id, "%s", node_id);
  snprintf(h.endpoint, sizeof h.endpoint, "chat/completions");
  h.max_output_tokens = max_out;
  uint8_t *env = NULL;
  size_t env_len = 0;
  gloam_seal_client *sc = NULL;
  char err[GLOAM_ERR_LEN];
  ASSERT_OK(
      gloam_seal_request(&h, pk, 32, (const uint8_t *)body, (size_t)bl, &env, &env_len, &sc, err));
  char headers[256];
  snprintf(headers, sizeof headers,
           "Authorization: Bearer %s\r\nContent-Type: application/gloam-sealed\r\n", key);
  raw_resp r;
  ASSERT_OK(raw_http(f->port, "POST", "/v1/chat/completions", headers, env, env_len, &r));
  out->status = r.status;
  raw_header(&r, "Gloam-Mode", out->mode, sizeof out->mode);
  raw_header(&r, "Gloam-Node", out->node, sizeof out->node);
  raw_header(&r, "Gloam-Trust", out->trust, sizeof out->trust);
  raw_header(&r, "Retry-After", out->retry_after, sizeof out->retry_after);
  if (r.status == 200) {
    parse_events(&r, sc, jwk, out);
  } else {
    json_error_t je;
    json_t *e = json_loadb(r.body, r.body_len, 0, &je);
    snprintf(out->error_code, sizeof out->error_code, "%s", err_code(e) ? err_code(e) : "?");
    json_decref(e);
  }
  raw_free(&r);
  gloam_seal_free(env, env_len);
  gloam_seal_client_free(sc);
}

static int64_t expected_cost(size_t body_len, int64_t completion) {
  /* the test node reports prompt_tokens = plaintext body bytes / 4 + 1 */
  int64_t prompt = (int64_t)body_len / 4 + 1;
  return (prompt * PRICE_IN + completion * PRICE_OUT + 999999) / 1000000;
}

/* ---- tests ------------------------------------------------------------------ */

static void test_store_ledger(void) {
  char err[GLOAM_ERR_LEN];
  char *dir = test_tmpdir();
  char path[512];
  snprintf(path, sizeof path, "%s/s.db", dir);
  coord_store *s;
  ASSERT_OK(coord_store_open(&s, path, err));
  ASSERT_TRUE(coord_store_schema_version(s) >= 4); /* 4: node_pins */
  int64_t alice, op, b;
  ASSERT_OK(coord_store_account_create(s, STORE_CONSUMER, "alice", &alice));
  ASSERT_OK(coord_store_account_create(s, STORE_OPERATOR, "op", &op));
  ASSERT_OK(coord_store_credit(s, alice, 1000));
  ASSERT_EQ_INT(coord_store_reserve(s, "r1", alice, "m", 1001), GLOAM_EPOLICY);
  ASSERT_OK(coord_store_reserve(s, "r1", alice, "m", 600));
  ASSERT_EQ_INT(coord_store_reserve(s, "r1", alice, "m", 1), GLOAM_EEXIST);
  ASSERT_OK(coord_store_balance(s, alice, &b));
  ASSERT_EQ_INT(b, 400);
  ASSERT_EQ_INT(coord_store_settle(s, "r1", op, 601, 0, 1, 1, "n"), GLOAM_ERANGE); /* > reserved */
  ASSERT_EQ_INT(coord_store_settle(s, "r1", alice, 100, 0, 1, 1, "n"), GLOAM_EINVAL);
  ASSERT_OK(coord_store_settle(s, "r1", op, 500, 50, 10, 20, "n")); /* 10% fee */
  ASSERT_EQ_INT(coord_store_settle(s, "r1", op, 500, 0, 1, 1, "n"), GLOAM_ESTATE);
  ASSERT_EQ_INT(coord_store_refund(s, "r1", "x"), GLOAM_ESTATE);
  ASSERT_OK(coord_store_balance(s, alice, &b));
  ASSERT_EQ_INT(b, 500); /* 1000 - 500 charged */
  ASSERT_OK(coord_store_balance(s, op, &b));
  ASSERT_EQ_INT(b, 450);
  ASSERT_OK(coord_store_balance(s, STORE_ACCOUNT_FEES, &b));
  ASSERT_EQ_INT(b, 50);
  ASSERT_OK(coord_store_reserve(s, "r2", alice, "m", 500));
  ASSERT_OK(coord_store_refund(s, "r2", "failed"));
  ASSERT_OK(coord_store_balance(s, alice, &b));
  ASSERT_EQ_INT(b, 500);
  ASSERT_OK(coord_store_reserve(s, "r3", alice, "m", 200));
  int64_t res, set, ref;
  ASSERT_OK(coord_store_check(s, &res, &set, &ref));
  ASSERT_EQ_INT(res, 1);
  ASSERT_EQ_INT(set, 1);
  ASSERT_EQ_INT(ref, 1);
  coord_store_close(s);
  /* a restart refunds open reservations */
  ASSERT_OK(coord_store_open(&s, path, err));
  int n = 0;
  ASSERT_OK(coord_store_refund_all_reserved(s, &n));
  ASSERT_EQ_INT(n, 1);
  ASSERT_OK(coord_store_check(s, &res, &set, &ref));
  ASSERT_EQ_INT(res, 0);
  ASSERT_OK(coord_store_balance(s, alice, &b));
  ASSERT_EQ_INT(b, 500);
  coord_store_close(s);
  free(dir);
}

/* OpenAI's API reference for POST /v1/chat/completions: the ranges and
 * shapes below are the documented ones. */
static void test_chat_request_validation(void) {
  struct {
    const char *body;
    int ok;
    const char *param;
  } cases[] = {
      {"{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}", 1, ""},
      {"{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"temperature\":2}",
       1, ""},
      {"{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"temperature\":2."
       "01}",
       0, "temperature"},
      {"{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"top_p\":1.5}", 0,
       "top_p"},
      {"{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"presence_"
       "penalty\":-2}",
       1, ""},
      {"{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"frequency_"
       "penalty\":3}",
       0, "frequency_penalty"},
      {"{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"n\":2}", 0, "n"},
      {"{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"stop\":[\"a\","
       "\"b\",\"c\",\"d\",\"e\"]}",
       0, "stop"},
      {"{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"top_logprobs\":2}",
       0, "top_logprobs"},
      {"{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"stream_options\":{"
       "}}",
       0, "stream_options"},
      {"{\"model\":\"m\",\"messages\":[]}", 0, "messages"},
      {"{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}", 0, "model"},
      {"{\"model\":\"m\",\"messages\":[{\"role\":\"tool\",\"content\":\"r\"}]}", 0, "messages[0]"},
      {"{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"tool_choice\":"
       "\"required\"}",
       0, "tool_choice"},
      {"{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"max_tokens\":0}",
       0, "max_tokens"},
      {"{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"whatever\":{\"x\":"
       "1}}",
       1, ""},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    chat_req r;
    chat_req_error e;
    int rc = coord_chat_req_parse(cases[i].body, strlen(cases[i].body), 1 << 20, &r, &e);
    if (cases[i].ok) {
      ASSERT_OK(rc);
      ASSERT_EQ_STR(r.model, "m");
      coord_chat_req_free(&r);
    } else {
      ASSERT_TRUE(rc < 0);
      ASSERT_EQ_INT(e.status, 400);
      ASSERT_EQ_STR(e.param, cases[i].param);
    }
  }
  const char *full =
      "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
      "\"max_tokens\":5,\"max_completion_tokens\":7,\"stream\":true,"
      "\"stream_options\":{\"include_usage\":true},\"response_format\":{\"type\":\"json_object\"}}";
  chat_req r;
  chat_req_error e;
  ASSERT_OK(coord_chat_req_parse(full, strlen(full), 1 << 20, &r, &e));
  ASSERT_EQ_INT(r.max_tokens, 7); /* max_completion_tokens supersedes max_tokens */
  ASSERT_TRUE(r.stream && r.include_usage);
  ASSERT_EQ_INT(r.response_format, CHAT_FORMAT_JSON_OBJECT);
  coord_chat_req_free(&r);
  ASSERT_TRUE(coord_chat_req_parse(full, strlen(full), 10, &r, &e) < 0);
  ASSERT_EQ_INT(e.status, 413);
}

static void test_http_errors(void) {
  fx f;
  fx_start(&f, 1000000, 15000);
  int st;
  json_t *j = get_json(&f, "/health", NULL, &st);
  ASSERT_EQ_INT(st, 200);
  ASSERT_EQ_STR(json_string_value(json_object_get(j, "status")), "ok");
  json_decref(j);
  j = get_json(&f, "/v1/balance", NULL, &st);
  ASSERT_EQ_INT(st, 401);
  ASSERT_EQ_STR(err_code(j), "invalid_api_key");
  json_decref(j);
  j = get_json(&f, "/v1/balance", "Authorization: Bearer gk_wrongwrongwrong\r\n", &st);
  ASSERT_EQ_INT(st, 401);
  json_decref(j);
  char hdr[512];
  snprintf(hdr, sizeof hdr, "Authorization: Bearer %s\r\n", f.key);
  j = get_json(&f, "/v1/balance", hdr, &st);
  ASSERT_EQ_INT(st, 200);
  ASSERT_EQ_INT(json_integer_value(json_object_get(j, "balance_micro_usd")), 1000000);
  json_decref(j);
  snprintf(hdr, sizeof hdr, "x-api-key: %s\r\n", f.key);
  j = get_json(&f, "/v1/balance", hdr, &st);
  ASSERT_EQ_INT(st, 200);
  json_decref(j);
  j = get_json(&f, "/v1/models/nope/x", NULL, &st);
  ASSERT_EQ_INT(st, 404);
  ASSERT_EQ_STR(err_code(j), "model_not_found");
  json_decref(j);
  j = get_json(&f, "/v1/chat/completions", NULL, &st);
  ASSERT_EQ_INT(st, 405);
  json_decref(j);
  /* a node token is not an API key and vice versa */
  raw_resp r;
  snprintf(hdr, sizeof hdr, "Authorization: Bearer %s\r\n", f.token);
  ASSERT_OK(raw_http(f.port, "GET", "/v1/balance", hdr, NULL, 0, &r));
  ASSERT_EQ_INT(r.status, 401);
  raw_free(&r);
  snprintf(hdr, sizeof hdr,
           "Authorization: Bearer %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n",
           f.key);
  ASSERT_OK(raw_http(f.port, "GET", "/v1/node/connect", hdr, NULL, 0, &r));
  ASSERT_EQ_INT(r.status, 401);
  raw_free(&r);
  /* plain JSON (coordinator-sealed mode) for a model nobody serves: 404;
   * the prompt in it is never logged */
  snprintf(hdr, sizeof hdr, "Authorization: Bearer %s\r\nContent-Type: application/json\r\n",
           f.key);
  const char *plain =
      "{\"model\":\"" MODEL "\",\"messages\":[{\"role\":\"user\",\"content\":\"" CANARY "\"}]}";
  ASSERT_OK(raw_http(f.port, "POST", "/v1/chat/completions", hdr, plain, strlen(plain), &r));
  ASSERT_EQ_INT(r.status, 404);
  raw_free(&r);
  /* garbage instead of an envelope */
  snprintf(hdr, sizeof hdr,
           "Authorization: Bearer %s\r\nContent-Type: application/gloam-sealed\r\n", f.key);
  ASSERT_OK(raw_http(f.port, "POST", "/v1/chat/completions", hdr, "\x01garbage", 8, &r));
  ASSERT_EQ_INT(r.status, 400);
  raw_free(&r);
  /* over the 64 KiB body limit */
  char *big = calloc(1, 70000);
  ASSERT_OK(raw_http(f.port, "POST", "/v1/chat/completions", hdr, big, 70000, &r));
  ASSERT_EQ_INT(r.status, 413);
  raw_free(&r);
  free(big);
  /* no node serves the model: 404; a node that is not connected: 503 */
  chat_res c;
  sealed_chat(&f, f.key, "node-x", MODEL, 16, CANARY, &c);
  ASSERT_EQ_INT(c.status, 404);
  ASSERT_EQ_STR(c.error_code, "model_not_found");
  testnode n;
  node_start(&f, &n, "node-a", 2, TN_OK);
  sealed_chat(&f, f.key, "node-gone", MODEL, 16, CANARY, &c);
  ASSERT_EQ_INT(c.status, 503);
  ASSERT_EQ_STR(c.retry_after, "1");
  sealed_chat(&f, f.key, "node-a", "other/model", 16, CANARY, &c);
  ASSERT_EQ_INT(c.status, 404);
  /* legacy completions and embeddings: no node can serve them (the node
   * protocol has only chat/completions jobs), so a served model gets an
   * OpenAI-format 400 naming it, an unknown one OpenAI's 404 */
  snprintf(hdr, sizeof hdr, "Authorization: Bearer %s\r\nContent-Type: application/json\r\n",
           f.key);
  const char *comp = "{\"model\":\"" MODEL "\",\"prompt\":[\"a\",\"b\"],\"max_tokens\":5}";
  ASSERT_OK(raw_http(f.port, "POST", "/v1/completions", hdr, comp, strlen(comp), &r));
  ASSERT_EQ_INT(r.status, 400);
  j = json_loads(r.body, 0, NULL);
  json_t *e = json_object_get(j, "error");
  ASSERT_EQ_STR(json_string_value(json_object_get(e, "message")),
                "model " MODEL " does not support /v1/completions; use /v1/chat/completions");
  ASSERT_EQ_STR(json_string_value(json_object_get(e, "type")), "invalid_request_error");
  ASSERT_EQ_STR(json_string_value(json_object_get(e, "param")), "model");
  json_decref(j);
  raw_free(&r);
  const char *comp2 = "{\"model\":\"no/such\",\"prompt\":\"a\"}";
  ASSERT_OK(raw_http(f.port, "POST", "/v1/completions", hdr, comp2, strlen(comp2), &r));
  ASSERT_EQ_INT(r.status, 404);
  raw_free(&r);
  const char *emb = "{\"model\":\"" MODEL "\",\"input\":\"hello\"}";
  ASSERT_OK(raw_http(f.port, "POST", "/v1/embeddings", hdr, emb, strlen(emb), &r));
  ASSERT_EQ_INT(r.status, 400);
  j = json_loads(r.body, 0, NULL);
  e = json_object_get(j, "error");
  ASSERT_EQ_STR(json_string_value(json_object_get(e, "type")), "invalid_request_error");
  ASSERT_EQ_STR(json_string_value(json_object_get(e, "param")), "model");
  ASSERT_TRUE(strstr(json_string_value(json_object_get(e, "message")), "/v1/embeddings") != NULL);
  json_decref(j);
  raw_free(&r);
  ASSERT_OK(raw_http(f.port, "POST", "/v1/embeddings", NULL, emb, strlen(emb), &r));
  ASSERT_EQ_INT(r.status, 401);
  raw_free(&r);
  /* router-level 404 and 405 */
  ASSERT_OK(raw_http(f.port, "GET", "/no/such/path", NULL, NULL, 0, &r));
  ASSERT_EQ_INT(r.status, 404);
  raw_free(&r);
  ASSERT_OK(raw_http(f.port, "DELETE", "/v1/models", NULL, NULL, 0, &r));
  ASSERT_EQ_INT(r.status, 405);
  raw_free(&r);
  /* metrics are Prometheus text */
  ASSERT_OK(raw_http(f.port, "GET", "/metrics", NULL, NULL, 0, &r));
  ASSERT_EQ_INT(r.status, 200);
  ASSERT_TRUE(strstr(r.body, "\ngloam_nodes 1\n") != NULL);
  ASSERT_TRUE(strstr(r.body, "# TYPE gloam_http_responses_total counter") != NULL);
  /* two 405s: GET /v1/chat/completions above and DELETE /v1/models */
  ASSERT_TRUE(strstr(r.body, "gloam_http_requests_total{code=\"405\"} 2\n") != NULL);
  ASSERT_TRUE(strstr(r.body, "gloam_http_requests_total{code=\"404\"}") != NULL);
  ASSERT_TRUE(strstr(r.body, "# TYPE gloam_chat_latency_seconds histogram") != NULL);
  ASSERT_TRUE(strstr(r.body, "gloam_chat_latency_seconds_bucket{le=\"+Inf\"} 0\n") != NULL);
  ASSERT_TRUE(strstr(r.body, "\ngloam_queue_depth 0\n") != NULL);
  ASSERT_TRUE(strstr(r.body, "\ngloam_ledger_queue_depth 0\n") != NULL);
  raw_free(&r);
  tn_stop(&n);
  fx_stop(&f);
}

static void test_sealed_chat_end_to_end(void) {
  fx f;
  fx_start(&f, 1000000, 15000);
  testnode n;
  node_start(&f, &n, "node-a", 2, TN_OK);
  int st;
  json_t *j = get_json(&f, "/v1/models", NULL, &st);
  ASSERT_EQ_INT(st, 200);
  ASSERT_EQ_STR(json_string_value(json_object_get(j, "object")), "list");
  ASSERT_EQ_INT(json_array_size(json_object_get(j, "data")), 1);
  ASSERT_EQ_STR(
      json_string_value(json_object_get(json_array_get(json_object_get(j, "data"), 0), "id")),
      MODEL);
  json_decref(j);
  j = get_json(&f, "/v1/models/" MODEL, NULL, &st);
  ASSERT_EQ_INT(st, 200);
  ASSERT_EQ_STR(json_string_value(json_object_get(j, "object")), "model");
  json_decref(j);
  j = get_json(&f, "/v1/providers/attestation", NULL, &st);
  ASSERT_EQ_INT(st, 200);
  check_published(json_array_get(json_object_get(j, "data"), 0), GLOAM_TRUST_SOFTWARE);
  json_decref(j);

  chat_res c;
  sealed_chat(&f, f.key, "node-a", MODEL, 64, "hello " CANARY, &c);
  ASSERT_EQ_INT(c.status, 200);
  ASSERT_EQ_STR(c.mode, "client-sealed");
  ASSERT_EQ_STR(c.node, "node-a");
  ASSERT_EQ_STR(c.trust, "software");
  ASSERT_EQ_INT(c.open_errors, 0);
  ASSERT_EQ_INT(c.n_frames, 5); /* start, 3 data, final */
  char want[512] = "", t[128];
  for (int i = 0; i < 3; i++) {
    tn_chunk_text(i, t, sizeof t);
    strncat(want, t, sizeof want - strlen(want) - 1);
  }
  ASSERT_EQ_STR(c.text, want);
  ASSERT_TRUE(c.receipt_ok);
  ASSERT_TRUE(c.done);
  /* the price, by hand: the plaintext body the client sealed */
  size_t body_len =
      strlen("{\"model\":\"" MODEL "\",\"messages\":[{\"role\":\"user\",\"content\":\"hello " CANARY
             "\"}]}");
  int64_t cost = expected_cost(body_len, 3);
  ASSERT_EQ_INT(c.charged, cost);
  ASSERT_EQ_INT(balance_of(&f, f.consumer), 1000000 - cost);
  ASSERT_EQ_INT(balance_of(&f, f.op), cost);
  char hdr[512];
  snprintf(hdr, sizeof hdr, "Authorization: Bearer %s\r\n", f.key);
  j = get_json(&f, "/v1/usage", hdr, &st);
  json_t *u = json_array_get(json_object_get(j, "data"), 0);
  ASSERT_EQ_STR(json_string_value(json_object_get(u, "state")), "settled");
  ASSERT_EQ_INT(json_integer_value(json_object_get(u, "charged_micro_usd")), cost);
  ASSERT_EQ_INT(json_integer_value(json_object_get(u, "completion_tokens")), 3);
  json_decref(j);
  snprintf(hdr, sizeof hdr, "Authorization: Bearer %s\r\n", f.token);
  j = get_json(&f, "/v1/operator/earnings", hdr, &st);
  ASSERT_EQ_INT(st, 200);
  ASSERT_EQ_INT(json_integer_value(json_object_get(j, "earned_micro_usd")), cost);
  ASSERT_EQ_INT(json_integer_value(json_object_get(j, "requests")), 1);
  json_decref(j);
  j = get_json(&f, "/v1/operator/earnings", NULL, &st);
  ASSERT_EQ_INT(st, 401);
  json_decref(j);
  tn_stop(&n);
  fx_stop(&f);
}

/* Reads a whole file and reports whether `needle` occurs in it. */
static int file_contains(const char *path, const char *needle) {
  size_t n = 0;
  char *d = test_read_file(path, &n);
  if (!d) return 0;
  int found = memmem(d, n, needle, strlen(needle)) != NULL;
  free(d);
  return found;
}

/* Parses SSE data events into an array of strings (borrowed body). */
static int sse_data(const char *body, char out[][2048], int max) {
  int n = 0;
  for (const char *p = strstr(body, "data: "); p && n < max; p = strstr(p, "data: ")) {
    p += 6;
    const char *e = strchr(p, '\n');
    if (!e) break;
    snprintf(out[n++], 2048, "%.*s", (int)(e - p), p);
    p = e;
  }
  return n;
}

static void test_coordinator_sealed_mode(void) {
  fx f;
  fx_start(&f, 1000000, 15000);
  testnode n;
  node_start(&f, &n, "node-p", 2, TN_OK);
  char hdr[512];
  snprintf(hdr, sizeof hdr, "Authorization: Bearer %s\r\nContent-Type: application/json\r\n",
           f.key);
  const char *body = "{\"model\":\"" MODEL
                     "\",\"max_tokens\":20,\"messages\":[{\"role\":"
                     "\"user\",\"content\":\"" CANARY "\"}]}";
  raw_resp r;
  ASSERT_OK(raw_http(f.port, "POST", "/v1/chat/completions", hdr, body, strlen(body), &r));
  ASSERT_EQ_INT(r.status, 200);
  char v[64];
  ASSERT_OK(raw_header(&r, "Gloam-Mode", v, sizeof v));
  ASSERT_EQ_STR(v, "coordinator-sealed");
  json_error_t je;
  json_t *j = json_loadb(r.body, r.body_len, 0, &je);
  json_t *msg = json_object_get(json_array_get(json_object_get(j, "choices"), 0), "message");
  ASSERT_EQ_STR(json_string_value(json_object_get(msg, "content")), "token-0 token-1 token-2 ");
  json_t *g = json_object_get(j, "gloam");
  ASSERT_EQ_STR(json_string_value(json_object_get(g, "mode")), "coordinator-sealed");
  ASSERT_EQ_STR(json_string_value(json_object_get(g, "node")), "node-p");
  ASSERT_TRUE(json_is_string(json_object_get(g, "receipt")));
  int64_t cost = expected_cost(strlen(body), 3);
  ASSERT_EQ_INT(json_integer_value(json_object_get(g, "charged_micro_usd")), cost);
  json_decref(j);
  raw_free(&r);
  ASSERT_EQ_INT(balance_of(&f, f.consumer), 1000000 - cost);

  /* streaming: the node's chunks, then the gloam chunk, then [DONE] */
  const char *sbody = "{\"model\":\"" MODEL
                      "\",\"stream\":true,\"messages\":[{\"role\":"
                      "\"user\",\"content\":\"hi\"}]}";
  ASSERT_OK(raw_http(f.port, "POST", "/v1/chat/completions", hdr, sbody, strlen(sbody), &r));
  ASSERT_EQ_INT(r.status, 200);
  char ev[8][2048];
  int ne = sse_data(r.body, ev, 8);

  ASSERT_EQ_INT(ne, 5);
  char want[160];
  tn_chunk_text(2, want, sizeof want);
  ASSERT_EQ_STR(ev[2], want);
  j = json_loads(ev[3], 0, &je);
  ASSERT_EQ_STR(json_string_value(json_object_get(j, "object")), "chat.completion.chunk");
  ASSERT_EQ_INT(json_array_size(json_object_get(j, "choices")), 0);
  ASSERT_TRUE(json_is_string(json_object_get(json_object_get(j, "gloam"), "receipt")));
  json_decref(j);
  ASSERT_EQ_STR(ev[4], "[DONE]");
  raw_free(&r);

  /* validation, trust and format refusals */
  const char *bad = "{\"model\":\"" MODEL
                    "\",\"n\":2,\"messages\":[{\"role\":\"user\","
                    "\"content\":\"hi\"}]}";
  ASSERT_OK(raw_http(f.port, "POST", "/v1/chat/completions", hdr, bad, strlen(bad), &r));
  ASSERT_EQ_INT(r.status, 400);
  j = json_loadb(r.body, r.body_len, 0, &je);
  ASSERT_EQ_STR(json_string_value(json_object_get(json_object_get(j, "error"), "param")), "n");
  json_decref(j);
  raw_free(&r);
  const char *fmt = "{\"model\":\"" MODEL
                    "\",\"response_format\":{\"type\":\"json_object\"},"
                    "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
  ASSERT_OK(raw_http(f.port, "POST", "/v1/chat/completions", hdr, fmt, strlen(fmt), &r));
  ASSERT_EQ_INT(r.status, 400); /* the node does not enforce json_object: refused, not ignored */
  raw_free(&r);
  char thdr[600];
  snprintf(thdr, sizeof thdr, "%sGloam-Min-Trust: tpm\r\n", hdr);
  ASSERT_OK(raw_http(f.port, "POST", "/v1/chat/completions", thdr, sbody, strlen(sbody), &r));
  ASSERT_EQ_INT(r.status, 503);
  ASSERT_OK(raw_header(&r, "Retry-After", v, sizeof v));
  raw_free(&r);
  tn_stop(&n);
  fx_stop(&f);
  /* the coordinator saw the canary in plaintext here; it kept none of it */
  char wal[600];
  snprintf(wal, sizeof wal, "%s-wal", f.db);
  ASSERT_TRUE(file_contains(f.log, "chat.done"));
  ASSERT_FALSE(file_contains(f.log, CANARY));
  ASSERT_FALSE(file_contains(f.db, CANARY));
  ASSERT_FALSE(file_contains(wal, CANARY));
}

/* A node that refuses before any output: the coordinator re-seals the
 * request to another node and the client never notices. */
static void test_coordinator_sealed_failover(void) {
  fx f;
  fx_start(&f, 1000000, 15000);
  testnode a, b;
  memset(&a, 0, sizeof a);
  node_start(&f, &b, "node-b", 2, TN_OK);
  a.decode_tps = 5000; /* faster: routing tries it first */
  a.port = f.port;
  snprintf(a.token, sizeof a.token, "%s", f.token);
  snprintf(a.node_id, sizeof a.node_id, "node-a");
  snprintf(a.model, sizeof a.model, MODEL);
  a.max_slots = 2;
  atomic_store(&a.mode, TN_BUSY);
  ASSERT_OK(tn_start(&a));
  ASSERT_OK(tn_wait(&a.heartbeats, 2, 3000)); /* the first one has been processed */
  wait_listed(&f, "node-a", 0);
  char hdr[512];
  snprintf(hdr, sizeof hdr, "Authorization: Bearer %s\r\nContent-Type: application/json\r\n",
           f.key);
  const char *body = "{\"model\":\"" MODEL
                     "\",\"max_tokens\":20,\"messages\":[{\"role\":"
                     "\"user\",\"content\":\"hi\"}]}";
  raw_resp r;
  ASSERT_OK(raw_http(f.port, "POST", "/v1/chat/completions", hdr, body, strlen(body), &r));
  ASSERT_EQ_INT(r.status, 200);
  char v[64];
  ASSERT_OK(raw_header(&r, "Gloam-Node", v, sizeof v));
  ASSERT_EQ_STR(v, "node-b");
  raw_free(&r);
  ASSERT_EQ_INT(atomic_load(&a.jobs_seen), 1);
  ASSERT_EQ_INT(atomic_load(&b.jobs_seen), 1);
  ASSERT_EQ_INT(balance_of(&f, f.consumer), 1000000 - expected_cost(strlen(body), 3));
  /* with only the refusing node left, the client gets the refusal */
  tn_stop(&b);
  for (int i = 0; i < 100; i++) {
    int st;
    json_t *j = get_json(&f, "/v1/nodes", NULL, &st);
    size_t n = json_array_size(json_object_get(j, "data"));
    json_decref(j);
    if (n == 1) break;
    usleep(20000);
  }
  ASSERT_OK(raw_http(f.port, "POST", "/v1/chat/completions", hdr, body, strlen(body), &r));
  ASSERT_EQ_INT(r.status, 429);
  raw_free(&r);
  tn_stop(&a);
  fx_stop(&f);
}

/* Reads a reply to EOF from an open connection; returns the status. */
static int read_status(int fd, char *body, size_t cap) {
  size_t n = 0;
  ssize_t r;
  while (n + 1 < cap && (r = read(fd, body + n, cap - 1 - n)) > 0) n += (size_t)r;
  body[n] = '\0';
  int st = 0;
  sscanf(body, "HTTP/1.1 %d", &st);
  return st;
}

static int queue_depth(fx *f) {
  raw_resp r;
  int d = -1;
  if (raw_http(f->port, "GET", "/metrics", NULL, NULL, 0, &r) == 0) {
    const char *p = strstr(r.body, "\ngloam_queue_depth ");
    if (p) sscanf(p, "\ngloam_queue_depth %d", &d);
  }
  raw_free(&r);
  return d;
}

/* Coordinator-sealed requests wait for a busy node's slot in a bounded
 * queue: full -> 429, too long -> 503, a freed slot -> served. */
static void test_queue_when_busy(void) {
  g_queue_max = 1;
  g_queue_timeout_ms = 800;
  fx f;
  fx_start(&f, 1000000, 15000);
  g_queue_max = g_queue_timeout_ms = 0;
  testnode n;
  node_start(&f, &n, "node-q", 1, TN_HANG);
  const char *body = "{\"model\":\"" MODEL
                     "\",\"max_tokens\":20,\"messages\":[{\"role\":"
                     "\"user\",\"content\":\"hi\"}]}";
  char req[1024];
  int rl = snprintf(req, sizeof req,
                    "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                    "Authorization: Bearer %s\r\nContent-Type: application/json\r\n"
                    "Content-Length: %zu\r\n\r\n%s",
                    f.key, strlen(body), body);
  int fd1 = raw_open(f.port, req, (size_t)rl);
  ASSERT_OK(tn_wait(&n.jobs_seen, 1, 3000)); /* A holds the only slot */
  int fd2 = raw_open(f.port, req, (size_t)rl);
  for (int i = 0; i < 100 && queue_depth(&f) != 1; i++) usleep(10000);
  ASSERT_EQ_INT(queue_depth(&f), 1); /* B waits */
  raw_resp r;
  char hdr[512];
  snprintf(hdr, sizeof hdr, "Authorization: Bearer %s\r\nContent-Type: application/json\r\n",
           f.key);
  ASSERT_OK(raw_http(f.port, "POST", "/v1/chat/completions", hdr, body, strlen(body), &r));
  ASSERT_EQ_INT(r.status, 429); /* C: the queue is full */
  raw_free(&r);
  char buf[8192];
  ASSERT_EQ_INT(read_status(fd2, buf, sizeof buf), 503); /* B timed out */
  ASSERT_TRUE(strstr(buf, "Retry-After: 1") != NULL);
  close(fd2);
  int fd3 = raw_open(f.port, req, (size_t)rl);
  for (int i = 0; i < 100 && queue_depth(&f) != 1; i++) usleep(10000);
  ASSERT_EQ_INT(queue_depth(&f), 1); /* D waits */
  atomic_store(&n.mode, TN_OK);
  close(fd1); /* A leaves: its slot goes to D */
  ASSERT_EQ_INT(read_status(fd3, buf, sizeof buf), 200);
  ASSERT_TRUE(strstr(buf, "token-0 token-1 token-2") != NULL);
  close(fd3);
  ASSERT_EQ_INT(atomic_load(&n.cancels_seen), 1);
  ASSERT_EQ_INT(balance_of(&f, f.consumer), 1000000 - expected_cost(strlen(body), 3));
  tn_stop(&n);
  fx_stop(&f);
}

/* Anthropic's Messages request shape -> OpenAI's chat request shape, as
 * both APIs document them. */
static void test_anthropic_translation(void) {
  const char *in =
      "{\"model\":\"m\",\"max_tokens\":50,\"system\":[{\"type\":\"text\",\"text\":\"be brief\"}],"
      "\"messages\":[{\"role\":\"user\",\"content\":\"weather?\"},"
      "{\"role\":\"assistant\",\"content\":[{\"type\":\"text\",\"text\":\"checking\"},"
      "{\"type\":\"tool_use\",\"id\":\"toolu_1\",\"name\":\"get_weather\",\"input\":{\"city\":"
      "\"Oslo\"}}]},"
      "{\"role\":\"user\",\"content\":[{\"type\":\"tool_result\",\"tool_use_id\":\"toolu_1\","
      "\"content\":\"-3C\"},{\"type\":\"text\",\"text\":\"thanks\"},{\"type\":\"image\",\"source\":"
      "{\"type\":\"base64\",\"media_type\":\"image/png\",\"data\":\"iVBO\"}}]}],"
      "\"tools\":[{\"name\":\"get_weather\",\"description\":\"d\",\"input_schema\":{\"type\":"
      "\"object\"}}],"
      "\"tool_choice\":{\"type\":\"any\"},\"stop_sequences\":[\"END\"],\"stream\":true,"
      "\"metadata\":{\"user_id\":\"u1\"}}";
  json_error_t je;
  json_t *a = json_loads(in, 0, &je), *o = NULL;
  char msg[200];
  ASSERT_OK(coord_anthropic_to_openai(a, &o, msg, sizeof msg));
  json_t *msgs = json_object_get(o, "messages");
  ASSERT_EQ_INT(json_array_size(msgs), 5);
  ASSERT_EQ_STR(json_string_value(json_object_get(json_array_get(msgs, 0), "role")), "system");
  ASSERT_EQ_STR(json_string_value(json_object_get(json_array_get(msgs, 0), "content")), "be brief");
  json_t *asst = json_array_get(msgs, 2);
  ASSERT_EQ_STR(json_string_value(json_object_get(asst, "content")), "checking");
  json_t *call = json_array_get(json_object_get(asst, "tool_calls"), 0);
  ASSERT_EQ_STR(json_string_value(json_object_get(call, "id")), "toolu_1");
  ASSERT_EQ_STR(json_string_value(json_object_get(json_object_get(call, "function"), "arguments")),
                "{\"city\":\"Oslo\"}");
  json_t *tool = json_array_get(msgs, 3); /* the tool answer comes before the user's text */
  ASSERT_EQ_STR(json_string_value(json_object_get(tool, "role")), "tool");
  ASSERT_EQ_STR(json_string_value(json_object_get(tool, "tool_call_id")), "toolu_1");
  ASSERT_EQ_STR(json_string_value(json_object_get(tool, "content")), "-3C");
  json_t *user = json_object_get(json_array_get(msgs, 4), "content");
  ASSERT_EQ_STR(json_string_value(json_object_get(json_array_get(user, 1), "type")), "image_url");
  ASSERT_EQ_STR(json_string_value(
                    json_object_get(json_object_get(json_array_get(user, 1), "image_url"), "url")),
                "data:image/png;base64,iVBO");
  ASSERT_EQ_STR(json_string_value(json_object_get(o, "tool_choice")), "required");
  ASSERT_EQ_STR(
      json_string_value(json_object_get(
          json_object_get(json_array_get(json_object_get(o, "tools"), 0), "function"), "name")),
      "get_weather");
  ASSERT_EQ_STR(json_string_value(json_array_get(json_object_get(o, "stop"), 0)), "END");
  ASSERT_EQ_STR(json_string_value(json_object_get(o, "user")), "u1");
  ASSERT_TRUE(json_is_true(json_object_get(json_object_get(o, "stream_options"), "include_usage")));
  /* the translation is a valid OpenAI request */
  char *text = json_dumps(o, JSON_COMPACT);
  chat_req r;
  chat_req_error e;
  ASSERT_OK(coord_chat_req_parse(text, strlen(text), 1 << 20, &r, &e));
  ASSERT_EQ_INT(r.max_tokens, 50);
  coord_chat_req_free(&r);
  free(text);
  json_decref(o);
  json_decref(a);
  a = json_loads("{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}", 0, &je);
  ASSERT_EQ_INT(coord_anthropic_to_openai(a, &o, msg, sizeof msg), GLOAM_EINVAL); /* max_tokens */
  json_decref(a);
  /* a completion with a tool call back to a message */
  json_t *comp = json_loads(
      "{\"choices\":[{\"message\":{\"role\":\"assistant\",\"content\":\"ok\",\"tool_calls\":"
      "[{\"id\":\"call_9\",\"type\":\"function\",\"function\":{\"name\":\"f\",\"arguments\":"
      "\"{\\\"a\\\":1}\"}}]},\"finish_reason\":\"tool_calls\"}]}",
      0, &je);
  ASSERT_NOT_NULL(comp);
  json_t *m = coord_anthropic_from_completion(comp, "j1", "m", 7, 9);
  ASSERT_EQ_STR(json_string_value(json_object_get(m, "type")), "message");
  ASSERT_EQ_STR(json_string_value(json_object_get(m, "stop_reason")), "tool_use");
  json_t *content = json_object_get(m, "content");
  ASSERT_EQ_STR(json_string_value(json_object_get(json_array_get(content, 0), "text")), "ok");
  json_t *tu = json_array_get(content, 1);
  ASSERT_EQ_STR(json_string_value(json_object_get(tu, "type")), "tool_use");
  ASSERT_EQ_INT(json_integer_value(json_object_get(json_object_get(tu, "input"), "a")), 1);
  ASSERT_EQ_INT(json_integer_value(json_object_get(json_object_get(m, "usage"), "output_tokens")),
                9);
  json_decref(m);
  json_decref(comp);
}

static void test_anthropic_messages_end_to_end(void) {
  fx f;
  fx_start(&f, 1000000, 15000);
  testnode n;
  node_start(&f, &n, "node-an", 2, TN_OK);
  char hdr[512];
  snprintf(hdr, sizeof hdr,
           "x-api-key: %s\r\nanthropic-version: 2023-06-01\r\nContent-Type: application/json\r\n",
           f.key);
  const char *body = "{\"model\":\"" MODEL
                     "\",\"max_tokens\":20,\"messages\":[{\"role\":"
                     "\"user\",\"content\":\"" CANARY "\"}]}";
  raw_resp r;
  ASSERT_OK(raw_http(f.port, "POST", "/v1/messages", hdr, body, strlen(body), &r));
  ASSERT_EQ_INT(r.status, 200);
  json_error_t je;
  json_t *j = json_loadb(r.body, r.body_len, 0, &je);
  ASSERT_EQ_STR(json_string_value(json_object_get(j, "type")), "message");
  ASSERT_EQ_STR(json_string_value(json_object_get(j, "role")), "assistant");
  ASSERT_EQ_STR(
      json_string_value(json_object_get(json_array_get(json_object_get(j, "content"), 0), "text")),
      "token-0 token-1 token-2 ");
  ASSERT_EQ_STR(json_string_value(json_object_get(j, "stop_reason")), "end_turn");
  ASSERT_EQ_INT(json_integer_value(json_object_get(json_object_get(j, "usage"), "output_tokens")),
                3);
  ASSERT_TRUE(json_is_string(json_object_get(json_object_get(j, "gloam"), "receipt")));
  json_decref(j);
  raw_free(&r);

  const char *sbody = "{\"model\":\"" MODEL
                      "\",\"max_tokens\":20,\"stream\":true,\"messages\":"
                      "[{\"role\":\"user\",\"content\":\"hi\"}]}";
  ASSERT_OK(raw_http(f.port, "POST", "/v1/messages", hdr, sbody, strlen(sbody), &r));
  ASSERT_EQ_INT(r.status, 200);
  /* Anthropic's documented event order */
  const char *order[] = {"message_start",       "content_block_start", "content_block_delta",
                         "content_block_delta", "content_block_delta", "content_block_stop",
                         "message_delta",       "message_stop"};
  const char *p = r.body;
  for (size_t i = 0; i < sizeof order / sizeof order[0]; i++) {
    p = strstr(p, "event: ");
    ASSERT_NOT_NULL(p);
    p += 7;
    ASSERT_TRUE(strncmp(p, order[i], strlen(order[i])) == 0 && p[strlen(order[i])] == '\n');
  }
  ASSERT_TRUE(strstr(r.body, "\"delta\":{\"type\":\"text_delta\",\"text\":\"token-1 \"}") != NULL);
  ASSERT_TRUE(strstr(r.body, "\"stop_reason\":\"end_turn\"") != NULL);
  raw_free(&r);

  /* errors in Anthropic's shape */
  ASSERT_OK(raw_http(f.port, "POST", "/v1/messages", "x-api-key: gk_nope_nope_nope\r\n", sbody,
                     strlen(sbody), &r));
  ASSERT_EQ_INT(r.status, 401);
  j = json_loadb(r.body, r.body_len, 0, &je);
  ASSERT_EQ_STR(json_string_value(json_object_get(j, "type")), "error");
  ASSERT_EQ_STR(json_string_value(json_object_get(json_object_get(j, "error"), "type")),
                "authentication_error");
  json_decref(j);
  raw_free(&r);
  const char *nomax =
      "{\"model\":\"" MODEL "\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}";
  ASSERT_OK(raw_http(f.port, "POST", "/v1/messages", hdr, nomax, strlen(nomax), &r));
  ASSERT_EQ_INT(r.status, 400);
  j = json_loadb(r.body, r.body_len, 0, &je);
  ASSERT_EQ_STR(json_string_value(json_object_get(json_object_get(j, "error"), "type")),
                "invalid_request_error");
  json_decref(j);
  raw_free(&r);
  const char *unknown =
      "{\"model\":\"nope\",\"max_tokens\":5,\"messages\":[{\"role\":\"user\","
      "\"content\":\"x\"}]}";
  ASSERT_OK(raw_http(f.port, "POST", "/v1/messages", hdr, unknown, strlen(unknown), &r));
  ASSERT_EQ_INT(r.status, 404);
  j = json_loadb(r.body, r.body_len, 0, &je);
  ASSERT_EQ_STR(json_string_value(json_object_get(json_object_get(j, "error"), "type")),
                "not_found_error");
  json_decref(j);
  raw_free(&r);
  /* tool use, both ways: the node answers with an OpenAI tool call */
  atomic_store(&n.mode, TN_TOOL);
  const char *tbody = "{\"model\":\"" MODEL
                      "\",\"max_tokens\":20,\"tools\":[{\"name\":\"get_weather\","
                      "\"input_schema\":{\"type\":\"object\"}}],\"messages\":[{\"role\":\"user\","
                      "\"content\":\"w?\"}]}";
  ASSERT_OK(raw_http(f.port, "POST", "/v1/messages", hdr, tbody, strlen(tbody), &r));
  ASSERT_EQ_INT(r.status, 200);
  j = json_loadb(r.body, r.body_len, 0, &je);
  json_t *tu = json_array_get(json_object_get(j, "content"), 0);
  ASSERT_EQ_STR(json_string_value(json_object_get(tu, "type")), "tool_use");
  ASSERT_EQ_STR(json_string_value(json_object_get(tu, "id")), "call_1");
  ASSERT_EQ_STR(json_string_value(json_object_get(tu, "name")), "get_weather");
  ASSERT_EQ_STR(json_string_value(json_object_get(json_object_get(tu, "input"), "city")), "Oslo");
  ASSERT_EQ_STR(json_string_value(json_object_get(j, "stop_reason")), "tool_use");
  json_decref(j);
  raw_free(&r);
  const char *tsbody =
      "{\"model\":\"" MODEL
      "\",\"max_tokens\":20,\"stream\":true,\"tools\":[{\"name\":"
      "\"get_weather\",\"input_schema\":{\"type\":\"object\"}}],\"messages\":[{\"role\":\"user\","
      "\"content\":\"w?\"}]}";
  ASSERT_OK(raw_http(f.port, "POST", "/v1/messages", hdr, tsbody, strlen(tsbody), &r));
  ASSERT_EQ_INT(r.status, 200);
  ASSERT_TRUE(strstr(r.body,
                     "\"content_block\":{\"type\":\"tool_use\",\"id\":\"call_1\","
                     "\"name\":\"get_weather\",\"input\":{}}") != NULL);
  ASSERT_TRUE(strstr(r.body, "\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"city\\\":\"") !=
              NULL);
  ASSERT_TRUE(strstr(r.body, "\"stop_reason\":\"tool_use\"") != NULL);
  raw_free(&r);
  /* and the OpenAI endpoint relays the node's tool_calls deltas as they are */
  snprintf(hdr, sizeof hdr, "Authorization: Bearer %s\r\nContent-Type: application/json\r\n",
           f.key);
  const char *obody = "{\"model\":\"" MODEL
                      "\",\"stream\":true,\"tools\":[{\"type\":\"function\","
                      "\"function\":{\"name\":\"get_weather\"}}],\"messages\":[{\"role\":\"user\","
                      "\"content\":\"w?\"}]}";
  ASSERT_OK(raw_http(f.port, "POST", "/v1/chat/completions", hdr, obody, strlen(obody), &r));
  ASSERT_EQ_INT(r.status, 200);
  char want[600];
  snprintf(want, sizeof want, "data: %s\n\n", tn_tool_chunk(1));
  ASSERT_TRUE(strstr(r.body, want) != NULL);
  raw_free(&r);
  tn_stop(&n);
  fx_stop(&f);
  ASSERT_FALSE(file_contains(f.log, CANARY));
  ASSERT_FALSE(file_contains(f.db, CANARY));
}

static void test_insufficient_balance_402(void) {
  fx f;
  fx_start(&f, 10, 15000); /* 10 micro-USD cannot cover 1000 tokens at $0.60/M */
  testnode n;
  node_start(&f, &n, "node-a", 2, TN_OK);
  chat_res c;
  sealed_chat(&f, f.key, "node-a", MODEL, 1000, CANARY, &c);
  ASSERT_EQ_INT(c.status, 402);
  ASSERT_EQ_STR(c.error_code, "insufficient_balance");
  ASSERT_EQ_INT(atomic_load(&n.jobs_seen), 0);
  ASSERT_EQ_INT(balance_of(&f, f.consumer), 10);
  /* coordinator-sealed, in OpenAI's error shape and in Anthropic's (402 is
   * its documented billing_error) */
  char hdr[512];
  snprintf(hdr, sizeof hdr, "Authorization: Bearer %s\r\nContent-Type: application/json\r\n",
           f.key);
  const char *body =
      "{\"model\":\"" MODEL
      "\",\"max_tokens\":1000,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
  raw_resp r;
  ASSERT_OK(raw_http(f.port, "POST", "/v1/chat/completions", hdr, body, strlen(body), &r));
  ASSERT_EQ_INT(r.status, 402);
  json_error_t je;
  json_t *j = json_loadb(r.body, r.body_len, 0, &je);
  ASSERT_EQ_STR(err_code(j), "insufficient_balance");
  json_decref(j);
  raw_free(&r);
  snprintf(hdr, sizeof hdr,
           "x-api-key: %s\r\nanthropic-version: 2023-06-01\r\nContent-Type: application/json\r\n",
           f.key);
  ASSERT_OK(raw_http(f.port, "POST", "/v1/messages", hdr, body, strlen(body), &r));
  ASSERT_EQ_INT(r.status, 402);
  j = json_loadb(r.body, r.body_len, 0, &je);
  ASSERT_EQ_STR(json_string_value(json_object_get(j, "type")), "error");
  ASSERT_EQ_STR(json_string_value(json_object_get(json_object_get(j, "error"), "type")),
                "billing_error");
  json_decref(j);
  raw_free(&r);
  ASSERT_EQ_INT(atomic_load(&n.jobs_seen), 0);
  ASSERT_EQ_INT(balance_of(&f, f.consumer), 10);
  tn_stop(&n);
  fx_stop(&f);
}

/* Sends a client-sealed chat (plaintext body, 32 output tokens) for
 * node_id on a new connection without reading the answer; returns the
 * socket. */
static int sealed_open(fx *f, const char *node_id, const char *body) {
  uint8_t pk[32];
  char jwk[512], err[GLOAM_ERR_LEN];
  ASSERT_OK(node_keys(f, node_id, pk, jwk, sizeof jwk));
  gloam_seal_header h;
  memset(&h, 0, sizeof h);
  snprintf(h.model, sizeof h.model, MODEL);
  snprintf(h.node_id, sizeof h.node_id, "%s", node_id);
  snprintf(h.endpoint, sizeof h.endpoint, "chat/completions");
  h.max_output_tokens = 32;
  uint8_t *env;
  size_t env_len;
  ASSERT_OK(gloam_seal_request(&h, pk, 32, (const uint8_t *)body, strlen(body), &env, &env_len,
                               NULL, err));
  char req[8192];
  int hl = snprintf(req, sizeof req,
                    "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                    "Authorization: Bearer %s\r\nContent-Type: application/gloam-sealed\r\n"
                    "Content-Length: %zu\r\n\r\n",
                    f->key, env_len);
  ASSERT_TRUE((size_t)hl + env_len <= sizeof req);
  memcpy(req + hl, env, env_len);
  int fd = raw_open(f->port, req, (size_t)hl + env_len);
  ASSERT_TRUE(fd >= 0);
  gloam_seal_free(env, env_len);
  return fd;
}

static long metric_of(fx *f, const char *name);

/* Waits (up to 1 s) until the coordinator's queue holds depth requests. */
static void wait_queue_depth(fx *f, int depth) {
  for (int i = 0; i < 200 && queue_depth(f) != depth; i++) usleep(5000);
  ASSERT_EQ_INT(queue_depth(f), depth);
}

/* The ledger's invariants hold and no reservation is open. */
static void check_ledger(fx *f, int refunded, int settled) {
  for (int i = 0; i < 200 && metric_of(f, "gloam_ledger_queue_depth") != 0; i++) usleep(5000);
  json_t *j = admin(f, "check", NULL, NULL, NULL, NULL);
  ASSERT_TRUE(json_is_true(json_object_get(j, "ok")));
  ASSERT_EQ_INT(json_integer_value(json_object_get(j, "reserved")), 0);
  ASSERT_EQ_INT(json_integer_value(json_object_get(j, "refunded")), refunded);
  ASSERT_EQ_INT(json_integer_value(json_object_get(j, "settled")), settled);
  json_decref(j);
}

/* Client-sealed requests for a busy one-slot node wait for it in arrival
 * order: A holds the slot, B and C wait (nothing reaches the node). A's
 * client leaves: the node hears cancel and the slot goes to B, not C (B's
 * client leaving next is the second cancel the node hears, and C is the
 * third job); C is served and charged exactly, A and B refunded. */
static void test_sealed_queue_in_order(void) {
  fx f;
  fx_start(&f, 1000000, 15000);
  testnode n;
  node_start(&f, &n, "node-a", 1, TN_HANG);
  int fa = sealed_open(&f, "node-a", CANARY);
  ASSERT_OK(tn_wait(&n.jobs_seen, 1, 3000));
  int fb = sealed_open(&f, "node-a", "{\"b\":1}");
  wait_queue_depth(&f, 1);
  const char *body_c = "{\"c\":\"the third request\"}";
  int fc = sealed_open(&f, "node-a", body_c);
  wait_queue_depth(&f, 2);
  ASSERT_EQ_INT(atomic_load(&n.jobs_seen), 1);
  close(fa);
  ASSERT_OK(tn_wait(&n.cancels_seen, 1, 3000));
  ASSERT_OK(tn_wait(&n.jobs_seen, 2, 3000)); /* B took the freed slot ... */
  wait_queue_depth(&f, 1);                   /* ... and C still waits */
  atomic_store(&n.mode, TN_OK);
  close(fb);
  ASSERT_OK(tn_wait(&n.cancels_seen, 2, 3000)); /* the job at the node was B's */
  char buf[8192];
  ASSERT_EQ_INT(read_status(fc, buf, sizeof buf), 200);
  close(fc);
  ASSERT_TRUE(strstr(buf, "Gloam-Mode: client-sealed") != NULL);
  ASSERT_TRUE(strstr(buf, "event: gloam.receipt") != NULL);
  ASSERT_TRUE(strstr(buf, "data: [DONE]") != NULL);
  ASSERT_EQ_INT(atomic_load(&n.jobs_seen), 3);
  ASSERT_EQ_INT(queue_depth(&f), 0);
  check_ledger(&f, 2, 1);
  ASSERT_EQ_INT(balance_of(&f, f.consumer), 1000000 - expected_cost(strlen(body_c), 3));
  tn_stop(&n);
  fx_stop(&f);
}

/* The queue's limits for client-sealed requests: over the model's queue
 * length 429 node_busy, over the wait time 503 queue_timeout, both with
 * Retry-After and an OpenAI error body; a client leaving while queued
 * leaves no job at the node and the balance as before. */
static void test_sealed_queue_limits(void) {
  g_queue_max = 1;
  g_queue_timeout_ms = 800;
  fx f;
  fx_start(&f, 1000000, 15000);
  g_queue_max = g_queue_timeout_ms = 0;
  testnode n;
  node_start(&f, &n, "node-q", 1, TN_HANG);
  int fa = sealed_open(&f, "node-q", "{}");
  ASSERT_OK(tn_wait(&n.jobs_seen, 1, 3000));
  int fb = sealed_open(&f, "node-q", "{}");
  wait_queue_depth(&f, 1);
  chat_res c;
  sealed_chat(&f, f.key, "node-q", MODEL, 32, "C", &c); /* the queue is full */
  ASSERT_EQ_INT(c.status, 429);
  ASSERT_EQ_STR(c.retry_after, "1");
  ASSERT_EQ_STR(c.error_code, "node_busy");
  char buf[8192];
  ASSERT_EQ_INT(read_status(fb, buf, sizeof buf), 503); /* B waited too long */
  close(fb);
  ASSERT_TRUE(strstr(buf, "Retry-After: 1") != NULL);
  const char *body = strstr(buf, "\r\n\r\n");
  ASSERT_NOT_NULL(body);
  json_error_t je;
  json_t *e = json_loads(body + 4, 0, &je);
  ASSERT_EQ_STR(err_code(e), "queue_timeout");
  ASSERT_NOT_NULL(json_string_value(json_object_get(json_object_get(e, "error"), "message")));
  ASSERT_NOT_NULL(json_string_value(json_object_get(json_object_get(e, "error"), "type")));
  json_decref(e);
  int fd = sealed_open(&f, "node-q", "{}"); /* D waits, then leaves */
  wait_queue_depth(&f, 1);
  close(fd);
  wait_queue_depth(&f, 0);
  ASSERT_EQ_INT(atomic_load(&n.jobs_seen), 1);
  close(fa);
  ASSERT_OK(tn_wait(&n.cancels_seen, 1, 3000));
  usleep(100 * 1000); /* a wrongly kept D would be dispatched now */
  ASSERT_EQ_INT(atomic_load(&n.jobs_seen), 1);
  check_ledger(&f, 1, 0);
  ASSERT_EQ_INT(balance_of(&f, f.consumer), 1000000);
  tn_stop(&n);
  fx_stop(&f);
}

/* The node a client-sealed request waits for disconnects: the waiting
 * request gets 503 node_unavailable at once (the client re-seals to another
 * node), the running one 502, and both are refunded. */
static void test_sealed_queue_node_gone(void) {
  fx f;
  fx_start(&f, 1000000, 15000);
  testnode n;
  node_start(&f, &n, "node-g", 1, TN_HANG);
  int fa = sealed_open(&f, "node-g", "{}");
  ASSERT_OK(tn_wait(&n.jobs_seen, 1, 3000));
  int fb = sealed_open(&f, "node-g", "{}");
  wait_queue_depth(&f, 1);
  tn_stop(&n);
  char buf[8192];
  ASSERT_EQ_INT(read_status(fb, buf, sizeof buf), 503);
  close(fb);
  ASSERT_TRUE(strstr(buf, "Retry-After: 1") != NULL);
  ASSERT_TRUE(strstr(buf, "\"code\":\"node_unavailable\"") != NULL);
  ASSERT_EQ_INT(read_status(fa, buf, sizeof buf), 502);
  close(fa);
  ASSERT_TRUE(strstr(buf, "\"code\":\"node_disconnected\"") != NULL);
  ASSERT_EQ_INT(queue_depth(&f), 0);
  check_ledger(&f, 1, 0);
  ASSERT_EQ_INT(balance_of(&f, f.consumer), 1000000);
  fx_stop(&f);
}

/* A client that leaves in the middle of a stream: the node hears cancel at
 * once and nothing is charged. */
static void test_cancel_mid_stream(void) {
  fx f;
  fx_start(&f, 1000000, 15000);
  testnode n;
  node_start(&f, &n, "node-c", 1, TN_STALL);
  int fd = sealed_open(&f, "node-c", "{}");
  char buf[4096];
  size_t got = 0;
  while (got < sizeof buf - 1 && !memmem(buf, got, "data: ", 6)) {
    ssize_t r = read(fd, buf + got, sizeof buf - 1 - got);
    if (r <= 0) break;
    got += (size_t)r;
  }
  ASSERT_TRUE(memmem(buf, got, "HTTP/1.1 200", 12) != NULL); /* streaming had begun */
  close(fd);
  ASSERT_OK(tn_wait(&n.cancels_seen, 1, 3000));
  for (int i = 0; i < 100 && balance_of(&f, f.consumer) != 1000000; i++) usleep(20000);
  ASSERT_EQ_INT(balance_of(&f, f.consumer), 1000000);
  tn_stop(&n);
  fx_stop(&f);
}

static void test_lying_and_failing_nodes_are_not_paid(void) {
  fx f;
  fx_start(&f, 1000000, 15000);
  testnode n;
  node_start(&f, &n, "node-a", 2, TN_LIE_TOKENS);
  chat_res c;
  sealed_chat(&f, f.key, "node-a", MODEL, 8, CANARY, &c);
  ASSERT_EQ_INT(c.status, 200); /* streaming had started */
  ASSERT_EQ_STR(c.error_code, "receipt_invalid");
  ASSERT_FALSE(c.done);
  atomic_store(&n.mode, TN_BAD_SIG);
  sealed_chat(&f, f.key, "node-a", MODEL, 8, CANARY, &c);
  ASSERT_EQ_STR(c.error_code, "receipt_invalid");
  atomic_store(&n.mode, TN_ERROR);
  sealed_chat(&f, f.key, "node-a", MODEL, 8, CANARY, &c);
  ASSERT_EQ_INT(c.status, 400); /* refused before any output: a plain error */
  ASSERT_EQ_STR(c.error_code, "context_length_exceeded");
  ASSERT_EQ_INT(balance_of(&f, f.consumer), 1000000);
  ASSERT_EQ_INT(balance_of(&f, f.op), 0);
  atomic_store(&n.mode, TN_DIE);
  sealed_chat(&f, f.key, "node-a", MODEL, 8, CANARY, &c);
  ASSERT_EQ_INT(c.status, 200);
  ASSERT_EQ_STR(c.error_code, "node_disconnected");
  ASSERT_EQ_INT(balance_of(&f, f.consumer), 1000000);
  tn_stop(&n);
  fx_stop(&f);
}

static void test_silent_node_is_evicted(void) {
  fx f;
  fx_start(&f, 1000000, 1000);
  testnode n;
  node_start(&f, &n, "node-s", 2, TN_SILENT);
  chat_res c;
  sealed_chat(&f, f.key, "node-s", MODEL, 8, CANARY, &c); /* waits until the eviction */
  ASSERT_EQ_INT(c.status, 502);
  ASSERT_EQ_STR(c.error_code, "node_disconnected");
  ASSERT_OK(tn_wait(&n.closed, 1, 3000));
  ASSERT_EQ_INT(atomic_load(&n.closed), 4408);
  int st;
  json_t *j = get_json(&f, "/v1/nodes", NULL, &st);
  ASSERT_EQ_INT(json_array_size(json_object_get(j, "data")), 0);
  json_decref(j);
  ASSERT_EQ_INT(balance_of(&f, f.consumer), 1000000);
  tn_stop(&n);
  fx_stop(&f);
}

/* A raw WebSocket client that sends one text message and records how the
 * coordinator closes the connection. */
typedef struct raw_ws {
  const char *send;
  int status;
  struct event_base *base;
} raw_ws;

static void rw_open(net_ws *ws, void *ud) {
  raw_ws *r = ud;
  net_ws_send(ws, false, r->send, strlen(r->send));
}
static void rw_close(net_ws *ws, int status, void *ud) {
  raw_ws *r = ud;
  r->status = status;
  event_base_loopbreak(r->base);
}
static const net_ws_callbacks rw_cb = {rw_open, NULL, rw_close};

static int ws_exchange(fx *f, const char *token, const char *text) {
  raw_ws r = {text, 0, event_base_new()};
  char auth[128], err[GLOAM_ERR_LEN];
  snprintf(auth, sizeof auth, "Bearer %s", token);
  net_ws_config cfg = NET_WS_CONFIG_DEFAULT;
  net_ws *ws;
  ASSERT_OK(net_ws_connect(r.base, "127.0.0.1", (uint16_t)f->port, "/v1/node/connect", auth, &cfg,
                           &rw_cb, &r, &ws, err));
  struct timeval five = {5, 0};
  event_base_loopexit(r.base, &five);
  event_base_dispatch(r.base);
  if (!r.status) net_ws_free(ws);
  event_base_free(r.base);
  return r.status;
}

static void test_node_protocol_violations(void) {
  fx f;
  fx_start(&f, 0, 15000);
  ASSERT_EQ_INT(ws_exchange(&f, f.token, "not json"), 4400);
  ASSERT_EQ_INT(ws_exchange(&f, f.token, "{\"type\":\"heartbeat\",\"free_slots\":1}"), 4400);
  ASSERT_EQ_INT(ws_exchange(&f, f.token, "{\"type\":\"launch_missiles\"}"), 4400);
  ASSERT_EQ_INT(ws_exchange(&f, "gnt_bogus_token_value", "{}"), 4000 + 401);
  testnode a, b;
  node_start(&f, &a, "node-dup", 1, TN_OK);
  memset(&b, 0, sizeof b);
  b.port = f.port;
  snprintf(b.token, sizeof b.token, "%s", f.token);
  snprintf(b.node_id, sizeof b.node_id, "node-dup");
  snprintf(b.model, sizeof b.model, MODEL);
  b.max_slots = 1;
  ASSERT_OK(tn_start(&b));
  ASSERT_OK(tn_wait(&b.closed, 1, 3000));
  ASSERT_EQ_INT(atomic_load(&b.closed), 4409);
  ASSERT_FALSE(atomic_load(&a.closed)); /* the first one stays */
  tn_stop(&b);
  tn_stop(&a);
  fx_stop(&f);
}

/* Starts a test node and waits for the coordinator to close it; the close code. */
static int node_refused(fx *f, const char *id, int attest, int new_identity) {
  testnode n;
  memset(&n, 0, sizeof n);
  n.port = f->port;
  snprintf(n.token, sizeof n.token, "%s", f->token);
  snprintf(n.node_id, sizeof n.node_id, "%s", id);
  snprintf(n.model, sizeof n.model, MODEL);
  n.max_slots = 1;
  n.attest = attest;
  n.new_identity = new_identity;
  ASSERT_OK(tn_start(&n));
  ASSERT_OK(tn_wait(&n.closed, 1, 3000));
  int code = atomic_load(&n.closed);
  ASSERT_EQ_INT(atomic_load(&n.jobs_seen), 0);
  tn_stop(&n);
  return code;
}

/* Evidence the coordinator must refuse, each with close code 4403 and the
 * node never listed: a statement over another nonce than the challenge
 * (a replay), a known node id coming back with another identity key, and a
 * validly signed software statement that claims `tpm`. */
static void test_attestation_rejects(void) {
  fx f;
  fx_start(&f, 0, 15000);
  testnode a;
  node_start(&f, &a, "node-pinned", 1, TN_OK);
  tn_stop(&a);
  wait_listed(&f, "node-pinned", 1);
  node_start(&f, &a, "node-pinned", 1, TN_OK); /* same key: welcome back */
  tn_stop(&a);
  wait_listed(&f, "node-pinned", 1);
  ASSERT_EQ_INT(node_refused(&f, "node-pinned", TN_ATT_OK, 1), 4403);
  ASSERT_EQ_INT(node_refused(&f, "node-replay", TN_ATT_WRONG_NONCE, 0), 4403);
  ASSERT_EQ_INT(node_refused(&f, "node-relabel", TN_ATT_RELABEL, 0), 4403);
  json_t *n = listed_node(&f, "node-relabel");
  ASSERT_TRUE(n == NULL);
  /* each for its own reason */
  size_t len;
  char *log = test_read_file(f.log, &len);
  ASSERT_NOT_NULL(log);
  ASSERT_TRUE(strstr(log, "identity key changed for a known node id") != NULL);
  ASSERT_TRUE(strstr(log, "nonce is not this verifier's challenge") != NULL);
  ASSERT_TRUE(strstr(log, "TPM level claimed without a tpm section") != NULL);
  free(log);
  fx_stop(&f);

  /* a verified node below the coordinator's minimum stays listed at its
   * level but is not routed */
  g_min_trust = GLOAM_TRUST_TPM;
  fx_start(&f, 1000000, 15000);
  g_min_trust = 0;
  node_start(&f, &a, "node-soft", 1, TN_OK);
  n = listed_node(&f, "node-soft");
  ASSERT_EQ_STR(json_string_value(json_object_get(n, "trust")), "software");
  json_decref(n);
  chat_res c;
  sealed_chat(&f, f.key, "node-soft", MODEL, 16, "hi", &c);
  ASSERT_EQ_INT(c.status, 503);
  ASSERT_EQ_INT(atomic_load(&a.jobs_seen), 0);
  tn_stop(&a);
  fx_stop(&f);
}

/* ---- identity pins in the store -------------------------------------------- */

/* The pin list entry of node id (new reference), or NULL. */
static json_t *pin_of(fx *f, const char *id) {
  json_t *j = admin(f, "list-pins", NULL, NULL, NULL, NULL), *p, *found = NULL;
  ASSERT_NOT_NULL(j);
  size_t i;
  json_array_foreach(json_object_get(j, "pins"), i, p) {
    if (strcmp(json_string_value(json_object_get(p, "node_id")), id) == 0) found = json_incref(p);
  }
  json_decref(j);
  return found;
}

/* The RFC 7638 thumbprint of the identity key in a listed node's published
 * evidence, computed here from the RFC's definition (SHA-256 over the
 * required members in lexicographic order, base64url): what the pin must
 * hold. */
static void evidence_thumb(fx *f, const char *id, char out[48]) {
  json_t *n = listed_node(f, id);
  ASSERT_NOT_NULL(n);
  json_error_t je;
  json_t *ev = json_loads(json_string_value(json_object_get(n, "evidence")), 0, &je);
  const char *jws = json_string_value(json_object_get(ev, "jws"));
  ASSERT_NOT_NULL(jws);
  const char *p1 = strchr(jws, '.'), *p2 = p1 ? strchr(p1 + 1, '.') : NULL;
  ASSERT_NOT_NULL(p2);
  static uint8_t payload[65536];
  long pl = codec_b64_decode(p1 + 1, (size_t)(p2 - p1 - 1), payload, sizeof payload, CODEC_B64_URL);
  ASSERT_TRUE(pl > 0);
  json_t *claims = json_loadb((const char *)payload, (size_t)pl, 0, &je);
  json_t *k = json_object_get(claims, "identity");
  char canon[256];
  int cl = snprintf(
      canon, sizeof canon, "{\"crv\":\"%s\",\"kty\":\"%s\",\"x\":\"%s\",\"y\":\"%s\"}",
      json_string_value(json_object_get(k, "crv")), json_string_value(json_object_get(k, "kty")),
      json_string_value(json_object_get(k, "x")), json_string_value(json_object_get(k, "y")));
  uint8_t d[32];
  unsigned dl = 0;
  ASSERT_EQ_INT(EVP_Digest(canon, (size_t)cl, d, &dl, EVP_sha256(), NULL), 1);
  ASSERT_EQ_INT(codec_b64_encode(d, 32, out, 48, CODEC_B64_URL), 43);
  json_decref(claims);
  json_decref(ev);
  json_decref(n);
}

static int log_count(fx *f, const char *what) {
  size_t len;
  char *log = test_read_file(f->log, &len);
  int n = 0;
  for (const char *p = log; p && (p = strstr(p, what)); p++) n++;
  free(log);
  return n;
}

/* Asserts node id's pin holds thumb; returns its first_seen_ms. */
static int64_t pin_is(fx *f, const char *id, const char *thumb) {
  json_t *p = pin_of(f, id);
  ASSERT_NOT_NULL(p);
  ASSERT_EQ_STR(json_string_value(json_object_get(p, "identity_thumb")), thumb);
  ASSERT_EQ_STR(json_string_value(json_object_get(p, "trust")), "software");
  int64_t first = json_integer_value(json_object_get(p, "first_seen_ms"));
  ASSERT_TRUE(first > 0 && json_integer_value(json_object_get(p, "last_seen_ms")) >= first);
  json_decref(p);
  return first;
}

static void restart(fx *f) {
  fx_close(f);
  fx_open(f, 15000);
}

/* A node id stays pinned to its key across coordinator restarts: another
 * key is refused (4403, the logged reason), the pinned key is welcomed
 * back, and after `admin drop-pin` the next key is accepted and pinned in
 * its turn (also across a restart). */
static void test_pins_survive_restart(void) {
  fx f;
  fx_start(&f, 0, 15000);
  testnode a;
  char k1[48], k2[48];
  node_start(&f, &a, "node-keep", 1, TN_OK);
  evidence_thumb(&f, "node-keep", k1);
  int64_t first = pin_is(&f, "node-keep", k1);
  tn_stop(&a);
  wait_listed(&f, "node-keep", 1);
  restart(&f);
  node_start(&f, &a, "node-keep", 1, TN_OK); /* the pinned key: welcome back */
  tn_stop(&a);
  wait_listed(&f, "node-keep", 1);
  ASSERT_EQ_INT(pin_is(&f, "node-keep", k1), first);
  restart(&f);
  ASSERT_EQ_INT(log_count(&f, "identity key changed for a known node id"), 0);
  ASSERT_EQ_INT(node_refused(&f, "node-keep", TN_ATT_OK, 1), 4403);
  ASSERT_TRUE(listed_node(&f, "node-keep") == NULL);
  ASSERT_TRUE(log_count(&f, "identity key changed for a known node id") > 0);
  ASSERT_EQ_INT(pin_is(&f, "node-keep", k1), first);
  /* the operator re-admits the re-keyed node, while the coordinator runs */
  json_t *j = admin(&f, "drop-pin", "--node", "node-keep", NULL, NULL);
  ASSERT_EQ_STR(json_string_value(json_object_get(j, "dropped")), "node-keep");
  json_decref(j);
  ASSERT_TRUE(pin_of(&f, "node-keep") == NULL);
  /* no such pin any more (admin() prints the expected refusal) */
  ASSERT_TRUE(admin(&f, "drop-pin", "--node", "node-keep", NULL, NULL) == NULL);
  node_start(&f, &a, "node-keep", 1, TN_OK); /* the new key (its file replaced the old one) */
  evidence_thumb(&f, "node-keep", k2);
  ASSERT_TRUE(strcmp(k1, k2) != 0);
  pin_is(&f, "node-keep", k2);
  tn_stop(&a);
  wait_listed(&f, "node-keep", 1);
  restart(&f);
  ASSERT_EQ_INT(node_refused(&f, "node-keep", TN_ATT_OK, 1), 4403);
  pin_is(&f, "node-keep", k2);
  fx_stop(&f);
}

/* A database made by schema 3 (tests/fixtures/coord/schema3.sql, dumped
 * from the previous code's own admin commands) migrates to 4 keeping its
 * accounts, credentials and prices, and a coordinator on it pins nodes. */
static void test_store_migrates_schema3(void) {
  fx f;
  fx_dir(&f);
  size_t len;
  char *fixture = test_fixture_path("coord/schema3.sql");
  char *sql = test_read_file(fixture, &len);
  free(fixture);
  ASSERT_NOT_NULL(sql);
  sqlite3 *db;
  ASSERT_EQ_INT(sqlite3_open(f.db, &db), SQLITE_OK);
  ASSERT_EQ_INT(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
  sqlite3_close(db);
  free(sql);
  char err[GLOAM_ERR_LEN];
  coord_store *s;
  ASSERT_OK(coord_store_open(&s, f.db, err));
  ASSERT_TRUE(coord_store_schema_version(s) >= 4); /* 4: node_pins */
  int64_t v = 0, w = 0, x = 0;
  ASSERT_OK(coord_store_balance(s, 4, &v));
  ASSERT_EQ_INT(v, 5000000);
  ASSERT_OK(coord_store_price_get(s, MODEL, &v, &w));
  ASSERT_EQ_INT(v, PRICE_IN);
  ASSERT_EQ_INT(w, PRICE_OUT);
  ASSERT_OK(coord_store_audio_price_get(s, "whisper-tiny", &v));
  ASSERT_EQ_INT(v, 6000);
  ASSERT_OK(coord_store_check(s, &v, &w, &x));
  json_t *pins = NULL;
  ASSERT_OK(coord_store_pin_list(s, &pins));
  ASSERT_EQ_INT(json_array_size(pins), 0);
  json_decref(pins);
  /* the store's pin rules: first sight pins, same key passes, another key
   * is refused without a write, a drop forgets */
  bool fresh = false;
  ASSERT_OK(coord_store_pin(s, "n1", "thumbA", "software", true, &fresh));
  ASSERT_TRUE(fresh);
  ASSERT_OK(coord_store_pin(s, "n1", "thumbA", "tpm", false, &fresh));
  ASSERT_TRUE(!fresh);
  ASSERT_EQ_INT(coord_store_pin(s, "n1", "thumbB", "software", true, &fresh), GLOAM_EAUTH);
  ASSERT_OK(coord_store_pin(s, "n1", "thumbA", "tpm", true, &fresh)); /* touch: level updated */
  ASSERT_OK(coord_store_pin_list(s, &pins));
  ASSERT_EQ_INT(json_array_size(pins), 1);
  ASSERT_EQ_STR(json_string_value(json_object_get(json_array_get(pins, 0), "identity_thumb")),
                "thumbA");
  ASSERT_EQ_STR(json_string_value(json_object_get(json_array_get(pins, 0), "trust")), "tpm");
  json_decref(pins);
  ASSERT_OK(coord_store_pin_drop(s, "n1"));
  ASSERT_EQ_INT(coord_store_pin_drop(s, "n1"), GLOAM_ENOENT);
  coord_store_close(s);
  /* the credentials the old code issued still work on a coordinator */
  snprintf(f.key, sizeof f.key, "gk_tkGpDoDeJfSPLSWUflY5ethtQEHspGvr9ZOlhzQM9Wg");
  snprintf(f.token, sizeof f.token, "gnt_78vHs72DCFhDFhbCfHMBRp3KJgYIfkRbP8K8Y4-5Vvk");
  f.consumer = 4;
  fx_open(&f, 15000);
  testnode a;
  node_start(&f, &a, "node-migrated", 1, TN_OK);
  char k[48];
  evidence_thumb(&f, "node-migrated", k);
  pin_is(&f, "node-migrated", k);
  chat_res c;
  sealed_chat(&f, f.key, "node-migrated", MODEL, 16, "hi", &c);
  ASSERT_EQ_INT(c.status, 200);
  ASSERT_TRUE(c.receipt_ok);
  tn_stop(&a);
  fx_stop(&f);
}

/* The coordinator over TLS: a node dials wss://, registers and serves. */
static void test_node_over_tls(void) {
  char err[GLOAM_ERR_LEN], cert[512], key[512];
  char *dir = test_tmpdir();
  make_cert(dir, cert, key, sizeof cert);
  g_tls_cert = cert;
  g_tls_key = key;
  fx f;
  fx_start(&f, 0, 15000);
  g_tls_cert = g_tls_key = NULL;
  SSL_CTX *cli;
  ASSERT_OK(net_tls_client_ctx(&cli, cert, err));
  testnode n;
  memset(&n, 0, sizeof n);
  n.port = f.port;
  n.tls = cli;
  snprintf(n.token, sizeof n.token, "%s", f.token);
  snprintf(n.node_id, sizeof n.node_id, "node-tls");
  snprintf(n.model, sizeof n.model, MODEL);
  n.max_slots = 1;
  ASSERT_OK(tn_start(&n));
  ASSERT_OK(tn_wait(&n.registered, 1, 3000));
  ASSERT_OK(tn_wait(&n.challenges_answered, 1, 3000));
  /* plain HTTP to the TLS port gets nothing useful */
  raw_resp r;
  raw_http(f.port, "GET", "/health", NULL, NULL, 0, &r);
  ASSERT_NE_INT(r.status, 200);
  raw_free(&r);
  tn_stop(&n);
  fx_stop(&f);
  SSL_CTX_free(cli);
  free(dir);
}

static void test_random_workload_ledger_and_canary(void) {
  fx f;
  fx_start(&f, 200000, 15000);
  testnode a, b;
  node_start(&f, &a, "node-a", 4, TN_OK);
  node_start(&f, &b, "node-b", 4, TN_OK);
  srand(12345);
  int ok = 0, admitted = 0;
  int64_t expect_spent = 0;
  for (int i = 0; i < 24; i++) {
    testnode *n = (i & 1) ? &b : &a;
    int modes[] = {TN_OK, TN_OK, TN_OK, TN_ERROR, TN_LIE_TOKENS, TN_BAD_SIG};
    int mode = modes[rand() % 6];
    atomic_store(&n->mode, mode);
    uint32_t max_out = 1 + (uint32_t)(rand() % 50000);
    chat_res c;
    char prompt[128];
    snprintf(prompt, sizeof prompt, "%s request %d", CANARY, i);
    sealed_chat(&f, f.key, n->node_id, MODEL, max_out, prompt, &c);
    if (c.status == 402) continue;
    admitted++;
    if (mode == TN_OK) {
      ASSERT_EQ_INT(c.status, 200);
      ASSERT_TRUE(c.receipt_ok);
      ok++;
      expect_spent += c.charged;
    }
  }
  ASSERT_TRUE(ok > 0);
  ASSERT_TRUE(admitted > ok);
  int64_t spent = 200000 - balance_of(&f, f.consumer);
  ASSERT_EQ_INT(spent, expect_spent);
  ASSERT_EQ_INT(balance_of(&f, f.op), expect_spent); /* fee 0: operators keep it all */
  tn_stop(&a);
  tn_stop(&b);
  fx_stop(&f);
  /* the invariants, from a fresh connection to the file */
  coord_store *s;
  char err[GLOAM_ERR_LEN];
  ASSERT_OK(coord_store_open(&s, f.db, err));
  int64_t res, set, ref;
  ASSERT_OK(coord_store_check(s, &res, &set, &ref));
  ASSERT_EQ_INT(res, 0);
  ASSERT_EQ_INT(set, ok);
  ASSERT_EQ_INT(set + ref, admitted);
  coord_store_close(s);
  /* the canary went through every request; it is in no log or db file */
  char wal[600];
  snprintf(wal, sizeof wal, "%s-wal", f.db);
  struct stat sb;
  ASSERT_TRUE(stat(f.log, &sb) == 0 && sb.st_size > 0);
  ASSERT_TRUE(file_contains(f.log, "chat.done")); /* the log is real */
  ASSERT_FALSE(file_contains(f.log, CANARY));
  ASSERT_FALSE(file_contains(f.db, CANARY));
  ASSERT_FALSE(file_contains(wal, CANARY));
}

/* GLOAM_BENCH=1 only: one client-sealed request whose node streams
 * TN_FLOOD_CHUNKS small sealed chunks; reports relayed chunks per second
 * end to end (node sealing + coordinator relay + client reading, all on this
 * machine's cores). */
/* Settlements (receipt check + SQLite write) run off the loop: with every
 * ledger task slowed to 400 ms, /health still answers at once while eight
 * settlements are queued, and every chat is still charged exactly. */
typedef struct slow_arg {
  fx *f;
  chat_res res;
} slow_arg;
static void *slow_chat(void *p) {
  slow_arg *a = p;
  sealed_chat(a->f, a->f->key, "node-s", MODEL, 4, "slow ledger", &a->res);
  return NULL;
}
static long metric_of(fx *f, const char *name) {
  raw_resp r;
  if (raw_http(f->port, "GET", "/metrics", NULL, NULL, 0, &r) < 0) return -1;
  char pat[128];
  snprintf(pat, sizeof pat, "\n%s ", name);
  const char *h = r.body ? strstr(r.body, pat) : NULL;
  long v = h ? strtol(h + strlen(pat), NULL, 10) : -1;
  raw_free(&r);
  return v;
}
static void test_loop_responsive_while_settling(void) {
  enum { N = 8 };
  g_ledger_delay_ms = 400;
  fx f;
  fx_start(&f, 100000000, 15000);
  g_ledger_delay_ms = 0;
  testnode n;
  node_start(&f, &n, "node-s", N, TN_OK);
  slow_arg a[N];
  pthread_t th[N];
  for (int i = 0; i < N; i++) {
    a[i].f = &f;
    pthread_create(&th[i], NULL, slow_chat, &a[i]);
  }
  long depth = 0;
  for (int i = 0; i < 500 && depth < 2; i++) {
    depth = metric_of(&f, "gloam_ledger_queue_depth");
    usleep(2000);
  }
  ASSERT_TRUE(depth >= 2); /* settlements are in flight ... */
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  int st;
  json_t *j = get_json(&f, "/health", NULL, &st);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  json_decref(j);
  ASSERT_EQ_INT(st, 200);
  double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
  ASSERT_TRUE(ms < 200); /* ... yet the loop answers well before one of them ends */
  ASSERT_TRUE(metric_of(&f, "gloam_ledger_queue_depth") >= 1);
  int64_t charged = 0;
  for (int i = 0; i < N; i++) {
    pthread_join(th[i], NULL);
    ASSERT_EQ_INT(a[i].res.status, 200);
    ASSERT_TRUE(a[i].res.receipt_ok);
    charged += a[i].res.charged;
  }
  ASSERT_TRUE(charged > 0);
  ASSERT_EQ_INT(balance_of(&f, f.consumer), 100000000 - charged);
  tn_stop(&n);
  fx_stop(&f);
}

/* A write lock on the coordinator's database, held from another connection
 * as a busy writer (a backup, an admin command, a slow disk) would hold it:
 * the coordinator's reservations wait for it (busy timeout 5 s). */
static sqlite3 *db_lock(fx *f) {
  sqlite3 *db = NULL;
  ASSERT_EQ_INT(sqlite3_open(f->db, &db), SQLITE_OK);
  ASSERT_EQ_INT(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
  return db;
}

static void db_unlock(sqlite3 *db) {
  ASSERT_EQ_INT(sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
  sqlite3_close(db);
}

/* Waits (up to 5 s) until the metric `name` reaches at least min. */
static void wait_metric(fx *f, const char *name, long min) {
  for (int i = 0; i < 1000; i++) {
    if (metric_of(f, name) >= min) return;
    usleep(5000);
  }
  test_fail(__FILE__, __LINE__, "%s never reached %ld", name, min);
}

/* The reservation at admission runs off the loop: while the database is
 * write-locked by another connection, a chat waits for its reservation on
 * a ledger worker and the coordinator keeps answering other requests; once
 * the lock goes, the chat is served and charged exactly. With the
 * reservation on the loop, /metrics and /v1/models would wait for the
 * lock too. */
static void test_loop_serves_while_reserving(void) {
  fx f;
  fx_start(&f, 1000000, 15000);
  testnode n;
  node_start(&f, &n, "node-s", 2, TN_OK);
  sqlite3 *db = db_lock(&f);
  slow_arg a = {.f = &f};
  pthread_t th;
  pthread_create(&th, NULL, slow_chat, &a);
  wait_metric(&f, "gloam_ledger_queue_depth", 1); /* the reservation waits on a worker */
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  int st;
  json_t *j = get_json(&f, "/v1/models", NULL, &st);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  ASSERT_EQ_INT(st, 200);
  ASSERT_EQ_INT(json_array_size(json_object_get(j, "data")), 1);
  json_decref(j);
  double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
  ASSERT_TRUE(ms < 200);
  ASSERT_EQ_INT(atomic_load(&n.jobs_seen), 0); /* nothing dispatched before the funds are held */
  ASSERT_TRUE(metric_of(&f, "gloam_ledger_queue_depth") >= 1);
  db_unlock(db);
  pthread_join(th, NULL);
  ASSERT_EQ_INT(a.res.status, 200);
  ASSERT_TRUE(a.res.receipt_ok);
  size_t body_len = strlen("{\"model\":\"" MODEL
                           "\",\"messages\":[{\"role\":\"user\",\"content\":\"slow ledger\"}]}");
  ASSERT_EQ_INT(a.res.charged, expected_cost(body_len, 3));
  ASSERT_EQ_INT(balance_of(&f, f.consumer), 1000000 - a.res.charged);
  tn_stop(&n);
  fx_stop(&f);
}

/* A client that leaves while its reservation is pending (client-sealed,
 * then coordinator-sealed): the reservation commits after it left, is
 * refunded, and nothing reaches the node; the balance is exactly as before
 * and the ledger holds no open reservation. */
static void test_client_leaves_while_reserving(void) {
  fx f;
  fx_start(&f, 1000000, 15000);
  testnode n;
  node_start(&f, &n, "node-s", 2, TN_OK);
  sqlite3 *db = db_lock(&f);
  int fd = sealed_open(&f, "node-s", "{}");
  wait_metric(&f, "gloam_ledger_queue_depth", 1);
  close(fd);
  wait_metric(&f, "gloam_http_requests_total{code=\"499\"}", 1); /* seen gone */
  const char *body = "{\"model\":\"" MODEL
                     "\",\"max_tokens\":20,\"messages\":[{\"role\":"
                     "\"user\",\"content\":\"hi\"}]}";
  char req[1024];
  int rl = snprintf(req, sizeof req,
                    "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                    "Authorization: Bearer %s\r\nContent-Type: application/json\r\n"
                    "Content-Length: %zu\r\n\r\n%s",
                    f.key, strlen(body), body);
  fd = raw_open(f.port, req, (size_t)rl);
  ASSERT_TRUE(fd >= 0);
  wait_metric(&f, "gloam_ledger_queue_depth", 2);
  close(fd);
  wait_metric(&f, "gloam_http_requests_total{code=\"499\"}", 2);
  db_unlock(db);
  for (int i = 0; i < 500 && metric_of(&f, "gloam_ledger_queue_depth") != 0; i++) usleep(5000);
  ASSERT_EQ_INT(metric_of(&f, "gloam_ledger_queue_depth"), 0); /* reserved, then refunded */
  ASSERT_EQ_INT(metric_of(&f, "gloam_chat_requests_total{outcome=\"failed\"}"), 2);
  ASSERT_EQ_INT(atomic_load(&n.jobs_seen), 0);
  ASSERT_EQ_INT(balance_of(&f, f.consumer), 1000000);
  json_t *j = admin(&f, "check", NULL, NULL, NULL, NULL);
  ASSERT_TRUE(json_is_true(json_object_get(j, "ok")));
  ASSERT_EQ_INT(json_integer_value(json_object_get(j, "reserved")), 0);
  ASSERT_EQ_INT(json_integer_value(json_object_get(j, "refunded")), 2);
  ASSERT_EQ_INT(json_integer_value(json_object_get(j, "settled")), 0);
  json_decref(j);
  tn_stop(&n);
  fx_stop(&f);
}

/* A request whose reservation is pending holds its node's slot: a second
 * coordinator-sealed request for a one-slot node waits in the queue (as it
 * did when reservations were synchronous) instead of racing the first; both
 * are served in turn once the database is free. */
static void test_slot_held_while_reserving(void) {
  fx f;
  fx_start(&f, 1000000, 15000);
  testnode n;
  node_start(&f, &n, "node-s", 1, TN_OK);
  const char *body = "{\"model\":\"" MODEL
                     "\",\"max_tokens\":20,\"messages\":[{\"role\":"
                     "\"user\",\"content\":\"hi\"}]}";
  char req[1024];
  int rl = snprintf(req, sizeof req,
                    "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                    "Authorization: Bearer %s\r\nContent-Type: application/json\r\n"
                    "Content-Length: %zu\r\n\r\n%s",
                    f.key, strlen(body), body);
  sqlite3 *db = db_lock(&f);
  int fd1 = raw_open(f.port, req, (size_t)rl);
  wait_metric(&f, "gloam_ledger_queue_depth", 1); /* A reserves, holding the slot */
  int fd2 = raw_open(f.port, req, (size_t)rl);
  wait_metric(&f, "gloam_queue_depth", 1); /* B waits for it */
  ASSERT_EQ_INT(metric_of(&f, "gloam_ledger_queue_depth"), 1);
  db_unlock(db);
  char buf[8192];
  ASSERT_EQ_INT(read_status(fd1, buf, sizeof buf), 200);
  ASSERT_EQ_INT(read_status(fd2, buf, sizeof buf), 200);
  close(fd1);
  close(fd2);
  ASSERT_EQ_INT(atomic_load(&n.jobs_seen), 2);
  for (int i = 0; i < 100 && metric_of(&f, "gloam_ledger_queue_depth") != 0; i++) usleep(5000);
  ASSERT_EQ_INT(balance_of(&f, f.consumer), 1000000 - 2 * expected_cost(strlen(body), 3));
  tn_stop(&n);
  fx_stop(&f);
}

/* The client library (what `gloam proxy` and `gloam chat` run) against the
 * queue: it ranks node-a first (both idle in /v1/nodes: node-a's slot is
 * only held by a pending reservation) and seals to it; the request waits
 * for node-a; node-a leaves, the waiting request gets 503 and the client
 * re-seals to node-b, which serves it with a verified receipt. */
typedef struct client_arg {
  fx *f;
  int rc;
  gloam_chat_result res;
  char err[GLOAM_ERR_LEN];
} client_arg;

static int ignore_chunk(const char *data, size_t len, void *ud) {
  (void)data, (void)len, (void)ud;
  return 0;
}

static void *client_chat(void *p) {
  client_arg *a = p;
  char url[64];
  snprintf(url, sizeof url, "http://127.0.0.1:%d", a->f->port);
  gloam_client_config cfg = {
      .base_url = url, .api_key = a->f->key, .min_trust = GLOAM_TRUST_SOFTWARE};
  gloam_client *c;
  a->rc = gloam_client_new(&c, &cfg, a->err);
  if (a->rc < 0) return NULL;
  const char *body = "{\"model\":\"" MODEL
                     "\",\"max_tokens\":16,\"messages\":[{\"role\":\"user\",\"content\":"
                     "\"hi\"}]}";
  a->rc = gloam_client_chat(c, body, strlen(body), NULL, ignore_chunk, NULL, &a->res, a->err);
  gloam_client_free(c);
  return NULL;
}

static void test_client_fails_over_from_queue(void) {
  fx f;
  fx_start(&f, 1000000, 15000);
  testnode a, b;
  node_start(&f, &a, "node-a", 1, TN_HANG);
  node_start(&f, &b, "node-b", 1, TN_OK);
  sqlite3 *db = db_lock(&f);
  int fd = sealed_open(&f, "node-a", "{}"); /* holds node-a's slot while reserving */
  wait_metric(&f, "gloam_ledger_queue_depth", 1);
  client_arg ca = {.f = &f};
  pthread_t th;
  pthread_create(&th, NULL, client_chat, &ca);
  wait_queue_depth(&f, 1); /* the client's request waits for node-a */
  tn_stop(&a);
  wait_queue_depth(&f, 0);
  db_unlock(db);
  pthread_join(th, NULL);
  if (ca.rc != 0) fprintf(stderr, "client: %s\n", ca.err);
  ASSERT_EQ_INT(ca.rc, 0);
  ASSERT_EQ_INT(ca.res.attempts, 2);
  ASSERT_EQ_STR(ca.res.node_id, "node-b");
  ASSERT_TRUE(ca.res.receipt_ok);
  char buf[4096];
  ASSERT_EQ_INT(read_status(fd, buf, sizeof buf), 503); /* its node went while it reserved */
  close(fd);
  ASSERT_EQ_INT(atomic_load(&a.jobs_seen), 0);
  check_ledger(&f, 1, 1);
  ASSERT_EQ_INT(balance_of(&f, f.consumer), 1000000 - ca.res.charged_micro_usd);
  gloam_chat_result_deinit(&ca.res);
  tn_stop(&b);
  fx_stop(&f);
}

static void test_bench_relay(void) {
  const char *b = getenv("GLOAM_BENCH");
  if (!b || strcmp(b, "1") != 0) TEST_SKIP("set GLOAM_BENCH=1");
  fx f;
  fx_start(&f, 100000000, 15000);
  testnode n;
  node_start(&f, &n, "node-f", 1, TN_FLOOD);
  struct timespec t0, t1;
  chat_res c;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  sealed_chat(&f, f.key, "node-f", MODEL, TN_FLOOD_CHUNKS, "bench", &c);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
  ASSERT_EQ_INT(c.status, 200);
  ASSERT_EQ_INT(c.n_frames, TN_FLOOD_CHUNKS + 2);
  ASSERT_TRUE(c.receipt_ok);
  fprintf(stderr, "bench: %d sealed chunks relayed in %.3f s: %.0f chunks/s end to end\n",
          TN_FLOOD_CHUNKS + 2, s, (TN_FLOOD_CHUNKS + 2) / s);
  tn_stop(&n);
  fx_stop(&f);
  /* the ledger's cost per request on the loop thread: reserve + settle */
  coord_store *st;
  char err[GLOAM_ERR_LEN];
  ASSERT_OK(coord_store_open(&st, f.db, err));
  int64_t op_id = f.op;
  struct timespec c0, c1;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c0);
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (int i = 0; i < 2000; i++) {
    char id[32];
    snprintf(id, sizeof id, "bench-%d", i);
    ASSERT_OK(coord_store_reserve(st, id, f.consumer, MODEL, 1000));
    ASSERT_OK(coord_store_settle(st, id, op_id, 700, 0, 10, 10, "node-f"));
  }
  clock_gettime(CLOCK_MONOTONIC, &t1);
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c1);
  s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
  double cpu = (double)(c1.tv_sec - c0.tv_sec) + (double)(c1.tv_nsec - c0.tv_nsec) / 1e9;
  fprintf(stderr,
          "bench: reserve + settle: %.1f us wall, %.1f us CPU per request (SQLite WAL, "
          "synchronous=NORMAL)\n",
          s / 2000 * 1e6, cpu / 2000 * 1e6);
  coord_store_close(st);
}

/* GLOAM_SDK_HOLD=FILE only: starts a coordinator with an honest test node,
 * writes "PORT KEY" to FILE and serves until FILE is removed (at most
 * 120 s), so an external client (the official SDKs) can be pointed at it. */
static void test_hold_for_sdk(void) {
  const char *path = getenv("GLOAM_SDK_HOLD");
  if (!path || !*path) TEST_SKIP("set GLOAM_SDK_HOLD=FILE");
  fx f;
  fx_start(&f, 100000000, 15000);
  testnode n;
  node_start(&f, &n, "node-sdk", 4, TN_OK);
  FILE *o = fopen(path, "w");
  ASSERT_NOT_NULL(o);
  fprintf(o, "%d %s\n", f.port, f.key);
  fclose(o);
  for (int i = 0; i < 1200 && access(path, F_OK) == 0; i++) {
    const char *m = getenv("GLOAM_SDK_MODE");
    if (m) atomic_store(&n.mode, m[0] == 't' ? TN_TOOL : TN_OK);
    usleep(100 * 1000);
  }
  tn_stop(&n);
  fx_stop(&f);
}

int main(int argc, char **argv) {
  net_ignore_sigpipe();
  static const test_case tests[] = {
      TEST(test_store_ledger),
      TEST(test_chat_request_validation),
      TEST(test_http_errors),
      TEST(test_sealed_chat_end_to_end),
      TEST(test_coordinator_sealed_mode),
      TEST(test_coordinator_sealed_failover),
      TEST(test_queue_when_busy),
      TEST(test_anthropic_translation),
      TEST(test_anthropic_messages_end_to_end),
      TEST(test_insufficient_balance_402),
      TEST(test_sealed_queue_in_order),
      TEST(test_sealed_queue_limits),
      TEST(test_sealed_queue_node_gone),
      TEST(test_cancel_mid_stream),
      TEST(test_lying_and_failing_nodes_are_not_paid),
      TEST(test_silent_node_is_evicted),
      TEST(test_node_protocol_violations),
      TEST(test_attestation_rejects),
      TEST(test_pins_survive_restart),
      TEST(test_store_migrates_schema3),
      TEST(test_node_over_tls),
      TEST(test_random_workload_ledger_and_canary),
      TEST(test_loop_responsive_while_settling),
      TEST(test_loop_serves_while_reserving),
      TEST(test_client_leaves_while_reserving),
      TEST(test_slot_held_while_reserving),
      TEST(test_client_fails_over_from_queue),
      TEST(test_bench_relay),
      TEST(test_hold_for_sdk),
      {0},
  };
  return test_main(argc, argv, tests);
}
