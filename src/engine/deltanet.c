/* SPDX-License-Identifier: Apache-2.0
 *
 * engine/deltanet.c: the Gated DeltaNet block (see deltanet.h).
 */
#include "engine/deltanet.h"

#include <math.h>
#include <string.h>

#include "engine/config.h"

#define CHUNK 64     /* tokens per chunk of the chunked delta rule */
#define CHUNK_MIN 16 /* shortest run computed chunk-wise */

typedef struct dims {
  int nk, nv, kd, vd, K; /* key heads, value heads, key / value head dims, conv kernel */
  size_t kdim, vdim, C;  /* nk*kd, nv*vd, conv channels (2 kdim + vdim) */
} dims;

static dims dims_of(const model_config *c) {
  dims d = {c->lin_k_heads, c->lin_v_heads, c->lin_k_dim, c->lin_v_dim, c->lin_conv, 0, 0, 0};
  d.kdim = (size_t)d.nk * (size_t)d.kd;
  d.vdim = (size_t)d.nv * (size_t)d.vd;
  d.C = 2 * d.kdim + d.vdim;
  return d;
}

size_t deltanet_state_floats(const model_config *c) {
  if (!config_is_hybrid(c->arch)) return 0;
  dims d = dims_of(c);
  return (size_t)(d.K - 1) * d.C + (size_t)d.nv * (size_t)d.vd * (size_t)d.kd;
}

/* Per thread: chunk scratch U, P [CHUNK, vd], W, Qd [CHUNK, kd], cum
 * [CHUNK], VT [vd, CHUNK], KT [kd, CHUNK], Y [vd, kd]. */
static size_t chunk_floats(const dims *d) {
  size_t kd = (size_t)d->kd, vd = (size_t)d->vd;
  return (size_t)CHUNK * (2 * vd + 2 * kd + 1) + (vd + kd) * CHUNK + vd * kd;
}

/* Scratch layout: qkv [B, C] | conv out [B, C] | z [B, vdim] | beta [B, nv]
 * | g [B, nv] | core [B, vdim] | Qwen3-Next's fused projections [B, 2 kdim
 * + 2 vdim] and [B, 2 nv] | per thread chunk scratch. */
size_t deltanet_work_floats(const model_config *c, int n_rows, int n_threads) {
  if (!config_is_hybrid(c->arch)) return 0;
  dims d = dims_of(c);
  size_t B = (size_t)n_rows;
  size_t n = B * (2 * d.C + 2 * d.vdim + 2 * (size_t)d.nv);
  if (c->arch == ARCH_QWEN3_NEXT) n += B * (2 * d.kdim + 2 * d.vdim + 2 * (size_t)d.nv);
  if (n_rows >= CHUNK_MIN) n += (size_t)(n_threads > 1 ? n_threads : 1) * chunk_floats(&d);
  return n;
}

typedef struct step {
  const eng_work *w;
  const gloam_model *m;
  const eng_layer *L;
  dims d;
  int T;
  const float *x;        /* conv output [T, C]: q | k | v, activated, q/k normalized */
  const float *beta, *g; /* [T, nv] */
  float *core;           /* [T, vdim] */
  float *chunk;          /* per thread chunk scratch, or NULL */
  size_t chunk_stride;
} step;

static float *layer_state(const gloam_model *m, const eng_layer *L, gloam_session *s) {
  return s->lin_state + (size_t)L->lin_slot * m->lin_state;
}

/* exp(x) of a log decay (x <= 0), flushed to 0 below e^-60 (8.8e-27): such
 * a term is far below float precision next to the fresh ones, and the
 * subnormal numbers it would otherwise breed make x86 FMAs ~100x slower. */
static float decay_exp(float x) {
  return x < -60.0f ? 0.0f : expf(x);
}

/* Y[i][r] = M[r] . X[i] for i < nx, r < rows (M [rows, cols], float32),
 * on the caller's thread (this runs inside a pool task). */
static void mv(const float *M, const float *X, float *Y, int nx, int rows, int cols) {
  kern_matmul(NULL, DT_F32, M, X, Y, nx, rows, cols);
}

/* The recurrent rule for tokens [t0, t1) of one session, value head hv.
 * ST [vd, kd] (the state transposed) is updated in place. */
