/* SPDX-License-Identifier: Apache-2.0
 *
 * coord/node_attest.c: the coordinator as verifier of node evidence
 * (docs/attestation.md, docs/coordinator.md "Attestation").
 *
 * Flow per connection: a TPM node registers with its AK info; a worker
 * checks the EK chain against the configured roots and makes a credential
 * activation challenge (gloam_attest_make_challenge), which goes out with
 * the first nonce. Every challenge_response (the nonce matched on the loop)
 * is copied into a task: a worker checks the activation answer, runs
 * gloam_attest_verify() against the raw nonce bytes this coordinator sent,
 * and compares the statement's node id, HPKE key, receipt key and models
 * with what the node registered, then checks the identity key's pin for
 * the node id in the store (a known id with another key is refused; the
 * first key seen is pinned). Back on the loop the verified level, the
 * evidence and its nonce are published.
 *
 * DESIGN: signature checks never run on the I/O loop (STYLE §7): they go
 * to the coordinator's net_workq (shared with the ledger). A task owns
 * copies of everything it reads; the node only keeps a pointer to its
 * pending task, and node_gone() detaches it, so a task finishing after its
 * node left just frees itself. The policy and roots are immutable after
 * init, so workers read them without locks.
 *
 * Pins are the store's table node_pins (coord_store_pin), read and written
 * only by the workers through the ledger's connection (c->wstore under
 * c->wlock), never by the loop: there is no copy in memory to load or keep
 * in step, so they survive a restart and `gloam-coord admin drop-pin`
 * takes effect at the node id's next statement. The first verified
 * statement of a connection records last_seen and trust (a write);
 * periodic re-challenges only read.
 */
#include <string.h>

#include "coord/coord_impl.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/codec.h"
#include "core/err.h"
#include "core/file.h"
#include "core/log.h"
#include "crypto/es256.h"
#include "gloam/attest.h"
#include "net/workq.h"

#define CLOSE_ATTEST 4403
#define CLOSE_BUSY 1013
#define MAX_LIST 64

typedef struct coord_attest {
  gloam_trust min_trust;
  char *roots; /* PEM or NULL */
  size_t roots_len;
  char *lists[3][MAX_LIST]; /* binaries, weights, pcr7 */
  size_t n_list[3];
  int64_t max_age_ms;
} coord_attest;

typedef struct att_task att_task;

struct cnode_att {
  gloam_trust level; /* verified; NONE until the first statement verified */
  bool verified;
  char *evidence; /* the last verified evidence text */
  char nonce[64]; /* its nonce, base64url */
  char ak_name[72];
  bool ak_activated;
  uint8_t secret[32]; /* credential activation: the expected answer */
  bool cred_pending;
  att_task *task; /* in flight, or NULL */
};

enum { TASK_CHALLENGE, TASK_VERIFY };

struct att_task {
  coord *c;
  cnode *node; /* NULL once the node is gone (written on the loop only) */
  int kind;
  char *text; /* ak_info or evidence (owned) */
  size_t len;
  /* verify inputs */
  uint8_t nonce[32];
  char nonce64[64];
  bool check_activation;
  bool first; /* the connection's first statement: record last_seen */
  uint8_t secret[32], answer[NODE_ACTIVATION_MAX];
  size_t answer_len;
  char ak_name[72];
  char node_id[NODE_ID_MAX + 1];
  uint8_t hpke_pk[32];
  char receipt_jwk[1100];
  node_model models[NODE_MODELS_MAX];
  int n_models;
  /* outputs */
  int rc;
  bool pinned; /* the identity was pinned now (first sight of the node id) */
  char reason[GLOAM_ERR_LEN];
  gloam_attest_result res;
  char *challenge; /* TASK_CHALLENGE: JSON from gloam_attest_make_challenge */
};

/* ---- configuration ------------------------------------------------------ */

static int split_list(const char *s, char **out, size_t *n, char *err) {
  while (s && *s) {
    const char *e = strchr(s, ',');
    size_t len = e ? (size_t)(e - s) : strlen(s);
    while (len && *s == ' ') s++, len--;
    while (len && s[len - 1] == ' ') len--;
    if (len) {
      if (*n == MAX_LIST) return err_set(err, GLOAM_EINVAL, "at most %d list entries", MAX_LIST);
      if (!(out[*n] = mem_alloc(len + 1))) return err_set(err, GLOAM_ENOMEM, "out of memory");
      memcpy(out[*n], s, len);
      out[(*n)++][len] = 0;
    }
    s = e ? e + 1 : NULL;
  }
  return 0;
}

