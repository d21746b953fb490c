/* SPDX-License-Identifier: Apache-2.0
 *
 * engine/whisper_transcribe.c: the public speech API (gloam/speech.h):
 * windows of 30 s, the special-token prompt, language detection, greedy or
 * sampled decoding with temperature fallback, segments and timestamps.
 *
 * DESIGN: follows OpenAI whisper's transcribe(): a window is decoded after
 * <|startofprev|> + the previous text (dropped after a window decoded at
 * temperature > 0.5), and the next window starts at the last complete
 * timestamp pair (or after the whole window). Segment texts and ids are
 * kept as offsets while the result grows and turned into pointers at the
 * end; callbacks get pointers valid for the call.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/err.h"
#include "engine/audio.h"
#include "engine/whisper.h"
#include "engine/whisper_rules.h"
#include "gloam/speech.h"
#include "gloam/tokenizer.h"

#define TS_SECONDS 0.02 /* one timestamp token */

struct gloam_speech_model {
  whisper_model *wm;
  whisper_state *st;
  gloam_tokenizer *tok; /* NULL: ids only */
  float *feat;          /* [n_mels, n_frames] */
  float *logits;        /* [vocab] */
};

typedef struct seg_rec {
  double start, end, avg_logprob;
  float temperature;
  size_t text_off, ids_off, n_ids;
} seg_rec;

typedef struct run {
  gloam_speech_model *m;
  const gloam_speech_opts *o;
  char *err;
  int32_t *all; /* every sampled token */
  size_t n_all, cap_all;
  int32_t *txt; /* text tokens of all segments */
  size_t n_txt, cap_txt;
  char *text; /* segment texts, concatenated */
  size_t n_text, cap_text;
  seg_rec *segs;
  size_t n_segs, cap_segs;
  int32_t *win; /* this window's sampled tokens */
  int n_win;
  int32_t ctx[WHISPER_MAX_SUPPRESS]; /* previous-text context, newest last */
  size_t n_ctx;
  int lang;
  uint64_t rng;
} run;

void gloam_speech_opts_init(gloam_speech_opts *o) {
  memset(o, 0, sizeof *o);
  o->task = GLOAM_SPEECH_TRANSCRIBE;
  o->seed = 0x9e3779b97f4a7c15ull;
}

int gloam_speech_load(gloam_speech_model **out, const char *dir, int n_threads, char *err) {
  if (!out || !dir) return err_set(err, GLOAM_EINVAL, "NULL argument");
  *out = NULL;
  gloam_speech_model *m = mem_calloc(1, sizeof *m);
  if (!m) return err_set(err, GLOAM_ENOMEM, "out of memory");
  int rc;
  if ((rc = whisper_model_load(&m->wm, dir, n_threads, err)) < 0 ||
      (rc = whisper_state_new(&m->st, m->wm, err)) < 0)
    goto fail;
  const whisper_mel_params *p = whisper_mel_get_params(m->wm->mel);
  m->feat = mem_alloc((size_t)p->n_mels * (size_t)p->n_frames * sizeof(float));
  m->logits = mem_alloc((size_t)m->wm->hp.vocab * sizeof(float));
  if (!m->feat || !m->logits) {
    rc = err_set(err, GLOAM_ENOMEM, "out of memory");
    goto fail;
  }
  char path[4096];
  int n = snprintf(path, sizeof path, "%s/tokenizer.json", dir);
  if (n > 0 && (size_t)n < sizeof path && access(path, R_OK) == 0 &&
      (rc = gloam_tokenizer_load(&m->tok, dir, err)) < 0)
    goto fail;
  *out = m;
  return 0;
fail:
  gloam_speech_free(m);
  return rc;
}

void gloam_speech_free(gloam_speech_model *m) {
  if (!m) return;
  gloam_tokenizer_free(m->tok);
  whisper_state_free(m->st);
  whisper_model_free(m->wm);
  mem_free(m->feat);
  mem_free(m->logits);
  mem_free(m);
}

bool gloam_speech_has_tokenizer(const gloam_speech_model *m) {
  return m && m->tok;
}

