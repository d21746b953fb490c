/* SPDX-License-Identifier: Apache-2.0
 *
 * coord/node_msg.c: validation of node messages (see node_msg.h and
 * docs/protocol.md).
 */
#include "coord/node_msg.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/codec.h"
#include "core/err.h"
#include "http/json.h"

static int copy_str(json_t *o, const char *key, char *out, size_t cap, int required, int printable,
                    char *err) {
  json_t *v = json_object_get(o, key);
  if (!v) {
    out[0] = '\0';
    return required ? err_set(err, GLOAM_EFORMAT, "missing \"%s\"", key) : 0;
  }
  if (!json_is_string(v)) return err_set(err, GLOAM_EFORMAT, "\"%s\" must be a string", key);
  size_t n = json_string_length(v);
  const char *s = json_string_value(v);
  if (n >= cap || (required && n == 0))
    return err_set(err, GLOAM_EFORMAT, "\"%s\" has a bad length", key);
  for (size_t i = 0; printable && i < n; i++)
    if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e)
      return err_set(err, GLOAM_EFORMAT, "\"%s\" must be printable ASCII", key);
  memcpy(out, s, n);
  out[n] = '\0';
  return 0;
}

static int get_int(json_t *o, const char *key, int64_t lo, int64_t hi, int64_t *out, int required,
                   char *err) {
  json_t *v = json_object_get(o, key);
  if (!v) {
    *out = 0;
    return required ? err_set(err, GLOAM_EFORMAT, "missing \"%s\"", key) : 0;
  }
  if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
    return err_set(err, GLOAM_EFORMAT, "\"%s\" must be an integer in [%lld, %lld]", key,
                   (long long)lo, (long long)hi);
  *out = json_integer_value(v);
  return 0;
}

static int get_num(json_t *o, const char *key, double lo, double hi, double *out, char *err) {
  json_t *v = json_object_get(o, key);
  *out = 0;
  if (!v) return 0;
  if (!json_is_number(v)) return err_set(err, GLOAM_EFORMAT, "\"%s\" must be a number", key);
  double d = json_number_value(v);
  if (!isfinite(d) || d < lo || d > hi)
    return err_set(err, GLOAM_EFORMAT, "\"%s\" is out of range", key);
  *out = d;
  return 0;
}

static int valid_node_id(const char *s) {
  if (!*s) return 0;
  for (; *s; s++) {
    char c = *s;
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
          c == '_' || c == ':' || c == '-'))
      return 0;
  }
  return 1;
}

/* "attestation": {"identity":"software"|"tpm","ak_info":{...}} (optional:
 * a node without it is a software identity). The ak_info object is only
 * bounded here; gloam_attest_make_challenge() parses it on a worker. */
static int parse_attestation(node_msg *m, json_t *a, char *err) {
  if (!a) return 0;
  const char *id = json_string_value(json_object_get(a, "identity"));
  if (!json_is_object(a) || !id || (strcmp(id, "software") != 0 && strcmp(id, "tpm") != 0))
    return err_set(err, GLOAM_EFORMAT, "attestation.identity must be software or tpm");
  m->tpm = strcmp(id, "tpm") == 0;
  json_t *info = json_object_get(a, "ak_info");
  if (!m->tpm) return 0;
  if (!json_is_object(info)) return err_set(err, GLOAM_EFORMAT, "a tpm identity needs ak_info");
  m->ak_info = json_dumps(info, JSON_COMPACT);
  if (!m->ak_info || strlen(m->ak_info) > NODE_AK_INFO_MAX)
    return err_set(err, GLOAM_EFORMAT, "attestation.ak_info too large");
  return 0;
}

/* challenge_response: the nonce, the evidence text, the optional answer to
 * a credential activation challenge (base64url). */
