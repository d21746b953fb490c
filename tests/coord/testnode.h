/* SPDX-License-Identifier: Apache-2.0
 *
 * tests/coord/testnode.h: a protocol-level test node. It speaks
 * docs/protocol.md over a real WebSocket (our net_ws client) on its own
 * thread and event loop, opens envelopes and seals responses with the real
 * crypto module, and signs real receipts. Its behaviour per job is chosen
 * by `mode`, so tests can make it honest, failing, lying, slow or dying.
 * It answers challenges with real evidence v1 from a software identity
 * (src/attest), one key file per node id per process, so a node id keeps
 * its identity across reconnects unless `new_identity` is set.
 */
#ifndef GLOAM_TESTS_TESTNODE_H
#define GLOAM_TESTS_TESTNODE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

enum tn_mode {
  TN_OK = 0,     /* stream 3 chunks, final, honest receipt */
  TN_ERROR,      /* job_error context_length_exceeded */
  TN_LIE_TOKENS, /* receipt and usage claim more tokens than allowed */
  TN_BAD_SIG,    /* receipt signature corrupted */
  TN_HANG,       /* never answers (waits for cancel) */
  TN_DIE,        /* one chunk, then drops the connection */
  TN_SILENT,     /* registers, then never heartbeats */
  TN_BUSY,       /* job_error busy (the coordinator may retry elsewhere) */
  TN_FLOOD,      /* TN_FLOOD_CHUNKS small chunks (relay benchmark) */
  TN_TOOL,       /* answers with a get_weather tool call (OpenAI format) */
  TN_STALL,      /* one chunk, then nothing (waits for cancel) */
};

/* How the node answers challenges (its evidence, docs/attestation.md). */
enum tn_attest {
  TN_ATT_OK = 0,      /* a software statement over the coordinator's nonce */
  TN_ATT_WRONG_NONCE, /* echoes the nonce but the statement carries another one */
  TN_ATT_RELABEL,     /* a software statement re-labelled "tpm" and re-signed */
};

typedef struct testnode {
  /* set before tn_start */
  int port;
  char token[80];
  char node_id[65];
  char model[64];
  int max_slots;
  double decode_tps; /* reported in heartbeats; 0: 50 */
  void *tls;         /* SSL_CTX * for wss, or NULL */
  int attest;        /* enum tn_attest */
  int new_identity;  /* 1: a fresh identity key even if this node id had one in this process */
  _Atomic int mode;
  /* results */
  _Atomic int registered, heartbeats, closed, jobs_seen, cancels_seen, challenges_answered,
      done_sent;
  _Atomic int open_failures;
  /* internals */
  void *impl;
  pthread_t th;
} testnode;

/* The weights digest this node reports for its model. */
#define TN_DIGEST "sha256:00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

#define TN_FLOOD_CHUNKS 20000

/* The exact plaintext of chunk i the node sends (i = 0, 1, 2). */
void tn_chunk_text(int i, char *out, size_t cap);
/* TN_TOOL's chunk i (0..3) for streaming, and its whole completion. */
const char *tn_tool_chunk(int i);
const char *tn_tool_completion(void);
int tn_start(testnode *n);
/* Waits up to ms for *flag >= v. 0 when reached. */
int tn_wait(_Atomic int *flag, int v, int ms);
void tn_stop(testnode *n);

#endif