int coord_attest_init(coord *c, char *err) {
  const coord_config *cfg = &c->cfg;
  if (cfg->attest_min_trust < 0 || cfg->attest_min_trust > GLOAM_TRUST_MEASURED)
    return err_set(err, GLOAM_EINVAL, "attestation minimum trust must be none..measured");
  coord_attest *a = mem_calloc(1, sizeof *a);
  if (!a) return err_set(err, GLOAM_ENOMEM, "out of memory");
  c->attest = a;
  a->min_trust = (gloam_trust)cfg->attest_min_trust;
  a->max_age_ms = cfg->attest_max_age_ms;
  int rc = split_list(cfg->attest_binaries, a->lists[0], &a->n_list[0], err);
  if (rc == 0) rc = split_list(cfg->attest_weights, a->lists[1], &a->n_list[1], err);
  if (rc == 0) rc = split_list(cfg->attest_pcr7, a->lists[2], &a->n_list[2], err);
  if (rc == 0 && cfg->attest_ek_roots) {
    buf b;
    buf_init(&b, 1u << 20);
    rc = file_read_all(cfg->attest_ek_roots, &b, err);
    if (rc == 0 && b.len == 0) rc = err_set(err, GLOAM_EINVAL, "EK roots file is empty");
    if (rc == 0) a->roots = (char *)buf_take(&b, &a->roots_len);
    buf_deinit(&b);
  }
  return rc;
}

void coord_attest_free(coord *c) {
  coord_attest *a = c->attest;
  if (!a) return;
  for (int k = 0; k < 3; k++)
    for (size_t i = 0; i < a->n_list[k]; i++) mem_free(a->lists[k][i]);
  mem_free(a->roots);
  mem_free(a);
  c->attest = NULL;
}

/* ---- worker side -------------------------------------------------------- */

/* The verified identity against the node id's pin in the store (pinned on
 * first sight); the ledger's connection, under its lock. */
static int pin_work(att_task *t) {
  coord *c = t->c;
  pthread_mutex_lock(&c->wlock);
  int rc = coord_store_pin(c->wstore, t->node_id, t->res.identity_thumb,
                           gloam_trust_name(t->res.trust), t->first, &t->pinned);
  if (rc == GLOAM_EAUTH)
    snprintf(t->reason, sizeof t->reason, "identity key changed for a known node id");
  else if (rc < 0)
    snprintf(t->reason, sizeof t->reason, "cannot pin the identity (%s)",
             coord_store_errmsg(c->wstore));
  pthread_mutex_unlock(&c->wlock);
  return rc;
}

static int same_receipt_key(const char *a, const char *b) {
  es256_key *ka = NULL, *kb = NULL;
  char ta[ES256_THUMB_LEN + 1], tb[ES256_THUMB_LEN + 1];
  int ok = es256_public_parse(a, strlen(a), &ka, NULL) == 0 &&
           es256_public_parse(b, strlen(b), &kb, NULL) == 0 && es256_thumbprint(ka, ta) == 0 &&
           es256_thumbprint(kb, tb) == 0 && strcmp(ta, tb) == 0;
  es256_key_free(ka);
  es256_key_free(kb);
  return ok;
}

/* The statement must bind exactly what the node registered. */
static int check_bindings(att_task *t) {
  const gloam_attest_result *r = &t->res;
  if (strcmp(r->node_id, t->node_id) != 0)
    return err_set(t->reason, GLOAM_EAUTH, "statement is for node id %.64s", r->node_id);
  if (memcmp(r->hpke_pk, t->hpke_pk, 32) != 0)
    return err_set(t->reason, GLOAM_EAUTH, "statement binds another HPKE key than registered");
  if (!same_receipt_key(r->receipt_jwk, t->receipt_jwk))
    return err_set(t->reason, GLOAM_EAUTH, "statement binds another receipt key than registered");
  for (int i = 0; i < t->n_models; i++) {
    size_t k = 0;
    while (k < r->n_models && (strcmp(r->models[k].id, t->models[i].id) != 0 ||
                               strcmp(r->models[k].weights_digest, t->models[i].weights_digest)))
      k++;
    if (k == r->n_models)
      return err_set(t->reason, GLOAM_EAUTH, "statement does not bind model %.64s as registered",
                     t->models[i].id);
  }
  return 0;
}