static int parse_response(node_msg *m, char *err) {
  int rc = copy_str(m->root, "nonce", m->nonce, sizeof m->nonce, 1, 1, err);
  if (rc < 0) return rc;
  json_t *ev = json_object_get(m->root, "evidence");
  if (!json_is_string(ev) || json_string_length(ev) == 0 ||
      json_string_length(ev) > NODE_EVIDENCE_MAX)
    return err_set(err, GLOAM_EFORMAT, "evidence must be evidence v1 text up to %d bytes",
                   NODE_EVIDENCE_MAX);
  m->evidence = json_string_value(ev);
  m->evidence_len = json_string_length(ev);
  json_t *act = json_object_get(m->root, "activation");
  if (!act) return 0;
  long n = json_is_string(act) && json_string_length(act) <= 2 * NODE_ACTIVATION_MAX
               ? codec_b64_decode(json_string_value(act), json_string_length(act), m->activation,
                                  sizeof m->activation, CODEC_B64_URL)
               : -1;
  if (n <= 0) return err_set(err, GLOAM_EFORMAT, "activation must be base64url of 1..64 bytes");
  m->activation_len = (size_t)n;
  return 0;
}

static int parse_register(node_msg *m, char *err) {
  json_t *r = m->root;
  int64_t v;
  int rc = get_int(r, "protocol", 1, 1000, &v, 1, err);
  if (rc < 0) return rc;
  if (v != NODE_PROTOCOL_VERSION)
    return err_set(err, GLOAM_EUNSUPPORTED, "protocol %lld is not supported", (long long)v);
  rc = copy_str(r, "node_id", m->node_id, sizeof m->node_id, 1, 1, err);
  if (rc < 0) return rc;
  if (!valid_node_id(m->node_id)) return err_set(err, GLOAM_EFORMAT, "bad node_id");
  json_t *hw = json_object_get(r, "hardware");
  if (hw && !json_is_object(hw)) return err_set(err, GLOAM_EFORMAT, "hardware must be an object");
  m->hardware = hw;
  json_t *models = json_object_get(r, "models");
  if (!json_is_array(models) || json_array_size(models) < 1 ||
      json_array_size(models) > NODE_MODELS_MAX)
    return err_set(err, GLOAM_EFORMAT, "models must be an array of 1..%d", NODE_MODELS_MAX);
  for (size_t i = 0; i < json_array_size(models); i++) {
    json_t *mo = json_array_get(models, i);
    if (!json_is_object(mo)) return err_set(err, GLOAM_EFORMAT, "models[%zu] is not an object", i);
    node_model *nm = &m->models[m->n_models];
    rc = copy_str(mo, "id", nm->id, sizeof nm->id, 1, 1, err);
    if (rc == 0)
      rc = copy_str(mo, "weights_digest", nm->weights_digest, sizeof nm->weights_digest, 1, 1, err);
    if (rc < 0) return rc;
    for (int k = 0; k < m->n_models; k++)
      if (strcmp(m->models[k].id, nm->id) == 0)
        return err_set(err, GLOAM_EFORMAT, "model listed twice");
    m->n_models++;
  }
  json_t *caps = json_object_get(r, "capabilities");
  if (!json_is_object(caps)) return err_set(err, GLOAM_EFORMAT, "capabilities must be an object");
  rc = get_int(caps, "max_slots", 1, 4096, &v, 1, err);
  if (rc < 0) return rc;
  m->max_slots = (int)v;
  json_t *rf = json_object_get(caps, "response_format");
  if (rf && !json_is_array(rf))
    return err_set(err, GLOAM_EFORMAT, "response_format must be an array");
  size_t k;
  json_t *f;
  json_array_foreach(rf, k, f) {
    const char *fs = json_string_value(f);
    if (fs && strcmp(fs, "json_object") == 0) m->json_object = true;
    if (fs && strcmp(fs, "json_schema") == 0) m->json_schema = true;
  }
  json_t *keys = json_object_get(r, "keys");
  json_t *hpke = json_object_get(keys, "hpke");
  json_t *rk = json_object_get(json_object_get(keys, "receipt"), "jwk");
  if (!json_is_object(hpke) || !json_is_object(rk))
    return err_set(err, GLOAM_EFORMAT, "keys.hpke and keys.receipt.jwk are required");
  rc = get_int(hpke, "kem_id", 0, 0xffff, &v, 1, err);
  if (rc < 0) return rc;
  if (v != 0x20) return err_set(err, GLOAM_EUNSUPPORTED, "only kem_id 32 (X25519) is supported");
  m->kem_id = (uint16_t)v;
  json_t *pk = json_object_get(hpke, "public_key");
  if (!json_is_string(pk) || codec_b64_decode(json_string_value(pk), json_string_length(pk),
                                              m->hpke_pk, sizeof m->hpke_pk, CODEC_B64_URL) != 32)
    return err_set(err, GLOAM_EFORMAT, "keys.hpke.public_key must be 32 bytes of base64url");
  if (json_object_size(rk) > 8) return err_set(err, GLOAM_EFORMAT, "receipt jwk too large");
  m->receipt_jwk = json_dumps(rk, JSON_COMPACT | JSON_SORT_KEYS);
  if (!m->receipt_jwk || strlen(m->receipt_jwk) > 1024)
    return err_set(err, GLOAM_EFORMAT, "receipt jwk too large");
  return parse_attestation(m, json_object_get(r, "attestation"), err);
}

