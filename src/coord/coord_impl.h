/* SPDX-License-Identifier: Apache-2.0
 *
 * coord/coord_impl.h: the coordinator's internal types, shared by
 * server.c (HTTP endpoints), node_conn.c (node WebSockets) and chat.c (the
 * chat path). Not API.
 *
 * Ownership: the coord owns the node list; each node owns its job list;
 * a job is owned by its node while in flight and freed by job_finish().
 * Loop thread only.
 */
#ifndef GLOAM_COORD_IMPL_H
#define GLOAM_COORD_IMPL_H

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "coord/coord.h"
#include "coord/node_msg.h"
#include "coord/store.h"
#include "net/workq.h"
#include "gloam/receipt.h"
#include "gloam/seal.h"

struct event;
struct buf;
struct evhttp;
struct evhttp_request;
struct evhttp_connection;
typedef struct net_ws net_ws;
typedef struct http_router http_router;
typedef struct http_sse http_sse;

typedef struct cjob cjob;
typedef struct cpend cpend;

typedef struct cnode {
  struct cnode *next;
  coord *c;
  net_ws *ws;
  int64_t operator_id;
  bool registered, draining, closing;
  char id[NODE_ID_MAX + 1];
  node_model models[NODE_MODELS_MAX];
  int n_models;
  int max_slots, free_slots;
  bool json_object, json_schema; /* response_format the node enforces */
  double load, prefill_tps, decode_tps;
  uint16_t kem_id;
  uint8_t hpke_pk[32];
  char *receipt_jwk;
  gloam_receipt_key *rkey;
  json_t *hardware;
  const char *trust; /* gloam_trust_name() of the verified level; "none" until verified */
  uint64_t connected_ms, last_seen_ms;
  char challenge[64];
  uint64_t challenge_sent_ms, challenge_ok_ms;
  bool challenge_pending;
  struct cnode_att *att; /* node_attest.c: evidence, nonce, AK, pending task */
  cjob *jobs;
  int n_jobs;
  int n_admitting; /* admit.c: slots held by admissions whose reservation is pending */
} cnode;

struct cjob {
  cjob *next;
  coord *c;
  cnode *node;
  uint8_t id[NODE_JOB_ID_LEN];
  char id_hex[2 * NODE_JOB_ID_LEN + 1];
  int64_t account;
  char model[GLOAM_SEAL_MODEL_MAX + 1];
  uint8_t request_id[GLOAM_SEAL_REQUEST_ID_LEN];
  uint8_t env_sha256[32];
  uint32_t max_output_tokens, body_len;
  int64_t in_price, out_price, reserved;
  struct evhttp_request *req;
  struct evhttp_connection *evcon;
  struct event *watch; /* EOF watcher on the client socket until streaming starts */
  http_sse *sse;
  uint64_t n_frames;
  bool got_final;
  /* coordinator-sealed mode: the coordinator is the sealing client */
  gloam_seal_client *sc;
  bool stream, include_usage;
  struct buf *acc; /* non-streaming: the opened JSON body */
  uint8_t *plain;  /* the request body, kept to re-seal for a retry */
  size_t plain_len;
  int need_trust, format;
  int api;                /* enum coord_api: the answer's format */
  struct ant_stream *ant; /* Anthropic streaming state */
  int n_tried;
  char tried[3][NODE_ID_MAX + 1]; /* nodes already tried */
  bool from_queue;                /* admitted from the queue (never queued again) */
  uint64_t start_ms;
  /* the serving node as the answer names it; kept so the answer can be
   * finished after the job left its node (settlement runs off the loop) */
  char node_id[NODE_ID_MAX + 1];
  const char *node_trust;
  bool settling; /* a settle task owns the job until its done() runs */
  /* audio endpoints (speech.c); all zero for chat */
  const char *endpoint; /* static envelope endpoint; NULL: chat/completions */
  int64_t audio_price;  /* micro-USD per audio minute */
  uint32_t audio_ms;    /* the claimed duration */
  int audio_format;     /* enum audio_format of a coordinator-sealed answer */
  int64_t image_price;  /* image.c: micro-USD per image */
  uint32_t n_images;    /* image.c: the images requested */
};

