/* SPDX-License-Identifier: Apache-2.0
 *
 * node/conn.c: the daemon's network loop (see node.h): the WebSocket to the
 * coordinator, registration, challenges, heartbeats, jobs in and frames
 * out, reconnection with exponential backoff and jitter, and shutdown.
 *
 * DESIGN: everything here runs on the loop thread. A job message is held
 * until its binary envelope frame arrives (the protocol sends them back to
 * back), then the job goes to the engine thread. Output from the engine
 * arrives through an eventfd; it is sent only if it belongs to the current
 * connection (a reconnect starts a new generation, and the coordinator has
 * already failed the old connection's jobs). The identity and per-process
 * keys survive reconnects: a reconnecting node registers with the same keys.
 */
#include <event2/event.h>
#include <jansson.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/codec.h"
#include "core/err.h"
#include "core/log.h"
#include "core/time.h"
#include "gloam/receipt.h"
#include "gloam/seal.h"
#include "http/json.h"
#include "net/tls.h"
#include "net/ws.h"
#include "node/bandwidth.h"
#include "node/engine_thread.h"
#include "node/gpu.h"
#include "node/harden.h"
#include "node/attestor.h"
#include "node/node.h"
#include "node/schedule.h"
#include "node/secmem.h"
#include "node/status.h"
#include "node/sysinfo.h"

#define CONN_TEXT_MAX (64 * 1024)
/* an envelope: a chat body, or an audio upload (25 MiB file + 1 MiB of fields) */
#define CONN_MSG_MAX ((26u << 20) + 17 + 1024)
#define NONCE_MAX 128

typedef struct node_job_meta {
  bool set;
  uint8_t id[16];
  char id_hex[33];
  char model[GLOAM_SEAL_MODEL_MAX + 1];
  uint32_t max_output_tokens;
  int64_t in_price, out_price, audio_price, image_price, deadline_ms;
} node_job_meta;

struct node_daemon {
  const node_config *cfg;
  char err[GLOAM_ERR_LEN];
  /* identity and facts, fixed at start */
  node_attestor *att;
  char node_id[GLOAM_SEAL_NODE_ID_MAX + 1];
  uint8_t hpke_pk[GLOAM_SEAL_MAX_PK];
  size_t hpke_pk_len;
  gloam_receipt_signer *signer;
  char receipt_jwk[256];
  char weights_digest[80];
  node_hw hw;
  double membw_gbps; /* measured once, cached (bandwidth.h) */
  node_gpu gpus[NODE_GPU_MAX];
  int n_gpus;
  node_posture posture;
  /* loop */
  struct event_base *base;
  struct event *ev_out, *ev_hb, *ev_retry, *ev_term, *ev_int;
  node_engine *eng;
  net_ws *ws;
  char host[256], path[256];
  uint16_t port;
  bool tls;
  SSL_CTX *tls_ctx; /* wss: made at start (reads the trust store before seccomp) */
  uint64_t gen;     /* connection generation */
  bool registered;
  int attempts; /* failed connects since the last registration */
  uint32_t hb_ms;
  node_job_meta pending;
  node_job *jobs; /* submitted, not yet released (loop list via lnext) */
  int n_jobs;
  bool draining, stopping;
  node_status *status; /* <state_dir>/status.sock (status.h) */
  node_schedule sched; /* serving windows and idle policy (schedule.h) */
  node_idle idle;
  struct event *ev_sched;
  bool paused; /* outside the schedule or the owner is busy: drained, disconnected */
  int64_t started_ms, connected_ms;
};

/* ------------------------------------------------------------ helpers */

static void send_json(node_daemon *d, json_t *msg) {
  char *s = msg ? json_dumps(msg, JSON_COMPACT) : NULL;
  json_decref(msg);
  if (!s) return;
  if (d->ws && net_ws_send(d->ws, false, s, strlen(s)) < 0)
    log_event(LOG_WARN, "node.send_failed", "what", "text");
  free(s);
}

static json_t *posture_json(node_daemon *d) {
  json_t *p = node_posture_json(&d->posture);
  if (p)
    json_object_set_new(p, "trust", json_string(gloam_trust_name(node_attestor_level(d->att))));
  return p;
}

/* An answer made on the attestor's worker; sent only on the connection the
 * challenge came on. */
