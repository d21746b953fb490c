/* SPDX-License-Identifier: Apache-2.0
 *
 * node/identity.c: software identity key and attestation statement (see
 * identity.h). The statement is a compact JWS (ES256) whose protected header
 * carries the identity's JWK, so the evidence checks with off-the-shelf JOSE
 * tools; the evidence text is base64url of the JWS bytes.
 */
#include "node/identity.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/codec.h"
#include "core/err.h"
#include "core/time.h"
#include "crypto/es256.h"
#include "gloam/err.h"
#include "node/secmem.h"

#define EVIDENCE_MAX (64 * 1024)

struct node_identity {
  es256_key *key;
  char thumb[ES256_THUMB_LEN + 1];
  char jwk[256];
};

static int is_p256(EVP_PKEY *k) {
  char g[64];
  size_t n = 0;
  return EVP_PKEY_is_a(k, "EC") &&
         EVP_PKEY_get_utf8_string_param(k, OSSL_PKEY_PARAM_GROUP_NAME, g, sizeof g, &n) == 1 &&
         strcmp(g, "prime256v1") == 0;
}

static int load_key(const char *path, EVP_PKEY **out, char *err) {
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return errno == ENOENT ? GLOAM_ENOENT : err_set(err, GLOAM_EIO, "open identity key");
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > 16384) {
    close(fd);
    return err_set(err, GLOAM_EFORMAT, "identity key is not a small regular file");
  }
  if (st.st_mode & 077) {
    close(fd);
    return err_set(err, GLOAM_EPERM, "identity key is readable by others (chmod 600 it)");
  }
  enum { CAP = 16384 };
  char *b = secmem_alloc(CAP);
  if (!b) {
    close(fd);
    return err_set(err, GLOAM_ENOMEM, "no locked memory for the key");
  }
  ssize_t n = read(fd, b, CAP);
  close(fd);
  int rc = 0;
  BIO *bio = n > 0 ? BIO_new_mem_buf(b, (int)n) : NULL;
  EVP_PKEY *k = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
  BIO_free(bio);
  secmem_free(b, CAP);
  if (!k || !is_p256(k)) {
    EVP_PKEY_free(k);
    rc = err_set(err, GLOAM_EFORMAT, "identity key is not a P-256 PEM private key");
  }
  *out = k;
  return rc;
}

static int save_key(const char *dir, const char *path, EVP_PKEY *k, char *err) {
  if (mkdir(dir, 0700) != 0 && errno != EEXIST)
    return err_set(err, GLOAM_EIO, "cannot create state_dir: %s", strerror(errno));
  char tmp[1100];
  if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp", path) >= sizeof tmp)
    return err_set(err, GLOAM_EINVAL, "state_dir path too long");
  unlink(tmp);
  int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return err_set(err, GLOAM_EIO, "cannot create identity key: %s", strerror(errno));
  BIO *bio = BIO_new(BIO_s_mem());
  int rc = 0;
  char *data = NULL;
  long len = 0;
  if (!bio || PEM_write_bio_PrivateKey(bio, k, NULL, NULL, 0, NULL, NULL) != 1 ||
      (len = BIO_get_mem_data(bio, &data)) <= 0)
    rc = err_set(err, GLOAM_ECRYPTO, "cannot encode identity key");
  if (rc == 0) {
    size_t n = len > 0 && len <= (1 << 20) ? (size_t)len : 0;
    if (n == 0 || write(fd, data, n) != (ssize_t)n || fsync(fd) != 0)
      rc = err_set(err, GLOAM_EIO, "cannot write identity key");
  }
  if (data && len > 0) OPENSSL_cleanse(data, (size_t)len);
  BIO_free(bio);
  close(fd);
  if (rc == 0 && rename(tmp, path) != 0) rc = err_set(err, GLOAM_EIO, "cannot install key");
  if (rc < 0) unlink(tmp);
  return rc;
}

int node_identity_open(node_identity **out, const char *state_dir, char *err) {
  *out = NULL;
  char path[1100];
  if ((size_t)snprintf(path, sizeof path, "%s/identity.pem", state_dir) >= sizeof path)
    return err_set(err, GLOAM_EINVAL, "state_dir path too long");
  node_identity *id = mem_calloc(1, sizeof *id);
  if (!id) return err_set(err, GLOAM_ENOMEM, "out of memory");
  EVP_PKEY *k = NULL;
  int rc = load_key(path, &k, err);
  if (rc == GLOAM_ENOENT) {
    if ((rc = es256_generate(&k)) < 0)
      rc = err_set(err, rc, "cannot generate identity key");
    else
      rc = save_key(state_dir, path, k, err);
  }
  if (rc < 0) goto fail;
  id->key = k;
  k = NULL;
  if (es256_thumbprint(id->key, id->thumb) < 0 ||
      es256_public_jwk(id->key, id->jwk, sizeof id->jwk) < 0) {
    rc = err_set(err, GLOAM_ECRYPTO, "cannot export identity key");
    goto fail;
  }
  *out = id;
  return 0;
fail:
  EVP_PKEY_free(k);
  node_identity_free(id);
  return rc;
}

