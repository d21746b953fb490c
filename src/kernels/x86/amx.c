/* SPDX-License-Identifier: Apache-2.0
 *
 * kernels/x86/amx.c: prefill matmul on AMX (tiles + TDPBF16PS) for BF16,
 * F16, Q8_0, Q4_0, Q4_K, Q6_K and MLX weights. Built with -mamx-tile
 * -mamx-bf16 (and AVX-512) for this file only; used only when cpuid reports
 * AMX and the kernel grants the tile data state (arch_prctl
 * ARCH_REQ_XCOMP_PERM).
 *
 * DESIGN: C[16 W rows x 16 X rows] += A[16 W rows x 32] . B[32 x 16 X rows].
 *  - A (weights) is read row-major: BF16 weights straight from the matrix
 *    (tile stride = row bytes); quantized rows are dequantized to bf16 in
 *    chunks of 512 columns into a stack buffer, once per 32 weight rows and
 *    chunk, and reused for up to 256 activation rows.
 *  - B (activations) is packed once per matmul into the VNNI bf16 layout
 *    (pairs of k interleaved per activation row), in the pool's scratch (or
 *    a buffer allocated for the call when there is no pool).
 *  - 2 x 2 tiles per step (tmm0-1 weights, tmm2-3 activations, tmm4-7
 *    accumulators), so each tile load feeds two TDPBF16PS.
 *  - Quantized weights: weights and activations are rounded to bf16 (round
 *    to nearest even) and accumulated in float32: relative error ~2^-9 per
 *    product, the same order as the 8-bit activation quantization of the
 *    VNNI kernels.
 *  - BF16 weights are exact in a tile. By default each activation is split
 *    into hi = bf16(x) and lo = bf16(x - hi) and both are multiplied into the
 *    same accumulators (two TDPBF16PS passes): x is represented to <= 2^-16
 *    relative (errors of random sign), the order of float32 accumulation error.
 *    GLOAM_FAST_BF16=1 skips the lo pass (x rounded to bf16).
 *  - F16 weights (11 significant bits) are split exactly, per chunk, into
 *    hi = bf16(w) and lo = w - hi (at most 3 significant bits, exact in
 *    bf16), activations into hi + lo as for BF16, and three passes
 *    accumulate W hi x X lo, W hi x X hi and W lo x X hi (W lo x X lo,
 *    <= 2^-16 relative, ~2^-18 typical, dropped): float32-accurate, measured NMSE
 *    ~1.3e-11 against float64 (BF16 with its split: ~6e-12). Fewer passes
 *    (W or X rounded to bf16) give NMSE ~2.7e-6, outside the float-weight
 *    tolerance, so F16 has no fast variant.
 * The tile configuration is passed to ldtilecfg through an asm memory
 * operand covering all 64 bytes (GCC 12's _tile_loadconfig declares an
 * 8-byte operand and may drop the stores that build it; notes/cpu.md).
 *
 * Thread safety: each pool task loads its own tile configuration and
 * releases the tile state when done.
 */
#include <cpuid.h>
#include <immintrin.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "kernels/kern_impl.h"
#include "kernels/mlx_impl.h"

#define ARCH_REQ_XCOMP_PERM 0x1023
#define XFEATURE_XTILEDATA 18
#define AMX_KC 512 /* weight columns dequantized per chunk */
#define AMX_XS 256 /* activation rows per accumulator pass */

static int g_amx;
static pthread_once_t g_amx_once = PTHREAD_ONCE_INIT;

static void amx_detect(void) {
  const char *e = getenv("GLOAM_AMX");
  if (e && strcmp(e, "0") == 0) return;
  unsigned a, b, c, d;
  if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return;
  if (!((d >> 22) & 1) || !((d >> 24) & 1)) return; /* AMX-BF16, AMX-TILE */
  if (syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) != 0) return;
  uint32_t lo, hi;
  __asm__ __volatile__("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  (void)hi;
  if ((lo & 0x60000u) != 0x60000u) return; /* XTILECFG and XTILEDATA enabled */
  g_amx = 1;
}

