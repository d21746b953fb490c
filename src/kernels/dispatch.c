/* SPDX-License-Identifier: Apache-2.0
 *
 * kernels/dispatch.c: chooses the kernel backend once from the CPU's features
 * and forwards the public ops (kernels.h) to it.
 *
 * Order of preference on x86-64: avx512 (AVX-512 F/BW/DQ/VL/VBMI + VNNI + BF16,
 * with the OS saving zmm state), avx2 (AVX2 + FMA + F16C), ref. On AArch64:
 * neon_dotprod (the CPU reports SDOT), neon (always), ref. GLOAM_KERNELS=<name>
 * forces a backend (ref, avx2, avx512, neon, neon_dotprod) when this CPU can run it; an unknown
 * or unsupported name falls back to the automatic choice. GLOAM_FAST_BF16=1
 * opts into bf16-rounded activations for BF16 weights (kern_fast_bf16).
 *
 * Thread safety: the choice is made once under pthread_once; everything
 * after that is read-only.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/kern_impl.h"

#if defined(GLOAM_KERNELS_X86)
#include <cpuid.h>

typedef struct cpu_caps {
  int avx2, avx512;
} cpu_caps;

static uint64_t xgetbv0(void) {
  uint32_t lo, hi;
  __asm__ __volatile__("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return ((uint64_t)hi << 32) | lo;
}

static cpu_caps cpu_detect(void) {
  cpu_caps c = {0, 0};
  unsigned a, b, cx, d;
  if (!__get_cpuid(1, &a, &b, &cx, &d)) return c;
  int fma = (cx >> 12) & 1, osxsave = (cx >> 27) & 1, avx = (cx >> 28) & 1, f16c = (cx >> 29) & 1;
  if (!osxsave || !avx) return c;
  uint64_t xcr0 = xgetbv0();
  int ymm_ok = (xcr0 & 0x6) == 0x6, zmm_ok = (xcr0 & 0xe6) == 0xe6;
  if (!__get_cpuid_count(7, 0, &a, &b, &cx, &d)) return c;
  int avx2 = (b >> 5) & 1, f = (b >> 16) & 1, dq = (b >> 17) & 1, bw = (b >> 30) & 1,
      vl = (b >> 31) & 1, vbmi = (cx >> 1) & 1, vnni = (cx >> 11) & 1;
  unsigned a1 = 0, b1, c1, d1;
  __get_cpuid_count(7, 1, &a1, &b1, &c1, &d1);
  int bf16 = (a1 >> 5) & 1;
  c.avx2 = ymm_ok && avx2 && fma && f16c;
  c.avx512 = c.avx2 && zmm_ok && f && dq && bw && vl && vbmi && vnni && bf16;
  return c;
}
#endif

#if defined(GLOAM_KERNELS_NEON)
#if defined(__linux__)
#include <sys/auxv.h>
#ifndef HWCAP_ASIMDDP
#define HWCAP_ASIMDDP (1UL << 20)
#endif
static int neon_has_dotprod(void) {
  return (getauxval(AT_HWCAP) & HWCAP_ASIMDDP) != 0;
}
#elif defined(__APPLE__)
#include <sys/sysctl.h>
static int neon_has_dotprod(void) {
  int v = 0;
  size_t len = sizeof v;
  return sysctlbyname("hw.optional.arm.FEAT_DotProd", &v, &len, NULL, 0) == 0 && v == 1;
}
#else
static int neon_has_dotprod(void) {
  return 0;
}
#endif
#endif

const kern_backend *kern_backend_find(const char *name) {
  if (!name) return NULL;
  if (strcmp(name, "ref") == 0) return &kern_backend_ref;
#if defined(GLOAM_KERNELS_X86)
  cpu_caps c = cpu_detect();
  if (strcmp(name, "avx2") == 0 && c.avx2) return &kern_backend_avx2;
  if (strcmp(name, "avx512") == 0 && c.avx512) return &kern_backend_avx512;
#endif
#if defined(GLOAM_KERNELS_NEON)
  if (strcmp(name, "neon") == 0) return &kern_backend_neon;
  if (strcmp(name, "neon_dotprod") == 0 && neon_has_dotprod()) return &kern_backend_neon_dotprod;
#endif
  return NULL;
}

static int g_fast_bf16;
static pthread_once_t g_fast_once = PTHREAD_ONCE_INIT;

static void read_fast_bf16(void) {
  const char *e = getenv("GLOAM_FAST_BF16");
  g_fast_bf16 = e && strcmp(e, "1") == 0;
}

int kern_fast_bf16(void) {
  pthread_once(&g_fast_once, read_fast_bf16);
  return g_fast_bf16;
}

static const kern_backend *g_active;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

static void choose_backend(void) {
  const char *env = getenv("GLOAM_KERNELS");
  const kern_backend *b = env && *env ? kern_backend_find(env) : NULL;
#if defined(GLOAM_KERNELS_X86)
  if (!b) b = kern_backend_find("avx512");
  if (!b) b = kern_backend_find("avx2");
#endif
#if defined(GLOAM_KERNELS_NEON)
  if (!b) b = kern_backend_find("neon_dotprod");
  if (!b) b = kern_backend_find("neon");
#endif
  g_active = b ? b : &kern_backend_ref;
}

const kern_backend *kern_backend_active(void) {
  pthread_once(&g_once, choose_backend);
  return g_active;
}

const char *kern_backend_name(void) {
  return kern_backend_active()->name;
}

void kern_dequantize_row(enum dtype t, const void *src, float *dst, int64_t n) {
  ref_dequantize_row(t, src, dst, n);
}

void kern_quantize_row(enum dtype t, const float *src, void *dst, int64_t n) {
  ref_quantize_row(t, src, dst, n);
}

void kern_rmsnorm(float *out, const float *x, const float *w, int64_t n, float eps,
                  float w_offset) {
  kern_backend_active()->rmsnorm(out, x, w, n, eps, w_offset);
}

void kern_softmax(float *x, int64_t n) {
  kern_backend_active()->softmax(x, n);
}

void kern_silu_mul(float *gate, const float *up, int64_t n) {
  kern_backend_active()->silu_mul(gate, up, n);
}

void kern_gelu_tanh_mul(float *gate, const float *up, int64_t n) {
  kern_backend_active()->gelu_tanh_mul(gate, up, n);
}

float kern_dot_f32(const float *a, const float *b, int64_t n) {
  return kern_backend_active()->dot_f32(a, b, n);
}

void kern_axpy_f32(float *y, float a, const float *x, int64_t n) {
  kern_backend_active()->axpy_f32(y, a, x, n);
}

float kern_dot_f16(const float *a, const f16_bits *b, int64_t n) {
  return kern_backend_active()->dot_f16(a, b, n);
}

void kern_axpy_f16(float *y, float a, const f16_bits *x, int64_t n) {
  kern_backend_active()->axpy_f16(y, a, x, n);
}

void kern_f32_to_f16_row(f16_bits *dst, const float *src, int64_t n) {
  kern_backend_active()->f32_to_f16(dst, src, n);
}