void node_identity_free(node_identity *id) {
  if (!id) return;
  es256_key_free(id->key);
  mem_free(id);
}

int node_identity_jwk(const node_identity *id, char *out, size_t cap) {
  size_t n = strlen(id->jwk);
  if (n >= cap) return GLOAM_ETOOBIG;
  memcpy(out, id->jwk, n + 1);
  return 0;
}

const char *node_identity_thumbprint(const node_identity *id) {
  return id->thumb;
}
const char *node_identity_trust(const node_identity *id) {
  return "software";
}

static int b64url(buf *b, const void *p, size_t n) {
  size_t need = codec_b64_len(n, CODEC_B64_URL);
  int rc = buf_reserve(b, need + 1);
  if (rc < 0) return rc;
  long w = codec_b64_encode(p, n, (char *)b->data + b->len, need + 1, CODEC_B64_URL);
  if (w < 0) return (int)w;
  b->len += (size_t)w;
  b->data[b->len] = 0;
  return 0;
}

static json_t *statement(const node_identity *id, const node_evidence_in *in) {
  char pk[64];
  if (codec_b64_encode(in->hpke_pk, in->hpke_pk_len, pk, sizeof pk, CODEC_B64_URL) < 0) return NULL;
  json_t *rjwk = json_loads(in->receipt_jwk, 0, NULL);
  json_t *ijwk = json_loads(id->jwk, 0, NULL);
  json_t *post = in->posture ? json_deep_copy(in->posture) : json_object();
  if (!rjwk || !ijwk || !post) {
    json_decref(rjwk);
    json_decref(ijwk);
    json_decref(post);
    return NULL;
  }
  return json_pack("{s:s,s:i,s:s,s:s,s:s?,s:I,s:o,s:{s:{s:i,s:s},s:o},s:s,s:[{s:s,s:s}],s:o}",
                   "type", "gloam-attestation", "version", 1, "trust", node_identity_trust(id),
                   "node_id", in->node_id, "nonce", in->nonce, "issued_ms",
                   (json_int_t)time_wall_ms(), "identity", ijwk, "keys", "hpke", "kem_id", 32,
                   "public_key", pk, "receipt", rjwk, "binary", in->binary_digest, "models", "id",
                   in->model_id, "weights_digest", in->weights_digest, "posture", post);
}

int node_identity_evidence(const node_identity *id, const node_evidence_in *in, char **out,
                           char *err) {
  *out = NULL;
  json_t *st = statement(id, in);
  json_t *hdr = json_pack("{s:s,s:s,s:o}", "alg", "ES256", "typ", "gloam-attestation+jws", "jwk",
                          json_loads(id->jwk, 0, NULL));
  char *pay = st ? json_dumps(st, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
  char *hs = hdr ? json_dumps(hdr, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
  json_decref(st);
  json_decref(hdr);
  buf jws, ev;
  buf_init(&jws, EVIDENCE_MAX);
  buf_init(&ev, EVIDENCE_MAX * 2);
  uint8_t sig[ES256_SIG_LEN];
  int rc = pay && hs ? 0 : err_set(err, GLOAM_ENOMEM, "cannot build the statement");
  if (rc == 0 && ((rc = b64url(&jws, hs, strlen(hs))) < 0 || (rc = buf_putc(&jws, '.')) < 0 ||
                  (rc = b64url(&jws, pay, strlen(pay))) < 0))
    rc = err_set(err, rc, "statement too large");
  if (rc == 0 && es256_sign(id->key, jws.data, jws.len, sig) < 0)
    rc = err_set(err, GLOAM_ECRYPTO, "signing the statement failed");
  if (rc == 0 && ((rc = buf_putc(&jws, '.')) < 0 || (rc = b64url(&jws, sig, sizeof sig)) < 0 ||
                  (rc = b64url(&ev, jws.data, jws.len)) < 0))
    rc = err_set(err, rc, "statement too large");
  if (rc == 0) {
    size_t n;
    *out = (char *)buf_take(&ev, &n);
  }
  free(pay);
  free(hs);
  buf_deinit(&jws);
  buf_deinit(&ev);
  return rc;
}
