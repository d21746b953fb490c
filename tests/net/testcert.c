/* SPDX-License-Identifier: Apache-2.0
 *
 * tests/net/testcert.c: a throwaway self-signed TLS certificate, made with
 * OpenSSL's own API (see testcert.h).
 */
#include "testcert.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>

#include "test.h"

/* A self-signed P-256 certificate for 127.0.0.1 and localhost, made with
 * OpenSSL's own API, written to dir/cert.pem and dir/key.pem. */
void make_cert(const char *dir, char *cert_path, char *key_path, size_t cap) {
  EVP_PKEY *k = EVP_EC_gen("P-256");
  ASSERT_NOT_NULL(k);
  X509 *x = X509_new();
  X509_set_version(x, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
  X509_gmtime_adj(X509_getm_notBefore(x), -60);
  X509_gmtime_adj(X509_getm_notAfter(x), 3600);
  X509_set_pubkey(x, k);
  X509_NAME *name = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"gloam test", -1, -1,
                             0);
  X509_set_issuer_name(x, name);
  X509V3_CTX v3;
  X509V3_set_ctx_nodb(&v3);
  X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
  X509_EXTENSION *ext =
      X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name, "IP:127.0.0.1,DNS:localhost");
  X509_add_ext(x, ext, -1);
  X509_EXTENSION_free(ext);
  ASSERT_TRUE(X509_sign(x, k, EVP_sha256()) > 0);
  snprintf(cert_path, cap, "%s/cert.pem", dir);
  snprintf(key_path, cap, "%s/key.pem", dir);
  FILE *f = fopen(cert_path, "w");
  PEM_write_X509(f, x);
  fclose(f);
  f = fopen(key_path, "w");
  PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL);
  fclose(f);
  X509_free(x);
  EVP_PKEY_free(k);
}