static int parse_job_ref(node_msg *m, char *err) {
  char hex[2 * NODE_JOB_ID_LEN + 1];
  int rc = copy_str(m->root, "job", hex, sizeof hex, 1, 1, err);
  if (rc < 0) return rc;
  if (coord_node_job_parse(hex, m->job) < 0) return err_set(err, GLOAM_EFORMAT, "bad job id");
  return 0;
}

static int parse_body(node_msg *m, const char *type, char *err) {
  json_t *r = m->root;
  int64_t v;
  int rc;
  if (strcmp(type, "register") == 0) {
    m->type = NODE_MSG_REGISTER;
    return parse_register(m, err);
  }
  if (strcmp(type, "challenge_response") == 0) {
    m->type = NODE_MSG_CHALLENGE_RESPONSE;
    return parse_response(m, err);
  }
  if (strcmp(type, "heartbeat") == 0) {
    m->type = NODE_MSG_HEARTBEAT;
    rc = get_num(r, "load", 0, 1e6, &m->load, err);
    if (rc == 0) rc = get_int(r, "free_slots", 0, 4096, &v, 1, err);
    if (rc < 0) return rc;
    m->free_slots = (int)v;
    rc = get_int(r, "max_slots", 0, 4096, &v, 0, err);
    if (rc < 0) return rc;
    m->max_slots = (int)v;
    rc = get_num(r, "prefill_tps", 0, 1e9, &m->prefill_tps, err);
    if (rc == 0) rc = get_num(r, "decode_tps", 0, 1e9, &m->decode_tps, err);
    return rc;
  }
  if (strcmp(type, "job_done") == 0) {
    m->type = NODE_MSG_JOB_DONE;
    rc = parse_job_ref(m, err);
    if (rc < 0) return rc;
    json_t *rcpt = json_object_get(r, "receipt");
    if (!json_is_string(rcpt) || json_string_length(rcpt) == 0 || json_string_length(rcpt) > 4096)
      return err_set(err, GLOAM_EFORMAT, "receipt must be a compact JWS");
    m->receipt = json_string_value(rcpt);
    m->receipt_len = json_string_length(rcpt);
    json_t *u = json_object_get(r, "usage");
    if (!json_is_object(u)) return err_set(err, GLOAM_EFORMAT, "usage must be an object");
    rc = get_int(u, "prompt_tokens", 0, INT64_C(1) << 40, &m->prompt_tokens, 1, err);
    if (rc == 0)
      rc = get_int(u, "completion_tokens", 0, INT64_C(1) << 40, &m->completion_tokens, 1, err);
    return rc;
  }
  if (strcmp(type, "job_error") == 0) {
    m->type = NODE_MSG_JOB_ERROR;
    rc = parse_job_ref(m, err);
    if (rc == 0) rc = copy_str(r, "code", m->code, sizeof m->code, 1, 1, err);
    if (rc < 0) return rc;
    json_t *msg = json_object_get(r, "message");
    if (msg && json_is_string(msg)) {
      size_t n = json_string_length(msg);
      if (n > NODE_TEXT_MAX) n = NODE_TEXT_MAX;
      memcpy(m->message, json_string_value(msg), n);
      m->message[n] = '\0';
      /* cut at a NUL from \u0000 so the text stays a C string */
      m->message[strlen(m->message)] = '\0';
    }
    return 0;
  }
  if (strcmp(type, "drain") == 0) {
    m->type = NODE_MSG_DRAIN;
    return 0;
  }
  return err_set(err, GLOAM_EFORMAT, "unknown message type");
}

