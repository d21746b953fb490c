/* SPDX-License-Identifier: Apache-2.0
 *
 * node/attestor.c: the node's identity and challenge answers (see
 * attestor.h). Everything cryptographic is src/attest's; what is here is
 * node-specific: choosing the identity from the config, measuring this
 * binary, and running each answer (credential activation + statement +
 * quote) on a one-thread net_workq so the loop keeps relaying tokens while
 * a TPM works (real TPMs take 50-500 ms per quote).
 */
#include "node/attestor.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "attest/evidence.h"
#include "attest/identity.h"
#include "attest/tpm.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/codec.h"
#include "core/err.h"
#include "core/file.h"
#include "core/log.h"
#include "crypto/receipt_signer.h"
#include "net/workq.h"

#define ANSWER_MAX 64

struct node_attestor {
  attest_identity *id;
  uint8_t binary[32];
  char *ak_info; /* TPM: JSON text */
  net_workq *wq;
  node_attest_send_fn send;
  void *ud;
  bool busy;
};

typedef struct answer_task {
  node_attestor *a;
  uint64_t gen;
  char node_id[128], model_id[132], weights[80];
  uint8_t hpke_pk[32];
  es256_key *receipt; /* borrowed from the daemon's signer, which outlives the worker */
  json_t *posture, *hardware;
  uint8_t nonce[64];
  size_t nonce_len;
  char nonce64[100];
  char *credential; /* JSON text or NULL */
  char *msg;        /* OUT */
  char err[GLOAM_ERR_LEN];
} answer_task;

/* ---- opening ------------------------------------------------------------- */

static int open_tpm(node_attestor *a, const node_config *cfg, const char *tcti, char *err) {
  int rc = attest_identity_open_tpm(&a->id, tcti, err);
  if (rc < 0) return rc;
  if (cfg->ek_chain[0]) {
    buf b;
    buf_init(&b, 1u << 20);
    rc = file_read_all(cfg->ek_chain, &b, err);
    if (rc == 0) rc = attest_tpm_set_ek_chain(a->id, (const char *)b.data, b.len, err);
    buf_deinit(&b);
    if (rc < 0) return rc;
  }
  if ((rc = attest_tpm_measure(a->id, a->binary, err)) < 0) return rc;
  return attest_tpm_ak_info(a->id, &a->ak_info, err);
}

static int open_software(node_attestor *a, const node_config *cfg, char *err) {
  if (mkdir(cfg->state_dir, 0700) != 0 && errno != EEXIST)
    return err_set(err, GLOAM_EIO, "cannot create state_dir: %s", strerror(errno));
  char path[NODE_PATH_MAX + 16];
  if ((size_t)snprintf(path, sizeof path, "%s/identity.pem", cfg->state_dir) >= sizeof path)
    return err_set(err, GLOAM_EINVAL, "state_dir path too long");
  return attest_identity_open_software(&a->id, path, err);
}

int node_attestor_open(node_attestor **out, const node_config *cfg, char *err) {
  *out = NULL;
  node_attestor *a = mem_calloc(1, sizeof *a);
  if (!a) return err_set(err, GLOAM_ENOMEM, "out of memory");
  const char *idc = cfg->identity[0] ? cfg->identity : "software";
  int rc = attest_file_sha256(NULL, a->binary, err);
  if (rc < 0) goto fail;
  if (strcmp(idc, "software") == 0)
    rc = open_software(a, cfg, err);
  else if (strcmp(idc, "tpm") == 0 || strncmp(idc, "tpm:", 4) == 0)
    rc = open_tpm(a, cfg, idc[3] == ':' ? idc + 4 : NULL, err);
  else if (strcmp(idc, "secure-enclave") == 0)
    rc = attest_identity_open_se(&a->id, "org.gloam.node.identity", err);
  else
    rc = err_set(err, GLOAM_EINVAL, "identity: expected software, tpm, tpm:TCTI or secure-enclave");
  if (rc < 0) goto fail;
  *out = a;
  return 0;
fail:
  node_attestor_free(a);
  return rc;
}

int node_attestor_start(node_attestor *a, struct event_base *base, node_attest_send_fn send,
                        void *ud, char *err) {
  a->send = send;
  a->ud = ud;
  return net_workq_new(&a->wq, base, 1, 4, err);
}

void node_attestor_free(node_attestor *a) {
  if (!a) return;
  net_workq_free(a->wq); /* finishes a running answer first */
  mem_free(a->ak_info);
  attest_identity_free(a->id);
  mem_free(a);
}

gloam_trust node_attestor_level(const node_attestor *a) {
  return attest_identity_level(a->id);
}

const char *node_attestor_thumbprint(const node_attestor *a) {
  return attest_identity_thumbprint(a->id);
}

