/* SPDX-License-Identifier: Apache-2.0
 *
 * bench/bench_kernels.c: matmul throughput per weight type.
 *
 *   bench_kernels [--threads N] [--backend ref|avx2|avx512] [--types q8_0,q4_0,mlx4,...]
 *                 [--rows R] [--cols C] [--prefill M] [--mib MiB] [--seconds S]
 *                 [--decode-rows B]
 *
 * decode: y = W x (one activation row, or B rows: a decode batch of B
 *   sequences) over enough copies of a rows x cols
 *   matrix (default 4096 x 4096) to fill --mib MiB (default 1024, well past
 *   this CPU's 300 MiB L3), cycled like the layers of a model, so weights come
 *   from DRAM as in real decoding. Reports weight GB/s and GFLOP/s.
 * prefill: Y = X W^T with M = --prefill activation rows (default 512) on one
 *   matrix. Reports GFLOP/s (2 * M * rows * cols per product). On AMX CPUs
 *   the avx512 backend runs bf16, f16 and the quantized types' prefill on AMX
 *   tiles (the header line says "amx on"); GLOAM_AMX=0 measures the AVX-512
 *   kernels instead.
 * One text line and one JSON line per type. GB = 1e9 bytes. "cpu" figures
 * divide by process CPU time per thread instead of wall time, so time slices
 * lost to other tenants of a shared machine do not count.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <time.h>

#include "core/time.h"
#include "kernels/kern_impl.h"
#include "kernels/mlx.h"

static uint64_t rng = 88172645463325252ull;
static float frand(void) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return (float)((rng >> 40) & 0xffffff) / 16777216.0f - 0.5f;
}

/* CPU time of the whole process: with other tenants on the machine, wall
 * time includes time slices lost to them; cpu time per thread does not. */
static double cpu_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* A type name, or mlx4 / mlx8 (MLX affine, groups of 64, bf16 scales). */
static int parse_type(const char *s, enum dtype *out, int *mlx_bits) {
  *mlx_bits = strcmp(s, "mlx4") == 0 ? 4 : strcmp(s, "mlx8") == 0 ? 8 : 0;
  if (*mlx_bits) {
    *out = DT_MLX;
    return 0;
  }
  for (int t = 0; t < DT_COUNT; t++) {
    if (t == DT_Q8_K || t == DT_U32 || t == DT_MLX) continue;
    if (strcmp(s, dtype_name((enum dtype)t)) == 0) {
      *out = (enum dtype)t;
      return 0;
    }
  }
  return -1;
}