#define COORD_STATUS_MAX 600
#define COORD_LAT_BUCKETS 12
/* Upper bounds (ms) of the chat latency histogram buckets; +Inf follows. */
extern const uint64_t coord_lat_bounds_ms[COORD_LAT_BUCKETS]; /* chat.c */

typedef struct coord_metrics {
  uint64_t by_status[COORD_STATUS_MAX];       /* responses by exact status */
  uint64_t lat_bucket[COORD_LAT_BUCKETS + 1]; /* chat latency, last is over 30 s */
  uint64_t http_requests[6];                  /* by status class 1xx..5xx, [0] other */
  uint64_t chat_ok, chat_failed, chat_rejected;
  uint64_t frames_relayed, bytes_relayed;
  uint64_t prompt_tokens, completion_tokens;
  uint64_t receipts_invalid;
  uint64_t nodes_evicted;
  uint64_t latency_ms_sum, latency_count;
  uint64_t workq_rejected; /* ledger work run inline because the queue was full */
} coord_metrics;

struct coord {
  coord_config cfg;
  struct event_base *base;
  struct evhttp *http;
  struct ssl_ctx_st *tls;
  http_router *router;
  coord_store *store;  /* loop thread: reads and reservations */
  coord_store *wstore; /* ledger.c: settle/refund (node_attest.c: pins), workq, wlock */
  pthread_mutex_t wlock;
  bool wlock_ok;
  struct net_workq *wq;        /* slow work off the loop: receipts, ledger writes, attestation */
  struct coord_attest *attest; /* node_attest.c: the verification policy */
  bool wq_closing;             /* coord_free: run ledger writes inline */
  int port;
  cnode *nodes;
  int n_nodes;
  struct event *sweep;
  struct event *kick;
  cpend *pend_head;
  int n_pend;
  struct event *stop_ev;
  int stop_pipe[2];
  coord_metrics m;
  char err[256];
};

/* server.c */
int coord_auth_consumer(coord *c, struct evhttp_request *req, int64_t *out_account);
void coord_count_status(coord *c, int status);

/* node_conn.c */
void coord_node_connect_handler(struct evhttp_request *req, coord *c);
cnode *coord_node_find(coord *c, const char *id);
bool coord_node_serves(const cnode *n, const char *model);
int coord_node_send_json(cnode *n, json_t *msg); /* steals msg */
int coord_node_send_bin(cnode *n, int kind, const uint8_t job[NODE_JOB_ID_LEN], const uint8_t *p,
                        size_t len);
void coord_node_sweep(coord *c, uint64_t now_ms);
/* Sends a fresh challenge (with a credential activation challenge when
 * credential is non-NULL; stolen). */
int coord_node_send_challenge(cnode *n, json_t *credential);
void coord_node_evict(cnode *n, uint16_t code, const char *why);

/* node_attest.c: evidence verification on the worker queue (docs/attestation.md).
 * Loop thread only; the workers see copies. */
int coord_attest_init(coord *c, char *err);
void coord_attest_free(coord *c);
/* After "registered": TPM nodes get a credential activation challenge
 * (made on a worker), software nodes a plain challenge. */
void coord_attest_on_register(cnode *n, node_msg *m);
/* A challenge_response whose nonce matched: verified on a worker; the node
 * is evicted if it fails, else its trust, evidence and nonce are updated. */
void coord_attest_on_response(cnode *n, node_msg *m);
void coord_attest_node_gone(cnode *n);
/* The node's evidence verified and meets the coordinator's minimum. */
bool coord_attest_routable(const cnode *n);
/* Adds "evidence", "evidence_nonce", "ak_name" to a node's JSON. */
void coord_attest_publish(const cnode *n, json_t *o);
void coord_node_close_all(coord *c);

/* chat.c */
/* ceil((prompt * in + completion * out) / 1e6) in micro-USD; -1 on overflow. */
int64_t coord_chat_cost(int64_t prompt, int64_t completion, int64_t in_per_mtok,
                        int64_t out_per_mtok);
void coord_chat_sealed(struct evhttp_request *req, coord *c, int64_t account);
/* from_queue: the request waited in the queue (never queued again). */
void coord_chat_sealed_handle(struct evhttp_request *req, coord *c, int64_t account,
                              bool from_queue);
/* The refusal of a client-sealed request whose node is gone or draining. */
#define COORD_MSG_SEALED_NODE_GONE \
  "The node this request is sealed to is not available; pick another from /v1/nodes."
