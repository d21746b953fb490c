/* SPDX-License-Identifier: Apache-2.0
 *
 * tests/crypto/interop.c: crypto_interop, the C side of the WebCrypto/jose
 * interop test (CTest `crypto_interop`).
 *
 *   crypto_interop NPM_DIR
 *
 * In a fresh temporary directory it: runs `node interop_seal.mjs selftest`
 * (the JavaScript HPKE against RFC 9180 A.1); makes a node key pair and
 * writes its public key; runs `node interop_seal.mjs seal DIR` (JavaScript
 * seals a request with WebCrypto); opens that envelope here and checks the
 * body; seals a response stream as SSE with a signed receipt; runs `node
 * interop_seal.mjs open DIR` (JavaScript opens the stream with WebCrypto and
 * verifies the receipt with jose). Exits 77 (skipped) when node or the npm
 * packages are missing (scripts/install-deps installs them).
 */
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/codec.h"
#include "core/time.h"
#include "gloam/receipt.h"
#include "gloam/seal.h"

extern char **environ;

static const char NODE_ID[] = "node-js";
static char g_dir[256], g_script[512];

static void die(const char *what) {
  fprintf(stderr, "crypto_interop: %s\n", what);
  exit(1);
}

static void path(char *out, size_t cap, const char *name) {
  snprintf(out, cap, "%s/%s", g_dir, name);
}

static void write_file(const char *name, const void *p, size_t n) {
  char f[512];
  path(f, sizeof f, name);
  FILE *fp = fopen(f, "wb");
  if (!fp || fwrite(p, 1, n, fp) != n || fclose(fp) != 0) die("cannot write a file");
}

static uint8_t *read_file(const char *name, size_t *n) {
  char f[512];
  path(f, sizeof f, name);
  FILE *fp = fopen(f, "rb");
  if (!fp) die("cannot open a file written by node");
  fseek(fp, 0, SEEK_END);
  long len = ftell(fp);
  fseek(fp, 0, SEEK_SET);
  uint8_t *p = malloc((size_t)len + 1);
  if (!p || fread(p, 1, (size_t)len, fp) != (size_t)len) die("cannot read a file");
  fclose(fp);
  *n = (size_t)len;
  return p;
}

