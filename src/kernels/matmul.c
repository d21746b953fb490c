/* SPDX-License-Identifier: Apache-2.0
 *
 * kernels/matmul.c: the matmul driver: activation conversion, tiling and
 * threading around a backend's per-type dot kernel.
 *
 * DESIGN:
 *  - X is first converted (in parallel, by rows) into the backend's
 *    activation format for the weight type (Q8_0 / Q8_K blocks for integer
 *    dot products, BF16, or left as F32), into the pool's scratch buffer, or
 *    a 64 KiB stack buffer when there is no pool (then X is processed in
 *    chunks of rows that fit).
 *  - Decode (few X rows): tasks are contiguous ranges of W rows; each W row
 *    is read once from memory, which is what bounds decode speed.
 *  - Prefill: tasks are tiles of (up to 64 X rows) x (a block of W rows sized
 *    to stay in L2). Inside a tile, groups of KERN_MAX_NX X rows (in L1) are
 *    multiplied by each W row of the block, so each W row loaded from L2
 *    serves 4 tokens.
 *
 * Thread safety: reentrant; uses the pool (one caller at a time).
 */
#include <string.h>

#include "core/err.h"
#include "kernels/kern_impl.h"
#include "kernels/mlx_impl.h"

#define MM_STACK_BYTES (64 * 1024)
#define MM_L2_BUDGET (512 * 1024)
#define MM_TILE_X 64

typedef struct mm_job {
  const kern_type_ops *ops;
  const uint8_t *W;
  size_t w_row_bytes;
  const float *X;
  uint8_t *Xq; /* converted X, or NULL when the dot reads X directly */
  size_t xq_row_bytes;
  float *Y;
  size_t ldy; /* Y row stride in floats (>= rows) */
  int64_t nx, rows, cols;
  int64_t w_block, n_wb, n_xb;
} mm_job;

static void mm_convert_task(void *ctx, int i, int n) {
  mm_job *j = ctx;
  for (int64_t r = i; r < j->nx; r += n)
    j->ops->xconv(j->X + r * j->cols, j->Xq + (size_t)r * j->xq_row_bytes, j->cols);
}

static void mm_tile_task(void *ctx, int i, int n) {
  (void)n;
  mm_job *j = ctx;
  int64_t wb = i % j->n_wb, xb = i / j->n_wb;
  int64_t w0 = wb * j->w_block, w1 = w0 + j->w_block < j->rows ? w0 + j->w_block : j->rows;
  int64_t x0 = xb * MM_TILE_X, x1 = x0 + MM_TILE_X < j->nx ? x0 + MM_TILE_X : j->nx;
  const uint8_t *xbase = j->Xq ? j->Xq : (const uint8_t *)j->X;
  kern_dot_fn dot = j->ops->dot;
  kern_gemm_fn gemm = j->nx > 1 ? j->ops->gemm : NULL;    /* batches and prefill */
  kern_gemm_fn rows1 = j->nx == 1 ? j->ops->rows1 : NULL; /* decode, 4 W rows at a time */
  for (int64_t x = x0; x < x1; x += KERN_MAX_NX) {
    int nxg = (int)(x1 - x < KERN_MAX_NX ? x1 - x : KERN_MAX_NX);
    const uint8_t *xr = xbase + (size_t)x * j->xq_row_bytes;
    float *y = j->Y + (size_t)x * j->ldy;
    if (gemm) {
      for (int64_t w = w0; w < w1; w += 4) {
        int nw = (int)(w1 - w < 4 ? w1 - w : 4);
        gemm(j->cols, nw, nxg, j->W + (size_t)w * j->w_row_bytes, j->w_row_bytes, xr,
             j->xq_row_bytes, y + w, j->ldy);
      }
      continue;
    }
    int64_t w = w0;
    if (rows1)
      for (; w + 4 <= w1; w += 4)
        rows1(j->cols, 4, 1, j->W + (size_t)w * j->w_row_bytes, j->w_row_bytes, xr, j->xq_row_bytes,
              y + w, j->ldy);
    for (; w < w1; w++)
      dot(j->cols, nxg, j->W + (size_t)w * j->w_row_bytes, xr, j->xq_row_bytes, y + w, j->ldy);
  }
}

static void mm_run(kern_pool *p, mm_job *j) {
  int nt = kern_pool_threads(p);
  if (j->nx <= KERN_MAX_NX) {
    /* decode: ranges of W rows, a few per thread for load balance */
    int64_t n_tasks = nt == 1 ? 1 : (int64_t)nt * 4;
    if (n_tasks > j->rows) n_tasks = j->rows;
    j->w_block = (j->rows + n_tasks - 1) / n_tasks;
  } else {
    int64_t wb = MM_L2_BUDGET / (int64_t)(j->w_row_bytes ? j->w_row_bytes : 1);
    if (wb < 4) wb = 4;
    /* keep at least 4 tasks per thread when the matrix allows it */
    int64_t n_xb = (j->nx + MM_TILE_X - 1) / MM_TILE_X;
    int64_t min_wb = (j->rows * n_xb + (int64_t)nt * 4 - 1) / ((int64_t)nt * 4);
    if (nt > 1 && wb > min_wb) wb = min_wb < 4 ? 4 : min_wb;
    j->w_block = wb < j->rows ? wb : j->rows;
  }
  j->n_wb = (j->rows + j->w_block - 1) / j->w_block;
  j->n_xb = (j->nx + MM_TILE_X - 1) / MM_TILE_X;
  int64_t n_tasks = j->n_wb * j->n_xb;
  kern_pool_run(p, mm_tile_task, j, (int)n_tasks);
}