static void send_answer(void *ud, uint64_t gen, const char *msg) {
  node_daemon *d = ud;
  if (d->ws && gen == d->gen && net_ws_send(d->ws, false, msg, strlen(msg)) < 0)
    log_event(LOG_WARN, "node.send_failed", "what", "challenge_response");
}

static void job_error(node_daemon *d, const char *hex, const char *code, const char *msg) {
  send_json(d, json_pack("{s:s,s:s,s:s,s:s}", "type", "job_error", "job", hex, "code", code,
                         "message", msg));
}

/* ------------------------------------------------------------ registration */

static void send_register(node_daemon *d) {
  char pk[64];
  codec_b64_encode(d->hpke_pk, d->hpke_pk_len, pk, sizeof pk, CODEC_B64_URL);
  json_t *rjwk = json_loads(d->receipt_jwk, 0, NULL);
  node_engine_stats st;
  node_engine_stats_get(d->eng, &st);
  json_t *m = json_pack(
      "{s:s,s:i,s:s,s:{s:s,s:i,s:I,s:n},s:[{s:s,s:s}],"
      "s:{s:i,s:o,s:[]},s:{s:{s:i,s:s},s:{s:o}},s:o,s:o}",
      "type", "register", "protocol", 1, "node_id", d->node_id, "hardware", "cpu", d->hw.cpu,
      "cores", d->hw.cores, "ram_gb", (json_int_t)d->hw.ram_gb, "gpu", "models", "id",
      d->cfg->model_id, "weights_digest", d->weights_digest, "capabilities", "max_slots",
      st.max_slots, "endpoints",
      node_engine_is_speech(d->eng)
          ? json_pack("[s,s]", "audio/transcriptions", "audio/translations")
      : node_engine_is_image(d->eng) ? json_pack("[s]", "images/generations")
                                     : json_pack("[s]", "chat/completions"),
      "response_format", "keys", "hpke", "kem_id", 32, "public_key", pk, "receipt", "jwk", rjwk,
      "attestation", node_attestor_register_json(d->att), "posture", posture_json(d));
  json_t *hw = json_object_get(m, "hardware");
  json_object_set_new(hw, "gpu", node_gpu_json(d->gpus, d->n_gpus));
  json_object_set_new(hw, "mem_bw_gbps", json_real(d->membw_gbps));
  send_json(d, m);
}

static void on_challenge(node_daemon *d, json_t *msg) {
  const char *nonce = json_string_value(json_object_get(msg, "nonce"));
  size_t n = json_string_length(json_object_get(msg, "nonce"));
  if (!nonce || n == 0 || n > NONCE_MAX) {
    net_ws_close(d->ws, 4400);
    return;
  }
  for (size_t i = 0; i < n; i++) {
    char c = nonce[i];
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
          c == '_')) {
      net_ws_close(d->ws, 4400);
      return;
    }
  }
  json_t *cred = json_object_get(msg, "credential");
  if (cred && !json_is_object(cred)) {
    net_ws_close(d->ws, 4400);
    return;
  }
  json_t *post = posture_json(d);
  node_statement st = {.node_id = d->node_id,
                       .hpke_pk = d->hpke_pk,
                       .receipt = d->signer,
                       .model_id = d->cfg->model_id,
                       .weights_digest = d->weights_digest,
                       .posture = post};
  if (node_attestor_challenge(d->att, &st, nonce, cred, d->gen, d->err) < 0)
    log_event(LOG_ERROR, "node.evidence_failed", "error", d->err);
  json_decref(post);
}

/* ------------------------------------------------------------ heartbeat */

static void send_heartbeat(node_daemon *d) {
  node_engine_stats st;
  node_engine_stats_get(d->eng, &st);
  int free_slots = st.max_slots - d->n_jobs;
  if (free_slots < 0 || d->draining) free_slots = 0;
  send_json(d, json_pack("{s:s,s:f,s:i,s:i,s:f,s:f,s:[s]}", "type", "heartbeat", "load",
                         st.max_slots ? (double)d->n_jobs / st.max_slots : 0.0, "free_slots",
                         free_slots, "max_slots", st.max_slots, "prefill_tps", st.prefill_tps,
                         "decode_tps", st.decode_tps, "warm_models", d->cfg->model_id));
}

