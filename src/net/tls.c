/* SPDX-License-Identifier: Apache-2.0
 *
 * net/tls.c: OpenSSL contexts and evhttp's TLS hook (see tls.h).
 */
#include "net/tls.h"

#include <arpa/inet.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/http.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <string.h>

#include "core/err.h"

static int ossl_fail(char *err, const char *what) {
  unsigned long e = ERR_get_error();
  char buf[160];
  ERR_error_string_n(e, buf, sizeof buf);
  ERR_clear_error();
  return err_set(err, GLOAM_ECRYPTO, "%s: %s", what, e ? buf : "failed");
}

int net_tls_server_ctx(SSL_CTX **out, const char *cert_pem, const char *key_pem, char *err) {
  *out = NULL;
  SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
  if (!ctx) return ossl_fail(err, "SSL_CTX_new");
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  if (SSL_CTX_use_certificate_chain_file(ctx, cert_pem) != 1) {
    SSL_CTX_free(ctx);
    return ossl_fail(err, "cannot load the certificate chain");
  }
  if (SSL_CTX_use_PrivateKey_file(ctx, key_pem, SSL_FILETYPE_PEM) != 1 ||
      SSL_CTX_check_private_key(ctx) != 1) {
    SSL_CTX_free(ctx);
    return ossl_fail(err, "cannot load the private key");
  }
  *out = ctx;
  return 0;
}

int net_tls_client_ctx(SSL_CTX **out, const char *ca_file, char *err) {
  *out = NULL;
  SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
  if (!ctx) return ossl_fail(err, "SSL_CTX_new");
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
  int ok = ca_file ? SSL_CTX_load_verify_locations(ctx, ca_file, NULL)
                   : SSL_CTX_set_default_verify_paths(ctx);
  if (ok != 1) {
    SSL_CTX_free(ctx);
    return ossl_fail(err, "cannot load trusted certificates");
  }
  *out = ctx;
  return 0;
}

SSL *net_tls_client_session(SSL_CTX *ctx, const char *host) {
  SSL *ssl = SSL_new(ctx);
  if (!ssl) return NULL;
  unsigned char ip[16];
  X509_VERIFY_PARAM *vp = SSL_get0_param(ssl);
  int ok;
  if (inet_pton(AF_INET, host, ip) == 1 || inet_pton(AF_INET6, host, ip) == 1) {
    ok = X509_VERIFY_PARAM_set1_ip_asc(vp, host);
  } else {
    X509_VERIFY_PARAM_set_hostflags(vp, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    ok = SSL_set_tlsext_host_name(ssl, host) == 1 && X509_VERIFY_PARAM_set1_host(vp, host, 0) == 1;
  }
  if (!ok) {
    SSL_free(ssl);
    return NULL;
  }
  return ssl;
}

static struct bufferevent *tls_bevcb(struct event_base *base, void *arg) {
  SSL *ssl = SSL_new(arg);
  if (!ssl) return NULL;
  return bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING,
                                        BEV_OPT_CLOSE_ON_FREE);
}

void net_http_use_tls(struct evhttp *http, SSL_CTX *ctx) {
  evhttp_set_bevcb(http, tls_bevcb, ctx);
}
