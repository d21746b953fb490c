/* SPDX-License-Identifier: Apache-2.0
 *
 * tests/coord/testnode.c: the protocol-level test node (see testnode.h).
 */
#include "testnode.h"

#include <dirent.h>
#include <event2/event.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "attest/evidence.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/codec.h"
#include "core/err.h"
#include "crypto/receipt_signer.h"
#include "gloam/receipt.h"
#include "gloam/seal.h"
#include "net/ws.h"

typedef struct tn_job {
  char hex[33];
  int plain; /* coordinator-sealed: answer in OpenAI format */
  uint8_t id[16];
  int64_t in_price, out_price;
  int max_out;
  int used;
} tn_job;

typedef struct tn_impl {
  testnode *n;
  struct event_base *base;
  net_ws *ws;
  struct event *hb, *stop;
  int stop_pipe[2];
  gloam_seal_node *opener;
  gloam_receipt_signer *signer;
  attest_identity *id;
  uint8_t pk[32];
  tn_job jobs[64];
} tn_impl;

/* ---- identity and evidence ---------------------------------------------- */

static char key_dir[64];
static pthread_mutex_t key_lock = PTHREAD_MUTEX_INITIALIZER;

static void remove_keys(void) {
  DIR *d = opendir(key_dir);
  struct dirent *e;
  char p[400];
  while (d && (e = readdir(d)))
    if (e->d_name[0] != '.' && snprintf(p, sizeof p, "%s/%s", key_dir, e->d_name) < (int)sizeof p)
      unlink(p);
  if (d) closedir(d);
  rmdir(key_dir);
}

/* The identity of node_id in this process: <tmp>/<node_id>.pem. */
static int open_identity(tn_impl *t) {
  pthread_mutex_lock(&key_lock);
  if (!key_dir[0]) {
    snprintf(key_dir, sizeof key_dir, "/tmp/gloam-testnode-XXXXXX");
    if (!mkdtemp(key_dir)) key_dir[0] = 0;
    if (key_dir[0]) atexit(remove_keys);
  }
  char path[200], err[GLOAM_ERR_LEN];
  snprintf(path, sizeof path, "%s/%s.pem", key_dir, t->n->node_id);
  if (t->n->new_identity) unlink(path);
  int rc = key_dir[0] ? attest_identity_open_software(&t->id, path, err) : -1;
  pthread_mutex_unlock(&key_lock);
  return rc;
}

static void b64_to(buf *b, const void *p, size_t n) {
  char tmp[8192];
  if (codec_b64_encode(p, n, tmp, sizeof tmp, CODEC_B64_URL) >= 0) buf_append_str(b, tmp);
}

/* Re-labels a software statement "tpm" and re-signs it with the identity:
 * a validly signed statement that claims a level it cannot show. */
static char *relabel(tn_impl *t, const char *ev) {
  json_t *doc = json_loads(ev, 0, NULL);
  const char *jws = json_string_value(json_object_get(doc, "jws"));
  const char *d1 = jws ? strchr(jws, '.') : NULL, *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
  uint8_t pl[8192];
  long n = d2 ? codec_b64_decode(d1 + 1, (size_t)(d2 - d1 - 1), pl, sizeof pl, CODEC_B64_URL) : -1;
  json_t *p = n > 0 ? json_loadb((const char *)pl, (size_t)n, 0, NULL) : NULL;
  char *ps = NULL, *out = NULL;
  buf b;
  buf_init(&b, 1 << 16);
  uint8_t sig[ES256_SIG_LEN];
  if (p && json_object_set_new(p, "trust", json_string("tpm")) == 0 &&
      (ps = json_dumps(p, JSON_COMPACT | JSON_SORT_KEYS)) != NULL &&
      buf_append(&b, jws, (size_t)(d1 - jws + 1)) == 0) {
    b64_to(&b, ps, strlen(ps));
    if (attest_identity_sign(t->id, b.data, b.len, sig) == 0 && buf_putc(&b, '.') == 0) {
      b64_to(&b, sig, sizeof sig);
      json_object_set_new(doc, "jws", json_string(buf_cstr(&b)));
      out = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);
    }
  }
  free(ps);
  buf_deinit(&b);
  json_decref(p);
  json_decref(doc);
  return out;
}

