/* SPDX-License-Identifier: Apache-2.0
 *
 * tests/net/testcert.h: a throwaway self-signed TLS certificate for tests.
 */
#ifndef GLOAM_TESTS_TESTCERT_H
#define GLOAM_TESTS_TESTCERT_H

#include <stddef.h>

/* Writes dir/cert.pem and dir/key.pem: a P-256 certificate valid for an
 * hour for IP 127.0.0.1 and DNS localhost. Paths go to cert_path/key_path. */
void make_cert(const char *dir, char *cert_path, char *key_path, size_t cap);

#endif