int main(int argc, char **argv) {
  int threads = 2;
  const char *backend = NULL, *types = "f32,f16,bf16,q8_0,q4_0,q4_K,q6_K";
  int64_t rows = 4096, cols = 4096, prefill = 512, drows = 1;
  double mib = 1024, seconds = 1.0;
  for (int i = 1; i + 1 < argc; i += 2) {
    const char *a = argv[i], *v = argv[i + 1];
    if (strcmp(a, "--threads") == 0)
      threads = (int)strtol(v, NULL, 10);
    else if (strcmp(a, "--backend") == 0)
      backend = v;
    else if (strcmp(a, "--types") == 0)
      types = v;
    else if (strcmp(a, "--rows") == 0)
      rows = strtoll(v, NULL, 10);
    else if (strcmp(a, "--cols") == 0)
      cols = strtoll(v, NULL, 10);
    else if (strcmp(a, "--prefill") == 0)
      prefill = strtoll(v, NULL, 10);
    else if (strcmp(a, "--decode-rows") == 0)
      drows = strtoll(v, NULL, 10);
    else if (strcmp(a, "--mib") == 0)
      mib = strtod(v, NULL);
    else if (strcmp(a, "--seconds") == 0)
      seconds = strtod(v, NULL);
    else {
      fprintf(stderr, "bench_kernels: unknown option %s\n", a);
      return 2;
    }
  }
  if (threads < 1 || rows < 1 || cols < 256 || cols % 256 || prefill < 0 || drows < 1 ||
      drows > 64) {
    fprintf(stderr, "bench_kernels: bad arguments (cols must be a multiple of 256)\n");
    return 2;
  }
  const kern_backend *b = backend ? kern_backend_find(backend) : kern_backend_active();
  if (!b) {
    fprintf(stderr, "bench_kernels: backend %s not available here\n", backend);
    return 2;
  }
  kern_pool *pool = kern_pool_new(threads);
  float *wf = malloc(sizeof(float) * (size_t)(rows * cols));
  int64_t xrows = prefill > drows ? prefill : drows;
  float *X = malloc(sizeof(float) * (size_t)(xrows * cols));
  float *Y = malloc(sizeof(float) * (size_t)(xrows * rows));
  if (!pool || !wf || !X || !Y) return 1;
  for (int64_t i = 0; i < rows * cols; i++) wf[i] = frand();
  for (int64_t i = 0; i < xrows * cols; i++) X[i] = frand();
  int amx = 0;
#if defined(GLOAM_KERNELS_X86)
  amx = b == &kern_backend_avx512 && kern_amx_ready();
#endif
  printf("backend %s, amx %s, %d thread(s), W %lld x %lld, decode %lld row(s), prefill %lld rows\n",
         b->name, amx ? "on" : "off", threads, (long long)rows, (long long)cols, (long long)drows,
         (long long)prefill);

  char list[256];
  snprintf(list, sizeof list, "%s", types);
  for (char *save = NULL, *tok = strtok_r(list, ",", &save); tok;
       tok = strtok_r(NULL, ",", &save)) {
    enum dtype t;
    int mb;
    if (parse_type(tok, &t, &mb) != 0) {
      fprintf(stderr, "bench_kernels: unknown type %s\n", tok);
      return 2;
    }
    /* an MLX row: packed values, then (per matrix) bf16 scales and biases */
    size_t sb = (size_t)(cols / 64) * 2 * (size_t)rows;
    size_t rb = mb ? (size_t)cols * (size_t)mb / 8 : dtype_row_bytes(t, cols);
    size_t mat = rb * (size_t)rows + (mb ? 2 * sb : 0);
    int n_mats = (int)ceil(mib * 1048576.0 / (double)mat);
    if (n_mats < 1) n_mats = 1;
    uint8_t *W = malloc(mat * (size_t)n_mats);
    kern_mlx *mw = calloc((size_t)n_mats, sizeof *mw);
    if (!W || !mw) return 1;
    for (int64_t r = 0; r < rows && mb; r++)
      kern_mlx_quantize_row(wf + r * cols, cols, mb, 64, DT_BF16, (uint32_t *)(W + (size_t)r * rb),
                            W + rb * (size_t)rows + (size_t)r * (size_t)(cols / 64) * 2,
                            W + rb * (size_t)rows + sb + (size_t)r * (size_t)(cols / 64) * 2);
    for (int64_t r = 0; r < rows && !mb; r++)
      kern_quantize_row(t, wf + r * cols, W + (size_t)r * rb, cols);
    for (int m = 1; m < n_mats; m++) memcpy(W + mat * (size_t)m, W, mat);
    for (int m = 0; m < n_mats && mb; m++) {
      uint8_t *base = W + mat * (size_t)m;
      mw[m] = (kern_mlx){(const uint32_t *)base,
                         base + rb * (size_t)rows,
                         base + rb * (size_t)rows + sb,
                         DT_BF16,
                         mb,
                         64};
    }
#define WMAT(m) (mb ? (const void *)&mw[m] : (const void *)(W + mat * (size_t)(m)))

    /* decode */
    for (int m = 0; m < n_mats; m++) kern_matmul_on(b, pool, t, WMAT(m), X, Y, 1, rows, cols);
    uint64_t t0 = time_mono_ns();
    double c0 = cpu_s();
    long n_mv = 0;
    do {
      for (int m = 0; m < n_mats; m++, n_mv++)
        kern_matmul_on(b, pool, t, WMAT(m), X, Y, drows, rows, cols);
    } while ((double)(time_mono_ns() - t0) * 1e-9 < seconds);
    double s = (double)(time_mono_ns() - t0) * 1e-9 / (double)n_mv;
    double cs = (cpu_s() - c0) / (double)n_mv / threads; /* cpu seconds per thread */
    double gbs = (double)mat / s / 1e9,
           mv_gflops = 2.0 * (double)drows * (double)rows * (double)cols / s / 1e9;

    /* prefill */
    double pf_gflops = 0, pf_cpu_gflops = 0;
    if (prefill > 1) {
      kern_matmul_on(b, pool, t, WMAT(0), X, Y, prefill, rows, cols);
      uint64_t t1 = time_mono_ns();
      double c1 = cpu_s();
      int reps = 0;
      do {
        kern_matmul_on(b, pool, t, WMAT(0), X, Y, prefill, rows, cols);
        reps++;
      } while ((double)(time_mono_ns() - t1) * 1e-9 < seconds && reps < 50);
      double ps = (double)(time_mono_ns() - t1) * 1e-9 / reps;
      double pcs = (cpu_s() - c1) / reps / threads; /* cpu seconds per thread */
      pf_gflops = 2.0 * (double)prefill * (double)rows * (double)cols / ps / 1e9;
      pf_cpu_gflops = 2.0 * (double)prefill * (double)rows * (double)cols / pcs / 1e9;
    }
    printf(
        "%-5s decode %7.3f ms  %6.1f GB/s  %6.1f GFLOP/s  (cpu %6.1f GB/s) | prefill %7.1f GFLOP/s"
        "  (cpu %7.1f)  (%d copies, %.0f MiB)\n",
        tok, s * 1e3, gbs, mv_gflops, (double)mat / cs / 1e9, pf_gflops, pf_cpu_gflops, n_mats,
        (double)mat * n_mats / 1048576.0);
    printf(
        "{\"bench\":\"kernels\",\"backend\":\"%s\",\"threads\":%d,\"type\":\"%s\","
        "\"rows\":%lld,\"cols\":%lld,\"decode_rows\":%lld,\"decode_ms\":%.4f,"
        "\"decode_gbs\":%.2f,\"decode_gflops\":%.2f,\"prefill_rows\":%lld,"
        "\"prefill_gflops\":%.2f,\"prefill_cpu_gflops\":%.2f}\n",
        b->name, threads, tok, (long long)rows, (long long)cols, (long long)drows, s * 1e3, gbs,
        mv_gflops, (long long)prefill, pf_gflops, pf_cpu_gflops);
    fflush(stdout);
#undef WMAT
    free(mw);
    free(W);
  }
  kern_pool_free(pool);
  free(wf);
  free(X);
  free(Y);
  return 0;
}