static void verify_work(att_task *t) {
  const coord_attest *a = t->c->attest;
  if (t->check_activation &&
      gloam_attest_activation_check(t->secret, t->answer, t->answer_len) < 0) {
    t->rc = err_set(t->reason, GLOAM_EAUTH, "credential activation failed: wrong answer");
    return;
  }
  const char *aks[1] = {t->ak_name};
  gloam_attest_policy p = {.min_trust = GLOAM_TRUST_NONE,
                           .nonce = t->nonce,
                           .nonce_len = sizeof t->nonce,
                           .max_age_ms = a->max_age_ms,
                           .binaries = (const char *const *)a->lists[0],
                           .n_binaries = a->n_list[0],
                           .weights = (const char *const *)a->lists[1],
                           .n_weights = a->n_list[1],
                           .ca_pem = a->roots,
                           .ca_pem_len = a->roots_len,
                           .activated_aks = aks,
                           .n_activated_aks = t->ak_name[0] ? 1 : 0,
                           .secure_boot_pcr7 = (const char *const *)a->lists[2],
                           .n_secure_boot_pcr7 = a->n_list[2]};
  t->rc = gloam_attest_verify(t->text, t->len, &p, &t->res);
  if (t->rc < 0) {
    snprintf(t->reason, sizeof t->reason, "%s", t->res.reason);
    return;
  }
  t->rc = check_bindings(t);
  if (t->rc == 0) t->rc = pin_work(t);
}

static void task_work(void *arg) {
  att_task *t = arg;
  if (t->kind == TASK_VERIFY) {
    verify_work(t);
    return;
  }
  const coord_attest *a = t->c->attest;
  uint8_t secret[32];
  t->rc = gloam_attest_make_challenge(t->text, t->len, a->roots, a->roots_len, &t->challenge,
                                      secret, t->ak_name, t->reason);
  memcpy(t->secret, secret, sizeof secret);
}

/* ---- loop side ---------------------------------------------------------- */

static void task_free(att_task *t) {
  mem_free(t->text);
  gloam_attest_free(t->challenge);
  memset(t->secret, 0, sizeof t->secret);
  mem_free(t);
}

static void log_att(int level, const char *event, const cnode *n, const char *k, const char *v) {
  log_line l;
  if (log_begin(&l, level, event)) {
    log_str(&l, "node_id", n->id);
    log_str(&l, k, v);
    log_end(&l);
  }
}

static void challenge_done(att_task *t, cnode *n) {
  struct cnode_att *s = n->att;
  if (t->rc < 0) {
    log_att(LOG_WARN, "node.attest_rejected", n, "why", t->reason);
    coord_node_evict(n, CLOSE_ATTEST, "TPM identity refused (EK chain or AK)");
    return;
  }
  json_error_t je;
  json_t *cred = json_loads(t->challenge, 0, &je);
  if (!cred) {
    coord_node_evict(n, 1011, "out of memory");
    return;
  }
  memcpy(s->secret, t->secret, sizeof s->secret);
  memcpy(s->ak_name, t->ak_name, sizeof s->ak_name);
  s->cred_pending = true;
  coord_node_send_challenge(n, cred);
}

static void verify_done(att_task *t, cnode *n) {
  struct cnode_att *s = n->att;
  if (t->rc < 0) {
    log_att(LOG_WARN, "node.attest_rejected", n, "why", t->reason);
    coord_node_evict(n, CLOSE_ATTEST, t->reason);
    return;
  }
  if (t->check_activation) {
    s->ak_activated = true;
    s->cred_pending = false;
    memset(s->secret, 0, sizeof s->secret);
  }
  mem_free(s->evidence);
  s->evidence = t->text;
  t->text = NULL;
  snprintf(s->nonce, sizeof s->nonce, "%s", t->nonce64);
  bool was = coord_attest_routable(n);
  s->level = t->res.trust;
  s->verified = true;
  n->trust = gloam_trust_name(s->level);
  if (t->pinned) log_att(LOG_INFO, "node.pinned", n, "identity", t->res.identity_thumb);
  log_att(LOG_INFO, "node.attested", n, "trust", n->trust);
  if (!was && coord_attest_routable(n)) coord_queue_kick(n->c);
}

