/* SPDX-License-Identifier: Apache-2.0
 *
 * tests/node/test_node.c: gloam-node, unit and end to end.
 *
 * Unit: request parsing (refusal codes), the output splitter (tags and stop
 * strings split across pieces), config files and URLs.
 *
 * End to end: a real gloam-node process (seccomp on) against a fake
 * coordinator written here over a real WebSocket (libevent evhttp + the
 * net module's server side). The fixture model (tests/fixtures/models/qwen3)
 * has random weights and a 512-token vocabulary, so it runs with the real
 * Qwen3 tokenizer (tests/fixtures/tokenizers/qwen3) and clamp_token_ids
 * (prompt ids >= 512 become id % 512); the test applies the same rule to
 * compute the reference. Checks, against independent references:
 *  - registration: weights digest = SHA-256 of model.safetensors computed
 *    here, binary digest = SHA-256 of the gloam-node file, evidence is a JWS
 *    that verifies under the identity JWK in its header and binds the HPKE
 *    key and receipt key the node registered; posture says seccomp "filter";
 *  - a challenge is answered with evidence that carries the nonce;
 *  - a sealed streaming job opens with the client's own keys; its text is
 *    the tokenizer's decoding of the ids `gloam-engine generate` produces
 *    greedily for the same prompt ids, and the token counts match; the
 *    receipt verifies with the registered key and binds request and
 *    transcript hashes (gloam_receipt_check_client);
 *  - a non-streaming job yields one chat.completion object;
 *  - cancel stops a long generation within a couple of frames, with no
 *    job_done, and frees the slot;
 *  - unknown model, too-long context, json_object, a garbage envelope are
 *    refused with the protocol's codes;
 *  - after the coordinator drops the connection the node reconnects and
 *    registers with the same keys; SIGTERM exits cleanly.
 */
#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <fcntl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/codec.h"
#include "core/time.h"
#include "crypto/es256.h"
#include "gloam/chat.h"
#include "gloam/receipt.h"
#include "gloam/seal.h"
#include "gloam/tokenizer.h"
#include "net/server.h"
#include "net/ws.h"
#include "node/config.h"
#include "node/outparse.h"
#include "node/request.h"
#include "node/status.h"
#include "node/sysinfo.h"
#include "test.h"

extern char **environ;

/* ================================================================ unit */

static int refuse(const char *body, const char **code) {
  node_request r;
  char err[GLOAM_ERR_LEN];
  int rc = node_request_parse((const uint8_t *)body, strlen(body), &r, err);
  *code = rc < 0 ? node_request_error_code(&r) : NULL;
  node_request_deinit(&r);
  return rc;
}

static void test_request_parse(void) {
  node_request r;
  char err[GLOAM_ERR_LEN];
  const char *ok =
      "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],"
      "\"max_completion_tokens\":7,\"temperature\":0,\"top_p\":0.5,\"seed\":3,"
      "\"stop\":[\"a\",\"bc\"],\"stream\":true,"
      "\"stream_options\":{\"include_usage\":true},\"presence_penalty\":1}";
  ASSERT_OK(node_request_parse((const uint8_t *)ok, strlen(ok), &r, err));
  ASSERT_EQ_INT(r.max_tokens, 7);
  ASSERT_NEAR(r.temperature, 0, 0);
  ASSERT_NEAR(r.top_p, 0.5, 1e-9);
  ASSERT_TRUE(r.has_seed && r.seed == 3);
  ASSERT_EQ_INT(r.n_stop, 2);
  ASSERT_EQ_STR(r.stop[1], "bc");
  ASSERT_TRUE(r.stream && r.include_usage);
  ASSERT_EQ_STR(r.model, "m");
  node_request_deinit(&r);
  const char *code;
  ASSERT_EQ_INT(refuse("{\"messages\":[]}", &code), GLOAM_EFORMAT);
  ASSERT_EQ_STR(code, "invalid_request");
  ASSERT_TRUE(refuse("{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
                     "\"response_format\":{\"type\":\"json_object\"}}",
                     &code) < 0);
  ASSERT_EQ_STR(code, "unsupported_response_format");
  ASSERT_TRUE(refuse("{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"n\":2}", &code) < 0);
  ASSERT_TRUE(refuse("{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"temperature\":3}",
                     &code) < 0);
  ASSERT_TRUE(refuse("{\"messages\":[{\"role\":\"wizard\",\"content\":\"x\"}]}", &code) < 0);
  ASSERT_TRUE(refuse("[1]", &code) < 0);
  ASSERT_TRUE(refuse("{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
                     "\"stop\":[\"a\",\"b\",\"c\",\"d\",\"e\"]}",
                     &code) < 0);
  ASSERT_OK(
      refuse("{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":"
             "\"x\"}]}],\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\"}}]}",
             &code));
}

typedef struct collected {
  char content[256], reasoning[256], tool[256];
} collected;

static int collect(void *ud, enum outparse_kind k, const char *a, size_t al, const char *b,
                   size_t bl) {
  collected *c = ud;
  char *dst = k == OUT_CONTENT ? c->content : k == OUT_REASONING ? c->reasoning : c->tool;
  size_t n = strlen(dst);
  if (k == OUT_TOOL_CALL) {
    snprintf(dst + n, 256 - n, "%.*s(%.*s)", (int)al, a, (int)bl, b);
    return 0;
  }
  snprintf(dst + n, 256 - n, "%.*s", (int)al, a);
  return 0;
}

/* Feeds text one byte at a time, so every tag is split. */
static void feed_bytes(outparse *p, const char *s, collected *c) {
  for (size_t i = 0; s[i]; i++) ASSERT_OK(outparse_push(p, s + i, 1, false, collect, c));
  ASSERT_OK(outparse_push(p, NULL, 0, true, collect, c));
}

