/* SPDX-License-Identifier: Apache-2.0
 *
 * tests/coord/bench_coord.c: the coordinator benchmark (issue 8). Three
 * processes on loopback: a real coordinator (coord_new + its event loop),
 * a process of protocol-level test nodes (testnode.c: real WebSocket, real
 * sealing and receipts), and this load generator, which speaks plain HTTP
 * to the coordinator in coordinator-sealed mode (the coordinator opens
 * every sealed chunk from the node and relays it as SSE).
 *
 *   bench_coord [--streams N] [--flood K]
 *
 * 1. Relay rate: K concurrent streams of TN_FLOOD_CHUNKS sealed chunks
 *    each; chunks/s = the coordinator's gloam_frames_relayed_total over
 *    the wall time until every stream ended.
 * 2. Memory per open stream: N streams to a node that sends one chunk and
 *    then stalls; once every client has its first chunk, the coordinator's
 *    VmRSS growth over its idle VmRSS, divided by N.
 * 3. Added time to first token: TTFT_RUNS requests one after another, each
 *    timed from the first byte sent to the first SSE `data:` line received,
 *    through the coordinator (auth, reservation, routing, sealing to the
 *    node, the WebSocket hop, the node opening and sealing its first chunk,
 *    the coordinator opening it) and "directly": the same request to a
 *    plain loopback server in a fourth process that answers at once with
 *    one SSE event (a lower bound for any node's own HTTP path, so the
 *    difference is an upper bound on what the coordinator adds). p50/p90/
 *    p99 of both and the difference of the medians.
 * Bounded: the whole run is killed by alarm() after 120 s. Not a CTest test.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "coord/admin.h"
#include "coord/coord.h"
#include "core/log.h"
#include "net/server.h"
#include "testnode.h"

#define FLOOD_MODEL "bench/flood"
#define STALL_MODEL "bench/stall"

static char g_db[512], g_key[80], g_token[80];

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static json_t *admin(int argc, char **argv) {
  char *outp = NULL;
  size_t outn = 0;
  FILE *out = open_memstream(&outp, &outn);
  int rc = coord_admin_main(argc, argv, out, stderr);
  fclose(out);
  json_error_t je;
  json_t *j = rc == 0 ? json_loads(outp, 0, &je) : NULL;
  free(outp);
  return j;
}

static int setup_db(void) {
  char *a[] = {"--db", g_db, "create-consumer", "--name", "bench", "--credit", "1000000000000"};
  json_t *j = admin(7, a);
  if (!j) return -1;
  snprintf(g_key, sizeof g_key, "%s", json_string_value(json_object_get(j, "api_key")));
  json_decref(j);
  char *b[] = {"--db", g_db, "create-operator", "--name", "op"};
  j = admin(5, b);
  if (!j) return -1;
  snprintf(g_token, sizeof g_token, "%s", json_string_value(json_object_get(j, "node_token")));
  json_decref(j);
  const char *models[] = {FLOOD_MODEL, STALL_MODEL};
  for (int i = 0; i < 2; i++) {
    char *p[] = {"--db",    g_db,  "set-price", "--model", (char *)models[i],
                 "--input", "100", "--output",  "100"};
    FILE *dn = fopen("/dev/null", "w");
    int rc = coord_admin_main(9, p, dn, stderr);
    fclose(dn);
    if (rc != 0) return -1;
  }
  return 0;
}

/* The coordinator process: serves until its stdin pipe closes. */
static void run_coord(int port_fd, int streams) {
  log_configure(getenv("BENCH_LOG") ? LOG_INFO : LOG_ERROR, LOG_FORMAT_KV);
  coord_config cfg;
  coord_config_default(&cfg);
  cfg.listen = "127.0.0.1:0";
  cfg.db_path = g_db;
  cfg.queue_max_per_model = streams + 16;
  cfg.job_timeout_ms = 300000;
  cfg.http_timeout_s = 300;
  char err[256];
  struct event_base *base = event_base_new();
  coord *c = NULL;
  if (coord_new(&c, base, &cfg, err) < 0) {
    fprintf(stderr, "coord_new: %s\n", err);
    _exit(1);
  }
  int port = coord_port(c);
  if (write(port_fd, &port, sizeof port) != (ssize_t)sizeof port) _exit(1);
  close(port_fd);
  event_base_dispatch(base); /* until SIGTERM */
  _exit(0);
}

/* The node process: one flood node and enough stall nodes (testnode.c
 * keeps at most 64 jobs each) for every stream; until SIGTERM. */
