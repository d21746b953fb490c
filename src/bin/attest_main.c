/* SPDX-License-Identifier: Apache-2.0
 *
 * bin/attest_main.c: `gloam-attest verify`, the stand-alone evidence
 * verifier (docs/attestation.md).
 *
 *   gloam-attest verify --evidence FILE [--nonce HEX] [--min-trust LEVEL]
 *       [--ca PEM] [--ak NAME]... [--binary sha256:HEX]... [--weights sha256:HEX]...
 *       [--pcr7 HEX]... [--max-age-s N]
 *
 * Prints a JSON summary on stdout. Exit 0: accepted; 1: rejected (reason on
 * stderr); 2: usage or I/O error. Without --nonce the freshness checks are
 * skipped (an offline audit) and the summary says so.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gloam/attest.h"

#define MAX_LIST 32
#define FILE_MAX (1 << 20)

static char *slurp(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  char *b = malloc(FILE_MAX + 1);
  size_t n = b ? fread(b, 1, FILE_MAX + 1, f) : 0;
  int bad = ferror(f) || n > FILE_MAX;
  fclose(f);
  if (!b || bad) {
    free(b);
    return NULL;
  }
  b[n] = 0;
  *len = n;
  return b;
}

static int usage(void) {
  fputs(
      "usage: gloam-attest verify --evidence FILE [--nonce HEX] [--min-trust "
      "none|software|tpm|measured]\n"
      "         [--ca PEM] [--ak NAME]... [--binary sha256:HEX]... [--weights sha256:HEX]...\n"
      "         [--pcr7 HEX]... [--max-age-s N]\n",
      stderr);
  return 2;
}

static int hex_bytes(const char *h, uint8_t *out, size_t cap, size_t *n) {
  size_t l = strlen(h);
  if (l % 2 || l / 2 > cap) return -1;
  for (size_t i = 0; i < l / 2; i++) {
    unsigned v;
    if (sscanf(h + 2 * i, "%2x", &v) != 1) return -1;
    out[i] = (uint8_t)v;
  }
  *n = l / 2;
  return 0;
}

static int push(const char **list, size_t *n, const char *v) {
  if (*n == MAX_LIST) return -1;
  list[(*n)++] = v;
  return 0;
}

static void json_str(const char *k, const char *v, int comma) {
  printf("  \"%s\": \"", k);
  for (const char *c = v; *c; c++) {
    if (*c == '"' || *c == '\\')
      printf("\\%c", *c);
    else if ((unsigned char)*c < 0x20)
      printf("\\u%04x", *c);
    else
      putchar(*c);
  }
  printf("\"%s\n", comma ? "," : "");
}

int main(int argc, char **argv) {
  if (argc < 2 || strcmp(argv[1], "verify") != 0) return usage();
  const char *evf = NULL, *caf = NULL;
  static const char *aks[MAX_LIST], *bins[MAX_LIST], *ws[MAX_LIST], *p7[MAX_LIST];
  gloam_attest_policy p = {.min_trust = GLOAM_TRUST_SOFTWARE};
  uint8_t nonce[64];
  for (int i = 2; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!v) return usage();
    i++;
    int bad = 0;
    if (!strcmp(a, "--evidence"))
      evf = v;
    else if (!strcmp(a, "--ca"))
      caf = v;
    else if (!strcmp(a, "--nonce"))
      bad = hex_bytes(v, nonce, sizeof nonce, &p.nonce_len);
    else if (!strcmp(a, "--min-trust"))
      bad = gloam_trust_parse(v, &p.min_trust);
    else if (!strcmp(a, "--ak"))
      bad = push(aks, &p.n_activated_aks, v);
    else if (!strcmp(a, "--binary"))
      bad = push(bins, &p.n_binaries, v);
    else if (!strcmp(a, "--weights"))
      bad = push(ws, &p.n_weights, v);
    else if (!strcmp(a, "--pcr7"))
      bad = push(p7, &p.n_secure_boot_pcr7, v);
    else if (!strcmp(a, "--max-age-s")) {
      char *end;
      long long s = strtoll(v, &end, 10);
      bad = *end || s <= 0 || s > 86400LL * 365;
      p.max_age_ms = s * 1000;
    } else
      bad = 1;
    if (bad) {
      fprintf(stderr, "gloam-attest: bad option %s %s\n", a, v);
      return usage();
    }
  }
  if (!evf) return usage();
  p.activated_aks = aks;
  p.binaries = bins;
  p.weights = ws;
  p.secure_boot_pcr7 = p7;
  if (p.nonce_len)
    p.nonce = nonce;
  else
    p.flags |= GLOAM_ATTEST_NO_FRESHNESS;
  size_t ev_len = 0, ca_len = 0;
  char *ev = slurp(evf, &ev_len), *ca = caf ? slurp(caf, &ca_len) : NULL;
  if (!ev || (caf && !ca)) {
    fprintf(stderr, "gloam-attest: cannot read %s\n", !ev ? evf : caf);
    free(ev);
    free(ca);
    return 2;
  }
  p.ca_pem = ca;
  p.ca_pem_len = ca_len;
  gloam_attest_result r;
  int rc = gloam_attest_verify(ev, ev_len, &p, &r);
  printf("{\n");
  json_str("result", rc == 0 ? "accepted" : "rejected", 1);
  if (rc < 0) json_str("error", gloam_errname(rc), 1);
  json_str("trust", gloam_trust_name(r.trust), 1);
  json_str("claimed", gloam_trust_name(r.claimed), 1);
  json_str("node_id", r.node_id, 1);
  json_str("binary", r.binary, 1);
  json_str("identity", r.identity_thumb, 1);
  if (r.ak_name[0]) json_str("ak_name", r.ak_name, 1);
  json_str("freshness", p.nonce_len ? "nonce and age checked" : "not checked (no --nonce)", 1);
  printf("  \"issued_ms\": %lld,\n", (long long)r.issued_ms);
  json_str("reason", r.reason, 0);
  printf("}\n");
  if (rc < 0) fprintf(stderr, "gloam-attest: rejected: %s\n", r.reason);
  free(ev);
  free(ca);
  return rc == 0 ? 0 : 1;
}
