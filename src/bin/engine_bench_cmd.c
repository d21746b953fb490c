/* SPDX-License-Identifier: Apache-2.0
 *
 * gloam-engine make-random / bench: benchmark models and the engine's
 * speed (docs/engine.md, "Performance").
 *
 *   gloam-engine make-random --arch qwen3|llama|qwen3_moe
 *                            --shape qwen3-0.6b|llama-3.2-1b|moe-64x8|moe-64x8-dense
 *                            --dtype f16|q8_0|q4_0|q4_k_m --out FILE.gguf [--seed S]
 *   gloam-engine make-demo --out DIR --tokenizer DIR [--seed S]
 *       (the demo model: make_random.h, make_demo_hf)
 *   gloam-engine bench --model FILE [--prompt-tokens 512] [--gen-tokens 128]
 *                      [--threads N] [--batch B] [--repeat R] [--kv-f32]
 *                      [--membw-mib M]
 *
 * bench, per repeat: B sessions each prefill prompt-tokens random ids (one
 * session at a time), then decode gen-tokens steps (batch 1: with
 * gloam_session_eval; batch B > 1: everything through one gloam_batch,
 * prefill in steps of up to 512 tokens, each decode step advancing all B
 * sessions, so the sessions hold only their caches). It reports prefill and decode tokens/s (mean
 * +- stddev over repeats, all sequences counted), prefill GFLOP/s (2 x layer matrix parameters per
 * token + the LM head once, attention excluded), the weight bytes read per decode step (every
 * matrix once, the output head, of routed experts the k/E a token uses:
 * gloam_model_active_bytes) and the GB/s that makes, the same with the KV
 * cache each step reads added (every sequence's cache up to its position,
 * averaged over the decode steps), the
 * streaming-read bandwidth measured in the same run, plain and prefetching, and both shares
 * (--membw-mib, 0 skips it; membw_gbs in the JSON is the faster read), resident memory while
 * decoding against weights + KV cache, then one JSON line with the same numbers.
 * The cache is f16 (the session default) unless --kv-f32 (--kv-f16 is
 * accepted and changes nothing). --threads defaults to the physical core count. Exit: 0 ok, 1
 * failure, 2 usage.
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine_cli.h"
#include "core/time.h"
#include "engine/make_random.h"
#include "gloam/engine.h"

/* Subcommands, called from engine_main.c's table. */
int cmd_make_random(int argc, char **argv);
int make_random_janus_cmd(const char *out, const char *shape, const char *dtype,
                          uint64_t seed); /* engine_image_cmd.c */
int cmd_make_demo(int argc, char **argv);
int cmd_bench(int argc, char **argv);

#define BENCH_MAX_BATCH 64
#define BENCH_MAX_REPEAT 100
#define BENCH_STEP 512 /* most tokens of one prefill step */

/* 0 when absent (out unchanged) or valid, -1 (message printed) otherwise. */
static int opt_long(int argc, char **argv, const char *name, long lo, long hi, long *out) {
  const char *v = cli_opt(argc, argv, name);
  if (!v) return 0;
  char *end;
  errno = 0;
  long x = strtol(v, &end, 10);
  if (errno || end == v || *end || x < lo || x > hi) {
    fprintf(stderr, "gloam-engine: bad %s '%s' (%ld .. %ld)\n", name, v, lo, hi);
    return -1;
  }
  *out = x;
  return 0;
}

