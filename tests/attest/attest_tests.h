/* SPDX-License-Identifier: Apache-2.0
 *
 * tests/attest/attest_tests.h: helpers shared by the attestation tests.
 */
#ifndef GLOAM_TESTS_ATTEST_H
#define GLOAM_TESTS_ATTEST_H

#include <jansson.h>

#include "attest/evidence.h"
#include "attest/identity.h"
#include "gloam/attest.h"
#include "test.h"

#define T_NOW_MS 1795000000000LL

extern const uint8_t T_NONCE[32];
extern const uint8_t T_HPKE_PK[32];
extern const char T_BINARY_HEX[];
extern const char T_WEIGHTS[];

/* A statement input over the fixed values above (posture may be NULL). */
attest_statement_in t_input(es256_key *receipt, const json_t *posture);
/* A policy expecting T_NONCE at T_NOW_MS. */
gloam_attest_policy t_policy(gloam_trust min);
/* Evidence made by id over t_input; mem_free the result. */
char *t_make(attest_identity *id, es256_key *receipt, const attest_statement_in *in);
/* Rewrites the payload member `key` to `val` (takes it), keeping the old
 * signature; or re-signs with `resign` when non-NULL. mem_free the result. */
char *t_tamper(const char *ev, const char *key, json_t *val, es256_key *resign);
/* Runs a shell command; its exit status. */
int t_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* With $GLOAM_ATTEST_CORPUS set, saves ev there as a fuzz corpus seed. */
void t_corpus(const char *name, const char *ev);
/* Writes a file; 0 on success. */
int t_write(const char *path, const void *p, size_t n);

void test_soft_key_file(void);
void test_soft_roundtrip(void);
void test_soft_openssl_verifies_jws(void);
void test_soft_rejects(void);
void test_soft_malformed(void);
void test_cli_verify(void);
void test_file_sha256(void);
void test_secure_enclave_elsewhere(void);
void test_verify_alloc_sweep(void);
void test_tpm_end_to_end(void);
void test_tpm_rejects(void);
void test_tpm_activation_binding(void);

#endif
