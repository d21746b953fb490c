/* SPDX-License-Identifier: Apache-2.0
 *
 * engine/sampler.c: gloam_sampler: choosing the next token from logits.
 *
 * Order (as transformers and vLLM apply them): penalties (repetition,
 * presence, frequency over the last penalty_last_n accepted tokens), then
 * greedy when temperature <= 0, else temperature, top-k, top-p, min-p,
 * and a draw from the renormalised distribution with xoshiro256** seeded
 * by splitmix64(seed). Ties rank the lower token id first, so everything is
 * deterministic for a seed. Buffers are allocated in gloam_sampler_new().
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "core/alloc.h"
#include "core/err.h"
#include "engine/engine_impl.h"

#define SAMPLER_MAX_HISTORY 4096

typedef struct cand {
  float v;
  int32_t id;
} cand;

struct gloam_sampler {
  gloam_sampler_params p;
  int n_vocab;
  uint64_t seed;   /* resolved seed */
  uint64_t rng[4]; /* xoshiro256** state */
  int32_t *hist;   /* ring of accepted tokens */
  int hist_cap, hist_len, hist_head;
  int32_t *counts; /* [n_vocab] occurrences in the ring */
  float *work;     /* [n_vocab] logits after penalties */
  cand *cands;     /* [n_vocab] */
};

gloam_sampler_params gloam_sampler_default_params(void) {
  gloam_sampler_params p = {.temperature = 1.0f,
                            .top_k = 0,
                            .top_p = 1.0f,
                            .min_p = 0.0f,
                            .repetition_penalty = 1.0f,
                            .presence_penalty = 0.0f,
                            .frequency_penalty = 0.0f,
                            .penalty_last_n = 64,
                            .seed = GLOAM_SEED_RANDOM,
                            .n_top_logprobs = 0};
  return p;
}

static uint64_t splitmix64(uint64_t *x) {
  uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k) {
  return (x << k) | (x >> (64 - k));
}

static uint64_t rng_next(uint64_t *s) {
  uint64_t r = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl(s[3], 45);
  return r;
}

static double rng_uniform(uint64_t *s) {
  return (double)(rng_next(s) >> 11) * 0x1.0p-53;
}

void gloam_sampler_reset(gloam_sampler *smp) {
  uint64_t x = smp->seed;
  for (int i = 0; i < 4; i++) smp->rng[i] = splitmix64(&x);
  smp->hist_len = smp->hist_head = 0;
  memset(smp->counts, 0, sizeof(int32_t) * (size_t)smp->n_vocab);
}

static bool params_ok(const gloam_sampler_params *p) {
  return !isnan(p->temperature) && !isnan(p->top_p) && !isnan(p->min_p) && p->min_p <= 1.0f &&
         isfinite(p->repetition_penalty) && p->repetition_penalty > 0 &&
         isfinite(p->presence_penalty) && isfinite(p->frequency_penalty) &&
         p->n_top_logprobs >= 0 && p->n_top_logprobs <= GLOAM_MAX_TOP_LOGPROBS;
}

int gloam_sampler_new(gloam_sampler **out, const gloam_model *m,
                      const gloam_sampler_params *params) {
  if (!out || !m) return GLOAM_EINVAL;
  return sampler_new_vocab(out, gloam_model_n_vocab(m), params);
}

int sampler_new_vocab(gloam_sampler **out, int n_vocab, const gloam_sampler_params *params) {
  if (!out || n_vocab < 1) return GLOAM_EINVAL;
  *out = NULL;
  gloam_sampler_params p = params ? *params : gloam_sampler_default_params();
  if (!params_ok(&p)) return GLOAM_EINVAL;
  gloam_sampler *smp = mem_calloc(1, sizeof *smp);
  if (!smp) return GLOAM_ENOMEM;
  smp->p = p;
  smp->n_vocab = n_vocab;
  smp->hist_cap = p.penalty_last_n > 0 && p.penalty_last_n < SAMPLER_MAX_HISTORY
                      ? p.penalty_last_n
                      : SAMPLER_MAX_HISTORY;
  smp->hist = mem_calloc((size_t)smp->hist_cap, sizeof(int32_t));
  smp->counts = mem_calloc((size_t)smp->n_vocab, sizeof(int32_t));
  smp->work = mem_calloc((size_t)smp->n_vocab, sizeof(float));
  smp->cands = mem_calloc((size_t)smp->n_vocab, sizeof(cand));
  if (!smp->hist || !smp->counts || !smp->work || !smp->cands) {
    gloam_sampler_free(smp);
    return GLOAM_ENOMEM;
  }
  smp->seed = p.seed;
  if (p.seed == GLOAM_SEED_RANDOM &&
      getrandom(&smp->seed, sizeof smp->seed, 0) != (ssize_t)sizeof smp->seed)
    smp->seed = (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)smp;
  gloam_sampler_reset(smp);
  *out = smp;
  return 0;
}

void gloam_sampler_free(gloam_sampler *smp) {
  if (!smp) return;
  mem_free(smp->hist);
  mem_free(smp->counts);
  mem_free(smp->work);
  mem_free(smp->cands);
  mem_free(smp);
}

void gloam_sampler_accept(gloam_sampler *smp, int32_t tok) {
  if (!smp || tok < 0 || tok >= smp->n_vocab) return;
  if (smp->hist_len == smp->hist_cap) { /* full: replace the oldest */
    smp->counts[smp->hist[smp->hist_head]]--;
    smp->hist[smp->hist_head] = tok;
    smp->hist_head = (smp->hist_head + 1) % smp->hist_cap;
  } else {
    smp->hist[(smp->hist_head + smp->hist_len) % smp->hist_cap] = tok;
    smp->hist_len++;
  }
  smp->counts[tok]++;
}