int cmd_make_random(int argc, char **argv) {
  const char *arch = cli_opt(argc, argv, "--arch"), *shape = cli_opt(argc, argv, "--shape");
  const char *dt = cli_opt(argc, argv, "--dtype"), *out = cli_opt(argc, argv, "--out");
  long seed = 1;
  if (!arch || !shape || !dt || !out || opt_long(argc, argv, "--seed", 0, INT32_MAX, &seed) < 0) {
    fprintf(stderr,
            "gloam-engine: make-random needs --arch qwen3|llama|qwen3_moe --shape "
            "qwen3-0.6b|llama-3.2-1b|moe-64x8|moe-64x8-dense "
            "--dtype f16|q8_0|q4_0|q4_k_m --out FILE.gguf [--seed S]\n");
    return 2;
  }
  if (strcmp(arch, "janus") == 0) /* a Hugging Face directory (make_random_janus.h) */
    return make_random_janus_cmd(out, shape, dt, (uint64_t)seed);
  make_random_opts o = {.arch = arch, .shape = shape, .seed = (uint64_t)seed};
  if (strcmp(dt, "f16") == 0)
    o.type = DT_F16;
  else if (strcmp(dt, "q8_0") == 0)
    o.type = DT_Q8_0;
  else if (strcmp(dt, "q4_0") == 0)
    o.type = DT_Q4_0;
  else if (strcmp(dt, "q4_k_m") == 0)
    o.type = DT_Q4_K; /* the Q4_K_M mix (make_random.h) */
  else {
    fprintf(stderr, "gloam-engine: --dtype must be f16, q8_0, q4_0 or q4_k_m\n");
    return 2;
  }
  char err[GLOAM_ERR_LEN];
  int rc = make_random_gguf(out, &o, err);
  if (rc < 0) {
    fprintf(stderr, "gloam-engine: make-random: %s (%s)\n", err, gloam_strerror(rc));
    return rc == GLOAM_EINVAL ? 2 : 1;
  }
  return 0;
}

int cmd_make_demo(int argc, char **argv) {
  const char *out = cli_opt(argc, argv, "--out"), *tok = cli_opt(argc, argv, "--tokenizer");
  long seed = 1;
  if (!out || !tok || opt_long(argc, argv, "--seed", 0, INT32_MAX, &seed) < 0) {
    fprintf(stderr, "gloam-engine: make-demo needs --out DIR --tokenizer DIR [--seed S]\n");
    return 2;
  }
  char err[GLOAM_ERR_LEN];
  int rc = make_demo_hf(out, tok, (uint64_t)seed, err);
  if (rc < 0) {
    fprintf(stderr, "gloam-engine: %s (%s)\n", err, gloam_strerror(rc));
    return rc == GLOAM_EINVAL ? 2 : 1;
  }
  return 0;
}

/* ------------------------------------------------------------ membw */

typedef struct membw_job {
  const uint64_t *p;
  size_t n;
  bool prefetch; /* also fetch 4 KiB ahead by hand, as the decode kernels do */
  uint64_t sink;
} membw_job;

static void *membw_read(void *arg) {
  membw_job *j = arg;
  uint64_t a0 = 0, a1 = 0, a2 = 0, a3 = 0, a4 = 0, a5 = 0, a6 = 0, a7 = 0;
  for (size_t i = 0; i + 8 <= j->n; i += 8) {
    if (j->prefetch) __builtin_prefetch(j->p + i + 512, 0, 3); /* one line per 64 bytes read */
    a0 ^= j->p[i];
    a1 ^= j->p[i + 1];
    a2 ^= j->p[i + 2];
    a3 ^= j->p[i + 3];
    a4 ^= j->p[i + 4];
    a5 ^= j->p[i + 5];
    a6 ^= j->p[i + 6];
    a7 ^= j->p[i + 7];
  }
  j->sink = a0 ^ a1 ^ a2 ^ a3 ^ a4 ^ a5 ^ a6 ^ a7;
  return NULL;
}

/* Streaming reads of mib MiB with n_threads threads, best of 3 each:
 * bw[0] plain, bw[1] with software prefetch 4 KiB ahead (as the decode
 * kernels do: the plain read alone understates what they can reach); GB/s,
 * 0 on failure. */
static void membw(size_t mib, int n_threads, double bw[2]) {
  bw[0] = bw[1] = 0;
  size_t n = mib * ((size_t)1 << 20) / 8;
  uint64_t *buf = malloc(n * 8);
  if (!buf || n_threads > 256) {
    free(buf);
    return;
  }
  for (size_t i = 0; i < n; i++) buf[i] = i;
  for (int rep = 0; rep < 6; rep++) {
    pthread_t th[256];
    membw_job jobs[256];
    size_t per = n / (size_t)n_threads;
    uint64_t t0 = time_mono_ns();
    int started = 0;
    for (int i = 0; i < n_threads; i++) {
      jobs[i] = (membw_job){.p = buf + (size_t)i * per, .n = per, .prefetch = rep % 2 == 1};
      if (i == 0 || pthread_create(&th[i], NULL, membw_read, &jobs[i]) != 0) continue;
      started |= 1 << (i < 30 ? i : 30);
    }
    membw_read(&jobs[0]);
    for (int i = 1; i < n_threads; i++)
      if (started & (1 << (i < 30 ? i : 30))) pthread_join(th[i], NULL);
    double s = (double)(time_mono_ns() - t0) / 1e9;
    double gbs = (double)per * 8 * n_threads / s / 1e9;
    if (gbs > bw[rep % 2]) bw[rep % 2] = gbs;
  }
  free(buf);
}

