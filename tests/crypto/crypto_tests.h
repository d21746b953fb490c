/* SPDX-License-Identifier: Apache-2.0
 *
 * tests/crypto/crypto_tests.h: tests shared between the files of test_crypto.
 */
#ifndef GLOAM_TESTS_CRYPTO_H
#define GLOAM_TESTS_CRYPTO_H

void test_rfc9180_vectors(void);
void test_rfc9180_exports(void);

void test_receipt_roundtrip(void);
void test_receipt_tamper(void);
void test_receipt_rfc7515_es256(void);
void test_receipt_strict_parse(void);
void test_receipt_client_binding(void);
void test_receipt_audio_ms(void);
void test_receipt_images(void);
void test_verify_cli(void);

#endif
