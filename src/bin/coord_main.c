/* SPDX-License-Identifier: Apache-2.0
 *
 * src/bin/coord_main.c: `gloam-coord`, the coordinator.
 *
 *   gloam-coord serve --listen 127.0.0.1:8080 --db gloam.db [--fee-bps N]
 *                     [--tls-cert chain.pem --tls-key key.pem]
 *                     [--min-trust L] [--ek-roots PEM] [--allow-binaries LIST]
 *                     [--allow-weights LIST] [--pcr7 LIST] [--attest-max-age-s N]
 *   gloam-coord admin --db gloam.db create-consumer --name alice --credit 5000000
 *
 * `serve` runs until SIGINT/SIGTERM, then fails in-flight requests with
 * refunds and exits 0. With --port-file F it writes the bound port to F
 * (for tests that listen on port 0).
 */
#include <errno.h>
#include <event2/event.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/log.h"
#include "coord/admin.h"
#include "coord/coord.h"
#include "gloam/attest.h"
#include "net/server.h"

static coord *g_coord;

static void on_signal(evutil_socket_t sig, short what, void *ud) {
  coord_stop(g_coord);
}

static int usage(void) {
  fprintf(
      stderr,
      "usage: gloam-coord serve --listen HOST:PORT --db FILE [--fee-bps N] [--max-upload-mib N]\n"
      "                         [--tls-cert PEM --tls-key PEM]\n"
      "                         [--heartbeat-timeout-ms N] [--challenge-interval-ms N]\n"
      "                         [--port-file F]\n"
      "                         [--min-trust none|software|tpm|measured] [--ek-roots PEM]\n"
      "                         [--allow-binaries sha256:HEX,...] [--allow-weights "
      "sha256:HEX,...]\n"
      "                         [--pcr7 HEX,...] [--attest-max-age-s N]\n"
      "       gloam-coord admin --db FILE COMMAND ...   (gloam-coord admin help)\n");
  return 2;
}

static int parse_int(const char *s, long lo, long hi, int *out) {
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno || *end || v < lo || v > hi) return -1;
  *out = (int)v;
  return 0;
}

static int serve(int argc, char **argv) {
  coord_config cfg;
  coord_config_default(&cfg);
  const char *port_file = NULL;
  for (int i = 0; i < argc; i += 2) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!v) return usage();
    int bad = 0;
    if (strcmp(a, "--listen") == 0)
      cfg.listen = v;
    else if (strcmp(a, "--db") == 0)
      cfg.db_path = v;
    else if (strcmp(a, "--tls-cert") == 0)
      cfg.tls_cert = v;
    else if (strcmp(a, "--tls-key") == 0)
      cfg.tls_key = v;
    else if (strcmp(a, "--port-file") == 0)
      port_file = v;
    else if (strcmp(a, "--fee-bps") == 0)
      bad = parse_int(v, 0, 10000, &cfg.fee_bps);
    else if (strcmp(a, "--heartbeat-timeout-ms") == 0)
      bad = parse_int(v, 100, 3600000, &cfg.heartbeat_timeout_ms);
    else if (strcmp(a, "--challenge-interval-ms") == 0)
      bad = parse_int(v, 100, 86400000, &cfg.challenge_interval_ms);
    else if (strcmp(a, "--min-trust") == 0) {
      gloam_trust t = GLOAM_TRUST_NONE;
      bad = gloam_trust_parse(v, &t) < 0 || t > GLOAM_TRUST_MEASURED;
      cfg.attest_min_trust = (int)t;
    } else if (strcmp(a, "--ek-roots") == 0)
      cfg.attest_ek_roots = v;
    else if (strcmp(a, "--allow-binaries") == 0)
      cfg.attest_binaries = v;
    else if (strcmp(a, "--allow-weights") == 0)
      cfg.attest_weights = v;
    else if (strcmp(a, "--pcr7") == 0)
      cfg.attest_pcr7 = v;
    else if (strcmp(a, "--attest-max-age-s") == 0) {
      int s;
      bad = parse_int(v, 1, 86400, &s);
      cfg.attest_max_age_ms = s * 1000;
    } else if (strcmp(a, "--max-upload-mib") == 0) {
      int mib = 0;
      bad = parse_int(v, 1, 1024, &mib);
      cfg.max_upload_bytes = (size_t)mib << 20;
    } else
      return usage();
    if (bad) return usage();
  }
  log_configure_from_env();
  net_ignore_sigpipe();
  struct event_base *base = event_base_new();
  if (!base) return 1;
  char err[GLOAM_ERR_LEN];
  if (coord_new(&g_coord, base, &cfg, err) < 0) {
    fprintf(stderr, "gloam-coord: %s\n", err);
    event_base_free(base);
    return 1;
  }
  if (port_file) {
    FILE *f = fopen(port_file, "w");
    if (f) {
      fprintf(f, "%d\n", coord_port(g_coord));
      fclose(f);
    }
  }
  struct event *si = evsignal_new(base, SIGINT, on_signal, NULL);
  struct event *st = evsignal_new(base, SIGTERM, on_signal, NULL);
  if (si) event_add(si, NULL);
  if (st) event_add(st, NULL);
  event_base_dispatch(base);
  log_event(LOG_INFO, "coord.stopping", NULL, NULL);
  coord_free(g_coord);
  if (si) event_free(si);
  if (st) event_free(st);
  event_base_free(base);
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 2) return usage();
  if (strcmp(argv[1], "serve") == 0) return serve(argc - 2, argv + 2);
  if (strcmp(argv[1], "admin") == 0) return coord_admin_main(argc - 2, argv + 2, stdout, stderr);
  return usage();
}
