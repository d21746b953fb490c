/* SPDX-License-Identifier: Apache-2.0
 *
 * attest/identity.c: the software identity key and the parts of the
 * identity interface shared with the TPM (see identity.h).
 *
 * DESIGN: the key file is read with O_NOFOLLOW and checked with fstat on
 * the open descriptor (no check-then-open race); it must be a small regular
 * file owned by our uid with no group/other bits. A new key is written to
 * "<path>.tmp" with O_EXCL and mode 0600, fsync'd, then renamed into place,
 * so a crash never leaves a half-written key.
 */
#include "attest/identity.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "attest/identity_int.h"
#include "core/alloc.h"
#include "core/err.h"
#include "core/secure.h"

#define KEY_FILE_MAX 16384

static int is_p256(EVP_PKEY *k) {
  char g[64];
  size_t n = 0;
  return EVP_PKEY_is_a(k, "EC") &&
         EVP_PKEY_get_utf8_string_param(k, OSSL_PKEY_PARAM_GROUP_NAME, g, sizeof g, &n) == 1 &&
         strcmp(g, "prime256v1") == 0;
}

static int load_key(const char *path, EVP_PKEY **out, char *err) {
  *out = NULL;
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    if (errno == ENOENT) return GLOAM_ENOENT;
    return err_set(err, GLOAM_EIO, "open %s: %s", path, strerror(errno));
  }
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size <= 0 || st.st_size > KEY_FILE_MAX) {
    close(fd);
    return err_set(err, GLOAM_EFORMAT, "%s is not a small regular file", path);
  }
  if ((st.st_mode & 077) != 0 || st.st_uid != geteuid()) {
    close(fd);
    return err_set(err, GLOAM_EPERM, "%s must be owned by us with mode 0600 (it is %03o)", path,
                   (unsigned)(st.st_mode & 0777));
  }
  char *b = OPENSSL_secure_malloc(KEY_FILE_MAX);
  if (!b) {
    close(fd);
    return err_set(err, GLOAM_ENOMEM, "out of memory");
  }
  ssize_t n = read(fd, b, KEY_FILE_MAX);
  close(fd);
  BIO *bio = n > 0 ? BIO_new_mem_buf(b, (int)n) : NULL;
  EVP_PKEY *k = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
  BIO_free(bio);
  OPENSSL_secure_clear_free(b, KEY_FILE_MAX);
  if (!k || !is_p256(k)) {
    EVP_PKEY_free(k);
    return err_set(err, GLOAM_EFORMAT, "%s is not a P-256 PEM private key", path);
  }
  *out = k;
  return 0;
}

static int save_key(const char *path, EVP_PKEY *k, char *err) {
  char tmp[1100];
  if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp", path) >= sizeof tmp)
    return err_set(err, GLOAM_EINVAL, "key path too long");
  unlink(tmp);
  int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return err_set(err, GLOAM_EIO, "create %s: %s", tmp, strerror(errno));
  BIO *bio = BIO_new(BIO_s_mem());
  char *data = NULL;
  long len = 0;
  int rc = 0;
  if (!bio || PEM_write_bio_PrivateKey(bio, k, NULL, NULL, 0, NULL, NULL) != 1 ||
      (len = BIO_get_mem_data(bio, &data)) <= 0)
    rc = err_set(err, GLOAM_ECRYPTO, "cannot encode the identity key");
  if (rc == 0 &&
      (fchmod(fd, 0600) != 0 || write(fd, data, (size_t)len) != (ssize_t)len || fsync(fd) != 0))
    rc = err_set(err, GLOAM_EIO, "write %s: %s", tmp, strerror(errno));
  if (data && len > 0) OPENSSL_cleanse(data, (size_t)len);
  BIO_free(bio);
  close(fd);
  if (rc == 0 && rename(tmp, path) != 0)
    rc = err_set(err, GLOAM_EIO, "rename to %s: %s", path, strerror(errno));
  if (rc < 0) unlink(tmp);
  return rc;
}

int identity_export(attest_identity *id, char *err) {
  if (es256_public_jwk(id->pub, id->jwk, sizeof id->jwk) < 0 ||
      es256_thumbprint(id->pub, id->thumb) < 0)
    return err_set(err, GLOAM_ECRYPTO, "cannot export the identity's public key");
  return 0;
}

int attest_identity_open_software(attest_identity **out, const char *path, char *err) {
  *out = NULL;
  if (!path || !*path) return err_set(err, GLOAM_EINVAL, "no identity key path");
  attest_identity *id = mem_calloc(1, sizeof *id);
  if (!id) return err_set(err, GLOAM_ENOMEM, "out of memory");
  id->level = GLOAM_TRUST_SOFTWARE;
  EVP_PKEY *k = NULL;
  int rc = load_key(path, &k, err);
  if (rc == GLOAM_ENOENT) {
    rc = es256_generate(&k);
    if (rc < 0)
      rc = err_set(err, rc, "cannot generate the identity key");
    else
      rc = save_key(path, k, err);
  }
  if (rc < 0) goto fail;
  id->soft = k;
  k = NULL;
  id->pub = es256_key_ref(id->soft);
  if ((rc = identity_export(id, err)) < 0) goto fail;
  *out = id;
  return 0;
fail:
  EVP_PKEY_free(k);
  attest_identity_free(id);
  return rc;
}

void attest_identity_free(attest_identity *id) {
  if (!id) return;
  es256_key_free(id->soft);
  es256_key_free(id->pub);
  tpm_close(id->tpm);
  se_close(id->se);
  secure_zero(id, sizeof *id);
  mem_free(id);
}

gloam_trust attest_identity_level(const attest_identity *id) {
  return id->level;
}
const char *attest_identity_jwk(const attest_identity *id) {
  return id->jwk;
}
const char *attest_identity_thumbprint(const attest_identity *id) {
  return id->thumb;
}

int attest_identity_sign(attest_identity *id, const void *msg, size_t len,
                         uint8_t sig[ES256_SIG_LEN]) {
  if (id->se) return se_sign(id->se, msg, len, sig);
  if (!id->soft) return GLOAM_EUNSUPPORTED;
  return es256_sign(id->soft, msg, len, sig);
}