int kern_amx_ready(void) {
  pthread_once(&g_amx_once, amx_detect);
  return g_amx;
}

typedef struct tilecfg {
  uint8_t palette;
  uint8_t start_row;
  uint8_t reserved[14];
  uint16_t colsb[16];
  uint8_t rows[16];
} tilecfg;
static_assert(sizeof(tilecfg) == 64, "tile configuration is 64 bytes");

static void amx_config(void) {
  _Alignas(64) tilecfg cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.palette = 1;
  for (int i = 0; i < 8; i++) {
    cfg.colsb[i] = 64;
    cfg.rows[i] = 16;
  }
  __asm__ __volatile__("ldtilecfg %0" : : "m"(cfg));
}

typedef struct amx_job {
  enum dtype t;
  const uint8_t *W;
  size_t wrb;
  const float *X;
  uint8_t *Xp;
  float *Y;
  size_t ldy;
  int64_t nx, rows, cols, nc;
  int split;     /* float32-accurate: hi and lo activation passes */
  int wsplit;    /* F16 weights: hi and lo weight parts (a third pass) */
  size_t lo_off; /* bytes from Xp to the lo activations */
} amx_job;

/* bf16(a - hi), bf16(b - hi) where hi = (bf16(a) in words 0-15, bf16(b) in
 * 16-31): the rounding remainders of a 32-value hi + lo split. */
static __m512bh amx_lo(__m512 a, __m512 b, __m512bh hi) {
  __m512i h = (__m512i)hi;
  __m512 ha =
      _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm512_castsi512_si256(h)), 16));
  __m512 hb = _mm512_castsi512_ps(
      _mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm512_extracti64x4_epi64(h, 1)), 16));
  return _mm512_cvtne2ps_pbh(_mm512_sub_ps(b, hb), _mm512_sub_ps(a, ha));
}

/* X rows of group g (16 rows) -> B tiles: per 32 columns c, 16 rows of 64
 * bytes, row k2 holding (x[m][2k2], x[m][2k2+1]) for m = 0..15. With split,
 * a second set at Xp + lo_off holds bf16(x - hi), hi = bf16(x): hi + lo
 * equals x to <= 2^-16 relative. */
static void amx_pack_task(void *ctx, int i, int n) {
  amx_job *j = ctx;
  const __m512i vidx =
      _mm512_setr_epi32(0, 16, 32, 48, 64, 80, 96, 112, 128, 144, 160, 176, 192, 208, 224, 240);
  for (int64_t g = i; g < j->nx / 16; g += n) {
    for (int m = 0; m < 16; m++) {
      const float *x = j->X + (16 * g + m) * j->cols;
      for (int64_t c = 0; c < j->nc; c++) {
        __m512 a = _mm512_loadu_ps(x + 32 * c), b = _mm512_loadu_ps(x + 32 * c + 16);
        __m512bh v = _mm512_cvtne2ps_pbh(b, a);
        int32_t *dst = (int32_t *)(j->Xp + (size_t)(g * j->nc + c) * 1024) + m;
        _mm512_i32scatter_epi32(dst, vidx, (__m512i)v, 4);
        if (j->split)
          _mm512_i32scatter_epi32(dst + j->lo_off / 4, vidx, (__m512i)amx_lo(a, b, v), 4);
      }
    }
  }
}

/* 16 floats to 16 bf16 at dst (round to nearest even). */
static inline void bf16x16(uint16_t *dst, __m512 v) {
  _mm256_storeu_si256((__m256i *)dst, (__m256i)_mm512_cvtneps_pbh(v));
}