static int run_node(const char *mode) {
  char *argv[] = {"node", g_script, (char *)mode, g_dir, NULL};
  pid_t pid;
  int st = 0;
  if (posix_spawnp(&pid, "node", NULL, NULL, argv, environ) != 0) return -1;
  if (waitpid(pid, &st, 0) < 0) return -1;
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* The response the "model" produces, in uneven chunks. */
static const char *const CHUNKS[] = {
    "{\"id\":\"chatcmpl-1\",\"choices\":[{\"delta\":{\"content\":\"Hel\"}}]}\n",
    "{\"id\":\"chatcmpl-1\",\"choices\":[{\"delta\":{\"content\":\"lo \\u00e9\"}}]}\n",
    "",
    "{\"id\":\"chatcmpl-1\",\"choices\":[{\"finish_reason\":\"stop\"}]}\n",
};

static void respond(gloam_seal_node *node) {
  char err[GLOAM_ERR_LEN];
  size_t env_len, body_len, want_len;
  uint8_t *env = read_file("request.bin", &env_len), *body = NULL;
  uint8_t *want = read_file("request_body.json", &want_len);
  gloam_seal_header h;
  gloam_seal_responder *r = NULL;
  int64_t t0 = time_wall_ms();
  if (gloam_seal_node_open(node, env, env_len, 0, &h, &body, &body_len, &r, err) < 0) die(err);
  if (body_len != want_len || memcmp(body, want, body_len) != 0) die("opened body differs");
  if (strcmp(h.endpoint, "chat/completions") != 0 || h.max_output_tokens != 64)
    die("header fields differ");
  /* a replay of the same envelope is refused */
  uint8_t *b2 = NULL;
  size_t b2_len = 0;
  if (gloam_seal_node_open(node, env, env_len, 0, &h, &b2, &b2_len, NULL, err) != GLOAM_EREPLAY)
    die("replay not detected");
  printf("crypto_interop: opened the WebCrypto-sealed request (%zu bytes)\n", body_len);

  /* SSE: start frame, chunks, final chunk, receipt, [DONE] */
  char sse[8192], line[1024];
  uint8_t frame[512];
  size_t sl = 0, fl, ll, plain_len = 0;
  char plain[1024];
  if (gloam_seal_responder_start(r, frame, sizeof frame, &fl) < 0) die("start");
  if (gloam_seal_sse_encode(frame, fl, line, sizeof line, &ll) < 0) die("sse");
  memcpy(sse + sl, line, ll), sl += ll;
  size_t n = sizeof CHUNKS / sizeof CHUNKS[0];
  for (size_t i = 0; i < n; i++) {
    size_t cl = strlen(CHUNKS[i]);
    if (gloam_seal_responder_seal(r, (const uint8_t *)CHUNKS[i], cl, i + 1 == n, frame,
                                  sizeof frame, &fl) < 0)
      die("seal chunk");
    if (gloam_seal_sse_encode(frame, fl, line, sizeof line, &ll) < 0) die("sse");
    memcpy(sse + sl, line, ll), sl += ll;
    memcpy(plain + plain_len, CHUNKS[i], cl), plain_len += cl;
  }
  gloam_receipt_signer *s = NULL;
  gloam_receipt_claims c = {.version = GLOAM_RECEIPT_VERSION};
  char *jws = NULL, key[256];
  size_t jl;
  if (gloam_receipt_signer_new(&s, err) < 0) die(err);
  memcpy(c.node_id, h.node_id, sizeof c.node_id);
  memcpy(c.model, h.model, sizeof c.model);
  memcpy(c.request_id, h.request_id, sizeof c.request_id);
  snprintf(c.weights_digest, sizeof c.weights_digest, "sha256:%064x", 0xabc);
  gloam_seal_responder_request_hash(r, c.request_sha256);
  if (gloam_seal_responder_transcript_hash(r, c.transcript_sha256) < 0) die("hash");
  c.prompt_tokens = 17, c.completion_tokens = 3, c.price_micro_usd = 42;
  c.started_ms = (uint64_t)t0, c.finished_ms = (uint64_t)time_wall_ms();
  if (gloam_receipt_sign(s, &c, &jws, &jl, err) < 0) die(err);
  sl += (size_t)snprintf(sse + sl, sizeof sse - sl,
                         "event: gloam.receipt\ndata: %s\n\ndata: [DONE]\n\n", jws);
  write_file("response.sse", sse, sl);
  write_file("response_plain.txt", plain, plain_len);
  if (gloam_receipt_signer_public_jwk(s, key, sizeof key) < 0) die("jwk");
  write_file("receipt_pub.jwk", key, strlen(key));
  if (gloam_receipt_signer_public_pem(s, key, sizeof key) < 0) die("pem");
  write_file("receipt_pub.pem", key, strlen(key));
  gloam_receipt_free_jws(jws);
  gloam_receipt_signer_free(s);
  gloam_seal_responder_free(r);
  gloam_seal_free(body, body_len);
  free(env);
  free(want);
}

int main(int argc, char **argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (argc != 2) die("usage: crypto_interop NPM_DIR");
  char jose[512];
  snprintf(g_script, sizeof g_script, "%s/interop_seal.mjs", argv[1]);
  snprintf(jose, sizeof jose, "%s/node_modules/jose/package.json", argv[1]);
  if (access(jose, R_OK) != 0) {
    fprintf(stderr, "crypto_interop: SKIP: %s missing (run scripts/install-deps)\n", jose);
    return 77;
  }
  int rc = run_node("selftest");
  if (rc < 0) {
    fprintf(stderr, "crypto_interop: SKIP: cannot run node\n");
    return 77;
  }
  if (rc != 0) die("node selftest failed");
  const char *tmp = getenv("TMPDIR");
  snprintf(g_dir, sizeof g_dir, "%s/gloam-interop-XXXXXX", tmp ? tmp : "/tmp");
  if (!mkdtemp(g_dir)) die("mkdtemp");

  gloam_seal_keypair *kp = NULL;
  gloam_seal_node *node = NULL;
  uint8_t pk[GLOAM_SEAL_MAX_PK];
  size_t pk_len;
  char hex[2 * GLOAM_SEAL_MAX_PK + 2], err[GLOAM_ERR_LEN];
  if (gloam_seal_keypair_new(&kp, GLOAM_SEAL_KEM_X25519) < 0) die("keypair");
  if (gloam_seal_keypair_public(kp, pk, sizeof pk, &pk_len) < 0) die("public");
  long hl = codec_hex_encode(pk, pk_len, hex, sizeof hex);
  hex[hl] = '\n';
  write_file("node_pk.hex", hex, (size_t)hl + 1);
  if (gloam_seal_node_new(&node, kp, NODE_ID, NULL, err) < 0) die(err);

  if (run_node("seal") != 0) die("node seal failed");
  respond(node);
  if (run_node("open") != 0) die("node open failed");
  gloam_seal_node_free(node);

  static const char *files[] = {"node_pk.hex",       "request.bin",    "request_body.json",
                                "client_state.json", "response.sse",   "response_plain.txt",
                                "receipt_pub.jwk",   "receipt_pub.pem"};
  for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
    char f[512];
    path(f, sizeof f, files[i]);
    unlink(f);
  }
  rmdir(g_dir);
  printf("crypto_interop: ok\n");
  return 0;
}