static void on_heartbeat(evutil_socket_t fd, short what, void *p) {
  node_daemon *d = p;
  if (d->ws && d->registered) send_heartbeat(d);
}

/* ------------------------------------------------------------ jobs */

static void on_job_msg(node_daemon *d, json_t *msg) {
  const char *job = json_string_value(json_object_get(msg, "job"));
  const char *model = json_string_value(json_object_get(msg, "model"));
  node_job_meta m;
  memset(&m, 0, sizeof m);
  if (!job || strlen(job) != 32 || codec_hex_decode(job, 32, m.id, 16, 0) != 16 || !model ||
      strlen(model) > GLOAM_SEAL_MODEL_MAX) {
    net_ws_close(d->ws, 4400);
    return;
  }
  snprintf(m.id_hex, sizeof m.id_hex, "%s", job);
  snprintf(m.model, sizeof m.model, "%s", model);
  json_int_t mot = json_integer_value(json_object_get(msg, "max_output_tokens"));
  json_t *price = json_object_get(msg, "price");
  json_int_t in = json_integer_value(json_object_get(price, "input_per_mtok"));
  json_int_t out = json_integer_value(json_object_get(price, "output_per_mtok"));
  m.max_output_tokens = mot > 0 && mot <= INT32_MAX ? (uint32_t)mot : 0;
  m.in_price = in > 0 && in < ((json_int_t)1 << 40) ? in : 0;
  m.out_price = out > 0 && out < ((json_int_t)1 << 40) ? out : 0;
  json_int_t ap = json_integer_value(json_object_get(price, "audio_per_minute"));
  m.audio_price = ap > 0 && ap < ((json_int_t)1 << 40) ? ap : 0;
  json_int_t ip = json_integer_value(json_object_get(price, "image_price"));
  m.image_price = ip > 0 && ip < ((json_int_t)1 << 40) ? ip : 0;
  m.deadline_ms = json_integer_value(json_object_get(msg, "deadline_ms"));
  m.set = true;
  d->pending = m;
}

static void on_envelope(node_daemon *d, const uint8_t *data, size_t len) {
  node_job_meta m = d->pending;
  memset(&d->pending, 0, sizeof d->pending);
  if (!m.set || memcmp(m.id, data + 1, 16) != 0) {
    net_ws_close(d->ws, 4400);
    return;
  }
  if (strcmp(m.model, d->cfg->model_id) != 0) {
    job_error(d, m.id_hex, "model_not_found", "this node does not serve the model");
    return;
  }
  if (len == 17) {
    job_error(d, m.id_hex, "bad_envelope", "empty envelope");
    return;
  }
  if (d->draining || d->n_jobs >= d->cfg->slots) {
    job_error(d, m.id_hex, "busy", "no free slot");
    return;
  }
  node_job *j = node_job_new();
  if (j) j->env = mem_dup(data + 17, len - 17);
  if (!j || !j->env) {
    node_job_free(j);
    job_error(d, m.id_hex, "busy", "out of memory");
    return;
  }
  memcpy(j->id, m.id, 16);
  memcpy(j->id_hex, m.id_hex, sizeof j->id_hex);
  memcpy(j->model, m.model, sizeof j->model);
  j->env_len = len - 17;
  j->max_output_tokens = m.max_output_tokens;
  j->in_price = m.in_price;
  j->out_price = m.out_price;
  j->audio_price = m.audio_price;
  j->image_price = m.image_price;
  j->deadline_ms = m.deadline_ms;
  j->conn_gen = d->gen;
  if (node_engine_submit(d->eng, j) < 0) {
    node_job_free(j);
    job_error(d, m.id_hex, "busy", "the node is stopping");
    return;
  }
  j->lnext = d->jobs;
  d->jobs = j;
  d->n_jobs++;
}

static void on_cancel(node_daemon *d, json_t *msg) {
  const char *job = json_string_value(json_object_get(msg, "job"));
  if (!job) return;
  if (d->pending.set && strcmp(d->pending.id_hex, job) == 0)
    memset(&d->pending, 0, sizeof d->pending);
  for (node_job *j = d->jobs; j; j = j->lnext)
    if (strcmp(j->id_hex, job) == 0) {
      log_event(LOG_INFO, "node.cancel", "job", job);
      node_engine_cancel(d->eng, j);
    }
}