/* A Q4_K super-block (256 values) to bf16: 8 sub-blocks of 32, value =
 * d * scale(s) * q - dmin * min(s), 6-bit scales and mins packed in 12
 * bytes (ggml's layout: sub-blocks 0-3 in the low 6 bits of bytes 0-3 and
 * 4-7, 4-7 in bytes 8-11 plus the top 2 bits of bytes 0-7). Quants: 32
 * bytes per pair of sub-blocks, low nibbles first. */
static void dequant_q4_K(const block_q4_K *b, uint16_t *dst) {
  float d = _cvtsh_ss(b->d), dmin = _cvtsh_ss(b->dmin);
  const uint8_t *s = b->scales;
  for (int j = 0; j < 4; j++) {
    const uint8_t *q = b->qs + 32 * j;
    for (int h = 0; h < 2; h++) {
      int sb = 2 * j + h, sc, mn;
      if (sb < 4) {
        sc = s[sb] & 63;
        mn = s[sb + 4] & 63;
      } else {
        sc = (s[sb + 4] & 0xf) | ((s[sb - 4] >> 6) << 4);
        mn = (s[sb + 4] >> 4) | ((s[sb] >> 6) << 4);
      }
      __m512 vs = _mm512_set1_ps(d * (float)sc), vm = _mm512_set1_ps(dmin * (float)mn);
      for (int k = 0; k < 2; k++) {
        __m128i v = _mm_loadu_si128((const __m128i *)(q + 16 * k));
        v = h ? _mm_and_si128(_mm_srli_epi16(v, 4), _mm_set1_epi8(0x0f))
              : _mm_and_si128(v, _mm_set1_epi8(0x0f));
        __m512 f = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(v));
        bf16x16(dst + 32 * sb + 16 * k, _mm512_fmsub_ps(f, vs, vm));
      }
    }
  }
}

/* A Q6_K super-block (256 values) to bf16: two halves of 128; in half h,
 * for l < 32 the bytes ql[l], ql[l + 32] (low nibbles, then high nibbles)
 * and the 2-bit fields of qh[l] give values l, l + 32, l + 64, l + 96 as
 * 6-bit q - 32, each times d * the int8 scale of its 16 values. */
static void dequant_q6_K(const block_q6_K *b, uint16_t *dst) {
  float d = _cvtsh_ss(b->d);
  const __m512i m4 = _mm512_set1_epi32(0x0f), m2 = _mm512_set1_epi32(3),
                off = _mm512_set1_epi32(32);
  for (int h = 0; h < 2; h++) {
    const uint8_t *ql = b->ql + 64 * h, *qh = b->qh + 32 * h;
    const int8_t *sc = b->scales + 8 * h;
    uint16_t *y = dst + 128 * h;
    for (int l = 0; l < 32; l += 16) {
      int is = l / 16;
      __m512i a = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(ql + l)));
      __m512i c = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(ql + l + 32)));
      __m512i hb = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(qh + l)));
      __m512i q[4] = {
          _mm512_or_si512(_mm512_and_si512(a, m4), _mm512_slli_epi32(_mm512_and_si512(hb, m2), 4)),
          _mm512_or_si512(_mm512_and_si512(c, m4),
                          _mm512_slli_epi32(_mm512_and_si512(_mm512_srli_epi32(hb, 2), m2), 4)),
          _mm512_or_si512(_mm512_srli_epi32(a, 4),
                          _mm512_slli_epi32(_mm512_and_si512(_mm512_srli_epi32(hb, 4), m2), 4)),
          _mm512_or_si512(_mm512_srli_epi32(c, 4), _mm512_slli_epi32(_mm512_srli_epi32(hb, 6), 4)),
      };
      for (int k = 0; k < 4; k++) {
        __m512 f = _mm512_cvtepi32_ps(_mm512_sub_epi32(q[k], off));
        bf16x16(y + l + 32 * k, _mm512_mul_ps(f, _mm512_set1_ps(d * (float)sc[is + 2 * k])));
      }
    }
  }
}