static void task_done(void *arg) {
  att_task *t = arg;
  cnode *n = t->node;
  if (n) {
    n->att->task = NULL;
    if (!n->closing) (t->kind == TASK_VERIFY ? verify_done : challenge_done)(t, n);
  }
  task_free(t);
}

static int submit(cnode *n, att_task *t) {
  coord *c = n->c;
  if (!c->wq || c->wq_closing || net_workq_submit(c->wq, task_work, task_done, t) < 0) {
    task_free(t);
    coord_node_evict(n, CLOSE_BUSY, "the coordinator is busy; try again later");
    return GLOAM_EAGAIN;
  }
  t->node = n;
  n->att->task = t;
  return 0;
}

static struct cnode_att *state(cnode *n) {
  if (!n->att) n->att = mem_calloc(1, sizeof *n->att);
  return n->att;
}

void coord_attest_on_register(cnode *n, node_msg *m) {
  if (!state(n)) {
    coord_node_evict(n, 1011, "out of memory");
    return;
  }
  if (!m->tpm) {
    coord_node_send_challenge(n, NULL);
    return;
  }
  if (!n->c->attest->roots) {
    coord_node_evict(n, CLOSE_ATTEST,
                     "this coordinator has no EK roots: TPM nodes cannot register");
    return;
  }
  att_task *t = mem_calloc(1, sizeof *t);
  if (!t) {
    coord_node_evict(n, 1011, "out of memory");
    return;
  }
  t->c = n->c;
  t->kind = TASK_CHALLENGE;
  t->len = strlen(m->ak_info);
  if (!(t->text = mem_strdup(m->ak_info))) {
    mem_free(t);
    coord_node_evict(n, 1011, "out of memory");
    return;
  }
  submit(n, t);
}

void coord_attest_on_response(cnode *n, node_msg *m) {
  struct cnode_att *s = n->att;
  if (!s || s->task) {
    coord_node_evict(n, 4400, "challenge response while a check is running");
    return;
  }
  if (s->cred_pending != (m->activation_len > 0)) {
    coord_node_evict(n, CLOSE_ATTEST, "credential activation answer missing or unexpected");
    return;
  }
  att_task *t = mem_calloc(1, sizeof *t);
  if (t) t->text = mem_alloc(m->evidence_len + 1);
  if (!t || !t->text) {
    mem_free(t);
    coord_node_evict(n, 1011, "out of memory");
    return;
  }
  t->c = n->c;
  t->kind = TASK_VERIFY;
  memcpy(t->text, m->evidence, m->evidence_len);
  t->text[m->evidence_len] = 0;
  t->len = m->evidence_len;
  snprintf(t->nonce64, sizeof t->nonce64, "%s", n->challenge);
  codec_b64_decode(n->challenge, strlen(n->challenge), t->nonce, sizeof t->nonce, CODEC_B64_URL);
  t->check_activation = s->cred_pending;
  t->first = !s->verified;
  memcpy(t->secret, s->secret, sizeof t->secret);
  memcpy(t->answer, m->activation, m->activation_len);
  t->answer_len = m->activation_len;
  memcpy(t->ak_name, s->ak_name, sizeof t->ak_name);
  memcpy(t->node_id, n->id, sizeof t->node_id);
  memcpy(t->hpke_pk, n->hpke_pk, sizeof t->hpke_pk);
  snprintf(t->receipt_jwk, sizeof t->receipt_jwk, "%s", n->receipt_jwk);
  memcpy(t->models, n->models, sizeof t->models);
  t->n_models = n->n_models;
  submit(n, t);
}

void coord_attest_node_gone(cnode *n) {
  struct cnode_att *s = n->att;
  if (!s) return;
  if (s->task) s->task->node = NULL;
  mem_free(s->evidence);
  memset(s, 0, sizeof *s);
  mem_free(s);
  n->att = NULL;
}

bool coord_attest_routable(const cnode *n) {
  return n->att && n->att->verified && n->att->level >= n->c->attest->min_trust;
}

void coord_attest_publish(const cnode *n, json_t *o) {
  const struct cnode_att *s = n->att;
  if (!s || !s->verified) return;
  json_object_set_new(o, "evidence", json_string(s->evidence));
  json_object_set_new(o, "evidence_nonce", json_string(s->nonce));
  if (s->ak_activated) json_object_set_new(o, "ak_name", json_string(s->ak_name));
}
