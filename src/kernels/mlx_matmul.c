/* SPDX-License-Identifier: Apache-2.0
 *
 * kernels/mlx_matmul.c: Y = X . W^T for MLX affine-quantized W (mlx.h),
 * threaded on the pool like matmul.c.
 *
 * DESIGN: the reference backend reads float32 X directly (ref_mlx_dot).
 * The SIMD backends first quantize each X row to 8 bits with one scale per
 * weight group (kern_mlx_x86_xconv / kern_mlx_neon_xconv, mlx_impl.h) into
 * the pool's scratch (or a 64 KiB stack buffer, in chunks of rows, without
 * a pool), then run kern_mlx_avx2_dot (avx2), kern_mlx_vnni_dot (avx512),
 * kern_mlx_neon_dot (neon) or kern_mlx_neon_dotprod_dot; with AMX (avx512
 * backend), the 32-aligned part of a prefill runs on tiles (x86/amx.c, W
 * dequantized to bf16 in chunks) and the remainders here. Tasks are
 * contiguous ranges of W rows, a few per thread; each task multiplies every
 * W row of its range with all X rows, KERN_MAX_NX at a time, so a W row is
 * read from memory once per call (decode) and from cache for the other X
 * groups (prefill).
 *
 * Thread safety: reentrant; uses the pool (one caller at a time).
 */
#include "core/err.h"
#include "kernels/mlx_impl.h"

#define MLX_STACK_BYTES (64 * 1024)
#define MLX_TASKS_PER_THREAD 4

typedef void (*mlx_dot_fn)(const kern_mlx *w, int64_t r, int64_t cols, int nx, const uint8_t *x,
                           size_t x_stride, float *y, size_t y_stride);
typedef void (*mlx_xconv_fn)(const float *x, int64_t cols, int group, int bits, uint8_t *dst);

typedef struct mlx_job {
  const kern_mlx *w;
  mlx_dot_fn dot;     /* SIMD kernel when Xq is set */
  mlx_xconv_fn xconv; /* its activation converter */
  const float *X;
  uint8_t *Xq;      /* NULL: reference path on float32 X */
  size_t xq_stride; /* bytes per converted X row */
  float *Y;
  size_t ldy; /* Y row stride in floats (>= rows) */
  int64_t nx, rows, cols, rows_per_task;
} mlx_job;

static void mlx_convert_task(void *ctx, int i, int n) {
  mlx_job *j = ctx;
  for (int64_t r = i; r < j->nx; r += n)
    j->xconv(j->X + r * j->cols, j->cols, j->w->group, j->w->bits,
             j->Xq + (size_t)r * j->xq_stride);
}

/* Sets j's SIMD dot and converter for backend b; 0 when b has none (the
 * reference backend). */
static int mlx_simd_kernels(const kern_backend *b, mlx_job *j) {
#if defined(GLOAM_KERNELS_X86)
  if (b != &kern_backend_ref) {
    j->dot = b == &kern_backend_avx512 ? kern_mlx_vnni_dot : kern_mlx_avx2_dot;
    j->xconv = kern_mlx_x86_xconv;
    return 1;
  }
#elif defined(GLOAM_KERNELS_NEON)
  if (b != &kern_backend_ref) {
    j->dot = b == &kern_backend_neon_dotprod ? kern_mlx_neon_dotprod_dot : kern_mlx_neon_dot;
    j->xconv = kern_mlx_neon_xconv;
    return 1;
  }
#endif
  (void)b;
  (void)j;
  return 0;
}

static void mlx_rows_task(void *ctx, int i, int n) {
  (void)n;
  mlx_job *j = ctx;
  int64_t r0 = (int64_t)i * j->rows_per_task;
  int64_t r1 = r0 + j->rows_per_task < j->rows ? r0 + j->rows_per_task : j->rows;
  for (int64_t r = r0; r < r1; r++) {
    for (int64_t x = 0; x < j->nx; x += KERN_MAX_NX) {
      int nxg = (int)(j->nx - x < KERN_MAX_NX ? j->nx - x : KERN_MAX_NX);
      float *y = j->Y + (size_t)x * j->ldy + (size_t)r;
      if (j->Xq)
        j->dot(j->w, r, j->cols, nxg, j->Xq + (size_t)x * j->xq_stride, j->xq_stride, y, j->ldy);
      else
        ref_mlx_dot(j->w, r, j->cols, nxg, j->X + x * j->cols, (size_t)j->cols, y, j->ldy);
    }
  }
}