static void rule_recurrent(const step *st, float *ST, int hv, int t0, int t1) {
  const dims *d = &st->d;
  int hk = hv / (d->nv / d->nk), kd = d->kd, vd = d->vd;
  float delta[CONFIG_MAX_HEAD_DIM];
  for (int t = t0; t < t1; t++) {
    const float *row = st->x + (size_t)t * d->C;
    const float *q = row + (size_t)hk * kd, *k = row + d->kdim + (size_t)hk * kd;
    const float *v = row + 2 * d->kdim + (size_t)hv * vd;
    float decay = decay_exp(st->g[(size_t)t * d->nv + hv]), beta = st->beta[(size_t)t * d->nv + hv];
    mv(ST, k, delta, 1, vd, kd); /* S^T k, before the decay */
    for (int j = 0; j < vd; j++) {
      float dj = (v[j] - decay * delta[j]) * beta;
      float *r = ST + (size_t)j * kd;
      for (int i = 0; i < kd; i++) r[i] = decay * r[i] + dj * k[i];
    }
    mv(ST, q, st->core + (size_t)t * d->vdim + (size_t)hv * vd, 1, vd, kd);
  }
}

/* The chunked rule for tokens [c0, c0 + n) (n <= CHUNK) of one session,
 * value head hv, with cum[i] the decay summed over tokens c0..c0+i:
 *   L[i][j] = (beta_i k_i . k_j) exp(cum_i - cum_j) for j < i
 *   U = (I + L)^-1 (beta v), W = (I + L)^-1 (beta k exp(cum))
 *   V' = U - W S
 *   o_i = exp(cum_i) q_i S + sum_{j <= i} (q_i . k_j) exp(cum_i - cum_j) V'_j
 *   S = exp(cum_last) S + sum_j exp(cum_last - cum_j) k_j V'_j^T
 * with ST = S^T [vd, kd] updated in place. */
static void rule_chunk(const step *st, float *ST, float *scr, int hv, int c0, int n) {
  const dims *d = &st->d;
  int hk = hv / (d->nv / d->nk), kd = d->kd, vd = d->vd;
  float *U = scr, *P = U + (size_t)CHUNK * vd, *W = P + (size_t)CHUNK * vd,
        *Qd = W + (size_t)CHUNK * kd, *cum = Qd + (size_t)CHUNK * kd, *VT = cum + CHUNK,
        *KT = VT + (size_t)vd * CHUNK, *Y = KT + (size_t)kd * CHUNK;
#define QP(i) (st->x + (size_t)(c0 + (i)) * d->C + (size_t)hk * kd)
#define KP(i) (QP(i) + d->kdim)
#define VP(i) (st->x + (size_t)(c0 + (i)) * d->C + 2 * d->kdim + (size_t)hv * vd)
  float acc = 0;
  for (int i = 0; i < n; i++) {
    acc += st->g[(size_t)(c0 + i) * d->nv + hv];
    cum[i] = acc;
  }
  /* forward substitution: row i of U / W minus L[i][j] times rows j < i */
  for (int i = 0; i < n; i++) {
    float b = st->beta[(size_t)(c0 + i) * d->nv + hv], e = decay_exp(cum[i]);
    float *u = U + (size_t)i * vd, *wr = W + (size_t)i * kd;
    const float *ki = KP(i), *vi = VP(i), *qi = QP(i);
    for (int j = 0; j < vd; j++) u[j] = b * vi[j];
    for (int j = 0; j < kd; j++) {
      wr[j] = b * e * ki[j];
      Qd[(size_t)i * kd + j] = e * qi[j];
    }
    for (int j = 0; j < i; j++) {
      float l = b * kern_dot_f32(ki, KP(j), kd) * decay_exp(cum[i] - cum[j]);
      kern_axpy_f32(u, -l, U + (size_t)j * vd, vd);
      kern_axpy_f32(wr, -l, W + (size_t)j * kd, kd);
    }
  }
  mv(ST, W, P, n, vd, kd); /* W S */
  for (size_t i = 0; i < (size_t)n * vd; i++) U[i] -= P[i];
  mv(ST, Qd, P, n, vd, kd); /* the state read: e^cum q S */
  for (int i = 0; i < n; i++) {
    float *o = P + (size_t)i * vd;
    const float *qi = QP(i);
    for (int j = 0; j <= i; j++)
      kern_axpy_f32(o, kern_dot_f32(qi, KP(j), kd) * decay_exp(cum[i] - cum[j]), U + (size_t)j * vd,
                    vd);
    memcpy(st->core + (size_t)(c0 + i) * d->vdim + (size_t)hv * vd, o, sizeof(float) * (size_t)vd);
  }
  /* S^T = e^last S^T + V'^T Kd with Kd_i = exp(last - cum_i) k_i */
  float last = cum[n - 1], el = decay_exp(last);
  for (int i = 0; i < n; i++) {
    float di = decay_exp(last - cum[i]);
    const float *ki = KP(i), *u = U + (size_t)i * vd;
    for (int r = 0; r < kd; r++) KT[(size_t)r * n + i] = di * ki[r];
    for (int j = 0; j < vd; j++) VT[(size_t)j * n + i] = u[j];
  }
  mv(KT, VT, Y, vd, kd, n);
  for (size_t i = 0; i < (size_t)vd * kd; i++) ST[i] = el * ST[i] + Y[i];
#undef QP
#undef KP
#undef VP
}