#define STALL_SLOTS 60
static void run_nodes(int port, int streams) {
  int n_nodes = 1 + (streams + STALL_SLOTS - 1) / STALL_SLOTS;
  testnode *n = calloc((size_t)n_nodes, sizeof *n);
  if (!n) _exit(1);
  for (int i = 0; i < n_nodes; i++) {
    n[i].port = port;
    snprintf(n[i].token, sizeof n[i].token, "%s", g_token);
    snprintf(n[i].node_id, sizeof n[i].node_id, "node-%d", i);
    snprintf(n[i].model, sizeof n[i].model, "%s", i ? STALL_MODEL : FLOOD_MODEL);
    n[i].max_slots = i ? STALL_SLOTS : 8;
    n[i].mode = i ? TN_STALL : TN_FLOOD;
    if (tn_start(&n[i]) < 0 || tn_wait(&n[i].registered, 1, 10000) < 0 ||
        tn_wait(&n[i].challenges_answered, 1, 10000) < 0) {
      fprintf(stderr, "node %d did not register\n", i);
      _exit(1);
    }
  }
  for (;;) pause(); /* until SIGTERM */
}

static int connect_port(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
    close(fd);
    return -1;
  }
  return fd;
}

static int send_all(int fd, const char *p, size_t n) {
  while (n) {
    ssize_t w = write(fd, p, n);
    if (w <= 0) return -1;
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

static int open_chat(int port, const char *model, int max_tokens) {
  int fd = connect_port(port);
  if (fd < 0) return -1;
  char body[256], req[1024];
  int bl = snprintf(body, sizeof body,
                    "{\"model\":\"%s\",\"stream\":true,\"max_tokens\":%d,\"messages\":[{\"role\":"
                    "\"user\",\"content\":\"bench\"}]}",
                    model, max_tokens);
  int rl = snprintf(req, sizeof req,
                    "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
                    "%s\r\nContent-Type: application/json\r\nConnection: close\r\n"
                    "Content-Length: %d\r\n\r\n%s",
                    g_key, bl, body);
  if (send_all(fd, req, (size_t)rl) < 0) {
    close(fd);
    return -1;
  }
  return fd;
}

/* Waits for the first SSE data line on fd; seconds since t0, or -1. */
static double first_data(int fd, double t0) {
  char b[8192];
  size_t n = 0;
  while (n < sizeof b - 1) {
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (poll(&p, 1, 5000) <= 0) return -1;
    ssize_t r = read(fd, b + n, sizeof b - 1 - n);
    if (r <= 0) return -1;
    n += (size_t)r;
    b[n] = 0;
    if (strstr(b, "\ndata:")) return now_s() - t0;
  }
  return -1;
}

/* The "direct" baseline server: answers each request with one SSE event at
 * once (reads the headers and the Content-Length body first). */
static void run_direct(int port_fd) {
  int ls = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t al = sizeof a;
  if (ls < 0 || bind(ls, (struct sockaddr *)&a, sizeof a) < 0 || listen(ls, 64) < 0 ||
      getsockname(ls, (struct sockaddr *)&a, &al) < 0)
    _exit(1);
  int port = ntohs(a.sin_port);
  if (write(port_fd, &port, sizeof port) != (ssize_t)sizeof port) _exit(1);
  close(port_fd);
  static const char resp[] =
      "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n"
      "data: {\"id\":\"x\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,"
      "\"delta\":{\"content\":\"hi\"}}]}\n\n";
  for (;;) {
    int fd = accept(ls, NULL, NULL);
    if (fd < 0) continue;
    char b[8192];
    size_t n = 0;
    long want = -1;
    while (n < sizeof b - 1) {
      ssize_t r = read(fd, b + n, sizeof b - 1 - n);
      if (r <= 0) break;
      n += (size_t)r;
      b[n] = 0;
      char *end = strstr(b, "\r\n\r\n");
      if (end && want < 0) {
        char *cl = strstr(b, "Content-Length: ");
        want = (long)(end + 4 - b) + (cl ? strtol(cl + 16, NULL, 10) : 0);
      }
      if (want >= 0 && (long)n >= want) break;
    }
    send_all(fd, resp, sizeof resp - 1);
    close(fd);
  }
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

#define TTFT_RUNS 300
/* TTFT_RUNS timed requests (after 20 warm-up ones) to port; sorted into
 * out[TTFT_RUNS] in seconds. Returns the number that got a first chunk. */
static int ttft_series(int port, const char *model, double *out) {
  int ok = 0;
  for (int i = -20; i < TTFT_RUNS; i++) {
    double t0 = now_s();
    int fd = open_chat(port, model, 16);
    if (fd < 0) continue;
    double t = first_data(fd, t0);
    close(fd);
    if (i >= 0 && t >= 0) out[ok++] = t;
  }
  qsort(out, (size_t)ok, sizeof *out, cmp_double);
  return ok;
}

static void ttft_print(const char *what, const double *v, int n) {
  if (n == 0) {
    printf("ttft %s: no request got a first chunk\n", what);
    return;
  }
  printf("ttft %s: %d requests, p50 %.3f ms, p90 %.3f ms, p99 %.3f ms\n", what, n, 1e3 * v[n / 2],
         1e3 * v[n * 9 / 10], 1e3 * v[n * 99 / 100]);
}

static long metric(int port, const char *name) {
  int fd = connect_port(port);
  if (fd < 0) return -1;
  const char *req = "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  send_all(fd, req, strlen(req));
  static char b[1 << 16];
  size_t n = 0;
  ssize_t r;
  while (n < sizeof b - 1 && (r = read(fd, b + n, sizeof b - 1 - n)) > 0) n += (size_t)r;
  b[n] = 0;
  close(fd);
  char pat[128];
  snprintf(pat, sizeof pat, "\n%s ", name);
  const char *h = strstr(b, pat);
  return h ? strtol(h + strlen(pat), NULL, 10) : -1;
}

static long rss_kib(pid_t pid) {
  char path[64], line[256];
  snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
  FILE *f = fopen(path, "r");
  if (!f) return -1;
  long v = -1;
  while (fgets(line, sizeof line, f))
    if (strncmp(line, "VmRSS:", 6) == 0) v = strtol(line + 6, NULL, 10);
  fclose(f);
  return v;
}

/* Reads every fd until EOF; 0 when all ended. */
static int drain_all(int *fds, int n, double deadline) {
  struct pollfd *p = calloc((size_t)n, sizeof *p);
  int open_n = n;
  char b[1 << 16];
  for (int i = 0; i < n; i++) p[i] = (struct pollfd){.fd = fds[i], .events = POLLIN};
  while (open_n && now_s() < deadline) {
    if (poll(p, (nfds_t)n, 1000) < 0 && errno != EINTR) break;
    for (int i = 0; i < n; i++)
      if (p[i].fd >= 0 && p[i].revents) {
        ssize_t r = read(p[i].fd, b, sizeof b);
        if (r <= 0) {
          close(p[i].fd);
          p[i].fd = -1;
          open_n--;
        }
      }
  }
  free(p);
  return open_n ? -1 : 0;
}

int main(int argc, char **argv) {
  int streams = 1000, flood = 2;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (strcmp(argv[i], "--streams") == 0) streams = (int)strtol(argv[i + 1], NULL, 10);
    if (strcmp(argv[i], "--flood") == 0) flood = (int)strtol(argv[i + 1], NULL, 10);
  }
  if (streams < 1 || streams > 20000 || flood < 1 || flood > 64) {
    fprintf(stderr, "usage: bench_coord [--streams 1..20000] [--flood 1..64]\n");
    return 2;
  }
  alarm(120);
  net_ignore_sigpipe();
  struct rlimit rl;
  getrlimit(RLIMIT_NOFILE, &rl);
  rlim_t want = (rlim_t)streams * 2 + 256;
  if (rl.rlim_cur < want) {
    rl.rlim_cur = want < rl.rlim_max ? want : rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  char dir[] = "/tmp/gloam-bench-XXXXXX";
  if (!mkdtemp(dir)) return 1;
  snprintf(g_db, sizeof g_db, "%s/coord.db", dir);
  if (setup_db() < 0) return 1;

  int pp[2];
  if (pipe(pp) < 0) return 1;
  pid_t coord_pid = fork();
  if (coord_pid == 0) {
    close(pp[0]);
    run_coord(pp[1], streams);
  }
  close(pp[1]);
  int port = 0;
  if (read(pp[0], &port, sizeof port) != (ssize_t)sizeof port) return 1;
  close(pp[0]);
  pid_t node_pid = fork();
  if (node_pid == 0) run_nodes(port, streams);
  long want_nodes = 1 + (streams + STALL_SLOTS - 1) / STALL_SLOTS;
  for (int i = 0; i < 400 && metric(port, "gloam_nodes") < want_nodes; i++) usleep(50000);
  int rc = 1;
  pid_t direct_pid = -1;
  if (metric(port, "gloam_nodes") < want_nodes) {
    fprintf(stderr, "nodes did not register\n");
    goto out;
  }

  /* 1. relay rate */
  int *fds = calloc((size_t)(streams > flood ? streams : flood), sizeof *fds);
  long f0 = metric(port, "gloam_frames_relayed_total");
  double t0 = now_s();
  for (int i = 0; i < flood; i++) fds[i] = open_chat(port, FLOOD_MODEL, TN_FLOOD_CHUNKS + 100);
  if (drain_all(fds, flood, t0 + 30) < 0) fprintf(stderr, "flood: some streams did not end\n");
  double dt = now_s() - t0;
  long f1 = metric(port, "gloam_frames_relayed_total");
  printf(
      "relay: %d streams x %d sealed chunks: %ld chunks in %.3f s = %.0f chunks/s "
      "(opened by the coordinator and relayed as SSE)\n",
      flood, TN_FLOOD_CHUNKS, f1 - f0, dt, (double)(f1 - f0) / dt);

  /* 2. memory per open stream */
  usleep(300000);
  long rss0 = rss_kib(coord_pid);
  int opened = 0;
  for (int i = 0; i < streams; i++) {
    fds[i] = open_chat(port, STALL_MODEL, 16);
    if (fds[i] < 0) break;
    opened++;
  }
  /* every client has its headers and first chunk */
  int got = 0;
  double deadline = now_s() + 30;
  char *seen = calloc((size_t)opened, 1);
  char b[4096];
  while (got < opened && now_s() < deadline) {
    for (int i = 0; i < opened; i++) {
      if (seen[i]) continue;
      struct pollfd p = {.fd = fds[i], .events = POLLIN};
      if (poll(&p, 1, 0) > 0) {
        ssize_t r = read(fds[i], b, sizeof b - 1);
        if (r > 0) {
          b[r] = 0;
          if (strstr(b, "data:")) {
            seen[i] = 1;
            got++;
          }
        } else {
          seen[i] = 1; /* closed: count it as not open */
        }
      }
    }
    usleep(1000);
  }
  long rss1 = rss_kib(coord_pid);
  printf(
      "streams: %d opened, %d streaming; coordinator VmRSS %ld KiB idle -> %ld KiB: "
      "%.1f KiB per open stream\n",
      opened, got, rss0, rss1, got ? (double)(rss1 - rss0) / got : 0.0);
  for (int i = 0; i < opened; i++) close(fds[i]);
  free(seen);
  free(fds);
  rc = got == streams ? 0 : 1;

  /* 3. added time to first token (after the stalled streams are gone) */
  for (int i = 0; i < 100 && metric(port, "gloam_inflight_jobs") > 0; i++) usleep(50000);
  int dp[2];
  if (pipe(dp) < 0) goto out;
  direct_pid = fork();
  if (direct_pid == 0) {
    close(dp[0]);
    run_direct(dp[1]);
  }
  close(dp[1]);
  int direct_port = 0;
  if (read(dp[0], &direct_port, sizeof direct_port) != (ssize_t)sizeof direct_port) goto out;
  close(dp[0]);
  static double via[TTFT_RUNS], direct[TTFT_RUNS];
  int n_via = ttft_series(port, STALL_MODEL, via);
  int n_direct = ttft_series(direct_port, STALL_MODEL, direct);
  ttft_print("through the coordinator (coordinator-sealed)", via, n_via);
  ttft_print("directly (loopback server answering at once)", direct, n_direct);
  if (n_via && n_direct)
    printf("ttft added by the coordinator: p50 %.3f ms\n",
           1e3 * (via[n_via / 2] - direct[n_direct / 2]));
  if (n_via < TTFT_RUNS || n_direct < TTFT_RUNS) rc = 1;
out:
  if (direct_pid > 0) {
    kill(direct_pid, SIGTERM);
    waitpid(direct_pid, NULL, 0);
  }
  kill(node_pid, SIGTERM);
  kill(coord_pid, SIGTERM);
  waitpid(node_pid, NULL, 0);
  waitpid(coord_pid, NULL, 0);
  const char *sfx[] = {"", "-wal", "-shm"};
  for (int i = 0; i < 3; i++) {
    char p[600];
    snprintf(p, sizeof p, "%s%s", g_db, sfx[i]);
    unlink(p);
  }
  rmdir(dir);
  return rc;
}