static void unlink_job(node_daemon *d, node_job *j) {
  for (node_job **pp = &d->jobs; *pp; pp = &(*pp)->lnext)
    if (*pp == j) {
      *pp = j->lnext;
      d->n_jobs--;
      return;
    }
}

static void maybe_exit(node_daemon *d) {
  if (d->stopping && d->n_jobs == 0) {
    if (d->ws) net_ws_close(d->ws, 1000);
    event_base_loopexit(d->base, &(struct timeval){0, 200000});
  }
}

static void on_engine_out(evutil_socket_t fd, short what, void *p) {
  node_daemon *d = p;
  node_out *o = node_engine_take(d->eng);
  while (o) {
    node_out *next = o->next;
    node_job *j = o->job;
    if (o->kind == NODE_OUT_RELEASE) {
      unlink_job(d, j);
      node_job_free(j);
    } else if (d->ws && d->registered && j->conn_gen == d->gen &&
               net_ws_send(d->ws, o->kind == NODE_OUT_BINARY, o->data, o->len) < 0) {
      log_event(LOG_WARN, "node.send_failed", "job", j->id_hex);
      node_engine_cancel(d->eng, j); /* the coordinator cannot keep up: give up the job */
    }
    node_out_free(o);
    o = next;
  }
  maybe_exit(d);
}

/* ------------------------------------------------------------ connection */

static void schedule_retry(node_daemon *d);

static void on_text(node_daemon *d, const uint8_t *data, size_t len) {
  json_t *msg = NULL;
  char err[GLOAM_ERR_LEN];
  if (json_parse_limited((const char *)data, len, CONN_TEXT_MAX, 16, &msg, err) < 0) {
    log_event(LOG_WARN, "node.bad_message", "error", err);
    net_ws_close(d->ws, 4400);
    return;
  }
  const char *type = json_string_value(json_object_get(msg, "type"));
  if (!type) {
    net_ws_close(d->ws, 4400);
  } else if (!strcmp(type, "registered")) {
    json_int_t hb = json_integer_value(json_object_get(msg, "heartbeat_interval_ms"));
    d->hb_ms = hb >= 100 && hb <= 600000 ? (uint32_t)hb : 5000;
    d->registered = true;
    d->connected_ms = time_wall_ms();
    d->attempts = 0;
    struct timeval tv = {d->hb_ms / 1000, (d->hb_ms % 1000) * 1000};
    event_add(d->ev_hb, &tv);
    log_event(LOG_INFO, "node.registered", "node_id", d->node_id);
    send_heartbeat(d);
  } else if (!strcmp(type, "challenge")) {
    on_challenge(d, msg);
  } else if (!strcmp(type, "job")) {
    on_job_msg(d, msg);
  } else if (!strcmp(type, "cancel")) {
    on_cancel(d, msg);
  } else if (!strcmp(type, "drain")) {
    d->draining = true;
    log_event(LOG_INFO, "node.drain", "by", "coordinator");
  } else if (!strcmp(type, "error")) {
    const char *code = json_string_value(json_object_get(msg, "code"));
    log_event(LOG_WARN, "node.coordinator_error", "code", code ? code : "?");
  } else {
    net_ws_close(d->ws, 4400);
  }
  json_decref(msg);
}

static void ws_on_open(net_ws *ws, void *ud) {
  node_daemon *d = ud;
  log_event(LOG_INFO, "node.connected", "host", d->host);
  send_register(d);
}

static void ws_on_message(net_ws *ws, bool binary, const uint8_t *data, size_t len, void *ud) {
  node_daemon *d = ud;
  if (!binary) {
    on_text(d, data, len);
  } else if (len < 17 || data[0] != 0x01 || !d->registered) {
    net_ws_close(ws, 4400);
  } else {
    on_envelope(d, data, len);
  }
}

static void ws_on_close(net_ws *ws, int status, void *ud) {
  node_daemon *d = ud;
  log_line l;
  if (log_begin(&l, LOG_INFO, "node.disconnected")) {
    log_int(&l, "status", status);
    log_end(&l);
  }
  d->ws = NULL;
  d->registered = false;
  d->gen++;
  memset(&d->pending, 0, sizeof d->pending);
  event_del(d->ev_hb);
  /* the coordinator failed these jobs when the connection went */
  for (node_job *j = d->jobs; j; j = j->lnext) node_engine_cancel(d->eng, j);
  if (d->stopping)
    event_base_loopexit(d->base, NULL);
  else if (!d->paused)
    schedule_retry(d);
}

