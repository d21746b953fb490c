/* SPDX-License-Identifier: Apache-2.0
 *
 * engine/janus_gen.c: image generation (gloam_image_generate): prompt
 * formatting, the batched conditional / unconditional decode loop with
 * classifier-free guidance and sampling, and the VQ decoding into 8-bit RGB.
 *
 * DESIGN: n images use n conditional sessions and, with guidance, n
 * unconditional ones, all stepped together by forward_rows() over one
 * eng_work (one row per session per image token, so every weight is read
 * once per step for all of them). The prompt prefill runs in chunks of
 * whole rows across sessions. The generation head reads the normed last
 * hidden state that forward_rows() leaves in w->o when asked for no logits;
 * the next step's inputs are the aligner's output written straight into
 * w->x. Every buffer is allocated before the first step.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "engine/janus.h"

#define PREFILL_ROWS 512

gloam_image_params gloam_image_default_params(void) {
  gloam_image_params p = {
      .n = 1, .cfg_weight = 5.0f, .temperature = 1.0f, .pad_id = -1, .boi_id = -1};
  return p;
}

typedef struct gen {
  const gloam_image_model *im;
  const gloam_image_params *p;
  int n_img, n_sess, n_prompt, n_tok;
  bool cfg;
  int32_t *ids; /* [2, n_prompt]: conditional, unconditional prompt */
  gloam_session *sess[2 * GLOAM_IMAGE_MAX_N];
  gloam_sampler *smp[GLOAM_IMAGE_MAX_N];
  eng_work w;
  bool w_ok;
  float *hid;            /* [n_sess, hidden] last normed hidden state per session */
  float *ta, *tb;        /* [n_sess, max(proj, embed_dim)] MLP scratch */
  float *logits;         /* [n_sess, n_codes] */
  float *mix;            /* [n_codes] */
  float *vq;             /* decoder scratch */
  float *pix;            /* [out_res, out_res, 3] */
  const int32_t *forced; /* teacher forcing: the image tokens to feed, or NULL */
  float *logits_out;     /* teacher forcing: [n_tok, n_codes] conditional logits */
  char *err;
} gen;

/* "<|User|>: TEXT\n\n<|Assistant|>:" with BOS, then <begin_of_image>. */
static int format_prompt(gen *g, int32_t **out, int *n_out) {
  const gloam_image_model *im = g->im;
  const char *text = g->p->prompt;
  size_t tl = strlen(text);
  if (!im->tok)
    return err_set(g->err, GLOAM_EUNSUPPORTED, "a text prompt needs the model's tokenizer.json");
  int32_t boi = g->p->boi_id >= 0 ? g->p->boi_id : im->boi_id;
  if (boi < 0)
    return err_set(g->err, GLOAM_EUNSUPPORTED, "the tokenizer has no <begin_of_image> token");
  if (tl > GLOAM_IMAGE_MAX_PROMPT_BYTES)
    return err_set(g->err, GLOAM_ETOOBIG, "prompt over %d bytes", GLOAM_IMAGE_MAX_PROMPT_BYTES);
  size_t cap = tl + 64;
  char *s = mem_alloc(cap);
  if (!s) return err_set(g->err, GLOAM_ENOMEM, "out of memory");
  int n = snprintf(s, cap, "<|User|>: %s\n\n<|Assistant|>:", text);
  int32_t *ids = NULL;
  size_t n_ids = 0;
  /* the user's text cannot smuggle in special tokens */
  int rc = gloam_tokenizer_encode(im->tok, s, (size_t)n,
                                  GLOAM_TOK_ADD_SPECIAL | GLOAM_TOK_SPLIT_SPECIAL, &ids, &n_ids);
  mem_free(s);
  if (rc < 0) return err_set(g->err, rc, "tokenizing the prompt failed");
  if (n_ids + 1 > GLOAM_IMAGE_MAX_PROMPT_TOKENS) {
    gloam_tokenizer_buf_free(ids);
    return err_set(g->err, GLOAM_ETOOBIG, "prompt over %d tokens", GLOAM_IMAGE_MAX_PROMPT_TOKENS);
  }
  *out = mem_alloc(sizeof(int32_t) * 2 * (n_ids + 1));
  if (!*out) {
    gloam_tokenizer_buf_free(ids);
    return err_set(g->err, GLOAM_ENOMEM, "out of memory");
  }
  memcpy(*out, ids, sizeof(int32_t) * n_ids);
  (*out)[n_ids] = boi;
  *n_out = (int)n_ids + 1;
  gloam_tokenizer_buf_free(ids);
  return 0;
}