/* chat_plain.c: coordinator-sealed mode (plain OpenAI JSON). */
void coord_chat_plain(struct evhttp_request *req, coord *c, int64_t account);
/* from_queue: the request waited in the queue (never queued again). */
int coord_chat_plain_handle(struct evhttp_request *req, coord *c, int64_t account, bool from_queue,
                            int api);
/* The node a coordinator-sealed request would go to now, or NULL. */
cnode *coord_plain_pick(coord *c, const char *model, int format, int need);
/* The same, with the refusal when none fits: 503 no_trusted_node, 400
 * unsupported_response_format or 429 no_capacity. */
cnode *coord_plain_pick_why(coord *c, const char *model, int format, int need, int *out_status,
                            const char **out_code);
/* The request's minimum trust rank (Gloam-Min-Trust header, else
 * root's {"gloam":{"min_trust"}}; root may be NULL); -1 for an unknown level. */
int coord_plain_min_trust(struct evhttp_request *req, json_t *root);

/* queue.c: bounded per-model queue for requests that find their node(s)
 * busy; each waits at most queue_timeout_ms. coord_queue_add: a
 * coordinator-sealed request (any node that fits); coord_queue_add_sealed:
 * a client-sealed one for node n only (refused with 503 if n goes). Both
 * return GLOAM_EAGAIN when the model's queue is full (the caller answers
 * 429), and own req's answer from then on. */
int coord_queue_add(coord *c, struct evhttp_request *req, int64_t account, const char *model,
                    int format, int need, int api);
int coord_queue_add_sealed(coord *c, struct evhttp_request *req, int64_t account, const char *model,
                           const cnode *n);
/* Some waiting request could be served by n (so a newcomer queues behind it). */
bool coord_queue_waits_for(coord *c, const cnode *n);
/* n is going away or draining: its client-sealed waiters get 503 now. */
void coord_queue_node_gone(const cnode *n);
void coord_queue_kick(coord *c); /* a slot may have freed: dispatch soon (deferred) */
void coord_queue_sweep(coord *c, uint64_t now_ms);
void coord_queue_close_all(coord *c);
int coord_queue_init(coord *c);
/* ledger.c: settlement and refunds off the loop (net_workq, a second
 * SQLite connection). coord_ledger_refund never fails visibly: when the
 * queue is full it writes inline. coord_ledger_settle unlinks the job from
 * its node, verifies the receipt and settles on a worker, then finishes the
 * job on the loop (answer, or fail and refund). */
int coord_ledger_init(coord *c, char *err);
void coord_ledger_shutdown(coord *c); /* drains the queue (loop thread) */
void coord_ledger_free(coord *c);
void coord_ledger_refund(coord *c, const char *job_id_hex, const char *reason);
/* Runs work(t) on the ledger's worker threads and done(t) back on the loop;
 * inline (both, now) when the queue is full or shutting down (c->wq_closing
 * tells done() which). */
void coord_offload(coord *c, net_work_fn work, net_done_fn done, void *t);
void coord_ledger_settle(cjob *j, const node_msg *m);
/* Worker thread (admit.c's task): reserves j->reserved for j->account
 * under j->id_hex on the workers' connection; 0, GLOAM_EPOLICY (short
 * balance) or another error with detail in err[GLOAM_ERR_LEN]. */
int coord_ledger_reserve(coord *c, const cjob *j, char *err);
/* Refunds a failed job whose client still waits, then answers it through
 * coord_job_refunded (so a client that sees the error sees its balance
 * restored). The job must already be off its node. */
void coord_ledger_refund_job(cjob *j, int status, const char *code, const char *message);
void coord_job_refunded(cjob *j, int status, const char *code, const char *message);
/* chat.c: the loop-side end of a settlement. */
void coord_job_settled(cjob *j, int rc, const char *why, const char *receipt, int64_t prompt_tokens,
                       int64_t completion_tokens, int64_t cost, json_t *body);
/* chat.c helpers shared with chat_plain.c */
/* Sends the job and envelope to n and links the job; 0 or an error (then
 * nothing is linked and the caller refunds). */
int coord_job_dispatch(cjob *j, cnode *n, struct evhttp_request *req, const uint8_t *env,
                       size_t len, const char *mode);
