/* SPDX-License-Identifier: Apache-2.0
 *
 * bench/bench_attention.c: causal self-attention of a prefill over the KV
 * cache, per implementation (engine/attention.c, attention_x86.c,
 * attention_avx2.c), on one thread.
 *
 *   bench_attention [--tokens T] [--heads H] [--kv-heads K] [--head-dim D] [--f32] [--reps R]
 *
 * One layer of a T-token prefill (default Qwen3-0.6B's shape: 16 heads, 8
 * KV heads, head_dim 128, f16 cache, T = 1024): every query attends to the
 * positions before it. Runs the dispatched SIMD block, the AVX2 block (on
 * AVX-512 CPUs through the test hook) and the portable loops, best of R
 * runs each, and prints seconds and GFLOP/s (4 * heads * head_dim * T^2 / 2:
 * q.k and p.v over the visible half), then one JSON line.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/time.h"
#include "engine/attention.h"
#include "engine/attention_impl.h"
#include "kernels/kernels.h"

static long arg_long(int argc, char **argv, const char *name, long def, long lo, long hi) {
  for (int i = 1; i + 1 < argc; i++)
    if (strcmp(argv[i], name) == 0) {
      char *end = NULL;
      long v = strtol(argv[i + 1], &end, 10);
      if (!end || *end || v < lo || v > hi) {
        fprintf(stderr, "bench_attention: %s must be %ld..%ld\n", name, lo, hi);
        exit(2);
      }
      return v;
    }
  return def;
}

int main(int argc, char **argv) {
  int T = (int)arg_long(argc, argv, "--tokens", 1024, 1, 16384);
  int nh = (int)arg_long(argc, argv, "--heads", 16, 1, 256);
  int nkv = (int)arg_long(argc, argv, "--kv-heads", 8, 1, 256);
  int hd = (int)arg_long(argc, argv, "--head-dim", 128, 8, 512);
  int reps = (int)arg_long(argc, argv, "--reps", 3, 1, 100);
  bool f16 = true;
  for (int i = 1; i < argc; i++)
    if (strcmp(argv[i], "--f32") == 0) f16 = false;
  if (nh % nkv) {
    fprintf(stderr, "bench_attention: heads must be a multiple of kv-heads\n");
    return 2;
  }
  size_t kvn = (size_t)T * nkv * hd, qn = (size_t)T * nh * hd, esz = f16 ? 2 : 4;
  float *q = malloc(qn * sizeof(float)), *out = malloc(qn * sizeof(float));
  uint8_t *K = malloc(kvn * esz), *V = malloc(kvn * esz);
  const void **kr = malloc(sizeof(void *) * (size_t)T), **vr = malloc(sizeof(void *) * (size_t)T);
  int32_t *pos = malloc(sizeof(int32_t) * (size_t)T), *ctx = malloc(sizeof(int32_t) * (size_t)T);
  if (!q || !out || !K || !V || !kr || !vr || !pos || !ctx) return 1;
  uint32_t r = 1;
  for (size_t i = 0; i < qn; i++)
    q[i] = (float)((r = r * 1664525u + 1013904223u) >> 8) / 16777216.0f - 0.5f;
  for (size_t i = 0; i < kvn; i++) {
    float k = (float)((r = r * 1664525u + 1013904223u) >> 8) / 16777216.0f - 0.5f;
    float v = (float)((r = r * 1664525u + 1013904223u) >> 8) / 16777216.0f - 0.5f;
    if (f16) {
      ((f16_bits *)K)[i] = f32_to_f16(k);
      ((f16_bits *)V)[i] = f32_to_f16(v);
    } else {
      ((float *)K)[i] = k;
      ((float *)V)[i] = v;
    }
  }
  for (int t = 0; t < T; t++) {
    kr[t] = K;
    vr[t] = V;
    pos[t] = t;
    ctx[t] = T; /* cache layout [kv head][position][head_dim] */
  }
  attn_args a = {.q = q,
                 .k_rows = kr,
                 .v_rows = vr,
                 .kv_ctx = ctx,
                 .pos = pos,
                 .f16 = f16,
                 .out = out,
                 .T = T,
                 .n_heads = nh,
                 .n_kv_heads = nkv,
                 .head_dim = hd,
                 .scale = 0.088f};
  static const char *const names[3] = {"simd", "avx2", "portable"};
  double best[3], flop = 4.0 * nh * hd * (double)T * T / 2;
  printf("attention: T %d, heads %d/%d, head_dim %d, %s cache, 1 thread\n", T, nh, nkv, hd,
         f16 ? "f16" : "f32");
  for (int m = 0; m < 3; m++) {
    attention_force_avx2(m == 1);
    attention_force_generic(m == 2);
    best[m] = 1e30;
    for (int i = 0; i < reps; i++) {
      uint64_t t0 = time_mono_ns();
      attention_run(NULL, &a);
      double s = (double)(time_mono_ns() - t0) / 1e9;
      if (s < best[m]) best[m] = s;
    }
    printf("%-9s %.4f s  %.1f GFLOP/s\n", names[m], best[m], flop / best[m] / 1e9);
  }
  attention_force_avx2(false);
  attention_force_generic(false);
  printf(
      "{\"bench\":\"attention\",\"tokens\":%d,\"heads\":%d,\"kv_heads\":%d,\"head_dim\":%d,"
      "\"f16\":%s,\"simd_gflops\":%.2f,\"avx2_gflops\":%.2f,\"portable_gflops\":%.2f}\n",
      T, nh, nkv, hd, f16 ? "true" : "false", flop / best[0] / 1e9, flop / best[1] / 1e9,
      flop / best[2] / 1e9);
  free(q);
  free(out);
  free(K);
  free(V);
  free(kr);
  free(vr);
  free(pos);
  free(ctx);
  return 0;
}