/* g->ids: the conditional prompt and (with guidance) its unconditional
 * copy: every token but BOS and <begin_of_image> replaced by pad. */
static int build_prompt(gen *g) {
  const gloam_image_params *p = g->p;
  const gloam_image_model *im = g->im;
  int rc, n, V = im->lm->cfg->vocab;
  if (p->prompt) {
    if (!p->prompt[0]) return err_set(g->err, GLOAM_EINVAL, "empty prompt");
    if ((rc = format_prompt(g, &g->ids, &n)) < 0) return rc;
  } else {
    n = p->n_prompt_ids;
    if (!p->prompt_ids || n < 1) return err_set(g->err, GLOAM_EINVAL, "empty prompt");
    if (n > GLOAM_IMAGE_MAX_PROMPT_TOKENS)
      return err_set(g->err, GLOAM_ETOOBIG, "prompt over %d tokens", GLOAM_IMAGE_MAX_PROMPT_TOKENS);
    if (!(g->ids = mem_alloc(sizeof(int32_t) * 2 * (size_t)n)))
      return err_set(g->err, GLOAM_ENOMEM, "out of memory");
    memcpy(g->ids, p->prompt_ids, sizeof(int32_t) * (size_t)n);
  }
  g->n_prompt = n;
  for (int i = 0; i < n; i++)
    if (g->ids[i] < 0 || g->ids[i] >= V)
      return err_set(g->err, GLOAM_EINVAL, "prompt id %d outside the vocabulary", (int)g->ids[i]);
  if (!g->cfg) return 0;
  int32_t pad = p->pad_id >= 0 ? p->pad_id : im->pad_id;
  int32_t boi = p->boi_id >= 0 ? p->boi_id : im->boi_id >= 0 ? im->boi_id : g->ids[n - 1];
  if (pad < 0 || pad >= V)
    return err_set(g->err, GLOAM_EINVAL, "guidance needs a pad token (the model defines none)");
  for (int i = 0; i < n; i++) {
    int32_t t = g->ids[i];
    g->ids[n + i] = t == im->bos_id || t == boi ? t : pad;
  }
  return 0;
}

static int alloc_all(gen *g) {
  const gloam_image_model *im = g->im;
  const janus_cfg *c = &im->cfg;
  int H = im->lm->cfg->hidden, ns = g->n_sess;
  gloam_session_params sp = gloam_session_default_params();
  sp.n_ctx = g->n_prompt + g->n_tok;
  sp.n_batch = 1;
  sp.n_threads = 1;
  sp.kv_f16 = im->kv_f16;
  for (int s = 0; s < ns; s++)
    if (gloam_session_new(&g->sess[s], im->lm, &sp) < 0)
      return err_set(g->err, GLOAM_ENOMEM, "out of memory for %d KV caches", ns);
  for (int j = 0; j < g->n_img; j++) {
    gloam_sampler_params pp = gloam_sampler_default_params();
    pp.temperature = g->p->temperature;
    pp.top_k = g->p->top_k;
    pp.seed = g->p->seed + (uint64_t)j;
    if (pp.seed == GLOAM_SEED_RANDOM) pp.seed = 0; /* a seed is always deterministic */
    if (sampler_new_vocab(&g->smp[j], c->n_codes, &pp) < 0)
      return err_set(g->err, GLOAM_ENOMEM, "out of memory");
  }
  long rows = (long)ns * g->n_prompt;
  rows = rows < PREFILL_ROWS ? rows : PREFILL_ROWS;
  if (eng_work_init(&g->w, im->lm, (int)(rows > ns ? rows : ns), im->n_threads) < 0)
    return err_set(g->err, GLOAM_ENOMEM, "out of memory");
  g->w_ok = true;
  size_t wide = (size_t)(c->proj > c->embed_dim ? c->proj : c->embed_dim);
  size_t res = (size_t)im->vq.out_res;
  g->hid = mem_alloc(sizeof(float) * (size_t)ns * (size_t)H);
  g->ta = mem_alloc(sizeof(float) * (size_t)ns * wide);
  g->tb = mem_alloc(sizeof(float) * (size_t)ns * wide);
  g->logits = mem_alloc(sizeof(float) * (size_t)ns * (size_t)c->n_codes);
  g->mix = mem_alloc(sizeof(float) * (size_t)c->n_codes);
  g->vq = mem_alloc(sizeof(float) * vq_scratch_len(&im->vq));
  g->pix = mem_alloc(sizeof(float) * res * res * 3);
  if (!g->hid || !g->ta || !g->tb || !g->logits || !g->mix || !g->vq || !g->pix)
    return err_set(g->err, GLOAM_ENOMEM, "out of memory");
  return 0;
}