/* ------------------------------------------------------------ bench */

static long rss_kib(const char *field) {
  FILE *f = fopen("/proc/self/status", "r");
  if (!f) return -1;
  char line[256];
  long v = -1;
  size_t fl = strlen(field);
  while (fgets(line, sizeof line, f))
    if (strncmp(line, field, fl) == 0) {
      v = strtol(line + fl, NULL, 10);
      break;
    }
  fclose(f);
  return v;
}

static void mean_sd(const double *v, int n, double *mean, double *sd) {
  double s = 0, q = 0;
  for (int i = 0; i < n; i++) s += v[i];
  *mean = s / n;
  for (int i = 0; i < n; i++) q += (v[i] - *mean) * (v[i] - *mean);
  *sd = n > 1 ? sqrt(q / (n - 1)) : 0;
}

typedef struct bench_cfg {
  long prompt, gen, threads, batch, repeat, membw_mib;
  bool kv_f16;
} bench_cfg;

/* One repeat: prefill every session, then decode; fills the rates. */
static int bench_once(gloam_model *m, gloam_session **ss, gloam_batch *b, const bench_cfg *c,
                      int32_t *prompt, double *pf_tps, double *dec_tps, long *rss) {
  int vocab = gloam_model_n_vocab(m);
  uint64_t seed = 12345;
  double pf_s = 0;
  for (long i = 0; i < c->batch; i++) {
    gloam_session_reset(ss[i]);
    for (long t = 0; t < c->prompt; t++) {
      seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
      prompt[t] = (int32_t)((seed >> 33) % (uint64_t)vocab);
    }
    uint64_t t0 = time_mono_ns();
    int rc = 0;
    if (!b) {
      rc = gloam_session_eval(ss[i], prompt, (int)c->prompt);
    } else { /* through the batch, in steps of its max_tokens */
      for (long done = 0; rc == 0 && done < c->prompt; done += BENCH_STEP) {
        long n = c->prompt - done < BENCH_STEP ? c->prompt - done : BENCH_STEP;
        gloam_batch_item it = {ss[i], prompt + done, (int)n};
        rc = gloam_batch_eval(b, &it, 1);
      }
    }
    pf_s += (double)(time_mono_ns() - t0) / 1e9;
    if (rc < 0) {
      fprintf(stderr, "gloam-engine: bench: prefill: %s\n",
              b ? gloam_batch_errmsg(b) : gloam_session_errmsg(ss[i]));
      return 1;
    }
  }
  *pf_tps = (double)(c->prompt * c->batch) / pf_s;
  int32_t tok[BENCH_MAX_BATCH];
  gloam_batch_item items[BENCH_MAX_BATCH];
  for (long i = 0; i < c->batch; i++) tok[i] = (int32_t)((i * 7919 + 11) % vocab);
  uint64_t t0 = time_mono_ns();
  for (long g = 0; g < c->gen; g++) {
    int rc;
    if (c->batch == 1) {
      rc = gloam_session_eval(ss[0], tok, 1);
      if (rc < 0) fprintf(stderr, "gloam-engine: bench: decode: %s\n", gloam_session_errmsg(ss[0]));
    } else {
      for (long i = 0; i < c->batch; i++) items[i] = (gloam_batch_item){ss[i], &tok[i], 1};
      rc = gloam_batch_eval(b, items, (int)c->batch);
      if (rc < 0) fprintf(stderr, "gloam-engine: bench: decode: %s\n", gloam_batch_errmsg(b));
    }
    if (rc < 0) return 1;
    for (long i = 0; i < c->batch; i++) tok[i] = (int32_t)((tok[i] * 31 + 17) % vocab);
    if (g == c->gen / 2) *rss = rss_kib("VmRSS:");
  }
  *dec_tps = (double)(c->gen * c->batch) / ((double)(time_mono_ns() - t0) / 1e9);
  return 0;
}