/* Evidence v1 over the nonce (base64url), as the test's mode says. */
static char *make_evidence(tn_impl *t, const char *nonce64) {
  uint8_t nonce[64], bin[32];
  long n =
      nonce64 ? codec_b64_decode(nonce64, strlen(nonce64), nonce, sizeof nonce, CODEC_B64_URL) : -1;
  if (n < 16) return NULL;
  if (t->n->attest == TN_ATT_WRONG_NONCE) nonce[0] ^= 1;
  memset(bin, 0x42, sizeof bin);
  attest_model m = {t->n->model, TN_DIGEST};
  attest_statement_in in = {.node_id = t->n->node_id,
                            .nonce = nonce,
                            .nonce_len = (size_t)n,
                            .hpke_pk = t->pk,
                            .receipt_key = receipt_signer_key(t->signer),
                            .binary_sha256 = bin,
                            .models = &m,
                            .n_models = 1};
  char *ev = NULL, err[GLOAM_ERR_LEN];
  size_t len;
  if (attest_evidence_make(t->id, &in, &ev, &len, err) < 0) return NULL;
  char *out = t->n->attest == TN_ATT_RELABEL ? relabel(t, ev) : strdup(ev);
  mem_free(ev);
  return out;
}

void tn_chunk_text(int i, char *out, size_t cap) {
  snprintf(out, cap, "{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"token-%d \"}}]}", i);
}

static const char *const tool_chunks[] = {
    "{\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"tool_calls\":[{\"index\":0,"
    "\"id\":\"call_1\",\"type\":\"function\",\"function\":{\"name\":\"get_weather\","
    "\"arguments\":\"\"}}]}}]}",
    "{\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{"
    "\"arguments\":\"{\\\"city\\\":\"}}]}}]}",
    "{\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{"
    "\"arguments\":\"\\\"Oslo\\\"}\"}}]}}]}",
    "{\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"tool_calls\"}]}",
};

const char *tn_tool_chunk(int i) {
  return tool_chunks[i];
}

const char *tn_tool_completion(void) {
  return "{\"id\":\"x\",\"object\":\"chat.completion\",\"choices\":[{\"index\":0,\"message\":{"
         "\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":\"call_1\",\"type\":"
         "\"function\",\"function\":{\"name\":\"get_weather\",\"arguments\":"
         "\"{\\\"city\\\":\\\"Oslo\\\"}\"}}]},\"finish_reason\":\"tool_calls\"}]}";
}

int tn_wait(_Atomic int *flag, int v, int ms) {
  for (int t = 0; t < ms; t += 10) {
    if (atomic_load(flag) >= v) return 0;
    usleep(10 * 1000);
  }
  return atomic_load(flag) >= v ? 0 : -1;
}

static void send_json(tn_impl *t, json_t *j) {
  char *s = json_dumps(j, JSON_COMPACT);
  json_decref(j);
  if (s && t->ws) net_ws_send(t->ws, false, s, strlen(s));
  free(s);
}

static void send_frame(tn_impl *t, const uint8_t id[16], const uint8_t *f, size_t n) {
  uint8_t *b = malloc(n + 17);
  b[0] = 0x02;
  memcpy(b + 1, id, 16);
  memcpy(b + 17, f, n);
  net_ws_send(t->ws, true, b, n + 17);
  free(b);
}

static void on_hb(evutil_socket_t fd, short what, void *ud) {
  tn_impl *t = ud;
  if (atomic_load(&t->n->mode) == TN_SILENT || !t->ws) return;
  send_json(t, json_pack("{s:s,s:f,s:i,s:i,s:f,s:f}", "type", "heartbeat", "load", 0.1,
                         "free_slots", t->n->max_slots, "max_slots", t->n->max_slots, "prefill_tps",
                         1000.0, "decode_tps", t->n->decode_tps > 0 ? t->n->decode_tps : 50.0));
  atomic_fetch_add(&t->n->heartbeats, 1);
}

