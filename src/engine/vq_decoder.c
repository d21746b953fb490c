/* SPDX-License-Identifier: Apache-2.0
 *
 * engine/vq_decoder.c: the Janus VQ-GAN decoder (transformers'
 * JanusVQVAE.decode): codebook lookup with L2-normalised entries,
 * post-quant 1 x 1 conv, conv_in, a middle of ResNet block / attention block
 * / ResNet block, then per level (lowest resolution first) num_res_blocks + 1
 * ResNet blocks (each followed by an attention block at the lowest level)
 * and a nearest 2x upsampling + 3 x 3 conv between levels, and finally
 * GroupNorm, SiLU and conv_out to RGB.
 *
 * Activations are channels-last [H * W, C] (kernels/conv.h), so 1 x 1
 * convolutions and the attention block are matrix products and the result
 * comes out as [H, W, 3], the layout of the reference's decode_image_tokens.
 * GroupNorm uses 32 groups and eps 1e-6 throughout, as the reference does.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "engine/janus.h"

#define GN_EPS 1e-6f
#define NAME_LEN 160

int janus_tensor_f32(const float **out, const model_files *mf, arena *ar, const char *name, int nd,
                     const int64_t *shape, char *err) {
  const tensor *t = model_files_tensor(mf, name);
  if (!t) return err_set(err, GLOAM_ENOENT, "missing tensor %s", name);
  bool ok = t->n_dims == nd && t->type < DT_COUNT && t->type != DT_Q8_K;
  int64_t n = 1;
  for (int i = 0; ok && i < nd; i++) {
    ok = t->shape[i] == shape[i];
    n *= shape[i];
  }
  int64_t cols = shape[nd - 1], rows = n / cols;
  size_t rb = ok ? dtype_row_bytes(t->type, cols) : 0;
  if (!ok || rb == 0 || t->n_bytes / rb < (size_t)rows)
    return err_set(err, GLOAM_EFORMAT, "tensor %s: shape or type does not fit the config", name);
  float *v = arena_alloc(ar, sizeof(float) * (size_t)n);
  if (!v) return err_set(err, GLOAM_ENOMEM, "out of memory");
  for (int64_t r = 0; r < rows; r++)
    kern_dequantize_row(t->type, (const uint8_t *)t->data + (size_t)r * rb, v + r * cols, cols);
  *out = v;
  return 0;
}

/* Binds tensors from mf, or (fn set: vq_decoder_walk) only names them. */
typedef struct binder {
  const model_files *mf;
  arena *ar;
  char *err;
  janus_tensor_fn fn;
  void *ctx;
  char name[NAME_LEN];
} binder;

static int get(binder *b, const float **out, int nd, const int64_t *shape) {
  *out = NULL;
  if (b->fn) return b->fn(b->ctx, b->name, nd, shape);
  return janus_tensor_f32(out, b->mf, b->ar, b->name, nd, shape, b->err);
}

static int vec(binder *b, const float **out, const char *prefix, const char *what, int64_t n) {
  snprintf(b->name, NAME_LEN, "%s.%s", prefix, what);
  return get(b, out, 1, &n);
}

/* prefix.weight [cout, cin, k, k] (reordered to OHWI) and prefix.bias. */
static int conv(binder *b, kern_conv *c, const char *prefix, int cin, int cout, int k, int res) {
  int64_t shape[4] = {cout, cin, k, k};
  const float *w;
  snprintf(b->name, NAME_LEN, "%s.weight", prefix);
  int rc = get(b, &w, 4, shape);
  if (rc < 0) return rc;
  *c = (kern_conv){.h = res, .w = res, .cin = cin, .cout = cout, .k = k};
  if (b->fn) return vec(b, &c->b, prefix, "bias", cout);
  float *o = arena_alloc(b->ar, sizeof(float) * (size_t)cout * (size_t)cin * (size_t)(k * k));
  if (!o) return err_set(b->err, GLOAM_ENOMEM, "out of memory");
  kern_conv_weight_ohwi(o, w, cout, cin, k);
  c->wt = o;
  return vec(b, &c->b, prefix, "bias", cout);
}