static int bench_args(int argc, char **argv, bench_cfg *c) {
  *c = (bench_cfg){.prompt = 512,
                   .gen = 128,
                   .threads = gloam_physical_cores(),
                   .batch = 1,
                   .repeat = 3,
                   .membw_mib = 512,
                   .kv_f16 = !cli_flag(argc, argv, "--kv-f32")};
  if (opt_long(argc, argv, "--prompt-tokens", 1, 65536, &c->prompt) < 0 ||
      opt_long(argc, argv, "--gen-tokens", 1, 65536, &c->gen) < 0 ||
      opt_long(argc, argv, "--threads", 1, 256, &c->threads) < 0 ||
      opt_long(argc, argv, "--batch", 1, BENCH_MAX_BATCH, &c->batch) < 0 ||
      opt_long(argc, argv, "--repeat", 1, BENCH_MAX_REPEAT, &c->repeat) < 0 ||
      opt_long(argc, argv, "--membw-mib", 0, 65536, &c->membw_mib) < 0)
    return -1;
  return 0;
}

int cmd_bench(int argc, char **argv) {
  const char *path = cli_opt(argc, argv, "--model");
  bench_cfg c;
  if (!path || bench_args(argc, argv, &c) < 0) {
    if (!path) fprintf(stderr, "gloam-engine: bench needs --model FILE\n");
    return 2;
  }
  gloam_model_params mp = gloam_model_default_params();
  mp.n_threads = (int)c.threads;
  gloam_model *m = NULL;
  gloam_session *ss[BENCH_MAX_BATCH] = {0};
  gloam_batch *b = NULL;
  int32_t *prompt = NULL;
  int status = 1;
  char err[GLOAM_ERR_LEN];
  int rc = gloam_model_load(&m, path, &mp, err);
  if (rc < 0) {
    fprintf(stderr, "gloam-engine: %s: %s (%s)\n", path, err, gloam_strerror(rc));
    return 1;
  }
  gloam_session_params sp = gloam_session_default_params();
  sp.n_ctx = (int)(c.prompt + c.gen);
  sp.n_batch = (int)(c.prompt < 512 ? c.prompt : 512);
  sp.n_threads = (int)c.threads;
  sp.kv_f16 = c.kv_f16;
  if (c.batch > 1) {
    /* everything runs on the batch's scratch and pool: sessions are caches */
    sp.n_batch = 1;
    sp.n_threads = 1;
    int max_tokens = (int)(c.prompt < BENCH_STEP ? c.prompt : BENCH_STEP);
    if (max_tokens < c.batch) max_tokens = (int)c.batch;
    if ((rc = gloam_batch_new(&b, m, (int)c.batch, max_tokens, (int)c.threads)) < 0) goto oom;
  }
  for (long i = 0; i < c.batch; i++)
    if ((rc = gloam_session_new(&ss[i], m, &sp)) < 0) goto oom;
  if (!(prompt = malloc(sizeof(int32_t) * (size_t)c.prompt))) goto oom;

  double pf[BENCH_MAX_REPEAT], dec[BENCH_MAX_REPEAT];
  long rss = 0;
  int32_t warm = 1; /* page in the weights */
  gloam_batch_item wi = {ss[0], &warm, 1};
  if ((b ? gloam_batch_eval(b, &wi, 1) : gloam_session_eval(ss[0], &warm, 1)) < 0) goto done;
  for (long r = 0; r < c.repeat; r++)
    if (bench_once(m, ss, b, &c, prompt, &pf[r], &dec[r], &rss)) goto done;
  double pf_m, pf_sd, dec_m, dec_sd;
  mean_sd(pf, (int)c.repeat, &pf_m, &pf_sd);
  mean_sd(dec, (int)c.repeat, &dec_m, &dec_sd);

  /* bytes of weights one step reads: every matrix once, the output head,
   * of a MoE's routed experts the share a token uses (k of E) */
  int L = gloam_model_n_layers(m), H = gloam_model_n_embd(m), hd = gloam_model_head_dim(m);
  int nkv = gloam_model_n_kv_heads(m);
  double model_bytes = (double)gloam_model_size_bytes(m);
  double head_params = (double)H * gloam_model_n_vocab(m);
  double layer_params = (double)gloam_model_n_active_params(m) - head_params;
  double step_bytes = (double)gloam_model_active_bytes(m);
  double gbs = step_bytes * (dec_m / (double)c.batch) / 1e9;
  /* per prompt token: every layer matrix; the head once per prompt */
  double gflops = 2.0 * (layer_params + head_params / (double)c.prompt) * pf_m / 1e9;
  double kv_pos_bytes = (double)L * nkv * hd * 2 * (c.kv_f16 ? 2 : 4); /* K and V, one position */
  double kv_bytes = kv_pos_bytes * (double)sp.n_ctx * c.batch;
  /* cache read per decode step: each sequence's positions, mean over steps */
  double kv_step = kv_pos_bytes * ((double)c.prompt + (double)(c.gen + 1) / 2) * c.batch;
  double gbs_kv = (step_bytes + kv_step) * (dec_m / (double)c.batch) / 1e9;
  long hwm = rss_kib("VmHWM:");
  double bws[2] = {0, 0};
  if (c.membw_mib > 0) membw((size_t)c.membw_mib, (int)c.threads, bws);
  double bw = bws[0] > bws[1] ? bws[0] : bws[1]; /* the roofline: the faster read */
  printf(
      "model %s: %.3f GB weights (%.3f GB read per token), %d layers, hidden %d; threads %ld, "
      "batch %ld, kv %s\n",
      path, model_bytes / 1e9, step_bytes / 1e9, L, H, c.threads, c.batch,
      c.kv_f16 ? "f16" : "f32");
  printf("prefill %ld tok: %.1f +- %.1f tok/s (%.1f GFLOP/s of matmul)\n", c.prompt, pf_m, pf_sd,
         gflops);
  printf("decode %ld tok x %ld seq: %.2f +- %.2f tok/s total, %.1f GB/s of weights", c.gen, c.batch,
         dec_m, dec_sd, gbs);
  if (bw > 0)
    printf(" (%.0f%% of %.1f GB/s plain read, %.0f%% of %.1f GB/s prefetching read)",
           100 * gbs / bws[0], bws[0], 100 * gbs / bws[1], bws[1]);
  printf(", %.1f GB/s with the KV cache", gbs_kv);
  if (bw > 0) printf(" (%.0f%%, %.0f%%)", 100 * gbs_kv / bws[0], 100 * gbs_kv / bws[1]);
  printf("\nRSS while decoding %.3f GB (peak %.3f) vs weights + KV %.3f GB\n",
         (double)rss * 1024 / 1e9, (double)hwm * 1024 / 1e9, (model_bytes + kv_bytes) / 1e9);
  printf(
      "{\"model\":\"%s\",\"model_bytes\":%.0f,\"threads\":%ld,\"batch\":%ld,\"kv_f16\":%s,"
      "\"prompt_tokens\":%ld,\"gen_tokens\":%ld,\"repeat\":%ld,\"prefill_tps\":%.3f,"
      "\"prefill_tps_sd\":%.3f,\"prefill_gflops\":%.2f,\"decode_tps\":%.3f,\"decode_tps_sd\":%.3f,"
      "\"decode_gbs\":%.3f,\"membw_gbs\":%.3f,\"membw_plain_gbs\":%.3f,\"membw_pf_gbs\":%.3f,"
      "\"rss_bytes\":%.0f,\"kv_bytes\":%.0f,"
      "\"step_bytes\":%.0f,\"kv_step_bytes\":%.0f,\"decode_kv_gbs\":%.3f}\n",
      path, model_bytes, c.threads, c.batch, c.kv_f16 ? "true" : "false", c.prompt, c.gen, c.repeat,
      pf_m, pf_sd, gflops, dec_m, dec_sd, gbs, bw, bws[0], bws[1], (double)rss * 1024, kv_bytes,
      step_bytes, kv_step, gbs_kv);
  status = 0;
  goto done;
oom:
  fprintf(stderr, "gloam-engine: bench: %s\n", gloam_strerror(rc < 0 ? rc : GLOAM_ENOMEM));
done:
  free(prompt);
  gloam_batch_free(b);
  for (long i = 0; i < c.batch; i++) gloam_session_free(ss[i]);
  gloam_model_free(m);
  return status;
}
