/* SPDX-License-Identifier: Apache-2.0
 *
 * tests/engine/test_attention.c: attention over the KV cache
 * (engine/attention.c: blocks of up to 16 queries, online softmax, the SIMD
 * blocks of attention_x86.c / attention_arm.c and the portable loops)
 * against a plain double-precision softmax(scale q.K) . V on random data:
 * prefill blocks with and without a window, wide groups, f16 caches,
 * head_dim that is no multiple of the SIMD width, every block size 1 .. 16,
 * scores spread far enough that e^x underflows, softcap. Both paths are
 * run on every case. Needs only the kernels, so the kernels-only cross
 * build runs it on AArch64 under qemu (scripts/test-arm64).
 */
#include <math.h>
#include <stdlib.h>

#include "engine/attention.h"
#include "engine/attention_impl.h"
#include "test.h"

typedef struct att_case {
  int T, pos0, nh, nkv, hd, window;
  bool f16;
  float q_amp;   /* queries uniform in [-q_amp / 2, q_amp / 2] (keys, values in [-1, 1]) */
  float softcap; /* 0: none */
  double tol;    /* max |out - reference| */
} att_case;

static unsigned g_rng;

static float uniform(void) { /* [0, 1) */
  g_rng = g_rng * 1103515245u + 12345u;
  return (float)(g_rng >> 8) / 16777216.0f;
}

/* Runs attention on case c, SIMD (pool of 2), portable (no pool) and, on
 * x86-64, the AVX2 block (forced on AVX-512 CPUs through the test hook),
 * and fails if any is further than c->tol from the float64 reference;
 * raises err[0] (SIMD), err[1] (portable), err[2] (AVX2) to the errors. */