static void test_outparse(void) {
  outparse p;
  collected c = {0};
  outparse_init(&p, true, true, NULL, NULL, 0);
  feed_bytes(&p,
             "<think>plan</think>Hi <tool_call>{\"name\":\"get\",\"arguments\":{\"a\":1}}"
             "</tool_call> <b>x",
             &c);
  ASSERT_EQ_STR(c.reasoning, "plan");
  ASSERT_EQ_STR(c.content, "Hi  <b>x");
  ASSERT_EQ_STR(c.tool, "get({\"a\":1})");
  outparse_deinit(&p);
  /* a stop string split across pieces never reaches the client */
  const char *stops[] = {"END"};
  size_t lens[] = {3};
  memset(&c, 0, sizeof c);
  outparse_init(&p, false, false, stops, lens, 1);
  ASSERT_OK(outparse_push(&p, "abc E", 5, false, collect, &c));
  ASSERT_EQ_STR(c.content, "abc ");
  ASSERT_OK(outparse_push(&p, "NDzzz", 5, false, collect, &c));
  ASSERT_TRUE(p.stopped);
  ASSERT_EQ_STR(c.content, "abc ");
  outparse_deinit(&p);
  /* a tool call that is not JSON comes out as the text it was */
  memset(&c, 0, sizeof c);
  outparse_init(&p, false, true, NULL, NULL, 0);
  feed_bytes(&p, "<tool_call>oops</tool_call>", &c);
  ASSERT_EQ_STR(c.content, "<tool_call>oops</tool_call>");
  outparse_deinit(&p);
}

static void test_config(void) {
  node_config c;
  char err[GLOAM_ERR_LEN];
  node_config_defaults(&c);
  char *dir = test_tmpdir();
  char path[512];
  snprintf(path, sizeof path, "%s/node.conf", dir);
  FILE *f = fopen(path, "w");
  ASSERT_NOT_NULL(f);
  fputs(
      "# comment\ncoordinator = ws://127.0.0.1:9/x\n token=gnt_1 \nmodel=/m/qwen3-0.6b\n"
      "slots = 3\nseccomp = off\n",
      f);
  fclose(f);
  ASSERT_OK(node_config_load_file(&c, path, err));
  ASSERT_OK(node_config_check(&c, err));
  ASSERT_EQ_INT(c.slots, 3);
  ASSERT_FALSE(c.seccomp);
  ASSERT_EQ_STR(c.model_id, "qwen3-0.6b");
  ASSERT_EQ_STR(c.tokenizer, "/m/qwen3-0.6b");
  ASSERT_EQ_INT(node_config_set(&c, "slotz", "1", err), GLOAM_EINVAL);
  ASSERT_EQ_INT(node_config_set(&c, "slots", "0", err), GLOAM_EINVAL);
  char host[64], p[64];
  uint16_t port;
  bool tls;
  ASSERT_OK(
      node_parse_ws_url("ws://10.0.0.1:8080", host, sizeof host, &port, p, sizeof p, &tls, err));
  ASSERT_EQ_STR(host, "10.0.0.1");
  ASSERT_EQ_INT(port, 8080);
  ASSERT_EQ_STR(p, "/v1/node/connect");
  ASSERT_FALSE(tls);
  ASSERT_OK(node_parse_ws_url("wss://coord.example/x/y", host, sizeof host, &port, p, sizeof p,
                              &tls, err));
  ASSERT_TRUE(tls);
  ASSERT_EQ_INT(port, 443);
  ASSERT_EQ_STR(p, "/x/y");
  ASSERT_TRUE(node_parse_ws_url("ftp://x", host, sizeof host, &port, p, sizeof p, &tls, err) < 0);
  free(dir);
}

static void sha256_file(const char *path, char hex[72]);

/* The weights digest equals an independent SHA-256 of the file, and the
 * second call is served from the cache file the first one wrote. */
static void test_weights_digest(void) {
  char *model = test_fixture_path("models/qwen3"),
       *st = test_fixture_path("models/qwen3/model.safetensors");
  char *dir = test_tmpdir(), want[72], got[80], again[80], err[GLOAM_ERR_LEN];
  sha256_file(st, want);
  ASSERT_OK(node_weights_digest(model, dir, got, sizeof got, err));
  ASSERT_EQ_STR(got, want);
  char cmd[600];
  snprintf(cmd, sizeof cmd, "ls %s | grep -c '^weights-.*\\.digest$'", dir);
  FILE *p = popen(cmd, "r");
  char line[16] = "";
  ASSERT_NOT_NULL(fgets(line, sizeof line, p));
  pclose(p);
  ASSERT_EQ_STR(line, "1\n");
  ASSERT_OK(node_weights_digest(model, dir, again, sizeof again, err));
  ASSERT_EQ_STR(again, want);
  free(model);
  free(st);
  free(dir);
}

/* ================================================================ fake coordinator */

#define MAXMSG 512

typedef struct msg {
  bool binary;
  uint8_t *data;
  size_t len;
  json_t *json; /* text messages */
} msg;

static struct {
  struct event_base *base;
  struct evhttp *http;
  int port;
  net_ws *ws;
  int n_connects;
  msg q[MAXMSG];
  int head, tail;
  pid_t pid;
  char *state_dir;
  char *extra[3];      /* more serve flags (test_e2e_schedule) */
  uint64_t startup_ms; /* spawn to register, measured by ensure_node */
  /* from the latest register */
  json_t *reg;
  uint8_t hpke_pk[32];
  char node_id[65];
  gloam_receipt_key *rkey;
} F;

static void ws_msg(net_ws *ws, bool binary, const uint8_t *data, size_t len, void *ud) {
  if (F.tail - F.head >= MAXMSG) return;
  msg *m = &F.q[F.tail++ % MAXMSG];
  m->binary = binary;
  m->data = malloc(len + 1);
  memcpy(m->data, data, len);
  m->data[len] = 0;
  m->len = len;
  m->json = binary ? NULL : json_loadb((const char *)data, len, 0, NULL);
}

static void ws_close(net_ws *ws, int status, void *ud) {
  if (F.ws == ws) F.ws = NULL;
}

static void on_http(struct evhttp_request *req, void *ud) {
  static const net_ws_callbacks cb = {NULL, ws_msg, ws_close};
  const char *auth = evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization");
  if (!auth || strcmp(auth, "Bearer gnt_test") != 0) {
    evhttp_send_reply(req, 401, "Unauthorized", NULL);
    return;
  }
  const char *uri = evhttp_request_get_uri(req);
  if (uri && !strcmp(uri, "/v1/operator/earnings")) { /* for `gloam-node status` */
    struct evbuffer *b = evbuffer_new();
    evbuffer_add_printf(b,
                        "{\"object\":\"earnings\",\"earned_micro_usd\":1234567,"
                        "\"requests\":7,\"balance_micro_usd\":1234567}");
    evhttp_send_reply(req, 200, "OK", b);
    evbuffer_free(b);
    return;
  }
  net_ws_config cfg = {8u << 20, 64u << 20, 0};
  char err[GLOAM_ERR_LEN];
  net_ws *ws;
  if (net_ws_accept(req, &cfg, &cb, NULL, &ws, err) < 0) {
    evhttp_send_reply(req, 400, "Bad Request", NULL);
    return;
  }
  F.ws = ws;
  F.n_connects++;
}