/* n values (multiple of the block) of a quantized row, from value k0, as
 * bf16 (all types vectorized; tests compare against the reference). */
static void amx_dequant(enum dtype t, const uint8_t *row, int64_t k0, int64_t n, uint16_t *dst) {
  if (t == DT_Q8_0) {
    const block_q8_0 *b = (const block_q8_0 *)row + k0 / 32;
    for (int64_t i = 0; i < n / 32; i++) {
      __m512 d = _mm512_set1_ps(_cvtsh_ss(b[i].d));
      __m128i q0 = _mm_loadu_si128((const __m128i *)b[i].qs);
      __m128i q1 = _mm_loadu_si128((const __m128i *)(b[i].qs + 16));
      __m512 f0 = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(q0)), d);
      __m512 f1 = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(q1)), d);
      _mm512_storeu_si512(dst + 32 * i, (__m512i)_mm512_cvtne2ps_pbh(f1, f0));
    }
    return;
  }
  if (t == DT_Q4_K) {
    const block_q4_K *b = (const block_q4_K *)row + k0 / QK_K;
    for (int64_t i = 0; i < n / QK_K; i++) dequant_q4_K(b + i, dst + QK_K * i);
    return;
  }
  if (t == DT_Q6_K) {
    const block_q6_K *b = (const block_q6_K *)row + k0 / QK_K;
    for (int64_t i = 0; i < n / QK_K; i++) dequant_q6_K(b + i, dst + QK_K * i);
    return;
  }
  const block_q4_0 *b = (const block_q4_0 *)row + k0 / 32;
  const __m128i m4 = _mm_set1_epi8(0x0f);
  const __m512 eight = _mm512_set1_ps(8.0f);
  for (int64_t i = 0; i < n / 32; i++) {
    __m512 d = _mm512_set1_ps(_cvtsh_ss(b[i].d));
    __m128i v = _mm_loadu_si128((const __m128i *)b[i].qs);
    __m128i lo = _mm_and_si128(v, m4), hi = _mm_and_si128(_mm_srli_epi16(v, 4), m4);
    __m512 f0 =
        _mm512_mul_ps(_mm512_sub_ps(_mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(lo)), eight), d);
    __m512 f1 =
        _mm512_mul_ps(_mm512_sub_ps(_mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(hi)), eight), d);
    _mm512_storeu_si512(dst + 32 * i, (__m512i)_mm512_cvtne2ps_pbh(f1, f0));
  }
}

/* n F16 values of a row, from value k0 (both multiples of 32), split exactly
 * into bf16 parts: hi = bf16(w), lo = w - hi (w has 11 significant bits, hi
 * 8, so the remainder has at most 3 and is exact in bf16). */
static void amx_split_f16(const uint8_t *row, int64_t k0, int64_t n, uint16_t *hi, uint16_t *lo) {
  const f16_bits *w = (const f16_bits *)row + k0;
  for (int64_t i = 0; i < n; i += 32) {
    __m512 a = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(w + i)));
    __m512 b = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(w + i + 16)));
    __m512bh h = _mm512_cvtne2ps_pbh(b, a);
    _mm512_storeu_si512(hi + i, (__m512i)h);
    _mm512_storeu_si512(lo + i, (__m512i)amx_lo(a, b, h));
  }
}

/* C tiles 4-7 += A tiles 0-1 x B tiles 2-3 (tile 4 + 2a + b: A a, B b). */
static inline void amx_dp4(void) {
  _tile_dpbf16ps(4, 0, 2);
  _tile_dpbf16ps(5, 0, 3);
  _tile_dpbf16ps(6, 1, 2);
  _tile_dpbf16ps(7, 1, 3);
}

/* Values [k0, k0 + n) of row r of an MLX matrix (kernels/mlx.h) as bf16;
 * k0 and n are multiples of the group. */
