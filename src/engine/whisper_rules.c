/* SPDX-License-Identifier: Apache-2.0
 *
 * engine/whisper_rules.c: Whisper's logit rules, token choice and language
 * list (see whisper_rules.h).
 */
#include <math.h>
#include <string.h>

#include "engine/whisper_rules.h"

/* Whisper's language tokens, in vocabulary order (<|en|> follows
 * <|startoftranscript|>); "yue" exists only in the 51866-token vocabulary. */
static const char *const kLangs[] = {
    "en", "zh", "de", "es",  "ru", "ko", "fr", "ja", "pt", "tr",  "pl", "ca", "nl", "ar", "sv",
    "it", "id", "hi", "fi",  "vi", "he", "uk", "el", "ms", "cs",  "ro", "da", "hu", "ta", "no",
    "th", "ur", "hr", "bg",  "lt", "la", "mi", "ml", "cy", "sk",  "te", "fa", "lv", "bn", "sr",
    "az", "sl", "kn", "et",  "mk", "br", "eu", "is", "hy", "ne",  "mn", "bs", "kk", "sq", "sw",
    "gl", "mr", "pa", "si",  "km", "sn", "yo", "so", "af", "oc",  "ka", "be", "tg", "sd", "gu",
    "am", "yi", "lo", "uz",  "fo", "ht", "ps", "tk", "nn", "mt",  "sa", "lb", "my", "bo", "tl",
    "mg", "as", "tt", "haw", "ln", "ha", "ba", "jw", "su", "yue",
};
_Static_assert(sizeof kLangs / sizeof kLangs[0] == 100, "whisper has 99 + 1 languages");

int whisper_lang_index(const char *lang, int n_langs) {
  for (int i = 0; i < n_langs && i < 100; i++)
    if (strcmp(kLangs[i], lang) == 0) return i;
  return -1;
}

const char *whisper_lang_code(int i) {
  return i >= 0 && i < 100 ? kLangs[i] : "?";
}

static float max_of(const float *x, int lo, int hi) {
  float m = -INFINITY;
  for (int i = lo; i < hi; i++) m = fmaxf(m, x[i]);
  return m;
}

static void suppress(float *x, int lo, int hi) {
  for (int i = lo; i < hi; i++) x[i] = -INFINITY;
}

/* log sum exp(x[lo..hi)) - log sum exp(x[0..n)), i.e. log of their total probability */
static double log_mass(const float *x, int lo, int hi, int n) {
  float m = max_of(x, 0, n);
  if (m == -INFINITY) return -INFINITY;
  double all = 0, part = 0;
  for (int i = 0; i < n; i++) {
    double e = exp((double)(x[i] - m));
    all += e;
    if (i >= lo && i < hi) part += e;
  }
  return log(part) - log(all);
}

void whisper_apply_rules(const whisper_hparams *hp, float *logits, const int32_t *sampled, int n,
                         bool timestamps) {
  int V = hp->vocab, tb = hp->ts_begin;
  for (int i = 0; i < hp->n_suppress; i++) logits[hp->suppress[i]] = -INFINITY;
  if (n == 0)
    for (int i = 0; i < hp->n_begin_suppress; i++) logits[hp->begin_suppress[i]] = -INFINITY;
  if (!timestamps) return;
  logits[hp->no_timestamps] = -INFINITY;
  bool last_ts = n >= 1 && sampled[n - 1] >= tb;
  bool penult_ts = n < 2 || sampled[n - 2] >= tb;
  if (last_ts) {
    if (penult_ts)
      suppress(logits, tb, V); /* a pair just closed: text or end */
    else
      suppress(logits, 0, hp->eot); /* an open timestamp: another timestamp or end */
  }
  int last = -1;
  for (int i = n - 1; i >= 0 && last < 0; i--)
    if (sampled[i] >= tb) last = sampled[i];
  if (last >= 0) /* timestamps never decrease (an open one may repeat) */
    suppress(logits, tb, last_ts && !penult_ts ? last : last + 1);
  if (n == 0) {
    suppress(logits, 0, tb);      /* start with a timestamp */
    suppress(logits, tb + 51, V); /* of at most 1.0 s */
  }
  /* total timestamp probability above every single text token: force one */
  float m = max_of(logits, 0, V);
  if (m == -INFINITY) return;
  double all = 0;
  for (int i = 0; i < V; i++) all += exp((double)(logits[i] - m));
  double lse_all = (double)m + log(all);
  double ts_lp = log_mass(logits, tb, V, V);
  double text_max_lp = (double)max_of(logits, 0, tb) - lse_all;
  if (ts_lp > text_max_lp) suppress(logits, 0, tb);
}

static uint64_t xorshift(uint64_t *s) {
  uint64_t x = *s;
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  return *s = x;
}

int32_t whisper_pick(const float *logits, int vocab, float temperature, uint64_t *rng,
                     double *logprob) {
  float m = max_of(logits, 0, vocab);
  double all = 0;
  for (int i = 0; i < vocab; i++) all += exp((double)(logits[i] - m));
  double lse = (double)m + log(all);
  int32_t best = 0;
  if (temperature <= 0) {
    for (int i = 1; i < vocab; i++)
      if (logits[i] > logits[best]) best = i;
  } else {
    double z = 0;
    for (int i = 0; i < vocab; i++) z += exp((double)((logits[i] - m) / temperature));
    double u = (double)(xorshift(rng) >> 11) / 9007199254740992.0 * z, acc = 0;
    best = -1;
    for (int i = 0; i < vocab && best < 0; i++) {
      acc += exp((double)((logits[i] - m) / temperature));
      if (u < acc && logits[i] > -INFINITY) best = i;
    }
    if (best < 0) best = (int32_t)(vocab - 1);
    while (best > 0 && logits[best] == -INFINITY) best--;
  }
  *logprob = (double)logits[best] - lse;
  return best;
}