void coord_job_free(cjob *j);
void coord_job_unlink(cjob *j);
/* Coordinator-sealed: re-seals and sends the job to another node when
 * nothing reached the client yet. true if the job lives on. */
bool coord_plain_retry(cjob *j);
void coord_plain_on_frame(cjob *j, const uint8_t *frame, size_t len);
/* Starts the SSE answer of a coordinator-sealed job (headers, stop watching
 * the socket). GLOAM_ECLOSED when the client is gone (j->req is then NULL). */
int coord_plain_start_stream(cjob *j);
/* After settlement; body (stolen) is the parsed non-streaming answer. */
void coord_plain_on_done(cjob *j, const char *receipt, int64_t prompt_tokens,
                         int64_t completion_tokens, int64_t cost, json_t *body);
void coord_chat_reject(coord *c, struct evhttp_request *req, int status, const char *code,
                       const char *param, const char *msg);
/* The same in the caller's API format (api: enum coord_api). */
void coord_chat_reject_api(coord *c, struct evhttp_request *req, int api, int status,
                           const char *code, const char *param, const char *msg);
/* chat_plain.c: admission of a coordinator-sealed job after its reservation
 * (admit.h's next): picks a node, seals j->plain to it and dispatches; a
 * chat request that finds every node full waits in the queue (refunded). */
void coord_plain_place(cjob *j, struct evhttp_request *req);
void coord_chat_log_job(cjob *j, const char *event, const char *outcome, int64_t charged);
int coord_chat_model_served(coord *c, const char *model);
void coord_chat_add_headers(cjob *j); /* Gloam-Mode/-Node/-Trust/-Job */
void coord_chat_stop_watch(cjob *j);
void coord_chat_on_sse_gone(void *ud);
void coord_job_on_frame(cjob *j, const uint8_t *frame, size_t len);
void coord_job_on_done(cjob *j, const node_msg *m);
void coord_job_on_error(cjob *j, const char *code, const char *message);
/* Ends a job because its node is gone or it timed out: refund, tell the
 * client, free. */
void coord_job_fail(cjob *j, int status, const char *code, const char *message, bool cancel_node);

/* speech.c: /v1/audio/transcriptions and /v1/audio/translations. */
void coord_speech_handle(struct evhttp_request *req, coord *c, int64_t account, bool translate);
/* Client-sealed admission of an audio envelope: its price per minute and
 * the reservation for its claimed duration; answers the client itself and
 * returns < 0 when refused. */
int coord_speech_sealed_price(coord *c, struct evhttp_request *req, const gloam_seal_header *h,
                              int64_t *per_minute, int64_t *max_cost);
/* ledger.c (worker thread): the amount to charge for a verified audio
 * receipt; GLOAM_EAUTH when its duration or price is wrong. */
int coord_speech_receipt_cost(const cjob *j, const gloam_receipt_claims *cl, int64_t *out_cost,
                              char *err);
/* chat.c, after settlement of a coordinator-sealed audio job. */
void coord_speech_on_done(cjob *j, const char *receipt, int64_t cost);
/* speech.c, shared by the non-chat endpoints (audio, images): a new job
 * for a coordinator-sealed request (a copy of body, the envelope's endpoint
 * (static) and billed units), admitted with coord_admit_reserve(...,
 * coord_plain_place), which seals it to the node picked then; NULL on
 * failure. */
cjob *coord_unit_job(coord *c, const char *model, const char *endpoint, uint32_t audio_ms,
                     uint32_t n_images, const uint8_t *body, size_t len);

/* image.c: /v1/images/generations (docs/images.md). */
void coord_image_handle(struct evhttp_request *req, coord *c, int64_t account);
/* Client-sealed admission of an image envelope (n_images, per-image
 * price); answers the client itself and returns < 0 when refused. */
int coord_image_sealed_price(coord *c, struct evhttp_request *req, const gloam_seal_header *h,
                             int64_t *per_image, int64_t *max_cost);
/* ledger.c (worker thread): the amount to charge for a verified image
 * receipt; GLOAM_EAUTH when its count or price is wrong. */
int coord_image_receipt_cost(const cjob *j, const gloam_receipt_claims *cl, int64_t *out_cost,
                             char *err);
/* chat.c, after settlement of a coordinator-sealed image job. */
void coord_image_on_done(cjob *j, const char *receipt, int64_t cost);

#endif
