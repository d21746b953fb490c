/* SPDX-License-Identifier: Apache-2.0
 *
 * net/tls.h: TLS for the coordinator's HTTP server and for WebSocket
 * clients, through OpenSSL bufferevents (libevent's own TLS layer).
 *
 *   SSL_CTX *srv;
 *   net_tls_server_ctx(&srv, "cert.pem", "key.pem", err);
 *   net_http_use_tls(http, srv);            // every connection is TLS now
 *
 *   SSL_CTX *cli;
 *   net_tls_client_ctx(&cli, NULL, err);    // system trust store
 *   net_ws_connect_tls(base, "coord.example", 443, "/v1/node/connect", auth, cli, ...);
 *
 * Servers speak TLS 1.2+ only. Clients verify the chain (system store, or
 * ca_file when given) and the host name or IP address they dialed; there is
 * no way to turn verification off.
 *
 * Ownership: the caller frees contexts with SSL_CTX_free() after everything
 * using them is gone. Thread safety: contexts are read-only once made.
 */
#ifndef GLOAM_NET_TLS_H
#define GLOAM_NET_TLS_H

#include <openssl/ssl.h>

struct evhttp;

/* cert_pem: certificate chain file (leaf first); key_pem: its private key. */
int net_tls_server_ctx(SSL_CTX **out, const char *cert_pem, const char *key_pem, char *err);
/* ca_file: PEM bundle to trust instead of the system store, or NULL. */
int net_tls_client_ctx(SSL_CTX **out, const char *ca_file, char *err);
/* Wraps every connection evhttp accepts in a TLS server session. ctx is
 * borrowed and must outlive http. */
void net_http_use_tls(struct evhttp *http, SSL_CTX *ctx);
/* A client session for host (SNI plus name/IP verification); NULL on OOM. */
SSL *net_tls_client_session(SSL_CTX *ctx, const char *host);

#endif