static void mlx_run(kern_pool *p, mlx_job *j) {
  int nt = kern_pool_threads(p);
  int64_t n_tasks = nt == 1 ? 1 : (int64_t)nt * MLX_TASKS_PER_THREAD;
  if (n_tasks > j->rows) n_tasks = j->rows;
  j->rows_per_task = (j->rows + n_tasks - 1) / n_tasks;
  n_tasks = (j->rows + j->rows_per_task - 1) / j->rows_per_task;
  kern_pool_run(p, mlx_rows_task, j, (int)n_tasks);
}

/* Y[i * ldy + r] = X[i] . W[r] for i < n_rows_x, r < rows. */
static void mlx_region(const kern_backend *b, kern_pool *p, const kern_mlx *w, const float *X,
                       float *Y, int64_t n_rows_x, int64_t rows, int64_t cols, size_t ldy) {
  mlx_job j = {.w = w, .X = X, .Y = Y, .ldy = ldy, .nx = n_rows_x, .rows = rows, .cols = cols};
  if (mlx_simd_kernels(b, &j)) {
    j.xq_stride = mlx_q8_row_bytes(cols, w->group);
    _Alignas(64) uint8_t stack_buf[MLX_STACK_BYTES];
    uint8_t *buf = kern_pool_scratch(p, j.xq_stride * (size_t)n_rows_x);
    int64_t chunk = n_rows_x;
    if (!buf) {
      buf = stack_buf;
      chunk = (int64_t)(MLX_STACK_BYTES / j.xq_stride);
    }
    if (chunk >= 1) {
      for (int64_t r0 = 0; r0 < n_rows_x; r0 += chunk) {
        j.nx = n_rows_x - r0 < chunk ? n_rows_x - r0 : chunk;
        j.X = X + r0 * cols;
        j.Y = Y + (size_t)r0 * ldy;
        j.Xq = buf;
        int nconv = j.nx < kern_pool_threads(p) ? (int)j.nx : kern_pool_threads(p);
        kern_pool_run(p, mlx_convert_task, &j, nconv);
        mlx_run(p, &j);
      }
      return;
    }
    /* a row too long for the stack buffer: reference path */
  }
  j.Xq = NULL;
  mlx_run(p, &j);
}

void kern_mlx_matmul(const kern_backend *b, kern_pool *p, const kern_mlx *w, const float *X,
                     float *Y, int64_t n_rows_x, int64_t rows, int64_t cols) {
  GLOAM_ASSERT(w && kern_mlx_supported(w->bits, w->group, w->sb_type) && cols % w->group == 0);
#if defined(GLOAM_KERNELS_X86)
  /* prefill on AMX: the 32-aligned rows of X and W; the rest below */
  if (b == &kern_backend_avx512 && n_rows_x >= 32 && rows >= 32 && kern_amx_ready() &&
      kern_amx_matmul(p, DT_MLX, (const uint8_t *)w, X, Y, n_rows_x & ~(int64_t)31,
                      rows & ~(int64_t)31, cols, (size_t)rows) == 0) {
    int64_t nx32 = n_rows_x & ~(int64_t)31, r32 = rows & ~(int64_t)31;
    if (r32 < rows) { /* the last rows of W: a descriptor starting at row r32 */
      size_t ng = (size_t)(cols / w->group), sbsz = w->sb_type == DT_F32 ? 4 : 2;
      kern_mlx tail = *w;
      tail.q += (size_t)r32 * (size_t)(cols * w->bits / 32);
      tail.scales = (const uint8_t *)w->scales + (size_t)r32 * ng * sbsz;
      tail.biases = (const uint8_t *)w->biases + (size_t)r32 * ng * sbsz;
      mlx_region(b, p, &tail, X, Y + r32, nx32, rows - r32, cols, (size_t)rows);
    }
    if (nx32 < n_rows_x)
      mlx_region(b, p, w, X + nx32 * cols, Y + (size_t)nx32 * (size_t)rows, n_rows_x - nx32, rows,
                 cols, (size_t)rows);
    return;
  }
#endif
  mlx_region(b, p, w, X, Y, n_rows_x, rows, cols, (size_t)rows);
}