static void do_connect(node_daemon *d) {
  static const net_ws_callbacks cb = {ws_on_open, ws_on_message, ws_on_close};
  net_ws_config wc = {CONN_MSG_MAX, 64u << 20, 0};
  char auth[300];
  snprintf(auth, sizeof auth, "Bearer %s", d->cfg->token);
  char err[GLOAM_ERR_LEN];
  if (net_ws_connect_tls(d->base, d->host, d->port, d->path, auth, d->tls_ctx, &wc, &cb, d, &d->ws,
                         err) < 0) {
    d->ws = NULL;
    log_event(LOG_WARN, "node.connect_failed", "error", err);
    schedule_retry(d);
  }
}

static void on_retry(evutil_socket_t fd, short what, void *p) {
  if (!((node_daemon *)p)->paused) do_connect(p);
}

/* Exponential backoff with "equal jitter": half the delay fixed, half random. */
static void schedule_retry(node_daemon *d) {
  uint64_t delay = d->cfg->backoff_min_ms;
  for (int i = 0; i < d->attempts && delay < d->cfg->backoff_max_ms; i++) delay *= 2;
  if (delay > d->cfg->backoff_max_ms) delay = d->cfg->backoff_max_ms;
  uint32_t r = 0;
  if (RAND_bytes((unsigned char *)&r, sizeof r) != 1) r = (uint32_t)time_mono_ns();
  delay = delay / 2 + (delay / 2 + 1) * r / UINT32_MAX;
  d->attempts++;
  log_line l;
  if (log_begin(&l, LOG_INFO, "node.reconnect")) {
    log_uint(&l, "in_ms", delay);
    log_int(&l, "attempt", d->attempts);
    log_end(&l);
  }
  struct timeval tv = {(time_t)(delay / 1000), (suseconds_t)((delay % 1000) * 1000)};
  event_add(d->ev_retry, &tv);
}

static void on_signal(evutil_socket_t sig, short what, void *p) {
  node_daemon *d = p;
  if (d->stopping) {
    event_base_loopexit(d->base, NULL);
    return;
  }
  log_event(LOG_INFO, "node.stopping", "signal", sig == SIGTERM ? "TERM" : "INT");
  d->stopping = true;
  d->draining = true;
  maybe_exit(d);
}

/* ------------------------------------------------------------ status */

static json_t *status_fill(void *ud) {
  node_daemon *d = ud;
  node_engine_stats st;
  node_engine_stats_get(d->eng, &st);
  const char *state = d->stopping     ? "stopping"
                      : d->paused     ? "paused"
                      : d->registered ? "registered"
                      : d->ws         ? "connecting"
                                      : "disconnected";
  return json_pack(
      "{s:s,s:s,s:s,s:s,s:I,s:s,s:b,s:I,s:I,s:i,s:i,s:I,s:I,s:f,s:f}", "node_id", d->node_id,
      "model", d->cfg->model_id, "coordinator", d->cfg->coordinator, "state", state, "pid",
      (json_int_t)getpid(), "trust", gloam_trust_name(node_attestor_level(d->att)), "draining",
      d->draining, "started_ms", (json_int_t)d->started_ms, "registered_ms",
      (json_int_t)(d->registered ? d->connected_ms : 0), "jobs_active", d->n_jobs, "slots",
      st.max_slots, "jobs_done", (json_int_t)st.jobs_done, "tokens_out", (json_int_t)st.tokens_out,
      "prefill_tps", st.prefill_tps, "decode_tps", st.decode_tps);
}

static int open_status(node_daemon *d, char *err) {
  char path[NODE_PATH_MAX + 16];
  snprintf(path, sizeof path, "%s/status.sock", d->cfg->state_dir);
  d->started_ms = time_wall_ms();
  int rc = node_status_open(&d->status, d->base, path, status_fill, d, err);
  if (rc == GLOAM_EBUSY) return rc;
  if (rc < 0) log_event(LOG_WARN, "node.status_socket", "error", err);
  return 0;
}

/* ------------------------------------------------------------ schedule */

