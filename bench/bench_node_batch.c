/* SPDX-License-Identifier: Apache-2.0
 *
 * bench/bench_node_batch.c: what the node's engine thread does for N
 * concurrent requests, measured two ways: each request's decode step
 * evaluated on its own session in turn (the node before batching,
 * `batch = false`) and all of them in one gloam_batch_eval per step (the
 * node now). Prints total generated tokens per second for each N.
 *
 *   bench_node_batch MODEL_DIR [--tokens T] [--threads K] [--n 1,2,4]
 *
 * Each request is the same 16-token prompt, prefilled on its own session,
 * then T greedy steps (argmax over the logits, as temperature 0). The
 * sequential runs give each session `threads` compute threads; the batch
 * gets the same number. Times cover the decode steps only: wall-clock
 * tokens/s, and tokens per CPU-second of the process (CLOCK_PROCESS_CPUTIME_ID),
 * which stays meaningful on a machine shared with other work.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/time.h"
#include "gloam/engine.h"
#include "gloam/err.h"

#define MAX_N 16

static int32_t argmax(const float *v, int n) {
  int best = 0;
  for (int i = 1; i < n; i++)
    if (v[i] > v[best]) best = i;
  return best;
}

static double cpu_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Returns wall-clock tokens/s; *per_cpu gets tokens per CPU-second. */
static double run(gloam_model *m, int n, int tokens, int threads, int batched, double *per_cpu) {
  gloam_session *s[MAX_N] = {0};
  gloam_batch *b = NULL;
  int32_t tok[MAX_N], prompt[16];
  for (int i = 0; i < 16; i++) prompt[i] = (int32_t)(i * 7 + 3) % gloam_model_n_vocab(m);
  gloam_session_params sp = gloam_session_default_params();
  sp.n_ctx = 16 + tokens + 1;
  sp.n_threads = threads;
  double tps = -1;
  for (int i = 0; i < n; i++)
    if (gloam_session_new(&s[i], m, &sp) < 0 || gloam_session_eval(s[i], prompt, 16) < 0) goto done;
  if (batched && gloam_batch_new(&b, m, n, n, threads) < 0) goto done;
  int vocab = gloam_model_n_vocab(m);
  uint64_t t0 = time_mono_ns();
  double c0 = cpu_s();
  for (int t = 0; t < tokens; t++) {
    gloam_batch_item it[MAX_N];
    for (int i = 0; i < n; i++) {
      tok[i] = argmax(gloam_session_logits(s[i]), vocab);
      it[i] = (gloam_batch_item){s[i], &tok[i], 1};
    }
    if (batched) {
      if (gloam_batch_eval(b, it, n) < 0) goto done;
    } else {
      for (int i = 0; i < n; i++)
        if (gloam_session_eval(s[i], &tok[i], 1) < 0) goto done;
    }
  }
  tps = (double)n * tokens / ((double)(time_mono_ns() - t0) / 1e9);
  *per_cpu = (double)n * tokens / (cpu_s() - c0);
done:
  gloam_batch_free(b);
  for (int i = 0; i < n; i++) gloam_session_free(s[i]);
  return tps;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: bench_node_batch MODEL_DIR [--tokens T] [--threads K] [--n 1,2,4]\n");
    return 2;
  }
  int tokens = 128, threads = 2, ns[MAX_N] = {1, 2, 4}, n_ns = 3;
  for (int i = 2; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--tokens")) tokens = (int)strtol(argv[i + 1], NULL, 10);
    if (!strcmp(argv[i], "--threads")) threads = (int)strtol(argv[i + 1], NULL, 10);
    if (!strcmp(argv[i], "--n")) {
      n_ns = 0;
      for (char *p = argv[i + 1]; *p && n_ns < MAX_N;) {
        long v = strtol(p, &p, 10);
        if (v >= 1 && v <= MAX_N) ns[n_ns++] = (int)v;
        if (*p == ',')
          p++;
        else
          break;
      }
    }
  }
  if (tokens < 1 || threads < 1) return 2;
  char err[GLOAM_ERR_LEN];
  gloam_model_params mp = gloam_model_default_params();
  gloam_model *m;
  if (gloam_model_load(&m, argv[1], &mp, err) < 0) {
    fprintf(stderr, "bench_node_batch: %s\n", err);
    return 1;
  }
  printf("%-3s %12s %12s %8s | %12s %12s %8s\n", "n", "one-by-one", "batched", "speedup",
         "1b1 t/cpu-s", "bat t/cpu-s", "speedup");
  for (int k = 0; k < n_ns; k++) {
    double ca = 0, cb = 0;
    double a = run(m, ns[k], tokens, threads, 0, &ca), b = run(m, ns[k], tokens, threads, 1, &cb);
    printf("%-3d %8.2f t/s %8.2f t/s %7.2fx | %12.2f %12.2f %7.2fx\n", ns[k], a, b,
           a > 0 ? b / a : 0, ca, cb, ca > 0 ? cb / ca : 0);
    fflush(stdout);
  }
  gloam_model_free(m);
  return 0;
}
