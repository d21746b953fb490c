/* SPDX-License-Identifier: Apache-2.0
 *
 * crypto/envelope.c: encoding and strict parsing of the envelope v1 header.
 * See envelope.h and docs/sealing.md. The parser reads untrusted bytes: every
 * read is bounds-checked, strings are restricted to a small printable
 * alphabet (so they are safe to log and to put in JSON without escaping),
 * reserved bits must be zero and trailing bytes are an error.
 */
#include "crypto/envelope.h"

#include <string.h>

#include "core/err.h"
#include "crypto/hpke.h"

static void put16(uint8_t *p, uint16_t v) {
  p[0] = (uint8_t)(v >> 8), p[1] = (uint8_t)v;
}
static void put32(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (24 - 8 * i));
}
static void put64(uint8_t *p, uint64_t v) {
  for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (56 - 8 * i));
}
static uint16_t get16(const uint8_t *p) {
  return (uint16_t)(p[0] << 8 | p[1]);
}
static uint32_t get32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static uint64_t get64(const uint8_t *p) {
  return (uint64_t)get32(p) << 32 | get32(p + 4);
}

static int printable(const char *s, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (s[i] < 0x21 || s[i] > 0x7e || s[i] == '"' || s[i] == '\\') return 0;
  return 1;
}

static int endpoint_ok(const char *s, size_t n) {
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '/' || c == '.' || c == '_' ||
          c == '-'))
      return 0;
  }
  return 1;
}

static int check_str(const char *s, size_t cap, int endpoint, const char *what, char *err) {
  size_t n = strnlen(s, cap + 1);
  if (n == 0 || n > cap)
    return err_set(err, GLOAM_EFORMAT, "envelope: %s length %zu not in 1..%zu", what, n, cap);
  if (endpoint ? !endpoint_ok(s, n) : !printable(s, n))
    return err_set(err, GLOAM_EFORMAT, "envelope: %s has a character outside its alphabet", what);
  return 0;
}

int env_header_check(const gloam_seal_header *h, char *err) {
  char scratch[GLOAM_ERR_LEN];
  if (!err) err = scratch;
  if (h->version != GLOAM_SEAL_VERSION)
    return err_set(err, GLOAM_EUNSUPPORTED, "envelope: version %u not supported", h->version);
  hpke_suite s = {h->kem_id, h->kdf_id, h->aead_id};
  if (!hpke_suite_ok(s))
    return err_set(err, GLOAM_EUNSUPPORTED, "envelope: suite kem=0x%04x kdf=0x%04x aead=0x%04x",
                   h->kem_id, h->kdf_id, h->aead_id);
  int rc = check_str(h->node_id, GLOAM_SEAL_NODE_ID_MAX, 0, "node_id", err);
  if (rc == 0) rc = check_str(h->model, GLOAM_SEAL_MODEL_MAX, 0, "model", err);
  if (rc == 0) rc = check_str(h->endpoint, GLOAM_SEAL_ENDPOINT_MAX, 1, "endpoint", err);
  if (rc == 0 && (h->body_len < HPKE_TAG_LEN || h->body_len > GLOAM_SEAL_MAX_BODY + HPKE_TAG_LEN))
    rc = err_set(err, GLOAM_EFORMAT, "envelope: body_len %u out of range", h->body_len);
  return rc;
}

size_t env_header_len(const gloam_seal_header *h) {
  return ENV_FIXED_LEN + 3 + strlen(h->node_id) + strlen(h->model) + strlen(h->endpoint);
}

static uint8_t *put_str(uint8_t *p, const char *s) {
  size_t n = strlen(s);
  *p++ = (uint8_t)n;
  memcpy(p, s, n);
  return p + n;
}

