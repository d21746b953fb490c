/* SPDX-License-Identifier: Apache-2.0
 *
 * src/bin/gloam_verify_main.c: gloam-verify, a standalone receipt checker
 * (moves into the `gloam` CLI as `gloam verify` when that lands).
 *
 *   gloam-verify receipt --jws FILE --transcript FILE --pubkey FILE [--request FILE]
 *
 * Verifies a receipt (compact JWS ES256, docs/sealing.md §5) against a P-256
 * public key (JWK or PEM), checks that the SHA-256 of the response transcript
 * (the exact plaintext the client saw) equals the signed transcript hash and,
 * with --request, that the sealed request envelope matches too. Prints what
 * was verified; exits 0 when everything holds, 1 with the reason when a check
 * fails, 2 for usage or I/O errors.
 */
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/codec.h"
#include "core/time.h"
#include "gloam/receipt.h"

#define MAX_INPUT (256u << 20)

static void usage(void) {
  fprintf(stderr,
          "usage: gloam-verify receipt --jws FILE --transcript FILE --pubkey FILE "
          "[--request FILE]\n"
          "  --jws        the receipt (compact JWS)\n"
          "  --transcript the response plaintext exactly as the client saw it\n"
          "  --pubkey     the node's receipt key, JWK or PEM (SubjectPublicKeyInfo)\n"
          "  --request    optional: the sealed request envelope that was sent\n");
}

static char *slurp(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  char *p = NULL;
  size_t n = 0, cap = 0;
  if (!f) {
    fprintf(stderr, "gloam-verify: cannot open %s\n", path);
    return NULL;
  }
  for (;;) {
    if (cap - n < 65536) {
      if (cap >= MAX_INPUT) {
        fprintf(stderr, "gloam-verify: %s is larger than %u bytes\n", path, MAX_INPUT);
        free(p);
        fclose(f);
        return NULL;
      }
      cap = cap ? cap * 2 : 65536;
      char *q = realloc(p, cap + 1);
      if (!q) {
        fprintf(stderr, "gloam-verify: out of memory\n");
        exit(2);
      }
      p = q;
    }
    size_t got = fread(p + n, 1, cap - n, f);
    n += got;
    if (got == 0) break;
  }
  int bad = ferror(f);
  fclose(f);
  if (bad) {
    fprintf(stderr, "gloam-verify: cannot read %s\n", path);
    free(p);
    return NULL;
  }
  p[n] = 0;
  *len = n;
  return p;
}

static void print_hex(const char *label, const uint8_t *p, size_t n) {
  char h[129];
  codec_hex_encode(p, n, h, sizeof h);
  printf("  %-18s %s\n", label, h);
}

static void print_time(const char *label, uint64_t ms) {
  char t[32];
  if (time_format_rfc3339((int64_t)(ms / 1000), t, sizeof t) < 0) t[0] = 0;
  printf("  %-18s %llu (%s)\n", label, (unsigned long long)ms, t);
}

static int verify_receipt(const char *jws_path, const char *tr_path, const char *key_path,
                          const char *req_path) {
  size_t jl = 0, tl = 0, kl = 0, rl = 0;
  char *jws = slurp(jws_path, &jl), *tr = slurp(tr_path, &tl), *key = slurp(key_path, &kl);
  char *req = req_path ? slurp(req_path, &rl) : NULL;
  char err[GLOAM_ERR_LEN] = "", thumb[44];
  gloam_receipt_key *k = NULL;
  gloam_receipt_claims c;
  uint8_t d[32];
  int rc = 2;
  if (!jws || !tr || !key || (req_path && !req)) goto done;
  while (jl && (jws[jl - 1] == '\n' || jws[jl - 1] == '\r' || jws[jl - 1] == ' ')) jl--;
  if (gloam_receipt_key_parse(key, kl, &k, err) < 0) {
    fprintf(stderr, "gloam-verify: %s: %s\n", key_path, err);
    goto done;
  }
  gloam_receipt_key_thumbprint(k, thumb);
  rc = 1;
  if (gloam_receipt_verify(k, jws, jl, &c, err) < 0) {
    fprintf(stderr, "gloam-verify: FAILED: %s\n", err);
    goto done;
  }
  SHA256((const uint8_t *)tr, tl, d);
  if (memcmp(d, c.transcript_sha256, 32) != 0) {
    fprintf(stderr, "gloam-verify: FAILED: the transcript's SHA-256 differs from the signed one\n");
    print_hex("transcript sha256", d, 32);
    print_hex("signed sha256", c.transcript_sha256, 32);
    goto done;
  }
  if (req) {
    SHA256((const uint8_t *)req, rl, d);
    if (memcmp(d, c.request_sha256, 32) != 0) {
      fprintf(stderr, "gloam-verify: FAILED: the request's SHA-256 differs from the signed one\n");
      goto done;
    }
  }
  printf("receipt OK\n");
  printf("  %-18s ES256 by key %s (RFC 7638 thumbprint)\n", "signature", thumb);
  printf("  %-18s %zu bytes, SHA-256 matches\n", "transcript", tl);
  if (req) printf("  %-18s %zu bytes, SHA-256 matches\n", "sealed request", rl);
  printf("  %-18s %u\n", "version", c.version);
  printf("  %-18s %s\n", "node", c.node_id);
  print_hex("request id", c.request_id, sizeof c.request_id);
  print_hex("request sha256", c.request_sha256, 32);
  print_hex("transcript sha256", c.transcript_sha256, 32);
  printf("  %-18s %s\n", "model", c.model);
  printf("  %-18s %s\n", "weights", c.weights_digest);
  printf("  %-18s %llu prompt + %llu completion\n", "tokens", (unsigned long long)c.prompt_tokens,
         (unsigned long long)c.completion_tokens);
  printf("  %-18s %llu micro-USD\n", "price", (unsigned long long)c.price_micro_usd);
  print_time("started", c.started_ms);
  print_time("finished", c.finished_ms);
  if (!req) printf("note: --request not given, the request hash was not checked\n");
  rc = 0;
done:
  gloam_receipt_key_free(k);
  free(jws);
  free(tr);
  free(key);
  free(req);
  return rc;
}

int main(int argc, char **argv) {
  const char *jws = NULL, *tr = NULL, *key = NULL, *req = NULL;
  if (argc < 2 || strcmp(argv[1], "receipt") != 0) {
    usage();
    return 2;
  }
  for (int i = 2; i < argc; i++) {
    const char **slot = !strcmp(argv[i], "--jws")          ? &jws
                        : !strcmp(argv[i], "--transcript") ? &tr
                        : !strcmp(argv[i], "--pubkey")     ? &key
                        : !strcmp(argv[i], "--request")    ? &req
                                                           : NULL;
    if (!slot || i + 1 >= argc) {
      fprintf(stderr, "gloam-verify: unknown or incomplete option %s\n", argv[i]);
      usage();
      return 2;
    }
    *slot = argv[++i];
  }
  if (!jws || !tr || !key) {
    usage();
    return 2;
  }
  return verify_receipt(jws, tr, key, req);
}
