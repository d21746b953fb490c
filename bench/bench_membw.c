/* SPDX-License-Identifier: Apache-2.0
 *
 * bench/bench_membw.c: this machine's memory bandwidth, the roofline for
 * decode (which streams every weight once per token).
 *
 *   bench_membw [--mib N] [--reps R]
 *
 * Measures, for 1 and 2 threads (and the online CPU count if larger):
 *  - streaming read: xor-sum of a buffer much larger than the last-level
 *    cache (default 1024 MiB; this CPU has a 300 MiB L3), best of R passes,
 *    plain and with software prefetch 4 KiB ahead (as the decode kernels do);
 *  - STREAM triad a[i] = b[i] + s * c[i] over three N/2 MiB arrays, counted
 *    as 3 arrays of traffic (STREAM's convention; write-allocate not counted).
 * Prints one line per measurement and a final JSON line. GB = 1e9 bytes.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/time.h"
#include "kernels/kernels.h"

#if defined(__x86_64__)
#include <immintrin.h>
#define READ_TARGET __attribute__((target("avx2")))
#else
#define READ_TARGET
#endif

typedef struct job {
  int prefetch;
  const uint8_t *buf;
  size_t len;
  float *a, *b, *c;
  size_t n;
  double sink[64];
} job;

READ_TARGET static double read_sum(const uint8_t *p, size_t len, int prefetch) {
#if defined(__x86_64__)
  __m256i s0 = _mm256_setzero_si256(), s1 = s0, s2 = s0, s3 = s0;
  for (size_t i = 0; i + 128 <= len; i += 128) {
    if (prefetch) {
      _mm_prefetch((const char *)p + i + 4096, _MM_HINT_T0);
      _mm_prefetch((const char *)p + i + 4096 + 64, _MM_HINT_T0);
    }
    s0 = _mm256_xor_si256(s0, _mm256_load_si256((const __m256i *)(p + i)));
    s1 = _mm256_xor_si256(s1, _mm256_load_si256((const __m256i *)(p + i + 32)));
    s2 = _mm256_xor_si256(s2, _mm256_load_si256((const __m256i *)(p + i + 64)));
    s3 = _mm256_xor_si256(s3, _mm256_load_si256((const __m256i *)(p + i + 96)));
  }
  __m256i s = _mm256_xor_si256(_mm256_xor_si256(s0, s1), _mm256_xor_si256(s2, s3));
  return (double)_mm256_extract_epi64(s, 0) + (double)_mm256_extract_epi64(s, 3);
#else
  uint64_t s = 0;
  for (size_t i = 0; i + 8 <= len; i += 8) {
    uint64_t v;
    memcpy(&v, p + i, 8);
    s ^= v;
  }
  (void)prefetch;
  return (double)s;
#endif
}

static void read_task(void *ctx, int i, int n) {
  job *j = ctx;
  size_t per = (j->len / (size_t)n) & ~(size_t)127;
  j->sink[i] = read_sum(j->buf + per * (size_t)i, per, j->prefetch);
}

static void triad_task(void *ctx, int i, int n) {
  job *j = ctx;
  size_t per = j->n / (size_t)n, lo = per * (size_t)i, hi = i == n - 1 ? j->n : lo + per;
  float *a = j->a;
  const float *b = j->b, *c = j->c;
  for (size_t k = lo; k < hi; k++) a[k] = b[k] + 3.0f * c[k];
}

static void *alloc_touch(size_t len) {
  void *p = NULL;
  if (posix_memalign(&p, 4096, len) != 0) return NULL;
  memset(p, 1, len);
  return p;
}

int main(int argc, char **argv) {
  size_t mib = 1024;
  int reps = 5;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (strcmp(argv[i], "--mib") == 0) mib = (size_t)strtoul(argv[i + 1], NULL, 10);
    if (strcmp(argv[i], "--reps") == 0) reps = (int)strtol(argv[i + 1], NULL, 10);
  }
  if (mib < 16) mib = 16;
  if (reps < 1) reps = 1;
  size_t len = mib << 20;
  job j = {0};
  uint8_t *buf = alloc_touch(len);
  j.n = len / 2 / sizeof(float);
  j.a = alloc_touch(j.n * sizeof(float));
  j.b = alloc_touch(j.n * sizeof(float));
  j.c = alloc_touch(j.n * sizeof(float));
  if (!buf || !j.a || !j.b || !j.c) {
    fprintf(stderr, "bench_membw: out of memory\n");
    return 1;
  }
  j.buf = buf;
  j.len = len;
  long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
  int counts[3] = {1, 2, (int)ncpu}, nc = ncpu > 2 ? 3 : 2;
  double rd[3] = {0}, rp[3] = {0}, tr[3] = {0};
  for (int ci = 0; ci < nc; ci++) {
    int nt = counts[ci];
    kern_pool *p = kern_pool_new(nt);
    if (!p) return 1;
    for (int r = 0; r < reps; r++) {
      for (int pf = 0; pf < 2; pf++) {
        j.prefetch = pf;
        uint64_t t0 = time_mono_ns();
        kern_pool_run(p, read_task, &j, nt);
        double s = (double)(time_mono_ns() - t0) * 1e-9;
        double gbs = (double)((len / (size_t)nt) & ~(size_t)127) * nt / s / 1e9;
        double *best = pf ? &rp[ci] : &rd[ci];
        if (gbs > *best) *best = gbs;
      }
      uint64_t t0 = time_mono_ns();
      kern_pool_run(p, triad_task, &j, nt);
      double s = (double)(time_mono_ns() - t0) * 1e-9;
      double gbs = 3.0 * (double)j.n * sizeof(float) / s / 1e9;
      if (gbs > tr[ci]) tr[ci] = gbs;
    }
    printf("threads %d: read %.1f GB/s  read+prefetch %.1f GB/s  triad %.1f GB/s\n", nt, rd[ci],
           rp[ci], tr[ci]);
    kern_pool_free(p);
  }
  printf(
      "{\"bench\":\"membw\",\"mib\":%zu,\"read_gbs_1t\":%.2f,\"read_gbs_2t\":%.2f,"
      "\"read_pf_gbs_1t\":%.2f,\"read_pf_gbs_2t\":%.2f,\"triad_gbs_1t\":%.2f,"
      "\"triad_gbs_2t\":%.2f}\n",
      mib, rd[0], rd[1], rp[0], rp[1], tr[0], tr[1]);
  double sink = 0;
  for (int i = 0; i < 64; i++) sink += j.sink[i];
  if (sink == 1.2345) printf("\n");
  free(buf);
  free(j.a);
  free(j.b);
  free(j.c);
  return 0;
}