static void on_open(net_ws *ws, void *ud) {
  tn_impl *t = ud;
  char pk[64], jwk[300];
  codec_b64_encode(t->pk, 32, pk, sizeof pk, CODEC_B64_URL);
  gloam_receipt_signer_public_jwk(t->signer, jwk, sizeof jwk);
  json_error_t je;
  json_t *reg = json_pack(
      "{s:s,s:i,s:s,s:{s:s,s:i},s:[{s:s,s:s}],s:{s:i},s:{s:{s:i,s:s},s:{s:o}}}", "type", "register",
      "protocol", 1, "node_id", t->n->node_id, "hardware", "cpu", "test", "cores", 2, "models",
      "id", t->n->model, "weights_digest", TN_DIGEST, "capabilities", "max_slots", t->n->max_slots,
      "keys", "hpke", "kem_id", 32, "public_key", pk, "receipt", "jwk", json_loads(jwk, 0, &je));
  send_json(t, reg);
}

static tn_job *find_job(tn_impl *t, const uint8_t id[16]) {
  for (int i = 0; i < 64; i++)
    if (t->jobs[i].used && memcmp(t->jobs[i].id, id, 16) == 0) return &t->jobs[i];
  return NULL;
}

static uint64_t cost_of(uint64_t p, uint64_t c, int64_t in, int64_t out) {
  return (p * (uint64_t)in + c * (uint64_t)out + 999999) / 1000000;
}