static int resblock(binder *b, vq_resblock *r, const char *prefix, int cin, int cout, int res) {
  char p[NAME_LEN];
  int rc;
  r->cin = cin;
  r->cout = cout;
  if ((rc = vec(b, &r->n1_g, prefix, "norm1.weight", cin)) < 0 ||
      (rc = vec(b, &r->n1_b, prefix, "norm1.bias", cin)) < 0 ||
      (rc = vec(b, &r->n2_g, prefix, "norm2.weight", cout)) < 0 ||
      (rc = vec(b, &r->n2_b, prefix, "norm2.bias", cout)) < 0)
    return rc;
  snprintf(p, sizeof p, "%s.conv1", prefix);
  if ((rc = conv(b, &r->conv1, p, cin, cout, 3, res)) < 0) return rc;
  snprintf(p, sizeof p, "%s.conv2", prefix);
  if ((rc = conv(b, &r->conv2, p, cout, cout, 3, res)) < 0) return rc;
  memset(&r->nin, 0, sizeof r->nin);
  if (cin == cout) return 0;
  r->nin.wt = r->n1_g; /* marks the shortcut when only walking names */
  snprintf(p, sizeof p, "%s.nin_shortcut", prefix);
  return conv(b, &r->nin, p, cin, cout, 1, res);
}

static int attn(binder *b, vq_attn *a, const char *prefix, int c, int res) {
  static const char *const parts[4] = {"q", "k", "v", "proj_out"};
  kern_conv *convs[4] = {&a->q, &a->k, &a->v, &a->proj};
  char p[NAME_LEN];
  int rc;
  a->c = c;
  if ((rc = vec(b, &a->n_g, prefix, "norm.weight", c)) < 0 ||
      (rc = vec(b, &a->n_b, prefix, "norm.bias", c)) < 0)
    return rc;
  for (int i = 0; i < 4; i++) {
    snprintf(p, sizeof p, "%s.%s", prefix, parts[i]);
    if ((rc = conv(b, convs[i], p, c, c, 1, res)) < 0) return rc;
  }
  return 0;
}

static size_t max_sz(size_t a, size_t b) {
  return a > b ? a : b;
}

static int bind_levels(binder *b, vq_decoder *d, int block_in) {
  const janus_cfg *c = d->cfg;
  char p[NAME_LEN];
  int rc, res = c->grid;
  for (int i = 0; i < c->n_levels; i++) {
    vq_level *L = &d->up[i];
    int lvl = c->n_levels - 1 - i, block_out = c->base * c->mult[lvl];
    L->res = res;
    L->has_attn = lvl == c->n_levels - 1;
    L->upsample = lvl != 0;
    d->buf_len = max_sz(d->buf_len,
                        (size_t)res * res * (size_t)(block_in > block_out ? block_in : block_out));
    for (int j = 0; j <= c->n_res; j++) {
      snprintf(p, sizeof p, "model.vqmodel.decoder.up.%d.block.%d", i, j);
      if ((rc = resblock(b, &L->block[j], p, block_in, block_out, res)) < 0) return rc;
      block_in = block_out;
      snprintf(p, sizeof p, "model.vqmodel.decoder.up.%d.attn.%d", i, j);
      if (L->has_attn && (rc = attn(b, &L->attn[j], p, block_in, res)) < 0) return rc;
    }
    if (L->upsample) {
      res *= 2;
      snprintf(p, sizeof p, "model.vqmodel.decoder.up.%d.upsample.conv", i);
      if ((rc = conv(b, &L->up_conv, p, block_in, block_in, 3, res)) < 0) return rc;
      d->buf_len = max_sz(d->buf_len, (size_t)res * res * (size_t)block_in);
    }
  }
  d->out_res = res;
  if ((rc = vec(b, &d->out_g, "model.vqmodel.decoder", "norm_out.weight", block_in)) < 0 ||
      (rc = vec(b, &d->out_b, "model.vqmodel.decoder", "norm_out.bias", block_in)) < 0)
    return rc;
  return conv(b, &d->conv_out, "model.vqmodel.decoder.conv_out", block_in, c->out_ch, 3, res);
}