static void amx_dequant_mlx(const kern_mlx *w, int64_t r, int64_t cols, int64_t k0, int64_t n,
                            uint16_t *dst) {
  int64_t ng = cols / w->group;
  size_t row_bytes = (size_t)cols * (size_t)w->bits / 8;
  const uint8_t *q = (const uint8_t *)w->q + (size_t)r * row_bytes;
  const __m128i m4 = _mm_set1_epi8(0x0f);
  for (int64_t c = k0; c < k0 + n; c += 32) {
    int64_t g = r * ng + c / w->group;
    __m512 sc = _mm512_set1_ps(mlx_sb(w->scales, w->sb_type, g));
    __m512 bi = _mm512_set1_ps(mlx_sb(w->biases, w->sb_type, g));
    __m128i v0, v1; /* values c..c+15, c+16..c+31 as bytes */
    if (w->bits == 4) {
      __m128i v = _mm_loadu_si128((const __m128i *)(q + c / 2));
      __m128i lo = _mm_and_si128(v, m4), hi = _mm_and_si128(_mm_srli_epi16(v, 4), m4);
      v0 = _mm_unpacklo_epi8(lo, hi);
      v1 = _mm_unpackhi_epi8(lo, hi);
    } else {
      v0 = _mm_loadu_si128((const __m128i *)(q + c));
      v1 = _mm_loadu_si128((const __m128i *)(q + c + 16));
    }
    __m512 f0 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(v0)), sc, bi);
    __m512 f1 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(v1)), sc, bi);
    _mm512_storeu_si512(dst + (c - k0), (__m512i)_mm512_cvtne2ps_pbh(f1, f0));
  }
}

/* Task wi: weight rows [32 wi, 32 wi + 32) against all activation rows. */
static void amx_task(void *ctx, int wi, int n) {
  (void)n;
  amx_job *j = ctx;
  _Alignas(64) uint16_t wbuf[2][32 * AMX_KC]; /* bf16 weights; F16: hi, lo */
  _Alignas(64) float cbuf[(AMX_XS / 32) * 4 * 256];
  const int64_t w0 = 32 * (int64_t)wi;
  amx_config();
  for (int64_t x0 = 0; x0 < j->nx; x0 += AMX_XS) {
    int64_t nxs = j->nx - x0 < AMX_XS ? j->nx - x0 : AMX_XS;
    int64_t npair = nxs / 32;
    for (int64_t k0 = 0; k0 < j->cols; k0 += AMX_KC) {
      int64_t kc = j->cols - k0 < AMX_KC ? j->cols - k0 : AMX_KC;
      const uint8_t *abase;
      size_t astride;
      if (j->t == DT_BF16) {
        abase = j->W + (size_t)w0 * j->wrb + (size_t)k0 * 2;
        astride = j->wrb;
      } else {
        for (int r = 0; r < 32; r++)
          if (j->t == DT_MLX) /* W is a kern_mlx descriptor */
            amx_dequant_mlx((const kern_mlx *)j->W, w0 + r, j->cols, k0, kc, wbuf[0] + r * kc);
          else if (j->t == DT_F16)
            amx_split_f16(j->W + (size_t)(w0 + r) * j->wrb, k0, kc, wbuf[0] + r * kc,
                          wbuf[1] + r * kc);
          else
            amx_dequant(j->t, j->W + (size_t)(w0 + r) * j->wrb, k0, kc, wbuf[0] + r * kc);
        abase = (const uint8_t *)wbuf[0];
        astride = (size_t)kc * 2;
      }
      for (int64_t p = 0; p < npair; p++) {
        float *cb = cbuf + p * 1024;
        if (k0 == 0) {
          _tile_zero(4);
          _tile_zero(5);
          _tile_zero(6);
          _tile_zero(7);
        } else {
          _tile_loadd(4, cb, 64);
          _tile_loadd(5, cb + 256, 64);
          _tile_loadd(6, cb + 512, 64);
          _tile_loadd(7, cb + 768, 64);
        }
        int64_t g = (x0 + 32 * p) / 16;
        /* passes: W hi x X lo (split), W hi x X hi, W lo x X hi (wsplit),
         * ordered so each tile is loaded once per step */
        for (int64_t s = 0; s < kc / 32; s++) {
          const uint8_t *xg = j->Xp + (size_t)(g * j->nc + k0 / 32 + s) * 1024;
          const size_t xnext = (size_t)j->nc * 1024; /* same columns, next 16 X rows */
          _tile_loadd(0, abase + s * 64, (long)astride);
          _tile_loadd(1, abase + 16 * astride + s * 64, (long)astride);
          if (j->split) {
            _tile_loadd(2, xg + j->lo_off, 64);
            _tile_loadd(3, xg + j->lo_off + xnext, 64);
            amx_dp4();
          }
          _tile_loadd(2, xg, 64);
          _tile_loadd(3, xg + xnext, 64);
          amx_dp4();
          if (j->wsplit) {
            _tile_loadd(0, (const uint8_t *)wbuf[1] + s * 64, (long)astride);
            _tile_loadd(1, (const uint8_t *)wbuf[1] + 16 * astride + s * 64, (long)astride);
            amx_dp4();
          }
        }
        _tile_stored(4, cb, 64);
        _tile_stored(5, cb + 256, 64);
        _tile_stored(6, cb + 512, 64);
        _tile_stored(7, cb + 768, 64);
      }
    }
    /* tile 4 + 2a + b: weight rows 16a.., activation rows 16b.. of the pair */
    for (int64_t p = 0; p < npair; p++) {
      for (int tt = 0; tt < 4; tt++) {
        const float *c = cbuf + p * 1024 + tt * 256;
        int a = tt / 2, bb = tt % 2;
        for (int m = 0; m < 16; m++) {
          float *y = j->Y + (size_t)(x0 + 32 * p + 16 * bb + m) * j->ldy + (size_t)(w0 + 16 * a);
          for (int r = 0; r < 16; r++) y[r] = c[r * 16 + m];
        }
      }
    }
  }
  _tile_release();
}