static void run_job(tn_impl *t, tn_job *j, const uint8_t *env, size_t env_len) {
  char err[GLOAM_ERR_LEN];
  gloam_seal_header h;
  uint8_t *body = NULL;
  size_t body_len = 0;
  gloam_seal_responder *r = NULL;
  int mode = atomic_load(&t->n->mode);
  if (gloam_seal_node_open(t->opener, env, env_len, 0, &h, &body, &body_len, &r, err) < 0) {
    atomic_fetch_add(&t->n->open_failures, 1);
    send_json(t, json_pack("{s:s,s:s,s:s,s:s}", "type", "job_error", "job", j->hex, "code",
                           "bad_envelope", "message", "cannot open"));
    j->used = 0;
    return;
  }
  if (mode == TN_ERROR || mode == TN_BUSY) {
    send_json(
        t, json_pack("{s:s,s:s,s:s,s:s}", "type", "job_error", "job", j->hex, "code",
                     mode == TN_BUSY ? "busy" : "context_length_exceeded", "message", "refused"));
    j->used = 0;
    goto out;
  }
  if (mode == TN_HANG || mode == TN_SILENT) goto out;
  uint8_t frame[1024];
  size_t fl;
  gloam_seal_responder_start(r, frame, sizeof frame, &fl);
  send_frame(t, j->id, frame, fl);
  int n_chunks = mode == TN_DIE || mode == TN_STALL ? 1 : mode == TN_FLOOD ? TN_FLOOD_CHUNKS : 3;
  json_error_t je;
  json_t *req = j->plain ? json_loadb((const char *)body, body_len, 0, &je) : NULL;
  int stream = json_is_true(json_object_get(req, "stream"));
  json_decref(req);
  if (mode == TN_TOOL && j->plain) {
    for (int i = 0; i < (stream ? 4 : 1); i++) {
      char ev[512];
      snprintf(ev, sizeof ev, stream ? "data: %s\n\n" : "%s",
               stream ? tn_tool_chunk(i) : tn_tool_completion());
      gloam_seal_responder_seal(r, (const uint8_t *)ev, strlen(ev), 0, frame, sizeof frame, &fl);
      send_frame(t, j->id, frame, fl);
    }
    n_chunks = 0;
  } else if (j->plain && !stream) {
    char text[512];
    snprintf(text, sizeof text,
             "{\"id\":\"x\",\"object\":\"chat.completion\",\"model\":\"%s\",\"choices\":[{"
             "\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"token-0 token-1 "
             "token-2 \"},\"finish_reason\":\"stop\"}]}",
             h.model);
    gloam_seal_responder_seal(r, (const uint8_t *)text, strlen(text), 0, frame, sizeof frame, &fl);
    send_frame(t, j->id, frame, fl);
  }
  for (int i = 0; i < n_chunks && !(j->plain && !stream); i++) {
    char text[160], ev[200];
    tn_chunk_text(i, text, sizeof text);
    /* OpenAI SSE, as a node sends it for stream=true */
    snprintf(ev, sizeof ev, "data: %.160s\n\n", text);
    const char *out = j->plain ? ev : text;
    gloam_seal_responder_seal(r, (const uint8_t *)out, strlen(out), 0, frame, sizeof frame, &fl);
    send_frame(t, j->id, frame, fl);
  }
  if (mode == TN_DIE) {
    net_ws_close(t->ws, 1001);
    goto out;
  }
  if (mode == TN_STALL) goto out;
  const char *fin = j->plain && stream ? "data: [DONE]\n\n" : "";
  gloam_seal_responder_seal(r, (const uint8_t *)fin, strlen(fin), 1, frame, sizeof frame, &fl);
  send_frame(t, j->id, frame, fl);
  gloam_receipt_claims c;
  memset(&c, 0, sizeof c);
  c.version = GLOAM_RECEIPT_VERSION;
  snprintf(c.node_id, sizeof c.node_id, "%s", t->n->node_id);
  memcpy(c.request_id, h.request_id, 16);
  gloam_seal_responder_request_hash(r, c.request_sha256);
  gloam_seal_responder_transcript_hash(r, c.transcript_sha256);
  snprintf(c.model, sizeof c.model, "%s", h.model);
  snprintf(c.weights_digest, sizeof c.weights_digest, "%s", TN_DIGEST);
  c.prompt_tokens = body_len / 4 + 1;
  c.completion_tokens = mode == TN_LIE_TOKENS ? (uint64_t)j->max_out + 5
                        : mode == TN_FLOOD    ? TN_FLOOD_CHUNKS
                                              : 3;
  c.price_micro_usd = cost_of(c.prompt_tokens, c.completion_tokens, j->in_price, j->out_price);
  c.started_ms = 1;
  c.finished_ms = 2;
  char *jws = NULL;
  size_t jl = 0;
  if (gloam_receipt_sign(t->signer, &c, &jws, &jl, err) < 0) {
    fprintf(stderr, "testnode: sign failed: %s\n", err);
    goto out;
  }
  if (mode == TN_BAD_SIG) jws[jl - 3] = jws[jl - 3] == 'A' ? 'B' : 'A';
  send_json(t, json_pack("{s:s,s:s,s:s,s:{s:I,s:I}}", "type", "job_done", "job", j->hex, "receipt",
                         jws, "usage", "prompt_tokens", (json_int_t)c.prompt_tokens,
                         "completion_tokens", (json_int_t)c.completion_tokens));
  atomic_fetch_add(&t->n->done_sent, 1);
  gloam_receipt_free_jws(jws);
  j->used = 0;
out:
  gloam_seal_free(body, body_len);
  gloam_seal_responder_free(r);
}

static void on_text(tn_impl *t, const uint8_t *d, size_t n) {
  json_error_t je;
  json_t *m = json_loadb((const char *)d, n, 0, &je);
  const char *type = json_string_value(json_object_get(m, "type"));
  if (!type) goto out;
  if (strcmp(type, "registered") == 0) {
    atomic_store(&t->n->registered, 1);
    struct timeval tv = {0, 200 * 1000};
    event_add(t->hb, &tv);
  } else if (strcmp(type, "challenge") == 0) {
    char *ev = make_evidence(t, json_string_value(json_object_get(m, "nonce")));
    send_json(t, json_pack("{s:s,s:O,s:s}", "type", "challenge_response", "nonce",
                           json_object_get(m, "nonce"), "evidence", ev ? ev : "none"));
    free(ev);
    atomic_fetch_add(&t->n->challenges_answered, 1);
  } else if (strcmp(type, "job") == 0) {
    for (int i = 0; i < 64; i++) {
      tn_job *j = &t->jobs[i];
      if (j->used) continue;
      snprintf(j->hex, sizeof j->hex, "%s", json_string_value(json_object_get(m, "job")));
      codec_hex_decode(j->hex, 32, j->id, 16, 0);
      json_t *p = json_object_get(m, "price");
      j->in_price = json_integer_value(json_object_get(p, "input_per_mtok"));
      j->out_price = json_integer_value(json_object_get(p, "output_per_mtok"));
      j->max_out = (int)json_integer_value(json_object_get(m, "max_output_tokens"));
      j->plain = strcmp(json_string_value(json_object_get(m, "mode")), "coordinator-sealed") == 0;
      j->used = 1;
      atomic_fetch_add(&t->n->jobs_seen, 1);
      break;
    }
  } else if (strcmp(type, "cancel") == 0) {
    atomic_fetch_add(&t->n->cancels_seen, 1);
    uint8_t id[16];
    if (codec_hex_decode(json_string_value(json_object_get(m, "job")), 32, id, 16, 0) == 16) {
      tn_job *j = find_job(t, id);
      if (j) j->used = 0;
    }
  }
out:
  json_decref(m);
}