/* Higher value first; ties: lower id first. */
static int cand_cmp(const void *a, const void *b) {
  const cand *x = a, *y = b;
  if (x->v != y->v) return x->v > y->v ? -1 : 1;
  return (x->id > y->id) - (x->id < y->id);
}

static void apply_penalties(gloam_sampler *smp, float *w) {
  const gloam_sampler_params *p = &smp->p;
  if (p->repetition_penalty == 1.0f && p->presence_penalty == 0.0f && p->frequency_penalty == 0.0f)
    return;
  for (int i = 0; i < smp->n_vocab; i++) {
    int c = smp->counts[i];
    if (c == 0) continue;
    if (p->repetition_penalty != 1.0f)
      w[i] = w[i] < 0 ? w[i] * p->repetition_penalty : w[i] / p->repetition_penalty;
    w[i] -= (float)c * p->frequency_penalty + p->presence_penalty;
  }
}

/* Inserts c into the sorted list top[0..*n) of at most cap entries. */
static void top_insert(cand *top, int *n, int cap, cand c) {
  if (*n == cap && cand_cmp(&c, &top[cap - 1]) >= 0) return;
  int pos = *n < cap ? (*n)++ : cap - 1;
  while (pos > 0 && cand_cmp(&c, &top[pos - 1]) < 0) {
    top[pos] = top[pos - 1];
    pos--;
  }
  top[pos] = c;
}

static void fill_info(const gloam_sampler *smp, const float *logits, int32_t tok,
                      gloam_sample_info *info) {
  double mx = -INFINITY, sum = 0;
  int V = smp->n_vocab;
  for (int i = 0; i < V; i++)
    if (logits[i] > mx) mx = logits[i];
  for (int i = 0; i < V; i++) sum += exp((double)logits[i] - mx);
  double lse = mx + log(sum);
  info->logprob = (float)((double)logits[tok] - lse);
  int cap = smp->p.n_top_logprobs < V ? smp->p.n_top_logprobs : V, n = 0;
  cand top[GLOAM_MAX_TOP_LOGPROBS];
  if (cap > 0)
    for (int i = 0; i < V; i++) top_insert(top, &n, cap, (cand){logits[i], i});
  info->n_top = n;
  for (int j = 0; j < n; j++) {
    info->top[j].id = top[j].id;
    info->top[j].logprob = (float)((double)top[j].v - lse);
  }
}

/* Heap of the k best candidates, worst at the root (cand_cmp order). */
static void heap_down(cand *h, int n, int i) {
  for (;;) {
    int l = 2 * i + 1, r = l + 1, w = i;
    if (l < n && cand_cmp(&h[l], &h[w]) > 0) w = l;
    if (r < n && cand_cmp(&h[r], &h[w]) > 0) w = r;
    if (w == i) return;
    cand t = h[i];
    h[i] = h[w];
    h[w] = t;
    i = w;
  }
}

/* Moves the k best candidates of c[0..n) to the front, sorted best first. */
static void top_sorted(cand *c, int n, int k) {
  if (k < n) {
    for (int i = k / 2 - 1; i >= 0; i--) heap_down(c, k, i);
    for (int j = k; j < n; j++)
      if (cand_cmp(&c[j], &c[0]) < 0) {
        c[0] = c[j];
        heap_down(c, k, 0);
      }
  }
  qsort(c, (size_t)k, sizeof(cand), cand_cmp);
}

static int32_t draw(gloam_sampler *smp, const float *w) {
  const gloam_sampler_params *p = &smp->p;
  cand *c = smp->cands;
  int n = 0;
  for (int i = 0; i < smp->n_vocab; i++)
    if (w[i] > -INFINITY && !isnan(w[i])) c[n++] = (cand){w[i] / p->temperature, i};
  if (n == 0) return -1;
  int k = p->top_k > 0 && p->top_k < n ? p->top_k : n;
  top_sorted(c, n, k);
  n = k;
  /* probabilities (in place of the values), max first */
  double sum = 0, mx = c[0].v;
  for (int i = 0; i < n; i++) {
    c[i].v = (float)exp((double)c[i].v - mx);
    sum += c[i].v;
  }
  if (p->top_p < 1.0f) {
    double cum = 0;
    for (int i = 0; i < n; i++) {
      cum += c[i].v / sum;
      if (cum >= p->top_p) {
        n = i + 1;
        break;
      }
    }
  }
  if (p->min_p > 0) {
    float floor_p = p->min_p * c[0].v;
    int keep = 1;
    while (keep < n && c[keep].v >= floor_p) keep++;
    n = keep;
  }
  sum = 0;
  for (int i = 0; i < n; i++) sum += c[i].v;
  double u = rng_uniform(smp->rng) * sum, cum = 0;
  for (int i = 0; i < n; i++) {
    cum += c[i].v;
    if (u < cum) return c[i].id;
  }
  return c[n - 1].id;
}

int gloam_sampler_sample(gloam_sampler *smp, const float *logits, int32_t *out_token,
                         gloam_sample_info *info) {
  if (!smp || !logits || !out_token) return GLOAM_EINVAL;
  float *w = smp->work;
  memcpy(w, logits, sizeof(float) * (size_t)smp->n_vocab);
  apply_penalties(smp, w);
  int32_t tok = -1;
  if (smp->p.temperature <= 0 || smp->p.top_k == 1) {
    float best = -INFINITY;
    for (int i = 0; i < smp->n_vocab; i++)
      if (w[i] > best) {
        best = w[i];
        tok = i;
      }
  } else {
    tok = draw(smp, w);
  }
  if (tok < 0) return GLOAM_EINVAL;
  if (info) fill_info(smp, logits, tok, info);
  gloam_sampler_accept(smp, tok);
  *out_token = tok;
  return 0;
}