static int bind(vq_decoder *d, const janus_cfg *c, binder *bp) {
  binder b = *bp;
  memset(d, 0, sizeof *d);
  d->cfg = c;
  int64_t cb[2] = {c->n_codes, c->embed_dim};
  snprintf(b.name, NAME_LEN, "model.vqmodel.quantize.embedding.weight");
  int rc = get(&b, &d->codebook, 2, cb);
  if (rc < 0) return rc;
  int g = c->grid, block_in = c->base * c->mult[c->n_levels - 1];
  if ((rc = conv(&b, &d->post_quant, "model.vqmodel.post_quant_conv", c->embed_dim, c->latent, 1,
                 g)) < 0 ||
      (rc = conv(&b, &d->conv_in, "model.vqmodel.decoder.conv_in", c->latent, block_in, 3, g)) <
          0 ||
      (rc = resblock(&b, &d->mid1, "model.vqmodel.decoder.mid.block_1", block_in, block_in, g)) <
          0 ||
      (rc = attn(&b, &d->mid_attn, "model.vqmodel.decoder.mid.attn_1", block_in, g)) < 0 ||
      (rc = resblock(&b, &d->mid2, "model.vqmodel.decoder.mid.block_2", block_in, block_in, g)) < 0)
    return rc;
  size_t hw = (size_t)g * (size_t)g;
  d->buf_len = hw * (size_t)(c->embed_dim > c->latent ? c->embed_dim : c->latent);
  d->buf_len = max_sz(d->buf_len, hw * (size_t)block_in);
  if ((rc = bind_levels(&b, d, block_in)) < 0) return rc;
  int max_c = c->latent;
  for (int i = 0; i < c->n_levels; i++)
    if (c->base * c->mult[i] > max_c) max_c = c->base * c->mult[i];
  d->col_len = (size_t)KERN_CONV_TILE * 9 * (size_t)max_c;
  d->attn_len = 4 * hw * (size_t)block_in + hw * hw;
  return 0;
}

int vq_decoder_bind(vq_decoder *d, const janus_cfg *c, const model_files *mf, arena *ar,
                    char *err) {
  binder b = {.mf = mf, .ar = ar, .err = err};
  return bind(d, c, &b);
}

int vq_decoder_walk(const janus_cfg *c, janus_tensor_fn fn, void *ctx) {
  vq_decoder *d = mem_calloc(1, sizeof *d);
  if (!d) return GLOAM_ENOMEM;
  binder b = {.fn = fn, .ctx = ctx};
  int rc = bind(d, c, &b);
  mem_free(d);
  return rc;
}

size_t vq_scratch_len(const vq_decoder *d) {
  return 3 * d->buf_len + d->col_len + d->attn_len;
}

static void silu(float *x, size_t n) {
  for (size_t i = 0; i < n; i++) x[i] = x[i] / (1.0f + expf(-x[i]));
}

static void norm_silu(float *y, const float *x, int res, int c, const float *g, const float *b) {
  size_t hw = (size_t)res * (size_t)res;
  kern_groupnorm(y, x, (int64_t)hw, c, JANUS_GROUPS, g, b, GN_EPS);
  silu(y, hw * (size_t)c);
}

typedef struct vq_bufs {
  kern_pool *p;
  float *a, *t1, *t2, *col, *att;
} vq_bufs;

/* a = resblock(a) */
static void run_resblock(const vq_resblock *r, vq_bufs *B) {
  int res = r->conv1.h;
  size_t n = (size_t)res * (size_t)res * (size_t)r->cout;
  norm_silu(B->t1, B->a, res, r->cin, r->n1_g, r->n1_b);
  kern_conv2d(B->p, &r->conv1, B->t1, B->t2, B->col);
  norm_silu(B->t2, B->t2, res, r->cout, r->n2_g, r->n2_b);
  kern_conv2d(B->p, &r->conv2, B->t2, B->t1, B->col);
  if (r->nin.wt) {
    kern_conv2d(B->p, &r->nin, B->a, B->t2, NULL);
    for (size_t i = 0; i < n; i++) B->a[i] = B->t2[i] + B->t1[i];
  } else {
    kern_axpy_f32(B->a, 1.0f, B->t1, (int64_t)n);
  }
}