int coord_node_msg_parse(const uint8_t *data, size_t len, node_msg *m, char *err) {
  memset(m, 0, sizeof *m);
  if (len > NODE_REGISTER_MAX)
    return err_set(err, GLOAM_ETOOBIG, "message over %d bytes", NODE_REGISTER_MAX);
  int rc = json_parse_limited((const char *)data, len, NODE_REGISTER_MAX, NODE_JSON_DEPTH, &m->root,
                              err);
  if (rc < 0) return rc;
  json_t *t = json_object_get(m->root, "type");
  if (!json_is_string(t)) {
    rc = err_set(err, GLOAM_EFORMAT, "missing \"type\"");
    goto fail;
  }
  const char *type = json_string_value(t);
  if (strcmp(type, "register") != 0 && len > NODE_MSG_MAX) {
    rc = err_set(err, GLOAM_ETOOBIG, "message over %d bytes", NODE_MSG_MAX);
    goto fail;
  }
  rc = parse_body(m, type, err);
  if (rc < 0) goto fail;
  return 0;
fail:
  coord_node_msg_free(m);
  return rc;
}

void coord_node_msg_free(node_msg *m) {
  if (!m) return;
  json_decref(m->root);
  free(m->receipt_jwk); /* from json_dumps */
  free(m->ak_info);
  memset(m, 0, sizeof *m);
}

int coord_node_bin_parse(const uint8_t *data, size_t len, int *out_kind,
                         uint8_t job[NODE_JOB_ID_LEN], const uint8_t **payload,
                         size_t *payload_len) {
  if (len < NODE_BIN_HEADER + 1) return GLOAM_EFORMAT;
  if (data[0] != NODE_BIN_ENVELOPE && data[0] != NODE_BIN_FRAME) return GLOAM_EFORMAT;
  *out_kind = data[0];
  memcpy(job, data + 1, NODE_JOB_ID_LEN);
  *payload = data + NODE_BIN_HEADER;
  *payload_len = len - NODE_BIN_HEADER;
  return 0;
}

void coord_node_job_hex(const uint8_t job[NODE_JOB_ID_LEN], char out[2 * NODE_JOB_ID_LEN + 1]) {
  codec_hex_encode(job, NODE_JOB_ID_LEN, out, 2 * NODE_JOB_ID_LEN + 1);
}

int coord_node_job_parse(const char *hex, uint8_t job[NODE_JOB_ID_LEN]) {
  if (strlen(hex) != 2 * NODE_JOB_ID_LEN) return GLOAM_EFORMAT;
  for (const char *p = hex; *p; p++)
    if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f'))) return GLOAM_EFORMAT;
  return codec_hex_decode(hex, 2 * NODE_JOB_ID_LEN, job, NODE_JOB_ID_LEN, 0) == NODE_JOB_ID_LEN
             ? 0
             : GLOAM_EFORMAT;
}