static void on_message(net_ws *ws, bool binary, const uint8_t *d, size_t n, void *ud) {
  tn_impl *t = ud;
  if (!binary) {
    on_text(t, d, n);
    return;
  }
  if (n < 18 || d[0] != 0x01) return;
  tn_job *j = find_job(t, d + 1);
  if (j) run_job(t, j, d + 17, n - 17);
}

static void on_close(net_ws *ws, int status, void *ud) {
  tn_impl *t = ud;
  t->ws = NULL;
  event_del(t->hb);
  atomic_store(&t->n->closed, status ? status : 1);
}

static const net_ws_callbacks cbs = {on_open, on_message, on_close};

static void on_stop(evutil_socket_t fd, short what, void *ud) {
  tn_impl *t = ud;
  event_base_loopbreak(t->base);
}

static void *tn_main(void *p) {
  tn_impl *t = p;
  event_base_dispatch(t->base);
  return NULL;
}

int tn_start(testnode *n) {
  tn_impl *t = calloc(1, sizeof *t);
  char err[GLOAM_ERR_LEN];
  n->impl = t;
  t->n = n;
  t->base = event_base_new();
  gloam_seal_keypair *kp;
  size_t pkl;
  if (gloam_seal_keypair_new(&kp, 0) < 0 || gloam_seal_keypair_public(kp, t->pk, 32, &pkl) < 0)
    return -1;
  if (gloam_seal_node_new(&t->opener, kp, n->node_id, NULL, err) < 0) return -1;
  if (gloam_receipt_signer_new(&t->signer, err) < 0 || open_identity(t) < 0) return -1;
  t->hb = event_new(t->base, -1, EV_PERSIST, on_hb, t);
  if (pipe(t->stop_pipe) < 0) return -1;
  t->stop = event_new(t->base, t->stop_pipe[0], EV_READ, on_stop, t);
  event_add(t->stop, NULL);
  char auth[100];
  snprintf(auth, sizeof auth, "Bearer %s", n->token);
  net_ws_config cfg = NET_WS_CONFIG_DEFAULT;
  cfg.max_msg_bytes = 8 << 20;
  cfg.idle_timeout_s = 0;
  cfg.max_out_bytes = 64u << 20; /* a flood queues all its frames at once */
  if (net_ws_connect_tls(t->base, "127.0.0.1", (uint16_t)n->port, "/v1/node/connect", auth, n->tls,
                         &cfg, &cbs, t, &t->ws, err) < 0)
    return -1;
  return pthread_create(&n->th, NULL, tn_main, t) == 0 ? 0 : -1;
}

void tn_stop(testnode *n) {
  tn_impl *t = n->impl;
  if (!t) return;
  ssize_t w = write(t->stop_pipe[1], "x", 1);
  (void)w;
  pthread_join(n->th, NULL);
  if (t->ws) net_ws_free(t->ws);
  event_free(t->hb);
  event_free(t->stop);
  close(t->stop_pipe[0]);
  close(t->stop_pipe[1]);
  gloam_seal_node_free(t->opener);
  gloam_receipt_signer_free(t->signer);
  attest_identity_free(t->id);
  event_base_free(t->base);
  free(t);
  n->impl = NULL;
}