void env_header_write(const gloam_seal_header *h, uint8_t *out) {
  memcpy(out, ENV_MAGIC, 4);
  out[4] = h->version;
  out[5] = 0; /* flags, reserved */
  put16(out + 6, h->kem_id);
  put16(out + 8, h->kdf_id);
  put16(out + 10, h->aead_id);
  memcpy(out + 12, h->key_id, GLOAM_SEAL_KEY_ID_LEN);
  memcpy(out + 28, h->request_id, GLOAM_SEAL_REQUEST_ID_LEN);
  put64(out + 44, h->timestamp_ms);
  put32(out + 52, h->max_output_tokens);
  put32(out + 56, h->audio_ms);
  put32(out + 60, h->n_images);
  put32(out + 64, h->body_len);
  uint8_t *p = put_str(out + ENV_FIXED_LEN, h->node_id);
  p = put_str(p, h->model);
  put_str(p, h->endpoint);
}

/* Reads a length-prefixed string of at most cap bytes at *off. */
static int get_str(const uint8_t *env, size_t env_len, size_t *off, char *dst, size_t cap,
                   const char *what, char *err) {
  if (*off >= env_len) return err_set(err, GLOAM_EFORMAT, "envelope: truncated before %s", what);
  size_t n = env[*off];
  if (n == 0 || n > cap)
    return err_set(err, GLOAM_EFORMAT, "envelope: %s length %zu not in 1..%zu", what, n, cap);
  if (env_len - *off - 1 < n) return err_set(err, GLOAM_EFORMAT, "envelope: truncated %s", what);
  /* a NUL would hide the rest of the field from every C-string reader */
  if (memchr(env + *off + 1, 0, n))
    return err_set(err, GLOAM_EFORMAT, "envelope: %s contains a NUL byte", what);
  memcpy(dst, env + *off + 1, n);
  dst[n] = '\0';
  *off += 1 + n;
  return 0;
}

int env_parse(const uint8_t *env, size_t env_len, gloam_seal_header *h, env_view *v, char *err) {
  char scratch[GLOAM_ERR_LEN];
  if (!err) err = scratch;
  memset(h, 0, sizeof *h);
  memset(v, 0, sizeof *v);
  if (env_len < ENV_FIXED_LEN)
    return err_set(err, GLOAM_EFORMAT, "envelope: %zu bytes is shorter than a header", env_len);
  if (memcmp(env, ENV_MAGIC, 4) != 0) return err_set(err, GLOAM_EFORMAT, "envelope: bad magic");
  h->version = env[4];
  if (h->version != GLOAM_SEAL_VERSION)
    return err_set(err, GLOAM_EUNSUPPORTED, "envelope: version %u not supported", h->version);
  if (env[5] != 0) return err_set(err, GLOAM_EFORMAT, "envelope: reserved flags set");
  h->kem_id = get16(env + 6);
  h->kdf_id = get16(env + 8);
  h->aead_id = get16(env + 10);
  memcpy(h->key_id, env + 12, GLOAM_SEAL_KEY_ID_LEN);
  memcpy(h->request_id, env + 28, GLOAM_SEAL_REQUEST_ID_LEN);
  h->timestamp_ms = get64(env + 44);
  h->max_output_tokens = get32(env + 52);
  h->audio_ms = get32(env + 56);
  h->n_images = get32(env + 60);
  h->body_len = get32(env + 64);
  size_t off = ENV_FIXED_LEN;
  int rc = get_str(env, env_len, &off, h->node_id, GLOAM_SEAL_NODE_ID_MAX, "node_id", err);
  if (rc == 0) rc = get_str(env, env_len, &off, h->model, GLOAM_SEAL_MODEL_MAX, "model", err);
  if (rc == 0)
    rc = get_str(env, env_len, &off, h->endpoint, GLOAM_SEAL_ENDPOINT_MAX, "endpoint", err);
  if (rc == 0) rc = env_header_check(h, err);
  if (rc < 0) return rc;
  v->header_len = off;
  v->enc_len = hpke_kem_enc_len(h->kem_id);
  size_t rest = env_len - off;
  if (rest < v->enc_len || rest - v->enc_len != h->body_len)
    return err_set(err, GLOAM_EFORMAT, "envelope: %zu bytes after the header, expected %zu", rest,
                   v->enc_len + h->body_len);
  v->enc = env + off;
  v->ct = env + off + v->enc_len;
  v->ct_len = h->body_len;
  return 0;
}
