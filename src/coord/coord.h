/* SPDX-License-Identifier: Apache-2.0
 *
 * coord/coord.h: the coordinator server: HTTP API, node WebSockets,
 * routing, billing. One event loop owns everything here.
 *
 *   coord_config cfg;
 *   coord_config_default(&cfg);
 *   cfg.listen = "127.0.0.1:8080";
 *   cfg.db_path = "gloam.db";
 *   coord *c;
 *   if (coord_new(&c, base, &cfg, err) < 0) ...;
 *   event_base_dispatch(base);      // until coord_stop() or a signal
 *   coord_free(c);
 *
 * Thread safety: every function except coord_stop() runs on the loop
 * thread. coord_stop() may be called from any thread (it writes to a pipe).
 */
#ifndef GLOAM_COORD_COORD_H
#define GLOAM_COORD_COORD_H

#include <stddef.h>
#include <stdint.h>

struct event_base;
typedef struct coord coord;

typedef struct coord_config {
  const char *listen;   /* "host:port"; port 0 picks one */
  const char *db_path;  /* SQLite file */
  const char *tls_cert; /* PEM chain; with tls_key, serve HTTPS/WSS only */
  const char *tls_key;
  int fee_bps; /* platform fee in basis points (0..10000), default 0 */
  int heartbeat_interval_ms;
  int heartbeat_timeout_ms;
  int challenge_interval_ms;
  int challenge_timeout_ms;
  int register_timeout_ms;
  int job_timeout_ms;
  size_t max_body_bytes;       /* HTTP request bodies (and envelopes) */
  size_t max_upload_bytes;     /* audio uploads (multipart or sealed); default 26 MiB */
  size_t max_json_bytes;       /* JSON request bodies */
  int http_timeout_s;          /* per-connection read/idle timeout */
  size_t sse_max_queued;       /* bytes waiting for a slow client before it is dropped */
  size_t node_max_queued;      /* bytes waiting for a slow node */
  uint32_t default_max_tokens; /* coordinator-sealed requests without max_tokens */
  int queue_max_per_model;     /* waiting requests per model before 429 */
  int queue_timeout_ms;        /* longest wait in the queue before 503 */
  int ledger_delay_ms;         /* tests only: each reserve/settle/refund task first sleeps
                                  this long on its worker (0 in production) */
  /* Attestation policy (docs/coordinator.md "Attestation"); lists are
   * comma-separated. A node is routed only once its evidence verified at
   * attest_min_trust or above (a gloam_trust; 0 = none: any verified node). */
  int attest_min_trust;
  const char *attest_ek_roots; /* PEM file of EK root CAs; NULL: no TPM node can register */
  const char *attest_binaries; /* allowed "sha256:<hex>" node binaries; NULL: any */
  const char *attest_weights;  /* allowed weights digests; NULL: any */
  const char *attest_pcr7;     /* Secure Boot PCR 7 golden values (hex); NULL: no `measured` */
  int attest_max_age_ms;       /* statement age limit; 0: 5 min */
} coord_config;

void coord_config_default(coord_config *cfg);

int coord_new(coord **out, struct event_base *base, const coord_config *cfg, char *err);
/* The bound HTTP port. */
int coord_port(const coord *c);
/* Makes the loop return (thread-safe, async-signal-safe). */
void coord_stop(coord *c);
/* Closes nodes and streams (failing their jobs with refunds), then frees. */
void coord_free(coord *c);

#endif