static void linear(kern_pool *p, const janus_linear *l, const float *x, float *y, int n) {
  kern_matmul(p, l->w.type, l->w.data, x, y, n, l->w.rows, l->w.cols);
  for (int i = 0; i < n; i++)
    kern_axpy_f32(y + (size_t)i * (size_t)l->w.rows, 1.0f, l->b, l->w.rows);
}

/* logits [n, n_codes] = vision_head(gelu(proj_out(hid))) */
static void gen_head(gen *g, int n) {
  const gloam_image_model *im = g->im;
  linear(g->w.pool, &im->head_proj, g->hid, g->ta, n);
  janus_gelu(g->ta, (size_t)n * (size_t)im->cfg.proj);
  linear(g->w.pool, &im->head_out, g->ta, g->logits, n);
}

/* w->x [n, hidden] = aligner(generation_embeddings[tok[s]]) */
static void gen_embed(gen *g, const int32_t *tok, int n) {
  const gloam_image_model *im = g->im;
  const janus_cfg *c = &im->cfg;
  size_t rb = dtype_row_bytes(im->gen_embed.type, c->embed_dim);
  for (int s = 0; s < n; s++)
    kern_dequantize_row(im->gen_embed.type,
                        (const uint8_t *)im->gen_embed.data + (size_t)tok[s] * rb,
                        g->tb + (size_t)s * (size_t)c->embed_dim, c->embed_dim);
  float *in = g->tb, *out = g->ta;
  for (int l = 0; l < c->aligner_layers; l++) {
    if (l > 0) janus_gelu(in, (size_t)n * (size_t)c->proj);
    if (l == c->aligner_layers - 1) out = g->w.x;
    linear(g->w.pool, &im->aligner[l], in, out, n);
    float *t = in;
    in = out;
    out = t;
  }
}

/* Runs forward_rows over the first r rows of w and stores the normed hidden
 * state of each session whose prompt ended in this step. */
static void prefill_step(gen *g, int r, int n_out, const int *out_sess) {
  int H = g->im->lm->cfg->hidden;
  forward_rows(&g->w, g->im->lm, g->w.tokens, r, n_out, NULL, NULL, NULL);
  for (int i = 0; i < n_out; i++)
    memcpy(g->hid + (size_t)out_sess[i] * (size_t)H, g->w.o + (size_t)i * (size_t)H,
           sizeof(float) * (size_t)H);
}

static void prefill(gen *g) {
  int r = 0, n_out = 0, out_sess[2 * GLOAM_IMAGE_MAX_N];
  for (int s = 0; s < g->n_sess; s++) {
    const int32_t *ids = g->ids + (s >= g->n_img ? g->n_prompt : 0);
    for (int t = 0; t < g->n_prompt; t++) {
      g->w.row_sess[r] = g->sess[s];
      g->w.pos[r] = t;
      g->w.tokens[r] = ids[t];
      if (t == g->n_prompt - 1) {
        g->w.out_rows[n_out] = r;
        out_sess[n_out++] = s;
      }
      if (++r == g->w.n_rows) {
        prefill_step(g, r, n_out, out_sess);
        r = n_out = 0;
      }
    }
    g->sess[s]->n_past = g->n_prompt;
  }
  if (r > 0) prefill_step(g, r, n_out, out_sess);
}

static bool stop(const gloam_image_params *p, int done, int total) {
  if (p->cancel && __atomic_load_n(p->cancel, __ATOMIC_RELAXED)) return true;
  return p->progress && p->progress(p->ctx, done, total) != 0;
}