static bool want_serve(node_daemon *d, const char **why) {
  node_cpu_sample c;
  *why = "schedule";
  if (!node_schedule_active_at(&d->sched, time(NULL))) return false;
  *why = "owner_active";
  return !(d->idle.max_cpu_pct > 0 && node_cpu_read(&c) == 0 &&
           node_idle_feed(&d->idle, (int64_t)time_mono_ms(), &c));
}

/* Outside the schedule (or while the owner is busy) the node drains: tells
 * the coordinator, finishes its jobs, disconnects; it reconnects when it
 * may serve again. */
static void on_sched(evutil_socket_t fd, short what, void *p) {
  node_daemon *d = p;
  const char *why;
  bool want = want_serve(d, &why);
  if (d->stopping) return;
  if (!want && !d->paused) {
    d->paused = d->draining = true;
    log_event(LOG_INFO, "node.pause", "reason", why);
    event_del(d->ev_retry);
    if (d->registered) send_json(d, json_pack("{s:s}", "type", "drain"));
  } else if (want && d->paused && !d->ws) {
    d->paused = d->draining = false;
    log_event(LOG_INFO, "node.resume", "reason", "schedule");
    d->attempts = 0;
    do_connect(d);
  }
  if (d->paused && d->n_jobs == 0 && d->ws) net_ws_close(d->ws, 1000);
}

static int open_schedule(node_daemon *d, char *err) {
  int rc = node_schedule_parse(d->cfg->schedule, &d->sched, err);
  if (rc < 0) return rc;
  tzset(); /* reads the zone file before the seccomp filter */
  node_idle_init(&d->idle, d->cfg->idle_max_cpu, d->cfg->idle_resume_s);
  const char *why;
  d->paused = d->draining = !want_serve(d, &why);
  d->ev_sched = event_new(d->base, -1, EV_PERSIST, on_sched, d);
  struct timeval tv = {1, 0};
  if (!d->ev_sched || event_add(d->ev_sched, &tv) < 0)
    return err_set(err, GLOAM_ENOMEM, "schedule timer");
  if (d->paused) log_event(LOG_INFO, "node.pause", "reason", why);
  return 0;
}

/* ------------------------------------------------------------ start-up */

/* Memory bandwidth (cached in the state dir) and GPUs, for registration. */
static void probe_hardware(node_daemon *d) {
  char err[GLOAM_ERR_LEN];
  if (node_membw_get(d->cfg->state_dir, d->hw.cpu, d->hw.cores, &d->membw_gbps, err) < 0)
    log_event(LOG_WARN, "node.membw_failed", "error", err);
  d->n_gpus = node_gpu_detect(d->gpus, NODE_GPU_MAX);
}

static int make_keys(node_daemon *d, gloam_seal_node **opener, char *err) {
  gloam_seal_keypair *kp = NULL;
  int rc = gloam_seal_keypair_new(&kp, GLOAM_SEAL_KEM_X25519);
  if (rc < 0) return err_set(err, rc, "cannot make the HPKE key");
  if ((rc = gloam_seal_keypair_public(kp, d->hpke_pk, sizeof d->hpke_pk, &d->hpke_pk_len)) < 0) {
    gloam_seal_keypair_free(kp);
    return err_set(err, rc, "cannot export the HPKE key");
  }
  if ((rc = gloam_seal_node_new(opener, kp, d->node_id, NULL, err)) < 0) return rc;
  if ((rc = gloam_receipt_signer_new(&d->signer, err)) < 0) return rc;
  if ((rc = gloam_receipt_signer_public_jwk(d->signer, d->receipt_jwk, sizeof d->receipt_jwk)) < 0)
    return err_set(err, rc, "cannot export the receipt key");
  return 0;
}

static int make_loop(node_daemon *d, char *err) {
  if (!(d->base = event_base_new())) return err_set(err, GLOAM_ENOMEM, "event_base_new failed");
  d->ev_out = event_new(d->base, node_engine_fd(d->eng), EV_READ | EV_PERSIST, on_engine_out, d);
  d->ev_hb = event_new(d->base, -1, EV_PERSIST, on_heartbeat, d);
  d->ev_retry = evtimer_new(d->base, on_retry, d);
  d->ev_term = evsignal_new(d->base, SIGTERM, on_signal, d);
  d->ev_int = evsignal_new(d->base, SIGINT, on_signal, d);
  if (!d->ev_out || !d->ev_hb || !d->ev_retry || !d->ev_term || !d->ev_int ||
      event_add(d->ev_out, NULL) < 0 || event_add(d->ev_term, NULL) < 0 ||
      event_add(d->ev_int, NULL) < 0)
    return err_set(err, GLOAM_ENOMEM, "cannot set up the event loop");
  signal(SIGPIPE, SIG_IGN);
  return 0;
}

