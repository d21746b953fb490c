/* SPDX-License-Identifier: Apache-2.0
 *
 * client/nodes.c: reading GET /v1/nodes and verifying every node's
 * evidence. The coordinator's own "trust" field is ignored: the level
 * reported is what gloam_evidence_verify() (gloam_attest_verify underneath)
 * established on this machine, against the nonce the coordinator published
 * with the statement.
 */
#include <stdlib.h>
#include <string.h>

#include "client/client_impl.h"
#include "core/alloc.h"
#include "core/codec.h"
#include "core/err.h"
#include "http/json.h"

/* A policy that accepts nodes with nothing verified. */
static int unverified_ok(const gloam_policy *p) {
  return p && p->min_trust == GLOAM_TRUST_NONE && p->n_allowed_binaries == 0 && !p->expected_nonce;
}

/* The model entry (and weights digest) from the coordinator's listing. */
static int listing_model(json_t *n, const char *model, gloam_node_info *o) {
  json_t *m;
  size_t i;
  json_array_foreach(json_object_get(n, "models"), i, m) {
    const char *id = json_string_value(json_object_get(m, "id"));
    const char *wd = json_string_value(json_object_get(m, "weights_digest"));
    if (!id || !wd || (model && strcmp(id, model) != 0)) continue;
    if (strlen(id) >= sizeof o->model || strlen(wd) >= sizeof o->weights_digest) return -1;
    snprintf(o->model, sizeof o->model, "%s", id);
    snprintf(o->weights_digest, sizeof o->weights_digest, "%s", wd);
    return 0;
  }
  return -1;
}

static void verify_one(json_t *n, const char *model, const gloam_policy *p, int64_t now_ms,
                       gloam_node_info *o) {
  const char *id = json_string_value(json_object_get(n, "id"));
  json_t *keys = json_object_get(n, "keys");
  const char *pk64 =
      json_string_value(json_object_get(json_object_get(keys, "hpke"), "public_key"));
  json_t *jwk = json_object_get(json_object_get(keys, "receipt"), "jwk");
  const char *ev = json_string_value(json_object_get(n, "evidence"));
  uint8_t pk[64];
  long pkl = pk64 && strlen(pk64) < 64
                 ? codec_b64_decode(pk64, strlen(pk64), pk, sizeof pk, CODEC_B64_URL)
                 : -1;
  char *jwk_text = json_is_object(jwk) ? json_dumps(jwk, JSON_COMPACT) : NULL;
  if (!id || pkl != 32 || !jwk_text) {
    memset(o, 0, sizeof *o);
    if (id) snprintf(o->id, sizeof o->id, "%s", id);
    o->status = GLOAM_EFORMAT;
    snprintf(o->reason, sizeof o->reason, "node entry lacks id or keys");
  } else {
    /* A coordinator that publishes the challenge it sent makes the
     * statement's nonce checkable (docs/client.md). */
    gloam_policy pn = *p;
    const char *nonce = json_string_value(json_object_get(n, "evidence_nonce"));
    if (nonce) pn.expected_nonce = nonce;
    /* the AK the coordinator activated (credential activation needs the
     * TPM's answer, which only the challenger sees; docs/client.md) */
    pn.activated_ak = json_string_value(json_object_get(n, "ak_name"));
    int rc =
        gloam_evidence_verify(ev, ev ? strlen(ev) : 0, id, pk, 32, jwk_text, model, &pn, now_ms, o);
    if (rc < 0 && unverified_ok(&pn) && listing_model(n, model, o) == 0) {
      /* Level none: nothing is verified, the coordinator's keys are used. */
      char why[sizeof o->reason + 32];
      snprintf(why, sizeof why, "nothing verified (%s)", o->reason);
      memcpy(o->reason, why, sizeof o->reason - 1);
      o->reason[sizeof o->reason - 1] = 0;
      memcpy(o->hpke_pk, pk, 32);
      snprintf(o->receipt_jwk, sizeof o->receipt_jwk, "%s", jwk_text);
      o->verified = GLOAM_TRUST_NONE;
      o->accepted = 1;
      o->status = 0;
    }
  }
  free(jwk_text);
  json_t *fs = json_object_get(n, "free_slots"), *ms = json_object_get(n, "max_slots");
  o->free_slots = json_is_integer(fs) ? (int)json_integer_value(fs) : 0;
  o->max_slots = json_is_integer(ms) ? (int)json_integer_value(ms) : 0;
  if (json_is_true(json_object_get(n, "draining")) && o->accepted) {
    o->accepted = 0;
    o->status = GLOAM_EBUSY;
    snprintf(o->reason, sizeof o->reason, "node is draining");
  }
}

int client_parse_nodes(const char *body, size_t len, const char *model, const gloam_policy *p,
                       int64_t now_ms, gloam_node_info **out, size_t *n_out, char *err) {
  *out = NULL;
  *n_out = 0;
  json_t *j = NULL;
  if (!body || json_parse_limited(body, len, CLIENT_MAX_JSON, 16, &j, err) < 0)
    return err_set(err, GLOAM_EPROTO, "the node list is not JSON");
  json_t *data = json_object_get(j, "data");
  if (!json_is_array(data)) {
    json_decref(j);
    return err_set(err, GLOAM_EPROTO, "the node list has no data array");
  }
  size_t n = json_array_size(data);
  if (n > CLIENT_MAX_NODES) n = CLIENT_MAX_NODES;
  gloam_node_info *v = mem_calloc(n ? n : 1, sizeof *v);
  if (!v) {
    json_decref(j);
    return err_set(err, GLOAM_ENOMEM, "out of memory");
  }
  for (size_t i = 0; i < n; i++) verify_one(json_array_get(data, i), model, p, now_ms, &v[i]);
  json_decref(j);
  *out = v;
  *n_out = n;
  return 0;
}

static int cmp_node(const void *a, const void *b) {
  const gloam_node_info *x = a, *y = b;
  if (x->accepted != y->accepted) return y->accepted - x->accepted;
  if (x->verified != y->verified) return (int)y->verified - (int)x->verified;
  if (x->free_slots != y->free_slots) return y->free_slots - x->free_slots;
  return strcmp(x->id, y->id);
}

void client_rank_nodes(gloam_node_info *v, size_t n) {
  if (n > 1) qsort(v, n, sizeof *v, cmp_node);
}