int kern_amx_matmul(kern_pool *p, enum dtype t, const uint8_t *W, const float *X, float *Y,
                    int64_t nx, int64_t rows, int64_t cols, size_t ldy) {
  if (!kern_amx_ready() || nx % 32 || rows % 32 || cols % 32 || nx <= 0 || rows <= 0) return -1;
  if (t != DT_BF16 && t != DT_F16 && t != DT_Q8_0 && t != DT_Q4_0 && t != DT_Q4_K && t != DT_Q6_K &&
      t != DT_MLX)
    return -1;
  int split = (t == DT_BF16 && !kern_fast_bf16()) || t == DT_F16;
  size_t lo_off = (size_t)nx * (size_t)cols * 2;
  size_t xp_len = split ? 2 * lo_off : lo_off;
  void *own = NULL; /* without a pool: a buffer for this call (prefill only) */
  uint8_t *xp = kern_pool_scratch(p, xp_len);
  if (!xp) {
    if (p || posix_memalign(&own, 64, xp_len) != 0) return -1;
    xp = own;
  }
  amx_job j = {.t = t,
               .W = W,
               .wrb = dtype_row_bytes(t, cols),
               .X = X,
               .Xp = xp,
               .Y = Y,
               .ldy = ldy,
               .nx = nx,
               .rows = rows,
               .cols = cols,
               .nc = cols / 32,
               .split = split,
               .wsplit = t == DT_F16,
               .lo_off = lo_off};
  int nt = kern_pool_threads(p);
  kern_pool_run(p, amx_pack_task, &j, (int)(nx / 16 < nt ? nx / 16 : nt));
  kern_pool_run(p, amx_task, &j, (int)(rows / 32));
  free(own);
  return 0;
}