static int grow(void **p, size_t *cap, size_t need, size_t elem) {
  if (need <= *cap) return 0;
  size_t c = *cap ? *cap : 64;
  while (c < need) c *= 2;
  void *q = mem_reallocarray(*p, c, elem);
  if (!q) return GLOAM_ENOMEM;
  *p = q;
  *cap = c;
  return 0;
}

/* Decodes one window (already encoded) at temperature t into r->win.
 * OUT: *avg_lp, *ended (the end token was produced). */
static int decode_window(run *r, float t, double *avg_lp, bool *ended) {
  gloam_speech_model *m = r->m;
  const whisper_hparams *hp = &m->wm->hp;
  const gloam_speech_opts *o = r->o;
  int32_t prompt[WHISPER_MAX_SUPPRESS + 8];
  int np = 0;
  size_t keep = (size_t)hp->n_text_ctx / 2 - 1;
  if (keep > WHISPER_MAX_SUPPRESS) keep = WHISPER_MAX_SUPPRESS;
  if (r->n_ctx > 0) {
    size_t from = r->n_ctx > keep ? r->n_ctx - keep : 0;
    prompt[np++] = hp->sot_prev;
    for (size_t i = from; i < r->n_ctx; i++) prompt[np++] = r->ctx[i];
  }
  prompt[np++] = hp->sot;
  if (hp->multilingual) {
    prompt[np++] = hp->lang_base + r->lang;
    prompt[np++] = o->task == GLOAM_SPEECH_TRANSLATE ? hp->translate : hp->transcribe;
  }
  if (!o->timestamps) prompt[np++] = hp->no_timestamps;
  int max_new = o->max_tokens > 0 ? o->max_tokens : hp->n_text_ctx / 2;
  if (max_new > hp->n_text_ctx - np) max_new = hp->n_text_ctx - np;
  whisper_state_reset(m->st);
  int rc = whisper_decode(m->st, prompt, np, m->logits, false);
  if (rc < 0) return err_set(r->err, rc, "whisper: decoding the prompt failed");
  double sum = 0;
  r->n_win = 0;
  *ended = false;
  while (r->n_win < max_new) {
    whisper_apply_rules(hp, m->logits, r->win, r->n_win, o->timestamps);
    double lp;
    int32_t tok = whisper_pick(m->logits, hp->vocab, t, &r->rng, &lp);
    sum += lp;
    if (tok == hp->eot) {
      *ended = true;
      break;
    }
    r->win[r->n_win++] = tok;
    if (r->n_win == max_new || m->st->n_past >= hp->n_text_ctx) break;
    if ((rc = whisper_decode(m->st, &tok, 1, m->logits, false)) < 0)
      return err_set(r->err, rc, "whisper: decoding failed");
  }
  *avg_lp = sum / (double)(r->n_win + 1);
  return 0;
}

static int detect_language(run *r) {
  gloam_speech_model *m = r->m;
  const whisper_hparams *hp = &m->wm->hp;
  whisper_state_reset(m->st);
  int32_t sot = hp->sot;
  int rc = whisper_decode(m->st, &sot, 1, m->logits, false);
  if (rc < 0) return err_set(r->err, rc, "whisper: language detection failed");
  int best = 0;
  for (int i = 1; i < hp->n_langs; i++)
    if (m->logits[hp->lang_base + i] > m->logits[hp->lang_base + best]) best = i;
  r->lang = best;
  return 0;
}