static void check_case(const att_case *c, int ci, double err[3]) {
  int T = c->T, nh = c->nh, nkv = c->nkv, hd = c->hd, W = c->window, n_ctx = c->pos0 + T;
  size_t kvn = (size_t)n_ctx * nkv * hd, qn = (size_t)T * nh * hd;
  float *q = malloc(sizeof(float) * qn), *kf = malloc(sizeof(float) * kvn),
        *vf = malloc(sizeof(float) * kvn),
        *out[3] = {malloc(sizeof(float) * qn), malloc(sizeof(float) * qn),
                   malloc(sizeof(float) * qn)};
  f16_bits *kh = malloc(sizeof(f16_bits) * kvn), *vh = malloc(sizeof(f16_bits) * kvn);
  double *sc = malloc(sizeof(double) * (size_t)n_ctx);
  const void **krow = malloc(sizeof(void *) * (size_t)T),
             **vrow = malloc(sizeof(void *) * (size_t)T);
  int32_t *pos = malloc(sizeof(int32_t) * (size_t)T), *kv_ctx = malloc(sizeof(int32_t) * (size_t)T);
  ASSERT_TRUE(q && kf && vf && out[0] && out[1] && out[2] && kh && vh && sc && krow && vrow &&
              pos && kv_ctx);
  g_rng = 12345u + (unsigned)ci;
  for (size_t i = 0; i < qn; i++) q[i] = (uniform() - 0.5f) * c->q_amp;
  for (size_t i = 0; i < kvn; i++) {
    kf[i] = uniform() * 2 - 1;
    vf[i] = uniform() * 2 - 1;
    kh[i] = f32_to_f16(kf[i]);
    vh[i] = f32_to_f16(vf[i]);
    if (c->f16) { /* the reference sees the rounded cache */
      kf[i] = f16_to_f32(kh[i]);
      vf[i] = f16_to_f32(vh[i]);
    }
  }
  for (int t = 0; t < T; t++) {
    kv_ctx[t] = n_ctx; /* cache layout [nkv, n_ctx, hd] */
    krow[t] = c->f16 ? (const void *)kh : (const void *)kf;
    vrow[t] = c->f16 ? (const void *)vh : (const void *)vf;
    pos[t] = c->pos0 + t;
  }
  kern_pool *pool = kern_pool_new(2);
  ASSERT_NOT_NULL(pool);
  for (int gen = 0; gen < 3; gen++) {
    attention_force_generic(gen == 1);
    attention_force_avx2(gen == 2);
    attn_args a = {.q = q,
                   .k_rows = krow,
                   .v_rows = vrow,
                   .kv_ctx = kv_ctx,
                   .pos = pos,
                   .f16 = c->f16,
                   .out = out[gen],
                   .T = T,
                   .n_heads = nh,
                   .n_kv_heads = nkv,
                   .head_dim = hd,
                   .window = W,
                   .scale = 1.0f / sqrtf((float)hd),
                   .softcap = c->softcap};
    attention_run(gen == 1 ? NULL : pool, &a);
  }
  attention_force_generic(false);
  attention_force_avx2(false);
  double worst[3] = {0, 0, 0};
  for (int t = 0; t < T; t++)
    for (int h = 0; h < nh; h++) {
      int g = h / (nh / nkv), last = pos[t], first = W > 0 && last - W + 1 > 0 ? last - W + 1 : 0;
      const float *qv = q + ((size_t)t * nh + h) * hd;
      double mx = -1e300, sum = 0;
      for (int j = first; j <= last; j++) {
        double d = 0;
        for (int e = 0; e < hd; e++) d += (double)qv[e] * kf[((size_t)g * n_ctx + j) * hd + e];
        sc[j] = d / sqrt((double)hd);
        if (c->softcap > 0) sc[j] = c->softcap * tanh(sc[j] / c->softcap);
        mx = fmax(mx, sc[j]);
      }
      for (int j = first; j <= last; j++) sum += (sc[j] = exp(sc[j] - mx));
      for (int e = 0; e < hd; e++) {
        double o = 0;
        for (int j = first; j <= last; j++) o += sc[j] / sum * vf[((size_t)g * n_ctx + j) * hd + e];
        for (int gen = 0; gen < 3; gen++)
          worst[gen] = fmax(worst[gen], fabs(o - out[gen][((size_t)t * nh + h) * hd + e]));
      }
    }
  if (!(worst[0] <= c->tol && worst[1] <= c->tol && worst[2] <= c->tol))
    test_fail(__FILE__, __LINE__,
              "attention case %d: max err %.3g (simd), %.3g (portable), %.3g (avx2), tol %.3g", ci,
              worst[0], worst[1], worst[2], c->tol);
  for (int i = 0; i < 3; i++) err[i] = fmax(err[i], worst[i]);
  kern_pool_free(pool);
  free(kv_ctx);
  free(pos);
  free(vrow);
  free(krow);
  free(sc);
  for (int i = 0; i < 3; i++) free(out[i]);
  free(q);
  free(kf);
  free(vf);
  free(kh);
  free(vh);
}

static void print_err(const double err[3], double tol) {
  printf("    max |out - float64 softmax|: %.3g SIMD, %.3g portable, %.3g AVX2 hook (bound %.3g)\n",
         err[0], err[1], err[2], tol);
}

/* Odd shapes: prefill blocks with a window, wide groups (40 heads on 2 KV
 * heads: blocks of 16 + 4), f16 caches, head_dim 24 (portable only) and
 * 272, chunk boundaries crossed. */
static void test_attention_vs_naive(void) {
  static const att_case cases[] = {
      {37, 100, 16, 8, 128, 0, false, 1, 0, 1e-5}, {37, 100, 16, 8, 128, 50, true, 1, 0, 1e-5},
      {3, 5, 32, 2, 64, 0, false, 1, 0, 1e-5},     {5, 200, 4, 4, 24, 0, true, 1, 0, 1e-5},
      {1, 300, 8, 1, 16, 7, false, 1, 0, 1e-5},    {9, 0, 6, 3, 48, 0, true, 1, 0, 1e-5},
      {4, 130, 40, 2, 32, 0, true, 1, 0, 1e-5},    {21, 70, 12, 4, 272, 33, false, 1, 0, 1e-5},
      {1, 200, 16, 8, 128, 0, true, 1, 0, 1e-5},   {1, 90, 32, 8, 64, 0, false, 1, 0, 1e-5}};
  double err[3] = {0, 0, 0};
  for (int i = 0; i < (int)(sizeof cases / sizeof cases[0]); i++) check_case(&cases[i], i, err);
  print_err(err, 1e-5);
}