/* The image tokens of every image into out [n_img, n_tok]. */
static int decode_tokens(gen *g, int32_t *out) {
  const gloam_image_model *im = g->im;
  int V = im->cfg.n_codes, H = im->lm->cfg->hidden, ns = g->n_sess;
  int32_t step_tok[2 * GLOAM_IMAGE_MAX_N];
  float w_cfg = g->p->cfg_weight;
  for (int i = 0; i < g->n_tok; i++) {
    gen_head(g, ns);
    for (int j = 0; j < g->n_img; j++) {
      const float *l = g->logits + (size_t)j * (size_t)V;
      if (g->logits_out)
        memcpy(g->logits_out + (size_t)i * (size_t)V, l, sizeof(float) * (size_t)V);
      if (g->cfg) {
        const float *u = g->logits + (size_t)(g->n_img + j) * (size_t)V;
        for (int v = 0; v < V; v++) g->mix[v] = u[v] + w_cfg * (l[v] - u[v]);
        l = g->mix;
      }
      int32_t *o = &out[(size_t)j * (size_t)g->n_tok + (size_t)i];
      if (g->forced)
        *o = g->forced[i];
      else if (gloam_sampler_sample(g->smp[j], l, o, NULL) < 0)
        return err_set(g->err, GLOAM_EINVAL, "image-token logits are not finite");
      step_tok[j] = step_tok[g->n_img + j] = out[(size_t)j * (size_t)g->n_tok + (size_t)i];
    }
    if (stop(g->p, i + 1, g->n_tok + 1)) return err_set(g->err, GLOAM_ECANCELED, "canceled");
    if (i + 1 == g->n_tok) break;
    gen_embed(g, step_tok, ns);
    for (int s = 0; s < ns; s++) {
      g->w.row_sess[s] = g->sess[s];
      g->w.pos[s] = g->sess[s]->n_past;
      g->w.out_rows[s] = s;
    }
    forward_rows(&g->w, im->lm, NULL, ns, ns, NULL, NULL, NULL);
    memcpy(g->hid, g->w.o, sizeof(float) * (size_t)ns * (size_t)H);
    for (int s = 0; s < ns; s++) g->sess[s]->n_past++;
  }
  return 0;
}

/* 8-bit as the reference's postprocess: (x + 1) / 2 * 255, clipped, truncated. */
static void to_rgb8(const float *x, uint8_t *rgb, size_t n) {
  for (size_t i = 0; i < n; i++) {
    float v = (x[i] * 0.5f + 0.5f) * 255.0f;
    rgb[i] = (uint8_t)(v >= 255.0f ? 255.0f : v > 0.0f ? v : 0.0f);
  }
}

static void gen_free(gen *g) {
  for (int s = 0; s < 2 * GLOAM_IMAGE_MAX_N; s++) gloam_session_free(g->sess[s]);
  for (int j = 0; j < GLOAM_IMAGE_MAX_N; j++) gloam_sampler_free(g->smp[j]);
  if (g->w_ok) eng_work_deinit(&g->w);
  mem_free(g->ids);
  mem_free(g->hid);
  mem_free(g->ta);
  mem_free(g->tb);
  mem_free(g->logits);
  mem_free(g->mix);
  mem_free(g->vq);
  mem_free(g->pix);
}

static int check_params(const gloam_image_params *p, char *err) {
  if (p->n < 0 || p->n > GLOAM_IMAGE_MAX_N)
    return err_set(err, GLOAM_EINVAL, "n = %d outside 1 .. %d", p->n, GLOAM_IMAGE_MAX_N);
  if (!(p->temperature >= 0.0f && p->temperature <= 100.0f))
    return err_set(err, GLOAM_EINVAL, "temperature outside [0, 100]");
  if (p->top_k < 0) return err_set(err, GLOAM_EINVAL, "negative top_k");
  if (!(p->cfg_weight > -1e6f && p->cfg_weight < 1e6f))
    return err_set(err, GLOAM_EINVAL, "cfg_weight not a finite number");
  return 0;
}