/* Appends a segment of tokens ids[0..n) (timestamps filtered out). */
static int add_segment(run *r, double start, double end, const int32_t *ids, int n, double lp,
                       float t) {
  const whisper_hparams *hp = &r->m->wm->hp;
  if (grow((void **)&r->segs, &r->cap_segs, r->n_segs + 1, sizeof(seg_rec)) < 0 ||
      grow((void **)&r->txt, &r->cap_txt, r->n_txt + (size_t)n, sizeof(int32_t)) < 0)
    return err_set(r->err, GLOAM_ENOMEM, "out of memory");
  seg_rec *s = &r->segs[r->n_segs];
  *s = (seg_rec){start, end, lp, t, r->n_text, r->n_txt, 0};
  for (int i = 0; i < n; i++)
    if (ids[i] < hp->eot) r->txt[r->n_txt + s->n_ids++] = ids[i];
  char *piece = NULL;
  size_t plen = 0;
  if (r->m->tok && gloam_tokenizer_decode(r->m->tok, r->txt + r->n_txt, s->n_ids,
                                          GLOAM_TOK_SKIP_SPECIAL, &piece, &plen) < 0)
    return err_set(r->err, GLOAM_ENOMEM, "out of memory");
  int rc = grow((void **)&r->text, &r->cap_text, r->n_text + plen + 1, 1);
  if (rc == 0) {
    if (plen) memcpy(r->text + r->n_text, piece, plen);
    r->text[r->n_text + plen] = '\0';
  }
  gloam_tokenizer_buf_free(piece);
  if (rc < 0) return err_set(r->err, GLOAM_ENOMEM, "out of memory");
  r->n_txt += s->n_ids;
  r->n_segs++;
  if (r->o->on_segment) {
    gloam_speech_segment seg = {start, end, r->text + s->text_off, r->txt + s->ids_off, s->n_ids,
                                lp,    t};
    if (r->o->on_segment(r->o->ctx, &seg) != 0)
      return err_set(r->err, GLOAM_ECANCELED, "transcription canceled");
  }
  r->n_text += plen + 1; /* keep the NUL: texts are separate strings until the end */
  return 0;
}

/* Splits r->win into segments. OUT: *advance, samples to move the window by. */
static int emit_segments(run *r, double t0, size_t win_n, double lp, float t, size_t *advance) {
  const whisper_hparams *hp = &r->m->wm->hp;
  const int32_t *w = r->win;
  int n = r->n_win, tb = hp->ts_begin, rc;
  *advance = win_n;
  if (!r->o->timestamps) return add_segment(r, t0, t0 + (double)win_n / 16000.0, w, n, lp, t);
  bool single_end = n >= 2 && w[n - 1] >= tb && w[n - 2] < tb;
  int last_slice = 0;
  bool any_pair = false;
  for (int i = 1; i < n; i++) {
    if (!(w[i] >= tb && w[i - 1] >= tb)) continue;
    any_pair = true;
    const int32_t *sl = w + last_slice;
    int sn = i - last_slice;
    double a = (sl[0] - tb) * TS_SECONDS, b = (sl[sn - 1] - tb) * TS_SECONDS;
    if ((rc = add_segment(r, t0 + a, t0 + b, sl, sn, lp, t)) < 0) return rc;
    last_slice = i;
  }
  if (any_pair && !single_end) {
    size_t adv = (size_t)(w[last_slice - 1] - tb) * 320;
    if (adv > 0 && adv < win_n) *advance = adv;
    return 0;
  }
  if (any_pair) {
    const int32_t *sl = w + last_slice;
    int sn = n - last_slice;
    double a = (sl[0] - tb) * TS_SECONDS, b = (sl[sn - 1] - tb) * TS_SECONDS;
    return sn > 1 ? add_segment(r, t0 + a, t0 + b, sl, sn, lp, t) : 0;
  }
  double end = (double)win_n / 16000.0;
  for (int i = n - 1; i >= 0; i--)
    if (w[i] > tb) { /* the last timestamp bounds the segment */
      end = (w[i] - tb) * TS_SECONDS;
      break;
    }
  return add_segment(r, t0, t0 + end, w, n, lp, t);
}

static void push_ctx(run *r, int32_t id) {
  if (r->n_ctx == WHISPER_MAX_SUPPRESS) {
    memmove(r->ctx, r->ctx + 1, (WHISPER_MAX_SUPPRESS - 1) * sizeof(int32_t));
    r->n_ctx--;
  }
  r->ctx[r->n_ctx++] = id;
}