/* Y[i * ldy + r] = X[i] . W[r] for i < n_rows_x, r < rows. */
static void mm_region(const kern_backend *b, kern_pool *p, enum dtype t, const uint8_t *W,
                      const float *X, float *Y, int64_t n_rows_x, int64_t rows, int64_t cols,
                      size_t ldy) {
  const kern_type_ops *ops = &b->types[t];
  if (!ops->dot) ops = &kern_backend_ref.types[t];
#if defined(GLOAM_KERNELS_X86)
  if (t == DT_BF16 && b == &kern_backend_avx512 && kern_fast_bf16()) ops = &kern_avx512_bf16_fast;
#endif
  mm_job j = {.ops = ops,
              .W = W,
              .w_row_bytes = dtype_row_bytes(t, cols),
              .X = X,
              .Y = Y,
              .ldy = ldy,
              .rows = rows,
              .cols = cols};
  if (!ops->xconv) {
    j.xq_row_bytes = (size_t)cols * sizeof(float);
    j.nx = n_rows_x;
    mm_run(p, &j);
    return;
  }
  j.xq_row_bytes = (size_t)(cols / ops->x_block_elems) * (size_t)ops->x_block_bytes;
  _Alignas(64) uint8_t stack_buf[MM_STACK_BYTES];
  size_t need = j.xq_row_bytes * (size_t)n_rows_x;
  uint8_t *buf = kern_pool_scratch(p, need);
  int64_t chunk = n_rows_x;
  if (!buf) {
    buf = stack_buf;
    chunk = (int64_t)(MM_STACK_BYTES / j.xq_row_bytes);
    if (chunk < 1) { /* a row too long for the stack buffer: reference path */
      mm_region(&kern_backend_ref, p, t, W, X, Y, n_rows_x, rows, cols, ldy);
      return;
    }
  }
  for (int64_t r0 = 0; r0 < n_rows_x; r0 += chunk) {
    j.nx = n_rows_x - r0 < chunk ? n_rows_x - r0 : chunk;
    j.X = X + r0 * cols;
    j.Y = Y + (size_t)r0 * ldy;
    j.Xq = buf;
    int nconv = j.nx < kern_pool_threads(p) ? (int)j.nx : kern_pool_threads(p);
    kern_pool_run(p, mm_convert_task, &j, nconv);
    mm_run(p, &j);
  }
}

void kern_matmul_on(const kern_backend *b, kern_pool *p, enum dtype t, const void *W,
                    const float *X, float *Y, int64_t n_rows_x, int64_t rows, int64_t cols) {
  if (n_rows_x <= 0 || rows <= 0 || cols <= 0) return;
  if (t == DT_MLX) { /* W is a kern_mlx descriptor (kernels/mlx.h) */
    kern_mlx_matmul(b, p, W, X, Y, n_rows_x, rows, cols);
    return;
  }
  GLOAM_ASSERT((int)t >= 0 && t < DT_COUNT && kern_backend_ref.types[t].dot != NULL);
  GLOAM_ASSERT(cols % dtype_block_elems(t) == 0);
  const uint8_t *w = W;
#if defined(GLOAM_KERNELS_X86)
  /* prefill on AMX: the 32-row-aligned part of X and W, the rest below */
  if (b == &kern_backend_avx512 && n_rows_x >= 32 && rows >= 32 && cols % 32 == 0 &&
      (t == DT_Q8_0 || t == DT_Q4_0 || t == DT_Q4_K || t == DT_Q6_K || t == DT_BF16 ||
       t == DT_F16) &&
      kern_amx_ready()) {
    int64_t nx32 = n_rows_x & ~(int64_t)31, r32 = rows & ~(int64_t)31;
    if (kern_amx_matmul(p, t, w, X, Y, nx32, r32, cols, (size_t)rows) == 0) {
      size_t rb = dtype_row_bytes(t, cols);
      if (r32 < rows)
        mm_region(b, p, t, w + (size_t)r32 * rb, X, Y + r32, nx32, rows - r32, cols, (size_t)rows);
      if (nx32 < n_rows_x)
        mm_region(b, p, t, w, X + nx32 * cols, Y + (size_t)nx32 * (size_t)rows, n_rows_x - nx32,
                  rows, cols, (size_t)rows);
      return;
    }
  }
#endif
  mm_region(b, p, t, w, X, Y, n_rows_x, rows, cols, (size_t)rows);
}

void kern_matmul(kern_pool *p, enum dtype t, const void *W, const float *X, float *Y,
                 int64_t n_rows_x, int64_t rows, int64_t cols) {
  kern_matmul_on(kern_backend_active(), p, t, W, X, Y, n_rows_x, rows, cols);
}
