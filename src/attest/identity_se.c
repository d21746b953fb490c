/* SPDX-License-Identifier: Apache-2.0
 *
 * attest/identity_se.c: the node's identity key in Apple's Secure Enclave
 * (macOS on Apple Silicon or a T2 Mac), behind the same interface as the
 * software and TPM identities (identity.h).
 *
 * The key is a P-256 key generated inside the Secure Enclave
 * (kSecAttrTokenIDSecureEnclave), stored in the keychain under an
 * application tag, usable only on this device and never exportable; the
 * node asks the enclave to sign (ECDSA over SHA-256) and converts the DER
 * signature to JWS's r || s. Trust level: SOFTWARE. The key cannot leave the
 * machine, but Apple offers no attestation a third party can check for a
 * daemon's enclave key outside MDM (App Attest is for App Store apps), so a
 * verifier cannot tell it from a software key and gloam does not claim more
 * (docs/attestation.md, "macOS").
 *
 * Built only on Apple platforms; elsewhere attest_identity_open_se()
 * answers GLOAM_EUNSUPPORTED. This file is not compiled or tested in CI
 * (Linux); it has not been run on a Mac.
 *
 * Ownership: the identity holds one SecKeyRef (released by
 * attest_identity_free). Thread safety: as identity.h.
 */
#include <stdio.h>
#include <string.h>

#include "attest/identity_int.h"
#include "core/err.h"

#if defined(__APPLE__)
#include <CoreFoundation/CoreFoundation.h>
#include <Security/Security.h>
#include <openssl/bn.h>
#include <openssl/ecdsa.h>

#include "core/alloc.h"
#include "core/codec.h"

struct attest_se {
  SecKeyRef key;
};

static CFDataRef tag_data(const char *tag) {
  return CFDataCreate(NULL, (const UInt8 *)tag, (CFIndex)strlen(tag));
}

/* The enclave key stored under tag, or NULL. */
static SecKeyRef se_find(const char *tag) {
  CFDataRef t = tag_data(tag);
  const void *k[] = {kSecClass, kSecAttrApplicationTag, kSecAttrKeyType, kSecAttrTokenID,
                     kSecReturnRef};
  const void *v[] = {kSecClassKey, t, kSecAttrKeyTypeECSECPrimeRandom, kSecAttrTokenIDSecureEnclave,
                     kCFBooleanTrue};
  CFDictionaryRef q = CFDictionaryCreate(NULL, k, v, 5, &kCFTypeDictionaryKeyCallBacks,
                                         &kCFTypeDictionaryValueCallBacks);
  CFTypeRef out = NULL;
  OSStatus st = SecItemCopyMatching(q, &out);
  CFRelease(q);
  CFRelease(t);
  return st == errSecSuccess ? (SecKeyRef)out : NULL;
}

/* A new permanent enclave key under tag, usable only on this device. */
static SecKeyRef se_create(const char *tag, char *err) {
  CFErrorRef e = NULL;
  SecAccessControlRef acl = SecAccessControlCreateWithFlags(
      NULL, kSecAttrAccessibleAfterFirstUnlockThisDeviceOnly, kSecAccessControlPrivateKeyUsage, &e);
  if (!acl) {
    if (e) CFRelease(e);
    err_set(err, GLOAM_ECRYPTO, "secure enclave: cannot create the access control");
    return NULL;
  }
  CFDataRef t = tag_data(tag);
  const void *pk[] = {kSecAttrIsPermanent, kSecAttrApplicationTag, kSecAttrAccessControl};
  const void *pv[] = {kCFBooleanTrue, t, acl};
  CFDictionaryRef priv = CFDictionaryCreate(NULL, pk, pv, 3, &kCFTypeDictionaryKeyCallBacks,
                                            &kCFTypeDictionaryValueCallBacks);
  int bits = 256;
  CFNumberRef nbits = CFNumberCreate(NULL, kCFNumberIntType, &bits);
  const void *ak[] = {kSecAttrKeyType, kSecAttrKeySizeInBits, kSecAttrTokenID, kSecPrivateKeyAttrs};
  const void *av[] = {kSecAttrKeyTypeECSECPrimeRandom, nbits, kSecAttrTokenIDSecureEnclave, priv};
  CFDictionaryRef attrs = CFDictionaryCreate(NULL, ak, av, 4, &kCFTypeDictionaryKeyCallBacks,
                                             &kCFTypeDictionaryValueCallBacks);
  SecKeyRef key = SecKeyCreateRandomKey(attrs, &e);
  if (!key) {
    if (e) CFRelease(e);
    err_set(err, GLOAM_ECRYPTO, "secure enclave: key generation refused (no enclave?)");
  }
  CFRelease(attrs);
  CFRelease(nbits);
  CFRelease(priv);
  CFRelease(t);
  CFRelease(acl);
  return key;
}