/* Task: value heads [i nv / n, (i + 1) nv / n) over every run of
 * consecutive rows of one session, with chunk scratch slot i. */
static void head_task(void *ctx, int task, int n_tasks) {
  const step *st = ctx;
  const eng_work *w = st->w;
  const dims *d = &st->d;
  size_t rec_off = (size_t)(d->K - 1) * d->C, per_head = (size_t)d->kd * (size_t)d->vd;
  float *scr = st->chunk ? st->chunk + (size_t)task * st->chunk_stride : NULL;
  int h0 = (int)((int64_t)task * d->nv / n_tasks),
      h1 = (int)((int64_t)(task + 1) * d->nv / n_tasks);
  for (int hv = h0; hv < h1; hv++)
    for (int t0 = 0; t0 < st->T;) {
      gloam_session *s = w->row_sess[t0];
      int t1 = t0 + 1;
      while (t1 < st->T && w->row_sess[t1] == s) t1++;
      float *ST = layer_state(st->m, st->L, s) + rec_off + (size_t)hv * per_head;
      if (w->pos[t0] == 0) memset(ST, 0, sizeof(float) * per_head);
      if (scr && t1 - t0 >= CHUNK_MIN)
        for (int c0 = t0; c0 < t1; c0 += CHUNK)
          rule_chunk(st, ST, scr, hv, c0, t1 - c0 < CHUNK ? t1 - c0 : CHUNK);
      else
        rule_recurrent(st, ST, hv, t0, t1);
      t0 = t1;
    }
}

/* Causal depthwise convolution of the raw projections in[T, C] into
 * out[T, C] (then silu), run by run, each continuing and then advancing its
 * session's conv state (the last K-1 inputs, oldest first). */
static void conv_rows(const eng_work *w, const gloam_model *m, const eng_layer *L, const dims *d,
                      const float *in, float *out, int T) {
  int K = d->K;
  size_t C = d->C;
  const float *wt = L->lin.conv; /* [K, C] */
  for (int t0 = 0; t0 < T;) {
    gloam_session *s = w->row_sess[t0];
    int t1 = t0 + 1;
    while (t1 < T && w->row_sess[t1] == s) t1++;
    float *cs = layer_state(m, L, s);
    if (w->pos[t0] == 0) memset(cs, 0, sizeof(float) * (size_t)(K - 1) * C);
    for (int t = t0; t < t1; t++) {
      float *o = out + (size_t)t * C;
      memset(o, 0, sizeof(float) * C);
      for (int j = 0; j < K; j++) {
        int src = t - (K - 1) + j; /* input row; before t0: the state */
        const float *x = src >= t0 ? in + (size_t)src * C : cs + (size_t)(K - 1 - (t0 - src)) * C;
        const float *wj = wt + (size_t)j * C;
        for (size_t c = 0; c < C; c++) o[c] += wj[c] * x[c];
      }
      for (size_t c = 0; c < C; c++) o[c] = o[c] / (1.0f + expf(-o[c]));
    }
    /* new state: the last K-1 inputs of [state, rows]; reading index
     * i + len >= i, so ascending order never reads a slot already written */
    int len = t1 - t0;
    for (int i = 0; i < K - 1; i++) {
      int src = t1 - (K - 1) + i;
      float *dst = cs + (size_t)i * C;
      if (src >= t0)
        memcpy(dst, in + (size_t)src * C, sizeof(float) * C);
      else
        memcpy(dst, cs + (size_t)(i + len) * C, sizeof(float) * C);
    }
    t0 = t1;
  }
}

static void l2norm(float *x, int n, float scale) {
  float ss = 0;
  for (int i = 0; i < n; i++) ss += x[i] * x[i];
  float r = scale / sqrtf(ss + 1e-6f);
  for (int i = 0; i < n; i++) x[i] *= r;
}

static float softplus(float x) {
  return x > 20.0f ? x : log1pf(expf(x));
}