/* Every block size: one decode row whose group is nq heads (the block is
 * the group), two KV heads, head_dim 16 / 32 / 48, f32 and f16, across a
 * chunk boundary; then prefill rows of a 3-head group (blocks of 15 = 5
 * rows x 3 heads and a remainder). */
static void test_attention_block_sizes(void) {
  double err[3] = {0, 0, 0};
  for (int nq = 1; nq <= ATT_MAX_Q; nq++) {
    att_case c = {1,           60 + 3 * nq, 2 * nq, 2,   16 * (1 + nq % 3), nq % 4 == 3 ? 40 : 0,
                  nq % 2 == 1, 1,           0,      1e-5};
    check_case(&c, 100 + nq, err);
  }
  att_case c = {17, 40, 6, 2, 64, 0, true, 1, 0, 1e-5};
  check_case(&c, 200, err);
  print_err(err, 1e-5);
}

/* Large queries: scores spread over hundreds, so most weights of e^(s - max)
 * underflow (denormals, 0) and the running max moves by large steps; the
 * float32 scores themselves are then only good to ~1e-5 relative, hence the
 * looser bound. Softcap (portable only: the SIMD blocks decline it). */
static void test_attention_extremes(void) {
  static const att_case cases[] = {{24, 90, 8, 2, 64, 0, false, 160, 0, 1e-4},
                                   {24, 90, 8, 2, 64, 20, true, 160, 0, 1e-4},
                                   {24, 90, 8, 2, 64, 0, true, 40, 30, 1e-5}};
  double err[3] = {0, 0, 0};
  for (int i = 0; i < (int)(sizeof cases / sizeof cases[0]); i++)
    check_case(&cases[i], 300 + i, err);
  print_err(err, 1e-4);
}

/* The SIMD block is really taken where this build has one (NEON on every
 * AArch64 CPU; AVX-512 or AVX2 + FMA where the CPU has it), and declined
 * for softcap and a head_dim no block takes (20; 24 only the AVX2 block,
 * which the AVX-512 dispatch also uses for head_dim not a multiple of 16). */
static void test_attention_simd_taken(void) {
  float q[32] = {0}, kv[32] = {0}, out[32];
  att_block b = {.q = {q},
                 .out = {out},
                 .first = {0},
                 .last = {0},
                 .nq = 1,
                 .K = (const uint8_t *)kv,
                 .V = (const uint8_t *)kv,
                 .stride = 32,
                 .hd = 32};
  bool expect = false, expect24 = false;
#if defined(__aarch64__)
  expect = true;
#elif defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  __builtin_cpu_init();
  expect24 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  expect = __builtin_cpu_supports("avx512f") || expect24;
#endif
  printf("    SIMD attention blocks: %s\n", expect ? "yes" : "no (portable loops only)");
  ASSERT_EQ_INT(attention_block_simd(&b, 1.0f, 0.0f), expect);
  ASSERT_FALSE(attention_block_simd(&b, 1.0f, 30.0f));
  b.hd = 24;
  b.stride = 24;
  ASSERT_EQ_INT(attention_block_simd(&b, 1.0f, 0.0f), expect24);
  b.hd = 20;
  b.stride = 20;
  ASSERT_FALSE(attention_block_simd(&b, 1.0f, 0.0f));
}

int main(int argc, char **argv) {
  static const test_case tests[] = {
      TEST(test_attention_vs_naive),
      TEST(test_attention_block_sizes),
      TEST(test_attention_extremes),
      TEST(test_attention_simd_taken),
      {0},
  };
  return test_main(argc, argv, tests);
}