/* id->pub from the enclave key's public point (X9.63: 04 || X || Y). */
static int se_public(attest_identity *id, char *err) {
  SecKeyRef pub = SecKeyCopyPublicKey(id->se->key);
  CFDataRef d = pub ? SecKeyCopyExternalRepresentation(pub, NULL) : NULL;
  int rc = GLOAM_ECRYPTO;
  if (d && CFDataGetLength(d) == 65 && CFDataGetBytePtr(d)[0] == 0x04) {
    const uint8_t *p = CFDataGetBytePtr(d);
    char x[48], y[48], jwk[160];
    codec_b64_encode(p + 1, 32, x, sizeof x, CODEC_B64_URL);
    codec_b64_encode(p + 33, 32, y, sizeof y, CODEC_B64_URL);
    int n = snprintf(jwk, sizeof jwk,
                     "{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"%s\",\"y\":\"%s\"}", x, y);
    rc = es256_public_parse(jwk, (size_t)n, &id->pub, err);
  } else {
    err_set(err, GLOAM_ECRYPTO, "secure enclave: cannot read the public key");
  }
  if (d) CFRelease(d);
  if (pub) CFRelease(pub);
  return rc;
}

int attest_identity_open_se(attest_identity **out, const char *tag, char *err) {
  *out = NULL;
  if (!tag || !*tag) return err_set(err, GLOAM_EINVAL, "no secure enclave key tag");
  attest_identity *id = mem_calloc(1, sizeof *id);
  if (!id || !(id->se = mem_calloc(1, sizeof *id->se))) {
    mem_free(id);
    return err_set(err, GLOAM_ENOMEM, "out of memory");
  }
  id->level = GLOAM_TRUST_SOFTWARE;
  int rc = 0;
  id->se->key = se_find(tag);
  if (!id->se->key && !(id->se->key = se_create(tag, err))) rc = GLOAM_ECRYPTO;
  if (rc == 0) rc = se_public(id, err);
  if (rc == 0) rc = identity_export(id, err);
  if (rc < 0) {
    attest_identity_free(id);
    return rc;
  }
  *out = id;
  return 0;
}

int se_sign(attest_se *se, const void *msg, size_t len, uint8_t sig[ES256_SIG_LEN]) {
  CFDataRef m = CFDataCreate(NULL, msg, (CFIndex)len);
  CFErrorRef e = NULL;
  CFDataRef der =
      SecKeyCreateSignature(se->key, kSecKeyAlgorithmECDSASignatureMessageX962SHA256, m, &e);
  CFRelease(m);
  if (!der) {
    if (e) CFRelease(e);
    return GLOAM_ECRYPTO;
  }
  const unsigned char *p = CFDataGetBytePtr(der);
  ECDSA_SIG *s = d2i_ECDSA_SIG(NULL, &p, CFDataGetLength(der));
  int rc = GLOAM_ECRYPTO;
  if (s) {
    const BIGNUM *r = NULL, *sv = NULL;
    ECDSA_SIG_get0(s, &r, &sv);
    if (BN_bn2binpad(r, sig, 32) == 32 && BN_bn2binpad(sv, sig + 32, 32) == 32) rc = 0;
    ECDSA_SIG_free(s);
  }
  CFRelease(der);
  return rc;
}

void se_close(attest_se *se) {
  if (!se) return;
  if (se->key) CFRelease(se->key);
  mem_free(se);
}

#else /* not Apple: no Secure Enclave */

int attest_identity_open_se(attest_identity **out, const char *tag, char *err) {
  (void)tag;
  *out = NULL;
  return err_set(err, GLOAM_EUNSUPPORTED,
                 "the Secure Enclave identity exists only on macOS; use software or tpm");
}

int se_sign(attest_se *se, const void *msg, size_t len, uint8_t sig[ES256_SIG_LEN]) {
  (void)se;
  (void)msg;
  (void)len;
  (void)sig;
  return GLOAM_EUNSUPPORTED;
}

void se_close(attest_se *se) {
  (void)se;
}

#endif