static void mm(eng_work *w, const eng_mat *m, const float *x, float *y, int T) {
  kern_matmul(w->pool, m->type, m->data, x, y, T, m->rows, m->cols);
}

/* Qwen3-Next's fused projections, per key head [q, k, v (r heads), z (r
 * heads)] and [b (r), a (r)] with r = v_heads / k_heads, into Qwen3.5's
 * layout: raw [q all | k all | v all], z, b, a. */
static void unfuse(const dims *d, const float *qkvz, const float *ba, float *raw, float *z,
                   float *b, float *a, int T) {
  size_t r = (size_t)(d->nv / d->nk), kd = (size_t)d->kd, rv = r * (size_t)d->vd,
         grp = 2 * kd + 2 * rv, F = sizeof(float);
  for (int t = 0; t < T; t++) {
    const float *src = qkvz + (size_t)t * d->nk * grp, *sba = ba + (size_t)t * 2 * d->nv;
    float *dst = raw + (size_t)t * d->C;
    for (size_t h = 0; h < (size_t)d->nk; h++) {
      const float *s = src + h * grp;
      memcpy(dst + h * kd, s, F * kd);
      memcpy(dst + d->kdim + h * kd, s + kd, F * kd);
      memcpy(dst + 2 * d->kdim + h * rv, s + 2 * kd, F * rv);
      memcpy(z + (size_t)t * d->vdim + h * rv, s + 2 * kd + rv, F * rv);
      memcpy(b + (size_t)t * d->nv + h * r, sba + h * 2 * r, F * r);
      memcpy(a + (size_t)t * d->nv + h * r, sba + h * 2 * r + r, F * r);
    }
  }
}

void deltanet_forward(eng_work *w, const gloam_model *m, const eng_layer *L, int T) {
  const model_config *c = m->cfg;
  dims d = dims_of(c);
  size_t B = (size_t)w->n_rows;
  float *raw = w->lin, *x = raw + B * d.C, *z = x + B * d.C, *beta = z + B * d.vdim,
        *g = beta + B * (size_t)d.nv, *core = g + B * (size_t)d.nv;
  const eng_deltanet *D = &L->lin;
  float *tail = core + B * d.vdim; /* fused projections (Qwen3-Next), then chunk scratch */
  if (D->fused) {
    float *qkvz = tail, *ba = qkvz + B * (2 * d.kdim + 2 * d.vdim);
    tail = ba + B * 2 * (size_t)d.nv;
    mm(w, &D->qkvz, w->h, qkvz, T);
    mm(w, &D->ba, w->h, ba, T);
    unfuse(&d, qkvz, ba, raw, z, beta, g, T);
  } else {
    mm(w, &D->qkv, w->h, raw, T);
    mm(w, &D->z, w->h, z, T);
    mm(w, &D->b, w->h, beta, T);
    mm(w, &D->a, w->h, g, T);
  }
  conv_rows(w, m, L, &d, raw, x, T);
  float qscale = 1.0f / sqrtf((float)d.kd);
  for (int t = 0; t < T; t++) {
    float *row = x + (size_t)t * d.C;
    for (int h = 0; h < d.nk; h++) {
      l2norm(row + (size_t)h * d.kd, d.kd, qscale);
      l2norm(row + d.kdim + (size_t)h * d.kd, d.kd, 1.0f);
    }
    for (int h = 0; h < d.nv; h++) {
      size_t i = (size_t)t * d.nv + h;
      beta[i] = 1.0f / (1.0f + expf(-beta[i]));
      g[i] = D->neg_a[h] * softplus(g[i] + D->dt_bias[h]);
    }
  }
  step st = {.w = w, .m = m, .L = L, .d = d, .T = T, .x = x, .beta = beta, .g = g, .core = core};
  if (w->n_rows >= CHUNK_MIN) {
    st.chunk = tail;
    st.chunk_stride = chunk_floats(&d);
  }
  int n_tasks = kern_pool_threads(w->pool);
  if (n_tasks > d.nv) n_tasks = d.nv;
  kern_pool_run(w->pool, head_task, &st, n_tasks);
  /* gated RMSNorm per value head (normed into the free conv buffer), then
   * z = silu(z) * normed, then the output projection */
  for (size_t i = 0; i < (size_t)T * d.nv; i++)
    kern_rmsnorm(x + i * d.vd, core + i * d.vd, D->norm, d.vd, c->rms_eps, 0.0f);
  kern_silu_mul(z, x, (int64_t)T * (int64_t)d.vdim);
  mm(w, &D->out, z, w->o, T);
}