static int do_window(run *r, const float *pcm, size_t n_pcm, size_t seek, size_t *advance) {
  gloam_speech_model *m = r->m;
  const whisper_mel_params *p = whisper_mel_get_params(m->wm->mel);
  size_t win_n = n_pcm - seek < (size_t)p->n_samples ? n_pcm - seek : (size_t)p->n_samples;
  int rc;
  if ((rc = whisper_mel_compute(m->wm->mel, m->wm->pool, pcm + seek, win_n, m->feat)) < 0 ||
      (rc = whisper_encode(m->st, m->feat)) < 0)
    return err_set(r->err, rc, "whisper: encoder failed");
  if (r->lang < 0 && !m->wm->hp.multilingual) r->lang = 0; /* English-only model */
  if (r->lang < 0 && (rc = detect_language(r)) < 0) return rc;
  float t = r->o->temperature;
  double lp;
  bool ended;
  for (;;) {
    if ((rc = decode_window(r, t, &lp, &ended)) < 0) return rc;
    bool ok = lp >= -1.0 && ended;
    if (!r->o->fallback || ok || t >= 1.0f - 1e-6f) break;
    t += 0.2f;
  }
  size_t first_txt = r->n_txt;
  if ((rc = emit_segments(r, (double)seek / 16000.0, win_n, lp, t, advance)) < 0) return rc;
  if (grow((void **)&r->all, &r->cap_all, r->n_all + (size_t)r->n_win, sizeof(int32_t)) < 0)
    return err_set(r->err, GLOAM_ENOMEM, "out of memory");
  memcpy(r->all + r->n_all, r->win, (size_t)r->n_win * sizeof(int32_t));
  r->n_all += (size_t)r->n_win;
  if (t > 0.5f) { /* as whisper: do not condition on text sampled that hot */
    r->n_ctx = 0;
    return 0;
  }
  for (size_t i = first_txt; i < r->n_txt; i++) push_ctx(r, r->txt[i]);
  return 0;
}

/* Moves the run's buffers into *out (one block for text, one for ids). */
static int build_result(run *r, size_t n_pcm, gloam_speech_result *out) {
  size_t joined = 0;
  for (size_t i = 0; i < r->n_segs; i++) joined += strlen(r->text + r->segs[i].text_off);
  char *text = mem_alloc(joined + 1 + r->n_text);
  int32_t *ids = mem_alloc((r->n_all + r->n_txt + 1) * sizeof(int32_t));
  gloam_speech_segment *segs = mem_calloc(r->n_segs + 1, sizeof *segs);
  if (!text || !ids || !segs) {
    mem_free(text);
    mem_free(ids);
    mem_free(segs);
    return err_set(r->err, GLOAM_ENOMEM, "out of memory");
  }
  char *tail = text + joined + 1;
  size_t pos = 0;
  for (size_t i = 0; i < r->n_segs; i++) {
    size_t l = strlen(r->text + r->segs[i].text_off);
    memcpy(text + pos, r->text + r->segs[i].text_off, l);
    pos += l;
  }
  text[pos] = '\0';
  if (r->n_text) memcpy(tail, r->text, r->n_text);
  if (r->n_all) memcpy(ids, r->all, r->n_all * sizeof(int32_t));
  if (r->n_txt) memcpy(ids + r->n_all, r->txt, r->n_txt * sizeof(int32_t));
  for (size_t i = 0; i < r->n_segs; i++) {
    const seg_rec *s = &r->segs[i];
    segs[i] = (gloam_speech_segment){
        s->start, s->end,         tail + s->text_off, ids + r->n_all + s->ids_off,
        s->n_ids, s->avg_logprob, s->temperature};
  }
  out->text = text;
  out->ids = ids;
  out->n_ids = r->n_all;
  out->segments = segs;
  out->n_segments = r->n_segs;
  snprintf(out->language, sizeof out->language, "%s", whisper_lang_code(r->lang));
  out->duration = (double)n_pcm / 16000.0;
  return 0;
}