int gloam_image_generate(const gloam_image_model *im, const gloam_image_params *p,
                         gloam_image_result *out, char *err) {
  char scratch[GLOAM_ERR_LEN];
  if (!err) err = scratch;
  err_clear(err);
  if (out) memset(out, 0, sizeof *out);
  if (!im || !p || !out) return err_set(err, GLOAM_EINVAL, "NULL argument");
  int rc = check_params(p, err);
  if (rc < 0) return rc;
  gen g = {.im = im, .p = p, .err = err, .n_img = p->n ? p->n : 1};
  g.cfg = p->cfg_weight > 1.0f;
  g.n_sess = g.n_img * (g.cfg ? 2 : 1);
  g.n_tok = gloam_image_model_n_tokens(im);
  int res = im->vq.out_res;
  size_t px = (size_t)res * (size_t)res * 3;
  if ((rc = build_prompt(&g)) < 0 || (rc = alloc_all(&g)) < 0) goto done;
  out->rgb = mem_alloc(px * (size_t)g.n_img);
  out->tokens = mem_alloc(sizeof(int32_t) * (size_t)g.n_tok * (size_t)g.n_img);
  if (!out->rgb || !out->tokens) {
    rc = err_set(err, GLOAM_ENOMEM, "out of memory");
    goto done;
  }
  prefill(&g);
  if ((rc = decode_tokens(&g, out->tokens)) < 0) goto done;
  for (int j = 0; j < g.n_img; j++) {
    vq_decode(&im->vq, g.w.pool, out->tokens + (size_t)j * (size_t)g.n_tok, g.pix, g.vq);
    to_rgb8(g.pix, out->rgb + (size_t)j * px, px);
  }
  if (stop(p, g.n_tok + 1, g.n_tok + 1)) {
    rc = err_set(err, GLOAM_ECANCELED, "canceled");
    goto done;
  }
  out->n = g.n_img;
  out->width = out->height = res;
  out->n_tokens = g.n_tok;
done:
  gen_free(&g);
  if (rc < 0) gloam_image_result_free(out);
  return rc;
}

const uint8_t *gloam_image_result_rgb(const gloam_image_result *r, int i) {
  if (!r || !r->rgb || i < 0 || i >= r->n) return NULL;
  return r->rgb + (size_t)i * (size_t)r->width * (size_t)r->height * 3;
}

void gloam_image_result_free(gloam_image_result *r) {
  if (!r) return;
  mem_free(r->rgb);
  mem_free(r->tokens);
  memset(r, 0, sizeof *r);
}

int gloam_image_decode_tokens(const gloam_image_model *im, const int32_t *tokens, int n_tokens,
                              uint8_t *rgb, char *err) {
  char scratch[GLOAM_ERR_LEN];
  if (!err) err = scratch;
  err_clear(err);
  if (!im || !tokens || !rgb) return err_set(err, GLOAM_EINVAL, "NULL argument");
  if (n_tokens != gloam_image_model_n_tokens(im))
    return err_set(err, GLOAM_EINVAL, "%d tokens, the decoder takes %d", n_tokens,
                   gloam_image_model_n_tokens(im));
  for (int i = 0; i < n_tokens; i++)
    if (tokens[i] < 0 || tokens[i] >= im->cfg.n_codes)
      return err_set(err, GLOAM_EINVAL, "image token %d out of range", (int)tokens[i]);
  size_t px = (size_t)im->vq.out_res * (size_t)im->vq.out_res * 3;
  float *buf = mem_alloc(sizeof(float) * (vq_scratch_len(&im->vq) + px));
  kern_pool *pool = im->n_threads > 1 ? kern_pool_new(im->n_threads) : NULL;
  if (!buf || (im->n_threads > 1 && !pool)) {
    mem_free(buf);
    kern_pool_free(pool);
    return err_set(err, GLOAM_ENOMEM, "out of memory");
  }
  vq_decode(&im->vq, pool, tokens, buf + vq_scratch_len(&im->vq), buf);
  to_rgb8(buf + vq_scratch_len(&im->vq), rgb, px);
  kern_pool_free(pool);
  mem_free(buf);
  return 0;
}

int janus_teacher_forced(const gloam_image_model *im, const int32_t *prompt, int n_prompt,
                         const int32_t *img, int n_img_tok, float *logits, char *err) {
  gloam_image_params p = gloam_image_default_params();
  p.prompt_ids = prompt;
  p.n_prompt_ids = n_prompt;
  gen g = {.im = im,
           .p = &p,
           .err = err,
           .n_img = 1,
           .n_sess = 1,
           .n_tok = n_img_tok,
           .forced = img,
           .logits_out = logits};
  for (int i = 0; i < n_img_tok; i++)
    if (img[i] < 0 || img[i] >= im->cfg.n_codes)
      return err_set(err, GLOAM_EINVAL, "image token %d out of range", (int)img[i]);
  int32_t *toks = mem_alloc(sizeof(int32_t) * (size_t)(n_img_tok > 0 ? n_img_tok : 1));
  int rc = toks ? 0 : err_set(err, GLOAM_ENOMEM, "out of memory");
  if (rc == 0 && (rc = build_prompt(&g)) == 0 && (rc = alloc_all(&g)) == 0) {
    prefill(&g);
    rc = decode_tokens(&g, toks);
  }
  mem_free(toks);
  gen_free(&g);
  return rc;
}