/* a += proj(softmax(q k^T / sqrt(c)) v), q, k, v from GroupNorm(a). */
static void run_attn(const vq_attn *at, vq_bufs *B) {
  int res = at->q.h, c = at->c;
  size_t hw = (size_t)res * (size_t)res, n = hw * (size_t)c;
  float *q = B->att, *k = q + n, *v = k + n, *vt = v + n, *s = vt + n;
  kern_groupnorm(B->t1, B->a, (int64_t)hw, c, JANUS_GROUPS, at->n_g, at->n_b, GN_EPS);
  kern_conv2d(B->p, &at->q, B->t1, q, NULL);
  kern_conv2d(B->p, &at->k, B->t1, k, NULL);
  kern_conv2d(B->p, &at->v, B->t1, v, NULL);
  kern_matmul(B->p, DT_F32, k, q, s, (int64_t)hw, (int64_t)hw, c); /* s[i][j] = q_i . k_j */
  float scale = 1.0f / sqrtf((float)c);
  for (size_t i = 0; i < hw; i++) {
    float *row = s + i * hw;
    for (size_t j = 0; j < hw; j++) row[j] *= scale;
    kern_softmax(row, (int64_t)hw);
  }
  for (size_t j = 0; j < hw; j++)
    for (size_t ch = 0; ch < (size_t)c; ch++) vt[ch * hw + j] = v[j * (size_t)c + ch];
  kern_matmul(B->p, DT_F32, vt, s, B->t1, (int64_t)hw, c, (int64_t)hw);
  kern_conv2d(B->p, &at->proj, B->t1, q, NULL);
  kern_axpy_f32(B->a, 1.0f, q, (int64_t)n);
}

/* a [res, res, c] -> nearest 2x -> conv */
static void run_upsample(const kern_conv *cv, int res, vq_bufs *B) {
  size_t c = (size_t)cv->cin, r2 = (size_t)res * 2;
  for (size_t y = 0; y < r2; y++)
    for (size_t x = 0; x < r2; x++)
      memcpy(B->t1 + (y * r2 + x) * c, B->a + ((y / 2) * (size_t)res + x / 2) * c,
             sizeof(float) * c);
  kern_conv2d(B->p, cv, B->t1, B->a, B->col);
}

void vq_decode(const vq_decoder *d, kern_pool *p, const int32_t *tokens, float *pixels,
               float *scratch) {
  const janus_cfg *c = d->cfg;
  vq_bufs B = {.p = p, .a = scratch};
  B.t1 = B.a + d->buf_len;
  B.t2 = B.t1 + d->buf_len;
  B.col = B.t2 + d->buf_len;
  B.att = B.col + d->col_len;
  size_t hw = (size_t)c->grid * (size_t)c->grid, e = (size_t)c->embed_dim;
  for (size_t i = 0; i < hw; i++) { /* F.normalize(codebook[tok], dim=-1), eps 1e-12 */
    const float *src = d->codebook + (size_t)tokens[i] * e;
    double ss = 0;
    for (size_t j = 0; j < e; j++) ss += (double)src[j] * src[j];
    double nrm = sqrt(ss);
    float inv = (float)(1.0 / (nrm > 1e-12 ? nrm : 1e-12));
    for (size_t j = 0; j < e; j++) B.t1[i * e + j] = src[j] * inv;
  }
  kern_conv2d(p, &d->post_quant, B.t1, B.t2, NULL);
  kern_conv2d(p, &d->conv_in, B.t2, B.a, B.col);
  run_resblock(&d->mid1, &B);
  run_attn(&d->mid_attn, &B);
  run_resblock(&d->mid2, &B);
  for (int i = 0; i < c->n_levels; i++) {
    const vq_level *L = &d->up[i];
    for (int j = 0; j <= c->n_res; j++) {
      run_resblock(&L->block[j], &B);
      if (L->has_attn) run_attn(&L->attn[j], &B);
    }
    if (L->upsample) run_upsample(&L->up_conv, L->res, &B);
  }
  norm_silu(B.t1, B.a, d->out_res, d->conv_out.cin, d->out_g, d->out_b);
  kern_conv2d(p, &d->conv_out, B.t1, pixels, B.col);
}