json_t *node_attestor_register_json(const node_attestor *a) {
  if (!a->ak_info) return json_pack("{s:s}", "identity", "software");
  return json_pack("{s:s,s:o}", "identity", "tpm", "ak_info", json_loads(a->ak_info, 0, NULL));
}

/* ---- answering ----------------------------------------------------------- */

static void task_free(answer_task *t) {
  json_decref(t->posture);
  json_decref(t->hardware);
  mem_free(t->credential);
  free(t->msg); /* json_dumps */
  mem_free(t);
}

/* On the worker: activation (when asked), then the statement. */
static void answer_work(void *arg) {
  answer_task *t = arg;
  uint8_t secret[ANSWER_MAX];
  size_t n_secret = 0;
  char act[2 * ANSWER_MAX];
  if (t->credential && attest_tpm_activate(t->a->id, t->credential, strlen(t->credential), secret,
                                           sizeof secret, &n_secret, t->err) < 0)
    return;
  if (n_secret) codec_b64_encode(secret, n_secret, act, sizeof act, CODEC_B64_URL);
  memset(secret, 0, sizeof secret);
  attest_model m = {t->model_id, t->weights};
  attest_statement_in in = {.node_id = t->node_id,
                            .nonce = t->nonce,
                            .nonce_len = t->nonce_len,
                            .hpke_pk = t->hpke_pk,
                            .receipt_key = t->receipt,
                            .binary_sha256 = t->a->binary,
                            .models = &m,
                            .n_models = 1,
                            .posture = t->posture,
                            .hardware = t->hardware};
  char *ev = NULL;
  size_t ev_len;
  if (attest_evidence_make(t->a->id, &in, &ev, &ev_len, t->err) < 0) return;
  json_t *msg =
      json_pack("{s:s,s:s,s:s}", "type", "challenge_response", "nonce", t->nonce64, "evidence", ev);
  if (msg && n_secret) json_object_set_new(msg, "activation", json_string(act));
  t->msg = msg ? json_dumps(msg, JSON_COMPACT) : NULL;
  if (!t->msg) err_set(t->err, GLOAM_ENOMEM, "out of memory");
  json_decref(msg);
  mem_free(ev);
}

static void answer_done(void *arg) {
  answer_task *t = arg;
  t->a->busy = false;
  if (t->msg)
    t->a->send(t->a->ud, t->gen, t->msg);
  else
    log_event(LOG_ERROR, "node.evidence_failed", "error", t->err);
  task_free(t);
}

static int copy_in(answer_task *t, const node_statement *st, const char *nonce) {
  size_t nl = strlen(nonce);
  long n = nl < sizeof t->nonce64
               ? codec_b64_decode(nonce, nl, t->nonce, sizeof t->nonce, CODEC_B64_URL)
               : -1;
  if (n < 16 || n > 64) return GLOAM_EINVAL;
  t->nonce_len = (size_t)n;
  memcpy(t->nonce64, nonce, nl + 1);
  if (strlen(st->node_id) >= sizeof t->node_id || strlen(st->model_id) >= sizeof t->model_id ||
      strlen(st->weights_digest) >= sizeof t->weights)
    return GLOAM_EINVAL;
  snprintf(t->node_id, sizeof t->node_id, "%s", st->node_id);
  snprintf(t->model_id, sizeof t->model_id, "%s", st->model_id);
  snprintf(t->weights, sizeof t->weights, "%s", st->weights_digest);
  memcpy(t->hpke_pk, st->hpke_pk, 32);
  t->receipt = receipt_signer_key(st->receipt);
  t->posture = st->posture ? json_deep_copy(st->posture) : json_object();
  t->hardware = st->hardware ? json_deep_copy(st->hardware) : NULL;
  return t->posture && (!st->hardware || t->hardware) ? 0 : GLOAM_ENOMEM;
}

int node_attestor_challenge(node_attestor *a, const node_statement *st, const char *nonce,
                            const json_t *credential, uint64_t gen, char *err) {
  if (a->busy) return err_set(err, GLOAM_EAGAIN, "a challenge is still being answered");
  answer_task *t = mem_calloc(1, sizeof *t);
  if (!t) return err_set(err, GLOAM_ENOMEM, "out of memory");
  t->a = a;
  t->gen = gen;
  int rc = copy_in(t, st, nonce);
  if (rc == 0 && credential) {
    char *s = json_dumps(credential, JSON_COMPACT);
    t->credential = s ? mem_strdup(s) : NULL;
    free(s);
    if (!t->credential) rc = GLOAM_ENOMEM;
  }
  if (rc == 0) rc = net_workq_submit(a->wq, answer_work, answer_done, t);
  if (rc < 0) {
    task_free(t);
    return err_set(err, rc, "cannot answer the challenge (%s)", gloam_strerror(rc));
  }
  a->busy = true;
  return 0;
}