static void msg_free(msg *m) {
  free(m->data);
  json_decref(m->json);
  memset(m, 0, sizeof *m);
}

static const char *msg_type(const msg *m) {
  return m->json ? json_string_value(json_object_get(m->json, "type")) : NULL;
}

/* Pumps the loop until a message matching (type, or binary when type is
 * NULL) arrives; messages of other kinds are kept only when keep. Returns
 * its index or fails after timeout_ms. */
static bool next_msg(const char *type, int timeout_ms, msg *out) {
  uint64_t end = time_mono_ms() + (uint64_t)timeout_ms;
  for (;;) {
    while (F.head < F.tail) {
      msg *m = &F.q[F.head++ % MAXMSG];
      const char *t = msg_type(m);
      bool match = type ? (t && strcmp(t, type) == 0) : m->binary;
      if (match) {
        *out = *m;
        memset(m, 0, sizeof *m);
        return true;
      }
      if (type && strcmp(type, "job_error") == 0 && t && !strcmp(t, "job_done")) {
        *out = *m; /* a job_done where an error was expected: let the caller see it */
        memset(m, 0, sizeof *m);
        return true;
      }
      msg_free(m);
    }
    if (time_mono_ms() > end) return false;
    event_base_loop(F.base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
    usleep(2000);
  }
}

/* Pumps without consuming, for duration_ms. */
static void pump(int duration_ms) {
  uint64_t end = time_mono_ms() + (uint64_t)duration_ms;
  while (time_mono_ms() < end) {
    event_base_loop(F.base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
    usleep(2000);
  }
}

static void send_text(const char *s) {
  ASSERT_NOT_NULL(F.ws);
  ASSERT_OK(net_ws_send(F.ws, false, s, strlen(s)));
}

static void kill_node(void) {
  if (F.pid > 0) {
    kill(F.pid, SIGKILL);
    waitpid(F.pid, NULL, 0);
    F.pid = 0;
  }
}

static const char *node_bin(void) {
  const char *b = getenv("GLOAM_NODE_BIN");
  return b && *b ? b : NULL;
}

static void spawn_node(void) {
  char url[64], *model = test_fixture_path("models/qwen3"),
                *tok = test_fixture_path("tokenizers/qwen3");
  snprintf(url, sizeof url, "ws://127.0.0.1:%d", F.port);
  F.state_dir = test_tmpdir();
  char *argv[] = {(char *)node_bin(),
                  "serve",
                  "--coordinator",
                  url,
                  "--token",
                  "gnt_test",
                  "--model",
                  model,
                  "--model-id",
                  "qwen3-tiny",
                  "--tokenizer",
                  tok,
                  "--state-dir",
                  F.state_dir,
                  "--slots",
                  "2",
                  "--n-ctx",
                  "4096",
                  "--clamp-token-ids",
                  "true",
                  "--backoff-min-ms",
                  "50",
                  "--threads",
                  "1",
                  F.extra[0],
                  F.extra[1],
                  NULL};
  setenv("GLOAM_LOG", "warn", 1);
  ASSERT_EQ_INT(posix_spawn(&F.pid, argv[0], NULL, NULL, argv, environ), 0);
  atexit(kill_node);
  free(model);
  free(tok);
}

static void sha256_file(const char *path, char hex[72]) {
  size_t n;
  void *d = test_read_file(path, &n);
  ASSERT_NOT_NULL(d);
  uint8_t md[32];
  unsigned ml;
  EVP_Digest(d, n, md, &ml, EVP_sha256(), NULL);
  free(d);
  memcpy(hex, "sha256:", 7);
  codec_hex_encode(md, 32, hex + 7, 65);
}

/* Opens evidence v1 ({"jws":"<compact JWS>","v":1}), verifies the JWS under
 * the JWK in its own header, returns the statement. */
static json_t *open_evidence(const char *ev) {
  json_t *doc = json_loads(ev, 0, NULL);
  ASSERT_NOT_NULL(doc);
  ASSERT_EQ_INT(json_integer_value(json_object_get(doc, "v")), 1);
  ASSERT_NOT_NULL(json_string_value(json_object_get(doc, "jws")));
  char *jws = strdup(json_string_value(json_object_get(doc, "jws")));
  json_decref(doc);
  char *d1 = strchr(jws, '.'), *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
  ASSERT_TRUE(d1 && d2);
  uint8_t hb[1024], pb[16384], sig[80];
  long hl = codec_b64_decode(jws, (size_t)(d1 - jws), hb, sizeof hb - 1, CODEC_B64_URL);
  long pl = codec_b64_decode(d1 + 1, (size_t)(d2 - d1 - 1), pb, sizeof pb - 1, CODEC_B64_URL);
  long sl = codec_b64_decode(d2 + 1, strlen(d2 + 1), sig, sizeof sig, CODEC_B64_URL);
  ASSERT_TRUE(hl > 0 && pl > 0 && sl == 64);
  json_t *hdr = json_loadb((const char *)hb, (size_t)hl, 0, NULL);
  ASSERT_NOT_NULL(hdr);
  ASSERT_EQ_STR(json_string_value(json_object_get(hdr, "alg")), "ES256");
  char *jwk = json_dumps(json_object_get(hdr, "jwk"), JSON_COMPACT);
  es256_key *k = NULL;
  char err[GLOAM_ERR_LEN];
  ASSERT_OK(es256_public_parse(jwk, strlen(jwk), &k, err));
  ASSERT_OK(es256_verify(k, jws, (size_t)(d2 - jws), sig));
  json_t *st = json_loadb((const char *)pb, (size_t)pl, 0, NULL);
  ASSERT_NOT_NULL(st);
  /* the statement names the same identity as the header */
  char *jwk2 = json_dumps(json_object_get(st, "identity"), JSON_COMPACT | JSON_SORT_KEYS);
  char *jwk1 = json_dumps(json_object_get(hdr, "jwk"), JSON_COMPACT | JSON_SORT_KEYS);
  ASSERT_EQ_STR(jwk1, jwk2);
  free(jwk);
  free(jwk1);
  free(jwk2);
  es256_key_free(k);
  json_decref(hdr);
  free(jws);
  return st;
}

static void take_register(msg *m) {
  json_t *r = m->json;
  const char *pk = json_string_value(
      json_object_get(json_object_get(json_object_get(r, "keys"), "hpke"), "public_key"));
  ASSERT_NOT_NULL(pk);
  ASSERT_EQ_INT(codec_b64_decode(pk, strlen(pk), F.hpke_pk, 32, CODEC_B64_URL), 32);
  snprintf(F.node_id, sizeof F.node_id, "%s", json_string_value(json_object_get(r, "node_id")));
  char *jwk = json_dumps(
      json_object_get(json_object_get(json_object_get(r, "keys"), "receipt"), "jwk"), JSON_COMPACT);
  char err[GLOAM_ERR_LEN];
  gloam_receipt_key_free(F.rkey);
  F.rkey = NULL;
  ASSERT_OK(gloam_receipt_key_parse(jwk, strlen(jwk), &F.rkey, err));
  free(jwk);
  json_decref(F.reg);
  F.reg = json_incref(r);
}

static void ensure_node(void) {
  if (!node_bin()) TEST_SKIP("GLOAM_NODE_BIN not set");
  if (F.pid > 0 && F.reg) return;
  signal(SIGPIPE, SIG_IGN);
  F.base = event_base_new();
  net_http_limits lim = NET_HTTP_LIMITS_DEFAULT;
  char err[GLOAM_ERR_LEN];
  ASSERT_OK(net_http_new(F.base, "127.0.0.1:0", &lim, &F.http, &F.port, err));
  evhttp_set_gencb(F.http, on_http, NULL);
  uint64_t t0 = time_mono_ms();
  spawn_node();
  msg m;
  ASSERT_TRUE(next_msg("register", 20000, &m));
  F.startup_ms = time_mono_ms() - t0;
  take_register(&m);
  msg_free(&m);
  send_text(
      "{\"type\":\"registered\",\"node_id\":\"x\",\"heartbeat_interval_ms\":200,"
      "\"heartbeat_timeout_ms\":15000}");
}

static void test_e2e_register(void) {
  ensure_node();
  json_t *r = F.reg;
  ASSERT_EQ_INT(json_integer_value(json_object_get(r, "protocol")), 1);
  json_t *model = json_array_get(json_object_get(r, "models"), 0);
  ASSERT_EQ_STR(json_string_value(json_object_get(model, "id")), "qwen3-tiny");
  char digest[72];
  char *st = test_fixture_path("models/qwen3/model.safetensors");
  sha256_file(st, digest);
  free(st);
  ASSERT_EQ_STR(json_string_value(json_object_get(model, "weights_digest")), digest);
  ASSERT_TRUE(json_integer_value(json_object_get(json_object_get(r, "hardware"), "cores")) >= 1);
  /* measured memory bandwidth; GPUs reported as none where there is no driver */
  json_t *hw = json_object_get(r, "hardware");
  ASSERT_TRUE(json_real_value(json_object_get(hw, "mem_bw_gbps")) > 0.1);
  if (access("/proc/driver/nvidia/gpus", F_OK) != 0 && access("/usr/bin/nvidia-smi", X_OK) != 0)
    ASSERT_TRUE(json_is_null(json_object_get(hw, "gpu")));
  ASSERT_EQ_STR(json_string_value(json_object_get(json_object_get(r, "attestation"), "identity")),
                "software");
  ASSERT_TRUE(json_object_get(r, "evidence") == NULL); /* needs a nonce: challenge_response */
  msg m;
  ASSERT_TRUE(next_msg("heartbeat", 5000, &m));
  ASSERT_EQ_INT(json_integer_value(json_object_get(m.json, "max_slots")), 2);
  msg_free(&m);
}

static void test_e2e_challenge(void) {
  ensure_node();
  send_text("{\"type\":\"challenge\",\"nonce\":\"bm9uY2Utb25lLXR3by10aHJlZQ\"}");
  msg m;
  ASSERT_TRUE(next_msg("challenge_response", 5000, &m));
  ASSERT_EQ_STR(json_string_value(json_object_get(m.json, "nonce")), "bm9uY2Utb25lLXR3by10aHJlZQ");
  ASSERT_TRUE(json_object_get(m.json, "activation") == NULL); /* software: no TPM answer */
  json_t *s = open_evidence(json_string_value(json_object_get(m.json, "evidence")));
  msg_free(&m);
  json_t *r = F.reg;
  json_t *model = json_array_get(json_object_get(r, "models"), 0);
  char digest[72], bin[72];
  char *st = test_fixture_path("models/qwen3/model.safetensors");
  sha256_file(st, digest);
  free(st);
  sha256_file(node_bin(), bin);
  ASSERT_EQ_STR(json_string_value(json_object_get(model, "weights_digest")), digest);
  ASSERT_EQ_STR(json_string_value(json_object_get(s, "nonce")), "bm9uY2Utb25lLXR3by10aHJlZQ");
  ASSERT_EQ_STR(json_string_value(json_object_get(s, "trust")), "software");
  ASSERT_EQ_STR(json_string_value(json_object_get(s, "binary")), bin);
  ASSERT_EQ_STR(json_string_value(json_object_get(s, "node_id")), F.node_id);
  ASSERT_EQ_STR(json_string_value(json_object_get(json_array_get(json_object_get(s, "models"), 0),
                                                  "weights_digest")),
                digest);
  /* binds the keys the node registered */
  json_t *keys = json_object_get(s, "keys");
  ASSERT_TRUE(json_equal(json_object_get(keys, "hpke"),
                         json_object_get(json_object_get(r, "keys"), "hpke")));
  ASSERT_TRUE(
      json_equal(json_object_get(keys, "receipt"),
                 json_object_get(json_object_get(json_object_get(r, "keys"), "receipt"), "jwk")));
  ASSERT_EQ_STR(json_string_value(json_object_get(json_object_get(s, "posture"), "seccomp")),
                "filter");
  ASSERT_TRUE(json_is_true(json_object_get(json_object_get(s, "posture"), "not_dumpable")));
  json_decref(s);
}

/* ---------------------------------------------------------------- jobs */

#define TEXT_CAP (2u << 20)

typedef struct job_run {
  uint8_t id[16];
  char hex[33];
  gloam_seal_client *client;
  char *text; /* opened plaintext (TEXT_CAP bytes) */
  size_t text_len;
  int order_first, order_final; /* arrival order of the first DATA and the FINAL frame */
  int n_frames;
  bool final;
  json_t *done;  /* job_done */
  json_t *error; /* job_error */
} job_run;

static void send_job(job_run *j, const char *model, const char *body, uint32_t max_out,
                     const uint8_t *env_override, size_t env_override_len) {
  static uint8_t ctr;
  j->text = calloc(1, TEXT_CAP);
  ASSERT_NOT_NULL(j->text);
  memset(j->id, 0, 16);
  j->id[0] = 0xab;
  j->id[15] = ++ctr;
  codec_hex_encode(j->id, 16, j->hex, sizeof j->hex);
  uint8_t *env = NULL;
  size_t env_len = 0;
  if (!env_override) {
    gloam_seal_header h;
    memset(&h, 0, sizeof h);
    snprintf(h.model, sizeof h.model, "%s", model);
    snprintf(h.node_id, sizeof h.node_id, "%s", F.node_id);
    snprintf(h.endpoint, sizeof h.endpoint, "chat/completions");
    h.max_output_tokens = max_out;
    char err[GLOAM_ERR_LEN];
    ASSERT_OK(gloam_seal_request(&h, F.hpke_pk, 32, (const uint8_t *)body, strlen(body), &env,
                                 &env_len, &j->client, err));
  }
  char jm[512];
  snprintf(jm, sizeof jm,
           "{\"type\":\"job\",\"job\":\"%s\",\"model\":\"%s\",\"endpoint\":\"chat/completions\","
           "\"mode\":\"client-sealed\",\"max_output_tokens\":%u,\"price\":{\"input_per_mtok\":"
           "100000,\"output_per_mtok\":200000},\"deadline_ms\":%lld}",
           j->hex, model, max_out, (long long)(time_wall_ms() + 60000));
  send_text(jm);
  const uint8_t *e = env_override ? env_override : env;
  size_t el = env_override ? env_override_len : env_len;
  uint8_t *frame = malloc(17 + el);
  ASSERT_NOT_NULL(F.ws);
  frame[0] = 0x01;
  memcpy(frame + 1, j->id, 16);
  memcpy(frame + 17, e, el);
  ASSERT_OK(net_ws_send(F.ws, true, frame, 17 + el));
  free(frame);
  gloam_seal_free(env, env_len);
}

static int g_order;

/* Routes one message to the job it belongs to (frames by id, job_done /
 * job_error by their "job" field). */
static void route(job_run **js, int n, msg *m) {
  const char *t = msg_type(m);
  const char *jid = m->json ? json_string_value(json_object_get(m->json, "job")) : NULL;
  for (int i = 0; i < n; i++) {
    job_run *j = js[i];
    if (m->binary && m->len > 17 && m->data[0] == 0x02 && !memcmp(m->data + 1, j->id, 16)) {
      size_t out_len = 0;
      int fin = 0;
      ASSERT_TRUE(j->text_len + m->len < TEXT_CAP);
      ASSERT_OK(gloam_seal_client_open(j->client, m->data + 17, m->len - 17,
                                       (uint8_t *)j->text + j->text_len, TEXT_CAP - j->text_len,
                                       &out_len, &fin));
      j->text_len += out_len;
      j->text[j->text_len] = 0;
      if (m->data[17] == GLOAM_SEAL_FRAME_DATA && !j->order_first) j->order_first = ++g_order;
      j->n_frames++;
      if (fin) {
        j->final = true;
        j->order_final = ++g_order;
      }
    } else if (t && jid && !strcmp(jid, j->hex) && !strcmp(t, "job_done")) {
      j->done = json_incref(m->json);
    } else if (t && jid && !strcmp(jid, j->hex) && !strcmp(t, "job_error")) {
      j->error = json_incref(m->json);
    }
  }
}

static bool all_ended(job_run **js, int n) {
  for (int i = 0; i < n; i++)
    if (!js[i]->done && !js[i]->error) return false;
  return true;
}

/* Collects the jobs' frames until each has job_done / job_error (or timeout). */
static void run_jobs(job_run **js, int n, int timeout_ms) {
  uint64_t end = time_mono_ms() + (uint64_t)timeout_ms;
  while (!all_ended(js, n) && time_mono_ms() < end) {
    if (F.head == F.tail) {
      event_base_loop(F.base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
      usleep(1000);
      continue;
    }
    msg *m = &F.q[F.head++ % MAXMSG];
    route(js, n, m);
    msg_free(m);
  }
}

static void run_job(job_run *j, int timeout_ms) {
  run_jobs(&j, 1, timeout_ms);
}

static void job_free(job_run *j) {
  free(j->text);
  gloam_seal_client_free(j->client);
  json_decref(j->done);
  json_decref(j->error);
}

/* The reference: prompt ids as the node builds them (template, tokenizer,
 * clamp), then `gloam-engine generate` greedily, decoded by the tokenizer. */
static int reference(const char *messages_json, int max_tokens, char *text, size_t cap) {
  char *tokdir = test_fixture_path("tokenizers/qwen3"), *model = test_fixture_path("models/qwen3");
  char err[GLOAM_ERR_LEN];
  gloam_tokenizer *tok;
  ASSERT_OK(gloam_tokenizer_load(&tok, tokdir, err));
  gloam_chat_request req = {.messages_json = messages_json,
                            .add_generation_prompt = 1,
                            .bos_token = gloam_tokenizer_role_token(tok, GLOAM_TOK_BOS),
                            .eos_token = gloam_tokenizer_role_token(tok, GLOAM_TOK_EOS)};
  char *prompt;
  size_t plen;
  ASSERT_OK(gloam_chat_render(gloam_tokenizer_chat_template(tok), &req, NULL, &prompt, &plen, err));
  int32_t *ids;
  size_t n;
  ASSERT_OK(gloam_tokenizer_encode(tok, prompt, plen, 0, &ids, &n));
  char cmd[16384];
  int o = snprintf(cmd, sizeof cmd, "%s generate --model %s --max-tokens %d --ids ",
                   getenv("GLOAM_ENGINE_BIN"), model, max_tokens);
  for (size_t i = 0; i < n; i++)
    o += snprintf(cmd + o, sizeof cmd - (size_t)o, "%s%d", i ? "," : "", ids[i] % 512);
  FILE *p = popen(cmd, "r");
  ASSERT_NOT_NULL(p);
  char line[8192] = "";
  ASSERT_NOT_NULL(fgets(line, sizeof line, p));
  pclose(p);
  int32_t out[1024];
  int n_out = 0;
  for (char *s = line; *s && *s != '\n' && n_out < 1024;) {
    out[n_out++] = (int32_t)strtol(s, &s, 10);
    if (*s == ',') s++;
  }
  char *dec;
  size_t dl;
  ASSERT_OK(gloam_tokenizer_decode(tok, out, (size_t)n_out, GLOAM_TOK_SKIP_SPECIAL, &dec, &dl));
  snprintf(text, cap, "%s", dec);
  gloam_tokenizer_buf_free(dec);
  gloam_tokenizer_buf_free(ids);
  gloam_chat_free(prompt);
  gloam_tokenizer_free(tok);
  free(tokdir);
  free(model);
  return n_out;
}

/* Concatenates content and reasoning of every SSE chunk; checks framing. */
static void sse_text(const char *t, char *out, size_t cap, int *n_chunks, json_t **usage,
                     const char **finish) {
  size_t o = 0;
  *n_chunks = 0;
  out[0] = 0;
  while (*t) {
    ASSERT_TRUE(strncmp(t, "data: ", 6) == 0);
    const char *e = strstr(t, "\n\n");
    ASSERT_NOT_NULL(e);
    if (!strncmp(t + 6, "[DONE]", 6)) {
      ASSERT_EQ_STR(e + 2, "");
      return;
    }
    json_t *c = json_loadb(t + 6, (size_t)(e - t - 6), 0, NULL);
    ASSERT_NOT_NULL(c);
    ASSERT_EQ_STR(json_string_value(json_object_get(c, "object")), "chat.completion.chunk");
    json_t *ch = json_array_get(json_object_get(c, "choices"), 0);
    json_t *d = json_object_get(ch, "delta");
    for (int k = 0; k < 2; k++) {
      const char *s = json_string_value(json_object_get(d, k ? "content" : "reasoning_content"));
      if (s) o += (size_t)snprintf(out + o, cap - o, "%s", s);
    }
    const char *f = json_string_value(json_object_get(ch, "finish_reason"));
    if (f) *finish = !strcmp(f, "length") ? "length" : !strcmp(f, "stop") ? "stop" : "other";
    if (json_object_get(c, "usage")) *usage = json_incref(json_object_get(c, "usage"));
    (*n_chunks)++;
    json_decref(c);
    t = e + 2;
  }
  ASSERT_TRUE(false); /* no [DONE] */
}

static const char MSGS[] = "[{\"role\":\"user\",\"content\":\"Say something.\"}]";

static void test_e2e_stream(void) {
  ensure_node();
  char body[512];
  snprintf(body, sizeof body,
           "{\"model\":\"qwen3-tiny\",\"messages\":%s,\"max_tokens\":12,\"temperature\":0,"
           "\"stream\":true,\"stream_options\":{\"include_usage\":true}}",
           MSGS);
  job_run j = {0};
  send_job(&j, "qwen3-tiny", body, 64, NULL, 0);
  run_job(&j, 20000);
  ASSERT_NOT_NULL(j.done);
  ASSERT_TRUE(j.final);
  char got[8192], want[8192];
  int n_chunks;
  json_t *usage = NULL;
  const char *finish = NULL;
  sse_text(j.text, got, sizeof got, &n_chunks, &usage, &finish);
  int n_ref = reference(MSGS, 12, want, sizeof want);
  ASSERT_EQ_STR(got, want);
  ASSERT_NOT_NULL(usage);
  ASSERT_EQ_INT(json_integer_value(json_object_get(usage, "completion_tokens")), n_ref);
  ASSERT_EQ_STR(finish, n_ref == 12 ? "length" : "stop");
  json_t *du = json_object_get(j.done, "usage");
  ASSERT_EQ_INT(json_integer_value(json_object_get(du, "completion_tokens")), n_ref);
  /* the receipt verifies and binds this request and this transcript */
  const char *jws = json_string_value(json_object_get(j.done, "receipt"));
  gloam_receipt_claims c;
  char err[GLOAM_ERR_LEN];
  ASSERT_OK(gloam_receipt_check_client(j.client, F.rkey, jws, strlen(jws), &c, err));
  ASSERT_EQ_UINT(c.completion_tokens, (uint64_t)n_ref);
  ASSERT_EQ_UINT(c.prompt_tokens,
                 (uint64_t)json_integer_value(json_object_get(du, "prompt_tokens")));
  uint64_t want_price =
      (c.prompt_tokens * 100000 + c.completion_tokens * 200000 + 999999) / 1000000;
  ASSERT_EQ_UINT(c.price_micro_usd, want_price);
  ASSERT_EQ_STR(c.node_id, F.node_id);
  json_decref(usage);
  job_free(&j);
}

static void test_e2e_nonstream(void) {
  ensure_node();
  char body[512];
  snprintf(body, sizeof body, "{\"messages\":%s,\"max_completion_tokens\":5,\"temperature\":0}",
           MSGS);
  job_run j = {0};
  send_job(&j, "qwen3-tiny", body, 64, NULL, 0);
  run_job(&j, 20000);
  ASSERT_NOT_NULL(j.done);
  json_t *c = json_loadb(j.text, j.text_len, 0, NULL);
  ASSERT_NOT_NULL(c);
  ASSERT_EQ_STR(json_string_value(json_object_get(c, "object")), "chat.completion");
  json_t *ch = json_array_get(json_object_get(c, "choices"), 0);
  char want[8192];
  int n_ref = reference(MSGS, 5, want, sizeof want);
  json_t *mj = json_object_get(ch, "message");
  char got[8192];
  snprintf(got, sizeof got, "%s%s",
           json_string_value(json_object_get(mj, "reasoning_content"))
               ? json_string_value(json_object_get(mj, "reasoning_content"))
               : "",
           json_string_value(json_object_get(mj, "content")));
  ASSERT_EQ_STR(got, want);
  ASSERT_EQ_INT(
      json_integer_value(json_object_get(json_object_get(c, "usage"), "completion_tokens")), n_ref);
  const char *jws = json_string_value(json_object_get(j.done, "receipt"));
  gloam_receipt_claims cl;
  char err[GLOAM_ERR_LEN];
  ASSERT_OK(gloam_receipt_check_client(j.client, F.rkey, jws, strlen(jws), &cl, err));
  json_decref(c);
  job_free(&j);
}

static void test_e2e_cancel(void) {
  ensure_node();
  char body[512];
  snprintf(body, sizeof body,
           "{\"messages\":%s,\"max_tokens\":4000,\"temperature\":0,\"stream\":true}", MSGS);
  job_run j = {0};
  send_job(&j, "qwen3-tiny", body, 4000, NULL, 0);
  /* wait for START and the first tokens */
  uint64_t end = time_mono_ms() + 20000;
  while (j.n_frames < 3 && time_mono_ms() < end && !j.done) run_job(&j, 5);
  ASSERT_CMP_INT(j.n_frames, >=, 3);
  ASSERT_TRUE(!j.done);
  char cm[128];
  snprintf(cm, sizeof cm, "{\"type\":\"cancel\",\"job\":\"%s\",\"reason\":\"client_disconnected\"}",
           j.hex);
  send_text(cm);
  int at_cancel = j.n_frames;
  run_job(&j, 1500);
  if (j.done || j.error) {
    char *d = json_dumps(j.done ? j.done : j.error, 0);
    fprintf(stderr, "after cancel: %s (frames %d)\n", d, j.n_frames);
    free(d);
  }
  ASSERT_TRUE(!j.done && !j.error);
  ASSERT_FALSE(j.final);
  /* Generation stopped well before its limit, without FINAL or job_done.
   * (With a model this small thousands of tokens are produced per second,
   * so the frames already queued when the cancel arrived still come in;
   * the engine itself checks the flag before every token.) */
  ASSERT_CMP_INT(j.n_frames, <, 3000);
  fprintf(stderr, "cancel: %d frames before, %d after\n", at_cancel, j.n_frames - at_cancel);
  /* the slot is free again */
  msg m;
  ASSERT_TRUE(next_msg("heartbeat", 3000, &m));
  ASSERT_EQ_INT(json_integer_value(json_object_get(m.json, "free_slots")), 2);
  msg_free(&m);
  job_free(&j);
}

/* Two jobs at once on two slots progress together; a third is refused. */
static void test_e2e_concurrent(void) {
  ensure_node();
  char body[512];
  snprintf(body, sizeof body,
           "{\"messages\":%s,\"max_tokens\":2000,\"temperature\":0,\"stream\":true}", MSGS);
  job_run a = {0}, b = {0}, c = {0};
  send_job(&a, "qwen3-tiny", body, 4000, NULL, 0);
  send_job(&b, "qwen3-tiny", body, 4000, NULL, 0);
  send_job(&c, "qwen3-tiny", body, 4000, NULL, 0);
  job_run *js[] = {&a, &b, &c};
  run_jobs(js, 3, 60000);
  for (int i = 0; i < 3; i++)
    if (!js[i]->done) {
      char *d = js[i]->error ? json_dumps(js[i]->error, 0) : NULL;
      fprintf(stderr, "job %d: no job_done, error %s, %d frames\n", i, d ? d : "none",
              js[i]->n_frames);
      free(d);
    }
  ASSERT_NOT_NULL(a.done);
  ASSERT_NOT_NULL(b.done);
  ASSERT_NOT_NULL(c.error);
  ASSERT_EQ_STR(json_string_value(json_object_get(c.error, "code")), "busy");
  /* interleaved: b streamed before a finished */
  ASSERT_CMP_INT(b.order_first, <, a.order_final);
  /* same prompt, greedy: the same text and token count */
  static char ta[65536], tb[65536];
  int na, nb;
  json_t *ua = NULL, *ub = NULL;
  const char *fa = NULL, *fb = NULL;
  sse_text(a.text, ta, sizeof ta, &na, &ua, &fa);
  sse_text(b.text, tb, sizeof tb, &nb, &ub, &fb);
  ASSERT_EQ_STR(ta, tb);
  ASSERT_EQ_INT(
      json_integer_value(json_object_get(json_object_get(a.done, "usage"), "completion_tokens")),
      json_integer_value(json_object_get(json_object_get(b.done, "usage"), "completion_tokens")));
  job_free(&a);
  job_free(&b);
  job_free(&c);
}

static void expect_refusal(const char *model, const char *body, const char *code) {
  job_run j = {0};
  send_job(&j, model, body, 64, NULL, 0);
  run_job(&j, 10000);
  ASSERT_NOT_NULL(j.error);
  ASSERT_EQ_STR(json_string_value(json_object_get(j.error, "code")), code);
  ASSERT_TRUE(!j.done);
  job_free(&j);
}

static void test_e2e_refusals(void) {
  ensure_node();
  static char body[65536];
  snprintf(body, sizeof body, "{\"messages\":%s}", MSGS);
  expect_refusal("no-such-model", body, "model_not_found");
  snprintf(body, sizeof body, "{\"messages\":%s,\"max_tokens\":5000}", MSGS);
  expect_refusal("qwen3-tiny", body, "context_length_exceeded");
  int o = snprintf(body, sizeof body, "{\"messages\":[{\"role\":\"user\",\"content\":\"");
  for (int i = 0; i < 5000; i++) o += snprintf(body + o, sizeof body - (size_t)o, "word ");
  snprintf(body + o, sizeof body - (size_t)o, "\"}]}");
  expect_refusal("qwen3-tiny", body, "context_length_exceeded");
  snprintf(body, sizeof body, "{\"messages\":%s,\"response_format\":{\"type\":\"json_object\"}}",
           MSGS);
  expect_refusal("qwen3-tiny", body, "unsupported_response_format");
  expect_refusal("qwen3-tiny", "{\"messages\":\"nope\"}", "invalid_request");
  /* an envelope that is not one */
  job_run j = {0};
  uint8_t junk[200];
  memset(junk, 0x5a, sizeof junk);
  send_job(&j, "qwen3-tiny", NULL, 64, junk, sizeof junk);
  run_job(&j, 10000);
  ASSERT_NOT_NULL(j.error);
  ASSERT_EQ_STR(json_string_value(json_object_get(j.error, "code")), "bad_envelope");
  job_free(&j);
}

static void test_e2e_reconnect(void) {
  ensure_node();
  uint8_t old_pk[32];
  memcpy(old_pk, F.hpke_pk, 32);
  int connects = F.n_connects;
  ASSERT_NOT_NULL(F.ws);
  net_ws_close(F.ws, 1001);
  msg m;
  ASSERT_TRUE(next_msg("register", 10000, &m));
  ASSERT_EQ_INT(F.n_connects, connects + 1);
  take_register(&m);
  msg_free(&m);
  ASSERT_EQ_MEM(F.hpke_pk, old_pk, 32);
  send_text("{\"type\":\"registered\",\"node_id\":\"x\",\"heartbeat_interval_ms\":200}");
  /* and serves again */
  char body[512];
  snprintf(body, sizeof body, "{\"messages\":%s,\"max_tokens\":3,\"temperature\":0}", MSGS);
  job_run j = {0};
  send_job(&j, "qwen3-tiny", body, 64, NULL, 0);
  run_job(&j, 20000);
  ASSERT_NOT_NULL(j.done);
  job_free(&j);
}

/* The status socket (0600) answers with the live state; the CLI adds the
 * coordinator's earnings for the node token. */
static void test_e2e_status(void) {
  ensure_node();
  msg m; /* a heartbeat follows "registered" */
  ASSERT_TRUE(next_msg("heartbeat", 5000, &m));
  msg_free(&m);
  char path[4200], err[GLOAM_ERR_LEN];
  snprintf(path, sizeof path, "%s/status.sock", F.state_dir);
  struct stat st;
  ASSERT_EQ_INT(stat(path, &st), 0);
  ASSERT_EQ_INT(st.st_mode & 0777, 0600);
  json_t *j = NULL;
  ASSERT_OK(node_status_query(path, &j, err));
  ASSERT_EQ_STR(json_string_value(json_object_get(j, "state")), "registered");
  ASSERT_EQ_STR(json_string_value(json_object_get(j, "node_id")), F.node_id);
  ASSERT_EQ_STR(json_string_value(json_object_get(j, "model")), "qwen3-tiny");
  ASSERT_EQ_INT(json_integer_value(json_object_get(j, "slots")), 2);
  ASSERT_EQ_INT(json_integer_value(json_object_get(j, "pid")), F.pid);
  json_decref(j);
  char out[4200];
  snprintf(out, sizeof out, "%s/status.out", F.state_dir);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  char *argv[] = {(char *)node_bin(), "status", "--state-dir", F.state_dir, NULL};
  setenv("GLOAM_NODE_TOKEN", "gnt_test", 1);
  pid_t pid;
  ASSERT_EQ_INT(posix_spawn(&pid, argv[0], &fa, NULL, argv, environ), 0);
  posix_spawn_file_actions_destroy(&fa);
  int status = 0;
  uint64_t end = time_mono_ms() + 10000;
  while (waitpid(pid, &status, WNOHANG) == 0 && time_mono_ms() < end) pump(20);
  unsetenv("GLOAM_NODE_TOKEN");
  ASSERT_TRUE(WIFEXITED(status));
  ASSERT_EQ_INT(WEXITSTATUS(status), 0);
  size_t n;
  char *text = test_read_file(out, &n);
  ASSERT_NOT_NULL(text);
  ASSERT_TRUE(strstr(text, "registered") != NULL);
  ASSERT_TRUE(strstr(text, "1.234567 USD over 7 requests") != NULL);
  free(text);
}

static void test_e2e_sigterm(void) {
  ensure_node();
  ASSERT_EQ_INT(kill(F.pid, SIGTERM), 0);
  int status = 0;
  uint64_t end = time_mono_ms() + 10000;
  pid_t r = 0;
  while ((r = waitpid(F.pid, &status, WNOHANG)) == 0 && time_mono_ms() < end) pump(20);
  ASSERT_EQ_INT(r, F.pid);
  F.pid = 0;
  ASSERT_TRUE(WIFEXITED(status));
  ASSERT_EQ_INT(WEXITSTATUS(status), 0);
}

/* A serving window that opens after the node has started (its start-up
 * time as measured by ensure_node, twice, plus 3 s) and lasts 5 s, in local time:
 * the node starts paused, registers when the window opens, then tells the
 * coordinator "drain", disconnects and reports "paused" again. */
static void test_e2e_schedule(void) {
  if (!F.base) ensure_node(); /* the fake coordinator */
  kill_node();
  free(F.state_dir);
  F.state_dir = NULL;
  char win[64], path[4200], err[GLOAM_ERR_LEN];
  time_t now = time(NULL), a = now + (time_t)(2 * F.startup_ms / 1000) + 3, b = a + 5;
  struct tm ta, tb;
  localtime_r(&a, &ta);
  localtime_r(&b, &tb);
  snprintf(win, sizeof win, "%02d:%02d:%02d-%02d:%02d:%02d", ta.tm_hour, ta.tm_min, ta.tm_sec,
           tb.tm_hour, tb.tm_min, tb.tm_sec);
  F.extra[0] = "--schedule";
  F.extra[1] = win;
  spawn_node();
  F.extra[0] = F.extra[1] = NULL;
  snprintf(path, sizeof path, "%s/status.sock", F.state_dir);
  json_t *j = NULL;
  while (time(NULL) < a - 1 && node_status_query(path, &j, err) < 0) pump(100);
  ASSERT_NOT_NULL(j); /* started, and waits for its window */
  ASSERT_EQ_STR(json_string_value(json_object_get(j, "state")), "paused");
  json_decref(j);
  msg m;
  ASSERT_TRUE(next_msg("register", (int)(a - time(NULL) + 10) * 1000, &m)); /* when it opens */
  ASSERT_TRUE(time(NULL) >= a);
  msg_free(&m);
  send_text("{\"type\":\"registered\",\"node_id\":\"x\",\"heartbeat_interval_ms\":200}");
  ASSERT_TRUE(next_msg("drain", 12000, &m)); /* the window ends */
  msg_free(&m);
  ASSERT_TRUE(time(NULL) >= b);
  uint64_t end = time_mono_ms() + 5000;
  while (F.ws && time_mono_ms() < end) pump(20);
  ASSERT_TRUE(F.ws == NULL); /* the node closed the connection */
  ASSERT_OK(node_status_query(path, &j, err));
  ASSERT_EQ_STR(json_string_value(json_object_get(j, "state")), "paused");
  json_decref(j);
  kill_node();
}

void *node_zlib_anchor(void); /* src/node: keeps libz linked for tokenizer.json.gz */

int main(int argc, char **argv) {
  if (!node_zlib_anchor()) return 1;
  static const test_case tests[] = {TEST(test_request_parse), TEST(test_outparse),
                                    TEST(test_config),        TEST(test_weights_digest),
                                    TEST(test_e2e_register),  TEST(test_e2e_challenge),
                                    TEST(test_e2e_stream),    TEST(test_e2e_nonstream),
                                    TEST(test_e2e_cancel),    TEST(test_e2e_concurrent),
                                    TEST(test_e2e_refusals),  TEST(test_e2e_reconnect),
                                    TEST(test_e2e_status),    TEST(test_e2e_sigterm),
                                    TEST(test_e2e_schedule),  {0}};
  return test_main(argc, argv, tests);
}