static int set_prompt(run *r, char *err) {
  const gloam_speech_opts *o = r->o;
  const whisper_hparams *hp = &r->m->wm->hp;
  if (o->prompt && *o->prompt) {
    if (!r->m->tok)
      return err_set(err, GLOAM_EUNSUPPORTED, "a text prompt needs the model's tokenizer.json");
    char buf[2048];
    int n = snprintf(buf, sizeof buf, " %s", o->prompt);
    if (n < 0 || (size_t)n >= sizeof buf) return err_set(err, GLOAM_ETOOBIG, "prompt too long");
    int32_t *ids = NULL;
    size_t nid = 0;
    if (gloam_tokenizer_encode(r->m->tok, buf, (size_t)n, 0, &ids, &nid) < 0)
      return err_set(err, GLOAM_ENOMEM, "cannot tokenize the prompt");
    for (size_t i = 0; i < nid; i++) push_ctx(r, ids[i]);
    gloam_tokenizer_buf_free(ids);
    return 0;
  }
  for (size_t i = 0; i < o->n_prompt_ids; i++) {
    if (o->prompt_ids[i] < 0 || o->prompt_ids[i] >= hp->eot)
      return err_set(err, GLOAM_EINVAL, "prompt_ids: %d is not a text token", o->prompt_ids[i]);
    push_ctx(r, o->prompt_ids[i]);
  }
  return 0;
}

int gloam_speech_transcribe_pcm(gloam_speech_model *m, const float *pcm, size_t n,
                                const gloam_speech_opts *o, gloam_speech_result *out, char *err) {
  if (out) memset(out, 0, sizeof *out);
  if (!m || !pcm || !out || n == 0) return err_set(err, GLOAM_EINVAL, "no audio");
  gloam_speech_opts dflt;
  if (!o) {
    gloam_speech_opts_init(&dflt);
    o = &dflt;
  }
  const whisper_hparams *hp = &m->wm->hp;
  if (!(o->temperature >= 0.0f && o->temperature <= 1.0f))
    return err_set(err, GLOAM_EINVAL, "temperature must be in [0, 1]");
  if (o->task != GLOAM_SPEECH_TRANSCRIBE && o->task != GLOAM_SPEECH_TRANSLATE)
    return err_set(err, GLOAM_EINVAL, "unknown task");
  if (o->max_tokens < 0) return err_set(err, GLOAM_EINVAL, "max_tokens must be >= 0");
  if (!hp->multilingual && o->task == GLOAM_SPEECH_TRANSLATE)
    return err_set(err, GLOAM_EINVAL, "an English-only model cannot translate");
  run *r = mem_calloc(1, sizeof *r);
  if (!r) return err_set(err, GLOAM_ENOMEM, "out of memory");
  r->m = m;
  r->o = o;
  r->err = err;
  r->rng = o->seed ? o->seed : 1;
  r->lang = -1;
  int rc;
  if (o->language && *o->language && (r->lang = whisper_lang_index(o->language, hp->n_langs)) < 0) {
    rc = err_set(err, GLOAM_EINVAL, "unknown language \"%.16s\"", o->language);
    goto out;
  }
  r->win = mem_alloc((size_t)hp->n_text_ctx * sizeof(int32_t));
  if (!r->win) {
    rc = err_set(err, GLOAM_ENOMEM, "out of memory");
    goto out;
  }
  if ((rc = set_prompt(r, err)) < 0) goto out;
  for (size_t seek = 0; seek < n;) {
    size_t advance;
    if ((rc = do_window(r, pcm, n, seek, &advance)) < 0) goto out;
    seek += advance;
  }
  rc = build_result(r, n, out);
out:
  mem_free(r->all);
  mem_free(r->txt);
  mem_free(r->text);
  mem_free(r->segs);
  mem_free(r->win);
  mem_free(r);
  return rc;
}

int gloam_speech_transcribe_audio(gloam_speech_model *m, const void *data, size_t len,
                                  const gloam_audio_limits *lim, const gloam_speech_opts *o,
                                  gloam_speech_result *out, char *err) {
  if (out) memset(out, 0, sizeof *out);
  audio_limits al = audio_limits_default();
  if (lim) {
    al.max_bytes = lim->max_bytes;
    al.max_seconds = lim->max_seconds;
  }
  float *pcm = NULL;
  size_t n = 0;
  int rc = audio_decode(data, len, &al, &pcm, &n, err);
  if (rc < 0) return rc;
  rc = gloam_speech_transcribe_pcm(m, pcm, n, o, out, err);
  mem_free(pcm);
  return rc;
}

void gloam_speech_result_free(gloam_speech_result *r) {
  if (!r) return;
  mem_free(r->text);
  mem_free(r->ids);
  mem_free(r->segments);
  memset(r, 0, sizeof *r);
}