int node_daemon_new(node_daemon **out, const node_config *cfg, char *err) {
  *out = NULL;
  node_daemon *d = mem_calloc(1, sizeof *d);
  if (!d) return err_set(err, GLOAM_ENOMEM, "out of memory");
  d->cfg = cfg;
  gloam_seal_node *opener = NULL;
  snprintf(d->posture.key_memory, sizeof d->posture.key_memory, "%s", secmem_init());
  int rc = node_parse_ws_url(cfg->coordinator, d->host, sizeof d->host, &d->port, d->path,
                             sizeof d->path, &d->tls, err);
  if (rc < 0) goto fail;
  if (d->tls &&
      (rc = net_tls_client_ctx(&d->tls_ctx, cfg->ca_file[0] ? cfg->ca_file : NULL, err)) < 0)
    goto fail;
  node_hw_read(&d->hw);
  if ((rc = node_weights_digest(cfg->model, cfg->state_dir, d->weights_digest,
                                sizeof d->weights_digest, err)) < 0 ||
      (rc = node_attestor_open(&d->att, cfg, err)) < 0)
    goto fail;
  if (cfg->node_id[0])
    snprintf(d->node_id, sizeof d->node_id, "%s", cfg->node_id);
  else
    snprintf(d->node_id, sizeof d->node_id, "n-%.22s", node_attestor_thumbprint(d->att));
  probe_hardware(d);
  if ((rc = make_keys(d, &opener, err)) < 0) goto fail;
  node_engine_params ep = {cfg, d->node_id, d->weights_digest, opener, d->signer};
  opener = NULL; /* the engine owns it now, also on failure */
  if ((rc = node_engine_start(&d->eng, &ep, err)) < 0) goto fail;
  if ((rc = make_loop(d, err)) < 0 ||
      (rc = node_attestor_start(d->att, d->base, send_answer, d, err)) < 0 ||
      (rc = open_status(d, err)) < 0 || (rc = open_schedule(d, err)) < 0)
    goto fail;
  if (cfg->seccomp && (rc = node_harden_seccomp(err)) < 0) goto fail;
  node_posture_read(&d->posture);
  log_line l;
  if (log_begin(&l, LOG_INFO, "node.ready")) {
    log_str(&l, "node_id", d->node_id);
    log_str(&l, "model", cfg->model_id);
    log_str(&l, "weights", d->weights_digest);
    log_int(&l, "slots", cfg->slots);
    log_bool(&l, "seccomp", d->posture.seccomp_mode == 2);
    log_bool(&l, "tls", d->tls);
    log_str(&l, "key_memory", d->posture.key_memory);
    log_end(&l);
  }
  *out = d;
  return 0;
fail:
  gloam_seal_node_free(opener);
  node_daemon_free(d);
  return rc;
}

int node_daemon_run(node_daemon *d) {
  if (!d->paused) do_connect(d);
  event_base_dispatch(d->base);
  return 0;
}

void node_daemon_free(node_daemon *d) {
  if (!d) return;
  node_attestor_free(d->att); /* its worker signs with the receipt key and sends on ws */
  if (d->ws) net_ws_free(d->ws);
  /* the engine frees the jobs it still holds; our list only borrows them */
  node_engine_stop(d->eng);
  d->jobs = NULL;
  node_status_close(d->status);
  if (d->ev_sched) event_free(d->ev_sched);
  if (d->ev_out) event_free(d->ev_out);
  if (d->ev_hb) event_free(d->ev_hb);
  if (d->ev_retry) event_free(d->ev_retry);
  if (d->ev_term) event_free(d->ev_term);
  if (d->ev_int) event_free(d->ev_int);
  if (d->base) event_base_free(d->base);
  gloam_receipt_signer_free(d->signer);
  SSL_CTX_free(d->tls_ctx);
  mem_free(d);
}
